//! Bundles carried by hand between phones: what arrives, twice, and damaged.

use crate::common::{doc_attempt_ids, door, dump, knock, phone_at, roster};
use doorstep_core::bundle::{BundleError, MAX_BUNDLE_BYTES};
use doorstep_core::domain::TurfId;
use doorstep_core::{Error, Store};

fn statuses(store: &Store, turf: &str) -> Vec<(String, Option<String>)> {
    store
        .walk_list(&TurfId::from(turf))
        .unwrap()
        .households
        .iter()
        .map(|h| {
            (
                h.id.to_string(),
                h.status.as_ref().map(|s| s.outcome.to_string()),
            )
        })
        .collect()
}

#[test]
fn a_bundle_carries_every_knock_and_roster_and_twice_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = phone_at(&dir.path().join("a.db"), "ana", &["t1", "t2"], 6);
    a.record_attempt(knock("t1", "t1-v0000", "talked", 10))
        .unwrap();
    a.record_attempt(door("t2", "t2-h003", "not_home", 11))
        .unwrap();
    let bytes = a.export_bundle(12).unwrap();

    let path = dir.path().join("b.db");
    let mut b = Store::open(&path).unwrap();
    let report = b.import_bundle(&bytes, 1).unwrap();
    assert_eq!(report.rosters_applied, 2);
    assert_eq!(report.docs_changed, 3, "two turfs and the campaign");
    assert!(report.refused.is_empty());
    for turf in ["t1", "t2"] {
        assert_eq!(statuses(&b, turf), statuses(&a, turf), "turf {turf}");
        assert_eq!(
            b.roster(&turf.into()).unwrap(),
            a.roster(&turf.into()).unwrap()
        );
    }

    let before = dump(&path);
    let again = b.import_bundle(&bytes, 1).unwrap();
    assert_eq!((again.docs_changed, again.rosters_applied), (0, 0));
    assert_eq!(again.docs_unchanged, 3);
    assert_eq!(dump(&path), before, "the same bundle twice changes nothing");
}

#[test]
fn bundles_both_ways_merge_two_canvassers_at_the_same_door() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = phone_at(&dir.path().join("a.db"), "ana", &["t1"], 4);
    let mut b = phone_at(&dir.path().join("b.db"), "ben", &["t1"], 4);
    let ka = a
        .record_attempt(knock("t1", "t1-v0000", "talked", 10))
        .unwrap();
    let kb = b
        .record_attempt(knock("t1", "t1-v0000", "refused", 11))
        .unwrap();
    b.import_bundle(&a.export_bundle(20).unwrap(), 1).unwrap();
    a.import_bundle(&b.export_bundle(21).unwrap(), 1).unwrap();
    let turf = TurfId::from("t1");
    for store in [&mut a, &mut b] {
        let mut ids = doc_attempt_ids(store, &turf);
        ids.sort();
        let mut want = vec![ka.id, kb.id];
        want.sort();
        assert_eq!(ids, want, "both attempts, each once");
    }
    assert_eq!(statuses(&a, "t1"), statuses(&b, "t1"));
}

#[test]
fn a_damaged_cut_or_foreign_file_is_refused_whole_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = phone_at(&dir.path().join("a.db"), "ana", &["t1"], 4);
    a.record_attempt(knock("t1", "t1-v0010", "talked", 10))
        .unwrap();
    let bytes = a.export_bundle(12).unwrap();

    let path = dir.path().join("b.db");
    let mut b = phone_at(&path, "ben", &["t9"], 2);
    let before = dump(&path);
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 1;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("cut", bytes[..bytes.len() - 10].to_vec()),
        ("flipped", flipped),
        ("foreign", b"%PDF-1.7 not a bundle".to_vec()),
        ("empty", Vec::new()),
        ("oversized", {
            let mut big = bytes.clone();
            big.resize(MAX_BUNDLE_BYTES + 1, 0);
            big
        }),
    ];
    for (name, bad) in cases {
        let err = b.import_bundle(&bad, 1).unwrap_err();
        assert!(matches!(err, Error::Bundle(_)), "{name}: {err}");
        assert!(
            err.to_string().contains("nothing was imported"),
            "{name}: {err}"
        );
        assert_eq!(dump(&path), before, "{name}: nothing changed");
    }
    let err = b.import_bundle(&bytes[..bytes.len() - 1], 1).unwrap_err();
    assert!(
        matches!(err, Error::Bundle(BundleError::Truncated { .. })),
        "{err}"
    );
}

#[test]
fn a_newer_roster_in_a_bundle_replaces_an_older_one_and_an_older_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = phone_at(&dir.path().join("a.db"), "ana", &["t1"], 4);
    a.apply_roster(&roster("t1", 5, 2)).unwrap();
    let newer = a.export_bundle(1).unwrap();
    let mut b = phone_at(&dir.path().join("b.db"), "ben", &["t1"], 4);
    assert_eq!(b.import_bundle(&newer, 1).unwrap().rosters_applied, 1);
    assert_eq!(b.walk_list(&"t1".into()).unwrap().households.len(), 5);

    let mut c = phone_at(&dir.path().join("c.db"), "cy", &["t1"], 4);
    c.apply_roster(&roster("t1", 6, 3)).unwrap();
    assert_eq!(c.import_bundle(&newer, 1).unwrap().rosters_applied, 0);
    assert_eq!(c.walk_list(&"t1".into()).unwrap().households.len(), 6);
}
