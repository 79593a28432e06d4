//! What every backend computes the same way around its SQL: stored heads decoded, heads merged
//! after a write, the results projection's derived columns, and team documents brought in step
//! with what the database says the team is; and, in `organize` and `dashboard`, what the
//! organizer's commands and the dashboard do with the rows they read.

use super::{DocWrite, StorageError, StorageResult};
use automerge::ChangeHash;
use doorstep_core::doc::{TeamDoc, heads_from_bytes};
use doorstep_core::domain::{Assignment, Attempt, Member, ORGANIZER, Roster, Team};
use doorstep_core::sync::Role;
use std::collections::{BTreeMap, BTreeSet};

pub(crate) mod dashboard;
pub(crate) mod organize;

/// Stored heads, decoded.
pub(crate) fn heads(bytes: &[u8]) -> StorageResult<Vec<ChangeHash>> {
    heads_from_bytes(bytes)
        .ok_or_else(|| StorageError::Corrupt("stored heads are malformed".into()))
}

/// A damaged stored value.
pub(crate) fn corrupt(e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(e.to_string())
}

/// An id from a phone, quoted, escaped and cut short: it goes into logs and error messages.
pub(crate) fn shown(id: &str) -> String {
    let cut: String = id.chars().take(64).collect();
    format!("'{}'", cut.escape_debug())
}

/// The heads to store after a write: the writer's, plus any stored head the writer never knew
/// of (neither its heads before nor one of its changes): another writer's, made meanwhile.
pub(crate) fn merged_heads(doc: &DocWrite, stored: Option<Vec<ChangeHash>>) -> Vec<ChangeHash> {
    let mut out = doc.heads.clone();
    for h in stored.unwrap_or_default() {
        let known = doc.before.contains(&h)
            || doc.heads.contains(&h)
            || doc.changes.iter().any(|(c, _)| *c == h);
        if !known {
            out.push(h);
        }
    }
    out.sort();
    out
}

/// The support level (1-5) an attempt answered, for the dashboard's counts: when it answers
/// more than one support question, the first by question id, as the exports and `stats` read.
pub(crate) fn support_level(a: &Attempt) -> Option<u8> {
    a.answers
        .iter()
        .filter_map(|(q, answer)| match answer {
            doorstep_core::domain::Answer::Support(l) if (1..=5).contains(l) => Some((q, *l)),
            _ => None,
        })
        .min_by(|a, b| a.0.as_str().cmp(b.0.as_str()))
        .map(|(_, l)| l)
}

/// An attempt's answers as the results projection stores them: a JSON object, question id to
/// answer.
pub(crate) fn answers_json(a: &Attempt) -> String {
    let answers: serde_json::Map<String, serde_json::Value> = a
        .answers
        .iter()
        .map(|(q, ans)| {
            (
                q.to_string(),
                serde_json::to_value(ans).unwrap_or(serde_json::Value::Null),
            )
        })
        .collect();
    serde_json::Value::Object(answers).to_string()
}

/// A roster as stored.
pub(crate) fn encode_roster(roster: &Roster) -> Vec<u8> {
    postcard::to_stdvec(roster).unwrap_or_default()
}

/// A stored roster.
pub(crate) fn decode_roster(turf: &str, bytes: &[u8]) -> StorageResult<Roster> {
    postcard::from_bytes(bytes)
        .map_err(|e| StorageError::Corrupt(format!("roster of turf {turf}: {e}")))
}

/// A list's door rows: households with their map positions (walk lists) or voters (call
/// lists, no position).
pub(crate) fn door_rows(roster: &Roster) -> Vec<(&str, Option<f64>, Option<f64>)> {
    if roster.list_kind == doorstep_core::domain::ListKind::Call {
        roster
            .voters
            .iter()
            .map(|v| (v.id.as_str(), None, None))
            .collect()
    } else {
        roster
            .households
            .iter()
            .map(|h| {
                let (lat, lon) = h.location.map(|l| (l.lat, l.lon)).unzip();
                (h.id.as_str(), lat, lon)
            })
            .collect()
    }
}

