//! The turf document: the walk list itself and everything recorded on it.
//!
//! ```text
//! root {
//!   schema:  uint        schema version (TURF_SCHEMA)
//!   turf:    str         the turf id
//!   walk:    [str]       household ids in walk order; may be shorter than the roster
//!   skipped: {hh: bool}  doors marked skipped
//!   log:     [bytes]     append-only entries (attempts and voids), one value each
//!   people:  {id: bytes} people added at the door
//!   notes:   {hh: str}   household notes (gate code, dog)
//! }
//! ```
//!
//! Every container is created by the deterministic genesis change, so no two replicas ever
//! create competing containers (which would hide one side's data in a conflict).

use super::{DocId, check_schema, codec, genesis_actor, load_doc, root_object};
use crate::domain::{AddedPerson, Entry, HouseholdId, Timestamp, TurfId};
use crate::error::{Error, Result};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, AutomergeError, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValueRef,
    ValueRef,
};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Schema version of turf documents written by this code.
pub const TURF_SCHEMA: u64 = 1;

/// A turf document with its containers resolved.
pub struct TurfDoc {
    doc: AutoCommit,
    id: DocId,
    walk: ObjId,
    skipped: ObjId,
    log: ObjId,
    people: ObjId,
    notes: ObjId,
}

/// The log of a turf document, decoded.
#[derive(Debug, Default)]
pub struct TurfLog {
    /// Entries in document order.
    pub entries: Vec<Entry>,
    /// Entries written by a newer app version, kept in the document but not understood here.
    pub unreadable: usize,
}

impl TurfDoc {
    /// The genesis change of `turf`'s document: identical on every replica.
    fn genesis(turf: &TurfId) -> std::result::Result<AutoCommit, AutomergeError> {
        let mut doc = AutoCommit::new().with_actor(genesis_actor());
        doc.put(ROOT, "schema", TURF_SCHEMA)?;
        doc.put(ROOT, "turf", turf.as_str())?;
        doc.put_object(ROOT, "walk", ObjType::List)?;
        doc.put_object(ROOT, "skipped", ObjType::Map)?;
        doc.put_object(ROOT, "log", ObjType::List)?;
        doc.put_object(ROOT, "people", ObjType::Map)?;
        doc.put_object(ROOT, "notes", ObjType::Map)?;
        doc.commit_with(CommitOptions::default());
        Ok(doc)
    }

    /// A new, empty document for `turf`, edited as `actor`.
    pub fn new(turf: &TurfId, actor: ActorId) -> Result<Self> {
        let id = DocId::turf(turf);
        let mut doc = Self::genesis(turf).map_err(|e| Error::CorruptDocument {
            doc: id.to_string(),
            reason: e.to_string(),
        })?;
        doc.set_actor(actor);
        Self::wrap(doc, id, turf)
    }

