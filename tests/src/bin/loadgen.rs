//! The load generator: whole-system figures for the README's Performance section, each next to
//! a baseline measured in the same run on the same machine.
//!
//! ```text
//! cargo build --release -p doorstep-server -p doorstep-tests --bin loadgen
//! target/release/loadgen [--phones 1000] [--rounds 4] [--seconds 5] [--threads 4]
//! target/release/loadgen --scaleout 1 [--phones 1000] [--rounds 4]
//! ```
//!
//! `--scaleout 1` measures ingest only: two servers on one PostgreSQL database (a throwaway
//! cluster), phones alternating between them, against one server on SQLite and one server on
//! the same PostgreSQL setup.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use automerge::AutoCommit;
use automerge::sync::{Message, State, SyncDoc};
use doorstep_core::DocId;
use doorstep_server::auth::issue_token;
use doorstep_server::demo::{self, DemoUser, Plan};
use doorstep_server::storage::{NewUser, SqliteStorage, Storage};
use doorstep_tests::postgres::Cluster;
use doorstep_tests::{Backend, Http, Phone, ServerProcess, server_doc};
use std::time::{Duration, Instant};

struct Args {
    phones: usize,
    rounds: usize,
    seconds: u64,
    threads: usize,
    scaleout: bool,
}

fn args() -> Args {
    let mut a = Args {
        phones: 1_000,
        rounds: 4,
        seconds: 5,
        threads: 4,
        scaleout: false,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse().ok());
        match (pair[0].as_str(), value) {
            ("--phones", Some(v)) => a.phones = v,
            ("--rounds", Some(v)) => a.rounds = v,
            ("--seconds", Some(v)) => a.seconds = v as u64,
            ("--threads", Some(v)) => a.threads = v,
            ("--scaleout", Some(v)) => a.scaleout = v != 0,
            _ => {
                eprintln!(
                    "usage: loadgen [--phones N] [--rounds N] [--seconds N] [--threads N] [--scaleout 1]"
                );
                std::process::exit(2);
            }
        }
    }
    a
}

/// The campaign every measure runs on: ten teams, a turf of 20 doors per phone.
fn plan(args: &Args) -> Plan {
    let teams = 10;
    let per_team = args.phones.div_ceil(teams).max(10);
    Plan {
        teams,
        canvassers_per_team: per_team,
        turfs_per_team: per_team,
        doors: 20,
        turfs_per_canvasser: 1,
        seed: 1,
    }
}

