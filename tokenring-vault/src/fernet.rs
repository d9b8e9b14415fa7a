//! Fernet tokens (the Fernet specification, `Spec.md` in the Fernet spec
//! repository), on RustCrypto primitives.
//!
//! A token is `0x80 ‖ timestamp (u64, big endian) ‖ IV (16) ‖ AES-128-CBC
//! ciphertext (PKCS#7) ‖ HMAC-SHA-256 (32)`, the HMAC taken over everything
//! before it with the key's first 16 bytes; the last 16 bytes encrypt. On the
//! wire a token is base64url with padding.
//!
//! Vault tokens are opened **without** a TTL, so a token written by a
//! machine whose clock ran ahead still opens (as with the Python
//! `cryptography` package, which checks timestamps only when a TTL is given).
//! [`FernetKey::decrypt_with_ttl`] enforces a TTL and the spec's 60-second
//! clock-skew limit, for the spec's test vectors and for callers that want it.
//!
//! The MAC is checked, in constant time, before anything is decrypted; every
//! failure is the same opaque [`FernetError`].

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand_core::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokenring_core::{Secret32, SecretBytes};
use zeroize::{Zeroize, Zeroizing};

/// The version byte of every Fernet token.
pub const VERSION: u8 = 0x80;
/// Version, timestamp and IV: the bytes before the ciphertext.
pub const HEADER_LEN: usize = 1 + 8 + 16;
/// Length of the HMAC-SHA-256 tag at the end of a token.
pub const TAG_LEN: usize = 32;
/// The largest clock skew the spec tolerates when a TTL is enforced (seconds).
pub const MAX_CLOCK_SKEW_SECS: u64 = 60;

/// From this token length on, [`FernetKey::decrypt_two_threads`] uses two
/// threads (below it, a thread costs about what the decryption does).
pub(crate) const TWO_THREADS_MIN: usize = 1 << 20;

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;
type HmacSha256 = Hmac<Sha256>;

/// A token did not decrypt: wrong key, tampered, malformed, expired or from
/// too far in the future (when a TTL is enforced). Deliberately opaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("did not decrypt")]
pub struct FernetError;

/// A Fernet key: 16 bytes that sign, 16 bytes that encrypt. Zeroized on
/// drop. The bytes live on the heap, so that moving a key (returning it,
/// storing it) copies a pointer, never the key: a moved-from stack slot is
/// not wiped.
pub struct FernetKey {
    bytes: Box<KeyBytes>,
}

struct KeyBytes {
    signing: [u8; 16],
    encryption: [u8; 16],
}

impl Drop for FernetKey {
    fn drop(&mut self) {
        self.bytes.signing.zeroize();
        self.bytes.encryption.zeroize();
    }
}

impl FernetKey {
    /// Uses 32 raw bytes as a key (the first 16 sign, the last 16 encrypt),
    /// as the original does with an hmac-secret output.
    pub fn from_secret(secret: &Secret32) -> Self {
        let secret = secret.expose_secret();
        let mut bytes = Box::new(KeyBytes {
            signing: [0u8; 16],
            encryption: [0u8; 16],
        });
        bytes.signing.copy_from_slice(&secret[..16]);
        bytes.encryption.copy_from_slice(&secret[16..]);
        FernetKey { bytes }
    }

