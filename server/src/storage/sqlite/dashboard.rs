//! The dashboard's queries on SQLite: every figure is a GROUP BY over the results projection
//! and the rosters' door rows.

use super::*;
use crate::storage::common::corrupt;
use crate::storage::common::dashboard::*;
use crate::storage::dashboard::*;

/// A scope as SQL: a condition on `turfs t`, and its one parameter (`?1`).
fn scope_sql(scope: &Scope) -> (&'static str, &str) {
    match scope {
        Scope::Campaign(c) => ("t.campaign_id = ?1", c.as_str()),
        Scope::Team(t) => ("t.team_id = ?1", t.as_str()),
    }
}

/// The contact outcomes as one JSON parameter (`?2`): `[campaign, outcome]` pairs.
fn contacts_json(contacts: &Contacts) -> String {
    serde_json::Value::Array(
        contacts
            .iter()
            .map(|(c, o)| serde_json::json!([c, o]))
            .collect(),
    )
    .to_string()
}

/// Fills a query's `{in_scope}` (result `r` is in one of the scope's turfs: the results are
/// then read turf by turf along their primary key, in turf order, with no join) and
/// `{contact}` (whether `r` counts as a contact: its campaign's and outcome's pair is among
/// `?2`'s). The results carry their campaign and their door's unit (migration 0004) so that no
/// figure needs a join per row.
fn sql(template: &str, scope: &Scope) -> String {
    template
        .replace(
            "{in_scope}",
            "r.turf_id IN (SELECT t.id FROM turfs t WHERE {scope})",
        )
        .replace(
            "{contact}",
            "((r.campaign_id, r.outcome) IN
                 (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?2)))",
        )
        .replace("{scope}", scope_sql(scope).0)
}

fn support_counts(
    c: &Connection,
    scope: &Scope,
    by: &str,
) -> StorageResult<HashMap<String, [u64; 5]>> {
    // Each voter's latest support answer: the latest attempt carrying one, ties broken by
    // attempt id, as `doorstep stats` reads them.
    let q = sql(
        &format!(
            "SELECT key, support, count(*) FROM (
                 SELECT {by} AS key, r.support,
                        row_number() OVER (PARTITION BY {by}, r.voter_id
                                           ORDER BY r.recorded_at DESC, r.attempt_id DESC) AS nth
                 FROM results r
                 WHERE {{in_scope}} AND r.voided_by IS NULL
                   AND r.support BETWEEN 1 AND 5 AND r.voter_id IS NOT NULL)
             WHERE nth = 1
             GROUP BY key, support"
        ),
        scope,
    );
    let mut out: HashMap<String, [u64; 5]> = HashMap::new();
    let mut stmt = c.prepare_cached(&q)?;
    let mut rows = stmt.query(params![scope_sql(scope).1])?;
    while let Some(r) = rows.next()? {
        add_support(&mut out, r.get(0)?, r.get(1)?, r.get(2)?);
    }
    Ok(out)
}

