//! Authenticator data (WebAuthn Level 2 §6.1, referenced by CTAP 2.1
//! §6.1 and §6.2): rpIdHash, flags, signCount, attested credential data and
//! extension outputs.

use ciborium::Value;
use sha2::{Digest, Sha256};

use crate::cbor::{self, ResponseError};
use crate::cose::{CoseEc2Key, ALG_ES256};

/// The longest credential id we accept (WebAuthn Level 2 §4 "Credential
/// ID": at most 1023 bytes).
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;

/// Authenticator data flags (WebAuthn Level 2 §6.1).
pub mod flags {
    /// User present.
    pub const UP: u8 = 0x01;
    /// User verified.
    pub const UV: u8 = 0x04;
    /// Backup eligible.
    pub const BE: u8 = 0x08;
    /// Backed up.
    pub const BS: u8 = 0x10;
    /// Attested credential data included.
    pub const AT: u8 = 0x40;
    /// Extension data included.
    pub const ED: u8 = 0x80;
}

/// Attested credential data (WebAuthn Level 2 §6.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedCredentialData {
    /// The authenticator's AAGUID.
    pub aaguid: [u8; 16],
    /// The new credential's id (1..=1023 bytes).
    pub credential_id: Vec<u8>,
    /// The credential public key (ES256, P-256, on the curve).
    pub public_key: CoseEc2Key,
}

/// Decoded authenticator data.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthenticatorData {
    /// SHA-256 of the RP ID.
    pub rp_id_hash: [u8; 32],
    /// Flags ([`flags`]).
    pub flags: u8,
    /// Signature counter.
    pub sign_count: u32,
    /// Present when the AT flag is set.
    pub attested_credential: Option<AttestedCredentialData>,
    /// Extension outputs, present when the ED flag is set.
    pub extensions: Vec<(String, Value)>,
}

impl AuthenticatorData {
    /// Decodes authenticator data, checking that the flags match what
    /// follows and that nothing trails.
    pub fn decode(bytes: &[u8]) -> Result<Self, ResponseError> {
        let short = |len| ResponseError::BadLength {
            field: "authData",
            len,
            expected: "at least 37 bytes",
        };
        let (head, mut rest) = bytes.split_at_checked(37).ok_or(short(bytes.len()))?;
        let rp_id_hash: [u8; 32] = head
            .get(..32)
            .and_then(|s| s.try_into().ok())
            .ok_or(short(bytes.len()))?;
        let flags = *head.get(32).ok_or(short(bytes.len()))?;
        let sign_count = head
            .get(33..37)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map(u32::from_be_bytes)
            .ok_or(short(bytes.len()))?;

        let attested_credential = if flags & flags::AT != 0 {
            let bad = |len| ResponseError::BadLength {
                field: "attestedCredentialData",
                len,
                expected: "aaguid, length and credential id",
            };
            let (aaguid, tail) = rest.split_at_checked(16).ok_or(bad(rest.len()))?;
            let (len, tail) = tail.split_at_checked(2).ok_or(bad(rest.len()))?;
            let len = usize::from(u16::from_be_bytes([
                *len.first().ok_or(bad(0))?,
                *len.get(1).ok_or(bad(0))?,
            ]));
            if len == 0 || len > MAX_CREDENTIAL_ID_LEN {
                return Err(ResponseError::BadLength {
                    field: "credentialId",
                    len,
                    expected: "1 to 1023 bytes",
                });
            }
            let (credential_id, mut tail) = tail.split_at_checked(len).ok_or(bad(tail.len()))?;
            let key = cbor::decode_prefix(&mut tail)?;
            let public_key = CoseEc2Key::from_value(key, &[ALG_ES256], "credentialPublicKey")?;
            rest = tail;
            Some(AttestedCredentialData {
                aaguid: aaguid.try_into().map_err(|_| bad(aaguid.len()))?,
                credential_id: credential_id.to_vec(),
                public_key,
            })
        } else {
            None
        };

        let extensions = if flags & flags::ED != 0 {
            let value = cbor::decode_prefix(&mut rest)?;
            cbor::into_text_map(value, "authData extensions")?
        } else {
            Vec::new()
        };
        if !rest.is_empty() {
            return Err(ResponseError::TrailingBytes(rest.len()));
        }
        Ok(AuthenticatorData {
            rp_id_hash,
            flags,
            sign_count,
            attested_credential,
            extensions,
        })
    }

