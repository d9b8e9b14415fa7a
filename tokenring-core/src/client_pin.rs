//! authenticatorClientPIN (CTAP 2.1 §6.5.5): requests and responses of
//! the subcommands the client uses. The client ([`crate::Ctap2Client`])
//! runs them; this module only builds and decodes messages.

use ciborium::Value;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::cbor::{self, IntMap, ResponseError};
use crate::cose::CoseEc2Key;
use crate::pin_protocol::{KeyAgreement, PinUvAuthProtocol, PinUvAuthToken, MAX_TOKEN_LEN};
use crate::{Error, Pin};

/// Subcommands (§6.5.5, table "authenticatorClientPIN subCommand").
pub mod subcommand {
    /// getPINRetries.
    pub const GET_PIN_RETRIES: u8 = 0x01;
    /// getKeyAgreement.
    pub const GET_KEY_AGREEMENT: u8 = 0x02;
    /// setPIN.
    pub const SET_PIN: u8 = 0x03;
    /// changePIN.
    pub const CHANGE_PIN: u8 = 0x04;
    /// getPinToken (superseded by 0x09 on authenticators with the
    /// `pinUvAuthToken` option).
    pub const GET_PIN_TOKEN: u8 = 0x05;
    /// getPinUvAuthTokenUsingUvWithPermissions.
    pub const GET_PIN_UV_AUTH_TOKEN_USING_UV_WITH_PERMISSIONS: u8 = 0x06;
    /// getUVRetries.
    pub const GET_UV_RETRIES: u8 = 0x07;
    /// getPinUvAuthTokenUsingPinWithPermissions.
    pub const GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS: u8 = 0x09;
}

/// pinUvAuthToken permissions (§6.5.5.7).
pub mod permission {
    /// makeCredential (mc).
    pub const MAKE_CREDENTIAL: u8 = 0x01;
    /// getAssertion (ga).
    pub const GET_ASSERTION: u8 = 0x02;
    /// credentialManagement (cm).
    pub const CREDENTIAL_MANAGEMENT: u8 = 0x04;
    /// bioEnrollment (be).
    pub const BIO_ENROLLMENT: u8 = 0x08;
    /// largeBlobWrite (lbw).
    pub const LARGE_BLOB_WRITE: u8 = 0x10;
    /// authenticatorConfig (acfg).
    pub const AUTHENTICATOR_CONFIG: u8 = 0x20;
}

// Request parameter keys (§6.5.5).
const PIN_UV_AUTH_PROTOCOL: i64 = 0x01;
const SUB_COMMAND: i64 = 0x02;
const KEY_AGREEMENT: i64 = 0x03;
const PIN_UV_AUTH_PARAM: i64 = 0x04;
const NEW_PIN_ENC: i64 = 0x05;
const PIN_HASH_ENC: i64 = 0x06;
const PERMISSIONS: i64 = 0x09;
const RP_ID: i64 = 0x0A;

/// The longest PIN in UTF-8 bytes (§6.5.1: padded to 64 bytes with at
/// least one zero byte).
pub const MAX_PIN_BYTES: usize = 63;
/// The shortest PIN in Unicode code points when the authenticator does not
/// say (§6.4 minPINLength default).
pub const DEFAULT_MIN_PIN_LENGTH: usize = 4;

/// An authenticatorClientPIN request.
#[derive(Default)]
pub struct ClientPinRequest {
    /// pinUvAuthProtocol (0x01).
    pub protocol: Option<PinUvAuthProtocol>,
    /// subCommand (0x02).
    pub sub_command: u8,
    /// keyAgreement (0x03): the platform's public key.
    pub key_agreement: Option<CoseEc2Key>,
    /// pinUvAuthParam (0x04).
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// newPinEnc (0x05).
    pub new_pin_enc: Option<Vec<u8>>,
    /// pinHashEnc (0x06).
    pub pin_hash_enc: Option<Vec<u8>>,
    /// permissions (0x09).
    pub permissions: Option<u8>,
    /// rpId (0x0A).
    pub rp_id: Option<String>,
}

