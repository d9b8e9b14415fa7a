//! CBOR for CTAP2 messages (CTAP 2.1 §8 "Message encoding"): canonical
//! encoding of requests, and decoding of untrusted responses into
//! [`ciborium::Value`] with typed errors, a size limit and a nesting limit.
//! Nothing here panics on any input.
//!
//! This is the platform's half. The authenticator's half (parse requests,
//! encode responses) lives in `tokenring-sim` (its `cbor` module); the two
//! are written apart on purpose and share no code, so that a mistake in one
//! fails against the other, and each is checked against a half written by
//! someone else: this client runs against OpenSK and fido-authenticator
//! (`interop/`), and python-fido2 drives the simulator.

use ciborium::Value;

/// The largest response we decode. Authenticators announce `maxMsgSize`
/// (typically 1200–7609 bytes over HID); this bound is far above any real
/// response and keeps hostile ones from costing memory.
pub const MAX_RESPONSE_LEN: usize = 64 * 1024;

/// The deepest nesting we accept. CTAP responses nest at most 4 levels
/// (getInfo → certifications map; authData extensions are parsed apart).
pub const MAX_DEPTH: usize = 16;

/// Why a response could not be decoded. Never carries secret bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The response is larger than [`MAX_RESPONSE_LEN`].
    #[error("response of {0} bytes exceeds the limit of {MAX_RESPONSE_LEN} bytes")]
    TooLarge(usize),
    /// The CBOR ends in the middle of an item.
    #[error("truncated CBOR")]
    Truncated,
    /// The bytes are not well-formed CBOR (or use a CBOR feature CTAP forbids).
    #[error("invalid CBOR: {0}")]
    InvalidCbor(String),
    /// The CBOR nests deeper than [`MAX_DEPTH`].
    #[error("CBOR nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Bytes follow the CBOR item.
    #[error("{0} unexpected bytes after the CBOR item")]
    TrailingBytes(usize),
    /// A field has the wrong CBOR type.
    #[error("{field}: expected {expected}")]
    WrongType {
        /// Which field.
        field: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// A mandatory field is absent.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A field has a length the spec does not allow.
    #[error("{field}: length {len} is not allowed (expected {expected})")]
    BadLength {
        /// Which field.
        field: &'static str,
        /// The length found.
        len: usize,
        /// The lengths allowed.
        expected: &'static str,
    },
    /// A map has the same key twice.
    #[error("{field}: duplicate key {key}")]
    DuplicateKey {
        /// Which map.
        field: &'static str,
        /// The key, printed.
        key: String,
    },
    /// A field has a value the spec does not allow.
    #[error("{field}: {reason}")]
    InvalidValue {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl From<ResponseError> for crate::Error {
    fn from(e: ResponseError) -> Self {
        crate::Error::MalformedResponse(e.to_string())
    }
}

/// Decodes exactly one CBOR item that must fill `bytes` completely.
pub fn decode(bytes: &[u8]) -> Result<Value, ResponseError> {
    let mut rest = bytes;
    let value = decode_prefix(&mut rest)?;
    if !rest.is_empty() {
        return Err(ResponseError::TrailingBytes(rest.len()));
    }
    Ok(value)
}

/// Decodes one CBOR item from the front of `input` and advances `input`
/// past it (for authenticator data, where a COSE key is followed by more).
pub fn decode_prefix(input: &mut &[u8]) -> Result<Value, ResponseError> {
    if input.len() > MAX_RESPONSE_LEN {
        return Err(ResponseError::TooLarge(input.len()));
    }
    // ciborium counts every array, map and tag level against this limit.
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut *input, MAX_DEPTH)
        .map_err(|e| match e {
            ciborium::de::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                ResponseError::Truncated
            }
            ciborium::de::Error::Io(io) => ResponseError::InvalidCbor(io.to_string()),
            ciborium::de::Error::Syntax(offset) => {
                ResponseError::InvalidCbor(format!("syntax error at byte {offset}"))
            }
            ciborium::de::Error::Semantic(_, msg) => ResponseError::InvalidCbor(msg),
            ciborium::de::Error::RecursionLimitExceeded => ResponseError::TooDeep,
        })?;
    check_depth(&value, 0)?;
    Ok(value)
}

