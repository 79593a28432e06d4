//! Hot paths of the phone store against their physical floors, measured in the same run:
//!
//! - record an attempt vs a bare rusqlite insert + commit of as many bytes, same PRAGMAs;
//! - open the walk list of a 150-door turf holding 300 attempts vs a plain SELECT of its rows.
//!
//! Run with `cargo bench -p doorstep-core --bench store`; the ratios print at the end.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use criterion::{Criterion, criterion_group};
use rusqlite::{Connection, params};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Bytes one recorded attempt writes: its change chunk plus its projection row.
fn bytes_per_attempt(path: &std::path::Path) -> usize {
    let conn = Connection::open(path).unwrap();
    let change: i64 = conn
        .query_row(
            "SELECT length(data) FROM changes ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let row: i64 = conn
        .query_row(
            "SELECT length(id) + length(turf_id) + length(household_id) + length(voter_id)
                  + length(outcome) + length(answers) + length(canvasser) + length(device) + 40
             FROM attempts ORDER BY recorded_at DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (change + row) as usize
}

fn record(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let mut store = support::store(&path, 1, 300);
    let size = bytes_per_attempt(&path);
    eprintln!("one attempt writes ~{size} bytes (change chunk + projection row)");

    let base_path = dir.path().join("bare.db");
    let mut bare = Connection::open(&base_path).unwrap();
    let _: String = bare
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .unwrap();
    bare.pragma_update(None, "synchronous", "FULL").unwrap();
    bare.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        .unwrap();
    let payload = vec![0x5a_u8; size];

    let mut group = c.benchmark_group("record_attempt");
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("baseline_bare_insert_commit", |b| {
        b.iter(|| {
            let tx = bare.transaction().unwrap();
            tx.execute("INSERT INTO t (data) VALUES (?1)", params![payload])
                .unwrap();
            tx.commit().unwrap();
        })
    });
    let n = AtomicUsize::new(300);
    group.bench_function("doorstep_record_attempt", |b| {
        b.iter(|| {
            let i = n.fetch_add(1, Ordering::Relaxed);
            black_box(store.record_attempt(support::attempt("t00", i)).unwrap());
        })
    });
    group.finish();
}

fn walk_list(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let store = support::store(&path, 1, 300);
    let conn = Connection::open(&path).unwrap();
    let turf = "t00".into();
    assert_eq!(
        store.walk_list(&turf).unwrap().households.len(),
        support::DOORS
    );
    assert_eq!(
        support::plain_select(&conn, "t00").len(),
        support::DOORS * 2
    );

    let mut group = c.benchmark_group("walk_list");
    group.bench_function("baseline_plain_select", |b| {
        b.iter(|| black_box(support::plain_select(&conn, "t00")))
    });
    group.bench_function("doorstep_walk_list", |b| {
        b.iter(|| black_box(store.walk_list(&turf).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, record, walk_list);

/// Mean time of one bench from criterion's saved estimates, in nanoseconds.
fn mean_ns(group: &str, id: &str) -> Option<f64> {
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_owned());
    let path = format!("{target}/criterion/{group}/{id}/new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    for (group, base, ours, limit) in [
        (
            "record_attempt",
            "baseline_bare_insert_commit",
            "doorstep_record_attempt",
            1.5,
        ),
        (
            "walk_list",
            "baseline_plain_select",
            "doorstep_walk_list",
            2.0,
        ),
    ] {
        match (mean_ns(group, base), mean_ns(group, ours)) {
            (Some(b), Some(o)) => println!(
                "{group}: {:.1} us vs baseline {:.1} us = {:.2}x (target <= {limit}x){}",
                o / 1e3,
                b / 1e3,
                o / b,
                if o / b <= limit { "" } else { "  OVER TARGET" }
            ),
            _ => println!("{group}: no estimates found (filtered out?)"),
        }
    }
}
