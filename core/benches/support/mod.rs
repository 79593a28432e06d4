//! Shared setup for the benches: a realistic phone store on a real file.

#![allow(dead_code)]

use doorstep_core::doc::{CampaignDoc, DocId};
use doorstep_core::domain::*;
use doorstep_core::{ActorId, NewAttempt, Store};
use std::path::Path;

pub const DOORS: usize = 150;

/// A turf of `DOORS` households, two voters each.
pub fn roster(turf: &str) -> Roster {
    let mut households = Vec::new();
    let mut voters = Vec::new();
    for i in 0..DOORS {
        let h = HouseholdId(format!("{turf}-h{i:03}"));
        households.push(Household {
            id: h.clone(),
            walk_order: i as u32,
            address: Address {
                street: format!("{} Elm Street", 100 + 2 * i),
                unit: None,
                city: "Durham".into(),
                zip: "27701".into(),
            },
            location: Some(Location {
                lat: 35.99,
                lon: -78.9,
            }),
        });
        for j in 0..2 {
            voters.push(Voter {
                id: VoterId(format!("{turf}-v{i:03}{j}")),
                household: h.clone(),
                first_name: "Ana".into(),
                last_name: format!("Family{i}"),
                age: Some(44),
                gender: Some("F".into()),
                party: Some("DEM".into()),
                tags: vec![],
                precinct: Some("DUR-05".into()),
                phone: None,
            });
        }
    }
    Roster {
        turf: turf.into(),
        campaign: "c".into(),
        version: 1,
        name: turf.into(),
        list_kind: ListKind::Walk,
        households,
        voters,
    }
}

/// A talked-to attempt with a support answer: the common case.
pub fn attempt(turf: &str, n: usize) -> NewAttempt {
    NewAttempt {
        turf: turf.into(),
        target: Target::Voter(VoterId(format!("{turf}-v{:03}{}", n % DOORS, n % 2))),
        outcome: "talked".into(),
        answers: vec![("support".into(), Answer::Support((n % 5 + 1) as u8))],
        note: None,
        recorded_at: 1_793_000_000_000 + n as i64 * 60_000,
        location: Some(Location {
            lat: 35.99,
            lon: -78.9,
        }),
    }
}

/// Opens a store at `path` holding `turfs` turfs with `attempts` attempts each.
pub fn store(path: &Path, turfs: usize, attempts: usize) -> Store {
    let mut store = Store::open(path).expect("open");
    let mut campaign = Campaign::new("c", "C");
    campaign.questions.push(SurveyQuestion {
        id: "support".into(),
        prompt: "Support?".into(),
        kind: QuestionKind::Support,
    });
    let mut doc = CampaignDoc::new(&campaign, ActorId::random()).expect("campaign");
    store
        .merge_changes(&DocId::campaign(&"c".into()), &doc.automerge().save())
        .expect("campaign merges");
    store.sign_in(&"c-bench".into()).expect("sign in");
    for t in 0..turfs {
        let turf = format!("t{t:02}");
        store.apply_roster(&roster(&turf)).expect("roster");
        for n in 0..attempts {
            store.record_attempt(attempt(&turf, n)).expect("record");
        }
    }
    store
}

/// The plain SELECT a walk list is measured against: the same rows, no statuses.
pub const PLAIN_SELECT: &str = "
SELECT h.household_id, h.street, h.unit, h.city, h.zip, h.lat, h.lon,
       v.voter_id, v.first_name, v.last_name, v.age, v.party, v.phone
FROM roster_households h
LEFT JOIN roster_voters v ON v.turf_id = h.turf_id AND v.household_id = h.household_id
WHERE h.turf_id = ?1
ORDER BY h.walk_order, v.last_name, v.first_name, v.voter_id";

/// One row of the plain SELECT, owned, as an app would hold it.
pub type PlainRow = (
    String,
    String,
    Option<String>,
    String,
    String,
    Option<f64>,
    Option<f64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

pub fn plain_select(conn: &rusqlite::Connection, turf: &str) -> Vec<PlainRow> {
    let mut stmt = conn.prepare_cached(PLAIN_SELECT).expect("prepare");
    stmt.query_map([turf], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
            r.get(9)?,
            r.get(10)?,
            r.get(11)?,
            r.get(12)?,
        ))
    })
    .expect("query")
    .collect::<rusqlite::Result<Vec<_>>>()
    .expect("rows")
}
