//! The storage trait's test suite. Every implementation runs all of it (see the tests at the
//! bottom of this crate's storage modules): `check_all(|| make_a_fresh_empty_storage())`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::auth::{issue_token, token_hash};
use crate::demo;
use doorstep_core::ActorId;
use doorstep_core::doc::TeamDoc;
use doorstep_core::domain::{AttemptId, Target, Team};

/// Runs every check against fresh storages made by `make`.
pub fn check_all<S: Storage>(make: impl Fn() -> S) {
    chunks_are_inserted_once(&make());
    compaction_deletes_only_what_it_folded_in(&make());
    tokens_authenticate_until_revoked(&make());
    grants_follow_roles(&make());
    results_are_written_with_their_chunks(&make());
    any_text_from_a_phone_is_stored(&make());
    device_state_round_trips(&make());
    team_documents_and_grants_follow_the_team(&make());
    reassignments_are_judged_against_the_database(&make());
}

/// Runs the checks of several servers on one database: `open` opens two handles on one fresh
/// database, as two server processes would.
pub fn check_shared<S: Storage>(open: impl Fn() -> (S, S)) {
    each_sees_what_the_other_stored(open());
    concurrent_writers_keep_every_head_and_store_each_change_once(open());
    compacting_on_one_while_the_other_writes_loses_nothing(open());
}

fn seeded<S: Storage + ?Sized>(storage: &S) -> Vec<demo::DemoUser> {
    demo::seed(
        storage,
        &demo::Plan {
            teams: 2,
            canvassers_per_team: 2,
            turfs_per_team: 2,
            doors: 5,
            turfs_per_canvasser: 1,
            seed: 1,
        },
        0,
    )
    .unwrap()
}

/// A document as stored, loaded.
fn stored_doc(storage: &impl Storage, id: &str) -> automerge::AutoCommit {
    stored_doc_at(storage, id).0
}

/// A document as stored, loaded, and the generation of its snapshot.
fn stored_doc_at(storage: &impl Storage, id: &str) -> (automerge::AutoCommit, u64) {
    let stored = storage.load_document(id).unwrap().unwrap();
    let mut doc = match &stored.snapshot {
        Some(s) if !s.is_empty() => automerge::AutoCommit::load(s).unwrap(),
        _ => automerge::AutoCommit::new(),
    };
    for c in &stored.chunks {
        doc.load_incremental(c).unwrap();
    }
    (doc, stored.generation)
}

/// One change by a new actor on top of `base`: (hash, bytes), heads after.
fn change_on(base: &mut automerge::AutoCommit, key: &str) -> (ChangeHash, Vec<u8>) {
    use automerge::transaction::Transactable;
    let heads = base.get_heads();
    let mut fork = base.fork().with_actor(ActorId::random());
    fork.put(automerge::ROOT, key, 1).unwrap();
    fork.commit();
    let c = fork.get_changes(&heads).remove(0);
    (c.hash(), c.raw_bytes().to_vec())
}

fn each_sees_what_the_other_stored<S: Storage>((a, b): (S, S)) {
    seeded(&a);
    let doc = "turf:t01-001";
    let mut base = stored_doc(&a, doc);
    let before = base.get_heads();
    let counter = a.change_counter().unwrap();
    let (hash, bytes) = change_on(&mut base, "from-b");
    b.commit(&Commit {
        user: "organizer".into(),
        device: vec![2; 16],
        docs: vec![DocWrite {
            id: doc.into(),
            changes: vec![(hash, bytes)],
            heads: vec![hash],
            before: before.clone(),
        }],
        ..Commit::default()
    })
    .unwrap();
    assert_ne!(
        a.change_counter().unwrap(),
        counter,
        "one handle's counter moves with the other's commit"
    );
    assert_eq!(a.stored_heads(&[doc.into()]).unwrap()[doc], vec![hash]);
    assert!(stored_doc(&a, doc).get_change_by_hash(&hash).is_some());
    assert!(
        a.stored_heads(&["turf:nowhere".into()]).unwrap().is_empty(),
        "no heads for a document that does not exist"
    );
}

