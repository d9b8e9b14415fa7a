//! COSE_Key EC2 P-256 public keys (RFC 8152 §13.1.1, as CTAP 2.1 uses them):
//! the key agreement keys of authenticatorClientPIN and hmac-secret
//! (CTAP 2.1 §6.5.6 "getPublicKey()": kty 2, alg -25 ECDH-ES+HKDF-256,
//! crv 1 P-256) and credential public keys in authenticator data (alg -7 ES256).

use ciborium::Value;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use p256::{EncodedPoint, FieldBytes, PublicKey};

use crate::cbor::{self, IntMap, ResponseError};

/// COSE key type EC2 (RFC 8152 §13).
pub const KTY_EC2: i64 = 2;
/// COSE curve P-256.
pub const CRV_P256: i64 = 1;
/// COSE algorithm ECDH-ES+HKDF-256, which CTAP 2.1 §6.5.6 names for key
/// agreement keys ("even though this is not the algorithm actually used").
pub const ALG_ECDH_ES_HKDF_256: i64 = -25;
/// COSE algorithm ES256 (ECDSA with SHA-256), for credential keys.
pub const ALG_ES256: i64 = -7;

const LABEL_KTY: i64 = 1;
const LABEL_ALG: i64 = 3;
const LABEL_CRV: i64 = -1;
const LABEL_X: i64 = -2;
const LABEL_Y: i64 = -3;

/// A P-256 public key, known to be a valid point on the curve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoseEc2Key {
    key: PublicKey,
    alg: Option<i64>,
}

