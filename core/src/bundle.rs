//! Bundles: what a phone holds (documents and rosters) in one file, carried by hand to another
//! phone when no network is in reach.
//!
//! A bundle is `b"DBND"`, a version byte (2; version 1, which carried no heads, is still read),
//! a flags byte, the body's length (u64, little endian),
//! the SHA-256 of the body, then the body: postcard, deflated when flag bit 0 is set. The
//! checksum catches a file cut short or damaged on its way; decoding refuses anything over
//! [`MAX_BUNDLE_BYTES`] before or after inflating, so a hostile file cannot exhaust memory.

use crate::DocId;
use crate::domain::Roster;
use crate::sync::check_change_chunks;
use crate::sync::wire::{Hash, MAX_HEADS, MAX_ID_BYTES};
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

/// The first four bytes of every bundle.
pub const BUNDLE_MAGIC: [u8; 4] = *b"DBND";
/// The bundle format this code writes. It reads every version it ever wrote (1 and 2).
pub const BUNDLE_VERSION: u8 = 2;
/// The first bundle format: no heads, no sender's user, no roster list.
const BUNDLE_V1: u8 = 1;
/// The largest bundle accepted, before or after inflating its body. A team's bundle (20 turfs
/// with their rosters and a day's results) is a few megabytes; the limit also bounds what a
/// hostile file can make the decoder allocate.
pub const MAX_BUNDLE_BYTES: usize = 16 << 20;
/// The most documents or rosters one bundle may carry.
pub const MAX_BUNDLE_ENTRIES: usize = 20_000;

const FLAG_DEFLATE: u8 = 1;
const HEADER_BYTES: usize = 4 + 1 + 1 + 8 + 32;

/// Why a bundle was refused. Messages name sizes and ids, never what the bundle holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The file does not start like a bundle.
    #[error("this file is not a Doorstep bundle")]
    NotABundle,
    /// Made by a newer app.
    #[error(
        "bundle format version {0} is not one this app reads ({BUNDLE_VERSION}); update the app"
    )]
    TooNew(u8),
    /// The file is shorter than its header says.
    #[error("bundle is cut off: {found} bytes of {expected}; copy the file again")]
    Truncated {
        /// Bytes the header announces (header included).
        expected: u64,
        /// Bytes found.
        found: usize,
    },
    /// More than [`MAX_BUNDLE_BYTES`].
    #[error("bundle is larger than the {max} byte limit; export one with fewer turfs")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// The body does not match its checksum.
    #[error("bundle is damaged (its checksum does not match); copy the file again")]
    Checksum,
    /// A document in the bundle cannot be used on this phone.
    #[error("document {doc} in the bundle cannot be used: {reason}")]
    Document {
        /// The document.
        doc: String,
        /// Why (ids only).
        reason: String,
    },
    /// The body is well-sized and checksummed but does not decode.
    #[error("bundle is malformed: {0}")]
    Malformed(String),
}

/// SHA-256 over the version, the flags and the body: a flipped flag is damage too.
fn checksum(version: u8, flags: u8, body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update([version, flags]);
    hasher.update(body);
    hasher.finalize().into()
}

/// One document in a bundle: every change of it the sender holds, or those since the heads the
/// sender knew the recipient to hold (possibly none), and the sender's heads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleDoc {
    /// `turf:<id>`, `campaign:<id>` or `team:<id>`.
    pub id: String,
    /// The sender's heads: after importing, the recipient knows the sender holds these.
    #[serde(deserialize_with = "crate::domain::bounded::vec::<_, _, MAX_HEADS>")]
    pub heads: Vec<Hash>,
    /// Automerge change chunks (uncompressed), as [`crate::Store::export_changes`] makes them.
    pub changes: Vec<u8>,
}