    /// Parses a key in the spec's text form (32 bytes, base64url with padding).
    pub fn from_base64(text: &str) -> Result<Self, FernetError> {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::URL_SAFE
                .decode(text)
                .map_err(|_| FernetError)?,
        );
        let secret = Secret32::from_slice(&bytes).ok_or(FernetError)?;
        Ok(Self::from_secret(&secret))
    }

    /// Encrypts with a fresh random IV and the current time.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, rand_core::Error> {
        let mut iv = [0u8; 16];
        rand_core::OsRng.try_fill_bytes(&mut iv)?;
        Ok(self.encrypt_with(plaintext, iv, unix_now()))
    }

    /// Encrypts with the given IV and timestamp (for test vectors; use
    /// [`FernetKey::encrypt`] otherwise). Returns the raw token bytes.
    pub fn encrypt_with(&self, plaintext: &[u8], iv: [u8; 16], timestamp: u64) -> Vec<u8> {
        let mut buf = Vec::with_capacity(HEADER_LEN + plaintext.len() + 16 + TAG_LEN);
        buf.resize(HEADER_LEN, 0);
        buf.extend_from_slice(plaintext);
        self.seal_in_place(&mut buf, iv, timestamp);
        buf
    }

    /// Turns `buf` = `[HEADER_LEN bytes of room] ‖ plaintext` into a token,
    /// in place (no copy of a large plaintext).
    pub(crate) fn seal_in_place(&self, buf: &mut Vec<u8>, iv: [u8; 16], timestamp: u64) {
        let message_len = buf.len().saturating_sub(HEADER_LEN);
        let padded = (message_len / 16 + 1) * 16;
        buf.resize(HEADER_LEN + padded, 0);
        let mut header = [0u8; HEADER_LEN];
        header[0] = VERSION;
        header[1..9].copy_from_slice(&timestamp.to_be_bytes());
        header[9..].copy_from_slice(&iv);
        let (head, body) = buf.split_at_mut(HEADER_LEN);
        head.copy_from_slice(&header);
        let encryptor = Aes128CbcEnc::new((&self.bytes.encryption).into(), (&iv).into());
        // The buffer has exactly the room PKCS#7 needs, so this cannot fail;
        // should it ever, the token is left unusable rather than panicking.
        if encryptor
            .encrypt_padded_mut::<Pkcs7>(body, message_len)
            .is_err()
        {
            buf.clear();
            return;
        }
        let tag = self.tag(buf);
        buf.extend_from_slice(&tag);
    }

    fn mac(&self) -> HmacSha256 {
        match <HmacSha256 as Mac>::new_from_slice(&self.bytes.signing) {
            Ok(mac) => mac,
            Err(_) => unreachable_mac(),
        }
    }

    fn tag(&self, signed: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.mac();
        mac.update(signed);
        mac.finalize().into_bytes().into()
    }

    /// Checks the structure and the MAC (constant time); returns the
    /// timestamp. Nothing is decrypted.
    pub fn verify(&self, token: &[u8]) -> Result<u64, FernetError> {
        let body_len = token
            .len()
            .checked_sub(HEADER_LEN + TAG_LEN)
            .ok_or(FernetError)?;
        if token.first() != Some(&VERSION) || body_len == 0 || body_len % 16 != 0 {
            return Err(FernetError);
        }
        let (signed, tag) = token.split_at(token.len() - TAG_LEN);
        let expected = self.tag(signed);
        if !bool::from(expected.ct_eq(tag)) {
            return Err(FernetError);
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&token[1..9]);
        Ok(u64::from_be_bytes(ts))
    }

    /// Verifies and decrypts a token, without a TTL: any timestamp, past or
    /// future, is accepted (this is how vault tokens are opened).
    pub fn decrypt(&self, token: &[u8]) -> Result<SecretBytes, FernetError> {
        let mut buf = Zeroizing::new(token.to_vec());
        let range = self.decrypt_in_place(&mut buf)?;
        let mut out = Zeroizing::new(Vec::with_capacity(range.len()));
        out.extend_from_slice(buf.get(range).ok_or(FernetError)?);
        Ok(out)
    }

    /// Verifies and decrypts a token that must be at most `ttl_secs` old at
    /// `now` (Unix seconds) and not more than [`MAX_CLOCK_SKEW_SECS`] in the future.
    pub fn decrypt_with_ttl(
        &self,
        token: &[u8],
        ttl_secs: u64,
        now: u64,
    ) -> Result<SecretBytes, FernetError> {
        let timestamp = self.verify(token)?;
        if timestamp.saturating_add(ttl_secs) < now
            || now.saturating_add(MAX_CLOCK_SKEW_SECS) < timestamp
        {
            return Err(FernetError);
        }
        self.decrypt(token)
    }

    /// Verifies the MAC, then decrypts in place; returns where the plaintext
    /// now lies in `token`.
    pub(crate) fn decrypt_in_place(&self, token: &mut [u8]) -> Result<Range<usize>, FernetError> {
        self.verify(token)?;
        self.decrypt_verified_in_place(token)
    }

    /// Verifies and decrypts a large token (`file[start..]`) on two
    /// threads: the MAC over the token on this one (the longer job), the
    /// CBC decryption into a new buffer on the other. A decrypting thread
    /// that has not started by the time the MAC is done (the machine is
    /// busy) is not waited for: the decryption is done here, and the
    /// thread, when it runs, finds it done and ends. The plaintext is
    /// returned only when the MAC verified (otherwise it is wiped and the
    /// error is the same opaque one), so nothing decrypted is ever used
    /// before the token is authenticated. A token under
    /// [`TWO_THREADS_MIN`] bytes is verified, then decrypted, here: a
    /// thread would cost more than it saves.
    pub(crate) fn decrypt_two_threads(
        &self,
        file: &Arc<Vec<u8>>,
        start: usize,
    ) -> Result<Zeroizing<Vec<u8>>, FernetError> {
        let token = file.get(start..).ok_or(FernetError)?;
        let body_len = token
            .len()
            .checked_sub(HEADER_LEN + TAG_LEN)
            .ok_or(FernetError)?;
        if token.first() != Some(&VERSION) || body_len == 0 || !body_len.is_multiple_of(16) {
            return Err(FernetError);
        }
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&token[9..HEADER_LEN]);
        let body = start + HEADER_LEN..start + HEADER_LEN + body_len;
        if token.len() < TWO_THREADS_MIN {
            self.verify(token)?;
            return self.decrypt_body(&iv, &file[body], Vec::new());
        }
        // The output buffer, allocated here; whichever thread takes it
        // first decrypts (the other finds it gone).
        let buffer = Arc::new(Mutex::new(Some(Vec::with_capacity(body.len()))));
        let take = |b: &Mutex<Option<Vec<u8>>>| {
            b.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        };
        let worker = {
            let (file, buffer, body) = (Arc::clone(file), Arc::clone(&buffer), body.clone());
            let key = self.decrypting_copy();
            std::thread::Builder::new()
                .name("vault-decrypt".into())
                .spawn(move || take(&buffer).map(|out| key.decrypt_body(&iv, &file[body], out)))
        };
        let verified = self.verify(token).is_ok();
        let here = take(&buffer);
        if !verified {
            // A started thread's plaintext is wiped where it ends.
            return Err(FernetError);
        }
        match (here, worker) {
            // Not started, or no thread: here (the thread, if any, will find the buffer gone).
            (Some(out), _) => self.decrypt_body(&iv, &file[body], out),
            // Started: it is decrypting (or done); wait for it.
            (None, Ok(handle)) => handle
                .join()
                .ok()
                .flatten()
                .unwrap_or_else(|| self.decrypt_body(&iv, &file[body], Vec::new())),
            (None, Err(_)) => self.decrypt_body(&iv, &file[body], Vec::new()),
        }
    }

    /// CBC-decrypts (and unpads) a token's ciphertext into `out` (empty;
    /// allocated by the caller, so that the plaintext lives in the calling
    /// thread's allocator arena, not the decrypting thread's); the caller
    /// has verified the token, or does before using the result.
    fn decrypt_body(
        &self,
        iv: &[u8; 16],
        body: &[u8],
        out: Vec<u8>,
    ) -> Result<Zeroizing<Vec<u8>>, FernetError> {
        let mut out = Zeroizing::new(out);
        out.resize(body.len(), 0);
        let decryptor = Aes128CbcDec::new((&self.bytes.encryption).into(), iv.into());
        let len = decryptor
            .decrypt_padded_b2b_mut::<Pkcs7>(body, &mut out)
            .map_err(|_| FernetError)?
            .len();
        out.truncate(len);
        Ok(out)
    }

    /// A key that only decrypts (its signing half zero), for another thread.
    fn decrypting_copy(&self) -> FernetKey {
        let mut bytes = Box::new(KeyBytes {
            signing: [0u8; 16],
            encryption: [0u8; 16],
        });
        bytes.encryption.copy_from_slice(&self.bytes.encryption);
        FernetKey { bytes }
    }

    /// Decrypts in place a token whose MAC [`FernetKey::verify`] has just
    /// accepted (large vault tokens are verified once, not twice).
    pub(crate) fn decrypt_verified_in_place(
        &self,
        token: &mut [u8],
    ) -> Result<Range<usize>, FernetError> {
        let end = token.len().checked_sub(TAG_LEN).ok_or(FernetError)?;
        if end < HEADER_LEN {
            return Err(FernetError);
        }
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&token[9..HEADER_LEN]);
        let body = token.get_mut(HEADER_LEN..end).ok_or(FernetError)?;
        let decryptor = Aes128CbcDec::new((&self.bytes.encryption).into(), (&iv).into());
        let plain_len = decryptor
            .decrypt_padded_mut::<Pkcs7>(body)
            .map_err(|_| FernetError)?
            .len();
        Ok(HEADER_LEN..HEADER_LEN + plain_len)
    }
}

