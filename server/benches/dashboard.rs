//! The campaign page at scale: the time to render it against the time of the SQL queries it
//! needs, measured in the same run, alternating, on one database of (by default) 1,000,000
//! voters in about 10,000 turfs with 500,000 attempts.
//!
//! ```text
//! cargo bench -p doorstep-server --bench dashboard [-- --voters 1000000 --attempts 500000 --runs 7]
//! ```
//!
//! The database is built once through the organizer's own paths (a fictional voter file with
//! coordinates imported, cut into turfs, twenty teams of canvassers, attempts stored by the
//! storage's commit as a sync stores them) and kept in `target/bench-dashboard/` for later runs.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use doorstep_core::domain::{Answer, Attempt, AttemptId, Target};
use doorstep_core::sync::Role;
use doorstep_server::dashboard::{pages, session::Viewer, view};
use doorstep_server::demo;
use doorstep_server::setup::fixtures::{self, Layout, Plan};
use doorstep_server::setup::import::{Attribute, Format, ReadOptions, run_import};
use doorstep_server::setup::{lists, people};
use doorstep_server::storage::dashboard::Scope;
use doorstep_server::storage::{Commit, Dashboard, Organize, Principal, SqliteStorage, Storage};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn arg(name: &str, default: usize) -> usize {
    let argv: Vec<String> = std::env::args().collect();
    argv.iter()
        .position(|a| a == name)
        .and_then(|i| argv.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const TEAMS: usize = 20;
const CANVASSERS_PER_TEAM: usize = 25;

fn build(path: &Path, voters: usize, turfs: usize, attempts: usize) {
    let started = Instant::now();
    let dir = path.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let _ = std::fs::remove_file(path);
    let storage = SqliteStorage::open(path).unwrap();
    let file = dir.join("voters.csv");
    fixtures::write_file(
        std::io::BufWriter::new(std::fs::File::create(&file).unwrap()),
        Layout::Van,
        &Plan {
            rows: voters,
            seed: 2026,
            messy: false,
            drop_every: 0,
            coordinates: true,
        },
    )
    .unwrap();
    let report = run_import(
        &storage,
        std::fs::File::open(&file).unwrap(),
        &ReadOptions {
            format: Format::Van,
            mapping: None,
            keep: Attribute::ALL.to_vec(),
            allow_removals: false,
        },
        "bench",
        0,
        &|_| {},
    )
    .unwrap();
    let _ = std::fs::remove_file(&file);
    eprintln!(
        "imported {} voters in {:?}",
        report.voters_imported,
        started.elapsed()
    );
    storage.apply_campaign(&demo::campaign()).unwrap();
    let households = storage.uncut_doors().unwrap().len();
    let size = households.div_ceil(turfs).max(1);
    let cut = lists::cut_turfs(&storage, Some(demo::CAMPAIGN), size).unwrap();
    eprintln!(
        "cut {} turfs (size {size}) at {:?}",
        cut.lists.len(),
        started.elapsed()
    );

    // Twenty teams of a captain and 25 canvassers; each canvasser holds their team's turfs in
    // turn.
    let mut canvassers = Vec::new();
    for t in 0..TEAMS {
        let team = people::add_team(&storage, &format!("Team {t}"), None).unwrap();
        people::add_canvasser(&storage, &format!("Captain {t}"), &team, true, None, 0).unwrap();
        for c in 0..CANVASSERS_PER_TEAM {
            let who = people::add_canvasser(
                &storage,
                &format!("Canvasser {t} {c}"),
                &team,
                false,
                None,
                0,
            )
            .unwrap();
            canvassers.push(who.id);
        }
    }
    let all = storage
        .grants(&Principal {
            user: "bench".into(),
            role: Role::Admin,
            team: None,
        })
        .unwrap()
        .turfs;
    let turf_ids: Vec<String> = all.into_keys().collect();
    for (i, turf) in turf_ids.iter().enumerate() {
        // Turf i goes to team i % TEAMS, to one of its canvassers.
        let team = i % TEAMS;
        let who = &canvassers[team * CANVASSERS_PER_TEAM + (i / TEAMS) % CANVASSERS_PER_TEAM];
        people::assign(&storage, turf, who, false).unwrap();
    }
    eprintln!(
        "assigned {} turfs at {:?}",
        turf_ids.len(),
        started.elapsed()
    );

    // Attempts spread over the turfs and over two weeks, a third of them contacts with a
    // support answer, stored as each canvasser's syncs store them.
    let mut rng = fastrand::Rng::with_seed(7);
    let per_turf = attempts.div_ceil(turf_ids.len().max(1));
    let mut stored = 0;
    let start = 1_790_000_000_000i64;
    for (i, turf) in turf_ids.iter().enumerate() {
        if stored >= attempts {
            break;
        }
        let roster = storage.roster(turf).unwrap().unwrap();
        let team = i % TEAMS;
        let who = &canvassers[team * CANVASSERS_PER_TEAM + (i / TEAMS) % CANVASSERS_PER_TEAM];
        let mut commit = Commit {
            user: who.clone(),
            device: vec![team as u8, (i % 251) as u8],
            now: start + 14 * 86_400_000,
            ..Commit::default()
        };
        for _ in 0..per_turf.min(attempts - stored) {
            let voter = &roster.voters[rng.usize(..roster.voters.len())];
            let contact = rng.u8(..3) == 0;
            let a = Attempt {
                id: AttemptId::random(),
                target: if contact {
                    Target::Voter(voter.id.clone())
                } else {
                    Target::Household(voter.household.clone())
                },
                household: voter.household.clone(),
                outcome: if contact { "talked" } else { "not_home" }.into(),
                answers: if contact {
                    vec![("support".into(), Answer::Support(rng.u8(1..=5)))]
                } else {
                    vec![]
                },
                note: None,
                canvasser: who.as_str().into(),
                device: format!("{:02x}", i % 251).as_str().into(),
                recorded_at: start + rng.i64(0..14 * 86_400_000),
                location: None,
            };
            commit.attempts.push((turf.clone(), a));
            stored += 1;
        }
        storage.commit(&commit).unwrap();
    }
    eprintln!(
        "stored {stored} attempts; fixture built in {:?}",
        started.elapsed()
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once, small.
    let quick = std::env::args().any(|a| a == "--test");
    let voters = arg("--voters", if quick { 3_000 } else { 1_000_000 });
    let turfs = arg("--turfs", if quick { 30 } else { 10_000 });
    let attempts = arg("--attempts", if quick { 1_500 } else { 500_000 });
    let runs = arg("--runs", if quick { 1 } else { 7 });
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-dashboard");
    let path = dir.join(format!("campaign-{voters}-{turfs}-{attempts}.db"));
    if !path.exists() {
        build(&path, voters, turfs, attempts);
    }
    // As a server's own checkpoints leave it: the write-ahead log folded into the file.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let storage = SqliteStorage::open(&path).unwrap();
    let scope = Scope::Campaign(demo::CAMPAIGN.into());
    let viewer = Viewer {
        who: Principal {
            user: "organizer".into(),
            role: Role::Admin,
            team: None,
        },
    };
    let outcomes = view::Outcomes::of(&storage, &scope).unwrap();
    let contacts = outcomes.contacts.clone();
    let codes: Vec<String> = outcomes.codes.iter().map(|(c, _)| c.clone()).collect();
    let now = 1_790_000_000_000 + 14 * 86_400_000;
    // Warm the page cache, then alternate so that drift hits both alike.
    let page = view::overview(&storage, &scope, now).unwrap().unwrap();
    let html =
        pages::overview(&viewer, &page, pages::Pages::default(), Some(1), None).into_string();
    let (mut sql, mut render) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let q = view::query(&storage, &scope, outcomes.clone()).unwrap();
        sql.push(t.elapsed());
        std::hint::black_box(q);
        let t = Instant::now();
        let page = view::overview(&storage, &scope, now).unwrap().unwrap();
        let html =
            pages::overview(&viewer, &page, pages::Pages::default(), Some(1), None).into_string();
        render.push(t.elapsed());
        std::hint::black_box(html);
    }
    let (sql, render) = (median(sql), median(render));
    // Where the SQL time goes, one query at a time.
    let time = |name: &str, f: &dyn Fn()| {
        let t = Instant::now();
        f();
        println!("    {name}: {:?}", t.elapsed());
    };
    println!("  each query once:");
    time("turf_progress", &|| {
        storage.turf_progress(&scope, &contacts, &codes).unwrap();
    });
    time("person_progress", &|| {
        storage.person_progress(&scope, &contacts, &codes).unwrap();
    });
    time("timeline", &|| {
        storage.timeline(&scope, &contacts).unwrap();
    });
    time("door_map", &|| {
        storage
            .door_map(&scope, &contacts, view::MAX_MAP_POINTS, view::MAP_GRID)
            .unwrap();
    });
    time("people + phones + teams", &|| {
        storage.people().unwrap();
        storage.phones().unwrap();
        storage.teams().unwrap();
    });
    println!(
        "campaign page: {} turfs, {} doors, {} attempts, {} people; {} KB of HTML",
        page.turfs.len(),
        page.total.doors,
        page.total.attempts,
        page.people.len(),
        html.len() / 1024
    );
    println!("  SQL queries it needs (median of {runs}): {sql:?}");
    println!("  whole page, queries + render (median of {runs}): {render:?}");
    println!(
        "  ratio: {:.2}x (target <= 3x)",
        render.as_secs_f64() / sql.as_secs_f64()
    );
}
