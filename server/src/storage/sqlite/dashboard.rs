//! The dashboard's queries on SQLite: every figure is a GROUP BY over the results projection
//! and the rosters' door rows.

use super::*;
use crate::storage::dashboard::*;
use doorstep_core::domain::ListKind;

/// A scope as SQL: a condition on `turfs t`, and its one parameter.
fn scope_sql(scope: &Scope) -> (&'static str, &str) {
    match scope {
        Scope::Campaign(c) => ("t.campaign_id = ?1", c.as_str()),
        Scope::Team(t) => ("t.team_id = ?1", t.as_str()),
    }
}

/// The contact outcomes as one JSON parameter (`?2`), read back by the `contact` table of
/// [`CTES`].
fn contacts_json(contacts: &Contacts) -> String {
    serde_json::Value::Array(
        contacts
            .iter()
            .map(|(c, o)| serde_json::json!([c, o]))
            .collect(),
    )
    .to_string()
}

/// `contact(campaign_id, outcome)` from `?2`, and `scoped(id, campaign_id, list_kind)` from
/// `{scope}` and `?1`.
const CTES: &str = "WITH contact(campaign_id, outcome) AS (
        SELECT DISTINCT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?2)),
    scoped AS (SELECT t.id, t.campaign_id, t.list_kind FROM turfs t WHERE {scope})";

fn sql(template: &str, scope: &Scope) -> String {
    format!("{CTES} {template}").replace("{scope}", scope_sql(scope).0)
}

/// A door's unit in SQL: the voter on a call list, the household otherwise.
const UNIT: &str =
    "CASE WHEN s.list_kind = 'call' THEN coalesce(r.voter_id, r.household_id) ELSE r.household_id END";

fn support_counts(
    c: &Connection,
    scope: &Scope,
    contacts: &str,
    by: &str,
) -> StorageResult<HashMap<String, [u64; 5]>> {
    // Each voter's latest support answer (the row holding max(recorded_at) lends its support).
    let q = sql(
        &format!(
            "SELECT key, support, count(*) FROM (
                 SELECT {by} AS key, r.voter_id, r.support, max(r.recorded_at)
                 FROM results r JOIN scoped s ON s.id = r.turf_id
                 WHERE r.voided_by IS NULL AND r.support BETWEEN 1 AND 5 AND r.voter_id IS NOT NULL
                 GROUP BY {by}, r.voter_id)
             GROUP BY key, support"
        ),
        scope,
    );
    let mut out: HashMap<String, [u64; 5]> = HashMap::new();
    let mut stmt = c.prepare_cached(&q)?;
    let mut rows = stmt.query(params![scope_sql(scope).1, contacts])?;
    while let Some(r) = rows.next()? {
        let key: String = r.get(0)?;
        let level: i64 = r.get(1)?;
        let n: i64 = r.get(2)?;
        if let Some(slot) = out
            .entry(key)
            .or_default()
            .get_mut((level - 1).clamp(0, 4) as usize)
        {
            *slot += n as u64;
        }
    }
    Ok(out)
}

