//! How a simulator is set up: seed, getInfo options, protocols, presence
//! policy and clock.

use std::time::Duration;

use tokenring_core::Status;
use zeroize::Zeroizing;

use crate::personality::Personality;

/// The AAGUID the simulator announces unless told otherwise
/// ("tokenring-sim" in ASCII, padded with zeros).
pub(crate) const DEFAULT_AAGUID: [u8; 16] = *b"tokenring-sim\0\0\0";

/// The maxMsgSize the simulator announces unless told otherwise (the
/// CTAPHID limit of 7609 bytes would allow more; 1200 is what many tokens
/// such as the YubiKey 5 announce).
pub(crate) const DEFAULT_MAX_MSG_SIZE: usize = 1200;

/// How long the simulator waits for a touch before it gives up
/// (CTAP 2.1 §6.1.2 step 12 / §6.2.2: "user action timeout", 30 s is the
/// value the spec suggests and widely used tokens use).
pub(crate) const USER_PRESENCE_TIMEOUT: Duration = Duration::from_secs(30);

/// How often keepalives are sent while the simulator waits (CTAP 2.1
/// §11.2.9.1.7 CTAPHID_KEEPALIVE: at least every 100 ms).
pub(crate) const KEEPALIVE_INTERVAL: Duration = Duration::from_millis(100);

/// How the user answers one request for presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceAnswer {
    /// Touches at once.
    Approve,
    /// Refuses (CTAP2_ERR_OPERATION_DENIED).
    Deny,
    /// Never touches: the wait runs out after 30 s
    /// (CTAP2_ERR_USER_ACTION_TIMEOUT).
    TimeOut,
    /// Touches after this long (on the simulator's clock); longer than the
    /// timeout means a time-out.
    ApproveAfter(Duration),
}

/// How user presence requests are answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresencePolicy {
    /// Every request gets the same answer.
    Always(PresenceAnswer),
    /// Each request takes the next answer; once the script is used up,
    /// nobody touches any more (time-out).
    Scripted(Vec<PresenceAnswer>),
}

impl PresencePolicy {
    /// Touch at once, always.
    pub fn approve() -> Self {
        PresencePolicy::Always(PresenceAnswer::Approve)
    }
    /// Refuse, always.
    pub fn deny() -> Self {
        PresencePolicy::Always(PresenceAnswer::Deny)
    }
    /// Never touch.
    pub fn time_out() -> Self {
        PresencePolicy::Always(PresenceAnswer::TimeOut)
    }
    /// Touch after `delay`, always.
    pub fn approve_after(delay: Duration) -> Self {
        PresencePolicy::Always(PresenceAnswer::ApproveAfter(delay))
    }

    /// Whether some answer waits (`ApproveAfter`), so that the simulator
    /// should run on the real clock for a cancel to be able to arrive.
    pub fn waits(&self) -> bool {
        let answers = match self {
            PresencePolicy::Always(one) => std::slice::from_ref(one),
            PresencePolicy::Scripted(all) => all.as_slice(),
        };
        answers
            .iter()
            .any(|a| matches!(a, PresenceAnswer::ApproveAfter(_)))
    }
}

/// The text of a presence policy is not `approve`, `deny`, `timeout` or
/// `delay:MILLIS`, or a comma-separated list of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPresence(pub String);

impl std::fmt::Display for BadPresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} is not approve, deny, timeout or delay:MILLIS",
            self.0
        )
    }
}

impl std::error::Error for BadPresence {}

impl std::str::FromStr for PresencePolicy {
    type Err = BadPresence;