fn concurrent_writers_keep_every_head_and_store_each_change_once<S: Storage>((a, b): (S, S)) {
    seeded(&a);
    let doc = "turf:t01-002";
    let mut base = stored_doc(&a, doc);
    let before = base.get_heads();
    // Both carry a change one phone made (the same bytes through two servers), and each its
    // own phones' changes, all at once.
    let common = change_on(&mut base, "common");
    let per_writer = 12;
    let own: Vec<Vec<(ChangeHash, Vec<u8>)>> = (0..2)
        .map(|w| {
            (0..per_writer)
                .map(|i| change_on(&mut base, &format!("w{w}-{i}")))
                .collect()
        })
        .collect();
    std::thread::scope(|s| {
        for (storage, own) in [(&a, &own[0]), (&b, &own[1])] {
            let (common, before) = (&common, &before);
            s.spawn(move || {
                for c in own {
                    storage
                        .commit(&Commit {
                            user: "organizer".into(),
                            device: vec![3; 16],
                            docs: vec![DocWrite {
                                id: doc.into(),
                                changes: vec![common.clone(), c.clone()],
                                heads: vec![common.0, c.0],
                                before: before.clone(),
                            }],
                            ..Commit::default()
                        })
                        .unwrap();
                }
            });
        }
    });
    let mut expected: Vec<ChangeHash> = own.iter().flatten().map(|(h, _)| *h).collect();
    expected.push(common.0);
    expected.sort();
    let mut chunks = b.chunk_hashes(doc).unwrap();
    chunks.sort();
    assert_eq!(chunks, expected, "every change stored, each once");
    let mut heads = a.stored_heads(&[doc.into()]).unwrap().remove(doc).unwrap();
    heads.sort();
    let mut all = stored_doc(&b, doc).get_heads();
    all.sort();
    assert_eq!(heads, all, "no writer's head hidden by another's");
    assert_eq!(all.len(), 2 * per_writer + 1);
}

fn compacting_on_one_while_the_other_writes_loses_nothing<S: Storage>((a, b): (S, S)) {
    seeded(&a);
    let doc = "turf:t02-001";
    let mut base = stored_doc(&a, doc);
    let before = base.get_heads();
    let written: Vec<(ChangeHash, Vec<u8>)> = (0..40)
        .map(|i| change_on(&mut base, &format!("k{i}")))
        .collect();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for c in &written {
                b.commit(&Commit {
                    user: "organizer".into(),
                    device: vec![4; 16],
                    docs: vec![DocWrite {
                        id: doc.into(),
                        changes: vec![c.clone()],
                        heads: vec![c.0],
                        before: before.clone(),
                    }],
                    ..Commit::default()
                })
                .unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::Release);
        });
        // As the engine compacts: the chunks to fold read first, then the document.
        let mut rounds = 0;
        while !done.load(std::sync::atomic::Ordering::Acquire) || rounds < 3 {
            let chunks = a.chunk_hashes(doc).unwrap();
            let (mut loaded, generation) = stored_doc_at(&a, doc);
            let folded: Vec<ChangeHash> = chunks
                .into_iter()
                .filter(|h| loaded.get_change_by_hash(h).is_some())
                .collect();
            a.compact(doc, &loaded.save(), &folded, generation).unwrap();
            rounds += 1;
        }
    });
    let mut after = stored_doc(&b, doc);
    for (h, _) in &written {
        assert!(
            after.get_change_by_hash(h).is_some(),
            "a change written during compactions survives"
        );
    }
}

fn changes(n: usize) -> (Vec<(ChangeHash, Vec<u8>)>, Vec<ChangeHash>) {
    let mut doc = automerge::AutoCommit::new().with_actor(ActorId::random());
    let mut out = Vec::new();
    for i in 0..n {
        use automerge::transaction::Transactable;
        doc.put(automerge::ROOT, format!("k{i}"), i as i64).unwrap();
        doc.commit();
    }
    for c in doc.get_changes(&[]) {
        out.push((c.hash(), c.raw_bytes().to_vec()));
    }
    (out, doc.get_heads())
}

fn write(
    storage: &impl Storage,
    doc: &str,
    changes: Vec<(ChangeHash, Vec<u8>)>,
    heads: Vec<ChangeHash>,
) {
    storage
        .commit(&Commit {
            user: "organizer".into(),
            device: vec![1; 16],
            docs: vec![DocWrite {
                id: doc.into(),
                changes,
                heads,
                before: Vec::new(),
            }],
            ..Commit::default()
        })
        .unwrap();
}

