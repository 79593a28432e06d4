//! Who may do what: grants, write rules, revocation, bad bodies.

use doorstep_core::SyncError;
use doorstep_core::domain::{AttemptId, Roster};
use doorstep_core::sync::wire::{self, DocUp, Request, UpBody};
use doorstep_server::demo::{DemoUser, Plan};
use doorstep_server::storage::Storage;
use doorstep_tests::*;

/// Two teams of two canvassers; each team's canvassers share its one turf.
fn setup() -> (tempfile::TempDir, Vec<DemoUser>, ServerProcess) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let users = seed(
        &db,
        &Plan {
            teams: 2,
            canvassers_per_team: 2,
            turfs_per_team: 1,
            doors: 12,
            turfs_per_canvasser: 1,
            seed: 3,
        },
    );
    let server = ServerProcess::start(&db);
    (dir, users, server)
}

fn user<'a>(users: &'a [DemoUser], id: &str) -> &'a DemoUser {
    users.iter().find(|u| u.id == id).unwrap()
}

/// What the server holds: results and every document's heads. Equal means nothing changed.
fn fingerprint(server: &ServerProcess) -> String {
    let storage = server.storage();
    let mut out = format!("{:?}", storage.results(None).unwrap());
    for turf in server_turfs(&storage) {
        out += &format!(
            "{:?}",
            server_doc(&storage, &format!("turf:{turf}")).get_heads()
        );
    }
    out
}

fn status(err: SyncError<TransportError>) -> (u16, String, Option<String>) {
    match err {
        SyncError::Transport(TransportError::Status { status, code, doc }) => (status, code, doc),
        other => panic!("expected an error status, got {other:?}"),
    }
}

#[test]
fn a_canvasser_gets_only_their_turfs_and_cannot_ask_for_another() {
    let (_dir, users, server) = setup();
    let me = user(&users, "canvasser-1-1");
    let mut phone = Phone::new(me);
    phone.sync(&server.url).unwrap();
    let held: Vec<String> = phone.turfs().iter().map(|t| t.to_string()).collect();
    assert_eq!(held, me.turfs);
    assert_eq!(held, ["t01-001"]);

    // Asking for the other turf's document by name is refused, naming it.
    let request = wire::encode_request(&Request {
        device: vec![9; 16],
        quiet: [0; 8],
        manifest: true,
        docs: vec![DocUp {
            id: "turf:t02-001".into(),
            heads: vec![],
            body: UpBody::Have,
        }],
        rosters: vec![],
    });
    let err = Http::default()
        .send(&server.url, &me.token.secret, &request)
        .unwrap_err();
    assert_eq!(
        err,
        TransportError::Status {
            status: 403,
            code: "not_granted".into(),
            doc: Some("turf:t02-001".into())
        }
    );
}

#[test]
fn a_canvasser_cannot_void_someone_elses_attempt_and_nothing_of_it_is_stored() {
    let (_dir, users, server) = setup();
    let mut a = Phone::new(user(&users, "canvasser-1-1"));
    let mut b = Phone::new(user(&users, "canvasser-1-2"));
    a.sync(&server.url).unwrap();
    b.sync(&server.url).unwrap();
    let mut rng = fastrand::Rng::with_seed(4);
    let theirs = a.knock(&mut rng, 10).unwrap();
    a.sync(&server.url).unwrap();
    b.sync(&server.url).unwrap();
    let before = fingerprint(&server);

    let turf = "t01-001".into();
    b.store
        .void_attempt(&turf, &AttemptId::parse(&theirs).unwrap(), 20)
        .unwrap();
    let (code, name, doc) = status(b.sync(&server.url).unwrap_err());
    assert_eq!((code, name.as_str()), (422, "refused_change"));
    assert_eq!(doc.as_deref(), Some("turf:t01-001"));
    assert_eq!(
        fingerprint(&server),
        before,
        "nothing of a refused change is stored"
    );
    let results = server.storage().results(None).unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].voided_by, None);

    // The phone holds that turf back and keeps syncing: news still reaches it, and its
    // refused void stays in its outbox rather than vanishing.
    let refused = b.sync_holding_back(&server.url).unwrap();
    assert_eq!(
        refused,
        [("turf:t01-001".to_string(), "refused_change".to_string())]
    );
    a.knock(&mut rng, 30).unwrap();
    a.sync(&server.url).unwrap();
    b.sync_holding_back(&server.url).unwrap();
    assert_eq!(
        b.store.history(&turf).unwrap().len(),
        2,
        "the new attempt arrived"
    );
    assert_eq!(
        b.store.outbox_count().unwrap(),
        1,
        "the refused void is kept"
    );
    assert_eq!(b.store.held_back().unwrap().len(), 1);
}