fn check_depth(value: &Value, depth: usize) -> Result<(), ResponseError> {
    if depth > MAX_DEPTH {
        return Err(ResponseError::TooDeep);
    }
    match value {
        Value::Array(items) => items.iter().try_for_each(|v| check_depth(v, depth + 1)),
        Value::Map(entries) => entries.iter().try_for_each(|(k, v)| {
            check_depth(k, depth + 1)?;
            check_depth(v, depth + 1)
        }),
        Value::Tag(_, inner) => check_depth(inner, depth + 1),
        _ => Ok(()),
    }
}

/// Encodes a request value. Build maps with [`int_map`] / [`text_map`] so
/// they are canonical (CTAP 2.1 §8 "CTAP2 canonical CBOR encoding form").
pub fn encode(value: &Value) -> Result<Vec<u8>, crate::Error> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out)
        .map_err(|e| crate::Error::Internal(format!("CBOR encoding failed: {e}")))?;
    Ok(out)
}

/// A canonical map with integer keys: entries sorted as the CTAP2
/// canonical form requires (by major type, then encoded length, then
/// bytes, so 1, 2, …, 23, 24, …, -1, -2, …).
pub fn int_map(entries: impl IntoIterator<Item = (i64, Value)>) -> Value {
    canonical_map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::Integer(k.into()), v))
            .collect(),
    )
}

/// A canonical map with text keys (sorted by encoded length, then bytes).
pub fn text_map(entries: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
    canonical_map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::Text(k.to_string()), v))
            .collect(),
    )
}

fn canonical_map(mut entries: Vec<(Value, Value)>) -> Value {
    entries.sort_by_cached_key(|(k, _)| {
        let mut key = Vec::new();
        // Encoding a key held in memory cannot fail; an empty key would only
        // change the order, never the content.
        let _ = ciborium::ser::into_writer(k, &mut key);
        (key.first().map_or(0, |b| b >> 5), key.len(), key)
    });
    Value::Map(entries)
}

/// A CBOR byte string value.
pub fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

/// A decoded map with integer keys (CTAP2 responses, COSE keys), checked
/// for duplicate keys. Non-integer keys are kept apart and ignored.
#[derive(Debug, Clone)]
pub struct IntMap {
    field: &'static str,
    entries: Vec<(i128, Value)>,
}

impl IntMap {
    /// Reads `value` (named `field` in errors) as an integer-keyed map.
    pub fn from_value(value: Value, field: &'static str) -> Result<Self, ResponseError> {
        let Value::Map(raw) = value else {
            return Err(ResponseError::WrongType {
                field,
                expected: "a map",
            });
        };
        let mut entries: Vec<(i128, Value)> = Vec::with_capacity(raw.len());
        for (k, v) in raw {
            let Value::Integer(k) = k else {
                // CTAP2 maps are integer-keyed; an authenticator may add
                // vendor keys of other types, which we ignore.
                continue;
            };
            let k = i128::from(k);
            if entries.iter().any(|(seen, _)| *seen == k) {
                return Err(ResponseError::DuplicateKey {
                    field,
                    key: k.to_string(),
                });
            }
            entries.push((k, v));
        }
        Ok(IntMap { field, entries })
    }

    /// Decodes `bytes` as one integer-keyed map.
    pub fn decode(bytes: &[u8], field: &'static str) -> Result<Self, ResponseError> {
        Self::from_value(decode(bytes)?, field)
    }