fn chunks_are_inserted_once(storage: &impl Storage) {
    seeded(storage);
    let doc = "turf:t01-001";
    let (c, heads) = changes(3);
    write(storage, doc, c.clone(), heads.clone());
    write(storage, doc, c.clone(), heads.clone());
    write(storage, doc, c[1..].to_vec(), heads);
    let mut stored = storage.chunk_hashes(doc).unwrap();
    stored.sort();
    let mut expected: Vec<_> = c.iter().map(|(h, _)| *h).collect();
    expected.sort();
    assert_eq!(stored, expected, "a change stored twice is stored once");
    assert_eq!(storage.load_document(doc).unwrap().unwrap().chunks.len(), 3);
}

fn compaction_deletes_only_what_it_folded_in(storage: &impl Storage) {
    seeded(storage);
    let doc = "turf:t01-002";
    let (c, heads) = changes(4);
    write(storage, doc, c[..2].to_vec(), heads.clone());
    // Another writer stores two more after the snapshot was taken: they must survive.
    let folded: Vec<ChangeHash> = c[..2].iter().map(|(h, _)| *h).collect();
    let generation = storage.load_document(doc).unwrap().unwrap().generation;
    write(storage, doc, c[2..].to_vec(), heads.clone());
    let deleted = storage
        .compact(doc, b"snapshot", &folded, generation)
        .unwrap();
    assert_eq!(deleted, 2);
    let mut left = storage.chunk_hashes(doc).unwrap();
    left.sort();
    let mut expected: Vec<_> = c[2..].iter().map(|(h, _)| *h).collect();
    expected.sort();
    assert_eq!(left, expected);
    let stored = storage.load_document(doc).unwrap().unwrap();
    assert_eq!(stored.snapshot.as_deref(), Some(&b"snapshot"[..]));
    assert_eq!(stored.chunks.len(), 2);

    // A compaction whose chunks another writer folded meanwhile writes nothing: that writer's
    // snapshot may hold what this one lacks.
    let stale = storage
        .compact(doc, b"stale", &[c[0].0, c[2].0], generation)
        .unwrap();
    assert_eq!(stale, 0);
    let stored = storage.load_document(doc).unwrap().unwrap();
    assert_eq!(stored.snapshot.as_deref(), Some(&b"snapshot"[..]));
    assert_eq!(stored.chunks.len(), 2);
    assert_ne!(
        stored.generation, generation,
        "a new snapshot, a new generation"
    );
    // Even when what it folded is stored again since (a server whose copy lacked a change
    // stores it anew): the snapshot written meanwhile may hold what this one lacks.
    write(storage, doc, c[..1].to_vec(), heads);
    let again = storage
        .compact(doc, b"stale", &[c[0].0], generation)
        .unwrap();
    assert_eq!(again, 0);
    let stored = storage.load_document(doc).unwrap().unwrap();
    assert_eq!(stored.snapshot.as_deref(), Some(&b"snapshot"[..]));
    assert_eq!(stored.chunks.len(), 3);
    // Made from the current snapshot, it folds.
    assert_eq!(
        storage
            .compact(doc, b"current", &[c[0].0], stored.generation)
            .unwrap(),
        1
    );
    let stored = storage.load_document(doc).unwrap().unwrap();
    assert_eq!(stored.snapshot.as_deref(), Some(&b"current"[..]));
    assert_eq!(
        storage
            .compact(doc, b"nothing", &[], stored.generation)
            .unwrap(),
        0
    );
    let stored = storage.load_document(doc).unwrap().unwrap();
    assert_eq!(stored.snapshot.as_deref(), Some(&b"current"[..]));
}

fn tokens_authenticate_until_revoked(storage: &impl Storage) {
    seeded(storage);
    let token = issue_token(storage, "canvasser-1-1", 5).unwrap();
    assert!(token.secret.len() >= 4 + 32, "at least 128 bits");
    let who = storage
        .authenticate(&token_hash(&token.secret))
        .unwrap()
        .unwrap();
    assert_eq!(who.user, "canvasser-1-1");
    assert_eq!(who.role, Role::Canvasser);
    assert!(
        storage
            .authenticate(&token_hash("dst_wrong"))
            .unwrap()
            .is_none()
    );
    assert!(storage.revoke_token(&token.id, 6).unwrap());
    assert!(
        storage
            .authenticate(&token_hash(&token.secret))
            .unwrap()
            .is_none()
    );
    assert!(!storage.revoke_token(&token.id, 7).unwrap(), "revoked once");
    assert!(issue_token(storage, "nobody", 8).is_err());
}

