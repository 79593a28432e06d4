//! One phone, one server: download, record offline, restart both, sync.

use doorstep_core::DocId;
use doorstep_core::sync::wire::{DownBody, decode_response};
use doorstep_server::demo::Plan;
use doorstep_tests::*;

fn plan() -> Plan {
    Plan {
        teams: 1,
        canvassers_per_team: 2,
        turfs_per_team: 4,
        doors: 30,
        turfs_per_canvasser: 2,
        seed: 7,
    }
}

#[test]
fn a_phone_offline_all_afternoon_gets_every_knock_to_the_server_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    offline_all_afternoon(&Backend::Sqlite(dir.path().join("server.db")));
}

#[test]
fn on_postgresql_a_phone_offline_all_afternoon_gets_every_knock_there_exactly_once() {
    let cluster = doorstep_tests::postgres::Cluster::start();
    offline_all_afternoon(&Backend::Postgres(cluster.database("doorstep")));
}

fn offline_all_afternoon(backend: &Backend) {
    let users = backend.seed(&plan());
    let me = users.iter().find(|u| u.id == "canvasser-1-1").unwrap();
    let mut server = ServerProcess::on(backend, &[]);

    let mut phone = Phone::new(me);
    let report = phone.sync(&server.url).unwrap();
    assert_eq!(report.identity.unwrap().user, me.id);
    assert_eq!(phone.store.signed_in().unwrap().unwrap().as_str(), me.id);
    let mut held: Vec<String> = phone.turfs().iter().map(|t| t.to_string()).collect();
    held.sort();
    assert_eq!(held, me.turfs, "the phone holds exactly its assigned turfs");
    let walk = phone.store.walk_list(&held[0].as_str().into()).unwrap();
    assert_eq!(walk.households.len(), 30);
    let voter = &walk.households[0].voters[0].id;
    assert!(
        phone
            .store
            .script_for(&held[0].as_str().into(), voter)
            .unwrap()
            .is_some(),
        "the campaign came with the turfs"
    );

    // The signal goes; the canvasser keeps knocking.
    server.kill();
    let mut rng = fastrand::Rng::with_seed(1);
    let mut recorded: Vec<String> = (0..25)
        .map(|i| phone.knock(&mut rng, 1_000 + i).unwrap())
        .collect();
    assert_eq!(phone.store.outbox_count().unwrap(), 25);
    assert!(matches!(
        phone.sync(&server.url),
        Err(doorstep_core::SyncError::Transport(
            TransportError::Network(_)
        ))
    ));
    assert_eq!(
        phone.store.outbox_count().unwrap(),
        25,
        "a failed sync loses nothing"
    );
    phone.restart();

    let server = ServerProcess::on(backend, &[]);
    phone.sync(&server.url).unwrap();
    assert_eq!(
        phone.store.outbox_count().unwrap(),
        0,
        "the server acknowledged everything"
    );
    let storage = backend.open();
    recorded.sort();
    assert_eq!(stored_attempt_ids(&*storage), recorded);
    assert_results_match_documents(&*storage);
    for turf in &held {
        let id = DocId::turf(&turf.as_str().into());
        assert_eq!(
            phone.store.heads(&id).unwrap(),
            server_doc(&*storage, &id.to_string()).get_heads(),
            "phone and server hold the same {id}"
        );
    }

    // The captain's phone sees the team's results.
    let captain = users.iter().find(|u| u.id == "captain-1").unwrap();
    let mut captain_phone = Phone::new(captain);
    captain_phone.sync(&server.url).unwrap();
    let seen: usize = held
        .iter()
        .map(|t| {
            captain_phone
                .store
                .history(&t.as_str().into())
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(seen, 25);
}

#[test]
fn a_sync_with_nothing_new_is_one_round_trip_of_a_few_bytes_per_document() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let users = seed(&db, &plan());
    let captain = users.iter().find(|u| u.id == "captain-1").unwrap();
    let server = ServerProcess::start(&db);
    let mut phone = Phone::new(captain);
    phone.sync(&server.url).unwrap();
    let docs = phone.store.documents().unwrap().len();
    assert_eq!(docs, 6, "four turfs, the campaign and the team");

    let http = Http::default();
    let (mut rounds, mut bytes) = (0, 0);
    phone
        .store
        .sync_with(|body| {
            rounds += 1;
            bytes += body.len();
            let response = http.send(&server.url, &captain.token.secret, &body)?;
            bytes += response.len();
            Ok::<_, TransportError>(response)
        })
        .unwrap();
    assert_eq!(rounds, 1);
    assert!(bytes <= 16 * docs, "{bytes} bytes for {docs} documents");

    // News in one document travels in the same single round trip.
    let mut other = Phone::new(users.iter().find(|u| u.id == "canvasser-1-1").unwrap());
    other.sync(&server.url).unwrap();
    let mut rng = fastrand::Rng::with_seed(2);
    other.knock(&mut rng, 5).unwrap();
    other.sync(&server.url).unwrap();
    let mut responses = Vec::new();
    phone
        .store
        .sync_with(|body| {
            let response = http.send(&server.url, &captain.token.secret, &body)?;
            responses.push(response.clone());
            Ok::<_, TransportError>(response)
        })
        .unwrap();
    assert_eq!(responses.len(), 1);
    let response = decode_response(&responses[0]).unwrap();
    let with_news: Vec<_> = response
        .docs
        .iter()
        .filter(|d| matches!(&d.body, DownBody::Changes(c) if !c.is_empty()))
        .collect();
    assert_eq!(with_news.len(), 1, "only the changed document is sent");
}

#[test]
fn sigterm_lets_the_server_stop_cleanly_and_health_and_metrics_answer() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let users = seed(&db, &plan());
    let mut server = ServerProcess::start(&db);
    let agent = ureq::Agent::new_with_defaults();
    let health = agent
        .get(format!("{}/healthz", server.url))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert_eq!(health, "ok");
    let ready = agent
        .get(format!("{}/readyz", server.url))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert_eq!(ready, "ready");
    let mut phone = Phone::new(&users[2]);
    phone.sync(&server.url).unwrap();
    let metrics = server.metrics();
    assert!(
        metrics.contains("doorstep_sync_requests_total{outcome=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(server.terminate().success());
}
