//! A credential store for the `keyring` crate (v4) and everything else built
//! on [`keyring_core`] 1.x: programs that use `keyring::Entry` keep their
//! secrets in a TokenRing vault, each read needing a tap.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tokenring::keyring_store::TokenRingStore;
//!
//! /// Shows touch requests on stderr (a real program would also ask for the PIN).
//! struct Stderr;
//! impl tokenring::Prompt for Stderr {
//!     fn touch_needed(&self, purpose: &str) {
//!         eprintln!("Touch your authenticator to {purpose}");
//!     }
//! }
//!
//! // Once, at start-up: TokenRing becomes the default store.
//! keyring_core::set_default_store(Arc::new(TokenRingStore::with_prompt(Arc::new(Stderr))?));
//! // Then the usual keyring API.
//! let entry = keyring_core::Entry::new("crates.io", "alice")?;
//! entry.set_password("s3cret")?;               // one tap (plus the unlock tap without the agent)
//! assert_eq!(entry.get_password()?, "s3cret"); // one tap
//! entry.delete_credential()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every operation goes through [`Tokenring::open`]: the agent when it
//! runs for the vault, in-process access otherwise (then each operation
//! also taps once to unlock). Touch prompts and PIN requests go to the
//! store's [`Prompt`].
//!
//! What the vault can hold, and so what this store supports:
//!
//! - Secrets are UTF-8 text (the vault format stores strings, as the
//!   original does); `set_secret` with other bytes is refused with
//!   [`keyring_core::Error::Invalid`].
//! - No attributes and no creation-time modifiers (the vault has none).
//! - `search` by exact `service` and/or `user` (keys `"service"`, `"user"`),
//!   over the vault's names: no tap with an unlocked agent.
//! - Credentials are specifiers: a deleted entry can be set again.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use keyring_core::api::{CredentialApi, CredentialPersistence, CredentialStoreApi};
use keyring_core::{Credential, Entry};
use tokenring_core::Prompt;

use crate::{Error, Store, Tokenring};

/// The vendor string of this store.
pub const VENDOR: &str = "TokenRing (FIDO2 hmac-secret vault), tokenring crate";

/// A prompt the store can share across threads.
pub type SharedPrompt = Arc<dyn Prompt + Send + Sync>;

struct Inner {
    vault: PathBuf,
    tokenring: Tokenring,
    prompt: SharedPrompt,
}

impl Inner {
    fn store(&self) -> keyring_core::Result<Store> {
        self.tokenring.open(&self.vault).map_err(to_keyring)
    }
}

/// The TokenRing credential store (see the module documentation).
#[derive(Clone)]
pub struct TokenRingStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenRingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRingStore")
            .field("vault", &self.inner.vault)
            .field("agent", &self.inner.tokenring.agent_use())
            .finish_non_exhaustive()
    }
}

impl TokenRingStore {
    /// A store over the vault at `vault`, reached as `tokenring` says,
    /// showing touch prompts and asking for PINs through `prompt`.
    pub fn new(vault: PathBuf, tokenring: Tokenring, prompt: SharedPrompt) -> Self {
        TokenRingStore {
            inner: Arc::new(Inner {
                vault,
                tokenring,
                prompt,
            }),
        }
    }

    /// A store over the vault at the default path
    /// ([`crate::default_vault_path`]) with every transport, the agent
    /// when it runs, prompting through `prompt`.
    pub fn with_prompt(prompt: SharedPrompt) -> Result<Self, Error> {
        Ok(Self::new(
            crate::default_vault_path()?,
            Tokenring::new(),
            prompt,
        ))
    }

    /// The vault's path.
    pub fn vault(&self) -> &std::path::Path {
        &self.inner.vault
    }

    fn entry(&self, service: &str, user: &str) -> Entry {
        Entry::new_with_credential(Arc::new(TokenRingCredential {
            inner: Arc::clone(&self.inner),
            service: service.to_string(),
            user: user.to_string(),
        }))
    }
}

impl CredentialStoreApi for TokenRingStore {
    fn vendor(&self) -> String {
        VENDOR.to_string()
    }

    fn id(&self) -> String {
        format!(
            "tokenring {} for {}",
            env!("CARGO_PKG_VERSION"),
            self.inner.vault.display()
        )
    }

    fn build(
        &self,
        service: &str,
        user: &str,
        modifiers: Option<&HashMap<&str, &str>>,
    ) -> keyring_core::Result<Entry> {
        if let Some(key) = modifiers.and_then(|m| m.keys().next()) {
            return Err(keyring_core::Error::Invalid(
                (*key).to_string(),
                "TokenRing entries take no modifiers".to_string(),
            ));
        }
        Ok(self.entry(service, user))
    }