fn grants_follow_roles(storage: &impl Storage) {
    let users = seeded(storage);
    let grants = |id: &str| {
        let u = users.iter().find(|u| u.id == id).unwrap();
        let who = Principal {
            user: u.id.clone(),
            role: u.role,
            team: u.team.clone(),
        };
        storage
            .grants(&who)
            .unwrap()
            .turfs
            .into_keys()
            .collect::<Vec<_>>()
    };
    assert_eq!(grants("canvasser-1-1"), ["t01-001"]);
    assert_eq!(grants("canvasser-2-2"), ["t02-002"]);
    assert_eq!(grants("captain-1"), ["t01-001", "t01-002"]);
    assert_eq!(grants("organizer").len(), 4);
}

fn results_are_written_with_their_chunks(storage: &impl Storage) {
    seeded(storage);
    let (c, heads) = changes(1);
    let attempt = doorstep_core::domain::Attempt {
        id: AttemptId([7; 16]),
        target: Target::Voter("t01-001-v0000".into()),
        household: "t01-001-h000".into(),
        outcome: "talked".into(),
        answers: vec![("support".into(), doorstep_core::domain::Answer::Support(2))],
        note: None,
        canvasser: "canvasser-1-1".into(),
        device: "d".into(),
        recorded_at: 42,
        location: None,
    };
    storage
        .commit(&Commit {
            user: "canvasser-1-1".into(),
            device: vec![2; 16],
            now: 99,
            docs: vec![DocWrite {
                id: "turf:t01-001".into(),
                changes: c,
                heads,
                before: Vec::new(),
            }],
            attempts: vec![("t01-001".into(), attempt.clone())],
            voids: vec![("t01-001".into(), attempt.id.to_string(), "void-1".into())],
            ..Commit::default()
        })
        .unwrap();
    let rows = storage.results(Some("t01-001")).unwrap();
    assert_eq!(
        rows,
        [ResultRow {
            turf: "t01-001".into(),
            attempt: attempt.id.to_string(),
            canvasser: "canvasser-1-1".into(),
            outcome: "talked".into(),
            recorded_at: 42,
            voided_by: Some("void-1".into()),
        }]
    );
    assert!(storage.results(Some("t01-002")).unwrap().is_empty());
}

/// A phone's free text may hold anything, a NUL included (which PostgreSQL's text refuses):
/// its attempt is stored all the same, or the phone would retry the same upload forever.
fn any_text_from_a_phone_is_stored(storage: &impl Storage) {
    seeded(storage);
    let attempt = doorstep_core::domain::Attempt {
        id: AttemptId([9; 16]),
        target: Target::Household("t01-001-h000".into()),
        household: "t01-001-h000".into(),
        outcome: "not\0home".into(),
        answers: vec![],
        note: Some("gate code 4\0 2 — ask for Zoë 🐕".into()),
        canvasser: "canvasser-1-1".into(),
        device: "d\0".into(),
        recorded_at: 43,
        location: None,
    };
    storage
        .commit(&Commit {
            user: "canvasser-1-1".into(),
            device: vec![2; 16],
            now: 99,
            attempts: vec![("t01-001".into(), attempt.clone())],
            acked: vec![("turf:t01-001".into(), Vec::new())],
            ..Commit::default()
        })
        .unwrap();
    let rows = storage.results(Some("t01-001")).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].attempt, attempt.id.to_string());
}

fn device_state_round_trips(storage: &impl Storage) {
    seeded(storage);
    let (_, heads) = changes(2);
    storage
        .commit(&Commit {
            user: "canvasser-1-1".into(),
            device: vec![3; 16],
            acked: vec![("turf:t01-001".into(), heads.clone())],
            rosters: vec![("t01-001".into(), 1)],
            sync_states: vec![("campaign:demo-2026".into(), Some(vec![1, 2, 3]))],
            ..Commit::default()
        })
        .unwrap();
    let state = storage.device_state("canvasser-1-1", &[3; 16]).unwrap();
    assert_eq!(state.docs["turf:t01-001"], heads);
    assert_eq!(state.rosters["t01-001"], 1);
    assert_eq!(
        storage
            .sync_state("canvasser-1-1", &[3; 16], "campaign:demo-2026")
            .unwrap(),
        Some(vec![1, 2, 3])
    );
    assert!(
        storage
            .device_state("canvasser-1-1", &[4; 16])
            .unwrap()
            .docs
            .is_empty()
    );
    assert!(
        storage
            .device_state("canvasser-1-2", &[3; 16])
            .unwrap()
            .docs
            .is_empty()
    );
}

fn principal(user: &str, role: Role, team: Option<&str>) -> Principal {
    Principal {
        user: user.into(),
        role,
        team: team.map(str::to_owned),
    }
}

