//! The private channel of a local sync: two phones pair with a short code shown on one screen
//! and typed on the other, and everything after travels encrypted and authenticated.
//!
//! SPAKE2 (Ed25519 group, symmetric) turns the code into a strong shared key without revealing
//! it: an eavesdropper learns nothing, and an impostor gets one guess per connection (one in a
//! million for six digits), never an offline dictionary attack. HKDF-SHA-256 derives one key
//! per direction; each record is ChaCha20-Poly1305 with a counter nonce. The first record each
//! way is a fixed confirmation: a wrong code fails there, before anything is said.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::Sha256;
use spake2::{Ed25519Group, Identity, Password, Spake2};
use std::io::{self, Read, Write};

/// Digits in a pairing code.
pub const CODE_DIGITS: usize = 6;
/// The largest record accepted (a local sync message is at most 8 MiB, plus its length).
const MAX_RECORD: usize = (8 << 20) + 64;
const CONFIRM: &[u8] = b"doorstep local sync v1";
const SPAKE2_MESSAGE: usize = 33;

/// Why two phones could not pair.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    /// The codes differ (or someone else answered).
    #[error(
        "the two phones' pairing codes do not match; type the code the listening phone shows, and try again"
    )]
    WrongCode,
    /// The code is not six digits.
    #[error("a pairing code is {CODE_DIGITS} digits; '{0}' is not")]
    BadCode(String),
    /// The link failed during pairing.
    #[error("the link to the other phone failed while pairing ({0}); try again")]
    Link(#[from] io::Error),
}

/// A fresh random pairing code, to show on the listening phone's screen.
pub fn pairing_code() -> String {
    // uuid's v4 draws from the system's randomness (the crate is already a dependency).
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..8]);
    let n = u64::from_le_bytes(bytes) % 10u64.pow(CODE_DIGITS as u32);
    format!("{n:0width$}", width = CODE_DIGITS)
}

/// A stream whose bytes travel sealed.
pub struct Sealed<S> {
    inner: S,
    send: ChaCha20Poly1305,
    recv: ChaCha20Poly1305,
    sent: u64,
    received: u64,
    buffer: Vec<u8>,
    read_at: usize,
}

/// Pairs over `stream` with `code` and returns the sealed stream. Both phones call it, the one
/// that connected with `initiator`.
pub fn pair<S: Read + Write>(
    mut stream: S,
    code: &str,
    initiator: bool,
) -> Result<Sealed<S>, PairError> {
    let code = code.trim();
    if code.len() != CODE_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PairError::BadCode(code.chars().take(12).collect()));
    }
    let (spake, outbound) = Spake2::<Ed25519Group>::start_symmetric(
        &Password::new(code.as_bytes()),
        &Identity::new(CONFIRM),
    );
    stream.write_all(&outbound)?;
    stream.flush()?;
    let mut inbound = [0u8; SPAKE2_MESSAGE];
    stream.read_exact(&mut inbound)?;
    let key = spake.finish(&inbound).map_err(|_| PairError::WrongCode)?;
    let hkdf = hkdf::Hkdf::<Sha256>::new(None, &key);
    let mut forward = [0u8; 32];
    let mut backward = [0u8; 32];
    // The info strings are distinct constants: expanding 32 bytes from SHA-256 cannot fail.
    let _ = hkdf.expand(
        b"doorstep local: connecting phone to listening phone",
        &mut forward,
    );
    let _ = hkdf.expand(
        b"doorstep local: listening phone to connecting phone",
        &mut backward,
    );
    let (send, recv) = if initiator {
        (forward, backward)
    } else {
        (backward, forward)
    };
    let mut sealed = Sealed {
        inner: stream,
        send: ChaCha20Poly1305::new(Key::from_slice(&send)),
        recv: ChaCha20Poly1305::new(Key::from_slice(&recv)),
        sent: 0,
        received: 0,
        buffer: Vec::new(),
        read_at: 0,
    };
    sealed.write_record(CONFIRM)?;
    // Nothing bigger than the confirmation is read before the other phone has proved the code.
    match sealed.read_record(CONFIRM.len() + 16) {
        Ok(confirm) if confirm == CONFIRM => Ok(sealed),
        Ok(_) => Err(PairError::WrongCode),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => Err(PairError::WrongCode),
        Err(e) => Err(PairError::Link(e)),
    }
}

fn nonce(counter: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&counter.to_le_bytes());
    *Nonce::from_slice(&bytes)
}

impl<S: Read + Write> Sealed<S> {
    fn write_record(&mut self, plain: &[u8]) -> io::Result<()> {
        let sealed = self
            .send
            .encrypt(&nonce(self.sent), plain)
            .map_err(|_| io::Error::other("sealing a record failed"))?;
        self.sent += 1;
        let len = u32::try_from(sealed.len()).map_err(|_| io::Error::other("record too large"))?;
        self.inner.write_all(&len.to_le_bytes())?;
        self.inner.write_all(&sealed)?;
        self.inner.flush()
    }

    fn read_record(&mut self, max: usize) -> io::Result<Vec<u8>> {
        let mut len = [0u8; 4];
        self.inner.read_exact(&mut len)?;
        let len = u32::from_le_bytes(len) as usize;
        if len > max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a record of {len} bytes, over the limit"),
            ));
        }
        let mut sealed = vec![0u8; len];
        self.inner.read_exact(&mut sealed)?;
        let plain = self
            .recv
            .decrypt(&nonce(self.received), sealed.as_slice())
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a record failed its check: damaged, replayed, or not from the paired phone",
                )
            })?;
        self.received += 1;
        Ok(plain)
    }

    /// The stream underneath.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The stream underneath, to change its settings (timeouts once paired).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: Read + Write> Read for Sealed<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.read_at >= self.buffer.len() {
            self.buffer = self.read_record(MAX_RECORD)?;
            self.read_at = 0;
        }
        let n = buf.len().min(self.buffer.len() - self.read_at);
        buf[..n].copy_from_slice(&self.buffer[self.read_at..self.read_at + n]);
        self.read_at += n;
        Ok(n)
    }
}

impl<S: Read + Write> Write for Sealed<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.write_record(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn both(
        a: &str,
        b: &str,
    ) -> (
        Result<Sealed<UnixStream>, PairError>,
        Result<Sealed<UnixStream>, PairError>,
    ) {
        let (x, y) = UnixStream::pair().unwrap();
        let b = b.to_owned();
        let other = std::thread::spawn(move || pair(y, &b, false));
        let mine = pair(x, a, true);
        (mine, other.join().unwrap())
    }

    #[test]
    fn the_same_code_pairs_and_bytes_travel_sealed_both_ways() {
        let (a, b) = both("042917", "042917");
        let (mut a, mut b) = (a.unwrap(), b.unwrap());
        a.write_all(b"knock knock").unwrap();
        let mut got = [0u8; 11];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"knock knock");
        b.write_all(b"who").unwrap();
        let mut got = [0u8; 3];
        a.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"who");
    }

    #[test]
    fn a_wrong_code_is_told_on_both_sides() {
        let (a, b) = both("042917", "042918");
        assert!(matches!(a, Err(PairError::WrongCode)), "{:?}", a.err());
        assert!(matches!(b, Err(PairError::WrongCode)), "{:?}", b.err());
        let err = pair(std::io::Cursor::new(Vec::new()), "12ab", true)
            .err()
            .unwrap();
        assert!(err.to_string().contains("6 digits"), "{err}");
    }

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> = (0..20).map(|_| pairing_code()).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        );
        assert!(codes.len() > 15);
    }
}
