//! A field captain's day: eight canvassers offline, results collected phone to phone (bundle
//! files and local sync over TCP), two turfs handed over offline, everything forwarded to a real
//! server, canvassers syncing directly too, some before the captain. At the end the server and
//! every phone agree and every attempt exists exactly once, in its author's name.

use doorstep_core::domain::{CanvasserId, TurfId};
use doorstep_server::demo::Plan;
use doorstep_tests::*;
use std::collections::{BTreeMap, HashMap};

/// Every attempt id in a phone's copy of a turf.
fn phone_attempts(phone: &Phone, turf: &str) -> Vec<String> {
    let mut ids: Vec<String> = phone
        .store
        .history(&TurfId::from(turf))
        .unwrap()
        .iter()
        .map(|h| h.id.to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn eight_canvassers_a_captain_and_a_day_offline_end_with_every_attempt_once() {
    let dir = tempfile::tempdir().unwrap();
    captains_day(&Backend::Sqlite(dir.path().join("server.db")), 1);
}

#[test]
fn on_two_postgresql_servers_a_captains_day_ends_with_every_attempt_once() {
    let cluster = doorstep_tests::postgres::Cluster::start();
    captains_day(&Backend::Postgres(cluster.database("doorstep")), 2);
}

/// The day, with every sync through the next of `servers` servers on one database.
fn captains_day(backend: &Backend, servers: usize) {
    let run = seed_from_env();
    let mut rng = fastrand::Rng::with_seed(run);
    let users = backend.seed(&Plan {
        teams: 2,
        canvassers_per_team: 8,
        turfs_per_team: 10,
        doors: 12,
        turfs_per_canvasser: 1,
        seed: run,
    });
    let fleet: Vec<ServerProcess> = (0..servers)
        .map(|_| ServerProcess::on(backend, &[]))
        .collect();
    let turn = std::cell::Cell::new(0usize);
    let url = || {
        turn.set(turn.get() + 1);
        fleet[turn.get() % fleet.len()].url.clone()
    };
    let team: Vec<_> = users
        .iter()
        .filter(|u| u.team.as_deref() == Some("team-1"))
        .collect();
    let captain_user = team.iter().find(|u| u.role.as_str() == "captain").unwrap();
    let mut canvasser_users: Vec<_> = team
        .iter()
        .filter(|u| u.role.as_str() == "canvasser")
        .collect();
    canvasser_users.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(canvasser_users.len(), 8);

    // The morning briefing: every phone signs in and downloads its lists.
    let mut cap = Phone::new(captain_user);
    cap.sync(&url()).unwrap();
    let mut cs: Vec<Phone> = canvasser_users.iter().map(|u| Phone::new(u)).collect();
    for c in &mut cs {
        c.sync(&url()).unwrap();
        assert_eq!(c.turfs().len(), 1);
    }
    let team_turfs = cap.turfs();
    assert_eq!(team_turfs.len(), 10, "the captain holds the team's turfs");
    let team_doc = cap
        .store
        .team()
        .unwrap()
        .expect("the captain's phone holds the team");
    assert_eq!(team_doc.id, "team-1");
    assert_eq!(team_doc.members.len(), 9);
    let t0 = cs[0].turfs()[0].clone();
    let spare = team_turfs
        .iter()
        .find(|t| {
            team_doc
                .assignment(t.as_str())
                .is_some_and(|a| a.users.is_empty())
        })
        .expect("a turf nobody holds")
        .clone();

    // Who recorded what, on which device.
    let mut recorded: HashMap<String, (String, String)> = HashMap::new();
    let mut clock = 1_000;
    let mut knock = |phone: &mut Phone, n: usize, recorded: &mut HashMap<_, _>| {
        for _ in 0..n {
            clock += 1;
            let id = phone.knock(&mut rng, clock).unwrap();
            recorded.insert(id, (phone.user.clone(), phone.store.device().to_string()));
        }
    };

    // Morning shift, no signal.
    for c in &mut cs {
        knock(c, 5, &mut recorded);
    }

    // First collection: four hand over bundle files (and take one back), four sync directly.
    for c in &mut cs[..4] {
        let bundle = c.store.export_bundle(2_000).unwrap();
        let report = cap.store.import_bundle(&bundle, 2_000).unwrap();
        assert_eq!(report.records_added, 5, "{report:?}");
        assert!(report.refused.is_empty(), "{report:?}");
        let back = cap
            .store
            .export_bundle_for(c.store.device().as_str(), 2_001)
            .unwrap();
        c.store.import_bundle(&back, 2_001).unwrap();
    }
    for c in &mut cs[4..] {
        let (_, took) = sync_phones(c, &mut cap, 2_002);
        assert_eq!(took.records_added, 5, "{took:?}");
        assert!(took.refused.is_empty(), "{took:?}");
    }

    // The captain hands canvasser 0's turf to canvasser 4, and the spare turf to canvasser 5,
    // offline; both learn it face to face.
    let to = |c: &Phone| vec![CanvasserId::from(c.user.as_str())];
    cap.store.reassign_turf(&t0, &to(&cs[4]), 2_100).unwrap();
    cap.store.reassign_turf(&spare, &to(&cs[5]), 2_101).unwrap();
    let (took4, _) = sync_phones(&mut cs[4], &mut cap, 2_102);
    assert_eq!(
        took4.rosters_applied, 1,
        "canvasser 4 got the list: {took4:?}"
    );
    assert_eq!(
        took4.records_added, 5,
        "with canvasser 0's morning: {took4:?}"
    );
    let (took5, _) = sync_phones(&mut cs[5], &mut cap, 2_103);
    assert_eq!(took5.rosters_applied, 1, "{took5:?}");
    assert!(cs[4].turfs().contains(&t0));
    assert!(cs[5].turfs().contains(&spare));

    // Afternoon: canvasser 0 knocks a few more doors in the turf it no longer holds (it does
    // not know yet); everyone else works on, 4 and 5 in their new turfs too.
    knock(&mut cs[0], 3, &mut recorded);
    for c in &mut cs[1..] {
        knock(c, 6, &mut recorded);
    }

    // Three canvassers find signal before the captain does. Canvassers 4 and 5 carry the
    // captain's reassignment to the server themselves.
    for k in [1, 4, 5] {
        let held = cs[k].sync_holding_back(&url()).unwrap();
        eprintln!("canvasser {k} synced directly; held back on the way: {held:?}");
        assert_eq!(
            cs[k].store.outbox_count().unwrap(),
            0,
            "canvasser {k}'s knocks all reached the server, in the turfs handed over too"
        );
    }
    let early: Vec<String> = recorded
        .iter()
        .filter(|(_, (who, _))| [1, 4, 5].iter().any(|k| &cs[*k].user == who))
        .map(|(id, _)| id.clone())
        .collect();
    let stored = backend.open();
    let on_server = stored_attempt_ids(&*stored);
    assert!(
        early.iter().all(|id| on_server.contains(id)),
        "before the captain synced, the server holds every knock of canvassers 1, 4 and 5"
    );
    // And nothing else yet, but canvasser 0's morning in the turf canvasser 4 took over, which
    // canvasser 4's phone carried up in canvasser 0's name.
    let carried = |id: &String| recorded[id].0 == cs[0].user;
    assert!(on_server.iter().all(|id| early.contains(id) || carried(id)));
    assert_eq!(on_server.iter().filter(|id| carried(id)).count(), 5);

    // Second collection at the end of the day.
    for (k, c) in cs[..4].iter_mut().enumerate() {
        let cap_device = cap.store.device().to_string();
        let news = c.store.export_bundle_for(&cap_device, 3_000).unwrap();
        let everything = c.store.export_bundle(3_000).unwrap();
        assert!(
            news.len() < everything.len(),
            "canvasser {k}: a bundle of news ({} bytes) against everything ({})",
            news.len(),
            everything.len()
        );
        let report = cap.store.import_bundle(&news, 3_000).unwrap();
        assert!(report.refused.is_empty(), "canvasser {k}: {report:?}");
    }
    for c in &mut cs[4..] {
        sync_phones(c, &mut cap, 3_001);
    }

    // The captain's phone counts the team's day with no server.
    let progress = cap.store.team_progress().unwrap();
    let offline: BTreeMap<String, u32> = progress
        .members
        .iter()
        .map(|m| (m.user.0.clone(), m.attempts))
        .collect();

    // Back in signal: the captain forwards everything, then every canvasser syncs.
    let held = cap.sync_holding_back(&url()).unwrap();
    assert!(
        held.is_empty(),
        "the server took all the captain carried: {held:?}"
    );
    for c in cs.iter_mut() {
        c.sync_holding_back(&url()).unwrap();
    }
    // Once more all round, so that everyone has everyone's news.
    cap.sync_holding_back(&url()).unwrap();
    for c in cs.iter_mut() {
        let held = c.sync_holding_back(&url()).unwrap();
        assert!(held.is_empty(), "{}: {held:?}", c.user);
    }

    // Every attempt exactly once on the server, in its author's name, with its device.
    let storage = backend.open();
    assert_results_match_documents(&*storage);
    let rows: Vec<(String, String, String)> = storage
        .attempt_rows()
        .unwrap()
        .into_iter()
        .map(|r| (r.attempt, r.canvasser, r.device))
        .collect();
    assert_eq!(
        rows.len(),
        recorded.len(),
        "every attempt once, nothing else"
    );
    for (attempt, canvasser, device) in &rows {
        let (who, on) = recorded.get(attempt).expect("an attempt somebody recorded");
        assert_eq!((canvasser, device), (who, on), "attempt {attempt}");
    }

    // The new assignments hold on the server.
    let figures = storage.turf_figures().unwrap();
    let assignees = |turf: &TurfId| -> Vec<String> {
        let mut users = figures
            .iter()
            .find(|t| t.turf == turf.as_str())
            .map(|t| t.assigned.clone())
            .unwrap_or_default();
        users.sort();
        users
    };
    assert_eq!(assignees(&t0), vec![cs[4].user.clone()]);
    assert_eq!(assignees(&spare), vec![cs[5].user.clone()]);

    // Every phone agrees with the server on every turf it holds, and has nothing unsent.
    let log = server_log(&*storage);
    let on_server = |turf: &str| -> Vec<String> {
        let mut ids: Vec<String> = log
            .iter()
            .filter(|(t, _, _)| t == turf)
            .map(|(_, id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    };
    for phone in std::iter::once(&cap).chain(cs.iter()) {
        assert_eq!(phone.store.outbox_count().unwrap(), 0, "{}", phone.user);
        let team = phone.store.team().unwrap().expect("team");
        assert_eq!(
            team.assignment(t0.as_str()).unwrap().users,
            vec![cs[4].user.clone()]
        );
        for turf in phone.turfs() {
            let holds = phone.user == cap.user
                || team
                    .assignment(turf.as_str())
                    .is_some_and(|a| a.users.contains(&phone.user));
            if holds {
                assert_eq!(
                    phone_attempts(phone, turf.as_str()),
                    on_server(turf.as_str()),
                    "{} on turf {turf}",
                    phone.user
                );
            }
        }
    }

    // The captain's offline counts matched what the server holds from the team.
    let mut by_author: BTreeMap<String, u32> = BTreeMap::new();
    for (_, canvasser, _) in &rows {
        *by_author.entry(canvasser.clone()).or_default() += 1;
    }
    for (user, n) in &by_author {
        assert_eq!(
            offline.get(user),
            Some(n),
            "{user}'s attempts, offline and on the server"
        );
    }
    let progress = cap.store.team_progress().unwrap();
    for t in &progress.turfs {
        assert_eq!(
            t.progress.attempts as usize,
            on_server(t.turf.as_str()).len(),
            "turf {}",
            t.turf
        );
    }
}