impl ClientPinRequest {
    /// The canonical CBOR request body.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut entries = Vec::new();
        if let Some(p) = self.protocol {
            entries.push((PIN_UV_AUTH_PROTOCOL, Value::Integer(p.number().into())));
        }
        entries.push((SUB_COMMAND, Value::Integer(self.sub_command.into())));
        if let Some(k) = &self.key_agreement {
            entries.push((KEY_AGREEMENT, k.to_value()));
        }
        if let Some(p) = &self.pin_uv_auth_param {
            entries.push((PIN_UV_AUTH_PARAM, cbor::bytes(p)));
        }
        if let Some(p) = &self.new_pin_enc {
            entries.push((NEW_PIN_ENC, cbor::bytes(p)));
        }
        if let Some(p) = &self.pin_hash_enc {
            entries.push((PIN_HASH_ENC, cbor::bytes(p)));
        }
        if let Some(p) = self.permissions {
            entries.push((PERMISSIONS, Value::Integer(p.into())));
        }
        if let Some(r) = &self.rp_id {
            entries.push((RP_ID, Value::Text(r.clone())));
        }
        cbor::encode(&cbor::int_map(entries))
    }
}

/// getPINRetries (§6.5.5.2).
pub fn get_pin_retries(protocol: Option<PinUvAuthProtocol>) -> ClientPinRequest {
    ClientPinRequest {
        protocol,
        sub_command: subcommand::GET_PIN_RETRIES,
        ..ClientPinRequest::default()
    }
}

/// getUVRetries (§6.5.5.8).
pub fn get_uv_retries() -> ClientPinRequest {
    ClientPinRequest {
        sub_command: subcommand::GET_UV_RETRIES,
        ..ClientPinRequest::default()
    }
}

/// getKeyAgreement (§6.5.5.3).
pub fn get_key_agreement(protocol: PinUvAuthProtocol) -> ClientPinRequest {
    ClientPinRequest {
        protocol: Some(protocol),
        sub_command: subcommand::GET_KEY_AGREEMENT,
        ..ClientPinRequest::default()
    }
}

/// The PIN as the authenticator must receive it: the UTF-8 of its Unicode
/// Normalization Form C (CTAP 2.1 §6.5.1), so that "é" typed as e + U+0301
/// and "é" typed as U+00E9 are the same PIN. A PIN already in NFC (every
/// ASCII PIN, and what keyboards and input methods produce) is copied as
/// it is.
///
/// python-fido2 and libfido2 send the PIN as typed: a PIN that one of them
/// set from decomposed characters is not the PIN TokenRing sends for the
/// same keys.
pub fn normalized_pin(pin: &Pin) -> Zeroizing<String> {
    use unicode_normalization::UnicodeNormalization;
    let text = pin.expose_secret();
    if unicode_normalization::is_nfc(text) {
        let mut out = Zeroizing::new(String::with_capacity(text.len()));
        out.push_str(text);
        return out;
    }
    // Built in a buffer that is never reallocated behind our back (a
    // reallocation would leave a copy of the PIN in freed memory): NFC
    // grows UTF-8 text by at most a factor of three, and should a string
    // outgrow even that, the copy is made here, into zeroized memory.
    let mut out = Zeroizing::new(String::with_capacity(text.len() * 3));
    for c in text.nfc() {
        if out.len() + c.len_utf8() > out.capacity() {
            let mut bigger = Zeroizing::new(String::with_capacity(out.capacity() * 2 + 4));
            bigger.push_str(&out);
            out = bigger;
        }
        out.push(c);
    }
    out
}

/// The PIN as the authenticator wants it: UTF-8 of its NFC form (see
/// [`normalized_pin`]), padded with zeros to 64 bytes (§6.5.5.5 step
/// "paddedPin").
pub fn padded_pin(pin: &Pin) -> Result<Zeroizing<Vec<u8>>, Error> {
    let normalized = normalized_pin(pin);
    let bytes = normalized.as_bytes();
    if bytes.len() > MAX_PIN_BYTES {
        return Err(Error::PinPolicyViolation);
    }
    let mut padded = Zeroizing::new(vec![0u8; 64]);
    if let Some(dst) = padded.get_mut(..bytes.len()) {
        dst.copy_from_slice(bytes);
    }
    Ok(padded)
}

/// LEFT(SHA-256(pin), 16) of the PIN's NFC form (§6.5.5.7.2, §6.5.1).
pub fn pin_hash(pin: &Pin) -> Zeroizing<[u8; 16]> {
    let normalized = normalized_pin(pin);
    let digest = Zeroizing::new(Sha256::digest(normalized.as_bytes()));
    let mut out = Zeroizing::new([0u8; 16]);
    out.copy_from_slice(digest.get(..16).unwrap_or(&[0u8; 16]));
    out
}

