//! Project automation. `cargo run -p xtask -- test` runs everything CI runs, in order, and stops
//! at the first failure; its last lines are cargo-nextest's summary.

use std::process::{Command, ExitCode};

fn run(step: &str, program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("==> {step}: {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("{step}: could not start `{program}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

fn test() -> Result<(), String> {
    run("format", "cargo", &["fmt", "--all", "--check"])?;
    run(
        "lint",
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run(
        "doc tests",
        "cargo",
        &["test", "--workspace", "--doc", "--quiet"],
    )?;
    // The end-to-end tests start this binary as a real server process.
    run(
        "server binary",
        "cargo",
        &["build", "-p", "doorstep-server", "--bin", "doorstep"],
    )?;
    // Last, so the output ends with the runner's summary line.
    run(
        "tests",
        "cargo",
        &["nextest", "run", "--workspace", "--no-fail-fast"],
    )
}

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    let result = match task.as_deref() {
        Some("test") => test(),
        _ => Err("usage: cargo run -p xtask -- test\n\n  test   format check, clippy -D warnings, doc tests, the server binary, then every test (nextest)".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
