//! The screens' queries: each is one SQL statement over the projections.

use super::Store;
use crate::domain::{
    Address, AttemptId, HouseholdId, ListKind, Location, OutcomeCode, Timestamp, TurfId, VoterId,
};
use crate::error::{Error, Result};
use rusqlite::{OptionalExtension, params_from_iter, types::Value};
use std::collections::BTreeMap;

/// A door's address and map position from six columns starting at `first`: street, unit,
/// city, zip, latitude, longitude (as `roster_households` stores them).
pub(super) fn address_at(
    r: &rusqlite::Row<'_>,
    first: usize,
) -> rusqlite::Result<(Address, Option<Location>)> {
    let lat: Option<f64> = r.get(first + 4)?;
    let lon: Option<f64> = r.get(first + 5)?;
    Ok((
        Address {
            street: r.get(first)?,
            unit: r.get(first + 1)?,
            city: r.get(first + 2)?,
            zip: r.get(first + 3)?,
        },
        lat.zip(lon).map(|(lat, lon)| Location { lat, lon }),
    ))
}

/// A voter's or a door's current status: its latest attempt that is not voided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The outcome of that attempt.
    pub outcome: OutcomeCode,
    /// When it was recorded.
    pub recorded_at: Timestamp,
    /// Which attempt.
    pub attempt: AttemptId,
}

/// A voter on the walk list.
#[derive(Debug, Clone, PartialEq)]
pub struct WalkVoter {
    /// Voter id (`p-...` for people added at the door).
    pub id: VoterId,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Age, if known.
    pub age: Option<u16>,
    /// Party code.
    pub party: Option<String>,
    /// Phone, for call lists.
    pub phone: Option<String>,
    /// Added at the door rather than from the roster.
    pub added: bool,
    /// Current status.
    pub status: Option<Status>,
    /// Latest support level answered (1-5).
    pub support: Option<u8>,
}

/// A door on the walk list.
#[derive(Debug, Clone, PartialEq)]
pub struct WalkHousehold {
    /// Household id.
    pub id: HouseholdId,
    /// 0-based position in walk order.
    pub position: u32,
    /// Marked skipped.
    pub skipped: bool,
    /// Address.
    pub address: Address,
    /// Map position.
    pub location: Option<Location>,
    /// Household note.
    pub note: Option<String>,
    /// The door's status: its latest attempt, on the door or any voter in it.
    pub status: Option<Status>,
    /// Voters living there.
    pub voters: Vec<WalkVoter>,
}

/// A turf's walk list (or call list) in walk order.
#[derive(Debug, Clone, PartialEq)]
pub struct WalkList {
    /// The turf.
    pub turf: TurfId,
    /// Display name.
    pub name: String,
    /// Walk or call.
    pub list_kind: ListKind,
    /// Roster version shown.
    pub roster_version: u64,
    /// Doors in walk order.
    pub households: Vec<WalkHousehold>,
}

/// Progress on one turf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Doors on the list.
    pub doors: u32,
    /// Doors with at least one (non-voided) attempt.
    pub doors_knocked: u32,
    /// Doors marked skipped.
    pub doors_skipped: u32,
    /// Voters with at least one contact (an outcome the campaign counts as a conversation).
    pub contacts: u32,
    /// Attempts, not counting voided ones.
    pub attempts: u32,
    /// Attempts by outcome code.
    pub by_outcome: BTreeMap<OutcomeCode, u32>,
    /// Voters by their latest support level.
    pub by_support: BTreeMap<u8, u32>,
}

/// What an outbox row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    /// An attempt.
    Attempt,
    /// A void.
    Void,
}

/// Something recorded that the server has not acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// Attempt or void.
    pub kind: OutboxKind,
    /// Its id.
    pub id: AttemptId,
    /// Its turf.
    pub turf: TurfId,
    /// When it was recorded.
    pub recorded_at: Timestamp,
}

