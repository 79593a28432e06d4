//! What the dashboard needs from storage: sign-in sessions, and progress figures computed by
//! the database from the results projection (never by loading documents or attempts), so a
//! campaign of a million voters stays fast. Blocking, like [`Storage`].

use super::{Principal, StorageResult};
use crate::storage::Organize;
use doorstep_core::sync::Role;

/// Which turfs a page covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every turf and call list of a campaign.
    Campaign(String),
    /// Every turf a team holds, whatever its campaign.
    Team(String),
}

/// Outcome codes that count as a contact: (campaign, code) pairs.
pub type Contacts = [(String, String)];

/// Progress figures of a turf, a team, a person or a whole campaign.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    /// Doors (walk lists) or voters (call lists) in the current rosters.
    pub doors: u64,
    /// Doors (voters, on call lists) with at least one attempt not voided.
    pub knocked: u64,
    /// Attempts not voided.
    pub attempts: u64,
    /// Voters reached: an attempt whose outcome counts as a contact.
    pub contacts: u64,
    /// Voters by their latest support level, 1 (strong support) to 5.
    pub support: [u64; 5],
    /// The latest attempt's recorded time, ms.
    pub last_at: Option<i64>,
    /// Attempts with each of the outcome codes asked for, in their order (attempts with other
    /// codes are `attempts` less their sum).
    pub outcomes: Vec<u64>,
}

impl Figures {
    /// Adds another's figures (turfs never share a door, so their sums are exact).
    pub fn add(&mut self, other: &Figures) {
        self.doors += other.doors;
        self.knocked += other.knocked;
        self.attempts += other.attempts;
        self.contacts += other.contacts;
        for (a, b) in self.support.iter_mut().zip(other.support) {
            *a += b;
        }
        self.last_at = self.last_at.max(other.last_at);
        if self.outcomes.len() < other.outcomes.len() {
            self.outcomes.resize(other.outcomes.len(), 0);
        }
        for (a, b) in self.outcomes.iter_mut().zip(&other.outcomes) {
            *a += b;
        }
    }

    /// Attempts whose outcome is none of the codes counted in `outcomes`.
    pub fn other_outcomes(&self) -> u64 {
        self.attempts.saturating_sub(self.outcomes.iter().sum())
    }

    /// Contacts per knocked door, as a percentage.
    pub fn contact_rate(&self) -> f64 {
        if self.knocked == 0 {
            0.0
        } else {
            100.0 * self.contacts as f64 / self.knocked as f64
        }
    }

    /// Knocked doors per door, as a percentage.
    pub fn done(&self) -> f64 {
        if self.doors == 0 {
            0.0
        } else {
            100.0 * self.knocked as f64 / self.doors as f64
        }
    }
}

/// A turf or call list with its progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurfProgress {
    /// Id.
    pub turf: String,
    /// Display name.
    pub name: String,
    /// "walk" or "call".
    pub kind: String,
    /// Campaign.
    pub campaign: String,
    /// Team holding it, if any.
    pub team: Option<String>,
    /// Users it is assigned to, sorted.
    pub assigned: Vec<String>,
    /// Its figures.
    pub figures: Figures,
}

/// A user as the dashboard lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Team, if any.
    pub team: Option<String>,
    /// Whether they were revoked.
    pub revoked: bool,
}

/// A phone that has synced, and when it last did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneSync {
    /// Its user.
    pub user: String,
    /// The device id, hex.
    pub device: String,
    /// When it last synced, ms.
    pub last_sync_at: i64,
}

/// Attempts recorded in one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourCount {
    /// The hour's start, ms since the epoch.
    pub hour: i64,
    /// Attempts recorded in it, not voided.
    pub attempts: u64,
    /// Of them, contacts.
    pub contacts: u64,
}

/// A door's status on the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DoorStatus {
    /// No attempt yet.
    NotKnocked = 0,
    /// Knocked, nobody reached.
    Knocked = 1,
    /// Somebody reached.
    Contact = 2,
}

impl DoorStatus {
    /// From its number in [`DoorMap`] rows.
    pub fn from_index(i: i64) -> Self {
        match i {
            2 => Self::Contact,
            1 => Self::Knocked,
            _ => Self::NotKnocked,
        }
    }
}

/// Where the doors of a scope are, and their status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DoorMap {
    /// Doors with a map position, by status ([`DoorStatus`] as index).
    pub located: [u64; 3],
    /// Doors without one.
    pub unlocated: u64,
    /// (south, west, north, east) of the located doors.
    pub bounds: Option<(f64, f64, f64, f64)>,
    /// Each door, when there are few enough to draw one by one.
    pub points: Vec<(f64, f64, DoorStatus)>,
    /// Otherwise doors gathered into a grid of `grid` × `grid` cells over `bounds`:
    /// (row from the south, column from the west, count per status).
    pub cells: Vec<(u32, u32, [u64; 3])>,
    /// The grid's side, when `cells` is used.
    pub grid: u32,
}

/// The dashboard's storage.
pub trait Dashboard: Organize {
    /// Opens a session for the user of a live token, stored under the hash of the session's
    /// secret until `expires_at`; `None` (and nothing stored) for an unknown or revoked token.
    fn open_session(
        &self,
        session_hash: &[u8; 32],
        token_hash: &[u8; 32],
        now: i64,
        expires_at: i64,
    ) -> StorageResult<Option<Principal>>;
    /// The user of a session, unless it expired, was closed, or its token was revoked.
    fn session(&self, session_hash: &[u8; 32], now: i64) -> StorageResult<Option<Principal>>;
    /// Closes a session.
    fn close_session(&self, session_hash: &[u8; 32]) -> StorageResult<()>;
    /// Teams: id and name.
    fn teams(&self) -> StorageResult<Vec<(String, String)>>;
    /// Every user.
    fn people(&self) -> StorageResult<Vec<Person>>;
    /// Every phone that has synced.
    fn phones(&self) -> StorageResult<Vec<PhoneSync>>;
    /// Each turf of the scope with its figures, by id, counting attempts per outcome code of
    /// `outcomes`.
    fn turf_progress(
        &self,
        scope: &Scope,
        contacts: &Contacts,
        outcomes: &[String],
    ) -> StorageResult<Vec<TurfProgress>>;
    /// Figures per user who recorded attempts in the scope (`doors` is 0).
    fn person_progress(
        &self,
        scope: &Scope,
        contacts: &Contacts,
        outcomes: &[String],
    ) -> StorageResult<Vec<(String, Figures)>>;
    /// Attempts per hour in the scope, oldest first.
    fn timeline(&self, scope: &Scope, contacts: &Contacts) -> StorageResult<Vec<HourCount>>;
    /// The scope's doors on a map: one by one up to `max_points`, else in a grid of `grid` ×
    /// `grid` cells.
    fn door_map(
        &self,
        scope: &Scope,
        contacts: &Contacts,
        max_points: u64,
        grid: u32,
    ) -> StorageResult<DoorMap>;
}
