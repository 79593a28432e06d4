//! Team documents written by the server, on PostgreSQL: as on SQLite
//! (`sqlite/teams.rs` says what and why), with the team document's row locked before it is
//! read, so that two servers bringing one team in step take turns.

use super::{Db, lock_document};
use crate::storage::common::{bring_in_step, corrupt, overtaken, team_from_rows};
use crate::storage::{Reassignment, StorageResult};
use doorstep_core::ActorId;
use doorstep_core::doc::{TeamDoc, heads_to_bytes};
use doorstep_core::domain::Team;
use std::collections::BTreeSet;

/// Chunks a team document may gather from commands before they fold it into a snapshot.
const FOLD_AFTER: usize = 16;

/// The team a turf belongs to.
pub(crate) fn turf_team(db: &mut Db<'_>, turf: &str) -> StorageResult<Option<String>> {
    Ok(db
        .query_opt("SELECT team_id FROM turfs WHERE id = $1", &[&turf])?
        .and_then(|r| r.get(0)))
}

/// The team a user is on.
pub(crate) fn user_team(db: &mut Db<'_>, user: &str) -> StorageResult<Option<String>> {
    Ok(db
        .query_opt("SELECT team_id FROM users WHERE id = $1", &[&user])?
        .and_then(|r| r.get(0)))
}

/// What the database says a team is; `None` if there is no such team.
fn team_in_sql(db: &mut Db<'_>, team: &str) -> StorageResult<Option<Team>> {
    let Some(name) = db.query_opt("SELECT name FROM teams WHERE id = $1", &[&team])? else {
        return Ok(None);
    };
    let members = db
        .query(
            "SELECT id, name, role FROM users
             WHERE team_id = $1 AND role IN ('captain', 'canvasser') AND revoked_at IS NULL",
            &[&team],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let held = db
        .query(
            "SELECT t.id, a.user_id FROM turfs t LEFT JOIN assignments a ON a.turf_id = t.id
             WHERE t.team_id = $1",
            &[&team],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let history = db
        .query(
            "SELECT h.turf_id, h.user_id FROM assignment_history h
             JOIN turfs t ON t.id = h.turf_id WHERE t.team_id = $1",
            &[&team],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    team_from_rows(team, name.get(0), members, held, history).map(Some)
}

/// Brings `team`'s document in step with the database, creating it if missing; returns whether
/// it changed (a change bumps the admin epoch, so that every server drops its cached copy).
pub(crate) fn team_doc_in_step(db: &mut Db<'_>, team: &str, now: i64) -> StorageResult<bool> {
    let doc_id = format!("team:{team}");
    // Locked before anything is read: another server's write of the document waits.
    let exists = lock_document(db, &doc_id)?.is_some();
    let Some(want) = team_in_sql(db, team)? else {
        return Ok(false);
    };
    let (mut doc, before, chunks) = if exists {
        let snapshot: Option<Vec<u8>> = db
            .query_one("SELECT snapshot FROM documents WHERE id = $1", &[&doc_id])?
            .get(0);
        let chunks: Vec<Vec<u8>> = db
            .query("SELECT data FROM chunks WHERE doc_id = $1", &[&doc_id])?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut doc = TeamDoc::load(
            team,
            snapshot.as_deref().unwrap_or_default(),
            chunks.iter().map(Vec::as_slice),
            ActorId::random(),
        )
        .map_err(corrupt)?;
        let before = doc.heads();
        (doc, before, chunks.len())
    } else {
        (
            TeamDoc::new(team, &want.name, ActorId::random()).map_err(corrupt)?,
            Vec::new(),
            0,
        )
    };
    let changed = bring_in_step(&mut doc, &want, now)? || !exists;
    if !changed {
        return Ok(false);
    }
    let heads = heads_to_bytes(&doc.heads());
    let am = doc.automerge();
    if !exists {
        let created = db.execute(
            "INSERT INTO documents (id, heads, snapshot) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&doc_id, &heads, &am.save()],
        )?;
        if created == 0 {
            // Another server created it meanwhile (and has committed: the insert waited for
            // it): bring that one in step instead.
            return team_doc_in_step(db, team, now);
        }
    } else if chunks >= FOLD_AFTER {
        // Everything stored is in this copy (the row is locked): its snapshot folds it all in.
        db.execute(
            "UPDATE documents SET heads = $2, snapshot = $3, generation = generation + 1
             WHERE id = $1",
            &[&doc_id, &heads, &am.save()],
        )?;
        db.execute("DELETE FROM chunks WHERE doc_id = $1", &[&doc_id])?;
    } else {
        for change in am.get_changes(&before) {
            db.execute(
                "INSERT INTO chunks (doc_id, hash, data) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&doc_id, &&change.hash().0[..], &change.raw_bytes()],
            )?;
        }
        db.execute(
            "UPDATE documents SET heads = $2 WHERE id = $1",
            &[&doc_id, &heads],
        )?;
    }
    db.execute("UPDATE admin_epoch SET value = value + 1 WHERE id = 1", &[])?;
    Ok(true)
}

/// Brings the documents of these teams in step (each once, in order, skipping `None`).
pub(crate) fn teams_in_step<'a>(
    db: &mut Db<'_>,
    teams: impl IntoIterator<Item = Option<&'a str>>,
    now: i64,
) -> StorageResult<()> {
    let teams: BTreeSet<&str> = teams.into_iter().flatten().collect();
    for team in teams {
        team_doc_in_step(db, team, now)?;
    }
    Ok(())
}

/// Applies a sync's reassignments, as on SQLite (`sqlite/teams.rs::apply_assignments`): one
/// the database has overtaken is not applied, and its team is returned to be brought back in
/// step.
pub(crate) fn apply_assignments(
    db: &mut Db<'_>,
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
        // Rows read FOR SHARE: a revocation or a turf moved to another team on another server
        // waits until this sync's handover is stored, or is seen by it.
        let owner: Option<String> = db
            .query_opt("SELECT team_id FROM turfs WHERE id = $1 FOR SHARE", &[turf])?
            .and_then(|r| r.get(0));
        let mut members = Vec::new();
        for user in users {
            members.push(
                db.query_opt(
                    "SELECT team_id, role, revoked_at FROM users WHERE id = $1 FOR SHARE",
                    &[user],
                )?
                .map(|r| (r.get(0), r.get(1), r.get(2))),
            );
        }
        if overtaken(team, turf, owner.as_deref(), users, members) {
            stale.insert(team.clone());
            continue;
        }
        db.execute("DELETE FROM assignments WHERE turf_id = $1", &[turf])?;
        for user in users {
            db.execute(
                "INSERT INTO assignments (turf_id, user_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
                &[turf, user],
            )?;
            db.execute(
                "INSERT INTO assignment_history (turf_id, user_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
                &[turf, user],
            )?;
        }
        // Past holders the captain's phone knew of: remembered, when they are users of the
        // team.
        for user in past {
            db.execute(
                "INSERT INTO assignment_history (turf_id, user_id)
                 SELECT $1, id FROM users WHERE id = $2 AND team_id = $3
                 ON CONFLICT DO NOTHING",
                &[turf, user, team],
            )?;
        }
    }
    Ok(stale)
}
