//! The phone store: one SQLite file per phone holding rosters, documents and projections.
//!
//! Every call that records something returns only after its SQLite transaction has committed
//! with `synchronous=FULL`: a crash a microsecond later loses nothing. The SQLite file is the
//! source of truth; documents held in memory are a cache, dropped whenever a write fails.

mod account;
mod bundle;
mod local;
mod migrations;
mod project;
mod queries;
mod sealed;
mod sync;
mod team;

pub use bundle::Peer;
pub use local::{LocalReport, LocalSession, LocalSyncError, MAX_LOCAL_ROUNDS, local_sync};
pub use migrations::SCHEMA_VERSION;
pub use queries::{
    AttemptSummary, OutboxItem, OutboxKind, Progress, Status, TurfSummary, WalkHousehold, WalkList,
    WalkVoter,
};
pub use sealed::{CODE_DIGITS, PairError, Sealed, pair, pairing_code};
pub use sync::{LendStore, MAX_SYNC_ROUNDS, REVOKED, SyncError, SyncReport, sync_rounds};
pub use team::{MemberProgress, TeamProgress, TurfProgress};

use crate::doc::{
    CampaignDoc, DocId, DocKind, TurfDoc, apply_incoming, check_parses, heads_from_bytes,
    heads_to_bytes, load_doc,
};
use crate::domain::{
    AddedPerson, Answer, Attempt, AttemptId, Campaign, CampaignId, CanvasserId, DeviceId, Entry,
    HouseholdId, ListKind, Location, MAX_FIELD_BYTES, MAX_NOTE_BYTES, OutcomeCode, QuestionId,
    Roster, Script, Target, Timestamp, TurfId, Void, Voter, VoterId,
};
use crate::error::{Error, Result};
use automerge::{ActorId, ChangeHash};
use project::Derived;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::Arc;

/// By default a document's change chunks are folded into one snapshot after this many commits.
pub const DEFAULT_COMPACT_AFTER: i64 = 256;
/// How many turf documents stay loaded in memory.
const CACHED_TURFS: usize = 4;

/// A knock or call to record.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    /// The turf.
    pub turf: TurfId,
    /// A voter, or the door.
    pub target: Target,
    /// The outcome code, one of the campaign's for this list kind.
    pub outcome: OutcomeCode,
    /// Survey answers.
    pub answers: Vec<(QuestionId, Answer)>,
    /// Free-text note.
    pub note: Option<String>,
    /// The phone's clock, in milliseconds.
    pub recorded_at: Timestamp,
    /// Where, if known.
    pub location: Option<Location>,
}

/// A person met at the door who is not on the roster.
#[derive(Debug, Clone)]
pub struct NewPerson {
    /// The turf.
    pub turf: TurfId,
    /// Their door.
    pub household: HouseholdId,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Phone number, if given.
    pub phone: Option<String>,
    /// The phone's clock, in milliseconds.
    pub recorded_at: Timestamp,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeOutcome {
    /// Whether anything new arrived (false for a duplicate or already-known changes).
    pub changed: bool,
    /// The document's heads afterwards.
    pub heads: Vec<ChangeHash>,
}

/// A campaign merge computed and checked, ready to write.
pub(crate) struct PreparedCampaign {
    new: Vec<u8>,
    heads: Vec<ChangeHash>,
    wrapped: CampaignDoc,
    body: Option<Campaign>,
}

/// A document as stored: its snapshot (possibly empty) and the change chunks after it.
type StoredDoc = (Vec<u8>, Vec<Vec<u8>>);

struct CachedTurf {
    doc: TurfDoc,
    /// Heads as committed to SQLite; `save_after` of these is what still needs writing.
    saved_heads: Vec<ChangeHash>,
    /// Where its change log stands on disk.
    log: LogPosition,
}

/// Where a document's change log stands on disk, so a commit needs no query to find out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LogPosition {
    /// Whether the `documents` row exists.
    stored: bool,
    /// The highest `seq` written.
    last_seq: i64,
    /// Change rows since the last snapshot.
    pending: i64,
}

impl LogPosition {
    fn read(conn: &Connection, id: &DocId) -> Result<Self> {
        let key = id.to_string();
        let stored = conn
            .prepare_cached("SELECT 1 FROM documents WHERE id = ?1")?
            .query_row([&key], |_| Ok(()))
            .optional()?
            .is_some();
        let (last_seq, pending) = conn
            .prepare_cached(
                "SELECT coalesce(max(seq), 0), count(*) FROM changes WHERE doc_id = ?1",
            )?
            .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(Self {
            stored,
            last_seq,
            pending,
        })
    }
}

/// The phone store.
pub struct Store {
    conn: Connection,
    actor: ActorId,
    device: DeviceId,
    turfs: HashMap<TurfId, CachedTurf>,
    turf_lru: VecDeque<TurfId>,
    campaigns: HashMap<CampaignId, Arc<Campaign>>,
    /// Campaign and list kind of each turf, from the rosters; cleared when a roster changes.
    contexts: HashMap<TurfId, (CampaignId, ListKind)>,
    /// The canvasser signed in, as stored in `meta`.
    canvasser: Option<CanvasserId>,
    /// Change chunks per document before they are folded into a snapshot.
    compact_after: i64,
    /// Whether the next sync request lists everything held (the server asked for it).
    manifest_next: bool,
    /// Automerge sync sessions with the server, per document, while this store is open.
    sessions: HashMap<DocId, automerge::sync::State>,
    /// Documents whose hold for want of a grant was released for this sync (see
    /// `retry_held`): sent whole when the server never acknowledged them.
    retrying: HashSet<DocId>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("device", &self.device)
            .finish()
    }
}

