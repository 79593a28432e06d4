//! Teams: who is in a team, in which role, and which turfs each member holds.

use serde::{Deserialize, Serialize};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Records attempts in their assigned turfs.
    Canvasser,
    /// Leads a team: may also reorder the team's walk lists and hand its turfs around.
    Captain,
    /// Runs the campaign.
    Admin,
}

impl Role {
    /// The role's name in configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Canvasser => "canvasser",
            Role::Captain => "captain",
            Role::Admin => "admin",
        }
    }

    /// Parses [`Role::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "canvasser" => Some(Role::Canvasser),
            "captain" => Some(Role::Captain),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A member of a team, as the server wrote them into the team document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The user's id (opaque: `cv-...`).
    pub id: String,
    /// The name their captain knows them by.
    pub name: String,
    /// Their role.
    pub role: Role,
}

/// Who holds one turf, and who decided it. Stored whole per turf, so two concurrent
/// reassignments of one turf end with one of them (the same on every replica), never a mix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The members who hold the turf (sorted, no repeats); empty when nobody does.
    pub users: Vec<String>,
    /// Everyone who held it before and holds it no more (sorted, no repeats): what they
    /// recorded on it stays theirs to pass on, whoever carries it.
    pub past: Vec<String>,
    /// Who made this assignment: a captain's user id, or [`ORGANIZER`] for the server.
    pub by: String,
    /// When, by the clock of whoever made it (milliseconds).
    pub at: i64,
}

/// The `by` of assignments the server wrote (an organizer's command).
pub const ORGANIZER: &str = "";

/// A team as its document holds it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Team {
    /// The team's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its members, by id.
    pub members: Vec<Member>,
    /// Each of the team's turfs and who holds it, by turf id.
    pub assignments: Vec<(String, Assignment)>,
}

impl Team {
    /// The member with this id.
    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    /// Who holds a turf of the team (`None` when the turf is not the team's).
    pub fn assignment(&self, turf: &str) -> Option<&Assignment> {
        self.assignments
            .iter()
            .find(|(t, _)| t == turf)
            .map(|(_, a)| a)
    }

    /// The turfs a member may write in: those they hold or held, and, for a captain, every
    /// turf of the team.
    pub fn writable_by(&self, user: &str) -> Vec<&str> {
        let captain = self.member(user).is_some_and(|m| m.role == Role::Captain);
        self.assignments
            .iter()
            .filter(|(_, a)| captain || a.users.iter().chain(&a.past).any(|u| u == user))
            .map(|(t, _)| t.as_str())
            .collect()
    }

    /// The turfs a member holds.
    pub fn turfs_of(&self, user: &str) -> Vec<&str> {
        self.assignments
            .iter()
            .filter(|(_, a)| a.users.iter().any(|u| u == user))
            .map(|(t, _)| t.as_str())
            .collect()
    }
}
