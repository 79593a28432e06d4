//! `turfs cut` and `calllists cut` over imported files, and re-imports under cut turfs.

use super::*;
use doorstep_core::domain::{Campaign, ListKind, Roster};
use doorstep_core::sync::Role;
use doorstep_server::setup::lists::{cut_call_lists, cut_turfs};
use doorstep_server::storage::{Organize, Principal, Storage};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub fn rosters(db: &Db) -> Vec<Roster> {
    let grants = db
        .storage
        .grants(&Principal {
            user: "test".into(),
            role: Role::Admin,
            team: None,
        })
        .unwrap();
    grants
        .turfs
        .keys()
        .map(|t| {
            db.storage
                .roster(t)
                .unwrap()
                .expect("every turf has a roster")
        })
        .collect()
}

pub fn with_campaign(db: &Db) {
    db.storage
        .apply_campaign(&Campaign::new("nc-2026", "NC 2026"))
        .unwrap();
}

#[test]
fn turfs_hold_every_imported_voter_once_and_keep_buildings_whole() {
    let db = Db::default();
    let plan = Plan {
        rows: 3_000,
        coordinates: false,
        ..Plan::default()
    };
    let (path, facts) = fixture(db.dir.path(), "ncvoter32.txt", Layout::Ncvoter, &plan);
    import(&db, &path, Layout::Ncvoter, "durham");
    with_campaign(&db);
    let report = cut_turfs(&db.storage, None, 40).unwrap();
    assert!(!report.geographic);
    assert_eq!(report.placed() as u64, facts.households);
    let cut = rosters(&db);
    assert_eq!(cut.len(), report.lists.len());
    let mut voters = BTreeSet::new();
    let mut building_turf: HashMap<(String, String, String), String> = HashMap::new();
    for r in &cut {
        assert_eq!(r.version, 1);
        assert_eq!(r.list_kind, ListKind::Walk);
        r.validate().unwrap();
        assert!(
            r.households.len() <= 60,
            "{} has {} doors",
            r.turf,
            r.households.len()
        );
        let precincts: BTreeSet<_> = r.voters.iter().map(|v| v.precinct.clone()).collect();
        assert_eq!(
            precincts.len(),
            1,
            "turf {} spans precincts {precincts:?}",
            r.turf
        );
        for v in &r.voters {
            assert!(voters.insert(v.id.0.clone()), "voter {} twice", v.id);
        }
        for h in &r.households {
            let building = (
                h.address.street.clone(),
                h.address.city.clone(),
                h.address.zip.clone(),
            );
            let turf = building_turf
                .entry(building.clone())
                .or_insert(r.turf.0.clone());
            assert_eq!(turf, &r.turf.0, "building {building:?} is split");
        }
    }
    assert_eq!(voters, facts.voters);
    // Apartments of one building spelled two ways ("APT 2", "#2") are one door each.
    let units: usize = cut
        .iter()
        .flat_map(|r| &r.households)
        .filter(|h| h.address.unit.is_some())
        .count();
    assert!(units > 0);
    // Names with accents and quotes arrive as written.
    let names: BTreeSet<String> = cut
        .iter()
        .flat_map(|r| &r.voters)
        .map(|v| format!("{} {}", v.first_name, v.last_name))
        .collect();
    assert!(
        names.iter().any(|n| n.contains("JOSÉ")),
        "accented first names"
    );
    assert!(
        names.iter().any(|n| n.contains("NÚÑEZ")),
        "accented last names"
    );
    assert!(
        names.iter().any(|n| n.contains("O\"BRIEN")),
        "quotes inside a field"
    );

    // A second cut places nothing new and leaves every turf as it was.
    let again = cut_turfs(&db.storage, None, 40).unwrap();
    assert!(again.lists.is_empty());
    assert_eq!(again.already_placed, facts.households);
    assert_eq!(rosters(&db), cut);
}

#[test]
fn geocoded_voters_are_cut_into_walks_that_never_cross() {
    let db = Db::default();
    let plan = Plan {
        rows: 2_000,
        ..Plan::default()
    };
    let (path, facts) = fixture(db.dir.path(), "van.csv", Layout::Van, &plan);
    import(&db, &path, Layout::Van, "van");
    with_campaign(&db);
    let report = cut_turfs(&db.storage, None, 50).unwrap();
    assert!(report.geographic);
    assert_eq!(report.placed() as u64, facts.households);
    for r in rosters(&db) {
        let doors: Vec<doorstep_server::setup::cut::Door> = r
            .households
            .iter()
            .map(|h| doorstep_server::setup::cut::Door {
                household: h.id.0.clone(),
                building: h.address.street.clone(),
                precinct: None,
                street_name: String::new(),
                house_number: None,
                unit: h.address.unit.clone(),
                location: h.location.map(|l| (l.lat, l.lon)),
            })
            .collect();
        assert_eq!(
            doorstep_server::setup::cut::crossings(&doors),
            0,
            "turf {} walks across its own path",
            r.turf
        );
    }
}