fn main() {
    let args = args();
    if args.scaleout {
        scaleout(&args);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let storage = SqliteStorage::open(&db).unwrap();
    let plan = plan(&args);
    eprintln!("seeding {} turfs ...", plan.teams * plan.turfs_per_team);
    let users = demo::seed(&storage, &plan, 0).unwrap();
    // A canvasser holding ten turfs, for the heartbeat.
    storage
        .add_user(&NewUser {
            id: "bench-ten".into(),
            name: "Ten turfs".into(),
            role: doorstep_core::sync::Role::Canvasser,
            team: Some("team-1".into()),
        })
        .unwrap();
    for i in 0..10 {
        storage
            .assign(&format!("t01-{:03}", i + 1), "bench-ten")
            .unwrap();
    }
    let ten = DemoUser {
        id: "bench-ten".into(),
        role: doorstep_core::sync::Role::Canvasser,
        team: Some("team-1".into()),
        turfs: Vec::new(),
        token: issue_token(&storage, "bench-ten", 0).unwrap(),
    };
    drop(storage);
    let server = ServerProcess::start(&db);
    let http = Http::default();
    println!("| measure | Doorstep | baseline (same run) | ratio |");
    println!("| --- | --- | --- | --- |");

    // 1. A heartbeat: nothing new, ten turfs and the campaign.
    let mut phone = Phone::new(&ten);
    phone.sync(&server.url).unwrap();
    phone.sync(&server.url).unwrap();
    let request = phone.store.sync_request().unwrap();
    let response = http.send(&server.url, &ten.token.secret, &request).unwrap();
    let docs = phone.store.documents().unwrap();
    let ours = (request.len() + response.len()) as f64 / docs.len() as f64;
    let storage = server.storage();
    let mut theirs = 0usize;
    for id in &docs {
        let mut a = AutoCommit::load(&phone.store.export_changes(id, &[]).unwrap()).unwrap();
        let mut b = server_doc(&storage, &id.to_string());
        let (mut sa, mut sb) = (State::new(), State::new());
        exchange(&mut a, &mut b, &mut sa, &mut sb);
        // Persisted and reloaded, as a phone and a server would between syncs.
        let mut sa = State::decode(&sa.encode()).unwrap();
        let mut sb = State::decode(&sb.encode()).unwrap();
        theirs += exchange(&mut a, &mut b, &mut sa, &mut sb);
    }
    let theirs = theirs as f64 / docs.len() as f64;
    println!(
        "| heartbeat, nothing new, {} documents: bytes per document (request + response) | {ours:.1} | Automerge sync protocol, saved state: {theirs:.1} | {:.2}x |",
        docs.len(),
        ours / theirs
    );

    // 2. Heartbeats per second against a trivial endpoint on the same server stack. `wrk`
    // (Debian package) is the client when installed: with a heavier client on the same two
    // cores, the client's own cost would dominate both figures.
    let window = Duration::from_secs(args.seconds);
    let url = server.url.clone();
    let (client, trivial, heartbeat) = if let Some(wrk) = Wrk::find() {
        let body = dir.path().join("heartbeat.bin");
        std::fs::write(&body, &request).unwrap();
        let trivial = wrk.run(&format!("{url}/healthz"), None, window);
        let heartbeat = wrk.run(
            &format!("{url}/v1/sync"),
            Some((&body, &ten.token.secret)),
            window,
        );
        (
            "wrk, 2 threads, 8 connections".to_string(),
            trivial,
            heartbeat,
        )
    } else {
        let trivial = hammer(args.threads, window, || {
            let agent = ureq::Agent::new_with_defaults();
            let url = format!("{url}/healthz");
            move || {
                agent
                    .get(&url)
                    .call()
                    .and_then(|mut r| r.body_mut().read_to_string())
                    .is_ok()
            }
        });
        let token = ten.token.secret.clone();
        let heartbeat = hammer(args.threads, window, || {
            let http = Http::default();
            let (url, token, request) = (url.clone(), token.clone(), request.clone());
            move || http.send(&url, &token, &request).is_ok()
        });
        (
            format!(
                "ureq, {} threads (install wrk for a lighter client)",
                args.threads
            ),
            trivial,
            heartbeat,
        )
    };
    println!(
        "| heartbeat requests per second ({client}) | {heartbeat:.0} | GET /healthz: {trivial:.0} | {:.2}x |",
        heartbeat / trivial
    );

    // 3. Upload: ten new attempts in one sync.
    let me = users.iter().find(|u| u.id == "canvasser-1-1").unwrap();
    let mut phone = Phone::new(me);
    phone.sync(&server.url).unwrap();
    let turf_doc = DocId::turf(&me.turfs[0].as_str().into());
    let before = phone.store.heads(&turf_doc).unwrap();
    let mut rng = fastrand::Rng::with_seed(3);
    for i in 0..10 {
        phone.knock(&mut rng, 1_000 + i).unwrap();
    }
    let new_changes = phone.store.export_changes(&turf_doc, &before).unwrap();
    let mut base_phone = server_doc(&storage, &turf_doc.to_string());
    let mut base_server = base_phone.fork();
    let (mut sa, mut sb) = (State::new(), State::new());
    exchange(&mut base_phone, &mut base_server, &mut sa, &mut sb);
    let (mut sa, mut sb) = (
        State::decode(&sa.encode()).unwrap(),
        State::decode(&sb.encode()).unwrap(),
    );
    base_phone.load_incremental(&new_changes).unwrap();
    let theirs = exchange(&mut base_phone, &mut base_server, &mut sa, &mut sb) as f64 / 10.0;
    let mut bytes = 0;
    let token = me.token.secret.clone();
    phone
        .store
        .sync_with(|body| {
            bytes += body.len();
            let r = http.send(&server.url, &token, &body)?;
            bytes += r.len();
            Ok::<_, doorstep_tests::TransportError>(r)
        })
        .unwrap();
    let ours = bytes as f64 / 10.0;
    println!(
        "| upload, batch of 10 attempts: bytes per attempt (request + response) | {ours:.1} | Automerge sync protocol: {theirs:.1} | {:.2}x |",
        ours / theirs
    );

    // 4. Ingest from many phones at once.
    let ingest = ingest(&users, &[&server], &args, &storage, 10);
    println!(
        "| ingest: attempts per second, {} phones syncing 10 each, {} rounds | {:.0} | goal 2,000 (Obama 2012 election-day average ~160) | {:.1}x goal |",
        ingest.phones,
        args.rounds,
        ingest.rate,
        ingest.rate / 2_000.0
    );
    println!(
        "| ingest: sync latency p50 / p99 | {:.1} ms / {:.1} ms | | |",
        ingest.p50, ingest.p99
    );
}

/// What an ingest run measured.
struct Ingest {
    phones: usize,
    /// Attempts stored per second of syncing.
    rate: f64,
    /// Sync latency percentiles, ms.
    p50: f64,
    p99: f64,
    /// CPU seconds per 1,000 attempts while syncing: (servers, database, load generator).
    cpu: (f64, f64, f64),
}

/// CPU seconds (user + system) a process has used; 0 when it is gone.
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and
    // 13th, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|t| t.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    ticks as f64 / 100.0
}

