//! Tokens: 192 random bits, shown once, stored as their SHA-256.

use crate::storage::{Storage, StorageResult};
use sha2::{Digest, Sha256};

/// Every token starts with this, so a leaked one is easy to recognise and search for.
pub const TOKEN_PREFIX: &str = "dst_";

/// A freshly issued token: give `secret` to its user, keep `id` to revoke it.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The public handle.
    pub id: String,
    /// The token itself. Not stored anywhere.
    pub secret: String,
}

/// The stored form of a token.
pub fn token_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Issues a new token for `user`.
pub fn issue_token(
    storage: &(impl Storage + ?Sized),
    user: &str,
    now: i64,
) -> StorageResult<IssuedToken> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| {
        crate::storage::StorageError::Corrupt(format!("no randomness for a token: {e}"))
    })?;
    let secret = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let hash = token_hash(&secret);
    // The id is derived from the hash, not the secret's text, and is safe to print and log.
    let id = hex::encode(&Sha256::digest(hash)[..6]);
    storage.add_token(user, &id, &hash, now)?;
    Ok(IssuedToken { id, secret })
}

/// The bearer token of an `Authorization` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}
