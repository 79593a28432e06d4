//! Field captains against the sync engine: team documents, reassignments turned into grants,
//! results forwarded in their author's name, and organizers' commands reaching phones through a
//! running server. The phones are real stores; the engine is driven without HTTP.

use doorstep_core::doc::{DocId, TeamDoc, TurfDoc, load_doc};
use doorstep_core::domain::{
    Assignment, AttemptId, CanvasserId, Entry, Member, Role, Target, TurfId,
};
use doorstep_core::{NewAttempt, Store, SyncError, SyncReport};
use doorstep_server::auth::token_hash;
use doorstep_server::demo::{self, DemoUser, Plan};
use doorstep_server::engine::{Engine, SyncFailure};
use doorstep_server::setup::people;
use doorstep_server::storage::organize::AttemptRow;
use doorstep_server::storage::{Organize, Principal, SqliteStorage, Storage};
use std::collections::HashSet;
use std::path::PathBuf;

/// A server with two teams: `team-1` has `captain-1`, `canvasser-1-1` (ana, turf `t01-001`),
/// `canvasser-1-2` (ben, turf `t01-002`) and a turf nobody holds (`t01-003`); `team-2` the same.
struct Field {
    engine: Engine<SqliteStorage>,
    users: Vec<DemoUser>,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

const CAP: &str = "captain-1";
const ANA: &str = "canvasser-1-1";
const BEN: &str = "canvasser-1-2";
const OTHER: &str = "canvasser-2-1";

/// A phone signed in with a user's token.
struct Phone {
    store: Store,
    hash: [u8; 32],
}

impl Field {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let storage = SqliteStorage::open(&path).unwrap();
        let users = demo::seed(
            &storage,
            &Plan {
                teams: 2,
                canvassers_per_team: 2,
                turfs_per_team: 3,
                doors: 6,
                turfs_per_canvasser: 1,
                seed: 7,
            },
            0,
        )
        .unwrap();
        Self {
            engine: Engine::new(storage),
            users,
            path,
            _dir: dir,
        }
    }

    fn storage(&self) -> &SqliteStorage {
        self.engine.storage()
    }

    /// The database as a command run beside the server sees it (another process).
    fn organizer(&self) -> SqliteStorage {
        SqliteStorage::open(&self.path).unwrap()
    }

    fn phone(&self, user: &str) -> Phone {
        let u = self.users.iter().find(|u| u.id == user).unwrap();
        Phone {
            store: Store::open_in_memory().unwrap(),
            hash: token_hash(&u.token.secret),
        }
    }

    fn sync(&self, phone: &mut Phone) -> Result<SyncReport, SyncError<SyncFailure>> {
        let hash = phone.hash;
        phone
            .store
            .sync_with(|body| self.engine.sync(&hash, &body, 0).map(|(_, o)| o.response))
    }

