//! Bad input gets a typed error, with no personal data in it, and changes nothing.

use crate::common::*;
use doorstep_core::doc::DocId;
use doorstep_core::domain::*;
use doorstep_core::{Error, NewPerson, Store};

/// Runs `f` against a phone that already holds some data, and checks that the error it
/// returns matches and that not one row of the database changed.
fn refused(f: impl FnOnce(&mut Store) -> Error, check: impl FnOnce(&Error) -> bool) {
    refused_after(|_| {}, f, check)
}

fn refused_after(
    setup: impl FnOnce(&mut Store),
    f: impl FnOnce(&mut Store) -> Error,
    check: impl FnOnce(&Error) -> bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let mut phone = phone_at(&path, "c-ana", &["t1"], 5);
    let a = phone
        .record_attempt(knock("t1", "t1-v0000", "talked", 1))
        .unwrap();
    phone
        .set_household_note(&"t1".into(), &"t1-h001".into(), "dog", 2)
        .unwrap();
    setup(&mut phone);
    // The attempt above is still waiting to be folded into the document: a refusal must not
    // fold it either.
    let before = dump(&path);
    let list_before = phone.walk_list(&"t1".into()).unwrap();
    let err = f(&mut phone);
    assert!(check(&err), "unexpected error: {err:?}");
    let message = err.to_string();
    for personal in ["Ana", "Family", "Elm", "919555", "dog", "Durham"] {
        assert!(!message.contains(personal), "personal data in {message:?}");
    }
    assert_eq!(dump(&path), before, "a refused input changed the database");
    assert_eq!(phone.walk_list(&"t1".into()).unwrap(), list_before);
    // The phone still works after the refusal (its in-memory state did not run ahead).
    phone.void_attempt(&"t1".into(), &a.id, 3).unwrap();
    phone
        .record_attempt(knock("t1", "t1-v0000", "talked", 4))
        .unwrap();
    drop(phone);
    let mut again = Store::open(&path).unwrap();
    assert!(again.verify_projections(&"t1".into()).unwrap().is_empty());
}

#[test]
fn an_unknown_voter_is_refused() {
    refused(
        |p| {
            p.record_attempt(knock("t1", "nobody", "talked", 5))
                .unwrap_err()
        },
        |e| matches!(e, Error::UnknownVoter { voter, .. } if voter == "nobody"),
    );
    refused(
        |p| {
            p.record_attempt(knock("t2", "t1-v0000", "talked", 5))
                .unwrap_err()
        },
        |e| matches!(e, Error::UnknownTurf { .. }),
    );
    refused(
        |p| {
            p.record_attempt(door("t1", "t1-h999", "not_home", 5))
                .unwrap_err()
        },
        |e| matches!(e, Error::UnknownHousehold { .. }),
    );
}

#[test]
fn an_outcome_not_in_the_campaign_is_refused() {
    refused(
        |p| {
            p.record_attempt(knock("t1", "t1-v0000", "abducted", 5))
                .unwrap_err()
        },
        |e| matches!(e, Error::UnknownOutcome { outcome, .. } if outcome == "abducted"),
    );
    refused(
        |p| {
            p.record_attempt(knock("t1", "t1-v0000", "not_home", 5))
                .unwrap_err()
        },
        |e| matches!(e, Error::OutcomeTarget { .. }),
    );
}

#[test]
fn invalid_answers_are_refused() {
    refused(
        |p| {
            let mut k = knock("t1", "t1-v0000", "talked", 5);
            k.answers = vec![("support".into(), Answer::Support(9))];
            p.record_attempt(k).unwrap_err()
        },
        |e| matches!(e, Error::InvalidAnswer { question, .. } if question == "support"),
    );
    refused(
        |p| {
            let mut k = knock("t1", "t1-v0000", "talked", 5);
            k.answers = vec![("favourite_colour".into(), Answer::Text("Ana".into()))];
            p.record_attempt(k).unwrap_err()
        },
        |e| matches!(e, Error::InvalidAnswer { .. }),
    );
}

