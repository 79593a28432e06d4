//! Server storage behind one trait. SQLite (embedded, the default) implements it here;
//! every method is blocking and is called off the async executor.

mod common;
pub mod conformance;
pub mod dashboard;
pub mod organize;
pub mod postgres;
mod sqlite;

pub use dashboard::Dashboard;
pub use organize::Organize;
pub use postgres::PgStorage;
pub use sqlite::SqliteStorage;

use automerge::ChangeHash;
use doorstep_core::domain::{Attempt, Campaign, Roster};
use doorstep_core::sync::Role;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A storage failure. Never carries personal data.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The PostgreSQL database failed, or could not be reached.
    #[error("PostgreSQL error: {}", postgres_message(.0))]
    Postgres(#[from] ::postgres::Error),
    /// The database could not be reached, or every connection stayed busy.
    #[error(
        "cannot reach the database at {place}: {reason}; check that PostgreSQL is running there and accepts this server"
    )]
    Unavailable {
        /// Where (no password).
        place: String,
        /// Why.
        reason: String,
    },
    /// Stored data could not be read.
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    /// The database was written by a newer Doorstep.
    #[error(
        "the database has schema version {found}, newer than this server's {supported}; run a newer doorstep"
    )]
    TooNew {
        /// The version found.
        found: i64,
        /// The newest this code knows.
        supported: i64,
    },
    /// The input being stored failed part way; nothing of it was stored.
    #[error("{0}; nothing was stored")]
    Input(String),
    /// A sync's write breaks what the database says (an assignment of another team's turf, or
    /// to someone outside the team); nothing of the sync was stored. Ids only.
    #[error("the change to {doc} was refused: {reason}")]
    Refused {
        /// The document whose change is refused.
        doc: String,
        /// Why.
        reason: String,
    },
    /// Another server changed a team document while this sync's handover in it was being
    /// judged against an older copy: nothing was stored; the sync runs again on the current one.
    #[error("{doc} changed on another server meanwhile; nothing was stored, sync again")]
    Moved {
        /// The document.
        doc: String,
    },
    /// A named thing does not exist.
    #[error("{what} '{id}' does not exist")]
    NotFound {
        /// What kind of thing.
        what: &'static str,
        /// Its id.
        id: String,
    },
}

/// Storage result.
pub type StorageResult<T> = Result<T, StorageError>;

/// A PostgreSQL error as messages and logs show it: the server's message and its SQLSTATE, never
/// its detail, which quotes the rows involved (names, notes).
fn postgres_message(e: &::postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => {
            // "error connecting to server" says little without its cause.
            let mut out = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                out.push_str(&format!(": {c}"));
                cause = c.source();
            }
            out
        }
    }
}

/// Who a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User id.
    pub user: String,
    /// Role.
    pub role: Role,
    /// Their team, if any.
    pub team: Option<String>,
}

/// What a user may sync: turf id to campaign id, their team's document, and whose records
/// they may pass on.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Granted turfs and the campaign of each.
    pub turfs: BTreeMap<String, String>,
    /// The current roster version of each granted turf.
    pub rosters: HashMap<String, u64>,
    /// Teams whose document (`team:<id>`) is granted: a member's own team; every team for an
    /// admin.
    pub teams: BTreeSet<String>,
    /// For a captain or canvasser on a team: each member of the team (revoked ones included,
    /// whose earlier records may still be on their teammates' phones) to the turfs that member
    /// may write in: the turfs they hold or held, and for a captain every turf of the team.
    /// A teammate's phone may pass on records judged by these rights. Empty for others.
    pub team: HashMap<String, HashSet<String>>,
}

/// A document as stored.
#[derive(Debug, Clone, Default)]
pub struct StoredDocument {
    /// The compacted snapshot, if any.
    pub snapshot: Option<Vec<u8>>,
    /// Change chunks not folded into the snapshot.
    pub chunks: Vec<Vec<u8>>,
    /// Which snapshot it is: moves with every snapshot written.
    pub generation: u64,
}