/// Identifies the file itself (device and inode): a copy restored from a backup is another
/// file, and must not reuse this install's Automerge actor id.
#[cfg(unix)]
fn file_identity(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| format!("{}:{}", m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_identity(_path: &Path) -> Option<String> {
    None
}

fn storage_tx(conn: &mut Connection) -> Result<Transaction<'_>> {
    Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

impl Store {
    /// Opens (creating if needed) the store at `path`, migrating it to the current schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let conn = Connection::open(path)?;
        Self::setup(conn, Some(path))
    }

    /// A store that lives in memory only, for tests and previews.
    pub fn open_in_memory() -> Result<Self> {
        Self::setup(Connection::open_in_memory()?, None)
    }

    fn setup(mut conn: Connection, path: Option<&Path>) -> Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let _: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.set_prepared_statement_cache_capacity(64);
        // Plans chosen once per statement: without this, SQLite re-prepares a cached statement
        // whenever a bound value might change its plan (partial indexes), on every record.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        migrations::migrate_to(&mut conn, SCHEMA_VERSION)?;
        let identity = path.and_then(file_identity);
        let (actor, device) = Self::identity(&mut conn, identity)?;
        let mut store = Self {
            conn,
            actor,
            device,
            turfs: HashMap::new(),
            turf_lru: VecDeque::new(),
            campaigns: HashMap::new(),
            contexts: HashMap::new(),
            canvasser: None,
            compact_after: DEFAULT_COMPACT_AFTER,
            manifest_next: false,
            sessions: HashMap::new(),
            retrying: HashSet::new(),
        };
        store.canvasser = store.read_canvasser()?;
        if store.meta_i64("projections_stale")? == Some(1) {
            store.rebuild_projections()?;
        }
        Ok(store)
    }

    /// Loads the install's actor id, or makes a new one for a new install or a restored copy.
    fn identity(conn: &mut Connection, file: Option<String>) -> Result<(ActorId, DeviceId)> {
        let tx = storage_tx(conn)?;
        let get = |key: &str| -> Result<Option<Vec<u8>>> {
            Ok(tx
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?)
        };
        let stored_actor = get("actor")?;
        let stored_file = get("file_identity")?.and_then(|b| String::from_utf8(b).ok());
        let restored = match (&file, &stored_file) {
            (Some(now), Some(then)) => now != then,
            _ => false,
        };
        let actor = match stored_actor {
            Some(bytes) if !restored => ActorId::from(bytes.as_slice()),
            _ => {
                let actor = ActorId::random();
                tx.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('actor', ?1)",
                    [actor.to_bytes()],
                )?;
                actor
            }
        };
        if let Some(file) = &file
            && stored_file.as_ref() != Some(file)
        {
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('file_identity', ?1)",
                [file.as_bytes()],
            )?;
        }
        tx.commit()?;
        let device = DeviceId(actor.to_hex_string());
        Ok((actor, device))
    }

    fn meta_i64(&self, key: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Sets how many change chunks a document accumulates before they are folded into a
    /// snapshot (at least 2). Fewer means smaller files and faster loads, more means cheaper
    /// commits; the default suits turfs of a few hundred attempts.
    pub fn set_compact_after(&mut self, chunks: i64) {
        self.compact_after = chunks.max(2);
    }

    /// This install's device id (renewed when the store is restored from a copy).
    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    /// This install's Automerge actor id.
    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    // ---------------------------------------------------------------- rosters and campaigns

    /// Stores a roster version. A newer version replaces the held one whole (voters gone from it
    /// disappear from the phone); the same version again changes nothing; an older one is refused.
    /// Returns whether anything changed.
    pub fn apply_roster(&mut self, roster: &Roster) -> Result<bool> {
        let turf = roster.turf.as_str().to_owned();
        roster.validate().map_err(|reason| Error::InvalidRoster {
            turf: turf.clone(),
            reason,
        })?;
        let version = i64::try_from(roster.version).map_err(|_| Error::InvalidRoster {
            turf: turf.clone(),
            reason: "version is too large".into(),
        })?;
        let held: Option<u64> = self
            .conn
            .query_row(
                "SELECT version FROM rosters WHERE turf_id = ?1",
                [&turf],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|v| v as u64);
        match held {
            Some(held) if held > roster.version => {
                return Err(Error::StaleRoster {
                    turf,
                    held,
                    offered: roster.version,
                });
            }
            Some(held) if held == roster.version => return Ok(false),
            _ => {}
        }
        self.fold_pending(&roster.turf)?;
        let walk_doc = self.stored_turf(&roster.turf)?;
        let tx = storage_tx(&mut self.conn)?;
        tx.execute("DELETE FROM roster_voters WHERE turf_id = ?1", [&turf])?;
        tx.execute("DELETE FROM roster_households WHERE turf_id = ?1", [&turf])?;
        tx.execute(
            "INSERT INTO rosters (turf_id, campaign_id, version, name, list_kind)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (turf_id) DO UPDATE SET campaign_id = ?2, version = ?3, name = ?4,
                 list_kind = ?5",
            params![
                turf,
                roster.campaign.as_str(),
                version,
                roster.name,
                roster.list_kind.as_str()
            ],
        )?;
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO roster_households (turf_id, household_id, walk_order, street, unit,
                     city, zip, lat, lon)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for h in &roster.households {
                ins.execute(params![
                    turf,
                    h.id.as_str(),
                    h.walk_order,
                    h.address.street,
                    h.address.unit,
                    h.address.city,
                    h.address.zip,
                    h.location.map(|l| l.lat),
                    h.location.map(|l| l.lon),
                ])?;
            }
            let mut ins = tx.prepare_cached(
                "INSERT INTO roster_voters (turf_id, voter_id, household_id, first_name, last_name,
                     age, gender, party, tags, precinct, phone)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for v in &roster.voters {
                ins.execute(params![
                    turf,
                    v.id.as_str(),
                    v.household.as_str(),
                    v.first_name,
                    v.last_name,
                    v.age,
                    v.gender,
                    v.party,
                    serde_json::to_string(&v.tags).unwrap_or_else(|_| "[]".into()),
                    v.precinct,
                    v.phone,
                ])?;
            }
        }
        let order: Vec<(HouseholdId, u32)> = roster
            .households
            .iter()
            .map(|h| (h.id.clone(), h.walk_order))
            .collect();
        match &walk_doc {
            // The doors carry statuses and notes from the document.
            Some(doc) => Derived::compute(doc, &order)?.write(&tx, &roster.turf)?,
            None => {
                let walk = project::effective_walk(&[], &order, &Default::default());
                project::insert_doors(&tx, &roster.turf, &walk)?;
            }
        }
        tx.commit()?;
        self.contexts.remove(&roster.turf);
        Ok(true)
    }

    /// The campaign a turf belongs to and the turf's list kind: what a screen needs to offer
    /// the right outcome codes and questions.
    pub fn turf_campaign(&mut self, turf: &TurfId) -> Result<(Arc<Campaign>, ListKind)> {
        let (campaign, kind) = self.turf_context(turf)?;
        Ok((self.campaign(&campaign)?, kind))
    }

    /// The campaign, from the campaign document this phone holds.
    pub fn campaign(&mut self, id: &CampaignId) -> Result<Arc<Campaign>> {
        if let Some(c) = self.campaigns.get(id) {
            return Ok(c.clone());
        }
        let body: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT body FROM campaigns WHERE id = ?1",
                [id.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        let body = body.ok_or_else(|| Error::UnknownCampaign {
            campaign: id.to_string(),
        })?;
        let campaign =
            crate::doc::codec::decode_campaign(&body).map_err(|e| Error::CorruptDocument {
                doc: DocId::campaign(id).to_string(),
                reason: e.to_string(),
            })?;
        let campaign = Arc::new(campaign);
        self.campaigns.insert(id.clone(), campaign.clone());
        Ok(campaign)
    }

    /// The turf's campaign id and list kind, from its roster.
    fn turf_context(&mut self, turf: &TurfId) -> Result<(CampaignId, ListKind)> {
        if let Some(c) = self.contexts.get(turf) {
            return Ok(c.clone());
        }
        let context = self
            .conn
            .prepare_cached("SELECT campaign_id, list_kind FROM rosters WHERE turf_id = ?1")?
            .query_row([turf.as_str()], |r| {
                Ok((CampaignId(r.get(0)?), r.get::<_, String>(1)?))
            })
            .optional()?
            .map(|(c, k)| (c, ListKind::parse(&k).unwrap_or(ListKind::Walk)))
            .ok_or_else(|| Error::UnknownTurf {
                turf: turf.to_string(),
            })?;
        self.contexts.insert(turf.clone(), context.clone());
        Ok(context)
    }

    /// The household of a voter (roster, or added at the door to a household still on the
    /// roster), or checks a household exists.
    fn resolve_target(&self, turf: &TurfId, target: &Target) -> Result<HouseholdId> {
        let t = turf.as_str();
        match target {
            Target::Voter(v) => self
                .conn
                .prepare_cached(
                    "SELECT household_id FROM roster_voters WHERE turf_id = ?1 AND voter_id = ?2
                     UNION ALL
                     SELECT p.household_id FROM added_people p
                       JOIN roster_households h
                         ON h.turf_id = p.turf_id AND h.household_id = p.household_id
                      WHERE p.turf_id = ?1 AND p.id = ?2
                     LIMIT 1",
                )?
                .query_row(params![t, v.as_str()], |r| Ok(HouseholdId(r.get(0)?)))
                .optional()?
                .ok_or_else(|| Error::UnknownVoter {
                    turf: t.to_owned(),
                    voter: v.to_string(),
                }),
            Target::Household(h) => {
                let found: Option<i64> = self
                    .conn
                    .prepare_cached(
                        "SELECT 1 FROM roster_households WHERE turf_id = ?1 AND household_id = ?2",
                    )?
                    .query_row(params![t, h.as_str()], |r| r.get(0))
                    .optional()?;
                match found {
                    Some(_) => Ok(h.clone()),
                    None => Err(Error::UnknownHousehold {
                        turf: t.to_owned(),
                        household: h.to_string(),
                    }),
                }
            }
        }
    }

    fn check_household(&self, turf: &TurfId, household: &HouseholdId) -> Result<()> {
        self.resolve_target(turf, &Target::Household(household.clone()))
            .map(|_| ())
    }

    fn canvasser(&self) -> Result<CanvasserId> {
        self.signed_in()?.ok_or(Error::NotSignedIn)
    }

    // ---------------------------------------------------------------- recording

    /// Records a knock or call. Returns only after it is committed to disk.
    pub fn record_attempt(&mut self, new: NewAttempt) -> Result<Attempt> {
        let canvasser = self.canvasser()?;
        let (campaign_id, list) = self.turf_context(&new.turf)?;
        let household = self.resolve_target(&new.turf, &new.target)?;
        let campaign = self.campaign(&campaign_id)?;
        let outcome =
            campaign
                .outcome(&new.outcome, list)
                .ok_or_else(|| Error::UnknownOutcome {
                    outcome: new.outcome.to_string(),
                    campaign: campaign_id.to_string(),
                    list: list.to_string(),
                })?;
        if !outcome.allows(&new.target) {
            return Err(Error::OutcomeTarget {
                outcome: new.outcome.to_string(),
                expected: match outcome.target {
                    crate::domain::OutcomeTarget::Voter => "a voter",
                    _ => "a household",
                },
                given: match new.target {
                    Target::Voter(_) => "voter",
                    Target::Household(_) => "household",
                },
            });
        }
        let mut asked = HashSet::new();
        for (question, answer) in &new.answers {
            let invalid = |reason: String| Error::InvalidAnswer {
                question: question.to_string(),
                reason,
            };
            let q = campaign
                .question(question)
                .ok_or_else(|| invalid("not a question of this campaign".into()))?;
            if !asked.insert(question) {
                return Err(invalid("answered twice".into()));
            }
            q.check(answer).map_err(invalid)?;
        }
        check_len("note", new.note.as_deref().unwrap_or(""), MAX_NOTE_BYTES)?;
        if let Some(l) = new.location
            && !((-90.0..=90.0).contains(&l.lat) && (-180.0..=180.0).contains(&l.lon))
        {
            return Err(Error::InvalidLocation);
        }
        let attempt = Attempt {
            id: AttemptId::random(),
            target: new.target,
            household,
            outcome: new.outcome,
            answers: new.answers,
            note: new.note.filter(|n| !n.is_empty()),
            canvasser,
            device: self.device.clone(),
            recorded_at: new.recorded_at,
            location: new.location,
        };
        // The attempt's row, with its document entry, is the durable record: one small commit.
        // The entry joins the Automerge document (folded with any others pending) before the
        // document is next read or sent; see `fold_pending`.
        let entry = crate::doc::codec::encode_entry(&Entry::Attempt(attempt.clone()));
        let tx = storage_tx(&mut self.conn)?;
        project::insert_attempt(&tx, &new.turf, &attempt, Some(&entry))?;
        project::bump_status(&tx, &new.turf, &attempt)?;
        tx.commit()?;
        Ok(attempt)
    }

    /// Withdraws an attempt (a mistake, or one corrected by a new attempt). Voiding twice is
    /// harmless.
    pub fn void_attempt(
        &mut self,
        turf: &TurfId,
        attempt: &AttemptId,
        recorded_at: Timestamp,
    ) -> Result<Void> {
        let canvasser = self.canvasser()?;
        let (household, voter) =
            project::attempt_target(&self.conn, turf, attempt)?.ok_or_else(|| {
                Error::UnknownAttempt {
                    turf: turf.to_string(),
                    attempt: attempt.to_string(),
                }
            })?;
        let void = Void {
            id: AttemptId::random(),
            attempt: *attempt,
            canvasser,
            device: self.device.clone(),
            recorded_at,
        };
        let entry = Entry::Void(void.clone());
        self.write_turf(
            turf,
            |doc| doc.append(&entry, recorded_at),
            |tx, _| {
                project::insert_void(tx, turf, &void)?;
                project::refresh_status(tx, turf, voter.as_ref(), &household)
            },
        )?;
        Ok(void)
    }

    /// Adds a person met at the door who is not on the roster.
    pub fn add_person(&mut self, new: NewPerson) -> Result<AddedPerson> {
        let added_by = self.canvasser()?;
        self.turf_context(&new.turf)?;
        self.check_household(&new.turf, &new.household)?;
        if new.first_name.trim().is_empty() && new.last_name.trim().is_empty() {
            return Err(Error::Empty { field: "name" });
        }
        check_len("first name", &new.first_name, MAX_FIELD_BYTES)?;
        check_len("last name", &new.last_name, MAX_FIELD_BYTES)?;
        check_len("phone", new.phone.as_deref().unwrap_or(""), MAX_FIELD_BYTES)?;
        let person = AddedPerson {
            id: VoterId(format!("p-{}", AttemptId::random())),
            household: new.household,
            first_name: new.first_name,
            last_name: new.last_name,
            phone: new.phone,
            added_by,
            device: self.device.clone(),
            recorded_at: new.recorded_at,
        };
        self.write_turf(
            &new.turf,
            |doc| doc.add_person(&person),
            |tx, _| project::insert_person(tx, &new.turf, &person),
        )?;
        Ok(person)
    }

    /// Sets a household's note (gate code, dog); an empty note clears it.
    pub fn set_household_note(
        &mut self,
        turf: &TurfId,
        household: &HouseholdId,
        note: &str,
        recorded_at: Timestamp,
    ) -> Result<()> {
        self.canvasser()?;
        self.turf_context(turf)?;
        self.check_household(turf, household)?;
        check_len("household note", note, MAX_NOTE_BYTES)?;
        self.write_turf(
            turf,
            |doc| doc.set_note(household, note, recorded_at),
            |tx, doc| {
                tx.execute(
                    "UPDATE doors SET note = ?3
                     WHERE turf_id = ?1 AND household_id = ?2 AND voter_id = ''",
                    params![
                        turf.as_str(),
                        household.as_str(),
                        doc.notes().get(household)
                    ],
                )?;
                Ok(())
            },
        )
    }

    /// Marks a door skipped (or not).
    pub fn set_skipped(
        &mut self,
        turf: &TurfId,
        household: &HouseholdId,
        skipped: bool,
        recorded_at: Timestamp,
    ) -> Result<()> {
        self.canvasser()?;
        self.turf_context(turf)?;
        self.check_household(turf, household)?;
        self.write_turf(
            turf,
            |doc| doc.set_skipped(household, skipped, recorded_at),
            |tx, _| {
                tx.execute(
                    "UPDATE doors SET skipped = ?3
                     WHERE turf_id = ?1 AND household_id = ?2 AND voter_id = ''",
                    params![turf.as_str(), household.as_str(), skipped],
                )?;
                Ok(())
            },
        )
    }

    /// Moves a door in the walk order, before `before` or to the end.
    pub fn move_household(
        &mut self,
        turf: &TurfId,
        household: &HouseholdId,
        before: Option<&HouseholdId>,
        recorded_at: Timestamp,
    ) -> Result<()> {
        self.canvasser()?;
        // The server refuses a canvasser's reorder, and everything recorded after it in the
        // same turf would be held back with it: better not to make it.
        if let Some(role) = self.role()?
            && role == "canvasser"
        {
            return Err(Error::NotPermitted {
                role,
                action: "reorder the walk list",
            });
        }
        self.turf_context(turf)?;
        self.check_household(turf, household)?;
        if let Some(b) = before {
            self.check_household(turf, b)?;
            if b == household {
                return Ok(()); // dropped onto itself: nothing moves
            }
        }
        let order = project::roster_order(&self.conn, turf)?;
        self.write_turf(
            turf,
            |doc| {
                let shown: Vec<HouseholdId> =
                    project::effective_walk(&doc.walk(), &order, &Default::default())
                        .into_iter()
                        .map(|(h, _)| h)
                        .collect();
                doc.move_household(household, before, &shown, recorded_at)
            },
            |tx, doc| {
                let walk = project::effective_walk(&doc.walk(), &order, &doc.skipped());
                project::write_positions(tx, turf, &walk)
            },
        )
    }

    /// Applies `edit` to the turf's document and commits the new change together with the
    /// projection updates `project` makes, in one transaction. On any failure the in-memory
    /// document is dropped, so memory never runs ahead of disk.
    fn write_turf(
        &mut self,
        turf: &TurfId,
        mut edit: impl FnMut(&mut TurfDoc) -> Result<()>,
        mut project: impl FnMut(&Transaction<'_>, &TurfDoc) -> Result<()>,
    ) -> Result<()> {
        // Another open store on the same file may have written the document since it was
        // cached: that is detected inside the transaction, the cache dropped, and the write
        // done once more from what is on disk.
        let mut attempt = || -> Result<()> {
            self.fold_pending(turf)?;
            self.write_turf_now(turf, &mut edit, &mut project)
        };
        match attempt() {
            Err(Error::StoreChanged) => attempt(),
            other => other,
        }
    }

    /// Folds the attempts recorded here but not yet in the turf's document into it, as one
    /// Automerge change, and clears their pending entries in the same transaction. Called before
    /// anything reads, edits or sends the document.
    fn fold_pending(&mut self, turf: &TurfId) -> Result<()> {
        let pending: Vec<(String, Vec<u8>)> = self
            .conn
            .prepare_cached(
                "SELECT id, entry FROM attempts WHERE turf_id = ?1 AND entry IS NOT NULL
                 ORDER BY recorded_at, id",
            )?
            .query_map([turf.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        if pending.is_empty() {
            return Ok(());
        }
        let doc = DocId::turf(turf).to_string();
        let mut entries = Vec::with_capacity(pending.len());
        for (_, bytes) in &pending {
            entries.push(crate::doc::codec::decode_entry(bytes).map_err(|e| {
                Error::CorruptDocument {
                    doc: doc.clone(),
                    reason: format!("pending attempt: {e}"),
                }
            })?);
        }
        let at = entries.iter().map(Entry::recorded_at).max().unwrap_or(0);
        self.write_turf_now(
            turf,
            |d| d.append_all(&entries, at),
            |tx, _| {
                let mut clear = tx.prepare_cached(
                    "UPDATE attempts SET entry = NULL
                     WHERE turf_id = ?1 AND id = ?2 AND entry IS NOT NULL",
                )?;
                let mut cleared = 0;
                for (id, _) in &pending {
                    cleared += clear.execute(params![turf.as_str(), id])?;
                }
                // Another open store folded some of them first: appending them again would
                // put them in the document twice.
                if cleared == pending.len() {
                    Ok(())
                } else {
                    Err(Error::StoreChanged)
                }
            },
        )
    }

    /// Turfs with attempts not yet folded into their document.
    fn turfs_with_pending(&self) -> Result<Vec<TurfId>> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT turf_id FROM attempts WHERE entry IS NOT NULL")?;
        let turfs = stmt
            .query_map([], |r| Ok(TurfId(r.get(0)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(turfs)
    }

    /// [`Store::write_turf`] without folding pending attempts first.
    fn write_turf_now(
        &mut self,
        turf: &TurfId,
        mut edit: impl FnMut(&mut TurfDoc) -> Result<()>,
        mut project: impl FnMut(&Transaction<'_>, &TurfDoc) -> Result<()>,
    ) -> Result<()> {
        self.load_turf(turf, true)?;
        let compact_after = self.compact_after;
        let Self { conn, turfs, .. } = self;
        let Some(cached) = turfs.get_mut(turf) else {
            return Err(Error::UnknownTurf {
                turf: turf.to_string(),
            });
        };
        let result = (|| {
            edit(&mut cached.doc)?;
            let heads = cached.doc.heads();
            if !cached.saved_heads.is_empty() && heads == cached.saved_heads {
                return Ok(()); // nothing new (a duplicate merge): nothing to write
            }
            let bytes = new_bytes(&mut cached.doc, &cached.saved_heads);
            let tx = storage_tx(conn)?;
            let id = cached.doc.id().clone();
            if LogPosition::read(&tx, &id)? != cached.log {
                return Err(Error::StoreChanged);
            }
            let mut log = cached.log;
            persist(&tx, &id, &bytes, &heads, &mut log, compact_after, || {
                cached.doc.automerge().save()
            })?;
            project(&tx, &cached.doc)?;
            tx.commit()?;
            cached.saved_heads = heads;
            cached.log = log;
            Ok(())
        })();
        if result.is_err() {
            self.evict(turf);
        }
        result
    }

    // ---------------------------------------------------------------- documents

    /// Reads a turf document from disk, without caching it.
    fn stored_turf(&mut self, turf: &TurfId) -> Result<Option<TurfDoc>> {
        if let Some(c) = self.turfs.get_mut(turf) {
            // The cache never runs ahead of disk: a copy of it is what is stored.
            let copy = c.doc.automerge().fork();
            return TurfDoc::wrap(copy, DocId::turf(turf), turf).map(Some);
        }
        let id = DocId::turf(turf);
        let Some((snapshot, changes)) = self.read_doc(&id)? else {
            return Ok(None);
        };
        TurfDoc::load(
            turf,
            &snapshot,
            changes.iter().map(Vec::as_slice),
            self.actor.clone(),
        )
        .map(Some)
    }

    fn read_doc(&self, id: &DocId) -> Result<Option<StoredDoc>> {
        let key = id.to_string();
        let known: Option<i64> = self
            .conn
            .prepare_cached("SELECT 1 FROM documents WHERE id = ?1")?
            .query_row([&key], |r| r.get(0))
            .optional()?;
        if known.is_none() {
            return Ok(None);
        }
        let snapshot: Vec<u8> = self
            .conn
            .prepare_cached("SELECT data FROM snapshots WHERE doc_id = ?1")?
            .query_row([&key], |r| r.get(0))
            .optional()?
            .unwrap_or_default();
        let changes = self
            .conn
            .prepare_cached("SELECT data FROM changes WHERE doc_id = ?1 ORDER BY seq")?
            .query_map([&key], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<Vec<u8>>>>()?;
        Ok(Some((snapshot, changes)))
    }

    /// Makes sure the turf's document is in the cache: from disk, or (when `create` and the
    /// phone holds the turf's roster) a new one from the shared genesis.
    fn load_turf(&mut self, turf: &TurfId, create: bool) -> Result<()> {
        if self.turfs.contains_key(turf) {
            self.turf_lru.retain(|t| t != turf);
            self.turf_lru.push_back(turf.clone());
            return Ok(());
        }
        let (doc, saved_heads) = match self.stored_turf(turf)? {
            Some(mut doc) => {
                let heads = doc.heads();
                (doc, heads)
            }
            None if create => (TurfDoc::new(turf, self.actor.clone())?, Vec::new()),
            None => {
                return Err(Error::UnknownTurf {
                    turf: turf.to_string(),
                });
            }
        };
        let log = LogPosition::read(&self.conn, &DocId::turf(turf))?;
        while self.turf_lru.len() >= CACHED_TURFS {
            if let Some(old) = self.turf_lru.pop_front() {
                self.turfs.remove(&old);
            }
        }
        self.turfs.insert(
            turf.clone(),
            CachedTurf {
                doc,
                saved_heads,
                log,
            },
        );
        self.turf_lru.push_back(turf.clone());
        Ok(())
    }

    fn evict(&mut self, turf: &TurfId) {
        self.turfs.remove(turf);
        self.turf_lru.retain(|t| t != turf);
    }

    /// The documents this phone holds.
    pub fn documents(&self) -> Result<Vec<DocId>> {
        // A turf whose only news is attempts not yet folded has no document row yet.
        let mut stmt = self.conn.prepare(
            "SELECT id FROM documents
             UNION
             SELECT 'turf:' || turf_id FROM attempts WHERE entry IS NOT NULL
             ORDER BY 1",
        )?;
        let ids = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(ids.iter().filter_map(|s| DocId::parse(s)).collect())
    }

    /// A document's heads as committed (empty if the phone does not hold it).
    pub fn heads(&mut self, id: &DocId) -> Result<Vec<ChangeHash>> {
        if id.kind == DocKind::Turf {
            self.fold_pending(&TurfId(id.id.clone()))?;
        }
        let key = id.to_string();
        let bytes: Option<Vec<u8>> = self
            .conn
            .prepare_cached(
                "SELECT heads FROM (
                     SELECT heads, 1 AS latest, seq FROM changes WHERE doc_id = ?1
                     UNION ALL
                     SELECT heads, 0, 0 FROM documents WHERE id = ?1)
                 ORDER BY latest DESC, seq DESC LIMIT 1",
            )?
            .query_row([&key], |r| r.get(0))
            .optional()?;
        match bytes {
            None => Ok(Vec::new()),
            Some(b) => heads_from_bytes(&b).ok_or_else(|| Error::CorruptDocument {
                doc: key,
                reason: "stored heads are malformed".into(),
            }),
        }
    }

    /// Every change of a document that is not in `since` or its history, as bytes that
    /// [`Store::merge_changes`] on another replica accepts. Empty `since` exports everything.
    pub fn export_changes(&mut self, id: &DocId, since: &[ChangeHash]) -> Result<Vec<u8>> {
        if id.kind == DocKind::Turf {
            self.fold_pending(&TurfId(id.id.clone()))?;
        }
        let Some((snapshot, changes)) = self.read_doc(id)? else {
            return Err(match id.kind {
                DocKind::Turf => Error::UnknownTurf {
                    turf: id.id.clone(),
                },
                DocKind::Campaign => Error::UnknownCampaign {
                    campaign: id.id.clone(),
                },
                DocKind::Team => Error::NoTeam,
            });
        };
        let mut doc = load_doc(id, &snapshot, changes.iter().map(Vec::as_slice))?;
        // Heads the other side has that we do not know say nothing about what it lacks.
        let known: Vec<ChangeHash> = since
            .iter()
            .filter(|h| doc.get_change_by_hash(h).is_some())
            .copied()
            .collect();
        Ok(doc.save_after(&known))
    }

    /// Merges changes from another replica (the output of [`Store::export_changes`], or a
    /// saved document) and updates the projections in the same transaction. Duplicates change
    /// nothing; damaged bytes, or changes whose history is missing, are refused whole.
    pub fn merge_changes(&mut self, id: &DocId, bytes: &[u8]) -> Result<MergeOutcome> {
        if bytes.is_empty() {
            return Ok(MergeOutcome {
                changed: false,
                heads: self.heads(id)?,
            });
        }
        check_parses(id, bytes)?;
        match id.kind {
            DocKind::Turf => self.merge_turf(&TurfId(id.id.clone()), bytes),
            DocKind::Campaign => self.merge_campaign(&CampaignId(id.id.clone()), bytes),
            DocKind::Team => self.merge_team(&id.id, bytes),
        }
    }

    fn merge_turf(&mut self, turf: &TurfId, bytes: &[u8]) -> Result<MergeOutcome> {
        // Refuse bad input before anything is written, folding included.
        self.check_turf_merge(turf, bytes)?;
        let id = DocId::turf(turf);
        let order = project::roster_order(&self.conn, turf)?;
        let mut before = Vec::new();
        // Like any edit: pending attempts are folded in first (the projections are recomputed
        // from the document, which must hold every attempt), and all is one transaction.
        self.write_turf(
            turf,
            |doc| {
                before = doc.heads();
                apply_incoming(doc.automerge(), &id, bytes)?;
                doc.revalidate()
            },
            |tx, doc| Derived::compute(doc, &order)?.write(tx, turf),
        )?;
        let heads = self.heads(&id)?;
        Ok(MergeOutcome {
            changed: heads != before,
            heads,
        })
    }

    /// Applies `bytes` to a copy of the turf's document and checks the result: it parses, its
    /// history is complete, it is this turf's, and its entries decode.
    fn check_turf_merge(&mut self, turf: &TurfId, bytes: &[u8]) -> Result<()> {
        self.trial_turf_merge(turf, bytes).map(|_| ())
    }

    /// The turf's document as held (without attempts not yet folded in) and as it would be
    /// after merging `bytes`, checked as [`Store::check_turf_merge`] does. Nothing is written.
    pub(crate) fn trial_turf_merge(
        &mut self,
        turf: &TurfId,
        bytes: &[u8],
    ) -> Result<(TurfDoc, TurfDoc)> {
        self.load_turf(turf, true)?;
        let Some(cached) = self.turfs.get_mut(turf) else {
            return Err(Error::UnknownTurf {
                turf: turf.to_string(),
            });
        };
        let id = cached.doc.id().clone();
        let before = TurfDoc::wrap(cached.doc.automerge().fork(), id.clone(), turf)?;
        let mut trial = cached.doc.automerge().fork();
        apply_incoming(&mut trial, &id, bytes)?;
        let trial = TurfDoc::wrap(trial, id, turf)?;
        trial.log()?;
        trial.people()?;
        Ok((before, trial))
    }

    /// Everything a campaign merge will write, computed and checked without writing: `None`
    /// when `bytes` bring nothing new.
    pub(crate) fn prepare_campaign_merge(
        &mut self,
        campaign: &CampaignId,
        bytes: &[u8],
    ) -> Result<Option<PreparedCampaign>> {
        let id = DocId::campaign(campaign);
        let (snapshot, changes) = self.read_doc(&id)?.unwrap_or_default();
        let mut doc = load_doc(&id, &snapshot, changes.iter().map(Vec::as_slice))?;
        let before = doc.get_heads();
        apply_incoming(&mut doc, &id, bytes)?;
        let heads = doc.get_heads();
        if heads == before {
            return Ok(None);
        }
        let new = doc.save_after(&before);
        let wrapped = CampaignDoc::load(campaign, &doc.save(), &[])?;
        let body = wrapped.campaign()?;
        if let Some(c) = &body
            && &c.id != campaign
        {
            return Err(Error::CorruptDocument {
                doc: id.to_string(),
                reason: "document belongs to another campaign".into(),
            });
        }
        Ok(Some(PreparedCampaign {
            new,
            heads,
            wrapped,
            body,
        }))
    }

    fn merge_campaign(&mut self, campaign: &CampaignId, bytes: &[u8]) -> Result<MergeOutcome> {
        let id = DocId::campaign(campaign);
        let Some(PreparedCampaign {
            new,
            heads,
            mut wrapped,
            body,
        }) = self.prepare_campaign_merge(campaign, bytes)?
        else {
            return Ok(MergeOutcome {
                changed: false,
                heads: self.heads(&id)?,
            });
        };
        let mut log = LogPosition::read(&self.conn, &id)?;
        let tx = storage_tx(&mut self.conn)?;
        persist(&tx, &id, &new, &heads, &mut log, self.compact_after, || {
            wrapped.automerge().save()
        })?;
        if let Some(c) = &body {
            project::write_campaign(&tx, c)?;
        }
        tx.commit()?;
        self.campaigns.remove(campaign);
        Ok(MergeOutcome {
            changed: true,
            heads,
        })
    }

    /// Records that `peer` holds the document up to `heads`; attempts and voids covered by them
    /// leave the outbox when the peer is the server.
    pub fn acknowledge(&mut self, peer: &str, id: &DocId, heads: &[ChangeHash]) -> Result<()> {
        if id.kind == DocKind::Turf {
            self.fold_pending(&TurfId(id.id.clone()))?;
        }
        let covered: Vec<String> = match id.kind {
            DocKind::Turf if peer == SERVER_PEER => {
                let turf = TurfId(id.id.clone());
                match self.stored_turf(&turf)? {
                    None => Vec::new(),
                    Some(mut doc) => {
                        let known: Vec<ChangeHash> = heads
                            .iter()
                            .filter(|h| doc.automerge().get_change_by_hash(h).is_some())
                            .copied()
                            .collect();
                        if known.is_empty() {
                            Vec::new()
                        } else {
                            doc.at(&known)?
                                .log()?
                                .entries
                                .iter()
                                .map(|e| e.id().to_string())
                                .collect()
                        }
                    }
                }
            }
            _ => Vec::new(),
        };
        let tx = storage_tx(&mut self.conn)?;
        tx.execute(
            "INSERT INTO peer_state (peer, doc_id, acked_heads) VALUES (?1, ?2, ?3)
             ON CONFLICT (peer, doc_id) DO UPDATE SET acked_heads = ?3",
            params![peer, id.to_string(), heads_to_bytes(heads)],
        )?;
        for entry in &covered {
            tx.prepare_cached(
                "UPDATE attempts SET acked = 1 WHERE turf_id = ?1 AND id = ?2 AND acked = 0",
            )?
            .execute([&id.id, entry])?;
            tx.prepare_cached(
                "UPDATE voids SET acked = 1 WHERE turf_id = ?1 AND id = ?2 AND acked = 0",
            )?
            .execute([&id.id, entry])?;
        }
        tx.commit()?;
        Ok(())
    }

    // ---------------------------------------------------------------- projections

    /// Rebuilds every projection from the rosters and documents (after a migration that
    /// changed them, or to repair).
    pub fn rebuild_projections(&mut self) -> Result<()> {
        for turf in self.turfs_with_pending()? {
            self.fold_pending(&turf)?;
        }
        let turfs: Vec<TurfId> = self
            .documents()?
            .into_iter()
            .filter(|d| d.kind == DocKind::Turf)
            .map(|d| TurfId(d.id))
            .collect();
        let mut campaigns = Vec::new();
        for id in self
            .documents()?
            .into_iter()
            .filter(|d| d.kind == DocKind::Campaign)
        {
            let (snapshot, changes) = self.read_doc(&id)?.unwrap_or_default();
            let refs: Vec<&[u8]> = changes.iter().map(Vec::as_slice).collect();
            let doc = CampaignDoc::load(&CampaignId(id.id.clone()), &snapshot, &refs)?;
            if let Some(c) = doc.campaign()? {
                campaigns.push(c);
            }
        }
        let mut derived = Vec::new();
        for turf in &turfs {
            if let Some(doc) = self.stored_turf(turf)? {
                let order = project::roster_order(&self.conn, turf)?;
                derived.push((turf.clone(), Derived::compute(&doc, &order)?));
            }
        }
        let tx = storage_tx(&mut self.conn)?;
        for c in &campaigns {
            project::write_campaign(&tx, c)?;
        }
        let rostered: Vec<TurfId> = tx
            .prepare("SELECT turf_id FROM rosters")?
            .query_map([], |r| Ok(TurfId(r.get(0)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for turf in rostered.iter().filter(|t| !turfs.contains(t)) {
            let order = project::roster_order(&tx, turf)?;
            let walk = project::effective_walk(&[], &order, &Default::default());
            project::insert_doors(&tx, turf, &walk)?;
        }
        for (turf, d) in &derived {
            d.write(&tx, turf)?;
        }
        tx.execute("DELETE FROM meta WHERE key = 'projections_stale'", [])?;
        tx.commit()?;
        self.campaigns.clear();
        self.rebuild_teams()
    }

    /// Compares the stored projections of a turf with what its document and roster imply.
    /// Returns the differences (ids only); empty means consistent.
    pub fn verify_projections(&mut self, turf: &TurfId) -> Result<Vec<String>> {
        self.fold_pending(turf)?;
        let Some(doc) = self.stored_turf(turf)? else {
            return Ok(Vec::new());
        };
        let order = project::roster_order(&self.conn, turf)?;
        let expected = Derived::compute(&doc, &order)?;
        let stored = Derived::read(&self.conn, turf)?;
        Ok(expected.differences(&stored))
    }

    /// The script for a voter, chosen by the voter's audience (the default script for people
    /// added at the door, whose attributes are unknown).
    pub fn script_for(&mut self, turf: &TurfId, voter: &VoterId) -> Result<Option<Script>> {
        let (campaign_id, _) = self.turf_context(turf)?;
        self.resolve_target(turf, &Target::Voter(voter.clone()))?;
        let campaign = self.campaign(&campaign_id)?;
        let attrs = self
            .conn
            .query_row(
                "SELECT household_id, age, gender, party, tags, precinct FROM roster_voters
                 WHERE turf_id = ?1 AND voter_id = ?2",
                params![turf.as_str(), voter.as_str()],
                |r| {
                    Ok(Voter {
                        id: voter.clone(),
                        household: HouseholdId(r.get(0)?),
                        first_name: String::new(),
                        last_name: String::new(),
                        age: r.get(1)?,
                        gender: r.get(2)?,
                        party: r.get(3)?,
                        tags: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                        precinct: r.get(5)?,
                        phone: None,
                    })
                },
            )
            .optional()?;
        Ok(match attrs {
            Some(v) => campaign.script_for(&v).cloned(),
            None => campaign
                .default_script
                .as_ref()
                .and_then(|id| campaign.script(id))
                .cloned(),
        })
    }
}

/// The peer name under which the server's acknowledgements are kept.
pub const SERVER_PEER: &str = "server";

fn check_len(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.len() > max {
        Err(Error::TooLong {
            field,
            len: value.len(),
            max,
        })
    } else {
        Ok(())
    }
}

/// The bytes of what `doc` holds beyond `saved`. After one local edit that is exactly the last
/// local change, whose stored bytes are taken as they are instead of re-encoding a range.
fn new_bytes(doc: &mut TurfDoc, saved: &[ChangeHash]) -> Vec<u8> {
    let am = doc.automerge();
    if let Some(change) = am.get_last_local_change()
        && !saved.is_empty()
        && change.deps().len() == saved.len()
        && change.deps().iter().all(|d| saved.contains(d))
    {
        return change.raw_bytes().to_vec();
    }
    am.save_after(saved)
}

/// Appends a document's new change chunk with the heads after it. Once enough chunks have piled
/// up they are folded, with this one, into a new snapshot. `log` is advanced; the caller keeps
/// the new position only if the transaction commits.
fn persist(
    tx: &Transaction<'_>,
    id: &DocId,
    bytes: &[u8],
    heads: &[ChangeHash],
    log: &mut LogPosition,
    compact_after: i64,
    snapshot: impl FnOnce() -> Vec<u8>,
) -> Result<()> {
    let key = id.to_string();
    if !log.stored {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO documents (id, kind, heads) VALUES (?1, ?2, x'')",
        )?
        .execute(params![key, id.kind.as_str()])?;
        log.stored = true;
    }
    if log.pending + 1 >= compact_after {
        tx.execute(
            "INSERT OR REPLACE INTO snapshots (doc_id, data) VALUES (?1, ?2)",
            params![key, snapshot()],
        )?;
        tx.execute(
            "UPDATE documents SET heads = ?2 WHERE id = ?1",
            params![key, heads_to_bytes(heads)],
        )?;
        tx.execute("DELETE FROM changes WHERE doc_id = ?1", [&key])?;
        // The document is its snapshot alone now; chunks after it count from 1 again.
        log.pending = 0;
        log.last_seq = 0;
    } else if !bytes.is_empty() {
        log.last_seq += 1;
        log.pending += 1;
        tx.prepare_cached(
            "INSERT INTO changes (doc_id, seq, heads, data) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![key, log.last_seq, heads_to_bytes(heads), bytes])?;
    }
    Ok(())
}
