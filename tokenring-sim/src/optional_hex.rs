//! Optional byte fields of the JSON state file: hex, or `null` when absent.
//! The `hex` crate's serde support (`#[serde(with = "hex::serde")]`) covers
//! the fields that are always there; this adds the `Option` around it.

use hex::FromHex;
use serde::{Deserialize, Deserializer, Serializer};

/// `Some(bytes)` as lowercase hex, `None` as `null`.
pub(crate) fn serialize<S, T>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: AsRef<[u8]>,
{
    match value {
        Some(bytes) => hex::serde::serialize(bytes, serializer),
        None => serializer.serialize_none(),
    }
}

/// Hex (either case) of exactly the type's length, or `null`.
pub(crate) fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromHex,
    T::Error: std::fmt::Display,
{
    match Option::<String>::deserialize(deserializer)? {
        Some(text) => T::from_hex(text)
            .map(Some)
            .map_err(serde::de::Error::custom),
        None => Ok(None),
    }
}
