//! A fast reader for the exact layout the original (and this crate) writes.
//!
//! Both writers use Python's `json.dumps` layout, so nearly every vault is
//! byte for byte `{"key": {"salt": "…", "credential": {"rp_id": "…",
//! "credential_id": "…"}}, "data": "…"}` and `[["…", "…", {…}, "…"], …]`.
//! This module recognises exactly that layout (any JSON string content,
//! escapes included) in one pass with no intermediate tree. Anything else —
//! other whitespace, other key order, errors of any kind — returns `None`,
//! and the general (serde) reader in [`crate::format`] decides, so the two
//! readers never disagree on what they both accept (the fuzz target checks it).

use std::sync::Arc;

use tokenring_core::CredentialId;

use crate::entry::{Entries, KeyHandle, StoredEntry, VaultCredential};
use crate::hex_codec;

/// Length of the run of plain string bytes at the start of `bytes`: up to
/// the first `"`, `\` or control character (or the end).
fn run_len(bytes: &[u8]) -> usize {
    let stop = memchr::memchr2(b'"', b'\\', bytes).unwrap_or(bytes.len());
    let run = bytes.get(..stop).unwrap_or_default();
    if run.iter().fold(false, |any, &b| any | (b < 0x20)) {
        run.iter().position(|&b| b < 0x20).unwrap_or(stop)
    } else {
        stop
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn lit(&mut self, expected: &[u8]) -> Option<()> {
        let end = self.pos.checked_add(expected.len())?;
        if self.bytes.get(self.pos..end)? == expected {
            self.pos = end;
            Some(())
        } else {
            None
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// The body of a string without escapes (the opening quote already
    /// read), up to and past the closing quote.
    fn plain(&mut self) -> Option<&'a [u8]> {
        let rest = self.bytes.get(self.pos..)?;
        let len = run_len(rest);
        if rest.get(len) != Some(&b'"') {
            return None;
        }
        self.pos += len + 1;
        rest.get(..len)
    }

    fn hex4(&mut self) -> Option<u16> {
        let digits = self.bytes.get(self.pos..self.pos + 4)?;
        let mut v = 0u16;
        for &d in digits {
            v = (v << 4) | u16::from(char::from(d).to_digit(16)? as u8);
        }
        self.pos += 4;
        Some(v)
    }

    /// A string body with JSON escapes (the opening quote already read).
    fn string(&mut self) -> Option<String> {
        let mut out: Vec<u8> = Vec::new();
        loop {
            let rest = self.bytes.get(self.pos..)?;
            let len = run_len(rest);
            out.extend_from_slice(rest.get(..len)?);
            self.pos += len;
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return String::from_utf8(out).ok();
                }
                b'\\' => {
                    self.pos += 1;
                    let e = self.peek()?;
                    self.pos += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let unit = self.hex4()?;
                            if (0xd800..0xdc00).contains(&unit) {
                                self.lit(b"\\u")?;
                                let low = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&low) {
                                    return None;
                                }
                                let code = 0x10000
                                    + ((u32::from(unit) - 0xd800) << 10)
                                    + (u32::from(low) - 0xdc00);
                                char::from_u32(code)?
                            } else {
                                char::from_u32(u32::from(unit))?
                            }
                        }
                        _ => return None,
                    };
                    let mut utf8 = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
                _ => return None,
            }
        }
    }

    /// `{"salt": "…", "credential": {"rp_id": "…", "credential_id": "…"}}`,
    /// sharing `last` when the credential is the same.
    fn key(&mut self, last: &mut Option<Arc<VaultCredential>>) -> Option<KeyHandle> {
        self.lit(b"{\"salt\": \"")?;
        let salt = hex_codec::hex_decode_32(self.plain()?)?;
        self.lit(b", \"credential\": {\"rp_id\": \"")?;
        let rp_id = self.string()?;
        self.lit(b", \"credential_id\": \"")?;
        let id_hex = self.plain()?;
        self.lit(b"}}")?;
        let credential = match last {
            Some(c) if c.rp_id == rp_id && hex_codec::hex_equals(id_hex, c.id.as_bytes()) => {
                Arc::clone(c)
            }
            _ => {
                let id = hex_codec::hex_decode(id_hex)?;
                if id.is_empty() || id.len() > 1023 {
                    return None;
                }
                let c = Arc::new(VaultCredential {
                    rp_id,
                    id: CredentialId(id),
                });
                *last = Some(Arc::clone(&c));
                c
            }
        };
        Some(KeyHandle { salt, credential })
    }
}

