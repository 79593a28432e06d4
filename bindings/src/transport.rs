//! The built-in HTTP transport: `POST {server}/v1/sync` over rustls, with timeouts, retries with
//! jittered exponential backoff, cancellation and progress events. Sync is idempotent (changes
//! are content-addressed), so retrying a request whose answer was lost is always safe.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How the built-in transport behaves on a bad network.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NetworkSettings {
    /// Longest wait to connect, in milliseconds.
    #[uniffi(default = 10000)]
    pub connect_timeout_ms: u64,
    /// Longest wait for one whole request and its answer, in milliseconds.
    #[uniffi(default = 60000)]
    pub request_timeout_ms: u64,
    /// How many times a request that failed on the network (or met a busy server) is retried.
    #[uniffi(default = 4)]
    pub retries: u32,
    /// The first wait before a retry, in milliseconds; it doubles with every retry (with
    /// jitter, so that a thousand phones do not all come back at once), up to 30 seconds.
    #[uniffi(default = 500)]
    pub backoff_ms: u64,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 10_000,
            request_timeout_ms: 60_000,
            retries: 4,
            backoff_ms: 500,
        }
    }
}

/// What a sync is doing, for a progress display.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum SyncEvent {
    /// A request is on its way.
    Sending {
        /// Round of the sync, from 1.
        round: u32,
        /// Its size.
        bytes: u64,
    },
    /// Its answer arrived.
    Received {
        /// Round of the sync, from 1.
        round: u32,
        /// Its size.
        bytes: u64,
    },
    /// The request failed on the network or met a busy server; it is sent again after a wait.
    Retrying {
        /// Round of the sync, from 1.
        round: u32,
        /// Which retry this will be, from 1.
        retry: u32,
        /// The wait before it, in milliseconds.
        wait_ms: u64,
        /// What failed.
        reason: String,
    },
}

/// Receives sync progress; called on the thread that runs the sync.
#[uniffi::export(with_foreign)]
pub trait SyncProgress: Send + Sync {
    /// Something happened.
    fn on_event(&self, event: SyncEvent);
}

/// Why one exchange with the server failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// No answer: no signal, server down, timeout, connection cut.
    #[error(
        "cannot reach the server ({reason}); everything stays on this phone, sync again when \
         there is signal"
    )]
    Network {
        /// What the network layer said.
        reason: String,
    },
    /// `cancel_sync` was called.
    #[error("the sync was cancelled; everything stays on this phone")]
    Cancelled,
    /// The server answered with an error.
    #[error("{}", status_message(*status, code, message))]
    Status {
        /// HTTP status.
        status: u16,
        /// The server's stable code.
        code: String,
        /// The document concerned, if any.
        document: Option<String>,
        /// The server's message.
        message: String,
        /// How long the server asked to be left alone (`Retry-After`, in seconds), if it did.
        retry_after: Option<Duration>,
    },
}

fn status_message(status: u16, code: &str, message: &str) -> String {
    match status {
        401 => format!(
            "the server did not accept this phone's sign-in ({code}): sign in again with a \
             current token from your organizer"
        ),
        _ => format!("the server refused the sync ({status} {code}): {message}"),
    }
}

impl TransportError {
    /// Worth sending again: the network failed or the server was busy for a moment.
    fn retryable(&self) -> bool {
        match self {
            TransportError::Network { .. } => true,
            TransportError::Status { status, .. } => matches!(status, 429 | 500 | 502 | 503 | 504),
            TransportError::Cancelled => false,
        }
    }

    /// The document and reason of a refusal that concerns one document only (the rest of the
    /// phone can still sync).
    pub fn refused_document(&self) -> Option<(String, String)> {
        match self {
            TransportError::Status {
                status: 403 | 422,
                code,
                document: Some(doc),
                ..
            } => Some((doc.clone(), code.clone())),
            _ => None,
        }
    }
}

