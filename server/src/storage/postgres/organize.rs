//! [`crate::storage::Organize`] on PostgreSQL: the same steps as on SQLite
//! (`sqlite/organize.rs`), around the same shared code (`common/organize.rs`). Long reads
//! (voter chunks, rosters, results) stream through a portal instead of coming back whole; many
//! rows (a new list's members, a newer file's units joining their building's turf) go in one
//! statement, as arrays.

use super::{Db, Params, PgStorage, lock_document, teams, write_doors};
use crate::setup::cut::Door;
use crate::setup::import::EncodedVoters;
use crate::storage::common::organize::*;
use crate::storage::common::{corrupt, encode_roster};
use crate::storage::organize::*;
use crate::storage::{StorageError, StorageResult};
use ::postgres::Row;
use doorstep_core::domain::{Campaign, ListKind};
use std::collections::{HashMap, HashSet};

/// The advisory lock an import's first transaction takes, so that two servers' imports never
/// both see none running (any number; this one spells "import").
const IMPORT_LOCK: i64 = 0x696d_706f_7274;

/// The advisory lock every transaction that writes rosters takes (a refresh, new lists).
const ROSTER_LOCK: i64 = 0x726f_7374_6572;

/// Voter chunks fetched at a time (each about 4,000 voters).
const CHUNKS_PER_FETCH: i32 = 8;

/// Rows fetched at a time by other long reads.
pub(super) const ROWS_PER_FETCH: i32 = 10_000;

/// Calls `f` with each row of a query, fetched `per_fetch` at a time through a portal, so
/// that a long result is never held whole.
pub(super) fn each_row(
    db: &mut Db<'_>,
    sql: &str,
    params: Params<'_>,
    per_fetch: i32,
    mut f: impl FnMut(&Row) -> StorageResult<()>,
) -> StorageResult<()> {
    let statement = db.statement(sql)?;
    let tx = db.tx()?;
    let portal = tx.bind(&statement, params)?;
    loop {
        let rows = tx.query_portal(&portal, per_fetch)?;
        for r in &rows {
            f(r)?;
        }
        if rows.len() < per_fetch as usize {
            return Ok(());
        }
    }
}

/// Calls `f` with every stored voter, chunk by chunk, in import order.
fn for_each_voter(db: &mut Db<'_>, which: Which<'_>, f: Each<'_>) -> StorageResult<()> {
    // Live chunks only: those of each source's current import.
    let (filter, arg) = match which {
        Which::All => ("", None),
        Which::Source(s) => ("WHERE c.source = $1", Some(s)),
        Which::OtherThan(s) => ("WHERE c.source <> $1", Some(s)),
    };
    let sql = format!(
        "SELECT c.body FROM voter_chunks c
         JOIN voter_sources s ON s.source = c.source AND s.import_id = c.import_id
         {filter} ORDER BY c.id"
    );
    let each = |r: &Row| {
        for v in decode_chunk(r.get(0))? {
            f(v)?;
        }
        Ok(())
    };
    match arg {
        Some(a) => each_row(db, &sql, &[&a], CHUNKS_PER_FETCH, each),
        None => each_row(db, &sql, &[], CHUNKS_PER_FETCH, each),
    }
}

/// The first column of every row, as text.
fn texts(db: &mut Db<'_>, sql: &str) -> StorageResult<HashSet<String>> {
    Ok(db.query(sql, &[])?.iter().map(|r| r.get(0)).collect())
}

