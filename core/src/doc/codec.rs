//! Compact encodings of the immutable values stored inside documents.
//!
//! Each value is one Automerge bytes scalar: a version byte, then postcard. One operation per
//! attempt instead of one per field (see DESIGN.md: ~30 us against ~200 us for a map).

use crate::domain::{AddedPerson, Assignment, Campaign, Entry, Member};
use serde::{Serialize, de::DeserializeOwned};

/// Version byte of the values written by this code. Readers accept every version ever written.
const VALUE_V1: u8 = 1;

/// Why a stored value could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The value is empty.
    #[error("empty value")]
    Empty,
    /// Written by a newer app.
    #[error("value version {0} is newer than this app understands; update the app")]
    NewerVersion(u8),
    /// Not a valid encoding.
    #[error("malformed value: {0}")]
    Malformed(String),
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let out = vec![VALUE_V1];
    // postcard only fails on a full fixed buffer or on types it cannot represent (maps with
    // non-string keys and the like), neither of which occurs with an extending Vec and our types.
    match postcard::to_extend(value, out) {
        Ok(v) => v,
        Err(e) => unreachable!("postcard cannot fail on doorstep types: {e}"),
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    match bytes.split_first() {
        None => Err(DecodeError::Empty),
        Some((&VALUE_V1, rest)) => {
            let (value, trailing) = postcard::take_from_bytes(rest)
                .map_err(|e| DecodeError::Malformed(e.to_string()))?;
            if trailing.is_empty() {
                Ok(value)
            } else {
                Err(DecodeError::Malformed(format!(
                    "{} trailing bytes",
                    trailing.len()
                )))
            }
        }
        Some((&v, _)) => Err(DecodeError::NewerVersion(v)),
    }
}

/// Encodes one log entry (attempt or void).
pub fn encode_entry(entry: &Entry) -> Vec<u8> {
    encode(entry)
}

/// Decodes one log entry.
pub fn decode_entry(bytes: &[u8]) -> Result<Entry, DecodeError> {
    decode(bytes)
}

/// The id of an encoded log entry, read without decoding the rest: a version-1 entry is the
/// version byte, the variant index (one byte: attempt or void), then the 16 id bytes first in
/// both. `None` for anything else (a newer version, damaged bytes).
pub fn entry_id(bytes: &[u8]) -> Option<crate::domain::AttemptId> {
    match bytes {
        [VALUE_V1, 0 | 1, rest @ ..] if rest.len() >= 16 => {
            let mut id = [0u8; 16];
            id.copy_from_slice(&rest[..16]);
            Some(crate::domain::AttemptId(id))
        }
        _ => None,
    }
}

/// Encodes a person added at the door.
pub fn encode_person(person: &AddedPerson) -> Vec<u8> {
    encode(person)
}

/// Decodes a person added at the door.
pub fn decode_person(bytes: &[u8]) -> Result<AddedPerson, DecodeError> {
    decode(bytes)
}

/// Encodes a team member.
pub fn encode_member(member: &Member) -> Vec<u8> {
    encode(member)
}

/// Decodes a team member.
pub fn decode_member(bytes: &[u8]) -> Result<Member, DecodeError> {
    decode(bytes)
}

/// Encodes who holds a turf.
pub fn encode_assignment(assignment: &Assignment) -> Vec<u8> {
    encode(assignment)
}

/// Decodes who holds a turf.
pub fn decode_assignment(bytes: &[u8]) -> Result<Assignment, DecodeError> {
    decode(bytes)
}

/// Encodes a campaign body. JSON: campaigns are small, written rarely, and read by other tools.
pub fn encode_campaign(campaign: &Campaign) -> Vec<u8> {
    let mut out = vec![VALUE_V1];
    match serde_json::to_writer(&mut out, campaign) {
        Ok(()) => out,
        Err(e) => unreachable!("a campaign always serializes to JSON: {e}"),
    }
}

