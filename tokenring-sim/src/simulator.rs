//! The CTAP 2.1 state machine: one request in, one response out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tokenring_core::command;
use tokenring_core::{KeepaliveStatus, Status};
use zeroize::Zeroizing;

use crate::authenticator_config::AUTHENTICATOR_CONFIG;
use crate::clock::Clock;
use crate::config::{PresenceAnswer, PresencePolicy, KEEPALIVE_INTERVAL, USER_PRESENCE_TIMEOUT};
use crate::credential::{Credential, ProvisionedCredential, WrapKeys};
use crate::personality::{Personality, Profile};
use crate::pin_protocol::{KeyAgreementKey, PinProtocol};
use crate::pin_token::PinUvAuthToken;
use crate::state::{SimState, DEFAULT_MIN_PIN_LENGTH, MAX_PIN_RETRIES, STATE_VERSION};
use crate::{ClockMode, DeviceContext, Fault, SimConfig, SimError};

/// The software authenticator: a CTAP 2.1 state machine (no I/O).
pub struct Simulator {
    pub(crate) state: SimState,
    pub(crate) state_file: Option<PathBuf>,
    pub(crate) rng: ChaCha20Rng,
    pub(crate) clock: Clock,
    pub(crate) presence: PresencePolicy,
    pub(crate) presence_requests: usize,
    pub(crate) power_up_at: Duration,
    /// Key agreement keys, per protocol (index 0: one, 1: two).
    pub(crate) key_agreement: [KeyAgreementKey; 2],
    pub(crate) token: PinUvAuthToken,
    pub(crate) consecutive_pin_mismatches: u8,
    faults: Vec<Fault>,
    requests: HashMap<u8, usize>,
}

impl Simulator {
    /// A fresh authenticator (keys from `config.seed`), kept in memory.
    pub fn new(mut config: SimConfig) -> Simulator {
        config.apply_personality();
        let mut rng = ChaCha20Rng::seed_from_u64(config.seed);
        let mut master_secret = [0u8; 32];
        rng.fill_bytes(&mut master_secret);
        let pin_hash = config
            .pin
            .as_ref()
            .map(|p| crate::client_pin::pin_hash(p.as_bytes()));
        let pin_code_points = config
            .pin
            .as_ref()
            .map(|p| u8::try_from(p.chars().count()).unwrap_or(u8::MAX));
        let state = SimState {
            version: STATE_VERSION,
            seed: config.seed,
            aaguid: config.aaguid,
            master_secret,
            pin_hash,
            pin_code_points,
            min_pin_length: DEFAULT_MIN_PIN_LENGTH,
            pin_retries: MAX_PIN_RETRIES,
            sign_count: 0,
            pin_uv_auth_protocols: config.pin_uv_auth_protocols.clone(),
            always_uv: config.always_uv,
            factory_always_uv: None,
            make_cred_uv_not_rqd: config.make_cred_uv_not_rqd,
            built_in_uv: config.built_in_uv,
            hmac_secret_mc: config.hmac_secret_mc,
            attestation: config.attestation,
            max_msg_size: config.max_msg_size,
            credentials: Vec::new(),
            bad_salt_auth_status: config.bad_salt_auth_status.into(),
            force_pin_change: config.force_pin_change,
            no_mc_ga_permissions_with_client_pin: config.no_mc_ga_permissions_with_client_pin,
            personality: config.personality,
        };
        master_secret.fill(0);
        Self::from_state(state, None, rng, config.presence, config.clock)
    }

    /// A fresh authenticator from `config`, saved to `path` (which must not
    /// exist yet) and kept in sync with it from then on. A PIN in `config`
    /// must meet the PIN policy (§6.5.1: at least 4 characters, at most 63
    /// bytes), as a setPIN would.
    pub fn create(config: SimConfig, path: &Path) -> Result<Simulator, SimError> {
        if let Some(pin) = &config.pin {
            if !crate::client_pin::meets_pin_policy(pin.as_bytes(), DEFAULT_MIN_PIN_LENGTH) {
                return Err(SimError::InvalidConfig(
                    "the PIN must have at least 4 characters and at most 63 bytes".into(),
                ));
            }
        }
        if path.exists() {
            return Err(SimError::InvalidConfig(format!(
                "{} exists already; refusing to overwrite a simulator state",
                path.display()
            )));
        }
        let mut sim = Simulator::new(config);
        sim.state.validate().map_err(SimError::InvalidConfig)?;
        sim.state.save(path)?;
        sim.state_file = Some(path.to_path_buf());
        Ok(sim)
    }