/// One server, one token, one sync's worth of requests.
pub struct HttpTransport<'a> {
    agent: ureq::Agent,
    endpoint: String,
    authorization: String,
    settings: NetworkSettings,
    cancel: &'a AtomicBool,
    progress: Option<&'a dyn SyncProgress>,
    round: u32,
}

/// The largest answer read (the protocol's limit is 8 MiB; room for what a newer server adds).
const MAX_RESPONSE_BYTES: u64 = 64 << 20;
/// The longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl<'a> HttpTransport<'a> {
    /// A transport to `server` (its base address) that signs in with `token`.
    pub fn new(
        server: &str,
        token: &str,
        settings: NetworkSettings,
        cancel: &'a AtomicBool,
        progress: Option<&'a dyn SyncProgress>,
    ) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_millis(settings.connect_timeout_ms)))
            .timeout_global(Some(Duration::from_millis(settings.request_timeout_ms)))
            .user_agent(concat!("doorstep-phone/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Self {
            agent,
            endpoint: format!("{}/v1/sync", server.trim_end_matches('/')),
            authorization: format!("Bearer {token}"),
            settings,
            cancel,
            progress,
            round: 0,
        }
    }

    fn event(&self, event: SyncEvent) {
        if let Some(p) = self.progress {
            p.on_event(event);
        }
    }

    /// Sends one sync request, retrying what is worth retrying; returns the answer's bytes.
    pub fn send(&mut self, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        self.round += 1;
        let round = self.round;
        let mut retry = 0;
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(TransportError::Cancelled);
            }
            self.event(SyncEvent::Sending {
                round,
                bytes: body.len() as u64,
            });
            let error = match self.post(&body) {
                Ok(answer) => {
                    self.event(SyncEvent::Received {
                        round,
                        bytes: answer.len() as u64,
                    });
                    return Ok(answer);
                }
                Err(e) => e,
            };
            if !error.retryable() || retry >= self.settings.retries {
                return Err(error);
            }
            retry += 1;
            let asked = match &error {
                TransportError::Status { retry_after, .. } => *retry_after,
                _ => None,
            };
            let wait = wait_before(self.settings.backoff_ms, retry, asked);
            self.event(SyncEvent::Retrying {
                round,
                retry,
                wait_ms: wait.as_millis() as u64,
                reason: error.to_string(),
            });
            self.sleep(wait)?;
        }
    }

    /// Waits, waking often enough that a cancel takes effect within a tenth of a second.
    fn sleep(&self, wait: Duration) -> Result<(), TransportError> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(TransportError::Cancelled);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }

    fn post(&self, body: &[u8]) -> Result<Vec<u8>, TransportError> {
        let network = |e: ureq::Error| TransportError::Network {
            reason: e.to_string(),
        };
        let mut response = self
            .agent
            .post(&self.endpoint)
            .header("Authorization", &self.authorization)
            .header("Content-Type", "application/vnd.doorstep.sync")
            .send(body)
            .map_err(network)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(network)?;
        if status == 200 {
            return Ok(bytes);
        }
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let text = |key: &str| json[key].as_str().map(str::to_owned);
        Err(TransportError::Status {
            status,
            code: text("code").unwrap_or_else(|| format!("http_{status}")),
            document: text("doc"),
            message: text("message").unwrap_or_else(|| "no details given".into()),
            retry_after,
        })
    }
}

/// The wait before retry number `retry` (from 1): the backoff, or longer when the server asked
/// for a pause (`Retry-After`, as a server cut off from its database does), capped at
/// [`MAX_BACKOFF`] and spread by up to half again, so that the phones it told the same do not
/// all come back at one moment.
fn wait_before(base_ms: u64, retry: u32, asked: Option<Duration>) -> Duration {
    let backoff = backoff(base_ms, retry);
    match asked.map(|a| a.min(MAX_BACKOFF)) {
        Some(asked) if asked > backoff => asked + asked.mul_f64(fastrand::f64() / 2.0),
        _ => backoff,
    }
}

