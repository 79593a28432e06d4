//! The server half of sync: given who is asking and their request, ingest what they send (if the
//! rules allow it) and answer with what they lack. Blocking: call it off the async executor.

use crate::storage::{
    Commit, DeviceState, DocWrite, Grants, Principal, Reassignment, Storage, StorageError,
    SyncContext,
};
use automerge::sync::{Message, State, SyncDoc};
use automerge::{AutoCommit, ChangeHash};
use doorstep_core::doc::{
    DocId, DocKind, TeamDoc, TurfDoc, apply_incoming, check_parses, load_doc,
};
use doorstep_core::domain::{Entry, TurfId};
use doorstep_core::sync::wire::{
    self, DocDown, DocUp, DownBody, Identity, Request, Response, UpBody, WireError,
};
use doorstep_core::sync::{
    Rights, Role, change_hashes, check_change_chunks, check_sync_message, check_team_update,
    check_turf_update, hashes, quiet_digest, same_heads,
};
use lru::LruCache;
use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, RwLock};

/// Documents kept loaded.
const CACHED_DOCS: usize = 2_048;
/// Devices whose sync state is kept in memory.
const CACHED_DEVICES: usize = 16_384;
/// Automerge sync sessions kept in memory.
const CACHED_SESSIONS: usize = 4_096;
/// A response stops taking on news past this many bytes and tells the phone to come back.
const RESPONSE_BUDGET: usize = 4 << 20;
/// Chunks per document before they are folded into a snapshot.
const COMPACT_AFTER: usize = 256;

