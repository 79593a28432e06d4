//! Bundles on the phone: export what this phone holds (all of it, or what a known peer lacks),
//! import what another phone made. What another phone hands over, by bundle or local sync, is
//! taken by [`Store::take_from_peer`]: entitlement, trial on copies, then the writes.

use super::Store;
use super::queries::address_at;
use crate::bundle::{Bundle, BundleDoc, BundleError, BundleReport};
use crate::doc::{DocId, DocKind, check_parses, heads_from_bytes, heads_to_bytes};
use crate::domain::{
    CampaignId, Household, HouseholdId, ListKind, Role, Roster, Team, Timestamp, TurfId, Voter,
    VoterId,
};
use crate::error::{Error, Result};
use crate::sync::{Rights, change_hashes, check_turf_update, hashes};
use automerge::ChangeHash;
use rusqlite::{OptionalExtension, params};
use std::collections::{HashMap, HashSet};

/// The `peer_state` key of another phone.
pub(crate) fn phone_peer(device: &str) -> String {
    format!("phone:{device}")
}

/// A document handed over by another phone.
pub(crate) struct Offered<'a> {
    /// The document.
    pub id: DocId,
    /// Its changes.
    pub changes: &'a [u8],
}

impl Store {
    /// Everything this phone holds (every document in full, every roster) as a bundle file's
    /// bytes, for another phone to import. `now` is the phone's clock, in milliseconds.
    pub fn export_bundle(&mut self, now: Timestamp) -> Result<Vec<u8>> {
        self.make_bundle(None, now)
    }

    /// A bundle of what `peer` (another phone's device id, from [`Store::peers`]) lacks as far
    /// as this phone knows: changes since the heads it last saw that phone hold (from a bundle
    /// it made, or a local sync with it) and rosters newer than the ones it holds, of the turfs
    /// that phone's user may take (those it holds and those the team document gives it; a
    /// captain, the whole team). Smaller than [`Store::export_bundle`] after the first
    /// exchange, and no voter list goes to a phone that would refuse it; a phone never met
    /// gets everything.
    pub fn export_bundle_for(&mut self, peer: &str, now: Timestamp) -> Result<Vec<u8>> {
        self.make_bundle(Some(&phone_peer(peer)), now)
    }

    fn make_bundle(&mut self, peer: Option<&str>, now: Timestamp) -> Result<Vec<u8>> {
        let known = match peer {
            Some(peer) => self.peer_heads(peer)?,
            None => HashMap::new(),
        };
        let known_rosters = match peer {
            Some(peer) => self.peer_rosters(peer)?,
            None => HashMap::new(),
        };
        let wanted = match peer {
            Some(peer) => {
                let user: Option<String> = self
                    .conn
                    .prepare_cached("SELECT user_id FROM peers WHERE peer = ?1")?
                    .query_row([peer], |r| r.get(0))
                    .optional()?
                    .flatten();
                self.lists_for(user.as_deref())?
            }
            None => None,
        };
        let mut docs = Vec::new();
        for id in self.documents()? {
            if wanted.as_ref().is_some_and(|w| !w.may_take(&id)) {
                continue;
            }
            let since = known.get(&id.to_string()).cloned().unwrap_or_default();
            let changes = self.export_changes(&id, &since)?;
            let heads = self.heads(&id)?;
            docs.push(BundleDoc {
                id: id.to_string(),
                heads: hashes(&heads),
                changes,
            });
        }
        let mut holds = Vec::new();
        let mut rosters = Vec::new();
        for turf in self.turfs()? {
            holds.push((turf.turf.0.clone(), turf.roster_version));
            let theirs = wanted
                .as_ref()
                .is_none_or(|w| w.turfs.contains(turf.turf.as_str()));
            if !theirs
                || known_rosters
                    .get(turf.turf.as_str())
                    .is_some_and(|v| *v >= turf.roster_version)
            {
                continue;
            }
            if let Some(roster) = self.roster(&turf.turf)? {
                rosters.push(roster);
            }
        }
        let bundle = Bundle {
            from_device: self.device.to_string(),
            from_user: self.canvasser.as_ref().map(|c| c.0.clone()),
            created_at: now,
            holds,
            rosters,
            docs,
        };
        Ok(bundle.encode()?)
    }

