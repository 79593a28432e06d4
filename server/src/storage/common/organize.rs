//! What every backend's [`Organize`](crate::storage::Organize) does the same way around its
//! SQL: an import's voters checked, counted and chunked; the stored voter file read back into
//! doors, callers and rosters; a campaign's document changed; a list's document made.
//!
//! The backends hand these functions what they read, and a `scan` that calls a closure with
//! every stored voter of some sources ([`Which`]), chunk by chunk in import order.

use super::{corrupt, encode_roster};
use crate::setup::cut::Door;
use crate::setup::import::{EncodedVoters, StoredVoter, id_key};
use crate::storage::organize::{Caller, ImportCounts, TurfInfo, UserInfo};
use crate::storage::{StorageError, StorageResult};
use doorstep_core::doc::{CampaignDoc, TurfDoc, heads_to_bytes};
use doorstep_core::domain::{
    Address, Campaign, CampaignId, Household, HouseholdId, ListKind, Location, Roster, TurfId,
    Voter, VoterId,
};
use doorstep_core::sync::Role;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// How long an import's heartbeat keeps others out: a killed import stops blocking after this.
pub(crate) const IMPORT_LEASE_MS: i64 = 60_000;

/// Chunks an import writes per transaction (about 16,000 voters).
const CHUNKS_PER_TRANSACTION: usize = 4;

/// A stored voter chunk, decoded.
pub(crate) fn decode_chunk(bytes: &[u8]) -> StorageResult<Vec<StoredVoter>> {
    crate::setup::import::decode_chunk(bytes).map_err(StorageError::Corrupt)
}

/// A hasher for keys that are already hashes (voter id keys, household ids): it takes their
/// bits instead of hashing them again.
#[derive(Default, Clone, Copy)]
pub(crate) struct PreHashed(u64);

impl std::hash::Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }

    fn write_u128(&mut self, n: u128) {
        self.0 ^= (n as u64) ^ ((n >> 64) as u64);
    }
}

/// A set of keys that are hashes already.
pub(crate) type KeySet<T> = HashSet<T, std::hash::BuildHasherDefault<PreHashed>>;

/// Which stored voters to read: those of each source's current import only.
#[derive(Clone, Copy)]
pub(crate) enum Which<'a> {
    /// Every source's.
    All,
    /// This source's.
    Source(&'a str),
    /// Every source's but this one's.
    OtherThan(&'a str),
}

/// What a scan calls with each stored voter.
pub(crate) type Each<'f> = &'f mut dyn FnMut(StoredVoter) -> StorageResult<()>;

/// An import's steps that touch the database, each in its own transaction.
pub(crate) trait VoterImport {
    /// Refuses (with [`import_running`]) while another import's heartbeat is younger than
    /// [`IMPORT_LEASE_MS`] on `clock`; drops the chunks of imports that never finished; records
    /// this one; returns its id.
    fn begin_import(&self, source: &str, format: &str, now: i64, clock: i64) -> StorageResult<i64>;
    /// The keys ([`id_key`]) of the voter ids other sources hold, and of those `source` holds
    /// ([`held_keys_from`]).
    fn held_keys(&self, source: &str) -> StorageResult<(KeySet<u128>, KeySet<u128>)>;
    /// Stores chunks (voters, body) of an import, and its heartbeat.
    fn store_chunks(
        &self,
        source: &str,
        import: i64,
        chunks: &[(i64, Vec<u8>)],
    ) -> StorageResult<()>;
    /// Makes the import its source's voters, dropping what it replaces.
    fn publish_import(&self, source: &str, import: i64, now: i64) -> StorageResult<()>;
    /// Drops a failed import's chunks.
    fn discard_import(&self, import: i64, now: i64) -> StorageResult<()>;
}

/// The refusal while another import runs.
pub(crate) fn import_running(other: &str) -> StorageError {
    StorageError::Input(format!(
        "an import of source '{other}' is running; wait until it ends (or, if it was killed, a \
         minute) and run this one again"
    ))
}

/// [`crate::storage::Organize::import_voters`] through a backend's steps: the import stages
/// its chunks out of sight, then one short transaction makes the whole file visible at once.
pub(crate) fn import_voters_with(
    store: &impl VoterImport,
    source: &str,
    format: &str,
    now: i64,
    allow_removals: bool,
    batches: &mut dyn Iterator<Item = Result<EncodedVoters, String>>,
) -> StorageResult<ImportCounts> {
    // The lease runs on this machine's clock, whatever `now` the caller records.
    let clock = crate::handlers::sync::now_ms();
    let import = store.begin_import(source, format, now, clock)?;
    let result = stage_import(store, source, import, batches).and_then(|(counts, before)| {
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
                "this file would remove {} of the {before} voters source '{source}' holds \
                 ({:.0}%): a cut-off download or another county's file? If it is right, run \
                 again with --allow-removals",
                counts.removed,
                100.0 * removed_share
            )));
        }
        Ok(counts)
    });
    match result {
        Ok(counts) => {
            store.publish_import(source, import, now)?;
            Ok(counts)
        }
        Err(e) => {
            // Invisible already; the space is given back now (or by the next import).
            let _ = store.discard_import(import, now);
            Err(e)
        }
    }
}

