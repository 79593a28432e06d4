//! `doorstep import`: every layout, every messy case, re-imports.

use super::*;
use doorstep_server::setup::import::SkipReason;

fn expected_skips(facts: &Facts) -> Vec<(SkipReason, u64)> {
    let mut v: Vec<(SkipReason, u64)> = facts
        .skipped
        .iter()
        .map(|(k, n)| {
            let reason = match *k {
                "removed" => SkipReason::RemovedOrDenied,
                "confidential" => SkipReason::Confidential,
                "no_address" => SkipReason::NoAddress,
                "malformed" => SkipReason::Malformed,
                other => panic!("unknown fixture skip {other}"),
            };
            (reason, *n)
        })
        .collect();
    v.sort();
    v
}

fn check_report(layout: Layout) {
    let db = Db::default();
    let (path, facts) = fixture(db.dir.path(), "voters.txt", layout, &Plan::default());
    let report = import(&db, &path, layout, "durham");
    assert_eq!(report.rows_read, facts.rows, "{layout:?}: rows read");
    assert_eq!(
        report.voters_imported,
        facts.voters.len() as u64,
        "{layout:?}: voters imported\n{report}"
    );
    assert_eq!(
        report.households, facts.households,
        "{layout:?}: households\n{report}"
    );
    let skipped: Vec<(SkipReason, u64)> = report.skipped.clone().into_iter().collect();
    let expected = expected_skips(&facts);
    assert_eq!(skipped, expected, "{layout:?}: skipped\n{report}");
    assert_eq!(report.malformed_lines, facts.malformed_lines, "{layout:?}");
}

#[test]
fn the_current_ncvoter_layout_is_read_by_its_header() {
    check_report(Layout::Ncvoter);
}

#[test]
fn the_earlier_ncvoter_layout_is_read_by_its_header() {
    check_report(Layout::NcvoterLegacy);
}

#[test]
fn a_mapped_csv_is_read() {
    check_report(Layout::Csv);
}

#[test]
fn a_van_export_is_read() {
    check_report(Layout::Van);
}

/// Hands out a file's bytes, then fails like a network drive that went away.
struct FailsAfter {
    bytes: Vec<u8>,
    at: usize,
}

impl std::io::Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.bytes.len() {
            return Err(std::io::Error::other("the drive went away"));
        }
        let n = buf.len().min(self.bytes.len() - self.at).min(4096);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn a_file_that_fails_to_read_part_way_stores_nothing() {
    use doorstep_server::storage::Organize;
    let db = Db::default();
    let (path, _) = fixture(
        db.dir.path(),
        "voters.txt",
        Layout::Ncvoter,
        &Plan {
            rows: 20_000,
            ..Plan::default()
        },
    );
    let bytes = std::fs::read(&path).unwrap();
    let half = bytes.len() / 2;
    let err = run_import(
        &db.storage,
        FailsAfter {
            bytes: bytes[..half].to_vec(),
            at: 0,
        },
        &options(Layout::Ncvoter),
        "durham",
        0,
        &|_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("the drive went away"), "{err}");
    assert!(err.to_string().contains("nothing was stored"), "{err}");
    assert!(db.storage.uncut_doors().unwrap().is_empty());
    // The whole file afterwards imports as if nothing had happened.
    let report = import(&db, &path, Layout::Ncvoter, "durham");
    assert_eq!(report.voters_removed, 0);
    assert!(report.voters_imported > 10_000);
}

#[test]
fn only_the_attributes_asked_for_are_kept() {
    use doorstep_server::storage::{Organize, Principal, Storage};
    let db = Db::default();
    let (path, _) = fixture(db.dir.path(), "voters.csv", Layout::Csv, &Plan::default());
    let mut opts = options(Layout::Csv);
    opts.keep = vec![Attribute::Party];
    run_import(
        &db.storage,
        std::fs::File::open(&path).unwrap(),
        &opts,
        "csv",
        0,
        &|_| {},
    )
    .unwrap();
    db.storage
        .apply_campaign(&doorstep_core::domain::Campaign::new("c", "C"))
        .unwrap();
    doorstep_server::setup::lists::cut_turfs(&db.storage, None, 50).unwrap();
    let grants = db
        .storage
        .grants(&Principal {
            user: "t".into(),
            role: doorstep_core::sync::Role::Admin,
            team: None,
        })
        .unwrap();
    let mut parties = 0;
    for turf in grants.turfs.keys() {
        let roster = db.storage.roster(turf).unwrap().unwrap();
        for h in &roster.households {
            assert!(h.location.is_none(), "location was not asked for");
        }
        for v in &roster.voters {
            assert!(v.age.is_none() && v.phone.is_none() && v.gender.is_none());
            assert!(v.precinct.is_none() && v.tags.is_empty());
            parties += usize::from(v.party.is_some());
        }
    }
    assert!(parties > 0, "party was asked for");
}

