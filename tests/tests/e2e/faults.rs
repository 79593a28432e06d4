//! Many phones, a flaky network, a server crash: everyone ends up agreeing, nothing lost or
//! doubled. On SQLite with one server, on PostgreSQL with one, and on PostgreSQL with two
//! servers that phones alternate between, one of them killed for good mid-run.

use doorstep_core::{DocKind, SyncError};
use doorstep_server::demo::Plan;
use doorstep_tests::postgres::Cluster;
use doorstep_tests::*;
use std::collections::HashMap;

#[test]
fn twenty_four_phones_on_a_flaky_network_through_a_server_crash_converge() {
    let dir = tempfile::tempdir().unwrap();
    flaky_phones_converge(&Backend::Sqlite(dir.path().join("server.db")), 1);
}

#[test]
fn on_postgresql_twenty_four_phones_through_a_server_crash_converge() {
    let cluster = Cluster::start();
    flaky_phones_converge(&Backend::Postgres(cluster.database("doorstep")), 1);
}

#[test]
fn on_postgresql_phones_alternating_between_two_servers_one_killed_converge() {
    let cluster = Cluster::start();
    flaky_phones_converge(&Backend::Postgres(cluster.database("doorstep")), 2);
}

/// Twenty-four phones record and sync on a flaky network through `servers` server processes on
/// one database, each sync through any of them. A server is killed and restarted half way;
/// then, while every phone syncs at once, one is killed: restarted when it is the only one,
/// gone for good otherwise (the others carry on, and a replacement comes up for the end). At
/// the end every attempt is on the server exactly once, and every phone holds what the database
/// holds.
fn flaky_phones_converge(backend: &Backend, servers: usize) {
    let seed_value = seed_from_env();
    let mut rng = fastrand::Rng::with_seed(seed_value);
    // Two teams of twelve; each team's twelve turfs are each shared by two canvassers.
    let users = backend.seed(&Plan {
        teams: 2,
        canvassers_per_team: 12,
        turfs_per_team: 12,
        doors: 15,
        turfs_per_canvasser: 2,
        seed: seed_value,
    });
    // Compaction every few chunks, so the crash and the faults land in compactions too.
    let start = || ServerProcess::on(backend, &["--compact-after", "4"]);
    let mut fleet: Vec<ServerProcess> = (0..servers).map(|_| start()).collect();
    let mut phones: Vec<Phone> = users
        .iter()
        .filter(|u| u.id.starts_with("canvasser"))
        .map(Phone::new)
        .collect();
    assert_eq!(phones.len(), 24);
    for (i, p) in phones.iter_mut().enumerate() {
        p.sync(&fleet[i % servers].url).unwrap();
    }

    let mut recorded: HashMap<String, String> = HashMap::new();
    let mut faults: Vec<Faulty> = (0..phones.len())
        .map(|i| Faulty::new(seed_value ^ i as u64, FaultRates::flaky()))
        .collect();
    let mut clock = 1_000;
    let steps = 360;
    for step in 0..steps {
        clock += rng.i64(1..5_000);
        if step == steps / 2 {
            fleet[0].kill();
            fleet[0] = start();
        }
        if step == steps / 3 {
            // Two canvassers at the same door at the same moment.
            let turf = phones[0].turfs()[0].clone();
            let other = phones
                .iter()
                .position(|p| p.user != phones[0].user && p.turfs().contains(&turf))
                .unwrap();
            let door = phones[0].store.walk_list(&turf).unwrap().households[0]
                .id
                .clone();
            for i in [0, other] {
                let a = phones[i]
                    .store
                    .record_attempt(doorstep_core::NewAttempt {
                        turf: turf.clone(),
                        target: doorstep_core::domain::Target::Household(door.clone()),
                        outcome: "not_home".into(),
                        answers: vec![],
                        note: None,
                        recorded_at: clock,
                        location: None,
                    })
                    .unwrap();
                recorded.insert(a.id.to_string(), phones[i].user.clone());
            }
        }
        let i = rng.usize(..phones.len());
        match rng.u8(0..10) {
            0..=5 => {
                for _ in 0..rng.usize(1..4) {
                    let id = phones[i].knock(&mut rng, clock).unwrap();
                    recorded.insert(id, phones[i].user.clone());
                }
            }
            6..=8 => {
                let server = &fleet[rng.usize(..servers)];
                let _ = phones[i].sync_faulty(&server.url, &mut faults[i]);
            }
            _ => phones[i].restart(),
        }
    }
    // Then everyone at once, each phone on its own thread, turn by turn through each server,
    // and a server killed while requests are in flight.
    let urls: Vec<String> = fleet.iter().map(|s| s.url.clone()).collect();
    let urls = std::sync::Arc::new(std::sync::Mutex::new(urls));
    let recorded = std::sync::Mutex::new(recorded);
    std::thread::scope(|scope| {
        for (i, (phone, faults)) in phones.iter_mut().zip(faults.iter_mut()).enumerate() {
            let urls = urls.clone();
            let recorded = &recorded;
            scope.spawn(move || {
                let mut rng = fastrand::Rng::with_seed(seed_value.wrapping_add(i as u64));
                for round in 0..6 {
                    for _ in 0..rng.usize(1..3) {
                        let id = phone
                            .knock(&mut rng, clock + round * 1_000 + i as i64)
                            .unwrap();
                        recorded.lock().unwrap().insert(id, phone.user.clone());
                    }
                    let current = {
                        let urls = urls.lock().unwrap();
                        urls[(i + round as usize) % urls.len()].clone()
                    };
                    let _ = phone.sync_faulty(&current, faults);
                }
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(rng.u64(50..400)));
        if servers == 1 {
            fleet[0].kill();
            fleet[0] = start();
            *urls.lock().unwrap() = vec![fleet[0].url.clone()];
        } else {
            // Gone for good: a load balancer would stop sending phones there.
            let mut lost = fleet.remove(0);
            urls.lock().unwrap().remove(0);
            lost.kill();
        }
    });
    let recorded = recorded.into_inner().unwrap();

    let injected: usize = faults.iter().flat_map(|f| f.injected.values()).sum();
    assert!(injected > 20, "the network misbehaved ({injected} faults)");

    if servers > 1 {
        // A replacement comes up beside the survivor, on the same database.
        fleet.push(start());
    }
    // Signal everywhere: everyone syncs, twice, through each server in turn, so each phone
    // also gets the others' news whichever server it reaches.
    for round in 0..2 {
        for (k, p) in phones.iter_mut().enumerate() {
            p.sync(&fleet[(k + round) % fleet.len()].url).unwrap();
        }
    }

    let storage = backend.open();
    let results = storage.results(None).unwrap();
    let mut stored: Vec<&str> = results.iter().map(|r| r.attempt.as_str()).collect();
    stored.sort();
    let mut expected: Vec<&str> = recorded.keys().map(String::as_str).collect();
    expected.sort();
    assert_eq!(
        stored, expected,
        "every attempt on the server, exactly once"
    );
    for r in &results {
        assert_eq!(
            r.canvasser, recorded[&r.attempt],
            "attributed to who recorded it"
        );
    }
    assert_results_match_documents(&*storage);
    for p in &mut phones {
        assert_eq!(
            p.store.outbox_count().unwrap(),
            0,
            "{} has unsynced results",
            p.user
        );
        for id in p.store.documents().unwrap() {
            assert_eq!(
                p.store.heads(&id).unwrap(),
                server_doc(&*storage, &id.to_string()).get_heads(),
                "{} and the server disagree on {id}",
                p.user
            );
            if id.kind == DocKind::Turf {
                let turf = id.id.as_str().into();
                assert!(p.store.verify_projections(&turf).unwrap().is_empty());
            }
        }
    }
}

/// The database restarts under a running server, as in a failover on election day. While it
/// is down, phones knock, a sync is answered within seconds with 503 `unavailable` (which
/// phones retry), so is a dashboard page and `/readyz`, and every knock stays on its phone. After a restart
/// nobody synced through, the pool's dead connections are replaced, not handed out: every
/// phone's next sync goes through. At the end every knock is on the server exactly once.
#[test]
fn on_postgresql_a_database_restart_loses_nothing_and_the_next_syncs_go_through() {
    let cluster = Cluster::start();
    let backend = Backend::Postgres(cluster.database("doorstep"));
    let users = backend.seed(&Plan {
        teams: 1,
        canvassers_per_team: 12,
        turfs_per_team: 6,
        doors: 10,
        turfs_per_canvasser: 1,
        seed: 3,
    });
    let server = ServerProcess::on(&backend, &[]);
    let mut phones: Vec<Phone> = users
        .iter()
        .filter(|u| u.id.starts_with("canvasser"))
        .map(Phone::new)
        .collect();
    let mut rng = fastrand::Rng::with_seed(seed_from_env());
    let mut recorded = Vec::new();
    let mut knock = |phone: &mut Phone, rng: &mut fastrand::Rng, at: i64| {
        recorded.push(phone.knock(rng, at).expect("a door to knock"));
    };
    let all_sync = |phones: &mut Vec<Phone>, when: &str| {
        for p in phones.iter_mut() {
            let report = p.sync(&server.url);
            assert!(report.is_ok(), "{} {when}: {:?}", p.user, report.err());
            assert_eq!(p.store.outbox_count().unwrap(), 0);
        }
    };
    // Every phone has synced, twice at once, so the server's pool holds all its connections.
    for (i, p) in phones.iter_mut().enumerate() {
        p.sync(&server.url).unwrap();
        knock(p, &mut rng, 1_000 + i as i64);
    }
    std::thread::scope(|s| {
        for p in phones.iter_mut() {
            let url = &server.url;
            s.spawn(move || {
                p.sync(url).unwrap();
                p.sync(url).unwrap();
            });
        }
    });

    // Down for a while, phones syncing all along.
    cluster.stop();
    for (i, p) in phones.iter_mut().enumerate() {
        knock(p, &mut rng, 2_000 + i as i64);
        if i >= 4 {
            continue;
        }
        let started = std::time::Instant::now();
        match p.sync(&server.url) {
            Err(SyncError::Transport(TransportError::Status { status, code, .. })) => {
                assert_eq!((status, code.as_str()), (503, "unavailable"), "{}", p.user);
            }
            other => panic!("{} synced with no database: {other:?}", p.user),
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{} waited {:?} to hear the database is down",
            p.user,
            started.elapsed()
        );
        assert!(
            p.store.outbox_count().unwrap() > 0,
            "the knock waits on the phone"
        );
    }
    // An organizer's dashboard says so too, and when to come back.
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent();
    let mut page = agent
        .get(format!("{}/dashboard", server.url))
        .header("Cookie", "doorstep_session=a-session-from-before")
        .call()
        .unwrap();
    assert_eq!(page.status(), 503);
    let body = page.body_mut().read_to_string().unwrap();
    assert!(body.contains("cannot reach its database"), "{body}");
    // The answer asks phones for a pause, which the apps' transport honours.
    let answer = agent
        .post(format!("{}/v1/sync", server.url))
        .header("Authorization", &format!("Bearer {}", phones[0].token))
        .send(&b"a sync"[..])
        .unwrap();
    assert_eq!(answer.status(), 503);
    assert_eq!(
        answer
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    // A load balancer asking whether this server can take phones hears that it cannot.
    let ready = |agent: &ureq::Agent| {
        let mut r = agent.get(format!("{}/readyz", server.url)).call().unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    assert_eq!(
        ready(&agent),
        (503, "the database does not answer".to_owned())
    );
    // And the server's metrics count the syncs it could not take: four phones', and the one
    // above.
    let metrics = server.metrics();
    assert!(
        metrics.contains("doorstep_sync_requests_total{outcome=\"unavailable\"} 5"),
        "{metrics}"
    );
    cluster.start_again();
    assert_eq!(ready(&agent), (200, "ready".to_owned()));
    all_sync(&mut phones, "after the database came back");

    // A quick restart while nobody syncs: the pool's idle connections are all dead.
    cluster.stop();
    cluster.start_again();
    for (i, p) in phones.iter_mut().enumerate() {
        knock(p, &mut rng, 3_000 + i as i64);
    }
    all_sync(&mut phones, "after a quick restart");

    let storage = backend.open();
    recorded.sort();
    assert_eq!(
        stored_attempt_ids(&*storage),
        recorded,
        "every knock on the server, exactly once"
    );
    assert_results_match_documents(&*storage);
}
