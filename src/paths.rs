//! Where things live: the vault (the original's location, so existing
//! vaults are found) and the agent's socket.

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

/// The default vault path: the original's, `<data root>/keyring.tokenvault`.
pub fn default_vault_path() -> Option<PathBuf> {
    python_keyring_data_root().map(|root| root.join(VAULT_FILE_NAME))
}

/// The directory that holds the agent's socket: `$XDG_RUNTIME_DIR/tokenring`,
/// or `<data root>/tokenring-agent` (created 0700) when that is unset.
pub fn agent_dir() -> Option<PathBuf> {
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

/// The environment variable that names the vault file.
pub const VAULT_ENV: &str = "TOKENRING_VAULT";

/// The vault every command and integration uses: `explicit` (a `--vault`
/// option), else `TOKENRING_VAULT` (an empty value counts as unset), else
/// [`default_vault_path`].
pub fn vault_path(explicit: Option<PathBuf>) -> Result<PathBuf, crate::Error> {
    explicit
        .or_else(|| {
            env::var_os(VAULT_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(default_vault_path)
        .ok_or_else(|| {
            crate::Error::Other(
                "cannot tell where the vault is: HOME is not set; use --vault PATH or set TOKENRING_VAULT"
                    .into(),
            )
        })
}