#[test]
fn only_a_captain_may_reorder_a_walk_list() {
    let (_dir, users, server) = setup();
    let me = user(&users, "canvasser-1-1");
    let mut canvasser = Phone::new(me);
    canvasser.sync(&server.url).unwrap();
    let turf = "t01-001".into();
    let walk = canvasser.store.walk_list(&turf).unwrap();
    let last = walk.households.last().unwrap().id.clone();
    let first = walk.households[0].id.clone();
    // The phone knows its role from the server and does not make a change it would refuse.
    let err = canvasser
        .store
        .move_household(&turf, &last, Some(&first), 30)
        .unwrap_err();
    assert!(
        matches!(err, doorstep_core::Error::NotPermitted { .. }),
        "{err}"
    );

    // A phone that does not know (it never synced: provisioned by another phone) makes it, and
    // the server refuses it whole.
    let mut unaware = Phone::new(me);
    for id in canvasser.store.documents().unwrap() {
        let bytes = canvasser.store.export_changes(&id, &[]).unwrap();
        unaware.store.merge_changes(&id, &bytes).unwrap();
    }
    let roster = server.storage().roster("t01-001").unwrap().unwrap();
    unaware.store.apply_roster(&roster).unwrap();
    unaware.store.sign_in(&me.id.as_str().into()).unwrap();
    let before = fingerprint(&server);
    unaware
        .store
        .move_household(&turf, &last, Some(&first), 30)
        .unwrap();
    let (code, name, _) = status(unaware.sync(&server.url).unwrap_err());
    assert_eq!((code, name.as_str()), (422, "refused_change"));
    assert_eq!(fingerprint(&server), before);

    let mut captain = Phone::new(user(&users, "captain-1"));
    captain.sync(&server.url).unwrap();
    captain
        .store
        .move_household(&turf, &last, Some(&first), 40)
        .unwrap();
    captain.sync(&server.url).unwrap();
    let mut fresh = Phone::new(user(&users, "canvasser-1-2"));
    fresh.sync(&server.url).unwrap();
    assert_eq!(
        fresh.store.walk_list(&turf).unwrap().households[0].id,
        last,
        "the captain's new order reached the other canvasser"
    );
}

#[test]
fn a_roster_changed_on_a_phone_never_reaches_the_server() {
    let (_dir, users, server) = setup();
    let mut phone = Phone::new(user(&users, "canvasser-1-1"));
    phone.sync(&server.url).unwrap();
    let original: Roster = server.storage().roster("t01-001").unwrap().unwrap();
    let mut forged = original.clone();
    forged.version = 99;
    forged.voters.truncate(1);
    phone.store.apply_roster(&forged).unwrap();
    phone.sync(&server.url).unwrap();
    assert_eq!(
        server.storage().roster("t01-001").unwrap().unwrap(),
        original
    );
    let mut other = Phone::new(user(&users, "canvasser-1-2"));
    other.sync(&server.url).unwrap();
    let voters: usize = other
        .store
        .walk_list(&"t01-001".into())
        .unwrap()
        .households
        .iter()
        .map(|h| h.voters.len())
        .sum();
    assert_eq!(voters, original.voters.len());
}

