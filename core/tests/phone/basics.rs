//! What a canvasser does on one phone, and what they see.

use crate::common::*;
use doorstep_core::doc::DocId;
use doorstep_core::domain::*;
use doorstep_core::store::SERVER_PEER;
use doorstep_core::{NewPerson, Store};

#[test]
fn a_recorded_knock_shows_on_the_walk_list_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let mut phone = phone_at(&path, "c-ana", &["t1"], 10);
    let mut k = knock("t1", "t1-v0031", "talked", 1_000);
    k.answers = vec![
        ("support".into(), Answer::Support(2)),
        ("issue".into(), Answer::Choice(vec!["schools".into()])),
    ];
    let a = phone.record_attempt(k).unwrap();
    phone
        .record_attempt(door("t1", "t1-h005", "not_home", 2_000))
        .unwrap();
    drop(phone);

    let phone = Store::open(&path).unwrap();
    let list = phone.walk_list(&"t1".into()).unwrap();
    assert_eq!(list.households.len(), 10);
    assert_eq!(list.households[0].address.street, "100 Elm Street");
    let h3 = &list.households[3];
    assert_eq!(h3.status.as_ref().unwrap().outcome.as_str(), "talked");
    let v = h3
        .voters
        .iter()
        .find(|v| v.id.as_str() == "t1-v0031")
        .unwrap();
    assert_eq!(v.status.as_ref().unwrap().attempt, a.id);
    assert_eq!(v.support, Some(2));
    let other = h3
        .voters
        .iter()
        .find(|v| v.id.as_str() == "t1-v0030")
        .unwrap();
    assert_eq!(other.status, None, "only the voter talked to has a status");
    assert_eq!(
        list.households[5].status.as_ref().unwrap().outcome.as_str(),
        "not_home"
    );

    let p = phone.progress(&"t1".into()).unwrap();
    assert_eq!(
        (p.doors, p.doors_knocked, p.contacts, p.attempts),
        (10, 2, 1, 2)
    );
    assert_eq!(p.by_outcome.get(&OutcomeCode::from("not_home")), Some(&1));
    assert_eq!(p.by_support.get(&2), Some(&1));
    assert_eq!(phone.outbox_count().unwrap(), 2);
    assert_eq!(phone.signed_in().unwrap().unwrap().as_str(), "c-ana");
}

#[test]
fn the_latest_attempt_sets_the_status_and_a_void_restores_the_previous_one() {
    let mut phone = Store::open_in_memory().unwrap();
    provision(&mut phone, "c-ana", &["t1"], 3);
    let first = phone
        .record_attempt(door("t1", "t1-h001", "not_home", 1_000))
        .unwrap();
    let mut k = knock("t1", "t1-v0010", "talked", 5_000);
    k.answers = vec![("support".into(), Answer::Support(1))];
    let second = phone.record_attempt(k).unwrap();
    // Recorded later but with an earlier clock: does not win.
    phone
        .record_attempt(door("t1", "t1-h001", "literature_left", 3_000))
        .unwrap();
    let status = |p: &Store| {
        p.walk_list(&"t1".into()).unwrap().households[1]
            .status
            .clone()
    };
    assert_eq!(status(&phone).unwrap().attempt, second.id);

    phone.void_attempt(&"t1".into(), &second.id, 6_000).unwrap();
    let s = status(&phone).unwrap();
    assert_eq!(s.outcome.as_str(), "literature_left");
    let list = phone.walk_list(&"t1".into()).unwrap();
    assert_eq!(list.households[1].voters[0].status, None);
    assert_eq!(list.households[1].voters[0].support, None);
    let p = phone.progress(&"t1".into()).unwrap();
    assert_eq!((p.attempts, p.contacts, p.doors_knocked), (2, 0, 1));
    assert!(p.by_support.is_empty());
    // A void is itself a record to sync; voiding twice is harmless.
    phone.void_attempt(&"t1".into(), &second.id, 7_000).unwrap();
    assert_eq!(phone.outbox_count().unwrap(), 5);
    let hist = phone.history(&"t1".into()).unwrap();
    assert_eq!(hist.len(), 3);
    assert!(
        hist.iter()
            .find(|a| a.id == second.id)
            .unwrap()
            .voided_by
            .is_some()
    );
    assert!(
        hist.iter()
            .find(|a| a.id == first.id)
            .unwrap()
            .voided_by
            .is_none()
    );
    assert!(phone.verify_projections(&"t1".into()).unwrap().is_empty());
}

