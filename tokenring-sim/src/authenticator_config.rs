//! authenticatorConfig (CTAP 2.1 §6.11): toggleAlwaysUv and
//! setMinPINLength.

use ciborium::Value;

use tokenring_core::Status;

use crate::cbor::{self, Params};
use crate::pin_token::PERMISSION_ACFG;
use crate::Simulator;

/// The authenticatorConfig command byte (§6.11).
pub(crate) const AUTHENTICATOR_CONFIG: u8 = 0x0D;

/// Request parameter keys (§6.11).
mod key {
    pub const SUB_COMMAND: i64 = 0x01;
    pub const SUB_COMMAND_PARAMS: i64 = 0x02;
    pub const PIN_UV_AUTH_PROTOCOL: i64 = 0x03;
    pub const PIN_UV_AUTH_PARAM: i64 = 0x04;
}

/// Subcommands (§6.11 table). enableEnterpriseAttestation (0x01) and
/// vendorPrototype (0xFF) are not implemented.
mod sub {
    pub const TOGGLE_ALWAYS_UV: i128 = 0x02;
    pub const SET_MIN_PIN_LENGTH: i128 = 0x03;
}

/// setMinPINLength parameters (§6.11.4).
mod min_pin {
    pub const NEW_MIN_PIN_LENGTH: i64 = 0x01;
    pub const MIN_PIN_LENGTH_RP_IDS: i64 = 0x02;
    pub const FORCE_CHANGE_PIN: i64 = 0x03;
}

impl Simulator {
    /// authenticatorConfig (§6.11.1).
    pub(crate) fn authenticator_config(&mut self, payload: &[u8]) -> Result<Vec<u8>, Status> {
        let entries = cbor::decode_map(payload)?;
        let params = Params::new(&entries)?;
        // Step 1: subCommand is required.
        let subcommand = cbor::integer(params.required(key::SUB_COMMAND)?)?;
        let sub_params = match params.get(key::SUB_COMMAND_PARAMS) {
            Some(v) => Some(cbor::map(v)?),
            None => None,
        };
        // Step 2: an unsupported subcommand is an invalid parameter.
        if subcommand != sub::TOGGLE_ALWAYS_UV && subcommand != sub::SET_MIN_PIN_LENGTH {
            return Err(Status::InvalidParameter);
        }
        let protected = self.state.pin_hash.is_some() || self.state.built_in_uv;
        // Step 3: toggleAlwaysUv on a token that is not protected by user
        // verification but has alwaysUv on skips the check (so a token
        // shipped with alwaysUv on can be configured before it has a PIN).
        let bypass = subcommand == sub::TOGGLE_ALWAYS_UV && !protected && self.state.always_uv;
        // Step 4: once protected (or with alwaysUv on), a pinUvAuthToken
        // with the acfg permission must authenticate
        // 32×0xff || 0x0d || uint8(subCommand) || subCommandParams.
        if !bypass && (protected || self.state.always_uv) {
            let auth = cbor::bytes(
                params
                    .get(key::PIN_UV_AUTH_PARAM)
                    .ok_or(Status::PuatRequired)?,
            )?;
            let protocol = cbor::integer(params.required(key::PIN_UV_AUTH_PROTOCOL)?)?;
            let protocol = self
                .supported_protocol(protocol)
                .ok_or(Status::InvalidParameter)?;
            let mut message = vec![0xFF; 32];
            message.push(AUTHENTICATOR_CONFIG);
            message.push(u8::try_from(subcommand).map_err(|_| Status::InvalidParameter)?);
            if let Some(v) = params.get(key::SUB_COMMAND_PARAMS) {
                message.extend_from_slice(&cbor::encode(v)?);
            }
            if !self.token.verify(protocol, &message, auth) {
                return Err(Status::PinAuthInvalid);
            }
            if self.token.permissions & PERMISSION_ACFG == 0 {
                return Err(Status::PinAuthInvalid);
            }
            self.token.mark_used();
        }
        // Steps 5-6.
        match subcommand {
            sub::TOGGLE_ALWAYS_UV => self.toggle_always_uv(),
            _ => self.set_min_pin_length(sub_params.as_ref()),
        }
    }

    /// toggleAlwaysUv (§6.11.2). Turning it on also turns makeCredUvNotRqd
    /// off (getInfo reports it false while alwaysUv is on); turning it off
    /// gives makeCredUvNotRqd its configured value back.
    fn toggle_always_uv(&mut self) -> Result<Vec<u8>, Status> {
        if self.state.factory_always_uv.is_none() {
            self.state.factory_always_uv = Some(self.state.always_uv);
        }
        self.state.always_uv = !self.state.always_uv;
        self.persist()?;
        Ok(Vec::new())
    }

    /// setMinPINLength (§6.11.4): the minimum may only grow; forceChangePin
    /// (or a current PIN shorter than the new minimum) sets forcePINChange.
    /// The minPinLength extension is not implemented, so a list of RP IDs
    /// is refused.
    fn set_min_pin_length(&mut self, params: Option<&Params<'_>>) -> Result<Vec<u8>, Status> {
        let (new_min, rp_ids, force) = match params {
            Some(p) => (
                p.get(min_pin::NEW_MIN_PIN_LENGTH)
                    .map(cbor::integer)
                    .transpose()?,
                p.get(min_pin::MIN_PIN_LENGTH_RP_IDS)
                    .map(cbor::array)
                    .transpose()?,
                p.get(min_pin::FORCE_CHANGE_PIN)
                    .map(cbor::boolean)
                    .transpose()?,
            ),
            None => (None, None, None),
        };
        // Step 2.1: absent means the current minimum.
        let new_min = match new_min {
            Some(n) => u8::try_from(n).map_err(|_| Status::PinPolicyViolation)?,
            None => self.state.min_pin_length,
        };
        // Step 2.2.
        if rp_ids.is_some() {
            return Err(Status::InvalidParameter);
        }
        // Step 2.3: the minimum never shrinks (and a PIN has at most 63
        // bytes, so no longer minimum can be met).
        if new_min < self.state.min_pin_length || usize::from(new_min) > 63 {
            return Err(Status::PinPolicyViolation);
        }
        let pin_set = self.state.pin_hash.is_some();
        // Step 2.4.
        let mut force_pin_change = self.state.force_pin_change;
        if force == Some(true) {
            if !pin_set {
                return Err(Status::PinNotSet);
            }
            force_pin_change = true;
        }
        // Step 2.5.
        if pin_set && self.state.pin_code_points.unwrap_or(0) < new_min {
            force_pin_change = true;
        }
        // Step 2.6.
        self.state.force_pin_change = force_pin_change;
        self.state.min_pin_length = new_min;
        self.persist()?;
        Ok(Vec::new())
    }
}

/// The makeCredUvNotRqd value getInfo reports: the configured one, but
/// false while alwaysUv is on (§6.4, §6.11.2).
pub(crate) fn make_cred_uv_not_rqd(configured: bool, always_uv: bool) -> Value {
    Value::Bool(configured && !always_uv)
}
