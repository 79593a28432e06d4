//! Errors. Messages name ids and sizes, never names, addresses, phone numbers or note text.

/// Everything that can go wrong in core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed (disk full, I/O error, locked file...).
    #[error("phone storage failed: {0}")]
    Storage(#[from] rusqlite::Error),
    /// The database was written by a newer app.
    #[error(
        "this phone's database is at schema version {found}, newer than this app supports \
         ({supported}); update the app"
    )]
    DatabaseTooNew {
        /// Version found in the file.
        found: i64,
        /// Newest version this code knows.
        supported: i64,
    },
    /// A document's bytes could not be read or do not have the expected shape.
    #[error("document {doc} is damaged or not a Doorstep document ({reason}); nothing was changed")]
    CorruptDocument {
        /// The document.
        doc: String,
        /// What was wrong.
        reason: String,
    },
    /// A document was written by a newer app.
    #[error(
        "document {doc} uses schema version {found}, newer than this app supports ({supported}); \
         update the app"
    )]
    DocumentTooNew {
        /// The document.
        doc: String,
        /// Version found.
        found: u64,
        /// Newest version this code knows.
        supported: u64,
    },
    /// Received changes build on changes this replica does not have.
    #[error(
        "changes for {doc} build on {missing} earlier changes this phone does not have; sync the \
         earlier changes first (nothing was changed)"
    )]
    MissingDependencies {
        /// The document.
        doc: String,
        /// How many changes are missing.
        missing: usize,
    },
    /// The turf is not on this phone.
    #[error("turf {turf} is not on this phone; sync to download it")]
    UnknownTurf {
        /// The turf.
        turf: String,
    },
    /// The campaign is not on this phone.
    #[error("campaign {campaign} is not on this phone yet; sync to download it")]
    UnknownCampaign {
        /// The campaign.
        campaign: String,
    },
    /// The voter is not on the turf's roster, nor added at the door.
    #[error("voter {voter} is not on the list of turf {turf}")]
    UnknownVoter {
        /// The turf.
        turf: String,
        /// The voter.
        voter: String,
    },
    /// The household is not on the turf's roster.
    #[error("household {household} is not on the list of turf {turf}")]
    UnknownHousehold {
        /// The turf.
        turf: String,
        /// The household.
        household: String,
    },
    /// The attempt to void does not exist in the turf.
    #[error("attempt {attempt} is not recorded in turf {turf}")]
    UnknownAttempt {
        /// The turf.
        turf: String,
        /// The attempt.
        attempt: String,
    },
    /// The outcome code is not offered by the campaign for this kind of list.
    #[error("outcome '{outcome}' is not an outcome of campaign {campaign} for {list} lists")]
    UnknownOutcome {
        /// The code given.
        outcome: String,
        /// The campaign.
        campaign: String,
        /// Walk or call.
        list: String,
    },
    /// The outcome is recorded against the wrong kind of target.
    #[error("outcome '{outcome}' is recorded against {expected}, not a {given}")]
    OutcomeTarget {
        /// The code given.
        outcome: String,
        /// What it applies to.
        expected: &'static str,
        /// What was given.
        given: &'static str,
    },
    /// An answer does not fit its question.
    #[error("answer to question '{question}' is invalid: {reason}")]
    InvalidAnswer {
        /// The question.
        question: String,
        /// Why.
        reason: String,
    },
    /// A map position outside the globe (or not a number).
    #[error("location is not a valid position: latitude must be -90 to 90, longitude -180 to 180")]
    InvalidLocation,
    /// A text field is too long.
    #[error("{field} is {len} bytes long; the limit is {max} bytes, shorten it")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A required field is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// Which field.
        field: &'static str,
    },
    /// A roster older than the one held was offered.
    #[error(
        "roster version {offered} of turf {turf} is older than version {held} already on this \
         phone; nothing was changed"
    )]
    StaleRoster {
        /// The turf.
        turf: String,
        /// Version held.
        held: u64,
        /// Version offered.
        offered: u64,
    },
    /// A roster is inconsistent.
    #[error("roster of turf {turf} is invalid: {reason}")]
    InvalidRoster {
        /// The turf.
        turf: String,
        /// Why.
        reason: String,
    },
    /// A campaign is inconsistent.
    #[error("campaign is invalid: {0}")]
    InvalidCampaign(String),
    /// Another open copy of the store wrote the same document meanwhile (one was retried).
    #[error(
        "this phone's data was changed by another open copy of the app while this one was \
         saving; nothing was lost, try again"
    )]
    StoreChanged,
    /// Nobody is signed in on this store.
    #[error("no canvasser is signed in on this phone; sign in first")]
    NotSignedIn,
    /// The server said this phone's user may not do this.
    #[error("a {role} may not {action}; ask your field captain")]
    NotPermitted {
        /// The user's role, as the server last reported it.
        role: String,
        /// What was attempted.
        action: &'static str,
    },
    /// A change this phone made or was handed breaks the write rules.
    #[error("{doc}: {reason}; nothing was changed")]
    Refused {
        /// The document.
        doc: String,
        /// Which rule, with ids only.
        reason: String,
    },
    /// The phone holds no team document (it has not synced as a team member yet).
    #[error("this phone holds no team yet; sync with the server or your captain first")]
    NoTeam,
    /// A sync message from the other side could not be used.
    #[error("the sync message from {peer} could not be read ({reason}); nothing of it was applied")]
    Protocol {
        /// Who sent it.
        peer: String,
        /// What was wrong.
        reason: String,
    },
    /// A bundle file was refused whole.
    #[error("{0}; nothing was imported")]
    Bundle(#[from] crate::bundle::BundleError),
    /// The server address cannot be used.
    #[error("server address refused: {reason}")]
    InvalidServer {
        /// Why.
        reason: &'static str,
    },
    /// The server says the token belongs to another user than the one signed in here.
    #[error(
        "this phone is signed in as {signed_in}, but the token belongs to {token_for}; sync, \
         sign out, then sign in again"
    )]
    OtherUser {
        /// Who is signed in on the phone.
        signed_in: String,
        /// Whose token it is.
        token_for: String,
    },
    /// Signing out would discard results the server has not acknowledged.
    #[error("{count} results are not synced yet; sync before signing out so none is lost")]
    UnsyncedResults {
        /// How many.
        count: u64,
    },
}

/// Result with core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