/// Writes an import's chunks, a few per transaction (SQLite checkpoints while the file is
/// still being read, instead of all at the end); returns the counts and how many voters the
/// source held before.
fn stage_import(
    store: &impl VoterImport,
    source: &str,
    import: i64,
    batches: &mut dyn Iterator<Item = Result<EncodedVoters, String>>,
) -> StorageResult<(ImportCounts, usize)> {
    // A voter id belongs to the source that listed it first; the file replaces its source's
    // voters: whom it no longer lists leaves.
    let (taken, before) = store.held_keys(source)?;
    let mut counts = ImportCounts::default();
    let mut seen = KeySet::default();
    let mut households = KeySet::default();
    let mut batches = batches.fuse().peekable();
    while batches.peek().is_some() {
        let mut chunks = Vec::with_capacity(CHUNKS_PER_TRANSACTION);
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
                chunks.push((n as i64, body));
            }
        }
        store.store_chunks(source, import, &chunks)?;
    }
    counts.households = households.len() as u64;
    counts.removed = before.iter().filter(|k| !seen.contains(*k)).count() as u64;
    Ok((counts, before.len()))
}

/// [`VoterImport::held_keys`] from a scan of the stored voters.
pub(crate) fn held_keys_from(
    source: &str,
    mut scan: impl FnMut(Which<'_>, Each<'_>) -> StorageResult<()>,
) -> StorageResult<(KeySet<u128>, KeySet<u128>)> {
    let mut taken = KeySet::default();
    scan(Which::OtherThan(source), &mut |v| {
        taken.insert(id_key(&v.id));
        Ok(())
    })?;
    let mut before = KeySet::default();
    scan(Which::Source(source), &mut |v| {
        before.insert(id_key(&v.id));
        Ok(())
    })?;
    Ok((taken, before))
}

