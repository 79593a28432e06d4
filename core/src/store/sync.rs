//! The phone half of sync: build a request, apply a response. Sans-IO: the caller moves the
//! bytes (HTTP, a test transport, anything), or hands [`Store::sync_with`] a function that does.

use super::{SERVER_PEER, Store, storage_tx};
use crate::doc::{DocId, DocKind, heads_from_bytes, load_doc};
use crate::domain::TurfId;
use crate::error::{Error, Result};
use crate::sync::wire::{
    DocUp, DownBody, Identity, Request, RosterHave, UpBody, decode_response, encode_request,
};
use crate::sync::{change_hashes, changes_only, hashes, quiet_digest, same_heads};
use automerge::sync::{Message, State, SyncDoc};
use automerge::{AutoCommit, ChangeHash};
use rusqlite::{OptionalExtension, params};
use std::collections::HashSet;

/// What one round of sync did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncReport {
    /// Who the server says this phone's token belongs to.
    pub identity: Option<Identity>,
    /// Whether another round is needed (the server has more, or asked for a manifest, or an
    /// Automerge sync exchange is under way).
    pub again: bool,
    /// Documents that received changes.
    pub docs_changed: usize,
    /// Rosters stored (new or newer versions).
    pub rosters_applied: usize,
    /// Documents this phone holds but may no longer sync.
    pub revoked: Vec<String>,
    /// Documents held back during this sync because the server refused their changes, with
    /// the reason (see [`Store::sync_holding_back`]).
    pub held_back: Vec<(DocId, String)>,
}

/// Why [`Store::sync_with`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError<E> {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] Error),
    /// The transport failed; everything applied so far is kept.
    #[error("sync transport failed: {0}")]
    Transport(E),
}

/// At most this many rounds per [`Store::sync_with`]: enough for a manifest, an Automerge sync
/// exchange and a response that did not fit in one message.
pub const MAX_SYNC_ROUNDS: usize = 12;

/// Something that lends the store for one step at a time: the store itself, or a mutex around
/// it, so that an app's other calls (recording the next knock) need not wait for a slow network.
pub trait LendStore {
    /// Runs `f` with the store.
    fn lend<R>(&mut self, f: impl FnOnce(&mut Store) -> R) -> R;
}

/// The store lent by a plain `&mut`.
struct LentStore<'a>(&'a mut Store);

impl LendStore for LentStore<'_> {
    fn lend<R>(&mut self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(self.0)
    }
}

impl LendStore for Store {
    fn lend<R>(&mut self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(self)
    }
}