/// What the server last sent a device.
#[derive(Debug, Clone, Default)]
pub struct DeviceState {
    /// Document id to the heads the device was sent.
    pub docs: HashMap<String, Vec<ChangeHash>>,
    /// Turf id to the roster version the device was sent.
    pub rosters: HashMap<String, u64>,
}

/// One sync's writes, committed in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    /// The user and device synced.
    pub user: String,
    /// The device.
    pub device: Vec<u8>,
    /// When, in milliseconds.
    pub now: i64,
    /// New changes per document, with the document's heads after them.
    pub docs: Vec<DocWrite>,
    /// New attempts, for the results projection.
    pub attempts: Vec<(String, Attempt)>,
    /// Voids: turf, voided attempt, the void's id.
    pub voids: Vec<(String, String, String)>,
    /// Heads now acknowledged for the device, per document.
    pub acked: Vec<(String, Vec<ChangeHash>)>,
    /// Automerge sync states to keep, per document (`None` clears).
    pub sync_states: Vec<(String, Option<Vec<u8>>)>,
    /// Roster versions now sent to the device.
    pub rosters: Vec<(String, u64)>,
    /// Reassignments carried by team documents. Each turf's assignments become exactly its
    /// users, and each user and past holder is remembered as having held it. Refused unless
    /// the turf is the team's and every user is a live captain or canvasser of the team.
    pub assignments: Vec<Reassignment>,
}

/// One turf handed over in a team document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassignment {
    /// The team.
    pub team: String,
    /// The turf.
    pub turf: String,
    /// Who holds it from now on (sorted).
    pub users: Vec<String>,
    /// Who held it before, as the document carries them (their records on it stay theirs to
    /// pass on): remembered when they are users of the team, ignored otherwise.
    pub past: Vec<String>,
}

impl Commit {
    /// Whether there is anything to write.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
            && self.assignments.is_empty()
            && self.acked.is_empty()
            && self.sync_states.is_empty()
            && self.rosters.is_empty()
    }
}

/// New changes of one document.
#[derive(Debug, Clone)]
pub struct DocWrite {
    /// Document id.
    pub id: String,
    /// (hash, raw change bytes) of each new change.
    pub changes: Vec<(ChangeHash, Vec<u8>)>,
    /// Heads after them.
    pub heads: Vec<ChangeHash>,
    /// The heads of the writer's copy before them. Stored heads that the writer never knew of
    /// (another writer's, made meanwhile) stay heads beside `heads`: nobody's write hides
    /// another's.
    pub before: Vec<ChangeHash>,
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Team, if any.
    pub team: Option<String>,
}

/// One row of the results projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRow {
    /// Turf.
    pub turf: String,
    /// Attempt id.
    pub attempt: String,
    /// Canvasser who recorded it.
    pub canvasser: String,
    /// Outcome code.
    pub outcome: String,
    /// When the phone recorded it.
    pub recorded_at: i64,
    /// The void that cancelled it, if any.
    pub voided_by: Option<String>,
}

/// Who is asking, and what they may sync.
#[derive(Debug, Clone)]
pub struct SyncContext {
    /// Who the token belongs to.
    pub principal: Principal,
    /// What they may sync.
    pub grants: Grants,
}