    /// `approve`, `deny`, `timeout`, `delay:MILLIS`, or a comma-separated
    /// script of those (one answer per presence request).
    fn from_str(text: &str) -> Result<Self, BadPresence> {
        let answers = text
            .split(',')
            .map(|word| match word.trim() {
                "approve" => Ok(PresenceAnswer::Approve),
                "deny" => Ok(PresenceAnswer::Deny),
                "timeout" => Ok(PresenceAnswer::TimeOut),
                other => other
                    .strip_prefix("delay:")
                    .and_then(|ms| ms.parse::<u64>().ok())
                    .map(|ms| PresenceAnswer::ApproveAfter(Duration::from_millis(ms)))
                    .ok_or_else(|| BadPresence(other.to_string())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(match answers.as_slice() {
            [one] => PresencePolicy::Always(*one),
            _ => PresencePolicy::Scripted(answers),
        })
    }
}

impl Default for PresencePolicy {
    fn default() -> Self {
        Self::approve()
    }
}

/// The simulator's notion of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockMode {
    /// Waits advance a virtual clock instantly (keepalive each 100 virtual ms).
    #[default]
    Virtual,
    /// Waits really sleep, in steps of at most 100 ms, so another thread can
    /// deliver a cancel while the simulator waits.
    Real,
}

/// Which attestation makeCredential returns (CTAP 2.1 §6.1.2 step 19,
/// WebAuthn §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttestationMode {
    /// `fmt: "none"`, empty attStmt.
    #[default]
    None,
    /// `fmt: "packed"` self attestation (signed by the credential key).
    Packed,
}

/// How to build a [`crate::Simulator`].
///
/// Fields are public; start from [`SimConfig::default`] and override, or
/// use the builder methods.
#[derive(Clone)]
pub struct SimConfig {
    /// Seed for every key, id and nonce (reproducible runs).
    pub seed: u64,
    /// The AAGUID announced by getInfo and in attested credential data.
    pub aaguid: [u8; 16],
    /// PIN/UV auth protocols, in order of preference: `[2, 1]` or `[1]`.
    pub pin_uv_auth_protocols: Vec<u8>,
    /// getInfo `alwaysUv`: every makeCredential/getAssertion needs UV.
    pub always_uv: bool,
    /// getInfo `makeCredUvNotRqd`: makeCredential of a non-discoverable
    /// credential may proceed without UV even when a PIN is set.
    pub make_cred_uv_not_rqd: bool,
    /// A built-in user verification method (like a fingerprint) is present
    /// and enrolled: getInfo `uv: true`, and `uv: true` in requests
    /// verifies the user (always successfully).
    pub built_in_uv: bool,
    /// CTAP 2.2's `hmac-secret-mc` (hmac-secret outputs at makeCredential)
    /// is offered (default); off, the simulator is a CTAP 2.1 token.
    pub hmac_secret_mc: bool,
    /// The attestation makeCredential returns.
    pub attestation: AttestationMode,
    /// How presence requests are answered.
    pub presence: PresencePolicy,
    /// Virtual or real time.
    pub clock: ClockMode,
    /// maxMsgSize announced in getInfo; larger requests get
    /// CTAP2_ERR_REQUEST_TOO_LARGE.
    pub max_msg_size: usize,
    /// A PIN set at creation (`None`: no PIN).
    pub pin: Option<Zeroizing<String>>,
    /// What getAssertion answers when the hmac-secret saltAuth does not
    /// verify, which is what a stale shared secret looks like to the
    /// authenticator (its key agreement key changed since the platform's
    /// getKeyAgreement). CTAP 2.1 authenticators (OpenSK,
    /// fido-authenticator) answer CTAP2_ERR_PIN_AUTH_INVALID, the default;
    /// Solo 1's CTAP 2.0 firmware answers CTAP2_ERR_EXTENSION_FIRST (0xE0),
    /// and the solokeys fido2-tests expect that.
    pub bad_salt_auth_status: Status,
    /// getInfo forcePINChange (0x0C): the PIN must be changed before it
    /// gives a pinUvAuthToken (getPinToken answers PIN_INVALID,
    /// getPinUvAuthTokenUsingPinWithPermissions PIN_POLICY_VIOLATION, both
    /// after checking the PIN; §6.5.5.7.1, §6.5.5.7.2); changePIN to
    /// another PIN clears it (§6.5.5.6).
    pub force_pin_change: bool,
    /// The getInfo option noMcGaPermissionsWithClientPin: tokens from the
    /// PIN carry neither mc nor ga (getPinUvAuthTokenUsingPinWithPermissions
    /// refuses them with UNAUTHORIZED_PERMISSION, getPinToken's token lacks
    /// them; §6.5.5.7.1, §6.5.5.7.2); built-in UV still grants them.
    pub no_mc_ga_permissions_with_client_pin: bool,
    /// The real product to pretend to be (getInfo and behaviour). Its
    /// recording fixes the AAGUID, the PIN/UV auth protocols, maxMsgSize,
    /// built-in UV, makeCredUvNotRqd and alwaysUv as made, and what the
    /// product lacks stays off (forcePINChange without authenticatorConfig,
    /// noMcGaPermissionsWithClientPin without pinUvAuthToken):
    /// [`SimConfig::personality`] sets them, and [`crate::Simulator::new`]
    /// and [`crate::Simulator::create`] take them from the personality
    /// whatever this configuration says.
    pub personality: Personality,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("seed", &self.seed)
            .field("aaguid", &hex::encode(self.aaguid))
            .field("pin_uv_auth_protocols", &self.pin_uv_auth_protocols)
            .field("always_uv", &self.always_uv)
            .field("make_cred_uv_not_rqd", &self.make_cred_uv_not_rqd)
            .field("built_in_uv", &self.built_in_uv)
            .field("hmac_secret_mc", &self.hmac_secret_mc)
            .field("attestation", &self.attestation)
            .field("presence", &self.presence)
            .field("clock", &self.clock)
            .field("max_msg_size", &self.max_msg_size)
            .field("pin", &self.pin.as_ref().map(|_| "<set>"))
            .field("bad_salt_auth_status", &self.bad_salt_auth_status)
            .field("force_pin_change", &self.force_pin_change)
            .field(
                "no_mc_ga_permissions_with_client_pin",
                &self.no_mc_ga_permissions_with_client_pin,
            )
            .field("personality", &self.personality)
            .finish()
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            aaguid: DEFAULT_AAGUID,
            pin_uv_auth_protocols: vec![2, 1],
            always_uv: false,
            make_cred_uv_not_rqd: false,
            built_in_uv: false,
            hmac_secret_mc: true,
            attestation: AttestationMode::None,
            presence: PresencePolicy::default(),
            clock: ClockMode::Virtual,
            max_msg_size: DEFAULT_MAX_MSG_SIZE,
            pin: None,
            bad_salt_auth_status: Status::PinAuthInvalid,
            force_pin_change: false,
            no_mc_ga_permissions_with_client_pin: false,
            personality: Personality::TokenringSim,
        }
    }
}

