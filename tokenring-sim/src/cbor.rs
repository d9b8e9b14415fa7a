//! CBOR in and out (CTAP 2.1 §8: CTAP2 canonical CBOR encoding).
//!
//! Requests are parsed into [`ciborium::Value`] and read through these
//! helpers, which turn every malformed or mistyped field into the status
//! code §8.2 names for it. Responses are built as `Value` maps whose keys
//! the builders already emit in canonical order.
//!
//! This is the authenticator's half: it parses requests and encodes
//! responses. `tokenring-core`'s `cbor` module is the platform's half
//! (encodes requests, parses untrusted responses). The two are written
//! apart on purpose and share no code, so that a mistake in one fails
//! against the other; python-fido2's encoder and decoder check this half,
//! OpenSK's and fido-authenticator's check the other (`interop/`).

use ciborium::Value;

use tokenring_core::Status;

/// Decodes a request's CBOR parameters; an empty payload is an empty map.
pub(crate) fn decode_map(payload: &[u8]) -> Result<Vec<(Value, Value)>, Status> {
    if payload.is_empty() {
        return Ok(Vec::new());
    }
    let mut reader = payload;
    let value: Value = ciborium::de::from_reader(&mut reader).map_err(|_| Status::InvalidCbor)?;
    if !reader.is_empty() {
        // Trailing bytes after the top-level item.
        return Err(Status::InvalidCbor);
    }
    match value {
        Value::Map(entries) => Ok(entries),
        _ => Err(Status::CborUnexpectedType),
    }
}

/// Encodes a value (never fails for the values built here; a failure
/// becomes CTAP1_ERR_OTHER rather than a panic).
pub(crate) fn encode(value: &Value) -> Result<Vec<u8>, Status> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).map_err(|_| Status::Other)?;
    Ok(out)
}

/// An integer-keyed map as parsed from a request.
pub(crate) struct Params<'a>(&'a [(Value, Value)]);

impl<'a> Params<'a> {
    /// Wraps parsed entries; duplicate keys are invalid CBOR.
    pub(crate) fn new(entries: &'a [(Value, Value)]) -> Result<Self, Status> {
        for (i, (k, _)) in entries.iter().enumerate() {
            if entries.iter().skip(i + 1).any(|(other, _)| other == k) {
                return Err(Status::InvalidCbor);
            }
        }
        Ok(Params(entries))
    }

    /// The value under integer key `key`.
    pub(crate) fn get(&self, key: i64) -> Option<&'a Value> {
        self.0
            .iter()
            .find(|(k, _)| k.as_integer().and_then(|i| i64::try_from(i).ok()) == Some(key))
            .map(|(_, v)| v)
    }

    /// The value under text key `key`.
    pub(crate) fn get_text(&self, key: &str) -> Option<&'a Value> {
        self.0
            .iter()
            .find(|(k, _)| k.as_text() == Some(key))
            .map(|(_, v)| v)
    }

    /// A required field.
    pub(crate) fn required(&self, key: i64) -> Result<&'a Value, Status> {
        self.get(key).ok_or(Status::MissingParameter)
    }
}

/// A byte string, or CBOR_UNEXPECTED_TYPE.
pub(crate) fn bytes(value: &Value) -> Result<&[u8], Status> {
    value
        .as_bytes()
        .map(Vec::as_slice)
        .ok_or(Status::CborUnexpectedType)
}

/// A text string, or CBOR_UNEXPECTED_TYPE.
pub(crate) fn text(value: &Value) -> Result<&str, Status> {
    value.as_text().ok_or(Status::CborUnexpectedType)
}

/// An integer, or CBOR_UNEXPECTED_TYPE.
pub(crate) fn integer(value: &Value) -> Result<i128, Status> {
    value
        .as_integer()
        .map(i128::from)
        .ok_or(Status::CborUnexpectedType)
}

/// A boolean, or CBOR_UNEXPECTED_TYPE.
pub(crate) fn boolean(value: &Value) -> Result<bool, Status> {
    value.as_bool().ok_or(Status::CborUnexpectedType)
}

/// An array, or CBOR_UNEXPECTED_TYPE.
pub(crate) fn array(value: &Value) -> Result<&[Value], Status> {
    value
        .as_array()
        .map(Vec::as_slice)
        .ok_or(Status::CborUnexpectedType)
}

/// A map, or CBOR_UNEXPECTED_TYPE.
pub(crate) fn map(value: &Value) -> Result<Params<'_>, Status> {
    let entries = value
        .as_map()
        .map(Vec::as_slice)
        .ok_or(Status::CborUnexpectedType)?;
    Params::new(entries)
}

/// An integer key.
pub(crate) fn int(key: i64) -> Value {
    Value::Integer(key.into())
}

/// A text value.
pub(crate) fn txt(s: &str) -> Value {
    Value::Text(s.to_string())
}

/// A byte-string value.
pub(crate) fn byt(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}
