//! Projections: the rows derived from rosters and documents.
//!
//! Two paths write them: the incremental one (a local record touches one attempt and two status
//! rows, in SQL) and the full one (after a merge, a roster or a migration, computed here in Rust
//! and written whole). [`Derived::read`] reads them back, so tests and
//! [`Store::verify_projections`](super::Store::verify_projections) can check that both agree.

use crate::doc::TurfDoc;
use crate::domain::{
    AddedPerson, Attempt, AttemptId, Entry, HouseholdId, OutcomeCode, Timestamp, TurfId, Void,
    VoterId,
};
use crate::error::Result;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// One attempt as the projections see it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AttemptRow {
    pub household: HouseholdId,
    pub voter: Option<VoterId>,
    pub outcome: OutcomeCode,
    pub support: Option<u8>,
    pub recorded_at: Timestamp,
    pub voided_by: Option<AttemptId>,
}

/// The current status of a voter or a door.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StatusRow {
    pub attempt: AttemptId,
    pub outcome: OutcomeCode,
    pub recorded_at: Timestamp,
    /// The latest support answer, and the attempt (time, id) it came from.
    pub support: Option<(u8, Timestamp, AttemptId)>,
}

/// Everything projected for one turf.
#[derive(Debug, Default)]
pub(crate) struct Derived {
    /// The decoded log, written as full attempt rows; not compared by [`Derived::differences`].
    pub entries: Vec<Entry>,
    /// People added at the door, in full; not compared.
    pub full_people: Vec<AddedPerson>,
    pub attempts: BTreeMap<AttemptId, AttemptRow>,
    pub voids: BTreeMap<AttemptId, AttemptId>,
    /// Keyed by the door the attempts were recorded at, then the voter.
    pub voter_status: BTreeMap<(HouseholdId, VoterId), StatusRow>,
    pub household_status: BTreeMap<HouseholdId, StatusRow>,
    pub people: BTreeMap<VoterId, (HouseholdId, String, String)>,
    pub notes: BTreeMap<HouseholdId, String>,
    pub walk: Vec<(HouseholdId, bool)>,
}

/// The walk order as shown: the document's order for the households it lists, then the rest of
/// the roster in the organizer's order. Households gone from the roster are not shown.
pub(crate) fn effective_walk(
    doc_walk: &[HouseholdId],
    roster: &[(HouseholdId, u32)],
    skipped: &BTreeSet<HouseholdId>,
) -> Vec<(HouseholdId, bool)> {
    let in_roster: HashSet<&HouseholdId> = roster.iter().map(|(h, _)| h).collect();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(roster.len());
    for h in doc_walk {
        if in_roster.contains(h) && seen.insert(h.clone()) {
            out.push(h.clone());
        }
    }
    let mut rest: Vec<&(HouseholdId, u32)> =
        roster.iter().filter(|(h, _)| !seen.contains(h)).collect();
    rest.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    out.extend(rest.into_iter().map(|(h, _)| h.clone()));
    out.into_iter()
        .map(|h| {
            let s = skipped.contains(&h);
            (h, s)
        })
        .collect()
}

fn later(a: (Timestamp, AttemptId), b: (Timestamp, AttemptId)) -> bool {
    a > b
}

