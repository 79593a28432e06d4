//! Local sync: two phones face to face (a captain and a canvasser at the staging location)
//! over any reliable byte stream, with no server in reach.
//!
//! Each phone greets the other with what it holds; then they take turns, each turn carrying
//! Automerge sync protocol messages for every document either may hold, the rosters the other
//! asked for and the rosters it asks for, until two turns in a row say nothing. Both directions
//! travel in one session. What arrives is taken as a bundle is ([`Store::take_from_peer`]):
//! entitlement and write rules first, nothing half-applied. The protocol's state is kept per
//! (peer, document), so a second session with the same phone sends only what is new.
//!
//! Frames on the stream are a little-endian `u32` length, then a message of
//! [`crate::sync::wire`] (`Hello`, then `Round`s).

use super::bundle::{Offered, phone_peer};
use super::{LendStore, Store, storage_tx};
use crate::doc::{DocId, DocKind, heads_to_bytes};
use crate::domain::Timestamp;
use crate::error::{Error, Result};
use crate::sync::wire::{
    Hello, MAX_MESSAGE_BYTES, RosterHave, Round, decode_hello, decode_round, encode_hello,
    encode_round,
};
use crate::sync::{changes_only, check_sync_message};
use automerge::ChangeHash;
use automerge::sync::{Message, State, SyncDoc};
use rusqlite::{OptionalExtension, params};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io::{Read, Write};

/// Most turns one session may take: a session needs a handful; a peer that never stops is cut
/// off (everything taken so far is kept).
pub const MAX_LOCAL_ROUNDS: usize = 64;
/// Most rosters sent in one turn, so that a turn stays well under the message size limit.
const ROSTERS_PER_ROUND: usize = 24;

/// What a local sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalReport {
    /// The other phone's device id.
    pub peer_device: String,
    /// The user signed in on it, as it said.
    pub peer_user: Option<String>,
    /// Documents that received changes here.
    pub docs_changed: usize,
    /// Rosters stored here.
    pub rosters_applied: usize,
    /// Attempts and voids this phone did not hold before.
    pub records_added: usize,
    /// Documents and rosters this phone did not take, with the reason (ids only).
    pub refused: Vec<(String, String)>,
    /// Turns taken, both phones counted.
    pub rounds: usize,
    /// Bytes this phone sent.
    pub bytes_sent: u64,
    /// Bytes it received.
    pub bytes_received: u64,
}

/// One session's state on this side.
pub struct LocalSession {
    peer: String,
    peer_docs: BTreeSet<DocId>,
    peer_rosters: HashMap<String, u64>,
    states: HashMap<DocId, State>,
    dropped: HashSet<DocId>,
    asked: HashSet<String>,
    owed: VecDeque<String>,
    /// Changes received that build on history this phone lacks, per document: kept until that
    /// history arrives, and shown to the protocol so that it asks for the history.
    waiting: HashMap<DocId, Vec<u8>>,
    report: LocalReport,
}

impl Store {
    /// What this phone says first in a local sync.
    pub fn local_hello(&mut self) -> Result<Hello> {
        let docs = self.documents()?.iter().map(DocId::to_string).collect();
        let rosters = self
            .turfs()?
            .into_iter()
            .map(|t| RosterHave {
                turf: t.turf.0,
                version: t.roster_version,
            })
            .collect();
        Ok(Hello {
            device: self.actor.to_bytes().to_vec(),
            user: self.canvasser.as_ref().map(|c| c.0.clone()),
            docs,
            rosters,
        })
    }

    /// Starts a session with the phone that sent `hello`.
    pub fn local_session(&mut self, hello: Hello) -> Result<LocalSession> {
        let device = hex::encode(&hello.device);
        if device == self.device.0 {
            return Err(Error::Protocol {
                peer: "the other phone".into(),
                reason: "it is this same phone (the same install)".into(),
            });
        }
        Ok(LocalSession {
            peer: phone_peer(&device),
            peer_docs: hello.docs.iter().filter_map(|d| DocId::parse(d)).collect(),
            peer_rosters: hello
                .rosters
                .into_iter()
                .map(|r| (r.turf, r.version))
                .collect(),
            states: HashMap::new(),
            dropped: HashSet::new(),
            asked: HashSet::new(),
            owed: VecDeque::new(),
            waiting: HashMap::new(),
            report: LocalReport {
                peer_device: device,
                peer_user: hello.user,
                ..LocalReport::default()
            },
        })
    }

