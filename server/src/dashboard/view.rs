//! What a page shows, gathered from storage (blocking): the figures come from the database's
//! GROUP BY queries, and only sums and page slices are made here.

use crate::storage::dashboard::{
    DoorMap, Figures, HourCount, Person, PhoneSync, Scope, TurfProgress,
};
use crate::storage::{Dashboard, StorageError, StorageResult};
use std::collections::{BTreeMap, HashMap};

/// Rows per page in the turf and people tables.
pub const PAGE_ROWS: usize = 100;

/// Doors drawn one by one on a map up to this many; beyond, they are gathered into cells.
pub const MAX_MAP_POINTS: u64 = 5_000;

/// The side of the grid of cells a large map is drawn with.
pub const MAP_GRID: u32 = 48;

/// A team's line.
#[derive(Debug, Clone)]
pub struct TeamLine {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Turfs it holds in the scope.
    pub turfs: usize,
    /// Their figures.
    pub figures: Figures,
}

/// A person's line.
#[derive(Debug, Clone)]
pub struct PersonLine {
    /// Who.
    pub person: Person,
    /// Turfs of the scope they hold now.
    pub turfs: Vec<String>,
    /// Their attempts in the scope.
    pub figures: Figures,
    /// Their phones, most recently synced first.
    pub phones: Vec<PhoneSync>,
}

/// A campaign's or a team's page.
#[derive(Debug, Clone)]
pub struct Overview {
    /// What it covers.
    pub scope: Scope,
    /// The campaign's or team's display name.
    pub title: String,
    /// Everything in the scope.
    pub total: Figures,
    /// Per team (the campaign page; on a team page, just the team).
    pub teams: Vec<TeamLine>,
    /// Per turf, in id order.
    pub turfs: Vec<TurfProgress>,
    /// Per person who holds a turf in the scope, belongs to the team, or recorded in the scope.
    pub people: Vec<PersonLine>,
    /// Each person's latest phone sync, by user id.
    pub last_sync: HashMap<String, i64>,
    /// Attempts per hour.
    pub timeline: Vec<HourCount>,
    /// Doors on the map.
    pub map: DoorMap,
    /// When it was gathered, ms.
    pub now: i64,
    /// The outcome codes counted in each line's `outcomes`, with their labels.
    pub outcomes: Vec<(String, String)>,
}

/// What the campaigns a scope covers say about outcomes: which (campaign, code) pairs count as
/// contacts, and every code with its label, in the campaigns' order.
#[derive(Debug, Clone, Default)]
pub struct Outcomes {
    /// (campaign, code) pairs that count as contacts.
    pub contacts: Vec<(String, String)>,
    /// (code, label), each code once.
    pub codes: Vec<(String, String)>,
}

impl Outcomes {
    /// Reads them from the campaigns' documents.
    pub fn of(storage: &impl Dashboard, scope: &Scope) -> StorageResult<Self> {
        let campaigns: Vec<String> = match scope {
            Scope::Campaign(c) => vec![c.clone()],
            Scope::Team(_) => storage.campaigns()?.into_iter().map(|(id, _)| id).collect(),
        };
        let mut out = Self::default();
        for id in campaigns {
            let Some(c) = storage.campaign(&id)? else {
                continue;
            };
            for o in &c.outcomes {
                if o.contact {
                    out.contacts.push((id.clone(), o.code.0.clone()));
                }
                if !out.codes.iter().any(|(code, _)| *code == o.code.0) {
                    out.codes.push((o.code.0.clone(), o.label.clone()));
                }
            }
        }
        Ok(out)
    }

    fn code_list(&self) -> Vec<String> {
        self.codes.iter().map(|(c, _)| c.clone()).collect()
    }
}

/// Every figure a page shows: the database's queries, nothing rendered.
pub struct Queried {
    /// The outcomes counted, and which are contacts.
    pub outcomes: Outcomes,
    /// Per turf.
    pub turfs: Vec<TurfProgress>,
    /// Per person.
    pub people: Vec<(String, Figures)>,
    /// Users.
    pub users: Vec<Person>,
    /// Phones.
    pub phones: Vec<PhoneSync>,
    /// Teams.
    pub teams: Vec<(String, String)>,
    /// Per hour.
    pub timeline: Vec<HourCount>,
    /// Map.
    pub map: DoorMap,
}

