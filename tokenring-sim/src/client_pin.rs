//! authenticatorClientPIN (CTAP 2.1 §6.5.5).

use ciborium::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use tokenring_core::Status;

use crate::cbor::{self, Params};
use crate::pin_protocol::PinProtocol;
use crate::pin_token::{PERMISSION_ACFG, PERMISSION_GA, PERMISSION_MC};
use crate::state::MAX_PIN_RETRIES;
use crate::{DeviceContext, Simulator};

/// Maximum PIN length in bytes (§6.5.1).
pub(crate) const MAX_PIN_BYTES: usize = 63;
/// Consecutive wrong PINs that block PIN use until a power cycle (§6.5.5.7.2).
pub(crate) const MAX_CONSECUTIVE_PIN_MISMATCHES: u8 = 3;

/// The PIN policy (§6.5.1): at least `min_code_points` Unicode code points
/// of UTF-8 (the current minimum PIN length, 4 unless setMinPINLength
/// raised it), at most [`MAX_PIN_BYTES`] bytes.
pub(crate) fn meets_pin_policy(pin: &[u8], min_code_points: u8) -> bool {
    pin.len() <= MAX_PIN_BYTES
        && std::str::from_utf8(pin)
            .is_ok_and(|text| text.chars().count() >= usize::from(min_code_points))
}

/// Subcommands (§6.5.5 table).
mod sub {
    pub const GET_PIN_RETRIES: i128 = 0x01;
    pub const GET_KEY_AGREEMENT: i128 = 0x02;
    pub const SET_PIN: i128 = 0x03;
    pub const CHANGE_PIN: i128 = 0x04;
    pub const GET_PIN_TOKEN: i128 = 0x05;
    pub const GET_TOKEN_USING_UV: i128 = 0x06;
    pub const GET_UV_RETRIES: i128 = 0x07;
    pub const GET_TOKEN_USING_PIN: i128 = 0x09;
}

/// Request parameter keys.
mod key {
    pub const PROTOCOL: i64 = 0x01;
    pub const SUBCOMMAND: i64 = 0x02;
    pub const KEY_AGREEMENT: i64 = 0x03;
    pub const PIN_UV_AUTH_PARAM: i64 = 0x04;
    pub const NEW_PIN_ENC: i64 = 0x05;
    pub const PIN_HASH_ENC: i64 = 0x06;
    pub const PERMISSIONS: i64 = 0x09;
    pub const RP_ID: i64 = 0x0A;
}