/// A turf held on the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurfSummary {
    /// The turf.
    pub turf: TurfId,
    /// Display name.
    pub name: String,
    /// Walk or call.
    pub list_kind: ListKind,
    /// Roster version held.
    pub roster_version: u64,
}

/// One row per voter (or per door with nobody listed), roster voters and people added at the
/// door in two arms of a UNION ALL so that each arm walks its own index. `{filter}` is replaced by
/// the search conditions. No ORDER BY: sorting a compound query copies every row through a
/// sorter, which cost more than the joins; the rows are put in walk order in Rust instead.
const WALK_SQL: &str = "
SELECT r.name, r.list_kind, r.version,
       w.position, w.skipped, h.household_id, h.street, h.unit, h.city, h.zip, h.lat, h.lon,
       w.note, w.status_outcome, w.status_at, w.status_attempt,
       v.voter_id, v.first_name, v.last_name, v.age, v.party, v.phone, 0 AS added,
       vs.status_outcome, vs.status_at, vs.status_attempt, vs.support
FROM rosters r
JOIN doors w ON w.turf_id = r.turf_id AND w.voter_id = ''
JOIN roster_households h ON h.turf_id = w.turf_id AND h.household_id = w.household_id
LEFT JOIN roster_voters v ON v.turf_id = w.turf_id AND v.household_id = w.household_id
LEFT JOIN doors vs ON vs.turf_id = w.turf_id AND vs.household_id = w.household_id
    AND vs.voter_id = v.voter_id
WHERE r.turf_id = ?1 {filter}
UNION ALL
SELECT r.name, r.list_kind, r.version,
       w.position, w.skipped, h.household_id, h.street, h.unit, h.city, h.zip, h.lat, h.lon,
       w.note, w.status_outcome, w.status_at, w.status_attempt,
       v.id, v.first_name, v.last_name, NULL, NULL, v.phone, 1,
       vs.status_outcome, vs.status_at, vs.status_attempt, vs.support
FROM rosters r
JOIN added_people v ON v.turf_id = r.turf_id
JOIN doors w ON w.turf_id = v.turf_id AND w.household_id = v.household_id AND w.voter_id = ''
JOIN roster_households h ON h.turf_id = w.turf_id AND h.household_id = w.household_id
LEFT JOIN doors vs ON vs.turf_id = w.turf_id AND vs.household_id = w.household_id
    AND vs.voter_id = v.id
WHERE r.turf_id = ?1 {filter}";