    /// Loads a stored document (snapshot, possibly empty, then change chunks).
    pub fn load<'a>(
        turf: &TurfId,
        snapshot: &[u8],
        changes: impl IntoIterator<Item = &'a [u8]>,
        actor: ActorId,
    ) -> Result<Self> {
        let id = DocId::turf(turf);
        let mut doc = load_doc(&id, snapshot, changes)?;
        doc.set_actor(actor);
        Self::wrap(doc, id, turf)
    }

    /// Resolves the containers of a document, checking its schema and that it is `turf`'s.
    pub fn wrap(doc: AutoCommit, id: DocId, turf: &TurfId) -> Result<Self> {
        check_schema(&doc, &id, TURF_SCHEMA)?;
        match doc.get(ROOT, "turf") {
            Ok(Some((v, _))) if v.as_str() == Some(turf.as_str()) => {}
            _ => {
                return Err(Error::CorruptDocument {
                    doc: id.to_string(),
                    reason: "document belongs to another turf".into(),
                });
            }
        }
        Ok(Self {
            walk: root_object(&doc, &id, "walk", ObjType::List)?,
            skipped: root_object(&doc, &id, "skipped", ObjType::Map)?,
            log: root_object(&doc, &id, "log", ObjType::List)?,
            people: root_object(&doc, &id, "people", ObjType::Map)?,
            notes: root_object(&doc, &id, "notes", ObjType::Map)?,
            doc,
            id,
        })
    }

    /// Re-resolves the containers and checks the schema after changes from elsewhere arrived
    /// (a foreign change could have replaced a container). On error the document is unusable
    /// and must be dropped.
    pub(crate) fn revalidate(&mut self) -> Result<()> {
        let doc = std::mem::take(&mut self.doc);
        let turf = TurfId(self.id.id.clone());
        *self = Self::wrap(doc, self.id.clone(), &turf)?;
        Ok(())
    }

    fn am(&self, e: AutomergeError) -> Error {
        Error::CorruptDocument {
            doc: self.id.to_string(),
            reason: e.to_string(),
        }
    }

    fn commit(&mut self, at: Timestamp) -> Option<ChangeHash> {
        self.doc
            .commit_with(CommitOptions::default().with_time(at.div_euclid(1000)))
    }

    /// Appends one entry (attempt or void) as a single operation and commits it.
    pub fn append(&mut self, entry: &Entry, at: Timestamp) -> Result<()> {
        let len = self.doc.length(&self.log);
        let log = self.log.clone();
        self.doc
            .insert(&log, len, codec::encode_entry(entry))
            .map_err(|e| self.am(e))?;
        self.commit(at);
        Ok(())
    }

    /// Appends several entries in one change (one operation each).
    pub fn append_all(&mut self, entries: &[Entry], at: Timestamp) -> Result<()> {
        let log = self.log.clone();
        for entry in entries {
            let len = self.doc.length(&log);
            self.doc
                .insert(&log, len, codec::encode_entry(entry))
                .map_err(|e| self.am(e))?;
        }
        self.commit(at);
        Ok(())
    }

    /// Adds a person met at the door.
    pub fn add_person(&mut self, person: &AddedPerson) -> Result<()> {
        let people = self.people.clone();
        self.doc
            .put(&people, person.id.as_str(), codec::encode_person(person))
            .map_err(|e| self.am(e))?;
        self.commit(person.recorded_at);
        Ok(())
    }

    /// Sets (or, with an empty text, clears) a household's note.
    pub fn set_note(&mut self, household: &HouseholdId, note: &str, at: Timestamp) -> Result<()> {
        let notes = self.notes.clone();
        self.doc
            .put(&notes, household.as_str(), note)
            .map_err(|e| self.am(e))?;
        self.commit(at);
        Ok(())
    }

    /// Marks a door skipped, or not.
    pub fn set_skipped(
        &mut self,
        household: &HouseholdId,
        skipped: bool,
        at: Timestamp,
    ) -> Result<()> {
        let map = self.skipped.clone();
        self.doc
            .put(&map, household.as_str(), skipped)
            .map_err(|e| self.am(e))?;
        self.commit(at);
        Ok(())
    }

    /// Moves `household` before `before` (or to the end). `current` is the walk order as shown,
    /// which may include roster households the document's list does not hold yet; those are
    /// appended first so the move means what the user saw.
    pub fn move_household(
        &mut self,
        household: &HouseholdId,
        before: Option<&HouseholdId>,
        current: &[HouseholdId],
        at: Timestamp,
    ) -> Result<()> {
        if before == Some(household) {
            return Ok(()); // dropped onto itself: nothing moves
        }
        let walk = self.walk.clone();
        let listed: HashSet<String> = self.walk_raw().into_iter().collect();
        for h in current {
            if !listed.contains(h.as_str()) {
                let len = self.doc.length(&walk);
                self.doc
                    .insert(&walk, len, h.as_str())
                    .map_err(|e| self.am(e))?;
            }
        }
        // Remove every copy (concurrent moves can leave two), then insert once.
        let mut i = self.doc.length(&walk);
        while i > 0 {
            i -= 1;
            if self.walk_at(i).as_deref() == Some(household.as_str()) {
                self.doc.delete(&walk, i).map_err(|e| self.am(e))?;
            }
        }
        let raw = self.walk_raw();
        let index = before
            .and_then(|b| raw.iter().position(|h| h == b.as_str()))
            .unwrap_or(raw.len());
        self.doc
            .insert(&walk, index, household.as_str())
            .map_err(|e| self.am(e))?;
        self.commit(at);
        Ok(())
    }

    fn walk_at(&self, index: usize) -> Option<String> {
        match self.doc.get(&self.walk, index) {
            Ok(Some((v, _))) => v.as_str().map(str::to_owned),
            _ => None,
        }
    }

    fn walk_raw(&self) -> Vec<String> {
        self.doc
            .list_range(&self.walk, ..)
            .filter_map(|item| match item.value {
                ValueRef::Scalar(ScalarValueRef::Str(s)) => Some(s.into_owned()),
                _ => None,
            })
            .collect()
    }

    /// The document's walk order: first occurrence of each household wins.
    pub fn walk(&self) -> Vec<HouseholdId> {
        let mut seen = HashSet::new();
        self.walk_raw()
            .into_iter()
            .filter(|h| seen.insert(h.clone()))
            .map(HouseholdId)
            .collect()
    }

    /// Doors marked skipped.
    pub fn skipped(&self) -> BTreeSet<HouseholdId> {
        self.doc
            .map_range(&self.skipped, ..)
            .filter(|item| matches!(item.value, ValueRef::Scalar(ScalarValueRef::Boolean(true))))
            .map(|item| HouseholdId(item.key.into_owned()))
            .collect()
    }

    /// Household notes. Concurrent edits are all kept, sorted, one per line: nobody's note is
    /// silently dropped.
    pub fn notes(&self) -> BTreeMap<HouseholdId, String> {
        let mut out = BTreeMap::new();
        for key in self.doc.keys(&self.notes) {
            let mut values: Vec<String> = self
                .doc
                .get_all(&self.notes, key.as_str())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(v, _)| v.as_str().map(str::to_owned))
                .filter(|s| !s.is_empty())
                .collect();
            values.sort();
            values.dedup();
            if !values.is_empty() {
                out.insert(HouseholdId(key), values.join("\n"));
            }
        }
        out
    }

    /// People added at the door. A malformed value is an error: it cannot have come from a
    /// Doorstep app.
    pub fn people(&self) -> Result<Vec<AddedPerson>> {
        let mut out = Vec::new();
        for item in self.doc.map_range(&self.people, ..) {
            match item.value {
                ValueRef::Scalar(ScalarValueRef::Bytes(b)) => match codec::decode_person(&b) {
                    Ok(p) => out.push(p),
                    Err(codec::DecodeError::NewerVersion(_)) => {}
                    Err(e) => return Err(self.corrupt(format!("person entry: {e}"))),
                },
                _ => return Err(self.corrupt("person entry is not bytes".into())),
            }
        }
        Ok(out)
    }

    /// The log's values as stored, not decoded.
    pub fn log_values(&self) -> Result<Vec<Vec<u8>>> {
        self.doc
            .list_range(&self.log, ..)
            .map(|item| match item.value {
                ValueRef::Scalar(ScalarValueRef::Bytes(b)) => Ok(b.into_owned()),
                _ => Err(self.corrupt(format!("log entry {} is not bytes", item.index))),
            })
            .collect()
    }

    /// The log, decoded.
    pub fn log(&self) -> Result<TurfLog> {
        let mut log = TurfLog::default();
        for item in self.doc.list_range(&self.log, ..) {
            match item.value {
                ValueRef::Scalar(ScalarValueRef::Bytes(b)) => match codec::decode_entry(&b) {
                    Ok(e) => log.entries.push(e),
                    Err(codec::DecodeError::NewerVersion(_)) => log.unreadable += 1,
                    Err(e) => {
                        return Err(self.corrupt(format!("log entry {}: {e}", item.index)));
                    }
                },
                _ => {
                    return Err(self.corrupt(format!("log entry {} is not bytes", item.index)));
                }
            }
        }
        Ok(log)
    }

    fn corrupt(&self, reason: String) -> Error {
        Error::CorruptDocument {
            doc: self.id.to_string(),
            reason,
        }
    }

    /// The containers the genesis change created, and how many keys the root holds: no edit
    /// from the field may replace or add any of them.
    pub fn structure(&self) -> (Vec<ObjId>, usize) {
        let root_keys = self.doc.keys(ROOT).count();
        let containers = [
            &self.walk,
            &self.skipped,
            &self.log,
            &self.people,
            &self.notes,
        ];
        (containers.into_iter().cloned().collect(), root_keys)
    }

    /// Current heads.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The document's id.
    pub fn id(&self) -> &DocId {
        &self.id
    }

    /// The underlying Automerge document.
    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    /// A read-only copy of the document as it was at `heads`.
    pub fn at(&mut self, heads: &[ChangeHash]) -> Result<TurfDoc> {
        let turf = TurfId(self.id.id.clone());
        let doc = self.doc.fork_at(heads).map_err(|e| self.am(e))?;
        Self::wrap(doc, self.id.clone(), &turf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::*;

    fn attempt(n: u8, at: i64) -> Entry {
        Entry::Attempt(Attempt {
            id: AttemptId([n; 16]),
            target: Target::Household("h1".into()),
            household: "h1".into(),
            outcome: "not_home".into(),
            answers: vec![],
            note: None,
            canvasser: "c".into(),
            device: "d".into(),
            recorded_at: at,
            location: None,
        })
    }

    #[test]
    fn independent_genesis_changes_merge_into_one_document() {
        let turf = TurfId::from("t1");
        let mut a = TurfDoc::new(&turf, ActorId::random()).unwrap();
        let mut b = TurfDoc::new(&turf, ActorId::random()).unwrap();
        assert_eq!(a.heads(), b.heads(), "genesis must be byte-identical");
        a.append(&attempt(1, 10), 10).unwrap();
        b.append(&attempt(2, 20), 20).unwrap();
        let bytes = b.automerge().save();
        a.automerge().load_incremental(&bytes).unwrap();
        let ids: BTreeSet<_> = a.log().unwrap().entries.iter().map(Entry::id).collect();
        assert_eq!(ids.len(), 2);
    }

    #[test]
    fn one_attempt_is_one_operation() {
        let mut d = TurfDoc::new(&"t".into(), ActorId::random()).unwrap();
        let before = d.automerge().stats().num_ops;
        d.append(&attempt(1, 1), 1).unwrap();
        assert_eq!(d.automerge().stats().num_ops, before + 1);
    }

    #[test]
    fn concurrent_moves_of_the_same_door_show_it_once() {
        let turf = TurfId::from("t");
        let order: Vec<HouseholdId> = ["h1", "h2", "h3", "h4"].map(HouseholdId::from).to_vec();
        let mut a = TurfDoc::new(&turf, ActorId::random()).unwrap();
        a.move_household(&"h4".into(), Some(&"h1".into()), &order, 1)
            .unwrap();
        let mut b = TurfDoc::load(&turf, &a.automerge().save(), [], ActorId::random()).unwrap();
        a.move_household(&"h1".into(), None, &a.walk(), 2).unwrap();
        b.move_household(&"h1".into(), Some(&"h3".into()), &b.walk(), 3)
            .unwrap();
        let bytes = b.automerge().save();
        a.automerge().load_incremental(&bytes).unwrap();
        let walk = a.walk();
        assert_eq!(walk.len(), 4, "{walk:?}");
        assert_eq!(walk[0].as_str(), "h4");
    }

    #[test]
    fn concurrent_notes_are_both_kept() {
        let turf = TurfId::from("t");
        let mut a = TurfDoc::new(&turf, ActorId::random()).unwrap();
        let mut b = TurfDoc::new(&turf, ActorId::random()).unwrap();
        a.set_note(&"h1".into(), "gate code 1234", 1).unwrap();
        b.set_note(&"h1".into(), "big dog", 2).unwrap();
        let bytes = b.automerge().save();
        a.automerge().load_incremental(&bytes).unwrap();
        assert_eq!(
            a.notes()[&HouseholdId::from("h1")],
            "big dog\ngate code 1234"
        );
    }

    #[test]
    fn a_document_of_another_turf_is_refused() {
        let mut a = TurfDoc::new(&"t1".into(), ActorId::random()).unwrap();
        let bytes = a.automerge().save();
        let err = TurfDoc::load(&"t2".into(), &bytes, [], ActorId::random())
            .err()
            .unwrap();
        assert!(err.to_string().contains("another turf"), "{err}");
    }
}