impl Derived {
    /// Derives the projections of one turf from its document and roster order.
    pub fn compute(doc: &TurfDoc, roster: &[(HouseholdId, u32)]) -> Result<Self> {
        let log = doc.log()?;
        let mut d = Derived::default();
        let mut attempts: Vec<&Attempt> = Vec::new();
        let mut voids: Vec<&Void> = Vec::new();
        for entry in &log.entries {
            match entry {
                Entry::Attempt(a) => attempts.push(a),
                Entry::Void(v) => voids.push(v),
            }
        }
        for a in &attempts {
            d.attempts.entry(a.id).or_insert_with(|| AttemptRow {
                household: a.household.clone(),
                voter: a.voter().cloned(),
                outcome: a.outcome.clone(),
                support: a.support(),
                recorded_at: a.recorded_at,
                voided_by: None,
            });
        }
        for v in &voids {
            d.voids.insert(v.id, v.attempt);
            if let Some(row) = d.attempts.get_mut(&v.attempt) {
                // Several voids of one attempt: the smallest id wins, on every replica.
                if row.voided_by.is_none_or(|by| v.id < by) {
                    row.voided_by = Some(v.id);
                }
            }
        }
        type Key = (HouseholdId, VoterId);
        let mut voter_support: BTreeMap<Key, (Timestamp, AttemptId, u8)> = BTreeMap::new();
        for (id, row) in d.attempts.iter().filter(|(_, r)| r.voided_by.is_none()) {
            let key = (row.recorded_at, *id);
            let status = StatusRow {
                attempt: *id,
                outcome: row.outcome.clone(),
                recorded_at: row.recorded_at,
                support: None,
            };
            let hs = d.household_status.entry(row.household.clone());
            match hs {
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(status.clone());
                }
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    if later(key, (e.get().recorded_at, e.get().attempt)) {
                        e.insert(status.clone());
                    }
                }
            }
            if let Some(voter) = &row.voter {
                let voter = &(row.household.clone(), voter.clone());
                let vs = d.voter_status.entry(voter.clone());
                match vs {
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(status);
                    }
                    std::collections::btree_map::Entry::Occupied(mut e) => {
                        if later(key, (e.get().recorded_at, e.get().attempt)) {
                            e.insert(status);
                        }
                    }
                }
                if let Some(level) = row.support {
                    let cur = voter_support.get(voter);
                    if cur.is_none_or(|c| later(key, (c.0, c.1))) {
                        voter_support.insert(voter.clone(), (key.0, key.1, level));
                    }
                }
            }
        }
        for (voter, (at, id, level)) in voter_support {
            if let Some(s) = d.voter_status.get_mut(&voter) {
                s.support = Some((level, at, id));
            }
        }
        d.full_people = doc.people()?;
        d.people = d
            .full_people
            .iter()
            .map(|p: &AddedPerson| {
                (
                    p.id.clone(),
                    (
                        p.household.clone(),
                        p.first_name.clone(),
                        p.last_name.clone(),
                    ),
                )
            })
            .collect();
        d.notes = doc.notes();
        d.walk = effective_walk(&doc.walk(), roster, &doc.skipped());
        // Only doors on the walk list carry a status and a note in the projection.
        let on_list: HashSet<&HouseholdId> = d.walk.iter().map(|(h, _)| h).collect();
        d.household_status.retain(|h, _| on_list.contains(h));
        d.voter_status.retain(|(h, _), _| on_list.contains(h));
        d.notes.retain(|h, _| on_list.contains(h));
        d.entries = log.entries;
        Ok(d)
    }

    /// Writes every projection of `turf`. Attempt rows are immutable, so existing ones are kept
    /// (with their `acked` flag); voids only ever add.
    pub fn write(&self, conn: &Connection, turf: &TurfId) -> Result<()> {
        let t = turf.as_str();
        self.write_doors(conn, turf)?;
        for entry in &self.entries {
            match entry {
                Entry::Attempt(a) => insert_attempt(conn, turf, a, None)?,
                Entry::Void(v) => insert_void(conn, turf, v)?,
            }
        }
        conn.execute("DELETE FROM added_people WHERE turf_id = ?1", [t])?;
        for p in &self.full_people {
            insert_person(conn, turf, p)?;
        }
        Ok(())
    }

    /// Writes the door rows of `turf`: position, skip mark, note and status.
    fn write_doors(&self, conn: &Connection, turf: &TurfId) -> Result<()> {
        conn.execute("DELETE FROM doors WHERE turf_id = ?1", [turf.as_str()])?;
        let mut ins = conn.prepare_cached(
            "INSERT INTO doors (turf_id, household_id, position, skipped, note, status_attempt,
                 status_outcome, status_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut voter = conn.prepare_cached(
            "INSERT INTO doors (turf_id, household_id, voter_id, status_attempt, status_outcome,
                 status_at, support, support_at, support_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for ((h, v), s) in &self.voter_status {
            voter.execute(params![
                turf.as_str(),
                h.as_str(),
                v.as_str(),
                s.attempt.to_string(),
                s.outcome.as_str(),
                s.recorded_at,
                s.support.map(|x| x.0),
                s.support.map(|x| x.1),
                s.support.map(|x| x.2.to_string()),
            ])?;
        }
        for (i, (h, skipped)) in self.walk.iter().enumerate() {
            let status = self.household_status.get(h);
            ins.execute(params![
                turf.as_str(),
                h.as_str(),
                i as i64,
                skipped,
                self.notes.get(h),
                status.map(|s| s.attempt.to_string()),
                status.map(|s| s.outcome.as_str()),
                status.map(|s| s.recorded_at),
            ])?;
        }
        Ok(())
    }

    /// Reads the stored projections of `turf` back, for verification.
    pub fn read(conn: &Connection, turf: &TurfId) -> Result<Self> {
        let t = turf.as_str();
        let mut d = Derived::default();
        let parse = |s: String| AttemptId::parse(&s);
        let mut stmt = conn.prepare(
            "SELECT id, household_id, voter_id, outcome, support, recorded_at, voided_by
             FROM attempts WHERE turf_id = ?1",
        )?;
        let rows = stmt.query_map([t], |r| {
            Ok((
                r.get::<_, String>(0)?,
                AttemptRow {
                    household: HouseholdId(r.get(1)?),
                    voter: r.get::<_, Option<String>>(2)?.map(VoterId),
                    outcome: OutcomeCode(r.get(3)?),
                    support: r.get(4)?,
                    recorded_at: r.get(5)?,
                    voided_by: r.get::<_, Option<String>>(6)?.and_then(parse),
                },
            ))
        })?;
        for row in rows {
            let (id, row) = row?;
            if let Some(id) = parse(id) {
                d.attempts.insert(id, row);
            }
        }
        let mut stmt = conn.prepare("SELECT id, attempt_id FROM voids WHERE turf_id = ?1")?;
        for row in stmt.query_map([t], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })? {
            let (id, attempt) = row?;
            if let (Some(id), Some(attempt)) = (parse(id), parse(attempt)) {
                d.voids.insert(id, attempt);
            }
        }
        let mut stmt = conn.prepare(
            "SELECT household_id, voter_id, status_attempt, status_outcome, status_at, support,
                    support_at, support_id
             FROM doors WHERE turf_id = ?1 AND voter_id <> '' AND status_attempt IS NOT NULL",
        )?;
        for row in stmt.query_map([t], |r| {
            let support = match (
                r.get::<_, Option<u8>>(5)?,
                r.get::<_, Option<i64>>(6)?,
                r.get::<_, Option<String>>(7)?
                    .as_deref()
                    .and_then(AttemptId::parse),
            ) {
                (Some(level), Some(at), Some(id)) => Some((level, at, id)),
                _ => None,
            };
            Ok((
                (HouseholdId(r.get(0)?), VoterId(r.get(1)?)),
                StatusRow {
                    attempt: parse(r.get(2)?).unwrap_or(AttemptId([0; 16])),
                    outcome: OutcomeCode(r.get(3)?),
                    recorded_at: r.get(4)?,
                    support,
                },
            ))
        })? {
            let (k, v) = row?;
            d.voter_status.insert(k, v);
        }
        let mut stmt = conn.prepare(
            "SELECT id, household_id, first_name, last_name FROM added_people WHERE turf_id = ?1",
        )?;
        for row in stmt.query_map([t], |r| {
            Ok((
                VoterId(r.get(0)?),
                (HouseholdId(r.get(1)?), r.get(2)?, r.get(3)?),
            ))
        })? {
            let (k, v) = row?;
            d.people.insert(k, v);
        }
        let mut stmt = conn.prepare(
            "SELECT household_id, skipped, note, status_attempt, status_outcome, status_at
             FROM doors WHERE turf_id = ?1 AND voter_id = '' ORDER BY position",
        )?;
        let rows = stmt.query_map([t], |r| {
            Ok((
                HouseholdId(r.get(0)?),
                r.get::<_, bool>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })?;
        for row in rows {
            let (h, skipped, note, attempt, outcome, at) = row?;
            if let Some(note) = note {
                d.notes.insert(h.clone(), note);
            }
            if let (Some(attempt), Some(outcome), Some(at)) = (attempt, outcome, at) {
                d.household_status.insert(
                    h.clone(),
                    StatusRow {
                        attempt: parse(attempt).unwrap_or(AttemptId([0; 16])),
                        outcome: OutcomeCode(outcome),
                        recorded_at: at,
                        support: None,
                    },
                );
            }
            d.walk.push((h, skipped));
        }
        Ok(d)
    }

    /// Human-readable differences between two projections (ids only, no personal data).
    pub fn differences(&self, other: &Derived) -> Vec<String> {
        let mut out = Vec::new();
        diff_maps("attempt", &self.attempts, &other.attempts, &mut out);
        diff_maps("void", &self.voids, &other.voids, &mut out);
        diff_maps(
            "voter status",
            &self.voter_status,
            &other.voter_status,
            &mut out,
        );
        diff_maps(
            "household status",
            &self.household_status,
            &other.household_status,
            &mut out,
        );
        diff_maps("added person", &self.people, &other.people, &mut out);
        diff_maps("household note", &self.notes, &other.notes, &mut out);
        if self.walk != other.walk {
            out.push("walk order or skipped doors differ".into());
        }
        out
    }
}

fn diff_maps<K: Ord + std::fmt::Debug, V: PartialEq>(
    what: &str,
    a: &BTreeMap<K, V>,
    b: &BTreeMap<K, V>,
    out: &mut Vec<String>,
) {
    for (k, v) in a {
        match b.get(k) {
            None => out.push(format!("{what} {k:?} missing from the stored projection")),
            Some(w) if w != v => out.push(format!("{what} {k:?} differs")),
            _ => {}
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(k)) {
        out.push(format!("{what} {k:?} stored but not in the document"));
    }
}

/// Writes the row of a person added at the door.
pub(crate) fn insert_person(conn: &Connection, turf: &TurfId, p: &AddedPerson) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO added_people (turf_id, id, household_id, first_name, last_name, phone,
             added_by, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        turf.as_str(),
        p.id.as_str(),
        p.household.as_str(),
        p.first_name,
        p.last_name,
        p.phone,
        p.added_by.as_str(),
        p.recorded_at
    ])?;
    Ok(())
}

/// Writes a campaign's projection rows: its body and its outcome codes' contact flags.
pub(crate) fn write_campaign(conn: &Connection, c: &crate::domain::Campaign) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO campaigns (id, body) VALUES (?1, ?2)",
        params![c.id.as_str(), crate::doc::codec::encode_campaign(c)],
    )?;
    conn.execute(
        "DELETE FROM campaign_outcomes WHERE campaign_id = ?1",
        [c.id.as_str()],
    )?;
    for o in &c.outcomes {
        conn.execute(
            "INSERT INTO campaign_outcomes (campaign_id, code, contact) VALUES (?1, ?2, ?3)",
            params![c.id.as_str(), o.code.as_str(), o.contact],
        )?;
    }
    Ok(())
}

