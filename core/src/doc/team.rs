//! The team document: a team's members and who holds each of its turfs.
//!
//! Members are written by the server only (an organizer's commands); a captain changes who holds
//! the team's turfs, offline, and the server turns those assignments into grants when the
//! captain's phone (or any teammate's carrying the change) syncs. Each member and each turf's
//! assignment is one encoded value (see [`codec`]), so one assignment is one operation and two
//! concurrent reassignments of one turf resolve to one of them.

use super::{DocId, check_schema, codec, genesis_actor, load_doc, root_object};
use crate::domain::{Assignment, Member, Team};
use crate::error::{Error, Result};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, ScalarValueRef, Value,
    ValueRef,
};
use std::collections::BTreeMap;

/// Schema version of team documents written by this code.
pub const TEAM_SCHEMA: u64 = 1;

/// A team's Automerge document.
pub struct TeamDoc {
    doc: AutoCommit,
    id: DocId,
    members: ObjId,
    assignments: ObjId,
}

impl TeamDoc {
    /// The genesis change every replica of a team's document starts from: the same bytes
    /// everywhere, so no two replicas create competing containers.
    fn genesis(team: &str) -> std::result::Result<AutoCommit, automerge::AutomergeError> {
        let mut doc = AutoCommit::new().with_actor(genesis_actor());
        doc.put(ROOT, "schema", TEAM_SCHEMA)?;
        doc.put(ROOT, "team", team)?;
        doc.put_object(ROOT, "members", ObjType::Map)?;
        doc.put_object(ROOT, "assignments", ObjType::Map)?;
        doc.commit_with(CommitOptions::default());
        Ok(doc)
    }

    /// A new document for `team`, named `name`, edited as `actor`.
    pub fn new(team: &str, name: &str, actor: ActorId) -> Result<Self> {
        let id = DocId::team(team);
        let mut doc = Self::genesis(team).map_err(|e| Error::CorruptDocument {
            doc: id.to_string(),
            reason: e.to_string(),
        })?;
        doc.set_actor(actor);
        let mut this = Self::wrap(doc, team)?;
        this.set_name(name)?;
        Ok(this)
    }

