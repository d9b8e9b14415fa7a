//! The TokenRing agent's client side: a background process (`tokenring
//! agent`) unlocks a vault once (one tap) and then needs exactly one tap per
//! secret, serving the CLI and every integration over a private Unix socket.
//!
//! - [`socket_path`]: one agent per vault, `<agent dir>/vault-<hash>.sock`
//!   where the hash is of the canonical vault path; the agent directory is
//!   `$XDG_RUNTIME_DIR/tokenring` (or `tokenring/agent` under the data
//!   directory), 0700.
//! - [`protocol`]: length-prefixed, versioned frames of JSON messages
//!   (documented there, for thin clients in other languages).
//! - [`AgentClient`]: a [`crate::SecretStore`] that talks to the agent;
//!   [`crate::Tokenring::open`] uses it when an agent runs for the vault.

mod client;
pub mod protocol;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use client::AgentClient;
#[doc(hidden)]
pub use client::AgentConnection;
pub use protocol::StatusReport;

/// Who is at the other end of a Unix socket, as the kernel says.
pub(crate) struct PeerCredentials {
    pub(crate) uid: rustix::process::Uid,
    pub(crate) pid: u32,
}

/// Whether [`peer_credentials`] works on this system: Linux and Android
/// (`SO_PEERCRED`). rustix, through which we make every system call without
/// `unsafe`, offers neither `getpeereid` nor `LOCAL_PEERCRED`, so on macOS
/// and the BSDs the agent refuses to start and every program opens the
/// vault itself.
pub(crate) const PEER_CREDENTIALS_SUPPORTED: bool =
    cfg!(any(target_os = "linux", target_os = "android"));

/// The peer's credentials (SO_PEERCRED).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn peer_credentials(
    stream: &std::os::unix::net::UnixStream,
) -> std::io::Result<PeerCredentials> {
    let cred = rustix::net::sockopt::socket_peercred(stream)?;
    Ok(PeerCredentials {
        uid: cred.uid,
        pid: u32::try_from(cred.pid.as_raw_nonzero().get()).unwrap_or(0),
    })
}

/// Peer credentials are only read on Linux and Android: elsewhere the
/// agent does not start (see [`PEER_CREDENTIALS_SUPPORTED`]), and a client
/// refuses a socket whose server it cannot check.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn peer_credentials(
    _: &std::os::unix::net::UnixStream,
) -> std::io::Result<PeerCredentials> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "checking a peer's uid is implemented on Linux only",
    ))
}

/// The file name of the default vault's agent socket, so that a systemd
/// socket unit can name it: `$XDG_RUNTIME_DIR/tokenring/agent.sock`.
pub const DEFAULT_SOCKET_NAME: &str = "agent.sock";

/// The socket of the agent for `vault`: [`DEFAULT_SOCKET_NAME`] for the
/// default vault ([`crate::default_vault_path`]), `vault-<hash>.sock` for any
/// other, the hash being the first 12 bytes of SHA-256 of the canonical
/// vault path (so every spelling of the path finds the same agent), in the
/// agent directory. `None` when the vault does not exist or there is no
/// agent directory (no `XDG_RUNTIME_DIR`, `XDG_DATA_HOME` or `HOME`).
pub fn socket_path(vault: &Path) -> Option<PathBuf> {
    let canonical = vault.canonicalize().ok()?;
    let dir = crate::paths::agent_dir()?;
    let default = crate::default_vault_path()
        .ok()
        .and_then(|path| path.canonicalize().ok());
    if default.as_deref() == Some(canonical.as_path()) {
        return Some(dir.join(DEFAULT_SOCKET_NAME));
    }
    Some(dir.join(socket_file_name(&canonical)))
}

/// The socket's file name for a canonical vault path.
pub(crate) fn socket_file_name(canonical: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let digest = Sha256::digest(canonical.as_os_str().as_bytes());
    format!(
        "vault-{}.sock",
        hex::encode(digest.get(..12).unwrap_or_default())
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn socket_names_depend_on_the_canonical_path_only() {
        let a = socket_file_name(Path::new("/a/vault"));
        assert_eq!(a, socket_file_name(Path::new("/a/vault")));
        assert_ne!(a, socket_file_name(Path::new("/b/vault")));
        assert!(a.starts_with("vault-") && a.ends_with(".sock") && a.len() == 6 + 24 + 5);
    }
}