    /// The value under `key`, if any.
    pub fn get(&self, key: i64) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(k, _)| *k == i128::from(key))
            .map(|(_, v)| v)
    }

    /// Takes the value under `key` out of the map.
    pub fn take(&mut self, key: i64) -> Option<Value> {
        let pos = self
            .entries
            .iter()
            .position(|(k, _)| *k == i128::from(key))?;
        Some(self.entries.swap_remove(pos).1)
    }

    /// The value under `key`, which must be present.
    pub fn require(&mut self, key: i64, field: &'static str) -> Result<Value, ResponseError> {
        self.take(key).ok_or(ResponseError::Missing(field))
    }

    /// The name this map was given.
    pub fn field(&self) -> &'static str {
        self.field
    }
}

/// A byte string of any length up to `max`.
pub fn into_bytes(value: Value, field: &'static str, max: usize) -> Result<Vec<u8>, ResponseError> {
    match value {
        Value::Bytes(b) if b.len() <= max => Ok(b),
        Value::Bytes(b) => Err(ResponseError::BadLength {
            field,
            len: b.len(),
            expected: "a bounded length",
        }),
        _ => Err(ResponseError::WrongType {
            field,
            expected: "a byte string",
        }),
    }
}

/// A byte string of exactly `N` bytes.
pub fn into_array<const N: usize>(
    value: Value,
    field: &'static str,
) -> Result<[u8; N], ResponseError> {
    let b = into_bytes(value, field, N)?;
    <[u8; N]>::try_from(b.as_slice()).map_err(|_| ResponseError::BadLength {
        field,
        len: b.len(),
        expected: "a fixed length",
    })
}

/// A text string of at most `max` bytes.
pub fn into_text(value: Value, field: &'static str, max: usize) -> Result<String, ResponseError> {
    match value {
        Value::Text(t) if t.len() <= max => Ok(t),
        Value::Text(t) => Err(ResponseError::BadLength {
            field,
            len: t.len(),
            expected: "a bounded length",
        }),
        _ => Err(ResponseError::WrongType {
            field,
            expected: "a text string",
        }),
    }
}

/// An unsigned integer.
pub fn as_u64(value: &Value, field: &'static str) -> Result<u64, ResponseError> {
    match value {
        Value::Integer(i) => u64::try_from(*i).map_err(|_| ResponseError::InvalidValue {
            field,
            reason: "negative or too large".into(),
        }),
        _ => Err(ResponseError::WrongType {
            field,
            expected: "an unsigned integer",
        }),
    }
}

/// A signed integer that fits in `i64`.
pub fn as_i64(value: &Value, field: &'static str) -> Result<i64, ResponseError> {
    match value {
        Value::Integer(i) => i64::try_from(*i).map_err(|_| ResponseError::InvalidValue {
            field,
            reason: "integer out of range".into(),
        }),
        _ => Err(ResponseError::WrongType {
            field,
            expected: "an integer",
        }),
    }
}

/// An unsigned integer that fits in a `u8`.
pub fn as_u8(value: &Value, field: &'static str) -> Result<u8, ResponseError> {
    let n = as_u64(value, field)?;
    u8::try_from(n).map_err(|_| ResponseError::InvalidValue {
        field,
        reason: format!("{n} is out of range"),
    })
}

/// A boolean.
pub fn as_bool(value: &Value, field: &'static str) -> Result<bool, ResponseError> {
    match value {
        Value::Bool(b) => Ok(*b),
        _ => Err(ResponseError::WrongType {
            field,
            expected: "a boolean",
        }),
    }
}

/// An array of at most `max` items.
pub fn into_array_of(
    value: Value,
    field: &'static str,
    max: usize,
) -> Result<Vec<Value>, ResponseError> {
    match value {
        Value::Array(items) if items.len() <= max => Ok(items),
        Value::Array(items) => Err(ResponseError::BadLength {
            field,
            len: items.len(),
            expected: "fewer items",
        }),
        _ => Err(ResponseError::WrongType {
            field,
            expected: "an array",
        }),
    }
}