    /// The documents this phone syncs with the peer now: those it holds and those the peer
    /// holds that it may take (a turf only once its roster is here), less those refused.
    fn local_docs(&mut self, session: &LocalSession) -> Result<Vec<DocId>> {
        let mine: BTreeSet<DocId> = self.documents()?.into_iter().collect();
        let (team, entitled) = self.own_entitlement()?;
        let rostered: HashSet<String> = self.turfs()?.into_iter().map(|t| t.turf.0).collect();
        // What this phone holds goes only to a phone that may hold it.
        let theirs = self.lists_for(session.report.peer_user.as_deref())?;
        let mut out: Vec<DocId> = mine
            .iter()
            .filter(|d| theirs.as_ref().is_none_or(|t| t.may_take(d)))
            .cloned()
            .collect();
        for id in session.peer_docs.iter().filter(|d| !mine.contains(*d)) {
            let may = match (&entitled, id.kind) {
                (_, DocKind::Turf) if !rostered.contains(&id.id) => false,
                (None, _) => true,
                (Some((turfs, _)), DocKind::Turf) => turfs.contains(&id.id),
                (Some((_, campaigns)), DocKind::Campaign) => campaigns.contains(&id.id),
                // A team's document: the phone's own, or any while it holds none (its
                // membership is checked when the document arrives).
                (Some(_), DocKind::Team) => team.as_ref().is_none_or(|t| t.id == id.id),
            };
            if may {
                out.push(id.clone());
            }
        }
        out.retain(|d| !session.dropped.contains(d));
        Ok(out)
    }

    /// The rosters to ask the peer for: those of turfs this phone may hold that it lacks (or,
    /// on a phone that never synced with a server, holds in an older version).
    fn local_wants(&mut self, session: &LocalSession) -> Result<Vec<String>> {
        let (_, entitled) = self.own_entitlement()?;
        let held: HashMap<String, u64> = self
            .turfs()?
            .into_iter()
            .map(|t| (t.turf.0, t.roster_version))
            .collect();
        let server_synced = self.role()?.is_some();
        let mut out: Vec<String> = session
            .peer_rosters
            .iter()
            .filter(|(turf, version)| match held.get(*turf) {
                None => true,
                Some(mine) => !server_synced && *mine < **version,
            })
            .filter(|(turf, _)| {
                entitled
                    .as_ref()
                    .is_none_or(|(turfs, _)| turfs.contains(*turf))
            })
            .map(|(turf, _)| turf.clone())
            .filter(|turf| !session.asked.contains(turf))
            .collect();
        out.sort();
        Ok(out)
    }

    /// This phone's next turn.
    pub fn local_round(&mut self, session: &mut LocalSession) -> Result<Round> {
        let mut round = Round {
            want: self.local_wants(session)?,
            ..Round::default()
        };
        session.asked.extend(round.want.iter().cloned());
        while round.rosters.len() < ROSTERS_PER_ROUND {
            let Some(turf) = session.owed.pop_front() else {
                break;
            };
            if let Some(roster) = self.roster(&turf.as_str().into())? {
                round.rosters.push(roster);
            }
        }
        for id in self.local_docs(session)? {
            let mut state = match session.states.remove(&id) {
                Some(state) => state,
                None => self.peer_sync_state(&session.peer, &id)?,
            };
            // What the other phone did not take (history it lacked, say) is offered again until
            // its heads show it: the changes it refused left no trace in this state.
            state.sent_hashes.clear();
            let mut doc = self.doc_copy(&id)?.unwrap_or_default();
            if let Some(waiting) = session.waiting.get(&id) {
                // Queued, not applied: the protocol sees what they build on and asks for it.
                let _ = doc.load_incremental(waiting);
            }
            let message = doc.sync().generate_sync_message(&mut state);
            if let Some(message) = message {
                let message = changes_only(&mut doc, message);
                round.docs.push((id.to_string(), message.encode()));
            }
            session.states.insert(id, state);
        }
        Ok(round)
    }

