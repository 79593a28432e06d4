//! The sync wire format: what a phone sends the server and what comes back.
//!
//! A message is a frame: `b"DSYN"`, the protocol version, the message kind, a flags byte, then
//! the body in postcard encoding (deflated when flag bit 0 is set). `docs/PROTOCOL.md` describes
//! every byte; keep it in step with this file.

pub use crate::domain::Role;
use crate::domain::Roster;
use serde::{Deserialize, Serialize};
use std::io::Read;

/// The first four bytes of every message.
pub const MAGIC: [u8; 4] = *b"DSYN";
/// The protocol version this code speaks. A peer refuses any other.
pub const PROTOCOL_VERSION: u8 = 1;
/// The largest frame accepted, before or after inflating its body.
pub const MAX_MESSAGE_BYTES: usize = 8 << 20;
/// The most documents one message may name.
pub const MAX_DOCS: usize = 4_096;
/// The most heads one document entry may carry.
pub const MAX_HEADS: usize = 256;
/// The longest document id or turf id.
pub const MAX_ID_BYTES: usize = 200;
/// Bodies shorter than this are sent as they are: deflate would only add bytes.
const DEFLATE_FROM: usize = 256;

const KIND_REQUEST: u8 = 1;
const KIND_RESPONSE: u8 = 2;
const KIND_HELLO: u8 = 3;
const KIND_ROUND: u8 = 4;
const FLAG_DEFLATE: u8 = 1;
const HEADER_BYTES: usize = 7;

/// A change hash as it travels: 32 raw bytes.
pub type Hash = [u8; 32];
/// The digest a phone and the server each compute over the state they believe the phone holds.
pub type Digest = [u8; 8];

/// A phone's sync request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The phone's install (its Automerge actor id), 1 to 32 bytes.
    pub device: Vec<u8>,
    /// Digest of the documents and rosters this request leaves out: what the phone holds as the
    /// server last acknowledged it (see [`crate::sync::quiet_digest`]).
    pub quiet: Digest,
    /// True when `docs` and `rosters` list everything the phone holds (the server asked for it).
    pub manifest: bool,
    /// The documents with something to say.
    pub docs: Vec<DocUp>,
    /// The rosters held, in a manifest only.
    pub rosters: Vec<RosterHave>,
}

/// One document in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocUp {
    /// `turf:<id>` or `campaign:<id>`.
    pub id: String,
    /// The phone's heads for this document.
    pub heads: Vec<Hash>,
    /// What the phone sends.
    pub body: UpBody,
}

/// What a phone sends for one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpBody {
    /// Nothing new: only the heads (in a manifest).
    Have,
    /// Automerge changes since the heads the server last acknowledged.
    Changes(Vec<u8>),
    /// An Automerge sync protocol message, when phone and server share no acknowledged state.
    Sync(Vec<u8>),
}

/// A roster the phone holds, in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterHave {
    /// The turf.
    pub turf: String,
    /// The version held.
    pub version: u64,
}

/// The server's answer to a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Who the token belongs to.
    pub identity: Identity,
    /// Whether the phone should send a manifest next (the server's idea of what it holds did not
    /// match the request's digest).
    pub send_manifest: bool,
    /// Whether the server has more to send than fitted: sync again.
    pub more: bool,
    /// Rosters the phone lacks or holds in an older version. Applied before `docs`.
    pub rosters: Vec<Roster>,
    /// What the phone lacks, per document, and what the server now holds.
    pub docs: Vec<DocDown>,
    /// Documents the phone holds that it is no longer granted. The phone keeps them (with
    /// anything unsynced in them, in its outbox) and stops syncing them until they are granted
    /// again.
    pub revoked: Vec<String>,
}

/// Who a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The user's id; canvassers put it on every attempt.
    pub user: String,
    /// Their role.
    pub role: Role,
}

/// One document in a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocDown {
    /// `turf:<id>` or `campaign:<id>`.
    pub id: String,
    /// The server's heads: it holds, durably, everything up to these.
    pub heads: Vec<Hash>,
    /// What the server sends.
    pub body: DownBody,
}