/// CPU seconds of the servers, of every PostgreSQL process, and of this load generator.
fn cpu_now(servers: &[u32]) -> (f64, f64, f64) {
    let servers = servers.iter().map(|p| cpu_seconds(&p.to_string())).sum();
    let database = std::fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .filter(|e| {
                    std::fs::read_to_string(e.path().join("comm"))
                        .is_ok_and(|c| c.trim() == "postgres")
                })
                .map(|e| cpu_seconds(&e.file_name().to_string_lossy()))
                .sum()
        })
        .unwrap_or(0.0);
    (servers, database, cpu_seconds("self"))
}

/// Phones (one per canvasser, up to `--phones`) download their turfs, then for each round
/// record ten attempts each and sync all at once, phone `i` in round `r` through
/// `urls[(i + r) % len]`. Checks that the storage holds every attempt once (`earlier` were
/// there before).
fn ingest(
    users: &[DemoUser],
    servers: &[&ServerProcess],
    args: &Args,
    storage: &dyn Storage,
    earlier: usize,
) -> Ingest {
    let urls: Vec<&str> = servers.iter().map(|s| s.url.as_str()).collect();
    let pids: Vec<u32> = servers.iter().map(|s| s.pid()).collect();
    eprintln!(
        "{} phones download their turfs through {} server(s) ...",
        args.phones,
        urls.len()
    );
    let canvassers: Vec<&DemoUser> = users
        .iter()
        .filter(|u| u.id.starts_with("canvasser"))
        .take(args.phones)
        .collect();
    let mut phones: Vec<Phone> = canvassers.iter().map(|u| Phone::in_memory(u)).collect();
    let workers = 64.min(phones.len());
    let chunk = phones.len().div_ceil(workers);
    let through = |i: usize, round: usize| urls[(i + round) % urls.len()];
    std::thread::scope(|s| {
        for (g, group) in phones.chunks_mut(chunk).enumerate() {
            s.spawn(move || {
                for (k, p) in group.iter_mut().enumerate() {
                    p.sync(through(g * chunk + k, 0)).unwrap();
                }
            });
        }
    });
    let mut latencies: Vec<Duration> = Vec::new();
    let mut busy = Duration::ZERO;
    let mut attempts = 0usize;
    let mut cpu = (0.0, 0.0, 0.0);
    for round in 0..args.rounds {
        std::thread::scope(|s| {
            for (g, group) in phones.chunks_mut(chunk).enumerate() {
                s.spawn(move || {
                    let mut rng = fastrand::Rng::with_seed((round * 1000 + g) as u64);
                    for p in group {
                        for i in 0..10 {
                            p.knock(&mut rng, (round * 100 + i) as i64).unwrap();
                        }
                    }
                });
            }
        });
        attempts += phones.len() * 10;
        let started = Instant::now();
        let cpu_before = cpu_now(&pids);
        let lat: Vec<Duration> = std::thread::scope(|s| {
            let handles: Vec<_> = phones
                .chunks_mut(chunk)
                .enumerate()
                .map(|(g, group)| {
                    s.spawn(move || {
                        group
                            .iter_mut()
                            .enumerate()
                            .map(|(k, p)| {
                                let t = Instant::now();
                                p.sync(through(g * chunk + k, round + 1)).unwrap();
                                t.elapsed()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        busy += started.elapsed();
        let cpu_after = cpu_now(&pids);
        cpu.0 += cpu_after.0 - cpu_before.0;
        cpu.1 += cpu_after.1 - cpu_before.1;
        cpu.2 += cpu_after.2 - cpu_before.2;
        latencies.extend(lat);
    }
    latencies.sort();
    let per_1000 = 1000.0 / attempts as f64;
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64()
            * 1e3
    };
    let stored = storage.results(None).unwrap().len();
    assert_eq!(stored, attempts + earlier, "every attempt stored once");
    Ingest {
        phones: phones.len(),
        rate: attempts as f64 / busy.as_secs_f64(),
        p50: pct(0.5),
        p99: pct(0.99),
        cpu: (cpu.0 * per_1000, cpu.1 * per_1000, cpu.2 * per_1000),
    }
}

/// Ingest through two servers on one PostgreSQL database, against one server on SQLite (the
/// baseline) and one on PostgreSQL, in the same run.
fn scaleout(args: &Args) {
    let dir = tempfile::tempdir().unwrap();
    // Commits flushed to disk, as SQLite's are (`synchronous=FULL`).
    let cluster = Cluster::start_durable();
    let plan = plan(args);
    let setups: [(&str, Backend, usize); 3] = [
        (
            "1 server, SQLite",
            Backend::Sqlite(dir.path().join("bench.db")),
            1,
        ),
        (
            "1 server, PostgreSQL",
            Backend::Postgres(cluster.database("one")),
            1,
        ),
        (
            "2 servers, one PostgreSQL",
            Backend::Postgres(cluster.database("two")),
            2,
        ),
    ];
    let mut measured = Vec::new();
    for (name, backend, servers) in &setups {
        eprintln!(
            "{name}: seeding {} turfs ...",
            plan.teams * plan.turfs_per_team
        );
        let users = backend.seed(&plan);
        let fleet: Vec<ServerProcess> = (0..*servers)
            .map(|_| ServerProcess::on(backend, &[]))
            .collect();
        let servers: Vec<&ServerProcess> = fleet.iter().collect();
        let storage = backend.open();
        measured.push((name, ingest(&users, &servers, args, &*storage, 0)));
    }
    let base = measured[0].1.rate;
    println!(
        "| ingest, {} phones syncing 10 attempts each, {} rounds | attempts per second | ratio to 1 server on SQLite | sync latency p50 / p99 | CPU s per 1,000 attempts: servers / PostgreSQL / load generator |",
        measured[0].1.phones, args.rounds
    );
    println!("| --- | --- | --- | --- | --- |");
    for (name, m) in &measured {
        println!(
            "| {name} | {:.0} | {:.2}x | {:.1} ms / {:.1} ms | {:.2} / {:.2} / {:.2} |",
            m.rate,
            m.rate / base,
            m.p50,
            m.p99,
            m.cpu.0,
            m.cpu.1,
            m.cpu.2
        );
    }
}

/// Runs an Automerge sync exchange until both sides are quiet; returns the bytes sent.
fn exchange(a: &mut AutoCommit, b: &mut AutoCommit, sa: &mut State, sb: &mut State) -> usize {
    let mut bytes = 0;
    for _ in 0..20 {
        let mut quiet = true;
        if let Some(m) = a.sync().generate_sync_message(sa) {
            let m = m.encode();
            bytes += m.len();
            b.sync()
                .receive_sync_message(sb, Message::decode(&m).unwrap())
                .unwrap();
            quiet = false;
        }
        if let Some(m) = b.sync().generate_sync_message(sb) {
            let m = m.encode();
            bytes += m.len();
            a.sync()
                .receive_sync_message(sa, Message::decode(&m).unwrap())
                .unwrap();
            quiet = false;
        }
        if quiet {
            break;
        }
    }
    bytes
}

/// Requests per second from `threads` clients over `window`.
fn hammer<F: FnMut() -> bool + Send>(
    threads: usize,
    window: Duration,
    make: impl Fn() -> F,
) -> f64 {
    let start = Instant::now();
    let total: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let mut once = make();
                s.spawn(move || {
                    let mut n = 0;
                    while start.elapsed() < window {
                        if once() {
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total as f64 / start.elapsed().as_secs_f64()
}

/// The `wrk` HTTP benchmarking tool.
struct Wrk(std::path::PathBuf);

impl Wrk {
    fn find() -> Option<Self> {
        std::env::var_os("PATH")?
            .to_str()?
            .split(':')
            .map(|d| std::path::Path::new(d).join("wrk"))
            .find(|p| p.exists())
            .map(Self)
    }

    /// Requests per second; panics if any answer was not a success.
    fn run(&self, url: &str, post: Option<(&std::path::Path, &str)>, window: Duration) -> f64 {
        let mut cmd = std::process::Command::new(&self.0);
        cmd.args(["-t2", "-c8", &format!("-d{}s", window.as_secs()), url]);
        if let Some((body, token)) = post {
            let script = body.with_extension("lua");
            std::fs::write(
                &script,
                format!(
                    "wrk.method = \"POST\"\n\
                     wrk.headers[\"Authorization\"] = \"Bearer {token}\"\n\
                     wrk.headers[\"Content-Type\"] = \"application/vnd.doorstep.sync\"\n\
                     local f = io.open(\"{}\", \"rb\")\n\
                     wrk.body = f:read(\"*all\")\n\
                     f:close()\n",
                    body.display()
                ),
            )
            .unwrap();
            cmd.arg("-s").arg(script);
        }
        let out = cmd.output().expect("run wrk");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains("Non-2xx"), "wrk saw errors:\n{text}");
        text.lines()
            .find_map(|l| l.strip_prefix("Requests/sec:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no rate in wrk's output:\n{text}"))
    }
}