/// Rebuilds every list's roster from the stored voters; stores those that changed.
fn refresh_on(db: &mut Db<'_>) -> StorageResult<u64> {
    // One roster writer at a time across servers and commands: two refreshes reading the same
    // version would each publish the next from different voters.
    db.execute("SELECT pg_advisory_xact_lock($1)", &[&ROSTER_LOCK])?;
    let mut refresh = Refresh::default();
    for r in db.query(
        "SELECT id, campaign_id, name, roster_version, list_kind FROM turfs",
        &[],
    )? {
        refresh.list(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))?;
    }
    let cut = texts(
        db,
        "SELECT turf_id FROM household_turfs UNION SELECT turf_id FROM call_list_voters",
    )?;
    if !refresh.keep_cut(&cut) {
        return Ok(0);
    }
    // Where each door and each caller is placed, doors in household order as SQLite keeps
    // them (the last of a building's doors gives the turf its new units join).
    each_row(
        db,
        r#"SELECT household, building, turf_id, walk_order FROM household_turfs
           ORDER BY household COLLATE "C""#,
        &[],
        ROWS_PER_FETCH,
        |r| {
            refresh.door(r.get(0), r.get(1), r.get(2), r.get(3));
            Ok(())
        },
    )?;
    each_row(
        db,
        "SELECT voter_id, turf_id, position FROM call_list_voters",
        &[],
        ROWS_PER_FETCH,
        |r| {
            refresh.caller(r.get(0), r.get(1), r.get(2));
            Ok(())
        },
    )?;
    let (joined, rosters) = refresh.gather(|f| for_each_voter(db, Which::All, f))?;
    if !joined.is_empty() {
        let mut columns: (Vec<String>, Vec<String>, Vec<String>, Vec<i64>) = Default::default();
        for (household, building, turf, order) in joined {
            columns.0.push(household);
            columns.1.push(building);
            columns.2.push(turf);
            columns.3.push(order);
        }
        db.execute(
            "INSERT INTO household_turfs (household, building, turf_id, walk_order)
             SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[])
             ON CONFLICT DO NOTHING",
            &[&columns.0, &columns.1, &columns.2, &columns.3],
        )?;
    }
    let mut updated = 0;
    for roster in rosters {
        let roster = roster?;
        let turf = roster.turf.as_str().to_owned();
        let stored: Option<Vec<u8>> = db
            .query_opt("SELECT body FROM rosters WHERE turf_id = $1", &[&turf])?
            .map(|r| r.get(0));
        let Some(roster) = next_version(roster, stored.as_deref())? else {
            continue;
        };
        db.execute(
            "UPDATE turfs SET roster_version = $2 WHERE id = $1",
            &[&turf, &(roster.version as i64)],
        )?;
        db.execute(
            "INSERT INTO rosters (turf_id, body) VALUES ($1, $2)
             ON CONFLICT (turf_id) DO UPDATE SET body = $2",
            &[&turf, &encode_roster(&roster)],
        )?;
        write_doors(db, &roster)?;
        updated += 1;
    }
    Ok(updated)
}

/// A campaign's stored document, if any.
fn load_campaign_doc(
    db: &mut Db<'_>,
    id: &str,
) -> StorageResult<Option<doorstep_core::doc::CampaignDoc>> {
    let doc_id = format!("campaign:{id}");
    let Some(row) = db.query_opt("SELECT snapshot FROM documents WHERE id = $1", &[&doc_id])?
    else {
        return Ok(None);
    };
    let snapshot: Option<Vec<u8>> = row.get(0);
    let chunks: Vec<Vec<u8>> = db
        .query("SELECT data FROM chunks WHERE doc_id = $1", &[&doc_id])?
        .iter()
        .map(|r| r.get(0))
        .collect();
    load_campaign(id, snapshot.as_deref(), &chunks).map(Some)
}

/// The results rows, of these turfs if given, in recorded order (ties by attempt id).
fn attempt_rows_on(db: &mut Db<'_>, turfs: Option<Vec<String>>) -> StorageResult<Vec<AttemptRow>> {
    let mut out = Vec::new();
    each_row(
        db,
        r#"SELECT turf_id, attempt_id, voter_id, household_id, canvasser_id, device,
                  outcome, answers, note, recorded_at, received_at, voided_by
           FROM results
           WHERE $1::TEXT[] IS NULL OR turf_id = ANY($1)
           ORDER BY recorded_at, attempt_id COLLATE "C""#,
        &[&turfs],
        ROWS_PER_FETCH,
        |r| {
            out.push(AttemptRow {
                turf: r.get(0),
                attempt: r.get(1),
                voter: r.get(2),
                household: r.get(3),
                canvasser: r.get(4),
                device: r.get(5),
                outcome: r.get(6),
                answers: r.get(7),
                note: r.get(8),
                recorded_at: r.get(9),
                received_at: r.get(10),
                voided_by: r.get(11),
            });
            Ok(())
        },
    )?;
    Ok(out)
}