fn status(outcome: Option<String>, at: Option<i64>, id: Option<String>) -> Option<Status> {
    Some(Status {
        outcome: OutcomeCode(outcome?),
        recorded_at: at?,
        attempt: AttemptId::parse(&id?)?,
    })
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
fn like_pattern(word: &str) -> String {
    let mut out = String::from("%");
    for c in word.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl Store {
    fn query_walk(&self, turf: &TurfId, words: &[String]) -> Result<WalkList> {
        let mut filter = String::new();
        let mut args: Vec<Value> = vec![Value::Text(turf.0.clone())];
        for word in words {
            args.push(Value::Text(like_pattern(word)));
            let n = args.len();
            filter.push_str(&format!(
                " AND (lower(coalesce(v.first_name, '') || ' ' || coalesce(v.last_name, ''))
                       LIKE ?{n} ESCAPE '\\'
                   OR lower(h.street || ' ' || coalesce(h.unit, '') || ' ' || h.city || ' ' || h.zip)
                       LIKE ?{n} ESCAPE '\\')"
            ));
        }
        let sql = WALK_SQL.replace("{filter}", &filter);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut list: Option<WalkList> = None;
        let mut doors: BTreeMap<u32, WalkHousehold> = BTreeMap::new();
        while let Some(r) = rows.next()? {
            if list.is_none() {
                list = Some(WalkList {
                    turf: turf.clone(),
                    name: r.get(0)?,
                    list_kind: ListKind::parse(&r.get::<_, String>(1)?).unwrap_or(ListKind::Walk),
                    roster_version: r.get::<_, i64>(2)? as u64,
                    households: Vec::new(),
                });
            }
            let position: u32 = r.get(3)?;
            let door = match doors.entry(position) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let (address, location) = address_at(r, 6)?;
                    e.insert(WalkHousehold {
                        id: HouseholdId(r.get(5)?),
                        position,
                        skipped: r.get(4)?,
                        address,
                        location,
                        note: r.get(12)?,
                        status: status(r.get(13)?, r.get(14)?, r.get(15)?),
                        voters: Vec::new(),
                    })
                }
            };
            if let Some(voter) = r.get::<_, Option<String>>(16)? {
                door.voters.push(WalkVoter {
                    id: VoterId(voter),
                    first_name: r.get(17)?,
                    last_name: r.get(18)?,
                    age: r.get(19)?,
                    party: r.get(20)?,
                    phone: r.get(21)?,
                    added: r.get(22)?,
                    status: status(r.get(23)?, r.get(24)?, r.get(25)?),
                    support: r.get(26)?,
                });
            }
        }
        if let Some(list) = &mut list {
            list.households = doors
                .into_values()
                .map(|mut door| {
                    // Roster voters first, in roster order, then people added at the door.
                    door.voters
                        .sort_by(|a, b| (a.added, &a.id).cmp(&(b.added, &b.id)));
                    door
                })
                .collect();
        }
        match list {
            Some(l) => Ok(l),
            None => {
                let header = self
                    .conn
                    .query_row(
                        "SELECT name, list_kind, version FROM rosters WHERE turf_id = ?1",
                        [turf.as_str()],
                        |r| {
                            Ok((
                                r.get(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, i64>(2)? as u64,
                            ))
                        },
                    )
                    .optional()?;
                let (name, kind, version) = header.ok_or_else(|| Error::UnknownTurf {
                    turf: turf.to_string(),
                })?;
                Ok(WalkList {
                    turf: turf.clone(),
                    name,
                    list_kind: ListKind::parse(&kind).unwrap_or(ListKind::Walk),
                    roster_version: version,
                    households: Vec::new(),
                })
            }
        }
    }

    /// The walk list of a turf in walk order, with every door's and voter's status.
    pub fn walk_list(&self, turf: &TurfId) -> Result<WalkList> {
        self.query_walk(turf, &[])
    }

    /// Doors and voters of a turf matching every word of `query` in a voter's name or the
    /// door's address (case-insensitive), in walk order.
    pub fn search(&self, turf: &TurfId, query: &str) -> Result<WalkList> {
        let words: Vec<String> = query
            .split_whitespace()
            .take(8)
            .map(str::to_owned)
            .collect();
        self.query_walk(turf, &words)
    }

    /// Progress on a turf.
    pub fn progress(&self, turf: &TurfId) -> Result<Progress> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT 'doors', NULL, count(*) FROM doors WHERE turf_id = ?1 AND voter_id = ''
             UNION ALL
             SELECT 'skipped', NULL, count(*) FROM doors
              WHERE turf_id = ?1 AND voter_id = '' AND skipped
             UNION ALL
             SELECT 'knocked', NULL, count(*) FROM doors
              WHERE turf_id = ?1 AND voter_id = '' AND status_attempt IS NOT NULL
             UNION ALL
             SELECT 'contacts', NULL, count(DISTINCT a.voter_id) FROM attempts a
               JOIN rosters r ON r.turf_id = a.turf_id
               JOIN campaign_outcomes o ON o.campaign_id = r.campaign_id AND o.code = a.outcome
              WHERE a.turf_id = ?1 AND a.voided_by IS NULL AND o.contact AND a.voter_id IS NOT NULL
             UNION ALL
             SELECT 'attempts', NULL, count(*) FROM attempts
              WHERE turf_id = ?1 AND voided_by IS NULL
             UNION ALL
             SELECT 'outcome', outcome, count(*) FROM attempts
              WHERE turf_id = ?1 AND voided_by IS NULL GROUP BY outcome
             UNION ALL
             SELECT 'support', support, count(*) FROM doors
              WHERE turf_id = ?1 AND voter_id <> '' AND support IS NOT NULL GROUP BY support",
        )?;
        let mut p = Progress::default();
        let mut rows = stmt.query([turf.as_str()])?;
        while let Some(r) = rows.next()? {
            let kind: String = r.get(0)?;
            let n: u32 = r.get(2)?;
            match kind.as_str() {
                "doors" => p.doors = n,
                "skipped" => p.doors_skipped = n,
                "knocked" => p.doors_knocked = n,
                "contacts" => p.contacts = n,
                "attempts" => p.attempts = n,
                "outcome" => {
                    p.by_outcome.insert(OutcomeCode(r.get(1)?), n);
                }
                _ => {
                    p.by_support.insert(r.get(1)?, n);
                }
            }
        }
        Ok(p)
    }

    /// What the server has not acknowledged yet, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxItem>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT 0, id, turf_id, recorded_at FROM attempts WHERE acked = 0
             UNION ALL
             SELECT 1, id, turf_id, recorded_at FROM voids WHERE acked = 0
             ORDER BY 4, 2",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, id, turf, at) = row?;
            if let Some(id) = AttemptId::parse(&id) {
                out.push(OutboxItem {
                    kind: if kind == 0 {
                        OutboxKind::Attempt
                    } else {
                        OutboxKind::Void
                    },
                    id,
                    turf: TurfId(turf),
                    recorded_at: at,
                });
            }
        }
        Ok(out)
    }

    /// How many records the server has not acknowledged yet ("12 results not yet synced").
    pub fn outbox_count(&self) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT (SELECT count(*) FROM attempts WHERE acked = 0)
                  + (SELECT count(*) FROM voids WHERE acked = 0)",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// The turfs on this phone.
    pub fn turfs(&self) -> Result<Vec<TurfSummary>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT turf_id, name, list_kind, version FROM rosters ORDER BY name, turf_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(TurfSummary {
                turf: TurfId(r.get(0)?),
                name: r.get(1)?,
                list_kind: ListKind::parse(&r.get::<_, String>(2)?).unwrap_or(ListKind::Walk),
                roster_version: r.get::<_, i64>(3)? as u64,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// One attempt in a turf's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptSummary {
    /// Its id.
    pub id: AttemptId,
    /// The door.
    pub household: HouseholdId,
    /// The voter, if recorded against one.
    pub voter: Option<VoterId>,
    /// What happened.
    pub outcome: OutcomeCode,
    /// When.
    pub recorded_at: Timestamp,
    /// Who recorded it.
    pub canvasser: String,
    /// The void that withdrew it, if any.
    pub voided_by: Option<AttemptId>,
}

impl Store {
    /// Every attempt recorded in a turf, voided ones included, newest first.
    pub fn history(&self, turf: &TurfId) -> Result<Vec<AttemptSummary>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, household_id, voter_id, outcome, recorded_at, canvasser, voided_by
             FROM attempts WHERE turf_id = ?1 ORDER BY recorded_at DESC, id DESC",
        )?;
        let rows = stmt.query_map([turf.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                HouseholdId(r.get(1)?),
                r.get::<_, Option<String>>(2)?.map(VoterId),
                OutcomeCode(r.get(3)?),
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, household, voter, outcome, recorded_at, canvasser, voided) = row?;
            let Some(id) = AttemptId::parse(&id) else {
                continue;
            };
            out.push(AttemptSummary {
                id,
                household,
                voter,
                outcome,
                recorded_at,
                canvasser,
                voided_by: voided.as_deref().and_then(AttemptId::parse),
            });
        }
        Ok(out)
    }
}