fn canvasser(user: &str, team: &str) -> Principal {
    principal(user, Role::Canvasser, Some(team))
}

fn set(turfs: &[&str]) -> HashSet<String> {
    turfs.iter().map(|t| (*t).to_owned()).collect()
}

fn team_doc(storage: &impl Storage, team: &str) -> Team {
    let stored = storage
        .load_document(&format!("team:{team}"))
        .unwrap()
        .expect("every team has its document");
    TeamDoc::load(
        team,
        stored.snapshot.as_deref().unwrap_or_default(),
        stored.chunks.iter().map(Vec::as_slice),
        ActorId::random(),
    )
    .unwrap()
    .team()
}

fn holders(team: &Team, turf: &str) -> Vec<String> {
    team.assignment(turf)
        .expect("the team's turf")
        .users
        .clone()
}

fn team_documents_and_grants_follow_the_team(storage: &impl Storage) {
    seeded(storage);
    let doc = team_doc(storage, "team-1");
    let members: Vec<(&str, Role)> = doc
        .members
        .iter()
        .map(|m| (m.id.as_str(), m.role))
        .collect();
    assert_eq!(
        members,
        [
            ("canvasser-1-1", Role::Canvasser),
            ("canvasser-1-2", Role::Canvasser),
            ("captain-1", Role::Captain)
        ]
    );
    assert_eq!(holders(&doc, "t01-001"), ["canvasser-1-1"]);
    assert_eq!(holders(&doc, "t01-002"), ["canvasser-1-2"]);
    assert!(doc.assignment("t02-001").is_none());

    // Every member gets the team's document and each teammate's turfs; an admin every team's.
    let expected = HashMap::from([
        ("captain-1".to_owned(), set(&["t01-001", "t01-002"])),
        ("canvasser-1-1".to_owned(), set(&["t01-001"])),
        ("canvasser-1-2".to_owned(), set(&["t01-002"])),
    ]);
    for who in [
        canvasser("canvasser-1-1", "team-1"),
        principal("captain-1", Role::Captain, Some("team-1")),
    ] {
        let grants = storage.grants(&who).unwrap();
        assert_eq!(grants.teams, BTreeSet::from(["team-1".to_owned()]));
        assert_eq!(grants.team, expected, "{}", who.user);
    }
    let admin = storage
        .grants(&principal("organizer", Role::Admin, None))
        .unwrap();
    assert_eq!(
        admin.teams,
        BTreeSet::from(["team-1".to_owned(), "team-2".to_owned()])
    );
    assert!(admin.team.is_empty());

    // An organizer's assignment and a user moved to another team reach both documents.
    storage.assign("t01-002", "canvasser-1-1").unwrap();
    assert_eq!(
        holders(&team_doc(storage, "team-1"), "t01-002"),
        ["canvasser-1-1", "canvasser-1-2"]
    );
    let grants = storage
        .grants(&canvasser("canvasser-1-2", "team-1"))
        .unwrap();
    assert_eq!(grants.team["canvasser-1-1"], set(&["t01-001", "t01-002"]));
    storage
        .add_user(&NewUser {
            id: "canvasser-1-2".into(),
            name: "Moved".into(),
            role: Role::Canvasser,
            team: Some("team-2".into()),
        })
        .unwrap();
    assert!(
        team_doc(storage, "team-1")
            .member("canvasser-1-2")
            .is_none()
    );
    assert_eq!(
        team_doc(storage, "team-2")
            .member("canvasser-1-2")
            .map(|m| m.name.as_str()),
        Some("Moved")
    );
    storage.add_team("team-3", "Team 3").unwrap();
    let doc = team_doc(storage, "team-3");
    assert_eq!(doc.name, "Team 3");
    assert!(doc.members.is_empty() && doc.assignments.is_empty());
}

