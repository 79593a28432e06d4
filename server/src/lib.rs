//! Doorstep's sync server: phones sync with it over `POST /v1/sync`; it decides who may see and
//! write what, and keeps a results projection of every attempt.
//!
//! [`router`] builds the app over a [`storage::Storage`]; [`serve`] runs it until shutdown.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod dashboard;
pub mod demo;
pub mod engine;
pub mod error;
pub mod freshness;
pub mod handlers;
pub mod metrics;
pub mod seen;
pub mod setup;
pub mod storage;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use doorstep_core::sync::wire::MAX_MESSAGE_BYTES;
use engine::Engine;
use metrics::Metrics;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use storage::Dashboard;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// How long a request may take before the server gives up on it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What every handler shares.
pub struct AppState<S> {
    /// The sync engine and its storage.
    pub engine: Arc<Engine<S>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The storage's change counter, read fresh for a heartbeat without a blocking-pool trip
    /// (`None` if its thread could not start: every sync then takes the blocking pool).
    pub freshness: Option<Arc<freshness::Freshness>>,
    /// Set when the server begins to shut down: open event streams end, so that shutdown is
    /// not held up by pages left open.
    pub closing: Arc<tokio::sync::watch::Sender<bool>>,
    /// The dashboard's figures, gathered once per change and shared.
    pub dashboard: Arc<dashboard::cache::Gathered>,
    /// When each phone last synced, written now and then.
    pub seen: Arc<seen::Seen>,
    /// Mark session cookies Secure whatever the request says (the server is reached over TLS).
    pub secure_cookies: bool,
}

impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        Self {
            engine: self.engine.clone(),
            metrics: self.metrics.clone(),
            freshness: self.freshness.clone(),
            closing: self.closing.clone(),
            dashboard: self.dashboard.clone(),
            seen: self.seen.clone(),
            secure_cookies: self.secure_cookies,
        }
    }
}

impl<S: Dashboard> AppState<S> {
    /// State over a storage.
    pub fn new(storage: S) -> Self {
        Self::from_engine(Engine::new(storage))
    }

    /// State over a configured engine.
    pub fn from_engine(engine: Engine<S>) -> Self {
        let engine = Arc::new(engine);
        let reader = Arc::downgrade(&engine);
        let freshness = freshness::Freshness::start(move || {
            reader.upgrade()?.storage().change_counter().ok()
        })
        .map_err(|e| tracing::warn!(error = %e, "no freshness thread: heartbeats take the blocking pool"))
        .ok()
        .map(Arc::new);
        Self {
            engine,
            metrics: Arc::new(Metrics::default()),
            freshness,
            closing: Arc::new(tokio::sync::watch::channel(false).0),
            dashboard: Arc::default(),
            seen: Arc::default(),
            secure_cookies: false,
        }
    }
}

/// The HTTP API and the dashboard.
pub fn router<S: Dashboard>(state: AppState<S>) -> Router {
    Router::new()
        .merge(dashboard::routes::<S>())
        .route(
            "/v1/sync",
            post(handlers::sync::sync::<S>).layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES)),
        )
        .route("/healthz", get(handlers::health::healthz))
        .route("/readyz", get(handlers::health::readyz::<S>))
        .route("/metrics", get(handlers::metrics::metrics::<S>))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
            }),
        )
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets requests
/// in flight finish (their transactions commit or roll back whole), and returns.
pub async fn serve<S: Dashboard>(
    listener: tokio::net::TcpListener,
    state: AppState<S>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_flushing_every(listener, state, shutdown, seen::FLUSH_EVERY).await
}

/// [`serve`], writing phones' last sync times every `flush` (tests use a short one).
pub async fn serve_flushing_every<S: Dashboard>(
    listener: tokio::net::TcpListener,
    state: AppState<S>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    flush: Duration,
) -> std::io::Result<()> {
    let closing = state.closing.clone();
    let shutdown = async move {
        shutdown.await;
        closing.send_replace(true);
    };
    /// Stops the flusher if this future is dropped before it ends.
    struct AbortOnDrop(tokio::task::JoinHandle<()>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let flusher = AbortOnDrop(tokio::spawn(seen::flush_until_closing(
        state.clone(),
        flush,
    )));
    let served = axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    drop(flusher);
    // Syncs that finished while the server drained count too.
    seen::flush(&state, flush).await;
    served
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
