//! The one error type an app sees, converted from core's in one place.

use crate::transport::TransportError;
use doorstep_core::store::PairError;
use doorstep_core::{Error, LocalSyncError, SyncError};

/// What went wrong, sorted by what a screen does about it. Messages name ids and sizes, never
/// names, addresses, phone numbers or notes. (The text field is `detail`, not `message`: Kotlin
/// exceptions have a `message` of their own.)
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum PhoneError {
    /// Nobody is signed in, or the server no longer accepts this phone's token: show sign-in.
    #[error("{detail}")]
    NotSignedIn {
        /// What to tell the user.
        detail: String,
    },
    /// A turf, voter, household or attempt this phone does not hold.
    #[error("{detail}")]
    NotFound {
        /// What to tell the user.
        detail: String,
    },
    /// The input cannot be used (an unknown outcome, an answer out of range, a bad file).
    #[error("{detail}")]
    InvalidInput {
        /// What to tell the user.
        detail: String,
    },
    /// The server could not be reached, or the connection failed: everything is kept on the
    /// phone; sync again when there is signal.
    #[error("{detail}")]
    Network {
        /// What to tell the user.
        detail: String,
    },
    /// The phone's own storage failed (disk full, damaged file).
    #[error("{detail}")]
    Storage {
        /// What to tell the user.
        detail: String,
    },
    /// The server refused: a stable `code` (`not_granted`, `refused_change`, `too_large`, ...)
    /// and the document concerned, if any.
    #[error("{detail}")]
    RefusedByServer {
        /// The server's machine-readable code.
        code: String,
        /// The document it concerns, if any.
        document: Option<String>,
        /// What to tell the user.
        detail: String,
    },
    /// Signing out would discard results the server has not acknowledged: sync first.
    #[error("{detail}")]
    UnsyncedResults {
        /// How many results wait.
        count: u64,
        /// What to tell the user.
        detail: String,
    },
    /// The sync was cancelled; what arrived before is kept.
    #[error("{detail}")]
    Cancelled {
        /// What to tell the user.
        detail: String,
    },
}

impl From<Error> for PhoneError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::NotSignedIn | Error::OtherUser { .. } => {
                PhoneError::NotSignedIn { detail: message }
            }
            Error::UnsyncedResults { count } => PhoneError::UnsyncedResults {
                count,
                detail: message,
            },
            Error::UnknownTurf { .. }
            | Error::UnknownCampaign { .. }
            | Error::UnknownVoter { .. }
            | Error::UnknownHousehold { .. }
            | Error::UnknownAttempt { .. }
            | Error::NoTeam => PhoneError::NotFound { detail: message },
            Error::UnknownOutcome { .. }
            | Error::OutcomeTarget { .. }
            | Error::InvalidAnswer { .. }
            | Error::InvalidLocation
            | Error::TooLong { .. }
            | Error::Empty { .. }
            | Error::InvalidServer { .. }
            | Error::Refused { .. }
            | Error::Bundle(_) => PhoneError::InvalidInput { detail: message },
            Error::NotPermitted { .. } => PhoneError::RefusedByServer {
                code: "not_permitted".into(),
                document: None,
                detail: message,
            },
            // What the server sent could not be used: like a dropped connection, sync again
            // (a bundle's bad data arrives wrapped in `Error::Bundle` instead).
            Error::Protocol { .. }
            | Error::MissingDependencies { .. }
            | Error::StaleRoster { .. }
            | Error::InvalidRoster { .. }
            | Error::InvalidCampaign(_) => PhoneError::Network { detail: message },
            Error::Storage(_)
            | Error::DatabaseTooNew { .. }
            | Error::CorruptDocument { .. }
            | Error::DocumentTooNew { .. }
            | Error::StoreChanged => PhoneError::Storage { detail: message },
        }
    }
}

impl From<TransportError> for PhoneError {
    fn from(e: TransportError) -> Self {
        let message = e.to_string();
        match e {
            TransportError::Network { .. } => PhoneError::Network { detail: message },
            TransportError::Cancelled => PhoneError::Cancelled { detail: message },
            TransportError::Status { status: 401, .. } => {
                PhoneError::NotSignedIn { detail: message }
            }
            TransportError::Status { code, document, .. } => PhoneError::RefusedByServer {
                code,
                document,
                detail: message,
            },
        }
    }
}

impl From<SyncError<TransportError>> for PhoneError {
    fn from(e: SyncError<TransportError>) -> Self {
        match e {
            SyncError::Store(e) => e.into(),
            SyncError::Transport(e) => e.into(),
        }
    }
}

impl From<std::io::Error> for PhoneError {
    fn from(e: std::io::Error) -> Self {
        // The path is the app's own; the error kind says enough without it.
        match e.kind() {
            std::io::ErrorKind::NotFound => PhoneError::NotFound {
                detail: "no file at that path; check where the bundle was saved".into(),
            },
            _ => PhoneError::Storage {
                detail: format!("reading or writing the file failed: {e}"),
            },
        }
    }
}

impl From<LocalSyncError> for PhoneError {
    fn from(e: LocalSyncError) -> Self {
        match e {
            LocalSyncError::Store(e) => e.into(),
            LocalSyncError::Link(_) => PhoneError::Network {
                detail: e.to_string(),
            },
        }
    }
}

impl From<PairError> for PhoneError {
    fn from(e: PairError) -> Self {
        let detail = e.to_string();
        match e {
            PairError::WrongCode | PairError::BadCode(_) => PhoneError::InvalidInput { detail },
            PairError::Link(_) => PhoneError::Network { detail },
        }
    }
}
