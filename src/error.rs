//! The one error type of the library: [`Error`].

use tokenring_vault::VaultError;

/// Everything the library can fail with. Messages say what to do and never
/// hold a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A vault operation failed (corrupt, missing, locked by another
    /// process, did not decrypt, …).
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The authenticator failed, or none could be found (no authenticator,
    /// wrong authenticator, wrong PIN with the retries left, touch denied,
    /// cancelled, …).
    #[error(transparent)]
    Authenticator(#[from] tokenring_core::Error),
    /// The agent failed or answered something this version does not
    /// understand.
    #[error("agent: {0}")]
    Agent(String),
    /// Anything else, with a message that says what to do.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The authenticator error underneath, whether it came straight from
    /// the authenticator or through a vault operation.
    pub fn authenticator(&self) -> Option<&tokenring_core::Error> {
        match self {
            Error::Authenticator(e) | Error::Vault(VaultError::Authenticator(e)) => Some(e),
            _ => None,
        }
    }

    /// Whether the user cancelled (Ctrl-C, or the prompt's cancel flag).
    pub fn is_cancelled(&self) -> bool {
        self.authenticator()
            .is_some_and(tokenring_core::Error::is_cancelled)
    }
}
