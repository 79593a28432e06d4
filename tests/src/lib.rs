//! End-to-end tests (a real server and many phones) land with the sync issue. This crate builds
//! against core so the workspace stays whole.

pub use doorstep_core::Store;
