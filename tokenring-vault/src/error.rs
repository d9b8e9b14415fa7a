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
    /// Neither format 1 (JSON) nor format 2 (its magic bytes).
    #[error("neither a format-1 nor a format-2 vault")]
    UnknownFormat,
    /// A format-2 file of a later version.
    #[error("format version {0} is not supported by this TokenRing")]
    UnsupportedVersion(u8),
    /// A format-2 file with an algorithm suite this version does not know.
    #[error("algorithm suite {0} is not supported by this TokenRing")]
    UnsupportedSuite(u8),
    /// A format-2 file with feature flags this version does not know.
    #[error("the file uses features this TokenRing does not know")]
    UnsupportedFeature,
    /// A key slot of a kind this version does not know.
    #[error("key slot kind {0} is not supported by this TokenRing")]
    UnknownSlotKind(u8),
    /// Two slots with one id or label, or slots out of order.
    #[error("two key slots share an id or a label")]
    DuplicateSlot,
    /// Two entries with the same (service, user).
    #[error("two entries have the same service and user")]
    DuplicateEntry,
    /// An entry's grants do not match the key slots.
    #[error("an entry's key grants do not match the vault's key slots")]
    BadGrant,
    /// A field holds a value its rule forbids.
    #[error("invalid {field}")]
    Invalid {
        /// Which field.
        field: &'static str,
    },
    /// A text field is not UTF-8.
    #[error("{field} is not UTF-8")]
    BadUtf8 {
        /// Which field.
        field: &'static str,
    },
    /// Bytes after the last record.
    #[error("unexpected bytes after the last entry")]
    TrailingBytes,
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
    /// A format-2 operation on a format-1 vault.
    #[error("this vault is in format 1, which has one authenticator; convert it first with `tokenring convert --to 2` (the Python tokenring cannot open format 2)")]
    NotFormat2,
    /// The last key of a vault cannot be removed.
    #[error("this is the vault's last key; add another one before removing it")]
    LastKey,
    /// No key slot has this label or number.
    #[error("the vault has no key {0:?}; see `tokenring key list`")]
    NoSuchKey(String),
    /// Format 1 has room for one authenticator only.
    #[error(
        "format 1 holds exactly one authenticator; this vault has {0}: remove all but one first"
    )]
    NeedsExactlyOneKey(usize),
    /// The new authenticator already holds one of the vault's credentials.
    #[error("this authenticator is already enrolled in the vault (key {0:?})")]
    AlreadyEnrolled(String),
    /// The authenticator's output does not derive the slot's public key:
    /// another UV mode, another credential secret, or a modified header.
    #[error("this authenticator's secret does not match key {label:?} of the vault (another PIN/UV mode, or a modified file); nothing was decrypted")]
    SlotKeyMismatch {
        /// The slot's label.
        label: String,
    },
    /// `--require-uv` on an authenticator without credProtect.
    #[error("this authenticator does not support credProtect, which --require-uv needs")]
    CredProtectUnsupported,
    /// `--require-uv` on an authenticator that cannot verify the user.
    #[error(
        "this authenticator cannot verify the user (set a PIN first), which --require-uv needs"
    )]
    UvUnavailable,
    /// A label that is empty, too long, has control characters or is taken.
    #[error(
        "invalid key label {0:?}: 1 to 64 characters, no control characters, unique in the vault"
    )]
    BadLabel(String),
    /// A name longer than format 2 stores (65,535 bytes).
    #[error("a service or user name is longer than 65,535 bytes")]
    NameTooLong,
    /// A format-1 vault whose entries use other credentials than its own.
    #[error("this format-1 vault's entries use more than one credential; it cannot be converted")]
    MixedCredentials,
    /// The file is older than one this machine has seen: writes are
    /// refused until the user accepts it as current.
    #[error("the vault {path} is older than one this machine saw (generation {found} < {seen}): a backup or sync may have put an old copy back, which may list a key that was removed since; writes are refused. If this file is right, accept it with --accept-older-vault")]
    RollbackDetected {
        /// The vault path.
        path: PathBuf,
        /// The file's generation.
        found: u64,
        /// The highest generation seen here.
        seen: u64,
    },
    /// A check of the vault's own work failed (a bug); nothing was written.
    #[error("internal error in the vault code; the file was left untouched")]
    Internal,
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
