//! Errors a user sees, each with a documented exit code (see
//! [`Error::exit_code`] and the README's table).

use tokenring_vault::VaultError;

/// Everything the CLI and the integrations can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A vault operation failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The authenticator failed.
    #[error(transparent)]
    Authenticator(#[from] tokenring_core::Error),
    /// No authenticator is connected.
    #[error("no authenticator found: plug in your authenticator or hold it to the reader{}", tried_list(.tried))]
    NoAuthenticator {
        /// What was looked at (readers, device paths), for the message.
        tried: Vec<String>,
    },
    /// None of the connected authenticators holds the vault's credential.
    #[error("none of the connected authenticators holds this vault's credential{}", tried_list(.tried))]
    WrongAuthenticator {
        /// The authenticators that were probed.
        tried: Vec<String>,
    },
    /// A selector (`hid:PATH`, `nfc:READER`, `sim:STATEFILE`) that is not one.
    #[error("{0}")]
    BadSelector(String),
    /// The agent failed or answered something we do not understand.
    #[error("agent: {0}")]
    Agent(String),
    /// Anything else, with a message that says what to do.
    #[error("{0}")]
    Other(String),
}

fn tried_list(tried: &[String]) -> String {
    if tried.is_empty() {
        String::new()
    } else {
        format!(" (tried: {})", tried.join(", "))
    }
}
