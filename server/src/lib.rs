//! Doorstep's sync server. The HTTP service (`POST /v1/sync`, health, metrics) lands with the
//! sync work; for now this crate holds the command line and builds against core.

/// What `doorstep serve` will do, said plainly until it does it.
pub const SERVE_NOT_YET: &str = "doorstep serve: the sync server is not built yet (it lands with \
the sync issue). What works today is the phone core: run `cargo run -p xtask -- test` to \
exercise it, or see README.md.";