    /// A sync the server must refuse: the document and reason it names.
    fn refused(&self, phone: &mut Phone) -> (String, String) {
        match self.sync(phone) {
            Err(SyncError::Transport(SyncFailure::Refused { doc, reason })) => (doc, reason),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// Who holds each turf, as the database says.
    fn assigned(&self, turf: &str) -> Vec<String> {
        self.storage()
            .turf_figures()
            .unwrap()
            .into_iter()
            .find(|t| t.turf == turf)
            .unwrap()
            .assigned
    }

    /// The team's document as the server stores it.
    fn team_doc(&self, team: &str) -> doorstep_core::domain::Team {
        let stored = self
            .storage()
            .load_document(&format!("team:{team}"))
            .unwrap()
            .unwrap();
        TeamDoc::load(
            team,
            stored.snapshot.as_deref().unwrap_or_default(),
            stored.chunks.iter().map(Vec::as_slice),
            doorstep_core::ActorId::random(),
        )
        .unwrap()
        .team()
    }

    /// What the server holds, to show that a refused sync stored nothing.
    fn fingerprint(&self) -> String {
        let s = self.storage();
        let mut out = format!("{:?}", s.results(None).unwrap());
        out += &format!("{:?}", s.turf_figures().unwrap());
        for doc in ["team:team-1", "team:team-2", "turf:t01-001", "turf:t01-003"] {
            let mut chunks = s.chunk_hashes(doc).unwrap();
            chunks.sort();
            out += &format!("{doc} {chunks:?}");
        }
        out
    }

    fn rows(&self) -> Vec<AttemptRow> {
        self.storage().attempt_rows().unwrap()
    }
}

impl Phone {
    fn turfs(&self) -> Vec<String> {
        self.store
            .turfs()
            .unwrap()
            .into_iter()
            .map(|t| t.turf.to_string())
            .collect()
    }

    fn team(&self) -> doorstep_core::domain::Team {
        self.store
            .team()
            .unwrap()
            .expect("the phone holds its team")
    }

    /// Records a knock at the first door of a turf; returns the attempt's id.
    fn knock(&mut self, turf: &str, at: i64) -> String {
        let turf = TurfId::from(turf);
        let door = self.store.walk_list(&turf).unwrap().households[0]
            .id
            .clone();
        self.store
            .record_attempt(NewAttempt {
                turf,
                target: Target::Household(door),
                outcome: "not_home".into(),
                answers: vec![],
                note: None,
                recorded_at: at,
                location: None,
            })
            .unwrap()
            .id
            .to_string()
    }

    /// Changes this phone's copy of its team document as `edit` says, as a tampered or buggy
    /// app would (the store's own calls judge first).
    fn edit_team(&mut self, team: &str, edit: impl FnOnce(&mut TeamDoc)) {
        let id = DocId::team(team);
        let bytes = self.store.export_changes(&id, &[]).unwrap();
        let mut doc = TeamDoc::load(team, &bytes, [], doorstep_core::ActorId::random()).unwrap();
        let before = doc.heads();
        edit(&mut doc);
        let changes = doc.automerge().save_after(&before);
        self.store.merge_changes(&id, &changes).unwrap();
    }

    /// Appends an attempt in someone's name to this phone's copy of a turf, bypassing the app.
    fn forge_attempt(&mut self, turf: &str, author: &str, n: u8) {
        let turf_id = TurfId::from(turf);
        let id = DocId::turf(&turf_id);
        let bytes = self.store.export_changes(&id, &[]).unwrap();
        let mut doc =
            TurfDoc::wrap(load_doc(&id, &bytes, []).unwrap(), id.clone(), &turf_id).unwrap();
        let before = doc.heads();
        let door = self.store.walk_list(&turf_id).unwrap().households[0]
            .id
            .clone();
        let attempt = doorstep_core::domain::Attempt {
            id: AttemptId([n; 16]),
            target: Target::Household(door.clone()),
            household: door,
            outcome: "not_home".into(),
            answers: vec![],
            note: None,
            canvasser: author.into(),
            device: "forged".into(),
            recorded_at: i64::from(n),
            location: None,
        };
        doc.append(&Entry::Attempt(attempt), i64::from(n)).unwrap();
        let changes = doc.automerge().save_after(&before);
        self.store.merge_changes(&id, &changes).unwrap();
    }
}

/// Hands a document from one phone to another, as local sync or a bundle would.
fn carry(from: &mut Phone, to: &mut Phone, doc: &DocId) {
    let bytes = from.store.export_changes(doc, &[]).unwrap();
    to.store.merge_changes(doc, &bytes).unwrap();
}

/// The captain hands `turf` to `to` offline, and `to`'s phone takes it face to face: the team
/// document, the turf's list and its document.
fn hand_over(field: &Field, cap: &mut Phone, to: &mut Phone, turf: &TurfId) {
    let user = to.store.signed_in().unwrap().expect("signed in");
    cap.store.reassign_turf(turf, &[user], 10).unwrap();
    carry(cap, to, &DocId::team("team-1"));
    let roster = field.storage().roster(turf.as_str()).unwrap().unwrap();
    to.store.apply_roster(&roster).unwrap();
    carry(cap, to, &DocId::turf(turf));
}

fn handed(users: &[&str], by: &str) -> Assignment {
    Assignment {
        users: users.iter().map(|u| (*u).to_owned()).collect(),
        past: vec![],
        by: by.into(),
        at: 5,
    }
}

#[test]
fn every_member_gets_the_team_document_as_the_organizer_set_it() {
    let field = Field::new();
    let mut ana = field.phone(ANA);
    field.sync(&mut ana).unwrap();
    let team = ana.team();
    assert_eq!(team.id, "team-1");
    let members: Vec<(&str, Role)> = team
        .members
        .iter()
        .map(|m| (m.id.as_str(), m.role))
        .collect();
    assert_eq!(
        members,
        [
            (ANA, Role::Canvasser),
            (BEN, Role::Canvasser),
            (CAP, Role::Captain)
        ]
    );
    let turfs: Vec<(&str, Vec<String>)> = team
        .assignments
        .iter()
        .map(|(t, a)| (t.as_str(), a.users.clone()))
        .collect();
    assert_eq!(
        turfs,
        [
            ("t01-001", vec![ANA.to_owned()]),
            ("t01-002", vec![BEN.to_owned()]),
            ("t01-003", vec![]),
        ]
    );
    assert_eq!(ana.turfs(), ["t01-001"], "the team document grants no turf");

    // Another team's document is not theirs.
    let mut other = field.phone(OTHER);
    field.sync(&mut other).unwrap();
    assert_eq!(other.team().id, "team-2");
}

#[test]
fn a_captains_offline_reassignment_moves_the_turf_at_the_next_syncs() {
    let field = Field::new();
    let (mut cap, mut ana, mut ben) = (field.phone(CAP), field.phone(ANA), field.phone(BEN));
    for p in [&mut cap, &mut ana, &mut ben] {
        field.sync(p).unwrap();
    }
    assert_eq!(ana.turfs(), ["t01-001"]);
    assert_eq!(ben.turfs(), ["t01-002"]);

    cap.store
        .reassign_turf(&TurfId::from("t01-001"), &[CanvasserId::from(BEN)], 10)
        .unwrap();
    field.sync(&mut cap).unwrap();
    assert_eq!(field.assigned("t01-001"), [BEN]);
    assert_eq!(
        field.team_doc("team-1").assignment("t01-001").unwrap().by,
        CAP
    );

    // The new holder gets the turf's list and document; the old one is told it is gone.
    let report = field.sync(&mut ben).unwrap();
    assert_eq!(ben.turfs(), ["t01-001", "t01-002"]);
    assert!(report.rosters_applied >= 1, "{report:?}");
    assert!(
        !ben.store
            .heads(&DocId::turf(&TurfId::from("t01-001")))
            .unwrap()
            .is_empty()
    );
    assert_eq!(ben.team().assignment("t01-001").unwrap().users, [BEN]);
    let report = field.sync(&mut ana).unwrap();
    assert!(
        report.revoked.contains(&"turf:t01-001".to_owned()),
        "{report:?}"
    );
    assert_eq!(ana.team().assignment("t01-001").unwrap().users, [BEN]);

    // Ana held it: her records there may still be carried by a teammate.
    let grants = field
        .storage()
        .grants(&Principal {
            user: BEN.into(),
            role: Role::Canvasser,
            team: Some("team-1".into()),
        })
        .unwrap();
    assert!(grants.team[ANA].contains("t01-001"));
    assert!(grants.turfs.contains_key("t01-001"));
}

#[test]
fn a_captain_assigning_another_teams_turf_or_promoting_is_refused_and_nothing_is_stored() {
    let field = Field::new();
    let mut cap = field.phone(CAP);
    field.sync(&mut cap).unwrap();
    let synced = field.fingerprint();
    cap.knock("t01-003", 20);
    cap.edit_team("team-1", |doc| {
        doc.set_assignment("t02-001", &handed(&[ANA], CAP)).unwrap();
    });
    let (doc, reason) = field.refused(&mut cap);
    assert_eq!(doc, "team:team-1");
    assert!(reason.contains("'t02-001' is not one of team"), "{reason}");
    assert_eq!(
        field.fingerprint(),
        synced,
        "nothing of the request is stored, the knock beside it neither"
    );

    let mut cap = field.phone(CAP);
    field.sync(&mut cap).unwrap();
    cap.edit_team("team-1", |doc| {
        doc.set_member(&Member {
            id: ANA.into(),
            name: "Ana".into(),
            role: Role::Captain,
        })
        .unwrap();
    });
    let (doc, reason) = field.refused(&mut cap);
    assert_eq!(doc, "team:team-1");
    assert!(reason.contains("promotes"), "{reason}");
    assert!(!reason.contains("Ana"), "no names in errors: {reason}");
    assert_eq!(field.fingerprint(), synced);
    assert_eq!(field.assigned("t02-001"), [OTHER]);
}

#[test]
fn a_canvasser_carries_the_captains_reassignment_but_not_their_own() {
    let field = Field::new();
    let (mut cap, mut ana, mut ben) = (field.phone(CAP), field.phone(ANA), field.phone(BEN));
    for p in [&mut cap, &mut ana, &mut ben] {
        field.sync(p).unwrap();
    }
    cap.store
        .reassign_turf(&TurfId::from("t01-003"), &[CanvasserId::from(ANA)], 10)
        .unwrap();
    carry(&mut cap, &mut ana, &DocId::team("team-1"));

    // Ana reaches the server before the captain does: the turf is hers in that very sync.
    field.sync(&mut ana).unwrap();
    assert_eq!(field.assigned("t01-003"), [ANA]);
    assert_eq!(ana.turfs(), ["t01-001", "t01-003"]);

    // Ben hands himself a turf: refused, whoever he claims to be.
    let synced = field.fingerprint();
    ben.edit_team("team-1", |doc| {
        doc.set_assignment("t01-001", &handed(&[BEN], BEN)).unwrap();
    });
    let (doc, reason) = field.refused(&mut ben);
    assert_eq!(doc, "team:team-1");
    assert!(reason.contains("not a captain"), "{reason}");
    assert_eq!(field.fingerprint(), synced);
    assert_eq!(field.assigned("t01-001"), [ANA]);
}

#[test]
fn an_attempt_forwarded_by_the_captain_keeps_its_author_and_device() {
    let field = Field::new();
    let (mut cap, mut ana) = (field.phone(CAP), field.phone(ANA));
    field.sync(&mut cap).unwrap();
    field.sync(&mut ana).unwrap();
    let id = ana.knock("t01-001", 30);
    carry(&mut ana, &mut cap, &DocId::turf(&TurfId::from("t01-001")));
    field.sync(&mut cap).unwrap();
    let rows = field.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].attempt, id);
    assert_eq!(rows[0].canvasser, ANA);
    assert_eq!(rows[0].device, ana.store.device().to_string());

