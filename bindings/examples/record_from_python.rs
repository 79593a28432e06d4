//! What recording an attempt costs through the Python bindings, against the same call in Rust,
//! measured in the same run: phases alternate (Rust, Python, Rust, ...) on identical stores so
//! that the disk's drifting fsync time falls on both alike. Each phase times only its loop of
//! `record_attempt` calls (a durable SQLite commit each); Python's start-up is not counted.
//!
//! `cargo run -p xtask -- bench-bindings` builds the release library, generates the Python
//! module and runs this with its directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use doorstep_core::domain::{Answer, Target};
use doorstep_core::{ActorId, DocId, NewAttempt, Store};
use doorstep_server::demo;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const CALLS: usize = 400;
const ROUNDS: usize = 9;
const TURF: &str = "bench-turf";

/// A phone with the demo campaign and one turf, signed in.
fn provision(path: &Path) -> Vec<String> {
    let mut store = Store::open(path).unwrap();
    let campaign = demo::campaign();
    let mut doc = doorstep_core::doc::CampaignDoc::new(&campaign, ActorId::random()).unwrap();
    store
        .merge_changes(&DocId::campaign(&campaign.id), &doc.automerge().save())
        .unwrap();
    let roster = demo::roster(TURF, 150, 1, 1);
    store.apply_roster(&roster).unwrap();
    store.sign_in(&"bench-canvasser".into()).unwrap();
    roster.voters.iter().map(|v| v.id.0.clone()).collect()
}

fn rust_phase(path: &Path, voters: &[String]) -> f64 {
    let mut store = Store::open(path).unwrap();
    let started = Instant::now();
    for i in 0..CALLS {
        store
            .record_attempt(NewAttempt {
                turf: TURF.into(),
                target: Target::Voter(voters[i % voters.len()].as_str().into()),
                outcome: "talked".into(),
                answers: vec![("support".into(), Answer::Support(1 + (i % 5) as u8))],
                note: None,
                recorded_at: 1_700_000_000_000 + i as i64,
                location: None,
            })
            .unwrap();
    }
    started.elapsed().as_secs_f64() * 1e6 / CALLS as f64
}

/// The same calls through the bindings' `Phone`, from Rust: the bindings layer without Python.
fn phone_phase(path: &Path, voters: &[String]) -> f64 {
    use doorstep_ffi::{AnswerValue, AttemptInput, Phone, SurveyAnswer};
    let phone = Phone::open(path.to_string_lossy().into_owned()).unwrap();
    let started = Instant::now();
    for i in 0..CALLS {
        phone
            .record_attempt(AttemptInput {
                turf: TURF.into(),
                outcome: "talked".into(),
                voter: Some(voters[i % voters.len()].clone()),
                household: None,
                answers: vec![SurveyAnswer {
                    question: "support".into(),
                    value: AnswerValue::Support {
                        level: 1 + (i % 5) as u8,
                    },
                }],
                note: None,
                latitude: None,
                longitude: None,
            })
            .unwrap();
    }
    started.elapsed().as_secs_f64() * 1e6 / CALLS as f64
}

fn python_phase(bindings: &str, path: &Path, voters: &[String]) -> f64 {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/record_from_python.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(python)
        .arg(script)
        .arg(path)
        .arg(CALLS.to_string())
        .arg(TURF)
        .args(&voters[..voters.len().min(CALLS)])
        .env("DOORSTEP_BINDINGS", bindings)
        .output()
        .expect("start python3");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ns: f64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap();
    ns / 1e3 / CALLS as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let bindings = std::env::args()
        .nth(1)
        .expect("usage: record_from_python <dir of the generated Python module>");
    let dir = tempfile::tempdir().unwrap();
    let (mut rust, mut python, mut phone, mut ratios) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let r_path = dir.path().join(format!("rust-{round}.db"));
        let p_path = dir.path().join(format!("python-{round}.db"));
        let voters = provision(&r_path);
        provision(&p_path);
        let f_path = dir.path().join(format!("ffi-{round}.db"));
        provision(&f_path);
        // Alternate which goes first, so neither always meets a warmer or colder disk.
        let (r, p) = if round % 2 == 0 {
            let r = rust_phase(&r_path, &voters);
            (r, python_phase(&bindings, &p_path, &voters))
        } else {
            let p = python_phase(&bindings, &p_path, &voters);
            (rust_phase(&r_path, &voters), p)
        };
        let f = phone_phase(&f_path, &voters);
        println!(
            "round {round}: Rust {r:7.1} us/call, Python {p:7.1} us/call (ratio {:.3}), \
             the bindings' Phone from Rust {f:7.1} us/call",
            p / r
        );
        rust.push(r);
        phone.push(f);
        python.push(p);
        ratios.push(p / r);
    }
    let (r, p, f) = (median(rust), median(python), median(phone));
    println!(
        "record an attempt, median of {ROUNDS} rounds of {CALLS} calls: Rust {r:.1} us, \
         Python {p:.1} us; Python/Rust {:.3}x (median of per-round ratios {:.3}x; target <= 1.3x); \
         the bindings' Phone called from Rust {f:.1} us ({:.3}x)",
        p / r,
        median(ratios),
        f / r
    );
}