/// Stores new lists' turfs, documents and members.
fn add_lists_on(
    db: &mut Db<'_>,
    campaign: &str,
    kind: ListKind,
    lists: &[NewList],
) -> StorageResult<()> {
    db.execute("SELECT pg_advisory_xact_lock($1)", &[&ROSTER_LOCK])?;
    if db
        .query_opt("SELECT 1 FROM campaigns WHERE id = $1", &[&campaign])?
        .is_none()
    {
        return Err(StorageError::NotFound {
            what: "campaign",
            id: campaign.into(),
        });
    }
    for list in lists {
        db.execute(
            "INSERT INTO turfs (id, campaign_id, team_id, name, roster_version, list_kind)
             VALUES ($1, $2, NULL, $3, 0, $4)",
            &[&list.id, &campaign, &list.name, &kind.as_str()],
        )?;
        let (heads, snapshot) = new_turf_doc(&list.id)?;
        db.execute(
            "INSERT INTO documents (id, heads, snapshot) VALUES ($1, $2, $3)",
            &[&format!("turf:{}", list.id), &heads, &snapshot],
        )?;
        // Every member in one statement: a list has up to thousands.
        let order: Vec<i64> = (0..list.members.len() as i64).collect();
        match kind {
            ListKind::Walk => {
                let buildings: Vec<&str> = (0..list.members.len())
                    .map(|i| list.buildings.get(i).map_or("", String::as_str))
                    .collect();
                db.execute(
                    "INSERT INTO household_turfs (household, building, turf_id, walk_order)
                     SELECT m.household, m.building, $3, m.walk_order
                     FROM unnest($1::TEXT[], $2::TEXT[], $4::BIGINT[])
                          AS m (household, building, walk_order)",
                    &[&list.members, &buildings, &list.id, &order],
                )?
            }
            ListKind::Call => db.execute(
                "INSERT INTO call_list_voters (voter_id, turf_id, position)
                 SELECT m.voter_id, $2, m.position
                 FROM unnest($1::TEXT[], $3::BIGINT[]) AS m (voter_id, position)",
                &[&list.members, &list.id, &order],
            )?,
        };
    }
    refresh_on(db)?;
    Ok(())
}

impl VoterImport for PgStorage {
    fn begin_import(&self, source: &str, format: &str, now: i64, clock: i64) -> StorageResult<i64> {
        self.write(|db| {
            // One import at a time: each keeps a heartbeat while it stages its chunks. The lock
            // makes another server's import that began meanwhile seen here.
            db.execute("SELECT pg_advisory_xact_lock($1)", &[&IMPORT_LOCK])?;
            let running = db.query_opt(
                "SELECT source FROM imports
                 WHERE finished_at IS NULL AND heartbeat_at > $1 LIMIT 1",
                &[&(clock - IMPORT_LEASE_MS)],
            )?;
            if let Some(other) = running {
                return Err(import_running(other.get(0)));
            }
            // Chunks of imports that never finished (killed, or failed before cleaning up).
            db.execute(
                "DELETE FROM voter_chunks WHERE import_id NOT IN
                   (SELECT import_id FROM voter_sources)",
                &[],
            )?;
            Ok(db
                .query_one(
                    "INSERT INTO imports (source, format, started_at, heartbeat_at)
                     VALUES ($1, $2, $3, $4) RETURNING id",
                    &[&source, &format, &now, &clock],
                )?
                .get(0))
        })
    }

    fn held_keys(&self, source: &str) -> StorageResult<(KeySet<u128>, KeySet<u128>)> {
        self.read(|db| held_keys_from(source, |which, f| for_each_voter(db, which, f)))
    }

    fn store_chunks(
        &self,
        source: &str,
        import: i64,
        chunks: &[(i64, Vec<u8>)],
    ) -> StorageResult<()> {
        self.write(|db| {
            db.execute(
                "UPDATE imports SET heartbeat_at = $2 WHERE id = $1",
                &[&import, &crate::handlers::sync::now_ms()],
            )?;
            // A row per chunk of thousands of voters: few statements.
            for (n, body) in chunks {
                db.execute(
                    "INSERT INTO voter_chunks (source, import_id, voters, body)
                     VALUES ($1, $2, $3, $4)",
                    &[&source, &import, n, body],
                )?;
            }
            Ok(())
        })
    }

    fn publish_import(&self, source: &str, import: i64, now: i64) -> StorageResult<()> {
        self.write(|db| {
            db.execute(
                "DELETE FROM voter_chunks WHERE source = $1 AND import_id <> $2",
                &[&source, &import],
            )?;
            db.execute(
                "INSERT INTO voter_sources (source, import_id) VALUES ($1, $2)
                 ON CONFLICT (source) DO UPDATE SET import_id = $2",
                &[&source, &import],
            )?;
            db.execute(
                "UPDATE imports SET finished_at = $2 WHERE id = $1",
                &[&import, &now],
            )?;
            Ok(())
        })
    }

