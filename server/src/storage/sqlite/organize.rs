//! [`Organize`] on SQLite.

use super::*;
use crate::setup::cut::Door;
use crate::setup::import::EncodedVoters;
use crate::storage::common::corrupt;
use crate::storage::common::organize::*;
use crate::storage::organize::*;
use doorstep_core::doc::CampaignDoc;
use doorstep_core::domain::ListKind;
use std::collections::{HashMap, HashSet};

fn bump_epoch(tx: &rusqlite::Transaction<'_>) -> StorageResult<()> {
    tx.execute("UPDATE admin_epoch SET value = value + 1 WHERE id = 1", [])?;
    Ok(())
}

/// Calls `f` with every stored voter, chunk by chunk, in import order.
fn for_each_voter(c: &Connection, which: Which<'_>, f: Each<'_>) -> StorageResult<()> {
    // Live chunks only: those of each source's current import.
    let (filter, arg) = match which {
        Which::All => ("", None),
        Which::Source(s) => ("WHERE c.source = ?1", Some(s)),
        Which::OtherThan(s) => ("WHERE c.source <> ?1", Some(s)),
    };
    let sql = format!(
        "SELECT c.body FROM voter_chunks c
         JOIN voter_sources s ON s.source = c.source AND s.import_id = c.import_id
         {filter} ORDER BY c.id"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let mut rows = match arg {
        Some(a) => stmt.query([a])?,
        None => stmt.query([])?,
    };
    while let Some(r) = rows.next()? {
        let body = r.get_ref(0)?.as_blob().map_err(corrupt)?;
        for v in decode_chunk(body)? {
            f(v)?;
        }
    }
    Ok(())
}

/// A bulk write's page cache: big enough for its indexes (64 MB instead of 2).
const BULK: &[(&str, &str, &str)] = &[("cache_size", "-65536", "-2000")];

/// Rebuilds every list's roster from the stored voters; stores those that changed.
fn refresh_on(tx: &rusqlite::Transaction<'_>) -> StorageResult<u64> {
    let mut refresh = Refresh::default();
    {
        let mut stmt =
            tx.prepare("SELECT id, campaign_id, name, roster_version, list_kind FROM turfs")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            refresh.list(
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                &r.get::<_, String>(4)?,
            )?;
        }
    }
    let cut: HashSet<String> = tx
        .prepare("SELECT turf_id FROM household_turfs UNION SELECT turf_id FROM call_list_voters")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if !refresh.keep_cut(&cut) {
        return Ok(0);
    }
    // Where each door and each caller is placed (the table is in household order).
    {
        let mut stmt =
            tx.prepare("SELECT household, building, turf_id, walk_order FROM household_turfs")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            refresh.door(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        }
        let mut stmt = tx.prepare("SELECT voter_id, turf_id, position FROM call_list_voters")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            refresh.caller(r.get(0)?, r.get(1)?, r.get(2)?);
        }
    }
    let (joined, rosters) = refresh.gather(|f| for_each_voter(tx, Which::All, f))?;
    {
        let mut join = tx.prepare(
            "INSERT OR IGNORE INTO household_turfs (household, building, turf_id, walk_order)
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (household, building, turf, order) in joined {
            join.execute(params![household, building, turf, order])?;
        }
    }
    let mut updated = 0;
    for roster in rosters {
        let roster = roster?;
        let stored: Option<Vec<u8>> = tx
            .prepare_cached("SELECT body FROM rosters WHERE turf_id = ?1")?
            .query_row([roster.turf.as_str()], |r| r.get(0))
            .optional()?;
        let Some(roster) = next_version(roster, stored.as_deref())? else {
            continue;
        };
        tx.prepare_cached("UPDATE turfs SET roster_version = ?2 WHERE id = ?1")?
            .execute(params![roster.turf.as_str(), roster.version as i64])?;
        tx.prepare_cached(
            "INSERT INTO rosters (turf_id, body) VALUES (?1, ?2)
             ON CONFLICT (turf_id) DO UPDATE SET body = ?2",
        )?
        .execute(params![roster.turf.as_str(), encode_roster(&roster)])?;
        super::dashboard::write_doors(tx, &roster)?;
        updated += 1;
    }
    Ok(updated)
}