    // Ana's own sync later adds nothing twice.
    field.sync(&mut ana).unwrap();
    assert_eq!(field.rows().len(), 1);
    assert_eq!(ana.store.outbox_count().unwrap(), 0);
}

#[test]
fn a_captain_hands_a_turf_on_and_forwards_its_new_holders_results_in_one_sync() {
    let field = Field::new();
    let (mut cap, mut ben) = (field.phone(CAP), field.phone(BEN));
    field.sync(&mut cap).unwrap();
    field.sync(&mut ben).unwrap();
    let spare = TurfId::from("t01-003");
    // Face to face: Ben takes the team document, the list and the turf; knocks; the captain
    // collects it.
    hand_over(&field, &mut cap, &mut ben, &spare);
    let id = ben.knock("t01-003", 40);
    carry(&mut ben, &mut cap, &DocId::turf(&spare));

    // One sync carries the reassignment and Ben's knock: the knock is judged by it.
    field.sync(&mut cap).unwrap();
    assert_eq!(field.assigned("t01-003"), [BEN]);
    let rows = field.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].attempt.as_str(), rows[0].canvasser.as_str()),
        (id.as_str(), BEN)
    );
    assert_eq!(rows[0].device, ben.store.device().to_string());
}

#[test]
fn a_turf_handed_on_twice_offline_still_takes_its_first_holders_results() {
    let field = Field::new();
    let (mut cap, mut ben) = (field.phone(CAP), field.phone(BEN));
    field.sync(&mut cap).unwrap();
    field.sync(&mut ben).unwrap();
    let spare = TurfId::from("t01-003");
    // Offline all day: the spare turf goes to Ben, who knocks; then on to Ana. The server
    // never hears of Ben holding it.
    hand_over(&field, &mut cap, &mut ben, &spare);
    let id = ben.knock("t01-003", 40);
    carry(&mut ben, &mut cap, &DocId::turf(&spare));
    let handed = cap
        .store
        .reassign_turf(&spare, &[CanvasserId::from(ANA)], 50)
        .unwrap();
    assert_eq!(handed.past, [BEN], "the document remembers who held it");

    // The captain's sync carries both: Ben's knock passes as a past holder's.
    field.sync(&mut cap).unwrap();
    assert_eq!(field.assigned("t01-003"), [ANA]);
    let rows = field.rows();
    assert_eq!(
        rows.iter()
            .map(|r| (r.attempt.as_str(), r.canvasser.as_str()))
            .collect::<Vec<_>>(),
        [(id.as_str(), BEN)]
    );
}

