//! `turfs cut` and `calllists cut`: walk lists and call lists from the imported voters.
//!
//! A cut places only doors (or voters) not yet in a list of that kind: lists already cut keep
//! their doors, so every attempt recorded on them stays with its door and its turf. After a
//! re-import, a new cut places the newcomers.

use super::SetupError;
use super::cut::cut_walk_lists;
use crate::storage::Organize;
use crate::storage::organize::NewList;
use doorstep_core::domain::ListKind;

/// What a cut did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CutReport {
    /// The campaign.
    pub campaign: String,
    /// New lists: id and size (doors or voters).
    pub lists: Vec<(String, usize)>,
    /// Doors or voters already in a list before this cut, left where they were.
    pub already_placed: u64,
    /// Whether the walk lists were cut by coordinates.
    pub geographic: bool,
}

impl CutReport {
    /// Doors or voters placed by this cut.
    pub fn placed(&self) -> usize {
        self.lists.iter().map(|(_, n)| n).sum()
    }
}

/// The campaign a command is about: the one named, or the only one there is.
pub fn resolve_campaign(
    storage: &impl Organize,
    named: Option<&str>,
) -> Result<String, SetupError> {
    let campaigns = storage.campaigns()?;
    match named {
        Some(id) if campaigns.iter().any(|(c, _)| c == id) => Ok(id.to_owned()),
        Some(id) => Err(SetupError::Refused(format!(
            "there is no campaign '{id}'; campaigns: {}",
            list(campaigns.iter().map(|(c, _)| c.as_str()))
        ))),
        None => match campaigns.as_slice() {
            [(only, _)] => Ok(only.clone()),
            [] => Err(SetupError::Refused(
                "no campaign yet: apply one first with `doorstep campaign apply FILE.toml`".into(),
            )),
            _ => Err(SetupError::Refused(format!(
                "several campaigns exist ({}): pass --campaign ID",
                list(campaigns.iter().map(|(c, _)| c.as_str()))
            ))),
        },
    }
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// The size limits a cut accepts.
pub const MAX_LIST_SIZE: usize = 5_000;

fn check_size(size: usize) -> Result<(), SetupError> {
    if (1..=MAX_LIST_SIZE).contains(&size) {
        Ok(())
    } else {
        Err(SetupError::Refused(format!(
            "--size {size} is out of range: pick 1 to {MAX_LIST_SIZE} (walk lists are usually 30 to 150 doors)"
        )))
    }
}

/// Ids `{campaign}-{letter}{n:05}`, skipping any already taken.
fn next_ids(
    storage: &impl Organize,
    campaign: &str,
    kind: ListKind,
    count: usize,
) -> Result<Vec<String>, SetupError> {
    let letter = match kind {
        ListKind::Walk => 'w',
        ListKind::Call => 'c',
    };
    let mut n = storage.list_count(campaign, kind)? + 1;
    let mut ids = Vec::with_capacity(count);
    while ids.len() < count {
        let id = format!("{campaign}-{letter}{n:05}");
        if storage.turf(&id)?.is_none() {
            ids.push(id);
        }
        n += 1;
    }
    Ok(ids)
}

/// Cuts walk lists of about `size` doors from the doors not yet in one.
pub fn cut_turfs(
    storage: &impl Organize,
    campaign: Option<&str>,
    size: usize,
) -> Result<CutReport, SetupError> {
    check_size(size)?;
    let campaign = resolve_campaign(storage, campaign)?;
    let doors = storage.uncut_doors()?;
    let geographic = !doors.is_empty() && doors.iter().all(|d| d.location.is_some());
    let turfs = cut_walk_lists(doors, size);
    let ids = next_ids(storage, &campaign, ListKind::Walk, turfs.len())?;
    let lists: Vec<NewList> = turfs
        .into_iter()
        .zip(ids)
        .map(|(doors, id)| {
            let first = doors.first();
            let name = match first {
                Some(d) => format!(
                    "{}{} ({} doors)",
                    d.precinct
                        .as_deref()
                        .map(|p| format!("Precinct {p}: "))
                        .unwrap_or_default(),
                    d.street_name,
                    doors.len()
                ),
                None => id.clone(),
            };
            NewList {
                id,
                name,
                buildings: doors.iter().map(|d| d.building.clone()).collect(),
                members: doors.into_iter().map(|d| d.household).collect(),
            }
        })
        .collect();
    finish(storage, campaign, ListKind::Walk, lists, geographic)
}

/// Cuts call lists of about `size` voters from the voters with a phone number not yet on one.
pub fn cut_call_lists(
    storage: &impl Organize,
    campaign: Option<&str>,
    size: usize,
) -> Result<CutReport, SetupError> {
    check_size(size)?;
    let campaign = resolve_campaign(storage, campaign)?;
    let mut callers = storage.uncut_callers()?;
    callers.sort_by(|a, b| {
        (&a.precinct, &a.sort_name, &a.voter).cmp(&(&b.precinct, &b.sort_name, &b.voter))
    });
    // A list never spans two precincts: a phone bank often works one precinct at a time.
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut precinct = None;
    for c in callers {
        let new_precinct = precinct.as_ref() != Some(&c.precinct);
        if new_precinct || groups.last().is_none_or(|g| g.len() >= size) {
            groups.push(Vec::new());
            precinct = Some(c.precinct.clone());
        }
        if let Some(g) = groups.last_mut() {
            g.push(c.voter);
        }
    }
    let ids = next_ids(storage, &campaign, ListKind::Call, groups.len())?;
    let lists = groups
        .into_iter()
        .zip(ids)
        .map(|(members, id)| NewList {
            name: format!(
                "Call list {} ({} voters)",
                &id[id.len() - 5..],
                members.len()
            ),
            id,
            members,
            buildings: Vec::new(),
        })
        .collect();
    finish(storage, campaign, ListKind::Call, lists, false)
}

fn finish(
    storage: &impl Organize,
    campaign: String,
    kind: ListKind,
    lists: Vec<NewList>,
    geographic: bool,
) -> Result<CutReport, SetupError> {
    let already_placed = storage.placed(kind)?;
    storage.add_lists(&campaign, kind, &lists)?;
    Ok(CutReport {
        campaign,
        lists: lists
            .iter()
            .map(|l| (l.id.clone(), l.members.len()))
            .collect(),
        already_placed,
        geographic,
    })
}