/// Checks a new PIN against the spec's policy (§6.5.1, §6.5.5.5): in its
/// NFC form, at least `min_length` (and at least 4) Unicode code points,
/// at most 63 bytes, no NUL.
pub fn check_new_pin(pin: &Pin, min_length: Option<u64>) -> Result<(), Error> {
    let min = min_length
        .and_then(|m| usize::try_from(m).ok())
        .unwrap_or(DEFAULT_MIN_PIN_LENGTH)
        .max(DEFAULT_MIN_PIN_LENGTH);
    let text = normalized_pin(pin);
    if text.chars().count() < min || text.len() > MAX_PIN_BYTES || text.contains('\0') {
        return Err(Error::PinPolicyViolation);
    }
    Ok(())
}

/// setPIN (§6.5.5.5): newPinEnc = encrypt(shared, paddedPin),
/// pinUvAuthParam = authenticate(shared, newPinEnc).
pub fn set_pin(
    ka: &KeyAgreement,
    new_pin: &Pin,
    rng: &mut dyn rand_core::CryptoRngCore,
) -> Result<ClientPinRequest, Error> {
    let shared = ka.shared_secret();
    let new_pin_enc = shared.encrypt(&padded_pin(new_pin)?, rng)?;
    Ok(ClientPinRequest {
        protocol: Some(shared.protocol()),
        sub_command: subcommand::SET_PIN,
        key_agreement: Some(ka.platform_key().clone()),
        pin_uv_auth_param: Some(shared.authenticate(&new_pin_enc)),
        new_pin_enc: Some(new_pin_enc),
        ..ClientPinRequest::default()
    })
}

/// changePIN (§6.5.5.6): pinHashEnc = encrypt(shared, LEFT(SHA-256(curPin), 16)),
/// newPinEnc = encrypt(shared, paddedNewPin),
/// pinUvAuthParam = authenticate(shared, newPinEnc ‖ pinHashEnc).
pub fn change_pin(
    ka: &KeyAgreement,
    current: &Pin,
    new_pin: &Pin,
    rng: &mut dyn rand_core::CryptoRngCore,
) -> Result<ClientPinRequest, Error> {
    let shared = ka.shared_secret();
    let pin_hash_enc = shared.encrypt(&pin_hash(current)[..], rng)?;
    let new_pin_enc = shared.encrypt(&padded_pin(new_pin)?, rng)?;
    let auth = shared.authenticate(&[&new_pin_enc[..], &pin_hash_enc[..]].concat());
    Ok(ClientPinRequest {
        protocol: Some(shared.protocol()),
        sub_command: subcommand::CHANGE_PIN,
        key_agreement: Some(ka.platform_key().clone()),
        pin_uv_auth_param: Some(auth),
        new_pin_enc: Some(new_pin_enc),
        pin_hash_enc: Some(pin_hash_enc),
        ..ClientPinRequest::default()
    })
}

/// getPinToken (§6.5.5.7.1), for authenticators without the
/// `pinUvAuthToken` option (CTAP 2.0).
pub fn get_pin_token(
    ka: &KeyAgreement,
    pin: &Pin,
    rng: &mut dyn rand_core::CryptoRngCore,
) -> Result<ClientPinRequest, Error> {
    let shared = ka.shared_secret();
    Ok(ClientPinRequest {
        protocol: Some(shared.protocol()),
        sub_command: subcommand::GET_PIN_TOKEN,
        key_agreement: Some(ka.platform_key().clone()),
        pin_hash_enc: Some(shared.encrypt(&pin_hash(pin)[..], rng)?),
        ..ClientPinRequest::default()
    })
}

/// getPinUvAuthTokenUsingPinWithPermissions (§6.5.5.7.2).
pub fn get_pin_uv_auth_token_using_pin(
    ka: &KeyAgreement,
    pin: &Pin,
    permissions: u8,
    rp_id: Option<&str>,
    rng: &mut dyn rand_core::CryptoRngCore,
) -> Result<ClientPinRequest, Error> {
    let shared = ka.shared_secret();
    Ok(ClientPinRequest {
        protocol: Some(shared.protocol()),
        sub_command: subcommand::GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS,
        key_agreement: Some(ka.platform_key().clone()),
        pin_hash_enc: Some(shared.encrypt(&pin_hash(pin)[..], rng)?),
        permissions: Some(permissions),
        rp_id: rp_id.map(str::to_string),
        ..ClientPinRequest::default()
    })
}

