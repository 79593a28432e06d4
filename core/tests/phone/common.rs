//! Fixtures: a realistic turf, a campaign, phones that hold them.

use doorstep_core::doc::{CampaignDoc, DocId, TurfDoc};
use doorstep_core::domain::*;
use doorstep_core::{ActorId, NewAttempt, Store};
use std::path::Path;

pub const CAMPAIGN: &str = "nc-2026";

/// A campaign with a support question, an issue question, and two audiences.
pub fn campaign() -> Campaign {
    let mut c = Campaign::new(CAMPAIGN, "NC 2026 general");
    c.questions = vec![
        SurveyQuestion {
            id: "support".into(),
            prompt: "Can we count on your support?".into(),
            kind: QuestionKind::Support,
        },
        SurveyQuestion {
            id: "issue".into(),
            prompt: "What matters most to you?".into(),
            kind: QuestionKind::MultipleChoice {
                options: vec!["jobs".into(), "schools".into(), "health care".into()],
                multiple: true,
            },
        },
        SurveyQuestion {
            id: "volunteer".into(),
            prompt: "Would you volunteer?".into(),
            kind: QuestionKind::YesNo,
        },
    ];
    c.scripts = vec![
        Script {
            id: "base".into(),
            name: "Base turnout".into(),
            body: "Hi, I'm a volunteer with...".into(),
            questions: vec!["support".into(), "volunteer".into()],
            branches: Vec::new(),
        },
        Script {
            id: "persuasion".into(),
            name: "Persuasion".into(),
            body: "Hi, we're talking to neighbors about...".into(),
            questions: vec!["support".into(), "issue".into()],
            branches: Vec::new(),
        },
    ];
    c.audiences = vec![Audience {
        id: "unaffiliated".into(),
        name: "Unaffiliated voters".into(),
        rule: Rule::Party(vec!["UNA".into()]),
        script: "persuasion".into(),
    }];
    c.default_script = Some("base".into());
    c
}

