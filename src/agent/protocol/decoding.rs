//! Reading messages without leaving copies of their secrets behind.
//!
//! serde_json unescapes a string that has escapes (`\n`, `\"`, `\u00fc`, …:
//! every secret with a quote, a backslash or a newline, and every non-ASCII
//! one from Python's `json` module) into a scratch buffer of its own, which
//! grows by doubling and is freed unwiped; serde's internally tagged enums
//! buffer every field before they pick the variant. Secrets go through
//! neither: a message that carries one is read in two steps, first into a
//! struct that borrows the secret's raw JSON text from the frame
//! (serde_json's `RawValue`, which copies nothing), then [`unescape`]
//! writes the secret into a zeroizing buffer of the right size.

use std::borrow::Cow;

use serde::de::Error as _;
use serde::Deserialize;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use super::{AgentMessage, ClientMessage, FrameType, Name, NamesBody, WireSecret};

/// A message that [`decode`](super::decode) reads.
pub trait Decode<'a>: Sized {
    /// Reads the message from a frame body (JSON).
    fn decode_body(body: &'a [u8]) -> Result<Self, serde_json::Error>;
}

/// Every field a client message may have; the secrets as raw JSON.
#[derive(Deserialize)]
struct ClientFields<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default, borrow)]
    password: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pin: Option<&'a RawValue>,
    #[serde(default)]
    names: Option<Vec<Name>>,
}

const CLIENT_TYPES: &[&str] = &[
    "get", "get_many", "set", "delete", "list", "lock", "status", "cancel", "pin",
];

fn required<T>(value: Option<T>, field: &'static str) -> Result<T, serde_json::Error> {
    value.ok_or_else(|| serde_json::Error::missing_field(field))
}

fn secret(raw: &RawValue) -> Result<WireSecret, serde_json::Error> {
    unescape(raw.get())
        .map(WireSecret::from_zeroizing)
        .map_err(serde_json::Error::custom)
}

impl<'a> Decode<'a> for ClientMessage {
    fn decode_body(body: &'a [u8]) -> Result<Self, serde_json::Error> {
        let ClientFields {
            kind,
            service,
            user,
            password,
            pin,
            names,
        } = serde_json::from_slice(body)?;
        Ok(match kind.as_ref() {
            "get" => ClientMessage::Get {
                service: required(service, "service")?,
                user: required(user, "user")?,
            },
            "get_many" => ClientMessage::GetMany {
                names: required(names, "names")?,
            },
            "set" => ClientMessage::Set {
                service: required(service, "service")?,
                user: required(user, "user")?,
                password: secret(required(password, "password")?)?,
            },
            "delete" => ClientMessage::Delete {
                service: required(service, "service")?,
                user: required(user, "user")?,
            },
            "list" => ClientMessage::List,
            "lock" => ClientMessage::Lock,
            "status" => ClientMessage::Status,
            "cancel" => ClientMessage::Cancel,
            "pin" => ClientMessage::Pin {
                pin: pin.map(secret).transpose()?,
            },
            other => return Err(serde_json::Error::unknown_variant(other, CLIENT_TYPES)),
        })
    }
}

/// The agent's message type and, for a `password` reply, the password as
/// raw JSON.
#[derive(Deserialize)]
struct AgentEnvelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    password: Option<&'a RawValue>,
    #[serde(default, borrow)]
    passwords: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    missing: Option<Vec<usize>>,
}

impl<'a> Decode<'a> for AgentMessage {
    fn decode_body(body: &'a [u8]) -> Result<Self, serde_json::Error> {
        let envelope: AgentEnvelope<'a> = serde_json::from_slice(body)?;
        if envelope.kind == "password" {
            return Ok(AgentMessage::Password {
                password: envelope.password.map(secret).transpose()?,
            });
        }
        if envelope.kind == "passwords" {
            return Ok(AgentMessage::Passwords {
                passwords: envelope
                    .passwords
                    .unwrap_or_default()
                    .into_iter()
                    .map(secret)
                    .collect::<Result<_, _>>()?,
                missing: envelope.missing.unwrap_or_default(),
            });
        }
        // Every other message carries no secret: serde's own way (which
        // does not know `password`, so it cannot take that path).
        serde_json::from_slice(body)
    }
}

