//! The one interface the CLI and every integration use: a vault's
//! operations, wherever the vault is open — in a running agent (one tap per
//! secret) or in this process (one tap to unlock, one per secret).
//!
//! [`SecretStore`] is implemented by the in-process store (vault + the
//! chosen authenticator, see [`crate::devices`]) and by the agent client
//! (see [`crate::agent`]); [`connect`] picks the agent when it runs for
//! this vault and falls back to in-process access otherwise.

use tokenring_core::Prompt;
use tokenring_vault::Password;

use crate::Error;

/// A vault's operations, wherever the vault is open.
pub trait SecretStore {
    /// The password for (service, user); `Ok(None)` when there is no such
    /// entry. One tap for the entry (plus one to unlock, in-process).
    fn get(
        &self,
        service: &str,
        user: &str,
        prompt: &dyn Prompt,
    ) -> Result<Option<Password>, Error>;

    /// Stores (or replaces) the password for (service, user).
    fn set(
        &self,
        service: &str,
        user: &str,
        password: &str,
        prompt: &dyn Prompt,
    ) -> Result<(), Error>;

    /// Deletes the entry; `Ok(false)` when there was none.
    fn delete(&self, service: &str, user: &str, prompt: &dyn Prompt) -> Result<bool, Error>;

    /// The (service, user) names, in vault order; never secrets.
    fn list(&self, prompt: &dyn Prompt) -> Result<Vec<(String, String)>, Error>;

    /// Where the vault is open: "agent (pid N)" or "in-process".
    fn describe(&self) -> String;
}

/// Whether [`connect`] uses the agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AgentUse {
    /// The agent when one runs for the vault, in-process access otherwise.
    #[default]
    Auto,
    /// Always in-process (`--no-agent`).
    Never,
    /// The agent, or an error saying it does not run.
    Require,
}

/// The environment variable that keeps every command and integration away
/// from the agent (as `--no-agent` does).
pub const NO_AGENT_ENV: &str = "TOKENRING_NO_AGENT";

impl AgentUse {
    /// `Never` when `TOKENRING_NO_AGENT` is set to anything but an empty
    /// value, `0`, `false`, `no` or `off`; `Auto` otherwise.
    pub fn from_env() -> AgentUse {
        match std::env::var(NO_AGENT_ENV) {
            Ok(v)
                if !matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "" | "0" | "false" | "no" | "off"
                ) =>
            {
                AgentUse::Never
            }
            _ => AgentUse::Auto,
        }
    }
}

/// Where the vault is and how to reach it.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The vault file.
    pub vault: std::path::PathBuf,
    /// Which authenticators in-process access may use.
    pub devices: crate::devices::DeviceOptions,
    /// Whether to use the agent.
    pub agent: AgentUse,
}

/// The agent when it runs for this vault, in-process access otherwise (as
/// `opts.agent` allows). Looking for the agent costs one `connect(2)`; no
/// authenticator is touched here.
pub fn connect(opts: &StoreOptions) -> Result<Box<dyn SecretStore + Send + Sync>, Error> {
    if opts.agent != AgentUse::Never {
        if let Some(client) = crate::agent::AgentClient::connect(&opts.vault)? {
            return Ok(Box::new(client));
        }
        if opts.agent == AgentUse::Require {
            return Err(Error::Agent(format!(
                "no agent runs for {}; start one with `tokenring agent`",
                opts.vault.display()
            )));
        }
    }
    Ok(Box::new(crate::inprocess::InProcessStore::new(
        opts.vault.clone(),
        opts.devices.clone(),
    )))
}
