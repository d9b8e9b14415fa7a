//! Where things live: the vault (the original's location, so existing
//! vaults are found) and the agent's socket. These follow the platform's
//! conventions (`HOME`, `XDG_DATA_HOME`, `XDG_RUNTIME_DIR`), as Python's
//! keyring does; nothing here reads TokenRing's own settings.

use std::env;
use std::path::PathBuf;

/// The file name the original gives its vault.
pub const VAULT_FILE_NAME: &str = "keyring.tokenvault";

/// Python keyring's data root (`keyring.util.platform_.data_root()`):
/// `$XDG_DATA_HOME/python_keyring` or `~/.local/share/python_keyring` on
/// Linux and other Unix systems, `~/Library/Application Support/python_keyring`
/// on macOS.
pub fn python_keyring_data_root() -> Option<PathBuf> {
    if cfg!(target_os = "macos") {
        return home().map(|h| h.join("Library/Application Support/python_keyring"));
    }
    let data_home = env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".local/share")))?;
    Some(data_home.join("python_keyring"))
}

/// The default vault path: the original's, `<data root>/keyring.tokenvault`
/// (see [`python_keyring_data_root`]), so an existing vault is found. An
/// error when `HOME` is not set.
pub fn default_vault_path() -> Result<PathBuf, crate::Error> {
    python_keyring_data_root()
        .map(|root| root.join(VAULT_FILE_NAME))
        .ok_or_else(|| {
            crate::Error::Other(
                "cannot tell where the vault is: HOME is not set; name the vault's path".into(),
            )
        })
}

/// The directory that holds the agent's socket: `$XDG_RUNTIME_DIR/tokenring`,
/// or `<data root>/tokenring-agent` (created 0700) when that is unset.
pub(crate) fn agent_dir() -> Option<PathBuf> {
    if let Some(runtime) = env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(runtime).join("tokenring"));
    }
    let data_home = env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".local/share")))?;
    Some(data_home.join("tokenring").join("agent"))
}

fn home() -> Option<PathBuf> {
    env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}