/// What the server sends for one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DownBody {
    /// The changes the phone lacks (possibly none). After applying them the phone holds `heads`,
    /// which the server now counts as acknowledged.
    Changes(Vec<u8>),
    /// An Automerge sync protocol message: the phone answers with its own in the next request.
    Sync(Vec<u8>),
}

/// Why bytes could not be read as a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Too short, or not a Doorstep sync message.
    #[error("not a Doorstep sync message (it does not start with DSYN)")]
    NotAMessage,
    /// Another protocol version.
    #[error(
        "sync protocol version {found} is not supported (this side speaks {PROTOCOL_VERSION}); update the app or the server"
    )]
    Version {
        /// The version found.
        found: u8,
    },
    /// A request where a response was expected, or the reverse.
    #[error("expected a sync {expected}, got another kind of message")]
    WrongKind {
        /// What was expected.
        expected: &'static str,
    },
    /// Unknown flag bits.
    #[error("unknown flags {0:#04x} in the message header")]
    Flags(u8),
    /// Over a size limit.
    #[error("{what} is {found}, over the limit of {max}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// The body is damaged.
    #[error("malformed message body: {0}")]
    Body(String),
}

/// Encodes a request as a frame.
pub fn encode_request(request: &Request) -> Vec<u8> {
    frame(KIND_REQUEST, request)
}

/// Decodes and checks a request frame.
pub fn decode_request(bytes: &[u8]) -> Result<Request, WireError> {
    let request: Request = unframe(bytes, KIND_REQUEST, "request")?;
    check_device(&request.device)?;
    check_count("documents in a request", request.docs.len(), MAX_DOCS)?;
    check_count("rosters in a request", request.rosters.len(), MAX_DOCS)?;
    for doc in &request.docs {
        check_id(&doc.id)?;
        check_count("heads of one document", doc.heads.len(), MAX_HEADS)?;
    }
    for roster in &request.rosters {
        check_id(&roster.turf)?;
    }
    Ok(request)
}

/// Encodes a response as a frame.
pub fn encode_response(response: &Response) -> Vec<u8> {
    frame(KIND_RESPONSE, response)
}

/// Decodes and checks a response frame.
pub fn decode_response(bytes: &[u8]) -> Result<Response, WireError> {
    let response: Response = unframe(bytes, KIND_RESPONSE, "response")?;
    check_count("documents in a response", response.docs.len(), MAX_DOCS)?;
    check_count("rosters in a response", response.rosters.len(), MAX_DOCS)?;
    for doc in &response.docs {
        check_id(&doc.id)?;
        check_count("heads of one document", doc.heads.len(), MAX_HEADS)?;
    }
    Ok(response)
}

/// The first message of a local sync between two phones: who is speaking and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The phone's install (its Automerge actor id), 1 to 32 bytes.
    pub device: Vec<u8>,
    /// The user signed in on it, if any.
    pub user: Option<String>,
    /// The documents it holds.
    #[serde(deserialize_with = "crate::domain::bounded::vec::<_, _, MAX_DOCS>")]
    pub docs: Vec<String>,
    /// The rosters it holds, with their versions.
    #[serde(deserialize_with = "crate::domain::bounded::vec::<_, _, MAX_DOCS>")]
    pub rosters: Vec<RosterHave>,
}

/// One turn of a local sync: the phones take turns until neither has anything to say.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Round {
    /// Rosters the other phone asked for.
    #[serde(deserialize_with = "crate::domain::bounded::vec::<_, _, MAX_DOCS>")]
    pub rosters: Vec<Roster>,
    /// Turfs whose rosters this phone asks for.
    #[serde(deserialize_with = "crate::domain::bounded::vec::<_, _, MAX_DOCS>")]
    pub want: Vec<String>,
    /// Automerge sync protocol messages, per document.
    #[serde(deserialize_with = "crate::domain::bounded::vec::<_, _, MAX_DOCS>")]
    pub docs: Vec<(String, Vec<u8>)>,
}

impl Round {
    /// Whether this turn says nothing.
    pub fn is_empty(&self) -> bool {
        self.rosters.is_empty() && self.want.is_empty() && self.docs.is_empty()
    }
}