#[test]
fn a_turf_handed_over_face_to_face_and_on_again_still_takes_its_first_holders_own_sync() {
    let field = Field::new();
    let (mut cap, mut ben) = (field.phone(CAP), field.phone(BEN));
    field.sync(&mut cap).unwrap();
    field.sync(&mut ben).unwrap();
    let spare = TurfId::from("t01-003");
    hand_over(&field, &mut cap, &mut ben, &spare);
    // Ben knocks; the captain, never collecting it, hands the turf on and syncs first.
    let id = ben.knock("t01-003", 40);
    cap.store
        .reassign_turf(&spare, &[CanvasserId::from(ANA)], 50)
        .unwrap();
    field.sync(&mut cap).unwrap();
    // Ben's own sync: the server never sent him the turf, yet his knock arrives.
    field.sync(&mut ben).unwrap();
    assert!(
        field.rows().iter().any(|r| r.attempt == id),
        "Ben's knock arrived"
    );
    assert_eq!(ben.store.outbox_count().unwrap(), 0);
}

#[test]
fn an_organizers_unrelated_command_leaves_a_captains_handover_as_it_is() {
    let field = Field::new();
    let mut cap = field.phone(CAP);
    field.sync(&mut cap).unwrap();
    cap.store
        .reassign_turf(&TurfId::from("t01-001"), &[CanvasserId::from(BEN)], 10)
        .unwrap();
    field.sync(&mut cap).unwrap();
    people::add_canvasser(
        &field.organizer(),
        "Cleo",
        "team-1",
        false,
        Some("cleo"),
        60,
    )
    .unwrap();
    field.sync(&mut cap).unwrap();
    let team = cap.team();
    let handed = team.assignment("t01-001").unwrap();
    assert_eq!(
        (handed.users.as_slice(), handed.by.as_str()),
        ([BEN.to_owned()].as_slice(), CAP)
    );
    assert_eq!(handed.past, [ANA], "the same past holders on both sides");
    assert!(team.member("cleo").is_some());
}

