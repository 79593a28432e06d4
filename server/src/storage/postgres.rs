//! PostgreSQL storage, for several server processes on one database.
//!
//! Every server is stateless beyond its caches: what one stores, the others read. What makes
//! that safe:
//! - chunks are content-addressed and inserted if absent, so two servers storing the same
//!   change store it once;
//! - a document's row is locked (`FOR UPDATE`) before its heads are merged or its snapshot
//!   replaced, so concurrent writes and compactions of one document take turns, and a
//!   compaction deletes only chunks still stored that its snapshot holds;
//! - the change counter is the sum of [`CHANGE_SLOTS`] rows, one of which every write bumps in
//!   its own transaction: it moves with every commit of any server, and only once committed;
//! - [`Storage::shared`] is true, so the sync engine checks its cached documents against the
//!   stored heads before it answers, and reads what a device was sent from here, not memory.
//!
//! Migrations are numbered files in `server/migrations/postgres/`, applied in order inside one
//! transaction that holds an advisory lock, so that servers starting at the same moment apply
//! each one once. A database migrated by a newer Doorstep is refused.

use super::common::{
    answers_json, decode_roster, encode_roster, heads, merged_heads, support_level,
};
use super::*;
use ::postgres::error::SqlState;
use ::postgres::types::ToSql;
use ::postgres::{IsolationLevel, Row, Statement};
use doorstep_core::doc::heads_to_bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

mod dashboard;
mod organize;
mod teams;
mod tls;

/// The migrations, in order; the database records how many it has had.
pub const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_change_slots.sql"),
    include_str!("../../migrations/postgres/0003_document_generation.sql"),
];

/// The schema version this code writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Rows of `change_slots` (migration 0002).
pub const CHANGE_SLOTS: u64 = 64;

/// The advisory lock every migrating server takes (any number; this one spells "doorstep").
const MIGRATION_LOCK: i64 = 0x646f_6f72_7374_6570;

/// Connections for syncs and commands.
const POOL_SIZE: u32 = 8;
/// The dashboard's own: its GROUP BYs over a whole campaign take seconds, and must never keep
/// a phone's sync waiting for a connection.
const DASHBOARD_POOL_SIZE: u32 = 2;
/// How long a request waits for a connection while every one is busy.
const CONNECT_WAIT: Duration = Duration::from_secs(10);
/// How long a request waits for a connection while the database cannot be reached (a restart,
/// a failover): long enough for a quick restart, short enough that a phone hears at once that
/// it should try again later.
const DOWN_WAIT: Duration = Duration::from_secs(2);
/// How many times a write that lost a deadlock or serialization race to another server's is
/// tried again.
const WRITE_TRIES: u32 = 8;

/// Brings the database at `client` up to [`SCHEMA_VERSION`]; returns the version it found.
pub fn migrate(client: &mut ::postgres::Client) -> StorageResult<i64> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    // No "already exists, skipping" notice on every start.
    tx.batch_execute("SET LOCAL client_min_messages = warning")?;
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

/// A pooled connection with its prepared statements.
pub struct Conn {
    client: ::postgres::Client,
    statements: HashMap<String, Statement>,
    /// Found dead: the pool drops it when it comes back.
    broken: bool,
}

struct Manager {
    config: ::postgres::Config,
    connector: tls::Connector,
    /// Whether the last connection attempt failed (shared by both pools).
    down: Arc<AtomicBool>,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = ::postgres::Error;

    fn connect(&self) -> Result<Conn, ::postgres::Error> {
        let client = self.connector.connect(&self.config);
        self.down.store(client.is_err(), Ordering::Relaxed);
        Ok(Conn {
            client: client?,
            statements: HashMap::new(),
            broken: false,
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), ::postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken || conn.client.is_closed()
    }
}

type Pool = r2d2::Pool<Manager>;

/// A transaction on a pooled connection (or, for one-statement reads, the connection itself),
/// preparing each statement once per connection.
pub(crate) struct Db<'c> {
    session: Session<'c>,
    statements: &'c mut HashMap<String, Statement>,
}

