//! The authenticator's persistent state and its JSON state file.
//!
//! The file holds the master secret (every stateless credential is wrapped
//! under it), the PIN hash (`LEFT(SHA-256(PIN), 16)`, what §6.5.5.5 has the
//! authenticator store), the PIN retries counter, the signature counter,
//! the configuration and any provisioned credentials. It is written
//! atomically (temp file in the same directory, fsync, rename, fsync of
//! the directory) with mode 0600.

use std::io::Write;
use std::path::{Path, PathBuf};

use zeroize::Zeroize;

use crate::config::AttestationMode;
use crate::credential::ProvisionedCredential;
use crate::personality::Personality;
use crate::SimError;

/// The state file format version.
pub(crate) const STATE_VERSION: u32 = 1;

/// PIN retries after a reset or a correct PIN (§6.5.2: maximum 8).
pub(crate) const MAX_PIN_RETRIES: u8 = 8;

/// The minimum PIN length a fresh or reset authenticator has (§6.5.1:
/// 4 Unicode code points).
pub(crate) const DEFAULT_MIN_PIN_LENGTH: u8 = 4;

fn default_min_pin_length() -> u8 {
    DEFAULT_MIN_PIN_LENGTH
}

fn is_default_min_pin_length(n: &u8) -> bool {
    *n == DEFAULT_MIN_PIN_LENGTH
}

/// Everything the simulator keeps across power cycles and processes.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct SimState {
    /// Format version (1: the only one so far; another is refused).
    pub version: u32,
    /// The seed the state was made with (also seeds nonces at each start).
    pub seed: u64,
    /// AAGUID.
    #[serde(with = "hex::serde")]
    pub aaguid: [u8; 16],
    /// The master secret that wraps stateless credentials.
    #[serde(with = "hex::serde")]
    pub master_secret: [u8; 32],
    /// `LEFT(SHA-256(PIN), 16)` when a PIN is set.
    #[serde(with = "crate::optional_hex", default)]
    pub pin_hash: Option<[u8; 16]>,
    /// The length of the PIN in Unicode code points (PINCodePointLength,
    /// §6.5.5.5 step 11), compared with a new minimum PIN length
    /// (§6.11.4).
    #[serde(default)]
    pub pin_code_points: Option<u8>,
    /// The minimum PIN length in code points (getInfo minPINLength, 0x0D);
    /// raised by authenticatorConfig setMinPINLength, back to 4 on reset.
    #[serde(
        default = "default_min_pin_length",
        skip_serializing_if = "is_default_min_pin_length"
    )]
    pub min_pin_length: u8,
    /// PIN retries left (§6.5.2 pinRetries).
    pub pin_retries: u8,
    /// Signature counter (§6.1 authData signCount), shared by all credentials.
    pub sign_count: u32,
    /// PIN/UV auth protocols in order of preference.
    pub pin_uv_auth_protocols: Vec<u8>,
    /// getInfo alwaysUv: on now (authenticatorConfig toggleAlwaysUv turns
    /// it on and off).
    #[serde(default)]
    pub always_uv: bool,
    /// alwaysUv as it was made, once toggleAlwaysUv changed it (what
    /// authenticatorReset goes back to); absent while `always_uv` still is
    /// the value it was made with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factory_always_uv: Option<bool>,
    /// getInfo makeCredUvNotRqd.
    #[serde(default)]
    pub make_cred_uv_not_rqd: bool,
    /// Built-in UV configured.
    #[serde(default)]
    pub built_in_uv: bool,
    /// CTAP 2.2's `hmac-secret-mc` extension (hmac-secret outputs at
    /// makeCredential) is offered; off, the simulator is a CTAP 2.1 token.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub hmac_secret_mc: bool,
    /// Attestation for makeCredential.
    #[serde(default)]
    pub attestation: AttestationMode,
    /// maxMsgSize.
    pub max_msg_size: usize,
    /// Explicitly provisioned credentials.
    #[serde(default)]
    pub credentials: Vec<ProvisionedCredential>,
    /// The status getAssertion answers when hmac-secret's saltAuth does not
    /// verify (see [`crate::SimConfig::bad_salt_auth_status`]).
    #[serde(
        default = "default_bad_salt_auth_status",
        skip_serializing_if = "is_default_bad_salt_auth_status"
    )]
    pub bad_salt_auth_status: u8,
    /// getInfo forcePINChange (see [`crate::SimConfig::force_pin_change`]):
    /// set at creation or by authenticatorConfig setMinPINLength, cleared
    /// by a changePIN and by reset.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_pin_change: bool,
    /// The getInfo option noMcGaPermissionsWithClientPin (see
    /// [`crate::SimConfig::no_mc_ga_permissions_with_client_pin`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_mc_ga_permissions_with_client_pin: bool,
    /// The real product the simulator pretends to be (getInfo and
    /// behaviour; see [`Personality`]).
    #[serde(default, skip_serializing_if = "is_default_personality")]
    pub personality: Personality,
}

