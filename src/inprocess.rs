//! The vault opened in this process: [`InProcessStore`].
//!
//! The first operation finds the authenticator that holds the vault's
//! credential without a tap ([`Discovery::find_holder`]) and
//! unlocks the vault (one tap); the store keeps both for its lifetime, so
//! later operations of the same store need no unlock tap. `get` and `set`
//! each derive the entry's key (one more tap); `list` and `delete` need
//! none. Writes happen under the vault's file lock (re-read under the
//! lock), so a CLI `set` beside an agent or another CLI loses nothing.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use tokenring_core::{DynAuthenticator, Prompt};
use tokenring_vault::{CreateOptions, Format, Password, Vault};

use crate::{Error, SecretStore, Secrets, Tokenring};

/// A vault opened in this process on first use and kept open (see the
/// module documentation).
pub(crate) struct InProcessStore {
    vault: PathBuf,
    tokenring: Tokenring,
    /// The unlocked vault and its authenticator, after the first operation.
    opened: Mutex<Option<(Vault, DynAuthenticator)>>,
}

impl std::fmt::Debug for InProcessStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessStore")
            .field("vault", &self.vault)
            .field("discovery", self.tokenring.discovery())
            .finish_non_exhaustive()
    }
}

impl InProcessStore {
    /// A store over the vault at `vault`, using the authenticators
    /// `discovery` finds.
    pub(crate) fn new(vault: PathBuf, tokenring: Tokenring) -> Self {
        InProcessStore {
            vault,
            tokenring,
            opened: Mutex::new(None),
        }
    }

    /// The authenticator that holds one of the vault's credentials (no tap).
    fn holder(&self, prompt: &dyn Prompt) -> Result<DynAuthenticator, Error> {
        Ok(self
            .tokenring
            .find_vault_holder(&self.vault, prompt)?
            .authenticator)
    }

    /// Finds the authenticator that holds a credential of the vault (no
    /// tap) and unlocks the vault with it (one tap).
    fn open(&self, prompt: &dyn Prompt) -> Result<(Vault, DynAuthenticator), Error> {
        let mut authenticator = self.holder(prompt)?;
        let vault = Vault::open_with(
            &self.vault,
            &mut *authenticator,
            prompt,
            self.tokenring.vault_options(),
        )?;
        report_warnings(&vault, prompt);
        Ok((vault, authenticator))
    }

    /// Runs `operation` on the vault, opening it first (one tap) unless an
    /// earlier operation of this store already did.
    fn with<R>(
        &self,
        prompt: &dyn Prompt,
        operation: impl FnOnce(&Vault, &mut DynAuthenticator) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        let (vault, authenticator) = match &mut *opened {
            Some(open) => open,
            empty => empty.insert(self.open(prompt)?),
        };
        operation(vault, authenticator)
    }
}

impl InProcessStore {
    /// Creates a new, empty vault at `path` with the authenticator
    /// `discovery` chooses (one tap to choose among several, one to enroll
    /// — and the PIN if the authenticator has one — and one to derive the
    /// vault key), and keeps it open. Refuses before touching any
    /// authenticator if something exists at `path`.
    pub(crate) fn create(
        path: &Path,
        tokenring: &Tokenring,
        options: &CreateOptions,
        prompt: &dyn Prompt,
    ) -> Result<InProcessStore, Error> {
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(tokenring_vault::VaultError::AlreadyExists {
                path: path.to_path_buf(),
            }
            .into());
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            check_new_vault_dir(dir)?;
        }
        let mut authenticator = tokenring.discovery().choose(prompt)?.authenticator;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)?;
        }
        let vault = Vault::create_with(
            path,
            &mut *authenticator,
            options,
            tokenring.vault_options(),
            prompt,
        )?;
        Ok(InProcessStore {
            vault: path.to_path_buf(),
            tokenring: tokenring.clone(),
            opened: Mutex::new(Some((vault, authenticator))),
        })
    }
}

/// Refuses a new vault in `dir` when the nearest directory of it that
/// exists belongs to another user (root's, like `/tmp`, excepted): `sudo
/// tokenring init` with `HOME` kept would otherwise leave root's directories
/// and vault in the user's home. Checked before any directory is made.
fn check_new_vault_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    let mut existing = Some(dir);
    while let Some(dir) = existing {
        match std::fs::metadata(dir) {
            Ok(meta) if meta.uid() == me || meta.uid() == 0 => return Ok(()),
            Ok(meta) => {
                return Err(tokenring_vault::VaultError::NotOwner {
                    path: dir.to_path_buf(),
                    owner: meta.uid(),
                    user: me,
                }
                .into())
            }
            Err(_) => existing = dir.parent().filter(|d| !d.as_os_str().is_empty()),
        }
    }
    Ok(())
}