enum Session<'c> {
    Tx(::postgres::Transaction<'c>),
    /// Each statement on its own: no BEGIN and COMMIT round trips.
    Plain(&'c mut ::postgres::Client),
}

/// Runs the same call on a transaction or a client.
macro_rules! on_session {
    ($db:expr, $c:ident => $call:expr) => {
        match &mut $db.session {
            Session::Tx($c) => $call,
            Session::Plain($c) => $call,
        }
    };
}

/// Query parameters.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl<'c> Db<'c> {
    fn statement(&mut self, sql: &str) -> StorageResult<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = on_session!(self, c => c.prepare(sql))?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    /// Every row.
    pub(crate) fn query(&mut self, sql: &str, params: Params<'_>) -> StorageResult<Vec<Row>> {
        let s = self.statement(sql)?;
        Ok(on_session!(self, c => c.query(&s, params))?)
    }

    /// At most one row.
    pub(crate) fn query_opt(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> StorageResult<Option<Row>> {
        let s = self.statement(sql)?;
        Ok(on_session!(self, c => c.query_opt(&s, params))?)
    }

    /// Exactly one row.
    pub(crate) fn query_one(&mut self, sql: &str, params: Params<'_>) -> StorageResult<Row> {
        let s = self.statement(sql)?;
        Ok(on_session!(self, c => c.query_one(&s, params))?)
    }

    /// Runs a statement; the rows it changed.
    pub(crate) fn execute(&mut self, sql: &str, params: Params<'_>) -> StorageResult<u64> {
        let s = self.statement(sql)?;
        Ok(on_session!(self, c => c.execute(&s, params))?)
    }

    /// The transaction itself, for what statements cannot do (portals, COPY).
    pub(crate) fn tx(&mut self) -> StorageResult<&mut ::postgres::Transaction<'c>> {
        match &mut self.session {
            Session::Tx(tx) => Ok(tx),
            Session::Plain(_) => Err(StorageError::Corrupt(
                "a portal was asked for outside a transaction (a bug in Doorstep)".into(),
            )),
        }
    }

    fn commit(self) -> StorageResult<()> {
        if let Session::Tx(tx) = self.session {
            tx.commit()?;
        }
        Ok(())
    }

    /// Moves the change counter: one of its slots, spread by process and call.
    fn bump_changes(&mut self) -> StorageResult<()> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let slot = (u64::from(std::process::id()) * 7 + NEXT.fetch_add(1, Ordering::Relaxed))
            % CHANGE_SLOTS;
        self.execute(
            "UPDATE change_slots SET value = value + 1 WHERE slot = $1",
            &[&(slot as i32)],
        )?;
        Ok(())
    }
}

/// Whether a failed write lost a race to another transaction and may simply run again.
fn retryable(e: &StorageError) -> bool {
    match e {
        StorageError::Postgres(e) => matches!(
            e.code(),
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
        ),
        _ => false,
    }
}

/// PostgreSQL storage: a pool of connections to one database, shared with other servers.
pub struct PgStorage {
    pool: Pool,
    dashboard: Pool,
    /// Whether the last connection attempt failed, or a connection was found closed since:
    /// requests then wait [`DOWN_WAIT`] for a connection, not [`CONNECT_WAIT`].
    down: Arc<AtomicBool>,
    /// Where it is, for messages: host, port and database, never the password.
    place: String,
}

impl std::fmt::Debug for PgStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStorage")
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

/// A connection URL's host, port and database, for messages (never its password); an error
/// saying what is wrong with the URL if it cannot be used.
pub fn describe_url(url: &str) -> StorageResult<String> {
    tls::parse(url).map(|(config, _)| describe(&config))
}

/// A connection's host, port and database, for messages (never its password).
fn describe(config: &::postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            ::postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            ::postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("postgresql://{host}:{port}/{db}")
}

impl PgStorage {
    /// Connects to the database at `url` (a `postgresql://` URL or `key=value` settings),
    /// migrating it if needed.
    pub fn connect(url: &str) -> StorageResult<Self> {
        let (config, connector) = tls::parse(url)?;
        let place = describe(&config);
        // One connection first, to migrate: a database that cannot be reached is said at once,
        // with why, instead of after the pool's wait.
        let mut first = connector.connect(&config).map_err(|e| {
            let reason = super::postgres_message(&e);
            StorageError::Unavailable {
                place: place.clone(),
                reason: format!("{reason}{}", connector.hint(&reason)),
            }
        })?;
        migrate(&mut first)?;
        drop(first);
        let unreachable = |e: r2d2::Error| StorageError::Unavailable {
            place: place.clone(),
            reason: e.to_string(),
        };
        let down = Arc::new(AtomicBool::new(false));
        let pool = |size: u32, idle: u32| {
            r2d2::Pool::builder()
                .max_size(size)
                .min_idle(Some(idle))
                .test_on_check_out(false)
                // Also caps the pool's pause between attempts to connect (half of it), so that
                // a database back from a restart is found within a second.
                .connection_timeout(DOWN_WAIT)
                // A request that finds no connection says so itself (`Unavailable`).
                .error_handler(Box::new(r2d2::NopErrorHandler))
                .build(Manager {
                    config: config.clone(),
                    connector: connector.clone(),
                    down: down.clone(),
                })
                .map_err(unreachable)
        };
        let storage = Self {
            pool: pool(POOL_SIZE, 1)?,
            dashboard: pool(DASHBOARD_POOL_SIZE, 0)?,
            down,
            place,
        };
        let missing = storage.read(|db| {
            Ok(db
                .query(
                    "SELECT id FROM teams WHERE 'team:' || id NOT IN (SELECT id FROM documents)
                     ORDER BY id",
                    &[],
                )?
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<_>>())
        })?;
        if !missing.is_empty() {
            let now = crate::handlers::sync::now_ms();
            storage.write(|db| {
                for team in &missing {
                    teams::team_doc_in_step(db, team, now)?;
                }
                Ok(())
            })?;
        }
        Ok(storage)
    }

    /// Where the database is (no password).
    pub fn place(&self) -> &str {
        &self.place
    }

