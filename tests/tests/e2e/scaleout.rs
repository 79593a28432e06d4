//! Several servers on one PostgreSQL database: the storage suite every backend passes, then
//! real `doorstep serve` processes sharing a throwaway cluster.

use doorstep_core::domain::Target;
use doorstep_core::{DocId, NewAttempt};
use doorstep_server::demo::Plan;
use doorstep_server::storage::PgStorage;
use doorstep_server::storage::Storage;
use doorstep_server::storage::conformance;
use doorstep_tests::postgres::Cluster;
use doorstep_tests::*;
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn postgres_passes_the_storage_suite() {
    let cluster = Cluster::start();
    let n = AtomicUsize::new(0);
    conformance::check_all(|| {
        let url = cluster.database(&format!("s{}", n.fetch_add(1, Ordering::Relaxed)));
        PgStorage::connect(&url).unwrap()
    });
}

#[test]
fn two_postgresql_handles_on_one_database_pass_the_shared_suite() {
    let cluster = Cluster::start();
    let n = AtomicUsize::new(0);
    conformance::check_shared(|| {
        let url = cluster.database(&format!("x{}", n.fetch_add(1, Ordering::Relaxed)));
        (
            PgStorage::connect(&url).unwrap(),
            PgStorage::connect(&url).unwrap(),
        )
    });
}

/// Two canvassers on one turf, each phone on its own server of one database: what one records
/// through its server reaches the other through the other server at its next sync, though
/// that server had the turf's document cached (and a quiet answer for the phone) from before.
#[test]
fn what_one_server_stores_the_other_answers_with_at_once() {
    let cluster = Cluster::start();
    let backend = Backend::Postgres(cluster.database("doorstep"));
    let users = backend.seed(&Plan {
        teams: 1,
        canvassers_per_team: 2,
        turfs_per_team: 2,
        doors: 10,
        turfs_per_canvasser: 2,
        seed: 5,
    });
    let (a, b) = (
        ServerProcess::on(&backend, &[]),
        ServerProcess::on(&backend, &[]),
    );
    let canvassers: Vec<_> = users
        .iter()
        .filter(|u| u.id.starts_with("canvasser"))
        .collect();
    let mut x = Phone::new(canvassers[0]);
    let mut y = Phone::new(canvassers[1]);
    x.sync(&a.url).unwrap();
    y.sync(&b.url).unwrap();
    let shared = x
        .turfs()
        .into_iter()
        .find(|t| y.turfs().contains(t))
        .expect("the two canvassers share a turf");
    let id = DocId::turf(&shared);
    // Server B holds the turf's document, and a quiet answer for Y's heartbeat.
    y.sync(&b.url).unwrap();
    y.sync(&b.url).unwrap();
    let record = |phone: &mut Phone, door: usize| -> String {
        let household = phone.store.walk_list(&shared).unwrap().households[door]
            .id
            .clone();
        phone
            .store
            .record_attempt(NewAttempt {
                turf: shared.clone(),
                target: Target::Household(household),
                outcome: "not_home".into(),
                answers: vec![],
                note: None,
                recorded_at: 1_000 + door as i64,
                location: None,
            })
            .unwrap()
            .id
            .to_string()
    };
    let recorded: Vec<String> = (0..3).map(|i| record(&mut x, i)).collect();
    x.sync(&a.url).unwrap();
    assert_eq!(x.store.outbox_count().unwrap(), 0);
    // The very next sync of Y, through B, brings X's knocks.
    y.sync(&b.url).unwrap();
    let history = |phone: &Phone| -> Vec<String> {
        phone
            .store
            .history(&shared)
            .unwrap()
            .iter()
            .map(|h| h.id.to_string())
            .collect()
    };
    let seen = history(&y);
    for id in &recorded {
        assert!(seen.contains(id), "Y got {id} through the other server");
    }
    assert_eq!(y.store.heads(&id).unwrap(), x.store.heads(&id).unwrap());
    // And the other way: Y's knock through B reaches X through A.
    let k = record(&mut y, 4);
    y.sync(&b.url).unwrap();
    x.sync(&a.url).unwrap();
    assert!(
        history(&x).contains(&k),
        "X got Y's knock through the other server"
    );
    let storage = backend.open();
    assert_results_match_documents(&*storage);
    assert_eq!(
        x.store.heads(&id).unwrap(),
        server_doc(&*storage, &id.to_string()).get_heads()
    );
}

