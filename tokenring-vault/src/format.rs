//! The v1 vault format, exactly the original's (`tokenring` 2025.2.19,
//! `vault.py` and `handles.py`):
//!
//! ```text
//! {"key": {"salt": HEX(32 bytes), "credential": {"rp_id": "...", "credential_id": HEX}},
//!  "data": HEX(ASCII of the base64url Fernet token under the vault key)}
//! ```
//!
//! `data` decrypts to the UTF-8 JSON entry list
//! `[[service, user, {"salt": HEX, "credential": {...}}, HEX(entry token)], ...]`.
//! Both are written as Python's `json.dumps` writes them (ASCII only,
//! `", "` and `": "` separators, no trailing newline), so the original reads
//! what is written here and a file it wrote is rewritten byte for byte.
//!
//! Reading is strict: unknown or duplicate fields, wrong types, bad hex and
//! salts that are not 32 bytes are [`FormatError`]s, never panics.

use std::borrow::Cow;
use std::io::Write;
use std::sync::Arc;

use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde::Deserialize;
use tokenring_core::CredentialId;

use crate::entry::{Entries, KeyHandle, StoredEntry, VaultCredential};
use crate::error::FormatError;
use crate::fernet::{self, FernetKey};
use crate::python_json::write_string;
use crate::{canonical_reader, hex_codec};

/// An outer vault file, parsed: the vault key handle and the raw bytes of
/// the Fernet token in `data` (still encrypted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultFile {
    /// Salt and credential of the vault key.
    pub key: KeyHandle,
    /// The Fernet token of the entry list.
    pub token: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileJson<'a> {
    #[serde(borrow)]
    key: KeyJson<'a>,
    #[serde(borrow)]
    data: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyJson<'a> {
    #[serde(borrow)]
    salt: Cow<'a, str>,
    #[serde(borrow)]
    credential: CredentialJson<'a>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialJson<'a> {
    #[serde(borrow)]
    rp_id: Cow<'a, str>,
    #[serde(borrow)]
    credential_id: Cow<'a, str>,
}

/// Longest credential id accepted (bytes); CTAP allows up to 1023.
const MAX_CREDENTIAL_ID: usize = 1023;

fn parse_credential(json: &CredentialJson<'_>) -> Result<VaultCredential, FormatError> {
    let id = hex_codec::hex_decode(json.credential_id.as_bytes()).ok_or(FormatError::BadHex {
        field: "credential_id",
    })?;
    if id.is_empty() || id.len() > MAX_CREDENTIAL_ID {
        return Err(FormatError::BadLength {
            field: "credential_id",
            expected: if id.is_empty() { 1 } else { MAX_CREDENTIAL_ID },
            actual: id.len(),
        });
    }
    Ok(VaultCredential {
        rp_id: json.rp_id.clone().into_owned(),
        id: CredentialId(id),
    })
}

fn parse_salt(text: &str) -> Result<[u8; 32], FormatError> {
    if let Some(salt) = hex_codec::hex_decode_32(text.as_bytes()) {
        return Ok(salt);
    }
    let bytes =
        hex_codec::hex_decode(text.as_bytes()).ok_or(FormatError::BadHex { field: "salt" })?;
    let actual = bytes.len();
    bytes.try_into().map_err(|_| FormatError::BadLength {
        field: "salt",
        expected: 32,
        actual,
    })
}

/// Parses an outer vault file (the whole file's bytes).
pub fn parse_file(bytes: &[u8]) -> Result<VaultFile, FormatError> {
    if let Some((key, token)) = canonical_reader::parse_file(bytes) {
        return Ok(VaultFile { key, token });
    }
    parse_file_general(bytes)
}

/// The largest vault file read (4 GiB: about three million entries).
pub const MAX_FILE_LEN: u64 = 4 << 30;

