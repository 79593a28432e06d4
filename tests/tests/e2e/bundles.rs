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
    let report = canvasser.store.import_bundle(&bundle).unwrap();
    let refused: Vec<&str> = report.refused.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        refused.len(),
        4,
        "two other turfs' documents and rosters: {refused:?}"
    );
    assert!(
        refused
            .iter()
            .all(|id| !mine.iter().any(|t| id.ends_with(t.as_str()))),
        "{refused:?}"
    );
    assert_eq!(canvasser.turfs(), mine, "no other turf arrived");
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
}