/// What a bundle carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// The install that made it (its device id).
    pub from_device: String,
    /// The user signed in on it, if any.
    pub from_user: Option<String>,
    /// When it was made, by that phone's clock (milliseconds).
    pub created_at: i64,
    /// Every roster the sender holds, with its version (those the recipient lacks are in
    /// `rosters`).
    #[serde(deserialize_with = "crate::domain::bounded::vec::<_, _, MAX_BUNDLE_ENTRIES>")]
    pub holds: Vec<(String, u64)>,
    /// Rosters, applied before documents.
    #[serde(deserialize_with = "crate::domain::bounded::vec::<_, _, MAX_BUNDLE_ENTRIES>")]
    pub rosters: Vec<Roster>,
    /// Documents.
    #[serde(deserialize_with = "crate::domain::bounded::vec::<_, _, MAX_BUNDLE_ENTRIES>")]
    pub docs: Vec<BundleDoc>,
}

/// Version 1's body.
#[derive(Deserialize)]
struct BundleV1 {
    from_device: String,
    created_at: i64,
    #[serde(deserialize_with = "crate::domain::bounded::vec::<_, _, MAX_BUNDLE_ENTRIES>")]
    rosters: Vec<Roster>,
    #[serde(deserialize_with = "crate::domain::bounded::vec::<_, _, MAX_BUNDLE_ENTRIES>")]
    docs: Vec<BundleDocV1>,
}

#[derive(Deserialize)]
struct BundleDocV1 {
    id: String,
    changes: Vec<u8>,
}

impl From<BundleV1> for Bundle {
    fn from(v1: BundleV1) -> Self {
        Bundle {
            from_device: v1.from_device,
            from_user: None,
            created_at: v1.created_at,
            holds: v1
                .rosters
                .iter()
                .map(|r| (r.turf.0.clone(), r.version))
                .collect(),
            rosters: v1.rosters,
            docs: v1
                .docs
                .into_iter()
                .map(|d| BundleDoc {
                    id: d.id,
                    heads: Vec::new(),
                    changes: d.changes,
                })
                .collect(),
        }
    }
}

impl Bundle {
    /// The bundle as file bytes.
    pub fn encode(&self) -> Result<Vec<u8>, BundleError> {
        let body =
            postcard::to_allocvec(self).map_err(|e| BundleError::Malformed(e.to_string()))?;
        let mut deflater = DeflateEncoder::new(Vec::new(), Compression::fast());
        deflater
            .write_all(&body)
            .and_then(|()| deflater.finish())
            .map_err(|e| BundleError::Malformed(e.to_string()))
            .and_then(|deflated| {
                if deflated.len() + HEADER_BYTES > MAX_BUNDLE_BYTES || body.len() > MAX_BUNDLE_BYTES
                {
                    return Err(BundleError::TooLarge {
                        max: MAX_BUNDLE_BYTES,
                    });
                }
                let mut out = Vec::with_capacity(HEADER_BYTES + deflated.len());
                out.extend_from_slice(&BUNDLE_MAGIC);
                out.push(BUNDLE_VERSION);
                out.push(FLAG_DEFLATE);
                out.extend_from_slice(&(deflated.len() as u64).to_le_bytes());
                out.extend_from_slice(&checksum(BUNDLE_VERSION, FLAG_DEFLATE, &deflated));
                out.extend_from_slice(&deflated);
                Ok(out)
            })
    }

