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
use std::time::{Duration, Instant};

/// Bytes one recorded attempt writes: its row, with the encoded document entry it carries.
fn bytes_per_attempt(path: &std::path::Path) -> usize {
    let conn = Connection::open(path).unwrap();
    let row: i64 = conn
        .query_row(
            "SELECT length(id) + length(turf_id) + length(household_id) + length(voter_id)
                  + length(outcome) + length(answers) + length(canvasser) + length(device)
                  + coalesce(length(entry), 0) + 40
             FROM attempts ORDER BY recorded_at DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    row as usize
}

/// The baseline's database: one table, the same PRAGMAs as the phone store.
fn bare_db(path: &std::path::Path) -> Connection {
    let bare = Connection::open(path).unwrap();
    let _: String = bare
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .unwrap();
    bare.pragma_update(None, "synchronous", "FULL").unwrap();
    bare.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        .unwrap();
    bare
}

fn record(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    // Four turfs, recorded into in turn, so the thousands of iterations criterion runs grow
    // each turf by a realistic amount rather than one turf to tens of thousands of attempts.
    let mut store = support::store(&path, 4, 300);
    let size = bytes_per_attempt(&path);
    eprintln!("one attempt writes ~{size} bytes (its row with its document entry)");
    let mut bare = bare_db(&dir.path().join("bare.db"));
    let payload = vec![0x5a_u8; size];

    let mut group = c.benchmark_group("record_attempt");
    group.measurement_time(Duration::from_secs(5));
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
            let turf = ["t00", "t01", "t02", "t03"][i % 4];
            black_box(store.record_attempt(support::attempt(turf, i)).unwrap());
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

/// Runs `a` and `b` in alternating blocks and returns (ratio, a, b): the median time per call of
/// each side over the rounds, and their ratio. The disk's speed drifts over seconds on a shared
/// machine; alternating blocks exposes both sides to the same drift, which two criterion runs
/// one after the other do not, and medians keep the odd slow round (a checkpoint, a neighbour's
/// burst of I/O) from deciding the figure.
fn interleaved_ratio(
    rounds: usize,
    block: usize,
    mut a: impl FnMut(),
    mut b: impl FnMut(),
) -> (f64, f64, f64) {
    // Warm both sides up first (caches, and the WAL grown to its working size).
    for _ in 0..block.max(200) {
        a();
        b();
    }
    let (mut ta, mut tb) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..block {
            a();
        }
        ta.push(start.elapsed().as_secs_f64() / block as f64 * 1e6);
        let start = Instant::now();
        for _ in 0..block {
            b();
        }
        tb.push(start.elapsed().as_secs_f64() / block as f64 * 1e6);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (ma, mb) = (median(&mut ta), median(&mut tb));
    (mb / ma, ma, mb)
}

fn report(name: &str, (ratio, base_us, ours_us): (f64, f64, f64), limit: f64) {
    println!(
        "{name}: median {ours_us:.1} us vs baseline {base_us:.1} us = {ratio:.2}x \
         (target <= {limit}x){}",
        if ratio <= limit { "" } else { "  OVER TARGET" }
    );
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    println!("\ninterleaved ratios (the figures to report):");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let mut store = support::store(&path, 4, 300);
    let size = bytes_per_attempt(&path);
    let mut bare = bare_db(&dir.path().join("bare.db"));
    let payload = vec![0x5a_u8; size];
    let mut n = 300;
    // Long phases: a commit's fsync also flushes whatever the other side left in the device's
    // queue, so short alternating blocks would charge each side for the other's I/O.
    let record = interleaved_ratio(
        16,
        150,
        || {
            let tx = bare.transaction().unwrap();
            tx.execute("INSERT INTO t (data) VALUES (?1)", params![payload])
                .unwrap();
            tx.commit().unwrap();
        },
        || {
            n += 1;
            let turf = ["t00", "t01", "t02", "t03"][n % 4];
            black_box(store.record_attempt(support::attempt(turf, n)).unwrap());
        },
    );
    report(
        "record an attempt (4 turfs of 300 to 1,000 attempts)",
        record,
        1.5,
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let store = support::store(&path, 1, 300);
    let conn = Connection::open(&path).unwrap();
    let turf = "t00".into();
    let walk = interleaved_ratio(
        30,
        50,
        || {
            black_box(support::plain_select(&conn, "t00"));
        },
        || {
            black_box(store.walk_list(&turf).unwrap());
        },
    );
    report("open a walk list (150 doors, 300 attempts)", walk, 2.0);
}