    /// Entries whose `service` and/or `user` equal the spec's (both keys
    /// optional; an empty spec lists every entry). Other keys are refused.
    fn search(&self, spec: &HashMap<&str, &str>) -> keyring_core::Result<Vec<Entry>> {
        if let Some(key) = spec.keys().find(|k| !matches!(**k, "service" | "user")) {
            return Err(keyring_core::Error::Invalid(
                (*key).to_string(),
                "TokenRing searches by `service` and `user` only".to_string(),
            ));
        }
        let names = self
            .inner
            .store()?
            .list(&*self.inner.prompt)
            .map_err(to_keyring)?;
        Ok(names
            .iter()
            .filter(|(service, user)| {
                spec.get("service").is_none_or(|s| s == service)
                    && spec.get("user").is_none_or(|u| u == user)
            })
            .map(|(service, user)| self.entry(service, user))
            .collect())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn persistence(&self) -> CredentialPersistence {
        CredentialPersistence::UntilDelete
    }

    fn debug_fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One (service, user) in a TokenRing vault.
#[derive(Clone)]
pub struct TokenRingCredential {
    inner: Arc<Inner>,
    service: String,
    user: String,
}

impl fmt::Debug for TokenRingCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRingCredential")
            .field("vault", &self.inner.vault)
            .field("service", &self.service)
            .field("user", &self.user)
            .finish()
    }
}

impl CredentialApi for TokenRingCredential {
    fn set_password(&self, password: &str) -> keyring_core::Result<()> {
        self.inner
            .store()?
            .set(&self.service, &self.user, password, &*self.inner.prompt)
            .map_err(to_keyring)
    }

    fn set_secret(&self, secret: &[u8]) -> keyring_core::Result<()> {
        let text = std::str::from_utf8(secret).map_err(|_| {
            keyring_core::Error::Invalid(
                "secret".to_string(),
                "a TokenRing vault stores UTF-8 text only; encode binary secrets (e.g. base64)"
                    .to_string(),
            )
        })?;
        self.set_password(text)
    }

    fn get_password(&self) -> keyring_core::Result<String> {
        let password = self
            .inner
            .store()?
            .get(&self.service, &self.user, &*self.inner.prompt)
            .map_err(to_keyring)?
            .ok_or(keyring_core::Error::NoEntry)?;
        Ok(password.expose_secret().to_string())
    }

    fn get_secret(&self) -> keyring_core::Result<Vec<u8>> {
        self.get_password().map(String::into_bytes)
    }

    fn delete_credential(&self) -> keyring_core::Result<()> {
        let existed = self
            .inner
            .store()?
            .delete(&self.service, &self.user, &*self.inner.prompt)
            .map_err(to_keyring)?;
        if existed {
            Ok(())
        } else {
            Err(keyring_core::Error::NoEntry)
        }
    }

    /// Checks that the entry exists (by name: no tap with an unlocked agent).
    fn get_credential(&self) -> keyring_core::Result<Option<Arc<Credential>>> {
        let names = self
            .inner
            .store()?
            .list(&*self.inner.prompt)
            .map_err(to_keyring)?;
        if names
            .iter()
            .any(|(s, u)| *s == self.service && *u == self.user)
        {
            Ok(None)
        } else {
            Err(keyring_core::Error::NoEntry)
        }
    }

    fn get_specifiers(&self) -> Option<(String, String)> {
        Some((self.service.clone(), self.user.clone()))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn debug_fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// TokenRing's errors as keyring's: a vault that cannot be reached or
/// opened (no vault, no authenticator, touch denied or timed out, PIN
/// refused, cancelled) is `NoStorageAccess`; everything else is
/// `PlatformFailure`. The TokenRing error is attached, with its message.
fn to_keyring(error: Error) -> keyring_core::Error {
    use tokenring_vault::VaultError;
    let access = matches!(
        &error,
        Error::Authenticator(_)
            | Error::Vault(
                VaultError::NotFound { .. }
                    | VaultError::WrongAuthenticator
                    | VaultError::Authenticator(_)
                    | VaultError::LockedByAnotherProcess { .. }
                    | VaultError::Locked,
            )
    );
    if access {
        keyring_core::Error::NoStorageAccess(Box::new(error))
    } else {
        keyring_core::Error::PlatformFailure(Box::new(error))
    }
}
