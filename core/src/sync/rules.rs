//! Write rules: what a change to a turf or team document may do, judged by who wrote it.
//!
//! A change is judged by what it does to the document (its effect), not by its operations: the
//! document before and after are compared. Everything outside the rules is refused whole.

use crate::doc::codec::{DecodeError, decode_assignment, decode_entry, decode_member, entry_id};
use crate::doc::{TeamDoc, TurfDoc};
use crate::domain::{Assignment, AttemptId, CanvasserId, Entry, MAX_NOTE_BYTES, Role};
use std::collections::{HashMap, HashSet};

/// What a user may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rights {
    /// Their role.
    pub role: Role,
    /// Their user id.
    pub user: String,
    /// Their teammates, each with the turfs that teammate may write in (holds or held): whose
    /// records this user's phone may pass on. A captain collects the team's results; a
    /// canvasser handed a turf carries its earlier results. Each record is judged by its
    /// author's rights: a teammate's attempt counts only in a turf that teammate may write in.
    pub team: HashMap<String, HashSet<String>>,
}

impl Rights {
    /// Rights that pass on nobody's records but the user's own.
    pub fn alone(role: Role, user: &str) -> Self {
        Self {
            role,
            user: user.to_owned(),
            team: HashMap::new(),
        }
    }

    fn may_author(&self, who: &str, turf: &str) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Captain | Role::Canvasser => {
                who == self.user || self.team.get(who).is_some_and(|t| t.contains(turf))
            }
        }
    }
}

/// Why a change was refused. Holds ids, never personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// Checks that going from `before` to `after` is something `rights` allows: attempts appended
/// in their author's name (the user's own, or a teammate's in a turf that teammate may write
/// in), voids of the author's own attempts, people added, notes and skipped
/// marks set, and (for captains and admins) the walk list reordered. Nothing already recorded
/// may change or disappear. Returns the log entries the change added.
///
/// The logs are compared as stored values: only the added entries are decoded, so judging an
/// upload costs little more as a turf's log grows.
pub fn check_turf_update(
    before: &TurfDoc,
    after: &TurfDoc,
    rights: &Rights,
) -> Result<Vec<Entry>, Refusal> {
    if before.structure() != after.structure() {
        return Err(Refusal(
            "the change replaces or adds top-level parts of the turf document".into(),
        ));
    }
    let old = before
        .log_values()
        .map_err(|e| Refusal(format!("the stored log cannot be read: {e}")))?;
    let new = after
        .log_values()
        .map_err(|e| Refusal(format!("the change leaves an unreadable log: {e}")))?;
    let mut kept: HashMap<&[u8], usize> = HashMap::new();
    for v in &old {
        *kept.entry(v.as_slice()).or_default() += 1;
    }
    let mut added_values = Vec::new();
    for v in &new {
        match kept.get_mut(v.as_slice()) {
            Some(n) if *n > 0 => *n -= 1,
            _ => added_values.push(v.as_slice()),
        }
    }
    if kept.values().any(|n| *n > 0) {
        return Err(Refusal(
            "the change edits or removes attempts already recorded".into(),
        ));
    }
    let turf = before.id().id.as_str();
    let mut added = Vec::with_capacity(added_values.len());
    for (i, v) in added_values.iter().enumerate() {
        match decode_entry(v) {
            Ok(e) => added.push(e),
            Err(DecodeError::NewerVersion(version)) => {
                return Err(Refusal(format!(
                    "a new log entry is in format version {version}, newer than this server reads; update the server"
                )));
            }
            Err(e) => return Err(Refusal(format!("new log entry {i} is unreadable: {e}"))),
        }
    }
    let known_ids: HashSet<AttemptId> = old.iter().filter_map(|v| entry_id(v)).collect();
    let mut new_ids = HashSet::new();
    for entry in &added {
        let id = entry.id();
        if known_ids.contains(&id) || !new_ids.insert(id) {
            return Err(Refusal(format!("entry id {id} is already used")));
        }
        match entry {
            Entry::Attempt(a) => {
                if !rights.may_author(a.canvasser.as_str(), turf) {
                    return Err(Refusal(format!(
                        "attempt {id} is recorded in the name of {}, which user {} may not do",
                        shown(a.canvasser.as_str()),
                        shown(&rights.user)
                    )));
                }
                if a.note.as_ref().is_some_and(|n| n.len() > MAX_NOTE_BYTES) {
                    return Err(Refusal(format!(
                        "attempt {id} has a note over {MAX_NOTE_BYTES} bytes"
                    )));
                }
            }
            Entry::Void(v) => {
                if !rights.may_author(v.canvasser.as_str(), turf) {
                    return Err(Refusal(format!(
                        "void {id} is recorded in the name of {}, which user {} may not do",
                        shown(v.canvasser.as_str()),
                        shown(&rights.user)
                    )));
                }
                let author = voided_author(&added, &old, v.attempt);
                let own = rights.role == Role::Admin || author.as_ref() == Some(&v.canvasser);
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
                shown(p.id.as_str())
            )));
        }
    }
    for p in new_people.iter().filter(|p| !old_people.contains(p)) {
        if !rights.may_author(p.added_by.as_str(), turf) {
            return Err(Refusal(format!(
                "person {} is added in the name of {}, which user {} may not do",
                shown(p.id.as_str()),
                shown(p.added_by.as_str()),
                shown(&rights.user)
            )));
        }
    }
    if rights.role == Role::Canvasser && before.walk() != after.walk() {
        return Err(Refusal(
            "the change reorders the walk list, which only a captain or an admin may do".into(),
        ));
    }
    Ok(added)
}

