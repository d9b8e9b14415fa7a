//! authenticatorGetInfo (CTAP 2.1 §6.4).

use ciborium::Value;

use tokenring_core::Status;

use crate::authenticator_config::make_cred_uv_not_rqd;
use crate::cbor;
use crate::personality::LiveState;
use crate::Simulator;

/// getInfo maxCredentialIdLength (0x08): stateless ids are 126 bytes.
pub const MAX_CREDENTIAL_ID_LENGTH: usize = 128;

/// The firmware version getInfo reports (0x0E).
pub const FIRMWARE_VERSION: i64 = 0x0001_0000;

impl Simulator {
    /// The getInfo response, keys in canonical order.
    pub(crate) fn get_info(&self) -> Result<Vec<u8>, Status> {
        let s = &self.state;
        let live = LiveState {
            pin_set: s.pin_hash.is_some(),
            always_uv: s.always_uv,
            make_cred_uv_not_rqd: s.make_cred_uv_not_rqd,
            built_in_uv: s.built_in_uv,
            no_mc_ga_permissions_with_client_pin: s.no_mc_ga_permissions_with_client_pin,
            force_pin_change: s.force_pin_change,
            min_pin_length: s.min_pin_length,
        };
        if let Some(info) = s.personality.get_info(&live) {
            return cbor::encode(&info);
        }
        // alwaysUv present and false means "supported, off": the toggle is
        // authenticatorConfig's toggleAlwaysUv (§6.4, §6.11.2), which
        // `authnrCfg` announces together with setMinPINLength.
        let mut options = vec![
            (cbor::txt("rk"), Value::Bool(false)),
            (cbor::txt("up"), Value::Bool(true)),
        ];
        if s.built_in_uv {
            options.push((cbor::txt("uv"), Value::Bool(true)));
        }
        options.push((cbor::txt("alwaysUv"), Value::Bool(s.always_uv)));
        options.push((cbor::txt("authnrCfg"), Value::Bool(true)));
        options.push((cbor::txt("clientPin"), Value::Bool(s.pin_hash.is_some())));
        options.push((cbor::txt("pinUvAuthToken"), Value::Bool(true)));
        options.push((cbor::txt("setMinPINLength"), Value::Bool(true)));
        options.push((
            cbor::txt("makeCredUvNotRqd"),
            make_cred_uv_not_rqd(s.make_cred_uv_not_rqd, s.always_uv),
        ));
        if s.no_mc_ga_permissions_with_client_pin {
            options.push((
                cbor::txt("noMcGaPermissionsWithClientPin"),
                Value::Bool(true),
            ));
        }
        options.sort_by(|(a, _), (b, _)| canonical_text_order(a, b));
        let mut extensions = vec![cbor::txt("credProtect"), cbor::txt("hmac-secret")];
        if s.hmac_secret_mc {
            extensions.push(cbor::txt("hmac-secret-mc"));
        }
        let info = Value::Map(vec![
            (
                cbor::int(0x01),
                Value::Array(vec![cbor::txt("FIDO_2_0"), cbor::txt("FIDO_2_1")]),
            ),
            (cbor::int(0x02), Value::Array(extensions)),
            (cbor::int(0x03), cbor::byt(&s.aaguid)),
            (cbor::int(0x04), Value::Map(options)),
            (
                cbor::int(0x05),
                cbor::int(i64::try_from(s.max_msg_size).unwrap_or(i64::MAX)),
            ),
            (
                cbor::int(0x06),
                Value::Array(
                    s.pin_uv_auth_protocols
                        .iter()
                        .map(|p| cbor::int(i64::from(*p)))
                        .collect(),
                ),
            ),
            // maxCredentialCountInList, maxCredentialIdLength
            (cbor::int(0x07), cbor::int(8)),
            (
                cbor::int(0x08),
                cbor::int(i64::try_from(MAX_CREDENTIAL_ID_LENGTH).unwrap_or(128)),
            ),
            (
                cbor::int(0x09),
                Value::Array(vec![cbor::txt("usb"), cbor::txt("nfc")]),
            ),
            (
                cbor::int(0x0A),
                Value::Array(vec![Value::Map(vec![
                    (cbor::txt("alg"), cbor::int(-7)),
                    (cbor::txt("type"), cbor::txt("public-key")),
                ])]),
            ),
            (cbor::int(0x0C), Value::Bool(s.force_pin_change)),
            (cbor::int(0x0D), cbor::int(i64::from(s.min_pin_length))),
            (cbor::int(0x0E), cbor::int(FIRMWARE_VERSION)),
        ]);
        cbor::encode(&info)
    }
}

/// CTAP2 canonical order of text keys: shorter first, then bytewise.
fn canonical_text_order(a: &Value, b: &Value) -> std::cmp::Ordering {
    let a = a.as_text().unwrap_or_default();
    let b = b.as_text().unwrap_or_default();
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}
