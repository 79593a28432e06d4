//! [`crate::storage::Dashboard`] on PostgreSQL: the same GROUP BYs over the results projection
//! and the rosters' door rows as on SQLite (`sqlite/dashboard.rs`), on the dashboard's own
//! connections; the contact outcomes are two arrays (campaigns, codes) instead of JSON.

use super::organize::{ROWS_PER_FETCH, each_row};
use super::{Db, PgStorage, authenticate_on};
use crate::storage::common::dashboard::*;
use crate::storage::dashboard::*;
use crate::storage::{Principal, StorageError, StorageResult};
use ::postgres::types::ToSql;
use doorstep_core::sync::Role;
use std::collections::HashMap;

/// A scope as SQL: a condition on `turfs t`, and its one parameter (`$1`).
fn scope_sql(scope: &Scope) -> (&'static str, &str) {
    match scope {
        Scope::Campaign(c) => ("t.campaign_id = $1", c.as_str()),
        Scope::Team(t) => ("t.team_id = $1", t.as_str()),
    }
}

/// The contact outcomes as two parameters (`$2`, `$3`): their campaigns and their codes.
fn contact_arrays(contacts: &Contacts) -> (Vec<&str>, Vec<&str>) {
    contacts
        .iter()
        .map(|(c, o)| (c.as_str(), o.as_str()))
        .unzip()
}

/// Fills a query's `{in_scope}` (result `r` is in one of the scope's turfs: the results are
/// then read turf by turf along their primary key, with no join) and `{contact}` (whether `r`
/// counts as a contact: its campaign's and outcome's pair is among `$2` and `$3`'s).
fn sql(template: &str, scope: &Scope) -> String {
    template
        .replace(
            "{in_scope}",
            "r.turf_id IN (SELECT t.id FROM turfs t WHERE {scope})",
        )
        .replace(
            "{contact}",
            "((r.campaign_id, r.outcome) IN (SELECT * FROM unnest($2::TEXT[], $3::TEXT[])))",
        )
        .replace("{scope}", scope_sql(scope).0)
}

/// Each group's voters by their latest support answer.
fn support_counts(
    db: &mut Db<'_>,
    scope: &Scope,
    by: &str,
) -> StorageResult<HashMap<String, [u64; 5]>> {
    // Each voter's latest support answer: the latest attempt carrying one, ties broken by
    // attempt id, as `doorstep stats` reads them.
    let q = sql(
        &format!(
            r#"SELECT key, support, count(*) FROM (
                   SELECT {by} AS key, r.support,
                          row_number() OVER (PARTITION BY {by}, r.voter_id
                                             ORDER BY r.recorded_at DESC,
                                                      r.attempt_id COLLATE "C" DESC) AS nth
                   FROM results r
                   WHERE {{in_scope}} AND r.voided_by IS NULL
                     AND r.support BETWEEN 1 AND 5 AND r.voter_id IS NOT NULL) AS latest
               WHERE nth = 1
               GROUP BY key, support"#
        ),
        scope,
    );
    let mut out: HashMap<String, [u64; 5]> = HashMap::new();
    for r in db.query(&q, &[&scope_sql(scope).1])? {
        add_support(&mut out, r.get(0), i64::from(r.get::<_, i16>(1)), r.get(2));
    }
    Ok(out)
}