/// Checks that going from `before` to `after` (a team document) is something `rights` allows,
/// and returns the turfs whose assignment changed, with their new assignment.
///
/// An admin (the server itself) may change anything. Anyone else, who must be a member of the
/// team, may only carry reassignments of the team's own turfs, each made by one of the team's
/// captains and to members of the team: the change is judged by the captain who made it, so a
/// canvasser's phone may pass a captain's reassignment on. Members and roles change only on the
/// server: a captain cannot add or promote anyone.
pub fn check_team_update(
    before: &TeamDoc,
    after: &TeamDoc,
    rights: &Rights,
) -> Result<Vec<(String, Assignment)>, Refusal> {
    if before.structure() != after.structure() {
        return Err(Refusal(
            "the change replaces or adds top-level parts of the team document".into(),
        ));
    }
    let admin = rights.role == Role::Admin;
    let members = before.member_values();
    let role_of = |user: &str| {
        members
            .get(user)
            .and_then(|v| decode_member(v).ok())
            .map(|m| m.role)
    };
    if !admin {
        if role_of(&rights.user).is_none() {
            return Err(Refusal(format!(
                "user {} is not a member of team {}",
                shown(&rights.user),
                shown(&before.id().id)
            )));
        }
        if members != after.member_values() || before.name() != after.name() {
            return Err(Refusal(
                "the change adds, removes or promotes team members, which only an organizer may do"
                    .into(),
            ));
        }
    }
    let old = before.assignment_values();
    let new = after.assignment_values();
    if !admin {
        if let Some(turf) = old.keys().find(|t| !new.contains_key(*t)) {
            return Err(Refusal(format!(
                "the change takes turf {} out of the team, which only an organizer may do",
                shown(turf)
            )));
        }
        if let Some(turf) = new.keys().find(|t| !old.contains_key(*t)) {
            return Err(Refusal(format!(
                "turf {} is not one of team {}'s turfs",
                shown(turf),
                shown(&before.id().id)
            )));
        }
    }
    let mut changed = Vec::new();
    for (turf, value) in &new {
        if old.get(turf) == Some(value) {
            continue;
        }
        let assignment = match decode_assignment(value) {
            Ok(a) => a,
            Err(DecodeError::NewerVersion(version)) => {
                return Err(Refusal(format!(
                    "the assignment of turf {} is in format version {version}, newer than this side reads; update it",
                    shown(turf)
                )));
            }
            Err(e) => {
                return Err(Refusal(format!(
                    "the assignment of turf {} is unreadable: {e}",
                    shown(turf)
                )));
            }
        };
        if !admin {
            if role_of(&assignment.by) != Some(Role::Captain) {
                return Err(Refusal(format!(
                    "turf {} is reassigned by {}, who is not a captain of team {}",
                    shown(turf),
                    shown(&assignment.by),
                    shown(&before.id().id)
                )));
            }
            // Someone who held a turf of the team and left it since (revoked while the captain
            // was offline) is no outsider: the server undoes that handover against its
            // database rather than refuse the whole document.
            let former = |u: &String| {
                old.values()
                    .filter_map(|v| decode_assignment(v).ok())
                    .any(|a| a.users.contains(u) || a.past.contains(u))
            };
            if let Some(outsider) = assignment
                .users
                .iter()
                .find(|u| role_of(u).is_none() && !former(u))
            {
                return Err(Refusal(format!(
                    "turf {} is assigned to {}, who is not a member of team {}",
                    shown(turf),
                    shown(outsider),
                    shown(&before.id().id)
                )));
            }
        }
        if !admin {
            // A past holder held the turf before as this side knows it, or is a member: the
            // captain's phone may have handed it on more than once offline.
            let before = old.get(turf).and_then(|v| decode_assignment(v).ok());
            let held = |u: &String| {
                role_of(u).is_some()
                    || before
                        .as_ref()
                        .is_some_and(|b| b.users.contains(u) || b.past.contains(u))
            };
            if let Some(u) = assignment.past.iter().find(|u| !held(u)) {
                return Err(Refusal(format!(
                    "the assignment of turf {} names {} as a past holder, who never held it and is not a member",
                    shown(turf),
                    shown(u)
                )));
            }
        }
        if assignment.users.windows(2).any(|w| w[0] >= w[1])
            || assignment.past.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(Refusal(format!(
                "the assignment of turf {} lists its members out of order or twice",
                shown(turf)
            )));
        }
        changed.push((turf.clone(), assignment));
    }
    Ok(changed)
}

