//! Campaign setup for organizers: voter files in, campaigns applied, turfs and call lists cut,
//! results out.

pub mod address;
pub mod campaign_file;
pub mod cut;
pub mod export;
pub mod fixtures;
pub mod import;
pub mod lists;
pub mod people;
pub mod stats;

use crate::storage::StorageError;

/// Why an organizer's command failed. Names files, columns, ids and places; never a voter's data.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The voter file could not be imported.
    #[error(transparent)]
    Import(#[from] import::ImportError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// An export could not be written (the caller names the file).
    #[error("cannot write the CSV: {0}; check the disk and the folder's permissions")]
    Write(std::io::Error),
    /// The command cannot do what was asked; the message says what to do instead.
    #[error("{0}")]
    Refused(String),
}