impl SimConfig {
    /// The default configuration with this seed.
    pub fn with_seed(seed: u64) -> Self {
        SimConfig {
            seed,
            ..Self::default()
        }
    }
    /// Sets a PIN at creation.
    pub fn pin(mut self, pin: &str) -> Self {
        self.pin = Some(Zeroizing::new(pin.to_string()));
        self
    }
    /// Sets the presence policy.
    pub fn presence(mut self, policy: PresencePolicy) -> Self {
        self.presence = policy;
        self
    }
    /// Sets the clock.
    pub fn clock(mut self, clock: ClockMode) -> Self {
        self.clock = clock;
        self
    }
    /// Sets the PIN/UV auth protocols (`[2, 1]` or `[1]`).
    pub fn protocols(mut self, protocols: &[u8]) -> Self {
        self.pin_uv_auth_protocols = protocols.to_vec();
        self
    }
    /// Sets `alwaysUv`.
    pub fn always_uv(mut self, on: bool) -> Self {
        self.always_uv = on;
        self
    }
    /// Sets `makeCredUvNotRqd`.
    pub fn make_cred_uv_not_rqd(mut self, on: bool) -> Self {
        self.make_cred_uv_not_rqd = on;
        self
    }
    /// Sets built-in UV.
    pub fn built_in_uv(mut self, on: bool) -> Self {
        self.built_in_uv = on;
        self
    }
    /// Offers CTAP 2.2's `hmac-secret-mc` (on by default) or not.
    pub fn hmac_secret_mc(mut self, on: bool) -> Self {
        self.hmac_secret_mc = on;
        self
    }
    /// Sets the attestation mode.
    pub fn attestation(mut self, mode: AttestationMode) -> Self {
        self.attestation = mode;
        self
    }
    /// Sets the answer to a saltAuth that does not verify
    /// ([`SimConfig::bad_salt_auth_status`]).
    pub fn bad_salt_auth_status(mut self, status: Status) -> Self {
        self.bad_salt_auth_status = status;
        self
    }
    /// Sets getInfo forcePINChange ([`SimConfig::force_pin_change`]).
    pub fn force_pin_change(mut self, on: bool) -> Self {
        self.force_pin_change = on;
        self
    }
    /// Pretends to be a real product ([`SimConfig::personality`]): sets
    /// the personality and what its recording fixes.
    pub fn personality(mut self, personality: Personality) -> Self {
        self.personality = personality;
        self.apply_personality();
        self
    }

    /// Puts what the personality's recording fixes into this
    /// configuration (nothing for [`Personality::TokenringSim`]).
    pub(crate) fn apply_personality(&mut self) {
        let p = self.personality;
        if let Some(aaguid) = p.aaguid() {
            self.aaguid = aaguid;
        }
        if let Some(list) = p.pin_uv_auth_protocols() {
            self.pin_uv_auth_protocols = list;
        }
        if let Some(n) = p.max_msg_size() {
            self.max_msg_size = n;
        }
        if let Some(uv) = p.built_in_uv() {
            self.built_in_uv = uv;
        }
        if let Some(on) = p.make_cred_uv_not_rqd() {
            self.make_cred_uv_not_rqd = on;
        }
        if let Some(on) = p.always_uv() {
            self.always_uv = on;
        }
        if p != Personality::TokenringSim && self.bad_salt_auth_status == Status::PinAuthInvalid {
            self.bad_salt_auth_status = p.bad_salt_auth_status();
        }
        // What the product lacks stays off: forcePINChange needs
        // authenticatorConfig, noMcGaPermissionsWithClientPin tokens with
        // permissions.
        if !p.has_authenticator_config() {
            self.force_pin_change = false;
        }
        if !p.profile().permissions {
            self.no_mc_ga_permissions_with_client_pin = false;
        }
    }

    /// Sets noMcGaPermissionsWithClientPin
    /// ([`SimConfig::no_mc_ga_permissions_with_client_pin`]).
    pub fn no_mc_ga_permissions_with_client_pin(mut self, on: bool) -> Self {
        self.no_mc_ga_permissions_with_client_pin = on;
        self
    }
}
