//! Bundles between phones that synced with a real server: what a canvasser's phone may take.

use doorstep_server::demo::Plan;
use doorstep_tests::*;

#[test]
fn a_canvasser_phone_takes_only_its_own_turfs_from_a_captains_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let users = seed(
        &db,
        &Plan {
            teams: 1,
            canvassers_per_team: 2,
            turfs_per_team: 4,
            doors: 8,
            turfs_per_canvasser: 2,
            seed: 5,
        },
    );
    let server = ServerProcess::start(&db);
    let captain_user = users.iter().find(|u| u.role.as_str() == "captain").unwrap();
    let canvasser_user = users
        .iter()
        .find(|u| u.role.as_str() == "canvasser")
        .unwrap();

    let mut captain = Phone::new(captain_user);
    captain.sync(&server.url).unwrap();
    assert_eq!(captain.turfs().len(), 4, "a captain holds the team's turfs");
    let mut rng = fastrand::Rng::with_seed(1);
    for at in 0..12 {
        captain.knock(&mut rng, at);
    }
    let bundle = captain.store.export_bundle(100).unwrap();

    let mut canvasser = Phone::new(canvasser_user);
    canvasser.sync(&server.url).unwrap();
    let mine = canvasser.turfs();
    assert_eq!(mine.len(), 2);
    let report = canvasser.store.import_bundle(&bundle, 1).unwrap();
    let is_mine = |id: &str| mine.iter().any(|t| id.ends_with(&format!(":{t}")));
    let others: Vec<&str> = report
        .refused
        .iter()
        .map(|(id, _)| id.as_str())
        .filter(|id| !is_mine(id))
        .collect();
    assert_eq!(
        others.len(),
        4,
        "two other turfs' documents and rosters: {others:?}"
    );
    assert_eq!(canvasser.turfs(), mine, "no other turf arrived");
    // The captain's results in the canvasser's own turfs arrive: a teammate's records, which the
    // server judges by the captain's rights whoever carries them.
    assert!(
        report.refused.iter().all(|(id, _)| !is_mine(id)),
        "{:?}",
        report.refused
    );
    let captains_in_mine: Vec<String> = mine
        .iter()
        .flat_map(|t| captain.store.history(t).unwrap())
        .map(|h| h.id.to_string())
        .collect();
    assert!(
        !captains_in_mine.is_empty(),
        "the captain knocked in the canvasser's turfs (seeded)"
    );
    canvasser.knock(&mut rng, 50).unwrap();
    let synced = canvasser.sync(&server.url).unwrap();
    assert!(synced.held_back.is_empty());
    assert_eq!(canvasser.store.outbox_count().unwrap(), 0);
    // They reached the server through the canvasser's phone, still in the captain's name.
    let storage = server.storage();
    let results = doorstep_server::storage::Storage::results(&storage, None).unwrap();
    for id in &captains_in_mine {
        let row = results
            .iter()
            .find(|r| &r.attempt == id)
            .expect("on the server");
        assert_eq!(row.canvasser, captain_user.id);
    }

    // Once the captain has synced, the server holds the captain's results; a new bundle from
    // the captain then carries nothing the canvasser could not send, and it arrives.
    captain.sync(&server.url).unwrap();
    let later = captain.store.export_bundle(200).unwrap();
    canvasser.sync(&server.url).unwrap();
    let report = canvasser.store.import_bundle(&later, 1).unwrap();
    assert!(
        report.refused.iter().all(|(id, _)| !is_mine(id)),
        "{:?}",
        report.refused
    );
    // What the captain recorded in the canvasser's own turfs did arrive.
    assert!(
        mine.iter()
            .any(|t| !captain.store.history(t).unwrap().is_empty()),
        "the captain knocked in the canvasser's turfs"
    );
    for turf in &mine {
        assert_eq!(
            canvasser.store.history(turf).unwrap(),
            captain.store.history(turf).unwrap(),
            "turf {turf}"
        );
    }

    // Signed out, a canvasser's phone takes no bundle until someone signs in again.
    canvasser.store.sign_out().unwrap();
    assert!(matches!(
        canvasser.store.import_bundle(&later, 1),
        Err(doorstep_core::Error::NotSignedIn)
    ));
}
