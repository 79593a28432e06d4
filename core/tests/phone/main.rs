//! The phone store's integration tests: real SQLite files, real documents.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod bad_input;
mod basics;
mod bundles;
mod common;
mod convergence;
mod crash;
mod local;
