//! Checks on Automerge bytes from a peer, made before Automerge parses them: Automerge trusts
//! some of what it reads (it inflates compressed chunks without a limit and sizes Bloom filter
//! probes from the message), so a hostile peer could make it allocate without bound.

use automerge::AutoCommit;
use automerge::sync::{Message, MessageVersion};

/// The magic bytes that start every Automerge chunk.
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// The chunk type of one uncompressed change, the only kind a peer needs to send us.
const CHUNK_CHANGE: u8 = 1;
/// Most `have` entries a sync message may carry (Automerge sends one).
const MAX_HAVES: usize = 4;
/// Most Bloom filter probes (Automerge uses 7).
const MAX_PROBES: u64 = 32;
/// Most bits per Bloom filter entry (Automerge uses 10).
const MAX_BITS_PER_ENTRY: u64 = 64;

/// Checks that `bytes` are uncompressed Automerge change chunks only, laid end to end: no
/// document chunk and no compressed chunk, which Automerge would inflate without a limit.
/// Automerge's `save_after` and its sync messages produce exactly this.
pub fn check_change_chunks(bytes: &[u8]) -> Result<(), String> {
    let mut rest = bytes;
    let mut n = 0;
    while !rest.is_empty() {
        if rest.len() < 9 || rest[..4] != CHUNK_MAGIC {
            return Err(format!("chunk {n} does not start like an Automerge chunk"));
        }
        if rest[8] != CHUNK_CHANGE {
            return Err(format!(
                "chunk {n} is of type {}, but only uncompressed changes (type 1) are accepted",
                rest[8]
            ));
        }
        let (len, used) =
            leb128(&rest[9..]).ok_or_else(|| format!("chunk {n} has a bad length"))?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| (9 + used).checked_add(len))
            .filter(|end| *end <= rest.len())
            .ok_or_else(|| format!("chunk {n} is cut off"))?;
        rest = &rest[end..];
        n += 1;
    }
    Ok(())
}

/// Checks a decoded sync message: its changes as [`check_change_chunks`], and Bloom filters
/// whose parameters Automerge can use without allocating on the sender's say-so.
pub fn check_sync_message(message: &Message) -> Result<(), String> {
    for chunk in message.changes.iter() {
        check_change_chunks(chunk)?;
    }
    if message.have.len() > MAX_HAVES {
        return Err(format!(
            "{} 'have' entries, at most {MAX_HAVES}",
            message.have.len()
        ));
    }
    for have in &message.have {
        let bytes = have.bloom.to_bytes();
        if bytes.is_empty() {
            continue;
        }
        let (_, a) = leb128(&bytes).ok_or("bad Bloom filter")?;
        let (bits_per_entry, b) = leb128(&bytes[a..]).ok_or("bad Bloom filter")?;
        let (probes, _) = leb128(&bytes[a + b..]).ok_or("bad Bloom filter")?;
        if !(1..=MAX_BITS_PER_ENTRY).contains(&bits_per_entry)
            || !(1..=MAX_PROBES).contains(&probes)
        {
            return Err(format!(
                "Bloom filter with {bits_per_entry} bits per entry and {probes} probes is out of range"
            ));
        }
    }
    Ok(())
}

/// Rewrites a sync message so that it carries only uncompressed changes: Automerge sends a
/// whole saved document (or a bundle) when the peer lacks most of it, which a server that only
/// takes [`check_change_chunks`] refuses. The same changes travel instead; the wire frame is
/// deflated anyway.
pub fn changes_only(doc: &mut AutoCommit, mut message: Message) -> Message {
    if message
        .changes
        .iter()
        .any(|chunk| chunk.get(8) != Some(&CHUNK_CHANGE))
    {
        let changes: Vec<Vec<u8>> = doc
            .get_changes(&[])
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        message.changes = changes.into();
        message.version = MessageVersion::V1;
    }
    message
}

/// An unsigned LEB128 number and how many bytes it took.
fn leb128(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f).checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::sync::SyncDoc;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    fn doc_with_changes() -> AutoCommit {
        let mut doc = AutoCommit::new();
        for i in 0..3 {
            doc.put(ROOT, format!("k{i}"), "x".repeat(400)).unwrap();
            doc.commit();
        }
        doc
    }

    #[test]
    fn what_automerge_sends_passes() {
        let mut doc = doc_with_changes();
        check_change_chunks(&doc.save_after(&[])).unwrap();
        let mut state = automerge::sync::State::new();
        let mut peer = AutoCommit::new();
        let mut peer_state = automerge::sync::State::new();
        for _ in 0..4 {
            let message = doc.sync().generate_sync_message(&mut state);
            if let Some(m) = message {
                let m = changes_only(&mut doc, m);
                let m = Message::decode(&m.encode()).unwrap();
                check_sync_message(&m).unwrap();
                peer.sync()
                    .receive_sync_message(&mut peer_state, m)
                    .unwrap();
            }
            let message = peer.sync().generate_sync_message(&mut peer_state);
            if let Some(m) = message {
                let m = changes_only(&mut peer, m);
                let m = Message::decode(&m.encode()).unwrap();
                check_sync_message(&m).unwrap();
                doc.sync().receive_sync_message(&mut state, m).unwrap();
            }
        }
        assert_eq!(peer.get_heads(), doc.get_heads());
    }

    #[test]
    fn documents_compressed_chunks_and_garbage_are_refused() {
        let mut doc = doc_with_changes();
        let saved = doc.save();
        assert!(check_change_chunks(&saved).unwrap_err().contains("type 0"));
        let mut compressed = doc.save_after(&[]);
        compressed[8] = 2;
        assert!(
            check_change_chunks(&compressed)
                .unwrap_err()
                .contains("type 2")
        );
        assert!(check_change_chunks(b"hello world").is_err());
        let whole = doc.save_after(&[]);
        assert!(check_change_chunks(&whole[..whole.len() - 1]).is_err());
    }

    #[test]
    fn a_bloom_filter_asking_for_billions_of_probes_is_refused() {
        // have: last_sync [] and a filter of 1 entry, 8 bits per entry, 2^32-1 probes.
        let mut m = vec![0x42, 0, 0, 1, 0];
        let bloom = [1u8, 8, 0xff, 0xff, 0xff, 0xff, 0x0f, 0];
        m.push(bloom.len() as u8);
        m.extend(bloom);
        m.push(0);
        let message = Message::decode(&m).unwrap();
        let err = check_sync_message(&message).unwrap_err();
        assert!(err.contains("probes"), "{err}");
    }
}