/// Shows what the user should know about the file (an older copy).
fn report_warnings(vault: &Vault, prompt: &dyn Prompt) {
    for warning in vault.warnings() {
        prompt.warning(&warning.to_string());
    }
}

/// Creates `dir` and its parents; the directories created are private
/// (0700) on Unix.
fn create_private_dir(dir: &Path) -> Result<(), Error> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| {
        Error::Other(format!(
            "cannot create the directory {}: {e}",
            dir.display()
        ))
    })
}

impl SecretStore for InProcessStore {
    fn get(
        &self,
        service: &str,
        user: &str,
        prompt: &dyn Prompt,
    ) -> Result<Option<Password>, Error> {
        let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((vault, auth)) = &mut *opened {
            return Ok(vault.get(service, user, &mut **auth, prompt)?);
        }
        // Not open yet: format 2 opens the vault and reads the entry with
        // one touch (one getAssertion, two salts); format 1 needs two.
        let mut authenticator = self.holder(prompt)?;
        let (vault, password) = Vault::open_and_get(
            &self.vault,
            &mut *authenticator,
            service,
            user,
            prompt,
            self.tokenring.vault_options(),
        )?;
        report_warnings(&vault, prompt);
        *opened = Some((vault, authenticator));
        Ok(password)
    }

    fn get_many(&self, names: &[(&str, &str)], prompt: &dyn Prompt) -> Result<Secrets, Error> {
        let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        // Not open yet: format 2 opens the vault and reads the first entry
        // with one touch (two salts); format 1's entry salts lie inside the
        // encrypted list, so its unlock touch releases no entry.
        let mut early: Option<Password> = None;
        if opened.is_none() {
            match (Vault::format_of(&self.vault)?, names.first()) {
                (Format::V2, Some(&(service, user))) => {
                    let mut authenticator = self.holder(prompt)?;
                    let (vault, password) = Vault::open_and_get(
                        &self.vault,
                        &mut *authenticator,
                        service,
                        user,
                        prompt,
                        self.tokenring.vault_options(),
                    )?;
                    report_warnings(&vault, prompt);
                    *opened = Some((vault, authenticator));
                    early = password;
                }
                _ => *opened = Some(self.open(prompt)?),
            }
        }
        let Some((vault, auth)) = &mut *opened else {
            return Err(Error::Other("the vault did not open".into()));
        };
        // Every name before any (further) secret: a missing one stops all.
        let mut missing = Vec::new();
        for (i, (service, user)) in names.iter().enumerate() {
            if !vault.contains(service, user)? {
                missing.push(i);
            }
        }
        if !missing.is_empty() {
            return Ok(Secrets::Missing(missing));
        }
        let first = names.first().copied();
        let read_early = |n: &(&str, &str)| early.is_some() && Some(*n) == first;
        let rest: Vec<(&str, &str)> = names.iter().copied().filter(|n| !read_early(n)).collect();
        let mut got = vault.get_many(&rest, &mut **auth, prompt)?.into_iter();
        let mut passwords = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let password = match &early {
                Some(p) if read_early(name) => Some(Password::new(p.expose_secret())),
                _ => got.next().flatten(),
            };
            match password {
                Some(p) => passwords.push(p),
                // Deleted by another process since the look above.
                None => return Ok(Secrets::Missing(vec![i])),
            }
        }
        Ok(Secrets::All(passwords))
    }

    fn set(
        &self,
        service: &str,
        user: &str,
        password: &str,
        prompt: &dyn Prompt,
    ) -> Result<(), Error> {
        self.with(prompt, |vault, auth| {
            Ok(vault.set(service, user, password, &mut **auth, prompt)?)
        })
    }

    fn delete(&self, service: &str, user: &str, prompt: &dyn Prompt) -> Result<bool, Error> {
        self.with(prompt, |vault, _| Ok(vault.delete(service, user)?))
    }

    fn for_each_name(
        &self,
        prompt: &dyn Prompt,
        each: &mut dyn FnMut(&str, &str),
    ) -> Result<(), Error> {
        self.with(prompt, |vault, _| {
            for (service, user) in &vault.names()? {
                each(service, user);
            }
            Ok(())
        })
    }

    fn describe(&self) -> String {
        "in-process".to_string()
    }
}