/// Reads and parses a vault file from an open file of `len` bytes without
/// holding its text in memory (it can be far larger than the token it
/// spells): the canonical layout is decoded piece by piece; anything else
/// is read whole and parsed by the general reader.
pub fn read_file(
    file: &std::fs::File,
    len: u64,
) -> std::io::Result<Result<VaultFile, FormatError>> {
    use std::os::unix::fs::FileExt;
    const PIECE_TEXT: usize = 1 << 20;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let mut head = vec![0u8; len.min(64 * 1024)];
    file.read_exact_at(&mut head, 0)?;
    if let Some((key, start)) = canonical_reader::parse_head(&head) {
        let data_len = len.saturating_sub(start + 2);
        let mut tail = [0u8; 2];
        if len >= start + 2 && data_len % 8 == 0 && data_len > 0 {
            file.read_exact_at(&mut tail, (len - 2) as u64)?;
        }
        if &tail == b"\"}" {
            let mut token = Vec::with_capacity(data_len / 8 * 3);
            let mut piece = vec![0u8; PIECE_TEXT.min(data_len)];
            let mut at = start;
            let end = start + data_len;
            let mut ok = true;
            while at < end {
                let n = PIECE_TEXT.min(end - at);
                let buf = &mut piece[..n];
                file.read_exact_at(buf, at as u64)?;
                at += n;
                let decoded = if at < end {
                    hex_codec::hex_base64_decode_groups_into(buf, &mut token)
                } else {
                    hex_codec::hex_base64_decode_into(buf, &mut token)
                };
                if decoded.is_none() {
                    ok = false;
                    break;
                }
            }
            if ok {
                return Ok(Ok(VaultFile { key, token }));
            }
        }
    }
    drop(head);
    // Any other layout is parsed straight from the file: what is not a vault
    // fails where it stops being one, and nothing is allocated for the
    // length the file claims (a sparse file can claim any).
    let reader = std::io::BufReader::with_capacity(
        64 * 1024,
        ReadAt {
            file,
            at: 0,
            end: len as u64,
        },
    );
    let mut de = serde_json::Deserializer::from_reader(reader);
    let parsed = <FileJson<'static> as Deserialize>::deserialize(&mut de).and_then(|json| {
        de.end()?;
        Ok(json)
    });
    match parsed {
        Ok(json) => Ok(vault_file_from_json(&json)),
        Err(e) if e.is_io() => Err(std::io::Error::from(e)),
        Err(e) => Ok(Err(FormatError::from_json(&e))),
    }
}

/// Reads `file` from `at` to `end` with positioned reads; a file that ends
/// before `end` (it shrank while read) is an `UnexpectedEof` error.
struct ReadAt<'a> {
    file: &'a std::fs::File,
    at: u64,
    end: u64,
}

impl std::io::Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let left = usize::try_from(self.end - self.at).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let target = buf.get_mut(..want).unwrap_or_default();
        let n = self.file.read_at(target, self.at)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.at += n as u64;
        Ok(n)
    }
}

/// [`parse_file`] without the fast path for the canonical layout (for tests
/// and the fuzz target, which check that both agree).
pub fn parse_file_general(bytes: &[u8]) -> Result<VaultFile, FormatError> {
    let json: FileJson<'_> =
        serde_json::from_slice(bytes).map_err(|e| FormatError::from_json(&e))?;
    vault_file_from_json(&json)
}

fn vault_file_from_json(json: &FileJson<'_>) -> Result<VaultFile, FormatError> {
    let credential = Arc::new(parse_credential(&json.key.credential)?);
    let salt = parse_salt(&json.key.salt)?;
    let token = hex_codec::hex_base64_decode(json.data.as_bytes())
        .ok_or(FormatError::BadHex { field: "data" })?;
    Ok(VaultFile {
        key: KeyHandle { salt, credential },
        token,
    })
}

/// Writes an outer vault file as the original does.
pub fn write_file(key: &KeyHandle, token: &[u8], out: &mut impl Write) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b"{\"key\": ");
    write_key(key, &mut head);
    head.extend_from_slice(b", \"data\": \"");
    // Encode the (possibly very large) token in chunks, never all at once.
    let mut buf = head;
    buf.reserve(hex_codec::hex_base64_len(CHUNK.min(token.len())) + 2);
    for chunk in token.chunks(CHUNK) {
        hex_codec::hex_base64_encode_into(chunk, &mut buf);
        out.write_all(&buf)?;
        buf.clear();
    }
    buf.extend_from_slice(b"\"}");
    out.write_all(&buf)
}

/// Input bytes per encoded chunk (a multiple of 3, so chunks join without padding).
const CHUNK: usize = 3 * 128 * 1024;

fn write_key(key: &KeyHandle, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"salt\": \"");
    hex_codec::hex_encode_into(&key.salt, out);
    out.extend_from_slice(b"\", \"credential\": ");
    write_credential(&key.credential, out);
    out.push(b'}');
}

/// `{"rp_id": "…", "credential_id": "…"}`.
fn write_credential(credential: &VaultCredential, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"rp_id\": ");
    write_string(out, &credential.rp_id);
    out.extend_from_slice(b", \"credential_id\": \"");
    hex_codec::hex_encode_into(credential.id.as_bytes(), out);
    out.extend_from_slice(b"\"}");
}

