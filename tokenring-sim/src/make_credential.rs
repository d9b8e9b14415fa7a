//! authenticatorMakeCredential (CTAP 2.1 §6.1.2).

use ciborium::Value;
use p256::ecdsa::{signature::Signer, Signature, SigningKey};
use p256::SecretKey;
use rand_chacha::rand_core::RngCore;
use zeroize::Zeroizing;

use tokenring_core::Status;

use crate::cbor::{self, Params};
use crate::config::AttestationMode;
use crate::credential::{rp_id_hash, WrapKeys};
use crate::pin_protocol::cose_ec2;
use crate::pin_token::PERMISSION_MC;
use crate::request::{descriptor_ids, Options, FLAG_AT, FLAG_ED, FLAG_UP, FLAG_UV};
use crate::{DeviceContext, Simulator};

/// COSE algorithm ES256.
const ES256: i128 = -7;

mod key {
    pub const CLIENT_DATA_HASH: i64 = 0x01;
    pub const RP: i64 = 0x02;
    pub const USER: i64 = 0x03;
    pub const PUB_KEY_CRED_PARAMS: i64 = 0x04;
    pub const EXCLUDE_LIST: i64 = 0x05;
    pub const EXTENSIONS: i64 = 0x06;
    pub const OPTIONS: i64 = 0x07;
    pub const PIN_UV_AUTH_PARAM: i64 = 0x08;
    pub const PIN_UV_AUTH_PROTOCOL: i64 = 0x09;
    pub const ENTERPRISE_ATTESTATION: i64 = 0x0A;
}

impl Simulator {
    /// Whether getInfo lists the extension `name` (the personality's
    /// recording decides; the simulator's own lists all it implements).
    fn offers_extension(&self, name: &str) -> bool {
        let Ok(info) = self.get_info() else {
            return false;
        };
        let Ok(Value::Map(entries)) = ciborium::de::from_reader::<Value, _>(info.as_slice()) else {
            return false;
        };
        entries.iter().any(|(k, v)| {
            *k == Value::Integer(2.into())
                && v.as_array()
                    .is_some_and(|a| a.iter().any(|e| e.as_text() == Some(name)))
        })
    }

