//! PIN/UV auth protocols one and two, authenticator side
//! (CTAP 2.1 §6.5.6 and §6.5.7), written on RustCrypto primitives.
//!
//! This is the authenticator's half of the protocol. The platform's half is
//! `tokenring-core`'s `pin_protocol` module; the two are written apart on
//! purpose and share no code, so that a mistake in one fails against the
//! other, and each is checked against a half written by someone else:
//! python-fido2 drives this simulator, and TokenRing's client runs against
//! OpenSK and fido-authenticator (`interop/`).

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use ciborium::Value;
use hmac::{Hmac, Mac};
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use p256::{EncodedPoint, PublicKey, SecretKey};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use tokenring_core::Status;

use crate::cbor;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;
type HmacSha256 = Hmac<Sha256>;

/// A PIN/UV auth protocol (§6.5.6 one, §6.5.7 two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinProtocol {
    /// PIN/UV auth protocol one (§6.5.6).
    One,
    /// PIN/UV auth protocol two (§6.5.7).
    Two,
}

impl PinProtocol {
    /// The protocol with this number.
    pub fn from_number(n: i128) -> Option<Self> {
        match n {
            1 => Some(PinProtocol::One),
            2 => Some(PinProtocol::Two),
            _ => None,
        }
    }

    /// The protocol's number.
    pub fn number(self) -> u8 {
        match self {
            PinProtocol::One => 1,
            PinProtocol::Two => 2,
        }
    }

    /// Index into per-protocol tables.
    pub(crate) fn index(self) -> usize {
        match self {
            PinProtocol::One => 0,
            PinProtocol::Two => 1,
        }
    }

    /// `kdf(Z)`: one: SHA-256(Z); two: HKDF-SHA-256(salt = 32 zero bytes,
    /// IKM = Z, info "CTAP2 HMAC key") || HKDF(…, info "CTAP2 AES key").
    pub fn kdf(self, z: &[u8]) -> Zeroizing<Vec<u8>> {
        match self {
            PinProtocol::One => Zeroizing::new(Sha256::digest(z).to_vec()),
            PinProtocol::Two => {
                let hk = hkdf::Hkdf::<Sha256>::new(Some(&[0u8; 32]), z);
                let mut out = Zeroizing::new(vec![0u8; 64]);
                let (hmac_key, aes_key) = out.split_at_mut(32);
                // 32 bytes is always a valid HKDF-SHA-256 output length.
                let ok = hk.expand(b"CTAP2 HMAC key", hmac_key).is_ok()
                    && hk.expand(b"CTAP2 AES key", aes_key).is_ok();
                debug_assert!(ok);
                out
            }
        }
    }

    fn aes_key(self, key: &[u8]) -> Option<&[u8]> {
        match self {
            PinProtocol::One => key.get(..32),
            PinProtocol::Two => key.get(32..64),
        }
    }

    fn hmac_key(self, key: &[u8]) -> Option<&[u8]> {
        match self {
            // §6.5.6: the whole key (the 32-byte shared secret, or a
            // pinToken of 16 or 32 bytes).
            PinProtocol::One => (!key.is_empty()).then_some(key),
            // §6.5.7: a 64-byte shared secret uses its first half; a
            // 32-byte pinUvAuthToken is used whole.
            PinProtocol::Two => key.get(..32),
        }
    }