    /// Takes the peer's turn: rosters asked for are owed, rosters and changes sent are taken
    /// (or refused, and that document no longer synced), and each document's protocol state
    /// learns what the peer has.
    pub fn local_receive(&mut self, session: &mut LocalSession, round: Round) -> Result<()> {
        let protocol = |reason: String| Error::Protocol {
            peer: "the other phone".into(),
            reason,
        };
        let held: HashSet<String> = self.turfs()?.into_iter().map(|t| t.turf.0).collect();
        let theirs = self.lists_for(session.report.peer_user.as_deref())?;
        session.owed.extend(
            round.want.into_iter().filter(|t| {
                held.contains(t) && theirs.as_ref().is_none_or(|l| l.turfs.contains(t))
            }),
        );
        let mut messages = Vec::with_capacity(round.docs.len());
        let mut changes: Vec<(DocId, Vec<u8>)> = Vec::new();
        for (doc, bytes) in &round.docs {
            let id = DocId::parse(doc)
                .ok_or_else(|| protocol(format!("'{doc}' is not a document id")))?;
            let message = Message::decode(bytes)
                .map_err(|e| protocol(format!("Automerge sync message for {id}: {e}")))?;
            check_sync_message(&message)
                .map_err(|e| protocol(format!("Automerge sync message for {id}: {e}")))?;
            if session.dropped.contains(&id) {
                continue;
            }
            // It holds the document now, whether or not its greeting listed it.
            session.peer_docs.insert(id.clone());
            let mut bytes = session.waiting.remove(&id).unwrap_or_default();
            bytes.extend(message.changes.iter().flatten().copied());
            if !bytes.is_empty() {
                changes.push((id.clone(), bytes));
            }
            messages.push((id, message));
        }
        // Changes are judged (entitlement, write rules) where they are taken, team documents
        // first: a reassignment in this very turn can make its turf this phone's.
        let offered: Vec<Offered<'_>> = changes
            .iter()
            .map(|(id, bytes)| Offered {
                id: id.clone(),
                changes: bytes,
            })
            .collect();
        let taken = self.take_from_peer(&round.rosters, &offered)?;
        session.report.docs_changed += taken.docs_changed;
        session.report.rosters_applied += taken.rosters_applied;
        session.report.records_added += taken.records_added;
        let mut refused = HashSet::new();
        for (doc, reason) in taken.refused {
            let Some(id) = DocId::parse(&doc) else {
                continue;
            };
            if taken.incomplete.contains(&doc) {
                // Missing history is the protocol's to sort out: the changes wait, and it asks.
                // A pile that outgrows a message is not waiting on history but on a peer that
                // will never send it: that document stops syncing.
                match changes.iter().find(|(d, _)| d == &id) {
                    Some((_, bytes)) if bytes.len() <= MAX_MESSAGE_BYTES => {
                        session.waiting.insert(id, bytes.clone());
                        continue;
                    }
                    _ => {}
                }
            }
            session.dropped.insert(id.clone());
            refused.insert(id);
            session.report.refused.push((doc, reason));
        }
        // A document this phone may not sync (yet: its roster may come next turn) gets no
        // answer; the peer does not ask again until this phone speaks of it.
        let allowed: HashSet<DocId> = self.local_docs(session)?.into_iter().collect();
        for (id, mut message) in messages {
            if refused.contains(&id) || !allowed.contains(&id) {
                continue;
            }
            // What was taken is in the document now; what was not must not count as held.
            message.changes = Vec::<Vec<u8>>::new().into();
            let mut state = match session.states.remove(&id) {
                Some(state) => state,
                None => self.peer_sync_state(&session.peer, &id)?,
            };
            let mut doc = self.doc_copy(&id)?.unwrap_or_default();
            doc.sync()
                .receive_sync_message(&mut state, message)
                .map_err(|e| protocol(format!("Automerge sync message for {id}: {e}")))?;
            session.states.insert(id, state);
        }
        self.save_peer_states(session)?;
        Ok(())
    }

    /// Ends a session: keeps the protocol states and what the peer holds, for the next session
    /// and for [`Store::export_bundle_for`].
    pub fn local_finish(&mut self, session: LocalSession, now: Timestamp) -> Result<LocalReport> {
        self.save_peer_states(&session)?;
        let heads: Vec<(DocId, Vec<ChangeHash>)> = session
            .states
            .iter()
            .filter(|(id, _)| !session.dropped.contains(*id))
            .map(|(id, s)| (id.clone(), s.shared_heads.clone()))
            .collect();
        let rosters: Vec<(String, u64)> = session
            .peer_rosters
            .iter()
            .map(|(t, v)| (t.clone(), *v))
            .collect();
        self.met_peer(
            &session.peer,
            session.report.peer_user.as_deref(),
            now,
            &heads,
            &rosters,
        )?;
        Ok(session.report)
    }

    fn peer_sync_state(&self, peer: &str, id: &DocId) -> Result<State> {
        let stored: Option<Option<Vec<u8>>> = self
            .conn
            .prepare_cached("SELECT sync_state FROM peer_state WHERE peer = ?1 AND doc_id = ?2")?
            .query_row(params![peer, id.to_string()], |r| r.get(0))
            .optional()?;
        Ok(stored
            .flatten()
            .and_then(|bytes| State::decode(&bytes).ok())
            .unwrap_or_default())
    }

