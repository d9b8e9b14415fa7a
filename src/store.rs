//! A vault's operations, wherever the vault is open: in a running agent
//! (one tap per secret) or in this process (one tap to unlock, one per
//! secret).
//!
//! [`SecretStore`] is implemented by [`Store`] (what [`crate::Tokenring::open`]
//! returns), by the agent client ([`crate::agent::AgentClient`]) and by the
//! in-process store.

use std::path::Path;
use tokenring_core::Prompt;

use tokenring_vault::Password;

use crate::agent::AgentClient;
use crate::inprocess::InProcessStore;
use crate::{Error, Tokenring};

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

    /// The passwords for several entries, all or nothing: every name is
    /// looked up before any entry's key is derived, and when one is absent
    /// no password is read ([`Secrets::Missing`]). Two entries per touch
    /// where the vault's format allows (one getAssertion, two
    /// hmac-secret salts), each touch's prompt naming both. The default
    /// (for stores without a way to read several at once): a look at the
    /// names, then one [`SecretStore::get`] per entry.
    fn get_many(&self, names: &[(&str, &str)], prompt: &dyn Prompt) -> Result<Secrets, Error> {
        one_by_one(self, names, prompt)
    }

    /// Calls `each` with every (service, user) name, in vault order,
    /// without copying them (borrowed from the open vault, or from the
    /// agent's reply as it arrives); never secrets. `each` must not use
    /// this store (it runs while the store reads).
    fn for_each_name(
        &self,
        prompt: &dyn Prompt,
        each: &mut dyn FnMut(&str, &str),
    ) -> Result<(), Error>;

    /// The (service, user) names, in vault order, copied out (see
    /// [`SecretStore::for_each_name`]); never secrets.
    fn list(&self, prompt: &dyn Prompt) -> Result<Vec<(String, String)>, Error> {
        let mut names = Vec::new();
        self.for_each_name(prompt, &mut |service, user| {
            names.push((service.to_string(), user.to_string()));
        })?;
        Ok(names)
    }

    /// Where the vault is open: "agent (pid N)" or "in-process".
    fn describe(&self) -> String;
}

/// [`SecretStore::get_many`] the default way: the names, then one `get`
/// per entry.
pub(crate) fn one_by_one<S: SecretStore + ?Sized>(
    store: &S,
    names: &[(&str, &str)],
    prompt: &dyn Prompt,
) -> Result<Secrets, Error> {
    let listed = store.list(prompt)?;
    let missing: Vec<usize> = names
        .iter()
        .enumerate()
        .filter(|(_, (s, u))| !listed.iter().any(|(ls, lu)| ls == s && lu == u))
        .map(|(i, _)| i)
        .collect();
    if !missing.is_empty() {
        return Ok(Secrets::Missing(missing));
    }
    let mut passwords = Vec::with_capacity(names.len());
    for (i, (service, user)) in names.iter().enumerate() {
        match store.get(service, user, prompt)? {
            Some(password) => passwords.push(password),
            None => return Ok(Secrets::Missing(vec![i])),
        }
    }
    Ok(Secrets::All(passwords))
}

/// What [`SecretStore::get_many`] found.
pub enum Secrets {
    /// Every password, in the order asked.
    All(Vec<Password>),
    /// The indices (in the order asked) of the names that are absent; no
    /// password was read.
    Missing(Vec<usize>),
}

impl std::fmt::Debug for Secrets {
    /// How many passwords, or which are missing; never a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secrets::All(passwords) => write!(f, "All({} passwords)", passwords.len()),
            Secrets::Missing(missing) => f.debug_tuple("Missing").field(missing).finish(),
        }
    }
}

/// Whether [`crate::Tokenring::open`] uses the agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AgentUse {
    /// The agent when one runs for the vault, in-process access otherwise.
    #[default]
    Auto,
    /// Always in-process (the CLI's `--no-agent`).
    Never,
    /// The agent, or an error saying it does not run.
    Require,
}

/// A vault opened by [`crate::Tokenring::open`]: through the agent, or in
/// this process (see [`Store::describe`]).
pub struct Store {
    inner: Inner,
}