/// [`write_key`], with the credential's text cached across calls: every
/// entry of a vault usually shares one credential.
fn write_key_cached(
    key: &KeyHandle,
    cache: &mut Option<(Arc<VaultCredential>, Vec<u8>)>,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"{\"salt\": \"");
    hex_codec::hex_encode_into(&key.salt, out);
    out.extend_from_slice(b"\", \"credential\": ");
    match cache {
        Some((credential, text)) if Arc::ptr_eq(credential, &key.credential) => {
            out.extend_from_slice(text);
        }
        _ => {
            let mut text = Vec::with_capacity(128);
            write_credential(&key.credential, &mut text);
            out.extend_from_slice(&text);
            *cache = Some((Arc::clone(&key.credential), text));
        }
    }
    out.push(b'}');
}

/// Appends the entry list as the original's `json.dumps` writes it.
pub fn write_entries(entries: &Entries, out: &mut Vec<u8>) {
    write_entries_in_pieces(entries, out, usize::MAX, |_| true);
}

/// [`write_entries`], calling `flush(out)` whenever `out` holds at least
/// `piece` bytes (it may take any prefix away); stops if `flush` says false.
fn write_entries_in_pieces(
    entries: &Entries,
    out: &mut Vec<u8>,
    piece: usize,
    mut flush: impl FnMut(&mut Vec<u8>) -> bool,
) -> bool {
    let mut cache = None;
    out.push(b'[');
    for (i, (service, user, entry)) in entries.iter().enumerate() {
        if out.len() >= piece && !flush(out) {
            return false;
        }
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.push(b'[');
        write_string(out, service);
        out.extend_from_slice(b", ");
        write_string(out, user);
        out.extend_from_slice(b", ");
        write_key_cached(&entry.key, &mut cache, out);
        out.extend_from_slice(b", ");
        write_string(out, &entry.token);
        out.push(b']');
    }
    out.push(b']');
    true
}

/// Plaintext bytes per piece of a sealed file.
const PIECE: usize = 64 * 1024;

/// Writes a whole vault file for `entries`, sealed under `key` with `iv`
/// and `timestamp`, in pieces through three stages: one thread serialises
/// and encrypts (CBC is sequential), one computes the MAC, and the calling
/// thread encodes and writes. Memory stays a few pieces, whatever the size
/// of the vault.
pub(crate) fn write_sealed_file(
    out: &mut impl Write,
    header: &KeyHandle,
    key: &FernetKey,
    iv: [u8; 16],
    timestamp: u64,
    entries: &Entries,
) -> std::io::Result<()> {
    use std::sync::mpsc::sync_channel;
    let token_header = FernetKey::stream_header(iv, timestamp);
    let (to_writer, from_producer) = sync_channel::<Arc<Vec<u8>>>(8);
    let (to_mac, mac_input) = sync_channel::<Arc<Vec<u8>>>(8);
    std::thread::scope(|scope| {
        // The threads get the key by reference and build their own cipher
        // and MAC states: a state moved into a thread's closure would stay
        // behind, unwiped, in the closure's freed box.
        std::thread::Builder::new()
            .name("vault-encrypt".into())
            .spawn_scoped(scope, move || {
                let mut encryptor = key.stream_encryptor(iv);
                // Plaintext (names, salts): wiped when dropped.
                let mut buf = zeroize::Zeroizing::new(Vec::with_capacity(PIECE + 4096));
                let send = |buf: &mut Vec<u8>, encryptor: &mut fernet::StreamEncryptor| {
                    let aligned = buf.len() / 16 * 16;
                    let mut piece = buf[..aligned].to_vec();
                    encryptor.encrypt_blocks(&mut piece);
                    buf.drain(..aligned);
                    let piece = Arc::new(piece);
                    to_mac.send(Arc::clone(&piece)).is_ok() && to_writer.send(piece).is_ok()
                };
                let complete =
                    write_entries_in_pieces(entries, &mut buf, PIECE, |b| send(b, &mut encryptor));
                if complete && send(&mut buf, &mut encryptor) {
                    let last = Arc::new(encryptor.finish(&buf));
                    if to_mac.send(Arc::clone(&last)).is_ok() {
                        let _ = to_writer.send(last);
                    }
                }
            })?;
        let tag = std::thread::Builder::new()
            .name("vault-mac".into())
            .spawn_scoped(scope, move || {
                let mut mac = key.stream_mac(&token_header);
                for piece in mac_input {
                    mac.update(&piece);
                }
                mac.finalize()
            })?;
        let mut text = Vec::with_capacity(hex_codec::hex_base64_len(PIECE + 4096) + 512);
        text.extend_from_slice(b"{\"key\": ");
        write_key(header, &mut text);
        text.extend_from_slice(b", \"data\": \"");
        let mut encoder = hex_codec::HexBase64Encoder::default();
        encoder.push(&token_header, &mut text);
        for piece in from_producer {
            encoder.push(&piece, &mut text);
            out.write_all(&text)?;
            text.clear();
        }
        let tag = tag
            .join()
            .map_err(|_| std::io::Error::other("the MAC thread failed"))?;
        encoder.push(&tag, &mut text);
        encoder.finish(&mut text);
        text.extend_from_slice(b"\"}");
        out.write_all(&text)
    })
}

