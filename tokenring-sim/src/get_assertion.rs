//! authenticatorGetAssertion (CTAP 2.1 §6.2.2) with hmac-secret (§12.5).

use ciborium::Value;
use hmac::{Hmac, Mac};
use p256::ecdsa::{signature::Signer, Signature};
use sha2::Sha256;
use zeroize::Zeroizing;

use tokenring_core::Status;

use crate::cbor::{self, Params};
use crate::credential::{rp_id_hash, Credential};
use crate::pin_protocol::PinProtocol;
use crate::pin_token::PERMISSION_GA;
use crate::request::{descriptor_ids, Options, FLAG_ED, FLAG_UP, FLAG_UV};
use crate::{DeviceContext, Simulator};

mod key {
    pub const RP_ID: i64 = 0x01;
    pub const CLIENT_DATA_HASH: i64 = 0x02;
    pub const ALLOW_LIST: i64 = 0x03;
    pub const EXTENSIONS: i64 = 0x04;
    pub const OPTIONS: i64 = 0x05;
    pub const PIN_UV_AUTH_PARAM: i64 = 0x06;
    pub const PIN_UV_AUTH_PROTOCOL: i64 = 0x07;
}

/// hmac-secret input keys (§12.5).
mod hmac_key {
    pub const KEY_AGREEMENT: i64 = 0x01;
    pub const SALT_ENC: i64 = 0x02;
    pub const SALT_AUTH: i64 = 0x03;
    pub const PROTOCOL: i64 = 0x04;
}

impl Simulator {
    pub(crate) fn get_assertion(
        &mut self,
        payload: &[u8],
        ctx: &mut dyn DeviceContext,
    ) -> Result<Vec<u8>, Status> {
        let entries = cbor::decode_map(payload)?;
        let params = Params::new(&entries)?;
        let rp_id = cbor::text(params.required(key::RP_ID)?)?;
        let client_data_hash = cbor::bytes(params.required(key::CLIENT_DATA_HASH)?)?;
        let allow = descriptor_ids(params.get(key::ALLOW_LIST))?;
        let hmac_input = match params.get(key::EXTENSIONS) {
            Some(ext) => cbor::map(ext)?.get_text("hmac-secret"),
            None => None,
        };
        let options = Options::parse(params.get(key::OPTIONS))?;

        // Steps 1-2.
        let auth = self.pin_uv_auth(
            &params,
            key::PIN_UV_AUTH_PARAM,
            key::PIN_UV_AUTH_PROTOCOL,
            ctx,
        )?;

        // Step 4: options. rk is not a getAssertion option; uv=true needs
        // built-in UV (treated as false with a pinUvAuthParam).
        if options.rk.is_some() {
            return Err(Status::UnsupportedOption);
        }
        let up = options.up.unwrap_or(true);
        let mut uv_option = auth.is_none() && options.uv == Some(true);
        if uv_option && !self.state.built_in_uv {
            return Err(self.profile().uv_without_built_in_uv);
        }

        // Step 5: alwaysUv (only when up is requested).
        if self.state.always_uv && up && auth.is_none() && !uv_option {
            if self.state.built_in_uv {
                uv_option = true;
            } else {
                return Err(Status::PuatRequired);
            }
        }

        // Step 6: user verification. Like OpenSK, a pinUvAuthParam is
        // verified even when no PIN is set (no token is then in use, so it
        // fails with PIN_AUTH_INVALID rather than being ignored).
        let mut uv = false;
        if let Some(auth) = &auth {
            self.verify_token_use(auth, client_data_hash, PERMISSION_GA, rp_id)?;
            uv = true;
        }

        // Step 7: locate the credential (before any touch: a wrong token
        // answers NO_CREDENTIALS at once).
        // credProtect (§12.1): a level-3 credential is seen only with user
        // verification, a level-2 one without UV only through the allowList.
        let user_verified = uv || uv_option;
        let credential = allow
            .iter()
            .filter_map(|id| self.find_credential(rp_id, id))
            .find(|c| c.visible(user_verified, true))
            .ok_or(Status::NoCredentials)?;

        // hmac-secret needs user presence (§12.5; CTAP 2.0 §9.1 "requires
        // user consent"): with up=false it is refused as an unsupported
        // option, after the credential lookup so a probe for a foreign
        // credential still answers NO_CREDENTIALS.
        if hmac_input.is_some() && !up {
            return Err(Status::UnsupportedOption);
        }

        // Step 6.2/8: built-in UV (a touch per the policy) also gives presence.
        let mut up_flag = false;
        if uv_option {
            self.wait_for_presence(ctx)?;
            uv = true;
            up_flag = true;
        }

        // Step 9: user presence.
        if up {
            let present = up_flag || (auth.is_some() && self.token.user_present());
            if !present {
                self.wait_for_presence(ctx)?;
            }
            up_flag = true;
            self.token.clear_after_presence();
        }

        // Step 10: extensions.
        let mut flags = 0u8;
        if up_flag {
            flags |= FLAG_UP;
        }
        if uv {
            flags |= FLAG_UV;
        }
        let mut extensions = Vec::new();
        if let Some(input) = hmac_input {
            if let Some(output) = self.hmac_secret(input, &credential, uv)? {
                extensions.push((cbor::txt("hmac-secret"), Value::Bytes(output)));
            }
        }

        // Step 12-13: sign authData || clientDataHash.
        let sign_count = self.next_sign_count()?;
        let mut auth_data = Vec::with_capacity(128);
        auth_data.extend_from_slice(&rp_id_hash(rp_id));
        if !extensions.is_empty() {
            flags |= FLAG_ED;
        }
        auth_data.push(flags);
        auth_data.extend_from_slice(&sign_count.to_be_bytes());
        if !extensions.is_empty() {
            auth_data.extend_from_slice(&cbor::encode(&Value::Map(extensions))?);
        }
        let mut message = auth_data.clone();
        message.extend_from_slice(client_data_hash);
        let signature: Signature = credential.signing_key.sign(&message);
        cbor::encode(&Value::Map(vec![
            (
                cbor::int(0x01),
                Value::Map(vec![
                    (cbor::txt("id"), cbor::byt(&credential.id)),
                    (cbor::txt("type"), cbor::txt("public-key")),
                ]),
            ),
            (cbor::int(0x02), Value::Bytes(auth_data)),
            (cbor::int(0x03), cbor::byt(signature.to_der().as_bytes())),
        ]))
    }