/// Writes bare door rows (no status, no note) for a turf whose document this phone lacks.
pub(crate) fn insert_doors(
    conn: &Connection,
    turf: &TurfId,
    walk: &[(HouseholdId, bool)],
) -> Result<()> {
    Derived {
        walk: walk.to_vec(),
        ..Derived::default()
    }
    .write_doors(conn, turf)
}

/// Rewrites the positions and skip marks of a turf's doors after a move.
pub(crate) fn write_positions(
    conn: &Connection,
    turf: &TurfId,
    walk: &[(HouseholdId, bool)],
) -> Result<()> {
    let mut update = conn.prepare_cached(
        "UPDATE doors SET position = ?3, skipped = ?4
         WHERE turf_id = ?1 AND household_id = ?2 AND voter_id = ''",
    )?;
    for (i, (h, skipped)) in walk.iter().enumerate() {
        update.execute(params![turf.as_str(), h.as_str(), i as i64, skipped])?;
    }
    Ok(())
}

/// Writes the full row of one attempt. `entry` is the encoded document entry of an attempt
/// recorded here and not yet folded into the document; `None` for one that came from the document.
pub(crate) fn insert_attempt(
    conn: &Connection,
    turf: &TurfId,
    a: &Attempt,
    entry: Option<&[u8]>,
) -> Result<()> {
    let answers = serde_json::to_string(&a.answers).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached(
        "INSERT OR IGNORE INTO attempts (id, turf_id, household_id, voter_id, outcome, support,
             answers, note, canvasser, device, recorded_at, lat, lon, entry)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        a.id.to_string(),
        turf.as_str(),
        a.household.as_str(),
        a.voter().map(VoterId::as_str),
        a.outcome.as_str(),
        a.support(),
        answers,
        a.note,
        a.canvasser.as_str(),
        a.device.as_str(),
        a.recorded_at,
        a.location.map(|l| l.lat),
        a.location.map(|l| l.lon),
        entry,
    ])?;
    Ok(())
}