#[test]
fn people_added_at_the_door_notes_skips_and_moves_show_on_the_list() {
    let mut phone = Store::open_in_memory().unwrap();
    provision(&mut phone, "c-ana", &["t1"], 4);
    let t = TurfId::from("t1");
    let p = phone
        .add_person(NewPerson {
            turf: t.clone(),
            household: "t1-h002".into(),
            first_name: "Zoe".into(),
            last_name: "Newcomer".into(),
            phone: None,
            recorded_at: 10,
        })
        .unwrap();
    phone
        .record_attempt(knock("t1", p.id.as_str(), "talked", 20))
        .unwrap();
    phone
        .set_household_note(&t, &"t1-h001".into(), "gate code 4411", 30)
        .unwrap();
    phone.set_skipped(&t, &"t1-h000".into(), true, 40).unwrap();
    phone
        .move_household(&t, &"t1-h003".into(), Some(&"t1-h000".into()), 50)
        .unwrap();

    // Dropped onto itself: nothing moves.
    phone
        .move_household(&t, &"t1-h001".into(), Some(&"t1-h001".into()), 60)
        .unwrap();
    let list = phone.walk_list(&t).unwrap();
    let order: Vec<&str> = list.households.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(order, ["t1-h003", "t1-h000", "t1-h001", "t1-h002"]);
    assert!(list.households[1].skipped);
    assert_eq!(list.households[2].note.as_deref(), Some("gate code 4411"));
    let added = list.households[3].voters.iter().find(|v| v.added).unwrap();
    assert_eq!(added.last_name, "Newcomer");
    assert_eq!(added.status.as_ref().unwrap().outcome.as_str(), "talked");
    let progress = phone.progress(&t).unwrap();
    assert_eq!((progress.doors_skipped, progress.contacts), (1, 1));
    assert!(phone.verify_projections(&t).unwrap().is_empty());
    assert_eq!(
        phone.script_for(&t, &p.id).unwrap().unwrap().id.as_str(),
        "base"
    );
}

#[test]
fn search_finds_voters_by_name_and_doors_by_address() {
    let mut phone = Store::open_in_memory().unwrap();
    provision(&mut phone, "c-ana", &["t1", "t2"], 30);
    let t = TurfId::from("t1");
    let hits = phone.search(&t, "family12").unwrap();
    assert_eq!(hits.households.len(), 1);
    assert_eq!(hits.households[0].voters.len(), 2);
    let hits = phone.search(&t, "ben FAMILY12").unwrap();
    assert_eq!(hits.households[0].voters.len(), 1);
    assert_eq!(hits.households[0].voters[0].first_name, "Ben");
    let hits = phone.search(&t, "118 elm").unwrap();
    assert_eq!(hits.households.len(), 1);
    assert_eq!(hits.households[0].id.as_str(), "t1-h009");
    assert_eq!(phone.search(&t, "apt").unwrap().households.len(), 3);
    assert!(phone.search(&t, "nobody").unwrap().households.is_empty());
    // Wildcards are literal, not patterns.
    assert!(phone.search(&t, "%").unwrap().households.is_empty());
    // Only this turf.
    assert!(phone.search(&t, "t2").unwrap().households.is_empty());
}

