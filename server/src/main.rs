//! The `doorstep` command line.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => {
            eprintln!("{}", doorstep_server::SERVE_NOT_YET);
            ExitCode::from(2)
        }
        Some("--version") | Some("-V") => {
            println!("doorstep {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: doorstep serve [--db PATH] [--addr HOST:PORT]");
            ExitCode::from(2)
        }
    }
}
