//! Teams on the phone: the team document and its projection, a captain's reassignments, and
//! the team's progress counted from what this phone holds, with no server.

use super::queries::Progress;
use super::{LogPosition, Store, persist, storage_tx};
use crate::doc::{DocId, TeamDoc, apply_incoming, load_doc};
use crate::domain::{Assignment, CanvasserId, Member, OutcomeCode, Role, Team, Timestamp, TurfId};
use crate::error::{Error, Result};
use crate::store::MergeOutcome;
use crate::sync::{Rights, check_team_update};
use automerge::ChangeHash;
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::BTreeMap;

/// What merging a team document's changes will write, checked before anything is.
pub(crate) struct PreparedTeam {
    /// The new changes, as stored bytes.
    pub new: Vec<u8>,
    /// Heads after them.
    pub heads: Vec<ChangeHash>,
    /// The document after.
    pub after: TeamDoc,
}

/// One team member's results, from the attempts this phone holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberProgress {
    /// The member (or any other author of an attempt in the team's turfs).
    pub user: CanvasserId,
    /// Their name in the team document (their id when they are not in it).
    pub name: String,
    /// Their role, when they are a member.
    pub role: Option<Role>,
    /// The turfs they hold now.
    pub turfs: Vec<TurfId>,
    /// Their attempts, not counting voided ones.
    pub attempts: u32,
    /// Doors where they recorded at least one attempt.
    pub doors_knocked: u32,
    /// Voters they reached with an outcome the campaign counts as a conversation.
    pub contacts: u32,
    /// Their attempts by outcome code.
    pub by_outcome: BTreeMap<OutcomeCode, u32>,
    /// Their attempts carrying a support answer, by level (1-5).
    pub by_support: BTreeMap<u8, u32>,
    /// When they recorded their latest attempt.
    pub last_result_at: Option<Timestamp>,
}

/// One of the team's turfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurfProgress {
    /// The turf.
    pub turf: TurfId,
    /// Its name (its id when this phone lacks its list).
    pub name: String,
    /// Who holds it now.
    pub holders: Vec<CanvasserId>,
    /// Its progress (doors are counted only when this phone holds its list).
    pub progress: Progress,
    /// When the latest attempt on it was recorded.
    pub last_result_at: Option<Timestamp>,
}

/// A team's progress from what this phone holds: a captain's view at the staging location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamProgress {
    /// The team (`None` on a phone that holds no team document).
    pub team: Option<Team>,
    /// Every member, and anyone else who recorded in the team's turfs, by id.
    pub members: Vec<MemberProgress>,
    /// The team's turfs and any other turf this phone holds, by name.
    pub turfs: Vec<TurfProgress>,
}

impl Store {
    /// A team document as held, or `None`.
    pub(crate) fn stored_team(&self, team: &str) -> Result<Option<TeamDoc>> {
        let Some((snapshot, changes)) = self.read_doc(&DocId::team(team))? else {
            return Ok(None);
        };
        TeamDoc::load(
            team,
            &snapshot,
            changes.iter().map(Vec::as_slice),
            self.actor.clone(),
        )
        .map(Some)
    }

    /// The team document with `bytes` merged, checked and not written: `None` when they bring
    /// nothing new.
    pub(crate) fn prepare_team_merge(
        &mut self,
        team: &str,
        bytes: &[u8],
    ) -> Result<Option<PreparedTeam>> {
        let id = DocId::team(team);
        let (snapshot, changes) = self.read_doc(&id)?.unwrap_or_default();
        let mut doc = load_doc(&id, &snapshot, changes.iter().map(Vec::as_slice))?;
        let start = doc.get_heads();
        apply_incoming(&mut doc, &id, bytes)?;
        let heads = doc.get_heads();
        if heads == start {
            return Ok(None);
        }
        let new = doc.save_after(&start);
        let after = TeamDoc::wrap(doc, team)?;
        Ok(Some(PreparedTeam { new, heads, after }))
    }