/// What the database says a team is, from its rows: its live members (id, name, role), each
/// of its turfs with a holder or none, and who held each turf (holders included).
pub(crate) fn team_from_rows(
    team: &str,
    name: String,
    member_rows: Vec<(String, String, String)>,
    held_rows: Vec<(String, Option<String>)>,
    history_rows: Vec<(String, String)>,
) -> StorageResult<Team> {
    let mut members = Vec::new();
    for (id, name, role) in member_rows {
        let role =
            Role::parse(&role).ok_or_else(|| corrupt(format!("user {id} has role '{role}'")))?;
        members.push(Member { id, name, role });
    }
    members.sort_by(|a, b| a.id.cmp(&b.id));
    let mut held: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (turf, user) in held_rows {
        held.entry(turf).or_default().extend(user);
    }
    let mut before: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (turf, user) in history_rows {
        before.entry(turf).or_default().push(user);
    }
    let assignments = held
        .into_iter()
        .map(|(turf, mut users)| {
            users.sort();
            users.dedup();
            // Past holders are those who held it and hold it no more: the same on phones.
            let mut past = before.remove(&turf).unwrap_or_default();
            past.sort();
            past.dedup();
            past.retain(|u| !users.contains(u));
            (
                turf,
                Assignment {
                    users,
                    past,
                    by: ORGANIZER.into(),
                    at: 0,
                },
            )
        })
        .collect();
    Ok(Team {
        id: team.to_owned(),
        name,
        members,
        assignments,
    })
}

/// Writes into `doc` what differs from `want`: the team's name, its live members (revoked ones
/// leave), and for each of its turfs who holds it (turfs that left the team leave it), stamped
/// `now`. Returns whether anything changed.
pub(crate) fn bring_in_step(doc: &mut TeamDoc, want: &Team, now: i64) -> StorageResult<bool> {
    let mut changed = false;
    if doc.name().as_deref() != Some(want.name.as_str()) {
        doc.set_name(&want.name).map_err(corrupt)?;
        changed = true;
    }
    let members: BTreeSet<&str> = want.members.iter().map(|m| m.id.as_str()).collect();
    for gone in doc
        .member_values()
        .into_keys()
        .filter(|id| !members.contains(id.as_str()))
    {
        changed |= doc.remove_member(&gone).map_err(corrupt)?;
    }
    for m in &want.members {
        changed |= doc.set_member(m).map_err(corrupt)?;
    }
    let turfs: BTreeSet<&str> = want.assignments.iter().map(|(t, _)| t.as_str()).collect();
    for gone in doc
        .assignment_values()
        .into_keys()
        .filter(|t| !turfs.contains(t.as_str()))
    {
        changed |= doc.remove_turf(&gone).map_err(corrupt)?;
    }
    for (turf, assignment) in &want.assignments {
        let assignment = Assignment {
            at: now,
            ..assignment.clone()
        };
        changed |= doc.set_assignment(turf, &assignment).map_err(corrupt)?;
    }
    Ok(changed)
}

/// A user row as a handover is judged by: (team, role, revoked at).
pub(crate) type MemberRow = (Option<String>, String, Option<i64>);

/// Whether the database has overtaken a captain's handover of `turf` to `users` (`members`:
/// each one's row, in order): the turf is no longer the team's (`owner`), or a user is no
/// longer a live captain or canvasser of it. Logs why, with ids only.
pub(crate) fn overtaken(
    team: &str,
    turf: &str,
    owner: Option<&str>,
    users: &[String],
    members: Vec<Option<MemberRow>>,
) -> bool {
    let why = if owner != Some(team) {
        format!(
            "turf {} is no longer one of the team's turfs; the handover is undone",
            shown(turf)
        )
    } else if let Some(user) = users.iter().zip(members).find_map(|(user, row)| {
        let live = matches!(row, Some((Some(t), role, None))
            if t == team && (role == "captain" || role == "canvasser"));
        (!live).then_some(user)
    }) {
        format!(
            "turf {} is assigned to {}, who is no longer a live member of the team; the handover is undone",
            shown(turf),
            shown(user)
        )
    } else {
        return false;
    };
    let refused = super::StorageError::Refused {
        doc: format!("team:{team}"),
        reason: why,
    };
    tracing::warn!("{refused}");
    true
}