    /// The output of extension `name`, if present.
    pub fn extension(&self, name: &str) -> Option<&Value> {
        self.extensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// Whether the user was present (UP flag).
    pub fn user_present(&self) -> bool {
        self.flags & flags::UP != 0
    }

    /// Whether the user was verified (UV flag).
    pub fn user_verified(&self) -> bool {
        self.flags & flags::UV != 0
    }

    /// Checks that rpIdHash is SHA-256(`rp_id`).
    pub fn check_rp_id(&self, rp_id: &str) -> Result<(), ResponseError> {
        if Sha256::digest(rp_id.as_bytes())[..] == self.rp_id_hash[..] {
            Ok(())
        } else {
            Err(ResponseError::InvalidValue {
                field: "authData rpIdHash",
                reason: "is not the hash of the RP ID asked for".into(),
            })
        }
    }
}

/// Builds authenticator data (for tests and for the fuzz target's seeds).
#[doc(hidden)]
pub fn build(
    rp_id: &str,
    flag_bits: u8,
    attested: Option<(&[u8], &CoseEc2Key)>,
    extensions: Option<&Value>,
) -> Vec<u8> {
    let mut out = Sha256::digest(rp_id.as_bytes()).to_vec();
    out.push(flag_bits);
    out.extend_from_slice(&7u32.to_be_bytes());
    if let Some((id, key)) = attested {
        out.extend_from_slice(&[0x11; 16]);
        out.extend_from_slice(&u16::try_from(id.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(id);
        let mut key_value = key.to_value();
        if let Value::Map(entries) = &mut key_value {
            for (k, v) in entries.iter_mut() {
                if k == &Value::Integer(3.into()) {
                    *v = Value::Integer(ALG_ES256.into());
                }
            }
        }
        out.extend(cbor::encode(&key_value).unwrap_or_default());
    }
    if let Some(ext) = extensions {
        out.extend(cbor::encode(ext).unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CoseEc2Key {
        let secret = p256::SecretKey::from_slice(&[5u8; 32]).unwrap();
        CoseEc2Key::key_agreement(secret.public_key())
    }

    #[test]
    fn decodes_attested_data_and_extensions() {
        let ext = cbor::text_map([("hmac-secret", Value::Bool(true))]);
        let bytes = build(
            "example.org",
            flags::UP | flags::AT | flags::ED,
            Some((&[9u8; 48], &key())),
            Some(&ext),
        );
        let ad = AuthenticatorData::decode(&bytes).unwrap();
        assert!(ad.user_present() && !ad.user_verified());
        assert_eq!(ad.sign_count, 7);
        ad.check_rp_id("example.org").unwrap();
        assert!(ad.check_rp_id("example.com").is_err());
        let att = ad.attested_credential.as_ref().unwrap();
        assert_eq!(att.credential_id, vec![9u8; 48]);
        assert_eq!(att.public_key.public_key(), key().public_key());
        assert_eq!(ad.extension("hmac-secret"), Some(&Value::Bool(true)));
        // Every truncation is an error, never a panic.
        for cut in 0..bytes.len() {
            assert!(AuthenticatorData::decode(&bytes[..cut]).is_err());
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(AuthenticatorData::decode(&trailing).is_err());
    }

    #[test]
    fn credential_id_lengths() {
        let too_long = build("a", flags::AT, Some((&[1u8; 1024], &key())), None);
        assert!(matches!(
            AuthenticatorData::decode(&too_long),
            Err(ResponseError::BadLength {
                field: "credentialId",
                ..
            })
        ));
        let empty = build("a", flags::AT, Some((&[], &key())), None);
        assert!(AuthenticatorData::decode(&empty).is_err());
        // Flags that promise data that is not there.
        let liar = build("a", flags::ED, None, None);
        assert!(AuthenticatorData::decode(&liar).is_err());
    }
}