impl CoseEc2Key {
    /// A key agreement key (alg -25) for `key`.
    pub fn key_agreement(key: PublicKey) -> Self {
        CoseEc2Key {
            key,
            alg: Some(ALG_ECDH_ES_HKDF_256),
        }
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// The COSE algorithm this key was labelled with (`None`: the
    /// authenticator sent none).
    pub fn alg(&self) -> Option<i64> {
        self.alg
    }

    /// The affine coordinates (x, y), 32 bytes each.
    pub fn coordinates(&self) -> ([u8; 32], [u8; 32]) {
        let point = self.key.to_encoded_point(false);
        let mut x = [0u8; 32];
        let mut y = [0u8; 32];
        // An uncompressed point of a valid public key always has both.
        if let (Some(px), Some(py)) = (point.x(), point.y()) {
            x.copy_from_slice(px);
            y.copy_from_slice(py);
        }
        (x, y)
    }

    /// The COSE_Key map `{1: 2, 3: alg, -1: 1, -2: x, -3: y}`, canonical
    /// (without key 3 for a key that came without an alg).
    pub fn to_value(&self) -> Value {
        let (x, y) = self.coordinates();
        let mut entries = vec![(LABEL_KTY, Value::Integer(KTY_EC2.into()))];
        if let Some(alg) = self.alg {
            entries.push((LABEL_ALG, Value::Integer(alg.into())));
        }
        entries.extend([
            (LABEL_CRV, Value::Integer(CRV_P256.into())),
            (LABEL_X, cbor::bytes(&x)),
            (LABEL_Y, cbor::bytes(&y)),
        ]);
        cbor::int_map(entries)
    }

    /// Reads a key agreement key from an authenticator (CTAP 2.1 §6.5.6).
    ///
    /// The spec labels it alg -25, but firmware varies, and the widely used
    /// clients read only the coordinates (python-fido2 `ClientPin`, libfido2
    /// `es256_pk_decode`): so `alg` may be absent or any integer, and `kty`
    /// and `crv` may be absent. What is checked is what matters: a `kty` or
    /// `crv` that is present must say EC2 / P-256, the coordinates must be
    /// 32 bytes each, and the point must be on the curve.
    pub fn from_key_agreement(value: Value) -> Result<Self, ResponseError> {
        Self::read(value, None, "keyAgreement")
    }

    /// Reads a COSE_Key (a credential public key) whose `kty`, `crv` and
    /// `alg` must all be present, `alg` one of `algs`.
    pub fn from_value(
        value: Value,
        algs: &[i64],
        field: &'static str,
    ) -> Result<Self, ResponseError> {
        Self::read(value, Some(algs), field)
    }

    /// `algs`: `Some` requires kty, crv and an alg among them; `None` takes
    /// any alg, and kty and crv only when present.
    fn read(
        value: Value,
        algs: Option<&[i64]>,
        field: &'static str,
    ) -> Result<Self, ResponseError> {
        let strict = algs.is_some();
        let mut map = IntMap::from_value(value, field)?;
        let kty = take_label(&mut map, LABEL_KTY, "COSE_Key kty", strict)?;
        if let Some(kty) = kty.filter(|k| *k != KTY_EC2) {
            return Err(ResponseError::InvalidValue {
                field,
                reason: format!("COSE key type {kty}, expected 2 (EC2)"),
            });
        }
        let alg = match algs {
            Some(algs) => {
                let alg = cbor::as_i64(&map.require(LABEL_ALG, "COSE_Key alg")?, "COSE_Key alg")?;
                if !algs.contains(&alg) {
                    return Err(ResponseError::InvalidValue {
                        field,
                        reason: format!("COSE algorithm {alg} is not allowed here"),
                    });
                }
                Some(alg)
            }
            // Informative only: a label of another type is not worth
            // refusing a key whose coordinates are valid.
            None => map
                .take(LABEL_ALG)
                .and_then(|v| cbor::as_i64(&v, "COSE_Key alg").ok()),
        };
        let crv = take_label(&mut map, LABEL_CRV, "COSE_Key crv", strict)?;
        if let Some(crv) = crv.filter(|c| *c != CRV_P256) {
            return Err(ResponseError::InvalidValue {
                field,
                reason: format!("COSE curve {crv}, expected 1 (P-256)"),
            });
        }
        let x: [u8; 32] = cbor::into_array(map.require(LABEL_X, "COSE_Key x")?, "COSE_Key x")?;
        let y: [u8; 32] = cbor::into_array(map.require(LABEL_Y, "COSE_Key y")?, "COSE_Key y")?;
        let key = public_key_from_coordinates(&x, &y).ok_or(ResponseError::InvalidValue {
            field,
            reason: "the point is not on the P-256 curve".into(),
        })?;
        Ok(CoseEc2Key { key, alg })
    }
}

/// An integer label of a COSE_Key: required when `required`, else
/// optional (but an integer when present).
fn take_label(
    map: &mut IntMap,
    label: i64,
    name: &'static str,
    required: bool,
) -> Result<Option<i64>, ResponseError> {
    let value = if required {
        Some(map.require(label, name)?)
    } else {
        map.take(label)
    };
    value.map(|v| cbor::as_i64(&v, name)).transpose()
}

/// A public key from affine coordinates, `None` when they are not a point
/// on P-256.
pub fn public_key_from_coordinates(x: &[u8; 32], y: &[u8; 32]) -> Option<PublicKey> {
    let point = EncodedPoint::from_affine_coordinates(
        FieldBytes::from_slice(x),
        FieldBytes::from_slice(y),
        false,
    );
    Option::from(PublicKey::from_encoded_point(&point))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generator() -> ([u8; 32], [u8; 32]) {
        // The P-256 base point G (SEC 2 v2 §2.4.2 / FIPS 186-4 D.1.2.3).
        let x = hex::decode("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296")
            .unwrap();
        let y = hex::decode("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")
            .unwrap();
        (x.try_into().unwrap(), y.try_into().unwrap())
    }

    fn cose(kty: i64, alg: i64, crv: i64, x: Vec<u8>, y: Vec<u8>) -> Value {
        cbor::int_map([
            (1, Value::Integer(kty.into())),
            (3, Value::Integer(alg.into())),
            (-1, Value::Integer(crv.into())),
            (-2, Value::Bytes(x)),
            (-3, Value::Bytes(y)),
        ])
    }

    #[test]
    fn round_trip_and_canonical_bytes() {
        let (x, y) = generator();
        let key = CoseEc2Key::from_key_agreement(cose(2, -25, 1, x.to_vec(), y.to_vec())).unwrap();
        assert_eq!(key.coordinates(), (x, y));
        let bytes = cbor::encode(&key.to_value()).unwrap();
        // a5 01 02 03 38 18 20 01 21 58 20 <x> 22 58 20 <y>
        assert_eq!(
            bytes[..11],
            [0xA5, 0x01, 0x02, 0x03, 0x38, 0x18, 0x20, 0x01, 0x21, 0x58, 0x20]
        );
        assert_eq!(bytes.len(), 11 + 32 + 3 + 32);
        let again = CoseEc2Key::from_key_agreement(cbor::decode(&bytes).unwrap()).unwrap();
        assert_eq!(again, key);
    }

    #[test]
    fn hostile_keys_are_rejected() {
        let (x, y) = generator();
        let mut off_curve = y;
        off_curve[31] ^= 1;
        let cases = [
            cose(2, -25, 1, x.to_vec(), off_curve.to_vec()),
            cose(2, -25, 1, x[..31].to_vec(), y.to_vec()),
            cose(2, -25, 1, x.to_vec(), [y.to_vec(), vec![0]].concat()),
            cose(1, -25, 1, x.to_vec(), y.to_vec()),
            cose(2, -25, 2, x.to_vec(), y.to_vec()),
            cose(2, -25, 1, vec![0; 32], vec![0; 32]),
            Value::Array(vec![]),
            cbor::int_map([(1, Value::Integer(2.into()))]),
        ];
        for case in cases {
            assert!(CoseEc2Key::from_key_agreement(case).is_err());
        }
    }

    /// What python-fido2 and libfido2 accept: only x and y matter; the
    /// point must still be on the curve.
    #[test]
    fn key_agreement_keys_need_only_their_coordinates() {
        let (x, y) = generator();
        let without_alg = cbor::int_map([
            (1, Value::Integer(2.into())),
            (-1, Value::Integer(1.into())),
            (-2, cbor::bytes(&x)),
            (-3, cbor::bytes(&y)),
        ]);
        let key = CoseEc2Key::from_key_agreement(without_alg).unwrap();
        assert_eq!(key.alg(), None);
        assert_eq!(key.coordinates(), (x, y));
        let only_coordinates = cbor::int_map([(-2, cbor::bytes(&x)), (-3, cbor::bytes(&y))]);
        assert!(CoseEc2Key::from_key_agreement(only_coordinates).is_ok());
        for alg in [-7, -8, -25, 0, 7] {
            let key =
                CoseEc2Key::from_key_agreement(cose(2, alg, 1, x.to_vec(), y.to_vec())).unwrap();
            assert_eq!(key.alg(), Some(alg));
        }
        let mut off_curve = y;
        off_curve[0] ^= 1;
        let no_alg_off_curve =
            cbor::int_map([(-2, cbor::bytes(&x)), (-3, cbor::bytes(&off_curve))]);
        assert!(CoseEc2Key::from_key_agreement(no_alg_off_curve).is_err());
    }

    /// Credential public keys stay strict: kty, crv and an allowed alg.
    #[test]
    fn credential_keys_need_every_label() {
        let (x, y) = generator();
        assert!(CoseEc2Key::from_value(cose(2, -7, 1, x.to_vec(), y.to_vec()), &[-7], "k").is_ok());
        assert!(
            CoseEc2Key::from_value(cose(2, -8, 1, x.to_vec(), y.to_vec()), &[-7], "k").is_err()
        );
        let without_alg = cbor::int_map([
            (1, Value::Integer(2.into())),
            (-1, Value::Integer(1.into())),
            (-2, cbor::bytes(&x)),
            (-3, cbor::bytes(&y)),
        ]);
        assert!(CoseEc2Key::from_value(without_alg, &[-7], "k").is_err());
    }
}
