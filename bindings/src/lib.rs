//! uniffi bindings over doorstep-core for Kotlin, Swift and Python: one [`Phone`] object with
//! everything a canvassing app needs. The layer stays thin: each method forwards to core in a
//! line or two; the records below only reshape core's types for foreign languages.
//!
//! Generate the bindings with `cargo run -p xtask -- bindings` (library mode).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod error;
mod records;
mod transport;

pub use error::PhoneError;
pub use records::*;
pub use transport::{NetworkSettings, SyncEvent, SyncProgress};

use doorstep_core::bundle::MAX_BUNDLE_BYTES;
use doorstep_core::domain::{AttemptId, HouseholdId, Target, TurfId, VoterId};
use doorstep_core::store::{PairError, pair, pairing_code};
use doorstep_core::{DocId, NewAttempt, NewPerson, Store, local_sync, sync_rounds};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use transport::HttpTransport;

uniffi::setup_scaffolding!("doorstep");

type Result<T, E = PhoneError> = std::result::Result<T, E>;

/// A canvasser's phone: its store (one SQLite file), its sign-in, and sync.
///
/// Every method is safe to call from any thread. A sync holds the store only while it builds a
/// request or applies an answer, never while it waits on the network, so the app can keep
/// recording knocks during a slow sync.
#[derive(uniffi::Object)]
pub struct Phone {
    store: Mutex<Store>,
    /// Held for a whole sync: one sync at a time, and a cancel meant for it reaches it.
    syncing: Mutex<()>,
    cancel: AtomicBool,
    network: Mutex<NetworkSettings>,
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phone").finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Phone {
    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        // Every write is one SQLite transaction: a panic elsewhere cannot leave it half-done.
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs a whole sync against `server` with the built-in transport.
    fn sync_over_http(
        &self,
        server: &str,
        token: &str,
        progress: Option<Arc<dyn SyncProgress>>,
    ) -> Result<SyncSummary> {
        let _one_at_a_time = self
            .syncing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.cancel.store(false, Ordering::Relaxed);
        let settings = self
            .network
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut http =
            HttpTransport::new(server, token, settings, &self.cancel, progress.as_deref());
        let report = sync_rounds(
            &mut &self.store,
            |body| http.send(body),
            |e| e.refused_document(),
        )?;
        let unsynced = self.store().outbox_count()?;
        Ok(SyncSummary::from_report(report, unsynced))
    }
}

