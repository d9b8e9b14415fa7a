//! TokenRing: secrets that only leave their vault with a tap on a FIDO2
//! authenticator.
//!
//! This is the front door of the TokenRing libraries: open the vault with
//! whatever authenticator holds its credential, read and write secrets, and
//! show the user what the authenticator needs (a touch, a PIN) through your
//! own [`Prompt`].
//!
//! ```no_run
//! # fn main() -> Result<(), tokenring::Error> {
//! let vault = tokenring::open(tokenring::default_vault_path()?)?;
//! if let Some(token) = vault.get("upload.pypi.org", "__token__", &tokenring::NoPrompt)? {
//!     println!("{} characters", token.expose_secret().len());
//! }
//! # Ok(()) }
//! ```
//!
//! [`open`] finds nothing and touches nothing yet: the first operation uses
//! the TokenRing agent when one runs for the vault (one tap per secret),
//! and otherwise finds the authenticator that holds the vault's credential
//! by asking each connected one without a tap (a getAssertion with
//! `up=false`), unlocks the vault (one tap) and keeps it open for the
//! [`Store`]'s lifetime (one more tap per secret).
//!
//! # Transports
//!
//! Each transport is a crate and a discovery [`Source`]; the features of
//! this crate choose which ones [`Tokenring::new`] looks through:
//!
//! | feature | source | reaches |
//! |---|---|---|
//! | `hid` | [`HidSource`] | USB security keys (CTAPHID over hidraw, hidapi) |
//! | `nfc` | [`NfcSource`] | NFC and contact readers (PC/SC) |
//! | `sim` | [`SimSource`] | the software authenticator of `tokenring-sim`, only when named: it protects nothing |
//!
//! ```toml
//! # USB only, without the command-line programs:
//! tokenring = { version = "0.1", default-features = false, features = ["hid"] }
//! ```
//!
//! `keyring` adds [`keyring_store`], a credential store for the `keyring`
//! crate. `cli` (on by default, for `cargo install`) builds the programs
//! `tokenring`, `git-credential-tokenring` and `cargo-credential-tokenring`;
//! a library needs none of it.
//!
//! # Choosing the authenticator
//!
//! ```
//! # #[cfg(feature = "sim")] fn main() -> Result<(), tokenring::Error> {
//! use tokenring::{Selector, SimSource, Tokenring};
//!
//! // Every enabled transport, plus one simulated authenticator listed by name.
//! let tokenring = Tokenring::new().with_source(SimSource::new().with_state_file("/tmp/sim.json"));
//! // Or exactly one device, as `--authenticator` does.
//! let only = Tokenring::new().only("hid:/dev/hidraw3".parse::<Selector>()?);
//! # let _ = (tokenring, only); Ok(()) }
//! # #[cfg(not(feature = "sim"))] fn main() {}
//! ```
//!
//! [`Tokenring::discovery`] answers the lower-level questions (what is
//! connected, which one holds a credential, let the user choose by a tap);
//! see [`Discovery`].
//!
//! # Errors
//!
//! Every call returns [`Error`]: vault errors ([`VaultError`]: corrupt,
//! missing, locked by another process, …), authenticator errors
//! ([`AuthenticatorError`]: no authenticator, wrong authenticator, wrong PIN
//! with the retries left, touch denied, cancelled, …) and agent errors.
//! Messages say what to do and never hold a secret.
//!
//! # What the library does not do
//!
//! It never reads environment variables and never prints: the programs
//! turn their environment into a [`Tokenring`] and show what the library
//! reports through their prompt (the simulator's warning included, see
//! [`Prompt::warning`]).

mod error;
mod inprocess;
mod paths;
mod store;

pub mod agent;
#[cfg(feature = "keyring")]
pub mod keyring_store;

#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod app;

use std::path::Path;

pub use error::Error;
pub use paths::{default_vault_path, python_keyring_data_root, VAULT_FILE_NAME};
pub use store::{AgentUse, SecretStore, Secrets, Store};

pub use tokenring_core::discovery::{simulator_warning, SIMULATOR_WARNING};
/// What can go wrong with an authenticator (re-exported from
/// `tokenring-core`): no authenticator, the wrong one, a wrong PIN, …
pub use tokenring_core::Error as AuthenticatorError;
pub use tokenring_core::{
    Authenticator, AuthenticatorInfo, CancelFlag, Device, Discovery, DynAuthenticator, Found,
    KeepaliveStatus, Listing, NoPrompt, Opened, Pin, PinPurpose, PinRequest, Problem, Prompt,
    Selector, Source, TransportKind,
};
#[cfg(feature = "hid")]
pub use tokenring_hid::HidSource;
#[cfg(feature = "nfc")]
pub use tokenring_nfc::NfcSource;
#[cfg(feature = "sim")]
pub use tokenring_sim::SimSource;
pub use tokenring_vault::{
    CreateOptions, Format, KeyOptions, KeySlot, OpenOptions, Password, SeenStore, VaultCredential,
    VaultError, VaultWarning,
};

/// Where TokenRing looks for authenticators and whether it uses the agent:
/// the configuration every operation of a [`Store`] runs with. Cloning is
/// cheap (the sources are shared).
///
/// [`Tokenring::new`] looks through every transport this crate was built
/// with (see the crate documentation) and uses the agent when one runs.
#[derive(Debug, Clone)]
pub struct Tokenring {
    discovery: Discovery,
    agent: AgentUse,
    vault_options: OpenOptions,
}

impl Default for Tokenring {
    fn default() -> Self {
        Tokenring::new()
    }
}

