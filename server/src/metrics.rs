//! Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The label of a sync's result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// `ok`, or the error code.
    pub outcome: String,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    /// Sync requests by outcome.
    pub syncs: Family<Outcome, Counter>,
    /// The `ok` member of `syncs`, kept at hand: it counts every successful sync.
    pub ok: Counter,
    /// Attempts stored.
    pub attempts: Counter,
    /// Request body bytes received by /v1/sync.
    pub bytes_in: Counter,
    /// Response body bytes sent by /v1/sync.
    pub bytes_out: Counter,
    /// Time to answer a sync, in seconds.
    pub sync_seconds: Histogram,
    /// When a sync last succeeded (Unix milliseconds; 0 before the first): the database
    /// answered then, which readiness reads without a query of its own under load.
    pub last_ok_ms: std::sync::atomic::AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("doorstep");
        let syncs = Family::<Outcome, Counter>::default();
        let attempts = Counter::default();
        let bytes_in = Counter::default();
        let bytes_out = Counter::default();
        let sync_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register("sync_requests", "Sync requests by outcome", syncs.clone());
        registry.register("attempts_stored", "Attempts stored", attempts.clone());
        registry.register(
            "sync_request_bytes",
            "Sync request bytes received",
            bytes_in.clone(),
        );
        registry.register(
            "sync_response_bytes",
            "Sync response bytes sent",
            bytes_out.clone(),
        );
        registry.register(
            "sync_duration_seconds",
            "Time to answer a sync",
            sync_seconds.clone(),
        );
        let ok = syncs
            .get_or_create(&Outcome {
                outcome: "ok".into(),
            })
            .clone();
        Self {
            registry,
            ok,
            syncs,
            attempts,
            bytes_in,
            bytes_out,
            sync_seconds,
            last_ok_ms: std::sync::atomic::AtomicI64::new(0),
        }
    }
}

impl Metrics {
    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts a sync's outcome.
    pub fn count(&self, outcome: &str) {
        self.syncs
            .get_or_create(&Outcome {
                outcome: outcome.to_owned(),
            })
            .inc();
    }
}
