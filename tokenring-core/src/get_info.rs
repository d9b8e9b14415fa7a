//! authenticatorGetInfo (CTAP 2.1 §6.4): what the authenticator supports.

use ciborium::Value;

use crate::cbor::{self, IntMap, ResponseError};
use crate::{AuthenticatorInfo, TransportInfo};

/// Bounds on list lengths and strings in a getInfo response.
const MAX_ITEMS: usize = 64;
const MAX_TEXT: usize = 256;

/// The decoded authenticatorGetInfo response (§6.4), the members the client
/// uses; the others are checked for type where we read them and ignored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetInfoResponse {
    /// versions (0x01): e.g. `FIDO_2_0`, `FIDO_2_1`, `U2F_V2`.
    pub versions: Vec<String>,
    /// extensions (0x02): e.g. `hmac-secret`.
    pub extensions: Vec<String>,
    /// aaguid (0x03).
    pub aaguid: [u8; 16],
    /// options (0x04), as given (absent options keep their spec defaults,
    /// see [`GetInfoResponse::option`]).
    pub options: Vec<(String, bool)>,
    /// maxMsgSize (0x05).
    pub max_msg_size: Option<u64>,
    /// pinUvAuthProtocols (0x06), in the authenticator's order of preference.
    pub pin_uv_auth_protocols: Vec<u8>,
    /// maxCredentialCountInList (0x07).
    pub max_credential_count_in_list: Option<u64>,
    /// maxCredentialIdLength (0x08).
    pub max_credential_id_length: Option<u64>,
    /// transports (0x09).
    pub transports: Vec<String>,
    /// forcePINChange (0x0C): the PIN must be changed before it can give a
    /// pinUvAuthToken (absent: false).
    pub force_pin_change: bool,
    /// minPINLength (0x0D), in Unicode code points.
    pub min_pin_length: Option<u64>,
    /// firmwareVersion (0x0E).
    pub firmware_version: Option<u64>,
}

impl GetInfoResponse {
    /// Decodes a getInfo response body.
    pub fn decode(body: &[u8]) -> Result<Self, ResponseError> {
        let mut map = IntMap::decode(body, "getInfo response")?;
        let mut info = GetInfoResponse {
            versions: text_list(map.require(0x01, "getInfo versions")?, "getInfo versions")?,
            aaguid: cbor::into_array(map.require(0x03, "getInfo aaguid")?, "getInfo aaguid")?,
            ..GetInfoResponse::default()
        };
        if let Some(v) = map.take(0x02) {
            info.extensions = text_list(v, "getInfo extensions")?;
        }
        if let Some(v) = map.take(0x04) {
            for (name, value) in cbor::into_text_map(v, "getInfo options")? {
                let value = cbor::as_bool(&value, "getInfo options value")?;
                info.options.push((name, value));
            }
            if info.options.len() > MAX_ITEMS {
                return Err(ResponseError::BadLength {
                    field: "getInfo options",
                    len: info.options.len(),
                    expected: "at most 64 options",
                });
            }
        }
        if let Some(v) = map.take(0x05) {
            info.max_msg_size = Some(cbor::as_u64(&v, "getInfo maxMsgSize")?);
        }
        if let Some(v) = map.take(0x06) {
            for p in cbor::into_array_of(v, "getInfo pinUvAuthProtocols", MAX_ITEMS)? {
                // Protocol numbers beyond 255 do not exist; skip them like
                // any protocol we do not know.
                if let Ok(n) = cbor::as_u8(&p, "getInfo pinUvAuthProtocols") {
                    info.pin_uv_auth_protocols.push(n);
                } else {
                    cbor::as_u64(&p, "getInfo pinUvAuthProtocols")?;
                }
            }
        }
        if let Some(v) = map.take(0x07) {
            info.max_credential_count_in_list =
                Some(cbor::as_u64(&v, "getInfo maxCredentialCountInList")?);
        }
        if let Some(v) = map.take(0x08) {
            info.max_credential_id_length =
                Some(cbor::as_u64(&v, "getInfo maxCredentialIdLength")?);
        }
        if let Some(v) = map.take(0x09) {
            info.transports = text_list(v, "getInfo transports")?;
        }
        if let Some(v) = map.take(0x0C) {
            info.force_pin_change = cbor::as_bool(&v, "getInfo forcePINChange")?;
        }
        if let Some(v) = map.take(0x0D) {
            info.min_pin_length = Some(cbor::as_u64(&v, "getInfo minPINLength")?);
        }
        if let Some(v) = map.take(0x0E) {
            info.firmware_version = Some(cbor::as_u64(&v, "getInfo firmwareVersion")?);
        }
        Ok(info)
    }

