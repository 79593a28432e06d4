//! Numbered, forward-only schema migrations, applied from `PRAGMA user_version`.

use crate::error::{Error, Result};
use rusqlite::{Connection, TransactionBehavior};

/// The migrations, in order: `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
/// Never edit one that has landed: add the next.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_projections.sql"),
    include_str!("../../migrations/0003_held_back.sql"),
    include_str!("../../migrations/0004_teams.sql"),
];

/// The schema version this code writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to `target` (at most [`SCHEMA_VERSION`]) in one IMMEDIATE
/// transaction, so a crash mid-way leaves the old schema intact. Refuses a newer database.
pub(crate) fn migrate_to(conn: &mut Connection, target: i64) -> Result<i64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(Error::DatabaseTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(found as usize)
    {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    tx.commit()?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::doc::{CampaignDoc, TurfDoc, heads_to_bytes};
    use crate::domain::*;
    use crate::store::Store;
    use automerge::ActorId;
    use rusqlite::params;

    /// A turf document with two attempts on one voter (the later one voided) and a note.
    fn turf_doc() -> (Vec<u8>, Vec<u8>, AttemptId, AttemptId) {
        let mut doc = TurfDoc::new(&"t1".into(), ActorId::random()).unwrap();
        let attempt = |n: u8, at: i64, outcome: &str| Attempt {
            id: AttemptId([n; 16]),
            target: Target::Voter("v1".into()),
            household: "h1".into(),
            outcome: outcome.into(),
            answers: vec![("support".into(), Answer::Support(1))],
            note: None,
            canvasser: "c1".into(),
            device: "d1".into(),
            recorded_at: at,
            location: None,
        };
        let (a, b) = (attempt(1, 10, "talked"), attempt(2, 20, "refused"));
        doc.append(&Entry::Attempt(a.clone()), 10).unwrap();
        doc.append(&Entry::Attempt(b.clone()), 20).unwrap();
        doc.append(
            &Entry::Void(Void {
                id: AttemptId([3; 16]),
                attempt: b.id,
                canvasser: "c1".into(),
                device: "d1".into(),
                recorded_at: 30,
            }),
            30,
        )
        .unwrap();
        doc.set_note(&"h2".into(), "dog", 40).unwrap();
        let heads = heads_to_bytes(&doc.heads());
        (doc.automerge().save(), heads, a.id, b.id)
    }

    /// Fills a database at one older schema version; returns the attempt expected to be the
    /// voter's status and the voided one.
    type Fill = fn(&Connection) -> (AttemptId, AttemptId);

    /// Fills a version-1 database the way version-1 code wrote it.
    fn fill_v1(conn: &Connection) -> (AttemptId, AttemptId) {
        conn.execute(
            "INSERT INTO rosters VALUES ('t1', 'c', 1, 'Turf one', 'walk')",
            [],
        )
        .unwrap();
        for (i, h) in ["h1", "h2"].iter().enumerate() {
            conn.execute(
                "INSERT INTO roster_households VALUES ('t1', ?1, ?2, ?3, NULL, 'Durham', '27701', NULL, NULL)",
                params![h, i as i64, format!("{} Oak St", i + 1)],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO roster_voters VALUES ('t1', 'v1', 'h1', 'Ana', 'Diaz', 40, 'F', 'DEM', '[]', 'P1', NULL)",
            [],
        )
        .unwrap();
        let (snapshot, heads, a, b) = turf_doc();
        conn.execute("INSERT INTO documents VALUES ('turf:t1', 'turf', x'')", [])
            .unwrap();
        conn.execute(
            "INSERT INTO changes VALUES ('turf:t1', 1, ?1, ?2)",
            params![heads, snapshot],
        )
        .unwrap();
        let mut campaign = Campaign::new("c", "C");
        campaign.questions.push(SurveyQuestion {
            id: "support".into(),
            prompt: "Support?".into(),
            kind: QuestionKind::Support,
        });
        let mut cdoc = CampaignDoc::new(&campaign, ActorId::random()).unwrap();
        let bytes = cdoc.automerge().save();
        let heads = heads_to_bytes(&cdoc.automerge().get_heads());
        conn.execute(
            "INSERT INTO documents VALUES ('campaign:c', 'campaign', ?1)",
            params![heads],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO snapshots VALUES ('campaign:c', ?1)",
            params![bytes],
        )
        .unwrap();
        conn.execute("INSERT INTO meta VALUES ('canvasser', 'c1')", [])
            .unwrap();
        (a, b)
    }

    /// Fills a version-2 database: version 1's data, plus what the server acknowledged.
    fn fill_v2(conn: &Connection) -> (AttemptId, AttemptId) {
        let ids = fill_v1(conn);
        conn.execute(
            "INSERT INTO peer_state (peer, doc_id, acked_heads) SELECT 'server', id, heads
             FROM documents WHERE id = 'campaign:c'",
            [],
        )
        .unwrap();
        ids
    }

    /// Fills a version-3 database: version 2's data, plus a document held back from upload.
    fn fill_v3(conn: &Connection) -> (AttemptId, AttemptId) {
        let ids = fill_v2(conn);
        conn.execute(
            "UPDATE peer_state SET refused = 'revoked' WHERE peer = 'server'",
            [],
        )
        .unwrap();
        ids
    }

    fn schema(conn: &Connection) -> Vec<(String, String, Option<String>)> {
        conn.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn every_older_schema_upgrades_with_its_data_to_the_fresh_schema() {
        let dir = tempfile::tempdir().unwrap();
        let fresh_path = dir.path().join("fresh.db");
        drop(Store::open(&fresh_path).unwrap());
        let fresh = schema(&Connection::open(&fresh_path).unwrap());

        let fills: &[(i64, Fill)] = &[(1, fill_v1), (2, fill_v2), (3, fill_v3)];
        assert_eq!(
            fills.len() as i64,
            SCHEMA_VERSION - 1,
            "add a fill function for every older schema version"
        );
        for &(version, fill) in fills {
            let path = dir.path().join(format!("v{version}.db"));
            let mut conn = Connection::open(&path).unwrap();
            migrate_to(&mut conn, version).unwrap();
            let (a, b) = fill(&conn);
            drop(conn);

            let mut store = Store::open(&path).unwrap();
            let list = store.walk_list(&"t1".into()).unwrap();
            assert_eq!(list.households.len(), 2, "v{version}");
            let voter = &list.households[0].voters[0];
            assert_eq!(voter.status.as_ref().unwrap().attempt, a, "v{version}");
            assert_eq!(voter.support, Some(1));
            assert_eq!(list.households[1].note.as_deref(), Some("dog"));
            let history = store.history(&"t1".into()).unwrap();
            assert_eq!(history.len(), 2);
            assert!(history.iter().any(|h| h.id == b && h.voided_by.is_some()));
            assert_eq!(store.progress(&"t1".into()).unwrap().contacts, 1);
            assert!(store.verify_projections(&"t1".into()).unwrap().is_empty());
            assert_eq!(store.signed_in().unwrap().unwrap().as_str(), "c1");
            // It keeps working: a new attempt on the upgraded store.
            store
                .record_attempt(crate::store::NewAttempt {
                    turf: "t1".into(),
                    target: Target::Household("h2".into()),
                    outcome: "not_home".into(),
                    answers: vec![],
                    note: None,
                    recorded_at: 50,
                    location: None,
                })
                .unwrap();
            assert_eq!(store.outbox_count().unwrap(), 4);
            drop(store);
            let conn = Connection::open(&path).unwrap();
            assert_eq!(
                schema(&conn),
                fresh,
                "v{version} upgraded differs from a fresh schema"
            );
            let uv: i64 = conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(uv, SCHEMA_VERSION);
            if version >= 2 {
                let kept: i64 = conn
                    .query_row(
                        "SELECT count(*) FROM peer_state
                         WHERE peer = 'server' AND length(acked_heads) = 32
                           AND (refused IS NULL) = (?1 < 3)",
                        [version],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(kept, 1, "v{version}: the server's acknowledgement survived");
            }
        }
    }
}