/// The outer file in the canonical layout: the key handle and the `data`
/// token bytes; `None` if the bytes are not exactly that layout.
pub(crate) fn parse_file(bytes: &[u8]) -> Option<(KeyHandle, Vec<u8>)> {
    let (key, start) = parse_head(bytes)?;
    let data = bytes.get(start..bytes.len().checked_sub(2)?)?;
    if bytes.get(bytes.len() - 2..)? != b"\"}" {
        return None;
    }
    let token = hex_codec::hex_base64_decode(data)?;
    Some((key, token))
}

/// The start of a file in the canonical layout, up to the opening quote
/// of `data`: the key handle and where the `data` text begins.
pub(crate) fn parse_head(bytes: &[u8]) -> Option<(KeyHandle, usize)> {
    let mut c = Cursor { bytes, pos: 0 };
    c.lit(b"{\"key\": ")?;
    let key = c.key(&mut None)?;
    c.lit(b", \"data\": \"")?;
    Some((key, c.pos))
}

/// The entry list in the canonical layout; `None` if it is not exactly that.
pub(crate) fn parse_entries(
    plaintext: &[u8],
    vault_credential: &Arc<VaultCredential>,
) -> Option<Entries> {
    let mut c = Cursor {
        bytes: plaintext,
        pos: 0,
    };
    let mut entries = Entries::with_capacity(plaintext.len() / 420);
    let mut last = Some(Arc::clone(vault_credential));
    c.lit(b"[")?;
    if c.lit(b"]").is_none() {
        loop {
            c.lit(b"[\"")?;
            let service = c.string()?;
            c.lit(b", \"")?;
            let user = c.string()?;
            c.lit(b", ")?;
            let key = c.key(&mut last)?;
            c.lit(b", \"")?;
            let token = c.string()?;
            c.lit(b"]")?;
            entries.insert(
                service,
                user,
                StoredEntry {
                    key,
                    token: token.into_boxed_str(),
                },
            );
            if c.lit(b", ").is_none() {
                c.lit(b"]")?;
                break;
            }
        }
    }
    (c.pos == plaintext.len()).then_some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format;

    fn sample() -> (Entries, Arc<VaultCredential>) {
        let cred = Arc::new(VaultCredential {
            rp_id: "hardware.keychain.glyph.im".into(),
            id: CredentialId(vec![0xc0; 32]),
        });
        let other = Arc::new(VaultCredential {
            rp_id: "other \"rp\"".into(),
            id: CredentialId(vec![1, 2, 3]),
        });
        let mut entries = Entries::new();
        for (i, (s, u)) in [
            ("a", "b"),
            ("tab\t", "nl\n"),
            ("🔑 ✓", ""),
            ("\u{1}\u{7f}\\", "\"q\""),
        ]
        .into_iter()
        .enumerate()
        {
            let credential = if i == 2 {
                Arc::clone(&other)
            } else {
                Arc::clone(&cred)
            };
            entries.insert(
                s.into(),
                u.into(),
                StoredEntry {
                    key: KeyHandle {
                        salt: [i as u8; 32],
                        credential,
                    },
                    token: format!("{i:02x}abcdef").into_boxed_str(),
                },
            );
        }
        (entries, cred)
    }

    #[test]
    fn reads_what_the_writer_writes_like_the_general_reader() {
        let (entries, cred) = sample();
        let mut text = Vec::new();
        format::write_entries(&entries, &mut text);
        let fast = parse_entries(&text, &cred).expect("canonical layout");
        assert_eq!(fast, entries);
        assert_eq!(
            format::parse_entries_general(&text, &cred).expect("general"),
            entries
        );
        let mut empty = Vec::new();
        format::write_entries(&Entries::new(), &mut empty);
        assert_eq!(parse_entries(&empty, &cred), Some(Entries::new()));
    }

    #[test]
    fn anything_else_falls_back() {
        let (_, cred) = sample();
        for text in [
            &b"[ ]"[..],
            b"[]\n",
            b"[[\"a\", \"b\"]]",
            b"[[\"\\ud800\", \"b\", {}, \"\"]]",
            b"{}",
            b"",
        ] {
            assert!(
                parse_entries(text, &cred).is_none(),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }
}
