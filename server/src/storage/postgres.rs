//! PostgreSQL, for several server processes on one database (issue 8). So far: its schema and
//! the migrations that make it; the [`super::Storage`] implementation builds on them.
//!
//! Migrations are numbered files in `server/migrations/postgres/`, applied in order inside one
//! transaction that holds an advisory lock, so that servers starting at the same moment apply
//! each one once. A database migrated by a newer Doorstep is refused.

use super::{StorageError, StorageResult};

/// The migrations, in order; the database records how many it has had.
pub const MIGRATIONS: &[&str] = &[include_str!("../../migrations/postgres/0001_init.sql")];

/// The schema version this code writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The advisory lock every migrating server takes (any number; this one spells "doorstep").
const MIGRATION_LOCK: i64 = 0x646f_6f72_7374_6570;

/// Brings the database at `client` up to [`SCHEMA_VERSION`]; returns the version it found.
pub fn migrate(client: &mut postgres::Client) -> StorageResult<i64> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )?;
    let found: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )?
        .get(0);
    if found > SCHEMA_VERSION {
        return Err(StorageError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&(i as i64 + 1)],
        )?;
    }
    tx.commit()?;
    Ok(found)
}