/// A campaign's stored document, if any.
fn load_campaign_doc(c: &Connection, id: &str) -> StorageResult<Option<CampaignDoc>> {
    let doc_id = format!("campaign:{id}");
    let snapshot: Option<Option<Vec<u8>>> = c
        .query_row(
            "SELECT snapshot FROM documents WHERE id = ?1",
            [&doc_id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(snapshot) = snapshot else {
        return Ok(None);
    };
    let mut stmt = c.prepare("SELECT data FROM chunks WHERE doc_id = ?1")?;
    let chunks = stmt
        .query_map([&doc_id], |r| r.get::<_, Vec<u8>>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    load_campaign(id, snapshot.as_deref(), &chunks).map(Some)
}

impl Organize for SqliteStorage {
    fn import_voters(
        &self,
        source: &str,
        format: &str,
        now: i64,
        allow_removals: bool,
        batches: &mut dyn Iterator<Item = Result<EncodedVoters, String>>,
    ) -> StorageResult<ImportCounts> {
        // An import can simply be run again: its commits skip the WAL's fsync (a power cut
        // right after can lose the import, never corrupt the file; the next checkpoint makes it
        // durable), and checkpoints come less often. Sync results keep `FULL`.
        self.with_pragmas(
            &[
                ("synchronous", "NORMAL", "FULL"),
                ("wal_autocheckpoint", "8192", "1000"),
            ],
            || import_voters_with(self, source, format, now, allow_removals, batches),
        )
    }

    fn finish_import(&self, source: &str, report_json: &str, now: i64) -> StorageResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE imports SET finished_at = ?3, report = ?2
                 WHERE id = (SELECT import_id FROM voter_sources WHERE source = ?1)",
                params![source, report_json, now],
            )?;
            Ok(())
        })
    }
    fn refresh_rosters(&self) -> StorageResult<u64> {
        self.with_pragmas(BULK, || self.write(refresh_on))
    }

    fn uncut_doors(&self) -> StorageResult<Vec<Door>> {
        self.read(|c| {
            let placed: HashSet<String> = c
                .prepare("SELECT household FROM household_turfs")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            uncut_doors_from(&placed, |f| for_each_voter(c, Which::All, f))
        })
    }

    fn uncut_callers(&self) -> StorageResult<Vec<Caller>> {
        self.read(|c| {
            let placed: HashSet<String> = c
                .prepare("SELECT voter_id FROM call_list_voters")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            uncut_callers_from(&placed, |f| for_each_voter(c, Which::All, f))
        })
    }

    fn placed(&self, kind: ListKind) -> StorageResult<u64> {
        self.read(|c| {
            let sql = match kind {
                ListKind::Walk => "SELECT count(*) FROM household_turfs",
                ListKind::Call => "SELECT count(*) FROM call_list_voters",
            };
            Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    fn add_lists(&self, campaign: &str, kind: ListKind, lists: &[NewList]) -> StorageResult<()> {
        self.with_pragmas(BULK, || self.add_lists_on(campaign, kind, lists))
    }

    fn list_count(&self, campaign: &str, kind: ListKind) -> StorageResult<u64> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM turfs WHERE campaign_id = ?1 AND list_kind = ?2",
                params![campaign, kind.as_str()],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
    }

    fn apply_campaign(&self, campaign: &Campaign) -> StorageResult<Applied> {
        self.write(|tx| {
            let doc_id = format!("campaign:{}", campaign.id);
            let stored = load_campaign_doc(tx, campaign.id.as_str())?;
            let applied = match campaign_write(stored, campaign)? {
                CampaignWrite::Unchanged => return Ok(Applied::Unchanged),
                CampaignWrite::Update { changes, heads } => {
                    for (hash, data) in changes {
                        tx.execute(
                            "INSERT OR IGNORE INTO chunks (doc_id, hash, data) VALUES (?1, ?2, ?3)",
                            params![doc_id, hash, data],
                        )?;
                    }
                    tx.execute(
                        "UPDATE documents SET heads = ?2 WHERE id = ?1",
                        params![doc_id, heads],
                    )?;
                    tx.execute(
                        "UPDATE campaigns SET name = ?2 WHERE id = ?1",
                        params![campaign.id.as_str(), campaign.name],
                    )?;
                    Applied::Updated
                }
                CampaignWrite::Create { heads, snapshot } => {
                    tx.execute(
                        "INSERT INTO campaigns (id, name) VALUES (?1, ?2)",
                        params![campaign.id.as_str(), campaign.name],
                    )?;
                    tx.execute(
                        "INSERT INTO documents (id, heads, snapshot) VALUES (?1, ?2, ?3)",
                        params![doc_id, heads, snapshot],
                    )?;
                    Applied::Created
                }
            };
            bump_epoch(tx)?;
            Ok(applied)
        })
    }

    fn campaigns(&self) -> StorageResult<Vec<(String, String)>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT id, name FROM campaigns ORDER BY id")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    fn campaign(&self, id: &str) -> StorageResult<Option<Campaign>> {
        self.read(|c| match load_campaign_doc(c, id)? {
            Some(doc) => doc.campaign().map_err(corrupt),
            None => Ok(None),
        })
    }

    fn team_exists(&self, id: &str) -> StorageResult<bool> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT 1 FROM teams WHERE id = ?1", [id], |_| Ok(()))
                    .optional()?
                    .is_some(),
            )
        })
    }

    fn user(&self, id: &str) -> StorageResult<Option<UserInfo>> {
        self.read(|c| {
            let row = c
                .query_row(
                    "SELECT role, team_id, revoked_at IS NOT NULL FROM users WHERE id = ?1",
                    [id],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, Option<String>>(1)?,
                            r.get::<_, bool>(2)?,
                        ))
                    },
                )
                .optional()?;
            row.map(|(role, team, revoked)| user_info(id, &role, team, revoked))
                .transpose()
        })
    }

    fn turf(&self, id: &str) -> StorageResult<Option<TurfInfo>> {
        self.read(|c| {
            let row = c
                .query_row(
                    "SELECT campaign_id, team_id, list_kind FROM turfs WHERE id = ?1",
                    [id],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, Option<String>>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    },
                )
                .optional()?;
            row.map(|(campaign, team, kind)| turf_info(id, campaign, team, &kind))
                .transpose()
        })
    }

    fn set_turf_team(&self, turf: &str, team: &str) -> StorageResult<()> {
        self.write(|tx| {
            let before = super::teams::turf_team(tx, turf)?;
            tx.execute(
                "UPDATE turfs SET team_id = ?2 WHERE id = ?1",
                params![turf, team],
            )?;
            super::teams::teams_in_step(
                tx,
                [before.as_deref(), Some(team)],
                crate::handlers::sync::now_ms(),
            )
        })
    }

    fn revoke_user(&self, user: &str, now: i64) -> StorageResult<(u64, u64)> {
        self.write(|tx| {
            let tokens = tx.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                params![user, now],
            )?;
            tx.execute(
                "UPDATE users SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![user, now],
            )?;
            // Their own team loses them; every team whose turf they held loses the assignment.
            let mut touched: Vec<Option<String>> = tx
                .prepare(
                    "SELECT DISTINCT t.team_id FROM assignments a JOIN turfs t ON t.id = a.turf_id
                     WHERE a.user_id = ?1",
                )?
                .query_map([user], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            touched.push(super::teams::user_team(tx, user)?);
            let assignments = tx.execute("DELETE FROM assignments WHERE user_id = ?1", [user])?;
            super::teams::teams_in_step(tx, touched.iter().map(Option::as_deref), now)?;
            Ok((tokens as u64, assignments as u64))
        })
    }

    fn attempt_rows(&self) -> StorageResult<Vec<AttemptRow>> {
        self.read(|c| attempt_rows_on(c, None))
    }

    fn attempt_rows_of(&self, turfs: &HashSet<String>) -> StorageResult<Vec<AttemptRow>> {
        let list = serde_json::Value::from(turfs.iter().cloned().collect::<Vec<_>>()).to_string();
        self.read(|c| attempt_rows_on(c, Some(&list)))
    }

    fn household_voters(
        &self,
        households: &HashSet<String>,
    ) -> StorageResult<HashMap<String, Vec<String>>> {
        self.read(|c| household_voters_from(households, |f| for_each_voter(c, Which::All, f)))
    }

    fn turf_figures(&self) -> StorageResult<Vec<TurfFigures>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT t.id, t.name, t.list_kind, t.team_id,
                        (SELECT group_concat(user_id, ',') FROM assignments a WHERE a.turf_id = t.id),
                        r.body
                 FROM turfs t LEFT JOIN rosters r ON r.turf_id = t.id ORDER BY t.id",
            )?;
            // One roster decoded at a time, to count it.
            let mut out = Vec::new();
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let turf: String = r.get(0)?;
                let body = r.get_ref(5)?.as_blob_or_null().map_err(corrupt)?;
                let doors = roster_size(&turf, body)?;
                let mut assigned: Vec<String> = r
                    .get::<_, Option<String>>(4)?
                    .map(|a| a.split(',').map(str::to_owned).collect())
                    .unwrap_or_default();
                assigned.sort();
                out.push(TurfFigures {
                    turf,
                    name: r.get(1)?,
                    kind: r.get(2)?,
                    team: r.get(3)?,
                    assigned,
                    doors,
                });
            }
            Ok(out)
        })
    }
}