fn reassignments_are_judged_against_the_database(storage: &impl Storage) {
    seeded(storage);
    let reassign = |turf: &str, users: &[&str], attempt: Option<doorstep_core::domain::Attempt>| {
        storage.commit(&Commit {
            user: "captain-1".into(),
            device: vec![5; 16],
            now: 1,
            attempts: attempt.into_iter().map(|a| ("t01-001".into(), a)).collect(),
            assignments: vec![Reassignment {
                team: "team-1".into(),
                turf: turf.into(),
                users: users.iter().map(|u| (*u).to_owned()).collect(),
                past: vec![],
            }],
            ..Commit::default()
        })
    };
    let turfs = |user: &str, team: &str| -> Vec<String> {
        storage
            .grants(&canvasser(user, team))
            .unwrap()
            .turfs
            .into_keys()
            .collect()
    };
    reassign("t01-001", &["canvasser-1-2"], None).unwrap();
    assert_eq!(turfs("canvasser-1-2", "team-1"), ["t01-001", "t01-002"]);
    assert!(turfs("canvasser-1-1", "team-1").is_empty());
    let grants = storage
        .grants(&canvasser("canvasser-1-1", "team-1"))
        .unwrap();
    assert_eq!(
        grants.team["canvasser-1-1"],
        set(&["t01-001"]),
        "a turf once held stays one its holder may have written in"
    );
    assert_eq!(grants.team["canvasser-1-2"], set(&["t01-001", "t01-002"]));

    let attempt = doorstep_core::domain::Attempt {
        id: AttemptId([9; 16]),
        target: Target::Household("t01-001-h000".into()),
        household: "t01-001-h000".into(),
        outcome: "not_home".into(),
        answers: vec![],
        note: None,
        canvasser: "canvasser-1-2".into(),
        device: "d".into(),
        recorded_at: 1,
        location: None,
    };
    for (turf, users) in [
        ("t02-001", &["canvasser-1-2"][..]),
        ("t01-002", &["canvasser-2-1"][..]),
        ("t01-002", &["nobody"][..]),
        ("t01-002", &["organizer"][..]),
    ] {
        // Overtaken by the database (a turf moved away, a user gone): not applied, and the
        // rest of the sync is kept, so that the phone's team document is never held back.
        reassign(turf, users, Some(attempt.clone())).unwrap();
        assert_eq!(
            storage.results(None).unwrap().len(),
            1,
            "{turf} to {users:?}"
        );
    }
    assert_eq!(turfs("canvasser-2-1", "team-2"), ["t02-001"]);
    assert_eq!(turfs("canvasser-1-2", "team-1"), ["t01-001", "t01-002"]);
    // The team's document says what the database says.
    let stored = storage.load_document("team:team-1").unwrap().unwrap();
    let doc = doorstep_core::doc::TeamDoc::load(
        "team-1",
        stored.snapshot.as_deref().unwrap_or_default(),
        stored.chunks.iter().map(Vec::as_slice),
        ActorId::random(),
    )
    .unwrap()
    .team();
    assert_eq!(
        doc.assignment("t01-002").unwrap().users,
        ["canvasser-1-2".to_owned()]
    );
}

/// Runs the dashboard's checks against fresh storages made by `make`.
pub fn check_dashboard<S: Dashboard>(make: impl Fn() -> S) {
    sessions_last_until_closed_expired_or_revoked(&make());
    dashboard_figures_count_what_the_results_say(&make());
    phones_last_sync_times_only_move_forward(&make());
}

fn phones_last_sync_times_only_move_forward(storage: &impl Dashboard) {
    seeded(storage);
    storage
        .commit(&Commit {
            user: "canvasser-1-1".into(),
            device: vec![4; 16],
            now: 100,
            acked: vec![("turf:t01-001".into(), Vec::new())],
            ..Commit::default()
        })
        .unwrap();
    let last = |storage: &dyn Fn() -> Vec<super::dashboard::PhoneSync>| {
        storage()
            .into_iter()
            .map(|p| (p.user, p.device, p.last_sync_at))
            .collect::<Vec<_>>()
    };
    let phones = || storage.phones().unwrap();
    assert_eq!(
        last(&phones),
        [("canvasser-1-1".into(), hex::encode([4; 16]), 100)]
    );
    storage
        .touch_devices(&[("canvasser-1-1".into(), vec![4; 16], 150)], 60)
        .unwrap();
    assert_eq!(
        last(&phones)[0].2,
        100,
        "not older than 60 ms: left as it is"
    );
    storage
        .touch_devices(
            &[
                ("canvasser-1-1".into(), vec![4; 16], 250),
                ("canvasser-1-2".into(), vec![5; 16], 300),
            ],
            60,
        )
        .unwrap();
    assert_eq!(
        last(&phones),
        [("canvasser-1-1".into(), hex::encode([4; 16]), 250)],
        "a phone that never synced gets no row"
    );
    storage
        .touch_devices(&[("canvasser-1-1".into(), vec![4; 16], 200)], 0)
        .unwrap();
    assert_eq!(last(&phones)[0].2, 250, "an older time changes nothing");
}

