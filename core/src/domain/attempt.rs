//! What happens at the door: attempts, voids, people added in the field.

use super::ids::{
    AttemptId, CanvasserId, DeviceId, HouseholdId, OutcomeCode, QuestionId, Timestamp, VoterId,
};
use serde::{Deserialize, Serialize};

/// A map position (WGS 84 degrees).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

/// Whom an attempt is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Target {
    /// One voter (from the roster, or added at the door).
    Voter(VoterId),
    /// The door, when nobody answered or the door itself is the result.
    Household(HouseholdId),
}

/// An answer to a survey question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// Support level, 1 (strong support) to 5 (strong opposition).
    Support(u8),
    /// Picked options.
    Choice(Vec<String>),
    /// Yes or no.
    YesNo(bool),
    /// Free text.
    Text(String),
}

/// One knock or call, recorded once and never edited. A correction is a [`Void`] plus a new
/// attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Random id.
    pub id: AttemptId,
    /// Whom it is about.
    pub target: Target,
    /// The household of the target (kept so the door's status survives roster changes).
    pub household: HouseholdId,
    /// What happened.
    pub outcome: OutcomeCode,
    /// Survey answers.
    pub answers: Vec<(QuestionId, Answer)>,
    /// Free-text note.
    pub note: Option<String>,
    /// Who recorded it.
    pub canvasser: CanvasserId,
    /// On which install.
    pub device: DeviceId,
    /// When, by the phone's clock.
    pub recorded_at: Timestamp,
    /// Where, if the phone knew.
    pub location: Option<Location>,
}

impl Attempt {
    /// The support level answered, if any.
    pub fn support(&self) -> Option<u8> {
        self.answers.iter().find_map(|(_, a)| match a {
            Answer::Support(level) => Some(*level),
            _ => None,
        })
    }

    /// The voter, when the target is a voter.
    pub fn voter(&self) -> Option<&VoterId> {
        match &self.target {
            Target::Voter(v) => Some(v),
            Target::Household(_) => None,
        }
    }
}

/// Withdraws an earlier attempt (recorded by mistake, or corrected by a new one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Void {
    /// Random id of the void itself.
    pub id: AttemptId,
    /// The attempt withdrawn.
    pub attempt: AttemptId,
    /// Who voided it.
    pub canvasser: CanvasserId,
    /// On which install.
    pub device: DeviceId,
    /// When.
    pub recorded_at: Timestamp,
}

/// One element of a turf document's append-only log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Entry {
    /// A knock or call.
    Attempt(Attempt),
    /// A withdrawal of an earlier attempt.
    Void(Void),
}

impl Entry {
    /// When the entry was recorded.
    pub fn recorded_at(&self) -> Timestamp {
        match self {
            Entry::Attempt(a) => a.recorded_at,
            Entry::Void(v) => v.recorded_at,
        }
    }

    /// The entry's own id.
    pub fn id(&self) -> AttemptId {
        match self {
            Entry::Attempt(a) => a.id,
            Entry::Void(v) => v.id,
        }
    }
}

/// A person met at the door who is not on the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddedPerson {
    /// `p-` followed by 32 hex digits.
    pub id: VoterId,
    /// Where they live.
    pub household: HouseholdId,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Phone number, if given.
    pub phone: Option<String>,
    /// Who added them.
    pub added_by: CanvasserId,
    /// On which install.
    pub device: DeviceId,
    /// When.
    pub recorded_at: Timestamp,
}