/// A turf of `doors` households with two voters each (the odd ones unaffiliated).
pub fn roster(turf: &str, doors: usize, version: u64) -> Roster {
    let mut households = Vec::new();
    let mut voters = Vec::new();
    for i in 0..doors {
        let h = HouseholdId(format!("{turf}-h{i:03}"));
        households.push(Household {
            id: h.clone(),
            walk_order: i as u32,
            address: Address {
                street: format!("{} Elm Street", 100 + 2 * i),
                unit: if i % 10 == 9 {
                    Some("Apt 2".into())
                } else {
                    None
                },
                city: "Durham".into(),
                zip: "27701".into(),
            },
            location: Some(Location {
                lat: 35.99 + i as f64 * 1e-4,
                lon: -78.9,
            }),
        });
        for j in 0..2 {
            voters.push(Voter {
                id: VoterId(format!("{turf}-v{i:03}{j}")),
                household: h.clone(),
                first_name: ["Ana", "Ben", "Cleo", "Dev"][(i + j) % 4].into(),
                last_name: format!("Family{i}"),
                age: Some(20 + (i * 7 + j * 13) as u16 % 60),
                gender: Some(if j == 0 { "F" } else { "M" }.into()),
                party: Some(if (i + j) % 2 == 1 { "UNA" } else { "DEM" }.into()),
                tags: vec![],
                precinct: Some("DUR-05".into()),
                phone: Some(format!("919555{i:04}")),
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

/// The campaign document as an organizer would publish it.
pub fn campaign_doc_bytes() -> Vec<u8> {
    let mut doc = CampaignDoc::new(&campaign(), ActorId::random()).expect("campaign doc");
    doc.automerge().save()
}

/// Gives a store the campaign and the turfs, and signs a canvasser in.
pub fn provision(store: &mut Store, canvasser: &str, turfs: &[&str], doors: usize) {
    store
        .merge_changes(&DocId::campaign(&CAMPAIGN.into()), &campaign_doc_bytes())
        .expect("campaign merges");
    for t in turfs {
        store
            .apply_roster(&roster(t, doors, 1))
            .expect("roster applies");
    }
    store.sign_in(&canvasser.into()).expect("sign in");
}

/// A phone on a real SQLite file.
pub fn phone_at(path: &Path, canvasser: &str, turfs: &[&str], doors: usize) -> Store {
    let mut store = Store::open(path).expect("store opens");
    provision(&mut store, canvasser, turfs, doors);
    store
}

/// A knock on a voter.
pub fn knock(turf: &str, voter: &str, outcome: &str, at: i64) -> NewAttempt {
    NewAttempt {
        turf: turf.into(),
        target: Target::Voter(voter.into()),
        outcome: outcome.into(),
        answers: vec![],
        note: None,
        recorded_at: at,
        location: None,
    }
}

/// A knock on a door nobody answered.
pub fn door(turf: &str, household: &str, outcome: &str, at: i64) -> NewAttempt {
    NewAttempt {
        turf: turf.into(),
        target: Target::Household(household.into()),
        outcome: outcome.into(),
        answers: vec![],
        note: None,
        recorded_at: at,
        location: None,
    }
}

/// Every row of every table, in a stable order: two equal dumps mean nothing changed.
pub fn dump(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).expect("open for dump");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("tables");
    let mut out = String::new();
    for t in tables {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {t} ORDER BY 1, 2"))
            .expect("select");
        let n = stmt.column_count();
        let rows: Vec<String> = stmt
            .query_map([], |r| {
                let mut row = Vec::new();
                for i in 0..n {
                    row.push(format!("{:?}", r.get_ref(i)?));
                }
                Ok(row.join("|"))
            })
            .and_then(|rows| rows.collect())
            .expect("rows");
        out.push_str(&format!("== {t}\n{}\n", rows.join("\n")));
    }
    out
}

/// A seed from `DOORSTEP_SEED`, or a fresh one; printed so a failure can be replayed.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("DOORSTEP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("{test}: seed {seed} (replay with DOORSTEP_SEED={seed})");
    seed
}

/// The ids of the attempts in a turf's document itself (not the projections), in log order,
/// duplicates included.
pub fn doc_attempt_ids(store: &mut Store, turf: &TurfId) -> Vec<AttemptId> {
    let bytes = store
        .export_changes(&DocId::turf(turf), &[])
        .expect("export");
    let doc = TurfDoc::load(turf, &bytes, [], ActorId::random()).expect("load");
    doc.log()
        .expect("log")
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Attempt(a) => Some(a.id),
            Entry::Void(_) => None,
        })
        .collect()
}

/// Sets the role a server would have reported for the phone at `path` (tests only: a phone
/// learns its role from the server's answer to its first sync).
pub fn set_role(path: &Path, role: &str) {
    let conn = rusqlite::Connection::open(path).expect("open for role");
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('role', ?1)",
        [role],
    )
    .expect("set role");
}

/// Team `north` as the server would write it: captain `cap`, canvassers `ana` and `ben`, and
/// the given turfs with their holders.
pub fn team_doc_bytes(turfs: &[(&str, &[&str])]) -> Vec<u8> {
    let mut doc = doorstep_core::doc::TeamDoc::new("north", "North", ActorId::random()).unwrap();
    for (id, name, role) in [
        ("cap", "Cora", Role::Captain),
        ("ana", "Ana", Role::Canvasser),
        ("ben", "Ben", Role::Canvasser),
    ] {
        doc.set_member(&Member {
            id: id.into(),
            name: name.into(),
            role,
        })
        .unwrap();
    }
    for (turf, users) in turfs {
        let mut users: Vec<String> = users.iter().map(|u| (*u).to_owned()).collect();
        users.sort();
        doc.set_assignment(
            turf,
            &Assignment {
                users,
                past: vec![],
                by: ORGANIZER.into(),
                at: 1,
            },
        )
        .unwrap();
    }
    doc.automerge().save()
}
