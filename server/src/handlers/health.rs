//! `GET /healthz`: the process is up and answering. `GET /readyz`: it can also serve phones,
//! its database answering, for a load balancer to send phones only to servers that can.

use crate::AppState;
use crate::handlers::sync::now_ms;
use crate::storage::Storage;
use axum::extract::State;
use axum::http::StatusCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A sync that succeeded this recently shows the database answering: no query needed, however
/// busy the server's connections are.
const RECENT_OK_MS: i64 = 5_000;
/// How long readiness waits for the database's answer, shorter than a load balancer's probe.
const READY_WAIT: Duration = Duration::from_millis(2_500);

/// Answers `ok`.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `200 ready` when a sync succeeded in the last five seconds, or else the database answers a
/// read of its change counter within 2.5 s (a reading shared with the waiting heartbeats, so
/// that probes add no load); `503` when it does not, or when the server is shutting down. The
/// cause is logged, not sent: this page needs no token.
pub async fn readyz<S: Storage>(State(state): State<AppState<S>>) -> (StatusCode, &'static str) {
    let unready = |why: &'static str| (StatusCode::SERVICE_UNAVAILABLE, why);
    if *state.closing.borrow() {
        return unready("shutting down");
    }
    if now_ms() - state.metrics.last_ok_ms.load(Ordering::Relaxed) < RECENT_OK_MS {
        return (StatusCode::OK, "ready");
    }
    let read = async {
        match &state.freshness {
            Some(freshness) => freshness.counter().await.is_some(),
            None => {
                let engine = state.engine.clone();
                matches!(
                    tokio::task::spawn_blocking(move || engine.storage().change_counter()).await,
                    Ok(Ok(_))
                )
            }
        }
    };
    match tokio::time::timeout(READY_WAIT, read).await {
        Ok(true) => (StatusCode::OK, "ready"),
        Ok(false) => {
            tracing::warn!("not ready: the database does not answer");
            unready("the database does not answer")
        }
        Err(_) => {
            tracing::warn!("not ready: the database did not answer in time");
            unready("the database does not answer")
        }
    }
}
