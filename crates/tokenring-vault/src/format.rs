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

use crate::encoding;
use crate::entry::{Entries, KeyHandle, StoredEntry, VaultCredential};
use crate::error::FormatError;
use crate::json_text::write_str;

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
    let id = encoding::hex_decode(json.credential_id.as_bytes()).ok_or(FormatError::BadHex {
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
    let bytes = encoding::hex_decode(text.as_bytes()).ok_or(FormatError::BadHex { field: "salt" })?;
    let actual = bytes.len();
    bytes.try_into().map_err(|_| FormatError::BadLength {
        field: "salt",
        expected: 32,
        actual,
    })
}

/// Parses an outer vault file (the whole file's bytes).
pub fn parse_file(bytes: &[u8]) -> Result<VaultFile, FormatError> {
    let json: FileJson<'_> = serde_json::from_slice(bytes).map_err(|e| FormatError::from_json(&e))?;
    let credential = Arc::new(parse_credential(&json.key.credential)?);
    let salt = parse_salt(&json.key.salt)?;
    let token = encoding::hex_base64_decode(json.data.as_bytes()).ok_or(FormatError::BadHex {
        field: "data",
    })?;
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
    out.write_all(&head)?;
    // Encode the (possibly very large) token in chunks, never all at once.
    let mut buf = Vec::with_capacity(encoding::hex_base64_len(CHUNK));
    for chunk in token.chunks(CHUNK) {
        buf.clear();
        encoding::hex_base64_encode_into(chunk, &mut buf);
        out.write_all(&buf)?;
    }
    out.write_all(b"\"}")
}

/// Input bytes per encoded chunk (a multiple of 3, so chunks join without padding).
const CHUNK: usize = 3 * 16 * 1024;

fn write_key(key: &KeyHandle, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"salt\": \"");
    encoding::hex_encode_into(&key.salt, out);
    out.extend_from_slice(b"\", \"credential\": {\"rp_id\": ");
    write_str(out, &key.credential.rp_id);
    out.extend_from_slice(b", \"credential_id\": \"");
    encoding::hex_encode_into(key.credential.id.as_bytes(), out);
    out.extend_from_slice(b"\"}}");
}

/// Appends the entry list as the original's `json.dumps` writes it.
pub fn write_entries(entries: &Entries, out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, (service, user, entry)) in entries.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.push(b'[');
        write_str(out, service);
        out.extend_from_slice(b", ");
        write_str(out, user);
        out.extend_from_slice(b", ");
        write_key(&entry.key, out);
        out.extend_from_slice(b", ");
        write_str(out, &entry.token);
        out.push(b']');
    }
    out.push(b']');
}

/// Parses a decrypted entry list. Entries that use `vault_credential`
/// share it. A (service, user) listed twice keeps its first place and its
/// last value, as the original's dict does.
pub fn parse_entries(
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
                && encoding::hex_decode(key.credential.credential_id.as_bytes()).as_deref()
                    == Some(last.id.as_bytes())
            {
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