    fn discard_import(&self, import: i64, now: i64) -> StorageResult<()> {
        self.write(|db| {
            db.execute("DELETE FROM voter_chunks WHERE import_id = $1", &[&import])?;
            db.execute(
                "UPDATE imports SET finished_at = $2, report = 'failed' WHERE id = $1",
                &[&import, &now],
            )?;
            Ok(())
        })
    }
}

impl Organize for PgStorage {
    fn import_voters(
        &self,
        source: &str,
        format: &str,
        now: i64,
        allow_removals: bool,
        batches: &mut dyn Iterator<Item = Result<EncodedVoters, String>>,
    ) -> StorageResult<ImportCounts> {
        import_voters_with(self, source, format, now, allow_removals, batches)
    }

    fn finish_import(&self, source: &str, report_json: &str, now: i64) -> StorageResult<()> {
        self.write(|db| {
            db.execute(
                "UPDATE imports SET finished_at = $3, report = $2
                 WHERE id = (SELECT import_id FROM voter_sources WHERE source = $1)",
                &[&source, &report_json, &now],
            )?;
            Ok(())
        })
    }

    fn refresh_rosters(&self) -> StorageResult<u64> {
        self.write(refresh_on)
    }

    fn uncut_doors(&self) -> StorageResult<Vec<Door>> {
        self.read(|db| {
            let placed = texts(db, "SELECT household FROM household_turfs")?;
            uncut_doors_from(&placed, |f| for_each_voter(db, Which::All, f))
        })
    }

    fn uncut_callers(&self) -> StorageResult<Vec<Caller>> {
        self.read(|db| {
            let placed = texts(db, "SELECT voter_id FROM call_list_voters")?;
            uncut_callers_from(&placed, |f| for_each_voter(db, Which::All, f))
        })
    }

    fn placed(&self, kind: ListKind) -> StorageResult<u64> {
        self.read(|db| {
            let sql = match kind {
                ListKind::Walk => "SELECT count(*) FROM household_turfs",
                ListKind::Call => "SELECT count(*) FROM call_list_voters",
            };
            Ok(db.query_one(sql, &[])?.get::<_, i64>(0) as u64)
        })
    }

    fn add_lists(&self, campaign: &str, kind: ListKind, lists: &[NewList]) -> StorageResult<()> {
        self.write(|db| add_lists_on(db, campaign, kind, lists))
    }

    fn list_count(&self, campaign: &str, kind: ListKind) -> StorageResult<u64> {
        self.read(|db| {
            Ok(db
                .query_one(
                    "SELECT count(*) FROM turfs WHERE campaign_id = $1 AND list_kind = $2",
                    &[&campaign, &kind.as_str()],
                )?
                .get::<_, i64>(0) as u64)
        })
    }

    fn apply_campaign(&self, campaign: &Campaign) -> StorageResult<Applied> {
        let doc_id = format!("campaign:{}", campaign.id);
        self.write(|db| {
            // Locked first: a sync storing a change to it waits.
            lock_document(db, &doc_id)?;
            let stored = load_campaign_doc(db, campaign.id.as_str())?;
            let applied = match campaign_write(stored, campaign)? {
                CampaignWrite::Unchanged => return Ok(Applied::Unchanged),
                CampaignWrite::Update { changes, heads } => {
                    for (hash, data) in &changes {
                        db.execute(
                            "INSERT INTO chunks (doc_id, hash, data) VALUES ($1, $2, $3)
                             ON CONFLICT DO NOTHING",
                            &[&doc_id, hash, data],
                        )?;
                    }
                    db.execute(
                        "UPDATE documents SET heads = $2 WHERE id = $1",
                        &[&doc_id, &heads],
                    )?;
                    db.execute(
                        "UPDATE campaigns SET name = $2 WHERE id = $1",
                        &[&campaign.id.as_str(), &campaign.name],
                    )?;
                    Applied::Updated
                }
                CampaignWrite::Create { heads, snapshot } => {
                    db.execute(
                        "INSERT INTO campaigns (id, name) VALUES ($1, $2)",
                        &[&campaign.id.as_str(), &campaign.name],
                    )?;
                    db.execute(
                        "INSERT INTO documents (id, heads, snapshot) VALUES ($1, $2, $3)",
                        &[&doc_id, &heads, &snapshot],
                    )?;
                    Applied::Created
                }
            };
            db.execute("UPDATE admin_epoch SET value = value + 1 WHERE id = 1", &[])?;
            Ok(applied)
        })
    }

