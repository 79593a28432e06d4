//! PostgreSQL: a real throwaway cluster (see `doorstep_tests::postgres`), the schema's
//! migrations. The storage built on them, and the sync suite run against it, come next.

use doorstep_server::storage::StorageError;
use doorstep_server::storage::postgres::{SCHEMA_VERSION, migrate};
use doorstep_tests::postgres::Cluster;
use std::collections::{BTreeMap, BTreeSet};

#[test]
fn the_schema_migrates_once_even_from_two_servers_and_a_newer_one_is_refused() {
    let cluster = Cluster::start();
    let url = cluster.database("doorstep");
    // Two servers starting at the same moment: one applies the migrations, the other finds
    // them applied.
    let found: Vec<i64> = std::thread::scope(|s| {
        let starts: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                    migrate(&mut client).unwrap()
                })
            })
            .collect();
        starts.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let mut found = found;
    found.sort();
    assert_eq!(found, [0, SCHEMA_VERSION]);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    // The same tables and columns as a fresh SQLite database, so both backends hold the same
    // (besides the change counter's slots: SQLite counts commits itself).
    let mut on_postgres: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in client
        .query(
            "SELECT table_name, column_name FROM information_schema.columns
             WHERE table_schema = 'public'
               AND table_name NOT IN ('schema_migrations', 'change_slots')",
            &[],
        )
        .unwrap()
    {
        on_postgres
            .entry(row.get(0))
            .or_default()
            .insert(row.get(1));
    }
    let dir = tempfile::tempdir().unwrap();
    drop(doorstep_server::storage::SqliteStorage::open(dir.path().join("s.db")).unwrap());
    let sqlite = rusqlite::Connection::open(dir.path().join("s.db")).unwrap();
    let mut on_sqlite: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stmt = sqlite
        .prepare(
            "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
        )
        .unwrap();
    for row in stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
    {
        let (table, column) = row.unwrap();
        on_sqlite.entry(table).or_default().insert(column);
    }
    assert_eq!(on_postgres, on_sqlite);
    let epoch: i64 = client
        .query_one("SELECT value FROM admin_epoch WHERE id = 1", &[])
        .unwrap()
        .get(0);
    assert_eq!(epoch, 0);
    // Again: nothing to do.
    assert_eq!(migrate(&mut client).unwrap(), SCHEMA_VERSION);
    // A database a newer Doorstep migrated is refused, and left as it is.
    client
        .execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&(SCHEMA_VERSION + 1)],
        )
        .unwrap();
    match migrate(&mut client) {
        Err(StorageError::TooNew { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("a newer schema was not refused: {other:?}"),
    }
}