    /// Opens a state file; changes (PIN, counters, reset) are written back.
    /// Presence is approved and the clock is virtual unless set otherwise
    /// ([`Simulator::set_presence_policy`], [`Simulator::set_clock`]).
    pub fn open(path: &Path) -> Result<Simulator, SimError> {
        let state = SimState::load(path)?;
        // Nonces differ per start: the seed is mixed with the signature
        // counter, so two processes over one file do not repeat each other.
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&state.seed.to_le_bytes());
        seed[8..12].copy_from_slice(&state.sign_count.to_le_bytes());
        seed[12..16].copy_from_slice(b"open");
        let rng = ChaCha20Rng::from_seed(seed);
        Ok(Self::from_state(
            state,
            Some(path.to_path_buf()),
            rng,
            PresencePolicy::default(),
            ClockMode::Virtual,
        ))
    }

    /// A simulator over an explicit state (kept in memory).
    pub fn from_sim_state(state: SimState) -> Result<Simulator, SimError> {
        state.validate().map_err(SimError::InvalidConfig)?;
        let rng = ChaCha20Rng::seed_from_u64(state.seed ^ 0x5eed);
        Ok(Self::from_state(
            state,
            None,
            rng,
            PresencePolicy::default(),
            ClockMode::Virtual,
        ))
    }

    fn from_state(
        state: SimState,
        state_file: Option<PathBuf>,
        mut rng: ChaCha20Rng,
        presence: PresencePolicy,
        clock: ClockMode,
    ) -> Simulator {
        let key_agreement = [
            KeyAgreementKey::generate(&mut rng),
            KeyAgreementKey::generate(&mut rng),
        ];
        let token = PinUvAuthToken::new(&mut rng);
        let clock = Clock::new(clock);
        Simulator {
            power_up_at: clock.now(),
            state,
            state_file,
            rng,
            clock,
            presence,
            presence_requests: 0,
            key_agreement,
            token,
            consecutive_pin_mismatches: 0,
            faults: Vec::new(),
            requests: HashMap::new(),
        }
    }

    /// One CTAP2 request (authenticatorAPI command byte + CBOR parameters)
    /// → response bytes: the status byte followed by the CBOR response
    /// (CTAP 2.1 §8.1 message encoding).
    ///
    /// An empty result means the response was dropped by fault injection
    /// ([`Fault::DropResponse`]): send nothing.
    pub fn process(&mut self, command: u8, payload: &[u8], ctx: &mut dyn DeviceContext) -> Vec<u8> {
        *self.requests.entry(command).or_insert(0) += 1;
        if let Some(i) = self
            .faults
            .iter()
            .position(|f| matches!(f, Fault::ForceStatus { command: c, .. } if *c == command))
        {
            let forced = self.faults.remove(i);
            if let Fault::ForceStatus { status, .. } = forced {
                return self.apply_output_faults(vec![status]);
            }
        }
        let response = match self.dispatch(command, payload, ctx) {
            Ok(body) => {
                let mut out = Vec::with_capacity(body.len() + 1);
                out.push(Status::Ok.into());
                out.extend_from_slice(&body);
                out
            }
            Err(status) => vec![status.into()],
        };
        self.apply_output_faults(response)
    }

    fn apply_output_faults(&mut self, mut response: Vec<u8>) -> Vec<u8> {
        if let Some(i) = self
            .faults
            .iter()
            .position(|f| matches!(f, Fault::DropResponse))
        {
            self.faults.remove(i);
            return Vec::new();
        }
        if let Some(i) = self
            .faults
            .iter()
            .position(|f| matches!(f, Fault::CorruptResponse { .. }))
        {
            if let Fault::CorruptResponse { offset, mask } = self.faults.remove(i) {
                let len = response.len();
                if len > 0 {
                    if let Some(b) = response.get_mut(offset % len) {
                        *b ^= mask;
                    }
                }
            }
        }
        response
    }

    fn dispatch(
        &mut self,
        command: u8,
        payload: &[u8],
        ctx: &mut dyn DeviceContext,
    ) -> Result<Vec<u8>, Status> {
        if payload.len().saturating_add(1) > self.state.max_msg_size {
            return Err(Status::RequestTooLarge);
        }
        self.token.check_timers(self.clock.now());
        match command {
            command::GET_INFO => {
                if !payload.is_empty() {
                    return Err(Status::InvalidLength);
                }
                self.get_info()
            }
            command::MAKE_CREDENTIAL => self.make_credential(payload, ctx),
            command::GET_ASSERTION => self.get_assertion(payload, ctx),
            command::GET_NEXT_ASSERTION => Err(Status::NotAllowed),
            command::CLIENT_PIN => self.client_pin(payload, ctx),
            command::RESET => self.reset(ctx),
            command::SELECTION if self.profile().ctap21 => {
                self.wait_for_presence(ctx)?;
                Ok(Vec::new())
            }
            AUTHENTICATOR_CONFIG if self.profile().authnr_cfg => self.authenticator_config(payload),
            _ => Err(Status::InvalidCommand),
        }
    }

    /// authenticatorReset (§6.6): only within 10 s of power-up, after a
    /// touch; forgets the PIN, every
    /// credential and the counters, and puts authenticatorConfig's settings
    /// (alwaysUv, the minimum PIN length, forcePINChange) back as they
    /// were made.
    fn reset(&mut self, ctx: &mut dyn DeviceContext) -> Result<Vec<u8>, Status> {
        if self.clock.now().saturating_sub(self.power_up_at) > self.profile().reset_window {
            return Err(Status::NotAllowed);
        }
        self.wait_for_presence(ctx)?;
        let mut master = Zeroizing::new([0u8; 32]);
        self.rng.fill_bytes(master.as_mut_slice());
        self.state.master_secret = *master;
        self.state.pin_hash = None;
        self.state.pin_code_points = None;
        self.state.pin_retries = MAX_PIN_RETRIES;
        self.state.min_pin_length = DEFAULT_MIN_PIN_LENGTH;
        self.state.force_pin_change = false;
        if let Some(made) = self.state.factory_always_uv.take() {
            self.state.always_uv = made;
        }
        self.state.sign_count = 0;
        self.state.credentials.clear();
        self.consecutive_pin_mismatches = 0;
        self.regenerate_key_agreement();
        self.token.reset(&mut self.rng);
        self.persist()?;
        Ok(Vec::new())
    }

    /// Waits for the user per the presence policy (§6.1.2 "request evidence
    /// of user interaction"), sending keepalives every 100 ms and polling
    /// for cancel.
    ///
    /// Time-out answers CTAP2_ERR_USER_ACTION_TIMEOUT after 30 s, as
    /// OpenSK and YubiKeys do (the spec text folds time-outs into
    /// OPERATION_DENIED in some steps; widely used tokens report the
    /// time-out as such, and clients tell the user to touch sooner).
    pub(crate) fn wait_for_presence(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), Status> {
        self.presence_requests += 1;
        let answer = match &mut self.presence {
            PresencePolicy::Always(a) => *a,
            PresencePolicy::Scripted(script) => {
                if script.is_empty() {
                    PresenceAnswer::TimeOut
                } else {
                    script.remove(0)
                }
            }
        };
        let (delay, outcome) = match answer {
            PresenceAnswer::Approve => (Duration::ZERO, Ok(())),
            PresenceAnswer::Deny => (Duration::ZERO, Err(Status::OperationDenied)),
            PresenceAnswer::TimeOut => (USER_PRESENCE_TIMEOUT, Err(Status::UserActionTimeout)),
            PresenceAnswer::ApproveAfter(d) if d >= USER_PRESENCE_TIMEOUT => {
                (USER_PRESENCE_TIMEOUT, Err(Status::UserActionTimeout))
            }
            PresenceAnswer::ApproveAfter(d) => (d, Ok(())),
        };
        ctx.keepalive(KeepaliveStatus::UserPresenceNeeded);
        let mut waited = Duration::ZERO;
        loop {
            if ctx.cancelled() {
                return Err(Status::KeepaliveCancel);
            }
            if waited >= delay {
                break;
            }
            let step = KEEPALIVE_INTERVAL.min(delay.saturating_sub(waited));
            self.clock.sleep(step);
            waited = waited.saturating_add(step);
            ctx.keepalive(KeepaliveStatus::UserPresenceNeeded);
        }
        outcome
    }

    pub(crate) fn regenerate_key_agreement(&mut self) {
        self.key_agreement = [
            KeyAgreementKey::generate(&mut self.rng),
            KeyAgreementKey::generate(&mut self.rng),
        ];
    }

    /// The protocols this token supports, checked against a request's
    /// pinUvAuthProtocol value.
    pub(crate) fn supported_protocol(&self, n: i128) -> Option<PinProtocol> {
        let p = PinProtocol::from_number(n)?;
        self.state
            .pin_uv_auth_protocols
            .contains(&p.number())
            .then_some(p)
    }

    /// Writes the state file, when there is one.
    pub(crate) fn persist(&self) -> Result<(), Status> {
        match &self.state_file {
            Some(path) => self.state.save(path).map_err(|_| Status::Other),
            None => Ok(()),
        }
    }

    /// Finds a credential of ours for this RP among ids (provisioned first).
    pub(crate) fn find_credential(&self, rp_id: &str, id: &[u8]) -> Option<Credential> {
        let keys = WrapKeys::new(&self.state.master_secret);
        if let Some(entry) = self
            .state
            .credentials
            .iter()
            .find(|c| c.rp_id == rp_id && c.credential_id == id)
        {
            return keys.provisioned(entry);
        }
        keys.unwrap(&crate::credential::rp_id_hash(rp_id), id)
    }

    /// How this simulator behaves where authenticators differ.
    pub(crate) fn profile(&self) -> Profile {
        self.state.personality.profile()
    }

    /// The personality (the real product the simulator pretends to be).
    pub fn personality(&self) -> Personality {
        self.state.personality
    }

    /// maxMsgSize as announced in getInfo.
    pub fn max_msg_size(&self) -> usize {
        self.state.max_msg_size
    }

    /// Power cycle: forget PIN/UV auth tokens, key agreement, the
    /// consecutive-wrong-PIN counter (§6.5.5.1: state at power-up).
    pub fn power_cycle(&mut self) {
        self.consecutive_pin_mismatches = 0;
        self.regenerate_key_agreement();
        self.token.reset(&mut self.rng);
        self.power_up_at = self.clock.now();
    }

    /// Queues a fault (see [`Fault`]); each fault applies once.
    pub fn inject(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    /// Replaces the presence policy.
    pub fn set_presence_policy(&mut self, policy: PresencePolicy) {
        self.presence = policy;
    }

    /// The clock in use.
    pub fn clock_mode(&self) -> ClockMode {
        self.clock.mode()
    }

    /// Replaces the clock (virtual or real); time restarts at zero, which
    /// counts as a power-up (the 10 s reset window restarts, PIN/UV auth
    /// tokens are forgotten).
    pub fn set_clock(&mut self, mode: ClockMode) {
        self.clock = Clock::new(mode);
        self.power_up_at = self.clock.now();
        self.token.reset(&mut self.rng);
    }

    /// Moves a virtual clock forward (e.g. past the 10 s reset window or a
    /// token's usage limit). No effect on a real clock.
    pub fn advance_clock(&mut self, d: Duration) {
        self.clock.advance(d);
    }

    /// Now, on the simulator's clock (since creation).
    pub fn now(&self) -> Duration {
        self.clock.now()
    }

    /// PIN retries left (§6.5.2 pinRetries).
    pub fn pin_retries(&self) -> u8 {
        self.state.pin_retries
    }

    /// Whether a PIN is set.
    pub fn pin_is_set(&self) -> bool {
        self.state.pin_hash.is_some()
    }

    /// The signature counter.
    pub fn sign_count(&self) -> u32 {
        self.state.sign_count
    }

    /// How many requests with this command byte were processed.
    pub fn request_count(&self, command: u8) -> usize {
        self.requests.get(&command).copied().unwrap_or(0)
    }

    /// How many requests were processed in all.
    pub fn total_requests(&self) -> usize {
        self.requests.values().sum()
    }

    /// How many times the simulator asked for user presence.
    pub fn presence_requests(&self) -> usize {
        self.presence_requests
    }

    /// The persistent state (read-only).
    pub fn state(&self) -> &SimState {
        &self.state
    }

    /// Keeps every change in memory from now on: the state file (if any)
    /// is no longer written, so a simulator opened from one can serve
    /// benchmarks and tests without disk writes, and leaves the file as
    /// it was. [`Simulator::save_state`] writes it when asked.
    pub fn keep_in_memory(&mut self) {
        self.state_file = None;
    }

    /// Writes the current state to `path` (atomically, mode 0600), e.g. a
    /// simulator kept in memory whose state is wanted after all.
    pub fn save_state(&self, path: &Path) -> Result<(), SimError> {
        self.state.save(path)
    }

    /// The state file, when there is one.
    pub fn state_file(&self) -> Option<&Path> {
        self.state_file.as_deref()
    }

    /// Adds (or replaces, by id and RP ID) a provisioned credential, so
    /// vaults made elsewhere open through the simulator; saved to the
    /// state file when there is one.
    pub fn provision(&mut self, credential: ProvisionedCredential) -> Result<(), SimError> {
        // getInfo announces maxCredentialIdLength; clients drop longer ids.
        let max = self.profile().max_credential_id_length;
        if credential.credential_id.is_empty() || credential.credential_id.len() > max {
            return Err(SimError::InvalidConfig(format!(
                "credential id must be 1 to {max} bytes"
            )));
        }
        self.state.credentials.retain(|c| {
            !(c.credential_id == credential.credential_id && c.rp_id == credential.rp_id)
        });
        self.state.credentials.push(credential);
        if let Some(path) = &self.state_file {
            self.state.save(path)?;
        }
        Ok(())
    }
}