/// Encodes a local sync greeting.
pub fn encode_hello(hello: &Hello) -> Vec<u8> {
    frame(KIND_HELLO, hello)
}

/// Decodes a local sync greeting from untrusted bytes.
pub fn decode_hello(bytes: &[u8]) -> Result<Hello, WireError> {
    let hello: Hello = unframe(bytes, KIND_HELLO, "local sync greeting")?;
    check_device(&hello.device)?;
    check_count("documents in a greeting", hello.docs.len(), MAX_DOCS)?;
    check_count("rosters in a greeting", hello.rosters.len(), MAX_DOCS)?;
    for doc in &hello.docs {
        check_id(doc)?;
    }
    for roster in &hello.rosters {
        check_id(&roster.turf)?;
    }
    if let Some(user) = &hello.user {
        check_id(user)?;
    }
    Ok(hello)
}

/// Encodes a local sync turn.
pub fn encode_round(round: &Round) -> Vec<u8> {
    frame(KIND_ROUND, round)
}

/// Decodes a local sync turn from untrusted bytes.
pub fn decode_round(bytes: &[u8]) -> Result<Round, WireError> {
    let round: Round = unframe(bytes, KIND_ROUND, "local sync turn")?;
    check_count("rosters in a turn", round.rosters.len(), MAX_DOCS)?;
    check_count("roster requests in a turn", round.want.len(), MAX_DOCS)?;
    check_count("documents in a turn", round.docs.len(), MAX_DOCS)?;
    for turf in &round.want {
        check_id(turf)?;
    }
    let mut seen = std::collections::HashSet::new();
    for (doc, _) in &round.docs {
        check_id(doc)?;
        if !seen.insert(doc.as_str()) {
            return Err(WireError::Body(format!("document {doc} is named twice")));
        }
    }
    for roster in &round.rosters {
        roster
            .validate()
            .map_err(|reason| WireError::Body(format!("roster {}: {reason}", roster.turf)))?;
    }
    Ok(round)
}

fn frame<T: Serialize>(kind: u8, body: &T) -> Vec<u8> {
    // Encoding plain data into a Vec cannot fail; an empty body would be refused by the peer.
    let plain = postcard::to_stdvec(body).unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER_BYTES + plain.len());
    out.extend_from_slice(&MAGIC);
    out.push(PROTOCOL_VERSION);
    out.push(kind);
    if plain.len() >= DEFLATE_FROM {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        use std::io::Write;
        if encoder.write_all(&plain).is_ok()
            && let Ok(packed) = encoder.finish()
            && packed.len() < plain.len()
        {
            out.push(FLAG_DEFLATE);
            out.extend_from_slice(&packed);
            return out;
        }
    }
    out.push(0);
    out.extend_from_slice(&plain);
    out
}

fn unframe<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    kind: u8,
    expected: &'static str,
) -> Result<T, WireError> {
    check_count("message size", bytes.len(), MAX_MESSAGE_BYTES)?;
    if bytes.len() < HEADER_BYTES || bytes[..4] != MAGIC {
        return Err(WireError::NotAMessage);
    }
    if bytes[4] != PROTOCOL_VERSION {
        return Err(WireError::Version { found: bytes[4] });
    }
    if bytes[5] != kind {
        return Err(WireError::WrongKind { expected });
    }
    let flags = bytes[6];
    if flags & !FLAG_DEFLATE != 0 {
        return Err(WireError::Flags(flags));
    }
    let body = &bytes[HEADER_BYTES..];
    let inflated;
    let body = if flags & FLAG_DEFLATE != 0 {
        let mut out = Vec::new();
        // One byte past the limit tells an oversized body from one exactly at it.
        flate2::read::DeflateDecoder::new(body)
            .take(MAX_MESSAGE_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| WireError::Body(format!("deflate: {e}")))?;
        check_count("inflated message size", out.len(), MAX_MESSAGE_BYTES)?;
        inflated = out;
        &inflated[..]
    } else {
        body
    };
    let (value, rest) =
        postcard::take_from_bytes(body).map_err(|e| WireError::Body(e.to_string()))?;
    if !rest.is_empty() {
        return Err(WireError::Body(format!(
            "{} bytes left over after the body",
            rest.len()
        )));
    }
    Ok(value)
}