fn is_default_personality(p: &Personality) -> bool {
    *p == Personality::TokenringSim
}

fn default_bad_salt_auth_status() -> u8 {
    tokenring_core::Status::PinAuthInvalid.into()
}

fn is_default_bad_salt_auth_status(status: &u8) -> bool {
    *status == default_bad_salt_auth_status()
}

fn default_true() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState")
            .field("version", &self.version)
            .field("seed", &self.seed)
            .field("pin_set", &self.pin_hash.is_some())
            .field("pin_retries", &self.pin_retries)
            .field("sign_count", &self.sign_count)
            .field("pin_uv_auth_protocols", &self.pin_uv_auth_protocols)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Drop for SimState {
    fn drop(&mut self) {
        self.master_secret.zeroize();
        if let Some(h) = self.pin_hash.as_mut() {
            h.zeroize();
        }
    }
}

impl SimState {
    /// Reads a state file.
    pub fn load(path: &Path) -> Result<SimState, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let state: SimState = serde_json::from_str(&text).map_err(|e| SimError::InvalidState {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if state.version != STATE_VERSION {
            return Err(SimError::InvalidState {
                path: path.to_path_buf(),
                message: format!("unsupported version {}", state.version),
            });
        }
        state.validate().map_err(|message| SimError::InvalidState {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(state)
    }

    /// Checks the configuration parts.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let p = &self.pin_uv_auth_protocols;
        if p.is_empty() || p.iter().any(|n| *n != 1 && *n != 2) {
            return Err("pin_uv_auth_protocols must be [2, 1], [1, 2], [1] or [2]".into());
        }
        if self.pin_retries > MAX_PIN_RETRIES {
            return Err("pin_retries above 8".into());
        }
        if self.max_msg_size < 64 {
            return Err("max_msg_size below 64".into());
        }
        if tokenring_core::Status::try_from(self.bad_salt_auth_status).is_err() {
            return Err("bad_salt_auth_status is not a CTAP status code".into());
        }
        if !(DEFAULT_MIN_PIN_LENGTH..=63).contains(&self.min_pin_length) {
            return Err("min_pin_length must be 4 to 63".into());
        }
        self.agrees_with_personality()
    }

    /// What a personality fixes must be as its recording says, and what
    /// its product lacks must be off.
    fn agrees_with_personality(&self) -> Result<(), String> {
        let p = self.personality;
        let name = p.name();
        let mismatch = |what: &str| Err(format!("{what} contradicts the personality {name}"));
        if p.aaguid().is_some_and(|a| a != self.aaguid) {
            return mismatch("aaguid");
        }
        if p.pin_uv_auth_protocols()
            .is_some_and(|list| list != self.pin_uv_auth_protocols)
        {
            return mismatch("pin_uv_auth_protocols");
        }
        if p.max_msg_size().is_some_and(|n| n != self.max_msg_size) {
            return mismatch("max_msg_size");
        }
        if p.built_in_uv().is_some_and(|uv| uv != self.built_in_uv) {
            return mismatch("built_in_uv");
        }
        if p.make_cred_uv_not_rqd()
            .is_some_and(|on| on != self.make_cred_uv_not_rqd)
        {
            return mismatch("make_cred_uv_not_rqd");
        }
        if !p.has_authenticator_config()
            && (self.always_uv
                || self.force_pin_change
                || self.min_pin_length != DEFAULT_MIN_PIN_LENGTH)
        {
            return mismatch("always_uv, force_pin_change or min_pin_length");
        }
        if !p.profile().permissions && self.no_mc_ga_permissions_with_client_pin {
            return mismatch("no_mc_ga_permissions_with_client_pin");
        }
        Ok(())
    }

    /// Writes the state atomically with mode 0600.
    pub fn save(&self, path: &Path) -> Result<(), SimError> {
        let io = |source| SimError::Io {
            path: path.to_path_buf(),
            source,
        };
        let json = zeroize::Zeroizing::new(serde_json::to_vec_pretty(self).map_err(|e| {
            SimError::InvalidState {
                path: path.to_path_buf(),
                message: e.to_string(),
            }
        })?);
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "state".into());
        let tmp = dir.join(format!(".{file_name}.tmp{}", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let result = (|| {
            let mut file = options.open(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&tmp, path)?;
            #[cfg(unix)]
            {
                std::fs::File::open(&dir)?.sync_all()?;
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io)
    }
}
