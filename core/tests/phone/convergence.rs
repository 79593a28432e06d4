//! Property: replicas doing random work and merging in random orders and subsets (document
//! changes, phone-to-phone sessions over a socket, bundle files for everything or for a known
//! phone) converge to identical projections, with every attempt present exactly once.

use crate::common::*;
use doorstep_core::doc::DocId;
use doorstep_core::domain::*;
use doorstep_core::{NewAttempt, NewPerson, Store};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use std::collections::{BTreeMap, BTreeSet};

const REPLICAS: usize = 3;
const TURFS: [&str; 2] = ["ta", "tb"];
const DOORS: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Record {
        r: usize,
        turf: usize,
        target: usize,
        outcome: usize,
        support: Option<u8>,
        at: i64,
    },
    Void {
        r: usize,
        turf: usize,
        pick: usize,
        at: i64,
    },
    AddPerson {
        r: usize,
        turf: usize,
        door: usize,
    },
    Note {
        r: usize,
        turf: usize,
        door: usize,
        text: usize,
    },
    Skip {
        r: usize,
        turf: usize,
        door: usize,
        on: bool,
    },
    Move {
        r: usize,
        turf: usize,
        door: usize,
        before: usize,
    },
    Sync {
        from: usize,
        to: usize,
        turf: usize,
    },
    /// Phone to phone, both ways, over a socket.
    Local {
        from: usize,
        to: usize,
    },
    /// A bundle file: everything, or only what `to` lacks as far as `from` knows.
    Bundle {
        from: usize,
        to: usize,
        known: bool,
    },
}

fn arb_op() -> impl Strategy<Value = Op> {
    let r = 0..REPLICAS;
    let t = 0..TURFS.len();
    prop_oneof![
        6 => (r.clone(), t.clone(), 0..64usize, 0..6usize, proptest::option::of(1u8..=5), 0..12i64)
            .prop_map(|(r, turf, target, outcome, support, at)| Op::Record { r, turf, target, outcome, support, at }),
        2 => (r.clone(), t.clone(), 0..64usize, 0..12i64).prop_map(|(r, turf, pick, at)| Op::Void { r, turf, pick, at }),
        1 => (r.clone(), t.clone(), 0..DOORS).prop_map(|(r, turf, door)| Op::AddPerson { r, turf, door }),
        1 => (r.clone(), t.clone(), 0..DOORS, 0..4usize).prop_map(|(r, turf, door, text)| Op::Note { r, turf, door, text }),
        1 => (r.clone(), t.clone(), 0..DOORS, any::<bool>()).prop_map(|(r, turf, door, on)| Op::Skip { r, turf, door, on }),
        1 => (r.clone(), t.clone(), 0..DOORS, 0..DOORS).prop_map(|(r, turf, door, before)| Op::Move { r, turf, door, before }),
        4 => (r.clone(), r.clone(), t).prop_map(|(from, to, turf)| Op::Sync { from, to, turf }),
        2 => (r.clone(), r.clone()).prop_map(|(from, to)| Op::Local { from, to }),
        2 => (r.clone(), r, any::<bool>()).prop_map(|(from, to, known)| Op::Bundle { from, to, known }),
    ]
}

fn hh(turf: &str, i: usize) -> HouseholdId {
    HouseholdId(format!("{turf}-h{i:03}"))
}

fn sync(phones: &mut [Store], from: usize, to: usize, turf: &str) {
    if from == to {
        return;
    }
    let doc = DocId::turf(&turf.into());
    let since = phones[to].heads(&doc).unwrap();
    let bytes = match phones[from].export_changes(&doc, &since) {
        Ok(b) => b,
        Err(doorstep_core::Error::UnknownTurf { .. }) => return, // nothing recorded there yet
        Err(e) => panic!("export failed: {e}"),
    };
    phones[to].merge_changes(&doc, &bytes).unwrap();
}