    /// What another phone, whose user says it is `user`, may be sent: `None` when this phone
    /// sends anything to anyone (it has no team or judges nothing: an organizer's phone, or one
    /// nobody signed in on). A member of this phone's team gets the team's document and the
    /// turfs they hold (a captain, every turf of the team) with their campaigns; anyone else,
    /// nothing. Voter lists never leave for a phone that may not hold them.
    pub(crate) fn lists_for(&self, user: Option<&str>) -> Result<Option<PeerLists>> {
        let (team, judge) = self.own_team_and_rights()?;
        let (Some(team), Some(_)) = (team, judge) else {
            return Ok(None);
        };
        let Some(user) = user.filter(|u| team.member(u).is_some()) else {
            return Ok(Some(PeerLists::default()));
        };
        // The turfs it holds now (a captain: all the team's): a turf handed away from it
        // sends no more of its list or its new holder's news there.
        let captain = team.member(user).is_some_and(|m| m.role == Role::Captain);
        let turfs: HashSet<String> = if captain {
            team.assignments.iter().map(|(t, _)| t.clone()).collect()
        } else {
            team.turfs_of(user).into_iter().map(str::to_owned).collect()
        };
        let mut campaigns = HashSet::new();
        for turf in &turfs {
            if let Some(c) = self.roster_campaign(&TurfId(turf.clone()))? {
                campaigns.insert(c);
            }
        }
        Ok(Some(PeerLists {
            turfs,
            campaigns,
            team: Some(team.id),
        }))
    }

    /// Imports a bundle made by another phone. A damaged, cut-off or oversized file, or one
    /// holding a document this phone cannot use, is refused whole and changes nothing;
    /// importing the same bundle twice changes nothing the second time. Documents this phone
    /// may not hold are left out and reported (see [`Store::take_from_peer`]). Afterwards this
    /// phone knows what the sender holds, so that [`Store::export_bundle_for`] sends it only
    /// what is new. `now` is this phone's clock.
    pub fn import_bundle(&mut self, bytes: &[u8], now: Timestamp) -> Result<BundleReport> {
        let bundle = Bundle::decode(bytes)?;
        let mut offered = Vec::with_capacity(bundle.docs.len());
        for doc in &bundle.docs {
            let id = DocId::parse(&doc.id).ok_or_else(|| {
                Error::Bundle(BundleError::Document {
                    doc: doc.id.clone(),
                    reason: "not a document id".into(),
                })
            })?;
            offered.push(Offered {
                id,
                changes: &doc.changes,
            });
        }
        let report = self.take_from_peer(&bundle.rosters, &offered)?;
        if bundle.from_device != self.device.0 {
            let peer = phone_peer(&bundle.from_device);
            let refused: HashSet<&str> = report.refused.iter().map(|(d, _)| d.as_str()).collect();
            let heads: Vec<(DocId, Vec<ChangeHash>)> = bundle
                .docs
                .iter()
                .filter(|d| !refused.contains(d.id.as_str()) && !d.heads.is_empty())
                .filter_map(|d| DocId::parse(&d.id).map(|id| (id, change_hashes(&d.heads))))
                .collect();
            self.met_peer(
                &peer,
                bundle.from_user.as_deref(),
                now,
                &heads,
                &bundle.holds,
            )?;
        }
        Ok(report)
    }