fn sessions_last_until_closed_expired_or_revoked(storage: &impl Dashboard) {
    seeded(storage);
    let token = issue_token(storage, "captain-1", 5).unwrap();
    let token = token_hash(&token.secret);
    let (a, b) = ([1u8; 32], [2u8; 32]);
    assert!(
        storage
            .open_session(&a, &token_hash("dst_unknown"), 10, 100)
            .unwrap()
            .is_none()
    );
    assert!(storage.session(&a, 11).unwrap().is_none(), "stored anyway");
    let who = storage.open_session(&a, &token, 10, 100).unwrap().unwrap();
    assert_eq!((who.user.as_str(), who.role), ("captain-1", Role::Captain));
    assert_eq!(storage.session(&a, 50).unwrap(), Some(who.clone()));
    assert!(storage.session(&a, 100).unwrap().is_none(), "expired");
    assert!(storage.session(&b, 50).unwrap().is_none());
    storage.open_session(&b, &token, 10, 100).unwrap().unwrap();
    storage.close_session(&b).unwrap();
    assert!(storage.session(&b, 50).unwrap().is_none(), "closed");
    // Revoking the token ends its sessions.
    let c = [3u8; 32];
    let other = issue_token(storage, "organizer", 5).unwrap();
    storage
        .open_session(&c, &token_hash(&other.secret), 10, 1000)
        .unwrap()
        .unwrap();
    assert!(storage.revoke_token(&other.id, 20).unwrap());
    assert!(storage.session(&c, 30).unwrap().is_none(), "revoked");
}

