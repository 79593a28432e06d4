//! `GET /healthz`: the process is up and answering.

/// Answers `ok`.
pub async fn healthz() -> &'static str {
    "ok"
}