#[uniffi::export]
impl Phone {
    /// Opens the phone's store at `path` (creating and migrating it as needed).
    #[uniffi::constructor]
    pub fn open(path: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Self {
            store: Mutex::new(Store::open(path)?),
            syncing: Mutex::new(()),
            cancel: AtomicBool::new(false),
            network: Mutex::new(NetworkSettings::default()),
        }))
    }

    /// Signs in: checks the token with the server by syncing once (which downloads the user's
    /// turfs), then remembers the server and token for later syncs, across restarts.
    pub fn sign_in(
        &self,
        server: String,
        token: String,
        progress: Option<Arc<dyn SyncProgress>>,
    ) -> Result<SyncSummary> {
        let (server, token) = Store::check_server(&server, &token)?;
        let summary = self.sync_over_http(&server, &token, progress)?;
        self.store().set_server(&server, &token)?;
        Ok(summary)
    }

    /// Who is signed in on this phone (their user id), if anyone.
    pub fn signed_in_as(&self) -> Result<Option<String>> {
        Ok(self.store().signed_in()?.map(|c| c.0))
    }

    /// The server this phone syncs with, if signed in.
    pub fn server(&self) -> Result<Option<String>> {
        Ok(self.store().server()?.map(|(url, _)| url))
    }

    /// Signs out; refused while results wait to be synced, so that none is discarded.
    pub fn sign_out(&self) -> Result<()> {
        let _no_sync_under_way = self
            .syncing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(self.store().sign_out()?)
    }

    /// Changes how the built-in transport deals with a bad network.
    pub fn set_network(&self, settings: NetworkSettings) {
        *self
            .network
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = settings;
    }

    /// The turfs (walk lists and call lists) on this phone, with progress.
    pub fn turfs(&self) -> Result<Vec<TurfInfo>> {
        let store = self.store();
        store
            .turfs()?
            .into_iter()
            .map(|t| Ok(TurfInfo::new(&t, &store.progress(&t.turf)?)))
            .collect()
    }

    /// A turf's doors in walk order, with each door's and voter's status.
    pub fn walk_list(&self, turf: String) -> Result<Vec<Door>> {
        let list = self.store().walk_list(&TurfId(turf))?;
        Ok(list.households.iter().map(Door::from).collect())
    }

    /// The doors of a turf whose address or residents match `query` (case-insensitive).
    pub fn search(&self, turf: String, query: String) -> Result<Vec<Door>> {
        let list = self.store().search(&TurfId(turf), &query)?;
        Ok(list.households.iter().map(Door::from).collect())
    }

    /// The outcome codes a canvasser can pick on this turf (walk or call list).
    pub fn outcomes(&self, turf: String) -> Result<Vec<OutcomeInfo>> {
        let (campaign, kind) = self.store().turf_campaign(&TurfId(turf))?;
        Ok(campaign
            .outcomes
            .iter()
            .filter(|o| o.lists.contains(&kind))
            .map(OutcomeInfo::from)
            .collect())
    }

    /// The script and survey questions for a voter, chosen by the voter's audience.
    pub fn script(&self, turf: String, voter: String) -> Result<Option<ScriptView>> {
        let turf = TurfId(turf);
        let mut store = self.store();
        let script = store.script_for(&turf, &VoterId(voter))?;
        let (campaign, _) = store.turf_campaign(&turf)?;
        Ok(script.map(|s| ScriptView::new(&s, &campaign)))
    }

    /// The question to ask next in the voter's script after the answers given so far: a
    /// script's branches skip questions (after a strong "no", straight to the end). `None` when
    /// the script has no more questions.
    pub fn next_question(
        &self,
        turf: String,
        voter: String,
        answers: Vec<SurveyAnswer>,
    ) -> Result<Option<String>> {
        let script = self.store().script_for(&TurfId(turf), &VoterId(voter))?;
        let answers: std::collections::BTreeMap<_, _> =
            answers.into_iter().map(SurveyAnswer::into_core).collect();
        Ok(script.and_then(|s| s.next_question(&answers).map(|q| q.0.clone())))
    }

    /// Records a knock or call; returns the attempt's id once it is durably on the phone.
    pub fn record_attempt(&self, attempt: AttemptInput) -> Result<String> {
        let new: NewAttempt = attempt.into_core(now_ms())?;
        Ok(self.store().record_attempt(new)?.id.to_string())
    }

    /// Withdraws an attempt recorded by mistake; returns the void's id.
    pub fn void_attempt(&self, turf: String, attempt: String) -> Result<String> {
        let id = AttemptId::parse(&attempt).ok_or_else(|| PhoneError::InvalidInput {
            detail: format!("'{attempt}' is not an attempt id"),
        })?;
        Ok(self
            .store()
            .void_attempt(&TurfId(turf), &id, now_ms())?
            .id
            .to_string())
    }

    /// Adds a person met at the door who is not on the list; returns their new voter id.
    pub fn add_person(
        &self,
        turf: String,
        household: String,
        first_name: String,
        last_name: String,
        phone: Option<String>,
    ) -> Result<String> {
        let person = self.store().add_person(NewPerson {
            turf: TurfId(turf),
            household: HouseholdId(household),
            first_name,
            last_name,
            phone,
            recorded_at: now_ms(),
        })?;
        Ok(person.id.0)
    }

    /// Sets a door's note (gate code, dog); an empty note clears it.
    pub fn set_household_note(&self, turf: String, household: String, note: String) -> Result<()> {
        Ok(self.store().set_household_note(
            &TurfId(turf),
            &HouseholdId(household),
            &note,
            now_ms(),
        )?)
    }

    /// How many results (attempts and voids) the server has not acknowledged yet.
    pub fn unsynced_count(&self) -> Result<u64> {
        Ok(self.store().outbox_count()?)
    }

    /// Syncs with the server signed in to, over the built-in HTTP transport (rustls, timeouts,
    /// retries with backoff). Blocks until done: call it off the main thread. Cancellable with
    /// [`Phone::cancel_sync`]; progress goes to `progress`.
    pub fn sync_now(&self, progress: Option<Arc<dyn SyncProgress>>) -> Result<SyncSummary> {
        let (server, token) = self
            .store()
            .server()?
            .ok_or_else(|| PhoneError::NotSignedIn {
                detail: "this phone is not signed in to a server; sign in first".into(),
            })?;
        self.sync_over_http(&server, &token, progress)
    }

    /// Documents held back from upload because the server refused them, with its reason.
    /// Their results stay on the phone (and in `unsynced_count`).
    pub fn held_back(&self) -> Result<Vec<HeldBack>> {
        Ok(self
            .store()
            .held_back()?
            .into_iter()
            .map(HeldBack::from)
            .collect())
    }

    /// Lets a held-back document upload again (after the organizer fixed the refusal).
    pub fn release(&self, document: String) -> Result<()> {
        Ok(self.store().release(&doc_id(&document)?)?)
    }

    /// For apps with their own networking: holds a document back after the server refused it
    /// (a 403 or 422 naming it), so the rest of the phone keeps syncing.
    pub fn hold_back(&self, document: String, reason: String) -> Result<()> {
        Ok(self.store().hold_back(&doc_id(&document)?, &reason)?)
    }

    /// Stops a sync under way at its next step (a request in flight ends within its timeout).
    pub fn cancel_sync(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// For apps that do their own networking: the next sync request's bytes, to POST to
    /// `{server}/v1/sync` with `Authorization: Bearer <token>`.
    pub fn make_sync_request(&self) -> Result<Vec<u8>> {
        Ok(self.store().sync_request()?)
    }

    /// For apps that do their own networking: applies the server's answer (a 200's body).
    /// When the result says `again`, make and send another request.
    pub fn apply_sync_response(&self, response: Vec<u8>) -> Result<SyncRound> {
        let report = self.store().apply_sync_response(&response)?;
        Ok(SyncRound::from(report))
    }

    /// Writes everything this phone holds to a bundle file at `path` for another phone (a
    /// field captain's) to import; returns its size in bytes.
    pub fn export_bundle(&self, path: String) -> Result<u64> {
        let bytes = self.store().export_bundle(now_ms())?;
        write_atomically(&path, &bytes)?;
        Ok(bytes.len() as u64)
    }

    /// Imports a bundle file made by another phone. A damaged or cut-off file changes nothing;
    /// the same bundle twice changes nothing the second time.
    pub fn import_bundle(&self, path: String) -> Result<BundleSummary> {
        use std::io::Read;
        // Never more than the limit in memory, whatever file was picked.
        let mut bytes = Vec::new();
        std::fs::File::open(&path)?
            .take(MAX_BUNDLE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)?;
        Ok(BundleSummary::from(
            self.store().import_bundle(&bytes, now_ms())?,
        ))
    }

    /// Writes a bundle for a phone this one has met (`device` from `peers()`): only what that
    /// phone lacks as far as this one knows, so much smaller after the first exchange. Returns
    /// its size in bytes.
    pub fn export_bundle_for(&self, device: String, path: String) -> Result<u64> {
        let bytes = self.store().export_bundle_for(&device, now_ms())?;
        write_atomically(&path, &bytes)?;
        Ok(bytes.len() as u64)
    }

    /// The phones this one has exchanged with, most recent first.
    pub fn peers(&self) -> Result<Vec<PeerInfo>> {
        Ok(self
            .store()
            .peers()?
            .into_iter()
            .map(PeerInfo::from)
            .collect())
    }

    /// Syncs with another phone listening at `address` (`host:port`) that shows `code` on its
    /// screen (see `listen_local`), both directions in one session, encrypted. Everything that
    /// arrived before a dropped link is kept; a wrong code changes nothing.
    pub fn sync_local(&self, address: String, code: String) -> Result<LocalSyncSummary> {
        use std::net::ToSocketAddrs;
        let target = address
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| PhoneError::InvalidInput {
                detail: format!("'{address}' is not a host:port address"),
            })?;
        let stream =
            std::net::TcpStream::connect_timeout(&target, LOCAL_CONNECT_TIMEOUT).map_err(link)?;
        let mut sealed = pair(PhoneLink::pairing(stream)?, &code, true)?;
        sealed.get_mut().paired()?;
        let report = local_sync(&mut &self.store, &mut sealed, true, now_ms())?;
        Ok(report.into())
    }

    /// Listens for another phone's `sync_local` at `address` (`0.0.0.0:0` on the staging
    /// location's Wi-Fi picks a free port). Show `port()` and `code()` on this phone's screen:
    /// the other phone needs both, and only a phone given the code can sync.
    pub fn listen_local(self: Arc<Self>, address: String) -> Result<Arc<LocalListener>> {
        let listener = std::net::TcpListener::bind(&address).map_err(|e| PhoneError::Network {
            detail: format!("cannot listen on {address}: {e}"),
        })?;
        Ok(Arc::new(LocalListener {
            phone: self,
            listener,
            code: Mutex::new(pairing_code()),
        }))
    }

    /// The team this phone's user belongs to, as the phone holds it (members and who holds
    /// which turf), or none before the first sync with the server or the captain.
    pub fn team(&self) -> Result<Option<TeamInfo>> {
        Ok(self.store().team()?.map(TeamInfo::from))
    }

    /// A captain hands a turf of the team to `to` (member ids; empty takes it from everyone),
    /// offline. The canvassers' phones learn it at their next sync with the captain or the
    /// server; the server turns it into access when this phone syncs.
    pub fn reassign_turf(&self, turf: String, to: Vec<String>) -> Result<()> {
        let to: Vec<_> = to.into_iter().map(Into::into).collect();
        self.store().reassign_turf(&TurfId(turf), &to, now_ms())?;
        Ok(())
    }

    /// The team's progress per member and per turf, from what this phone holds: no server
    /// needed.
    pub fn team_progress(&self) -> Result<TeamProgressView> {
        Ok(self.store().team_progress()?.into())
    }
}

