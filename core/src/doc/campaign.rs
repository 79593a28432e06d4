//! The campaign document: written by organizers, read-only on phones.

use super::{DocId, check_schema, codec, genesis_actor, load_doc};
use crate::domain::{Campaign, CampaignId};
use crate::error::{Error, Result};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ROOT, ReadDoc};

/// Schema version of campaign documents written by this code.
pub const CAMPAIGN_SCHEMA: u64 = 1;

/// A campaign as an Automerge document. The campaign is one encoded value: organizers replace it
/// whole, and a campaign is small.
pub struct CampaignDoc {
    doc: AutoCommit,
    id: DocId,
}

impl CampaignDoc {
    /// A new document holding `campaign`, edited as `actor` from here on.
    pub fn new(campaign: &Campaign, actor: ActorId) -> Result<Self> {
        let mut doc = AutoCommit::new().with_actor(genesis_actor());
        let id = DocId::campaign(&campaign.id);
        let am = |e: automerge::AutomergeError| Error::CorruptDocument {
            doc: id.to_string(),
            reason: e.to_string(),
        };
        doc.put(ROOT, "schema", CAMPAIGN_SCHEMA).map_err(am)?;
        doc.put(ROOT, "campaign", campaign.id.as_str())
            .map_err(am)?;
        doc.commit_with(CommitOptions::default());
        doc.set_actor(actor);
        let mut this = Self { doc, id };
        this.set(campaign)?;
        Ok(this)
    }

    /// Loads a stored document.
    pub fn load(id: &CampaignId, snapshot: &[u8], changes: &[&[u8]]) -> Result<Self> {
        let doc_id = DocId::campaign(id);
        let doc = load_doc(&doc_id, snapshot, changes.iter().copied())?;
        check_schema(&doc, &doc_id, CAMPAIGN_SCHEMA)?;
        Ok(Self { doc, id: doc_id })
    }

    /// Replaces the campaign.
    pub fn set(&mut self, campaign: &Campaign) -> Result<()> {
        campaign.validate().map_err(Error::InvalidCampaign)?;
        self.doc
            .put(ROOT, "body", codec::encode_campaign(campaign))
            .map_err(|e| Error::CorruptDocument {
                doc: self.id.to_string(),
                reason: e.to_string(),
            })?;
        self.doc.commit();
        Ok(())
    }

    /// The campaign, or `None` if the document has no body yet.
    pub fn campaign(&self) -> Result<Option<Campaign>> {
        campaign_of(&self.doc, &self.id)
    }

    /// The underlying Automerge document.
    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }
}

pub(crate) fn campaign_of(doc: &AutoCommit, id: &DocId) -> Result<Option<Campaign>> {
    let corrupt = |reason: String| Error::CorruptDocument {
        doc: id.to_string(),
        reason,
    };
    match doc.get(ROOT, "body") {
        Ok(Some((value, _))) => {
            let bytes = value
                .as_bytes()
                .ok_or_else(|| corrupt("campaign body is not bytes".into()))?;
            codec::decode_campaign(bytes)
                .map(Some)
                .map_err(|e| corrupt(e.to_string()))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(corrupt(e.to_string())),
    }
}
