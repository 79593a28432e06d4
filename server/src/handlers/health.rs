//! `GET /healthz`: the process is up and answering. `GET /readyz`: it can also serve phones,
//! its database answering, for a load balancer to send phones only to servers that can.

use crate::AppState;
use crate::storage::Storage;
use axum::extract::State;
use axum::http::StatusCode;

/// Answers `ok`.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `200 ready` when the database answers a read (within the storage's own wait for a
/// connection); `503` when it does not, or when the server is shutting down. The cause is
/// logged, not sent: this page needs no token.
pub async fn readyz<S: Storage>(State(state): State<AppState<S>>) -> (StatusCode, &'static str) {
    if *state.closing.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    let engine = state.engine.clone();
    match tokio::task::spawn_blocking(move || engine.storage().change_counter()).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: the database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "not ready: the readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the readiness check failed",
            )
        }
    }
}