/// How long connecting to another phone may take.
const LOCAL_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a local sync waits for the other phone's next message before giving up.
const LOCAL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long pairing may take in all, however slowly the other side trickles its bytes.
const LOCAL_PAIRING_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);

/// A socket failure, as a screen shows it.
fn link(e: std::io::Error) -> PhoneError {
    PhoneError::Network {
        detail: format!(
            "the link to the other phone failed ({e}); check that both are on the same network"
        ),
    }
}

/// A TCP link to another phone: pairing must finish before a deadline; after it, each read or
/// write may wait up to the idle timeout.
struct PhoneLink {
    stream: std::net::TcpStream,
    deadline: Option<std::time::Instant>,
}

impl PhoneLink {
    fn pairing(stream: std::net::TcpStream) -> Result<Self> {
        // Accepted from a non-blocking listener, it may inherit non-blocking mode.
        stream.set_nonblocking(false).map_err(link)?;
        stream.set_nodelay(true).map_err(link)?;
        Ok(Self {
            stream,
            deadline: Some(std::time::Instant::now() + LOCAL_PAIRING_DEADLINE),
        })
    }

    fn paired(&mut self) -> Result<()> {
        self.deadline = None;
        self.stream
            .set_read_timeout(Some(LOCAL_IDLE_TIMEOUT))
            .and_then(|()| self.stream.set_write_timeout(Some(LOCAL_IDLE_TIMEOUT)))
            .map_err(link)
    }