/// Attempts, knocked doors, contacts, the latest time and attempts per outcome code, grouped by
/// `by`.
fn counts(
    db: &mut Db<'_>,
    scope: &Scope,
    contacts: &(Vec<&str>, Vec<&str>),
    outcomes: &[String],
    by: &str,
) -> StorageResult<HashMap<String, Figures>> {
    // One more aggregate per code, in the same scan: `$4`, `$5`...
    let per_outcome: String = (0..outcomes.len())
        .map(|i| format!(", count(*) FILTER (WHERE r.outcome = ${})", i + 4))
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
    let mut args: Vec<&(dyn ToSql + Sync)> = vec![&arg, &contacts.0, &contacts.1];
    args.extend(outcomes.iter().map(|o| o as &(dyn ToSql + Sync)));
    Ok(db
        .query(&q, &args)?
        .iter()
        .map(|r| {
            (
                r.get(0),
                Figures {
                    attempts: r.get::<_, i64>(1) as u64,
                    knocked: r.get::<_, i64>(2) as u64,
                    contacts: r.get::<_, i64>(3) as u64,
                    last_at: r.get(4),
                    outcomes: (0..outcomes.len())
                        .map(|i| r.get::<_, i64>(5 + i) as u64)
                        .collect(),
                    ..Figures::default()
                },
            )
        })
        .collect())
}

impl Dashboard for PgStorage {
    fn open_session(
        &self,
        session_hash: &[u8; 32],
        token_hash: &[u8; 32],
        now: i64,
        expires_at: i64,
    ) -> StorageResult<Option<Principal>> {
        self.write(|db| {
            let Some(who) = authenticate_on(db, token_hash)? else {
                return Ok(None);
            };
            db.execute("DELETE FROM sessions WHERE expires_at <= $1", &[&now])?;
            db.execute(
                "INSERT INTO sessions (hash, token_hash, created_at, expires_at)
                 VALUES ($1, $2, $3, $4)",
                &[&&session_hash[..], &&token_hash[..], &now, &expires_at],
            )?;
            Ok(Some(who))
        })
    }

    fn session(&self, session_hash: &[u8; 32], now: i64) -> StorageResult<Option<Principal>> {
        self.read(|db| {
            let token: Option<Vec<u8>> = db
                .query_opt(
                    "SELECT token_hash FROM sessions WHERE hash = $1 AND expires_at > $2",
                    &[&&session_hash[..], &now],
                )?
                .map(|r| r.get(0));
            match token.as_deref().map(<[u8; 32]>::try_from) {
                Some(Ok(token)) => authenticate_on(db, &token),
                _ => Ok(None),
            }
        })
    }

    fn close_session(&self, session_hash: &[u8; 32]) -> StorageResult<()> {
        self.write(|db| {
            db.execute(
                "DELETE FROM sessions WHERE hash = $1",
                &[&&session_hash[..]],
            )?;
            Ok(())
        })
    }