#[test]
fn call_lists_hold_the_voters_with_a_phone_number() {
    let db = Db::default();
    let (path, facts) = fixture(db.dir.path(), "voters.csv", Layout::Csv, &Plan::default());
    import(&db, &path, Layout::Csv, "csv");
    with_campaign(&db);
    let report = cut_call_lists(&db.storage, None, 25).unwrap();
    assert_eq!(report.placed(), facts.with_phone.len());
    let rosters = rosters(&db);
    let on_lists: BTreeSet<String> = rosters
        .iter()
        .inspect(|r| assert_eq!(r.list_kind, ListKind::Call))
        .flat_map(|r| r.voters.iter().map(|v| v.id.0.clone()))
        .collect();
    assert_eq!(on_lists, facts.with_phone);
    assert!(rosters.iter().all(|r| r.voters.len() <= 25));
    assert!(
        rosters
            .iter()
            .flat_map(|r| &r.voters)
            .all(|v| v.phone.is_some())
    );
}

#[test]
fn a_newer_file_updates_the_rosters_and_drops_voters_gone_from_it() {
    let db = Db::default();
    let plan = Plan {
        rows: 1_000,
        ..Plan::default()
    };
    let (first, facts) = fixture(db.dir.path(), "ncvoter32.txt", Layout::Ncvoter, &plan);
    import(&db, &first, Layout::Ncvoter, "durham");
    with_campaign(&db);
    cut_turfs(&db.storage, None, 40).unwrap();
    let before: BTreeMap<String, Roster> = rosters(&db)
        .into_iter()
        .map(|r| (r.turf.0.clone(), r))
        .collect();

    // The same file again changes nothing.
    let same = import(&db, &first, Layout::Ncvoter, "durham");
    assert_eq!(same.voters_removed, 0);
    assert_eq!(same.rosters_updated, 0);

    // A newer file without every 10th voter.
    let newer_plan = Plan {
        drop_every: 10,
        ..plan
    };
    let newer_dir = db.path("newer");
    std::fs::create_dir(&newer_dir).unwrap();
    let (newer, newer_facts) = fixture(&newer_dir, "ncvoter32.txt", Layout::Ncvoter, &newer_plan);
    let report = import(&db, &newer, Layout::Ncvoter, "durham");
    let gone: BTreeSet<&String> = facts.voters.difference(&newer_facts.voters).collect();
    assert!(!gone.is_empty());
    assert_eq!(report.voters_removed, gone.len() as u64, "{report}");
    let after = rosters(&db);
    assert!(report.rosters_updated > 0);
    let mut still = BTreeSet::new();
    for r in &after {
        let old = &before[&r.turf.0];
        let changed = old.voters != r.voters;
        assert_eq!(
            r.version,
            old.version + u64::from(changed),
            "turf {}",
            r.turf
        );
        for v in &r.voters {
            assert!(
                !gone.contains(&v.id.0),
                "voter {} left the file but not the roster",
                v.id
            );
            still.insert(v.id.0.clone());
        }
    }
    assert_eq!(still, newer_facts.voters);
}

#[test]
fn walk_lists_carry_no_phone_numbers_and_other_turfs_keep_their_rosters() {
    let db = Db::default();
    // A turf made outside the voter file (the demo's way).
    db.storage
        .apply_campaign(&Campaign::new("nc-2026", "NC 2026"))
        .unwrap();
    let demo = Roster {
        campaign: "nc-2026".into(),
        ..doorstep_server::demo::roster("demo-1", 6, 1, 1)
    };
    doorstep_server::demo::put_turf(&db.storage, &demo, None).unwrap();
    let (path, facts) = fixture(db.dir.path(), "van.csv", Layout::Van, &Plan::default());
    import(&db, &path, Layout::Van, "van");
    cut_turfs(&db.storage, None, 40).unwrap();
    cut_call_lists(&db.storage, None, 40).unwrap();
    assert_eq!(
        db.storage.roster("demo-1").unwrap(),
        Some(demo),
        "untouched"
    );
    let all = rosters(&db);
    let walk: Vec<&Roster> = all
        .iter()
        .filter(|r| r.list_kind == ListKind::Walk && r.turf.0 != "demo-1")
        .collect();
    assert!(!walk.is_empty());
    for r in walk {
        assert!(
            r.voters.iter().all(|v| v.phone.is_none()),
            "turf {} carries phone numbers",
            r.turf
        );
    }
    let phones: usize = all
        .iter()
        .filter(|r| r.list_kind == ListKind::Call)
        .flat_map(|r| &r.voters)
        .filter(|v| v.phone.is_some())
        .count();
    assert_eq!(phones, facts.with_phone.len(), "call lists keep them");
}
