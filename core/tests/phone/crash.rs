//! Crash safety: a child process records attempts in a loop and reports each one the moment the
//! call returns; we SIGKILL it at random moments and check that nothing reported was lost.

use crate::common::*;
use doorstep_core::Store;
use doorstep_core::domain::{AttemptId, TurfId};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_ENV: &str = "DOORSTEP_CRASH_CHILD_DB";
const TURFS: [&str; 3] = ["k1", "k2", "k3"];
const KILLS: usize = 120;

/// Not a test of its own: the child process of the crash test (run with `--ignored`), which
/// records until killed, printing `RECORDED <turf> <id>` after each call returns (and
/// `VOIDED <turf> <id>` for voids).
#[test]
#[ignore = "the crash test's child process; the crash test starts it"]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return; // not spawned by the crash test: nothing to do
    };
    let seed: u64 = std::env::var("DOORSTEP_CHILD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut store = Store::open(&path).expect("child opens the store");
    // Fold changes into snapshots often, so kills also land in the middle of compactions.
    store.set_compact_after(7);
    let mut mine: Vec<(TurfId, AttemptId)> = Vec::new();
    for i in 0.. {
        let turf = TURFS[rng.usize(..TURFS.len())];
        if rng.u8(..10) == 0 && !mine.is_empty() {
            let (t, id) = mine.swap_remove(rng.usize(..mine.len()));
            store.void_attempt(&t, &id, i).expect("void");
            println!("VOIDED {t} {id}");
        } else if rng.u8(..10) == 0 {
            let h = format!("{turf}-h{:03}", rng.usize(..20));
            store
                .set_household_note(&turf.into(), &h.into(), &format!("note {i}"), i)
                .expect("note");
        } else {
            let voter = format!("{turf}-v{:03}{}", rng.usize(..20), rng.usize(..2));
            let a = store
                .record_attempt(knock(turf, &voter, "talked", i))
                .expect("record");
            println!("RECORDED {turf} {}", a.id);
            mine.push((turf.into(), a.id));
        }
    }
}

#[test]
fn sigkill_at_random_moments_loses_nothing() {
    let seed = seed("sigkill_at_random_moments_loses_nothing");
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    drop(phone_at(&path, "c-ana", &TURFS, 20));

    let mut recorded: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut voided: BTreeSet<String> = BTreeSet::new();
    let exe = std::env::current_exe().unwrap();
    for round in 0..KILLS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash::crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .env("DOORSTEP_CHILD_SEED", rng.u64(..).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        // Anywhere from while the child is still opening the store to well into its loop.
        std::thread::sleep(Duration::from_micros(rng.u64(0..100_000)));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        let lines = reader.join().unwrap();
        for line in lines {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some("RECORDED"), Some(t), Some(id)) => {
                    recorded
                        .entry(t.to_owned())
                        .or_default()
                        .insert(id.to_owned());
                }
                (Some("VOIDED"), Some(_), Some(id)) => {
                    voided.insert(id.to_owned());
                }
                _ => {}
            }
        }
        assert!(
            !status.success(),
            "round {round}: the child exited by itself instead of being killed ({status})"
        );
    }
    let total: usize = recorded.values().map(BTreeSet::len).sum();
    assert!(
        total > 150,
        "only {total} attempts recorded: the test did not exercise much"
    );

    let mut store = Store::open(&path).unwrap();
    for t in TURFS {
        let turf = TurfId::from(t);
        let want = recorded.get(t).cloned().unwrap_or_default();
        let history = store.history(&turf).unwrap();
        let have: BTreeSet<String> = history.iter().map(|a| a.id.to_string()).collect();
        let lost: Vec<&String> = want.difference(&have).collect();
        assert!(
            lost.is_empty(),
            "turf {t}: {} reported attempts lost",
            lost.len()
        );
        for a in &history {
            if voided.contains(&a.id.to_string()) {
                assert!(a.voided_by.is_some(), "a reported void was lost");
            }
        }
        let diffs = store.verify_projections(&turf).unwrap();
        assert!(
            diffs.is_empty(),
            "turf {t}: projections disagree: {diffs:?}"
        );
        let in_doc: BTreeSet<String> = doc_attempt_ids(&mut store, &turf)
            .iter()
            .map(|id| id.to_string())
            .collect();
        assert!(
            want.is_subset(&in_doc),
            "turf {t}: the document lacks reported attempts"
        );
    }
    // And the store still takes new work after all that.
    store
        .record_attempt(knock("k1", "k1-v0000", "talked", 1))
        .unwrap();
    eprintln!("{total} attempts recorded across {KILLS} kills, none lost");
}