    /// Takes what another phone hands over (a bundle, or a round of local sync): team
    /// documents first (their assignments say which turfs this phone may take), then rosters,
    /// then the other documents. Every document is tried on a copy before anything is written:
    /// one whose bytes this phone cannot use refuses the whole offer, which changes nothing.
    ///
    /// What this phone may not take is left out and reported, never an error:
    /// - a canvasser's phone takes its own team's document, the turfs it holds or its team
    ///   document assigns to it, and their campaigns; a captain's phone, any of its team's turfs;
    /// - in a turf, only what this phone could itself pass on to the server: its user's own
    ///   records and teammates' records in the team's turfs (a captain's reordering of the walk
    ///   list, say, reaches a canvasser's phone from the server instead);
    /// - a phone that syncs with a server keeps the rosters the server gave it.
    pub(crate) fn take_from_peer(
        &mut self,
        rosters: &[Roster],
        offered: &[Offered<'_>],
    ) -> Result<BundleReport> {
        let mut report = BundleReport::default();
        let mut named = HashSet::new();
        if let Some(twice) = offered.iter().find(|d| !named.insert(&d.id)) {
            return Err(Error::Bundle(BundleError::Malformed(format!(
                "document {} is named twice",
                twice.id
            ))));
        }
        let unusable = |id: &DocId, e: Error| {
            Error::Bundle(BundleError::Document {
                doc: id.to_string(),
                reason: e.to_string(),
            })
        };
        let (held_team, judge) = self.own_team_and_rights()?;
        let me = self.canvasser.clone();
        let server_synced = self.role()?.is_some();

        // Team documents.
        let mut team_view: Option<Team> = held_team.clone();
        let mut teams = Vec::new();
        for doc in offered.iter().filter(|d| d.id.kind == DocKind::Team) {
            if judge.is_some() && held_team.as_ref().is_some_and(|t| t.id != doc.id.id) {
                report
                    .refused
                    .push((doc.id.to_string(), NOT_ENTITLED.into()));
                continue;
            }
            check_parses(&doc.id, doc.changes).map_err(|e| unusable(&doc.id, e))?;
            match self.prepare_team_merge(&doc.id.id, doc.changes) {
                Ok(None) => report.docs_unchanged += 1,
                Ok(Some(prepared)) => {
                    let team = prepared.after.team();
                    let member = me
                        .as_ref()
                        .is_some_and(|m| team.member(m.as_str()).is_some());
                    if judge.is_some() && held_team.is_none() && !member {
                        report
                            .refused
                            .push((doc.id.to_string(), NOT_ENTITLED.into()));
                        continue;
                    }
                    team_view = Some(team);
                    teams.push(prepared);
                }
                Err(e @ Error::MissingDependencies { .. }) => report.lacks_history(&doc.id, e),
                Err(e) => return Err(unusable(&doc.id, e)),
            }
        }

        // Which turfs and campaigns this phone may hold.
        let judge = judge.map(|rights| with_team(rights, team_view.as_ref()));
        let (turfs, mut campaigns) = self
            .entitlement(team_view.as_ref(), judge.as_ref())?
            .unwrap_or_default();
        let limited = judge.is_some();

        let mut taken_rosters = Vec::new();
        for roster in rosters {
            let key = format!("roster:{}", roster.turf);
            if limited && !turfs.contains(roster.turf.as_str()) {
                report.refused.push((key, NOT_ENTITLED.into()));
                continue;
            }
            match self.roster_campaign(&roster.turf)? {
                // The server's roster stands on a phone that syncs with one.
                Some(_) if server_synced => continue,
                Some(held) if held != roster.campaign.0 => {
                    report.refused.push((key, OTHER_CAMPAIGN.into()));
                    continue;
                }
                _ => {
                    campaigns.insert(roster.campaign.0.clone());
                    taken_rosters.push(roster);
                }
            }
        }

        let mut docs = Vec::with_capacity(offered.len());
        for doc in offered.iter().filter(|d| d.id.kind != DocKind::Team) {
            let id = &doc.id;
            let entitled = !limited
                || match id.kind {
                    DocKind::Turf => turfs.contains(&id.id),
                    DocKind::Campaign => campaigns.contains(&id.id),
                    DocKind::Team => false,
                };
            if !entitled {
                report.refused.push((id.to_string(), NOT_ENTITLED.into()));
                continue;
            }
            check_parses(id, doc.changes).map_err(|e| unusable(id, e))?;
            let trial = match id.kind {
                DocKind::Turf => self
                    .trial_turf_merge(&TurfId(id.id.clone()), doc.changes)
                    .map(|(before, after)| {
                        let added = before.log_values().map(|v| v.len()).unwrap_or(0);
                        let now = after.log_values().map(|v| v.len()).unwrap_or(0);
                        match &judge {
                            Some(rights) => check_turf_update(&before, &after, rights)
                                .err()
                                .map_or(Ok(now.saturating_sub(added)), Err),
                            None => Ok(now.saturating_sub(added)),
                        }
                    }),
                DocKind::Campaign => self
                    .prepare_campaign_merge(&CampaignId(id.id.clone()), doc.changes)
                    .map(|_| Ok(0)),
                // Taken above, before anything else.
                DocKind::Team => continue,
            };
            match trial {
                Ok(Ok(records)) => docs.push((id.clone(), doc.changes, records)),
                Ok(Err(refusal)) => report
                    .refused
                    .push((id.to_string(), format!("{FORWARD_ONLY}: {refusal}"))),
                // A partial offer whose base this phone lacks: the rest still goes in.
                Err(e @ Error::MissingDependencies { .. }) => report.lacks_history(id, e),
                Err(e) => return Err(unusable(id, e)),
            }
        }

        for prepared in teams {
            self.write_prepared_team(prepared, false)?;
            report.docs_changed += 1;
        }
        for roster in taken_rosters {
            match self.apply_roster(roster) {
                Ok(true) => report.rosters_applied += 1,
                Ok(false) | Err(Error::StaleRoster { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        // Campaigns first: a turf's screens read its campaign.
        docs.sort_by_key(|(id, _, _)| id.kind != DocKind::Campaign);
        for (id, changes, records) in docs {
            if self.merge_changes(&id, changes)?.changed {
                report.docs_changed += 1;
                report.records_added += records;
            } else {
                report.docs_unchanged += 1;
            }
        }
        Ok(report)
    }

    /// Which turfs and campaigns this phone may take from another phone, with `team` as its
    /// team and `judge` its user's rights: `None` when it may take anything (see
    /// [`Store::take_from_peer`]).
    pub(crate) fn entitlement(
        &self,
        team: Option<&Team>,
        judge: Option<&Rights>,
    ) -> Result<Option<(HashSet<String>, HashSet<String>)>> {
        let Some(rights) = judge else {
            return Ok(None);
        };
        let (mut turfs, campaigns) = self.held_lists()?;
        if let Some(team) = team {
            match rights.role {
                Role::Captain => turfs.extend(team.assignments.iter().map(|(t, _)| t.clone())),
                _ => turfs.extend(team.turfs_of(&rights.user).into_iter().map(str::to_owned)),
            }
        }
        Ok(Some((turfs, campaigns)))
    }

    /// What this phone may take from another phone now, judged by its own team document and
    /// user: the team (as [`Store::team`]) and the entitlement (as [`Store::entitlement`]).
    pub(crate) fn own_entitlement(&self) -> Result<OwnEntitlement> {
        let (team, judge) = self.own_team_and_rights()?;
        let entitled = self.entitlement(team.as_ref(), judge.as_ref())?;
        Ok((team, entitled))
    }

    /// The turfs whose rosters this phone holds, and their campaigns.
    fn held_lists(&self) -> Result<(HashSet<String>, HashSet<String>)> {
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
        Ok((turfs, campaigns))
    }

    /// Records what another phone was seen to hold: its user, documents' heads and rosters.
    pub(crate) fn met_peer(
        &mut self,
        peer: &str,
        user: Option<&str>,
        now: Timestamp,
        heads: &[(DocId, Vec<ChangeHash>)],
        rosters: &[(String, u64)],
    ) -> Result<()> {
        let mut held = Vec::new();
        for (id, h) in heads {
            // Only documents this phone holds can have a peer state (and only heads it knows
            // say anything about what to send later).
            if !self.heads(id)?.is_empty() {
                held.push((id, h));
            }
        }
        let tx = super::storage_tx(&mut self.conn)?;
        tx.prepare_cached(
            "INSERT INTO peers (peer, user_id, last_seen_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (peer) DO UPDATE SET user_id = coalesce(?2, user_id), last_seen_at = ?3",
        )?
        .execute(params![peer, user, now])?;
        for (id, h) in held {
            tx.prepare_cached(
                "INSERT INTO peer_state (peer, doc_id, acked_heads) VALUES (?1, ?2, ?3)
                 ON CONFLICT (peer, doc_id) DO UPDATE SET acked_heads = ?3",
            )?
            .execute(params![peer, id.to_string(), heads_to_bytes(h)])?;
        }
        for (turf, version) in rosters {
            tx.prepare_cached(
                "INSERT INTO peer_rosters (peer, turf_id, version) VALUES (?1, ?2, ?3)
                 ON CONFLICT (peer, turf_id) DO UPDATE SET version = max(version, ?3)",
            )?
            .execute(params![peer, turf, *version as i64])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The heads a peer was last seen to hold, per document.
    pub(crate) fn peer_heads(&self, peer: &str) -> Result<HashMap<String, Vec<ChangeHash>>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT doc_id, acked_heads FROM peer_state WHERE peer = ?1")?;
        let rows = stmt.query_map([peer], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (doc, bytes) = row?;
            if let Some(heads) = heads_from_bytes(&bytes) {
                out.insert(doc, heads);
            }
        }
        Ok(out)
    }

    fn peer_rosters(&self, peer: &str) -> Result<HashMap<String, u64>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT turf_id, version FROM peer_rosters WHERE peer = ?1")?;
        let rows = stmt.query_map([peer], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (turf, version) = row?;
            out.insert(turf, version as u64);
        }
        Ok(out)
    }

    /// The phones this one has exchanged with (bundle or local sync): device id, user, and when
    /// last heard from; most recent first.
    pub fn peers(&self) -> Result<Vec<Peer>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT peer, user_id, last_seen_at FROM peers ORDER BY last_seen_at DESC, peer",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (peer, user, last_seen_at) = row?;
            if let Some(device) = peer.strip_prefix("phone:") {
                out.push(Peer {
                    device: device.to_owned(),
                    user,
                    last_seen_at,
                });
            }
        }
        Ok(out)
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

/// `rights` passing on the records of `team`'s members, each in the turfs that member may
/// write in (holds or held; a captain, every turf of the team), and of anyone a turf names as
/// holder or past holder though they left the team (a canvasser revoked mid-shift: their last
/// results still reach the server through a teammate), as the server judges them.
pub(crate) fn with_team(mut rights: Rights, team: Option<&Team>) -> Rights {
    if let Some(team) = team {
        for m in &team.members {
            let turfs = team.writable_by(&m.id).into_iter().map(str::to_owned);
            rights.team.entry(m.id.clone()).or_default().extend(turfs);
        }
        for (turf, a) in &team.assignments {
            for user in a.users.iter().chain(&a.past) {
                rights
                    .team
                    .entry(user.clone())
                    .or_default()
                    .insert(turf.clone());
            }
        }
    }
    rights
}

/// This phone's team and what it may take (see [`Store::own_entitlement`]).
pub(crate) type OwnEntitlement = (Option<Team>, Option<(HashSet<String>, HashSet<String>)>);

/// What another phone may be sent (see [`Store::lists_for`]).
#[derive(Debug, Default)]
pub(crate) struct PeerLists {
    /// Turfs: their documents and rosters.
    pub turfs: HashSet<String>,
    /// Campaigns.
    pub campaigns: HashSet<String>,
    /// The team whose document it may have.
    pub team: Option<String>,
}

impl PeerLists {
    /// Whether the document may be sent.
    pub fn may_take(&self, id: &DocId) -> bool {
        match id.kind {
            DocKind::Turf => self.turfs.contains(&id.id),
            DocKind::Campaign => self.campaigns.contains(&id.id),
            DocKind::Team => self.team.as_deref() == Some(id.id.as_str()),
        }
    }
}

/// Another phone this one has exchanged with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its device id.
    pub device: String,
    /// The user signed in on it, when it said.
    pub user: Option<String>,
    /// When it was last heard from, by this phone's clock.
    pub last_seen_at: Timestamp,
}

/// Why a document was left out: this phone's user may not hold it.
const NOT_ENTITLED: &str = "not one of this phone's turfs or its team";
/// Why a turf document was left out.
const FORWARD_ONLY: &str = "holds records this phone's user may not pass on to the server";
/// Why a bundle's roster was left out.
const OTHER_CAMPAIGN: &str = "would move the turf to another campaign";
