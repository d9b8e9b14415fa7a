//! authenticatorMakeCredential (CTAP 2.1 §6.1): the request TokenRing
//! sends to enroll (ES256, rk=false, `hmac-secret: true`) and the decoded
//! response.

use ciborium::Value;

use crate::auth_data::AuthenticatorData;
use crate::cbor::{self, IntMap, ResponseError};
use crate::cose::ALG_ES256;
use crate::pin_protocol::PinUvAuthProtocol;
use crate::{Error, UserEntity};

/// An authenticatorMakeCredential request (§6.1, parameters 0x01–0x09).
pub struct MakeCredentialRequest<'a> {
    /// clientDataHash (0x01).
    pub client_data_hash: [u8; 32],
    /// rp.id (0x02).
    pub rp_id: &'a str,
    /// user (0x03).
    pub user: &'a UserEntity,
    /// Ask for the hmac-secret extension (0x06 `{"hmac-secret": true}`).
    pub hmac_secret: bool,
    /// credProtect (CTAP 2.1 §12.1): the level to request (0x06 `{"credProtect": n}`).
    pub cred_protect: Option<u8>,
    /// hmac-secret-mc (CTAP 2.2 §12.8): the salts, as for getAssertion's
    /// hmac-secret (0x06 `{"hmac-secret-mc": {1: keyAgreement, 2: saltEnc, …}}`).
    pub hmac_secret_mc: Option<&'a crate::get_assertion::HmacSecretInput>,
    /// options.rk (0x07); `false` is sent explicitly.
    pub rk: bool,
    /// options.uv (0x07): only for CTAP 2.0 built-in UV; never together
    /// with a pinUvAuthParam.
    pub uv: bool,
    /// pinUvAuthParam (0x08) and pinUvAuthProtocol (0x09).
    pub pin_uv_auth: Option<(Vec<u8>, PinUvAuthProtocol)>,
}

impl MakeCredentialRequest<'_> {
    /// The canonical CBOR request body.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        cbor::encode(&self.to_value())
    }

    fn to_value(&self) -> Value {
        let mut user = vec![
            ("id", cbor::bytes(&self.user.id)),
            ("name", Value::Text(self.user.name.clone())),
        ];
        if let Some(display) = &self.user.display_name {
            user.push(("displayName", Value::Text(display.clone())));
        }
        let mut entries = vec![
            (0x01, cbor::bytes(&self.client_data_hash)),
            // rp.name is optional in CTAP 2.1 (§6.1), but some CTAP 2.0
            // authenticators insist on it; python-fido2 always sends one.
            (
                0x02,
                cbor::text_map([
                    ("id", Value::Text(self.rp_id.to_string())),
                    ("name", Value::Text(self.rp_id.to_string())),
                ]),
            ),
            (0x03, cbor::text_map(user)),
            (
                0x04,
                Value::Array(vec![cbor::text_map([
                    ("alg", Value::Integer(ALG_ES256.into())),
                    ("type", Value::Text("public-key".into())),
                ])]),
            ),
        ];
        let mut extensions = Vec::new();
        if let Some(level) = self.cred_protect {
            extensions.push(("credProtect", Value::Integer(level.into())));
        }
        if self.hmac_secret {
            extensions.push(("hmac-secret", Value::Bool(true)));
        }
        if let Some(input) = self.hmac_secret_mc {
            extensions.push(("hmac-secret-mc", input.value().clone()));
        }
        if !extensions.is_empty() {
            // Canonical order: shorter keys first, then bytewise.
            extensions.sort_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then(a.cmp(b)));
            entries.push((0x06, cbor::text_map(extensions)));
        }
        let mut options = vec![("rk", Value::Bool(self.rk))];
        // Never `uv: true` together with a pinUvAuthParam (§6.1.2 step 5).
        if self.uv && self.pin_uv_auth.is_none() {
            options.push(("uv", Value::Bool(true)));
        }
        entries.push((0x07, cbor::text_map(options)));
        if let Some((param, protocol)) = &self.pin_uv_auth {
            entries.push((0x08, cbor::bytes(param)));
            entries.push((0x09, Value::Integer(protocol.number().into())));
        }
        cbor::int_map(entries)
    }
}

