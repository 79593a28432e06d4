//! The embedded SQLite storage: one writer connection, a few readers (WAL), numbered migrations.

use super::common::{
    answers_json, decode_roster, encode_roster, heads, merged_heads, support_level,
};
use super::*;
use doorstep_core::doc::heads_to_bytes;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Numbered, forward-only migrations. Never edit one that has landed: add the next.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_voter_file.sql"),
    include_str!("../../migrations/0003_teams.sql"),
    include_str!("../../migrations/0004_dashboard.sql"),
    include_str!("../../migrations/0005_document_generation.sql"),
];
/// The schema version this code writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;
const READERS: usize = 4;
/// Connections for the dashboard's long reads: two pages may be gathered at once.
const DASHBOARD_READERS: usize = 2;

mod dashboard;
mod organize;
mod teams;

/// SQLite storage in one file.
pub struct SqliteStorage {
    writer: Mutex<Connection>,
    /// Asks `PRAGMA data_version`, which changes whenever another connection (the writer
    /// included) commits.
    watcher: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    /// The dashboard's own: its GROUP BYs over a whole campaign take seconds, and must never
    /// keep a phone's sync waiting for a connection.
    dashboard_readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a connection cannot leave a transaction open (rusqlite rolls back
    // on drop), so the connection is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SqliteStorage {
    /// Opens (creating and migrating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> StorageResult<Self> {
        let path = path.as_ref();
        let mut writer = Connection::open(path)?;
        configure(&writer)?;
        migrate(&mut writer)?;
        create_missing_team_docs(&mut writer)?;
        let reader = || -> StorageResult<Mutex<Connection>> {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            r.busy_timeout(std::time::Duration::from_secs(5))?;
            r.set_prepared_statement_cache_capacity(64);
            tune(&r)?;
            Ok(Mutex::new(r))
        };
        let readers = (0..READERS)
            .map(|_| reader())
            .collect::<StorageResult<_>>()?;
        let dashboard_readers = (0..DASHBOARD_READERS)
            .map(|_| reader())
            .collect::<StorageResult<_>>()?;
        let watcher = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Ok(Self {
            writer: Mutex::new(writer),
            watcher: Mutex::new(watcher),
            readers,
            dashboard_readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> StorageResult<T>) -> StorageResult<T> {
        self.read_from(&self.readers, f)
    }

    /// Reads on one of the dashboard's connections.
    fn read_dashboard<T>(
        &self,
        f: impl FnOnce(&Connection) -> StorageResult<T>,
    ) -> StorageResult<T> {
        self.read_from(&self.dashboard_readers, f)
    }

    fn read_from<T>(
        &self,
        pool: &[Mutex<Connection>],
        f: impl FnOnce(&Connection) -> StorageResult<T>,
    ) -> StorageResult<T> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..pool.len() {
            if let Ok(conn) = pool[(start + i) % pool.len()].try_lock() {
                return f(&conn);
            }
        }
        f(&lock(&pool[start % pool.len()]))
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> StorageResult<T>,
    ) -> StorageResult<T> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

/// Plans chosen once per statement (without this SQLite re-prepares a cached statement whenever
/// a bound value might change its plan), and reads from a memory map instead of a syscall per page.
fn tune(conn: &Connection) -> StorageResult<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
    // The dashboard's GROUP BYs sort hundreds of thousands of rows: in memory, not a temp file.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

/// How long a write waits for another process's (a statewide `turfs cut` holds the lock for
/// seconds): a phone's sync waits for it instead of failing. Below the request timeout.
pub const WRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

fn configure(conn: &Connection) -> StorageResult<()> {
    conn.busy_timeout(WRITE_WAIT)?;
    let _: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    // A sync is acknowledged only after its transaction is on disk.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(64);
    tune(conn)
}

fn migrate(conn: &mut Connection) -> StorageResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StorageError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        if i + 1 == 4 {
            // The dashboard's door rows come from the rosters, which SQL cannot decode.
            dashboard::backfill_doors(&tx)?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Teams made before team documents existed get theirs. Read first: a database whose teams all
/// have one (every open but the first after an upgrade) takes no write lock.
fn create_missing_team_docs(conn: &mut Connection) -> StorageResult<()> {
    let missing: i64 = conn.query_row(
        "SELECT count(*) FROM teams WHERE 'team:' || id NOT IN (SELECT id FROM documents)",
        [],
        |r| r.get(0),
    )?;
    if missing > 0 {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        teams::create_missing_team_docs(&tx)?;
        tx.commit()?;
    }
    Ok(())
}

fn authenticate_on(c: &Connection, token_hash: &[u8; 32]) -> StorageResult<Option<Principal>> {
    let row = c
        .prepare_cached(
            "SELECT u.id, u.role, u.team_id FROM tokens t JOIN users u ON u.id = t.user_id
             WHERE t.hash = ?1 AND t.revoked_at IS NULL",
        )?
        .query_row([&token_hash[..]], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
        })
        .optional()?;
    Ok(row.and_then(|(user, role, team)| {
        Some(Principal {
            user,
            role: Role::parse(&role)?,
            team,
        })
    }))
}

fn grants_on(c: &Connection, who: &Principal) -> StorageResult<Grants> {
    let mut grants = Grants::default();
    let (sql, arg) = match (who.role, &who.team) {
        (Role::Admin, _) => (
            "SELECT id, campaign_id, roster_version FROM turfs WHERE ?1 IS NOT NULL",
            who.user.as_str(),
        ),
        (Role::Captain, Some(team)) => (
            "SELECT id, campaign_id, roster_version FROM turfs WHERE team_id = ?1",
            team.as_str(),
        ),
        _ => (
            "SELECT t.id, t.campaign_id, t.roster_version FROM assignments a
             JOIN turfs t ON t.id = a.turf_id
             WHERE a.user_id = ?1",
            who.user.as_str(),
        ),
    };
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map([arg], |r| {
        Ok((r.get::<_, String>(0)?, r.get(1)?, r.get::<_, i64>(2)?))
    })?;
    for row in rows {
        let (turf, campaign, version) = row?;
        grants.rosters.insert(turf.clone(), version as u64);
        grants.turfs.insert(turf, campaign);
    }
    match (who.role, &who.team) {
        (Role::Admin, _) => {
            let mut stmt = c.prepare_cached("SELECT id FROM teams")?;
            for id in stmt.query_map([], |r| r.get(0))? {
                grants.teams.insert(id?);
            }
        }
        (Role::Captain | Role::Canvasser, Some(team)) => {
            grants.teams.insert(team.clone());
            // Each member and every turf they hold or held (history includes what they hold;
            // the union keeps a row written by anything else counted).
            let mut stmt = c.prepare_cached(
                "SELECT u.id, u.role, h.turf_id FROM users u
                 LEFT JOIN assignment_history h ON h.user_id = u.id
                 WHERE u.team_id = ?1 AND u.role IN ('captain', 'canvasser')
                 UNION ALL
                 SELECT u.id, u.role, a.turf_id FROM users u
                 JOIN assignments a ON a.user_id = u.id
                 WHERE u.team_id = ?1 AND u.role IN ('captain', 'canvasser')",
            )?;
            let rows = stmt.query_map([team], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })?;
            let mut captains = Vec::new();
            for row in rows {
                let (user, role, turf) = row?;
                grants.team.entry(user.clone()).or_default().extend(turf);
                if role == Role::Captain.as_str() {
                    captains.push(user);
                }
            }
            captains.sort();
            captains.dedup();
            if !captains.is_empty() {
                // A captain may write in every turf of the team.
                let team_turfs: Vec<String> = c
                    .prepare_cached("SELECT id FROM turfs WHERE team_id = ?1")?
                    .query_map([team], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                for captain in captains {
                    grants
                        .team
                        .entry(captain)
                        .or_default()
                        .extend(team_turfs.iter().cloned());
                }
            }
        }
        _ => {}
    }
    Ok(grants)
}

fn device_state_on(c: &Connection, user: &str, device: &[u8]) -> StorageResult<DeviceState> {
    let mut state = DeviceState::default();
    let mut stmt = c.prepare_cached(
        "SELECT doc_id, acked_heads FROM device_docs WHERE user_id = ?1 AND device = ?2",
    )?;
    let rows = stmt.query_map(params![user, device], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    for row in rows {
        let (doc, acked) = row?;
        state.docs.insert(doc, heads(&acked)?);
    }
    let mut stmt = c.prepare_cached(
        "SELECT turf_id, version FROM device_rosters WHERE user_id = ?1 AND device = ?2",
    )?;
    let rows = stmt.query_map(params![user, device], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (turf, version) = row?;
        state.rosters.insert(turf, version as u64);
    }
    Ok(state)
}

impl Storage for SqliteStorage {
    fn change_counter(&self) -> StorageResult<u64> {
        let conn = lock(&self.watcher);
        let version: i64 = conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        Ok(version as u64)
    }

    fn touch_devices(&self, seen: &[(String, Vec<u8>, i64)], older_than: i64) -> StorageResult<()> {
        // An UPDATE that matches no row writes nothing, and moves no change counter.
        self.write(|tx| {
            let mut update = tx.prepare_cached(
                "UPDATE devices SET last_sync_at = ?3
                 WHERE user_id = ?1 AND device = ?2 AND last_sync_at < ?3 - ?4",
            )?;
            for (user, device, at) in seen {
                update.execute(params![user, device, at, older_than])?;
            }
            Ok(())
        })
    }

    fn admin_epoch(&self) -> StorageResult<u64> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT value FROM admin_epoch WHERE id = 1")?
                    .query_row([], |r| r.get::<_, i64>(0))? as u64,
            )
        })
    }

    fn sync_context(&self, token_hash: &[u8; 32]) -> StorageResult<Option<SyncContext>> {
        // One reader and one read transaction for both: a heartbeat reads these and nothing
        // else, and one snapshot takes the WAL's shared lock once instead of per query.
        self.read(|c| {
            let tx = c.unchecked_transaction()?;
            let Some(principal) = authenticate_on(&tx, token_hash)? else {
                return Ok(None);
            };
            let grants = grants_on(&tx, &principal)?;
            tx.finish()?;
            Ok(Some(SyncContext { principal, grants }))
        })
    }

    fn authenticate(&self, token_hash: &[u8; 32]) -> StorageResult<Option<Principal>> {
        self.read(|c| authenticate_on(c, token_hash))
    }

    fn grants(&self, who: &Principal) -> StorageResult<Grants> {
        self.read(|c| grants_on(c, who))
    }

    fn device_state(&self, user: &str, device: &[u8]) -> StorageResult<DeviceState> {
        self.read(|c| device_state_on(c, user, device))
    }

    fn sync_state(&self, user: &str, device: &[u8], doc: &str) -> StorageResult<Option<Vec<u8>>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT sync_state FROM device_docs WHERE user_id = ?1 AND device = ?2 AND doc_id = ?3",
            )?
            .query_row(params![user, device, doc], |r| r.get::<_, Option<Vec<u8>>>(0))
            .optional()?
            .flatten())
        })
    }

    fn load_document(&self, id: &str) -> StorageResult<Option<StoredDocument>> {
        self.read(|c| {
            let stored: Option<(Option<Vec<u8>>, i64)> = c
                .prepare_cached("SELECT snapshot, generation FROM documents WHERE id = ?1")?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((snapshot, generation)) = stored else {
                return Ok(None);
            };
            let mut stmt = c.prepare_cached("SELECT data FROM chunks WHERE doc_id = ?1")?;
            let chunks = stmt
                .query_map([id], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<Vec<u8>>>>()?;
            Ok(Some(StoredDocument {
                snapshot,
                chunks,
                generation: generation as u64,
            }))
        })
    }

    fn stored_heads(&self, ids: &[String]) -> StorageResult<HashMap<String, Vec<ChangeHash>>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT heads FROM documents WHERE id = ?1")?;
            let mut out = HashMap::new();
            for id in ids {
                if let Some(bytes) = stmt
                    .query_row([id], |r| r.get::<_, Vec<u8>>(0))
                    .optional()?
                {
                    out.insert(id.clone(), heads(&bytes)?);
                }
            }
            Ok(out)
        })
    }

    fn roster(&self, turf: &str) -> StorageResult<Option<Roster>> {
        self.read(|c| {
            let bytes: Option<Vec<u8>> = c
                .prepare_cached("SELECT body FROM rosters WHERE turf_id = ?1")?
                .query_row([turf], |r| r.get(0))
                .optional()?;
            bytes.map(|b| decode_roster(turf, &b)).transpose()
        })
    }

    fn commit(&self, commit: &Commit) -> StorageResult<()> {
        self.write(|tx| {
            let stale = teams::apply_assignments(tx, &commit.assignments)?;
            for doc in &commit.docs {
                let mut ins = tx.prepare_cached(
                    "INSERT OR IGNORE INTO chunks (doc_id, hash, data) VALUES (?1, ?2, ?3)",
                )?;
                for (hash, data) in &doc.changes {
                    ins.execute(params![doc.id, &hash.0[..], data])?;
                }
                let stored: Option<Vec<u8>> = tx
                    .prepare_cached("SELECT heads FROM documents WHERE id = ?1")?
                    .query_row([&doc.id], |r| r.get(0))
                    .optional()?;
                let heads = merged_heads(doc, stored.as_deref().map(heads).transpose()?);
                tx.prepare_cached("UPDATE documents SET heads = ?2 WHERE id = ?1")?
                    .execute(params![doc.id, heads_to_bytes(&heads)])?;
            }
            // A handover the database had overtaken is undone in the document, on top of the
            // captain's change just stored.
            for team in &stale {
                teams::team_doc_in_step(tx, team, commit.now)?;
            }
            for (turf, a) in &commit.attempts {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO results (turf_id, attempt_id, voter_id, household_id,
                         canvasser_id, device, outcome, answers, note, recorded_at, received_at,
                         support, campaign_id, unit)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
                             (SELECT t.campaign_id FROM turfs t WHERE t.id = ?1),
                             CASE WHEN (SELECT t.list_kind FROM turfs t WHERE t.id = ?1) = 'call'
                                  THEN coalesce(?3, ?4) ELSE ?4 END)",
                )?
                .execute(params![
                    turf,
                    a.id.to_string(),
                    a.voter().map(|v| v.to_string()),
                    a.household.as_str(),
                    a.canvasser.as_str(),
                    a.device.as_str(),
                    a.outcome.as_str(),
                    answers_json(a),
                    a.note,
                    a.recorded_at,
                    commit.now,
                    support_level(a),
                ])?;
            }
            for (turf, attempt, void) in &commit.voids {
                tx.prepare_cached(
                    "UPDATE results SET voided_by = ?3 WHERE turf_id = ?1 AND attempt_id = ?2",
                )?
                .execute(params![turf, attempt, void])?;
            }
            for (doc, acked) in &commit.acked {
                tx.prepare_cached(
                    "INSERT INTO device_docs (user_id, device, doc_id, acked_heads) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (user_id, device, doc_id) DO UPDATE SET acked_heads = ?4",
                )?
                .execute(params![commit.user, commit.device, doc, heads_to_bytes(acked)])?;
            }
            for (doc, state) in &commit.sync_states {
                tx.prepare_cached(
                    "INSERT INTO device_docs (user_id, device, doc_id, acked_heads, sync_state)
                     VALUES (?1, ?2, ?3, x'', ?4)
                     ON CONFLICT (user_id, device, doc_id) DO UPDATE SET sync_state = ?4",
                )?
                .execute(params![commit.user, commit.device, doc, state])?;
            }
            for (turf, version) in &commit.rosters {
                tx.prepare_cached(
                    "INSERT INTO device_rosters (user_id, device, turf_id, version) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (user_id, device, turf_id) DO UPDATE SET version = ?4",
                )?
                .execute(params![commit.user, commit.device, turf, *version as i64])?;
            }
            tx.prepare_cached(
                "INSERT INTO devices (user_id, device, last_sync_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id, device) DO UPDATE SET last_sync_at = ?3",
            )?
            .execute(params![commit.user, commit.device, commit.now])?;
            Ok(())
        })
    }

    fn compact(
        &self,
        doc: &str,
        snapshot: &[u8],
        folded: &[ChangeHash],
        generation: u64,
    ) -> StorageResult<usize> {
        if folded.is_empty() {
            return Ok(0);
        }
        self.write(|tx| {
            let current: Option<i64> = tx
                .prepare_cached("SELECT generation FROM documents WHERE id = ?1")?
                .query_row([doc], |r| r.get(0))
                .optional()?;
            if current != Some(generation as i64) {
                // Another snapshot was written since this one's document was read.
                return Ok(0);
            }
            let mut stored =
                tx.prepare_cached("SELECT 1 FROM chunks WHERE doc_id = ?1 AND hash = ?2")?;
            for h in folded {
                if stored
                    .query_row(params![doc, &h.0[..]], |_| Ok(()))
                    .optional()?
                    .is_none()
                {
                    // Folded by another writer meanwhile, into a snapshot that may hold what
                    // this one lacks: that one stays.
                    return Ok(0);
                }
            }
            tx.prepare_cached(
                "UPDATE documents SET snapshot = ?2, generation = generation + 1 WHERE id = ?1",
            )?
            .execute(params![doc, snapshot])?;
            let mut del =
                tx.prepare_cached("DELETE FROM chunks WHERE doc_id = ?1 AND hash = ?2")?;
            for h in folded {
                del.execute(params![doc, &h.0[..]])?;
            }
            Ok(folded.len())
        })
    }

    fn chunk_hashes(&self, doc: &str) -> StorageResult<Vec<ChangeHash>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT hash FROM chunks WHERE doc_id = ?1")?;
            let rows = stmt.query_map([doc], |r| r.get::<_, Vec<u8>>(0))?;
            let mut out = Vec::new();
            for row in rows {
                out.extend(heads(&row?)?);
            }
            Ok(out)
        })
    }

    fn add_team(&self, id: &str, name: &str) -> StorageResult<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO teams (id, name) VALUES (?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET name = ?2",
                params![id, name],
            )?;
            teams::team_doc_in_step(tx, id, crate::handlers::sync::now_ms())?;
            Ok(())
        })
    }

    fn add_user(&self, user: &NewUser) -> StorageResult<()> {
        self.write(|tx| {
            let before = teams::user_team(tx, &user.id)?;
            tx.execute(
                "INSERT INTO users (id, name, role, team_id) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET name = ?2, role = ?3, team_id = ?4",
                params![user.id, user.name, user.role.as_str(), user.team],
            )?;
            teams::teams_in_step(
                tx,
                [before.as_deref(), user.team.as_deref()],
                crate::handlers::sync::now_ms(),
            )
        })
    }

    fn add_token(&self, user: &str, id: &str, hash: &[u8; 32], now: i64) -> StorageResult<()> {
        self.write(|tx| {
            let known: Option<i64> = tx
                .query_row("SELECT 1 FROM users WHERE id = ?1", [user], |r| r.get(0))
                .optional()?;
            if known.is_none() {
                return Err(StorageError::NotFound {
                    what: "user",
                    id: user.into(),
                });
            }
            tx.execute(
                "INSERT INTO tokens (hash, id, user_id, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![&hash[..], id, user, now],
            )?;
            // A revoked user given a token again is back on their team.
            let reinstated = tx.execute(
                "UPDATE users SET revoked_at = NULL WHERE id = ?1 AND revoked_at IS NOT NULL",
                [user],
            )?;
            if reinstated > 0 {
                teams::teams_in_step(tx, [teams::user_team(tx, user)?.as_deref()], now)?;
            }
            Ok(())
        })
    }

    fn revoke_token(&self, id: &str, now: i64) -> StorageResult<bool> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, now],
            )? > 0)
        })
    }

    fn put_campaign(
        &self,
        campaign: &Campaign,
        doc: &[u8],
        heads: &[ChangeHash],
    ) -> StorageResult<()> {
        let doc_id = format!("campaign:{}", campaign.id);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO campaigns (id, name) VALUES (?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET name = ?2",
                params![campaign.id.as_str(), campaign.name],
            )?;
            tx.execute(
                "INSERT INTO documents (id, heads, snapshot) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE
                 SET heads = ?2, snapshot = ?3, generation = generation + 1",
                params![doc_id, heads_to_bytes(heads), doc],
            )?;
            tx.execute("DELETE FROM chunks WHERE doc_id = ?1", [&doc_id])?;
            Ok(())
        })
    }

    fn put_turf(
        &self,
        roster: &Roster,
        team: Option<&str>,
        doc: &[u8],
        heads: &[ChangeHash],
    ) -> StorageResult<()> {
        let doc_id = format!("turf:{}", roster.turf);
        self.write(|tx| {
            let before = teams::turf_team(tx, roster.turf.as_str())?;
            tx.execute(
                "INSERT INTO turfs (id, campaign_id, team_id, name, roster_version)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET team_id = ?3, name = ?4, roster_version = ?5",
                params![
                    roster.turf.as_str(),
                    roster.campaign.as_str(),
                    team,
                    roster.name,
                    roster.version as i64,
                ],
            )?;
            tx.execute(
                "INSERT INTO rosters (turf_id, body) VALUES (?1, ?2)
                 ON CONFLICT (turf_id) DO UPDATE SET body = ?2",
                params![roster.turf.as_str(), encode_roster(roster)],
            )?;
            dashboard::write_doors(tx, roster)?;
            tx.execute(
                "INSERT OR IGNORE INTO documents (id, heads, snapshot) VALUES (?1, ?2, ?3)",
                params![doc_id, heads_to_bytes(heads), doc],
            )?;
            teams::teams_in_step(
                tx,
                [before.as_deref(), team],
                crate::handlers::sync::now_ms(),
            )
        })
    }

    fn assign(&self, turf: &str, user: &str) -> StorageResult<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO assignments (turf_id, user_id) VALUES (?1, ?2)",
                params![turf, user],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO assignment_history (turf_id, user_id) VALUES (?1, ?2)",
                params![turf, user],
            )?;
            teams::teams_in_step(
                tx,
                [teams::turf_team(tx, turf)?.as_deref()],
                crate::handlers::sync::now_ms(),
            )
        })
    }

    fn is_empty(&self) -> StorageResult<bool> {
        self.read(|c| {
            let n: i64 = c.query_row("SELECT count(*) FROM campaigns", [], |r| r.get(0))?;
            Ok(n == 0)
        })
    }

    fn results(&self, turf: Option<&str>) -> StorageResult<Vec<ResultRow>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT turf_id, attempt_id, canvasser_id, outcome, recorded_at, voided_by
                 FROM results WHERE ?1 IS NULL OR turf_id = ?1 ORDER BY turf_id, attempt_id",
            )?;
            let rows = stmt
                .query_map([turf], |r| {
                    Ok(ResultRow {
                        turf: r.get(0)?,
                        attempt: r.get(1)?,
                        canvasser: r.get(2)?,
                        outcome: r.get(3)?,
                        recorded_at: r.get(4)?,
                        voided_by: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_passes_the_dashboard_suite() {
        let dir = tempfile::tempdir().unwrap();
        let n = AtomicUsize::new(0);
        super::super::conformance::check_dashboard(|| {
            let path = dir
                .path()
                .join(format!("d{}.db", n.fetch_add(1, Ordering::Relaxed)));
            SqliteStorage::open(path).unwrap()
        });
    }

    #[test]
    fn sqlite_passes_the_storage_suite() {
        let dir = tempfile::tempdir().unwrap();
        let n = AtomicUsize::new(0);
        super::super::conformance::check_all(|| {
            let path = dir
                .path()
                .join(format!("s{}.db", n.fetch_add(1, Ordering::Relaxed)));
            SqliteStorage::open(path).unwrap()
        });
    }

    #[test]
    fn two_handles_on_one_sqlite_file_pass_the_shared_suite() {
        let dir = tempfile::tempdir().unwrap();
        let n = AtomicUsize::new(0);
        super::super::conformance::check_shared(|| {
            let path = dir
                .path()
                .join(format!("x{}.db", n.fetch_add(1, Ordering::Relaxed)));
            (
                SqliteStorage::open(&path).unwrap(),
                SqliteStorage::open(&path).unwrap(),
            )
        });
    }

    fn schema(path: &Path) -> Vec<String> {
        let conn = Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn every_older_schema_upgrades_with_its_data_to_the_fresh_schema() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh.db");
        drop(SqliteStorage::open(&fresh).unwrap());
        for version in 1..SCHEMA_VERSION {
            let path = dir.path().join(format!("v{version}.db"));
            let roster = Roster {
                campaign: "c".into(),
                ..crate::demo::roster("t1", 5, 1, 1)
            };
            {
                // The schema and rows as that version wrote them: a campaign, a turf with its
                // roster, a user with a token; a team (no document before schema 3) with its
                // captain, a canvasser holding a turf, and one revoked (every token revoked,
                // turfs withdrawn).
                let conn = Connection::open(&path).unwrap();
                for sql in &MIGRATIONS[..version as usize] {
                    conn.execute_batch(sql).unwrap();
                }
                conn.pragma_update(None, "user_version", version).unwrap();
                conn.execute_batch(
                    "INSERT INTO campaigns (id, name) VALUES ('c', 'C');
                     INSERT INTO turfs (id, campaign_id, team_id, name, roster_version)
                         VALUES ('t1', 'c', NULL, 'Turf t1', 1);
                     INSERT INTO users (id, name, role, team_id) VALUES ('u', 'U', 'canvasser', NULL);
                     INSERT INTO teams (id, name) VALUES ('n', 'North');
                     INSERT INTO turfs (id, campaign_id, team_id, name, roster_version)
                         VALUES ('t2', 'c', 'n', 'Turf t2', 1);
                     INSERT INTO users (id, name, role, team_id) VALUES
                         ('cap', 'Cap', 'captain', 'n'),
                         ('ana', 'Ana', 'canvasser', 'n'),
                         ('rev', 'Rev', 'canvasser', 'n');
                     INSERT INTO assignments (turf_id, user_id) VALUES ('t2', 'ana');
                     INSERT INTO tokens (hash, id, user_id, created_at, revoked_at)
                         VALUES (x'01', 'tok-rev', 'rev', 0, 5);
                     INSERT INTO results (turf_id, attempt_id, voter_id, household_id,
                         canvasser_id, device, outcome, answers, note, recorded_at, received_at)
                         VALUES ('t1', 'a1', 'v1', 'h1', 'u', 'd', 'talked',
                                 '{\"support\":{\"Support\":2}}', NULL, 10, 11);",
                )
                .unwrap();
                if version >= 3 {
                    // What schema 3's code wrote besides: the revoked user marked, Ana's turf
                    // remembered as held.
                    conn.execute_batch(
                        "UPDATE users SET revoked_at = 5 WHERE id = 'rev';
                         INSERT INTO assignment_history (turf_id, user_id) VALUES ('t2', 'ana');",
                    )
                    .unwrap();
                }
                conn.execute(
                    "INSERT INTO rosters (turf_id, body) VALUES ('t1', ?1)",
                    [encode_roster(&roster)],
                )
                .unwrap();
                if version >= 4 {
                    // What schema 4's code wrote besides: the result's derived columns, the
                    // roster's door rows.
                    conn.execute_batch(
                        "UPDATE results SET support = 2, campaign_id = 'c', unit = 'h1'",
                    )
                    .unwrap();
                    let tx = conn.unchecked_transaction().unwrap();
                    dashboard::write_doors(&tx, &roster).unwrap();
                    tx.commit().unwrap();
                }
                conn.execute(
                    "INSERT INTO tokens (hash, id, user_id, created_at) VALUES (?1, 'tok', 'u', 0)",
                    [&[7u8; 32][..]],
                )
                .unwrap();
            }
            let upgraded = SqliteStorage::open(&path).unwrap();
            assert_eq!(upgraded.roster("t1").unwrap(), Some(roster));
            let turf = super::super::Organize::turf(&upgraded, "t1")
                .unwrap()
                .unwrap();
            assert_eq!(turf.kind, doorstep_core::domain::ListKind::Walk);
            assert_eq!(
                upgraded.authenticate(&[7; 32]).unwrap().map(|p| p.user),
                Some("u".to_owned())
            );
            // The turf Ana holds is one she held; the revoked user is off the team's document,
            // which the server wrote when it opened the database.
            let grants = upgraded
                .grants(&Principal {
                    user: "ana".into(),
                    role: Role::Canvasser,
                    team: Some("n".into()),
                })
                .unwrap();
            assert_eq!(grants.turfs.keys().collect::<Vec<_>>(), ["t2"]);
            assert_eq!(grants.teams.iter().collect::<Vec<_>>(), ["n"]);
            assert_eq!(grants.team["ana"], HashSet::from(["t2".to_owned()]));
            assert_eq!(grants.team["cap"], HashSet::from(["t2".to_owned()]));
            assert!(grants.team["rev"].is_empty());
            let stored = upgraded.load_document("team:n").unwrap().unwrap();
            let team = doorstep_core::doc::TeamDoc::load(
                "n",
                stored.snapshot.as_deref().unwrap_or_default(),
                stored.chunks.iter().map(Vec::as_slice),
                doorstep_core::ActorId::random(),
            )
            .unwrap()
            .team();
            assert_eq!(team.name, "North");
            let members: Vec<&str> = team.members.iter().map(|m| m.id.as_str()).collect();
            assert_eq!(members, ["ana", "cap"]);
            assert_eq!(team.assignment("t2").unwrap().users, ["ana"]);
            // The dashboard reads the old result and the old roster's doors.
            let turfs = super::super::Dashboard::turf_progress(
                &upgraded,
                &super::super::dashboard::Scope::Campaign("c".into()),
                &[("c".into(), "talked".into())],
                &["talked".into()],
            )
            .unwrap();
            let t1 = &turfs.iter().find(|t| t.turf == "t1").unwrap().figures;
            assert_eq!(t1.outcomes, [1], "from version {version}");
            assert_eq!(
                (t1.doors, t1.attempts, t1.knocked, t1.contacts, t1.support),
                (5, 1, 1, 1, [0, 1, 0, 0, 0]),
                "from version {version}"
            );
            drop(upgraded);
            assert_eq!(schema(&path), schema(&fresh), "from version {version}");
        }
    }

    #[test]
    fn a_syncs_heads_keep_a_change_a_command_made_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let storage = SqliteStorage::open(&path).unwrap();
        crate::demo::seed(
            &storage,
            &crate::demo::Plan {
                teams: 1,
                canvassers_per_team: 2,
                turfs_per_team: 2,
                doors: 3,
                turfs_per_canvasser: 1,
                seed: 1,
            },
            0,
        )
        .unwrap();
        let id = "team:team-1";
        let loaded = |storage: &SqliteStorage| {
            let stored = storage.load_document(id).unwrap().unwrap();
            doorstep_core::doc::load_doc(
                &doorstep_core::DocId::team("team-1"),
                stored.snapshot.as_deref().unwrap_or_default(),
                stored.chunks.iter().map(Vec::as_slice),
            )
            .unwrap()
        };
        // A server holds the document; a command changes the team meanwhile; the server then
        // stores a captain's change built on what it held.
        let mut held = loaded(&storage);
        let before = held.get_heads();
        storage.assign("t01-002", "canvasser-1-1").unwrap();
        let mut team = doorstep_core::doc::TeamDoc::wrap(held, "team-1").unwrap();
        let handed = doorstep_core::domain::Assignment {
            users: vec!["canvasser-1-2".into()],
            past: vec!["canvasser-1-1".into()],
            by: "captain-1".into(),
            at: 1,
        };
        assert!(team.set_assignment("t01-001", &handed).unwrap());
        let changes = team
            .automerge()
            .get_changes(&before)
            .into_iter()
            .map(|c| (c.hash(), c.raw_bytes().to_vec()))
            .collect();
        storage
            .commit(&Commit {
                user: "captain-1".into(),
                device: vec![1; 16],
                docs: vec![DocWrite {
                    id: id.into(),
                    changes,
                    heads: team.heads(),
                    before,
                }],
                ..Commit::default()
            })
            .unwrap();
        let mut everything = loaded(&storage).get_heads();
        everything.sort();
        assert_eq!(everything.len(), 2, "two writers' concurrent changes");
        let conn = Connection::open(&path).unwrap();
        let stored: Vec<u8> = conn
            .query_row("SELECT heads FROM documents WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(heads(&stored).unwrap(), everything);
    }

    #[test]
    fn a_database_from_a_newer_server_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(SqliteStorage::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        let err = SqliteStorage::open(&path).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    }
}
