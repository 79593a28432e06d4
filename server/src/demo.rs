//! A demo campaign of fictional voters, for `doorstep serve --demo`, tests and benchmarks.

use crate::auth::{IssuedToken, issue_token};
use crate::storage::{NewUser, Storage, StorageResult};
use doorstep_core::ActorId;
use doorstep_core::doc::{CampaignDoc, TurfDoc};
use doorstep_core::domain::*;
use doorstep_core::sync::Role;

/// The demo campaign's id.
pub const CAMPAIGN: &str = "demo-2026";

/// How big a demo to make.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Teams, each with a captain.
    pub teams: usize,
    /// Canvassers per team.
    pub canvassers_per_team: usize,
    /// Turfs per team.
    pub turfs_per_team: usize,
    /// Doors per turf.
    pub doors: usize,
    /// Turfs assigned to each canvasser.
    pub turfs_per_canvasser: usize,
    /// Seed of the generated names.
    pub seed: u64,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            teams: 2,
            canvassers_per_team: 4,
            turfs_per_team: 20,
            doors: 40,
            turfs_per_canvasser: 2,
            seed: 2026,
        }
    }
}

/// A user the demo created, with their token (shown once).
#[derive(Debug, Clone)]
pub struct DemoUser {
    /// User id.
    pub id: String,
    /// Role.
    pub role: Role,
    /// Team, if any.
    pub team: Option<String>,
    /// Turfs assigned (canvassers).
    pub turfs: Vec<String>,
    /// Their token.
    pub token: IssuedToken,
}

/// The demo campaign: outcomes, a support question, two scripts, an audience.
pub fn campaign() -> Campaign {
    let mut c = Campaign::new(CAMPAIGN, "Demo County 2026 general");
    c.questions = vec![
        SurveyQuestion {
            id: "support".into(),
            prompt: "On a scale of 1 to 5, how likely are you to support our candidate?".into(),
            kind: QuestionKind::Support,
        },
        SurveyQuestion {
            id: "issue".into(),
            prompt: "What issue matters most to you this year?".into(),
            kind: QuestionKind::MultipleChoice {
                options: vec![
                    "jobs".into(),
                    "schools".into(),
                    "health care".into(),
                    "roads".into(),
                ],
                multiple: false,
            },
        },
        SurveyQuestion {
            id: "volunteer".into(),
            prompt: "Would you like to volunteer?".into(),
            kind: QuestionKind::YesNo,
        },
    ];
    c.scripts = vec![
        Script {
            id: "turnout".into(),
            name: "Turnout".into(),
            body: "Hi, I'm a volunteer with the campaign. Election day is November 3rd: do you have a plan to vote?".into(),
            questions: vec!["support".into(), "volunteer".into()],
            // Nobody asks a strong opponent to volunteer.
            branches: vec![Branch {
                after: "support".into(),
                when: Condition::Support(vec![5]),
                goto: Goto::End,
            }],
        },
        Script {
            id: "persuasion".into(),
            name: "Persuasion".into(),
            body: "Hi, I'm talking with neighbors about what matters to them this year.".into(),
            questions: vec!["support".into(), "issue".into()],
            branches: vec![Branch {
                after: "support".into(),
                when: Condition::Support(vec![4, 5]),
                goto: Goto::End,
            }],
        },
    ];
    c.audiences = vec![Audience {
        id: "unaffiliated".into(),
        name: "Unaffiliated voters".into(),
        rule: Rule::Party(vec!["UNA".into()]),
        script: "persuasion".into(),
    }];
    c.default_script = Some("turnout".into());
    c
}

const FIRST: &[&str] = &[
    "Avery", "Blake", "Casey", "Dana", "Elliot", "Frankie", "Gray", "Harper", "Indy", "Jules",
    "Kai", "Lee", "Morgan", "Noel", "Oakley", "Parker", "Quinn", "Reese", "Sage", "Tatum",
];
const LAST: &[&str] = &[
    "Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir", "Ginkgo", "Hazel", "Ivy", "Juniper",
    "Larch", "Maple", "Oak", "Pine", "Rowan", "Spruce", "Tupelo", "Willow",
];
const STREETS: &[&str] = &[
    "Main St",
    "Church St",
    "Mill Rd",
    "Oak Ave",
    "River Rd",
    "Hill St",
];
const PARTIES: &[&str] = &["DEM", "REP", "UNA", "UNA", "LIB"];

