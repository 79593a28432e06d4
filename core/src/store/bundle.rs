//! Bundles on the phone: export what this phone holds, import what another phone made.

use super::{Store, storage_tx};
use crate::bundle::{Bundle, BundleDoc, BundleReport};
use crate::doc::{DocId, DocKind, check_parses};
use crate::domain::{
    Address, CampaignId, Household, HouseholdId, ListKind, Location, Roster, Timestamp, TurfId,
    Voter, VoterId,
};
use crate::error::{Error, Result};
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
    /// or oversized file is refused whole and changes nothing; importing the same bundle twice
    /// changes nothing the second time. A phone whose server role is canvasser takes only the
    /// turfs it already holds (and their campaigns): the rest is refused and reported.
    pub fn import_bundle(&mut self, bytes: &[u8]) -> Result<BundleReport> {
        let bundle = Bundle::decode(bytes)?;
        let mut report = BundleReport::default();
        let entitled = self.bundle_entitlement()?;
        let allowed = |id: &DocId| match (&entitled, id.kind) {
            (None, _) => true,
            (Some((turfs, _)), DocKind::Turf) => turfs.contains(&id.id),
            (Some((_, campaigns)), DocKind::Campaign) => campaigns.contains(&id.id),
        };
        // Every document is parsed before anything is written: a bad one refuses the bundle.
        let mut docs = Vec::with_capacity(bundle.docs.len());
        for doc in &bundle.docs {
            let id = DocId::parse(&doc.id).ok_or_else(|| Error::Protocol {
                peer: "bundle".into(),
                reason: format!("'{}' is not a document id", doc.id),
            })?;
            if !allowed(&id) {
                report.refused.push((doc.id.clone(), NOT_ENTITLED.into()));
                continue;
            }
            check_parses(&id, &doc.changes)?;
            docs.push((id, &doc.changes));
        }
        for roster in &bundle.rosters {
            if !allowed(&DocId::turf(&roster.turf)) {
                report
                    .refused
                    .push((format!("roster:{}", roster.turf), NOT_ENTITLED.into()));
                continue;
            }
            match self.apply_roster(roster) {
                Ok(true) => report.rosters_applied += 1,
                Ok(false) | Err(Error::StaleRoster { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        // Campaigns first: a turf's screens read its campaign.
        docs.sort_by_key(|(id, _)| id.kind != DocKind::Campaign);
        for (id, changes) in docs {
            match self.merge_changes(&id, changes) {
                Ok(outcome) if outcome.changed => report.docs_changed += 1,
                Ok(_) => report.docs_unchanged += 1,
                // A partial bundle whose base this phone lacks: the rest still imports.
                Err(e @ Error::MissingDependencies { .. }) => {
                    report.refused.push((id.to_string(), e.to_string()))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// `None` when this phone may take any document; otherwise the turfs and campaigns it may.
    fn bundle_entitlement(&self) -> Result<Option<(HashSet<String>, HashSet<String>)>> {
        if self.role()?.as_deref() != Some("canvasser") {
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
                let lat: Option<f64> = r.get(6)?;
                let lon: Option<f64> = r.get(7)?;
                Ok(Household {
                    id: HouseholdId(r.get(0)?),
                    walk_order: r.get(1)?,
                    address: Address {
                        street: r.get(2)?,
                        unit: r.get(3)?,
                        city: r.get(4)?,
                        zip: r.get(5)?,
                    },
                    location: lat.zip(lon).map(|(lat, lon)| Location { lat, lon }),
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

    /// Remembers the server this phone syncs with and the token it signs in with. The token
    /// stays in this phone's database (inside the app's private storage), so the app can sync
    /// after a restart without asking again.
    pub fn set_server(&mut self, url: &str, token: &str) -> Result<()> {
        let (url, token) = Self::check_server(url, token)?;
        let tx = storage_tx(&mut self.conn)?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('server_url', ?1)",
            [&url],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('server_token', ?1)",
            [&token],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Checks a server address and token before they are used, and returns them trimmed.
    pub fn check_server(url: &str, token: &str) -> Result<(String, String)> {
        let url = url.trim().trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::InvalidServer {
                reason: "the server address must start with http:// or https://",
            });
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(Error::Empty { field: "token" });
        }
        Ok((url.to_owned(), token.to_owned()))
    }

    /// The server address and token set by [`Store::set_server`], if any.
    pub fn server(&self) -> Result<Option<(String, String)>> {
        let get = |key: &str| -> Result<Option<String>> {
            Ok(self
                .conn
                .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
                .query_row([key], |r| r.get(0))
                .optional()?)
        };
        Ok(get("server_url")?.zip(get("server_token")?))
    }

    /// Forgets the server, the token and who is signed in. Refused while results wait to be
    /// synced: signing out must never discard a knock.
    pub fn sign_out(&mut self) -> Result<()> {
        let waiting = self.outbox_count()?;
        if waiting > 0 {
            return Err(Error::UnsyncedResults { count: waiting });
        }
        let tx = storage_tx(&mut self.conn)?;
        tx.execute(
            "DELETE FROM meta WHERE key IN ('server_url', 'server_token', 'canvasser', 'role')",
            [],
        )?;
        tx.commit()?;
        self.canvasser = None;
        Ok(())
    }
}

/// Why a bundle's document was left out on a canvasser's phone.
const NOT_ENTITLED: &str = "not one of this phone's turfs";
