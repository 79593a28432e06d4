//! What the organizer's commands need from storage: the voter file, turfs and call lists cut
//! from it, campaigns, people, and the results read back out. Blocking, like [`Storage`].

use super::{Storage, StorageResult};
use crate::setup::cut::Door;
use crate::setup::import::EncodedVoters;
use doorstep_core::domain::{Campaign, ListKind};
use doorstep_core::sync::Role;

/// What storing an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// Voters written (new or updated).
    pub imported: u64,
    /// Distinct households among them.
    pub households: u64,
    /// Rows whose voter id this import had already written (the first row is kept).
    pub duplicates: u64,
    /// Rows whose voter id another source holds (that one is kept).
    pub other_source: u64,
    /// Voters of earlier imports of the same source that this one did not list.
    pub removed: u64,
}

/// A voter with a phone number, to place on a call list.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// Voter id.
    pub voter: String,
    /// Precinct, if known.
    pub precinct: Option<String>,
    /// Family name, then given name: the order a phone bank works.
    pub sort_name: String,
}

/// A turf or call list to create.
#[derive(Debug, Clone)]
pub struct NewList {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Household ids (walk lists) or voter ids (call lists), in order.
    pub members: Vec<String>,
    /// For walk lists, each member household's building id.
    pub buildings: Vec<String>,
}

/// What applying a campaign file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A new campaign.
    Created,
    /// An existing campaign changed; phones receive the change at their next sync.
    Updated,
    /// The campaign already said exactly this.
    Unchanged,
}

/// One attempt as the results projection holds it, for exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    /// Turf.
    pub turf: String,
    /// Attempt id.
    pub attempt: String,
    /// Voter id, or `None` for an attempt at the door (nobody answered).
    pub voter: Option<String>,
    /// Household id.
    pub household: String,
    /// Canvasser.
    pub canvasser: String,
    /// Device, hex.
    pub device: String,
    /// Outcome code.
    pub outcome: String,
    /// Answers, JSON object: question id to answer.
    pub answers: String,
    /// Note.
    pub note: Option<String>,
    /// When the phone recorded it, ms.
    pub recorded_at: i64,
    /// When the server received it, ms.
    pub received_at: i64,
    /// The void that cancelled it, if any.
    pub voided_by: Option<String>,
}

/// A turf's progress figures straight from storage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TurfFigures {
    /// Turf id.
    pub turf: String,
    /// Display name.
    pub name: String,
    /// Walk or call list.
    pub kind: String,
    /// Team, if any.
    pub team: Option<String>,
    /// Canvassers assigned.
    pub assigned: Vec<String>,
    /// Doors (walk lists) or voters (call lists) in the current roster.
    pub doors: u64,
}

/// A user as the commands see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// Id.
    pub id: String,
    /// Role.
    pub role: Role,
    /// Team.
    pub team: Option<String>,
    /// Whether `revoke` took them off their team (until a new token brings them back).
    pub revoked: bool,
}

/// A turf as the commands see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurfInfo {
    /// Id.
    pub id: String,
    /// Campaign.
    pub campaign: String,
    /// Team, if any.
    pub team: Option<String>,
    /// Walk or call list.
    pub kind: ListKind,
}

/// The organizer's storage.
pub trait Organize: Storage {
    /// Stores an import's voters (upserting by voter id) from `batches`, all in one
    /// transaction, then removes voters of earlier imports of `source` that this one did not
    /// list. A batch that is an error rolls everything back; so does a file that imports no
    /// voter, or removes more than [`crate::setup::import::MAX_REMOVED_SHARE`] of its source's
    /// voters unless `allow_removals`. One import runs at a time.
    fn import_voters(
        &self,
        source: &str,
        format: &str,
        now: i64,
        allow_removals: bool,
        batches: &mut dyn Iterator<Item = Result<EncodedVoters, String>>,
    ) -> StorageResult<ImportCounts>;
    /// Records an import's report.
    fn finish_import(&self, source: &str, report_json: &str, now: i64) -> StorageResult<()>;
    /// Rebuilds every turf's and call list's roster from the voters; stores a new version of
    /// each that changed. New units of a building already in a turf join that turf. Returns how
    /// many rosters got a new version.
    fn refresh_rosters(&self) -> StorageResult<u64>;
    /// Doors of voters not yet in any walk list.
    fn uncut_doors(&self) -> StorageResult<Vec<Door>>;
    /// Voters with a phone number not yet on any call list.
    fn uncut_callers(&self) -> StorageResult<Vec<Caller>>;
    /// Doors (or voters) already placed in lists of this kind.
    fn placed(&self, kind: ListKind) -> StorageResult<u64>;
    /// Creates walk lists or call lists with their rosters and documents, in one transaction.
    fn add_lists(&self, campaign: &str, kind: ListKind, lists: &[NewList]) -> StorageResult<()>;
    /// The next free list number for ids of this kind in a campaign.
    fn list_count(&self, campaign: &str, kind: ListKind) -> StorageResult<u64>;
    /// Creates or updates a campaign and its document.
    fn apply_campaign(&self, campaign: &Campaign) -> StorageResult<Applied>;
    /// Campaign ids and names.
    fn campaigns(&self) -> StorageResult<Vec<(String, String)>>;
    /// A campaign, from its document.
    fn campaign(&self, id: &str) -> StorageResult<Option<Campaign>>;
    /// Whether a team exists.
    fn team_exists(&self, id: &str) -> StorageResult<bool>;
    /// A user.
    fn user(&self, id: &str) -> StorageResult<Option<UserInfo>>;
    /// A turf.
    fn turf(&self, id: &str) -> StorageResult<Option<TurfInfo>>;
    /// Gives a turf to a team (its captain holds it from then on); both teams' documents
    /// follow.
    fn set_turf_team(&self, turf: &str, team: &str) -> StorageResult<()>;
    /// Revokes every token of a user, takes them off their team's document and withdraws their
    /// assignments; returns (tokens, assignments).
    fn revoke_user(&self, user: &str, now: i64) -> StorageResult<(u64, u64)>;
    /// Every attempt in the results projection, in recorded order.
    fn attempt_rows(&self) -> StorageResult<Vec<AttemptRow>>;
    /// The attempts of these turfs, in recorded order.
    fn attempt_rows_of(
        &self,
        turfs: &std::collections::HashSet<String>,
    ) -> StorageResult<Vec<AttemptRow>>;
    /// Voter ids living in each of these households.
    fn household_voters(
        &self,
        households: &std::collections::HashSet<String>,
    ) -> StorageResult<std::collections::HashMap<String, Vec<String>>>;
    /// Every turf with its team, assignments and size.
    fn turf_figures(&self) -> StorageResult<Vec<TurfFigures>>;
}