    fn arm(&self) -> std::io::Result<()> {
        let Some(deadline) = self.deadline else {
            return Ok(());
        };
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "pairing took too long",
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.set_write_timeout(Some(left))
    }
}

impl std::io::Read for PhoneLink {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.arm()?;
        self.stream.read(buf)
    }
}

impl std::io::Write for PhoneLink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.arm()?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

/// A phone waiting for another phone's local sync.
#[derive(uniffi::Object)]
pub struct LocalListener {
    phone: Arc<Phone>,
    listener: std::net::TcpListener,
    /// Drawn anew after every wrong guess, so that guessing never pays.
    code: Mutex<String>,
}

impl std::fmt::Debug for LocalListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalListener").finish_non_exhaustive()
    }
}

#[uniffi::export]
impl LocalListener {
    /// The port it listens on.
    pub fn port(&self) -> Result<u16> {
        Ok(self.listener.local_addr()?.port())
    }

    /// The pairing code to show: the other phone types it into `sync_local`. A wrong guess
    /// draws a new one: show it again after `accept` fails.
    pub fn code(&self) -> String {
        self.code
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits up to `timeout_seconds` for one phone to connect, then syncs with it (both
    /// directions). Call again for the next phone.
    pub fn accept(&self, timeout_seconds: u32) -> Result<LocalSyncSummary> {
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_secs(timeout_seconds.into());
        self.listener.set_nonblocking(true).map_err(link)?;
        let stream = loop {
            match self.listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if std::time::Instant::now() >= deadline {
                        return Err(PhoneError::Network {
                            detail: format!(
                                "no phone connected within {timeout_seconds} s; check that both are on the same network"
                            ),
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(link(e)),
            }
        };
        let code = self.code();
        let mut sealed = match pair(PhoneLink::pairing(stream)?, &code, false) {
            Ok(sealed) => sealed,
            Err(e @ PairError::WrongCode) => {
                *self
                    .code
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = pairing_code();
                return Err(PhoneError::InvalidInput {
                    detail: format!("{e}; this phone now shows a new code"),
                });
            }
            Err(e) => return Err(e.into()),
        };
        sealed.get_mut().paired()?;
        let report = local_sync(&mut &self.phone.store, &mut sealed, false, now_ms())?;
        Ok(report.into())
    }
}

/// Writes to a temporary file beside `path` and renames it over: a crash leaves either the old
/// file or the whole new one, never half a bundle.
fn write_atomically(path: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let path = std::path::Path::new(path);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".doorstep-partial");
    let tmp = path.with_file_name(name);
    let written = std::fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename itself is durable once the directory is.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn doc_id(document: &str) -> Result<DocId> {
    DocId::parse(document).ok_or_else(|| PhoneError::InvalidInput {
        detail: format!("'{document}' is not a document id (turf:<id> or campaign:<id>)"),
    })
}

/// What the phone's voter is: a door or a person, as an app passes it.
fn target(voter: Option<String>, household: Option<String>) -> Result<Target> {
    match (voter, household) {
        (Some(v), _) => Ok(Target::Voter(VoterId(v))),
        (None, Some(h)) => Ok(Target::Household(HouseholdId(h))),
        (None, None) => Err(PhoneError::InvalidInput {
            detail: "an attempt needs a voter or a household".into(),
        }),
    }
}