    /// Reads a bundle from untrusted bytes: never panics, never allocates past the limit, and
    /// checks every document id and that every document's bytes are plain change chunks.
    pub fn decode(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() < 4 || bytes[..4] != BUNDLE_MAGIC {
            return Err(BundleError::NotABundle);
        }
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge {
                max: MAX_BUNDLE_BYTES,
            });
        }
        if bytes.len() < HEADER_BYTES {
            return Err(BundleError::Truncated {
                expected: HEADER_BYTES as u64,
                found: bytes.len(),
            });
        }
        // Before the checksum: a newer app may checksum differently, and "update the app" is
        // what a canvasser handed a newer bundle needs to hear.
        let version = bytes[4];
        if version != BUNDLE_VERSION && version != BUNDLE_V1 {
            return Err(BundleError::TooNew(version));
        }
        let flags = bytes[5];
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[6..14]);
        let len = u64::from_le_bytes(len);
        let expected = len.saturating_add(HEADER_BYTES as u64);
        if expected != bytes.len() as u64 {
            if expected > bytes.len() as u64 {
                return Err(BundleError::Truncated {
                    expected,
                    found: bytes.len(),
                });
            }
            return Err(BundleError::Malformed(format!(
                "{} bytes follow the end the header announces",
                bytes.len() as u64 - expected
            )));
        }
        let body = &bytes[HEADER_BYTES..];
        if checksum(bytes[4], flags, body).as_slice() != &bytes[14..46] {
            return Err(BundleError::Checksum);
        }
        if flags & !FLAG_DEFLATE != 0 {
            return Err(BundleError::Malformed(format!(
                "unknown flags {flags:#04x}"
            )));
        }
        let inflated;
        let body = if flags & FLAG_DEFLATE != 0 {
            let mut out = Vec::new();
            DeflateDecoder::new(body)
                .take(MAX_BUNDLE_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| BundleError::Malformed(format!("body does not inflate: {e}")))?;
            if out.len() > MAX_BUNDLE_BYTES {
                return Err(BundleError::TooLarge {
                    max: MAX_BUNDLE_BYTES,
                });
            }
            inflated = out;
            &inflated[..]
        } else {
            body
        };
        let not_decoded =
            |e: postcard::Error| BundleError::Malformed(format!("body does not decode: {e}"));
        let (bundle, rest): (Bundle, _) = if version == BUNDLE_V1 {
            let (v1, rest): (BundleV1, _) = postcard::take_from_bytes(body).map_err(not_decoded)?;
            (v1.into(), rest)
        } else {
            postcard::take_from_bytes(body).map_err(not_decoded)?
        };
        if !rest.is_empty() {
            return Err(BundleError::Malformed(format!(
                "{} bytes follow the body",
                rest.len()
            )));
        }
        bundle.check()?;
        Ok(bundle)
    }

    fn check(&self) -> Result<(), BundleError> {
        if self.docs.len() > MAX_BUNDLE_ENTRIES || self.rosters.len() > MAX_BUNDLE_ENTRIES {
            return Err(BundleError::Malformed(format!(
                "more than {MAX_BUNDLE_ENTRIES} documents or rosters"
            )));
        }
        for (n, doc) in self.docs.iter().enumerate() {
            if doc.id.len() > MAX_ID_BYTES || DocId::parse(&doc.id).is_none() {
                return Err(BundleError::Malformed(format!(
                    "document number {} has no valid id",
                    n + 1
                )));
            }
            check_change_chunks(&doc.changes)
                .map_err(|reason| BundleError::Malformed(format!("{}: {reason}", doc.id)))?;
        }
        if let Some((turf, _)) = self.holds.iter().find(|(t, _)| t.len() > MAX_ID_BYTES) {
            return Err(BundleError::Malformed(format!(
                "a roster id of {} bytes is over the limit",
                turf.len()
            )));
        }
        for roster in &self.rosters {
            roster.validate().map_err(|reason| {
                BundleError::Malformed(format!("roster {}: {reason}", roster.turf))
            })?;
        }
        Ok(())
    }
}

/// What importing a bundle did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleReport {
    /// Documents that received changes.
    pub docs_changed: usize,
    /// Documents that held everything already.
    pub docs_unchanged: usize,
    /// Rosters stored (new or newer versions).
    pub rosters_applied: usize,
    /// Attempts and voids this phone did not hold before.
    pub records_added: usize,
    /// Documents and rosters left out, with the reason (ids only).
    pub refused: Vec<(String, String)>,
    /// Of those, the documents left out only because their changes build on history this
    /// phone lacks: another exchange that brings it takes them.
    pub incomplete: Vec<String>,
}