    pub(crate) fn make_credential(
        &mut self,
        payload: &[u8],
        ctx: &mut dyn DeviceContext,
    ) -> Result<Vec<u8>, Status> {
        let entries = cbor::decode_map(payload)?;
        let params = Params::new(&entries)?;
        // Required parameters and their types.
        let client_data_hash = cbor::bytes(params.required(key::CLIENT_DATA_HASH)?)?;
        let rp = cbor::map(params.required(key::RP)?)?;
        let rp_id = cbor::text(rp.get_text("id").ok_or(Status::MissingParameter)?)?;
        let user = cbor::map(params.required(key::USER)?)?;
        cbor::bytes(user.get_text("id").ok_or(Status::MissingParameter)?)?;
        for field in ["name", "displayName"] {
            if let Some(v) = user.get_text(field) {
                cbor::text(v)?;
            }
        }
        let cred_params = cbor::array(params.required(key::PUB_KEY_CRED_PARAMS)?)?;
        let exclude = descriptor_ids(params.get(key::EXCLUDE_LIST))?;
        let mut hmac_secret_requested = false;
        let mut cred_protect = 0u8;
        let mut hmac_secret_mc = None;
        if let Some(ext) = params.get(key::EXTENSIONS) {
            let ext = cbor::map(ext)?;
            if let Some(v) = ext.get_text("hmac-secret") {
                hmac_secret_requested = cbor::boolean(v)?;
            }
            // credProtect (CTAP 2.1 §12.1): 1 userVerificationOptional,
            // 2 userVerificationOptionalWithCredentialIDList,
            // 3 userVerificationRequired.
            if let Some(v) = ext
                .get_text("credProtect")
                .filter(|_| self.offers_extension("credProtect"))
            {
                cred_protect = u8::try_from(cbor::integer(v)?)
                    .ok()
                    .filter(|n| (1..=3).contains(n))
                    .ok_or(Status::InvalidParameter)?;
            }
            // hmac-secret-mc (CTAP 2.2 §12.8), when this personality has it.
            if self.offers_extension("hmac-secret-mc") {
                hmac_secret_mc = ext.get_text("hmac-secret-mc");
            }
        }
        let options = Options::parse(params.get(key::OPTIONS))?;

        // Steps 1-2: pinUvAuthParam (zero length → PIN_NOT_SET/PIN_INVALID
        // after a touch), pinUvAuthProtocol.
        let auth = self.pin_uv_auth(
            &params,
            key::PIN_UV_AUTH_PARAM,
            key::PIN_UV_AUTH_PROTOCOL,
            ctx,
        )?;

        // Step 3: pubKeyCredParams; ES256 is the only algorithm.
        let mut es256 = false;
        for p in cred_params {
            let p = cbor::map(p)?;
            let alg = cbor::integer(p.get_text("alg").ok_or(Status::MissingParameter)?)?;
            let kind = cbor::text(p.get_text("type").ok_or(Status::MissingParameter)?)?;
            if kind == "public-key" && alg == ES256 {
                es256 = true;
            }
        }
        if !es256 {
            return Err(Status::UnsupportedAlgorithm);
        }

        // Step 5: options. Discoverable credentials are not supported
        // (getInfo says rk: false) → UNSUPPORTED_OPTION; up=false is
        // invalid here; uv=true needs built-in UV (ignored with a
        // pinUvAuthParam).
        if options.rk == Some(true) {
            return Err(Status::UnsupportedOption);
        }
        if options.up == Some(false) {
            return Err(Status::InvalidOption);
        }
        let mut uv_option = auth.is_none() && options.uv == Some(true);
        if uv_option && !self.state.built_in_uv {
            return Err(self.profile().uv_without_built_in_uv);
        }

        // Step 7: enterprise attestation is not supported.
        if params.get(key::ENTERPRISE_ATTESTATION).is_some() {
            return Err(Status::InvalidParameter);
        }

        let protected = self.state.pin_hash.is_some() || self.state.built_in_uv;
        // Step 6: alwaysUv. Without any UV configured the client must set a
        // PIN first (PUAT_REQUIRED, clientPin being supported); with
        // built-in UV the request is treated as uv=true.
        if self.state.always_uv && auth.is_none() && !uv_option {
            if self.state.built_in_uv {
                uv_option = true;
            } else {
                return Err(Status::PuatRequired);
            }
        }
        // Step 8-10: when protected and neither pinUvAuthParam nor uv is
        // given, proceed only with makeCredUvNotRqd (non-discoverable);
        // otherwise PUAT_REQUIRED (CTAP 2.0 name: PIN_REQUIRED).
        if protected
            && auth.is_none()
            && !uv_option
            && (!self.state.make_cred_uv_not_rqd || self.state.always_uv)
        {
            return Err(Status::PuatRequired);
        }

        // Step 11: user verification.
        let mut uv = false;
        if let Some(auth) = &auth {
            // Like OpenSK, a pinUvAuthParam is verified even when no PIN is
            // set (there is then no token in use, so it fails).
            self.verify_token_use(auth, client_data_hash, PERMISSION_MC, rp_id)?;
            uv = true;
        } else if uv_option {
            // Built-in UV: the simulated sensor is a touch per the policy,
            // which also gives user presence (§6.1.2 step 13).
            self.wait_for_presence(ctx)?;
            uv = true;
        }
        let up_from_uv = uv_option;

        // Step 12: excludeList: a touch, then CREDENTIAL_EXCLUDED.
        let keys = WrapKeys::new(&self.state.master_secret);
        let rp_hash = rp_id_hash(rp_id);
        let excluded = exclude.iter().any(|id| {
            keys.unwrap(&rp_hash, id).is_some()
                || self
                    .state
                    .credentials
                    .iter()
                    .any(|c| c.rp_id == rp_id && c.credential_id.as_slice() == *id)
        });
        if excluded {
            self.wait_for_presence(ctx)?;
            return Err(Status::CredentialExcluded);
        }

        // Step 14: user presence (unless the token's UP flag or built-in
        // UV provided it), then the flags are cleared.
        let present = up_from_uv || (auth.is_some() && self.token.user_present());
        if !present {
            self.wait_for_presence(ctx)?;
        }
        self.token.clear_after_presence();

        // Step 16-17: the credential.
        let private_key = SecretKey::random(&mut self.rng);
        let mut cred_random = Zeroizing::new([0u8; 32]);
        let mut cred_random_uv = Zeroizing::new([0u8; 32]);
        self.rng.fill_bytes(cred_random.as_mut_slice());
        self.rng.fill_bytes(cred_random_uv.as_mut_slice());
        // The id must fit the maxCredentialIdLength getInfo announces.
        let credential_id = if self.profile().max_credential_id_length
            < crate::credential::LONG_CREDENTIAL_ID_LEN
        {
            keys.wrap_short(&rp_hash, &private_key, hmac_secret_requested, cred_protect)
        } else {
            keys.wrap(
                &rp_hash,
                &private_key,
                &cred_random,
                &cred_random_uv,
                hmac_secret_requested,
                cred_protect,
            )
        }
        .ok_or(Status::Other)?;
        let credential_id_len = u16::try_from(credential_id.len()).map_err(|_| Status::Other)?;
        let sign_count = self.next_sign_count()?;

        let mut flags = FLAG_UP | FLAG_AT;
        if uv {
            flags |= FLAG_UV;
        }
        // Extension outputs, keys in canonical order (shorter first, then
        // bytewise): credProtect, hmac-secret, hmac-secret-mc.
        let mut outputs = Vec::new();
        if cred_protect != 0 {
            outputs.push((cbor::txt("credProtect"), cbor::int(i64::from(cred_protect))));
        }
        if hmac_secret_requested {
            outputs.push((cbor::txt("hmac-secret"), Value::Bool(true)));
            // hmac-secret-mc is processed only beside hmac-secret: true; the
            // outputs come from the CredRandom of this request's UV state,
            // as a getAssertion's would.
            if let Some(input) = hmac_secret_mc {
                // The credential as an assertion will see it (a short id
                // derives its CredRandoms from the id).
                let credential = keys.unwrap(&rp_hash, &credential_id).ok_or(Status::Other)?;
                if let Some(output) = self.hmac_secret(input, &credential, uv)? {
                    outputs.push((cbor::txt("hmac-secret-mc"), Value::Bytes(output)));
                }
            }
        }
        let extensions = if outputs.is_empty() {
            None
        } else {
            flags |= FLAG_ED;
            Some(cbor::encode(&Value::Map(outputs))?)
        };
        let public_key = cbor::encode(&cose_ec2(&private_key.public_key(), -7))?;
        let mut auth_data = Vec::with_capacity(256);
        auth_data.extend_from_slice(&rp_hash);
        auth_data.push(flags);
        auth_data.extend_from_slice(&sign_count.to_be_bytes());
        auth_data.extend_from_slice(&self.state.aaguid);
        auth_data.extend_from_slice(&credential_id_len.to_be_bytes());
        auth_data.extend_from_slice(&credential_id);
        auth_data.extend_from_slice(&public_key);
        if let Some(ext) = extensions {
            auth_data.extend_from_slice(&ext);
        }

        // Step 19: attestation.
        let (fmt, att_stmt) = match self.state.attestation {
            AttestationMode::None => ("none", Value::Map(Vec::new())),
            AttestationMode::Packed => {
                // Self attestation: signed by the credential key itself
                // (WebAuthn §8.2 packed, no x5c).
                let signing = SigningKey::from(&private_key);
                let mut message = auth_data.clone();
                message.extend_from_slice(client_data_hash);
                let sig: Signature = signing.sign(&message);
                (
                    "packed",
                    Value::Map(vec![
                        (cbor::txt("alg"), cbor::int(-7)),
                        (cbor::txt("sig"), cbor::byt(sig.to_der().as_bytes())),
                    ]),
                )
            }
        };
        cbor::encode(&Value::Map(vec![
            (cbor::int(0x01), cbor::txt(fmt)),
            (cbor::int(0x02), Value::Bytes(auth_data)),
            (cbor::int(0x03), att_stmt),
        ]))
    }
}