/// Decodes a campaign body.
pub fn decode_campaign(bytes: &[u8]) -> Result<Campaign, DecodeError> {
    match bytes.split_first() {
        None => Err(DecodeError::Empty),
        Some((&VALUE_V1, rest)) => {
            serde_json::from_slice(rest).map_err(|e| DecodeError::Malformed(e.to_string()))
        }
        Some((&v, _)) => Err(DecodeError::NewerVersion(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::*;
    use proptest::prelude::*;

    fn arb_id() -> impl Strategy<Value = AttemptId> {
        any::<[u8; 16]>().prop_map(AttemptId)
    }

    fn arb_answer() -> impl Strategy<Value = Answer> {
        prop_oneof![
            (1u8..=5).prop_map(Answer::Support),
            proptest::collection::vec(".{0,12}", 0..3).prop_map(Answer::Choice),
            any::<bool>().prop_map(Answer::YesNo),
            ".{0,40}".prop_map(Answer::Text),
        ]
    }

    fn arb_entry() -> impl Strategy<Value = Entry> {
        let attempt = (
            arb_id(),
            any::<bool>(),
            "[a-z0-9]{1,12}",
            "[a-z_]{1,16}",
            proptest::collection::vec(("[a-z_]{1,8}", arb_answer()), 0..4),
            proptest::option::of(".{0,80}"),
            any::<i64>(),
            proptest::option::of((-90.0f64..90.0, -180.0f64..180.0)),
        )
            .prop_map(|(id, by_voter, who, outcome, answers, note, at, loc)| {
                Entry::Attempt(Attempt {
                    id,
                    target: if by_voter {
                        Target::Voter(who.clone().into())
                    } else {
                        Target::Household(who.clone().into())
                    },
                    household: who.into(),
                    outcome: outcome.into(),
                    answers: answers
                        .into_iter()
                        .map(|(q, a)| (QuestionId::from(q), a))
                        .collect(),
                    note,
                    canvasser: "c-1".into(),
                    device: "d-1".into(),
                    recorded_at: at,
                    location: loc.map(|(lat, lon)| Location { lat, lon }),
                })
            });
        let void = (arb_id(), arb_id(), any::<i64>()).prop_map(|(id, attempt, at)| {
            Entry::Void(Void {
                id,
                attempt,
                canvasser: "c-2".into(),
                device: "d-2".into(),
                recorded_at: at,
            })
        });
        prop_oneof![attempt, void]
    }

    proptest! {
        #[test]
        fn entries_round_trip(entry in arb_entry()) {
            let bytes = encode_entry(&entry);
            prop_assert_eq!(decode_entry(&bytes).ok(), Some(entry));
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_entry(&bytes);
            let _ = decode_person(&bytes);
            let _ = decode_campaign(&bytes);
        }
    }

    #[test]
    fn an_attempt_is_compact() {
        let entry = Entry::Attempt(Attempt {
            id: AttemptId([7; 16]),
            target: Target::Voter("000123456".into()),
            household: "h-00042".into(),
            outcome: "talked".into(),
            answers: vec![("support".into(), Answer::Support(2))],
            note: None,
            canvasser: "c-17".into(),
            device: "3f2a9c0d".into(),
            recorded_at: 1_793_000_000_000,
            location: None,
        });
        let len = encode_entry(&entry).len();
        assert!(len < 80, "an attempt encodes to {len} bytes");
    }

    #[test]
    fn newer_versions_are_refused_with_a_clear_error() {
        let err = decode_entry(&[9, 0, 0]).unwrap_err();
        assert!(err.to_string().contains("update the app"), "{err}");
    }

    #[test]
    fn entry_id_reads_the_id_of_attempts_and_voids_without_decoding() {
        use crate::domain::*;
        let attempt = Entry::Attempt(Attempt {
            id: AttemptId([3; 16]),
            target: Target::Voter("v".into()),
            household: "h".into(),
            outcome: "talked".into(),
            answers: vec![],
            note: Some("n".into()),
            canvasser: "c".into(),
            device: "d".into(),
            recorded_at: -5,
            location: None,
        });
        let void = Entry::Void(Void {
            id: AttemptId([9; 16]),
            attempt: AttemptId([3; 16]),
            canvasser: "c".into(),
            device: "d".into(),
            recorded_at: 7,
        });
        for e in [attempt, void] {
            assert_eq!(entry_id(&encode_entry(&e)), Some(e.id()));
        }
        assert_eq!(entry_id(&[2, 0, 1, 2]), None);
        assert_eq!(entry_id(&[1, 0, 1, 2]), None);
    }
}