#[test]
fn a_canvasser_revoked_mid_shift_still_gets_their_last_results_in_through_the_captain() {
    let field = Field::new();
    let (mut cap, mut ana) = (field.phone(CAP), field.phone(ANA));
    field.sync(&mut cap).unwrap();
    field.sync(&mut ana).unwrap();
    let ids = [ana.knock("t01-001", 30), ana.knock("t01-001", 31)];
    // Ana quits mid-shift; the organizer revokes her and the captain's phone hears of it.
    people::revoke(&field.organizer(), ANA, 40).unwrap();
    field.sync(&mut cap).unwrap();
    assert!(cap.team().member(ANA).is_none());
    // At the end of the day she hands her phone's results to the captain as a bundle.
    let bundle = ana.store.export_bundle(50).unwrap();
    let report = cap.store.import_bundle(&bundle, 50).unwrap();
    assert!(report.refused.is_empty(), "{report:?}");
    assert_eq!(report.records_added, 2);
    field.sync(&mut cap).unwrap();
    let rows = field.rows();
    for id in &ids {
        let row = rows
            .iter()
            .find(|r| &r.attempt == id)
            .expect("on the server");
        assert_eq!(row.canvasser, ANA);
    }
}

#[test]
fn a_handover_the_organizer_overtook_is_undone_and_later_handovers_still_go_through() {
    let field = Field::new();
    let mut cap = field.phone(CAP);
    field.sync(&mut cap).unwrap();
    // Offline, the captain hands the spare turf to Ana; meanwhile the organizer revokes her.
    let spare = TurfId::from("t01-003");
    cap.store
        .reassign_turf(&spare, &[CanvasserId::from(ANA)], 10)
        .unwrap();
    people::revoke(&field.organizer(), ANA, 20).unwrap();
    // The captain's sync goes through; the handover is undone, on the server and the phone.
    field.sync(&mut cap).unwrap();
    assert!(field.assigned("t01-003").is_empty());
    field.sync(&mut cap).unwrap();
    assert!(cap.team().assignment("t01-003").unwrap().users.is_empty());
    // The team document is not held back: the captain's next handover reaches the server.
    cap.store
        .reassign_turf(&spare, &[CanvasserId::from(BEN)], 30)
        .unwrap();
    field.sync(&mut cap).unwrap();
    assert_eq!(field.assigned("t01-003"), [BEN]);
    assert!(cap.store.held_back().unwrap().is_empty());
}