/// Two phones sync face to face over a Unix socket pair.
fn local(phones: &mut [Store], from: usize, to: usize) {
    if from == to {
        return;
    }
    let (low, high) = (from.min(to), from.max(to));
    let (left, right) = phones.split_at_mut(high);
    let (a, b) = (&mut left[low], &mut right[0]);
    let (mut sa, mut sb) = std::os::unix::net::UnixStream::pair().unwrap();
    std::thread::scope(|scope| {
        let other = scope.spawn(move || doorstep_core::local_sync(b, &mut sb, false, 1));
        doorstep_core::local_sync(a, &mut sa, true, 1).unwrap();
        other.join().unwrap().unwrap();
    });
}

/// A bundle from one phone to another.
fn bundle(phones: &mut [Store], from: usize, to: usize, known: bool) {
    if from == to {
        return;
    }
    let bytes = if known {
        let device = phones[to].device().to_string();
        phones[from].export_bundle_for(&device, 1).unwrap()
    } else {
        phones[from].export_bundle(1).unwrap()
    };
    let report = phones[to].import_bundle(&bytes, 1).unwrap();
    assert!(report.refused.is_empty(), "{report:?}");
}

fn apply(
    phones: &mut [Store],
    op: &Op,
    recorded: &mut BTreeMap<&'static str, BTreeSet<AttemptId>>,
) {
    match *op {
        Op::Record {
            r,
            turf,
            target,
            outcome,
            support,
            at,
        } => {
            let t = TURFS[turf];
            let list = phones[r].walk_list(&t.into()).unwrap();
            let voters: Vec<VoterId> = list
                .households
                .iter()
                .flat_map(|h| h.voters.iter().map(|v| v.id.clone()))
                .collect();
            let by_voter = target % 3 != 0;
            let (target, outcome) = if by_voter {
                (
                    Target::Voter(voters[target % voters.len()].clone()),
                    [
                        "talked",
                        "refused",
                        "moved",
                        "do_not_contact",
                        "talked",
                        "deceased",
                    ][outcome],
                )
            } else {
                (
                    Target::Household(hh(t, target % DOORS)),
                    [
                        "not_home",
                        "literature_left",
                        "vacant",
                        "do_not_contact",
                        "not_home",
                        "inaccessible",
                    ][outcome],
                )
            };
            let answers = match (by_voter, support) {
                (true, Some(level)) => vec![(QuestionId::from("support"), Answer::Support(level))],
                _ => vec![],
            };
            let a = phones[r]
                .record_attempt(NewAttempt {
                    turf: t.into(),
                    target,
                    outcome: outcome.into(),
                    answers,
                    note: None,
                    recorded_at: at,
                    location: None,
                })
                .unwrap();
            recorded.entry(TURFS[turf]).or_default().insert(a.id);
        }
        Op::Void { r, turf, pick, at } => {
            let t = TURFS[turf];
            let hist = phones[r].history(&t.into()).unwrap();
            if !hist.is_empty() {
                let id = hist[pick % hist.len()].id;
                phones[r].void_attempt(&t.into(), &id, at).unwrap();
            }
        }
        Op::AddPerson { r, turf, door } => {
            let t = TURFS[turf];
            phones[r]
                .add_person(NewPerson {
                    turf: t.into(),
                    household: hh(t, door),
                    first_name: "New".into(),
                    last_name: format!("Person{door}"),
                    phone: None,
                    recorded_at: 1,
                })
                .unwrap();
        }
        Op::Note {
            r,
            turf,
            door,
            text,
        } => {
            let t = TURFS[turf];
            let note = ["", "dog", "gate 12", "come back after 6"][text];
            phones[r]
                .set_household_note(&t.into(), &hh(t, door), note, 1)
                .unwrap();
        }
        Op::Skip { r, turf, door, on } => {
            let t = TURFS[turf];
            phones[r]
                .set_skipped(&t.into(), &hh(t, door), on, 1)
                .unwrap();
        }
        Op::Move {
            r,
            turf,
            door,
            before,
        } => {
            let t = TURFS[turf];
            let before = (before != door).then(|| hh(t, before));
            phones[r]
                .move_household(&t.into(), &hh(t, door), before.as_ref(), 1)
                .unwrap();
        }
        Op::Sync { from, to, turf } => sync(phones, from, to, TURFS[turf]),
        Op::Local { from, to } => local(phones, from, to),
        Op::Bundle { from, to, known } => bundle(phones, from, to, known),
    }
}