    /// An option as given, or `None` when absent.
    pub fn option(&self, name: &str) -> Option<bool> {
        self.options
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    /// Whether an option is present and true.
    pub fn option_true(&self, name: &str) -> bool {
        self.option(name) == Some(true)
    }

    /// The authenticator supports CTAP 2.1 (`FIDO_2_1` in versions).
    pub fn is_ctap21(&self) -> bool {
        self.versions.iter().any(|v| v == "FIDO_2_1")
    }

    /// The authenticator supports the hmac-secret extension.
    pub fn has_hmac_secret(&self) -> bool {
        self.extensions.iter().any(|e| e == "hmac-secret")
    }

    /// The authenticator grants pinUvAuthTokens with permissions
    /// (`pinUvAuthToken` option, §6.4): subcommands 0x06 and 0x09.
    pub fn has_pin_uv_auth_token(&self) -> bool {
        self.option_true("pinUvAuthToken")
    }

    /// The `noMcGaPermissionsWithClientPin` option (§6.4): a token from the
    /// PIN cannot carry the makeCredential and getAssertion permissions;
    /// those need built-in user verification.
    pub fn no_mc_ga_with_client_pin(&self) -> bool {
        self.option_true("noMcGaPermissionsWithClientPin")
    }

    /// What the vault and the user care about, with the transport's name and path.
    pub fn to_authenticator_info(&self, transport: &TransportInfo) -> AuthenticatorInfo {
        AuthenticatorInfo {
            name: transport.name.clone(),
            transport: transport.kind,
            path: transport.path.clone(),
            aaguid: self.aaguid,
            versions: self.versions.clone(),
            hmac_secret: self.has_hmac_secret(),
            client_pin: self.option("clientPin"),
            built_in_uv: self.option("uv"),
            always_uv: self.option_true("alwaysUv"),
            make_cred_uv_not_required: self.option_true("makeCredUvNotRqd"),
            pin_uv_auth_protocols: self.pin_uv_auth_protocols.clone(),
            extensions: self.extensions.clone(),
        }
    }
}

fn text_list(value: Value, field: &'static str) -> Result<Vec<String>, ResponseError> {
    cbor::into_array_of(value, field, MAX_ITEMS)?
        .into_iter()
        .map(|v| cbor::into_text(v, field, MAX_TEXT))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        cbor::int_map([
            (
                1,
                Value::Array(vec![
                    Value::Text("FIDO_2_0".into()),
                    Value::Text("FIDO_2_1".into()),
                ]),
            ),
            (2, Value::Array(vec![Value::Text("hmac-secret".into())])),
            (3, cbor::bytes(&[0xAA; 16])),
            (
                4,
                cbor::text_map([
                    ("rk", Value::Bool(true)),
                    ("clientPin", Value::Bool(false)),
                    ("pinUvAuthToken", Value::Bool(true)),
                ]),
            ),
            (5, Value::Integer(1200.into())),
            (
                6,
                Value::Array(vec![Value::Integer(2.into()), Value::Integer(1.into())]),
            ),
        ])
    }

    #[test]
    fn decodes_a_ctap21_response() {
        let body = cbor::encode(&sample()).unwrap();
        let info = GetInfoResponse::decode(&body).unwrap();
        assert!(info.is_ctap21());
        assert!(info.has_hmac_secret());
        assert!(info.has_pin_uv_auth_token());
        assert_eq!(info.option("clientPin"), Some(false));
        assert_eq!(info.option("uv"), None);
        assert_eq!(info.pin_uv_auth_protocols, vec![2, 1]);
        assert_eq!(info.aaguid, [0xAA; 16]);
        assert_eq!(info.max_msg_size, Some(1200));
        assert!(!info.force_pin_change);
        assert!(!info.no_mc_ga_with_client_pin());
    }

    #[test]
    fn force_pin_change_and_no_mc_ga_are_read() {
        let mut map = match sample() {
            Value::Map(entries) => entries,
            _ => unreachable!(),
        };
        map.push((Value::Integer(0x0C.into()), Value::Bool(true)));
        if let Some((_, Value::Map(options))) =
            map.iter_mut().find(|(k, _)| *k == Value::Integer(4.into()))
        {
            options.push((
                Value::Text("noMcGaPermissionsWithClientPin".into()),
                Value::Bool(true),
            ));
        }
        let info =
            GetInfoResponse::decode(&cbor::encode(&Value::Map(map.clone())).unwrap()).unwrap();
        assert!(info.force_pin_change);
        assert!(info.no_mc_ga_with_client_pin());
        // Of the wrong type: refused, not taken for false.
        if let Some((_, v)) = map
            .iter_mut()
            .find(|(k, _)| *k == Value::Integer(0x0C.into()))
        {
            *v = Value::Integer(1.into());
        }
        assert!(GetInfoResponse::decode(&cbor::encode(&Value::Map(map)).unwrap()).is_err());
    }

    #[test]
    fn hostile_responses_are_errors() {
        let body = cbor::encode(&sample()).unwrap();
        for cut in 0..body.len() {
            assert!(
                GetInfoResponse::decode(&body[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let wrong_aaguid = cbor::int_map([(1, Value::Array(vec![])), (3, cbor::bytes(&[0; 15]))]);
        assert!(GetInfoResponse::decode(&cbor::encode(&wrong_aaguid).unwrap()).is_err());
        let wrong_option = cbor::int_map([
            (1, Value::Array(vec![])),
            (3, cbor::bytes(&[0; 16])),
            (4, cbor::text_map([("rk", Value::Integer(1.into()))])),
        ]);
        assert!(GetInfoResponse::decode(&cbor::encode(&wrong_option).unwrap()).is_err());
        let versions_not_text = cbor::int_map([
            (1, Value::Array(vec![Value::Integer(1.into())])),
            (3, cbor::bytes(&[0; 16])),
        ]);
        assert!(GetInfoResponse::decode(&cbor::encode(&versions_not_text).unwrap()).is_err());
        let many = cbor::int_map([
            (1, Value::Array(vec![Value::Text("x".into()); 1000])),
            (3, cbor::bytes(&[0; 16])),
        ]);
        assert!(GetInfoResponse::decode(&cbor::encode(&many).unwrap()).is_err());
    }
}