/// Records a void in the projections and marks the attempt voided.
pub(crate) fn insert_void(conn: &Connection, turf: &TurfId, v: &Void) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO voids (id, turf_id, attempt_id, canvasser, device, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        v.id.to_string(),
        turf.as_str(),
        v.attempt.to_string(),
        v.canvasser.as_str(),
        v.device.as_str(),
        v.recorded_at
    ])?;
    conn.prepare_cached(
        "UPDATE attempts SET voided_by = ?3
         WHERE turf_id = ?1 AND id = ?2 AND (voided_by IS NULL OR voided_by > ?3)",
    )?
    .execute(params![
        turf.as_str(),
        v.attempt.to_string(),
        v.id.to_string()
    ])?;
    Ok(())
}

/// Recomputes the status rows of one voter and one door from their attempts, in SQL (after a
/// void, which can make an earlier attempt current again).
pub(crate) fn refresh_status(
    conn: &Connection,
    turf: &TurfId,
    voter: Option<&VoterId>,
    household: &HouseholdId,
) -> Result<()> {
    let t = turf.as_str();
    if let Some(v) = voter {
        conn.prepare_cached(
            "UPDATE doors SET (status_attempt, status_outcome, status_at) = (
                 SELECT id, outcome, recorded_at FROM attempts
                 WHERE turf_id = ?1 AND household_id = ?2 AND voter_id = ?3
                   AND voided_by IS NULL
                 ORDER BY recorded_at DESC, id DESC LIMIT 1),
             (support, support_at, support_id) = (
                 SELECT support, recorded_at, id FROM attempts
                 WHERE turf_id = ?1 AND household_id = ?2 AND voter_id = ?3
                   AND voided_by IS NULL AND support IS NOT NULL
                 ORDER BY recorded_at DESC, id DESC LIMIT 1)
             WHERE turf_id = ?1 AND household_id = ?2 AND voter_id = ?3",
        )?
        .execute(params![t, household.as_str(), v.as_str()])?;
    }
    conn.prepare_cached(
        "UPDATE doors SET (status_attempt, status_outcome, status_at) = (
             SELECT id, outcome, recorded_at FROM attempts
             WHERE turf_id = ?1 AND household_id = ?2 AND voided_by IS NULL
             ORDER BY recorded_at DESC, id DESC LIMIT 1)
         WHERE turf_id = ?1 AND household_id = ?2 AND voter_id = ''",
    )?
    .execute(params![t, household.as_str()])?;
    Ok(())
}

