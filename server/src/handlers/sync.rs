//! `POST /v1/sync`: the batched sync (see docs/PROTOCOL.md).

use crate::AppState;
use crate::auth::{bearer, token_hash};
use crate::engine::Engine;
use crate::error::AppError;
use crate::storage::Storage;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use doorstep_core::sync::wire::MAX_MESSAGE_BYTES;
use std::time::Instant;

/// The content type of sync messages.
pub const CONTENT_TYPE: &str = "application/vnd.doorstep.sync";

/// Authenticates the token, runs the sync off the executor, and answers.
pub async fn sync<S: Storage>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, AppError> {
    let started = Instant::now();
    let result = run(&state, &headers, body).await;
    state
        .metrics
        .sync_seconds
        .observe(started.elapsed().as_secs_f64());
    match &result {
        Ok(_) => {
            state.metrics.ok.inc();
            state
                .metrics
                .last_ok_ms
                .store(now_ms(), std::sync::atomic::Ordering::Relaxed);
        }
        Err(e) => state.metrics.count(e.code),
    };
    result
}

async fn run<S: Storage>(
    state: &AppState<S>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse + use<S>, AppError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .ok_or_else(AppError::unauthorized)?;
    let hash = token_hash(token);
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "the sync request is over {MAX_MESSAGE_BYTES} bytes; nothing was stored. Sync more often, or fewer documents at a time"
                ),
            )
        } else {
            AppError::new(
                StatusCode::BAD_REQUEST,
                "malformed",
                format!("the request body could not be read: {e}"),
            )
        }
    })?;
    state.metrics.bytes_in.inc_by(body.len() as u64);
    // A heartbeat seen before: answered here if nothing changed since, which a counter read
    // after this request arrived tells, without a trip to the blocking pool.
    let key = Engine::<S>::quiet_key(&hash, &body);
    if state.engine.has_quiet(&key)
        && let Some(freshness) = &state.freshness
        && let Some(counter) = freshness.counter().await
        && let Some((who, outcome)) = state.engine.cached_quiet(&key, counter)
    {
        state.seen.record(&who.user, &outcome.device, now_ms());
        state
            .metrics
            .bytes_out
            .inc_by(outcome.response.len() as u64);
        return Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], outcome.response));
    }
    let engine = state.engine.clone();
    let now = now_ms();
    let (who, outcome) =
        tokio::task::spawn_blocking(move || engine.sync_keyed(key, &hash, &body, now))
            .await
            .map_err(|e| AppError::internal(&e))?
            .map_err(AppError::from)?;
    state.seen.record(&who.user, &outcome.device, now);
    tracing::debug!(
        user = %who.user,
        attempts = outcome.attempts,
        docs_in = outcome.docs_in,
        docs_out = outcome.docs_out,
        "synced"
    );
    state.metrics.attempts.inc_by(outcome.attempts as u64);
    state
        .metrics
        .bytes_out
        .inc_by(outcome.response.len() as u64);
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], outcome.response))
}

/// The server's clock, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