    fn campaigns(&self) -> StorageResult<Vec<(String, String)>> {
        self.read(|db| {
            Ok(db
                .query(
                    r#"SELECT id, name FROM campaigns ORDER BY id COLLATE "C""#,
                    &[],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    fn campaign(&self, id: &str) -> StorageResult<Option<Campaign>> {
        self.read(|db| match load_campaign_doc(db, id)? {
            Some(doc) => doc.campaign().map_err(corrupt),
            None => Ok(None),
        })
    }

    fn team_exists(&self, id: &str) -> StorageResult<bool> {
        self.read(|db| {
            Ok(db
                .query_opt("SELECT 1 FROM teams WHERE id = $1", &[&id])?
                .is_some())
        })
    }

    fn user(&self, id: &str) -> StorageResult<Option<UserInfo>> {
        self.read(|db| {
            db.query_opt(
                "SELECT role, team_id, revoked_at IS NOT NULL FROM users WHERE id = $1",
                &[&id],
            )?
            .map(|r| user_info(id, r.get(0), r.get(1), r.get(2)))
            .transpose()
        })
    }

    fn turf(&self, id: &str) -> StorageResult<Option<TurfInfo>> {
        self.read(|db| {
            db.query_opt(
                "SELECT campaign_id, team_id, list_kind FROM turfs WHERE id = $1",
                &[&id],
            )?
            .map(|r| turf_info(id, r.get(0), r.get(1), r.get(2)))
            .transpose()
        })
    }

    fn set_turf_team(&self, turf: &str, team: &str) -> StorageResult<()> {
        self.write(|db| {
            let before = teams::turf_team(db, turf)?;
            db.execute(
                "UPDATE turfs SET team_id = $2 WHERE id = $1",
                &[&turf, &team],
            )?;
            teams::teams_in_step(
                db,
                [before.as_deref(), Some(team)],
                crate::handlers::sync::now_ms(),
            )
        })
    }

    fn revoke_user(&self, user: &str, now: i64) -> StorageResult<(u64, u64)> {
        self.write(|db| {
            let tokens = db.execute(
                "UPDATE tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                &[&user, &now],
            )?;
            db.execute(
                "UPDATE users SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                &[&user, &now],
            )?;
            // Their own team loses them; every team whose turf they held loses the assignment.
            let mut touched: Vec<Option<String>> = db
                .query(
                    "SELECT DISTINCT t.team_id FROM assignments a JOIN turfs t ON t.id = a.turf_id
                     WHERE a.user_id = $1",
                    &[&user],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            touched.push(teams::user_team(db, user)?);
            let assignments = db.execute("DELETE FROM assignments WHERE user_id = $1", &[&user])?;
            teams::teams_in_step(db, touched.iter().map(Option::as_deref), now)?;
            Ok((tokens, assignments))
        })
    }

    fn attempt_rows(&self) -> StorageResult<Vec<AttemptRow>> {
        self.read(|db| attempt_rows_on(db, None))
    }

    fn attempt_rows_of(&self, turfs: &HashSet<String>) -> StorageResult<Vec<AttemptRow>> {
        self.read(|db| attempt_rows_on(db, Some(turfs.iter().cloned().collect())))
    }

    fn household_voters(
        &self,
        households: &HashSet<String>,
    ) -> StorageResult<HashMap<String, Vec<String>>> {
        self.read(|db| household_voters_from(households, |f| for_each_voter(db, Which::All, f)))
    }

    fn turf_figures(&self) -> StorageResult<Vec<TurfFigures>> {
        self.read(|db| {
            // One roster decoded at a time, to count it.
            let mut out = Vec::new();
            each_row(
                db,
                r#"SELECT t.id, t.name, t.list_kind, t.team_id,
                          (SELECT array_agg(a.user_id) FROM assignments a WHERE a.turf_id = t.id),
                          r.body
                   FROM turfs t LEFT JOIN rosters r ON r.turf_id = t.id
                   ORDER BY t.id COLLATE "C""#,
                &[],
                ROWS_PER_FETCH,
                |r| {
                    let turf: String = r.get(0);
                    let doors = roster_size(&turf, r.get(5))?;
                    let mut assigned: Vec<String> = r.get::<_, Option<_>>(4).unwrap_or_default();
                    assigned.sort();
                    out.push(TurfFigures {
                        turf,
                        name: r.get(1),
                        kind: r.get(2),
                        team: r.get(3),
                        assigned,
                        doors,
                    });
                    Ok(())
                },
            )?;
            Ok(out)
        })
    }
}