    /// `encrypt(key, demPlaintext)`: AES-256-CBC, zero IV (one) or a random
    /// IV prepended (two). The plaintext must be a multiple of 16 bytes.
    pub fn encrypt(
        self,
        key: &[u8],
        plaintext: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Vec<u8>, Status> {
        let aes_key = self.aes_key(key).ok_or(Status::Other)?;
        if !plaintext.len().is_multiple_of(16) {
            return Err(Status::Other);
        }
        let mut iv = [0u8; 16];
        if self == PinProtocol::Two {
            rng.fill_bytes(&mut iv);
        }
        let enc = Aes256CbcEnc::new_from_slices(aes_key, &iv).map_err(|_| Status::Other)?;
        let ct = enc.encrypt_padded_vec_mut::<NoPadding>(plaintext);
        Ok(match self {
            PinProtocol::One => ct,
            PinProtocol::Two => {
                let mut out = iv.to_vec();
                out.extend_from_slice(&ct);
                out
            }
        })
    }

    /// `decrypt(key, demCiphertext)`; `None` on a malformed ciphertext.
    pub fn decrypt(self, key: &[u8], ciphertext: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let aes_key = self.aes_key(key)?;
        let (iv, ct): ([u8; 16], &[u8]) = match self {
            PinProtocol::One => ([0u8; 16], ciphertext),
            PinProtocol::Two => {
                let (iv, ct) = ciphertext.split_at_checked(16)?;
                (iv.try_into().ok()?, ct)
            }
        };
        if ct.is_empty() || !ct.len().is_multiple_of(16) {
            return None;
        }
        let dec = Aes256CbcDec::new_from_slices(aes_key, &iv).ok()?;
        dec.decrypt_padded_vec_mut::<NoPadding>(ct)
            .ok()
            .map(Zeroizing::new)
    }

    /// `authenticate(key, message)`: HMAC-SHA-256, first 16 bytes (one) or
    /// all 32 (two).
    pub fn authenticate(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        let Some(hmac_key) = self.hmac_key(key) else {
            return Vec::new();
        };
        let Ok(mut mac) = HmacSha256::new_from_slice(hmac_key) else {
            return Vec::new();
        };
        mac.update(message);
        let full = mac.finalize().into_bytes();
        match self {
            PinProtocol::One => full.get(..16).map(<[u8]>::to_vec).unwrap_or_default(),
            PinProtocol::Two => full.to_vec(),
        }
    }

    /// `verify(key, message, signature)`, in constant time.
    pub fn verify(self, key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let expected = self.authenticate(key, message);
        !expected.is_empty()
            && expected.len() == signature.len()
            && bool::from(expected.ct_eq(signature))
    }
}

/// An authenticator key-agreement key pair (§6.5.6 initialize/regenerate).
pub(crate) struct KeyAgreementKey(SecretKey);

impl KeyAgreementKey {
    /// A fresh key pair.
    pub(crate) fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        KeyAgreementKey(SecretKey::random(rng))
    }

    /// The public key as a COSE_Key (§6.5.6 getPublicKey): kty EC2 (2),
    /// alg -25 (ECDH-ES+HKDF-256), crv P-256 (1), x, y.
    pub(crate) fn cose_public_key(&self) -> Value {
        cose_ec2(&self.0.public_key(), -25)
    }

    /// `decapsulate(peerCoseKey)` → `kdf(Z)`: CTAP1_ERR_INVALID_PARAMETER
    /// for a key of the wrong shape or not on the curve (§6.5.6).
    pub(crate) fn decapsulate(
        &self,
        protocol: PinProtocol,
        peer: &Value,
    ) -> Result<Zeroizing<Vec<u8>>, Status> {
        let peer = parse_cose_p256(peer)?;
        let shared = p256::ecdh::diffie_hellman(self.0.to_nonzero_scalar(), peer.as_affine());
        Ok(protocol.kdf(shared.raw_secret_bytes().as_slice()))
    }
}

/// A P-256 public key as a COSE_Key map with `alg`, keys in canonical order.
pub(crate) fn cose_ec2(key: &PublicKey, alg: i64) -> Value {
    let point = key.to_encoded_point(false);
    let x = point.x().map(|x| x.to_vec()).unwrap_or_default();
    let y = point.y().map(|y| y.to_vec()).unwrap_or_default();
    Value::Map(vec![
        (cbor::int(1), cbor::int(2)),
        (cbor::int(3), cbor::int(alg)),
        (cbor::int(-1), cbor::int(1)),
        (cbor::int(-2), Value::Bytes(x)),
        (cbor::int(-3), Value::Bytes(y)),
    ])
}

/// Parses a platform COSE_Key (kty 2, crv 1, 32-byte x and y on the curve).
fn parse_cose_p256(value: &Value) -> Result<PublicKey, Status> {
    let params = cbor::map(value)?;
    let kty = cbor::integer(params.required(1)?)?;
    let crv = cbor::integer(params.required(-1)?)?;
    if kty != 2 || crv != 1 {
        return Err(Status::InvalidParameter);
    }
    let x = cbor::bytes(params.required(-2)?)?;
    let y = cbor::bytes(params.required(-3)?)?;
    if x.len() != 32 || y.len() != 32 {
        return Err(Status::InvalidParameter);
    }
    let point = EncodedPoint::from_affine_coordinates(x.into(), y.into(), false);
    Option::from(PublicKey::from_encoded_point(&point)).ok_or(Status::InvalidParameter)
}