/// `LEFT(SHA-256(pin), 16)`, what the authenticator stores (§6.5.5.5).
pub(crate) fn pin_hash(pin: &[u8]) -> [u8; 16] {
    let digest = Sha256::digest(pin);
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

impl Simulator {
    pub(crate) fn client_pin(
        &mut self,
        payload: &[u8],
        ctx: &mut dyn DeviceContext,
    ) -> Result<Vec<u8>, Status> {
        let entries = cbor::decode_map(payload)?;
        let params = Params::new(&entries)?;
        let subcommand = cbor::integer(params.required(key::SUBCOMMAND)?)?;
        // pinUvAuthProtocol is required by every subcommand but the two
        // that only read counters.
        let protocol = match params.get(key::PROTOCOL) {
            Some(v) => Some(
                self.supported_protocol(cbor::integer(v)?)
                    .ok_or(Status::InvalidParameter)?,
            ),
            None => None,
        };
        let body = match subcommand {
            sub::GET_PIN_RETRIES => vec![
                (
                    cbor::int(0x03),
                    cbor::int(i64::from(self.state.pin_retries)),
                ),
                (
                    cbor::int(0x04),
                    Value::Bool(self.consecutive_pin_mismatches >= MAX_CONSECUTIVE_PIN_MISMATCHES),
                ),
            ],
            sub::GET_KEY_AGREEMENT => {
                let p = protocol.ok_or(Status::MissingParameter)?;
                vec![(
                    cbor::int(0x01),
                    self.key_agreement[p.index()].cose_public_key(),
                )]
            }
            sub::SET_PIN => {
                self.set_pin(&params, protocol.ok_or(Status::MissingParameter)?)?;
                Vec::new()
            }
            sub::CHANGE_PIN => {
                self.change_pin(&params, protocol.ok_or(Status::MissingParameter)?)?;
                Vec::new()
            }
            sub::GET_PIN_TOKEN => {
                let p = protocol.ok_or(Status::MissingParameter)?;
                // §6.5.5.7.1 steps 3-4: permissions and rpId are not allowed
                // here (CTAP 2.0 knows neither key and ignores them).
                if self.profile().permissions
                    && (params.get(key::PERMISSIONS).is_some() || params.get(key::RP_ID).is_some())
                {
                    return Err(Status::InvalidParameter);
                }
                // §6.5.5.7.1 step 14: the default permissions only without
                // noMcGaPermissionsWithClientPin.
                let permissions = if self.state.no_mc_ga_permissions_with_client_pin {
                    0
                } else {
                    PERMISSION_MC | PERMISSION_GA
                };
                let token = self.get_token_using_pin(
                    &params,
                    p,
                    permissions,
                    None,
                    // §6.5.5.7.1 step 11.
                    Status::PinInvalid,
                )?;
                vec![(cbor::int(0x02), Value::Bytes(token))]
            }
            // Without pinUvAuthToken (CTAP 2.0, FIDO_2_1_PRE) these
            // subcommands do not exist.
            sub::GET_TOKEN_USING_PIN | sub::GET_TOKEN_USING_UV | sub::GET_UV_RETRIES
                if !self.profile().permissions =>
            {
                return Err(self.profile().unknown_subcommand)
            }
            sub::GET_TOKEN_USING_PIN => {
                let p = protocol.ok_or(Status::MissingParameter)?;
                let (permissions, rp_id) = self.token_permissions(&params, false)?;
                // §6.5.5.7.2 step 4: mc and ga are refused, before the PIN
                // is looked at, under noMcGaPermissionsWithClientPin.
                if self.state.no_mc_ga_permissions_with_client_pin
                    && permissions & (PERMISSION_MC | PERMISSION_GA) != 0
                {
                    return Err(Status::UnauthorizedPermission);
                }
                let token = self.get_token_using_pin(
                    &params,
                    p,
                    permissions,
                    rp_id,
                    // §6.5.5.7.2 step 11.
                    Status::PinPolicyViolation,
                )?;
                vec![(cbor::int(0x02), Value::Bytes(token))]
            }
            sub::GET_TOKEN_USING_UV => {
                if !self.state.built_in_uv {
                    return Err(Status::InvalidSubcommand);
                }
                let p = protocol.ok_or(Status::MissingParameter)?;
                let (permissions, rp_id) = self.token_permissions(&params, true)?;
                let token = self.get_token_using_uv(&params, p, permissions, rp_id, ctx)?;
                vec![(cbor::int(0x02), Value::Bytes(token))]
            }
            sub::GET_UV_RETRIES => {
                if !self.state.built_in_uv {
                    return Err(Status::InvalidSubcommand);
                }
                // The simulated built-in UV never fails, so it never loses retries.
                vec![(cbor::int(0x05), cbor::int(i64::from(MAX_PIN_RETRIES)))]
            }
            _ => return Err(self.profile().unknown_subcommand),
        };
        if body.is_empty() {
            return Ok(Vec::new());
        }
        cbor::encode(&Value::Map(body))
    }

    /// setPIN (§6.5.5.5).
    fn set_pin(&mut self, params: &Params<'_>, protocol: PinProtocol) -> Result<(), Status> {
        // Steps 1-2 (mandatory parameters, protocol) came first.
        let key_agreement = params.required(key::KEY_AGREEMENT)?;
        let new_pin_enc = cbor::bytes(params.required(key::NEW_PIN_ENC)?)?;
        let auth = cbor::bytes(params.required(key::PIN_UV_AUTH_PARAM)?)?;
        // Step 3: "If a PIN has already been set, authenticator returns
        // CTAP2_ERR_PIN_AUTH_INVALID error." (CTAP 2.0 firmware answered
        // NOT_ALLOWED; so does the CTAP 2.0 personality.)
        if self.state.pin_hash.is_some() {
            return Err(self.profile().set_pin_when_set);
        }
        let shared = self.key_agreement[protocol.index()].decapsulate(protocol, key_agreement)?;
        if !protocol.verify(&shared, new_pin_enc, auth) {
            return Err(Status::PinAuthInvalid);
        }
        let new_pin = decrypt_new_pin(protocol, &shared, new_pin_enc, self.state.min_pin_length)?;
        self.state.pin_hash = Some(pin_hash(&new_pin));
        self.state.pin_code_points = Some(code_points(&new_pin));
        self.state.pin_retries = MAX_PIN_RETRIES;
        self.persist()
    }

    /// changePIN (§6.5.5.6).
    fn change_pin(&mut self, params: &Params<'_>, protocol: PinProtocol) -> Result<(), Status> {
        let key_agreement = params.required(key::KEY_AGREEMENT)?;
        let pin_hash_enc = cbor::bytes(params.required(key::PIN_HASH_ENC)?)?;
        let new_pin_enc = cbor::bytes(params.required(key::NEW_PIN_ENC)?)?;
        let auth = cbor::bytes(params.required(key::PIN_UV_AUTH_PARAM)?)?;
        if self.state.pin_hash.is_none() {
            return Err(Status::PinNotSet);
        }
        if self.state.pin_retries == 0 {
            return Err(Status::PinBlocked);
        }
        if self.consecutive_pin_mismatches >= MAX_CONSECUTIVE_PIN_MISMATCHES {
            return Err(Status::PinAuthBlocked);
        }
        let shared = self.key_agreement[protocol.index()].decapsulate(protocol, key_agreement)?;
        let mut message = new_pin_enc.to_vec();
        message.extend_from_slice(pin_hash_enc);
        if !protocol.verify(&shared, &message, auth) {
            return Err(Status::PinAuthInvalid);
        }
        self.check_pin_hash_enc(protocol, &shared, pin_hash_enc)?;
        let new_pin = decrypt_new_pin(protocol, &shared, new_pin_enc, self.state.min_pin_length)?;
        let new_hash = pin_hash(&new_pin);
        // Step 13: a forced change must change the PIN.
        if self.state.force_pin_change
            && self
                .state
                .pin_hash
                .is_some_and(|old| bool::from(old.as_slice().ct_eq(new_hash.as_slice())))
        {
            return Err(Status::PinPolicyViolation);
        }
        self.state.pin_hash = Some(new_hash);
        self.state.pin_code_points = Some(code_points(&new_pin));
        // Step 16.
        self.state.force_pin_change = false;
        // Step 19: all pinUvAuthTokens are invalidated.
        self.token.reset(&mut self.rng);
        self.persist()
    }

    /// The shared part of changePIN and the getPinToken variants
    /// (§6.5.5.6 steps 8-10, §6.5.5.7.2): decrement the retries (persisted
    /// before the comparison), compare, and on a mismatch regenerate the key
    /// agreement key and answer PIN_INVALID / PIN_AUTH_BLOCKED / PIN_BLOCKED.
    fn check_pin_hash_enc(
        &mut self,
        protocol: PinProtocol,
        shared: &[u8],
        pin_hash_enc: &[u8],
    ) -> Result<(), Status> {
        let expected_len = match protocol {
            PinProtocol::One => 16,
            PinProtocol::Two => 32,
        };
        if pin_hash_enc.len() != expected_len {
            return Err(Status::InvalidParameter);
        }
        self.state.pin_retries = self.state.pin_retries.saturating_sub(1);
        self.persist()?;
        let given = protocol
            .decrypt(shared, pin_hash_enc)
            .ok_or(Status::PinAuthInvalid)?;
        let stored = self.state.pin_hash.ok_or(Status::PinNotSet)?;
        if !bool::from(given.as_slice().ct_eq(&stored)) {
            self.regenerate_key_agreement();
            self.consecutive_pin_mismatches = self.consecutive_pin_mismatches.saturating_add(1);
            if self.state.pin_retries == 0 {
                return Err(Status::PinBlocked);
            }
            if self.consecutive_pin_mismatches >= MAX_CONSECUTIVE_PIN_MISMATCHES {
                return Err(Status::PinAuthBlocked);
            }
            return Err(Status::PinInvalid);
        }
        self.state.pin_retries = MAX_PIN_RETRIES;
        self.consecutive_pin_mismatches = 0;
        self.persist()
    }

    /// getPinToken (§6.5.5.7.1) and getPinUvAuthTokenUsingPinWithPermissions
    /// (§6.5.5.7.2). While forcePINChange is set, the right PIN still
    /// restores the retries but gives no token: `forced_change` is the
    /// answer then (step 11 of each: PIN_INVALID for getPinToken,
    /// PIN_POLICY_VIOLATION for the permissions variant).
    fn get_token_using_pin(
        &mut self,
        params: &Params<'_>,
        protocol: PinProtocol,
        permissions: u8,
        rp_id: Option<String>,
        forced_change: Status,
    ) -> Result<Vec<u8>, Status> {
        let key_agreement = params.required(key::KEY_AGREEMENT)?;
        let pin_hash_enc = cbor::bytes(params.required(key::PIN_HASH_ENC)?)?;
        if self.state.pin_hash.is_none() {
            return Err(Status::PinNotSet);
        }
        if self.state.pin_retries == 0 {
            return Err(Status::PinBlocked);
        }
        if self.consecutive_pin_mismatches >= MAX_CONSECUTIVE_PIN_MISMATCHES {
            return Err(Status::PinAuthBlocked);
        }
        let shared = self.key_agreement[protocol.index()].decapsulate(protocol, key_agreement)?;
        self.check_pin_hash_enc(protocol, &shared, pin_hash_enc)?;
        if self.state.force_pin_change {
            return Err(forced_change);
        }
        self.token.reset(&mut self.rng);
        let profile = self.profile();
        // A CTAP 2.0 pinToken: 16 bytes on that firmware, good for any
        // makeCredential and getAssertion until power-off.
        self.token.set_kind(profile.token_len, !profile.permissions);
        self.token
            .begin_using(protocol, false, permissions, rp_id, self.clock.now());
        protocol.encrypt(&shared, self.token.value(), &mut self.rng)
    }

    /// getPinUvAuthTokenUsingUvWithPermissions (§6.5.5.7.3): the simulated
    /// built-in UV is a touch answered by the presence policy.
    fn get_token_using_uv(
        &mut self,
        params: &Params<'_>,
        protocol: PinProtocol,
        permissions: u8,
        rp_id: Option<String>,
        ctx: &mut dyn DeviceContext,
    ) -> Result<Vec<u8>, Status> {
        let key_agreement = params.required(key::KEY_AGREEMENT)?;
        let shared = self.key_agreement[protocol.index()].decapsulate(protocol, key_agreement)?;
        self.wait_for_presence(ctx)?;
        self.token.reset(&mut self.rng);
        self.token
            .begin_using(protocol, true, permissions, rp_id, self.clock.now());
        protocol.encrypt(&shared, self.token.value(), &mut self.rng)
    }
}

impl Simulator {
    /// permissions and rpId of the WithPermissions subcommands (§6.5.5.7.2
    /// and §6.5.5.7.3, steps 3-4): zero → INVALID_PARAMETER; a permission
    /// for a feature the token lacks → UNAUTHORIZED_PERMISSION. acfg needs
    /// authnrCfg (and, through built-in UV, uvAcfg, which the simulator
    /// does not announce).
    ///
    /// mc and ga without an rpId are granted: the steps require no rpId,
    /// and such a token takes the RP ID of its first use (§6.1.2 step
    /// 11.1.2, §6.2.2 step 6.1.6), as fido-authenticator does.
    fn token_permissions(
        &self,
        params: &Params<'_>,
        via_uv: bool,
    ) -> Result<(u8, Option<String>), Status> {
        let permissions = cbor::integer(params.required(key::PERMISSIONS)?)?;
        if permissions == 0 {
            return Err(Status::InvalidParameter);
        }
        let permissions = u8::try_from(permissions).map_err(|_| Status::UnauthorizedPermission)?;
        let mut grantable = PERMISSION_MC | PERMISSION_GA;
        if self.profile().authnr_cfg && !via_uv {
            grantable |= PERMISSION_ACFG;
        }
        if permissions & !grantable != 0 {
            return Err(Status::UnauthorizedPermission);
        }
        let rp_id = match params.get(key::RP_ID) {
            Some(v) => Some(cbor::text(v)?.to_string()),
            None => None,
        };
        Ok((permissions, rp_id))
    }
}

/// Decrypts newPinEnc and applies the PIN policy (§6.5.5.5 steps 6-10):
/// 64 bytes padded (else INVALID_PARAMETER), trailing zeros dropped, at
/// least `min_code_points` code points and at most 63 bytes (else
/// PIN_POLICY_VIOLATION).
fn decrypt_new_pin(
    protocol: PinProtocol,
    shared: &[u8],
    new_pin_enc: &[u8],
    min_code_points: u8,
) -> Result<Zeroizing<Vec<u8>>, Status> {
    let padded = protocol
        .decrypt(shared, new_pin_enc)
        .ok_or(Status::PinAuthInvalid)?;
    if padded.len() != 64 {
        return Err(Status::InvalidParameter);
    }
    let len = padded
        .iter()
        .rposition(|b| *b != 0)
        .map(|i| i + 1)
        .unwrap_or(0);
    let pin = Zeroizing::new(padded.get(..len).unwrap_or_default().to_vec());
    if !meets_pin_policy(&pin, min_code_points) {
        return Err(Status::PinPolicyViolation);
    }
    Ok(pin)
}

fn code_points(pin: &[u8]) -> u8 {
    let n = std::str::from_utf8(pin)
        .map(|s| s.chars().count())
        .unwrap_or(0);
    u8::try_from(n).unwrap_or(u8::MAX)
}