    /// hmac-secret (§12.5): verify saltAuth, decrypt one or two salts,
    /// output `encrypt(shared, HMAC-SHA-256(CredRandom, salt1) [|| …salt2])`
    /// with the CredRandom for UV or no UV. `None` when the credential was
    /// made without hmac-secret.
    pub(crate) fn hmac_secret(
        &mut self,
        input: &Value,
        credential: &Credential,
        uv: bool,
    ) -> Result<Option<Vec<u8>>, Status> {
        let input = cbor::map(input)?;
        let key_agreement = input.required(hmac_key::KEY_AGREEMENT)?;
        let salt_enc = cbor::bytes(input.required(hmac_key::SALT_ENC)?)?;
        let salt_auth = cbor::bytes(input.required(hmac_key::SALT_AUTH)?)?;
        // §12.5: "If pinUvAuthProtocol is absent and a pinUvAuthProtocol
        // value of 1 is not supported by the authenticator, then return
        // CTAP2_ERR_PIN_AUTH_INVALID"; absent means one otherwise. A value
        // the token does not support is an invalid parameter.
        // CTAP 2.0 knows keys 1-3 only: key 4 is ignored there.
        let protocol_key = input
            .get(hmac_key::PROTOCOL)
            .filter(|_| self.profile().hmac_secret_protocol_key);
        let protocol = match protocol_key {
            Some(v) => self
                .supported_protocol(cbor::integer(v)?)
                .ok_or(Status::InvalidParameter)?,
            None => self.supported_protocol(1).ok_or(Status::PinAuthInvalid)?,
        };
        if !credential.hmac_secret {
            return Ok(None);
        }
        let shared = self.key_agreement[protocol.index()].decapsulate(protocol, key_agreement)?;
        // §12.5: a saltAuth that does not verify is PIN_AUTH_INVALID (as
        // OpenSK and fido-authenticator answer), unless configured to answer
        // like Solo 1's CTAP 2.0 firmware (EXTENSION_FIRST, which the
        // solokeys fido2-tests expect); salts that do not decrypt, or not to
        // 32 or 64 bytes, are CTAP1_ERR_INVALID_PARAMETER.
        if !protocol.verify(&shared, salt_enc, salt_auth) {
            return Err(
                Status::try_from(self.state.bad_salt_auth_status).unwrap_or(Status::PinAuthInvalid)
            );
        }
        // (CTAP 2.0 firmware answered INVALID_LENGTH.)
        let bad_length = self.profile().bad_salt_length;
        let salts = protocol.decrypt(&shared, salt_enc).ok_or(bad_length)?;
        if salts.len() != 32 && salts.len() != 64 {
            return Err(bad_length);
        }
        let cred_random = if uv {
            &credential.cred_random_uv
        } else {
            &credential.cred_random
        };
        let mut outputs = Zeroizing::new(Vec::with_capacity(64));
        for salt in salts.chunks(32) {
            let mut mac = Hmac::<Sha256>::new_from_slice(cred_random.as_slice())
                .map_err(|_| Status::Other)?;
            mac.update(salt);
            outputs.extend_from_slice(&mac.finalize().into_bytes());
        }
        encrypt_outputs(protocol, &shared, &outputs, &mut self.rng).map(Some)
    }
}

fn encrypt_outputs(
    protocol: PinProtocol,
    shared: &[u8],
    outputs: &[u8],
    rng: &mut rand_chacha::ChaCha20Rng,
) -> Result<Vec<u8>, Status> {
    protocol.encrypt(shared, outputs, rng)
}
