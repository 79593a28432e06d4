//! End-to-end: a real `doorstep serve` process and real phone stores.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod auth;
mod basics;
mod browser;
mod bundles;
mod captains;
mod dashboard;
mod fallback;
mod faults;
mod postgres;
mod scaleout;
mod setup;
