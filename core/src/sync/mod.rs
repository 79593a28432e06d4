//! Sync: the wire format, the digest both sides compute, and the write rules both sides
//! enforce. No sockets, clocks or threads: the phone half is [`crate::Store::sync_request`] and
//! [`crate::Store::apply_sync_response`]; the server half lives in `doorstep-server` on top of
//! these pieces.

mod rules;
mod untrusted;
pub mod wire;

pub use rules::{Refusal, Rights, check_team_update, check_turf_update};
pub use untrusted::{changes_only, check_change_chunks, check_sync_message};
pub use wire::{
    DocDown, DocUp, DownBody, Hello, Identity, Request, Response, Role, RosterHave, Round, UpBody,
    WireError,
};

use automerge::ChangeHash;
use sha2::{Digest as _, Sha256};

/// The digest of the documents and rosters a request leaves out, as the phone holds them.
///
/// Both sides compute it: the phone over the documents whose heads equal what the server last
/// acknowledged (and every roster it holds), the server over what it last acknowledged for the
/// device minus the documents the request names. Equal digests let a quiet sync name nothing.
///
/// It is the first 8 bytes of the SHA-256 of the postcard encoding of
/// `(Vec<(String, Vec<[u8; 32]>)>, Vec<(String, u64)>)`: documents sorted by id with their heads
/// sorted, then rosters sorted by turf id.
pub fn quiet_digest(docs: &[(String, Vec<ChangeHash>)], rosters: &[(String, u64)]) -> wire::Digest {
    let mut docs: Vec<(&str, Vec<[u8; 32]>)> = docs
        .iter()
        .map(|(id, heads)| {
            let mut heads: Vec<[u8; 32]> = heads.iter().map(|h| h.0).collect();
            heads.sort_unstable();
            (id.as_str(), heads)
        })
        .collect();
    docs.sort_unstable();
    let mut rosters: Vec<(&str, u64)> = rosters.iter().map(|(t, v)| (t.as_str(), *v)).collect();
    rosters.sort_unstable();
    let bytes = postcard::to_stdvec(&(docs, rosters)).unwrap_or_default();
    let hash = Sha256::digest(&bytes);
    let mut out = [0u8; 8];
    out.copy_from_slice(&hash[..8]);
    out
}

/// Heads as they travel.
pub fn hashes(heads: &[ChangeHash]) -> Vec<wire::Hash> {
    heads.iter().map(|h| h.0).collect()
}

/// Heads from the wire.
pub fn change_hashes(hashes: &[wire::Hash]) -> Vec<ChangeHash> {
    hashes.iter().map(|h| ChangeHash(*h)).collect()
}

/// Whether two sets of heads are the same, in any order.
pub fn same_heads(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_ignores_order_and_sees_every_head() {
        let h = |n: u8| ChangeHash([n; 32]);
        let a = quiet_digest(
            &[
                ("turf:a".into(), vec![h(1), h(2)]),
                ("turf:b".into(), vec![h(3)]),
            ],
            &[("a".into(), 1)],
        );
        let b = quiet_digest(
            &[
                ("turf:b".into(), vec![h(3)]),
                ("turf:a".into(), vec![h(2), h(1)]),
            ],
            &[("a".into(), 1)],
        );
        assert_eq!(a, b);
        let c = quiet_digest(
            &[
                ("turf:b".into(), vec![h(4)]),
                ("turf:a".into(), vec![h(2), h(1)]),
            ],
            &[("a".into(), 1)],
        );
        assert_ne!(a, c);
        let d = quiet_digest(
            &[
                ("turf:b".into(), vec![h(3)]),
                ("turf:a".into(), vec![h(2), h(1)]),
            ],
            &[("a".into(), 2)],
        );
        assert_ne!(a, d);
    }
}
