//! Doorstep's shared core: the domain, the Automerge documents, and the phone store.
//!
//! No async runtime and no network code live here: sync (later) is sans-IO on top of
//! [`Store::export_changes`] and [`Store::merge_changes`].

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod doc;
pub mod domain;
mod error;
pub mod store;

pub use doc::{DocId, DocKind};
pub use error::{Error, Result};

pub use automerge::{ActorId, ChangeHash};
pub use store::{MergeOutcome, NewAttempt, NewPerson, Store};
