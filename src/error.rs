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

/// Exit codes of the `tokenring` command, one per kind of failure a user
/// can act on (see [`Error::exit_code`]).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// `get` / `delete`: there is no such entry (nothing on stdout).
    pub const NO_SUCH_ENTRY: u8 = 1;
    /// A command line that does not parse, or a bad selector.
    pub const USAGE: u8 = 2;
    /// No authenticator is connected.
    pub const NO_AUTHENTICATOR: u8 = 3;
    /// None of the connected authenticators holds the vault's credential.
    pub const WRONG_AUTHENTICATOR: u8 = 4;
    /// PIN wrong, blocked, required but not given, or not set.
    pub const PIN: u8 = 5;
    /// The touch was denied or timed out.
    pub const TOUCH: u8 = 6;
    /// The vault file is corrupt or was tampered with (it was left untouched).
    pub const VAULT_CORRUPT: u8 = 7;
    /// Another process holds the vault's lock.
    pub const VAULT_LOCKED: u8 = 8;
    /// There is no vault (`init` first), or `init` found one already.
    pub const VAULT_MISSING_OR_EXISTS: u8 = 9;
    /// The agent failed.
    pub const AGENT: u8 = 10;
    /// Anything else (device errors, I/O, …).
    pub const OTHER: u8 = 11;
    /// Cancelled by Ctrl-C (128 + SIGINT).
    pub const CANCELLED: u8 = 130;
}

impl Error {
    /// The `tokenring` command's exit code for this error (see [`exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Vault(e) => vault_exit_code(e),
            Error::Authenticator(e) => authenticator_exit_code(e),
            Error::NoAuthenticator { .. } => exit::NO_AUTHENTICATOR,
            Error::WrongAuthenticator { .. } => exit::WRONG_AUTHENTICATOR,
            Error::BadSelector(_) => exit::USAGE,
            Error::Agent(_) => exit::AGENT,
            #[allow(unreachable_patterns)]
            _ => exit::OTHER,
        }
    }

    /// Whether the user cancelled (Ctrl-C).
    pub fn is_cancelled(&self) -> bool {
        self.exit_code() == exit::CANCELLED
    }
}

fn vault_exit_code(error: &VaultError) -> u8 {
    match error {
        VaultError::NotFound { .. } | VaultError::AlreadyExists { .. } => {
            exit::VAULT_MISSING_OR_EXISTS
        }
        VaultError::Corrupt { .. }
        | VaultError::DidNotDecrypt { .. }
        | VaultError::EntryDidNotDecrypt { .. }
        | VaultError::Replaced { .. } => exit::VAULT_CORRUPT,
        VaultError::WrongAuthenticator => exit::WRONG_AUTHENTICATOR,
        VaultError::LockedByAnotherProcess { .. } => exit::VAULT_LOCKED,
        VaultError::Authenticator(e) => authenticator_exit_code(e),
        _ => exit::OTHER,
    }
}

fn authenticator_exit_code(error: &tokenring_core::Error) -> u8 {
    use tokenring_core::Error as E;
    if error.is_cancelled() {
        return exit::CANCELLED;
    }
    match error {
        E::PinInvalid { .. }
        | E::PinBlocked
        | E::PinAuthBlocked
        | E::PinNotSet
        | E::PinRequired
        | E::PinPolicyViolation
        | E::UvBlocked
        | E::UvInvalid { .. } => exit::PIN,
        E::OperationDenied | E::UserActionTimeout => exit::TOUCH,
        E::NoCredentials | E::InvalidCredential => exit::WRONG_AUTHENTICATOR,
        _ => exit::OTHER,
    }
}

fn tried_list(tried: &[String]) -> String {
    if tried.is_empty() {
        String::new()
    } else {
        format!(" (tried: {})", tried.join(", "))
    }
}