/// An id from a peer, quoted, escaped and cut short: it goes into logs and error messages.
fn shown(id: &str) -> String {
    let mut out: String = id
        .chars()
        .take(64)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if id.chars().count() > 64 {
        out.push_str("...");
    }
    format!("'{out}'")
}

/// Who recorded the attempt `target`: looked up among the added entries, then among the stored
/// ones (decoding only the one with that id).
fn voided_author(added: &[Entry], old: &[Vec<u8>], target: AttemptId) -> Option<CanvasserId> {
    let attempt_author = |e: &Entry| match e {
        Entry::Attempt(a) if a.id == target => Some(a.canvasser.clone()),
        _ => None,
    };
    added.iter().find_map(attempt_author).or_else(|| {
        old.iter()
            .filter(|v| entry_id(v) == Some(target))
            .find_map(|v| decode_entry(v).ok().as_ref().and_then(attempt_author))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::DocId;
    use crate::domain::{Attempt, AttemptId, Member, ORGANIZER, Target, TurfId, Void};
    use automerge::ActorId;
    use automerge::transaction::Transactable;

    fn attempt(n: u8, by: &str) -> Entry {
        Entry::Attempt(Attempt {
            id: AttemptId([n; 16]),
            target: Target::Household("h1".into()),
            household: "h1".into(),
            outcome: "not_home".into(),
            answers: vec![],
            note: None,
            canvasser: by.into(),
            device: "d".into(),
            recorded_at: i64::from(n),
            location: None,
        })
    }

    /// Rights whose teammates may each write in turf `t1`.
    fn rights(role: Role, user: &str, team: &[&str]) -> Rights {
        Rights {
            role,
            user: user.into(),
            team: team
                .iter()
                .map(|s| ((*s).to_owned(), HashSet::from(["t1".to_owned()])))
                .collect(),
        }
    }

    /// A turf with one attempt by `ana`, and a copy to edit.
    fn docs() -> (TurfDoc, TurfDoc) {
        let turf = TurfId::from("t1");
        let mut before = TurfDoc::new(&turf, ActorId::random()).unwrap();
        before.append(&attempt(1, "ana"), 1).unwrap();
        let copy = before.automerge().fork();
        let after = TurfDoc::wrap(copy, DocId::turf(&turf), &turf).unwrap();
        (before, after)
    }

    #[test]
    fn appending_in_ones_own_name_is_allowed_and_reported() {
        let (before, mut after) = docs();
        after.append(&attempt(2, "ben"), 2).unwrap();
        let added =
            check_turf_update(&before, &after, &rights(Role::Canvasser, "ben", &[])).unwrap();
        assert_eq!(added, vec![attempt(2, "ben")]);
    }

    #[test]
    fn appending_in_someone_elses_name_is_refused() {
        let (before, mut after) = docs();
        after.append(&attempt(2, "ana"), 2).unwrap();
        let err =
            check_turf_update(&before, &after, &rights(Role::Canvasser, "ben", &[])).unwrap_err();
        assert!(err.0.contains("in the name of 'ana'"), "{err}");
        // A captain forwards their team's attempts, and nobody else's.
        assert!(
            check_turf_update(&before, &after, &rights(Role::Captain, "cap", &["ana"])).is_ok()
        );
        assert!(
            check_turf_update(&before, &after, &rights(Role::Captain, "cap", &["ben"])).is_err()
        );
        // A teammate's attempt is judged by the teammate's rights: only in a turf they may
        // write in, whoever carries it.
        assert!(
            check_turf_update(&before, &after, &rights(Role::Canvasser, "ben", &["ana"])).is_ok()
        );
        let elsewhere = Rights {
            role: Role::Captain,
            user: "cap".into(),
            team: [("ana".to_owned(), HashSet::from(["t2".to_owned()]))].into(),
        };
        let err = check_turf_update(&before, &after, &elsewhere).unwrap_err();
        assert!(err.0.contains("in the name of 'ana'"), "{err}");
    }

    #[test]
    fn removing_a_recorded_attempt_is_refused_even_for_an_admin() {
        let (before, mut after) = docs();
        let log = after.structure().0[2].clone();
        after.automerge().delete(&log, 0).unwrap();
        after.automerge().commit();
        let err = check_turf_update(&before, &after, &rights(Role::Admin, "org", &[])).unwrap_err();
        assert!(err.0.contains("edits or removes"), "{err}");
    }

    #[test]
    fn a_reused_id_and_a_void_of_anothers_attempt_are_refused() {
        let (before, mut after) = docs();
        after.append(&attempt(1, "ben"), 3).unwrap();
        let err =
            check_turf_update(&before, &after, &rights(Role::Canvasser, "ben", &[])).unwrap_err();
        assert!(err.0.contains("already used"), "{err}");

        let (before, mut after) = docs();
        let void = Entry::Void(Void {
            id: AttemptId([9; 16]),
            attempt: AttemptId([1; 16]),
            canvasser: "ben".into(),
            device: "d".into(),
            recorded_at: 4,
        });
        after.append(&void, 4).unwrap();
        let err =
            check_turf_update(&before, &after, &rights(Role::Canvasser, "ben", &[])).unwrap_err();
        assert!(err.0.contains("not its author's own"), "{err}");
    }

    /// A team with captain `cap`, canvassers `ana` and `ben`, turfs `t1` (ana's) and `t2`; and
    /// a copy of it to edit.
    fn teams() -> (TeamDoc, TeamDoc) {
        let mut before = TeamDoc::new("north", "North", ActorId::random()).unwrap();
        for (id, role) in [
            ("cap", Role::Captain),
            ("ana", Role::Canvasser),
            ("ben", Role::Canvasser),
        ] {
            before
                .set_member(&Member {
                    id: id.into(),
                    name: id.into(),
                    role,
                })
                .unwrap();
        }
        for (turf, users) in [("t1", vec!["ana".to_owned()]), ("t2", vec![])] {
            let a = Assignment {
                users,
                past: vec![],
                by: ORGANIZER.into(),
                at: 1,
            };
            before.set_assignment(turf, &a).unwrap();
        }
        let copy = before.automerge().fork();
        let after = TeamDoc::wrap(copy, "north").unwrap();
        (before, after)
    }

    fn handed(turf_to: &[&str], by: &str) -> Assignment {
        Assignment {
            users: turf_to.iter().map(|s| (*s).to_owned()).collect(),
            past: vec![],
            by: by.into(),
            at: 2,
        }
    }

    #[test]
    fn a_captains_reassignment_passes_whoever_carries_it() {
        let (before, mut after) = teams();
        after
            .set_assignment("t1", &handed(&["ben"], "cap"))
            .unwrap();
        for carrier in ["cap", "ben", "ana"] {
            let role = if carrier == "cap" {
                Role::Captain
            } else {
                Role::Canvasser
            };
            let changed =
                check_team_update(&before, &after, &Rights::alone(role, carrier)).unwrap();
            assert_eq!(changed, vec![("t1".to_owned(), handed(&["ben"], "cap"))]);
        }
        let err =
            check_team_update(&before, &after, &Rights::alone(Role::Captain, "zed")).unwrap_err();
        assert!(err.0.contains("not a member"), "{err}");
    }

    #[test]
    fn a_past_holder_held_the_turf_or_is_a_member() {
        let (before, mut after) = teams();
        let mut carried = handed(&["ben"], "cap");
        carried.past = vec!["ana".into()];
        after.set_assignment("t1", &carried).unwrap();
        assert!(check_team_update(&before, &after, &Rights::alone(Role::Captain, "cap")).is_ok());

        let (before, mut after) = teams();
        let mut invented = handed(&["ben"], "cap");
        invented.past = vec!["zed".into()];
        after.set_assignment("t2", &invented).unwrap();
        let err =
            check_team_update(&before, &after, &Rights::alone(Role::Captain, "cap")).unwrap_err();
        assert!(err.0.contains("'zed' as a past holder"), "{err}");
    }

    #[test]
    fn a_canvassers_own_reassignment_and_one_to_an_outsider_are_refused() {
        let (before, mut after) = teams();
        after
            .set_assignment("t2", &handed(&["ana"], "ana"))
            .unwrap();
        let err =
            check_team_update(&before, &after, &Rights::alone(Role::Canvasser, "ana")).unwrap_err();
        assert!(err.0.contains("not a captain"), "{err}");

        let (before, mut after) = teams();
        after
            .set_assignment("t2", &handed(&["zed"], "cap"))
            .unwrap();
        let err =
            check_team_update(&before, &after, &Rights::alone(Role::Captain, "cap")).unwrap_err();
        assert!(err.0.contains("'zed', who is not a member"), "{err}");
    }

    #[test]
    fn a_captain_cannot_take_another_teams_turf_nor_promote_anyone() {
        let (before, mut after) = teams();
        after
            .set_assignment("t9", &handed(&["ana"], "cap"))
            .unwrap();
        let err =
            check_team_update(&before, &after, &Rights::alone(Role::Captain, "cap")).unwrap_err();
        assert!(err.0.contains("'t9' is not one of team"), "{err}");

        let (before, mut after) = teams();
        after
            .set_member(&Member {
                id: "ana".into(),
                name: "ana".into(),
                role: Role::Captain,
            })
            .unwrap();
        let err =
            check_team_update(&before, &after, &Rights::alone(Role::Captain, "cap")).unwrap_err();
        assert!(err.0.contains("promotes"), "{err}");
        // The server may.
        assert!(check_team_update(&before, &after, &Rights::alone(Role::Admin, "org")).is_ok());
    }
}