/// The encrypting half of a token written in pieces: CBC over
/// block-aligned pieces, then the padded end. See [`FernetKey::stream`].
pub(crate) struct StreamEncryptor {
    cbc: Aes128CbcEnc,
}

impl StreamEncryptor {
    /// Encrypts `blocks` in place; its length must be a multiple of 16
    /// (any rest is left as it is and must not be used).
    pub(crate) fn encrypt_blocks(&mut self, blocks: &mut [u8]) {
        let (chunks, _) = aes::cipher::inout::InOutBuf::from(blocks).into_chunks();
        self.cbc.encrypt_blocks_inout_mut(chunks);
    }

    /// Pads (PKCS#7) and encrypts the last piece, which holds fewer than 16
    /// bytes of the message; returns the final ciphertext blocks.
    pub(crate) fn finish(self, rest: &[u8]) -> Vec<u8> {
        let mut block = vec![0u8; 16 * (rest.len() / 16 + 1)];
        block[..rest.len()].copy_from_slice(rest);
        match self.cbc.encrypt_padded_mut::<Pkcs7>(&mut block, rest.len()) {
            Ok(ct) => ct.to_vec(),
            Err(_) => Vec::new(),
        }
    }
}

/// The MAC half of a token written in pieces.
pub(crate) struct StreamMac {
    mac: HmacSha256,
}