#[test]
fn each_voter_gets_the_script_of_their_audience() {
    let mut phone = Store::open_in_memory().unwrap();
    provision(&mut phone, "c-ana", &["t1"], 2);
    let t = TurfId::from("t1");
    let script = |p: &mut Store, v: &str| p.script_for(&t, &v.into()).unwrap().unwrap().id.0;
    assert_eq!(script(&mut phone, "t1-v0000"), "base"); // DEM
    assert_eq!(script(&mut phone, "t1-v0001"), "persuasion"); // UNA
}

#[test]
fn merging_another_phones_changes_is_idempotent() {
    let mut a = Store::open_in_memory().unwrap();
    let mut b = Store::open_in_memory().unwrap();
    provision(&mut a, "c-ana", &["t1"], 5);
    provision(&mut b, "c-ben", &["t1"], 5);
    let doc = DocId::turf(&"t1".into());
    let x = a
        .record_attempt(knock("t1", "t1-v0000", "talked", 10))
        .unwrap();
    let y = b
        .record_attempt(knock("t1", "t1-v0000", "refused", 10))
        .unwrap();
    let from_b = b.export_changes(&doc, &a.heads(&doc).unwrap()).unwrap();
    assert!(a.merge_changes(&doc, &from_b).unwrap().changed);
    assert!(
        !a.merge_changes(&doc, &from_b).unwrap().changed,
        "a duplicate changes nothing"
    );
    let from_a = a.export_changes(&doc, &[]).unwrap();
    b.merge_changes(&doc, &from_a).unwrap();
    // Same timestamp at the same door: both attempts kept, the tie broken by id everywhere.
    let winner = if x.id > y.id { x.id } else { y.id };
    for p in [&a, &b] {
        let list = p.walk_list(&"t1".into()).unwrap();
        assert_eq!(
            list.households[0].voters[0]
                .status
                .as_ref()
                .unwrap()
                .attempt,
            winner
        );
        assert_eq!(p.history(&"t1".into()).unwrap().len(), 2);
    }
    assert_eq!(a.heads(&doc).unwrap(), b.heads(&doc).unwrap());
}

#[test]
fn acknowledged_attempts_leave_the_outbox_and_later_ones_stay() {
    let mut phone = Store::open_in_memory().unwrap();
    provision(&mut phone, "c-ana", &["t1"], 3);
    let doc = DocId::turf(&"t1".into());
    phone
        .record_attempt(knock("t1", "t1-v0000", "talked", 1))
        .unwrap();
    phone
        .record_attempt(knock("t1", "t1-v0010", "talked", 2))
        .unwrap();
    let acked = phone.heads(&doc).unwrap();
    let late = phone
        .record_attempt(knock("t1", "t1-v0020", "talked", 3))
        .unwrap();
    phone.acknowledge(SERVER_PEER, &doc, &acked).unwrap();
    let outbox = phone.outbox().unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].id, late.id);
    assert_eq!(phone.outbox_count().unwrap(), 1);
}

#[test]
fn a_new_roster_version_removes_voters_but_keeps_every_attempt() {
    let mut phone = Store::open_in_memory().unwrap();
    provision(&mut phone, "c-ana", &["t1"], 4);
    let t = TurfId::from("t1");
    phone
        .record_attempt(knock("t1", "t1-v0010", "moved", 1))
        .unwrap();
    let mut r2 = roster("t1", 4, 2);
    r2.voters.retain(|v| v.id.as_str() != "t1-v0010");
    assert!(phone.apply_roster(&r2).unwrap());
    assert!(
        !phone.apply_roster(&r2).unwrap(),
        "the same version again changes nothing"
    );
    let list = phone.walk_list(&t).unwrap();
    assert_eq!(list.roster_version, 2);
    assert!(
        list.households[1]
            .voters
            .iter()
            .all(|v| v.id.as_str() != "t1-v0010")
    );
    assert_eq!(phone.history(&t).unwrap().len(), 1);
    assert_eq!(phone.outbox_count().unwrap(), 1);
}

