//! The transport-independent CTAP 2.1 client: [`Ctap2Client`] drives a
//! [`Transport`] and implements [`Authenticator`] (hmac-secret enrollment
//! and derivation, probe, selection) plus the PIN management the CLI needs.
//!
//! UV policy: the UV mode of a derivation is always the caller's explicit
//! choice (it changes the hmac-secret output; the original Python
//! `tokenring`, through python-fido2 1.x, derives without UV unless the
//! token is `alwaysUv`). Enrollment uses the
//! PIN (or built-in UV) when the token has one, unless it reports
//! `makeCredUvNotRqd`; a presence-only derivation sends no pinUvAuthParam,
//! and fails with [`Error::UvRequired`] on an `alwaysUv` token. `uv: true`
//! is never sent together with a pinUvAuthParam.
//!
//! Round trips: getInfo once in [`Ctap2Client::new`], getKeyAgreement once
//! per client (again only after the authenticator rejects the shared
//! secret, and before every request that carries a PIN, so a stale secret
//! can never cost a PIN retry), then one getAssertion per presence-only
//! derivation.
//!
//! A stale shared secret (the authenticator made a new key agreement key:
//! re-plugged, or another program entered a wrong PIN) fails a derivation
//! after the touch, with PIN_AUTH_INVALID, an extension-specific code
//! (Solo 1: 0xE0) or INVALID_PARAMETER. The client then renews the key
//! agreement once and asks for one more touch, telling the user why;
//! a long-lived client (the agent) so never stays broken.

use std::cell::Cell;

use rand_core::{OsRng, RngCore};

use crate::auth_data::MAX_CREDENTIAL_ID_LEN;
use crate::client_pin::{self, permission, ClientPinRequest, ClientPinResponse};
use crate::get_assertion::{
    decrypt_extension_output, decrypt_hmac_secret_output, GetAssertionRequest,
    GetAssertionResponse, HmacSecretInput,
};
use crate::get_info::GetInfoResponse;
use crate::make_credential::{self, MakeCredentialRequest, MakeCredentialResponse};
use crate::pin_protocol::{KeyAgreement, PinUvAuthProtocol, PinUvAuthToken};
use crate::prompt::{KeepaliveStatus, NoPrompt, PinPurpose, PinRequest, Prompt};
use crate::transport::{command, Transport, TransportErrorKind};
use crate::{
    Authenticator, AuthenticatorInfo, CredentialId, DeriveRequest, EnrollOptions, Enrollment,
    Error, HmacSecretOutput, Pin, UserEntity, UvMode,
};

/// A pinUvAuthToken kept for later getAssertions on one RP ID.
struct CachedToken {
    rp_id: String,
    token: PinUvAuthToken,
    /// CTAP 2.0 pinTokens (getPinToken on an authenticator without the
    /// `pinUvAuthToken` option) stay valid until a power cycle. CTAP 2.1
    /// tokens lose their permissions after one use with user presence
    /// (§6.2.2 step 9.4: clearPinUvAuthTokenPermissionsExceptLbw), so they
    /// are not kept past that.
    survives_use: bool,
}

/// How a request verifies the user.
enum Verification {
    /// A pinUvAuthParam from this token.
    Token {
        token: PinUvAuthToken,
        survives_use: bool,
    },
    /// CTAP 2.0 built-in UV: the `uv` option, no pinUvAuthParam.
    UvOption,
}

/// A CTAP 2.1 client over any [`Transport`].
pub struct Ctap2Client<T: Transport> {
    transport: T,
    info: GetInfoResponse,
    protocol: Option<PinUvAuthProtocol>,
    key_agreement: Option<KeyAgreement>,
    ga_token: Option<CachedToken>,
}

impl<T: Transport> Ctap2Client<T> {
    /// Opens a client: one authenticatorGetInfo, cached for the life of the
    /// client, and the PIN/UV auth protocol chosen from it.
    pub fn new(transport: T) -> Result<Self, Error> {
        let mut client = Ctap2Client {
            transport,
            info: GetInfoResponse::default(),
            protocol: None,
            key_agreement: None,
            ga_token: None,
        };
        client.refresh_info()?;
        Ok(client)
    }