/// Folds one new attempt into the status rows of its voter and door, without reading other
/// attempts: the new one wins if it is later (by recorded_at, then id), and its support answer
/// wins over an earlier one.
pub(crate) fn bump_status(conn: &Connection, turf: &TurfId, a: &Attempt) -> Result<()> {
    let id = a.id.to_string();
    if let Some(v) = a.voter() {
        let support = a.support();
        conn.prepare_cached(
            "INSERT INTO doors (turf_id, household_id, voter_id, status_attempt, status_outcome,
                 status_at, support, support_at, support_id)
             VALUES (?1, ?7, ?2, ?3, ?4, ?5, ?6, iif(?6 IS NULL, NULL, ?5), iif(?6 IS NULL, NULL, ?3))
             ON CONFLICT (turf_id, household_id, voter_id) DO UPDATE SET
                 status_attempt = iif(status_at IS NULL OR (?5, ?3) > (status_at, status_attempt),
                     ?3, status_attempt),
                 status_outcome = iif(status_at IS NULL OR (?5, ?3) > (status_at, status_attempt),
                     ?4, status_outcome),
                 status_at = iif(status_at IS NULL OR (?5, ?3) > (status_at, status_attempt),
                     ?5, status_at),
                 support = iif(?6 IS NOT NULL AND (support_at IS NULL
                         OR (?5, ?3) > (support_at, support_id)), ?6, support),
                 support_at = iif(?6 IS NOT NULL AND (support_at IS NULL
                         OR (?5, ?3) > (support_at, support_id)), ?5, support_at),
                 support_id = iif(?6 IS NOT NULL AND (support_at IS NULL
                         OR (?5, ?3) > (support_at, support_id)), ?3, support_id)",
        )?
        .execute(params![
            turf.as_str(),
            v.as_str(),
            id,
            a.outcome.as_str(),
            a.recorded_at,
            support,
            a.household.as_str(),
        ])?;
    }
    conn.prepare_cached(
        "UPDATE doors SET
             status_attempt = ?3, status_outcome = ?4, status_at = ?5
         WHERE turf_id = ?1 AND household_id = ?2 AND voter_id = ''
           AND (status_at IS NULL OR (?5, ?3) > (status_at, status_attempt))",
    )?
    .execute(params![
        turf.as_str(),
        a.household.as_str(),
        id,
        a.outcome.as_str(),
        a.recorded_at
    ])?;
    Ok(())
}

/// The roster's households of a turf with their organizer walk order.
pub(crate) fn roster_order(conn: &Connection, turf: &TurfId) -> Result<Vec<(HouseholdId, u32)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT household_id, walk_order FROM roster_households WHERE turf_id = ?1",
    )?;
    let rows = stmt
        .query_map([turf.as_str()], |r| Ok((HouseholdId(r.get(0)?), r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The attempt row's household and voter, if the attempt exists in `turf`.
pub(crate) fn attempt_target(
    conn: &Connection,
    turf: &TurfId,
    id: &AttemptId,
) -> Result<Option<(HouseholdId, Option<VoterId>)>> {
    Ok(conn
        .prepare_cached(
            "SELECT household_id, voter_id FROM attempts WHERE id = ?1 AND turf_id = ?2",
        )?
        .query_row(params![id.to_string(), turf.as_str()], |r| {
            Ok((
                HouseholdId(r.get(0)?),
                r.get::<_, Option<String>>(1)?.map(VoterId),
            ))
        })
        .optional()?)
}