impl StreamMac {
    /// Adds bytes of the token (header, then ciphertext).
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.mac.update(bytes);
    }

    /// The tag that ends the token.
    pub(crate) fn finalize(self) -> [u8; TAG_LEN] {
        self.mac.finalize().into_bytes().into()
    }
}

impl FernetKey {
    /// The header of a token written in pieces (for plaintexts too large
    /// to copy); [`FernetKey::stream_encryptor`] and
    /// [`FernetKey::stream_mac`] then write and sign its body. Each is made
    /// where it is used (on the thread that uses it), so that no copy of
    /// the key schedule travels in a thread's closure.
    pub(crate) fn stream_header(iv: [u8; 16], timestamp: u64) -> [u8; HEADER_LEN] {
        let mut header = [0u8; HEADER_LEN];
        header[0] = VERSION;
        header[1..9].copy_from_slice(&timestamp.to_be_bytes());
        header[9..].copy_from_slice(&iv);
        header
    }

    /// The encryptor of a token's body, for [`FernetKey::stream_header`]'s `iv`.
    pub(crate) fn stream_encryptor(&self, iv: [u8; 16]) -> StreamEncryptor {
        StreamEncryptor {
            cbc: Aes128CbcEnc::new((&self.bytes.encryption).into(), (&iv).into()),
        }
    }

    /// The MAC of a token, fed its header already.
    pub(crate) fn stream_mac(&self, header: &[u8; HEADER_LEN]) -> StreamMac {
        let mut mac = self.mac();
        mac.update(header);
        StreamMac { mac }
    }
}

#[cold]
fn unreachable_mac() -> HmacSha256 {
    // `new_from_slice` only fails for fixed-size-key MACs; HMAC is not one.
    // Fall back to a MAC under a key nobody knows, so a token made with it
    // never verifies, rather than panicking.
    let mut key = [0u8; 64];
    let _ = rand_core::OsRng.try_fill_bytes(&mut key);
    <HmacSha256 as hmac::digest::KeyInit>::new(&key.into())
}

/// A token's text form: base64url with padding.
pub fn encode(token: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE.encode(token)
}

