//! [`Organize`] on SQLite.

use super::*;
use crate::setup::cut::Door;
use crate::setup::import::SourceVoter;
use crate::storage::organize::*;
use doorstep_core::doc::{CampaignDoc, TurfDoc};
use doorstep_core::domain::{
    Address, CampaignId, Household, HouseholdId, ListKind, Location, TurfId, Voter, VoterId,
};
use std::collections::{HashMap, HashSet};

const TAG_SEPARATOR: char = '\u{1f}';

fn corrupt(e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(e.to_string())
}

fn bump_epoch(tx: &rusqlite::Transaction<'_>) -> StorageResult<()> {
    tx.execute("UPDATE admin_epoch SET value = value + 1 WHERE id = 1", [])?;
    Ok(())
}

/// A turf's row, as a roster rebuild needs it.
struct ListRow {
    campaign: String,
    name: String,
    version: u64,
    kind: ListKind,
}

/// The roster being gathered for one list while its rows stream past.
struct Gathering {
    turf: String,
    households: Vec<Household>,
    seen: HashSet<String>,
    voters: Vec<Voter>,
}

impl Gathering {
    fn new(turf: String) -> Self {
        Self {
            turf,
            households: Vec::new(),
            seen: HashSet::new(),
            voters: Vec::new(),
        }
    }
}

const VOTER_COLUMNS: &str = "v.household, v.street, v.unit, v.city, v.zip, v.lat, v.lon, \
     v.voter_id, v.first_name, v.last_name, v.age, v.gender, v.party, v.tags, v.precinct, v.phone";

/// Stores `g`'s roster if it differs from the stored one; true if a new version was written.
fn store_roster(
    tx: &rusqlite::Transaction<'_>,
    lists: &HashMap<String, ListRow>,
    g: Gathering,
) -> StorageResult<bool> {
    let Some(list) = lists.get(&g.turf) else {
        return Ok(false);
    };
    let mut roster = Roster {
        turf: TurfId(g.turf.clone()),
        campaign: CampaignId(list.campaign.clone()),
        version: list.version,
        name: list.name.clone(),
        list_kind: list.kind,
        households: g.households,
        voters: g.voters,
    };
    let stored: Option<Vec<u8>> = tx
        .prepare_cached("SELECT body FROM rosters WHERE turf_id = ?1")?
        .query_row([&g.turf], |r| r.get(0))
        .optional()?;
    if stored.as_deref() == Some(&encode_roster(&roster)[..]) {
        return Ok(false);
    }
    roster.version = list.version + 1;
    roster
        .validate()
        .map_err(|e| corrupt(format!("roster of turf {}: {e}", g.turf)))?;
    tx.prepare_cached("UPDATE turfs SET roster_version = ?2 WHERE id = ?1")?
        .execute(params![g.turf, roster.version as i64])?;
    tx.prepare_cached(
        "INSERT INTO rosters (turf_id, body) VALUES (?1, ?2)
         ON CONFLICT (turf_id) DO UPDATE SET body = ?2",
    )?
    .execute(params![g.turf, encode_roster(&roster)])?;
    Ok(true)
}

fn refresh_on(tx: &rusqlite::Transaction<'_>) -> StorageResult<u64> {
    // New units in a building already cut into a turf join that turf, beside their neighbours.
    tx.execute(
        "INSERT INTO household_turfs (household, building, turf_id, walk_order)
         SELECT v.household, v.building, ht.turf_id, ht.walk_order
         FROM voters v JOIN household_turfs ht ON ht.building = v.building
         WHERE NOT EXISTS (SELECT 1 FROM household_turfs h WHERE h.household = v.household)
         GROUP BY v.household",
        [],
    )?;
    let mut lists = HashMap::new();
    {
        let mut stmt =
            tx.prepare("SELECT id, campaign_id, name, roster_version, list_kind FROM turfs")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        for row in rows {
            let (id, campaign, name, version, kind) = row?;
            let kind = ListKind::parse(&kind)
                .ok_or_else(|| corrupt(format!("turf {id} has list kind '{kind}'")))?;
            lists.insert(
                id,
                ListRow {
                    campaign,
                    name,
                    version: version as u64,
                    kind,
                },
            );
        }
    }
    let queries = [
        format!(
            "SELECT ht.turf_id, {VOTER_COLUMNS} FROM household_turfs ht
             JOIN voters v ON v.household = ht.household
             ORDER BY ht.turf_id, ht.walk_order, v.unit, v.household, v.voter_id"
        ),
        format!(
            "SELECT c.turf_id, {VOTER_COLUMNS} FROM call_list_voters c
             JOIN voters v ON v.voter_id = c.voter_id
             ORDER BY c.turf_id, c.position"
        ),
    ];
    let mut updated = 0;
    let mut seen = HashSet::new();
    for sql in &queries {
        let mut stmt = tx.prepare(sql)?;
        let mut rows = stmt.query([])?;
        let mut current: Option<Gathering> = None;
        while let Some(r) = rows.next()? {
            let turf: String = r.get(0)?;
            if current.as_ref().is_none_or(|g| g.turf != turf) {
                if let Some(done) = current.take() {
                    updated += u64::from(store_roster(tx, &lists, done)?);
                }
                seen.insert(turf.clone());
                current = Some(Gathering::new(turf));
            }
            if let Some(g) = current.as_mut() {
                // Columns shift by one: column 0 is the turf.
                gather_shifted(g, &Shifted(r))?;
            }
        }
        if let Some(done) = current.take() {
            updated += u64::from(store_roster(tx, &lists, done)?);
        }
    }
    // Lists whose every voter left the file: an empty roster.
    let emptied: Vec<String> = lists
        .keys()
        .filter(|t| !seen.contains(*t))
        .cloned()
        .collect();
    for turf in emptied {
        updated += u64::from(store_roster(tx, &lists, Gathering::new(turf))?);
    }
    Ok(updated)
}

