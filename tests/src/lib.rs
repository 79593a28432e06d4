//! The end-to-end harness: a real `doorstep serve` process on port 0 with its own SQLite file
//! or PostgreSQL database, phones that are real stores in temporary directories, and transports (plain HTTP, and one
//! that drops, duplicates, replays and truncates).

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod postgres;

use doorstep_core::domain::{Answer, Target, TurfId};
use doorstep_core::{NewAttempt, Store, SyncError, SyncReport};
use doorstep_server::demo::{DemoUser, Plan};
use doorstep_server::storage::{Dashboard, PgStorage, SqliteStorage, Storage};
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The `doorstep` binary built next to this test.
pub fn server_binary() -> PathBuf {
    // Tests live in target/<profile>/deps, binaries such as the load generator beside it.
    let exe = std::env::current_exe().expect("test executable path");
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("doorstep"))
        .collect();
    candidates
        .iter()
        .find(|bin| bin.exists())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "{} is missing: build it with `cargo build -p doorstep-server` (same profile)",
                candidates[0].display()
            )
        })
}

/// Where a server keeps its data: the suites that must hold on both backends take one.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database's URL.
    Postgres(String),
}

impl Backend {
    /// The `doorstep` arguments that select it.
    pub fn args(&self) -> [OsString; 2] {
        match self {
            Self::Sqlite(path) => ["--db".into(), path.into()],
            Self::Postgres(url) => ["--postgres".into(), url.into()],
        }
    }

    /// Its storage, opened (as another process would).
    pub fn open(&self) -> Box<dyn Dashboard> {
        match self {
            Self::Sqlite(path) => Box::new(SqliteStorage::open(path).expect("open SQLite")),
            Self::Postgres(url) => {
                Box::new(PgStorage::connect(url).expect("connect to PostgreSQL"))
            }
        }
    }

    /// Seeds it with a demo campaign; returns its users and tokens.
    pub fn seed(&self, plan: &Plan) -> Vec<DemoUser> {
        doorstep_server::demo::seed(&*self.open(), plan, 0).expect("seed")
    }
}

/// What names a backend in the helpers: a SQLite file's path, or a [`Backend`].
pub trait AsBackend {
    /// The backend.
    fn backend(&self) -> Backend;
}

impl AsBackend for Path {
    fn backend(&self) -> Backend {
        Backend::Sqlite(self.to_owned())
    }
}

impl AsBackend for PathBuf {
    fn backend(&self) -> Backend {
        Backend::Sqlite(self.clone())
    }
}

impl AsBackend for Backend {
    fn backend(&self) -> Backend {
        self.clone()
    }
}

impl<T: AsBackend + ?Sized> AsBackend for &T {
    fn backend(&self) -> Backend {
        (**self).backend()
    }
}

/// A running `doorstep serve` process.
pub struct ServerProcess {
    /// Its base URL.
    pub url: String,
    /// Its database (SQLite; empty on PostgreSQL).
    pub db: PathBuf,
    child: Child,
}

impl ServerProcess {
    /// Starts a server on a free port over `db`.
    pub fn start(db: &Path) -> Self {
        Self::start_with(db, &[])
    }

    /// Starts a server with extra `serve` arguments.
    pub fn start_with(db: &Path, extra: &[&str]) -> Self {
        Self::on(&Backend::Sqlite(db.to_owned()), extra)
    }

    /// Starts a server on either backend, with extra `serve` arguments.
    pub fn on(backend: &Backend, extra: &[&str]) -> Self {
        let mut child = Command::new(server_binary())
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(backend.args())
            .args(extra)
            .env("RUST_LOG", "warn,automerge=off")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start doorstep serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("server printed its address")
                .expect("read server output");
            if let Some((_, url)) = line.split_once(" on ") {
                break url.trim().to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            url,
            db: match backend {
                Backend::Sqlite(path) => path.clone(),
                Backend::Postgres(_) => PathBuf::new(),
            },
            child,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its `/metrics` page.
    pub fn metrics(&self) -> String {
        ureq::get(format!("{}/metrics", self.url))
            .call()
            .expect("GET /metrics")
            .body_mut()
            .read_to_string()
            .expect("the metrics as text")
    }

    /// Kills the process outright (SIGKILL): no chance to finish anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the process to stop (SIGTERM) and waits for it.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for server")
    }

    /// Asks the process to stop (SIGTERM) and waits up to `limit` for it; `None` (and the
    /// process killed) if it had not stopped by then.
    pub fn terminate_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        None
    }