    pub(crate) fn merge_team(&mut self, team: &str, bytes: &[u8]) -> Result<MergeOutcome> {
        match self.prepare_team_merge(team, bytes)? {
            None => Ok(MergeOutcome {
                changed: false,
                heads: self.heads(&DocId::team(team))?,
            }),
            Some(prepared) => self.write_prepared_team(prepared, true),
        }
    }

    /// Writes a prepared team merge. Members and roles are taken from it only when it comes
    /// from the server (`members_trusted`): another phone's copy could promote its user, so
    /// what this phone sends and takes goes by the members the server last gave it.
    pub(crate) fn write_prepared_team(
        &mut self,
        prepared: PreparedTeam,
        members_trusted: bool,
    ) -> Result<MergeOutcome> {
        let PreparedTeam {
            new,
            heads,
            mut after,
        } = prepared;
        let id = after.id().clone();
        let mut log = LogPosition::read(&self.conn, &id)?;
        let team = after.team();
        let tx = storage_tx(&mut self.conn)?;
        persist(&tx, &id, &new, &heads, &mut log, self.compact_after, || {
            after.automerge().save()
        })?;
        project_team(&tx, &team, members_trusted)?;
        tx.commit()?;
        Ok(MergeOutcome {
            changed: true,
            heads,
        })
    }