enum Inner {
    Agent(AgentClient),
    InProcess(Box<InProcessStore>),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("where", &self.describe())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// The agent when it runs for this vault, in-process access otherwise
    /// (as `tokenring`'s agent use allows). Looking for the agent costs
    /// one `connect(2)`; no authenticator is touched here.
    pub(crate) fn connect(vault: &Path, tokenring: &Tokenring) -> Result<Store, Error> {
        let agent = tokenring.agent_use();
        if agent != AgentUse::Never {
            if let Some(client) = AgentClient::connect(vault)? {
                return Ok(Store {
                    inner: Inner::Agent(client),
                });
            }
            if agent == AgentUse::Require {
                return Err(Error::Agent(format!(
                    "no agent runs for {}; start one with `tokenring agent`",
                    vault.display()
                )));
            }
        }
        Ok(Store::from_in_process(InProcessStore::new(
            vault.to_path_buf(),
            tokenring.clone(),
        )))
    }

    pub(crate) fn from_in_process(store: InProcessStore) -> Store {
        Store {
            inner: Inner::InProcess(Box::new(store)),
        }
    }

    fn as_dyn(&self) -> &dyn SecretStore {
        match &self.inner {
            Inner::Agent(client) => client,
            Inner::InProcess(store) => &**store,
        }
    }

    /// Whether the agent serves this store.
    pub fn is_agent(&self) -> bool {
        matches!(self.inner, Inner::Agent(_))
    }

    /// The password for (service, user); `Ok(None)` when there is no such
    /// entry. One tap (plus one to unlock, the first time in-process).
    pub fn get(
        &self,
        service: &str,
        user: &str,
        prompt: &dyn Prompt,
    ) -> Result<Option<Password>, Error> {
        self.as_dyn().get(service, user, prompt)
    }

    /// The passwords for several entries, all or nothing (see
    /// [`SecretStore::get_many`]). Touches for N entries: through the
    /// agent ⌈N/2⌉ (plus its unlock touch when it is locked); in-process
    /// the first time, format 2 1 + ⌈(N − 1)/2⌉ (the unlock touch also
    /// reads the first entry), format 1 1 + ⌈N/2⌉.
    pub fn get_many(&self, names: &[(&str, &str)], prompt: &dyn Prompt) -> Result<Secrets, Error> {
        self.as_dyn().get_many(names, prompt)
    }

    /// Stores (or replaces) the password for (service, user). One tap
    /// (plus one to unlock, the first time in-process).
    pub fn set(
        &self,
        service: &str,
        user: &str,
        password: &str,
        prompt: &dyn Prompt,
    ) -> Result<(), Error> {
        self.as_dyn().set(service, user, password, prompt)
    }

    /// Deletes the entry; `Ok(false)` when there was none. No tap once
    /// unlocked.
    pub fn delete(&self, service: &str, user: &str, prompt: &dyn Prompt) -> Result<bool, Error> {
        self.as_dyn().delete(service, user, prompt)
    }

    /// Calls `each` with every (service, user) name, in vault order,
    /// without copying them; never secrets. No tap once unlocked. `each`
    /// must not use this store.
    pub fn for_each_name(
        &self,
        prompt: &dyn Prompt,
        each: &mut dyn FnMut(&str, &str),
    ) -> Result<(), Error> {
        self.as_dyn().for_each_name(prompt, each)
    }

    /// The (service, user) names, in vault order, copied out (see
    /// [`Store::for_each_name`]); never secrets. No tap once unlocked.
    pub fn list(&self, prompt: &dyn Prompt) -> Result<Vec<(String, String)>, Error> {
        self.as_dyn().list(prompt)
    }

    /// Where the vault is open: "agent (pid N)" or "in-process".
    pub fn describe(&self) -> String {
        self.as_dyn().describe()
    }
}

impl SecretStore for Store {
    fn get(
        &self,
        service: &str,
        user: &str,
        prompt: &dyn Prompt,
    ) -> Result<Option<Password>, Error> {
        Store::get(self, service, user, prompt)
    }

    fn get_many(&self, names: &[(&str, &str)], prompt: &dyn Prompt) -> Result<Secrets, Error> {
        Store::get_many(self, names, prompt)
    }

    fn set(
        &self,
        service: &str,
        user: &str,
        password: &str,
        prompt: &dyn Prompt,
    ) -> Result<(), Error> {
        Store::set(self, service, user, password, prompt)
    }

    fn delete(&self, service: &str, user: &str, prompt: &dyn Prompt) -> Result<bool, Error> {
        Store::delete(self, service, user, prompt)
    }

    fn for_each_name(
        &self,
        prompt: &dyn Prompt,
        each: &mut dyn FnMut(&str, &str),
    ) -> Result<(), Error> {
        Store::for_each_name(self, prompt, each)
    }

    fn describe(&self) -> String {
        Store::describe(self)
    }
}
