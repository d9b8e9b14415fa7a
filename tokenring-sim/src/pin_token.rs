//! The pinUvAuthToken and its state (CTAP 2.1 §6.5.2.1 / §6.5.5.7
//! "pinUvAuthToken state"): permissions, permissions RP ID, user present
//! and user verified flags, and the usage timer.

use std::time::Duration;

use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::pin_protocol::PinProtocol;

/// Permission: makeCredential (§6.5.5.7 mc).
pub(crate) const PERMISSION_MC: u8 = 0x01;
/// Permission: getAssertion (ga).
pub(crate) const PERMISSION_GA: u8 = 0x02;
/// Permission: largeBlobWrite (lbw).
pub(crate) const PERMISSION_LBW: u8 = 0x10;
/// Permission: authenticatorConfig (acfg).
pub(crate) const PERMISSION_ACFG: u8 = 0x20;

/// Unused tokens expire after this (§6.5.5.7: initial usage time limit,
/// 30 s recommended for USB).
pub(crate) const INITIAL_USAGE_TIME_LIMIT: Duration = Duration::from_secs(30);
/// The user present flag lasts this long (userPresentTimeLimit).
pub(crate) const USER_PRESENT_TIME_LIMIT: Duration = Duration::from_secs(30);
/// Tokens expire after this in any case (maxUsageTimePeriod, 10 min).
pub(crate) const MAX_USAGE_TIME_PERIOD: Duration = Duration::from_secs(600);

/// The pinUvAuthToken (one, shared by both protocols; the protocol it was
/// handed out under is remembered and required for its use).
pub(crate) struct PinUvAuthToken {
    value: Zeroizing<[u8; 32]>,
    /// How many bytes of `value` the token is: 32, or 16 (CTAP 2.0).
    len: usize,
    /// A CTAP 2.0 pinToken (from a personality without pinUvAuthToken):
    /// no usage timer, no RP ID binding, not spent by use; it lasts until
    /// power-off, a PIN change or a new token.
    pub(crate) lasting: bool,
    pub(crate) protocol: Option<PinProtocol>,
    pub(crate) in_use: bool,
    pub(crate) permissions: u8,
    pub(crate) rp_id: Option<String>,
    user_present: bool,
    user_verified: bool,
    started: Duration,
    used: bool,
}

impl PinUvAuthToken {
    pub(crate) fn new(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut value = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(value.as_mut_slice());
        PinUvAuthToken {
            value,
            len: 32,
            lasting: false,
            protocol: None,
            in_use: false,
            permissions: 0,
            rp_id: None,
            user_present: false,
            user_verified: false,
            started: Duration::ZERO,
            used: false,
        }
    }

    /// resetPinUvAuthToken(): a new random value, not in use.
    pub(crate) fn reset(&mut self, rng: &mut (impl RngCore + CryptoRng)) {
        *self = PinUvAuthToken::new(rng);
    }

    /// The token bytes (to encrypt for the platform).
    pub(crate) fn value(&self) -> &[u8] {
        self.value.get(..self.len).unwrap_or(self.value.as_slice())
    }

    /// Sets the token's length (16 or 32 bytes) and whether it is a
    /// lasting CTAP 2.0 pinToken, before it is handed out.
    pub(crate) fn set_kind(&mut self, len: usize, lasting: bool) {
        self.len = len.clamp(16, 32);
        self.lasting = lasting;
    }

    /// beginUsingPinUvAuthToken(userIsPresent).
    pub(crate) fn begin_using(
        &mut self,
        protocol: PinProtocol,
        user_is_present: bool,
        permissions: u8,
        rp_id: Option<String>,
        now: Duration,
    ) {
        self.protocol = Some(protocol);
        self.in_use = true;
        self.user_present = user_is_present;
        self.user_verified = true;
        self.permissions = permissions;
        self.rp_id = rp_id;
        self.started = now;
        self.used = false;
    }

    /// stopUsingPinUvAuthToken().
    pub(crate) fn stop_using(&mut self) {
        self.in_use = false;
        self.protocol = None;
        self.permissions = 0;
        self.rp_id = None;
        self.user_present = false;
        self.user_verified = false;
        self.used = false;
    }

    /// The usage timer (§6.5.5.7 pinUvAuthTokenUsageTimer observer).
    pub(crate) fn check_timers(&mut self, now: Duration) {
        if !self.in_use || self.lasting {
            return;
        }
        let elapsed = now.saturating_sub(self.started);
        if (!self.used && elapsed > INITIAL_USAGE_TIME_LIMIT) || elapsed > MAX_USAGE_TIME_PERIOD {
            self.stop_using();
            return;
        }
        if elapsed > USER_PRESENT_TIME_LIMIT {
            self.user_present = false;
        }
    }

    /// Verifies `param` = authenticate(token, message) under `protocol`;
    /// the token must be in use and handed out under that protocol.
    pub(crate) fn verify(&self, protocol: PinProtocol, message: &[u8], param: &[u8]) -> bool {
        self.in_use
            && self.protocol == Some(protocol)
            && protocol.verify(self.value(), message, param)
    }

    /// Marks the token used (starts its rolling usage period).
    pub(crate) fn mark_used(&mut self) {
        self.used = true;
    }

    /// getUserPresentFlagValue().
    pub(crate) fn user_present(&self) -> bool {
        self.in_use && self.user_present
    }

    /// getUserVerifiedFlagValue().
    pub(crate) fn user_verified(&self) -> bool {
        self.in_use && self.user_verified
    }

    /// clearUserPresentFlag(), clearUserVerifiedFlag() and
    /// clearPinUvAuthTokenPermissionsExceptLbw().
    pub(crate) fn clear_after_presence(&mut self) {
        if self.in_use && !self.lasting {
            self.user_present = false;
            self.user_verified = false;
            self.permissions &= PERMISSION_LBW;
        }
    }
}