/// Attempts, knocked doors, contacts and the latest time, grouped by `by`.
fn counts(
    c: &Connection,
    scope: &Scope,
    contacts: &str,
    by: &str,
) -> StorageResult<HashMap<String, Figures>> {
    let q = sql(
        &format!(
            "SELECT {by}, count(*), count(DISTINCT {UNIT}),
                    count(DISTINCT CASE WHEN k.outcome IS NOT NULL THEN r.voter_id END),
                    max(r.recorded_at)
             FROM results r JOIN scoped s ON s.id = r.turf_id
             LEFT JOIN contact k ON k.campaign_id = s.campaign_id AND k.outcome = r.outcome
             WHERE r.voided_by IS NULL
             GROUP BY {by}"
        ),
        scope,
    );
    let mut stmt = c.prepare_cached(&q)?;
    let rows = stmt.query_map(params![scope_sql(scope).1, contacts], |r| {
        Ok((
            r.get::<_, String>(0)?,
            Figures {
                attempts: r.get::<_, i64>(1)? as u64,
                knocked: r.get::<_, i64>(2)? as u64,
                contacts: r.get::<_, i64>(3)? as u64,
                last_at: r.get(4)?,
                ..Figures::default()
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

impl Dashboard for SqliteStorage {
    fn open_session(
        &self,
        session_hash: &[u8; 32],
        token_hash: &[u8; 32],
        now: i64,
        expires_at: i64,
    ) -> StorageResult<Option<Principal>> {
        self.write(|tx| {
            let Some(who) = authenticate_on(tx, token_hash)? else {
                return Ok(None);
            };
            tx.prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
                .execute([now])?;
            tx.prepare_cached(
                "INSERT INTO sessions (hash, token_hash, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![&session_hash[..], &token_hash[..], now, expires_at])?;
            Ok(Some(who))
        })
    }

    fn session(&self, session_hash: &[u8; 32], now: i64) -> StorageResult<Option<Principal>> {
        self.read(|c| {
            let token: Option<Vec<u8>> = c
                .prepare_cached("SELECT token_hash FROM sessions WHERE hash = ?1 AND expires_at > ?2")?
                .query_row(params![&session_hash[..], now], |r| r.get(0))
                .optional()?;
            match token.as_deref().map(<[u8; 32]>::try_from) {
                Some(Ok(token)) => authenticate_on(c, &token),
                _ => Ok(None),
            }
        })
    }

    fn close_session(&self, session_hash: &[u8; 32]) -> StorageResult<()> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM sessions WHERE hash = ?1")?
                .execute([&session_hash[..]])?;
            Ok(())
        })
    }

    fn teams(&self) -> StorageResult<Vec<(String, String)>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT id, name FROM teams ORDER BY id")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn people(&self) -> StorageResult<Vec<Person>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, name, role, team_id, revoked_at IS NOT NULL FROM users ORDER BY id",
            )?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let role: String = r.get(2)?;
                out.push(Person {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    role: Role::parse(&role)
                        .ok_or_else(|| StorageError::Corrupt(format!("a user has role '{role}'")))?,
                    team: r.get(3)?,
                    revoked: r.get(4)?,
                });
            }
            Ok(out)
        })
    }

    fn phones(&self) -> StorageResult<Vec<PhoneSync>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT user_id, lower(hex(device)), last_sync_at FROM devices ORDER BY user_id, device",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(PhoneSync {
                    user: r.get(0)?,
                    device: r.get(1)?,
                    last_sync_at: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn turf_progress(
        &self,
        scope: &Scope,
        contacts: &Contacts,
    ) -> StorageResult<Vec<TurfProgress>> {
        let contacts = contacts_json(contacts);
        self.read(|c| {
            let mut figures = counts(c, scope, &contacts, "r.turf_id")?;
            let mut support = support_counts(c, scope, &contacts, "r.turf_id")?;
            let q = sql(
                "SELECT t.id, t.name, t.list_kind, t.campaign_id, t.team_id,
                        (SELECT group_concat(a.user_id, ',') FROM assignments a WHERE a.turf_id = t.id),
                        (SELECT count(*) FROM turf_doors d WHERE d.turf_id = t.id)
                 FROM turfs t WHERE {scope} ORDER BY t.id",
                scope,
            );
            let mut stmt = c.prepare_cached(&q)?;
            let mut rows = stmt.query(params![scope_sql(scope).1, contacts])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let turf: String = r.get(0)?;
                let mut assigned: Vec<String> = r
                    .get::<_, Option<String>>(5)?
                    .map(|a| a.split(',').map(str::to_owned).collect())
                    .unwrap_or_default();
                assigned.sort();
                let f = Figures {
                    doors: r.get::<_, i64>(6)? as u64,
                    support: support.remove(&turf).unwrap_or_default(),
                    ..figures.remove(&turf).unwrap_or_default()
                };
                out.push(TurfProgress {
                    name: r.get(1)?,
                    kind: r.get(2)?,
                    campaign: r.get(3)?,
                    team: r.get(4)?,
                    assigned,
                    figures: f,
                    turf,
                });
            }
            Ok(out)
        })
    }

    fn person_progress(
        &self,
        scope: &Scope,
        contacts: &Contacts,
    ) -> StorageResult<Vec<(String, Figures)>> {
        let contacts = contacts_json(contacts);
        self.read(|c| {
            let figures = counts(c, scope, &contacts, "r.canvasser_id")?;
            let mut support = support_counts(c, scope, &contacts, "r.canvasser_id")?;
            let mut out: Vec<(String, Figures)> = figures
                .into_iter()
                .map(|(user, f)| {
                    let support = support.remove(&user).unwrap_or_default();
                    (user, Figures { support, ..f })
                })
                .collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        })
    }

    fn timeline(&self, scope: &Scope, contacts: &Contacts) -> StorageResult<Vec<HourCount>> {
        let contacts = contacts_json(contacts);
        self.read(|c| {
            let q = sql(
                "SELECT r.recorded_at / 3600000, count(*), count(k.outcome)
                 FROM results r JOIN scoped s ON s.id = r.turf_id
                 LEFT JOIN contact k ON k.campaign_id = s.campaign_id AND k.outcome = r.outcome
                 WHERE r.voided_by IS NULL
                 GROUP BY 1 ORDER BY 1",
                scope,
            );
            let mut stmt = c.prepare_cached(&q)?;
            let rows = stmt.query_map(params![scope_sql(scope).1, contacts], |r| {
                Ok(HourCount {
                    hour: r.get::<_, i64>(0)? * 3_600_000,
                    attempts: r.get::<_, i64>(1)? as u64,
                    contacts: r.get::<_, i64>(2)? as u64,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn door_map(
        &self,
        scope: &Scope,
        contacts: &Contacts,
        max_points: u64,
        grid: u32,
    ) -> StorageResult<DoorMap> {
        let contacts = contacts_json(contacts);
        let grid = grid.max(1);
        self.read(|c| {
            let arg = scope_sql(scope).1;
            let walk = "s.list_kind = 'walk'";
            let (located, unlocated, south, west, north, east): (
                i64,
                i64,
                Option<f64>,
                Option<f64>,
                Option<f64>,
                Option<f64>,
            ) = c
                .prepare_cached(&sql(
                    &format!(
                        "SELECT count(d.lat), count(*) - count(d.lat),
                                min(d.lat), min(d.lon), max(d.lat), max(d.lon)
                         FROM turf_doors d JOIN scoped s ON s.id = d.turf_id
                         WHERE {walk}"
                    ),
                    scope,
                ))?
                .query_row(params![arg, contacts], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })?;
            let mut map = DoorMap {
                unlocated: unlocated as u64,
                ..DoorMap::default()
            };
            let (Some(s), Some(w), Some(n), Some(e)) = (south, west, north, east) else {
                return Ok(map);
            };
            map.bounds = Some((s, w, n, e));
            // Each door's status: 2 if anyone there was reached, 1 if knocked, else 0.
            let status = format!(
                "status(unit, st) AS (
                     SELECT r.household_id, max(CASE WHEN k.outcome IS NOT NULL THEN 2 ELSE 1 END)
                     FROM results r JOIN scoped s ON s.id = r.turf_id
                     LEFT JOIN contact k ON k.campaign_id = s.campaign_id AND k.outcome = r.outcome
                     WHERE r.voided_by IS NULL AND {walk}
                     GROUP BY r.household_id)"
            );
            let located_doors = "FROM turf_doors d JOIN scoped s ON s.id = d.turf_id
                 LEFT JOIN status ON status.unit = d.unit
                 WHERE s.list_kind = 'walk' AND d.lat IS NOT NULL";
            if located as u64 <= max_points {
                let q = sql(
                    &format!(", {status} SELECT d.lat, d.lon, coalesce(status.st, 0) {located_doors}"),
                    scope,
                );
                let mut stmt = c.prepare_cached(&q)?;
                let mut rows = stmt.query(params![arg, contacts])?;
                while let Some(r) = rows.next()? {
                    let st = DoorStatus::from_index(r.get(2)?);
                    map.located[st as usize] += 1;
                    map.points.push((r.get(0)?, r.get(1)?, st));
                }
            } else {
                map.grid = grid;
                let g = f64::from(grid);
                let (dlat, dlon) = ((n - s).max(1e-9), (e - w).max(1e-9));
                let q = sql(
                    &format!(
                        ", {status}
                         SELECT min(CAST((d.lat - ?3) / ?4 * ?7 AS INTEGER), ?8),
                                min(CAST((d.lon - ?5) / ?6 * ?7 AS INTEGER), ?8),
                                sum(coalesce(status.st, 0) = 0), sum(status.st = 1), sum(status.st = 2)
                         {located_doors}
                         GROUP BY 1, 2"
                    ),
                    scope,
                );
                let mut stmt = c.prepare_cached(&q)?;
                let mut rows =
                    stmt.query(params![arg, contacts, s, dlat, w, dlon, g, i64::from(grid) - 1])?;
                while let Some(r) = rows.next()? {
                    let counts = [
                        r.get::<_, i64>(2)? as u64,
                        r.get::<_, Option<i64>>(3)?.unwrap_or(0) as u64,
                        r.get::<_, Option<i64>>(4)?.unwrap_or(0) as u64,
                    ];
                    for (total, n) in map.located.iter_mut().zip(counts) {
                        *total += n;
                    }
                    map.cells
                        .push((r.get::<_, i64>(0)? as u32, r.get::<_, i64>(1)? as u32, counts));
                }
            }
            Ok(map)
        })
    }
}

/// Replaces a list's door rows with its roster's: households with their map positions (walk
/// lists) or voters (call lists).
pub(super) fn write_doors(tx: &rusqlite::Transaction<'_>, roster: &Roster) -> StorageResult<()> {
    let turf = roster.turf.as_str();
    tx.prepare_cached("DELETE FROM turf_doors WHERE turf_id = ?1")?
        .execute([turf])?;
    let mut ins = tx.prepare_cached(
        "INSERT OR IGNORE INTO turf_doors (turf_id, unit, lat, lon) VALUES (?1, ?2, ?3, ?4)",
    )?;
    if roster.list_kind == ListKind::Call {
        for v in &roster.voters {
            ins.execute(params![turf, v.id.as_str(), None::<f64>, None::<f64>])?;
        }
    } else {
        for h in &roster.households {
            let (lat, lon) = h.location.map(|l| (l.lat, l.lon)).unzip();
            ins.execute(params![turf, h.id.as_str(), lat, lon])?;
        }
    }
    Ok(())
}

/// Fills the door rows of every stored roster (after the migration that made the table).
pub(super) fn backfill_doors(tx: &rusqlite::Transaction<'_>) -> StorageResult<()> {
    let bodies: Vec<(String, Vec<u8>)> = tx
        .prepare("SELECT turf_id, body FROM rosters")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (turf, body) in bodies {
        let roster: Roster = postcard::from_bytes(&body)
            .map_err(|e| StorageError::Corrupt(format!("roster of turf {turf}: {e}")))?;
        write_doors(tx, &roster)?;
    }
    Ok(())
}
