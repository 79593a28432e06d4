//! Peak memory of a phone: a store with 20 turfs x 150 doors and 6,000 attempts, opened and
//! showing one walk list, in a fresh process. The baseline is a process that opens the same
//! file with plain rusqlite and runs a plain SELECT of the same rows.
//!
//! Run with `cargo bench -p doorstep-core --bench memory`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use doorstep_core::Store;
use std::process::{Command, ExitCode};

const TURFS: usize = 20;
const ATTEMPTS_PER_TURF: usize = 300;
const LIMIT_MB: f64 = 50.0;

/// Peak resident set of this process (VmHWM), in MB.
fn peak_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

fn child(mode: &str, path: &str) {
    match mode {
        "doorstep" => {
            let store = Store::open(path).unwrap();
            let list = store.walk_list(&"t07".into()).unwrap();
            assert_eq!(list.households.len(), support::DOORS);
            assert!(list.households.iter().any(|h| h.status.is_some()));
        }
        _ => {
            let conn = rusqlite::Connection::open(path).unwrap();
            assert_eq!(
                support::plain_select(&conn, "t07").len(),
                support::DOORS * 2
            );
        }
    }
    println!("{}", peak_mb());
}

fn measure(mode: &str, path: &std::path::Path) -> f64 {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--child", mode])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1], &args[i + 2]);
        return ExitCode::SUCCESS;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    eprintln!(
        "building a store: {TURFS} turfs x {} doors, {} attempts...",
        support::DOORS,
        TURFS * ATTEMPTS_PER_TURF
    );
    drop(support::store(&path, TURFS, ATTEMPTS_PER_TURF));
    let size_mb = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;
    let baseline = measure("baseline", &path);
    let ours = measure("doorstep", &path);
    println!(
        "memory: open + one walk list peaks at {ours:.1} MB vs baseline {baseline:.1} MB = {:.2}x \
         (file {size_mb:.1} MB; target < {LIMIT_MB} MB)",
        ours / baseline
    );
    if ours < LIMIT_MB {
        ExitCode::SUCCESS
    } else {
        println!("OVER TARGET");
        ExitCode::FAILURE
    }
}