/// A row read one column to the right.
struct Shifted<'a, 'b>(&'a rusqlite::Row<'b>);

impl Shifted<'_, '_> {
    fn get<T: rusqlite::types::FromSql>(&self, i: usize) -> rusqlite::Result<T> {
        self.0.get(i + 1)
    }
}

/// One row of the rebuild queries, past the list id: the voter with their household.
fn gather_shifted(g: &mut Gathering, r: &Shifted<'_, '_>) -> rusqlite::Result<()> {
    let household: String = r.get(0)?;
    if g.seen.insert(household.clone()) {
        let lat: Option<f64> = r.get(5)?;
        let lon: Option<f64> = r.get(6)?;
        g.households.push(Household {
            id: HouseholdId(household.clone()),
            walk_order: g.households.len() as u32,
            address: Address {
                street: r.get(1)?,
                unit: r.get(2)?,
                city: r.get(3)?,
                zip: r.get(4)?,
            },
            location: lat.zip(lon).map(|(lat, lon)| Location { lat, lon }),
        });
    }
    let tags: String = r.get(13)?;
    g.voters.push(Voter {
        id: VoterId(r.get(7)?),
        household: HouseholdId(household),
        first_name: r.get(8)?,
        last_name: r.get(9)?,
        age: r.get::<Option<i64>>(10)?.map(|a| a as u16),
        gender: r.get(11)?,
        party: r.get(12)?,
        tags: if tags.is_empty() {
            Vec::new()
        } else {
            tags.split(TAG_SEPARATOR).map(str::to_owned).collect()
        },
        precinct: r.get(14)?,
        phone: r.get(15)?,
    });
    Ok(())
}

fn load_campaign_doc(
    c: &Connection,
    id: &str,
) -> StorageResult<Option<(CampaignDoc, Vec<ChangeHash>)>> {
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
    let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
    let mut doc = CampaignDoc::load(
        &CampaignId(id.to_owned()),
        snapshot.as_deref().unwrap_or_default(),
        &refs,
    )
    .map_err(corrupt)?;
    let heads = doc.automerge().get_heads();
    Ok(Some((doc, heads)))
}

