//! Automerge documents and their schema: one turf document per walk list, one campaign document
//! per campaign.

mod campaign;
pub mod codec;
mod team;
mod turf;

pub use campaign::{CAMPAIGN_SCHEMA, CampaignDoc};
pub use team::{TEAM_SCHEMA, TeamDoc};
pub use turf::{TURF_SCHEMA, TurfDoc, TurfLog};

use crate::error::{Error, Result};
use automerge::{ActorId, AutoCommit, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, Value};
use std::fmt;

/// What a document holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocKind {
    /// A turf's walk list and everything recorded on it.
    Turf,
    /// A campaign's outcome codes, questions, scripts and audiences.
    Campaign,
    /// A team's members and who holds each of its turfs.
    Team,
}

impl DocKind {
    /// Stable name used in storage and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Turf => "turf",
            DocKind::Campaign => "campaign",
            DocKind::Team => "team",
        }
    }

    /// Parses [`DocKind::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "turf" => Some(DocKind::Turf),
            "campaign" => Some(DocKind::Campaign),
            "team" => Some(DocKind::Team),
            _ => None,
        }
    }
}

/// A document's identity: its kind and the id of the turf or campaign it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocId {
    /// What it holds.
    pub kind: DocKind,
    /// The turf, campaign or team id.
    pub id: String,
}

impl DocId {
    /// The turf document of `turf`.
    pub fn turf(turf: &crate::domain::TurfId) -> Self {
        Self {
            kind: DocKind::Turf,
            id: turf.0.clone(),
        }
    }

    /// The campaign document of `campaign`.
    pub fn campaign(campaign: &crate::domain::CampaignId) -> Self {
        Self {
            kind: DocKind::Campaign,
            id: campaign.0.clone(),
        }
    }

    /// The team document of `team`.
    pub fn team(team: &str) -> Self {
        Self {
            kind: DocKind::Team,
            id: team.to_owned(),
        }
    }

    /// Parses the `kind:id` form.
    pub fn parse(s: &str) -> Option<Self> {
        let (kind, id) = s.split_once(':')?;
        Some(Self {
            kind: DocKind::parse(kind)?,
            id: id.to_owned(),
        })
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.id)
    }
}

/// The actor of every genesis change. Genesis changes are deterministic (same actor, no
/// timestamp, same operations), so replicas that create the same document independently create
/// the very same change, and their copies merge instead of conflicting.
const GENESIS_ACTOR: &[u8; 16] = b"doorstep:genesis";

pub(crate) fn genesis_actor() -> ActorId {
    ActorId::from(&GENESIS_ACTOR[..])
}

/// Loads a document from a snapshot (possibly empty) and incremental change chunks.
pub fn load_doc<'a>(
    doc_id: &DocId,
    snapshot: &[u8],
    changes: impl IntoIterator<Item = &'a [u8]>,
) -> Result<AutoCommit> {
    let corrupt = |e: automerge::AutomergeError| Error::CorruptDocument {
        doc: doc_id.to_string(),
        reason: e.to_string(),
    };
    let mut doc = if snapshot.is_empty() {
        AutoCommit::new()
    } else {
        AutoCommit::load(snapshot).map_err(corrupt)?
    };
    for chunk in changes {
        doc.load_incremental(chunk).map_err(corrupt)?;
    }
    Ok(doc)
}

/// Checks that `bytes` parse completely as Automerge chunks (a saved document or changes).
///
/// `load_incremental` silently keeps whatever prefix of damaged input it could read; merging
/// must refuse damaged input whole instead. Changes that merely build on changes not included
/// pass this check: whether the receiving replica has those is checked after applying.
pub fn check_parses(doc_id: &DocId, bytes: &[u8]) -> Result<()> {
    let options = automerge::LoadOptions::new()
        .on_partial_load(automerge::OnPartialLoad::Error)
        .verification_mode(automerge::VerificationMode::Check);
    match automerge::Automerge::load_with_options(bytes, options) {
        Ok(_) | Err(automerge::AutomergeError::MissingDeps) => Ok(()),
        Err(e) => Err(Error::CorruptDocument {
            doc: doc_id.to_string(),
            reason: e.to_string(),
        }),
    }
}

/// Applies received change bytes to `doc` and checks that nothing they build on is missing.
/// On error `doc` may hold part of them: the caller drops it (or applied them to a fork).
pub fn apply_incoming(doc: &mut AutoCommit, doc_id: &DocId, bytes: &[u8]) -> Result<()> {
    doc.load_incremental(bytes)
        .map_err(|e| Error::CorruptDocument {
            doc: doc_id.to_string(),
            reason: e.to_string(),
        })?;
    let missing = doc.get_missing_deps(&[]);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::MissingDependencies {
            doc: doc_id.to_string(),
            missing: missing.len(),
        })
    }
}

/// Reads the schema version and checks it is one this code understands.
pub(crate) fn check_schema(doc: &AutoCommit, doc_id: &DocId, supported: u64) -> Result<()> {
    let found = match doc.get(ROOT, "schema") {
        Ok(Some((value, _))) => value.as_u64(),
        _ => None,
    };
    match found {
        Some(v) if v >= 1 && v <= supported => Ok(()),
        Some(v) if v > supported => Err(Error::DocumentTooNew {
            doc: doc_id.to_string(),
            found: v,
            supported,
        }),
        _ => Err(Error::CorruptDocument {
            doc: doc_id.to_string(),
            reason: "no schema version".into(),
        }),
    }
}

/// The id of a container object under the root, checked to be of the expected type.
pub(crate) fn root_object(
    doc: &AutoCommit,
    doc_id: &DocId,
    key: &str,
    expected: ObjType,
) -> Result<ObjId> {
    match doc.get(ROOT, key) {
        Ok(Some((Value::Object(t), id))) if t == expected => Ok(id),
        _ => Err(Error::CorruptDocument {
            doc: doc_id.to_string(),
            reason: format!("missing or mistyped '{key}'"),
        }),
    }
}

/// Heads as stored: the 32-byte hashes concatenated.
pub fn heads_to_bytes(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

/// Parses [`heads_to_bytes`]'s output.
pub fn heads_from_bytes(bytes: &[u8]) -> Option<Vec<ChangeHash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    bytes
        .chunks_exact(32)
        .map(|c| ChangeHash::try_from(c).ok())
        .collect()
}