#[test]
fn an_attempt_in_a_name_that_may_not_write_in_the_turf_is_refused() {
    let field = Field::new();
    let mut cap = field.phone(CAP);
    field.sync(&mut cap).unwrap();
    let synced = field.fingerprint();

    // Ben never held t01-003.
    cap.forge_attempt("t01-003", BEN, 1);
    let (doc, reason) = field.refused(&mut cap);
    assert_eq!(doc, "turf:t01-003");
    assert!(
        reason.contains("in the name of 'canvasser-1-2'"),
        "{reason}"
    );
    assert_eq!(field.fingerprint(), synced);

    // A member of another team, in a turf of this one.
    let mut cap = field.phone(CAP);
    field.sync(&mut cap).unwrap();
    cap.forge_attempt("t01-001", OTHER, 2);
    let (doc, _) = field.refused(&mut cap);
    assert_eq!(doc, "turf:t01-001");
    assert_eq!(field.fingerprint(), synced);

    // Ana's, in the turf she holds, passes.
    let mut cap = field.phone(CAP);
    field.sync(&mut cap).unwrap();
    cap.forge_attempt("t01-001", ANA, 3);
    field.sync(&mut cap).unwrap();
    let rows = field.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].canvasser, ANA);
}

#[test]
fn a_turf_handed_away_still_takes_what_its_old_holder_recorded_before_knowing() {
    let field = Field::new();
    let (mut cap, mut ana) = (field.phone(CAP), field.phone(ANA));
    field.sync(&mut cap).unwrap();
    field.sync(&mut ana).unwrap();
    cap.store
        .reassign_turf(&TurfId::from("t01-001"), &[CanvasserId::from(BEN)], 10)
        .unwrap();
    field.sync(&mut cap).unwrap();
    // Ana, not knowing, knocks on in the turf, and then syncs.
    let id = ana.knock("t01-001", 50);
    let report = field.sync(&mut ana).unwrap();
    assert!(report.revoked.contains(&"turf:t01-001".to_owned()));
    let rows = field.rows();
    assert_eq!(
        rows.iter().map(|r| r.attempt.as_str()).collect::<Vec<_>>(),
        [id.as_str()]
    );
    assert_eq!(ana.store.outbox_count().unwrap(), 0, "acknowledged");
    // From then on the turf is held back and the syncs are quiet.
    field.sync(&mut ana).unwrap();
    let report = field.sync(&mut ana).unwrap();
    assert!(!report.again);
    assert_eq!(report.docs_changed, 0);

    // Told it is gone, her app still shows the list and she knocks once more: that knock goes
    // up at her next sync too, and nothing else of the turf comes back to her.
    let later = ana.knock("t01-001", 70);
    field.sync(&mut ana).unwrap();
    assert!(
        field.rows().iter().any(|r| r.attempt == later),
        "the late knock arrived"
    );
    assert_eq!(ana.store.outbox_count().unwrap(), 0);
    let report = field.sync(&mut ana).unwrap();
    assert_eq!(report.docs_changed, 0);
}