    fn save_peer_states(&mut self, session: &LocalSession) -> Result<()> {
        let mut rows = Vec::new();
        for (id, state) in &session.states {
            if session.dropped.contains(id) || self.heads(id)?.is_empty() {
                continue;
            }
            rows.push((
                id.to_string(),
                heads_to_bytes(&state.shared_heads),
                state.encode(),
            ));
        }
        let tx = storage_tx(&mut self.conn)?;
        for (doc, heads, state) in rows {
            tx.prepare_cached(
                "INSERT INTO peer_state (peer, doc_id, acked_heads, sync_state) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (peer, doc_id) DO UPDATE SET acked_heads = ?3, sync_state = ?4",
            )?
            .execute(params![session.peer, doc, heads, state])?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// Why a local sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum LocalSyncError {
    /// This phone's store refused or failed, or the other phone sent something unusable.
    #[error(transparent)]
    Store(#[from] Error),
    /// The link failed; everything taken so far is kept.
    #[error("the link to the other phone failed ({0}); what arrived is kept, sync again")]
    Link(#[from] std::io::Error),
}

fn write_frame(stream: &mut impl Write, bytes: &[u8], sent: &mut u64) -> std::io::Result<()> {
    let len =
        u32::try_from(bytes.len()).map_err(|_| std::io::Error::other("a message over 4 GiB"))?;
    stream.write_all(&len.to_le_bytes())?;
    stream.write_all(bytes)?;
    stream.flush()?;
    *sent += 4 + bytes.len() as u64;
    Ok(())
}

fn read_frame(
    stream: &mut impl Read,
    received: &mut u64,
) -> std::result::Result<Vec<u8>, LocalSyncError> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_MESSAGE_BYTES {
        return Err(Error::Protocol {
            peer: "the other phone".into(),
            reason: format!("a message of {len} bytes, over the limit of {MAX_MESSAGE_BYTES}"),
        }
        .into());
    }
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf)?;
    *received += 4 + len as u64;
    Ok(buf)
}

/// Syncs with another phone over `stream` (both directions, one session), lending the store
/// one step at a time so the app can go on recording while bytes travel. One phone opens the
/// session (`initiator`, the one that connected), the other answers. `now` is this phone's
/// clock. Everything taken before a failure is kept; syncing again picks up the rest.
pub fn local_sync(
    store: &mut impl LendStore,
    stream: &mut (impl Read + Write),
    initiator: bool,
    now: Timestamp,
) -> std::result::Result<LocalReport, LocalSyncError> {
    let protocol = |e: crate::sync::WireError| Error::Protocol {
        peer: "the other phone".into(),
        reason: e.to_string(),
    };
    let (mut sent, mut received) = (0u64, 0u64);
    let hello = store.lend(Store::local_hello)?;
    let peer = if initiator {
        write_frame(stream, &encode_hello(&hello), &mut sent)?;
        decode_hello(&read_frame(stream, &mut received)?).map_err(protocol)?
    } else {
        let peer = decode_hello(&read_frame(stream, &mut received)?).map_err(protocol)?;
        write_frame(stream, &encode_hello(&hello), &mut sent)?;
        peer
    };
    let mut session = store.lend(|s| s.local_session(peer))?;
    let mut my_turn = initiator;
    let (mut sent_empty, mut received_empty) = (false, false);
    let mut rounds = 0;
    loop {
        if rounds >= MAX_LOCAL_ROUNDS {
            return Err(Error::Protocol {
                peer: "the other phone".into(),
                reason: format!("still sending after {MAX_LOCAL_ROUNDS} turns"),
            }
            .into());
        }
        rounds += 1;
        if my_turn {
            let round = store.lend(|s| s.local_round(&mut session))?;
            sent_empty = round.is_empty();
            write_frame(stream, &encode_round(&round), &mut sent)?;
            if sent_empty && received_empty {
                break;
            }
        } else {
            let round = decode_round(&read_frame(stream, &mut received)?).map_err(protocol)?;
            received_empty = round.is_empty();
            store.lend(|s| s.local_receive(&mut session, round))?;
            if received_empty && sent_empty {
                break;
            }
        }
        my_turn = !my_turn;
    }
    session.report.rounds = rounds;
    session.report.bytes_sent = sent;
    session.report.bytes_received = received;
    Ok(store.lend(|s| s.local_finish(session, now))?)
}
