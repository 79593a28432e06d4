//! Doorstep's shared core: the domain, the Automerge documents, and the phone store.
//!
//! No async runtime and no network code live here: sync is sans-IO: [`Store::sync_request`]
//! and [`Store::apply_sync_response`] turn state into bytes and bytes into state.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod bundle;
pub mod doc;
pub mod domain;
mod error;
pub mod store;
pub mod sync;

pub use bundle::{BundleError, BundleReport};
pub use doc::{DocId, DocKind};
pub use error::{Error, Result};

pub use automerge::{ActorId, ChangeHash};
pub use store::{
    LendStore, LocalReport, LocalSyncError, MergeOutcome, NewAttempt, NewPerson, Peer, Store,
    SyncError, SyncReport, TeamProgress, local_sync, sync_rounds,
};