/// The server's storage.
pub trait Storage: Send + Sync + 'static {
    /// Who a token belongs to and what they may sync; `None` for an unknown or revoked token.
    /// Read on every request, so that a revocation or a new assignment counts at once. An
    /// implementation may read both at once.
    fn sync_context(&self, token_hash: &[u8; 32]) -> StorageResult<Option<SyncContext>> {
        let Some(principal) = self.authenticate(token_hash)? else {
            return Ok(None);
        };
        let grants = self.grants(&principal)?;
        Ok(Some(SyncContext { principal, grants }))
    }
    /// Whether other servers write this storage too: then a server's cached documents and
    /// device states may be behind it, and the sync engine checks them against it before use.
    fn shared(&self) -> bool {
        false
    }
    /// The stored heads of these documents (those that exist): what every server has stored.
    fn stored_heads(&self, ids: &[String]) -> StorageResult<HashMap<String, Vec<ChangeHash>>>;
    /// A number that changes whenever anything in the storage changes, whoever changed it
    /// (this process, another server, the command line). Cheap: read before every sync.
    fn change_counter(&self) -> StorageResult<u64>;
    /// A number bumped by every change to a document made outside a sync (a campaign applied
    /// from the command line): a server drops its cached documents when it changes.
    fn admin_epoch(&self) -> StorageResult<u64>;
    /// The user a token hash belongs to, unless unknown or revoked.
    fn authenticate(&self, token_hash: &[u8; 32]) -> StorageResult<Option<Principal>>;
    /// What a user may sync.
    fn grants(&self, who: &Principal) -> StorageResult<Grants>;
    /// What the server last sent a device.
    fn device_state(&self, user: &str, device: &[u8]) -> StorageResult<DeviceState>;
    /// A device's persisted Automerge sync state for a document.
    fn sync_state(&self, user: &str, device: &[u8], doc: &str) -> StorageResult<Option<Vec<u8>>>;
    /// A document's snapshot and chunks, if it exists.
    fn load_document(&self, id: &str) -> StorageResult<Option<StoredDocument>>;
    /// A turf's current roster.
    fn roster(&self, turf: &str) -> StorageResult<Option<Roster>>;
    /// Writes one sync's results in one transaction: reassignments (refused whole with
    /// [`StorageError::Refused`] unless each turf is the team's and each user a live member of
    /// it), chunks insert-if-absent, heads (merged with any another writer stored meanwhile),
    /// results rows, what the device was sent.
    fn commit(&self, commit: &Commit) -> StorageResult<()>;
    /// Replaces a document's snapshot and deletes exactly the chunks it folded in, returning
    /// how many. `generation` is that of the stored document the snapshot was made from
    /// ([`StoredDocument::generation`]). Writes nothing and returns 0 when `folded` is empty,
    /// when any of them is no longer stored, or when another snapshot was written since that
    /// generation: another writer folded the document meanwhile, into a snapshot that may hold
    /// what this one lacks (even if its chunks were stored again since).
    fn compact(
        &self,
        doc: &str,
        snapshot: &[u8],
        folded: &[ChangeHash],
        generation: u64,
    ) -> StorageResult<usize>;
    /// Records when phones last synced: (user, device, time) for devices that have synced
    /// before (their row exists), where the stored time is more than `older_than` ms older;
    /// otherwise nothing is written.
    fn touch_devices(&self, seen: &[(String, Vec<u8>, i64)], older_than: i64) -> StorageResult<()>;
    /// Chunk hashes of a document not yet folded into its snapshot.
    fn chunk_hashes(&self, doc: &str) -> StorageResult<Vec<ChangeHash>>;

    /// Creates a team (or renames one) and its document.
    fn add_team(&self, id: &str, name: &str) -> StorageResult<()>;
    /// Creates a user (or changes one); their team's document follows (and their former
    /// team's).
    fn add_user(&self, user: &NewUser) -> StorageResult<()>;
    /// Stores a token's hash under a public id. A revoked user given a token is back on their
    /// team.
    fn add_token(&self, user: &str, id: &str, hash: &[u8; 32], now: i64) -> StorageResult<()>;
    /// Revokes a token by its public id; false if there is no such live token.
    fn revoke_token(&self, id: &str, now: i64) -> StorageResult<bool>;
    /// Creates or replaces a campaign with its document.
    fn put_campaign(
        &self,
        campaign: &Campaign,
        doc: &[u8],
        heads: &[ChangeHash],
    ) -> StorageResult<()>;
    /// Creates a turf, or stores a newer roster version of it; creates its document if new.
    /// The documents of its team (and of a team it left) follow.
    fn put_turf(
        &self,
        roster: &Roster,
        team: Option<&str>,
        doc: &[u8],
        heads: &[ChangeHash],
    ) -> StorageResult<()>;
    /// Assigns a turf to a canvasser (who is remembered as having held it); the turf's team's
    /// document follows.
    fn assign(&self, turf: &str, user: &str) -> StorageResult<()>;
    /// Whether any campaign exists.
    fn is_empty(&self) -> StorageResult<bool>;
    /// The results projection, for a turf or all.
    fn results(&self, turf: Option<&str>) -> StorageResult<Vec<ResultRow>>;
}
