//! Rosters: versioned, read-only snapshots of a turf's households and voters. Not a CRDT.

use super::attempt::Location;
use super::campaign::ListKind;
use super::ids::{CampaignId, HouseholdId, TurfId, VoterId};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// A residential address. Units of one building are separate households.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    /// House number and street.
    pub street: String,
    /// Apartment or unit, if any.
    pub unit: Option<String>,
    /// City.
    pub city: String,
    /// ZIP code.
    pub zip: String,
}

/// One door.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Household {
    /// Stable id.
    pub id: HouseholdId,
    /// Position in the organizer's walk order (the document may reorder it).
    pub walk_order: u32,
    /// Where it is.
    pub address: Address,
    /// Map position, if geocoded.
    pub location: Option<Location>,
}

/// A voter, with only the fields a canvasser needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voter {
    /// Stable id.
    pub id: VoterId,
    /// The household the voter lives in.
    pub household: HouseholdId,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Age in years, if known.
    pub age: Option<u16>,
    /// Gender code as in the voter file.
    pub gender: Option<String>,
    /// Party code as in the voter file.
    pub party: Option<String>,
    /// Audience tags.
    #[serde(deserialize_with = "super::bounded::vec::<_, _, 64>")]
    pub tags: Vec<String>,
    /// Precinct code.
    pub precinct: Option<String>,
    /// Phone number, for call lists.
    pub phone: Option<String>,
}

/// A turf's households and voters at one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Roster {
    /// The turf.
    pub turf: TurfId,
    /// The campaign the turf belongs to.
    pub campaign: CampaignId,
    /// Increases with every change on the server; a phone never goes back.
    pub version: u64,
    /// Display name of the turf.
    pub name: String,
    /// Walk list or call list.
    pub list_kind: ListKind,
    /// The doors.
    #[serde(deserialize_with = "super::bounded::vec::<_, _, { super::MAX_ROSTER_ENTRIES }>")]
    pub households: Vec<Household>,
    /// The voters in them.
    #[serde(deserialize_with = "super::bounded::vec::<_, _, { super::MAX_ROSTER_ENTRIES }>")]
    pub voters: Vec<Voter>,
}

impl Roster {
    /// Checks that ids are unique and every voter lives in a listed household.
    /// The message names ids only.
    pub fn validate(&self) -> Result<(), String> {
        let long = |id: &str| id.len() > super::MAX_FIELD_BYTES;
        if long(&self.turf.0)
            || long(&self.campaign.0)
            || self.households.iter().any(|h| long(&h.id.0))
            || self
                .voters
                .iter()
                .any(|v| long(&v.id.0) || long(&v.household.0))
        {
            return Err(format!(
                "an id is longer than {} bytes",
                super::MAX_FIELD_BYTES
            ));
        }
        let mut households = HashSet::new();
        for h in &self.households {
            if h.id.0.is_empty() {
                return Err("a household has an empty id".into());
            }
            if !households.insert(&h.id) {
                return Err(format!("household {} is listed twice", h.id));
            }
        }
        let mut voters = HashSet::new();
        for v in &self.voters {
            if v.id.0.is_empty() || v.id.0.starts_with("p-") {
                return Err(format!(
                    "voter id '{}' is empty or uses the reserved prefix 'p-'",
                    v.id
                ));
            }
            if !voters.insert(&v.id) {
                return Err(format!("voter {} is listed twice", v.id));
            }
            if !households.contains(&v.household) {
                return Err(format!(
                    "voter {} lives in household {}, which is not in the roster",
                    v.id, v.household
                ));
            }
        }
        Ok(())
    }
}