impl Tokenring {
    /// Every transport this crate was built with: USB HID (`hid`), PC/SC
    /// (`nfc`), and with `sim` a simulator source that lists nothing but
    /// opens any `sim:STATEFILE` selector. The agent when it runs.
    pub fn new() -> Tokenring {
        #[allow(unused_mut)]
        let mut discovery = Discovery::new();
        #[cfg(feature = "hid")]
        discovery.add_source(std::sync::Arc::new(HidSource::new()));
        #[cfg(feature = "nfc")]
        discovery.add_source(std::sync::Arc::new(NfcSource::new()));
        #[cfg(feature = "sim")]
        discovery.add_source(std::sync::Arc::new(SimSource::new()));
        Tokenring::with_discovery(discovery)
    }

    /// Exactly the sources of `discovery`.
    pub fn with_discovery(discovery: Discovery) -> Tokenring {
        Tokenring {
            discovery,
            agent: AgentUse::Auto,
            vault_options: OpenOptions::default(),
        }
    }

    /// Adds a source in place of any source of the same transport (so that
    /// `Tokenring::new().with_source(SimSource::new().with_state_file(…))`
    /// has one simulator source: the one given).
    pub fn with_source(mut self, source: impl Source + 'static) -> Tokenring {
        self.discovery.replace_source(std::sync::Arc::new(source));
        self
    }

    /// Uses only the device `selector` names (`hid:PATH`, `nfc:READER`,
    /// `sim:STATEFILE`), as the `--authenticator` option does.
    pub fn only(mut self, selector: Selector) -> Tokenring {
        self.discovery = self.discovery.only(selector);
        self
    }

    /// Whether to use the agent (default [`AgentUse::Auto`]).
    pub fn agent(mut self, agent: AgentUse) -> Tokenring {
        self.agent = agent;
        self
    }

    /// Where this machine records the format-2 vault generations it saw,
    /// so that an older copy of a vault is warned about and not written to
    /// ([`SeenStore`]; the programs use
    /// `$XDG_STATE_HOME/tokenring/seen-vaults.json`). None by default.
    pub fn rollback_state(mut self, path: impl Into<std::path::PathBuf>) -> Tokenring {
        self.vault_options.seen = Some(SeenStore::at(path));
        self
    }

    /// Writes to a format-2 vault older than one this machine saw (the
    /// user accepted it as current).
    pub fn accept_older_vault(mut self, accept: bool) -> Tokenring {
        self.vault_options.accept_older = accept;
        self
    }

    /// How vaults are opened: the rollback record and whether an older
    /// file is accepted.
    pub fn vault_options(&self) -> &OpenOptions {
        &self.vault_options
    }

    /// Whether the agent is used.
    pub fn agent_use(&self) -> AgentUse {
        self.agent
    }

    /// The sources, for listing devices, finding the one that holds a
    /// credential, or letting the user choose one by a tap.
    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }

    /// The vault at `path`, through the agent when one runs for it (as
    /// [`Tokenring::agent`] allows), in this process otherwise. Nothing is
    /// found or touched until the first operation; see the crate
    /// documentation for what each costs.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Store, Error> {
        Store::connect(path.as_ref(), self)
    }

    /// Creates a new, empty vault at `path` in this process: the
    /// authenticator is the one [`Discovery::choose`] picks (one tap to
    /// choose among several), enrolled (one tap, and the PIN when it has
    /// one), and the vault key derived (one tap). Refuses, before touching
    /// anything, when something exists at `path`. Directories created on
    /// the way are private (0700).
    pub fn create(&self, path: impl AsRef<Path>, prompt: &dyn Prompt) -> Result<Store, Error> {
        self.create_with(path, &CreateOptions::default(), prompt)
    }

    /// [`Tokenring::create`] with a format and the first key's options
    /// (format 2: `--require-uv`, a label).
    pub fn create_with(
        &self,
        path: impl AsRef<Path>,
        options: &CreateOptions,
        prompt: &dyn Prompt,
    ) -> Result<Store, Error> {
        inprocess::InProcessStore::create(path.as_ref(), self, options, prompt)
            .map(Store::from_in_process)
    }

    /// Opens an authenticator that holds a credential of the vault at
    /// `vault` (no tap): each connected one is asked without a tap, for
    /// every key slot of a format-2 vault. A credential made with
    /// credProtect level 3 does not answer such a probe; for those slots the
    /// connected authenticator of the slot's model (AAGUID) is used.
    pub fn find_vault_holder(&self, vault: &Path, prompt: &dyn Prompt) -> Result<Opened, Error> {
        let credentials = tokenring_vault::Vault::credentials_of(vault)?;
        let mut last = None;
        for c in &credentials {
            match self.discovery.find_holder(&c.id, &c.rp_id, prompt) {
                Ok(opened) => return Ok(opened),
                Err(e @ AuthenticatorError::WrongAuthenticator { .. }) => last = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        let invisible: Vec<[u8; 16]> = match tokenring_vault::Vault::slots_of(vault) {
            Ok(slots) => slots
                .iter()
                .filter(|s| s.cred_protect == 3)
                .map(|s| s.aaguid)
                .collect(),
            Err(_) => Vec::new(),
        };
        if !invisible.is_empty() {
            let found = match self.discovery.selector() {
                Some(selector) => vec![self.discovery.open(selector, prompt)?],
                None => self.discovery.open_all(prompt).opened,
            };
            if let Some(opened) = found
                .into_iter()
                .find(|o| invisible.contains(&o.info.aaguid))
            {
                return Ok(opened);
            }
        }
        Err(last
            .unwrap_or(AuthenticatorError::WrongAuthenticator { tried: Vec::new() })
            .into())
    }
}

/// The vault at `path` with [`Tokenring::new`]: every transport this crate
/// was built with, the agent when it runs.
pub fn open(path: impl AsRef<Path>) -> Result<Store, Error> {
    Tokenring::new().open(path)
}
