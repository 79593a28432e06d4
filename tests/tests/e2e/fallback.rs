//! Peers with no acknowledged state in common fall back to Automerge's sync protocol.

use doorstep_core::Store;
use doorstep_server::demo::Plan;
use doorstep_server::storage::Storage;
use doorstep_tests::*;

#[test]
fn a_phone_that_never_synced_with_the_server_catches_up_by_automerge_sync() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let users = seed(
        &db,
        &Plan {
            teams: 1,
            canvassers_per_team: 1,
            turfs_per_team: 1,
            doors: 20,
            turfs_per_canvasser: 1,
            seed: 11,
        },
    );
    let me = users.iter().find(|u| u.id == "canvasser-1-1").unwrap();
    let server = ServerProcess::start(&db);
    let mut rng = fastrand::Rng::with_seed(12);

    let mut first = Phone::new(me);
    first.sync(&server.url).unwrap();
    for i in 0..5 {
        first.knock(&mut rng, i).unwrap();
    }
    first.sync(&server.url).unwrap();

    // A second install gets the turf from the first phone directly (no server), works offline,
    // and meanwhile the first phone keeps syncing.
    let mut second = Phone::new(me);
    for id in first.store.documents().unwrap() {
        let bytes = first.store.export_changes(&id, &[]).unwrap();
        second.store.merge_changes(&id, &bytes).unwrap();
    }
    let roster = server.storage().roster("t01-001").unwrap().unwrap();
    second.store.apply_roster(&roster).unwrap();
    second.store.sign_in(&me.id.as_str().into()).unwrap();
    for i in 0..4 {
        second.knock(&mut rng, 100 + i).unwrap();
    }
    for i in 0..3 {
        first.knock(&mut rng, 200 + i).unwrap();
    }
    first.sync(&server.url).unwrap();

    let http = Http::default();
    let mut bodies = Vec::new();
    second
        .store
        .sync_with(|body| {
            bodies.push(body.clone());
            http.send(&server.url, &me.token.secret, &body)
        })
        .unwrap();
    let requests: Vec<_> = bodies
        .iter()
        .map(|b| doorstep_core::sync::wire::decode_request(b).unwrap())
        .collect();
    assert!(
        requests[0]
            .docs
            .iter()
            .any(|d| matches!(d.body, doorstep_core::sync::UpBody::Sync(_))),
        "with no state in common the phone opens with an Automerge sync message"
    );
    assert_eq!(second.store.outbox_count().unwrap(), 0);
    first.sync(&server.url).unwrap();

    let storage = server.storage();
    assert_eq!(storage.results(None).unwrap().len(), 12);
    assert_results_match_documents(&storage);
    let id = doorstep_core::DocId::turf(&"t01-001".into());
    let server_heads = server_doc(&storage, &id.to_string()).get_heads();
    assert_eq!(first.store.heads(&id).unwrap(), server_heads);
    assert_eq!(second.store.heads(&id).unwrap(), server_heads);

    // The sync state is kept: the next sync of the second phone is a quiet one-round trip.
    drop(second.store);
    second.store = Store::open(&second.path).unwrap();
    let mut rounds = 0;
    second
        .store
        .sync_with(|body| {
            rounds += 1;
            http.send(&server.url, &me.token.secret, &body)
        })
        .unwrap();
    assert_eq!(rounds, 1);
}
