//! Write rules: what a change to a turf document may do, judged by who wrote it.
//!
//! A change is judged by what it does to the document (its effect), not by its operations: the
//! document before and after are compared. Everything outside the rules is refused whole.

use super::wire::Role;
use crate::doc::TurfDoc;
use crate::doc::codec::encode_entry;
use crate::domain::{Entry, MAX_NOTE_BYTES};
use std::collections::{HashMap, HashSet};

/// What a user may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rights {
    /// Their role.
    pub role: Role,
    /// Their user id.
    pub user: String,
    /// For a captain, the members of their team (the captain included): whose attempts they
    /// may forward. Empty otherwise.
    pub team: HashSet<String>,
}

impl Rights {
    fn may_author(&self, who: &str) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Captain => who == self.user || self.team.contains(who),
            Role::Canvasser => who == self.user,
        }
    }
}

/// Why a change was refused. Holds ids, never personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// Checks that going from `before` to `after` is something `rights` allows: attempts appended
/// in their author's name, voids of the author's own attempts, people added, notes and skipped
/// marks set, and (for captains and admins) the walk list reordered. Nothing already recorded
/// may change or disappear.
pub fn check_turf_update(
    before: &TurfDoc,
    after: &TurfDoc,
    rights: &Rights,
) -> Result<(), Refusal> {
    if before.structure() != after.structure() {
        return Err(Refusal(
            "the change replaces or adds top-level parts of the turf document".into(),
        ));
    }
    let old = before
        .log()
        .map_err(|e| Refusal(format!("the stored log cannot be read: {e}")))?;
    let new = after
        .log()
        .map_err(|e| Refusal(format!("the change leaves an unreadable log: {e}")))?;
    if new.unreadable < old.unreadable {
        return Err(Refusal("the change removes log entries".into()));
    }
    let mut kept: HashMap<Vec<u8>, usize> = HashMap::new();
    for e in &old.entries {
        *kept.entry(encode_entry(e)).or_default() += 1;
    }
    let known_ids: HashSet<_> = old.entries.iter().map(Entry::id).collect();
    let mut added = Vec::new();
    for e in &new.entries {
        match kept.get_mut(&encode_entry(e)) {
            Some(n) if *n > 0 => *n -= 1,
            _ => added.push(e),
        }
    }
    if kept.values().any(|n| *n > 0) {
        return Err(Refusal(
            "the change edits or removes attempts already recorded".into(),
        ));
    }
    let attempts: HashMap<_, _> = new
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Attempt(a) => Some((a.id, a)),
            Entry::Void(_) => None,
        })
        .collect();
    for entry in added {
        let id = entry.id();
        if known_ids.contains(&id) {
            return Err(Refusal(format!("entry id {id} is already used")));
        }
        match entry {
            Entry::Attempt(a) => {
                if !rights.may_author(a.canvasser.as_str()) {
                    return Err(Refusal(format!(
                        "attempt {id} is recorded in the name of '{}', which user '{}' may not do",
                        a.canvasser, rights.user
                    )));
                }
                if a.note.as_ref().is_some_and(|n| n.len() > MAX_NOTE_BYTES) {
                    return Err(Refusal(format!(
                        "attempt {id} has a note over {MAX_NOTE_BYTES} bytes"
                    )));
                }
            }
            Entry::Void(v) => {
                if !rights.may_author(v.canvasser.as_str()) {
                    return Err(Refusal(format!(
                        "void {id} is recorded in the name of '{}', which user '{}' may not do",
                        v.canvasser, rights.user
                    )));
                }
                let own = attempts
                    .get(&v.attempt)
                    .is_some_and(|a| a.canvasser == v.canvasser || rights.role == Role::Admin);
                if !own {
                    return Err(Refusal(format!(
                        "void {id} cancels attempt {}, which is not its author's own",
                        v.attempt
                    )));
                }
            }
        }
    }
    let old_people = before
        .people()
        .map_err(|e| Refusal(format!("the stored people cannot be read: {e}")))?;
    let new_people = after
        .people()
        .map_err(|e| Refusal(format!("the change leaves unreadable people: {e}")))?;
    for p in &old_people {
        if !new_people.contains(p) {
            return Err(Refusal(format!(
                "the change edits or removes person {} added earlier",
                p.id
            )));
        }
    }
    for p in new_people.iter().filter(|p| !old_people.contains(p)) {
        if !rights.may_author(p.added_by.as_str()) {
            return Err(Refusal(format!(
                "person {} is added in the name of '{}', which user '{}' may not do",
                p.id, p.added_by, rights.user
            )));
        }
    }
    if rights.role == Role::Canvasser && before.walk() != after.walk() {
        return Err(Refusal(
            "the change reorders the walk list, which only a captain or an admin may do".into(),
        ));
    }
    Ok(())
}