/// A frame's `type` alone (no secret: serde's own way).
impl<'a> Decode<'a> for FrameType<'a> {
    fn decode_body(body: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }
}

/// The names of a `names` or `names_part` frame (no secret: serde's own way).
impl<'a> Decode<'a> for NamesBody<'a> {
    fn decode_body(body: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }
}

/// The string that the JSON text `raw` (a string literal, quotes
/// included, as serde_json has already checked it) stands for, in a
/// zeroizing buffer sized once: an unescaped string is never longer than
/// its escaped form.
pub(crate) fn unescape(raw: &str) -> Result<Zeroizing<String>, &'static str> {
    const NOT_A_STRING: &str = "a password or a PIN must be a JSON string";
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or(NOT_A_STRING)?;
    let bytes = inner.as_bytes();
    let mut out = Zeroizing::new(String::with_capacity(inner.len()));
    let mut i = 0;
    while i < bytes.len() {
        // A run without escapes, copied as it is (a backslash is ASCII, so
        // both ends are character boundaries).
        let end = bytes
            .get(i..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\\'))
            .map_or(bytes.len(), |p| i + p);
        out.push_str(inner.get(i..end).ok_or(NOT_A_STRING)?);
        i = end;
        if i == bytes.len() {
            break;
        }
        let escape = *bytes
            .get(i + 1)
            .ok_or("a string ends in a lone backslash")?;
        i += 2;
        let c = match escape {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = hex4(bytes, i)?;
                i += 4;
                match unit {
                    0xD800..=0xDBFF => {
                        if bytes.get(i..i + 2) != Some(b"\\u") {
                            return Err("a lone surrogate in a \\u escape");
                        }
                        let low = hex4(bytes, i + 2)?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err("a lone surrogate in a \\u escape");
                        }
                        i += 6;
                        let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                        char::from_u32(code).ok_or("a bad \\u escape")?
                    }
                    0xDC00..=0xDFFF => return Err("a lone surrogate in a \\u escape"),
                    _ => char::from_u32(unit).ok_or("a bad \\u escape")?,
                }
            }
            _ => return Err("an unknown escape in a string"),
        };
        out.push(c);
    }
    Ok(out)
}