/// Attempts, knocked doors, contacts, the latest time and attempts per outcome code, grouped by
/// `by`.
fn counts(
    c: &Connection,
    scope: &Scope,
    contacts: &str,
    outcomes: &[String],
    by: &str,
) -> StorageResult<HashMap<String, Figures>> {
    // One more aggregate per code, in the same scan: `?3`, `?4`...
    let per_outcome: String = (0..outcomes.len())
        .map(|i| format!(", sum(r.outcome = ?{})", i + 3))
        .collect();
    let q = sql(
        &format!(
            "SELECT {by}, count(*), count(DISTINCT r.unit),
                    count(DISTINCT CASE WHEN {{contact}} THEN r.voter_id END),
                    max(r.recorded_at) {per_outcome}
             FROM results r
             WHERE {{in_scope}} AND r.voided_by IS NULL
             GROUP BY {by}"
        ),
        scope,
    );
    let arg = scope_sql(scope).1;
    let mut args: Vec<&dyn rusqlite::ToSql> = vec![&arg, &contacts];
    args.extend(outcomes.iter().map(|o| o as &dyn rusqlite::ToSql));
    let mut stmt = c.prepare_cached(&q)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
        Ok((
            r.get::<_, String>(0)?,
            Figures {
                attempts: r.get::<_, i64>(1)? as u64,
                knocked: r.get::<_, i64>(2)? as u64,
                contacts: r.get::<_, i64>(3)? as u64,
                last_at: r.get(4)?,
                outcomes: (0..outcomes.len())
                    .map(|i| Ok(r.get::<_, i64>(5 + i)? as u64))
                    .collect::<rusqlite::Result<_>>()?,
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
                .prepare_cached(
                    "SELECT token_hash FROM sessions WHERE hash = ?1 AND expires_at > ?2",
                )?
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
                    role: Role::parse(&role).ok_or_else(|| {
                        StorageError::Corrupt(format!("a user has role '{role}'"))
                    })?,
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
        outcomes: &[String],
    ) -> StorageResult<Vec<TurfProgress>> {
        let contacts = contacts_json(contacts);
        self.read_dashboard(|c| {
            let mut figures = counts(c, scope, &contacts, outcomes, "r.turf_id")?;
            let mut support = support_counts(c, scope, "r.turf_id")?;
            let q = sql(
                "SELECT t.id, t.name, t.list_kind, t.campaign_id, t.team_id,
                        (SELECT group_concat(a.user_id, ',') FROM assignments a WHERE a.turf_id = t.id),
                        (SELECT count(*) FROM turf_doors d WHERE d.turf_id = t.id)
                 FROM turfs t WHERE {scope} ORDER BY t.id",
                scope,
            );
            let mut stmt = c.prepare_cached(&q)?;
            let mut rows = stmt.query(params![scope_sql(scope).1])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let turf: String = r.get(0)?;
                let mut assigned: Vec<String> = r
                    .get::<_, Option<String>>(5)?
                    .map(|a| a.split(',').map(str::to_owned).collect())
                    .unwrap_or_default();
                assigned.sort();
                let doors = r.get::<_, i64>(6)? as u64;
                let f = turf_figures(&turf, doors, &mut figures, &mut support, outcomes.len());
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
        outcomes: &[String],
    ) -> StorageResult<Vec<(String, Figures)>> {
        let contacts = contacts_json(contacts);
        self.read_dashboard(|c| {
            let figures = counts(c, scope, &contacts, outcomes, "r.canvasser_id")?;
            let support = support_counts(c, scope, "r.canvasser_id")?;
            Ok(person_figures(figures, support))
        })
    }

    fn timeline(&self, scope: &Scope, contacts: &Contacts) -> StorageResult<Vec<HourCount>> {
        let contacts = contacts_json(contacts);
        self.read_dashboard(|c| {
            let q = sql(
                "SELECT r.recorded_at / 3600000, count(*), sum({contact})
                 FROM results r
                 WHERE {in_scope} AND r.voided_by IS NULL
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
        self.read_dashboard(|c| {
            let arg = scope_sql(scope).1;
            let mut map = DoorMapping::default();
            // Each door's status, from its results read in their own order (a GROUP BY
            // household would sort them all).
            let q = sql(
                "SELECT r.household_id, {contact} FROM results r
                 WHERE r.turf_id IN (SELECT t.id FROM turfs t WHERE {scope} AND t.list_kind = 'walk')
                   AND r.voided_by IS NULL",
                scope,
            );
            let mut stmt = c.prepare_cached(&q)?;
            let mut rows = stmt.query(params![arg, contacts])?;
            while let Some(r) = rows.next()? {
                let unit = r.get_ref(0)?.as_str().map_err(corrupt)?;
                map.result(unit, r.get::<_, bool>(1)?);
            }
            let q = sql(
                "SELECT d.unit, d.lat, d.lon FROM turfs t JOIN turf_doors d ON d.turf_id = t.id
                 WHERE {scope} AND t.list_kind = 'walk'",
                scope,
            );
            let mut stmt = c.prepare_cached(&q)?;
            let mut rows = stmt.query(params![arg])?;
            while let Some(r) = rows.next()? {
                let unit = r.get_ref(0)?.as_str().map_err(corrupt)?;
                map.door(unit, r.get(1)?, r.get(2)?);
            }
            Ok(map.finish(max_points, grid))
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
    for (unit, lat, lon) in crate::storage::common::door_rows(roster) {
        ins.execute(params![turf, unit, lat, lon])?;
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
        let roster = decode_roster(&turf, &body)?;
        write_doors(tx, &roster)?;
    }
    Ok(())
}