    /// Runs getInfo again (after reset, or when options may have changed)
    /// and forgets the key agreement and tokens.
    pub fn refresh_info(&mut self) -> Result<(), Error> {
        let body = self.exchange(command::GET_INFO, &[], &NoPrompt, None)?;
        self.info = GetInfoResponse::decode(&body)?;
        self.protocol = PinUvAuthProtocol::negotiate(&self.info.pin_uv_auth_protocols);
        self.key_agreement = None;
        self.ga_token = None;
        Ok(())
    }

    /// The cached getInfo response.
    pub fn info(&self) -> &GetInfoResponse {
        &self.info
    }

    /// The PIN/UV auth protocol in use: the first of the authenticator's
    /// that we support (`None`: no common protocol).
    pub fn protocol(&self) -> Option<PinUvAuthProtocol> {
        self.protocol
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, mutably.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Gives the transport back.
    pub fn into_transport(self) -> T {
        self.transport
    }

    /// PIN retries left (getPINRetries, §6.5.5.2).
    pub fn pin_retries(&mut self) -> Result<u8, Error> {
        let resp = self.client_pin(client_pin::get_pin_retries(self.protocol), &NoPrompt, None)?;
        Ok(resp.require_pin_retries()?)
    }

    /// Built-in UV retries left (getUVRetries, §6.5.5.8).
    pub fn uv_retries(&mut self) -> Result<u8, Error> {
        let resp = self.client_pin(client_pin::get_uv_retries(), &NoPrompt, None)?;
        Ok(resp.require_uv_retries()?)
    }

    /// Sets the first PIN (setPIN, §6.5.5.5).
    pub fn set_pin(&mut self, new_pin: &Pin) -> Result<(), Error> {
        match self.info.option("clientPin") {
            None => return Err(Error::UvUnsupported),
            Some(true) => return Err(Error::PinAlreadySet),
            Some(false) => {}
        }
        client_pin::check_new_pin(new_pin, self.info.min_pin_length)?;
        self.fresh_key_agreement()?;
        let request = client_pin::set_pin(self.agreement()?, new_pin, &mut OsRng)?;
        self.client_pin(request, &NoPrompt, None)?;
        set_option(&mut self.info, "clientPin", true);
        Ok(())
    }

    /// Changes the PIN (changePIN, §6.5.5.6). A wrong current PIN gives
    /// [`Error::PinInvalid`] with the retries left.
    pub fn change_pin(&mut self, current: &Pin, new_pin: &Pin) -> Result<(), Error> {
        match self.info.option("clientPin") {
            None => return Err(Error::UvUnsupported),
            Some(false) => return Err(Error::PinNotSet),
            Some(true) => {}
        }
        client_pin::check_new_pin(new_pin, self.info.min_pin_length)?;
        self.fresh_key_agreement()?;
        let request = client_pin::change_pin(self.agreement()?, current, new_pin, &mut OsRng)?;
        match self.client_pin(request, &NoPrompt, None) {
            Ok(_) => {
                // changePIN resets every pinUvAuthToken and clears
                // forcePINChange (§6.5.5.6).
                self.ga_token = None;
                self.info.force_pin_change = false;
                Ok(())
            }
            Err(e) => Err(self.after_pin_failure(e)),
        }
    }

    /// authenticatorReset (§6.6): destroys every credential and the PIN.
    /// Needs a touch within seconds of power-up on most authenticators.
    pub fn reset(&mut self, prompt: &dyn Prompt) -> Result<(), Error> {
        self.exchange(
            command::RESET,
            &[],
            prompt,
            Some("confirm the reset (this destroys every credential on it)"),
        )?;
        self.refresh_info()
    }

    // ----- internals -------------------------------------------------------

    /// One CTAP exchange: `touch` is the purpose shown when the user must
    /// touch (announced on the first UserPresenceNeeded keepalive, or
    /// before sending when the transport reports no keepalives). Any
    /// status other than CTAP2_OK becomes its typed error.
    fn exchange(
        &mut self,
        cmd: u8,
        payload: &[u8],
        prompt: &dyn Prompt,
        touch: Option<&str>,
    ) -> Result<Vec<u8>, Error> {
        if prompt.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let watch = TouchWatch {
            inner: prompt,
            purpose: touch.unwrap_or("confirm on the authenticator"),
            announced: Cell::new(false),
        };
        if touch.is_some() && !self.transport.reports_keepalive() {
            watch.announce();
        }
        let result = self.transport.exchange(cmd, payload, &watch);
        if watch.announced.get() {
            prompt.touch_done();
        }
        let reply = result.map_err(|e| {
            if e.kind == TransportErrorKind::Cancelled {
                Error::Cancelled
            } else {
                Error::Transport(e)
            }
        })?;
        if reply.status != u8::from(crate::Status::Ok) {
            return Err(Error::from_status(reply.status));
        }
        Ok(reply.body)
    }

    fn client_pin(
        &mut self,
        request: ClientPinRequest,
        prompt: &dyn Prompt,
        touch: Option<&str>,
    ) -> Result<ClientPinResponse, Error> {
        let body = request.encode()?;
        let reply = self.exchange(command::CLIENT_PIN, &body, prompt, touch)?;
        Ok(ClientPinResponse::decode(&reply)?)
    }

    fn require_protocol(&self) -> Result<PinUvAuthProtocol, Error> {
        self.protocol.ok_or(Error::NoCommonPinProtocol)
    }

    /// getKeyAgreement (§6.5.5.3) unless we already share a secret.
    fn ensure_key_agreement(&mut self) -> Result<(), Error> {
        if self.key_agreement.is_some() {
            return Ok(());
        }
        let protocol = self.require_protocol()?;
        let resp = self.client_pin(client_pin::get_key_agreement(protocol), &NoPrompt, None)?;
        let peer = resp.require_key_agreement()?;
        self.key_agreement = Some(KeyAgreement::encapsulate(protocol, &peer, &mut OsRng));
        Ok(())
    }

    /// A new key agreement before sending a PIN (hash): if the
    /// authenticator had regenerated its key since our last agreement
    /// (power cycle, card re-presented), the right PIN would decrypt to
    /// garbage and cost a PIN retry (§6.5.5.7.2 treats it as a mismatch).
    /// One extra round trip protects the retries counter.
    fn fresh_key_agreement(&mut self) -> Result<(), Error> {
        self.key_agreement = None;
        self.ensure_key_agreement()
    }

    fn agreement(&self) -> Result<&KeyAgreement, Error> {
        self.key_agreement
            .as_ref()
            .ok_or_else(|| Error::Internal("no key agreement".into()))
    }

    /// After a PIN operation failed: a wrong PIN makes the authenticator
    /// regenerate its key agreement key (§6.5.5.7.2 step "calls
    /// regenerate()"), so forget ours; report the retries left.
    fn after_pin_failure(&mut self, error: Error) -> Error {
        match error {
            Error::PinInvalid { .. } => {
                self.key_agreement = None;
                match self.pin_retries() {
                    Ok(0) => Error::PinBlocked,
                    Ok(n) => Error::PinInvalid { retries: Some(n) },
                    Err(_) => Error::PinInvalid { retries: None },
                }
            }
            Error::PinAuthBlocked | Error::PinBlocked => {
                self.key_agreement = None;
                error
            }
            other => other,
        }
    }

    /// Reads getInfo again and tells whether it now says forcePINChange
    /// (kept in the cached getInfo when it does).
    fn pin_change_now_required(&mut self) -> bool {
        let Ok(body) = self.exchange(command::GET_INFO, &[], &NoPrompt, None) else {
            return false;
        };
        match GetInfoResponse::decode(&body) {
            Ok(info) if info.force_pin_change => {
                self.info.force_pin_change = true;
                true
            }
            _ => false,
        }
    }

    /// One attempt at a PIN token: getPinUvAuthTokenUsingPinWithPermissions
    /// (0x09) when the authenticator has the `pinUvAuthToken` option,
    /// otherwise getPinToken (0x05).
    fn pin_token_once(
        &mut self,
        pin: &Pin,
        permissions: u8,
        rp_id: &str,
    ) -> Result<(PinUvAuthToken, bool), Error> {
        self.fresh_key_agreement()?;
        let with_permissions = self.info.has_pin_uv_auth_token();
        let request = if with_permissions {
            client_pin::get_pin_uv_auth_token_using_pin(
                self.agreement()?,
                pin,
                permissions,
                Some(rp_id),
                &mut OsRng,
            )?
        } else {
            client_pin::get_pin_token(self.agreement()?, pin, &mut OsRng)?
        };
        let resp = self.client_pin(request, &NoPrompt, None)?;
        let token = resp.decrypt_token(self.agreement()?)?;
        Ok((token, !with_permissions))
    }

    /// A PIN token, asking the prompt for the PIN (with the retries left)
    /// until it is right, the prompt declines, or the authenticator blocks.
    fn pin_token(
        &mut self,
        prompt: &dyn Prompt,
        purpose: &str,
        permissions: u8,
        rp_id: &str,
    ) -> Result<(PinUvAuthToken, bool), Error> {
        // forcePINChange: the authenticator answers the right PIN with
        // PIN_POLICY_VIOLATION (§6.5.5.7.2) or, as getPinToken and OpenSK do,
        // PIN_INVALID, which would read as a wrong PIN: so do not ask.
        if self.info.force_pin_change {
            return Err(Error::PinChangeRequired);
        }
        let mut retries = self.pin_retries()?;
        let mut previous_wrong = false;
        loop {
            if retries == 0 {
                return Err(Error::PinBlocked);
            }
            let request = PinRequest {
                purpose,
                kind: PinPurpose::Verify,
                retries: Some(retries),
                previous_wrong,
            };
            let Some(pin) = prompt.pin(&request) else {
                return Err(if previous_wrong {
                    Error::PinInvalid {
                        retries: Some(retries),
                    }
                } else {
                    Error::PinRequired
                });
            };
            match self.pin_token_once(&pin, permissions, rp_id) {
                Ok(token) => return Ok(token),
                // The PIN change may have been required since getInfo was
                // read: before reporting a wrong PIN, look again.
                Err(Error::PinPolicyViolation | Error::PinInvalid { .. })
                    if self.pin_change_now_required() =>
                {
                    self.key_agreement = None;
                    return Err(Error::PinChangeRequired);
                }
                Err(e) => match self.after_pin_failure(e) {
                    Error::PinInvalid { retries: Some(n) } => {
                        retries = n;
                        previous_wrong = true;
                    }
                    other => return Err(other),
                },
            }
        }
    }

    /// A token from built-in UV (getPinUvAuthTokenUsingUvWithPermissions,
    /// §6.5.5.7.3); the authenticator asks for the fingerprint itself.
    fn uv_token(
        &mut self,
        prompt: &dyn Prompt,
        purpose: &str,
        permissions: u8,
        rp_id: &str,
    ) -> Result<PinUvAuthToken, Error> {
        self.ensure_key_agreement()?;
        let request =
            client_pin::get_pin_uv_auth_token_using_uv(self.agreement()?, permissions, Some(rp_id));
        match self.client_pin(request, prompt, Some(purpose)) {
            Ok(resp) => Ok(resp.decrypt_token(self.agreement()?)?),
            Err(Error::UvInvalid { .. }) => Err(Error::UvInvalid {
                retries: self.uv_retries().ok(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Verifies the user for `permissions` on `rp_id`: built-in UV when
    /// configured (the PIN as fallback), otherwise the PIN.
    fn verify_user(
        &mut self,
        prompt: &dyn Prompt,
        purpose: &str,
        permissions: u8,
        rp_id: &str,
    ) -> Result<Verification, Error> {
        let built_in = self.info.option("uv") == Some(true);
        let client_pin = self.info.option("clientPin");
        // With noMcGaPermissionsWithClientPin a token from the PIN cannot
        // carry mc or ga (§6.5.5.7.2: UNAUTHORIZED_PERMISSION), so the PIN
        // is no way to verify the user for what TokenRing asks.
        let pin_grants_mc_ga = !self.info.no_mc_ga_with_client_pin();
        if built_in && self.info.has_pin_uv_auth_token() {
            match self.uv_token(prompt, purpose, permissions, rp_id) {
                Ok(token) => {
                    return Ok(Verification::Token {
                        token,
                        survives_use: false,
                    })
                }
                Err(Error::UvInvalid { .. } | Error::UvBlocked)
                    if client_pin == Some(true) && pin_grants_mc_ga =>
                {
                    prompt.info("built-in user verification failed; using the PIN instead");
                }
                Err(e) => return Err(e),
            }
        } else if built_in {
            return Ok(Verification::UvOption);
        }
        if client_pin == Some(true) && !pin_grants_mc_ga {
            return Err(Error::BuiltInUvRequired);
        }
        match client_pin {
            Some(true) => {
                let (token, survives_use) = self.pin_token(prompt, purpose, permissions, rp_id)?;
                Ok(Verification::Token {
                    token,
                    survives_use,
                })
            }
            Some(false) => Err(Error::PinNotSet),
            None => Err(Error::UvUnsupported),
        }
    }

    /// The ga token for `rp_id`: the cached one when still usable, else a
    /// fresh one.
    fn ga_verification(
        &mut self,
        prompt: &dyn Prompt,
        purpose: &str,
        rp_id: &str,
    ) -> Result<Verification, Error> {
        if let Some(cached) = self.ga_token.take() {
            if cached.rp_id == rp_id {
                return Ok(Verification::Token {
                    token: cached.token,
                    survives_use: cached.survives_use,
                });
            }
        }
        self.verify_user(prompt, purpose, permission::GET_ASSERTION, rp_id)
    }

    fn client_data_hash(&mut self) -> [u8; 32] {
        let mut hash = [0u8; 32];
        OsRng.fill_bytes(&mut hash);
        hash
    }

    fn derive_once(
        &mut self,
        request: &DeriveRequest<'_>,
        prompt: &dyn Prompt,
    ) -> Result<HmacSecretOutput, Error> {
        let verification = match request.uv {
            UvMode::PresenceOnly => None,
            UvMode::Verified => {
                Some(self.ga_verification(prompt, request.purpose, request.rp_id)?)
            }
        };
        self.ensure_key_agreement()?;
        let client_data_hash = self.client_data_hash();
        let input = HmacSecretInput::new(self.agreement()?, &request.salts, &mut OsRng)?;
        let (pin_uv_auth, uv_option) = match &verification {
            Some(Verification::Token { token, .. }) => (
                Some((token.authenticate(&client_data_hash), token.protocol())),
                false,
            ),
            Some(Verification::UvOption) => (None, true),
            None => (None, false),
        };
        let allow = [request.credential.as_bytes()];
        let body = GetAssertionRequest {
            rp_id: request.rp_id,
            client_data_hash,
            allow_list: &allow,
            hmac_secret: Some(&input),
            up: None,
            uv: uv_option,
            pin_uv_auth,
        }
        .encode()?;
        let reply = self.exchange(command::GET_ASSERTION, &body, prompt, Some(request.purpose))?;
        if let Some(Verification::Token {
            token,
            survives_use: true,
        }) = verification
        {
            self.ga_token = Some(CachedToken {
                rp_id: request.rp_id.to_string(),
                token,
                survives_use: true,
            });
        }
        let response = GetAssertionResponse::decode(&reply)?;
        check_credential(&response, request.credential)?;
        let ad = &response.auth_data;
        ad.check_rp_id(request.rp_id)?;
        if !ad.user_present() {
            return Err(Error::MalformedResponse(
                "the assertion does not report the touch that was asked for (UP flag clear)".into(),
            ));
        }
        match (request.uv, ad.user_verified()) {
            (UvMode::Verified, false) => {
                return Err(Error::MalformedResponse(
                    "the authenticator did not verify the user although asked to (UV flag clear)"
                        .into(),
                ))
            }
            (UvMode::PresenceOnly, true) => {
                // The output would come from the with-UV CredRandom, which
                // is not the secret a presence-only vault was made with.
                return Err(Error::MalformedResponse(
                    "the authenticator verified the user although only a touch was asked for (UV flag set); its hmac-secret output would not match"
                        .into(),
                ));
            }
            _ => {}
        }
        Ok(decrypt_hmac_secret_output(
            self.agreement()?,
            ad,
            input.salt_count(),
        )?)
    }
}

/// Whether an hmac-secret getAssertion failure may come from a shared
/// secret the authenticator no longer has. A saltAuth made with a stale
/// secret does not verify, and authenticators say so differently:
/// CTAP2_ERR_PIN_AUTH_INVALID (CTAP 2.1 §12.5; OpenSK, fido-authenticator),
/// CTAP2_ERR_EXTENSION_FIRST and the rest of the extension range (Solo 1's
/// CTAP 2.0 firmware, and the solokeys fido2-tests expect 0xE0),
/// CTAP1_ERR_INVALID_PARAMETER (OpenSK for a saltAuth it cannot use).
fn stale_secret_explains(error: &Error) -> bool {
    let extension_range =
        u8::from(crate::Status::ExtensionFirst)..=u8::from(crate::Status::ExtensionLast);
    match error {
        Error::PinAuthInvalid => true,
        Error::InvalidRequest {
            status: crate::Status::InvalidParameter,
        } => true,
        other => other.status().is_some_and(|s| extension_range.contains(&s)),
    }
}

fn check_credential(response: &GetAssertionResponse, sent: &CredentialId) -> Result<(), Error> {
    match &response.credential_id {
        Some(id) if id.as_slice() != sent.as_bytes() => Err(Error::MalformedResponse(
            "the assertion names another credential than the one asked for".into(),
        )),
        _ => Ok(()),
    }
}

fn check_credential_id(credential: &CredentialId) -> Result<(), Error> {
    let len = credential.as_bytes().len();
    if len == 0 || len > MAX_CREDENTIAL_ID_LEN {
        return Err(Error::InvalidCredential);
    }
    Ok(())
}

fn set_option(info: &mut GetInfoResponse, name: &str, value: bool) {
    match info.options.iter_mut().find(|(n, _)| n == name) {
        Some((_, v)) => *v = value,
        None => info.options.push((name.to_string(), value)),
    }
}

impl<T: Transport> Authenticator for Ctap2Client<T> {
    fn describe(&mut self) -> Result<AuthenticatorInfo, Error> {
        Ok(self.info.to_authenticator_info(&self.transport.info()))
    }

    fn enroll(
        &mut self,
        rp_id: &str,
        user: &UserEntity,
        prompt: &dyn Prompt,
    ) -> Result<CredentialId, Error> {
        Ok(self
            .enroll_with(rp_id, user, &EnrollOptions::default(), prompt)?
            .credential)
    }

    fn enroll_with(
        &mut self,
        rp_id: &str,
        user: &UserEntity,
        options: &EnrollOptions,
        prompt: &dyn Prompt,
    ) -> Result<Enrollment, Error> {
        if !self.info.has_hmac_secret() {
            return Err(Error::HmacSecretUnsupported);
        }
        let has_cred_protect = self.info.extensions.iter().any(|e| e == "credProtect");
        if options.cred_protect.is_some() && !has_cred_protect && options.enforce_cred_protect {
            return Err(Error::UnsupportedExtension);
        }
        let cred_protect = options.cred_protect.filter(|_| has_cred_protect);
        let purpose = format!("register this authenticator for {rp_id}");
        let always_uv = self.info.option_true("alwaysUv");
        let has_uv_method =
            self.info.option("clientPin") == Some(true) || self.info.option("uv") == Some(true);
        let needs_uv = always_uv
            || (has_uv_method
                && (options.require_uv || !self.info.option_true("makeCredUvNotRqd")));
        if options.require_uv && !has_uv_method {
            return Err(if self.info.option("clientPin") == Some(false) {
                Error::PinNotSet
            } else {
                Error::UvUnsupported
            });
        }
        let verification = if needs_uv {
            Some(self.verify_user(prompt, &purpose, permission::MAKE_CREDENTIAL, rp_id)?)
        } else {
            None
        };
        // hmac-secret-mc (CTAP 2.2 §12.8): the salts travel like
        // getAssertion's hmac-secret input, under the shared secret.
        let mc_input = match options.hmac_secret_mc {
            Some(salts) if self.info.extensions.iter().any(|e| e == "hmac-secret-mc") => {
                self.ensure_key_agreement()?;
                Some(HmacSecretInput::new(self.agreement()?, &salts, &mut OsRng)?)
            }
            _ => None,
        };
        let client_data_hash = self.client_data_hash();
        let (pin_uv_auth, uv) = match &verification {
            Some(Verification::Token { token, .. }) => (
                Some((token.authenticate(&client_data_hash), token.protocol())),
                false,
            ),
            Some(Verification::UvOption) => (None, true),
            None => (None, false),
        };
        let body = MakeCredentialRequest {
            client_data_hash,
            rp_id,
            user,
            hmac_secret: true,
            cred_protect,
            hmac_secret_mc: mc_input.as_ref(),
            rk: false,
            uv,
            pin_uv_auth,
        }
        .encode()?;
        let reply = self.exchange(command::MAKE_CREDENTIAL, &body, prompt, Some(&purpose))?;
        let response = MakeCredentialResponse::decode(&reply)?;
        let ad = &response.auth_data;
        ad.check_rp_id(rp_id)?;
        if !ad.user_present() {
            return Err(Error::MalformedResponse(
                "the new credential does not report the touch (UP flag clear)".into(),
            ));
        }
        if verification.is_some() && !ad.user_verified() {
            return Err(Error::MalformedResponse(
                "the authenticator did not verify the user although asked to (UV flag clear)"
                    .into(),
            ));
        }
        if ad.extension("hmac-secret") != Some(&ciborium::Value::Bool(true)) {
            return Err(Error::HmacSecretUnsupported);
        }
        let reported_protect = match ad.extension("credProtect") {
            None => None,
            Some(value) => {
                let level = value
                    .as_integer()
                    .and_then(|n| u8::try_from(n).ok())
                    .filter(|n| (1..=3).contains(n))
                    .ok_or_else(|| {
                        Error::MalformedResponse(
                            "the credProtect output is not a level from 1 to 3".into(),
                        )
                    })?;
                Some(level)
            }
        };
        if options.enforce_cred_protect {
            if let Some(wanted) = options.cred_protect {
                if reported_protect.unwrap_or(1) < wanted {
                    return Err(Error::UnsupportedExtension);
                }
            }
        }
        let attested = ad.attested_credential.as_ref().ok_or_else(|| {
            Error::MalformedResponse("makeCredential returned no attested credential data".into())
        })?;
        let hmac_output = match &mc_input {
            Some(input) if ad.extension("hmac-secret-mc").is_some() => {
                Some(decrypt_extension_output(
                    self.agreement()?,
                    ad,
                    "hmac-secret-mc",
                    input.salt_count(),
                )?)
            }
            _ => None,
        };
        Ok(Enrollment {
            credential: CredentialId(attested.credential_id.clone()),
            aaguid: attested.aaguid,
            cred_protect: reported_protect,
            user_verified: ad.user_verified(),
            hmac_output,
        })
    }

    fn derive(
        &mut self,
        request: &DeriveRequest<'_>,
        prompt: &dyn Prompt,
    ) -> Result<HmacSecretOutput, Error> {
        if !self.info.has_hmac_secret() {
            return Err(Error::HmacSecretUnsupported);
        }
        check_credential_id(request.credential)?;
        if request.uv == UvMode::PresenceOnly && self.info.option_true("alwaysUv") {
            return Err(Error::UvRequired);
        }
        match self.derive_once(request, prompt) {
            // The authenticator no longer accepts our shared secret (it was
            // power-cycled, re-plugged, or regenerated its key after another
            // program's wrong PIN) or our token: renew both once. The
            // authenticator checks the hmac-secret input only after the
            // touch, so the user touches once more, and is told why.
            Err(e) if stale_secret_explains(&e) => {
                self.key_agreement = None;
                self.ga_token = None;
                prompt.info(
                    "The authenticator no longer accepted this session's shared secret \
                     (it was unplugged, or another program entered a wrong PIN); \
                     renewed it: touch the authenticator once more",
                );
                self.derive_once(request, prompt)
            }
            other => other,
        }
    }

    fn probe(&mut self, credential: &CredentialId, rp_id: &str) -> Result<bool, Error> {
        check_credential_id(credential)?;
        let allow = [credential.as_bytes()];
        let body = GetAssertionRequest {
            rp_id,
            client_data_hash: self.client_data_hash(),
            allow_list: &allow,
            hmac_secret: None,
            up: Some(false),
            uv: false,
            pin_uv_auth: None,
        }
        .encode()?;
        match self.exchange(command::GET_ASSERTION, &body, &NoPrompt, None) {
            Ok(reply) => {
                let response = GetAssertionResponse::decode(&reply)?;
                check_credential(&response, credential)?;
                response.auth_data.check_rp_id(rp_id)?;
                Ok(true)
            }
            // NO_CREDENTIALS is what §6.2.2 prescribes; some CTAP 2.0
            // authenticators answer INVALID_CREDENTIAL for a foreign id.
            Err(Error::NoCredentials | Error::InvalidCredential) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn select(&mut self, prompt: &dyn Prompt) -> Result<(), Error> {
        let purpose = "choose this authenticator";
        if self.info.is_ctap21() {
            self.exchange(command::SELECTION, &[], prompt, Some(purpose))?;
            return Ok(());
        }
        // CTAP 2.0: a makeCredential with a zero-length pinUvAuthParam
        // blinks and waits for a touch, then answers PIN_NOT_SET or
        // PIN_INVALID (§6.1.2 step 1.1).
        let body = make_credential::selection_probe()?;
        match self.exchange(command::MAKE_CREDENTIAL, &body, prompt, Some(purpose)) {
            Ok(_) | Err(Error::PinInvalid { .. } | Error::PinNotSet | Error::PinAuthInvalid) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn pin_retries(&mut self) -> Result<Option<u8>, Error> {
        if self.info.option_true("clientPin") {
            Ok(Some(Ctap2Client::pin_retries(self)?))
        } else {
            Ok(None)
        }
    }

    fn set_pin(&mut self, new_pin: &Pin) -> Result<(), Error> {
        Ctap2Client::set_pin(self, new_pin)
    }

    fn change_pin(&mut self, current: &Pin, new_pin: &Pin) -> Result<(), Error> {
        Ctap2Client::change_pin(self, current, new_pin)
    }
}

/// Wraps the caller's prompt during one exchange: announces the touch on
/// the first UserPresenceNeeded keepalive.
struct TouchWatch<'a> {
    inner: &'a dyn Prompt,
    purpose: &'a str,
    announced: Cell<bool>,
}

impl TouchWatch<'_> {
    fn announce(&self) {
        if !self.announced.replace(true) {
            self.inner.touch_needed(self.purpose);
        }
    }
}

impl Prompt for TouchWatch<'_> {
    fn touch_needed(&self, _purpose: &str) {
        self.announce();
    }
    fn touch_done(&self) {}
    fn pin(&self, request: &PinRequest<'_>) -> Option<Pin> {
        self.inner.pin(request)
    }
    fn keepalive(&self, status: KeepaliveStatus) {
        if status == KeepaliveStatus::UserPresenceNeeded {
            self.announce();
        }
        self.inner.keepalive(status);
    }
    fn info(&self, message: &str) {
        self.inner.info(message);
    }
    fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The agent moves an open client to another thread.
    #[test]
    fn client_is_send_when_its_transport_is() {
        fn assert_send<S: Send>() {}
        assert_send::<Ctap2Client<crate::testing::CountingTransport<Box<dyn Transport + Send>>>>();
    }
}