    /// A connection from `pool`, waiting up to [`CONNECT_WAIT`] while every one is busy, but
    /// no longer than [`DOWN_WAIT`] once connections cannot be made.
    fn checkout(&self, pool: &Pool) -> StorageResult<r2d2::PooledConnection<Manager>> {
        let started = std::time::Instant::now();
        loop {
            let e = match pool.get_timeout(DOWN_WAIT) {
                Ok(conn) => return Ok(conn),
                Err(e) => e,
            };
            if self.down.load(Ordering::Relaxed) {
                return Err(self.unavailable(e.to_string()));
            }
            if started.elapsed() >= CONNECT_WAIT {
                return Err(self.unavailable(format!(
                    "all {} of this server's connections stayed busy for {} s",
                    pool.max_size(),
                    CONNECT_WAIT.as_secs()
                )));
            }
        }
    }

    fn unavailable(&self, reason: String) -> StorageError {
        StorageError::Unavailable {
            place: self.place.clone(),
            reason,
        }
    }

    /// Runs `attempt` on a connection from `pool`. A pooled connection does not notice, while
    /// idle, that the database restarted or failed over: when `attempt` fails because its
    /// connection is gone, it runs again on another, as long as it had not begun to commit
    /// (`attempt` sets its flag just before). A connection lost while committing leaves the
    /// outcome unknown: that is said as `Unavailable`, for the phone to sync again (a sync
    /// repeated is stored once).
    fn on_live<T>(
        &self,
        pool: &Pool,
        mut attempt: impl FnMut(&mut Conn, &mut bool) -> StorageResult<T>,
    ) -> StorageResult<T> {
        // Every pooled connection may have died with the database, and one more for luck.
        for _ in 0..=POOL_SIZE.max(DASHBOARD_POOL_SIZE) {
            let mut conn = self.checkout(pool)?;
            let mut committing = false;
            match attempt(&mut conn, &mut committing) {
                Err(e) if lost(&conn, &e) => {
                    conn.broken = true;
                    // Until a connection is made again, waits are short.
                    self.down.store(true, Ordering::Relaxed);
                    if committing {
                        return Err(self.unavailable(format!(
                            "the connection was lost while committing ({e})"
                        )));
                    }
                    tracing::debug!("a pooled connection was found closed; trying another");
                }
                out => {
                    if self.down.load(Ordering::Relaxed) {
                        self.down.store(false, Ordering::Relaxed);
                    }
                    return out;
                }
            }
        }
        Err(self.unavailable(
            "every pooled connection was found closed; the database may be restarting".into(),
        ))
    }