/// The doors of the scanned voters whose household is not `placed`, in no particular order.
pub(crate) fn uncut_doors_from(
    placed: &HashSet<String>,
    scan: impl FnOnce(Each<'_>) -> StorageResult<()>,
) -> StorageResult<Vec<Door>> {
    // Per door: its fields, and the sum and count of its voters' coordinates.
    let mut doors: HashMap<String, (Door, f64, f64, u32)> = HashMap::new();
    scan(&mut |v| {
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
}

/// The scanned voters with a phone number who are not `placed`, in scan order.
pub(crate) fn uncut_callers_from(
    placed: &HashSet<String>,
    scan: impl FnOnce(Each<'_>) -> StorageResult<()>,
) -> StorageResult<Vec<Caller>> {
    let mut callers = Vec::new();
    scan(&mut |v| {
        if v.phone.is_some() && !placed.contains(v.id.as_ref()) {
            callers.push(Caller {
                sort_name: format!("{} {}", v.last_name, v.first_name),
                voter: v.id.into_owned(),
                precinct: v.precinct.map(Cow::into_owned),
            });
        }
        Ok(())
    })?;
    Ok(callers)
}

/// The ids of the scanned voters living in each of `households`, sorted.
pub(crate) fn household_voters_from(
    households: &HashSet<String>,
    scan: impl FnOnce(Each<'_>) -> StorageResult<()>,
) -> StorageResult<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if households.is_empty() {
        return Ok(out);
    }
    scan(&mut |v| {
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
}

/// A turf's row, as a roster rebuild needs it.
struct ListRow {
    campaign: String,
    name: String,
    version: u64,
    kind: ListKind,
}

/// A roster rebuild: the lists cut from the voter file, and where they place each door and
/// each caller. The backend fills it from its rows, then [`Refresh::gather`]s the voters.
#[derive(Default)]
pub(crate) struct Refresh {
    lists: HashMap<String, ListRow>,
    doors: HashMap<String, (String, i64)>,
    buildings: HashMap<String, (String, i64)>,
    callers: HashMap<String, (String, i64)>,
}

/// A door that joined the turf of its building (a new unit of a building already cut), to
/// store as placed: household, building, turf, walk order.
pub(crate) type Joined = (String, String, String, i64);

impl Refresh {
    /// A turf row (id, campaign, name, roster version, list kind).
    pub(crate) fn list(
        &mut self,
        id: String,
        campaign: String,
        name: String,
        version: i64,
        kind: &str,
    ) -> StorageResult<()> {
        let kind = list_kind(&id, kind)?;
        self.lists.insert(
            id,
            ListRow {
                campaign,
                name,
                version: version as u64,
                kind,
            },
        );
        Ok(())
    }

    /// Keeps only the lists cut from the voter file (a turf made another way, the demo's,
    /// keeps its roster); false if none is left.
    pub(crate) fn keep_cut(&mut self, cut: &HashSet<String>) -> bool {
        self.lists.retain(|id, _| cut.contains(id));
        !self.lists.is_empty()
    }

    /// A placed door, in household order (the last of a building's doors gives the turf a new
    /// unit of the building joins).
    pub(crate) fn door(&mut self, household: String, building: String, turf: String, order: i64) {
        self.buildings.insert(building, (turf.clone(), order));
        self.doors.insert(household, (turf, order));
    }

    /// A placed caller.
    pub(crate) fn caller(&mut self, voter: String, turf: String, position: i64) {
        self.callers.insert(voter, (turf, position));
    }

    /// Files every scanned voter in its lists' buckets: every placed voter, encoded, in its
    /// list's bucket (about the size of the stored chunks), each list then sorted and built
    /// on its own. Returns the doors that joined their building's turf, to store, and the
    /// rosters.
    pub(crate) fn gather(
        mut self,
        scan: impl FnOnce(Each<'_>) -> StorageResult<()>,
    ) -> StorageResult<(Vec<Joined>, Gathered)> {
        let mut buckets: HashMap<String, Bucket> = HashMap::new();
        let mut joined = Vec::new();
        let mut file = |turf: &str, order: i64, v: &StoredVoter| -> StorageResult<()> {
            let bucket = buckets.entry(turf.to_owned()).or_default();
            bucket.bytes =
                postcard::to_extend(v, std::mem::take(&mut bucket.bytes)).map_err(corrupt)?;
            bucket.entries.push((order, bucket.bytes.len()));
            Ok(())
        };
        let (doors, buildings, callers) = (&mut self.doors, &self.buildings, &self.callers);
        scan(&mut |v| {
            let mut place = doors.get(v.household.as_ref()).cloned();
            if place.is_none()
                && !buildings.is_empty()
                && let building = v.address.building_id()
                && let Some((turf, order)) = buildings.get(&building).cloned()
            {
                // A new unit of a building already cut joins its neighbours.
                joined.push((v.household.to_string(), building, turf.clone(), order));
                doors.insert(v.household.to_string(), (turf.clone(), order));
                place = Some((turf, order));
            }
            if let Some((turf, order)) = place {
                file(&turf, order, &v)?;
            }
            if let Some((turf, position)) = callers.get(v.id.as_ref()) {
                file(turf, *position, &v)?;
            }
            Ok(())
        })?;
        let mut turfs: Vec<String> = buckets.keys().cloned().collect();
        turfs.sort();
        // Lists whose every voter left the file: an empty roster.
        let mut emptied: Vec<String> = self
            .lists
            .keys()
            .filter(|t| !buckets.contains_key(*t))
            .cloned()
            .collect();
        emptied.sort();
        turfs.extend(emptied);
        turfs.reverse();
        Ok((
            joined,
            Gathered {
                lists: self.lists,
                buckets,
                turfs,
            },
        ))
    }
}

/// A list's placed voters, encoded one after another.
#[derive(Default)]
struct Bucket {
    bytes: Vec<u8>,
    /// (order in the list, where the voter's encoding ends).
    entries: Vec<(i64, usize)>,
}

/// The rebuilt rosters, one at a time: each with its stored version, for
/// [`next_version`] to compare with what is stored.
pub(crate) struct Gathered {
    lists: HashMap<String, ListRow>,
    buckets: HashMap<String, Bucket>,
    /// Still to build, last first.
    turfs: Vec<String>,
}

impl Iterator for Gathered {
    type Item = StorageResult<Roster>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let turf = self.turfs.pop()?;
            // A list that is not a turf (only through a damaged database) gets no roster.
            let Some(list) = self.lists.get(&turf) else {
                continue;
            };
            let bucket = self.buckets.remove(&turf).unwrap_or_default();
            return Some(build_roster(turf, list, bucket));
        }
    }
}

fn build_roster(turf: String, list: &ListRow, bucket: Bucket) -> StorageResult<Roster> {
    let mut voters = Vec::with_capacity(bucket.entries.len());
    let mut start = 0;
    for (order, end) in bucket.entries {
        let v: StoredVoter = postcard::from_bytes(&bucket.bytes[start..end]).map_err(corrupt)?;
        start = end;
        voters.push((order, v));
    }
    // Walk order, then the units of a building, then the door and the voter.
    voters.sort_by(|(a, x), (b, y)| {
        (a, &x.address.unit, &x.household, &x.id).cmp(&(b, &y.address.unit, &y.household, &y.id))
    });
    let mut g = Gathering::default();
    for (_, v) in voters {
        g.push(v);
    }
    let mut voters = g.voters;
    if list.kind == ListKind::Walk {
        // Phone numbers go to call lists only.
        for v in &mut voters {
            v.phone = None;
        }
    }
    Ok(Roster {
        turf: TurfId(turf),
        campaign: CampaignId(list.campaign.clone()),
        version: list.version,
        name: list.name.clone(),
        list_kind: list.kind,
        households: g.households,
        voters,
    })
}

/// A rebuilt roster to store, with the next version, unless it is what is `stored` already.
pub(crate) fn next_version(
    mut roster: Roster,
    stored: Option<&[u8]>,
) -> StorageResult<Option<Roster>> {
    if stored == Some(&encode_roster(&roster)[..]) {
        return Ok(None);
    }
    roster.version += 1;
    roster
        .validate()
        .map_err(|e| corrupt(format!("roster of turf {}: {e}", roster.turf)))?;
    Ok(Some(roster))
}

/// The roster being gathered for one list, its voters in order.
#[derive(Default)]
struct Gathering {
    households: Vec<Household>,
    seen: HashSet<String>,
    voters: Vec<Voter>,
    voter_ids: HashSet<String>,
}

impl Gathering {
    fn push(&mut self, v: StoredVoter) {
        // Once per list, whatever the voter file held.
        if !self.voter_ids.insert(v.id.to_string()) {
            return;
        }
        if self.seen.insert(v.household.to_string()) {
            let a = &v.address;
            self.households.push(Household {
                id: HouseholdId(v.household.to_string()),
                walk_order: self.households.len() as u32,
                address: Address {
                    street: a.street.clone(),
                    unit: a.unit.clone(),
                    city: a.city.to_string(),
                    zip: a.zip.to_string(),
                },
                location: v.location.map(|(lat, lon)| Location { lat, lon }),
            });
        }
        let own = |c: Option<Cow<'_, str>>| c.map(Cow::into_owned);
        self.voters.push(Voter {
            id: VoterId(v.id.into_owned()),
            household: HouseholdId(v.household.into_owned()),
            first_name: v.first_name.into_owned(),
            last_name: v.last_name.into_owned(),
            age: v.age,
            gender: own(v.gender),
            party: own(v.party),
            tags: v.tags.into_iter().map(Cow::into_owned).collect(),
            precinct: own(v.precinct),
            phone: own(v.phone),
        });
    }
}

/// The size of a stored roster: doors (walk lists) or voters (call lists); 0 without one.
pub(crate) fn roster_size(turf: &str, body: Option<&[u8]>) -> StorageResult<u64> {
    let Some(body) = body else {
        return Ok(0);
    };
    let roster: Roster =
        postcard::from_bytes(body).map_err(|e| corrupt(format!("roster of turf {turf}: {e}")))?;
    Ok(if roster.list_kind == ListKind::Call {
        roster.voters.len()
    } else {
        roster.households.len()
    } as u64)
}

/// A new list's document: its heads and its snapshot, to store.
pub(crate) fn new_turf_doc(id: &str) -> StorageResult<(Vec<u8>, Vec<u8>)> {
    let mut doc =
        TurfDoc::new(&TurfId(id.to_owned()), doorstep_core::ActorId::random()).map_err(corrupt)?;
    let heads = heads_to_bytes(&doc.heads());
    Ok((heads, doc.automerge().save()))
}

/// A stored campaign document (snapshot and change chunks), loaded.
pub(crate) fn load_campaign(
    id: &str,
    snapshot: Option<&[u8]>,
    chunks: &[Vec<u8>],
) -> StorageResult<CampaignDoc> {
    let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
    CampaignDoc::load(
        &CampaignId(id.to_owned()),
        snapshot.unwrap_or_default(),
        &refs,
    )
    .map_err(corrupt)
}

/// What applying a campaign writes.
pub(crate) enum CampaignWrite {
    /// The document says exactly this already.
    Unchanged,
    /// The stored document's new changes (hash, bytes) and its new heads.
    Update {
        changes: Vec<(Vec<u8>, Vec<u8>)>,
        heads: Vec<u8>,
    },
    /// A new document: its heads and snapshot.
    Create { heads: Vec<u8>, snapshot: Vec<u8> },
}

/// How the stored document (if any) becomes one saying `campaign`.
pub(crate) fn campaign_write(
    stored: Option<CampaignDoc>,
    campaign: &Campaign,
) -> StorageResult<CampaignWrite> {
    Ok(match stored {
        Some(mut doc) => {
            if doc.campaign().map_err(corrupt)?.as_ref() == Some(campaign) {
                return Ok(CampaignWrite::Unchanged);
            }
            let before = doc.automerge().get_heads();
            doc.set(campaign).map_err(corrupt)?;
            let am = doc.automerge();
            let changes = am
                .get_changes(&before)
                .into_iter()
                .map(|c| (c.hash().0.to_vec(), c.raw_bytes().to_vec()))
                .collect();
            CampaignWrite::Update {
                changes,
                heads: heads_to_bytes(&am.get_heads()),
            }
        }
        None => {
            let mut doc =
                CampaignDoc::new(campaign, doorstep_core::ActorId::random()).map_err(corrupt)?;
            let am = doc.automerge();
            CampaignWrite::Create {
                heads: heads_to_bytes(&am.get_heads()),
                snapshot: am.save(),
            }
        }
    })
}

/// A turf's stored list kind.
fn list_kind(turf: &str, kind: &str) -> StorageResult<ListKind> {
    ListKind::parse(kind).ok_or_else(|| corrupt(format!("turf {turf} has list kind '{kind}'")))
}

/// A user from their row (role, team, whether revoked).
pub(crate) fn user_info(
    id: &str,
    role: &str,
    team: Option<String>,
    revoked: bool,
) -> StorageResult<UserInfo> {
    Ok(UserInfo {
        id: id.to_owned(),
        role: Role::parse(role).ok_or_else(|| corrupt(format!("user {id} has role '{role}'")))?,
        team,
        revoked,
    })
}

/// A turf from its row (campaign, team, list kind).
pub(crate) fn turf_info(
    id: &str,
    campaign: String,
    team: Option<String>,
    kind: &str,
) -> StorageResult<TurfInfo> {
    Ok(TurfInfo {
        id: id.to_owned(),
        campaign,
        team,
        kind: list_kind(id, kind)?,
    })
}
