//! `GET /metrics`: Prometheus text format.

use crate::AppState;
use crate::storage::Storage;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

/// The metrics.
pub async fn metrics<S: Storage>(State(state): State<AppState<S>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
