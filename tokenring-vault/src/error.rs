//! Errors callers can act on. Every message says what happened and, where
//! there is one, what to do; none carries a secret. Crypto failures stay
//! opaque ("did not decrypt").

use std::path::PathBuf;
use std::time::Duration;

/// Why bytes are not a v1 vault (or its decrypted entry list).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The text ends before the JSON does.
    #[error("the file ends early (truncated?)")]
    Truncated,
    /// Not JSON at all, or not well-formed.
    #[error("invalid JSON: {0}")]
    Syntax(String),
    /// Well-formed JSON of the wrong shape: a missing, unknown or duplicate
    /// field, or a value of the wrong type.
    #[error("unexpected content: {0}")]
    Shape(String),
    /// A field that must be hex is not.
    #[error("{field} is not valid hex")]
    BadHex {
        /// Which field.
        field: &'static str,
    },
    /// A field has the wrong length.
    #[error("{field} must be {expected} bytes long, not {actual}")]
    BadLength {
        /// Which field.
        field: &'static str,
        /// The length it must have.
        expected: usize,
        /// The length it has.
        actual: usize,
    },
    /// The decrypted entry list is not UTF-8.
    #[error("the decrypted entry list is not UTF-8")]
    NotUtf8,
    /// The file is larger than any vault can be.
    #[error("the file is {0} bytes, larger than any vault ({max} bytes)", max = crate::format::MAX_FILE_LEN)]
    TooLarge(u64),
}

impl FormatError {
    /// Classifies a `serde_json` error, keeping its message short (it may
    /// quote file content, which is never secret here but can be huge).
    pub(crate) fn from_json(error: &serde_json::Error) -> Self {
        if error.is_eof() {
            return FormatError::Truncated;
        }
        let mut message = error.to_string();
        if message.len() > 200 {
            let mut cut = 200;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        if error.is_data() {
            FormatError::Shape(message)
        } else {
            FormatError::Syntax(message)
        }
    }
}

/// Why a symbolic link to the vault is not followed (see
/// [`VaultError::UntrustedLink`]). A link is followed only when it belongs
/// to this process's user (or to root) and sits in a directory that no
/// other user can change (or one with the sticky bit, like `/tmp`, that
/// belongs to this user or to root).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkProblem {
    /// Another user made the link: it may have been planted to make the
    /// vault be written somewhere else.
    #[error("it belongs to uid {owner}, not to you (uid {user}); someone else may have planted it: remove it, or name the vault file itself")]
    OwnedByOther {
        /// The link's owner.
        owner: u32,
        /// The effective user id of this process.
        user: u32,
    },
    /// Other users can write to (or own) the directory the link is in, so
    /// any of them could replace it between a look and a use.
    #[error("other users can write to {} (or own it), so one of them could replace the link: keep the vault, or the link to it, in a directory of your own", dir.display())]
    WritableDirectory {
        /// The directory.
        dir: PathBuf,
    },
    /// Links lead to links too many times (or in a loop).
    #[error("too many symbolic links in a row (a loop?)")]
    TooMany,
    /// The vault's lock file is a symbolic link; TokenRing never makes one.
    #[error("the vault's lock file is never a link (someone else may have planted it): remove it")]
    LockFile,
}

/// Everything that can go wrong with a vault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// There is no vault at this path.
    #[error("there is no vault at {path}; create one first")]
    NotFound {
        /// The vault path.
        path: PathBuf,
    },
    /// `create` found something at the path already.
    #[error("{path} already exists; refusing to create a vault over it")]
    AlreadyExists {
        /// The vault path.
        path: PathBuf,
    },
    /// The file is not a v1 vault. It was left untouched.
    #[error("{path} is not a valid TokenRing vault ({reason}); the file was left untouched")]
    Corrupt {
        /// The vault path.
        path: PathBuf,
        /// What is wrong.
        reason: FormatError,
    },
    /// The vault's data did not decrypt: the file was modified, or this
    /// authenticator derives a different secret for the credential.
    #[error("the vault {path} did not decrypt: the file was modified or damaged, or this authenticator does not hold its secret; the file was left untouched")]
    DidNotDecrypt {
        /// The vault path.
        path: PathBuf,
    },
    /// One entry's token did not decrypt.
    #[error("the password for {user:?} in {service:?} did not decrypt: the entry was modified or damaged")]
    EntryDidNotDecrypt {
        /// The entry's service.
        service: String,
        /// The entry's user.
        user: String,
    },
    /// The authenticator does not hold the vault's credential.
    #[error("this authenticator does not hold the vault's credential; use the authenticator the vault was created with")]
    WrongAuthenticator,
    /// The authenticator cannot do hmac-secret.
    #[error("this authenticator does not support the hmac-secret extension, which a vault needs")]
    HmacSecretUnsupported,
    /// Any other failure of the authenticator.
    #[error(transparent)]
    Authenticator(tokenring_core::Error),
    /// Another process held the vault's lock for longer than the timeout.
    #[error("the vault {path} is locked by another process{}; waited {:.1} s; try again when it is done", match .holder { Some(pid) => format!(" (pid {pid})"), None => String::new() }, .waited.as_secs_f64())]
    LockedByAnotherProcess {
        /// The vault path.
        path: PathBuf,
        /// The process that holds the lock, when it said so.
        holder: Option<u32>,
        /// How long we waited.
        waited: Duration,
    },
    /// The vault was locked in memory ([`crate::Vault::lock`]); unlock it again.
    #[error("the vault is locked; unlock it again (one touch)")]
    Locked,
    /// The file at the path was replaced by a vault with another key.
    #[error("the vault {path} was replaced by another vault while open; open it again")]
    Replaced {
        /// The vault path.
        path: PathBuf,
    },
    /// A write (or the lock every write takes) was asked of a vault that
    /// belongs to another user, or of a new vault in another user's
    /// directory, or the vault's lock file belongs to another user who
    /// alone may open it: typically `sudo tokenring …` with `HOME` kept
    /// (or what an older TokenRing left after one). Writing it
    /// would leave a vault and a lock file its owner cannot open; nothing
    /// was written.
    #[error("{path} belongs to uid {owner}, but this process runs as uid {user} (under sudo?); TokenRing writes only a vault of the user it runs as, and nothing was written: run it as uid {owner}, or give the file to uid {user}")]
    NotOwner {
        /// The vault file, or the directory a new vault would be made in.
        path: PathBuf,
        /// The file's owner.
        owner: u32,
        /// The effective user id of this process.
        user: u32,
    },
    /// A symbolic link on the way to the vault (or where its lock file
    /// goes) is not followed: someone else made it or could replace it.
    #[error("refusing to follow the symbolic link {link}: {reason}")]
    UntrustedLink {
        /// The link.
        link: PathBuf,
        /// Why it is not trusted.
        reason: LinkProblem,
    },
    /// The operating system's random number generator failed.
    #[error("no randomness available from the operating system: {0}")]
    Random(String),
    /// Reading or writing a file failed.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What was being done ("read", "write", "lock", …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl VaultError {
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        VaultError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<tokenring_core::Error> for VaultError {
    fn from(error: tokenring_core::Error) -> Self {
        match error {
            tokenring_core::Error::NoCredentials => VaultError::WrongAuthenticator,
            tokenring_core::Error::HmacSecretUnsupported => VaultError::HmacSecretUnsupported,
            other => VaultError::Authenticator(other),
        }
    }
}