    /// Loads a stored document (snapshot, possibly empty, then change chunks).
    pub fn load<'a>(
        team: &str,
        snapshot: &[u8],
        changes: impl IntoIterator<Item = &'a [u8]>,
        actor: ActorId,
    ) -> Result<Self> {
        let mut doc = load_doc(&DocId::team(team), snapshot, changes)?;
        doc.set_actor(actor);
        Self::wrap(doc, team)
    }

    /// Resolves the containers, checking the schema and that the document is `team`'s.
    pub fn wrap(doc: AutoCommit, team: &str) -> Result<Self> {
        let id = DocId::team(team);
        check_schema(&doc, &id, TEAM_SCHEMA)?;
        match doc.get(ROOT, "team") {
            Ok(Some((v, _))) if v.as_str() == Some(team) => {}
            _ => {
                return Err(Error::CorruptDocument {
                    doc: id.to_string(),
                    reason: "document belongs to another team".into(),
                });
            }
        }
        Ok(Self {
            members: root_object(&doc, &id, "members", ObjType::Map)?,
            assignments: root_object(&doc, &id, "assignments", ObjType::Map)?,
            doc,
            id,
        })
    }

    fn am(&self) -> impl Fn(automerge::AutomergeError) -> Error + '_ {
        |e| Error::CorruptDocument {
            doc: self.id.to_string(),
            reason: e.to_string(),
        }
    }

    /// Renames the team.
    pub fn set_name(&mut self, name: &str) -> Result<()> {
        if self.name().as_deref() == Some(name) {
            return Ok(());
        }
        let am = |e: automerge::AutomergeError| Error::CorruptDocument {
            doc: self.id.to_string(),
            reason: e.to_string(),
        };
        self.doc.put(ROOT, "name", name).map_err(am)?;
        self.doc.commit();
        Ok(())
    }

    /// The team's name.
    pub fn name(&self) -> Option<String> {
        match self.doc.get(ROOT, "name") {
            Ok(Some((v, _))) => v.as_str().map(str::to_owned),
            _ => None,
        }
    }

    /// Adds a member or changes one (server only). Returns whether anything changed.
    pub fn set_member(&mut self, member: &Member) -> Result<bool> {
        let value = codec::encode_member(member);
        if self.raw(&self.members.clone(), &member.id).as_deref() == Some(&value[..]) {
            return Ok(false);
        }
        let obj = self.members.clone();
        let result = self.doc.put(&obj, member.id.as_str(), value);
        result.map_err(self.am())?;
        self.doc.commit();
        Ok(true)
    }

    /// Removes a member (server only). Returns whether anything changed.
    pub fn remove_member(&mut self, user: &str) -> Result<bool> {
        let obj = self.members.clone();
        if self.raw(&obj, user).is_none() {
            return Ok(false);
        }
        let result = self.doc.delete(&obj, user);
        result.map_err(self.am())?;
        self.doc.commit();
        Ok(true)
    }

    /// Sets who holds a turf (and held it before). Returns whether anything changed: the same
    /// holders again write nothing, whoever and whenever.
    pub fn set_assignment(&mut self, turf: &str, assignment: &Assignment) -> Result<bool> {
        let obj = self.assignments.clone();
        if let Some(held) = self.raw(&obj, turf)
            && codec::decode_assignment(&held)
                .is_ok_and(|a| a.users == assignment.users && a.past == assignment.past)
        {
            return Ok(false);
        }
        let result = self
            .doc
            .put(&obj, turf, codec::encode_assignment(assignment));
        result.map_err(self.am())?;
        self.doc.commit();
        Ok(true)
    }

    /// Takes a turf out of the team (server only: the turf moved to another team). Returns
    /// whether anything changed.
    pub fn remove_turf(&mut self, turf: &str) -> Result<bool> {
        let obj = self.assignments.clone();
        if self.raw(&obj, turf).is_none() {
            return Ok(false);
        }
        let result = self.doc.delete(&obj, turf);
        result.map_err(self.am())?;
        self.doc.commit();
        Ok(true)
    }

    fn raw(&self, obj: &ObjId, key: &str) -> Option<Vec<u8>> {
        match self.doc.get(obj, key) {
            Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
                ScalarValue::Bytes(b) => Some(b.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    fn raw_map(&self, obj: &ObjId) -> BTreeMap<String, Vec<u8>> {
        self.doc
            .map_range(obj, ..)
            .filter_map(|item| match item.value {
                ValueRef::Scalar(ScalarValueRef::Bytes(b)) => {
                    Some((item.key.into_owned(), b.into_owned()))
                }
                _ => None,
            })
            .collect()
    }

    /// The members' encoded values by user id, as stored (for the write rules).
    pub fn member_values(&self) -> BTreeMap<String, Vec<u8>> {
        self.raw_map(&self.members)
    }

    /// The assignments' encoded values by turf id, as stored (for the write rules).
    pub fn assignment_values(&self) -> BTreeMap<String, Vec<u8>> {
        self.raw_map(&self.assignments)
    }

    /// The root's keys and containers, which no change but the genesis may alter.
    pub fn structure(&self) -> (ObjId, ObjId, Option<u64>) {
        let schema = match self.doc.get(ROOT, "schema") {
            Ok(Some((v, _))) => v.as_u64(),
            _ => None,
        };
        (self.members.clone(), self.assignments.clone(), schema)
    }

    /// The team as the document holds it. A value this app cannot read (a newer app's) is left
    /// out, never guessed at.
    pub fn team(&self) -> Team {
        let mut members: Vec<Member> = self
            .member_values()
            .values()
            .filter_map(|v| codec::decode_member(v).ok())
            .collect();
        members.sort_by(|a, b| a.id.cmp(&b.id));
        let assignments = self
            .assignment_values()
            .into_iter()
            .filter_map(|(turf, v)| codec::decode_assignment(&v).ok().map(|a| (turf, a)))
            .collect();
        Team {
            id: self.id.id.clone(),
            name: self.name().unwrap_or_default(),
            members,
            assignments,
        }
    }

    /// The document's heads.
    pub fn heads(&mut self) -> Vec<automerge::ChangeHash> {
        self.doc.get_heads()
    }

    /// The document's id (`team:<id>`).
    pub fn id(&self) -> &DocId {
        &self.id
    }

    /// The Automerge document.
    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn member(id: &str, role: Role) -> Member {
        Member {
            id: id.into(),
            name: format!("name of {id}"),
            role,
        }
    }

    #[test]
    fn members_and_assignments_round_trip_and_merge() {
        let mut server = TeamDoc::new("north", "North", ActorId::random()).unwrap();
        server.set_member(&member("cap", Role::Captain)).unwrap();
        server.set_member(&member("ana", Role::Canvasser)).unwrap();
        let organizer = Assignment {
            users: vec!["ana".into()],
            past: vec![],
            by: crate::domain::ORGANIZER.into(),
            at: 1,
        };
        assert!(server.set_assignment("t1", &organizer).unwrap());
        assert!(!server.set_assignment("t1", &organizer).unwrap());

        let bytes = server.automerge().save();
        let mut captain = TeamDoc::load("north", &bytes, [], ActorId::random()).unwrap();
        let handed = Assignment {
            users: vec!["cap".into()],
            past: vec!["ana".into()],
            by: "cap".into(),
            at: 2,
        };
        captain.set_assignment("t1", &handed).unwrap();
        server.set_member(&member("ben", Role::Canvasser)).unwrap();
        let from_captain = captain.automerge().save();
        server.automerge().load_incremental(&from_captain).unwrap();
        let team = server.team();
        assert_eq!(team.name, "North");
        assert_eq!(team.members.len(), 3);
        assert_eq!(team.assignment("t1"), Some(&handed));
        assert_eq!(team.turfs_of("cap"), vec!["t1"]);
        assert!(team.turfs_of("ana").is_empty());
    }

    #[test]
    fn a_document_of_another_team_is_refused() {
        let mut doc = TeamDoc::new("north", "North", ActorId::random()).unwrap();
        let bytes = doc.automerge().save();
        assert!(TeamDoc::load("south", &bytes, [], ActorId::random()).is_err());
    }
}