impl BundleReport {
    /// Leaves a document out because its changes build on history this phone lacks.
    pub(crate) fn lacks_history(&mut self, doc: &crate::DocId, why: impl std::fmt::Display) {
        self.refused.push((doc.to_string(), why.to_string()));
        self.incomplete.push(doc.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Bundle {
        Bundle {
            from_device: "ab".into(),
            from_user: Some("cv-1".into()),
            created_at: 7,
            holds: vec![("t1".into(), 3)],
            rosters: vec![],
            docs: vec![BundleDoc {
                id: "turf:t1".into(),
                heads: vec![[7; 32]],
                changes: vec![],
            }],
        }
    }

    #[test]
    fn round_trips() {
        let b = sample();
        assert_eq!(Bundle::decode(&b.encode().unwrap()).unwrap(), b);
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_refused() {
        let bytes = sample().encode().unwrap();
        for cut in 0..bytes.len() {
            assert!(Bundle::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(Bundle::decode(&bad).is_err(), "flipped byte {i}");
        }
    }

    /// A header with a correct length and checksum around `body`, so that the body reaches the
    /// decoder (random bytes alone stop at the checksum).
    fn framed(body: &[u8], flags: u8) -> Vec<u8> {
        let mut out = BUNDLE_MAGIC.to_vec();
        out.push(BUNDLE_VERSION);
        out.push(flags);
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&checksum(BUNDLE_VERSION, flags, body));
        out.extend_from_slice(body);
        out
    }

    proptest::proptest! {
        #[test]
        fn hostile_bytes_are_refused_without_panicking(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            deflate in proptest::prelude::any::<bool>(),
        ) {
            let _ = Bundle::decode(&body);
            let framed = framed(&body, u8::from(deflate));
            if let Ok(bundle) = Bundle::decode(&framed) {
                // Whatever decodes, encodes and decodes again to the same bytes.
                let once = bundle.encode().unwrap();
                proptest::prop_assert_eq!(Bundle::decode(&once).unwrap().encode().unwrap(), once);
            }
        }
    }

    #[test]
    fn a_length_prefix_claiming_millions_of_entries_is_refused_before_allocating() {
        // from_device "", no from_user, created_at 0, no holds, then four billion rosters.
        let body = [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f];
        let err = Bundle::decode(&framed(&body, 0)).unwrap_err();
        assert!(matches!(err, BundleError::Malformed(_)), "{err}");
    }

    #[test]
    fn a_version_1_bundle_is_still_read() {
        // from_device "ab", created_at 7, no rosters, one document `turf:t1` with no changes.
        let mut body = vec![2, b'a', b'b', 14, 0, 1, 7];
        body.extend_from_slice(b"turf:t1");
        body.push(0);
        let mut bytes = BUNDLE_MAGIC.to_vec();
        bytes.push(BUNDLE_V1);
        bytes.push(0);
        bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&checksum(BUNDLE_V1, 0, &body));
        bytes.extend_from_slice(&body);
        let bundle = Bundle::decode(&bytes).unwrap();
        assert_eq!(bundle.from_device, "ab");
        assert_eq!(bundle.from_user, None);
        assert_eq!(bundle.docs.len(), 1);
        assert_eq!(bundle.docs[0].id, "turf:t1");
        assert!(bundle.docs[0].heads.is_empty());
    }

    #[test]
    fn errors_say_what_to_do() {
        let bytes = sample().encode().unwrap();
        assert_eq!(Bundle::decode(b"PK\x03\x04"), Err(BundleError::NotABundle));
        let cut = Bundle::decode(&bytes[..bytes.len() - 3]).unwrap_err();
        assert!(cut.to_string().contains("cut off"), "{cut}");
        let mut newer = bytes.clone();
        newer[4] = 9;
        assert_eq!(Bundle::decode(&newer), Err(BundleError::TooNew(9)));
    }
}
