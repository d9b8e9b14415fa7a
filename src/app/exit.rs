//! Exit codes of the programs, one per kind of failure a user can act on
//! (the README and `tokenring --help` show the table).

use tokenring_vault::VaultError;

use crate::Error;

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
/// PIN wrong, blocked, required but not given, not set, already set, or
/// to be changed first; built-in UV blocked or required.
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
/// A write refused: the vault file is older than one this machine saw.
pub const ROLLBACK: u8 = 12;
/// Cancelled by Ctrl-C (128 + SIGINT).
pub const CANCELLED: u8 = 130;

/// The exit code for an error.
pub trait ExitStatus {
    /// The `tokenring` command's exit code for this error.
    fn exit_code(&self) -> u8;
}

impl ExitStatus for Error {
    fn exit_code(&self) -> u8 {
        match self {
            Error::Vault(e) => vault_exit_code(e),
            Error::Authenticator(e) => authenticator_exit_code(e),
            Error::Agent(_) => AGENT,
            _ => OTHER,
        }
    }
}

fn vault_exit_code(error: &VaultError) -> u8 {
    match error {
        VaultError::NotFound { .. } | VaultError::AlreadyExists { .. } => VAULT_MISSING_OR_EXISTS,
        VaultError::Corrupt { .. }
        | VaultError::DidNotDecrypt { .. }
        | VaultError::EntryDidNotDecrypt { .. }
        | VaultError::Replaced { .. } => VAULT_CORRUPT,
        VaultError::WrongAuthenticator => WRONG_AUTHENTICATOR,
        VaultError::LockedByAnotherProcess { .. } => VAULT_LOCKED,
        VaultError::Authenticator(e) => authenticator_exit_code(e),
        VaultError::RollbackDetected { .. } => ROLLBACK,
        VaultError::NotFormat2
        | VaultError::LastKey
        | VaultError::NoSuchKey(_)
        | VaultError::NeedsExactlyOneKey(_)
        | VaultError::AlreadyEnrolled(_)
        | VaultError::BadLabel(_) => USAGE,
        VaultError::SlotKeyMismatch { .. } => WRONG_AUTHENTICATOR,
        VaultError::UvUnavailable => PIN,
        _ => OTHER,
    }
}

fn authenticator_exit_code(error: &tokenring_core::Error) -> u8 {
    use tokenring_core::Error as E;
    if error.is_cancelled() {
        return CANCELLED;
    }
    match error {
        E::PinInvalid { .. }
        | E::PinBlocked
        | E::PinAuthBlocked
        | E::PinNotSet
        | E::PinRequired
        | E::PinPolicyViolation
        | E::PinAlreadySet
        | E::PinChangeRequired
        | E::BuiltInUvRequired
        | E::UvBlocked
        | E::UvInvalid { .. } => PIN,
        E::OperationDenied | E::UserActionTimeout => TOUCH,
        E::NoCredentials | E::InvalidCredential | E::WrongAuthenticator { .. } => {
            WRONG_AUTHENTICATOR
        }
        E::NoAuthenticator { .. } => NO_AUTHENTICATOR,
        E::BadSelector(_) => USAGE,
        _ => OTHER,
    }
}