#[test]
fn a_failed_re_import_leaves_the_previous_voters_and_rosters() {
    use doorstep_server::storage::Organize;
    let db = Db::default();
    let plan = Plan {
        rows: 40_000,
        ..Plan::default()
    };
    let (path, facts) = fixture(db.dir.path(), "voters.txt", Layout::Ncvoter, &plan);
    import(&db, &path, Layout::Ncvoter, "durham");
    super::lists::with_campaign(&db);
    doorstep_server::setup::lists::cut_turfs(&db.storage, None, 60).unwrap();
    let rosters = super::lists::rosters(&db);

    // The same file again, failing three quarters in: past several committed transactions.
    let bytes = std::fs::read(&path).unwrap();
    let err = run_import(
        &db.storage,
        FailsAfter {
            bytes: bytes[..bytes.len() * 3 / 4].to_vec(),
            at: 0,
        },
        &options(Layout::Ncvoter),
        "durham",
        0,
        &|_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("nothing was stored"), "{err}");
    assert_eq!(
        super::lists::rosters(&db),
        rosters,
        "every roster as it was"
    );
    assert!(
        db.storage.uncut_doors().unwrap().is_empty(),
        "no voter lost its door"
    );
    let again = import(&db, &path, Layout::Ncvoter, "durham");
    assert_eq!(again.voters_imported, facts.voters.len() as u64);
    assert_eq!(again.voters_removed, 0);
    assert_eq!(again.rosters_updated, 0);
}

#[test]
fn a_cut_off_or_empty_newer_file_is_refused_unless_confirmed() {
    let db = Db::default();
    let (path, facts) = fixture(
        db.dir.path(),
        "voters.txt",
        Layout::Ncvoter,
        &Plan::default(),
    );
    import(&db, &path, Layout::Ncvoter, "durham");
    let bytes = std::fs::read(&path).unwrap();
    // Half the file, as a download cut off half way leaves it.
    let half = db.path("half.txt");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
    let try_import = |file: &Path, allow: bool| {
        let mut opts = options(Layout::Ncvoter);
        opts.allow_removals = allow;
        run_import(
            &db.storage,
            std::fs::File::open(file).unwrap(),
            &opts,
            "durham",
            0,
            &|_| {},
        )
    };
    let err = try_import(&half, false).unwrap_err().to_string();
    assert!(
        err.contains("--allow-removals") && err.contains("durham"),
        "{err}"
    );
    // Only the header: no voter at all, refused even when removals are allowed.
    let header = db.path("header.txt");
    let end = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    std::fs::write(&header, &bytes[..end]).unwrap();
    let err = try_import(&header, true).unwrap_err().to_string();
    assert!(err.contains("no voter"), "{err}");
    // Nothing changed: the whole file again removes nobody.
    assert_eq!(
        import(&db, &path, Layout::Ncvoter, "durham").voters_removed,
        0
    );
    // Confirmed, the half file replaces the source's voters.
    let report = try_import(&half, true).unwrap();
    assert!(report.voters_removed > 0);
    assert!(report.voters_imported < facts.voters.len() as u64);
}

#[test]
fn a_voter_another_source_holds_is_reported_as_such() {
    let db = Db::default();
    let (county, county_facts) = fixture(
        db.dir.path(),
        "county.txt",
        Layout::Ncvoter,
        &Plan::default(),
    );
    import(&db, &county, Layout::Ncvoter, "county");
    // A bigger file listing the same people first (same ids), and more.
    let dir = db.path("state");
    std::fs::create_dir(&dir).unwrap();
    let (state, state_facts) = fixture(
        &dir,
        "state.txt",
        Layout::Ncvoter,
        &Plan {
            rows: 800,
            ..Plan::default()
        },
    );
    let report = import(&db, &state, Layout::Ncvoter, "statewide");
    let shared = state_facts
        .voters
        .intersection(&county_facts.voters)
        .count() as u64;
    assert!(shared > 0);
    assert_eq!(
        report.skipped.get(&SkipReason::OtherSource),
        Some(&shared),
        "{report}"
    );
    assert_eq!(
        report.voters_imported,
        state_facts.voters.len() as u64 - shared
    );
    assert_eq!(report.skipped.get(&SkipReason::DuplicateVoterId), None);
    // Only people the county file holds: nothing to import, and the error says so.
    let mut opts = options(Layout::Ncvoter);
    opts.allow_removals = true;
    let err = run_import(
        &db.storage,
        std::fs::File::open(&county).unwrap(),
        &opts,
        "statewide",
        0,
        &|_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no voter"), "{err}");
}

#[test]
fn one_import_runs_at_a_time_and_a_killed_one_stops_blocking() {
    let db = Db::default();
    let (path, _) = fixture(
        db.dir.path(),
        "voters.txt",
        Layout::Ncvoter,
        &Plan::default(),
    );
    let now = doorstep_server::handlers::sync::now_ms();
    // Another process's import, staging right now.
    let conn = rusqlite::Connection::open(db.path("doorstep.db")).unwrap();
    conn.execute(
        "INSERT INTO imports (source, format, started_at, heartbeat_at) VALUES ('other', 'van', ?1, ?1)",
        [now],
    )
    .unwrap();
    let try_import = || {
        run_import(
            &db.storage,
            std::fs::File::open(&path).unwrap(),
            &options(Layout::Ncvoter),
            "durham",
            now,
            &|_| {},
        )
    };
    let err = try_import().unwrap_err().to_string();
    assert!(err.contains("'other' is running"), "{err}");
    // It was killed: its heartbeat stops, and a minute later it no longer blocks.
    conn.execute(
        "UPDATE imports SET heartbeat_at = ?1 WHERE source = 'other'",
        [now - 61_000],
    )
    .unwrap();
    assert!(try_import().unwrap().voters_imported > 0);
}
