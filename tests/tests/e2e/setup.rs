//! The organizer's whole flow through the real `doorstep` binary: import a voter file, apply
//! a campaign, cut turfs and call lists, add people, assign, a phone syncs and knocks, export;
//! then a newer file arrives. The source file's voter ids must survive the round trip.

use doorstep_core::NewAttempt;
use doorstep_core::domain::{Answer, Target, TurfId};
use doorstep_server::setup::fixtures::{self, Layout, Plan};
use doorstep_tests::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const CAMPAIGN: &str = include_str!("../../../docs/campaign-example.toml");

/// Reads a CSV export into rows of column name to value.
fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// The list ids a cut printed (`  <id>  <n> doors`).
fn listed(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn number_after(output: &str, label: &str) -> u64 {
    output
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no '{label}' in:\n{output}"))
}

#[test]
fn import_apply_cut_assign_sync_export_round_trips_the_source_voter_ids() {
    let dir = tempfile::tempdir().unwrap();
    organizers_flow(&Backend::Sqlite(dir.path().join("doorstep.db")));
}

#[test]
fn on_postgresql_the_organizers_flow_round_trips_the_source_voter_ids() {
    let cluster = doorstep_tests::postgres::Cluster::start();
    organizers_flow(&Backend::Postgres(cluster.database("doorstep")));
}

/// Import, apply, cut, add people, assign, sync, export, re-import, on `db`.
fn organizers_flow(db: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let plan = Plan {
        rows: 600,
        seed: 11,
        messy: true,
        drop_every: 0,
        coordinates: false,
    };
    let file = dir.path().join("ncvoter32.txt");
    let facts = fixtures::write_file(
        std::fs::File::create(&file).unwrap(),
        Layout::Ncvoter,
        &plan,
    )
    .unwrap();
    let file_arg = file.to_string_lossy().into_owned();

    // Import: the report counts what the file holds.
    let out = doorstep(&db, &["import", &file_arg, "--format", "ncvoter"]);
    assert_eq!(number_after(&out, "rows read:"), facts.rows, "{out}");
    assert_eq!(
        number_after(&out, "voters imported:"),
        facts.voters.len() as u64,
        "{out}"
    );
    assert_eq!(number_after(&out, "households:"), facts.households, "{out}");
    assert!(out.contains("malformed at line"), "{out}");

    // Cutting before any campaign exists says what to do.
    let err = doorstep_fails(&db, &["turfs", "cut", "--size", "30"]);
    assert!(err.contains("campaign apply"), "{err}");

    let campaign = dir.path().join("campaign.toml");
    std::fs::write(&campaign, CAMPAIGN).unwrap();
    let out = doorstep(&db, &["campaign", "apply", &campaign.to_string_lossy()]);
    assert!(out.contains("'lakeview-2026' created"), "{out}");

    let out = doorstep(&db, &["turfs", "cut", "--size", "30"]);
    let turfs = listed(&out);
    assert!(turfs.len() > 5, "{out}");
    let out = doorstep(&db, &["calllists", "cut", "--size", "40"]);
    let calls = listed(&out);
    assert!(!calls.is_empty(), "{out}");

    doorstep(&db, &["team", "add", "Team Durham"]);
    let out = doorstep(
        &db,
        &["canvasser", "add", "Avery Alder", "--team", "team-durham"],
    );
    // The id is opaque (it shows up in logs and exports), printed between quotes.
    let canvasser = out.split('\'').nth(1).unwrap().to_owned();
    assert!(canvasser.starts_with("cv-"), "{out}");
    assert!(!out.to_lowercase().contains("avery-alder"), "{out}");
    let token = out.lines().last().unwrap().trim().to_owned();
    assert!(token.starts_with("dst_"), "{out}");
    for list in [&turfs[0], &turfs[1], &calls[0]] {
        doorstep(&db, &["assign", list, &canvasser]);
    }
    let err = doorstep_fails(&db, &["assign", "no-such-turf", &canvasser]);
    assert!(err.contains("no turf 'no-such-turf'"), "{err}");

    // The canvasser's phone syncs, works both walk lists door by door and calls a few.
    let server = ServerProcess::on(db, &[]);
    let mut phone = Phone::with_token(&canvasser, &token);
    phone.sync(&server.url).unwrap();
    let held: BTreeSet<String> = phone.turfs().into_iter().map(|t| t.0).collect();
    let expected: BTreeSet<String> = [&turfs[0], &turfs[1], &calls[0]]
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(held, expected, "the phone holds exactly the assigned lists");
    let (campaign_on_phone, _) = phone
        .store
        .turf_campaign(&TurfId(turfs[0].clone()))
        .unwrap();
    assert_eq!(campaign_on_phone.id.0, "lakeview-2026");
    let mut recorded = BTreeMap::new();
    let mut at = 1_780_000_000_000;
    for turf in [&turfs[0], &turfs[1], &calls[0]] {
        let turf = TurfId(turf.clone());
        let walk = phone.store.walk_list(&turf).unwrap();
        for (i, door) in walk.households.iter().enumerate().take(12) {
            at += 60_000;
            let (target, outcome, answers) = match (door.voters.first(), i % 3) {
                (Some(v), 0 | 1) => (
                    Target::Voter(v.id.clone()),
                    "talked",
                    vec![("support".into(), Answer::Support(1 + (i % 5) as u8))],
                ),
                (Some(v), _) if turf.0.contains("-c") => {
                    (Target::Voter(v.id.clone()), "no_answer", vec![])
                }
                _ => (Target::Household(door.id.clone()), "not_home", vec![]),
            };
            let attempt = phone
                .store
                .record_attempt(NewAttempt {
                    turf: turf.clone(),
                    target: target.clone(),
                    outcome: outcome.into(),
                    answers,
                    note: None,
                    recorded_at: at,
                    location: None,
                })
                .unwrap();
            recorded.insert(attempt.id.to_string(), (target, outcome));
        }
    }
    phone.sync(&server.url).unwrap();
    assert_eq!(phone.store.outbox_count().unwrap(), 0);

    // Results out, keyed by the source file's voter ids.
    let attempts_csv = dir.path().join("attempts.csv");
    let out = doorstep(
        &db,
        &[
            "export",
            "attempts",
            "--out",
            &attempts_csv.to_string_lossy(),
        ],
    );
    assert!(out.starts_with("wrote "), "{out}");
    let rows = read_csv(&attempts_csv);
    let exported: BTreeSet<&str> = rows.iter().map(|r| r["attempt_id"].as_str()).collect();
    let ids: BTreeSet<&str> = recorded.keys().map(String::as_str).collect();
    assert_eq!(exported, ids, "every attempt exported, no other");
    for row in &rows {
        assert!(
            facts.voters.contains(&row["voter_id"]),
            "voter id {} is not from the source file",
            row["voter_id"]
        );
        let (target, outcome) = &recorded[&row["attempt_id"]];
        assert_eq!(&row["outcome"], outcome);
        match target {
            Target::Voter(v) => {
                assert_eq!(row["voter_id"], v.0);
                assert_eq!(row["applies_to"], "voter");
            }
            Target::Household(h) => {
                assert_eq!(row["household_id"], h.0);
                assert_eq!(row["applies_to"], "household");
            }
        }
        if outcome == &"talked" {
            assert!(!row["support"].is_empty(), "the support answer is exported");
            assert_eq!(row["contact"], "yes");
        }
        assert_eq!(row["canvasser"], canvasser);
    }
    // A door's result is exported once per voter living there.
    for (id, (target, _)) in &recorded {
        if let Target::Household(h) = target {
            let n = rows.iter().filter(|r| &r["attempt_id"] == id).count();
            let living = phone
                .store
                .walk_list(&TurfId(
                    rows.iter().find(|r| &r["attempt_id"] == id).unwrap()["turf_id"].clone(),
                ))
                .unwrap()
                .households
                .iter()
                .find(|d| &d.id == h)
                .unwrap()
                .voters
                .len();
            assert_eq!(n, living, "door {h}");
        }
    }
    let voters_csv = dir.path().join("voters.csv");
    doorstep(
        &db,
        &["export", "voters", "--out", &voters_csv.to_string_lossy()],
    );
    let voters = read_csv(&voters_csv);
    assert!(!voters.is_empty());
    for v in &voters {
        assert!(facts.voters.contains(&v["voter_id"]));
        assert!(["talked", "not_home", "no_answer"].contains(&v["status"].as_str()));
    }
    let talked: BTreeSet<&str> = recorded
        .values()
        .filter(|(_, o)| *o == "talked")
        .filter_map(|(t, _)| match t {
            Target::Voter(v) => Some(v.0.as_str()),
            Target::Household(_) => None,
        })
        .collect();
    for v in voters
        .iter()
        .filter(|v| talked.contains(v["voter_id"].as_str()))
    {
        assert_eq!(v["contacted"], "yes");
    }

    let stats = doorstep(&db, &["stats"]);
    let line = stats
        .lines()
        .find(|l| l.starts_with(&format!("{} (walk)", turfs[0])))
        .unwrap_or_else(|| panic!("no line for {} in\n{stats}", turfs[0]));
    // The last ten columns: doors, knocked, attempts, contacts, rate, support 1 to 5.
    let columns: Vec<&str> = line.split_whitespace().collect();
    let knocked: u64 = columns[columns.len() - 9].parse().unwrap();
    assert_eq!(knocked, 12, "{line}");

    // A newer file: every 7th voter is gone. The rosters change, the attempts stay.
    let newer_dir = dir.path().join("newer");
    std::fs::create_dir(&newer_dir).unwrap();
    let newer = newer_dir.join("ncvoter32.txt");
    let newer_facts = fixtures::write_file(
        std::fs::File::create(&newer).unwrap(),
        Layout::Ncvoter,
        &Plan {
            drop_every: 7,
            ..plan
        },
    )
    .unwrap();
    let newer_arg = newer.to_string_lossy().into_owned();
    // A seventh of the voters gone is more than a weekly file removes: refused until confirmed,
    // and nothing changes meanwhile.
    let before_refusal = phone.store.walk_list(&TurfId(turfs[0].clone())).unwrap();
    let err = doorstep_fails(&db, &["import", &newer_arg, "--format", "ncvoter"]);
    assert!(err.contains("--allow-removals"), "{err}");
    phone.sync(&server.url).unwrap();
    assert_eq!(
        phone
            .store
            .walk_list(&TurfId(turfs[0].clone()))
            .unwrap()
            .households
            .len(),
        before_refusal.households.len()
    );
    let out = doorstep(
        &db,
        &[
            "import",
            &newer_arg,
            "--format",
            "ncvoter",
            "--allow-removals",
        ],
    );
    let gone: BTreeSet<&String> = facts.voters.difference(&newer_facts.voters).collect();
    assert_eq!(
        number_after(&out, "voters removed:"),
        gone.len() as u64,
        "{out}"
    );
    assert!(number_after(&out, "rosters updated:") > 0, "{out}");
    phone.sync(&server.url).unwrap();
    for turf in phone.turfs() {
        for door in phone.store.walk_list(&turf).unwrap().households {
            for v in door.voters {
                assert!(
                    !gone.contains(&v.id.0),
                    "voter {} left the file but not the phone",
                    v.id
                );
            }
        }
    }
    doorstep(
        &db,
        &[
            "export",
            "attempts",
            "--out",
            &attempts_csv.to_string_lossy(),
        ],
    );
    let after: BTreeSet<String> = read_csv(&attempts_csv)
        .into_iter()
        .map(|r| r["attempt_id"].clone())
        .collect();
    let ids: BTreeSet<String> = recorded.keys().cloned().collect();
    assert_eq!(after, ids, "no attempt lost to the re-import");

    // A changed campaign reaches the running server's phones at their next sync.
    let changed = CAMPAIGN.replace(
        "name = \"Lakeview County 2026 general\"",
        "name = \"Lakeview County 2026 general (final week)\"",
    );
    std::fs::write(&campaign, changed).unwrap();
    let out = doorstep(&db, &["campaign", "apply", &campaign.to_string_lossy()]);
    assert!(out.contains("updated"), "{out}");
    phone.sync(&server.url).unwrap();
    let (campaign_on_phone, _) = phone
        .store
        .turf_campaign(&TurfId(turfs[0].clone()))
        .unwrap();
    assert_eq!(
        campaign_on_phone.name,
        "Lakeview County 2026 general (final week)"
    );

    // Revoked: the phone is refused at once, and keeps what it holds.
    doorstep(&db, &["revoke", &canvasser]);
    assert!(phone.sync(&server.url).is_err());
    assert_eq!(phone.turfs().len(), 3);
}

#[test]
fn a_bad_campaign_file_names_the_place_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("doorstep.db");
    let campaign = dir.path().join("campaign.toml");
    let broken = CAMPAIGN.replacen(
        "questions = [\"support\", \"issue\", \"volunteer\", \"language\", \"comment\"]",
        "questions = [\"support\", \"issue\", \"volunteer\", \"languages\", \"comment\"]",
        1,
    );
    assert_ne!(broken, CAMPAIGN);
    std::fs::write(&campaign, broken).unwrap();
    let err = doorstep_fails(&db, &["campaign", "apply", &campaign.to_string_lossy()]);
    assert!(
        err.contains("script 'persuasion'") && err.contains("'languages'"),
        "{err}"
    );
    std::fs::write(&campaign, "id = \"x\"\nname = \"X\"\n[[scripts]]\nid = 3\n").unwrap();
    let err = doorstep_fails(&db, &["campaign", "apply", &campaign.to_string_lossy()]);
    assert!(err.contains("line 4"), "{err}");
    let storage = doorstep_server::storage::SqliteStorage::open(&db).unwrap();
    use doorstep_server::storage::Organize;
    assert!(
        storage.campaigns().unwrap().is_empty(),
        "nothing was stored"
    );
}

#[test]
fn a_file_in_another_layout_is_refused_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("doorstep.db");
    let file = dir.path().join("van.csv");
    fixtures::write_file(
        std::fs::File::create(&file).unwrap(),
        Layout::Van,
        &Plan::default(),
    )
    .unwrap();
    let err = doorstep_fails(
        &db,
        &["import", &file.to_string_lossy(), "--format", "ncvoter"],
    );
    assert!(err.contains("no 'ncid' column"), "{err}");
    let err = doorstep_fails(&db, &["import", &file.to_string_lossy(), "--format", "csv"]);
    assert!(err.contains("--mapping"), "{err}");
    let storage = doorstep_server::storage::SqliteStorage::open(&db).unwrap();
    use doorstep_server::storage::Organize;
    assert!(
        storage.uncut_doors().unwrap().is_empty(),
        "nothing was stored"
    );
}