    fn teams(&self) -> StorageResult<Vec<(String, String)>> {
        self.read(|db| {
            Ok(db
                .query(r#"SELECT id, name FROM teams ORDER BY id COLLATE "C""#, &[])?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    fn people(&self) -> StorageResult<Vec<Person>> {
        self.read(|db| {
            db.query(
                r#"SELECT id, name, role, team_id, revoked_at IS NOT NULL FROM users
                   ORDER BY id COLLATE "C""#,
                &[],
            )?
            .iter()
            .map(|r| {
                let role: &str = r.get(2);
                Ok(Person {
                    id: r.get(0),
                    name: r.get(1),
                    role: Role::parse(role).ok_or_else(|| {
                        StorageError::Corrupt(format!("a user has role '{role}'"))
                    })?,
                    team: r.get(3),
                    revoked: r.get(4),
                })
            })
            .collect()
        })
    }

    fn phones(&self) -> StorageResult<Vec<PhoneSync>> {
        self.read(|db| {
            Ok(db
                .query(
                    r#"SELECT user_id, encode(device, 'hex'), last_sync_at FROM devices
                       ORDER BY user_id COLLATE "C", device"#,
                    &[],
                )?
                .iter()
                .map(|r| PhoneSync {
                    user: r.get(0),
                    device: r.get(1),
                    last_sync_at: r.get(2),
                })
                .collect())
        })
    }

    fn turf_progress(
        &self,
        scope: &Scope,
        contacts: &Contacts,
        outcomes: &[String],
    ) -> StorageResult<Vec<TurfProgress>> {
        let contacts = contact_arrays(contacts);
        self.read_dashboard(|db| {
            let mut figures = counts(db, scope, &contacts, outcomes, "r.turf_id")?;
            let mut support = support_counts(db, scope, "r.turf_id")?;
            let q = sql(
                r#"SELECT t.id, t.name, t.list_kind, t.campaign_id, t.team_id,
                          (SELECT array_agg(a.user_id) FROM assignments a WHERE a.turf_id = t.id),
                          (SELECT count(*) FROM turf_doors d WHERE d.turf_id = t.id)
                   FROM turfs t WHERE {scope} ORDER BY t.id COLLATE "C""#,
                scope,
            );
            let mut out = Vec::new();
            for r in db.query(&q, &[&scope_sql(scope).1])? {
                let turf: String = r.get(0);
                let mut assigned: Vec<String> = r.get::<_, Option<_>>(5).unwrap_or_default();
                assigned.sort();
                let doors = r.get::<_, i64>(6) as u64;
                let f = turf_figures(&turf, doors, &mut figures, &mut support, outcomes.len());
                out.push(TurfProgress {
                    name: r.get(1),
                    kind: r.get(2),
                    campaign: r.get(3),
                    team: r.get(4),
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
        let contacts = contact_arrays(contacts);
        self.read_dashboard(|db| {
            let figures = counts(db, scope, &contacts, outcomes, "r.canvasser_id")?;
            let support = support_counts(db, scope, "r.canvasser_id")?;
            Ok(person_figures(figures, support))
        })
    }

    fn timeline(&self, scope: &Scope, contacts: &Contacts) -> StorageResult<Vec<HourCount>> {
        let (campaigns, codes) = contact_arrays(contacts);
        self.read_dashboard(|db| {
            // Integer division truncates toward zero, as on SQLite.
            let q = sql(
                "SELECT r.recorded_at / 3600000, count(*), count(*) FILTER (WHERE {contact})
                 FROM results r
                 WHERE {in_scope} AND r.voided_by IS NULL
                 GROUP BY 1 ORDER BY 1",
                scope,
            );
            Ok(db
                .query(&q, &[&scope_sql(scope).1, &campaigns, &codes])?
                .iter()
                .map(|r| HourCount {
                    hour: r.get::<_, i64>(0) * 3_600_000,
                    attempts: r.get::<_, i64>(1) as u64,
                    contacts: r.get::<_, i64>(2) as u64,
                })
                .collect())
        })
    }

    fn door_map(
        &self,
        scope: &Scope,
        contacts: &Contacts,
        max_points: u64,
        grid: u32,
    ) -> StorageResult<DoorMap> {
        let (campaigns, codes) = contact_arrays(contacts);
        self.read_dashboard(|db| {
            let arg = scope_sql(scope).1;
            let mut map = DoorMapping::default();
            // Each door's status, from its results read in their own order (a GROUP BY
            // household would sort them all).
            let q = sql(
                "SELECT r.household_id, coalesce({contact}, false) FROM results r
                 WHERE r.turf_id IN (SELECT t.id FROM turfs t WHERE {scope} AND t.list_kind = 'walk')
                   AND r.voided_by IS NULL",
                scope,
            );
            each_row(db, &q, &[&arg, &campaigns, &codes], ROWS_PER_FETCH, |r| {
                map.result(r.get(0), r.get(1));
                Ok(())
            })?;
            // In SQLite's order: turf by turf (there in the order they were made, which a cut
            // makes in id order), each door by unit.
            let q = sql(
                r#"SELECT d.unit, d.lat, d.lon FROM turfs t JOIN turf_doors d ON d.turf_id = t.id
                   WHERE {scope} AND t.list_kind = 'walk'
                   ORDER BY t.id COLLATE "C", d.unit COLLATE "C""#,
                scope,
            );
            each_row(db, &q, &[&arg], ROWS_PER_FETCH, |r| {
                map.door(r.get(0), r.get(1), r.get(2));
                Ok(())
            })?;
            Ok(map.finish(max_points, grid))
        })
    }
}