impl LendStore for &std::sync::Mutex<Store> {
    fn lend<R>(&mut self, f: impl FnOnce(&mut Store) -> R) -> R {
        // A panic elsewhere while holding the lock leaves SQLite consistent (every write is a
        // transaction), so the store stays usable.
        let mut guard = self
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
}

/// Syncs until done (or [`MAX_SYNC_ROUNDS`]), taking the store only to build a request and to
/// apply a response, never while `send` waits on the network. When the server refuses one
/// document's changes (`refused` reads the document and the reason out of a transport error),
/// that document is held back and the rest syncs; each document at most once, so a refusal
/// that repeats ends the sync with the transport's error.
pub fn sync_rounds<E>(
    store: &mut impl LendStore,
    mut send: impl FnMut(Vec<u8>) -> std::result::Result<Vec<u8>, E>,
    refused: impl Fn(&E) -> Option<(String, String)>,
) -> std::result::Result<SyncReport, SyncError<E>> {
    let mut total = SyncReport::default();
    // Results held back for want of a grant go up once per sync: the server takes what a
    // canvasser recorded in a turf they held (handed on meanwhile), and refuses the rest again.
    store.lend(Store::retry_held)?;
    let mut rounds = 0;
    while rounds < MAX_SYNC_ROUNDS {
        let request = store.lend(Store::sync_request)?;
        let response = match send(request) {
            Ok(response) => response,
            Err(e) => match refused(&e)
                .and_then(|(doc, reason)| DocId::parse(&doc).map(|id| (id, reason)))
            {
                Some((id, reason))
                    if !total.held_back.iter().any(|(h, _)| h == &id)
                        && !store.lend(|s| s.heads(&id))?.is_empty() =>
                {
                    store.lend(|s| s.hold_back(&id, &reason))?;
                    total.held_back.push((id, reason));
                    continue;
                }
                _ => return Err(SyncError::Transport(e)),
            },
        };
        rounds += 1;
        let report = store.lend(|s| s.apply_sync_response(&response))?;
        total.identity = report.identity;
        total.docs_changed += report.docs_changed;
        total.rosters_applied += report.rosters_applied;
        for doc in report.revoked {
            if !total.revoked.contains(&doc) {
                total.revoked.push(doc);
            }
        }
        total.again = report.again;
        if !report.again {
            break;
        }
    }
    Ok(total)
}

/// The hold-back reason of a document the server no longer grants.
pub const REVOKED: &str = "revoked";

impl Store {
    /// Builds the next sync request: every document with news for the server (changes since the
    /// heads it acknowledged), the rest summed up in one digest.
    pub fn sync_request(&mut self) -> Result<Vec<u8>> {
        let manifest = self.manifest_next;
        let mut quiet = Vec::new();
        let mut docs = Vec::new();
        let held: Vec<(DocId, String)> = self.held_back()?;
        let revoked: HashSet<&DocId> = held
            .iter()
            .filter(|(_, reason)| reason == REVOKED)
            .map(|(id, _)| id)
            .collect();
        let held_back: HashSet<&DocId> = held.iter().map(|(id, _)| id).collect();
        for id in self.documents()? {
            if revoked.contains(&id) {
                // No longer this phone's to sync: the server leaves it out of its digest too.
                continue;
            }
            let heads = self.heads(&id)?;
            let (acked, in_sync_protocol) = self.server_state(&id)?;
            if held_back.contains(&id) {
                // Nothing of it goes up; summed as the server last saw it, its news still comes.
                if let Some(acked) = acked {
                    quiet.push((id.to_string(), acked));
                }
                continue;
            }
            let body = match acked {
                // Results the server never acknowledged in a turf it never acknowledged (handed
                // over face to face, or retried after a hold): everything goes up as plain
                // changes (tens of kilobytes), which the server takes even for a turf the user
                // only held, where it answers no sync protocol.
                None if self.retrying.contains(&id) || self.unacked_in(&id)? => {
                    UpBody::Changes(self.export_changes(&id, &[])?)
                }
                Some(acked) if !in_sync_protocol => {
                    if same_heads(&acked, &heads) {
                        if !manifest {
                            quiet.push((id.to_string(), heads));
                            continue;
                        }
                        UpBody::Have
                    } else {
                        let changes = self.export_changes(&id, &acked)?;
                        if changes.is_empty() {
                            UpBody::Have
                        } else {
                            UpBody::Changes(changes)
                        }
                    }
                }
                // No state in common with the server: Automerge's sync protocol finds out.
                _ => match self.generate_sync(&id)? {
                    Some(message) => UpBody::Sync(message),
                    None => UpBody::Have,
                },
            };
            docs.push(DocUp {
                id: id.to_string(),
                heads: hashes(&heads),
                body,
            });
        }
        // Field results first: if the connection drops, what went out is what mattered most.
        docs.sort_by_key(|d| match d.body {
            UpBody::Changes(_) => 0,
            UpBody::Sync(_) => 1,
            UpBody::Have => 2,
        });
        let rosters: Vec<(String, u64)> = self
            .roster_versions()?
            .into_iter()
            .filter(|(turf, _)| !revoked.contains(&DocId::turf(&TurfId(turf.clone()))))
            .collect();
        let request = Request {
            device: self.actor.to_bytes().to_vec(),
            quiet: quiet_digest(&quiet, &rosters),
            manifest,
            docs,
            rosters: if manifest {
                rosters
                    .into_iter()
                    .map(|(turf, version)| RosterHave { turf, version })
                    .collect()
            } else {
                Vec::new()
            },
        };
        Ok(encode_request(&request))
    }