/// A turf of `doors` fictional households with one to three voters each.
pub fn roster(turf: &str, doors: usize, version: u64, seed: u64) -> Roster {
    let mut rng = fastrand::Rng::with_seed(seed ^ fxhash(turf));
    let street = STREETS[rng.usize(..STREETS.len())];
    let mut households = Vec::with_capacity(doors);
    let mut voters = Vec::new();
    for i in 0..doors {
        let h = HouseholdId(format!("{turf}-h{i:03}"));
        households.push(Household {
            id: h.clone(),
            walk_order: i as u32,
            address: Address {
                street: format!("{} {street}", 100 + 2 * i),
                unit: (i % 12 == 11).then(|| format!("Apt {}", 1 + i % 4)),
                city: "Demo City".into(),
                zip: "27701".into(),
            },
            location: Some(Location {
                lat: 35.99 + (i as f64) * 1e-4 + (seed % 7) as f64 * 1e-3,
                lon: -78.90 + rng.f64() * 1e-3,
            }),
        });
        let last = LAST[rng.usize(..LAST.len())];
        for j in 0..rng.usize(1..=3) {
            voters.push(Voter {
                id: VoterId(format!("{turf}-v{i:03}{j}")),
                household: h.clone(),
                first_name: FIRST[rng.usize(..FIRST.len())].into(),
                last_name: last.into(),
                age: Some(rng.u16(18..95)),
                gender: Some(["F", "M", "U"][rng.usize(..3)].into()),
                party: Some(PARTIES[rng.usize(..PARTIES.len())].into()),
                tags: Vec::new(),
                precinct: Some(format!("P-{:02}", rng.usize(1..20))),
                phone: Some(format!("555{:07}", rng.u32(..10_000_000))),
            });
        }
    }
    Roster {
        turf: turf.into(),
        campaign: CAMPAIGN.into(),
        version,
        name: format!("Turf {turf}"),
        list_kind: ListKind::Walk,
        households,
        voters,
    }
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Stores the campaign (with its document) and one turf (roster and genesis document).
pub fn put_turf(
    storage: &(impl Storage + ?Sized),
    roster: &Roster,
    team: Option<&str>,
) -> StorageResult<()> {
    let mut doc = TurfDoc::new(&roster.turf, ActorId::random())
        .map_err(|e| crate::storage::StorageError::Corrupt(e.to_string()))?;
    let heads = doc.heads();
    storage.put_turf(roster, team, &doc.automerge().save(), &heads)
}

/// Seeds `storage` with a demo campaign per `plan`; returns the users and their tokens.
pub fn seed(
    storage: &(impl Storage + ?Sized),
    plan: &Plan,
    now: i64,
) -> StorageResult<Vec<DemoUser>> {
    let c = campaign();
    let mut doc = CampaignDoc::new(&c, ActorId::random())
        .map_err(|e| crate::storage::StorageError::Corrupt(e.to_string()))?;
    let heads = doc.automerge().get_heads();
    storage.put_campaign(&c, &doc.automerge().save(), &heads)?;
    let mut users = Vec::new();
    storage.add_user(&NewUser {
        id: "organizer".into(),
        name: "Demo Organizer".into(),
        role: Role::Admin,
        team: None,
    })?;
    users.push(DemoUser {
        id: "organizer".into(),
        role: Role::Admin,
        team: None,
        turfs: Vec::new(),
        token: issue_token(storage, "organizer", now)?,
    });
    for t in 0..plan.teams {
        let team = format!("team-{}", t + 1);
        storage.add_team(&team, &format!("Team {}", t + 1))?;
        let turfs: Vec<String> = (0..plan.turfs_per_team)
            .map(|i| format!("t{:02}-{:03}", t + 1, i + 1))
            .collect();
        for turf in &turfs {
            put_turf(
                storage,
                &roster(turf, plan.doors, 1, plan.seed),
                Some(&team),
            )?;
        }
        let captain = format!("captain-{}", t + 1);
        storage.add_user(&NewUser {
            id: captain.clone(),
            name: format!("Captain {}", t + 1),
            role: Role::Captain,
            team: Some(team.clone()),
        })?;
        users.push(DemoUser {
            id: captain.clone(),
            role: Role::Captain,
            team: Some(team.clone()),
            turfs: turfs.clone(),
            token: issue_token(storage, &captain, now)?,
        });
        for k in 0..plan.canvassers_per_team {
            let id = format!("canvasser-{}-{}", t + 1, k + 1);
            storage.add_user(&NewUser {
                id: id.clone(),
                name: format!("Canvasser {}-{}", t + 1, k + 1),
                role: Role::Canvasser,
                team: Some(team.clone()),
            })?;
            // Round the team's turfs: with more canvassers than turfs, turfs are shared.
            let mine: Vec<String> = (0..plan.turfs_per_canvasser)
                .filter_map(|j| {
                    let n = turfs.len().max(1);
                    turfs.get((k * plan.turfs_per_canvasser + j) % n).cloned()
                })
                .collect();
            for turf in &mine {
                storage.assign(turf, &id)?;
            }
            users.push(DemoUser {
                id: id.clone(),
                role: Role::Canvasser,
                team: Some(team.clone()),
                turfs: mine,
                token: issue_token(storage, &id, now)?,
            });
        }
    }
    Ok(users)
}