/// The wait before retry number `retry` (from 1): `base` doubled per retry, capped, with
/// "equal jitter" (half fixed, half random) so retries from many phones spread out.
fn backoff(base_ms: u64, retry: u32) -> Duration {
    let full = Duration::from_millis(base_ms)
        .saturating_mul(1 << retry.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    let half = full / 2;
    half + half.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for retry in 1..=3 {
            let full = Duration::from_millis(100 << (retry - 1));
            let wait = backoff(100, retry);
            assert!(wait >= full / 2 && wait <= full, "retry {retry}: {wait:?}");
        }
        assert!(backoff(500, 40) <= MAX_BACKOFF);
    }

    #[test]
    fn a_servers_retry_after_lengthens_the_wait_spread_and_capped() {
        let asked = Duration::from_secs(5);
        for _ in 0..50 {
            let wait = wait_before(100, 1, Some(asked));
            assert!(wait >= asked && wait <= asked * 3 / 2, "{wait:?}");
        }
        // Shorter than the backoff: the backoff stands.
        let wait = wait_before(8_000, 3, Some(Duration::from_secs(1)));
        assert!(wait >= Duration::from_secs(16), "{wait:?}");
        // A huge pause is capped, then still spread.
        let waits: Vec<Duration> = (0..20)
            .map(|_| wait_before(100, 1, Some(Duration::from_secs(u64::MAX))))
            .collect();
        assert!(
            waits
                .iter()
                .all(|w| *w >= MAX_BACKOFF && *w <= MAX_BACKOFF * 3 / 2)
        );
        assert!(waits.iter().any(|w| *w != waits[0]), "spread: {waits:?}");
    }

    /// Over a real socket: a server that answers 503 with `Retry-After: 1`, then 200. The
    /// retry waits the second the server asked for, not the 10 ms backoff.
    #[test]
    fn a_503_with_retry_after_is_retried_after_the_pause_the_server_asked() {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::Mutex;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let answer = |status: &str, headers: &str, body: &str| {
            format!(
                "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        };
        let answers = [
            answer(
                "503 Service Unavailable",
                "Retry-After: 1\r\nContent-Type: application/json\r\n",
                r#"{"code":"unavailable","message":"no database"}"#,
            ),
            answer("200 OK", "", "ok"),
        ];
        let server = std::thread::spawn(move || {
            for answer in answers {
                let (mut stream, _) = listener.accept().expect("accept");
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .expect("a read timeout");
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).expect("read") == 0 {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().expect("length");
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).expect("body");
                stream.write_all(answer.as_bytes()).expect("write");
            }
        });
        struct Waits(Mutex<Vec<u64>>);
        impl SyncProgress for Waits {
            fn on_event(&self, event: SyncEvent) {
                if let SyncEvent::Retrying { wait_ms, .. } = event {
                    self.0.lock().expect("lock").push(wait_ms);
                }
            }
        }
        let waits = Waits(Mutex::new(Vec::new()));
        let cancel = AtomicBool::new(false);
        let settings = NetworkSettings {
            backoff_ms: 10,
            request_timeout_ms: 5_000,
            retries: 1,
            ..NetworkSettings::default()
        };
        let mut transport = HttpTransport::new(&url, "token", settings, &cancel, Some(&waits));
        let started = std::time::Instant::now();
        let answer = transport
            .send(b"request".to_vec())
            .expect("the second try is answered");
        assert_eq!(answer, b"ok");
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        let waits = waits.0.into_inner().expect("lock");
        assert_eq!(waits.len(), 1);
        assert!((1_000..=1_500).contains(&waits[0]), "{waits:?}");
        server.join().expect("the test server");
    }

    #[test]
    fn only_network_failures_and_busy_servers_are_retried() {
        let status = |status| TransportError::Status {
            status,
            code: String::new(),
            document: None,
            message: String::new(),
            retry_after: None,
        };
        assert!(TransportError::Network { reason: "x".into() }.retryable());
        assert!(status(503).retryable());
        assert!(status(429).retryable());
        assert!(!status(401).retryable());
        assert!(!status(422).retryable());
        assert!(!TransportError::Cancelled.retryable());
    }
}