/// getPinUvAuthTokenUsingUvWithPermissions (§6.5.5.7.3).
pub fn get_pin_uv_auth_token_using_uv(
    ka: &KeyAgreement,
    permissions: u8,
    rp_id: Option<&str>,
) -> ClientPinRequest {
    ClientPinRequest {
        protocol: Some(ka.shared_secret().protocol()),
        sub_command: subcommand::GET_PIN_UV_AUTH_TOKEN_USING_UV_WITH_PERMISSIONS,
        key_agreement: Some(ka.platform_key().clone()),
        permissions: Some(permissions),
        rp_id: rp_id.map(str::to_string),
        ..ClientPinRequest::default()
    }
}

/// An authenticatorClientPIN response (§6.5.5, response map).
#[derive(Default)]
pub struct ClientPinResponse {
    /// keyAgreement (0x01), on the curve.
    pub key_agreement: Option<CoseEc2Key>,
    /// pinUvAuthToken (0x02), encrypted under the shared secret.
    pub pin_uv_auth_token_enc: Option<Vec<u8>>,
    /// pinRetries (0x03).
    pub pin_retries: Option<u8>,
    /// powerCycleState (0x04).
    pub power_cycle_state: Option<bool>,
    /// uvRetries (0x05).
    pub uv_retries: Option<u8>,
}

impl std::fmt::Debug for ClientPinResponse {
    /// The encrypted token is left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientPinResponse")
            .field("key_agreement", &self.key_agreement)
            .field(
                "pin_uv_auth_token_enc",
                &self.pin_uv_auth_token_enc.as_ref().map(|_| "<redacted>"),
            )
            .field("pin_retries", &self.pin_retries)
            .field("power_cycle_state", &self.power_cycle_state)
            .field("uv_retries", &self.uv_retries)
            .finish()
    }
}

impl ClientPinResponse {
    /// Decodes a response body (an empty body is an empty response:
    /// setPIN and changePIN answer nothing).
    pub fn decode(body: &[u8]) -> Result<Self, ResponseError> {
        if body.is_empty() {
            return Ok(ClientPinResponse::default());
        }
        let mut map = IntMap::decode(body, "clientPIN response")?;
        let mut out = ClientPinResponse::default();
        if let Some(v) = map.take(0x01) {
            out.key_agreement = Some(CoseEc2Key::from_key_agreement(v)?);
        }
        if let Some(v) = map.take(0x02) {
            // Any token length the protocol allows (see PinUvAuthToken),
            // plus protocol two's IV.
            out.pin_uv_auth_token_enc =
                Some(cbor::into_bytes(v, "pinUvAuthToken", MAX_TOKEN_LEN + 16)?);
        }
        if let Some(v) = map.take(0x03) {
            out.pin_retries = Some(cbor::as_u8(&v, "pinRetries")?);
        }
        if let Some(v) = map.take(0x04) {
            out.power_cycle_state = Some(cbor::as_bool(&v, "powerCycleState")?);
        }
        if let Some(v) = map.take(0x05) {
            out.uv_retries = Some(cbor::as_u8(&v, "uvRetries")?);
        }
        Ok(out)
    }

    /// The key agreement key, which must be present.
    pub fn require_key_agreement(self) -> Result<CoseEc2Key, ResponseError> {
        self.key_agreement
            .ok_or(ResponseError::Missing("keyAgreement"))
    }

    /// pinRetries, which must be present.
    pub fn require_pin_retries(&self) -> Result<u8, ResponseError> {
        self.pin_retries.ok_or(ResponseError::Missing("pinRetries"))
    }

    /// uvRetries, which must be present.
    pub fn require_uv_retries(&self) -> Result<u8, ResponseError> {
        self.uv_retries.ok_or(ResponseError::Missing("uvRetries"))
    }

