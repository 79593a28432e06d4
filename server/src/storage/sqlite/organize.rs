//! [`Organize`] on SQLite.

use super::*;
use crate::setup::cut::Door;
use crate::setup::import::{EncodedVoters, StoredVoter, id_key};
use crate::storage::organize::*;
use doorstep_core::doc::{CampaignDoc, TurfDoc};
use doorstep_core::domain::{
    Address, CampaignId, Household, HouseholdId, ListKind, Location, TurfId, Voter, VoterId,
};
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
            refresh.list(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, &r.get::<_, String>(4)?)?;
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
            || self.import_voters_on(source, format, now, allow_removals, batches),
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
            // Per door: its fields, and the sum and count of its voters' coordinates.
            let mut doors: HashMap<String, (Door, f64, f64, u32)> = HashMap::new();
            for_each_voter(c, Which::All, |v| {
                if placed.contains(v.household.as_ref()) {
                    return Ok(());
                }
                let entry = doors.entry(v.household.to_string()).or_insert_with(|| {
                    (
                        Door {
                            household: v.household.to_string(),
                            building: v.address.building_id(),
                            precinct: v.precinct.as_deref().map(str::to_owned),
                            street_name: v.address.street_name().to_owned(),
                            house_number: v.address.house_number(),
                            unit: v.address.unit.clone(),
                            location: None,
                        },
                        0.0,
                        0.0,
                        0,
                    )
                });
                // A door's precinct is the least of its voters' (they normally agree).
                if let Some(p) = v.precinct.as_deref()
                    && entry.0.precinct.as_deref().is_none_or(|q| p < q)
                {
                    entry.0.precinct = Some(p.to_owned());
                }
                if let Some((lat, lon)) = v.location {
                    entry.1 += lat;
                    entry.2 += lon;
                    entry.3 += 1;
                }
                Ok(())
            })?;
            Ok(doors
                .into_values()
                .map(|(mut door, lat, lon, n)| {
                    if n > 0 {
                        door.location = Some((lat / f64::from(n), lon / f64::from(n)));
                    }
                    door
                })
                .collect())
        })
    }

    fn uncut_callers(&self) -> StorageResult<Vec<Caller>> {
        self.read(|c| {
            let placed: HashSet<String> = c
                .prepare("SELECT voter_id FROM call_list_voters")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut callers = Vec::new();
            for_each_voter(c, Which::All, |v| {
                if v.phone.is_some() && !placed.contains(v.id.as_ref()) {
                    callers.push(Caller {
                        sort_name: format!("{} {}", v.last_name, v.first_name),
                        voter: v.id.into_owned(),
                        precinct: v.precinct.map(std::borrow::Cow::into_owned),
                    });
                }
                Ok(())
            })?;
            Ok(callers)
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
            let applied = match load_campaign_doc(tx, campaign.id.as_str())? {
                Some((mut doc, before)) => {
                    if doc.campaign().map_err(corrupt)?.as_ref() == Some(campaign) {
                        return Ok(Applied::Unchanged);
                    }
                    doc.set(campaign).map_err(corrupt)?;
                    let am = doc.automerge();
                    let doc_id = format!("campaign:{}", campaign.id);
                    for change in am.get_changes(&before) {
                        tx.execute(
                            "INSERT OR IGNORE INTO chunks (doc_id, hash, data) VALUES (?1, ?2, ?3)",
                            params![doc_id, &change.hash().0[..], change.raw_bytes()],
                        )?;
                    }
                    tx.execute(
                        "UPDATE documents SET heads = ?2 WHERE id = ?1",
                        params![doc_id, heads_to_bytes(&am.get_heads())],
                    )?;
                    tx.execute(
                        "UPDATE campaigns SET name = ?2 WHERE id = ?1",
                        params![campaign.id.as_str(), campaign.name],
                    )?;
                    Applied::Updated
                }
                None => {
                    let mut doc = CampaignDoc::new(campaign, doorstep_core::ActorId::random())
                        .map_err(corrupt)?;
                    let am = doc.automerge();
                    tx.execute(
                        "INSERT INTO campaigns (id, name) VALUES (?1, ?2)",
                        params![campaign.id.as_str(), campaign.name],
                    )?;
                    tx.execute(
                        "INSERT INTO documents (id, heads, snapshot) VALUES (?1, ?2, ?3)",
                        params![
                            format!("campaign:{}", campaign.id),
                            heads_to_bytes(&am.get_heads()),
                            am.save()
                        ],
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
            Some((doc, _)) => doc.campaign().map_err(corrupt),
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
            row.map(|(role, team, revoked)| {
                Ok(UserInfo {
                    id: id.to_owned(),
                    role: Role::parse(&role)
                        .ok_or_else(|| corrupt(format!("user {id} has role '{role}'")))?,
                    team,
                    revoked,
                })
            })
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
            row.map(|(campaign, team, kind)| {
                Ok(TurfInfo {
                    id: id.to_owned(),
                    campaign,
                    team,
                    kind: ListKind::parse(&kind)
                        .ok_or_else(|| corrupt(format!("turf {id} has list kind '{kind}'")))?,
                })
            })
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
        self.read(|c| {
            let mut out: HashMap<String, Vec<String>> = HashMap::new();
            if households.is_empty() {
                return Ok(out);
            }
            for_each_voter(c, Which::All, |v| {
                if households.contains(v.household.as_ref()) {
                    out.entry(v.household.into_owned())
                        .or_default()
                        .push(v.id.into_owned());
                }
                Ok(())
            })?;
            for ids in out.values_mut() {
                ids.sort();
            }
            Ok(out)
        })
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
                let doors = match r.get_ref(5)?.as_blob_or_null().map_err(corrupt)? {
                    Some(b) => {
                        let roster: Roster = postcard::from_bytes(b)
                            .map_err(|e| corrupt(format!("roster of turf {turf}: {e}")))?;
                        if roster.list_kind == ListKind::Call {
                            roster.voters.len()
                        } else {
                            roster.households.len()
                        }
                    }
                    None => 0,
                } as u64;
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

impl SqliteStorage {
    fn import_voters_on(
        &self,
        source: &str,
        format: &str,
        now: i64,
        allow_removals: bool,
        batches: &mut dyn Iterator<Item = Result<EncodedVoters, String>>,
    ) -> StorageResult<ImportCounts> {
        // The lease runs on this machine's clock, whatever `now` the caller records.
        let clock = crate::handlers::sync::now_ms();
        let import = self.write(|tx| {
            // One import at a time: each keeps a heartbeat while it stages its chunks.
            let running: Option<(String, i64)> = tx
                .query_row(
                    "SELECT source, started_at FROM imports
                     WHERE finished_at IS NULL AND heartbeat_at > ?1 LIMIT 1",
                    [clock - IMPORT_LEASE_MS],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((other, _)) = running {
                return Err(StorageError::Input(format!(
                    "an import of source '{other}' is running; wait until it ends (or, if it \
                     was killed, a minute) and run this one again"
                )));
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
        })?;
        let result = self
            .stage_import(source, import, batches)
            .and_then(|(counts, before)| {
                let removed_share = if before == 0 {
                    0.0
                } else {
                    counts.removed as f64 / before as f64
                };
                if counts.imported == 0 {
                    return Err(StorageError::Input(format!(
                        "no voter in this file could be imported for source '{source}' (see the \
                         skipped rows above)"
                    )));
                }
                if !allow_removals && removed_share > crate::setup::import::MAX_REMOVED_SHARE {
                    return Err(StorageError::Input(format!(
                        "this file would remove {} of the {before} voters source '{source}' \
                         holds ({:.0}%): a cut-off download or another county's file? If it is \
                         right, run again with --allow-removals",
                        counts.removed,
                        100.0 * removed_share
                    )));
                }
                Ok(counts)
            });
        match result {
            Ok(counts) => {
                // One short transaction makes the whole file visible at once, and drops what it
                // replaces.
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
                })?;
                Ok(counts)
            }
            Err(e) => {
                // Invisible already; the space is given back now (or by the next import).
                let _ = self.write(|tx| {
                    tx.execute("DELETE FROM voter_chunks WHERE import_id = ?1", [import])?;
                    tx.execute(
                        "UPDATE imports SET finished_at = ?2, report = 'failed' WHERE id = ?1",
                        params![import, now],
                    )?;
                    Ok(())
                });
                Err(e)
            }
        }
    }

    /// Writes an import's chunks, in transactions of a few chunks each: SQLite checkpoints
    /// while the file is still being read, instead of all at the end.
    fn stage_import(
        &self,
        source: &str,
        import: i64,
        batches: &mut dyn Iterator<Item = Result<EncodedVoters, String>>,
    ) -> StorageResult<(ImportCounts, usize)> {
        // A voter id belongs to the source that listed it first.
        let mut taken = KeySet::default();
        // The file replaces its source's voters: whom it no longer lists leaves.
        let mut before = KeySet::default();
        self.read(|c| {
            for_each_voter(c, Which::OtherThan(source), |v| {
                taken.insert(id_key(&v.id));
                Ok(())
            })?;
            for_each_voter(c, Which::Source(source), |v| {
                before.insert(id_key(&v.id));
                Ok(())
            })
        })?;
        let mut counts = ImportCounts::default();
        let mut seen = KeySet::default();
        let mut households = KeySet::default();
        let mut batches = batches.fuse().peekable();
        while batches.peek().is_some() {
            self.write(|tx| {
                tx.prepare_cached("UPDATE imports SET heartbeat_at = ?2 WHERE id = ?1")?
                    .execute(params![import, crate::handlers::sync::now_ms()])?;
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO voter_chunks (source, import_id, voters, body)
                     VALUES (?1, ?2, ?3, ?4)",
                )?;
                for batch in batches.by_ref().take(CHUNKS_PER_TRANSACTION) {
                    let batch = batch.map_err(StorageError::Input)?;
                    let mut kept = vec![false; batch.len()];
                    for (i, keep) in kept.iter_mut().enumerate() {
                        let key = batch.key(i);
                        if taken.contains(&key) {
                            counts.other_source += 1;
                        } else if seen.insert(key) {
                            *keep = true;
                            households.insert(batch.household(i));
                        } else {
                            counts.duplicates += 1;
                        }
                    }
                    let (n, body) = batch.chunk(|i| kept[i]);
                    if n > 0 {
                        counts.imported += n as u64;
                        stmt.execute(params![source, import, n as i64, body])?;
                    }
                }
                Ok(())
            })?;
        }
        counts.households = households.len() as u64;
        counts.removed = before.iter().filter(|k| !seen.contains(*k)).count() as u64;
        Ok((counts, before.len()))
    }

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
                let mut doc =
                    TurfDoc::new(&TurfId(list.id.clone()), doorstep_core::ActorId::random())
                        .map_err(corrupt)?;
                let heads = doc.heads();
                tx.prepare_cached(
                    "INSERT INTO documents (id, heads, snapshot) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![
                    format!("turf:{}", list.id),
                    heads_to_bytes(&heads),
                    doc.automerge().save()
                ])?;
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