/// The four hex digits at `at`, as a number.
fn hex4(bytes: &[u8], at: usize) -> Result<u32, &'static str> {
    let digits = bytes.get(at..at + 4).ok_or("a short \\u escape")?;
    digits.iter().try_fold(0u32, |value, &d| {
        let digit = char::from(d).to_digit(16).ok_or("a bad \\u escape")?;
        Ok(value << 4 | digit)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// `text` escaped as Python's `json.dumps` does (`ensure_ascii`).
    fn python_escape(text: &str) -> String {
        let mut out = String::from("\"");
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn unescaping_agrees_with_serde_json_and_never_grows_its_buffer() {
        let samples = [
            "",
            "plain",
            "quote \" backslash \\ slash / newline \n tab \t cr \r",
            "\u{8}\u{c}\u{0}\u{1f}",
            "ünïcødé 漢字 😀 𝄞",
            "-----BEGIN KEY-----\nAAAA\n-----END KEY-----\n",
        ];
        for sample in samples {
            for raw in [
                serde_json::to_string(sample).unwrap(),
                python_escape(sample),
            ] {
                let ours = unescape(&raw).unwrap();
                let theirs: String = serde_json::from_str(&raw).unwrap();
                assert_eq!(*ours, theirs, "{raw}");
                assert_eq!(ours.capacity(), raw.len() - 2, "{raw}");
            }
        }
        assert_eq!(*unescape(r#""\u00FC\uD834\uDD1E\/""#).unwrap(), "ü𝄞/");
    }

    #[test]
    fn bad_strings_are_refused_with_a_message_that_holds_no_part_of_them() {
        for raw in [
            "12",
            "null",
            "\"open",
            "\"\\\"",
            r#""\x""#,
            r#""\u12""#,
            r#""\u12g4""#,
            r#""\uD800""#,
            r#""\uD800\u0041""#,
            r#""\uDC00""#,
        ] {
            let error = unescape(raw).unwrap_err();
            assert!(!error.contains(raw), "{raw}: {error}");
        }
    }

    #[test]
    fn messages_with_secrets_decode_and_others_keep_their_rules() {
        let set: ClientMessage = super::super::decode(
            br#"{"password":"p\u00e4ss\nword","user":"u","type":"set","service":"s","extra":[1,{"a":"\n"}]}"#,
        )
        .unwrap();
        assert!(
            matches!(set, ClientMessage::Set { ref service, ref user, ref password }
            if service == "s" && user == "u" && password.expose_secret() == "päss\nword")
        );
        let pin: ClientMessage = super::super::decode(br#"{"type":"pin","pin":null}"#).unwrap();
        assert!(matches!(pin, ClientMessage::Pin { pin: None }));
        let pin: ClientMessage = super::super::decode(br#"{"type":"pin"}"#).unwrap();
        assert!(matches!(pin, ClientMessage::Pin { pin: None }));
        for bad in [
            &br#"{"type":"set","service":"s","user":"u"}"#[..],
            br#"{"type":"set","service":"s","user":"u","password":5}"#,
            br#"{"type":"pin","pin":["1234"]}"#,
            br#"{"type":"get","service":"s","service":"t","user":"u"}"#,
            br#"{"service":"s"}"#,
            br#"{"type":"launch"}"#,
        ] {
            assert!(super::super::decode::<ClientMessage>(bad).is_err());
        }
        let reply: AgentMessage =
            super::super::decode(br#"{"type":"password","password":"\"x\""}"#).unwrap();
        assert!(
            matches!(reply, AgentMessage::Password { password: Some(ref p) }
            if p.expose_secret() == "\"x\"")
        );
        let many: ClientMessage = super::super::decode(
            br#"{"type":"get_many","names":[{"service":"s","user":"u"},{"service":"t","user":"v"}]}"#,
        )
        .unwrap();
        assert!(
            matches!(many, ClientMessage::GetMany { ref names } if names.len() == 2 && names[1].user == "v")
        );
        assert!(super::super::decode::<ClientMessage>(br#"{"type":"get_many"}"#).is_err());
        let reply: AgentMessage = super::super::decode(
            br#"{"type":"passwords","passwords":["a\nb","\u00e9"],"missing":[]}"#,
        )
        .unwrap();
        assert!(
            matches!(reply, AgentMessage::Passwords { ref passwords, ref missing }
            if missing.is_empty() && passwords.len() == 2
                && passwords[0].expose_secret() == "a\nb" && passwords[1].expose_secret() == "\u{e9}")
        );
        let reply: AgentMessage =
            super::super::decode(br#"{"type":"passwords","passwords":[],"missing":[1]}"#).unwrap();
        assert!(
            matches!(reply, AgentMessage::Passwords { ref passwords, ref missing }
            if passwords.is_empty() && missing == &[1])
        );
        let json = serde_json::to_string(&AgentMessage::Passwords {
            passwords: vec![WireSecret::new("p")],
            missing: Vec::new(),
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"type":"passwords","passwords":["p"],"missing":[]}"#
        );
        let reply: AgentMessage =
            super::super::decode(br#"{"type":"password","password":null}"#).unwrap();
        assert!(matches!(reply, AgentMessage::Password { password: None }));
        let reply: AgentMessage =
            super::super::decode(br#"{"type":"info","message":"hi"}"#).unwrap();
        assert!(matches!(reply, AgentMessage::Info { ref message } if message == "hi"));
    }
}