/// Two captains of one team hand the same turfs around at the same moments, each phone through
/// its own server: at the end the database's assignments, the stored team document and both
/// phones say the same holder for every turf (the database follows the document's merge, not
/// whichever server committed last).
#[test]
fn two_captains_handing_turfs_through_two_servers_leave_one_answer() {
    use doorstep_core::domain::CanvasserId;
    use doorstep_server::storage::NewUser;
    let cluster = Cluster::start();
    let backend = Backend::Postgres(cluster.database("doorstep"));
    let users = backend.seed(&Plan {
        teams: 1,
        canvassers_per_team: 4,
        turfs_per_team: 3,
        doors: 4,
        turfs_per_canvasser: 1,
        seed: 9,
    });
    let storage = backend.open();
    storage
        .add_user(&NewUser {
            id: "captain-1b".into(),
            name: "Second captain".into(),
            role: doorstep_core::sync::Role::Captain,
            team: Some("team-1".into()),
        })
        .unwrap();
    let token = doorstep_server::auth::issue_token(&*storage, "captain-1b", 0).unwrap();
    let (a, b) = (
        ServerProcess::on(&backend, &[]),
        ServerProcess::on(&backend, &[]),
    );
    let first = users.iter().find(|u| u.id == "captain-1").unwrap();
    let mut captains = [
        Phone::new(first),
        Phone::with_token("captain-1b", &token.secret),
    ];
    let urls = [a.url.clone(), b.url.clone()];
    for (c, url) in captains.iter_mut().zip(&urls) {
        c.sync(url).unwrap();
    }
    let turfs = captains[0].turfs();
    assert_eq!(turfs.len(), 3);
    let canvassers: Vec<CanvasserId> = (1..=4)
        .map(|i| CanvasserId::from(format!("canvasser-1-{i}").as_str()))
        .collect();
    for round in 0..12usize {
        for (k, c) in captains.iter_mut().enumerate() {
            let turf = &turfs[round % turfs.len()];
            let to = &canvassers[(round + k) % canvassers.len()];
            c.store
                .reassign_turf(turf, std::slice::from_ref(to), 10_000 + round as i64)
                .unwrap();
        }
        // Both at the same moment, each through its own server.
        std::thread::scope(|s| {
            for (c, url) in captains.iter_mut().zip(&urls) {
                s.spawn(move || c.sync(url).unwrap());
            }
        });
    }
    for _ in 0..2 {
        for (c, url) in captains.iter_mut().zip(&urls) {
            c.sync(url).unwrap();
        }
    }
    let team = doorstep_core::doc::TeamDoc::wrap(server_doc(&*storage, "team:team-1"), "team-1")
        .unwrap()
        .team();
    let figures = storage.turf_figures().unwrap();
    for turf in &turfs {
        let in_document = team.assignment(turf.as_str()).unwrap().users.clone();
        let mut in_database = figures
            .iter()
            .find(|t| t.turf == turf.as_str())
            .unwrap()
            .assigned
            .clone();
        in_database.sort();
        assert_eq!(
            in_database, in_document,
            "turf {turf}: database and document"
        );
        for c in &captains {
            let on_phone = c.store.team().unwrap().unwrap();
            assert_eq!(
                on_phone.assignment(turf.as_str()).unwrap().users,
                in_document,
                "turf {turf} on {}'s phone",
                c.user
            );
        }
    }
}

/// A database nobody answers at is said at once, by where it is, never with the password.
#[test]
fn an_unreachable_database_is_named_without_its_password() {
    let err = doorstep_fails(
        &Backend::Postgres("postgresql://doorstep:hunter2@127.0.0.1:1/campaign".into()),
        &["stats"],
    );
    assert!(
        err.contains("cannot reach the database at postgresql://127.0.0.1:1/campaign"),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let err = doorstep_fails(&Backend::Postgres("host=".into()), &["serve"]);
    assert!(
        err.contains("postgresql://USER@HOST:PORT/DATABASE"),
        "{err}"
    );
}

/// The database cuts every connection of a server's pool (as `pg_terminate_backend`, a restart
/// or a failover does, unnoticed by idle connections): the next write and the next reads go
/// through on new connections, none of them failing on a dead one.
#[test]
fn postgresql_storage_carries_on_after_its_connections_are_cut() {
    let cluster = Cluster::start();
    let storage = PgStorage::connect(&cluster.database("doorstep")).unwrap();
    let cut = || {
        let mut admin = cluster.admin("postgres");
        let cut: i64 = admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = 'doorstep'",
                &[],
            )
            .unwrap()
            .get(0);
        assert!(cut > 0, "the pool had connections to cut");
        // Until every one of them is gone.
        while admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'doorstep'",
                &[],
            )
            .unwrap()
            .get::<_, i64>(0)
            > 0
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    };
    // Several connections in the pool.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..20 {
                    storage.change_counter().unwrap();
                }
            });
        }
    });
    cut();
    storage.add_team("team-9", "Team 9").unwrap();
    cut();
    assert!(storage.results(None).unwrap().is_empty());
    cut();
    let before = storage.change_counter().unwrap();
    storage.add_team("team-10", "Team 10").unwrap();
    assert!(storage.change_counter().unwrap() > before);
    let teams: i64 = cluster
        .admin("doorstep")
        .query_one("SELECT count(*) FROM teams", &[])
        .unwrap()
        .get(0);
    assert_eq!(teams, 2, "both writes stored, once");
}