impl Organize for SqliteStorage {
    fn import_voters(
        &self,
        source: &str,
        format: &str,
        now: i64,
        batches: &mut dyn Iterator<Item = Result<Vec<SourceVoter>, String>>,
    ) -> StorageResult<ImportCounts> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO imports (source, format, started_at) VALUES (?1, ?2, ?3)",
                params![source, format, now],
            )?;
            let import = tx.last_insert_rowid();
            let mut counts = ImportCounts::default();
            let mut households = HashSet::new();
            let mut stmt = tx.prepare(
                "INSERT INTO voters (voter_id, source, import_id, household, building, first_name,
                    last_name, age, gender, party, precinct, phone, tags, street, house_number,
                    street_name, unit, city, zip, lat, lon)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                    ?17, ?18, ?19, ?20, ?21)
                 ON CONFLICT (voter_id) DO UPDATE SET source = ?2, import_id = ?3, household = ?4,
                    building = ?5, first_name = ?6, last_name = ?7, age = ?8, gender = ?9,
                    party = ?10, precinct = ?11, phone = ?12, tags = ?13, street = ?14,
                    house_number = ?15, street_name = ?16, unit = ?17, city = ?18, zip = ?19,
                    lat = ?20, lon = ?21
                 WHERE voters.import_id <> ?3",
            )?;
            let mut tags = String::new();
            for batch in batches {
                for v in batch.map_err(StorageError::Input)? {
                    let a = &v.address;
                    let household = a.household_id();
                    tags.clear();
                    for (i, t) in v.tags.iter().enumerate() {
                        if i > 0 {
                            tags.push(TAG_SEPARATOR);
                        }
                        tags.push_str(t);
                    }
                    let written = stmt.execute(params![
                        v.id,
                        source,
                        import,
                        household,
                        a.building_id(),
                        v.first_name,
                        v.last_name,
                        v.age,
                        v.gender,
                        v.party,
                        v.precinct,
                        v.phone,
                        tags,
                        a.street,
                        a.house_number,
                        a.street_name,
                        a.unit,
                        a.city,
                        a.zip,
                        v.location.map(|l| l.0),
                        v.location.map(|l| l.1),
                    ])?;
                    if written == 0 {
                        counts.duplicates += 1;
                    } else {
                        counts.imported += 1;
                        // The id is "h-" and 16 hex digits: its value stands for it.
                        households.insert(u64::from_str_radix(&household[2..], 16).unwrap_or(0));
                    }
                }
            }
            counts.households = households.len() as u64;
            drop(stmt);
            counts.removed = tx.execute(
                "DELETE FROM voters WHERE source = ?1 AND import_id < ?2",
                params![source, import],
            )? as u64;
            Ok(counts)
        })
    }

    fn finish_import(&self, source: &str, report_json: &str, now: i64) -> StorageResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE imports SET finished_at = ?3, report = ?2
                 WHERE id = (SELECT max(id) FROM imports WHERE source = ?1)",
                params![source, report_json, now],
            )?;
            Ok(())
        })
    }

    fn refresh_rosters(&self) -> StorageResult<u64> {
        self.write(refresh_on)
    }

    fn uncut_doors(&self) -> StorageResult<Vec<Door>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT v.household, v.building, min(v.precinct), v.street_name, v.house_number,
                        v.unit, avg(v.lat), avg(v.lon)
                 FROM voters v
                 WHERE NOT EXISTS (SELECT 1 FROM household_turfs h WHERE h.household = v.household)
                 GROUP BY v.household",
            )?;
            let doors = stmt
                .query_map([], |r| {
                    let lat: Option<f64> = r.get(6)?;
                    let lon: Option<f64> = r.get(7)?;
                    Ok(Door {
                        household: r.get(0)?,
                        building: r.get(1)?,
                        precinct: r.get(2)?,
                        street_name: r.get(3)?,
                        house_number: r.get::<_, Option<i64>>(4)?.map(|n| n as u32),
                        unit: r.get(5)?,
                        location: lat.zip(lon),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(doors)
        })
    }

    fn uncut_callers(&self) -> StorageResult<Vec<Caller>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT v.voter_id, v.precinct, v.last_name || ' ' || v.first_name
                 FROM voters v
                 WHERE v.phone IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM call_list_voters c WHERE c.voter_id = v.voter_id)",
            )?;
            let callers = stmt
                .query_map([], |r| {
                    Ok(Caller {
                        voter: r.get(0)?,
                        precinct: r.get(1)?,
                        sort_name: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
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
                                 SELECT ?1, building, ?2, ?3 FROM voters WHERE household = ?1 LIMIT 1",
                            )?
                            .execute(params![member, list.id, i as i64])?,
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
                .query_row("SELECT role, team_id FROM users WHERE id = ?1", [id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                })
                .optional()?;
            row.map(|(role, team)| {
                Ok(UserInfo {
                    id: id.to_owned(),
                    role: Role::parse(&role)
                        .ok_or_else(|| corrupt(format!("user {id} has role '{role}'")))?,
                    team,
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
            tx.execute(
                "UPDATE turfs SET team_id = ?2 WHERE id = ?1",
                params![turf, team],
            )?;
            Ok(())
        })
    }

    fn revoke_user(&self, user: &str, now: i64) -> StorageResult<(u64, u64)> {
        self.write(|tx| {
            let tokens = tx.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                params![user, now],
            )?;
            let assignments = tx.execute("DELETE FROM assignments WHERE user_id = ?1", [user])?;
            Ok((tokens as u64, assignments as u64))
        })
    }

    fn attempt_rows(&self) -> StorageResult<Vec<AttemptRow>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT turf_id, attempt_id, voter_id, household_id, canvasser_id, device,
                        outcome, answers, note, recorded_at, received_at, voided_by
                 FROM results ORDER BY recorded_at, attempt_id",
            )?;
            let rows = stmt
                .query_map([], |r| {
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
        })
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
            let mut stmt = c.prepare("SELECT household, voter_id FROM voters ORDER BY voter_id")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let household: String = r.get(0)?;
                if households.contains(&household) {
                    out.entry(household).or_default().push(r.get(1)?);
                }
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
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<Vec<u8>>>(5)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(|(turf, name, kind, team, assigned, body)| {
                    let doors = match body {
                        Some(b) => {
                            let roster: Roster = postcard::from_bytes(&b).map_err(|e| {
                                corrupt(format!("roster of turf {turf}: {e}"))
                            })?;
                            if roster.list_kind == ListKind::Call {
                                roster.voters.len()
                            } else {
                                roster.households.len()
                            }
                        }
                        None => 0,
                    } as u64;
                    let mut assigned: Vec<String> = assigned
                        .map(|a| a.split(',').map(str::to_owned).collect())
                        .unwrap_or_default();
                    assigned.sort();
                    Ok(TurfFigures {
                        turf,
                        name,
                        kind,
                        team,
                        assigned,
                        doors,
                    })
                })
                .collect()
        })
    }
}