#[test]
fn a_copied_store_takes_a_new_actor_and_the_original_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let actor = {
        let mut phone = phone_at(&path, "c-ana", &["t1"], 2);
        phone
            .record_attempt(knock("t1", "t1-v0000", "talked", 1))
            .unwrap();
        phone.actor().clone()
    };
    assert_eq!(
        Store::open(&path).unwrap().actor(),
        &actor,
        "reopening keeps the actor"
    );
    let copy = dir.path().join("restored.db");
    std::fs::copy(&path, &copy).unwrap();
    let mut restored = Store::open(&copy).unwrap();
    assert_ne!(
        restored.actor(),
        &actor,
        "a restored copy must not reuse the actor"
    );
    assert_ne!(restored.device(), Store::open(&path).unwrap().device());
    // The copy keeps working, and its new changes merge with the original's.
    restored
        .record_attempt(knock("t1", "t1-v0001", "talked", 2))
        .unwrap();
    let mut original = Store::open(&path).unwrap();
    original
        .record_attempt(knock("t1", "t1-v0010", "talked", 3))
        .unwrap();
    let doc = DocId::turf(&"t1".into());
    let bytes = restored.export_changes(&doc, &[]).unwrap();
    original.merge_changes(&doc, &bytes).unwrap();
    assert_eq!(original.history(&"t1".into()).unwrap().len(), 3);
}

#[test]
fn a_database_from_a_newer_app_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, doorstep_core::Error::DatabaseTooNew { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("update the app"));
}

#[test]
fn a_call_list_offers_call_outcomes() {
    let mut phone = Store::open_in_memory().unwrap();
    provision(&mut phone, "c-ana", &[], 0);
    let mut r = roster("calls", 3, 1);
    r.list_kind = ListKind::Call;
    phone.apply_roster(&r).unwrap();
    phone
        .record_attempt(knock("calls", "calls-v0000", "busy", 1))
        .unwrap();
    let err = phone
        .record_attempt(door("calls", "calls-h001", "not_home", 2))
        .unwrap_err();
    assert!(
        matches!(err, doorstep_core::Error::UnknownOutcome { .. }),
        "{err}"
    );
    assert_eq!(
        phone.walk_list(&"calls".into()).unwrap().list_kind,
        ListKind::Call
    );
}

#[test]
fn compaction_folds_changes_into_a_snapshot_and_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let mut phone = phone_at(&path, "c-ana", &["t1"], 6);
    phone.set_compact_after(5);
    let doc = DocId::turf(&"t1".into());
    let mut ids = Vec::new();
    for i in 0..23 {
        ids.push(
            phone
                .record_attempt(knock("t1", "t1-v0020", "talked", i))
                .unwrap()
                .id,
        );
        // Each read of the document folds what is pending into it: one change per attempt here.
        phone.heads(&doc).unwrap();
    }
    let heads = phone.heads(&doc).unwrap();
    drop(phone);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (chunks, snapshots): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM changes WHERE doc_id = 'turf:t1'),
                    (SELECT count(*) FROM snapshots WHERE doc_id = 'turf:t1')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(chunks < 5, "{chunks} change chunks left after compaction");
    assert_eq!(snapshots, 1);
    let mut phone = Store::open(&path).unwrap();
    assert_eq!(phone.heads(&doc).unwrap(), heads);
    let history: Vec<_> = phone
        .history(&"t1".into())
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(history.len(), 23);
    assert!(ids.iter().all(|id| history.contains(id)));
    assert!(phone.verify_projections(&"t1".into()).unwrap().is_empty());
    // Another replica gets everything from the compacted store.
    let mut other = Store::open_in_memory().unwrap();
    provision(&mut other, "c-ben", &["t1"], 6);
    let bytes = phone.export_changes(&doc, &[]).unwrap();
    other.merge_changes(&doc, &bytes).unwrap();
    assert_eq!(other.history(&"t1".into()).unwrap().len(), 23);
}