    /// Decrypts the pinUvAuthToken, which must be present, with the shared
    /// secret and checks its length.
    pub fn decrypt_token(&self, ka: &KeyAgreement) -> Result<PinUvAuthToken, ResponseError> {
        let enc = self
            .pin_uv_auth_token_enc
            .as_deref()
            .ok_or(ResponseError::Missing("pinUvAuthToken"))?;
        let shared = ka.shared_secret();
        let token = shared.decrypt(enc)?;
        PinUvAuthToken::new(shared.protocol(), token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_padding_and_hash() {
        let padded = padded_pin(&Pin::new("1234")).unwrap();
        assert_eq!(padded.len(), 64);
        assert_eq!(&padded[..5], b"1234\0");
        assert!(padded_pin(&Pin::new("x".repeat(64))).is_err());
        assert!(padded_pin(&Pin::new("x".repeat(63))).is_ok());
        // SHA-256("1234") = 03ac674216f3e15c761ee1a5e255f067953623c8b388b4459e13f978d7c846f4
        assert_eq!(
            pin_hash(&Pin::new("1234")).to_vec(),
            hex::decode("03ac674216f3e15c761ee1a5e255f067").unwrap()
        );
    }

    /// CTAP 2.1 §6.5.1: the PIN is sent as the UTF-8 of its NFC form, and
    /// its length counted in code points of that form.
    #[test]
    fn pins_are_normalized_to_nfc() {
        let decomposed = Pin::new("e\u{301}e\u{301}e\u{301}e\u{301}");
        let composed = Pin::new("\u{e9}\u{e9}\u{e9}\u{e9}");
        assert_eq!(
            normalized_pin(&decomposed).as_str(),
            composed.expose_secret()
        );
        assert_eq!(pin_hash(&decomposed), pin_hash(&composed));
        assert_eq!(
            padded_pin(&decomposed).unwrap(),
            padded_pin(&composed).unwrap()
        );
        assert_eq!(
            &padded_pin(&composed).unwrap()[..9],
            "\u{e9}\u{e9}\u{e9}\u{e9}\0".as_bytes()
        );
        // Six code points as typed, three after normalization: too short.
        let three = Pin::new("e\u{301}e\u{301}e\u{301}");
        assert!(matches!(
            check_new_pin(&three, None),
            Err(Error::PinPolicyViolation)
        ));
        assert!(check_new_pin(&decomposed, None).is_ok());
        // 64 bytes as typed (32 × e + U+0301 would be 96), 21 × é = 42 after.
        assert!(check_new_pin(&Pin::new("e\u{301}".repeat(21)), None).is_ok());
        // ASCII is its own NFC.
        assert_eq!(normalized_pin(&Pin::new("1234")).as_str(), "1234");
        // Singletons map to another character (U+212B ANGSTROM SIGN → U+00C5).
        assert_eq!(normalized_pin(&Pin::new("\u{212b}")).as_str(), "\u{c5}");
        // Characters excluded from composition grow: U+0958 becomes two.
        let long = "\u{958}".repeat(40);
        let expected: String = "\u{915}\u{93c}".repeat(40);
        assert_eq!(normalized_pin(&Pin::new(long)).as_str(), expected);
    }

    #[test]
    fn new_pin_policy() {
        assert!(check_new_pin(&Pin::new("123"), None).is_err());
        assert!(check_new_pin(&Pin::new("1234"), None).is_ok());
        assert!(check_new_pin(&Pin::new("1234"), Some(6)).is_err());
        assert!(check_new_pin(&Pin::new("ääää"), None).is_ok());
        assert!(check_new_pin(&Pin::new("ä".repeat(32)), None).is_err());
    }

    #[test]
    fn request_is_canonical() {
        let body = ClientPinRequest {
            protocol: Some(PinUvAuthProtocol::Two),
            sub_command: subcommand::GET_PIN_RETRIES,
            ..ClientPinRequest::default()
        }
        .encode()
        .unwrap();
        assert_eq!(body, vec![0xA2, 0x01, 0x02, 0x02, 0x01]);
    }

    #[test]
    fn hostile_responses() {
        let bad = [
            vec![0xA1, 0x03, 0x19, 0x01, 0x00], // pinRetries 256
            vec![0xA1, 0x03, 0x61, 0x41],       // pinRetries "A"
            vec![0xA1, 0x01, 0xA0],             // keyAgreement {}
            vec![0xA1, 0x02, 0x59, 0x04, 0x11], // token of 1041 bytes (truncated)
            vec![0xA1, 0x04, 0x01],             // powerCycleState 1
        ];
        for body in bad {
            assert!(ClientPinResponse::decode(&body).is_err(), "{body:02x?}");
        }
        let ok = ClientPinResponse::decode(&[0xA1, 0x03, 0x08]).unwrap();
        assert_eq!(ok.require_pin_retries(), Ok(8));
        assert!(ok.require_key_agreement().is_err());
    }
}