#[test]
fn a_revoked_token_is_refused_at_once() {
    let (_dir, users, server) = setup();
    let me = user(&users, "canvasser-1-1");
    let mut phone = Phone::new(me);
    phone.sync(&server.url).unwrap();
    // Quiet heartbeats, which the server answers from memory while nothing changes.
    phone.sync(&server.url).unwrap();
    phone.sync(&server.url).unwrap();
    assert!(server.storage().revoke_token(&me.token.id, 1).unwrap());
    let (code, name, _) = status(phone.sync(&server.url).unwrap_err());
    assert_eq!((code, name.as_str()), (401, "unauthorized"));
    let err = Http::default().send(&server.url, "", b"").unwrap_err();
    assert!(matches!(err, TransportError::Status { status: 401, .. }));
}

#[test]
fn oversized_and_malformed_bodies_get_their_errors_and_change_nothing() {
    let (_dir, users, server) = setup();
    let me = user(&users, "canvasser-1-1");
    let mut phone = Phone::new(me);
    phone.sync(&server.url).unwrap();
    let mut rng = fastrand::Rng::with_seed(5);
    phone.knock(&mut rng, 1).unwrap();
    phone.sync(&server.url).unwrap();
    let before = fingerprint(&server);
    let http = Http::default();

    let huge = vec![0u8; wire::MAX_MESSAGE_BYTES + 1];
    let err = http.send(&server.url, &me.token.secret, &huge).unwrap_err();
    assert!(
        matches!(&err, TransportError::Status { status: 413, code, .. } if code == "too_large"),
        "{err:?}"
    );

    phone.knock(&mut rng, 2).unwrap();
    let good = phone.store.sync_request().unwrap();
    let mut other_version = good.clone();
    other_version[4] = 2;
    for (bad, expected) in [
        (b"hello".to_vec(), "malformed"),
        (good[..good.len() / 2].to_vec(), "malformed"),
        (other_version, "unsupported_version"),
    ] {
        let err = http.send(&server.url, &me.token.secret, &bad).unwrap_err();
        assert!(
            matches!(&err, TransportError::Status { status: 400, code, .. } if code == expected),
            "{err:?}"
        );
    }
    assert_eq!(fingerprint(&server), before);
    // The good request still goes through afterwards.
    phone.sync(&server.url).unwrap();
    assert_eq!(server.storage().results(None).unwrap().len(), 2);
}

#[test]
fn hostile_automerge_bytes_are_refused_before_automerge_reads_them() {
    let (_dir, users, server) = setup();
    let me = user(&users, "canvasser-1-1");
    let mut phone = Phone::new(me);
    phone.sync(&server.url).unwrap();
    let before = fingerprint(&server);
    let http = Http::default();
    // A sync message whose Bloom filter asks for 2^32 - 1 probes (Automerge would allocate
    // for each), and a whole saved document (whose columns Automerge inflates unbounded).
    let mut bloom_bomb = vec![0x42, 0, 0, 1, 0];
    let bloom = [1u8, 8, 0xff, 0xff, 0xff, 0xff, 0x0f, 0];
    bloom_bomb.push(bloom.len() as u8);
    bloom_bomb.extend(bloom);
    bloom_bomb.push(0);
    let whole_document = {
        let mut doc = automerge::AutoCommit::new();
        doc.save()
    };
    for body in [UpBody::Sync(bloom_bomb), UpBody::Changes(whole_document)] {
        let request = wire::encode_request(&Request {
            device: vec![5; 16],
            quiet: [0; 8],
            manifest: false,
            docs: vec![DocUp {
                id: "turf:t01-001".into(),
                heads: vec![[7; 32]],
                body,
            }],
            rosters: vec![],
        });
        let err = http
            .send(&server.url, &me.token.secret, &request)
            .unwrap_err();
        assert!(
            matches!(&err, TransportError::Status { status: 400, code, .. } if code == "malformed"),
            "{err:?}"
        );
    }
    assert_eq!(fingerprint(&server), before);
    phone.sync(&server.url).unwrap();
}