/// Parses a token's text form (base64url with padding).
pub fn decode(text: &str) -> Result<Vec<u8>, FernetError> {
    base64::engine::general_purpose::URL_SAFE
        .decode(text)
        .map_err(|_| FernetError)
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> FernetKey {
        FernetKey::from_secret(&Secret32::new([7u8; 32]))
    }

    #[test]
    fn a_key_moves_without_copying_its_bytes() {
        // A move copies the value's inline bytes and leaves the old ones
        // where they were; a key is only a pointer to its bytes.
        assert_eq!(
            std::mem::size_of::<FernetKey>(),
            std::mem::size_of::<usize>()
        );
        let k = key();
        let at = std::ptr::from_ref(&*k.bytes);
        let moved = std::hint::black_box(k);
        assert!(std::ptr::eq(at, &*moved.bytes));
    }

    #[test]
    fn round_trip_every_length_around_blocks() {
        let k = key();
        for len in 0..50 {
            let msg: Vec<u8> = (0..len as u8).collect();
            let token = k.encrypt_with(&msg, [1u8; 16], 1_000);
            assert_eq!(token.len(), HEADER_LEN + (len / 16 + 1) * 16 + TAG_LEN);
            assert_eq!(&k.decrypt(&token).expect("decrypts")[..], &msg[..]);
        }
    }

    #[test]
    fn every_flipped_bit_is_rejected() {
        let k = key();
        let token = k.encrypt_with(b"secret", [2u8; 16], 5);
        for i in 0..token.len() * 8 {
            let mut t = token.clone();
            t[i / 8] ^= 1 << (i % 8);
            assert_eq!(k.decrypt(&t).map(|_| ()), Err(FernetError), "bit {i}");
        }
        for len in 0..token.len() {
            assert!(k.decrypt(&token[..len]).is_err());
        }
    }

    #[test]
    fn two_threads_or_one_the_same_plaintext_and_a_flipped_byte_anywhere_is_refused() {
        let k = key();
        // Below, at and above the length from which two threads are used.
        for len in [
            0,
            100,
            TWO_THREADS_MIN - HEADER_LEN - TAG_LEN - 17,
            TWO_THREADS_MIN,
            TWO_THREADS_MIN + 4099,
        ] {
            let msg: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let token = k.encrypt_with(&msg, [4u8; 16], 9);
            assert_eq!(
                token.len() >= TWO_THREADS_MIN,
                len >= TWO_THREADS_MIN - HEADER_LEN - TAG_LEN,
                "{len}"
            );
            let file = Arc::new(token.clone());
            let plain = k.decrypt_two_threads(&file, 0).expect("decrypts");
            assert_eq!(&plain[..], &msg[..], "{len}");
            // The token after other bytes, as the envelope after a header.
            let mut after = b"a header".to_vec();
            after.extend_from_slice(&token);
            let plain = k
                .decrypt_two_threads(&Arc::new(after), 8)
                .expect("decrypts");
            assert_eq!(&plain[..], &msg[..], "{len}");
            // The version, the timestamp, the IV, the first, a middle and
            // the last ciphertext block, the tag.
            let body_end = token.len() - TAG_LEN;
            for at in [
                0,
                3,
                12,
                HEADER_LEN,
                token.len() / 2,
                body_end - 1,
                body_end,
                token.len() - 1,
            ] {
                let mut t = token.clone();
                t[at] ^= 0x20;
                assert!(
                    k.decrypt_two_threads(&Arc::new(t), 0).is_err(),
                    "{len} at {at}"
                );
            }
            let short = Arc::new(token[..token.len() - 16].to_vec());
            assert!(k.decrypt_two_threads(&short, 0).is_err());
            assert!(key_other().decrypt_two_threads(&file, 0).is_err());
            assert!(k.decrypt_two_threads(&file, 1).is_err());
            assert!(k.decrypt_two_threads(&file, file.len() + 1).is_err());
        }
    }

    fn key_other() -> FernetKey {
        FernetKey::from_secret(&Secret32::new([8u8; 32]))
    }

    #[test]
    fn future_timestamps_open_without_ttl_only() {
        let k = key();
        let now = unix_now();
        let token = k.encrypt_with(b"later", [3u8; 16], now + 7200);
        assert_eq!(&k.decrypt(&token).expect("no ttl")[..], b"later");
        assert!(k.decrypt_with_ttl(&token, 60, now).is_err());
        assert!(k.decrypt_with_ttl(&token, 60, now + 7200).is_ok());
    }
}
