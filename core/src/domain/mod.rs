//! Domain types: campaigns, rosters, attempts, teams. Plain data, no storage.

mod attempt;
pub(crate) mod bounded;
mod campaign;
mod ids;
mod roster;
mod team;

pub use attempt::{AddedPerson, Answer, Attempt, Entry, Location, Target, Void};
pub use campaign::{
    Audience, Branch, Campaign, Condition, Goto, ListKind, Outcome, OutcomeTarget, QuestionKind,
    Rule, Script, SurveyQuestion,
};
pub use ids::{
    AttemptId, AudienceId, CampaignId, CanvasserId, DeviceId, HouseholdId, OutcomeCode, QuestionId,
    ScriptId, Timestamp, TurfId, VoterId,
};
pub use roster::{Address, Household, Roster, Voter};
pub use team::{Assignment, Member, ORGANIZER, Role, Team};

/// Longest note on an attempt, a household or an added person, in bytes.
pub const MAX_NOTE_BYTES: usize = 2_000;
/// Longest name, phone or other short field, in bytes.
pub const MAX_FIELD_BYTES: usize = 200;
/// Most households, or voters, one roster may hold (a call list is the longest).
pub const MAX_ROSTER_ENTRIES: usize = 50_000;
