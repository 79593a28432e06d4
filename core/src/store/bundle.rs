//! Bundles on the phone: export what this phone holds, import what another phone made.

use super::Store;
use super::queries::address_at;
use crate::bundle::{Bundle, BundleDoc, BundleError, BundleReport};
use crate::doc::{DocId, DocKind, check_parses};
use crate::domain::{
    CampaignId, Household, HouseholdId, ListKind, Roster, Timestamp, TurfId, Voter, VoterId,
};
use crate::error::{Error, Result};
use crate::sync::{Rights, Role, check_turf_update};
use rusqlite::OptionalExtension;
use std::collections::HashSet;

impl Store {
    /// Everything this phone holds (every document in full, every roster) as a bundle file's
    /// bytes, for another phone to import. `now` is the phone's clock, in milliseconds.
    pub fn export_bundle(&mut self, now: Timestamp) -> Result<Vec<u8>> {
        let mut docs = Vec::new();
        for id in self.documents()? {
            let changes = self.export_changes(&id, &[])?;
            docs.push(BundleDoc {
                id: id.to_string(),
                changes,
            });
        }
        let mut rosters = Vec::new();
        for turf in self.turfs()? {
            if let Some(roster) = self.roster(&turf.turf)? {
                rosters.push(roster);
            }
        }
        let bundle = Bundle {
            from_device: self.device.to_string(),
            created_at: now,
            rosters,
            docs,
        };
        Ok(bundle.encode()?)
    }