/// The CTAP 2.0 authenticator-selection request (CTAP 2.1 §6.1.2 step 1,
/// §6.9 note): a makeCredential with a zero-length pinUvAuthParam, which
/// makes the authenticator blink, wait for a touch, and answer
/// PIN_NOT_SET or PIN_INVALID.
pub fn selection_probe() -> Result<Vec<u8>, Error> {
    let user = UserEntity {
        id: vec![0],
        name: String::new(),
        display_name: None,
    };
    let mut value = MakeCredentialRequest {
        client_data_hash: [0u8; 32],
        rp_id: ".dummy",
        user: &user,
        hmac_secret: false,
        cred_protect: None,
        hmac_secret_mc: None,
        rk: false,
        uv: false,
        pin_uv_auth: None,
    }
    .to_value();
    if let Value::Map(entries) = &mut value {
        entries.retain(|(k, _)| k != &Value::Integer(0x07.into()));
        entries.push((Value::Integer(0x08.into()), Value::Bytes(Vec::new())));
        entries.push((Value::Integer(0x09.into()), Value::Integer(1.into())));
    }
    cbor::encode(&value)
}

/// An authenticatorMakeCredential response (§6.1, response 0x01–0x03).
#[derive(Debug, Clone, PartialEq)]
pub struct MakeCredentialResponse {
    /// fmt (0x01): the attestation statement format.
    pub fmt: String,
    /// authData (0x02), decoded.
    pub auth_data: AuthenticatorData,
    /// attStmt (0x03), kept undecoded (TokenRing does not check attestation).
    pub att_stmt: Value,
}

impl MakeCredentialResponse {
    /// Decodes a response body.
    pub fn decode(body: &[u8]) -> Result<Self, ResponseError> {
        let mut map = IntMap::decode(body, "makeCredential response")?;
        let fmt = cbor::into_text(map.require(0x01, "fmt")?, "fmt", 64)?;
        let auth_data = cbor::into_bytes(map.require(0x02, "authData")?, "authData", 4096)?;
        let auth_data = AuthenticatorData::decode(&auth_data)?;
        let att_stmt = map.require(0x03, "attStmt")?;
        if !matches!(att_stmt, Value::Map(_)) {
            return Err(ResponseError::WrongType {
                field: "attStmt",
                expected: "a map",
            });
        }
        Ok(MakeCredentialResponse {
            fmt,
            auth_data,
            att_stmt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_uv_with_pin_uv_auth_param() {
        let user = UserEntity::default();
        let req = MakeCredentialRequest {
            client_data_hash: [1; 32],
            rp_id: "example.org",
            user: &user,
            hmac_secret: true,
            cred_protect: None,
            hmac_secret_mc: None,
            rk: false,
            uv: true,
            pin_uv_auth: Some((vec![0; 32], PinUvAuthProtocol::Two)),
        };
        let value = cbor::decode(&req.encode().unwrap()).unwrap();
        let mut map = IntMap::from_value(value, "req").unwrap();
        let options = cbor::into_text_map(map.require(7, "options").unwrap(), "o").unwrap();
        assert_eq!(options, vec![("rk".to_string(), Value::Bool(false))]);
        assert_eq!(map.require(9, "p").unwrap(), Value::Integer(2.into()));
    }

    #[test]
    fn selection_probe_has_empty_pin_uv_auth_param() {
        let value = cbor::decode(&selection_probe().unwrap()).unwrap();
        let mut map = IntMap::from_value(value, "req").unwrap();
        assert_eq!(map.require(8, "p").unwrap(), Value::Bytes(vec![]));
        assert!(map.get(7).is_none());
    }

    #[test]
    fn hostile_responses() {
        for body in [
            vec![0xA0],
            vec![
                0xA3, 0x01, 0x64, b'n', b'o', b'n', b'e', 0x02, 0x40, 0x03, 0xA0,
            ],
            vec![0xA3, 0x01, 0x01, 0x02, 0x40, 0x03, 0xA0],
        ] {
            assert!(MakeCredentialResponse::decode(&body).is_err());
        }
    }
}