/// A database that takes TCP connections over TLS only. In the clear, or over TLS without the
/// authority that signed its certificate, a server is refused at once, saying why and what to
/// do, never with the password; given the authority (`sslmode=verify-full&sslrootcert=`), the
/// organizer's commands and `doorstep serve` run the campaign through it (over TLS: the
/// cluster refuses TCP in the clear).
#[test]
fn a_tls_only_database_is_reached_over_tls_given_its_authority() {
    let cluster = Cluster::start_tls();
    let url = cluster
        .database("doorstep")
        .replace("postgres@", "postgres:hunter2@");
    let files = cluster
        .tls
        .clone()
        .expect("a TLS cluster has certificate files");
    let ca = &files.ca;

    let err = doorstep_fails(&Backend::Postgres(url.clone()), &["stats"]);
    assert!(err.contains("cannot reach the database at"), "{err}");
    assert!(err.contains("no encryption"), "in the clear: {err}");
    assert!(err.contains("add ?sslmode=verify-full"), "{err}");
    let err = doorstep_fails(
        &Backend::Postgres(format!("{url}?sslmode=verify-full")),
        &["stats"],
    );
    // Checked against this machine's authorities (or refused before trying, on a machine
    // without Debian's ca-certificates).
    assert!(
        err.contains("UnknownIssuer") || err.contains("no trusted certificate authorities"),
        "without the authority: {err}"
    );
    assert!(err.contains("sslrootcert=PATH"), "{err}");
    assert!(!err.contains("hunter2"), "the password leaked: {err}");

    let encoded = |path: &std::path::Path| -> String {
        let path = path.to_string_lossy();
        percent_encoding::utf8_percent_encode(&path, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let backend = Backend::Postgres(format!(
        "{url}?sslmode=verify-full&sslrootcert={}",
        encoded(ca)
    ));
    let users = backend.seed(&Plan {
        teams: 1,
        canvassers_per_team: 1,
        turfs_per_team: 1,
        doors: 5,
        turfs_per_canvasser: 1,
        seed: 9,
    });
    let server = ServerProcess::on(&backend, &[]);
    let canvasser = users
        .iter()
        .find(|u| u.id.starts_with("canvasser"))
        .expect("a canvasser");
    let mut phone = Phone::new(canvasser);
    phone.sync(&server.url).unwrap();
    let turf = phone.turfs()[0].clone();
    let household = phone.store.walk_list(&turf).unwrap().households[0]
        .id
        .clone();
    let attempt = phone
        .store
        .record_attempt(NewAttempt {
            turf: turf.clone(),
            target: Target::Household(household),
            outcome: "not_home".into(),
            answers: vec![],
            note: None,
            recorded_at: 1_000,
            location: None,
        })
        .unwrap()
        .id
        .to_string();
    phone.sync(&server.url).unwrap();
    assert_eq!(phone.store.outbox_count().unwrap(), 0);

    let stored: i64 = cluster
        .admin("doorstep")
        .query_one(
            "SELECT count(*) FROM results WHERE attempt_id = $1",
            &[&attempt],
        )
        .unwrap()
        .get(0);
    assert_eq!(stored, 1, "the phone's knock is stored once");
    drop(server);
    let storage = backend.open();
    assert_results_match_documents(&*storage);
    assert_eq!(
        phone.store.heads(&DocId::turf(&turf)).unwrap(),
        server_doc(&*storage, &DocId::turf(&turf).to_string()).get_heads(),
    );

    // A database that authenticates its clients by certificate: refused without one, taken
    // with `sslcert` and `sslkey`.
    let certs = cluster.database("certs");
    let tls = format!("{certs}?sslmode=verify-full&sslrootcert={}", encoded(ca));
    let err = doorstep_fails(&Backend::Postgres(tls.clone()), &["stats"]);
    assert!(
        err.contains("requires a valid client certificate"),
        "without a client certificate: {err}"
    );
    assert!(err.contains("sslcert=PATH&sslkey=PATH"), "{err}");
    let with_cert = Backend::Postgres(format!(
        "{tls}&sslcert={}&sslkey={}",
        encoded(&files.client_cert),
        encoded(&files.client_key)
    ));
    doorstep(&with_cert, &["stats"]);
}
