//! The import benchmark: `doorstep import` of a 1,000,000-row ncvoter-layout file against
//! merely parsing the same file with the csv crate, in the same run; then `doorstep turfs cut`.
//!
//! ```text
//! cargo run -p xtask -- bench-import [--rows 1000000] [--size 60]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use doorstep_server::setup::fixtures::{self, Layout, Plan};
use doorstep_tests::server_binary;
use std::process::Command;
use std::time::{Duration, Instant};

fn arg(name: &str, default: usize) -> usize {
    let argv: Vec<String> = std::env::args().collect();
    argv.iter()
        .position(|a| a == name)
        .and_then(|i| argv.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Parses every record of the file as the importer does (tab-separated, quoted, flexible):
/// into text, as the csv crate's `records()` does (each record checked to be UTF-8), or as raw
/// bytes, the crate's fastest path.
fn parse_only(path: &std::path::Path, text: bool) -> (Duration, u64) {
    let started = Instant::now();
    let file = std::fs::File::open(path).unwrap();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .flexible(true)
        .has_headers(false)
        .buffer_capacity(1 << 20)
        .from_reader(file);
    let mut rows = 0u64;
    if text {
        let mut record = csv::StringRecord::new();
        // A malformed line is a row too (the importer counts it).
        while reader.read_record(&mut record).unwrap_or(true) {
            rows += 1;
        }
    } else {
        let mut record = csv::ByteRecord::new();
        while reader.read_byte_record(&mut record).unwrap() {
            rows += 1;
        }
    }
    (started.elapsed(), rows.saturating_sub(1))
}

/// Reads and normalizes every row as the import does, storing nothing.
fn read_only(path: &std::path::Path) -> Duration {
    use doorstep_server::setup::import::{Attribute, Format, ReadOptions, VoterReader};
    let started = Instant::now();
    let file = std::fs::File::open(path).unwrap();
    let mut reader = VoterReader::new(
        std::io::BufReader::with_capacity(1 << 20, file),
        &ReadOptions {
            format: Format::Ncvoter,
            mapping: None,
            keep: Attribute::ALL.to_vec(),
            allow_removals: false,
        },
    )
    .unwrap();
    let mut n = 0u64;
    let mut encoded = doorstep_server::setup::import::EncodedVoters::default();
    while let Some(row) = reader.next_row().unwrap() {
        n += 1;
        if let doorstep_server::setup::import::Row::Voter(v) = row {
            encoded.push(&v);
        }
        if encoded.len() == 2048 {
            encoded = Default::default();
        }
    }
    assert!(n > 0);
    started.elapsed()
}

fn doorstep(args: &[&str], db: &std::path::Path) -> (Duration, String) {
    let started = Instant::now();
    let out = Command::new(server_binary())
        .args(args)
        .arg("--db")
        .arg(db)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "doorstep {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (elapsed, stdout)
}

fn main() {
    let rows = arg("--rows", 1_000_000);
    let size = arg("--size", 60);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ncvoter_Statewide.txt");
    let started = Instant::now();
    let facts = fixtures::write_file(
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&file).unwrap()),
        Layout::Ncvoter,
        &Plan {
            rows,
            seed: 2026,
            messy: true,
            drop_every: 0,
            coordinates: false,
        },
    )
    .unwrap();
    let bytes = std::fs::metadata(&file).unwrap().len();
    println!(
        "wrote {rows} rows ({:.0} MB) of fictional ncvoter data in {:.1} s",
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let campaign = dir.path().join("campaign.toml");
    std::fs::write(&campaign, "id = \"bench\"\nname = \"Benchmark\"\n").unwrap();

    let mut raw_ratios = Vec::new();
    let mut text_ratios = Vec::new();
    for round in 1..=5 {
        // Alternate, so neither side always runs on a warmer page cache.
        let (raw, parsed) = parse_only(&file, false);
        assert_eq!(parsed, facts.rows);
        let (text, parsed) = parse_only(&file, true);
        assert_eq!(parsed, facts.rows);
        let read = read_only(&file);
        let db = dir.path().join(format!("bench{round}.db"));
        let (import, report) = doorstep(
            &["import", &file.to_string_lossy(), "--format", "ncvoter"],
            &db,
        );
        let raw_ratio = raw.as_secs_f64() / import.as_secs_f64();
        let text_ratio = text.as_secs_f64() / import.as_secs_f64();
        raw_ratios.push(raw_ratio);
        text_ratios.push(text_ratio);
        println!(
            "round {round}: csv parse raw (ByteRecord) {:.2} s, as text (StringRecord) {:.2} s; \
             read+normalize on one thread {:.2} s; doorstep import {:.2} s: {:.0}% of raw-parse \
             speed, {:.0}% of text-parse speed",
            raw.as_secs_f64(),
            text.as_secs_f64(),
            read.as_secs_f64(),
            import.as_secs_f64(),
            100.0 * raw_ratio,
            100.0 * text_ratio
        );
        if round == 1 {
            print!("{report}");
            doorstep(&["campaign", "apply", &campaign.to_string_lossy()], &db);
            let (cut, out) = doorstep(&["turfs", "cut", "--size", &size.to_string()], &db);
            let first = out.lines().next().unwrap_or_default();
            println!(
                "turfs cut --size {size}: {:.2} s: {first}",
                cut.as_secs_f64()
            );
        }
        std::fs::remove_file(&db).ok();
    }
    raw_ratios.sort_by(f64::total_cmp);
    text_ratios.sort_by(f64::total_cmp);
    println!(
        "median of 5: import runs at {:.0}% of the speed of parsing the file into text records \
         with the csv crate, {:.0}% of parsing it as raw bytes (target: at least 50%)",
        100.0 * text_ratios[2],
        100.0 * raw_ratios[2]
    );
}