#[test]
fn organizers_commands_reach_phones_through_a_running_server() {
    let field = Field::new();
    let (mut cap, mut ana) = (field.phone(CAP), field.phone(ANA));
    field.sync(&mut cap).unwrap();
    field.sync(&mut ana).unwrap();
    let organizer = field.organizer();

    people::assign(&organizer, "t01-003", ANA, false).unwrap();
    field.sync(&mut ana).unwrap();
    assert_eq!(ana.turfs(), ["t01-001", "t01-003"]);
    assert_eq!(ana.team().assignment("t01-003").unwrap().users, [ANA]);

    let added =
        people::add_canvasser(&organizer, "Cleo", "team-1", false, Some("cleo"), 60).unwrap();
    assert_eq!(added.id, "cleo");
    field.sync(&mut cap).unwrap();
    let member = cap.team().member("cleo").cloned().unwrap();
    assert_eq!(
        (member.name.as_str(), member.role),
        ("Cleo", Role::Canvasser)
    );

    people::revoke(&organizer, BEN, 70).unwrap();
    field.sync(&mut cap).unwrap();
    let team = cap.team();
    assert!(team.member(BEN).is_none());
    assert!(team.assignment("t01-002").unwrap().users.is_empty());
    let err = people::assign(&organizer, "t01-002", BEN, false).unwrap_err();
    assert!(err.to_string().contains("was revoked"), "{err}");
    // A new token brings him back, with no turfs.
    doorstep_server::auth::issue_token(&organizer, BEN, 75).unwrap();
    field.sync(&mut cap).unwrap();
    assert!(cap.team().member(BEN).is_some());
    assert!(cap.team().turfs_of(BEN).is_empty());

    // A turf moved from the other team.
    people::assign(&organizer, "t02-003", ANA, true).unwrap();
    field.sync(&mut ana).unwrap();
    assert!(ana.turfs().contains(&"t02-003".to_owned()));
    assert_eq!(ana.team().assignment("t02-003").unwrap().users, [ANA]);
    let mut cap2 = field.phone("captain-2");
    field.sync(&mut cap2).unwrap();
    assert!(cap2.team().assignment("t02-003").is_none());
    assert!(!cap2.turfs().contains(&"t02-003".to_owned()));

    // The captain's own view agrees with the database, turf by turf.
    field.sync(&mut cap).unwrap();
    let team = cap.team();
    let turfs: HashSet<&str> = team.assignments.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        turfs,
        HashSet::from(["t01-001", "t01-002", "t01-003", "t02-003"])
    );
    for (turf, a) in &team.assignments {
        assert_eq!(field.assigned(turf), a.users, "turf {turf}");
    }
}