    /// The server's storage, opened beside it (as another process would).
    pub fn storage(&self) -> SqliteStorage {
        SqliteStorage::open(&self.db).expect("open server database")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn run_doorstep(db: &(impl AsBackend + ?Sized), args: &[&str]) -> std::process::Output {
    Command::new(server_binary())
        .args(args)
        .args(db.backend().args())
        .env("RUST_LOG", "warn,automerge=off")
        .output()
        .expect("run doorstep")
}

/// Runs a `doorstep` command on `db`; returns its standard output, or panics with both
/// outputs when it fails.
pub fn doorstep(db: &(impl AsBackend + ?Sized), args: &[&str]) -> String {
    let out = run_doorstep(db, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "doorstep {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs a `doorstep` command that must fail; returns its standard error.
pub fn doorstep_fails(db: &(impl AsBackend + ?Sized), args: &[&str]) -> String {
    let out = run_doorstep(db, args);
    assert!(
        !out.status.success(),
        "doorstep {args:?} should have failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Seeds a fresh server database with a demo campaign; returns its users and tokens.
pub fn seed(db: &Path, plan: &Plan) -> Vec<DemoUser> {
    let storage = SqliteStorage::open(db).expect("create server database");
    doorstep_server::demo::seed(&storage, plan, 0).expect("seed")
}

/// What went wrong carrying a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The server answered with an error status.
    Status {
        /// HTTP status.
        status: u16,
        /// The error's `code`.
        code: String,
        /// The document at fault, if named.
        doc: Option<String>,
    },
    /// No answer.
    Network(String),
    /// The fault injector ate it.
    Injected(&'static str),
}

/// A plain HTTP client for `/v1/sync`.
#[derive(Clone)]
pub struct Http {
    agent: ureq::Agent,
}

impl Default for Http {
    fn default() -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .new_agent();
        Self { agent }
    }
}

impl Http {
    /// POSTs `body` to `{url}/v1/sync` with `token`.
    pub fn send(&self, url: &str, token: &str, body: &[u8]) -> Result<Vec<u8>, TransportError> {
        let mut response = self
            .agent
            .post(format!("{url}/v1/sync"))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/vnd.doorstep.sync")
            .send(body)
            .map_err(|e| TransportError::Network(e.to_string()))?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .map_err(|e| TransportError::Network(e.to_string()))?;
        if status == 200 {
            return Ok(bytes);
        }
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        Err(TransportError::Status {
            status,
            code: json["code"].as_str().unwrap_or_default().to_owned(),
            doc: json["doc"].as_str().map(str::to_owned),
        })
    }
}

/// How often each fault happens, out of 100 sends.
#[derive(Debug, Clone, Copy)]
pub struct FaultRates {
    /// The request never arrives.
    pub drop_request: u32,
    /// The server handles it but the answer is lost.
    pub drop_response: u32,
    /// The request arrives twice.
    pub duplicate: u32,
    /// An earlier request of this phone arrives again first (reordering).
    pub replay: u32,
    /// The request is cut off.
    pub truncate_request: u32,
    /// The answer is cut off.
    pub truncate_response: u32,
}

impl FaultRates {
    /// A bad afternoon.
    pub fn flaky() -> Self {
        Self {
            drop_request: 10,
            drop_response: 10,
            duplicate: 10,
            replay: 10,
            truncate_request: 5,
            truncate_response: 5,
        }
    }
}

/// A transport that misbehaves at random, reproducibly.
pub struct Faulty {
    http: Http,
    rng: fastrand::Rng,
    rates: FaultRates,
    sent: Vec<Vec<u8>>,
    /// Faults injected so far, by kind.
    pub injected: std::collections::BTreeMap<&'static str, usize>,
}

impl Faulty {
    /// A faulty transport seeded with `seed`.
    pub fn new(seed: u64, rates: FaultRates) -> Self {
        Self {
            http: Http::default(),
            rng: fastrand::Rng::with_seed(seed),
            rates,
            sent: Vec::new(),
            injected: Default::default(),
        }
    }

    fn roll(&mut self, rate: u32, kind: &'static str) -> bool {
        let hit = self.rng.u32(0..100) < rate;
        if hit {
            *self.injected.entry(kind).or_default() += 1;
        }
        hit
    }

    /// Sends like [`Http::send`], with faults.
    pub fn send(
        &mut self,
        url: &str,
        token: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, TransportError> {
        if !self.sent.is_empty() && self.roll(self.rates.replay, "replay") {
            let old = self.sent[self.rng.usize(..self.sent.len())].clone();
            let _ = self.http.send(url, token, &old);
        }
        self.sent.push(body.clone());
        if self.sent.len() > 8 {
            self.sent.remove(0);
        }
        if self.roll(self.rates.drop_request, "drop request") {
            return Err(TransportError::Injected("request dropped"));
        }
        if self.roll(self.rates.truncate_request, "truncate request") {
            let cut = self.rng.usize(..body.len().max(1));
            let _ = self.http.send(url, token, &body[..cut]);
            return Err(TransportError::Injected("request truncated"));
        }
        if self.roll(self.rates.duplicate, "duplicate") {
            let _ = self.http.send(url, token, &body);
        }
        let response = self.http.send(url, token, &body)?;
        if self.roll(self.rates.drop_response, "drop response") {
            return Err(TransportError::Injected("response dropped"));
        }
        if self.roll(self.rates.truncate_response, "truncate response") {
            let cut = self.rng.usize(..response.len().max(1));
            return Ok(response[..cut].to_vec());
        }
        Ok(response)
    }
}

/// A canvasser's phone: a real store in its own directory.
pub struct Phone {
    /// The store.
    pub store: Store,
    /// The user's id.
    pub user: String,
    /// The token.
    pub token: String,
    /// Where the store lives.
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Phone {
    /// A new phone for a user.
    pub fn new(user: &DemoUser) -> Self {
        Self::with_token(&user.id, &user.token.secret)
    }

    /// A new phone for a user whose token was printed by `doorstep canvasser add`.
    pub fn with_token(user: &str, token: &str) -> Self {
        let dir = tempfile::tempdir().expect("phone dir");
        let path = dir.path().join("phone.db");
        let store = Store::open(&path).expect("open phone store");
        Self {
            store,
            user: user.to_owned(),
            token: token.to_owned(),
            path,
            _dir: dir,
        }
    }

    /// A phone whose store lives in memory (for load generation: no disk in the way).
    pub fn in_memory(user: &DemoUser) -> Self {
        let dir = tempfile::tempdir().expect("phone dir");
        Self {
            store: Store::open_in_memory().expect("open phone store"),
            user: user.id.clone(),
            token: user.token.secret.clone(),
            path: dir.path().join("unused.db"),
            _dir: dir,
        }
    }

    /// Closes and reopens the store, as an app restart does.
    pub fn restart(&mut self) {
        let placeholder = Store::open_in_memory().expect("placeholder store");
        drop(std::mem::replace(&mut self.store, placeholder));
        self.store = Store::open(&self.path).expect("reopen phone store");
    }

    /// Syncs over plain HTTP until done.
    pub fn sync(&mut self, url: &str) -> Result<SyncReport, SyncError<TransportError>> {
        let http = Http::default();
        let token = self.token.clone();
        self.store.sync_with(|body| http.send(url, &token, &body))
    }

    /// Syncs like an app does: when the server refuses a document's changes, holds that
    /// document back and syncs the rest. Returns the refusals met.
    pub fn sync_holding_back(
        &mut self,
        url: &str,
    ) -> Result<Vec<(String, String)>, SyncError<TransportError>> {
        let http = Http::default();
        let token = self.token.clone();
        let report = self.store.sync_holding_back(
            |body| http.send(url, &token, &body),
            |e| match e {
                TransportError::Status {
                    code,
                    doc: Some(doc),
                    ..
                } => Some((doc.clone(), code.clone())),
                _ => None,
            },
        )?;
        Ok(report
            .held_back
            .into_iter()
            .map(|(id, reason)| (id.to_string(), reason))
            .collect())
    }

    /// Syncs over a faulty transport.
    pub fn sync_faulty(
        &mut self,
        url: &str,
        faults: &mut Faulty,
    ) -> Result<SyncReport, SyncError<TransportError>> {
        let token = self.token.clone();
        self.store.sync_with(|body| faults.send(url, &token, body))
    }

    /// The turfs this phone holds.
    pub fn turfs(&self) -> Vec<TurfId> {
        self.store
            .turfs()
            .expect("turfs")
            .into_iter()
            .map(|t| t.turf)
            .collect()
    }

    /// Records a random knock in one of its turfs; returns the attempt's id.
    pub fn knock(&mut self, rng: &mut fastrand::Rng, at: i64) -> Option<String> {
        let turfs = self.turfs();
        if turfs.is_empty() {
            return None;
        }
        let turf = turfs[rng.usize(..turfs.len())].clone();
        let walk = self.store.walk_list(&turf).expect("walk list");
        let door = &walk.households[rng.usize(..walk.households.len())];
        let attempt = if door.voters.is_empty() || rng.bool() {
            NewAttempt {
                turf,
                target: Target::Household(door.id.clone()),
                outcome: "not_home".into(),
                answers: vec![],
                note: None,
                recorded_at: at,
                location: None,
            }
        } else {
            let voter = &door.voters[rng.usize(..door.voters.len())];
            NewAttempt {
                turf,
                target: Target::Voter(voter.id.clone()),
                outcome: "talked".into(),
                answers: vec![("support".into(), Answer::Support(rng.u8(1..=5)))],
                note: None,
                recorded_at: at,
                location: None,
            }
        };
        Some(
            self.store
                .record_attempt(attempt)
                .expect("record attempt")
                .id
                .to_string(),
        )
    }
}

/// Syncs two phones face to face over a real TCP connection on loopback: `answering` listens,
/// `asking` connects. Returns each side's report (asking first).
pub fn sync_phones(
    asking: &mut Phone,
    answering: &mut Phone,
    now: i64,
) -> (doorstep_core::LocalReport, doorstep_core::LocalReport) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen on loopback");
    let addr = listener.local_addr().expect("local address");
    let answerer = &mut answering.store;
    std::thread::scope(|scope| {
        let answer = scope.spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            doorstep_core::local_sync(answerer, &mut stream, false, now)
                .expect("local sync (answering side)")
        });
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        let asked = doorstep_core::local_sync(&mut asking.store, &mut stream, true, now)
            .expect("local sync (asking side)");
        (asked, answer.join().expect("answering thread"))
    })
}

/// Reads the seed of a random test from `DOORSTEP_SEED`, or makes one; prints it so a failure
/// can be replayed.
pub fn seed_from_env() -> u64 {
    let seed = std::env::var("DOORSTEP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("DOORSTEP_SEED={seed}");
    seed
}

/// Every turf of the server's campaign, as an admin sees them.
pub fn server_turfs(storage: &(impl Storage + ?Sized)) -> Vec<String> {
    use doorstep_server::storage::Principal;
    storage
        .grants(&Principal {
            user: "organizer".into(),
            role: doorstep_core::sync::Role::Admin,
            team: None,
        })
        .expect("grants")
        .turfs
        .into_keys()
        .collect()
}

/// A document as the server stores it.
pub fn server_doc(storage: &(impl Storage + ?Sized), id: &str) -> automerge::AutoCommit {
    let stored = storage
        .load_document(id)
        .expect("load")
        .expect("document exists");
    let doc_id = doorstep_core::DocId::parse(id).expect("document id");
    doorstep_core::doc::load_doc(
        &doc_id,
        stored.snapshot.as_deref().unwrap_or_default(),
        stored.chunks.iter().map(Vec::as_slice),
    )
    .expect("stored document loads")
}

/// The attempts (id to voided-by) in the server's turf documents, counting duplicates.
pub fn server_log(storage: &(impl Storage + ?Sized)) -> Vec<(String, String, Option<String>)> {
    use doorstep_core::domain::Entry;
    let mut out = Vec::new();
    for turf in server_turfs(storage) {
        let doc = server_doc(storage, &format!("turf:{turf}"));
        let doc = doorstep_core::doc::TurfDoc::wrap(
            doc,
            doorstep_core::DocId::turf(&turf.as_str().into()),
            &turf.as_str().into(),
        )
        .expect("turf document");
        let entries = doc.log().expect("log").entries;
        for e in &entries {
            if let Entry::Attempt(a) = e {
                let voided = entries.iter().find_map(|v| match v {
                    Entry::Void(v) if v.attempt == a.id => Some(v.id.to_string()),
                    _ => None,
                });
                out.push((turf.clone(), a.id.to_string(), voided));
            }
        }
    }
    out.sort();
    out
}

/// The ids of the attempts in the server's results, sorted (a duplicate shows twice).
pub fn stored_attempt_ids(storage: &(impl Storage + ?Sized)) -> Vec<String> {
    let mut ids: Vec<String> = storage
        .results(None)
        .expect("read the results")
        .into_iter()
        .map(|r| r.attempt)
        .collect();
    ids.sort();
    ids
}

/// Checks that the results projection holds exactly the attempts of the documents.
pub fn assert_results_match_documents(storage: &(impl Storage + ?Sized)) {
    let mut from_docs = server_log(storage);
    let before = from_docs.len();
    from_docs.dedup_by(|a, b| a.1 == b.1);
    assert_eq!(
        before,
        from_docs.len(),
        "an attempt is in the documents twice"
    );
    let rows: Vec<(String, String, Option<String>)> = storage
        .results(None)
        .expect("results")
        .into_iter()
        .map(|r| (r.turf, r.attempt, r.voided_by))
        .collect();
    assert_eq!(
        rows, from_docs,
        "results projection differs from the documents"
    );
}