    /// Rebuilds the team projections from the team documents.
    pub(crate) fn rebuild_teams(&mut self) -> Result<()> {
        let teams: Vec<String> = self
            .documents()?
            .into_iter()
            .filter(|d| d.kind == crate::doc::DocKind::Team)
            .map(|d| d.id)
            .collect();
        let mut projected = Vec::new();
        for team in &teams {
            if let Some(doc) = self.stored_team(team)? {
                projected.push(doc.team());
            }
        }
        let tx = storage_tx(&mut self.conn)?;
        for team in &projected {
            // Members as the server gave them stay; a team with none yet takes the document's.
            let known: bool = tx
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM team_members WHERE team_id = ?1)")?
                .query_row([&team.id], |r| r.get(0))?;
            project_team(&tx, team, !known)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The team of the user signed in (or, on a phone of nobody's team, the first team held).
    pub fn team(&self) -> Result<Option<Team>> {
        let me = self
            .canvasser
            .as_ref()
            .map(|c| c.0.clone())
            .unwrap_or_default();
        let id: Option<String> = self
            .conn
            .prepare_cached(
                "SELECT team_id FROM (
                     SELECT team_id, 0 AS mine FROM team_members WHERE user_id = ?1
                     UNION ALL
                     SELECT id, 1 FROM (SELECT substr(id, 6) AS id FROM documents
                                        WHERE kind = 'team'))
                 ORDER BY mine, team_id LIMIT 1",
            )?
            .query_row([me], |r| r.get(0))
            .optional()?;
        let Some(id) = id else { return Ok(None) };
        let Some(doc) = self.stored_team(&id)? else {
            return Ok(None);
        };
        let mut team = doc.team();
        // Members and roles as the server last gave them (see `write_prepared_team`).
        let members: Vec<Member> = self
            .conn
            .prepare_cached(
                "SELECT user_id, name, role FROM team_members WHERE team_id = ?1 ORDER BY user_id",
            )?
            .query_map([&id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .filter_map(|row| match row {
                Ok((id, name, role)) => {
                    Role::parse(&role).map(|role| Ok(Member { id, name, role }))
                }
                Err(e) => Some(Err(e)),
            })
            .collect::<rusqlite::Result<_>>()?;
        if !members.is_empty() {
            team.members = members;
        }
        Ok(Some(team))
    }

    /// Hands a turf of the team to `to` (one member or more; none takes it from everyone).
    /// A captain's phone only, offline: the change goes to the server, and to the canvassers'
    /// phones, at the next sync with either, and the server turns it into grants. Judged here by
    /// the rules the server applies: a turf of the captain's own team, to members of it.
    pub fn reassign_turf(
        &mut self,
        turf: &TurfId,
        to: &[CanvasserId],
        now: Timestamp,
    ) -> Result<Assignment> {
        let me = self.canvasser.clone().ok_or(Error::NotSignedIn)?;
        let role = self.role()?.unwrap_or_default();
        if role != Role::Captain.as_str() {
            return Err(Error::NotPermitted {
                role,
                action: "reassign turfs",
            });
        }
        let team = self.team()?.ok_or(Error::NoTeam)?;
        let mut users: Vec<String> = to.iter().map(|c| c.0.clone()).collect();
        users.sort();
        users.dedup();
        // Whoever held it keeps their records on it theirs to pass on.
        let mut past: Vec<String> = team
            .assignment(turf.as_str())
            .map(|a| a.users.iter().chain(&a.past).cloned().collect())
            .unwrap_or_default();
        past.retain(|u| !users.contains(u));
        past.sort();
        past.dedup();
        let assignment = Assignment {
            users,
            past,
            by: me.0.clone(),
            at: now,
        };
        let mut doc = self.stored_team(&team.id)?.ok_or(Error::NoTeam)?;
        let before = TeamDoc::wrap(doc.automerge().fork(), &team.id)?;
        let start = doc.heads();
        if !doc.set_assignment(turf.as_str(), &assignment)? {
            return Ok(team
                .assignment(turf.as_str())
                .cloned()
                .unwrap_or(assignment));
        }
        check_team_update(&before, &doc, &Rights::alone(Role::Captain, me.as_str())).map_err(
            |r| Error::Refused {
                doc: doc.id().to_string(),
                reason: r.0,
            },
        )?;
        let heads = doc.heads();
        let new = doc.automerge().save_after(&start);
        self.write_prepared_team(
            PreparedTeam {
                new,
                heads,
                after: doc,
            },
            false,
        )?;
        Ok(assignment)
    }

    /// The team of this phone's user, and the rights by which this phone judges what another
    /// phone hands it: its own user's, passing on the records of teammates (each in the turfs
    /// they hold or held). No rights when it judges nothing (an organizer's phone, or one
    /// nobody has signed in on). The team document is read once.
    pub(crate) fn own_team_and_rights(&self) -> Result<(Option<Team>, Option<Rights>)> {
        let team = self.team()?;
        let Some(role) = self.role()?.as_deref().and_then(Role::parse) else {
            return Ok((team, None));
        };
        if role == Role::Admin {
            return Ok((team, None));
        }
        let me = self.canvasser.clone().ok_or(Error::NotSignedIn)?;
        let rights = super::bundle::with_team(Rights::alone(role, me.as_str()), team.as_ref());
        Ok((team, Some(rights)))
    }

    /// The team's progress, from the attempts this phone holds: per member and per turf.
    pub fn team_progress(&self) -> Result<TeamProgress> {
        let team = self.team()?;
        let mut turf_ids: Vec<String> = self
            .conn
            .prepare_cached(
                "SELECT turf_id FROM team_turfs WHERE team_id = ?1
                 UNION SELECT turf_id FROM rosters",
            )?
            .query_map([team.as_ref().map(|t| t.id.as_str()).unwrap_or("")], |r| {
                r.get(0)
            })?
            .collect::<rusqlite::Result<_>>()?;
        turf_ids.sort();
        let mut turfs = Vec::with_capacity(turf_ids.len());
        for id in turf_ids {
            let turf = TurfId(id);
            let (name, last): (Option<String>, Option<i64>) = self
                .conn
                .prepare_cached(
                    "SELECT (SELECT name FROM rosters WHERE turf_id = ?1),
                            (SELECT max(recorded_at) FROM attempts
                              WHERE turf_id = ?1 AND voided_by IS NULL)",
                )?
                .query_row([turf.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let holders = team
                .as_ref()
                .and_then(|t| t.assignment(turf.as_str()))
                .map(|a| a.users.iter().map(|u| CanvasserId(u.clone())).collect())
                .unwrap_or_default();
            turfs.push(TurfProgress {
                name: name.unwrap_or_else(|| turf.0.clone()),
                progress: self.progress(&turf)?,
                turf,
                holders,
                last_result_at: last,
            });
        }
        turfs.sort_by(|a, b| a.name.cmp(&b.name).then(a.turf.cmp(&b.turf)));

        let mut members: BTreeMap<String, MemberProgress> = BTreeMap::new();
        let blank = |user: &str, member: Option<&Member>| MemberProgress {
            user: CanvasserId(user.to_owned()),
            name: member.map_or_else(|| user.to_owned(), |m| m.name.clone()),
            role: member.map(|m| m.role),
            turfs: team
                .as_ref()
                .map(|t| t.turfs_of(user).into_iter().map(TurfId::from).collect())
                .unwrap_or_default(),
            attempts: 0,
            doors_knocked: 0,
            contacts: 0,
            by_outcome: BTreeMap::new(),
            by_support: BTreeMap::new(),
            last_result_at: None,
        };
        if let Some(t) = &team {
            for m in &t.members {
                members.insert(m.id.clone(), blank(&m.id, Some(m)));
            }
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.canvasser, 'totals', NULL, count(*),
                    count(DISTINCT a.turf_id || char(31) || a.household_id), max(a.recorded_at)
               FROM attempts a WHERE a.voided_by IS NULL GROUP BY a.canvasser
             UNION ALL
             SELECT a.canvasser, 'contacts', NULL, count(DISTINCT a.turf_id || char(31) || a.voter_id),
                    0, NULL
               FROM attempts a
               JOIN rosters r ON r.turf_id = a.turf_id
               JOIN campaign_outcomes o ON o.campaign_id = r.campaign_id AND o.code = a.outcome
              WHERE a.voided_by IS NULL AND o.contact AND a.voter_id IS NOT NULL
              GROUP BY a.canvasser
             UNION ALL
             SELECT canvasser, 'outcome', outcome, count(*), 0, NULL FROM attempts
              WHERE voided_by IS NULL GROUP BY canvasser, outcome
             UNION ALL
             SELECT canvasser, 'support', support, count(*), 0, NULL FROM attempts
              WHERE voided_by IS NULL AND support IS NOT NULL GROUP BY canvasser, support",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let user: String = r.get(0)?;
            let kind: String = r.get(1)?;
            let n: u32 = r.get(3)?;
            let entry = members.entry(user.clone()).or_insert_with(|| {
                let member = team.as_ref().and_then(|t| t.member(&user));
                blank(&user, member)
            });
            match kind.as_str() {
                "totals" => {
                    entry.attempts = n;
                    entry.doors_knocked = r.get(4)?;
                    entry.last_result_at = r.get(5)?;
                }
                "contacts" => entry.contacts = n,
                "outcome" => {
                    entry.by_outcome.insert(OutcomeCode(r.get(2)?), n);
                }
                _ => {
                    entry.by_support.insert(r.get(2)?, n);
                }
            }
        }
        Ok(TeamProgress {
            team,
            members: members.into_values().collect(),
            turfs,
        })
    }
}

/// Replaces a team's projection rows (its members' too when `members`).
fn project_team(tx: &Transaction<'_>, team: &Team, members: bool) -> Result<()> {
    tx.prepare_cached("DELETE FROM team_turfs WHERE team_id = ?1")?
        .execute([&team.id])?;
    let held: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM team_members WHERE team_id = ?1)")?
        .query_row([&team.id], |r| r.get(0))?;
    // A team first met through another phone: its members are all this phone knows.
    let members = members || !held;
    if members {
        tx.prepare_cached("DELETE FROM team_members WHERE team_id = ?1")?
            .execute([&team.id])?;
    }
    for m in team.members.iter().filter(|_| members) {
        tx.prepare_cached(
            "INSERT INTO team_members (team_id, user_id, name, role) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![team.id, m.id, m.name, m.role.as_str()])?;
    }
    for (turf, a) in &team.assignments {
        let holders: Vec<&str> = if a.users.is_empty() {
            vec![""]
        } else {
            a.users.iter().map(String::as_str).collect()
        };
        for user in holders {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO team_turfs (team_id, turf_id, user_id, assigned_by, assigned_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![team.id, turf, user, a.by, a.at])?;
        }
    }
    Ok(())
}