/// Parses a decrypted entry list. Entries that use `vault_credential`
/// share it. A (service, user) listed twice keeps its first place and its
/// last value, as the original's dict does.
pub fn parse_entries(
    plaintext: &[u8],
    vault_credential: &Arc<VaultCredential>,
) -> Result<Entries, FormatError> {
    if let Some(entries) = canonical_reader::parse_entries(plaintext, vault_credential) {
        return Ok(entries);
    }
    parse_entries_general(plaintext, vault_credential)
}

/// [`parse_entries`] without the fast path for the canonical layout (for
/// tests and the fuzz target, which check that both agree).
pub fn parse_entries_general(
    plaintext: &[u8],
    vault_credential: &Arc<VaultCredential>,
) -> Result<Entries, FormatError> {
    let text = std::str::from_utf8(plaintext).map_err(|_| FormatError::NotUtf8)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = EntriesSeed {
        credential: vault_credential,
        estimate: plaintext.len() / 400,
    };
    let result = seed.deserialize(&mut de).and_then(|entries| {
        de.end()?;
        Ok(entries)
    });
    match result {
        Ok(Ok(entries)) => Ok(entries),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(FormatError::from_json(&e)),
    }
}

struct EntriesSeed<'c> {
    credential: &'c Arc<VaultCredential>,
    estimate: usize,
}

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_> {
    type Value = Result<Entries, FormatError>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

type EntryJson<'a> = (String, String, KeyJson<'a>, String);

impl<'de> Visitor<'de> for EntriesSeed<'_> {
    type Value = Result<Entries, FormatError>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of [service, user, key, token] entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut entries = Entries::with_capacity(self.estimate);
        let mut last: Arc<VaultCredential> = Arc::clone(self.credential);
        while let Some((service, user, key, token)) = seq.next_element::<EntryJson<'de>>()? {
            let credential = if key.credential.rp_id == last.rp_id
                && hex_codec::hex_equals(
                    key.credential.credential_id.as_bytes(),
                    last.id.as_bytes(),
                ) {
                Arc::clone(&last)
            } else {
                match parse_credential(&key.credential) {
                    Ok(c) => {
                        last = Arc::new(c);
                        Arc::clone(&last)
                    }
                    Err(e) => return Ok(Err(e)),
                }
            };
            let salt = match parse_salt(&key.salt) {
                Ok(s) => s,
                Err(e) => return Ok(Err(e)),
            };
            let entry = StoredEntry {
                key: KeyHandle { salt, credential },
                token: token.into_boxed_str(),
            };
            entries.insert(service, user, entry);
        }
        Ok(Ok(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenring_core::Secret32;

    #[test]
    fn sealed_file_in_pieces_equals_sealing_at_once() {
        let credential = Arc::new(VaultCredential {
            rp_id: "hardware.keychain.glyph.im".into(),
            id: CredentialId(vec![7; 32]),
        });
        let header = KeyHandle {
            salt: [3; 32],
            credential: Arc::clone(&credential),
        };
        let key = FernetKey::from_secret(&Secret32::new([9; 32]));
        for n in [0usize, 1, 2, 150, 400] {
            let mut entries = Entries::new();
            for i in 0..n {
                entries.insert(
                    format!("service {i} ✓"),
                    format!("user {i}"),
                    StoredEntry {
                        key: header.clone(),
                        token: "ab".repeat(i % 97).into_boxed_str(),
                    },
                );
            }
            let mut plain = Vec::new();
            write_entries(&entries, &mut plain);
            let token = key.encrypt_with(&plain, [5; 16], 1234);
            let mut at_once = Vec::new();
            write_file(&header, &token, &mut at_once).expect("write");
            let mut pieces = Vec::new();
            write_sealed_file(&mut pieces, &header, &key, [5; 16], 1234, &entries).expect("write");
            assert_eq!(pieces, at_once, "{n} entries");
            let parsed = parse_file(&pieces).expect("parse");
            let plain2 = key.decrypt(&parsed.token).expect("decrypt");
            assert_eq!(
                parse_entries(&plain2, &credential).expect("entries"),
                entries
            );
        }
    }
}
