//! Team documents written by the server: every organizer's change to a team (created, renamed,
//! members added or revoked, turfs assigned or moved) brings the team's document in step with
//! the database in the same transaction, and a captain's reassignment carried by a sync comes
//! back the other way ([`apply_assignments`]).

use super::*;
use crate::storage::common::{bring_in_step, corrupt, overtaken, team_from_rows};
use doorstep_core::ActorId;
use doorstep_core::doc::TeamDoc;
use doorstep_core::domain::Team;
use std::collections::BTreeSet;

/// Chunks a team document may gather from commands before they fold it into a snapshot. A
/// command writes a few changes; seeding a big team writes hundreds, each loaded by the next.
const FOLD_AFTER: usize = 16;

/// The team a turf belongs to.
pub(super) fn turf_team(c: &Connection, turf: &str) -> StorageResult<Option<String>> {
    Ok(c.prepare_cached("SELECT team_id FROM turfs WHERE id = ?1")?
        .query_row([turf], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

/// The team a user is on.
pub(super) fn user_team(c: &Connection, user: &str) -> StorageResult<Option<String>> {
    Ok(c.prepare_cached("SELECT team_id FROM users WHERE id = ?1")?
        .query_row([user], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

/// What the database says a team is: its name, its live members, and who holds each of its
/// turfs. `None` if there is no such team.
fn team_in_sql(c: &Connection, team: &str) -> StorageResult<Option<Team>> {
    let name: Option<String> = c
        .prepare_cached("SELECT name FROM teams WHERE id = ?1")?
        .query_row([team], |r| r.get(0))
        .optional()?;
    let Some(name) = name else {
        return Ok(None);
    };
    let members = c
        .prepare_cached(
            "SELECT id, name, role FROM users
             WHERE team_id = ?1 AND role IN ('captain', 'canvasser') AND revoked_at IS NULL",
        )?
        .query_map([team], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let held = c
        .prepare_cached(
            "SELECT t.id, a.user_id FROM turfs t LEFT JOIN assignments a ON a.turf_id = t.id
             WHERE t.team_id = ?1",
        )?
        .query_map([team], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let history = c
        .prepare_cached(
            "SELECT h.turf_id, h.user_id FROM assignment_history h JOIN turfs t ON t.id = h.turf_id
             WHERE t.team_id = ?1",
        )?
        .query_map([team], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    team_from_rows(team, name, members, held, history).map(Some)
}

/// Brings `team`'s document in step with the database, creating it if missing: the team's
/// name, its live members (revoked ones leave), and for each of its turfs who holds it (turfs
/// that left the team leave it). Only what differs is written, as new changes by a new actor
/// (like a campaign applied), so a phone merges them with its captain's reassignments. Returns
/// whether the document changed; a change bumps the admin epoch, so that running servers drop
/// their cached copy.
///
/// Runs inside the writer's transaction, which loads every stored chunk: the heads it stores
/// are those of everything stored, whichever server wrote it.
pub(super) fn team_doc_in_step(
    tx: &rusqlite::Transaction<'_>,
    team: &str,
    now: i64,
) -> StorageResult<bool> {
    let Some(want) = team_in_sql(tx, team)? else {
        return Ok(false);
    };
    let doc_id = format!("team:{team}");
    let stored: Option<Option<Vec<u8>>> = tx
        .prepare_cached("SELECT snapshot FROM documents WHERE id = ?1")?
        .query_row([&doc_id], |r| r.get(0))
        .optional()?;
    let chunks: Vec<Vec<u8>> = tx
        .prepare_cached("SELECT data FROM chunks WHERE doc_id = ?1")?
        .query_map([&doc_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let (mut doc, before, created) = match &stored {
        Some(snapshot) => {
            let mut doc = TeamDoc::load(
                team,
                snapshot.as_deref().unwrap_or_default(),
                chunks.iter().map(Vec::as_slice),
                ActorId::random(),
            )
            .map_err(corrupt)?;
            let before = doc.heads();
            (doc, before, false)
        }
        None => (
            TeamDoc::new(team, &want.name, ActorId::random()).map_err(corrupt)?,
            Vec::new(),
            true,
        ),
    };
    let changed = bring_in_step(&mut doc, &want, now)? || created;
    if !changed {
        return Ok(false);
    }
    let heads = doc.heads();
    let am = doc.automerge();
    if created {
        tx.prepare_cached("INSERT INTO documents (id, heads, snapshot) VALUES (?1, ?2, ?3)")?
            .execute(params![doc_id, heads_to_bytes(&heads), am.save()])?;
    } else if chunks.len() >= FOLD_AFTER {
        // Everything stored is in this copy (one transaction): its snapshot folds it all in.
        tx.prepare_cached(
            "UPDATE documents SET heads = ?2, snapshot = ?3, generation = generation + 1
             WHERE id = ?1",
        )?
        .execute(params![doc_id, heads_to_bytes(&heads), am.save()])?;
        tx.prepare_cached("DELETE FROM chunks WHERE doc_id = ?1")?
            .execute([&doc_id])?;
    } else {
        let mut ins = tx.prepare_cached(
            "INSERT OR IGNORE INTO chunks (doc_id, hash, data) VALUES (?1, ?2, ?3)",
        )?;
        for change in am.get_changes(&before) {
            ins.execute(params![doc_id, &change.hash().0[..], change.raw_bytes()])?;
        }
        tx.prepare_cached("UPDATE documents SET heads = ?2 WHERE id = ?1")?
            .execute(params![doc_id, heads_to_bytes(&heads)])?;
    }
    tx.prepare_cached("UPDATE admin_epoch SET value = value + 1 WHERE id = 1")?
        .execute([])?;
    Ok(true)
}

/// Brings the documents of these teams in step (each once, skipping `None`).
pub(super) fn teams_in_step<'a>(
    tx: &rusqlite::Transaction<'_>,
    teams: impl IntoIterator<Item = Option<&'a str>>,
    now: i64,
) -> StorageResult<()> {
    let teams: BTreeSet<&str> = teams.into_iter().flatten().collect();
    for team in teams {
        team_doc_in_step(tx, team, now)?;
    }
    Ok(())
}

/// Creates the document of every team that has none (teams made by a server older than team
/// documents).
pub(super) fn create_missing_team_docs(tx: &rusqlite::Transaction<'_>) -> StorageResult<usize> {
    let missing: Vec<String> = tx
        .prepare(
            "SELECT id FROM teams WHERE 'team:' || id NOT IN (SELECT id FROM documents)
             ORDER BY id",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let now = crate::handlers::sync::now_ms();
    for team in &missing {
        team_doc_in_step(tx, team, now)?;
    }
    Ok(missing.len())
}

/// Applies a sync's reassignments (team, turf, users): the turf's assignments become exactly
/// these users, and each is remembered as having held it. The write rules judged the document
/// against its members; this judges against the database, which may have moved on while the
/// captain was offline (the turf moved to another team, a user revoked). Such a reassignment is
/// not applied, and its team is returned: the caller brings that team's document back in step
/// with the database, so that the captain's phone learns the handover did not happen, and
/// nothing else of the sync is lost (refusing it would hold the team document back on the phone,
/// and every later handover with it).
pub(super) fn apply_assignments(
    tx: &rusqlite::Transaction<'_>,
    assignments: &[Reassignment],
) -> StorageResult<BTreeSet<String>> {
    let mut stale = BTreeSet::new();
    for Reassignment {
        team,
        turf,
        users,
        past,
    } in assignments
    {
        let owner = turf_team(tx, turf)?;
        let mut members = Vec::new();
        for user in users {
            members.push(
                tx.prepare_cached("SELECT team_id, role, revoked_at FROM users WHERE id = ?1")?
                    .query_row([user], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?,
            );
        }
        if overtaken(team, turf, owner.as_deref(), users, members) {
            stale.insert(team.clone());
            continue;
        }
        tx.prepare_cached("DELETE FROM assignments WHERE turf_id = ?1")?
            .execute([turf])?;
        for user in users {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO assignments (turf_id, user_id) VALUES (?1, ?2)",
            )?
            .execute(params![turf, user])?;
            tx.prepare_cached(
                "INSERT OR IGNORE INTO assignment_history (turf_id, user_id) VALUES (?1, ?2)",
            )?
            .execute(params![turf, user])?;
        }
        // Past holders the captain's phone knew of (handed on before the server heard):
        // remembered, so their records on the turf pass, when they are users of the team.
        for user in past {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO assignment_history (turf_id, user_id)
                 SELECT ?1, id FROM users WHERE id = ?2 AND team_id = ?3",
            )?
            .execute(params![turf, user, team])?;
        }
    }
    Ok(stale)
}
