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
    let db = Db::new();
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