fn check_count(what: &'static str, found: usize, max: usize) -> Result<(), WireError> {
    if found > max {
        Err(WireError::TooLarge { what, found, max })
    } else {
        Ok(())
    }
}

fn check_id(id: &str) -> Result<(), WireError> {
    if id.is_empty() {
        return Err(WireError::Body("an id is empty".into()));
    }
    check_count("an id's length", id.len(), MAX_ID_BYTES)
}

fn check_device(device: &[u8]) -> Result<(), WireError> {
    if device.is_empty() {
        return Err(WireError::Body("the device id is empty".into()));
    }
    check_count("the device id's length", device.len(), 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_local_turn_claiming_millions_of_entries_or_naming_a_document_twice_is_refused() {
        // No rosters, then four billion roster requests: refused before anything is allocated.
        let mut raw = MAGIC.to_vec();
        raw.extend_from_slice(&[
            PROTOCOL_VERSION,
            KIND_ROUND,
            0,
            0,
            0xff,
            0xff,
            0xff,
            0xff,
            0x0f,
        ]);
        assert!(
            matches!(decode_round(&raw), Err(WireError::Body(_))),
            "{:?}",
            decode_round(&raw)
        );
        let twice = Round {
            docs: vec![("turf:a".into(), vec![]), ("turf:a".into(), vec![])],
            ..Round::default()
        };
        let err = decode_round(&encode_round(&twice)).unwrap_err();
        assert!(err.to_string().contains("named twice"), "{err}");
        let hello = Hello {
            device: vec![1; 16],
            user: Some("ana".into()),
            docs: vec!["turf:a".into()],
            rosters: vec![RosterHave {
                turf: "a".into(),
                version: 2,
            }],
        };
        assert_eq!(decode_hello(&encode_hello(&hello)).unwrap(), hello);
    }

    fn hash() -> impl Strategy<Value = Hash> {
        any::<[u8; 32]>()
    }

    fn up_body() -> impl Strategy<Value = UpBody> {
        prop_oneof![
            Just(UpBody::Have),
            proptest::collection::vec(any::<u8>(), 0..600).prop_map(UpBody::Changes),
            proptest::collection::vec(any::<u8>(), 0..100).prop_map(UpBody::Sync),
        ]
    }

    fn request() -> impl Strategy<Value = Request> {
        let doc = (
            "[a-z:0-9]{1,30}",
            proptest::collection::vec(hash(), 0..3),
            up_body(),
        )
            .prop_map(|(id, heads, body)| DocUp { id, heads, body });
        let roster = ("[a-z0-9]{1,20}", any::<u64>())
            .prop_map(|(turf, version)| RosterHave { turf, version });
        (
            proptest::collection::vec(any::<u8>(), 1..32),
            any::<[u8; 8]>(),
            any::<bool>(),
            proptest::collection::vec(doc, 0..12),
            proptest::collection::vec(roster, 0..5),
        )
            .prop_map(|(device, quiet, manifest, docs, rosters)| Request {
                device,
                quiet,
                manifest,
                docs,
                rosters,
            })
    }

    fn roster() -> impl Strategy<Value = Roster> {
        use crate::domain::{Address, Household, ListKind, Location, Voter};
        let household = (
            "[a-z0-9]{1,8}",
            any::<u32>(),
            "[ -~]{0,20}",
            proptest::option::of("[ -~]{0,6}"),
            proptest::option::of((-90.0f64..90.0, -180.0f64..180.0)),
        )
            .prop_map(|(id, walk_order, street, unit, loc)| Household {
                id: id.as_str().into(),
                walk_order,
                address: Address {
                    street,
                    unit,
                    city: "Durham".into(),
                    zip: "27701".into(),
                },
                location: loc.map(|(lat, lon)| Location { lat, lon }),
            });
        let voter = (
            "[a-z0-9]{1,8}",
            "\\PC{0,12}",
            proptest::option::of(any::<u16>()),
            proptest::collection::vec("[a-z]{1,5}", 0..3),
        )
            .prop_map(|(id, name, age, tags)| Voter {
                id: id.as_str().into(),
                household: "h".into(),
                first_name: name.clone(),
                last_name: name,
                age,
                gender: Some("F".into()),
                party: None,
                tags,
                precinct: Some("P1".into()),
                phone: None,
            });
        (
            "[a-z0-9]{1,8}",
            any::<u64>(),
            any::<bool>(),
            proptest::collection::vec(household, 0..4),
            proptest::collection::vec(voter, 0..4),
        )
            .prop_map(|(turf, version, call, households, voters)| Roster {
                turf: turf.as_str().into(),
                campaign: "c".into(),
                version,
                name: "Turf".into(),
                list_kind: if call { ListKind::Call } else { ListKind::Walk },
                households,
                voters,
            })
    }

    fn response() -> impl Strategy<Value = Response> {
        let body = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..600).prop_map(DownBody::Changes),
            proptest::collection::vec(any::<u8>(), 0..100).prop_map(DownBody::Sync),
        ];
        let doc = (
            "[a-z:0-9]{1,30}",
            proptest::collection::vec(hash(), 0..3),
            body,
        )
            .prop_map(|(id, heads, body)| DocDown { id, heads, body });
        let role = prop_oneof![
            Just(Role::Canvasser),
            Just(Role::Captain),
            Just(Role::Admin)
        ];
        (
            "[a-z0-9]{1,12}",
            role,
            any::<bool>(),
            any::<bool>(),
            proptest::collection::vec(doc, 0..8),
            proptest::collection::vec("[a-z:0-9]{1,12}", 0..3),
        )
            .prop_flat_map(|(user, role, send_manifest, more, docs, revoked)| {
                proptest::collection::vec(roster(), 0..3).prop_map(move |rosters| Response {
                    identity: Identity {
                        user: user.clone(),
                        role,
                    },
                    send_manifest,
                    more,
                    rosters,
                    docs: docs.clone(),
                    revoked: revoked.clone(),
                })
            })
    }

    proptest! {
        #[test]
        fn requests_round_trip(r in request()) {
            prop_assert_eq!(decode_request(&encode_request(&r)).unwrap(), r);
        }

        #[test]
        fn responses_round_trip(r in response()) {
            prop_assert_eq!(decode_response(&encode_response(&r)).unwrap(), r);
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400),
                                       flags in 0u8..2, kind in 1u8..3) {
            let mut bytes = MAGIC.to_vec();
            bytes.extend([PROTOCOL_VERSION, kind, flags]);
            bytes.extend(body);
            let _ = decode_request(&bytes);
            let _ = decode_response(&bytes);
        }

        #[test]
        fn every_truncation_is_an_error(r in request(), cut in 0usize..10_000) {
            let bytes = encode_request(&r);
            let cut = cut % bytes.len();
            prop_assert!(decode_request(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn a_heartbeat_is_a_few_dozen_bytes() {
        let r = Request {
            device: vec![7; 16],
            quiet: [1; 8],
            manifest: false,
            docs: vec![],
            rosters: vec![],
        };
        let bytes = encode_request(&r);
        assert_eq!(bytes.len(), 7 + 1 + 16 + 8 + 1 + 1 + 1);
    }

    #[test]
    fn a_deflate_bomb_is_refused() {
        // 20 MiB of zeros deflate to a few kilobytes.
        let zeros = vec![0u8; 20 << 20];
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        use std::io::Write;
        encoder.write_all(&zeros).unwrap();
        let packed = encoder.finish().unwrap();
        let mut bytes = MAGIC.to_vec();
        bytes.extend([PROTOCOL_VERSION, KIND_REQUEST, FLAG_DEFLATE]);
        bytes.extend(packed);
        assert!(matches!(
            decode_request(&bytes),
            Err(WireError::TooLarge { .. })
        ));
    }

    #[test]
    fn another_version_is_named_in_the_error() {
        let mut bytes = encode_request(&Request {
            device: vec![1],
            quiet: [0; 8],
            manifest: false,
            docs: vec![],
            rosters: vec![],
        });
        bytes[4] = 9;
        let err = decode_request(&bytes).unwrap_err();
        assert!(err.to_string().contains("version 9"), "{err}");
    }
}