/// Runs the queries a page needs, the long ones two at a time (a campaign of a million voters
/// takes seconds on one core; the storage gives the dashboard two connections).
pub fn query(
    storage: &impl Dashboard,
    scope: &Scope,
    outcomes: Outcomes,
) -> StorageResult<Queried> {
    let contacts_ref = &outcomes.contacts;
    let codes = outcomes.code_list();
    let codes = &codes;
    // Paired so that each thread's share is about even (per person and the map; per turf and
    // per hour).
    let ((turfs, timeline), (people, map)) = std::thread::scope(|threads| {
        let other = threads.spawn(move || -> StorageResult<_> {
            Ok((
                storage.person_progress(scope, contacts_ref, codes)?,
                storage.door_map(scope, contacts_ref, MAX_MAP_POINTS, MAP_GRID)?,
            ))
        });
        let here = (|| -> StorageResult<_> {
            Ok((
                storage.turf_progress(scope, contacts_ref, codes)?,
                storage.timeline(scope, contacts_ref)?,
            ))
        })();
        let other = other
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        Ok::<_, crate::storage::StorageError>((here?, other?))
    })?;
    Ok(Queried {
        turfs,
        people,
        users: storage.people()?,
        phones: storage.phones()?,
        teams: storage.teams()?,
        timeline,
        map,
        outcomes,
    })
}

/// Gathers a page; `None` when the campaign or team does not exist.
pub fn overview(
    storage: &impl Dashboard,
    scope: &Scope,
    now: i64,
) -> StorageResult<Option<Overview>> {
    let title = match scope {
        Scope::Campaign(id) => storage
            .campaigns()?
            .into_iter()
            .find(|(c, _)| c == id)
            .map(|(_, name)| name),
        Scope::Team(id) => storage
            .teams()?
            .into_iter()
            .find(|(t, _)| t == id)
            .map(|(_, name)| name),
    };
    let Some(title) = title else {
        return Ok(None);
    };
    let outcomes = Outcomes::of(storage, scope)?;
    let q = query(storage, scope, outcomes)?;
    Ok(Some(assemble(scope.clone(), title, q, now)))
}

/// Sums and joins the queried rows into a page.
pub fn assemble(scope: Scope, title: String, q: Queried, now: i64) -> Overview {
    let mut total = Figures::default();
    let mut teams: BTreeMap<String, TeamLine> = BTreeMap::new();
    let team_names: HashMap<&str, &str> = q
        .teams
        .iter()
        .map(|(id, name)| (id.as_str(), name.as_str()))
        .collect();
    if let Scope::Team(id) = &scope {
        teams.insert(
            id.clone(),
            TeamLine {
                id: id.clone(),
                name: title.clone(),
                turfs: 0,
                figures: Figures::default(),
            },
        );
    }
    let mut held: HashMap<&str, Vec<String>> = HashMap::new();
    for t in &q.turfs {
        total.add(&t.figures);
        let team = t.team.clone().unwrap_or_default();
        let line = teams.entry(team.clone()).or_insert_with(|| TeamLine {
            name: team_names
                .get(team.as_str())
                .map_or_else(|| "No team".to_owned(), |n| (*n).to_owned()),
            id: team,
            turfs: 0,
            figures: Figures::default(),
        });
        line.turfs += 1;
        line.figures.add(&t.figures);
        for user in &t.assigned {
            held.entry(user.as_str()).or_default().push(t.turf.clone());
        }
    }
    let mut phones: HashMap<&str, Vec<PhoneSync>> = HashMap::new();
    for p in &q.phones {
        phones.entry(p.user.as_str()).or_default().push(p.clone());
    }
    let mut last_sync = HashMap::new();
    for (user, list) in &mut phones {
        list.sort_by_key(|p| std::cmp::Reverse(p.last_sync_at));
        if let Some(first) = list.first() {
            last_sync.insert((*user).to_owned(), first.last_sync_at);
        }
    }
    let recorded: HashMap<&str, &Figures> = q.people.iter().map(|(u, f)| (u.as_str(), f)).collect();
    let team_scope = match &scope {
        Scope::Team(t) => Some(t.as_str()),
        Scope::Campaign(_) => None,
    };
    let mut people = Vec::new();
    for person in q.users {
        let id = person.id.as_str();
        let member =
            team_scope.is_some() && person.team.as_deref() == team_scope && !person.revoked;
        if !(recorded.contains_key(id) || held.contains_key(id) || member) {
            continue;
        }
        people.push(PersonLine {
            turfs: held.remove(id).unwrap_or_default(),
            figures: recorded.get(id).map(|f| (*f).clone()).unwrap_or_default(),
            phones: phones.remove(id).unwrap_or_default(),
            person,
        });
    }
    Overview {
        scope,
        title,
        total,
        teams: teams.into_values().collect(),
        turfs: q.turfs,
        people,
        last_sync,
        timeline: q.timeline,
        map: q.map,
        now,
        outcomes: q.outcomes.codes,
    }
}

/// Which page of rows to show: `page` clamped to those that exist.
pub fn page_of<T>(rows: &[T], page: usize) -> (&[T], usize, usize) {
    let pages = rows.len().div_ceil(PAGE_ROWS).max(1);
    let page = page.min(pages - 1);
    let start = page * PAGE_ROWS;
    (
        &rows[start..(start + PAGE_ROWS).min(rows.len())],
        page,
        pages,
    )
}

impl From<StorageError> for super::PageError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Unavailable { .. } => {
                tracing::warn!(error = %e, "dashboard: database unavailable");
                super::PageError::Unavailable
            }
            e => super::PageError::internal(&e),
        }
    }
}