#[test]
fn a_note_over_the_limit_is_refused() {
    let long = "Family dog ".repeat(MAX_NOTE_BYTES / 5);
    let l = long.clone();
    refused(
        move |p| {
            let mut k = knock("t1", "t1-v0000", "talked", 5);
            k.note = Some(l);
            p.record_attempt(k).unwrap_err()
        },
        |e| matches!(e, Error::TooLong { field: "note", max, .. } if *max == MAX_NOTE_BYTES),
    );
    refused(
        move |p| {
            p.set_household_note(&"t1".into(), &"t1-h000".into(), &long, 5)
                .unwrap_err()
        },
        |e| matches!(e, Error::TooLong { .. }),
    );
    refused(
        |p| {
            p.add_person(NewPerson {
                turf: "t1".into(),
                household: "t1-h000".into(),
                first_name: " ".into(),
                last_name: String::new(),
                phone: None,
                recorded_at: 5,
            })
            .unwrap_err()
        },
        |e| matches!(e, Error::Empty { .. }),
    );
}

#[test]
fn a_location_off_the_globe_is_refused() {
    for (lat, lon) in [(91.0, 0.0), (0.0, -181.0), (f64::NAN, 0.0)] {
        refused(
            move |p| {
                let mut k = knock("t1", "t1-v0000", "talked", 5);
                k.location = Some(Location { lat, lon });
                p.record_attempt(k).unwrap_err()
            },
            |e| matches!(e, Error::InvalidLocation),
        );
    }
}

#[test]
fn corrupt_document_bytes_are_refused() {
    let doc = DocId::turf(&"t1".into());
    refused(
        |p| {
            p.merge_changes(&doc, b"definitely not automerge")
                .unwrap_err()
        },
        |e| matches!(e, Error::CorruptDocument { .. }),
    );
    // A real export, cut short and then damaged in the middle.
    refused(
        |p| {
            let mut other = Store::open_in_memory().unwrap();
            provision(&mut other, "c-ben", &["t1"], 5);
            for i in 0..5 {
                other
                    .record_attempt(knock("t1", "t1-v0010", "talked", 10 + i))
                    .unwrap();
            }
            let mut bytes = other.export_changes(&doc, &[]).unwrap();
            let cut = bytes.len() * 2 / 3;
            bytes.truncate(cut);
            let flip = bytes.len() / 2;
            bytes[flip] ^= 0xff;
            p.merge_changes(&doc, &bytes).unwrap_err()
        },
        |e| matches!(e, Error::CorruptDocument { .. }),
    );
    // Changes whose history this phone lacks.
    refused(
        |p| {
            let mut other = Store::open_in_memory().unwrap();
            provision(&mut other, "c-ben", &["t1"], 5);
            other
                .record_attempt(knock("t1", "t1-v0010", "talked", 10))
                .unwrap();
            let base = other.heads(&doc).unwrap();
            other
                .record_attempt(knock("t1", "t1-v0020", "talked", 11))
                .unwrap();
            let tail = other.export_changes(&doc, &base).unwrap();
            p.merge_changes(&doc, &tail).unwrap_err()
        },
        |e| matches!(e, Error::MissingDependencies { missing: 1, .. }),
    );
    // A valid Automerge document that is some other turf's.
    refused(
        |p| {
            let mut other = Store::open_in_memory().unwrap();
            provision(&mut other, "c-ben", &["t9"], 2);
            other
                .record_attempt(knock("t9", "t9-v0000", "talked", 10))
                .unwrap();
            let bytes = other
                .export_changes(&DocId::turf(&"t9".into()), &[])
                .unwrap();
            p.merge_changes(&doc, &bytes).unwrap_err()
        },
        |e| matches!(e, Error::CorruptDocument { .. }),
    );
}

#[test]
fn an_older_roster_version_is_refused() {
    refused_after(
        |p| {
            p.apply_roster(&roster("t1", 5, 3)).unwrap();
        },
        |p| p.apply_roster(&roster("t1", 5, 2)).unwrap_err(),
        |e| {
            matches!(
                e,
                Error::StaleRoster {
                    held: 3,
                    offered: 2,
                    ..
                }
            )
        },
    );
}
