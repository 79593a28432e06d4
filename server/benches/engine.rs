//! The sync engine without HTTP: a quiet heartbeat, answered from memory while nothing
//! changed. (Ingest is measured by the load generator, on documents of a realistic size.)
//!
//! `cargo bench -p doorstep-server --bench engine`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use doorstep_core::Store;
use doorstep_server::auth::token_hash;
use doorstep_server::demo::{self, Plan};
use doorstep_server::engine::Engine;
use doorstep_server::storage::{NewUser, SqliteStorage, Storage};

fn engine(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path().join("bench.db")).unwrap();
    let plan = Plan {
        teams: 1,
        canvassers_per_team: 10,
        turfs_per_team: 10,
        doors: 40,
        turfs_per_canvasser: 1,
        seed: 1,
    };
    let users = demo::seed(&storage, &plan, 0).unwrap();
    storage
        .add_user(&NewUser {
            id: "ten".into(),
            name: "Ten".into(),
            role: doorstep_core::sync::Role::Canvasser,
            team: Some("team-1".into()),
        })
        .unwrap();
    for i in 0..10 {
        storage.assign(&format!("t01-{:03}", i + 1), "ten").unwrap();
    }
    let ten = doorstep_server::auth::issue_token(&storage, "ten", 0).unwrap();
    let engine = Engine::new(storage);
    let hash = token_hash(&ten.secret);
    let mut phone = Store::open_in_memory().unwrap();
    let sync = |phone: &mut Store, hash: &[u8; 32]| {
        phone
            .sync_with(|body| {
                engine
                    .sync(hash, &body, 0)
                    .map(|(_, o)| o.response)
                    .map_err(|e| e.to_string())
            })
            .unwrap()
    };
    sync(&mut phone, &hash);
    let heartbeat = phone.sync_request().unwrap();
    c.bench_function("heartbeat, 12 documents", |b| {
        b.iter(|| engine.sync(&hash, &heartbeat, 0).unwrap())
    });
    drop(users);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = engine
}
criterion_main!(benches);