    fn read_on<T>(
        &self,
        pool: &Pool,
        mut f: impl FnMut(&mut Db<'_>) -> StorageResult<T>,
    ) -> StorageResult<T> {
        // A read commits nothing: it may always run again.
        self.on_live(pool, |conn, _| {
            let Conn {
                client, statements, ..
            } = conn;
            let tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let mut db = Db {
                session: Session::Tx(tx),
                statements,
            };
            let out = f(&mut db)?;
            db.commit()?;
            Ok(out)
        })
    }

    /// Reads statement by statement, with no transaction around them: for reads of one
    /// statement, or whose statements need not see one snapshot.
    fn read_plain<T>(
        &self,
        mut f: impl FnMut(&mut Db<'_>) -> StorageResult<T>,
    ) -> StorageResult<T> {
        self.on_live(&self.pool, |conn, _| {
            let Conn {
                client, statements, ..
            } = conn;
            f(&mut Db {
                session: Session::Plain(client),
                statements,
            })
        })
    }

    /// Reads in one snapshot.
    pub(crate) fn read<T>(
        &self,
        f: impl FnMut(&mut Db<'_>) -> StorageResult<T>,
    ) -> StorageResult<T> {
        self.read_on(&self.pool, f)
    }

    /// Reads in one snapshot, on one of the dashboard's connections.
    pub(crate) fn read_dashboard<T>(
        &self,
        f: impl FnMut(&mut Db<'_>) -> StorageResult<T>,
    ) -> StorageResult<T> {
        self.read_on(&self.dashboard, f)
    }

    /// Writes in one transaction that moves the change counter; run again (whole) when it lost
    /// a deadlock or serialization race to another server's.
    pub(crate) fn write<T>(
        &self,
        f: impl FnMut(&mut Db<'_>) -> StorageResult<T>,
    ) -> StorageResult<T> {
        self.write_counting(f, |_| true)
    }

    /// Like [`Self::write`], moving the change counter only when `changed` says the result
    /// changed something.
    fn write_counting<T>(
        &self,
        mut f: impl FnMut(&mut Db<'_>) -> StorageResult<T>,
        changed: impl Fn(&T) -> bool,
    ) -> StorageResult<T> {
        self.on_live(&self.pool, |conn, committing| {
            let mut tries = 0;
            loop {
                let Conn {
                    client, statements, ..
                } = &mut *conn;
                *committing = false;
                let out = (|| {
                    let tx = client.transaction()?;
                    let mut db = Db {
                        session: Session::Tx(tx),
                        statements,
                    };
                    let out = f(&mut db)?;
                    if changed(&out) {
                        db.bump_changes()?;
                    }
                    *committing = true;
                    db.commit()?;
                    Ok(out)
                })();
                match out {
                    Err(e) if retryable(&e) && tries + 1 < WRITE_TRIES => {
                        tries += 1;
                        tracing::debug!(tries, "a write lost a race to another's; trying again");
                        std::thread::sleep(Duration::from_millis(
                            (5 << tries.min(6)) + u64::from(std::process::id() % 7),
                        ));
                    }
                    out => return out,
                }
            }
        })
    }
}

/// Whether `e` on `conn` means the connection is gone: closed, or PostgreSQL's notice that it
/// is shutting the connection (SQLSTATE class 57P: an administrator's command, a crash, a start
/// not finished), which may arrive before the connection is seen closed.
fn lost(conn: &Conn, e: &StorageError) -> bool {
    conn.client.is_closed()
        || matches!(e, StorageError::Postgres(e)
            if e.is_closed() || e.code().is_some_and(|c| c.code().starts_with("57P")))
}

fn authenticate_on(db: &mut Db<'_>, token_hash: &[u8; 32]) -> StorageResult<Option<Principal>> {
    let row = db.query_opt(
        "SELECT u.id, u.role, u.team_id FROM tokens t JOIN users u ON u.id = t.user_id
         WHERE t.hash = $1 AND t.revoked_at IS NULL",
        &[&&token_hash[..]],
    )?;
    Ok(row.and_then(|r| {
        Some(Principal {
            user: r.get(0),
            role: Role::parse(r.get(1))?,
            team: r.get(2),
        })
    }))
}

fn grants_on(db: &mut Db<'_>, who: &Principal) -> StorageResult<Grants> {
    let mut grants = Grants::default();
    let rows = match (who.role, &who.team) {
        (Role::Admin, _) => db.query("SELECT id, campaign_id, roster_version FROM turfs", &[])?,
        (Role::Captain, Some(team)) => db.query(
            "SELECT id, campaign_id, roster_version FROM turfs WHERE team_id = $1",
            &[team],
        )?,
        _ => db.query(
            "SELECT t.id, t.campaign_id, t.roster_version FROM assignments a
             JOIN turfs t ON t.id = a.turf_id
             WHERE a.user_id = $1",
            &[&who.user],
        )?,
    };
    for r in rows {
        let turf: String = r.get(0);
        grants
            .rosters
            .insert(turf.clone(), r.get::<_, i64>(2) as u64);
        grants.turfs.insert(turf, r.get(1));
    }
    match (who.role, &who.team) {
        (Role::Admin, _) => {
            for r in db.query("SELECT id FROM teams", &[])? {
                grants.teams.insert(r.get(0));
            }
        }
        (Role::Captain | Role::Canvasser, Some(team)) => {
            grants.teams.insert(team.clone());
            // Each member and every turf they hold or held (history includes what they hold;
            // the union keeps a row written by anything else counted).
            let rows = db.query(
                "SELECT u.id, u.role, h.turf_id FROM users u
                 LEFT JOIN assignment_history h ON h.user_id = u.id
                 WHERE u.team_id = $1 AND u.role IN ('captain', 'canvasser')
                 UNION ALL
                 SELECT u.id, u.role, a.turf_id FROM users u
                 JOIN assignments a ON a.user_id = u.id
                 WHERE u.team_id = $1 AND u.role IN ('captain', 'canvasser')",
                &[team],
            )?;
            let mut captains = Vec::new();
            for r in rows {
                let user: String = r.get(0);
                let turf: Option<String> = r.get(2);
                grants.team.entry(user.clone()).or_default().extend(turf);
                if r.get::<_, &str>(1) == Role::Captain.as_str() {
                    captains.push(user);
                }
            }
            captains.sort();
            captains.dedup();
            if !captains.is_empty() {
                // A captain may write in every turf of the team.
                let team_turfs: Vec<String> = db
                    .query("SELECT id FROM turfs WHERE team_id = $1", &[team])?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
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

/// Replaces a list's door rows with its roster's.
pub(crate) fn write_doors(db: &mut Db<'_>, roster: &Roster) -> StorageResult<()> {
    let turf = roster.turf.as_str();
    db.execute("DELETE FROM turf_doors WHERE turf_id = $1", &[&turf])?;
    let rows = super::common::door_rows(roster);
    let units: Vec<&str> = rows.iter().map(|r| r.0).collect();
    let lats: Vec<Option<f64>> = rows.iter().map(|r| r.1).collect();
    let lons: Vec<Option<f64>> = rows.iter().map(|r| r.2).collect();
    // One statement for the list, not one per door.
    db.execute(
        "INSERT INTO turf_doors (turf_id, unit, lat, lon)
         SELECT $1, d.unit, d.lat, d.lon
         FROM unnest($2::TEXT[], $3::FLOAT8[], $4::FLOAT8[]) AS d (unit, lat, lon)
         ON CONFLICT DO NOTHING",
        &[&turf, &units, &lats, &lons],
    )?;
    Ok(())
}

/// New attempts as the results projection's columns.
#[derive(Default)]
struct ResultColumns {
    turf: Vec<String>,
    attempt: Vec<String>,
    voter: Vec<Option<String>>,
    household: Vec<String>,
    canvasser: Vec<String>,
    device: Vec<String>,
    outcome: Vec<String>,
    answers: Vec<String>,
    note: Vec<Option<String>>,
    recorded_at: Vec<i64>,
    support: Vec<Option<i16>>,
}

impl ResultColumns {
    fn of(attempts: &[&(String, Attempt)]) -> Self {
        // PostgreSQL's text holds no NUL, which a phone's free text may: stored as U+FFFD in
        // the projection (the document keeps the phone's bytes).
        let text = |s: &str| s.replace('\0', "\u{FFFD}");
        let mut c = Self::default();
        for (turf, a) in attempts {
            c.turf.push(text(turf));
            c.attempt.push(text(&a.id.to_string()));
            c.voter.push(a.voter().map(|v| text(&v.to_string())));
            c.household.push(text(a.household.as_str()));
            c.canvasser.push(text(a.canvasser.as_str()));
            c.device.push(text(a.device.as_str()));
            c.outcome.push(text(a.outcome.as_str()));
            c.answers.push(answers_json(a));
            c.note.push(a.note.as_deref().map(text));
            c.recorded_at.push(a.recorded_at);
            c.support.push(support_level(a).map(i16::from));
        }
        c
    }
}

/// Triples as three columns.
fn columns3<'a>(
    rows: impl Iterator<Item = (&'a str, &'a str, &'a str)>,
) -> (Vec<&'a str>, Vec<&'a str>, Vec<&'a str>) {
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    for (a, b, c) in rows {
        out.0.push(a);
        out.1.push(b);
        out.2.push(c);
    }
    out
}

/// Locks a document's row until the transaction ends, and reads its stored heads; `None` if
/// there is no such document.
fn lock_document(db: &mut Db<'_>, id: &str) -> StorageResult<Option<Vec<ChangeHash>>> {
    db.query_opt(
        "SELECT heads FROM documents WHERE id = $1 FOR UPDATE",
        &[&id],
    )?
    .map(|r| heads(r.get(0)))
    .transpose()
}

impl Storage for PgStorage {
    fn shared(&self) -> bool {
        true
    }

    fn change_counter(&self) -> StorageResult<u64> {
        self.read_plain(|db| {
            let row = db.query_one("SELECT sum(value)::BIGINT FROM change_slots", &[])?;
            Ok(row.get::<_, i64>(0) as u64)
        })
    }

    fn admin_epoch(&self) -> StorageResult<u64> {
        self.read_plain(|db| {
            let row = db.query_one("SELECT value FROM admin_epoch WHERE id = 1", &[])?;
            Ok(row.get::<_, i64>(0) as u64)
        })
    }

    fn sync_context(&self, token_hash: &[u8; 32]) -> StorageResult<Option<SyncContext>> {
        // Statement by statement: a token revoked between them is as if revoked a moment later.
        self.read_plain(|db| {
            let Some(principal) = authenticate_on(db, token_hash)? else {
                return Ok(None);
            };
            let grants = grants_on(db, &principal)?;
            Ok(Some(SyncContext { principal, grants }))
        })
    }

    fn authenticate(&self, token_hash: &[u8; 32]) -> StorageResult<Option<Principal>> {
        self.read_plain(|db| authenticate_on(db, token_hash))
    }

    fn grants(&self, who: &Principal) -> StorageResult<Grants> {
        self.read_plain(|db| grants_on(db, who))
    }

    fn device_state(&self, user: &str, device: &[u8]) -> StorageResult<DeviceState> {
        self.read_plain(|db| {
            let mut state = DeviceState::default();
            for r in db.query(
                "SELECT doc_id, acked_heads FROM device_docs WHERE user_id = $1 AND device = $2",
                &[&user, &device],
            )? {
                state.docs.insert(r.get(0), heads(r.get(1))?);
            }
            for r in db.query(
                "SELECT turf_id, version FROM device_rosters WHERE user_id = $1 AND device = $2",
                &[&user, &device],
            )? {
                state.rosters.insert(r.get(0), r.get::<_, i64>(1) as u64);
            }
            Ok(state)
        })
    }

    fn sync_state(&self, user: &str, device: &[u8], doc: &str) -> StorageResult<Option<Vec<u8>>> {
        self.read_plain(|db| {
            Ok(db
                .query_opt(
                    "SELECT sync_state FROM device_docs
                     WHERE user_id = $1 AND device = $2 AND doc_id = $3",
                    &[&user, &device, &doc],
                )?
                .and_then(|r| r.get(0)))
        })
    }

    fn load_document(&self, id: &str) -> StorageResult<Option<StoredDocument>> {
        // One snapshot: a compaction committing between reading the snapshot and the chunks
        // would otherwise hide the chunks it folded from both.
        self.read(|db| {
            let Some(row) = db.query_opt(
                "SELECT snapshot, generation FROM documents WHERE id = $1",
                &[&id],
            )?
            else {
                return Ok(None);
            };
            let chunks = db
                .query("SELECT data FROM chunks WHERE doc_id = $1", &[&id])?
                .iter()
                .map(|r| r.get(0))
                .collect();
            Ok(Some(StoredDocument {
                snapshot: row.get(0),
                chunks,
                generation: row.get::<_, i64>(1) as u64,
            }))
        })
    }

    fn stored_heads(&self, ids: &[String]) -> StorageResult<HashMap<String, Vec<ChangeHash>>> {
        self.read_plain(|db| {
            db.query(
                "SELECT id, heads FROM documents WHERE id = ANY($1)",
                &[&ids],
            )?
            .iter()
            .map(|r| Ok((r.get(0), heads(r.get(1))?)))
            .collect()
        })
    }

    fn roster(&self, turf: &str) -> StorageResult<Option<Roster>> {
        self.read_plain(|db| {
            db.query_opt("SELECT body FROM rosters WHERE turf_id = $1", &[&turf])?
                .map(|r| decode_roster(turf, r.get(0)))
                .transpose()
        })
    }

    fn commit(&self, commit: &Commit) -> StorageResult<()> {
        // Documents in one order on every server, so that two commits never wait on each
        // other's rows in a cycle.
        let mut docs: Vec<&DocWrite> = commit.docs.iter().collect();
        docs.sort_by(|a, b| a.id.cmp(&b.id));
        let mut attempts: Vec<&(String, Attempt)> = commit.attempts.iter().collect();
        attempts.sort_by_cached_key(|(turf, a)| (turf.clone(), a.id.to_string()));
        // Each table's rows as columns, written with one statement (unnest) instead of one per
        // row: a sync is a handful of round trips whatever it carries.
        let results = ResultColumns::of(&attempts);
        let (void_turfs, void_attempts, void_ids) = columns3(
            commit
                .voids
                .iter()
                .map(|(t, a, v)| (t.as_str(), a.as_str(), v.as_str())),
        );
        let acked_docs: Vec<&str> = commit.acked.iter().map(|(d, _)| d.as_str()).collect();
        let acked_heads: Vec<Vec<u8>> = commit
            .acked
            .iter()
            .map(|(_, h)| heads_to_bytes(h))
            .collect();
        let roster_turfs: Vec<&str> = commit.rosters.iter().map(|(t, _)| t.as_str()).collect();
        let roster_versions: Vec<i64> = commit.rosters.iter().map(|(_, v)| *v as i64).collect();
        self.write(|db| {
            // Every document locked first, in order: heads merged with a concurrent writer's,
            // never overwritten, and a team's handovers judged while nobody else changes it.
            let mut merged = Vec::with_capacity(docs.len());
            for doc in &docs {
                let heads = merged_heads(doc, lock_document(db, &doc.id)?);
                let handover = commit
                    .assignments
                    .iter()
                    .any(|r| doc.id.strip_prefix("team:") == Some(r.team.as_str()));
                if handover && heads.len() > doc.heads.len() {
                    // Another server changed the team meanwhile (a stored head this writer
                    // never knew): the handover was judged against a copy without that change,
                    // and the database's assignments must follow the document's merge. Nothing
                    // is stored; the sync runs again.
                    return Err(StorageError::Moved {
                        doc: doc.id.clone(),
                    });
                }
                merged.push(heads);
            }
            let stale = teams::apply_assignments(db, &commit.assignments)?;
            for (doc, heads) in docs.iter().zip(&merged) {
                let hashes: Vec<&[u8]> = doc.changes.iter().map(|(h, _)| &h.0[..]).collect();
                let data: Vec<&[u8]> = doc.changes.iter().map(|(_, d)| d.as_slice()).collect();
                db.execute(
                    "INSERT INTO chunks (doc_id, hash, data)
                     SELECT $1, c.hash, c.data FROM unnest($2::BYTEA[], $3::BYTEA[]) AS c (hash, data)
                     ON CONFLICT DO NOTHING",
                    &[&doc.id, &hashes, &data],
                )?;
                db.execute(
                    "UPDATE documents SET heads = $2 WHERE id = $1",
                    &[&doc.id, &heads_to_bytes(heads)],
                )?;
            }
            // A handover the database had overtaken is undone in the document, on top of the
            // captain's change just stored.
            for team in &stale {
                teams::team_doc_in_step(db, team, commit.now)?;
            }
            if !results.turf.is_empty() {
                let r = &results;
                db.execute(
                    "INSERT INTO results (turf_id, attempt_id, voter_id, household_id,
                         canvasser_id, device, outcome, answers, note, recorded_at, received_at,
                         support, campaign_id, unit)
                     SELECT a.turf, a.attempt, a.voter, a.household, a.canvasser, a.device,
                            a.outcome, a.answers, a.note, a.recorded_at, $11, a.support,
                            t.campaign_id,
                            CASE WHEN t.list_kind = 'call' THEN coalesce(a.voter, a.household)
                                 ELSE a.household END
                     FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[],
                                 $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::BIGINT[],
                                 $12::SMALLINT[])
                          AS a (turf, attempt, voter, household, canvasser, device, outcome,
                                answers, note, recorded_at, support)
                     LEFT JOIN turfs t ON t.id = a.turf
                     ON CONFLICT DO NOTHING",
                    &[
                        &r.turf,
                        &r.attempt,
                        &r.voter,
                        &r.household,
                        &r.canvasser,
                        &r.device,
                        &r.outcome,
                        &r.answers,
                        &r.note,
                        &r.recorded_at,
                        &commit.now,
                        &r.support,
                    ],
                )?;
            }
            if !void_turfs.is_empty() {
                db.execute(
                    "UPDATE results r SET voided_by = v.void
                     FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[]) AS v (turf, attempt, void)
                     WHERE r.turf_id = v.turf AND r.attempt_id = v.attempt",
                    &[&void_turfs, &void_attempts, &void_ids],
                )?;
            }
            if !acked_docs.is_empty() {
                db.execute(
                    "INSERT INTO device_docs (user_id, device, doc_id, acked_heads)
                     SELECT $1, $2, a.doc, a.heads FROM unnest($3::TEXT[], $4::BYTEA[]) AS a (doc, heads)
                     ON CONFLICT (user_id, device, doc_id) DO UPDATE SET acked_heads = excluded.acked_heads",
                    &[&commit.user, &commit.device, &acked_docs, &acked_heads],
                )?;
            }
            for (doc, state) in &commit.sync_states {
                db.execute(
                    "INSERT INTO device_docs (user_id, device, doc_id, acked_heads, sync_state)
                     VALUES ($1, $2, $3, '\\x'::BYTEA, $4)
                     ON CONFLICT (user_id, device, doc_id) DO UPDATE SET sync_state = $4",
                    &[&commit.user, &commit.device, doc, state],
                )?;
            }
            if !roster_turfs.is_empty() {
                db.execute(
                    "INSERT INTO device_rosters (user_id, device, turf_id, version)
                     SELECT $1, $2, r.turf, r.version FROM unnest($3::TEXT[], $4::BIGINT[]) AS r (turf, version)
                     ON CONFLICT (user_id, device, turf_id) DO UPDATE SET version = excluded.version",
                    &[&commit.user, &commit.device, &roster_turfs, &roster_versions],
                )?;
            }
            db.execute(
                "INSERT INTO devices (user_id, device, last_sync_at) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id, device) DO UPDATE SET last_sync_at = $3",
                &[&commit.user, &commit.device, &commit.now],
            )?;
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
        let mut hashes: Vec<&[u8]> = folded.iter().map(|h| &h.0[..]).collect();
        hashes.sort();
        hashes.dedup();
        self.write_counting(
            |db| {
                // Locked first: another server's compaction or write of this document waits, and
                // the chunks counted below are those still stored once it is done.
                let current: Option<i64> = db
                    .query_opt(
                        "SELECT generation FROM documents WHERE id = $1 FOR UPDATE",
                        &[&doc],
                    )?
                    .map(|r| r.get(0));
                if current != Some(generation as i64) {
                    // Another snapshot was written since this one's document was read: it may
                    // hold what this one lacks, even if its chunks were stored again since.
                    return Ok(0);
                }
                let stored: i64 = db
                    .query_one(
                        "SELECT count(*) FROM chunks WHERE doc_id = $1 AND hash = ANY($2)",
                        &[&doc, &hashes],
                    )?
                    .get(0);
                if stored as usize != hashes.len() {
                    // Folded by another writer meanwhile, into a snapshot that may hold what
                    // this one lacks: that one stays.
                    return Ok(0);
                }
                db.execute(
                    "UPDATE documents SET snapshot = $2, generation = generation + 1 WHERE id = $1",
                    &[&doc, &snapshot],
                )?;
                db.execute(
                    "DELETE FROM chunks WHERE doc_id = $1 AND hash = ANY($2)",
                    &[&doc, &hashes],
                )?;
                Ok(folded.len())
            },
            |n| *n > 0,
        )
    }

    fn touch_devices(&self, seen: &[(String, Vec<u8>, i64)], older_than: i64) -> StorageResult<()> {
        // Moves the change counter only when a time was written.
        self.write_counting(
            |db| {
                let mut written = 0;
                for (user, device, at) in seen {
                    written += db.execute(
                        "UPDATE devices SET last_sync_at = $3
                         WHERE user_id = $1 AND device = $2 AND last_sync_at < $3::BIGINT - $4::BIGINT",
                        &[user, device, at, &older_than],
                    )?;
                }
                Ok(written)
            },
            |n| *n > 0,
        )
        .map(|_| ())
    }

    fn chunk_hashes(&self, doc: &str) -> StorageResult<Vec<ChangeHash>> {
        self.read_plain(|db| {
            let mut out = Vec::new();
            for r in db.query("SELECT hash FROM chunks WHERE doc_id = $1", &[&doc])? {
                out.extend(heads(r.get(0))?);
            }
            Ok(out)
        })
    }

    fn add_team(&self, id: &str, name: &str) -> StorageResult<()> {
        self.write(|db| {
            db.execute(
                "INSERT INTO teams (id, name) VALUES ($1, $2)
                 ON CONFLICT (id) DO UPDATE SET name = $2",
                &[&id, &name],
            )?;
            teams::team_doc_in_step(db, id, crate::handlers::sync::now_ms())?;
            Ok(())
        })
    }

    fn add_user(&self, user: &NewUser) -> StorageResult<()> {
        self.write(|db| {
            let before = teams::user_team(db, &user.id)?;
            db.execute(
                "INSERT INTO users (id, name, role, team_id) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET name = $2, role = $3, team_id = $4",
                &[&user.id, &user.name, &user.role.as_str(), &user.team],
            )?;
            teams::teams_in_step(
                db,
                [before.as_deref(), user.team.as_deref()],
                crate::handlers::sync::now_ms(),
            )
        })
    }

    fn add_token(&self, user: &str, id: &str, hash: &[u8; 32], now: i64) -> StorageResult<()> {
        self.write(|db| {
            if db
                .query_opt("SELECT 1 FROM users WHERE id = $1", &[&user])?
                .is_none()
            {
                return Err(StorageError::NotFound {
                    what: "user",
                    id: user.into(),
                });
            }
            db.execute(
                "INSERT INTO tokens (hash, id, user_id, created_at) VALUES ($1, $2, $3, $4)",
                &[&&hash[..], &id, &user, &now],
            )?;
            // A revoked user given a token again is back on their team.
            let reinstated = db.execute(
                "UPDATE users SET revoked_at = NULL WHERE id = $1 AND revoked_at IS NOT NULL",
                &[&user],
            )?;
            if reinstated > 0 {
                let team = teams::user_team(db, user)?;
                teams::teams_in_step(db, [team.as_deref()], now)?;
            }
            Ok(())
        })
    }

    fn revoke_token(&self, id: &str, now: i64) -> StorageResult<bool> {
        self.write(|db| {
            Ok(db.execute(
                "UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                &[&id, &now],
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
        self.write(|db| {
            db.execute(
                "INSERT INTO campaigns (id, name) VALUES ($1, $2)
                 ON CONFLICT (id) DO UPDATE SET name = $2",
                &[&campaign.id.as_str(), &campaign.name],
            )?;
            db.execute(
                "INSERT INTO documents (id, heads, snapshot) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE
                 SET heads = $2, snapshot = $3, generation = documents.generation + 1",
                &[&doc_id, &heads_to_bytes(heads), &doc],
            )?;
            db.execute("DELETE FROM chunks WHERE doc_id = $1", &[&doc_id])?;
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
        self.write(|db| {
            let before = teams::turf_team(db, roster.turf.as_str())?;
            db.execute(
                "INSERT INTO turfs (id, campaign_id, team_id, name, roster_version)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (id) DO UPDATE SET team_id = $3, name = $4, roster_version = $5",
                &[
                    &roster.turf.as_str(),
                    &roster.campaign.as_str(),
                    &team,
                    &roster.name,
                    &(roster.version as i64),
                ],
            )?;
            db.execute(
                "INSERT INTO rosters (turf_id, body) VALUES ($1, $2)
                 ON CONFLICT (turf_id) DO UPDATE SET body = $2",
                &[&roster.turf.as_str(), &encode_roster(roster)],
            )?;
            write_doors(db, roster)?;
            db.execute(
                "INSERT INTO documents (id, heads, snapshot) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&doc_id, &heads_to_bytes(heads), &doc],
            )?;
            teams::teams_in_step(
                db,
                [before.as_deref(), team],
                crate::handlers::sync::now_ms(),
            )
        })
    }

    fn assign(&self, turf: &str, user: &str) -> StorageResult<()> {
        self.write(|db| {
            db.execute(
                "INSERT INTO assignments (turf_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&turf, &user],
            )?;
            db.execute(
                "INSERT INTO assignment_history (turf_id, user_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
                &[&turf, &user],
            )?;
            let team = teams::turf_team(db, turf)?;
            teams::teams_in_step(db, [team.as_deref()], crate::handlers::sync::now_ms())
        })
    }

    fn is_empty(&self) -> StorageResult<bool> {
        self.read(|db| {
            let n: i64 = db.query_one("SELECT count(*) FROM campaigns", &[])?.get(0);
            Ok(n == 0)
        })
    }

    fn results(&self, turf: Option<&str>) -> StorageResult<Vec<ResultRow>> {
        self.read(|db| {
            Ok(db
                .query(
                    "SELECT turf_id, attempt_id, canvasser_id, outcome, recorded_at, voided_by
                     FROM results WHERE $1::TEXT IS NULL OR turf_id = $1
                     ORDER BY turf_id COLLATE \"C\", attempt_id COLLATE \"C\"",
                    &[&turf],
                )?
                .iter()
                .map(|r| ResultRow {
                    turf: r.get(0),
                    attempt: r.get(1),
                    canvasser: r.get(2),
                    outcome: r.get(3),
                    recorded_at: r.get(4),
                    voided_by: r.get(5),
                })
                .collect())
        })
    }
}
