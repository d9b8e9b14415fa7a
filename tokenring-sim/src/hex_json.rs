//! Hex strings for byte fields in the JSON state file.

use serde::{Deserialize, Deserializer, Serializer};

/// `Vec<u8>` as hex.
pub(crate) mod bytes {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text.trim()).map_err(serde::de::Error::custom)
    }
}

/// `[u8; 32]` as hex.
pub(crate) mod array32 {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let v = super::bytes::deserialize(d)?;
        <[u8; 32]>::try_from(v.as_slice())
            .map_err(|_| serde::de::Error::custom("expected 32 bytes of hex"))
    }
}

/// `[u8; 16]` as hex.
pub(crate) mod array16 {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 16], D::Error> {
        let v = super::bytes::deserialize(d)?;
        <[u8; 16]>::try_from(v.as_slice())
            .map_err(|_| serde::de::Error::custom("expected 16 bytes of hex"))
    }
}

/// `Option<[u8; 32]>` as hex or null.
pub(crate) mod option32 {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&hex::encode(v)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<[u8; 32]>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        let v = hex::decode(text.trim()).map_err(serde::de::Error::custom)?;
        <[u8; 32]>::try_from(v.as_slice())
            .map(Some)
            .map_err(|_| serde::de::Error::custom("expected 32 bytes of hex"))
    }
}

/// `Option<[u8; 16]>` as hex or null.
pub(crate) mod option16 {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &Option<[u8; 16]>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&hex::encode(v)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<[u8; 16]>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        let v = hex::decode(text.trim()).map_err(serde::de::Error::custom)?;
        <[u8; 16]>::try_from(v.as_slice())
            .map(Some)
            .map_err(|_| serde::de::Error::custom("expected 16 bytes of hex"))
    }
}