/// A map with text keys (getInfo options, authData extensions), checked
/// for duplicates; entries with non-text keys are an error.
pub fn into_text_map(
    value: Value,
    field: &'static str,
) -> Result<Vec<(String, Value)>, ResponseError> {
    let Value::Map(raw) = value else {
        return Err(ResponseError::WrongType {
            field,
            expected: "a map",
        });
    };
    let mut out: Vec<(String, Value)> = Vec::with_capacity(raw.len());
    for (k, v) in raw {
        let Value::Text(k) = k else {
            return Err(ResponseError::WrongType {
                field,
                expected: "a map with text keys",
            });
        };
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(ResponseError::DuplicateKey { field, key: k });
        }
        out.push((k, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_order_of_integer_and_text_keys() {
        let map = int_map([
            (-3, Value::Null),
            (3, Value::Null),
            (-1, Value::Null),
            (1, Value::Null),
            (24, Value::Null),
        ]);
        let keys: Vec<i128> = match &map {
            Value::Map(m) => m
                .iter()
                .filter_map(|(k, _)| k.as_integer().map(i128::from))
                .collect(),
            _ => Vec::new(),
        };
        assert_eq!(keys, vec![1, 3, 24, -1, -3]);
        let text = text_map([
            ("displayName", Value::Null),
            ("name", Value::Null),
            ("id", Value::Null),
        ]);
        let encoded = encode(&text).unwrap_or_default();
        // a3 62 "id" f6 64 "name" f6 6b "displayName" f6
        assert_eq!(encoded.get(1..4), Some(&b"\x62id"[..]));
    }

    #[test]
    fn truncated_and_trailing_and_garbage() {
        assert_eq!(decode(&[]), Err(ResponseError::Truncated));
        assert_eq!(decode(&[0xA1, 0x01]), Err(ResponseError::Truncated));
        assert_eq!(decode(&[0x58, 0x20, 0x00]), Err(ResponseError::Truncated));
        assert_eq!(decode(&[0x01, 0x02]), Err(ResponseError::TrailingBytes(1)));
        assert!(matches!(
            decode(&[0xFF]),
            Err(ResponseError::InvalidCbor(_))
        ));
        assert!(matches!(
            decode(&[0x1C]),
            Err(ResponseError::InvalidCbor(_))
        ));
    }

    #[test]
    fn absurd_declared_lengths_do_not_allocate() {
        // Byte string, text, array and map each claiming 2^63 items.
        for head in [0x5B, 0x7B, 0x9B, 0xBB] {
            let mut msg = vec![head, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
            msg.extend_from_slice(&[0u8; 8]);
            assert!(decode(&msg).is_err());
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut msg = vec![0x81u8; 10_000];
        msg.push(0x00);
        assert_eq!(decode(&msg), Err(ResponseError::TooDeep));
        let mut tags = vec![0xC6u8; 10_000];
        tags.push(0x00);
        assert!(decode(&tags).is_err());
        assert!(matches!(
            decode(&vec![0u8; MAX_RESPONSE_LEN + 1]),
            Err(ResponseError::TooLarge(_))
        ));
    }

    #[test]
    fn int_map_rejects_duplicates_and_wrong_types() {
        // {1: 1, 1: 2}
        assert!(matches!(
            IntMap::decode(&[0xA2, 0x01, 0x01, 0x01, 0x02], "m"),
            Err(ResponseError::DuplicateKey { .. })
        ));
        assert!(matches!(
            IntMap::decode(&[0x80], "m"),
            Err(ResponseError::WrongType { .. })
        ));
        let mut m =
            IntMap::decode(&[0xA1, 0x02, 0x43, 1, 2, 3], "m").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.require(1, "one"), Err(ResponseError::Missing("one")));
        let v = m.require(2, "two").unwrap_or(Value::Null);
        assert!(matches!(
            into_array::<4>(v.clone(), "two"),
            Err(ResponseError::BadLength { len: 3, .. })
        ));
        assert_eq!(into_array::<3>(v, "two"), Ok([1, 2, 3]));
    }
}