#[test]
fn attempts_recorded_offline_survive_a_restart_and_travel_as_one_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let mut phone = phone_at(&path, "c-ana", &["t1"], 10);
    let doc = DocId::turf(&"t1".into());
    phone
        .record_attempt(knock("t1", "t1-v0091", "talked", 0))
        .unwrap();
    let before = phone.heads(&doc).unwrap();
    let mut ids = Vec::new();
    for i in 0..10 {
        let voter = format!("t1-v00{i}0");
        ids.push(
            phone
                .record_attempt(knock("t1", &voter, "talked", i))
                .unwrap()
                .id,
        );
    }
    drop(phone); // the app is closed before anything reads the document
    let mut phone = Store::open(&path).unwrap();
    assert!(
        phone.documents().unwrap().contains(&doc),
        "a sync must find the turf"
    );
    assert_eq!(phone.outbox_count().unwrap(), 11);
    let bytes = phone.export_changes(&doc, &before).unwrap();
    let mut other = Store::open_in_memory().unwrap();
    provision(&mut other, "c-ben", &["t1"], 10);
    other
        .merge_changes(&doc, &phone.export_changes(&doc, &[]).unwrap())
        .unwrap();
    let got: Vec<_> = other
        .history(&"t1".into())
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    assert!(ids.iter().all(|id| got.contains(id)));
    // Ten attempts since `before`: one Automerge change, not ten.
    let mut am = doorstep_core::doc::TurfDoc::load(
        &"t1".into(),
        &phone.export_changes(&doc, &[]).unwrap(),
        [],
        doorstep_core::ActorId::random(),
    )
    .unwrap();
    let new_changes = am.automerge().get_changes(&before).len();
    assert_eq!(
        new_changes,
        1,
        "{} bytes for {new_changes} changes",
        bytes.len()
    );
}

#[test]
fn two_open_stores_on_one_file_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let mut a = phone_at(&path, "c-ana", &["t1"], 6);
    let mut b = Store::open(&path).unwrap();
    let t = TurfId::from("t1");
    let doc = DocId::turf(&t);
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            a.record_attempt(knock("t1", "t1-v0010", "talked", i))
                .unwrap()
                .id,
        );
    }
    // B caches the document as it is now, then A folds and edits it behind B's back.
    b.set_household_note(&t, &"t1-h002".into(), "dog", 5)
        .unwrap();
    for i in 0..2 {
        ids.push(
            b.record_attempt(knock("t1", "t1-v0020", "talked", 10 + i))
                .unwrap()
                .id,
        );
    }
    a.set_skipped(&t, &"t1-h003".into(), true, 20).unwrap();
    a.heads(&doc).unwrap();
    // B's cached copy is stale now: its next write must notice, reload and still succeed.
    b.set_household_note(&t, &"t1-h004".into(), "gate 12", 30)
        .unwrap();
    ids.push(
        b.record_attempt(knock("t1", "t1-v0030", "talked", 40))
            .unwrap()
            .id,
    );
    b.move_household(&t, &"t1-h005".into(), Some(&"t1-h000".into()), 50)
        .unwrap();
    drop(a);
    drop(b);

    let mut phone = Store::open(&path).unwrap();
    let mut in_doc = doc_attempt_ids(&mut phone, &t);
    in_doc.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(in_doc, want, "every attempt in the document exactly once");
    assert!(phone.verify_projections(&t).unwrap().is_empty());
    let list = phone.walk_list(&t).unwrap();
    assert_eq!(list.households[0].id.as_str(), "t1-h005");
    assert!(
        list.households
            .iter()
            .any(|h| h.note.as_deref() == Some("dog"))
    );
    assert!(
        list.households
            .iter()
            .any(|h| h.note.as_deref() == Some("gate 12"))
    );
    assert!(list.households.iter().any(|h| h.skipped));
}