    /// Imports a bundle made by [`Store::export_bundle`] on another phone. A damaged, cut-off
    /// or oversized file, or one holding a document this phone cannot use, is refused whole and
    /// changes nothing; importing the same bundle twice changes nothing the second time.
    ///
    /// A phone that has synced with a server keeps the rosters the server gave it (a bundle's
    /// copy of a turf it holds is ignored). A canvasser's phone takes only the turfs it already
    /// holds, and in them only what it could itself send to the server (its own results, or
    /// results the documents already hold): anything else is left out and reported, so that no
    /// bundle can leave the phone with changes the server would refuse.
    pub fn import_bundle(&mut self, bytes: &[u8]) -> Result<BundleReport> {
        let bundle = Bundle::decode(bytes)?;
        let mut report = BundleReport::default();
        let role = self.role()?;
        let entitled = self.bundle_entitlement(role.as_deref())?;
        let allowed = |id: &DocId| match (&entitled, id.kind) {
            (None, _) => true,
            (Some((turfs, _)), DocKind::Turf) => turfs.contains(&id.id),
            (Some((_, campaigns)), DocKind::Campaign) => campaigns.contains(&id.id),
        };
        // A canvasser's phone judges what it takes by that canvasser's rights.
        let canvasser = match (role.as_deref(), &self.canvasser) {
            (Some("canvasser"), Some(user)) => Some(Rights {
                role: Role::Canvasser,
                user: user.0.clone(),
                team: HashSet::new(),
            }),
            (Some("canvasser"), None) => return Err(Error::NotSignedIn),
            _ => None,
        };

        let mut rosters = Vec::new();
        for roster in &bundle.rosters {
            let key = format!("roster:{}", roster.turf);
            if !allowed(&DocId::turf(&roster.turf)) {
                report.refused.push((key, NOT_ENTITLED.into()));
                continue;
            }
            match self.roster_campaign(&roster.turf)? {
                // The server's roster stands on a phone that syncs with one.
                Some(_) if role.is_some() => continue,
                Some(held) if held != roster.campaign.0 => {
                    report.refused.push((key, OTHER_CAMPAIGN.into()));
                    continue;
                }
                _ => rosters.push(roster),
            }
        }

        // Every document is tried on a copy before anything is written: one this phone cannot
        // use refuses the bundle.
        let mut docs = Vec::with_capacity(bundle.docs.len());
        for doc in &bundle.docs {
            let unusable = |e: Error| {
                Error::Bundle(BundleError::Document {
                    doc: doc.id.clone(),
                    reason: e.to_string(),
                })
            };
            let Some(id) = DocId::parse(&doc.id) else {
                return Err(unusable(Error::Empty {
                    field: "document id",
                }));
            };
            if !allowed(&id) {
                report.refused.push((doc.id.clone(), NOT_ENTITLED.into()));
                continue;
            }
            check_parses(&id, &doc.changes).map_err(unusable)?;
            let trial = match id.kind {
                DocKind::Turf => self
                    .trial_turf_merge(&TurfId(id.id.clone()), &doc.changes)
                    .map(|(before, after)| match &canvasser {
                        Some(rights) => check_turf_update(&before, &after, rights).err(),
                        None => None,
                    }),
                DocKind::Campaign => self
                    .prepare_campaign_merge(&CampaignId(id.id.clone()), &doc.changes)
                    .map(|_| None),
            };
            match trial {
                Ok(None) => docs.push((id, &doc.changes)),
                Ok(Some(refusal)) => report
                    .refused
                    .push((doc.id.clone(), format!("{FORWARD_ONLY}: {refusal}"))),
                // A partial bundle whose base this phone lacks: the rest still imports.
                Err(e @ Error::MissingDependencies { .. }) => {
                    report.refused.push((doc.id.clone(), e.to_string()))
                }
                Err(e) => return Err(unusable(e)),
            }
        }

        for roster in rosters {
            match self.apply_roster(roster) {
                Ok(true) => report.rosters_applied += 1,
                Ok(false) | Err(Error::StaleRoster { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        // Campaigns first: a turf's screens read its campaign.
        docs.sort_by_key(|(id, _)| id.kind != DocKind::Campaign);
        for (id, changes) in docs {
            if self.merge_changes(&id, changes)?.changed {
                report.docs_changed += 1;
            } else {
                report.docs_unchanged += 1;
            }
        }
        Ok(report)
    }

    /// `None` when this phone may take any document; otherwise the turfs and campaigns it may.
    fn bundle_entitlement(
        &self,
        role: Option<&str>,
    ) -> Result<Option<(HashSet<String>, HashSet<String>)>> {
        if role != Some("canvasser") {
            return Ok(None);
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT turf_id, campaign_id FROM rosters")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut turfs = HashSet::new();
        let mut campaigns = HashSet::new();
        for row in rows {
            let (turf, campaign) = row?;
            turfs.insert(turf);
            campaigns.insert(campaign);
        }
        Ok(Some((turfs, campaigns)))
    }

    /// The campaign of the roster held for a turf, if any.
    fn roster_campaign(&self, turf: &TurfId) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT campaign_id FROM rosters WHERE turf_id = ?1")?
            .query_row([turf.as_str()], |r| r.get(0))
            .optional()?)
    }

    /// The roster of a turf as this phone holds it.
    pub fn roster(&self, turf: &TurfId) -> Result<Option<Roster>> {
        let head = self
            .conn
            .prepare_cached(
                "SELECT campaign_id, version, name, list_kind FROM rosters WHERE turf_id = ?1",
            )?
            .query_row([turf.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .optional()?;
        let Some((campaign, version, name, list_kind)) = head else {
            return Ok(None);
        };
        let households = self
            .conn
            .prepare_cached(
                "SELECT household_id, walk_order, street, unit, city, zip, lat, lon
                 FROM roster_households WHERE turf_id = ?1 ORDER BY walk_order, household_id",
            )?
            .query_map([turf.as_str()], |r| {
                let (address, location) = address_at(r, 2)?;
                Ok(Household {
                    id: HouseholdId(r.get(0)?),
                    walk_order: r.get(1)?,
                    address,
                    location,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let voters = self
            .conn
            .prepare_cached(
                "SELECT voter_id, household_id, first_name, last_name, age, gender, party, tags,
                     precinct, phone
                 FROM roster_voters WHERE turf_id = ?1 ORDER BY voter_id",
            )?
            .query_map([turf.as_str()], |r| {
                Ok(Voter {
                    id: VoterId(r.get(0)?),
                    household: HouseholdId(r.get(1)?),
                    first_name: r.get(2)?,
                    last_name: r.get(3)?,
                    age: r.get(4)?,
                    gender: r.get(5)?,
                    party: r.get(6)?,
                    tags: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or_default(),
                    precinct: r.get(8)?,
                    phone: r.get(9)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Some(Roster {
            turf: turf.clone(),
            campaign: CampaignId(campaign),
            version: version as u64,
            name,
            list_kind: ListKind::parse(&list_kind).unwrap_or(ListKind::Walk),
            households,
            voters,
        }))
    }
}

/// Why a bundle's document was left out on a canvasser's phone.
const NOT_ENTITLED: &str = "not one of this phone's turfs";
/// Why a bundle's turf document was left out on a canvasser's phone.
const FORWARD_ONLY: &str = "holds results only a captain's phone may carry to the server";
/// Why a bundle's roster was left out.
const OTHER_CAMPAIGN: &str = "would move the turf to another campaign";