/// The results rows, of the turfs in a JSON list if given, in recorded order.
fn attempt_rows_on(c: &Connection, turfs: Option<&str>) -> StorageResult<Vec<AttemptRow>> {
    let mut stmt = c.prepare_cached(
        "SELECT turf_id, attempt_id, voter_id, household_id, canvasser_id, device,
                outcome, answers, note, recorded_at, received_at, voided_by
         FROM results
         WHERE ?1 IS NULL OR turf_id IN (SELECT value FROM json_each(?1))
         ORDER BY recorded_at, attempt_id",
    )?;
    let rows = stmt
        .query_map([turfs], |r| {
            Ok(AttemptRow {
                turf: r.get(0)?,
                attempt: r.get(1)?,
                voter: r.get(2)?,
                household: r.get(3)?,
                canvasser: r.get(4)?,
                device: r.get(5)?,
                outcome: r.get(6)?,
                answers: r.get(7)?,
                note: r.get(8)?,
                recorded_at: r.get(9)?,
                received_at: r.get(10)?,
                voided_by: r.get(11)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

impl VoterImport for SqliteStorage {
    fn begin_import(&self, source: &str, format: &str, now: i64, clock: i64) -> StorageResult<i64> {
        self.write(|tx| {
            // One import at a time: each keeps a heartbeat while it stages its chunks.
            let running: Option<String> = tx
                .query_row(
                    "SELECT source FROM imports
                     WHERE finished_at IS NULL AND heartbeat_at > ?1 LIMIT 1",
                    [clock - IMPORT_LEASE_MS],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(other) = running {
                return Err(import_running(&other));
            }
            // Chunks of imports that never finished (killed, or failed before cleaning up).
            tx.execute(
                "DELETE FROM voter_chunks WHERE import_id NOT IN
                   (SELECT import_id FROM voter_sources)",
                [],
            )?;
            tx.execute(
                "INSERT INTO imports (source, format, started_at, heartbeat_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![source, format, now, clock],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    fn held_keys(&self, source: &str) -> StorageResult<(KeySet<u128>, KeySet<u128>)> {
        self.read(|c| held_keys_from(source, |which, f| for_each_voter(c, which, f)))
    }

    fn store_chunks(
        &self,
        source: &str,
        import: i64,
        chunks: &[(i64, Vec<u8>)],
    ) -> StorageResult<()> {
        self.write(|tx| {
            tx.prepare_cached("UPDATE imports SET heartbeat_at = ?2 WHERE id = ?1")?
                .execute(params![import, crate::handlers::sync::now_ms()])?;
            let mut stmt = tx.prepare_cached(
                "INSERT INTO voter_chunks (source, import_id, voters, body)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (n, body) in chunks {
                stmt.execute(params![source, import, n, body])?;
            }
            Ok(())
        })
    }

    fn publish_import(&self, source: &str, import: i64, now: i64) -> StorageResult<()> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM voter_chunks WHERE source = ?1 AND import_id <> ?2",
                params![source, import],
            )?;
            tx.execute(
                "INSERT INTO voter_sources (source, import_id) VALUES (?1, ?2)
                 ON CONFLICT (source) DO UPDATE SET import_id = ?2",
                params![source, import],
            )?;
            tx.execute(
                "UPDATE imports SET finished_at = ?2 WHERE id = ?1",
                params![import, now],
            )?;
            Ok(())
        })
    }

    fn discard_import(&self, import: i64, now: i64) -> StorageResult<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM voter_chunks WHERE import_id = ?1", [import])?;
            tx.execute(
                "UPDATE imports SET finished_at = ?2, report = 'failed' WHERE id = ?1",
                params![import, now],
            )?;
            Ok(())
        })
    }
}

impl SqliteStorage {
    fn add_lists_on(&self, campaign: &str, kind: ListKind, lists: &[NewList]) -> StorageResult<()> {
        self.write(|tx| {
            let known: Option<i64> = tx
                .query_row("SELECT 1 FROM campaigns WHERE id = ?1", [campaign], |r| {
                    r.get(0)
                })
                .optional()?;
            if known.is_none() {
                return Err(StorageError::NotFound {
                    what: "campaign",
                    id: campaign.into(),
                });
            }
            for list in lists {
                tx.prepare_cached(
                    "INSERT INTO turfs (id, campaign_id, team_id, name, roster_version, list_kind)
                     VALUES (?1, ?2, NULL, ?3, 0, ?4)",
                )?
                .execute(params![list.id, campaign, list.name, kind.as_str()])?;
                let (heads, snapshot) = new_turf_doc(&list.id)?;
                tx.prepare_cached(
                    "INSERT INTO documents (id, heads, snapshot) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![format!("turf:{}", list.id), heads, snapshot])?;
                for (i, member) in list.members.iter().enumerate() {
                    match kind {
                        ListKind::Walk => tx
                            .prepare_cached(
                                "INSERT INTO household_turfs (household, building, turf_id, walk_order)
                                 VALUES (?1, ?2, ?3, ?4)",
                            )?
                            .execute(params![
                                member,
                                list.buildings.get(i).map_or("", String::as_str),
                                list.id,
                                i as i64
                            ])?,
                        ListKind::Call => tx
                            .prepare_cached(
                                "INSERT INTO call_list_voters (voter_id, turf_id, position)
                                 VALUES (?1, ?2, ?3)",
                            )?
                            .execute(params![member, list.id, i as i64])?,
                    };
                }
            }
            refresh_on(tx)?;
            Ok(())
        })
    }

    /// Runs `f` with the writer's pragmas set to the values given (name, during, after), and
    /// sets them back after, whatever `f` returned.
    fn with_pragmas<T>(
        &self,
        pragmas: &[(&str, &str, &str)],
        f: impl FnOnce() -> StorageResult<T>,
    ) -> StorageResult<T> {
        for (name, during, _) in pragmas {
            lock(&self.writer).pragma_update(None, name, during)?;
        }
        let out = f();
        for (name, _, after) in pragmas {
            lock(&self.writer).pragma_update(None, name, after)?;
        }
        out
    }
}
