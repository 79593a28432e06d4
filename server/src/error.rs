//! Errors as the HTTP API reports them: a status, a stable code, a message that helps.

use crate::engine::SyncFailure;
use crate::storage::StorageError;
use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// How long a phone is asked to wait when the database cannot be reached.
const RETRY_AFTER_SECONDS: &str = "5";

/// An error response: `{"code": ..., "message": ...}` (and the document, when one is at fault).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppError {
    /// HTTP status.
    #[serde(skip)]
    pub status: StatusCode,
    /// Stable, machine-readable code.
    pub code: &'static str,
    /// What went wrong and what to do, with no personal data.
    pub message: String,
    /// The document at fault, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
}

impl AppError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            doc: None,
        }
    }

    /// 401: no token, or one that is unknown or revoked.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing, unknown or revoked token: send 'Authorization: Bearer <token>' with a token from your organizer",
        )
    }

    /// 503: the database cannot be reached just now (a restart, a failover), or every
    /// connection to it stayed busy. The cause is logged, not sent; the answer carries
    /// `Retry-After`.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "database unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the server cannot reach its database, or it is too busy, just now; everything stays \
             on the phone until a sync goes through: sync again in a few seconds",
        )
    }

    /// 500: something failed on the server. The cause is logged, not sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to handle this request; nothing of it was stored, try again",
        )
    }
}

impl From<SyncFailure> for AppError {
    fn from(f: SyncFailure) -> Self {
        match f {
            SyncFailure::Unauthorized => Self::unauthorized(),
            SyncFailure::TooLarge(m) => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("{m}; nothing was stored. Sync more often, or fewer documents at a time"),
            ),
            SyncFailure::Version(m) => Self::new(
                StatusCode::BAD_REQUEST,
                "unsupported_version",
                format!("{m}; nothing was stored"),
            ),
            SyncFailure::Malformed(m) => Self::new(
                StatusCode::BAD_REQUEST,
                "malformed",
                format!("the sync request could not be read: {m}; nothing was stored"),
            ),
            SyncFailure::NotGranted { doc } => Self {
                message: format!(
                    "document {doc} is not granted to this token; nothing was stored. Ask an organizer to assign the turf"
                ),
                doc: Some(doc),
                ..Self::new(StatusCode::FORBIDDEN, "not_granted", "")
            },
            SyncFailure::Refused { doc, reason } => Self {
                message: format!(
                    "the change to {doc} was refused and nothing was stored: {reason}"
                ),
                doc: Some(doc),
                ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "refused_change", "")
            },
            SyncFailure::Storage(e @ StorageError::Unavailable { .. }) => Self::unavailable(&e),
            SyncFailure::Storage(e) => Self::internal(&e),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let retry = (self.status == StatusCode::SERVICE_UNAVAILABLE)
            .then_some([(header::RETRY_AFTER, RETRY_AFTER_SECONDS)]);
        (self.status, retry, Json(&self)).into_response()
    }
}