/// Why a sync was refused. Nothing of a refused request is stored.
#[derive(Debug, thiserror::Error)]
pub enum SyncFailure {
    /// No token, or an unknown or revoked one.
    #[error("missing, unknown or revoked token")]
    Unauthorized,
    /// The body is not a valid request.
    #[error("{0}")]
    Malformed(String),
    /// The body is over a size limit once inflated or decoded.
    #[error("{0}")]
    TooLarge(String),
    /// The body speaks another protocol version.
    #[error("{0}")]
    Version(String),
    /// The request names a document the token may not sync.
    #[error("document {doc} is not granted to this token")]
    NotGranted {
        /// The document.
        doc: String,
    },
    /// A change breaks the write rules.
    #[error("the change to {doc} was refused: {reason}")]
    Refused {
        /// The document.
        doc: String,
        /// Why (ids only).
        reason: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What a sync did, for the response and the metrics.
#[derive(Debug, Clone)]
pub struct SyncOutcome {
    /// The encoded response.
    pub response: Vec<u8>,
    /// Attempts newly stored.
    pub attempts: usize,
    /// Documents that received changes.
    pub docs_in: usize,
    /// Documents sent changes.
    pub docs_out: usize,
    /// The device that synced.
    pub device: Vec<u8>,
}

type Shared = Arc<Mutex<Loaded>>;
/// (user, device, document): whose Automerge sync session.
type SessionKey = (String, Vec<u8>, String);
/// (user, device).
type DeviceKey = (String, Vec<u8>);
/// SHA-256 of the token hash and the request bytes.
pub type QuietKey = [u8; 32];
/// (the storage's change counter and this engine's generation, who asked, the answer).
type QuietAnswer = ((u64, u64), Principal, SyncOutcome);

struct Loaded {
    doc: AutoCommit,
    /// Chunks stored since the snapshot.
    chunks: usize,
}

/// The sync engine over a storage.
pub struct Engine<S> {
    storage: S,
    docs: Mutex<LruCache<String, Shared>>,
    sessions: Mutex<LruCache<SessionKey, State>>,
    /// One ingest at a time: validation against the current document and the commit that
    /// stores the result must not interleave with another's.
    ingest: Mutex<()>,
    /// Chunks per document before they are folded into a snapshot.
    compact_after: usize,
    /// Each loaded document's current heads, readable without locking the document.
    heads: RwLock<HashMap<String, Vec<ChangeHash>>>,
    /// What each (user, device) was last sent. Only this engine writes it, so it is kept
    /// write-through instead of read on every heartbeat.
    devices: Mutex<LruCache<DeviceKey, DeviceState>>,
    /// Answers to quiet heartbeats, by token hash and request bytes, with the storage's change
    /// counter they were computed at.
    quiet: Mutex<LruCache<QuietKey, QuietAnswer>>,
    /// Bumped after a commit's effects reach the caches: a quiet answer computed between the
    /// commit and the caches' update is not trusted.
    generation: std::sync::atomic::AtomicU64,
    /// The storage's change counter when the admin epoch was last read, and that epoch.
    admin_seen: Mutex<(u64, u64)>,
    /// Bumped by every flush of the document cache: a document read from storage before a
    /// flush is used once, never cached.
    flushes: std::sync::atomic::AtomicU64,
}

/// How many times a sync is run again when the storage says a team document it judged a
/// handover against moved meanwhile ([`StorageError::Moved`]).
const MOVED_RERUNS: usize = 3;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn cap(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

impl<S: Storage> Engine<S> {
    /// An engine over `storage`.
    pub fn new(storage: S) -> Self {
        Self {
            storage,
            docs: Mutex::new(LruCache::new(cap(CACHED_DOCS))),
            sessions: Mutex::new(LruCache::new(cap(CACHED_SESSIONS))),
            ingest: Mutex::new(()),
            compact_after: COMPACT_AFTER,
            heads: RwLock::new(HashMap::new()),
            devices: Mutex::new(LruCache::new(cap(CACHED_DEVICES))),
            quiet: Mutex::new(LruCache::new(cap(CACHED_DEVICES))),
            generation: std::sync::atomic::AtomicU64::new(0),
            admin_seen: Mutex::new((u64::MAX, 0)),
            flushes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The changes one named document carries up (a sync message's are decoded, and the message
    /// kept in `messages` for the answer), checked and added to `commit` by [`Self::ingest_one`].
    fn ingest_upload(
        &self,
        d: &DocUp,
        rights: &Rights,
        commit: &mut Commit,
        messages: &mut HashMap<String, Message>,
    ) -> Result<Option<AutoCommit>, SyncFailure> {
        let bytes = match &d.body {
            UpBody::Changes(c) if !c.is_empty() => c.clone(),
            UpBody::Sync(m) => {
                let message = Message::decode(m).map_err(|e| {
                    SyncFailure::Malformed(format!("Automerge sync message for {}: {e}", d.id))
                })?;
                check_sync_message(&message).map_err(|e| {
                    SyncFailure::Malformed(format!("Automerge sync message for {}: {e}", d.id))
                })?;
                let changes = message.changes.iter().flatten().copied().collect();
                messages.insert(d.id.clone(), message);
                changes
            }
            _ => return Ok(None),
        };
        if bytes.is_empty() {
            return Ok(None);
        }
        self.ingest_one(&d.id, &bytes, rights, commit)
    }

    /// Checks one document's uploaded changes against the rules on a copy, and adds what they
    /// bring to `commit`. Returns the document with them, or `None` when they add nothing or
    /// build on changes this server lacks (the sync protocol finds those).
    fn ingest_one(
        &self,
        id: &str,
        bytes: &[u8],
        rights: &Rights,
        commit: &mut Commit,
    ) -> Result<Option<AutoCommit>, SyncFailure> {
        let doc_id = DocId::parse(id)
            .ok_or_else(|| SyncFailure::Malformed(format!("'{}' is not a document id", id)))?;
        // Before Automerge parses anything: it would inflate compressed chunks unbounded.
        check_change_chunks(bytes)
            .map_err(|e| SyncFailure::Malformed(format!("changes for {}: {e}", id)))?;
        check_parses(&doc_id, bytes).map_err(|e| SyncFailure::Malformed(e.to_string()))?;
        let shared = self.doc(id)?;
        let mut before = lock(&shared).doc.fork();
        let before_heads = before.get_heads();
        let mut after = before.fork();
        match apply_incoming(&mut after, &doc_id, bytes) {
            Ok(()) => {}
            // It builds on changes this server lacks: the sync protocol sorts it out below.
            Err(doorstep_core::Error::MissingDependencies { .. }) => return Ok(None),
            Err(e) => return Err(SyncFailure::Malformed(e.to_string())),
        }
        if same_heads(&after.get_heads(), &before_heads) {
            return Ok(None);
        }
        let refused = |reason: String| SyncFailure::Refused {
            doc: id.to_owned(),
            reason,
        };
        match doc_id.kind {
            DocKind::Turf => {
                let turf = TurfId(doc_id.id.clone());
                let old = TurfDoc::wrap(std::mem::take(&mut before), doc_id.clone(), &turf)
                    .map_err(|e| SyncFailure::Storage(StorageError::Corrupt(e.to_string())))?;
                let mut new = TurfDoc::wrap(std::mem::take(&mut after), doc_id.clone(), &turf)
                    .map_err(|e| refused(e.to_string()))?;
                let added = check_turf_update(&old, &new, rights).map_err(|r| refused(r.0))?;
                after = std::mem::take(new.automerge());
                for e in added {
                    match e {
                        Entry::Attempt(a) => commit.attempts.push((turf.to_string(), a)),
                        Entry::Void(v) => commit.voids.push((
                            turf.to_string(),
                            v.attempt.to_string(),
                            v.id.to_string(),
                        )),
                    }
                }
            }
            DocKind::Campaign => {
                if rights.role != Role::Admin {
                    return Err(refused("only an admin may change a campaign".into()));
                }
            }
            DocKind::Team => {
                let team = doc_id.id.as_str();
                let old = TeamDoc::wrap(std::mem::take(&mut before), team)
                    .map_err(|e| SyncFailure::Storage(StorageError::Corrupt(e.to_string())))?;
                let mut new = TeamDoc::wrap(std::mem::take(&mut after), team)
                    .map_err(|e| refused(e.to_string()))?;
                let changed = check_team_update(&old, &new, rights).map_err(|r| refused(r.0))?;
                after = std::mem::take(new.automerge());
                for (turf, assignment) in changed {
                    commit.assignments.push(Reassignment {
                        team: team.to_owned(),
                        turf,
                        users: assignment.users,
                        past: assignment.past,
                    });
                }
            }
        }
        let changes = after
            .get_changes(&before_heads)
            .into_iter()
            .map(|c| (c.hash(), c.raw_bytes().to_vec()))
            .collect();
        commit.docs.push(DocWrite {
            id: id.to_owned(),
            changes,
            heads: after.get_heads(),
            before: before_heads,
        });
        Ok(Some(after))
    }

    /// Folds a document's chunks into a snapshot after `chunks` of them (at least 2).
    pub fn with_compact_after(mut self, chunks: usize) -> Self {
        self.compact_after = chunks.max(2);
        self
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The loaded document (from the cache, or storage).
    fn doc(&self, id: &str) -> Result<Shared, SyncFailure> {
        if let Some(d) = lock(&self.docs).get(id) {
            return Ok(d.clone());
        }
        let doc_id = DocId::parse(id)
            .ok_or_else(|| SyncFailure::Malformed(format!("'{id}' is not a document id")))?;
        let flushes = self.flushes.load(std::sync::atomic::Ordering::Acquire);
        let stored = self
            .storage
            .load_document(id)?
            .ok_or_else(|| StorageError::NotFound {
                what: "document",
                id: id.into(),
            })?;
        let doc = load_doc(
            &doc_id,
            stored.snapshot.as_deref().unwrap_or_default(),
            stored.chunks.iter().map(Vec::as_slice),
        )
        .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let mut doc = doc;
        let heads = doc.get_heads();
        let shared = Arc::new(Mutex::new(Loaded {
            doc,
            chunks: stored.chunks.len(),
        }));
        // Another request may have loaded it meanwhile: one copy only, the first one cached.
        let mut docs = lock(&self.docs);
        if let Some(existing) = docs.get(id) {
            return Ok(existing.clone());
        }
        if self.flushes.load(std::sync::atomic::Ordering::Acquire) != flushes {
            // Read before a flush: maybe before the change that caused it. Used, not kept.
            return Ok(shared);
        }
        let evicted = docs.push(id.to_owned(), shared.clone());
        let mut known = self.heads.write().unwrap_or_else(|e| e.into_inner());
        if let Some((evicted, _)) = evicted.filter(|(e, _)| e != id) {
            // Its heads are known no more: read again with the document when next needed, so
            // that they hold what others stored meanwhile.
            known.remove(&evicted);
        }
        known.insert(id.to_owned(), heads);
        Ok(shared)
    }

    /// A document's current heads.
    fn current_heads(&self, id: &str) -> Result<Vec<ChangeHash>, SyncFailure> {
        if let Some(h) = self.heads.read().unwrap_or_else(|e| e.into_inner()).get(id) {
            return Ok(h.clone());
        }
        let shared = self.doc(id)?;
        let heads = lock(&shared).doc.get_heads();
        Ok(heads)
    }

    /// When other servers write the same storage: brings each of these documents that is
    /// cached up to what is stored, so that an answer includes every change any server has
    /// stored. One query for all of them; a document is read again only when its stored heads
    /// name a change the cached copy lacks.
    fn catch_up<'a>(&self, ids: impl IntoIterator<Item = &'a String>) -> Result<(), SyncFailure> {
        if !self.storage.shared() {
            return Ok(());
        }
        let cached: Vec<(String, Shared)> = {
            let docs = lock(&self.docs);
            ids.into_iter()
                .filter_map(|id| docs.peek(id).map(|d| (id.clone(), d.clone())))
                .collect()
        };
        if cached.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = cached.iter().map(|(id, _)| id.clone()).collect();
        let stored = self.storage.stored_heads(&ids)?;
        for (id, shared) in cached {
            let Some(stored) = stored.get(&id) else {
                continue;
            };
            let mut loaded = lock(&shared);
            if stored
                .iter()
                .all(|h| loaded.doc.get_change_by_hash(h).is_some())
            {
                continue;
            }
            let Some(fresh) = self.storage.load_document(&id)? else {
                continue;
            };
            for bytes in fresh.snapshot.iter().chain(fresh.chunks.iter()) {
                loaded
                    .doc
                    .load_incremental(bytes)
                    .map_err(|e| StorageError::Corrupt(format!("{id}: {e}")))?;
            }
            loaded.chunks = fresh.chunks.len();
            let heads = loaded.doc.get_heads();
            drop(loaded);
            self.heads
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id.clone(), heads);
            tracing::debug!(doc = %id, "caught up with changes another server stored");
        }
        Ok(())
    }

    /// What a device was last sent, from memory or storage (always storage when other servers
    /// write it too: the phone may have synced with one of them since).
    fn device_state(&self, key: &DeviceKey) -> Result<DeviceState, SyncFailure> {
        if !self.storage.shared()
            && let Some(state) = lock(&self.devices).get(key)
        {
            return Ok(state.clone());
        }
        let state = self.storage.device_state(&key.0, &key.1)?;
        lock(&self.devices).put(key.clone(), state.clone());
        Ok(state)
    }

    /// Brings the cached device state up to a commit that has been stored.
    fn remember_sent(&self, key: &DeviceKey, commit: &Commit) {
        let mut devices = lock(&self.devices);
        let Some(state) = devices.get_mut(key) else {
            return;
        };
        for (doc, sync) in &commit.sync_states {
            if sync.is_some() {
                state.docs.entry(doc.clone()).or_default();
            }
        }
        for (doc, heads) in &commit.acked {
            state.docs.insert(doc.clone(), heads.clone());
        }
        for (turf, version) in &commit.rosters {
            state.rosters.insert(turf.clone(), *version);
        }
    }

    /// Answers one sync request made with the token whose hash is `token_hash`. `now` is the
    /// server's clock in milliseconds. Returns the user's id with the outcome.
    ///
    /// A quiet heartbeat (nothing sent, nothing to send) is answered from memory as long as
    /// nothing in the storage has changed since the same token sent the same bytes: no token
    /// revoked, no grant changed, no document or device state written, by anyone.
    pub fn sync(
        &self,
        token_hash: &[u8; 32],
        body: &[u8],
        now: i64,
    ) -> Result<(Principal, SyncOutcome), SyncFailure> {
        self.sync_keyed(Self::quiet_key(token_hash, body), token_hash, body, now)
    }

    /// [`Engine::sync`], for a caller that already computed the request's
    /// [`Engine::quiet_key`].
    pub fn sync_keyed(
        &self,
        key: QuietKey,
        token_hash: &[u8; 32],
        body: &[u8],
        now: i64,
    ) -> Result<(Principal, SyncOutcome), SyncFailure> {
        // Read before anything else: an answer computed now is valid for this state at most.
        let counter = self.storage.change_counter()?;
        let version = (
            counter,
            self.generation.load(std::sync::atomic::Ordering::Acquire),
        );
        if let Some(answer) = self.cached_quiet(&key, counter) {
            return Ok(answer);
        }
        self.drop_documents_changed_elsewhere(counter)?;
        let (who, outcome, quiet) = self.sync_uncached(token_hash, body, now)?;
        if quiet {
            lock(&self.quiet).put(key, (version, who.clone(), outcome.clone()));
        }
        Ok((who, outcome))
    }

    /// Drops the cached campaign and team documents when a command changed documents outside
    /// a sync (a campaign applied, a team changed), which the admin epoch tells; read only when
    /// the counter moved.
    fn drop_documents_changed_elsewhere(&self, counter: u64) -> Result<(), SyncFailure> {
        if lock(&self.admin_seen).0 == counter {
            return Ok(());
        }
        // Read without the lock: every sync that sees the counter move reads it at once.
        let epoch = self.storage.admin_epoch()?;
        let mut seen = lock(&self.admin_seen);
        if seen.0 == counter {
            return Ok(());
        }
        if seen.0 != u64::MAX && epoch != seen.1 {
            // Commands change campaign documents (`campaign apply`) and team documents (people
            // and turfs handed around); turf documents stay.
            let changed = |id: &str| id.starts_with("campaign:") || id.starts_with("team:");
            self.flushes
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            let mut docs = lock(&self.docs);
            let stale: Vec<String> = docs
                .iter()
                .map(|(id, _)| id.clone())
                .filter(|id| changed(id))
                .collect();
            for id in &stale {
                docs.pop(id);
            }
            drop(docs);
            self.heads
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|id, _| !changed(id));
            tracing::info!(
                epoch,
                "campaign and team documents changed by a command: dropped from the cache"
            );
        }
        *seen = (counter, epoch);
        Ok(())
    }

    /// Where the quiet answer to this token's request would be kept.
    pub fn quiet_key(token_hash: &[u8; 32], body: &[u8]) -> QuietKey {
        use sha2::{Digest, Sha256};
        Sha256::new()
            .chain_update(token_hash)
            .chain_update(body)
            .finalize()
            .into()
    }

    /// Whether a quiet answer is kept for this key (it may be out of date).
    pub fn has_quiet(&self, key: &QuietKey) -> bool {
        lock(&self.quiet).contains(key)
    }

    /// The kept quiet answer, if the storage's change counter (read after the request arrived)
    /// and this engine's generation are still what they were when it was computed.
    pub fn cached_quiet(&self, key: &QuietKey, counter: u64) -> Option<(Principal, SyncOutcome)> {
        let version = (
            counter,
            self.generation.load(std::sync::atomic::Ordering::Acquire),
        );
        let mut quiet = lock(&self.quiet);
        let (seen, who, outcome) = quiet.get(key)?;
        (*seen == version).then(|| (who.clone(), outcome.clone()))
    }

    fn sync_uncached(
        &self,
        token_hash: &[u8; 32],
        body: &[u8],
        now: i64,
    ) -> Result<(Principal, SyncOutcome, bool), SyncFailure> {
        let request = wire::decode_request(body);
        // Who is asking comes first: a bad token is a 401 whatever the body.
        let context = self
            .storage
            .sync_context(token_hash)?
            .ok_or(SyncFailure::Unauthorized)?;
        let request = request.map_err(|e| match e {
            WireError::TooLarge { .. } => SyncFailure::TooLarge(e.to_string()),
            WireError::Version { .. } => SyncFailure::Version(e.to_string()),
            e => SyncFailure::Malformed(e.to_string()),
        })?;
        let who = context.principal.clone();
        // A handover judged against a team document another server changed meanwhile is run
        // again, on the document caught up with that change (only a shared storage says so: the
        // request is copied for a rerun only there).
        let mut reruns = if self.storage.shared() {
            MOVED_RERUNS
        } else {
            0
        };
        let outcome = loop {
            if reruns == 0 {
                break self.answer(context, request, now);
            }
            reruns -= 1;
            let outcome = self.answer(context.clone(), request.clone(), now);
            if !matches!(
                outcome,
                Err(SyncFailure::Storage(StorageError::Moved { .. }))
            ) {
                break outcome;
            }
        };
        match outcome {
            Ok((outcome, quiet)) => Ok((who, outcome, quiet)),
            Err(failure) => {
                if matches!(
                    failure,
                    SyncFailure::Refused { .. } | SyncFailure::NotGranted { .. }
                ) {
                    // Ids and rule names only: never names, addresses or notes.
                    tracing::warn!(user = %who.user, role = who.role.as_str(), "sync refused: {failure}");
                }
                Err(failure)
            }
        }
    }

    fn answer(
        &self,
        context: SyncContext,
        request: Request,
        now: i64,
    ) -> Result<(SyncOutcome, bool), SyncFailure> {
        let SyncContext {
            principal,
            mut grants,
        } = context;
        let who = &principal;
        let device_key = (who.user.clone(), request.device.clone());
        let device_state = self.device_state(&device_key)?;
        let mut granted = granted_docs(&grants);
        self.catch_up(granted.iter().chain(request.docs.iter().map(|d| &d.id)))?;
        let mut seen = HashSet::new();
        for d in &request.docs {
            if !seen.insert(d.id.as_str()) {
                return Err(SyncFailure::Malformed(format!(
                    "document {} is named twice",
                    d.id
                )));
            }
        }
        // A teammate's records are judged by that teammate's rights (the turfs they hold or
        // held); an admin's by nothing.
        let mut rights = Rights {
            role: who.role,
            user: who.user.clone(),
            team: if who.role == Role::Admin {
                HashMap::new()
            } else {
                grants.team.clone()
            },
        };
        // Turfs this user held and no longer does (handed on by their captain, say): what they
        // recorded there before they knew is still taken, judged like any upload, and
        // acknowledged; nothing else of the turf goes back to them.
        let mut held: HashSet<String> = grants
            .team
            .get(&who.user)
            .into_iter()
            .flatten()
            .map(|turf| format!("turf:{turf}"))
            .filter(|id| !granted.contains(id))
            .collect();
        let mut commit = Commit {
            user: who.user.clone(),
            device: request.device.clone(),
            now,
            ..Commit::default()
        };
        let uploads = request.docs.iter().any(|d| match &d.body {
            UpBody::Changes(c) => !c.is_empty(),
            UpBody::Sync(_) => true,
            UpBody::Have => false,
        });
        let _ingest = uploads.then(|| lock(&self.ingest));

        // Ingest: every upload checked against the rules on a copy; nothing is stored unless all
        // pass. Team documents first: a captain who handed a turf on offline, and then collected
        // the new holder's results there, sends both in one sync, and the results are judged by
        // the assignment that came with them.
        let mut updated: HashMap<String, AutoCommit> = HashMap::new();
        let mut messages: HashMap<String, Message> = HashMap::new();
        let is_team = |d: &&DocUp| d.id.starts_with("team:");
        for d in request
            .docs
            .iter()
            .filter(is_team)
            .filter(|d| granted.contains(&d.id))
        {
            if let Some(after) = self.ingest_upload(d, &rights, &mut commit, &mut messages)? {
                updated.insert(d.id.clone(), after);
            }
        }
        let mut handed: Vec<String> = Vec::new();
        for Reassignment {
            turf, users, past, ..
        } in &commit.assignments
        {
            for user in users.iter().chain(past) {
                rights
                    .team
                    .entry(user.clone())
                    .or_default()
                    .insert(turf.clone());
            }
            if past.contains(&who.user) && !users.contains(&who.user) {
                // Handed on from this user, maybe before the server ever heard they held it:
                // what they recorded there is still taken.
                held.insert(format!("turf:{turf}"));
            }
            if users.contains(&who.user) && !grants.turfs.contains_key(turf) {
                // Handed to this user by the assignment just accepted (their phone carried the
                // captain's change): the turf is theirs in this sync already, so that the turf's
                // document it carries too is taken, and its roster sent.
                granted.insert(format!("turf:{turf}"));
                handed.push(format!("turf:{turf}"));
                if let Some(roster) = self.storage.roster(turf)? {
                    granted.insert(format!("campaign:{}", roster.campaign));
                    grants.rosters.insert(turf.clone(), roster.version);
                    grants
                        .turfs
                        .insert(turf.clone(), roster.campaign.to_string());
                }
            }
        }
        // Caught up like the rest, before anything of them is answered.
        self.catch_up(&handed)?;
        for d in &request.docs {
            // A grant withdrawn since the last sync is not an error: the phone is told below.
            if !granted.contains(&d.id)
                && !device_state.docs.contains_key(&d.id)
                && !held.contains(&d.id)
            {
                return Err(SyncFailure::NotGranted { doc: d.id.clone() });
            }
        }
        for d in request
            .docs
            .iter()
            .filter(|d| !is_team(d))
            .filter(|d| granted.contains(&d.id) || held.contains(&d.id))
        {
            if let Some(after) = self.ingest_upload(d, &rights, &mut commit, &mut messages)? {
                updated.insert(d.id.clone(), after);
            }
        }

        // Answer: what each named document lacks, then news in the rest.
        let mut response = Response {
            identity: Identity {
                user: who.user.clone(),
                role: who.role,
            },
            send_manifest: false,
            more: false,
            rosters: Vec::new(),
            docs: Vec::new(),
            revoked: device_state
                .docs
                .keys()
                .filter(|d| !granted.contains(*d))
                .cloned()
                .collect(),
        };
        response.revoked.sort();
        let mut size = 0usize;
        let named: HashSet<&str> = request.docs.iter().map(|d| d.id.as_str()).collect();
        for d in request.docs.iter().filter(|d| granted.contains(&d.id)) {
            if size > RESPONSE_BUDGET {
                // Its uploads are stored; its answer comes in the next round.
                response.more = true;
                continue;
            }
            let phone_heads = change_hashes(&d.heads);
            let shared;
            let mut guard;
            let doc: &mut AutoCommit = match updated.get_mut(&d.id) {
                Some(doc) => doc,
                None => {
                    shared = self.doc(&d.id)?;
                    guard = lock(&shared);
                    &mut guard.doc
                }
            };
            let heads = doc.get_heads();
            let key = (who.user.clone(), request.device.clone(), d.id.clone());
            if phone_heads
                .iter()
                .all(|h| doc.get_change_by_hash(h).is_some())
            {
                let changes = doc.save_after(&phone_heads);
                size += changes.len();
                commit.acked.push((d.id.clone(), heads.clone()));
                if matches!(d.body, UpBody::Sync(_)) {
                    commit.sync_states.push((d.id.clone(), None));
                    lock(&self.sessions).pop(&key);
                }
                response.docs.push(DocDown {
                    id: d.id.clone(),
                    heads: hashes(&heads),
                    body: DownBody::Changes(changes),
                });
            } else {
                // The phone holds changes this server has never seen and no acknowledged state
                // says which: Automerge's sync protocol finds them.
                // Kept in memory only while this server is the storage's one writer: otherwise
                // the phone may have gone on with another server since.
                let kept = lock(&self.sessions)
                    .pop(&key)
                    .filter(|_| !self.storage.shared());
                let mut state = match kept {
                    Some(s) => s,
                    None => self
                        .storage
                        .sync_state(&who.user, &request.device, &d.id)?
                        .and_then(|b| State::decode(&b).ok())
                        .unwrap_or_default(),
                };
                // A copy: a message's changes that could not be applied must not wait in the
                // cached document's queue, where they would never be stored.
                let mut doc = doc.fork();
                if let Some(message) = messages.remove(&d.id) {
                    doc.sync()
                        .receive_sync_message(&mut state, message)
                        .map_err(|e| {
                            SyncFailure::Malformed(format!(
                                "Automerge sync message for {}: {e}",
                                d.id
                            ))
                        })?;
                }
                let first = doc.sync().generate_sync_message(&mut state);
                let reply = match first {
                    Some(m) => m,
                    None => {
                        // Nothing to say in this session: start a fresh one, which always does.
                        state = State::new();
                        doc.sync()
                            .generate_sync_message(&mut state)
                            .unwrap_or_else(unreachable_message)
                    }
                };
                let reply = reply.encode();
                size += reply.len();
                commit
                    .sync_states
                    .push((d.id.clone(), Some(state.encode())));
                lock(&self.sessions).put(key, state);
                response.docs.push(DocDown {
                    id: d.id.clone(),
                    heads: hashes(&heads),
                    body: DownBody::Sync(reply),
                });
            }
        }

        // A turf held before: its uploads are acknowledged at the phone's own heads once all of
        // them are stored, with none of the server's news. (Telling the phone it lost the turf
        // comes with them: it stops sending the turf once nothing of it is unacknowledged.)
        for d in request
            .docs
            .iter()
            .filter(|d| held.contains(&d.id) && !granted.contains(&d.id))
        {
            if !matches!(&d.body, UpBody::Changes(c) if !c.is_empty())
                && !matches!(&d.body, UpBody::Sync(_))
            {
                continue;
            }
            let phone_heads = change_hashes(&d.heads);
            let stored = match updated.get_mut(&d.id) {
                Some(doc) => phone_heads
                    .iter()
                    .all(|h| doc.get_change_by_hash(h).is_some()),
                None => {
                    let shared = self.doc(&d.id)?;
                    let mut loaded = lock(&shared);
                    phone_heads
                        .iter()
                        .all(|h| loaded.doc.get_change_by_hash(h).is_some())
                }
            };
            if phone_heads.is_empty() || !stored {
                continue;
            }
            commit.acked.push((d.id.clone(), phone_heads));
            if matches!(d.body, UpBody::Sync(_)) {
                commit.sync_states.push((d.id.clone(), None));
                lock(&self.sessions).pop(&(who.user.clone(), request.device.clone(), d.id.clone()));
            }
            response.docs.push(DocDown {
                id: d.id.clone(),
                heads: d.heads.clone(),
                body: DownBody::Changes(Vec::new()),
            });
        }

        let (phone_docs, phone_rosters): (HashMap<String, Vec<ChangeHash>>, HashMap<String, u64>) =
            if request.manifest {
                (
                    request
                        .docs
                        .iter()
                        .map(|d| (d.id.clone(), change_hashes(&d.heads)))
                        .collect(),
                    request
                        .rosters
                        .iter()
                        .map(|r| (r.turf.clone(), r.version))
                        .collect(),
                )
            } else {
                let quiet: Vec<(String, Vec<ChangeHash>)> = device_state
                    .docs
                    .iter()
                    .filter(|(id, _)| !named.contains(id.as_str()) && granted.contains(*id))
                    .map(|(id, h)| (id.clone(), h.clone()))
                    .collect();
                let rosters: Vec<(String, u64)> = device_state
                    .rosters
                    .iter()
                    .filter(|(t, _)| grants.turfs.contains_key(*t))
                    .map(|(t, v)| (t.clone(), *v))
                    .collect();
                if quiet_digest(&quiet, &rosters) != request.quiet {
                    response.send_manifest = true;
                }
                (device_state.docs.clone(), device_state.rosters.clone())
            };
        if !response.send_manifest {
            for turf in grants.turfs.keys().map(String::as_str) {
                let Some(version) = grants.rosters.get(turf) else {
                    continue;
                };
                if phone_rosters.get(turf) == Some(version) {
                    // A manifest tells what the phone holds: remember it, so the next digest
                    // matches.
                    if device_state.rosters.get(turf) != Some(version) {
                        commit.rosters.push((turf.to_owned(), *version));
                    }
                    continue;
                }
                if size > RESPONSE_BUDGET {
                    response.more = true;
                    break;
                }
                if let Some(roster) = self.storage.roster(turf)? {
                    size += roster.households.len() * 64 + roster.voters.len() * 64;
                    commit.rosters.push((turf.to_owned(), roster.version));
                    response.rosters.push(roster);
                }
            }
            let mut ids: Vec<&String> = granted
                .iter()
                .filter(|id| !named.contains(id.as_str()))
                .collect();
            // Campaign documents first: a phone needs the campaign to use any turf. Then the
            // team's, which says who holds what.
            ids.sort_by_key(|id| {
                let rank = if id.starts_with("campaign:") {
                    0
                } else if id.starts_with("team:") {
                    1
                } else {
                    2
                };
                (rank, (*id).clone())
            });
            for id in ids {
                if response.more || size > RESPONSE_BUDGET || response.docs.len() >= wire::MAX_DOCS
                {
                    response.more = true;
                    break;
                }
                if let Some(acked) = phone_docs.get(id)
                    && same_heads(acked, &self.current_heads(id)?)
                {
                    continue;
                }
                let shared = self.doc(id)?;
                let mut loaded = lock(&shared);
                let heads = loaded.doc.get_heads();
                let changes = match phone_docs.get(id) {
                    None => loaded.doc.save(),
                    Some(acked) if !same_heads(acked, &heads) => {
                        let known: Vec<ChangeHash> = acked
                            .iter()
                            .filter(|h| loaded.doc.get_change_by_hash(h).is_some())
                            .copied()
                            .collect();
                        loaded.doc.save_after(&known)
                    }
                    Some(_) => continue,
                };
                size += changes.len();
                commit.acked.push((id.clone(), heads.clone()));
                response.docs.push(DocDown {
                    id: id.clone(),
                    heads: hashes(&heads),
                    body: DownBody::Changes(changes),
                });
            }
        }

        // Nothing came, nothing goes, nothing to remember: the same request gets the same
        // answer until something in the storage changes.
        let quiet = commit.is_empty()
            && response.docs.is_empty()
            && response.rosters.is_empty()
            && !response.send_manifest
            && !response.more;
        if !commit.is_empty() {
            if let Err(e) = self.storage.commit(&commit) {
                lock(&self.devices).pop(&device_key);
                return Err(match e {
                    // The database judged a reassignment the document's rules let through.
                    StorageError::Refused { doc, reason } => SyncFailure::Refused { doc, reason },
                    e => e.into(),
                });
            }
            self.remember_sent(&device_key, &commit);
        }
        let docs_in = updated.len();
        for (id, doc) in updated {
            let written = commit
                .docs
                .iter()
                .find(|w| w.id == id)
                .map_or(0, |w| w.changes.len());
            // The sync is committed: nothing here may fail it.
            let shared = match self.doc(&id) {
                Ok(shared) => shared,
                Err(e) => {
                    tracing::error!(doc = %id, error = %e, "reloading a committed document failed");
                    continue;
                }
            };
            let mut loaded = lock(&shared);
            loaded.doc = doc;
            loaded.chunks += written;
            self.heads
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id.clone(), loaded.doc.get_heads());
            if loaded.chunks >= self.compact_after {
                // The sync is committed: a failed compaction is retried next time, not reported
                // to the phone as a failed sync.
                if let Err(e) = self.compact(&id, &mut loaded) {
                    tracing::error!(doc = %id, error = %e, "compaction failed");
                }
            }
        }
        if !commit.is_empty() {
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
        let docs_out = response
            .docs
            .iter()
            .filter(|d| !matches!(&d.body, DownBody::Changes(c) if c.is_empty()))
            .count();
        Ok((
            SyncOutcome {
                response: wire::encode_response(&response),
                attempts: commit.attempts.len(),
                docs_in,
                docs_out,
                device: request.device.clone(),
            },
            quiet,
        ))
    }

    /// Folds a document's chunks into a new snapshot, deleting exactly the chunks it holds.
    fn compact(&self, id: &str, loaded: &mut Loaded) -> Result<(), StorageError> {
        // The chunks to fold, read before the document: if another writer folds the document
        // after this (a command writing a team's document does), some of them are gone and the
        // storage writes nothing, instead of a snapshot that lacks what that writer folded.
        let chunks = self.storage.chunk_hashes(id)?;
        // The snapshot replaces the stored one: it must hold everything storage holds, whatever
        // this copy missed.
        let Some(stored) = self.storage.load_document(id)? else {
            return Ok(());
        };
        for bytes in stored.snapshot.iter().chain(stored.chunks.iter()) {
            loaded
                .doc
                .load_incremental(bytes)
                .map_err(|e| StorageError::Corrupt(format!("{id}: {e}")))?;
        }
        let folded: Vec<ChangeHash> = chunks
            .into_iter()
            .filter(|h| loaded.doc.get_change_by_hash(h).is_some())
            .collect();
        if folded.is_empty() {
            return Ok(());
        }
        let snapshot = loaded.doc.save();
        let deleted = self
            .storage
            .compact(id, &snapshot, &folded, stored.generation)?;
        loaded.chunks = loaded.chunks.saturating_sub(deleted);
        tracing::debug!(doc = id, folded = deleted, "compacted");
        Ok(())
    }
}

fn unreachable_message() -> Message {
    // A fresh sync state always yields a first message; this keeps the types honest without
    // a panic if that ever changes.
    Message {
        heads: Vec::new(),
        need: Vec::new(),
        have: Vec::new(),
        changes: automerge::sync::ChunkList::empty(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    }
}

/// Every document a grant covers: its turfs' documents, their campaigns', and its teams'.
fn granted_docs(grants: &Grants) -> HashSet<String> {
    let mut out = HashSet::new();
    for (turf, campaign) in &grants.turfs {
        out.insert(format!("turf:{turf}"));
        out.insert(format!("campaign:{campaign}"));
    }
    for team in &grants.teams {
        out.insert(format!("team:{team}"));
    }
    out
}