fn check(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut phones: Vec<Store> = (0..REPLICAS)
        .map(|i| {
            let mut s = Store::open_in_memory().unwrap();
            provision(&mut s, &format!("c-{i}"), &TURFS, DOORS);
            s
        })
        .collect();
    let mut recorded = BTreeMap::new();
    for op in ops {
        apply(&mut phones, op, &mut recorded);
        // The incremental (SQL) path must agree with the document after every step, not only
        // after a merge has rewritten the projections.
        let (r, turf) = match *op {
            Op::Record { r, turf, .. }
            | Op::Void { r, turf, .. }
            | Op::AddPerson { r, turf, .. }
            | Op::Note { r, turf, .. }
            | Op::Skip { r, turf, .. }
            | Op::Move { r, turf, .. } => (r, turf),
            Op::Sync { to, turf, .. } => (to, turf),
            Op::Local { from, to } | Op::Bundle { from, to, .. } => {
                for p in [from, to] {
                    for t in TURFS {
                        let diffs = phones[p].verify_projections(&t.into()).unwrap();
                        prop_assert!(diffs.is_empty(), "after {:?}: {:?}", op, diffs);
                    }
                }
                continue;
            }
        };
        let diffs = phones[r].verify_projections(&TURFS[turf].into()).unwrap();
        prop_assert!(diffs.is_empty(), "after {:?}: {:?}", op, diffs);
    }
    // Everyone meets everyone, twice over, in both directions.
    for _ in 0..2 {
        for t in TURFS {
            for from in 0..REPLICAS {
                for to in 0..REPLICAS {
                    sync(&mut phones, from, to, t);
                }
            }
        }
    }
    for t in TURFS {
        let turf = TurfId::from(t);
        let want = recorded.get(t).cloned().unwrap_or_default();
        let first_list = phones[0].walk_list(&turf).unwrap();
        let first_progress = phones[0].progress(&turf).unwrap();
        let first_history = phones[0].history(&turf).unwrap();
        for (i, p) in phones.iter_mut().enumerate() {
            prop_assert_eq!(
                &p.walk_list(&turf).unwrap(),
                &first_list,
                "walk list of replica {}",
                i
            );
            prop_assert_eq!(
                &p.progress(&turf).unwrap(),
                &first_progress,
                "progress of replica {}",
                i
            );
            let history = p.history(&turf).unwrap();
            prop_assert_eq!(&history, &first_history, "history of replica {}", i);
            let ids: BTreeSet<AttemptId> = history.iter().map(|a| a.id).collect();
            prop_assert_eq!(ids.len(), history.len(), "an attempt is listed twice");
            prop_assert_eq!(&ids, &want, "attempts lost or invented on replica {}", i);
            let diffs = p.verify_projections(&turf).unwrap();
            prop_assert!(diffs.is_empty(), "replica {} projections: {:?}", i, diffs);
            // And in the document itself, each attempt is one entry.
            if !want.is_empty() {
                let in_doc = doc_attempt_ids(p, &turf);
                prop_assert_eq!(
                    in_doc.len(),
                    want.len(),
                    "duplicated entries in the document"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn replicas_converge_and_never_lose_an_attempt() {
    let seed = seed("replicas_converge_and_never_lose_an_attempt");
    let cases = std::env::var("DOORSTEP_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(48);
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&proptest::collection::vec(arb_op(), 1..60), |ops| {
        check(&ops)
    });
    if let Err(e) = result {
        panic!("{e}\nseed {seed}: replay with DOORSTEP_SEED={seed}");
    }
}