fn dashboard_figures_count_what_the_results_say(storage: &impl Dashboard) {
    use super::dashboard::{DoorStatus, Scope};
    use doorstep_core::domain::{Answer, Attempt};
    seeded(storage);
    let roster = storage.roster("t01-001").unwrap().unwrap();
    let other = storage.roster("t01-002").unwrap().unwrap();
    let voter = |i: usize| roster.voters[i].clone();
    let (va, vb) = (voter(0), voter(roster.voters.len() - 1));
    assert_ne!(va.household, vb.household);
    let quiet = roster
        .households
        .iter()
        .find(|h| h.id != va.household && h.id != vb.household)
        .unwrap()
        .id
        .clone();
    const HOUR: i64 = 3_600_000;
    let attempt = |n: u8,
                   target: Target,
                   household,
                   outcome: &str,
                   support: Option<u8>,
                   who: &str,
                   at: i64| Attempt {
        id: AttemptId([n; 16]),
        target,
        household,
        outcome: outcome.into(),
        answers: support
            .map(|l| vec![("support".into(), Answer::Support(l))])
            .unwrap_or_default(),
        note: None,
        canvasser: who.into(),
        device: "d".into(),
        recorded_at: at,
        location: None,
    };
    let vc = roster
        .voters
        .iter()
        .find(|v| {
            v.household != va.household && v.household != vb.household && v.household != quiet
        })
        .unwrap()
        .clone();
    let ana = "canvasser-1-1";
    let first = vec![
        attempt(
            1,
            Target::Voter(va.id.clone()),
            va.household.clone(),
            "talked",
            Some(2),
            ana,
            HOUR,
        ),
        attempt(
            2,
            Target::Voter(va.id.clone()),
            va.household.clone(),
            "talked",
            Some(4),
            ana,
            2 * HOUR + 5,
        ),
        attempt(
            3,
            Target::Household(quiet.clone()),
            quiet.clone(),
            "not_home",
            None,
            ana,
            HOUR + 7,
        ),
        attempt(
            4,
            Target::Voter(vb.id.clone()),
            vb.household.clone(),
            "talked",
            Some(1),
            ana,
            HOUR + 9,
        ),
    ];
    let elsewhere = attempt(
        5,
        Target::Household(other.households[0].id.clone()),
        other.households[0].id.clone(),
        "not_home",
        None,
        "canvasser-1-2",
        3 * HOUR,
    );
    let voided = first[3].id.to_string();
    let mut first = first;
    // Two answers at the same moment: the later attempt id is the latest, as `stats` reads it.
    first.push(attempt(
        7,
        Target::Voter(vc.id.clone()),
        vc.household.clone(),
        "talked",
        Some(5),
        ana,
        HOUR + 20,
    ));
    first.push(attempt(
        6,
        Target::Voter(vc.id.clone()),
        vc.household.clone(),
        "talked",
        Some(1),
        ana,
        HOUR + 20,
    ));
    let mut attempts: Vec<(String, Attempt)> = first
        .into_iter()
        .map(|a| ("t01-001".to_owned(), a))
        .collect();
    attempts.push(("t01-002".into(), elsewhere));
    storage
        .commit(&Commit {
            user: ana.into(),
            device: vec![1; 16],
            now: 4 * HOUR,
            attempts,
            voids: vec![("t01-001".into(), voided, "void-4".into())],
            ..Commit::default()
        })
        .unwrap();
    let contacts = vec![(demo::CAMPAIGN.to_owned(), "talked".to_owned())];
    let codes = [
        "talked".to_owned(),
        "not_home".to_owned(),
        "refused".to_owned(),
    ];
    for scope in [
        Scope::Campaign(demo::CAMPAIGN.into()),
        Scope::Team("team-1".into()),
    ] {
        let turfs = storage.turf_progress(&scope, &contacts, &codes).unwrap();
        let t1 = turfs.iter().find(|t| t.turf == "t01-001").unwrap();
        assert_eq!(t1.figures.doors, roster.households.len() as u64);
        assert_eq!(
            (t1.figures.attempts, t1.figures.knocked, t1.figures.contacts),
            (5, 3, 2),
            "the void is left out; three doors; two voters reached"
        );
        assert_eq!(
            t1.figures.support,
            [0, 0, 0, 1, 1],
            "the latest answer counts"
        );
        assert_eq!(t1.figures.last_at, Some(2 * HOUR + 5));
        assert_eq!(t1.figures.outcomes, [4, 1, 0], "talked, not home, refused");
        assert_eq!(t1.figures.other_outcomes(), 0);
        assert_eq!(t1.assigned, [ana]);
        let t2 = turfs.iter().find(|t| t.turf == "t01-002").unwrap();
        assert_eq!(
            (t2.figures.attempts, t2.figures.knocked, t2.figures.contacts),
            (1, 1, 0)
        );
        let people = storage.person_progress(&scope, &contacts, &codes).unwrap();
        let figures = |who: &str| people.iter().find(|(u, _)| u == who).unwrap().1.clone();
        assert_eq!((figures(ana).attempts, figures(ana).knocked), (5, 3));
        assert_eq!(figures(ana).support, [0, 0, 0, 1, 1]);
        assert_eq!(figures(ana).outcomes, [4, 1, 0]);
        assert_eq!(figures("canvasser-1-2").outcomes, [0, 1, 0]);
        assert_eq!(figures("canvasser-1-2").attempts, 1);
        let hours: Vec<(i64, u64, u64)> = storage
            .timeline(&scope, &contacts)
            .unwrap()
            .iter()
            .map(|h| (h.hour, h.attempts, h.contacts))
            .collect();
        assert_eq!(hours, [(HOUR, 4, 3), (2 * HOUR, 1, 1), (3 * HOUR, 1, 0)]);
        let doors = turfs.iter().map(|t| t.figures.doors).sum::<u64>();
        for max_points in [u64::MAX, 0] {
            let map = storage.door_map(&scope, &contacts, max_points, 8).unwrap();
            assert_eq!(map.located, [doors - 4, 2, 2], "{max_points}");
            if max_points == 0 {
                assert!(map.points.is_empty());
                let cells: u64 = map.cells.iter().flat_map(|c| c.2).sum();
                assert_eq!(cells, doors);
                assert!(map.cells.iter().all(|c| c.0 < 8 && c.1 < 8));
            } else {
                let contact = map
                    .points
                    .iter()
                    .filter(|p| p.2 == DoorStatus::Contact)
                    .count();
                assert_eq!(contact, 2);
            }
        }
    }
    let theirs = storage
        .turf_progress(&Scope::Team("team-2".into()), &contacts, &codes)
        .unwrap();
    assert!(!theirs.is_empty());
    assert!(
        theirs
            .iter()
            .all(|t| t.figures.attempts == 0 && t.team.as_deref() == Some("team-2"))
    );
    // Without a contact outcome nobody was reached.
    let none = storage
        .turf_progress(&Scope::Campaign(demo::CAMPAIGN.into()), &[], &[])
        .unwrap();
    assert!(none.iter().all(|t| t.figures.contacts == 0));
    // Without codes asked for, every attempt is an "other" outcome.
    assert!(
        none.iter()
            .all(|t| t.figures.outcomes.is_empty()
                && t.figures.other_outcomes() == t.figures.attempts)
    );
}
