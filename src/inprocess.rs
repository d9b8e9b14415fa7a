//! The vault opened in this process: [`InProcessStore`].
//!
//! Every operation finds the authenticator that holds the vault's
//! credential without a tap ([`crate::devices::open_for_credential`]),
//! unlocks the vault (one tap) and then, for `get` and `set`, derives the
//! entry's key (one more tap). `list` and `delete` need only the unlock
//! tap. Writes happen under the vault's file lock (re-read under the lock),
//! so a CLI `set` beside an agent or another CLI loses nothing.

use std::path::{Path, PathBuf};

use tokenring_core::Prompt;
use tokenring_vault::{CreateOptions, Password, Vault};

use crate::devices::{self, DeviceOptions, DynAuthenticator};
use crate::{Error, SecretStore};

/// A vault opened in this process for each operation (see the module
/// documentation).
#[derive(Debug, Clone)]
pub struct InProcessStore {
    vault: PathBuf,
    devices: DeviceOptions,
}

impl InProcessStore {
    /// A store over the vault at `vault`, using the authenticators `devices`
    /// allows.
    pub fn new(vault: PathBuf, devices: DeviceOptions) -> Self {
        InProcessStore { vault, devices }
    }

    /// The vault's path.
    pub fn vault_path(&self) -> &Path {
        &self.vault
    }

    /// Finds the authenticator that holds the vault's credential (no tap)
    /// and unlocks the vault with it (one tap).
    pub fn open(&self, prompt: &dyn Prompt) -> Result<(Vault, DynAuthenticator), Error> {
        let credential = Vault::credential_of(&self.vault)?;
        let mut authenticator = devices::open_for_credential(&self.devices, &credential, prompt)?;
        let vault = Vault::open(&self.vault, &mut *authenticator, prompt)?;
        Ok((vault, authenticator))
    }
}

/// Creates a new, empty vault at `path` with the authenticator `devices`
/// chooses (one tap to choose among several, one to enroll — and the PIN
/// if the authenticator has one — and one to derive the vault key).
/// Refuses before touching any authenticator if something exists at `path`.
pub fn create_vault(
    path: &Path,
    devices: &DeviceOptions,
    prompt: &dyn Prompt,
) -> Result<Vault, Error> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(tokenring_vault::VaultError::AlreadyExists {
            path: path.to_path_buf(),
        }
        .into());
    }
    let mut authenticator = devices::choose_for_enrollment(devices, prompt)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    let vault = Vault::create(path, &mut *authenticator, &CreateOptions::default(), prompt)?;
    Ok(vault)
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
        let (vault, mut authenticator) = self.open(prompt)?;
        Ok(vault.get(service, user, &mut *authenticator, prompt)?)
    }

    fn set(
        &self,
        service: &str,
        user: &str,
        password: &str,
        prompt: &dyn Prompt,
    ) -> Result<(), Error> {
        let (vault, mut authenticator) = self.open(prompt)?;
        Ok(vault.set(service, user, password, &mut *authenticator, prompt)?)
    }

    fn delete(&self, service: &str, user: &str, prompt: &dyn Prompt) -> Result<bool, Error> {
        let (vault, _authenticator) = self.open(prompt)?;
        Ok(vault.delete(service, user)?)
    }

    fn list(&self, prompt: &dyn Prompt) -> Result<Vec<(String, String)>, Error> {
        let (vault, _authenticator) = self.open(prompt)?;
        Ok(vault.list()?)
    }

    fn describe(&self) -> String {
        "in-process".to_string()
    }
}