    /// Applies the server's response: rosters, then each document's changes; what the server
    /// acknowledged leaves the outbox. Each step commits on its own, so a failure part-way keeps
    /// what was applied and the next sync picks up the rest.
    pub fn apply_sync_response(&mut self, bytes: &[u8]) -> Result<SyncReport> {
        let protocol = |reason: String| Error::Protocol {
            peer: SERVER_PEER.into(),
            reason,
        };
        let response = decode_response(bytes).map_err(|e| protocol(e.to_string()))?;
        let mut report = SyncReport {
            identity: Some(response.identity.clone()),
            again: response.more || response.send_manifest,
            revoked: response.revoked.clone(),
            ..SyncReport::default()
        };
        match &self.canvasser {
            None => self.sign_in(&response.identity.user.as_str().into())?,
            // Another user's token: applying it would record their knocks under this name.
            Some(c) if c.0 != response.identity.user => {
                return Err(Error::OtherUser {
                    signed_in: c.0.clone(),
                    token_for: response.identity.user.clone(),
                });
            }
            Some(_) => {}
        }
        let role = response.identity.role.as_str();
        if self.role()?.as_deref() != Some(role) {
            self.conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('role', ?1)",
                [role],
            )?;
        }
        for roster in &response.rosters {
            match self.apply_roster(roster) {
                Ok(true) => report.rosters_applied += 1,
                Ok(false) | Err(Error::StaleRoster { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        for doc in &response.revoked {
            if let Some(id) = DocId::parse(doc)
                && !self.heads(&id)?.is_empty()
            {
                self.hold_back(&id, REVOKED)?;
            }
        }
        for doc in &response.docs {
            let id = DocId::parse(&doc.id)
                .ok_or_else(|| protocol(format!("'{}' is not a document id", doc.id)))?;
            // Granted (again): a hold for want of a grant ends when the server sends the document
            // (an acknowledgement of a turf the user only held comes listed as revoked).
            self.retrying.remove(&id);
            if !response.revoked.contains(&doc.id) {
                self.release_revoked(&id)?;
            }
            let heads = change_hashes(&doc.heads);
            match &doc.body {
                DownBody::Changes(changes) => {
                    if self.merge_changes(&id, changes)?.changed {
                        report.docs_changed += 1;
                    }
                    if !self.heads(&id)?.is_empty() {
                        self.acknowledge(SERVER_PEER, &id, &heads)?;
                        self.leave_sync_protocol(&id)?;
                    }
                }
                DownBody::Sync(message) => {
                    if self.receive_sync(&id, message)? {
                        report.docs_changed += 1;
                    }
                    report.again = true;
                }
            }
        }
        self.manifest_next = response.send_manifest;
        Ok(report)
    }

    /// Syncs until done (or [`MAX_SYNC_ROUNDS`]): builds a request, hands it to `send`, applies
    /// what comes back. `send` is the transport: it returns the response's bytes.
    pub fn sync_with<E>(
        &mut self,
        send: impl FnMut(Vec<u8>) -> std::result::Result<Vec<u8>, E>,
    ) -> std::result::Result<SyncReport, SyncError<E>> {
        sync_rounds(&mut LentStore(self), send, |_: &E| None)
    }

    /// Holds a document back from upload after the server refused its changes (a 403 or 422
    /// naming it), so the rest of the phone keeps syncing. Nothing is discarded: its unsynced
    /// results stay in the outbox, and the server's news for it still arrives.
    pub fn hold_back(&mut self, id: &DocId, reason: &str) -> Result<()> {
        self.heads(id)?;
        self.conn
            .prepare_cached(
                "INSERT INTO peer_state (peer, doc_id, acked_heads, refused) VALUES (?1, ?2, x'', ?3)
                 ON CONFLICT (peer, doc_id) DO UPDATE SET refused = ?3",
            )?
            .execute(params![SERVER_PEER, id.to_string(), reason])?;
        Ok(())
    }

    fn release_revoked(&mut self, id: &DocId) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE peer_state SET refused = NULL
                 WHERE peer = ?1 AND doc_id = ?2 AND refused IN (?3, 'not_granted')",
            )?
            .execute(params![SERVER_PEER, id.to_string(), REVOKED])?;
        Ok(())
    }

    /// Syncs like [`Store::sync_with`], and when the server refuses one document's changes
    /// (`refused` reads the document and the reason out of a transport error: a 403 or 422
    /// naming it), holds that document back and syncs the rest. The report lists the refusals met.
    pub fn sync_holding_back<E>(
        &mut self,
        send: impl FnMut(Vec<u8>) -> std::result::Result<Vec<u8>, E>,
        refused: impl Fn(&E) -> Option<(String, String)>,
    ) -> std::result::Result<SyncReport, SyncError<E>> {
        sync_rounds(&mut LentStore(self), send, refused)
    }

    /// Whether a turf holds results the server has not acknowledged.
    fn unacked_in(&self, id: &DocId) -> Result<bool> {
        if id.kind != DocKind::Turf {
            return Ok(false);
        }
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM attempts WHERE turf_id = ?1 AND acked = 0)
                     OR EXISTS (SELECT 1 FROM voids WHERE turf_id = ?1 AND acked = 0)",
            )?
            .query_row([&id.id], |r| r.get(0))?)
    }

    /// Releases, for this sync, the holds for want of a grant (`revoked`, `not_granted`) on
    /// turfs with results the server has not acknowledged: they go up once more.
    pub(crate) fn retry_held(&mut self) -> Result<()> {
        let ids: Vec<String> = self
            .conn
            .prepare_cached(
                "SELECT p.doc_id FROM peer_state p
                 WHERE p.peer = ?1 AND p.refused IN (?2, 'not_granted')
                   AND (EXISTS (SELECT 1 FROM attempts a
                                WHERE 'turf:' || a.turf_id = p.doc_id AND a.acked = 0)
                        OR EXISTS (SELECT 1 FROM voids v
                                   WHERE 'turf:' || v.turf_id = p.doc_id AND v.acked = 0))",
            )?
            .query_map(params![SERVER_PEER, REVOKED], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for doc in ids {
            if let Some(id) = DocId::parse(&doc) {
                self.release_revoked(&id)?;
                self.retrying.insert(id);
            }
        }
        Ok(())
    }

    /// Lets a held-back document upload again (after an organizer changed the rules or roles).
    pub fn release(&mut self, id: &DocId) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE peer_state SET refused = NULL WHERE peer = ?1 AND doc_id = ?2")?
            .execute(params![SERVER_PEER, id.to_string()])?;
        Ok(())
    }

    /// Documents held back from upload, with the server's reason.
    pub fn held_back(&self) -> Result<Vec<(DocId, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT doc_id, refused FROM peer_state
             WHERE peer = ?1 AND refused IS NOT NULL ORDER BY doc_id",
        )?;
        let rows = stmt
            .query_map([SERVER_PEER], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<(String, String)>>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, reason)| DocId::parse(&id).map(|id| (id, reason)))
            .collect())
    }

    /// The heads the server acknowledged for a document, and whether an Automerge sync exchange
    /// is under way for it.
    fn server_state(&self, id: &DocId) -> Result<(Option<Vec<ChangeHash>>, bool)> {
        let row: Option<(Vec<u8>, bool)> = self
            .conn
            .prepare_cached(
                "SELECT acked_heads, sync_state IS NOT NULL FROM peer_state
                 WHERE peer = ?1 AND doc_id = ?2",
            )?
            .query_row(params![SERVER_PEER, id.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        Ok(match row {
            None => (None, false),
            Some((bytes, syncing)) => {
                let heads = heads_from_bytes(&bytes).filter(|h| !h.is_empty());
                (heads, syncing)
            }
        })
    }

    fn roster_versions(&self) -> Result<Vec<(String, u64)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT turf_id, version FROM rosters ORDER BY turf_id")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// A copy of a document as committed, or `None` if the phone does not hold it.
    pub(crate) fn doc_copy(&mut self, id: &DocId) -> Result<Option<AutoCommit>> {
        match id.kind {
            DocKind::Turf => Ok(self
                .stored_turf(&TurfId(id.id.clone()))?
                .map(|mut d| std::mem::take(d.automerge()))),
            DocKind::Campaign | DocKind::Team => match self.read_doc(id)? {
                None => Ok(None),
                Some((snapshot, changes)) => {
                    load_doc(id, &snapshot, changes.iter().map(Vec::as_slice)).map(Some)
                }
            },
        }
    }

    /// The Automerge sync session with the server for a document: in memory while this store is
    /// open, otherwise started from the persisted state.
    fn session(&self, id: &DocId) -> Result<State> {
        if let Some(state) = self.sessions.get(id) {
            return Ok(state.clone());
        }
        let stored: Option<Option<Vec<u8>>> = self
            .conn
            .prepare_cached("SELECT sync_state FROM peer_state WHERE peer = ?1 AND doc_id = ?2")?
            .query_row(params![SERVER_PEER, id.to_string()], |r| r.get(0))
            .optional()?;
        Ok(stored
            .flatten()
            .and_then(|bytes| State::decode(&bytes).ok())
            .unwrap_or_default())
    }

    fn save_session(&mut self, id: &DocId, state: State) -> Result<()> {
        if self.heads(id)?.is_empty() {
            // Nothing held yet: the session lives in memory until the document arrives.
            self.sessions.insert(id.clone(), state);
            return Ok(());
        }
        let tx = storage_tx(&mut self.conn)?;
        tx.prepare_cached(
            "INSERT INTO peer_state (peer, doc_id, acked_heads, sync_state) VALUES (?1, ?2, x'', ?3)
             ON CONFLICT (peer, doc_id) DO UPDATE SET sync_state = ?3",
        )?
        .execute(params![SERVER_PEER, id.to_string(), state.encode()])?;
        tx.commit()?;
        self.sessions.insert(id.clone(), state);
        Ok(())
    }

    fn leave_sync_protocol(&mut self, id: &DocId) -> Result<()> {
        self.sessions.remove(id);
        self.conn
            .prepare_cached(
                "UPDATE peer_state SET sync_state = NULL
                 WHERE peer = ?1 AND doc_id = ?2 AND sync_state IS NOT NULL",
            )?
            .execute(params![SERVER_PEER, id.to_string()])?;
        Ok(())
    }

    fn generate_sync(&mut self, id: &DocId) -> Result<Option<Vec<u8>>> {
        let mut state = self.session(id)?;
        // Each request may be lost: what the session believes it sent is sent again rather
        // than never (the server ignores what it already has).
        state.sent_hashes.clear();
        state.in_flight = false;
        let mut doc = self.doc_copy(id)?.unwrap_or_default();
        let message = doc.sync().generate_sync_message(&mut state);
        // The server takes plain changes only, never a whole saved document.
        let message = message.map(|m| changes_only(&mut doc, m));
        self.save_session(id, state)?;
        Ok(message.map(Message::encode))
    }

    /// Takes in an Automerge sync message: its changes go through the same checks and
    /// projections as any merge, then the session learns what the server has. Returns whether
    /// the document changed.
    fn receive_sync(&mut self, id: &DocId, message: &[u8]) -> Result<bool> {
        let message = Message::decode(message).map_err(|e| Error::Protocol {
            peer: SERVER_PEER.into(),
            reason: format!("Automerge sync message for {id}: {e}"),
        })?;
        let changes: Vec<u8> = message.changes.iter().flatten().copied().collect();
        let mut changed = false;
        if !changes.is_empty() {
            match self.merge_changes(id, &changes) {
                Ok(outcome) => changed = outcome.changed,
                // The server guessed wrong about what this phone holds (its Bloom filter can
                // err); the session asks again for what is missing.
                Err(Error::MissingDependencies { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let mut state = self.session(id)?;
        let mut doc = self.doc_copy(id)?.unwrap_or_default();
        doc.sync()
            .receive_sync_message(&mut state, message)
            .map_err(|e| Error::Protocol {
                peer: SERVER_PEER.into(),
                reason: format!("Automerge sync message for {id}: {e}"),
            })?;
        self.save_session(id, state)?;
        Ok(changed)
    }
}
