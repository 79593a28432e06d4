//! PostgreSQL: a real throwaway cluster (see `doorstep_tests::postgres`), the schema's
//! migrations, the dashboard's suite, and the organizer's whole flow run on PostgreSQL and on
//! SQLite side by side, every answer compared.

use doorstep_core::domain::{Answer, Attempt, AttemptId, ListKind, Target};
use doorstep_server::setup::fixtures::{self, Layout, Plan};
use doorstep_server::setup::import::{Attribute, Format, ReadOptions, run_import};
use doorstep_server::setup::{SetupError, export, lists, people, stats};
use doorstep_server::storage::dashboard::Scope;
use doorstep_server::storage::postgres::{SCHEMA_VERSION, migrate};
use doorstep_server::storage::{
    Commit, Dashboard, Organize, PgStorage, SqliteStorage, StorageError,
};
use doorstep_tests::postgres::Cluster;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

#[test]
fn the_schema_migrates_once_even_from_two_servers_and_a_newer_one_is_refused() {
    let cluster = Cluster::start();
    let url = cluster.database("doorstep");
    // Two servers starting at the same moment: one applies the migrations, the other finds
    // them applied.
    let found: Vec<i64> = std::thread::scope(|s| {
        let starts: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                    migrate(&mut client).unwrap()
                })
            })
            .collect();
        starts.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let mut found = found;
    found.sort();
    assert_eq!(found, [0, SCHEMA_VERSION]);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    // The same tables and columns as a fresh SQLite database, so both backends hold the same
    // (besides the change counter's slots: SQLite counts commits itself).
    let mut on_postgres: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in client
        .query(
            "SELECT table_name, column_name FROM information_schema.columns
             WHERE table_schema = 'public'
               AND table_name NOT IN ('schema_migrations', 'change_slots')",
            &[],
        )
        .unwrap()
    {
        on_postgres
            .entry(row.get(0))
            .or_default()
            .insert(row.get(1));
    }
    let dir = tempfile::tempdir().unwrap();
    drop(doorstep_server::storage::SqliteStorage::open(dir.path().join("s.db")).unwrap());
    let sqlite = rusqlite::Connection::open(dir.path().join("s.db")).unwrap();
    let mut on_sqlite: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stmt = sqlite
        .prepare(
            "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
        )
        .unwrap();
    for row in stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
    {
        let (table, column) = row.unwrap();
        on_sqlite.entry(table).or_default().insert(column);
    }
    assert_eq!(on_postgres, on_sqlite);
    let epoch: i64 = client
        .query_one("SELECT value FROM admin_epoch WHERE id = 1", &[])
        .unwrap()
        .get(0);
    assert_eq!(epoch, 0);
    // Again: nothing to do.
    assert_eq!(migrate(&mut client).unwrap(), SCHEMA_VERSION);
    // A database a newer Doorstep migrated is refused, and left as it is.
    client
        .execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&(SCHEMA_VERSION + 1)],
        )
        .unwrap();
    match migrate(&mut client) {
        Err(StorageError::TooNew { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("a newer schema was not refused: {other:?}"),
    }
}

#[test]
fn postgres_passes_the_dashboard_suite() {
    let cluster = Cluster::start();
    let n = std::sync::atomic::AtomicUsize::new(0);
    doorstep_server::storage::conformance::check_dashboard(|| {
        let url = cluster.database(&format!(
            "d{}",
            n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        PgStorage::connect(&url).unwrap()
    });
}

const NOW: i64 = 1_793_800_800_000; // 2026-11-04T14:00:00Z

/// What the organizer saw at each step: the step, and the answer (or the error) as text.
type Transcript = Vec<(String, String)>;

/// Records a step's answer, or its error's message.
fn note<T: std::fmt::Debug, E: std::fmt::Display>(
    out: &mut Transcript,
    step: &str,
    answer: Result<T, E>,
) {
    let text = match &answer {
        Ok(v) => format!("{v:#?}"),
        Err(e) => format!("error: {e}"),
    };
    out.push((step.to_owned(), text));
}

/// Records a step's text.
fn show(out: &mut Transcript, step: &str, text: Text) {
    out.push((step.to_owned(), text.0));
}

fn import_file(storage: &impl Organize, path: &Path, source: &str) -> Result<Text, SetupError> {
    let options = ReadOptions {
        format: Format::Van,
        mapping: None,
        keep: Attribute::ALL.to_vec(),
        allow_removals: false,
    };
    let input = std::fs::File::open(path).unwrap();
    run_import(storage, input, &options, source, NOW, &|_| {}).map(|r| Text(r.to_string()))
}

/// Text shown as it is, lines and all.
struct Text(String);

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn csv(f: impl FnOnce(&mut Vec<u8>) -> Result<export::Exported, SetupError>) -> Text {
    let mut out = Vec::new();
    Text(match f(&mut out) {
        Ok(e) => format!("{} rows\n{}", e.rows, String::from_utf8(out).unwrap()),
        Err(e) => format!("error: {e}"),
    })
}

/// Every roster, by turf.
fn rosters(storage: &impl Organize, out: &mut Transcript, step: &str) {
    for turf in storage.turf_figures().unwrap() {
        let roster = storage.roster(&turf.turf);
        note(out, &format!("{step}: roster {}", turf.turf), roster);
    }
}

/// Every figure the dashboard and `stats` show.
fn figures(storage: &impl Dashboard, out: &mut Transcript, step: &str, campaign: &str) {
    note(
        out,
        &format!("{step}: stats"),
        stats::stats(storage).map(|s| (Text(s.to_string()), s)),
    );
    note(
        out,
        &format!("{step}: turf figures"),
        storage.turf_figures(),
    );
    let contacts = vec![
        (campaign.to_owned(), "talked".to_owned()),
        (campaign.to_owned(), "needs_spanish".to_owned()),
    ];
    let codes = [
        "talked".to_owned(),
        "not_home".to_owned(),
        "refused".to_owned(),
    ];
    for scope in [
        Scope::Campaign(campaign.into()),
        Scope::Team("north".into()),
        Scope::Team("south".into()),
    ] {
        let step = format!("{step}: {scope:?}");
        note(
            out,
            &format!("{step} turfs"),
            storage.turf_progress(&scope, &contacts, &codes),
        );
        note(
            out,
            &format!("{step} people"),
            storage.person_progress(&scope, &contacts, &codes),
        );
        note(
            out,
            &format!("{step} timeline"),
            storage.timeline(&scope, &contacts),
        );
        for max_points in [u64::MAX, 3] {
            note(
                out,
                &format!("{step} map {max_points}"),
                storage.door_map(&scope, &contacts, max_points, 4),
            );
        }
    }
    note(out, &format!("{step}: teams"), storage.teams());
    note(out, &format!("{step}: people"), storage.people());
    note(out, &format!("{step}: attempts"), storage.attempt_rows());
    show(
        out,
        &format!("{step}: export attempts"),
        csv(|w| export::export_attempts(storage, w, false)),
    );
    show(
        out,
        &format!("{step}: export attempts with voided"),
        csv(|w| export::export_attempts(storage, w, true)),
    );
    show(
        out,
        &format!("{step}: export voters"),
        csv(|w| export::export_voters(storage, w)),
    );
}

fn attempt(
    n: u8,
    target: Target,
    household: &str,
    outcome: &str,
    support: Option<u8>,
    who: &str,
    at: i64,
) -> Attempt {
    Attempt {
        id: AttemptId([n; 16]),
        target,
        household: household.into(),
        outcome: outcome.into(),
        answers: support
            .map(|l| vec![("support".into(), Answer::Support(l))])
            .unwrap_or_default(),
        note: Some(format!("note {n}")),
        canvasser: who.into(),
        device: "phone".into(),
        recorded_at: at,
        location: None,
    }
}

/// The organizer's flow through the library, on `storage`: the voter files are in `dir`.
fn organize(storage: &impl Dashboard, dir: &Path) -> Transcript {
    let mut out = Transcript::new();
    let t = &mut out;
    let file = |name: &str| dir.join(name);
    note(
        t,
        "cut before any campaign",
        lists::cut_turfs(storage, None, 30),
    );
    note(
        t,
        "import",
        import_file(storage, &file("first.csv"), "county"),
    );
    note(
        t,
        "import again",
        import_file(storage, &file("first.csv"), "county"),
    );
    note(
        t,
        "the same voters from another source",
        import_file(storage, &file("first.csv"), "other"),
    );
    let mut campaign = doorstep_server::setup::campaign_file::parse_campaign(include_str!(
        "../../../docs/campaign-example.toml"
    ))
    .unwrap();
    let id = campaign.id.0.clone();
    note(t, "apply", storage.apply_campaign(&campaign));
    note(t, "apply again", storage.apply_campaign(&campaign));
    campaign.name = "Lakeview, renamed".into();
    note(t, "apply changed", storage.apply_campaign(&campaign));
    note(t, "campaigns", storage.campaigns());
    note(t, "campaign", storage.campaign(&id));
    note(t, "no campaign", storage.campaign("nowhere"));
    // In no particular order: the cut sorts them.
    let doors = storage.uncut_doors().map(|mut doors| {
        doors.sort_by(|a, b| a.household.cmp(&b.household));
        doors
    });
    note(t, "uncut doors", doors);
    note(t, "uncut callers", storage.uncut_callers());
    note(t, "cut turfs", lists::cut_turfs(storage, None, 30));
    note(
        t,
        "cut call lists",
        lists::cut_call_lists(storage, Some(&id), 40),
    );
    note(t, "cut turfs again", lists::cut_turfs(storage, None, 30));
    note(t, "placed doors", storage.placed(ListKind::Walk));
    note(t, "placed callers", storage.placed(ListKind::Call));
    note(t, "walk lists", storage.list_count(&id, ListKind::Walk));
    note(t, "call lists", storage.list_count(&id, ListKind::Call));
    note(
        t,
        "lists of no campaign",
        storage.add_lists("nowhere", ListKind::Walk, &[]),
    );
    rosters(storage, t, "cut");
    let turfs: Vec<String> = storage
        .turf_figures()
        .unwrap()
        .into_iter()
        .map(|f| f.turf)
        .collect();
    let walk: Vec<&String> = turfs.iter().filter(|t| t.contains("-w")).collect();
    let call: Vec<&String> = turfs.iter().filter(|t| t.contains("-c")).collect();
    assert!(walk.len() >= 3 && !call.is_empty(), "{turfs:?}");

    // People.
    note(t, "team", people::add_team(storage, "North", None));
    note(t, "team again", people::add_team(storage, "North", None));
    note(t, "team south", people::add_team(storage, "South", None));
    for (name, team, captain, user) in [
        ("Avery", "north", false, "avery"),
        ("Blake", "north", true, "blake"),
        ("Casey", "south", false, "casey"),
    ] {
        let added = people::add_canvasser(storage, name, team, captain, Some(user), NOW);
        note(t, &format!("add {user}"), added.map(|a| a.id));
    }
    note(
        t,
        "add to no team",
        people::add_canvasser(storage, "Dana", "west", false, Some("dana"), NOW).map(|a| a.id),
    );
    note(
        t,
        "assign",
        people::assign(storage, walk[0], "avery", false),
    );
    note(
        t,
        "assign a second",
        people::assign(storage, walk[1], "avery", false),
    );
    note(
        t,
        "assign a call list",
        people::assign(storage, call[0], "blake", false),
    );
    note(
        t,
        "assign another team's",
        people::assign(storage, walk[0], "casey", false),
    );
    note(
        t,
        "assign south",
        people::assign(storage, walk[2], "casey", false),
    );
    note(t, "move", people::assign(storage, walk[1], "casey", true));
    note(
        t,
        "assign no turf",
        people::assign(storage, "nowhere", "avery", false),
    );
    note(
        t,
        "assign nobody",
        people::assign(storage, walk[0], "nobody", false),
    );
    note(t, "user", storage.user("avery"));
    note(t, "no user", storage.user("nobody"));
    note(t, "turf", storage.turf(walk[1]));
    note(t, "call list", storage.turf(call[0]));
    note(t, "team exists", storage.team_exists("north"));

    // Results, from two phones.
    let roster = storage.roster(walk[0]).unwrap().unwrap();
    let (v0, v1) = (&roster.voters[0], &roster.voters[roster.voters.len() - 1]);
    // A door with several voters, where nobody answered.
    let quiet = &roster
        .households
        .iter()
        .find(|h| {
            h.id != v0.household
                && h.id != v1.household
                && roster.voters.iter().filter(|v| v.household == h.id).count() > 1
        })
        .expect("a door with several voters")
        .id;
    let calls = storage.roster(call[0]).unwrap().unwrap();
    let c0 = &calls.voters[0];
    const HOUR: i64 = 3_600_000;
    let at = |n: i64| NOW + n * 600_000;
    let first = vec![
        (
            walk[0],
            attempt(
                1,
                Target::Voter(v0.id.clone()),
                v0.household.as_str(),
                "talked",
                Some(2),
                "avery",
                at(1),
            ),
        ),
        (
            walk[0],
            attempt(
                2,
                Target::Household(quiet.clone()),
                quiet.as_str(),
                "not_home",
                None,
                "avery",
                at(2),
            ),
        ),
        (
            walk[0],
            attempt(
                7,
                Target::Household(quiet.clone()),
                quiet.as_str(),
                "not_home",
                None,
                "avery",
                at(3),
            ),
        ),
        (
            walk[0],
            attempt(
                3,
                Target::Voter(v0.id.clone()),
                v0.household.as_str(),
                "talked",
                Some(4),
                "avery",
                at(3) + HOUR,
            ),
        ),
        (
            walk[0],
            attempt(
                4,
                Target::Voter(v1.id.clone()),
                v1.household.as_str(),
                "refused",
                None,
                "avery",
                at(3) + HOUR,
            ),
        ),
        (
            walk[0],
            attempt(
                5,
                Target::Voter(v1.id.clone()),
                v1.household.as_str(),
                "needs_spanish",
                Some(5),
                "avery",
                at(4),
            ),
        ),
    ];
    storage
        .commit(&Commit {
            user: "avery".into(),
            device: vec![1; 16],
            now: at(10),
            attempts: first
                .into_iter()
                .map(|(turf, a)| (turf.clone(), a))
                .collect(),
            voids: vec![(
                walk[0].clone(),
                AttemptId([2; 16]).to_string(),
                "void-2".into(),
            )],
            ..Commit::default()
        })
        .unwrap();
    storage
        .commit(&Commit {
            user: "blake".into(),
            device: vec![2; 16],
            now: at(11),
            attempts: vec![(
                call[0].clone(),
                attempt(
                    6,
                    Target::Voter(c0.id.clone()),
                    c0.household.as_str(),
                    "talked",
                    Some(1),
                    "blake",
                    at(5),
                ),
            )],
            ..Commit::default()
        })
        .unwrap();
    note(t, "phones", storage.phones());
    figures(storage, t, "results", &id);
    let of: HashSet<String> = [walk[0].clone()].into();
    show(
        t,
        "export attempts of a turf",
        csv(|w| export::export_attempts_of(storage, w, false, Some(&of))),
    );
    show(
        t,
        "export voters of a turf",
        csv(|w| export::export_voters_of(storage, w, Some(&of))),
    );
    let households: HashSet<String> = roster.households.iter().map(|h| h.id.0.clone()).collect();
    note(
        t,
        "household voters",
        storage
            .household_voters(&households)
            .map(|h| h.into_iter().collect::<BTreeMap<_, _>>()),
    );

    // Revoked.
    note(t, "revoke", people::revoke(storage, "avery", at(20)));
    note(t, "revoke again", people::revoke(storage, "avery", at(21)));
    note(
        t,
        "revoke nobody",
        people::revoke(storage, "nobody", at(21)),
    );
    note(
        t,
        "assign the revoked",
        people::assign(storage, walk[0], "avery", false),
    );
    note(t, "revoked user", storage.user("avery"));
    figures(storage, t, "revoked", &id);

    // Newer files: the whole county (new doors, new units of buildings already cut, new
    // voters at doors already cut), then a few voters gone, then half of them.
    note(
        t,
        "newer file",
        import_file(storage, &file("county.csv"), "county"),
    );
    rosters(storage, t, "whole county");
    note(t, "cut the newcomers", lists::cut_turfs(storage, None, 30));
    note(
        t,
        "call the newcomers",
        lists::cut_call_lists(storage, None, 40),
    );
    note(
        t,
        "fewer voters",
        import_file(storage, &file("fewer.csv"), "county"),
    );
    note(
        t,
        "half the file",
        import_file(storage, &file("half.csv"), "county"),
    );
    rosters(storage, t, "fewer");
    note(t, "cut again", lists::cut_turfs(storage, None, 30));
    figures(storage, t, "fewer", &id);
    out
}

#[test]
fn the_organizers_flow_gives_the_same_answers_on_postgres_as_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    for (name, drop_every) in [
        ("first.csv", 7),
        ("county.csv", 0),
        ("fewer.csv", 25),
        ("half.csv", 2),
    ] {
        fixtures::write_file(
            std::fs::File::create(dir.path().join(name)).unwrap(),
            Layout::Van,
            &Plan {
                rows: 400,
                seed: 19,
                messy: true,
                drop_every,
                coordinates: true,
            },
        )
        .unwrap();
    }
    let sqlite = SqliteStorage::open(dir.path().join("doorstep.db")).unwrap();
    let on_sqlite = organize(&sqlite, dir.path());
    let cluster = Cluster::start();
    let pg = PgStorage::connect(&cluster.database("flow")).unwrap();
    let on_postgres = organize(&pg, dir.path());
    assert_eq!(on_sqlite.len(), on_postgres.len());
    let differ: Vec<&str> = on_sqlite
        .iter()
        .zip(&on_postgres)
        .filter(|((_, a), (_, b))| a != b)
        .map(|((step, _), _)| step.as_str())
        .collect();
    for ((step, a), (_, b)) in on_sqlite.iter().zip(&on_postgres) {
        assert_eq!(
            a, b,
            "{step}: SQLite said the first, PostgreSQL the second (steps that differ: {differ:?})"
        );
    }
    // The flow did what it meant to: the checks above compare something.
    let said = |step: &str| {
        &on_sqlite
            .iter()
            .find(|(s, _)| s == step)
            .unwrap_or_else(|| panic!("no step {step}"))
            .1
    };
    assert!(
        said("import").contains("voters imported:"),
        "{}",
        said("import")
    );
    assert!(said("the same voters from another source").starts_with("error:"));
    assert!(
        said("half the file").contains("--allow-removals"),
        "{}",
        said("half the file")
    );
    assert!(said("assign another team's").contains("--move"));
    assert!(said("revoke").contains("1"), "{}", said("revoke"));
    assert!(said("results: export voters").lines().count() > 3);
    assert!(!said("fewer voters").contains("voters removed:               0"));
    assert!(
        said("cut the newcomers").contains("-w00008"),
        "{}",
        said("cut the newcomers")
    );
}
