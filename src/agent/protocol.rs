//! The agent's wire protocol: length-prefixed, versioned frames carrying one
//! JSON message each, simple enough for a few lines of Python.
//!
//! # Frames
//!
//! ```text
//! +----------------------+-------------+------------------------------+
//! | length: u32 big end. | version: u8 | body: UTF-8 JSON (length-1)  |
//! +----------------------+-------------+------------------------------+
//! ```
//!
//! `length` counts the version byte and the body; it is at least 2 and at
//! most [`MAX_FRAME_LEN`] (64 KiB). [`PROTOCOL_VERSION`] is 1. A frame that
//! breaks these rules, or whose body is not a message below, is answered
//! with an `error` message and the connection is closed.
//!
//! # Messages
//!
//! Every body is a JSON object with a `"type"` field. A client sends one
//! request and then reads frames until the final reply; while the agent
//! works it may send events (`touch`, `touch_done`, `keepalive`, `info`,
//! `pin_request`). The client answers a `pin_request` with a `pin` message
//! and may send `cancel` at any time; closing the connection also cancels.
//!
//! | client → agent | fields | final reply |
//! |---|---|---|
//! | `get` | `service`, `user` | `password` (`password`: string or null) |
//! | `set` | `service`, `user`, `password` | `done` |
//! | `delete` | `service`, `user` | `deleted` (`existed`: bool) |
//! | `list` | | `names` (`names`: `[{"service", "user"}]`) |
//! | `lock` | | `done` |
//! | `status` | | `status` (see [`StatusReport`]) |
//! | `cancel` | | (the running request ends with an `error` of kind `cancelled`) |
//! | `pin` | `pin`: string, or null to decline | (answers a `pin_request`) |
//!
//! Any request may instead end with `error` ([`WireError`]: `kind`,
//! `message`, and details). Unknown fields are ignored, for later versions.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tokenring_core::{KeepaliveStatus, Pin, PinPurpose};
use tokenring_vault::{FormatError, VaultError};
use zeroize::Zeroizing;

use crate::Error;

/// The protocol version in every frame.
pub const PROTOCOL_VERSION: u8 = 1;

/// The largest frame (version byte and body), 64 KiB.
pub const MAX_FRAME_LEN: usize = 64 * 1024;

/// Bytes before the body: the length (4) and the version (1).
pub const HEADER_LEN: usize = 5;

/// A secret string on the wire (a password or a PIN): zeroized on drop,
/// never `Debug`, serialized as a plain JSON string.
pub struct WireSecret(Zeroizing<String>);

impl WireSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        WireSecret(Zeroizing::new(secret.into()))
    }

    /// The secret. Every use is a place to review.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl Serialize for WireSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for WireSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(WireSecret::new)
    }
}

/// A (service, user) name pair, as `list` returns them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Name {
    /// The service.
    pub service: String,
    /// The user.
    pub user: String,
}

/// What a client sends.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// The password for (service, user): one tap (plus the unlock tap when
    /// the agent is locked).
    Get {
        /// The service.
        service: String,
        /// The user.
        user: String,
    },
    /// Stores a password: one tap.
    Set {
        /// The service.
        service: String,
        /// The user.
        user: String,
        /// The password.
        password: WireSecret,
    },
    /// Deletes an entry; no tap once unlocked.
    Delete {
        /// The service.
        service: String,
        /// The user.
        user: String,
    },
    /// The names of every entry; no tap once unlocked.
    List,
    /// Forgets the vault key now.
    Lock,
    /// The agent's state; never unlocks, never resets the idle timer.
    Status,
    /// Cancels the running request (CTAP cancel on the authenticator).
    Cancel,
    /// Answers a `pin_request`; `null` declines.
    Pin {
        /// The PIN, or `None` to decline.
        pin: Option<WireSecret>,
    },
}

impl ClientMessage {
    /// Whether this message starts a request (as opposed to `cancel` and
    /// `pin`, which belong to a running one).
    pub fn is_request(&self) -> bool {
        !matches!(self, ClientMessage::Cancel | ClientMessage::Pin { .. })
    }

    /// The message's `type`, for error messages (never its content).
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Get { .. } => "get",
            ClientMessage::Set { .. } => "set",
            ClientMessage::Delete { .. } => "delete",
            ClientMessage::List => "list",
            ClientMessage::Lock => "lock",
            ClientMessage::Status => "status",
            ClientMessage::Cancel => "cancel",
            ClientMessage::Pin { .. } => "pin",
        }
    }
}

/// A keepalive status on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireKeepalive {
    /// The authenticator is processing.
    Processing,
    /// The authenticator waits for a touch.
    UserPresenceNeeded,
}

impl From<KeepaliveStatus> for WireKeepalive {
    fn from(status: KeepaliveStatus) -> Self {
        match status {
            KeepaliveStatus::Processing => WireKeepalive::Processing,
            KeepaliveStatus::UserPresenceNeeded => WireKeepalive::UserPresenceNeeded,
        }
    }
}

impl From<WireKeepalive> for KeepaliveStatus {
    fn from(status: WireKeepalive) -> Self {
        match status {
            WireKeepalive::Processing => KeepaliveStatus::Processing,
            WireKeepalive::UserPresenceNeeded => KeepaliveStatus::UserPresenceNeeded,
        }
    }
}

/// Which PIN a `pin_request` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WirePinKind {
    /// The PIN, to verify the user.
    Verify,
    /// A new PIN to set.
    SetNew,
    /// The current PIN, before a change.
    ChangeCurrent,
    /// The new PIN of a change.
    ChangeNew,
}

impl From<PinPurpose> for WirePinKind {
    fn from(kind: PinPurpose) -> Self {
        match kind {
            PinPurpose::Verify => WirePinKind::Verify,
            PinPurpose::SetNew => WirePinKind::SetNew,
            PinPurpose::ChangeCurrent => WirePinKind::ChangeCurrent,
            PinPurpose::ChangeNew => WirePinKind::ChangeNew,
        }
    }
}

impl From<WirePinKind> for PinPurpose {
    fn from(kind: WirePinKind) -> Self {
        match kind {
            WirePinKind::Verify => PinPurpose::Verify,
            WirePinKind::SetNew => PinPurpose::SetNew,
            WirePinKind::ChangeCurrent => PinPurpose::ChangeCurrent,
            WirePinKind::ChangeNew => PinPurpose::ChangeNew,
        }
    }
}

/// The agent's state, as `status` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The agent's process id.
    pub pid: u32,
    /// The agent's TokenRing version.
    pub version: String,
    /// The protocol version it speaks.
    pub protocol: u8,
    /// The vault it serves.
    pub vault: String,
    /// Whether the vault key is forgotten (the next request needs an unlock tap).
    pub locked: bool,
    /// The idle timeout, in seconds.
    pub idle_lock_secs: f64,
    /// Seconds until the idle lock, when unlocked.
    pub idle_lock_in_secs: Option<f64>,
    /// How many entries the vault has, when unlocked.
    pub entries: Option<usize>,
    /// Connected clients (this one included).
    pub clients: usize,
}

/// What the agent sends: events during a request, then one final reply.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentMessage {
    /// Event: touch the authenticator, for `purpose`.
    Touch {
        /// Why ("unlock the vault", "decrypt the password for 'alice' in 'bank'").
        purpose: String,
    },
    /// Event: the touch arrived (or the wait ended).
    TouchDone,
    /// Event: a keepalive from the authenticator.
    Keepalive {
        /// Its status.
        status: WireKeepalive,
    },
    /// Event: a message for the user.
    Info {
        /// The message.
        message: String,
    },
    /// Event: the authenticator needs the PIN; answer with a `pin` message.
    PinRequest {
        /// What the PIN is for.
        purpose: String,
        /// Which PIN.
        kind: WirePinKind,
        /// Retries left, when known.
        retries: Option<u8>,
        /// The previous attempt was wrong.
        previous_wrong: bool,
    },
    /// Reply to `set` and `lock`.
    Done,
    /// Reply to `get`: the password, or `null` when there is no such entry.
    Password {
        /// The password.
        password: Option<WireSecret>,
    },
    /// Reply to `delete`.
    Deleted {
        /// Whether there was such an entry.
        existed: bool,
    },
    /// Reply to `list`.
    Names {
        /// Every (service, user), in vault order.
        names: Vec<Name>,
    },
    /// Reply to `status`.
    Status(StatusReport),
    /// The request failed (or the frame was refused).
    Error(WireError),
}

impl AgentMessage {
    /// Whether this is an event (more frames follow) rather than a final reply.
    pub fn is_event(&self) -> bool {
        matches!(
            self,
            AgentMessage::Touch { .. }
                | AgentMessage::TouchDone
                | AgentMessage::Keepalive { .. }
                | AgentMessage::Info { .. }
                | AgentMessage::PinRequest { .. }
        )
    }
}

/// Why a request failed, in a form a client can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The frame broke the framing rules (length, version, UTF-8, JSON).
    BadFrame,
    /// The frame is longer than [`MAX_FRAME_LEN`].
    FrameTooLarge,
    /// The frame's version is not [`PROTOCOL_VERSION`].
    UnsupportedVersion,
    /// Well-formed JSON that is not a valid message here.
    BadRequest,
    /// The connection already runs a request, or the agent has too many clients.
    Busy,
    /// The client runs under another user id.
    PermissionDenied,
    /// The frame took too long to arrive, or the PIN answer did not come.
    Timeout,
    /// The request was cancelled (by the client, or the agent shut down).
    Cancelled,
    /// The authenticator failed; `ctap_status` or `core_error` say how.
    Authenticator,
    /// No authenticator is connected.
    NoAuthenticator,
    /// None of the connected authenticators holds the vault's credential.
    WrongAuthenticator,
    /// The vault failed; `vault_error` says how.
    Vault,
    /// The agent is shutting down.
    ShuttingDown,
    /// Anything else.
    Internal,
}

/// An `error` message: a kind, a message for the user, and the details a
/// client needs to rebuild the typed error (so exit codes stay the same
/// with and without the agent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The message for the user (never a secret).
    pub message: String,
    /// The CTAP status code, when the authenticator answered one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctap_status: Option<u8>,
    /// PIN retries left, with a wrong PIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u8>,
    /// An authenticator error without a CTAP status (`pin_required`,
    /// `transport_disconnected`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core_error: Option<String>,
    /// Which vault error (`not_found`, `corrupt`, `did_not_decrypt`,
    /// `entry_did_not_decrypt`, `locked_by_another_process`, `locked`,
    /// `replaced`, `io`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_error: Option<String>,
    /// The vault path, for vault errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The entry, for `entry_did_not_decrypt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<Name>,
    /// The process holding the vault's lock, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<u32>,
    /// How long the lock was waited for, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waited_secs: Option<f64>,
    /// What was tried, for `no_authenticator` / `wrong_authenticator`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tried: Vec<String>,
}

impl WireError {
    /// An error with only a kind and a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        WireError {
            kind,
            message: message.into(),
            ctap_status: None,
            retries: None,
            core_error: None,
            vault_error: None,
            path: None,
            entry: None,
            holder: None,
            waited_secs: None,
            tried: Vec::new(),
        }
    }

    /// The wire form of an error (its message never holds a secret: no
    /// error type in TokenRing carries one).
    pub fn from_error(error: &Error) -> Self {
        match error {
            Error::Authenticator(e) => Self::from_core(e, ErrorKind::Authenticator),
            Error::Vault(e) => Self::from_vault(e),
            Error::Agent(message) => WireError::new(ErrorKind::Internal, message.clone()),
            other => WireError::new(ErrorKind::Internal, other.to_string()),
        }
    }

    fn from_core(error: &tokenring_core::Error, kind: ErrorKind) -> Self {
        use tokenring_core::Error as E;
        match error {
            E::NoAuthenticator { tried } => {
                return WireError {
                    tried: tried.clone(),
                    ..WireError::new(ErrorKind::NoAuthenticator, error.to_string())
                }
            }
            E::WrongAuthenticator { tried } => {
                return WireError {
                    tried: tried.clone(),
                    ..WireError::new(ErrorKind::WrongAuthenticator, error.to_string())
                }
            }
            _ => {}
        }
        let kind = if error.is_cancelled() {
            ErrorKind::Cancelled
        } else {
            kind
        };
        let mut wire = WireError::new(kind, error.to_string());
        wire.ctap_status = error.status();
        match error {
            E::PinInvalid { retries } | E::UvInvalid { retries } => wire.retries = *retries,
            E::Transport(t) => {
                wire.core_error = Some(format!("transport_{}", transport_kind_name(&t.kind)));
            }
            _ => wire.core_error = core_error_name(error).map(str::to_string),
        }
        wire
    }

    fn from_vault(error: &VaultError) -> Self {
        let name = |n: &str| Some(n.to_string());
        let mut wire = WireError::new(ErrorKind::Vault, error.to_string());
        match error {
            VaultError::Authenticator(e) => {
                let mut inner = Self::from_core(e, ErrorKind::Vault);
                inner.vault_error = name("authenticator");
                return inner;
            }
            VaultError::NotFound { path } => {
                wire.vault_error = name("not_found");
                wire.path = Some(path.display().to_string());
            }
            VaultError::AlreadyExists { path } => {
                wire.vault_error = name("already_exists");
                wire.path = Some(path.display().to_string());
            }
            VaultError::Corrupt { path, reason } => {
                wire.vault_error = name("corrupt");
                wire.path = Some(path.display().to_string());
                wire.core_error = Some(reason.to_string());
            }
            VaultError::DidNotDecrypt { path } => {
                wire.vault_error = name("did_not_decrypt");
                wire.path = Some(path.display().to_string());
            }
            VaultError::EntryDidNotDecrypt { service, user } => {
                wire.vault_error = name("entry_did_not_decrypt");
                wire.entry = Some(Name {
                    service: service.clone(),
                    user: user.clone(),
                });
            }
            VaultError::WrongAuthenticator => wire.vault_error = name("wrong_authenticator"),
            VaultError::HmacSecretUnsupported => wire.vault_error = name("hmac_secret_unsupported"),
            VaultError::LockedByAnotherProcess {
                path,
                holder,
                waited,
            } => {
                wire.vault_error = name("locked_by_another_process");
                wire.path = Some(path.display().to_string());
                wire.holder = *holder;
                wire.waited_secs = Some(waited.as_secs_f64());
            }
            VaultError::Locked => wire.vault_error = name("locked"),
            VaultError::Replaced { path } => {
                wire.vault_error = name("replaced");
                wire.path = Some(path.display().to_string());
            }
            VaultError::Random(_) => wire.vault_error = name("random"),
            VaultError::Io { path, .. } => {
                wire.vault_error = name("io");
                wire.path = Some(path.display().to_string());
            }
            _ => {}
        }
        wire
    }

    /// The typed error this stands for: the same variant the in-process
    /// store would have returned where the wire carries enough to rebuild
    /// it, [`Error::Agent`] with the agent's message otherwise.
    pub fn into_error(self) -> Error {
        match self.kind {
            ErrorKind::Cancelled => match self.vault_error.as_deref() {
                Some(_) => Error::Vault(VaultError::from(tokenring_core::Error::Cancelled)),
                None => Error::Authenticator(tokenring_core::Error::Cancelled),
            },
            ErrorKind::Authenticator => match self.core() {
                Some(core) => Error::Authenticator(core),
                None => Error::Agent(self.message),
            },
            ErrorKind::NoAuthenticator => {
                Error::Authenticator(tokenring_core::Error::NoAuthenticator { tried: self.tried })
            }
            ErrorKind::WrongAuthenticator => {
                Error::Authenticator(tokenring_core::Error::WrongAuthenticator {
                    tried: self.tried,
                })
            }
            ErrorKind::Vault => match self.vault() {
                Some(vault) => Error::Vault(vault),
                None => Error::Agent(self.message),
            },
            _ => Error::Agent(self.message),
        }
    }

    fn core(&self) -> Option<tokenring_core::Error> {
        use tokenring_core::Error as E;
        if let Some(status) = self.ctap_status {
            return Some(match E::from_status(status) {
                E::PinInvalid { .. } => E::PinInvalid {
                    retries: self.retries,
                },
                E::UvInvalid { .. } => E::UvInvalid {
                    retries: self.retries,
                },
                other => other,
            });
        }
        let name = self.core_error.as_deref()?;
        if let Some(kind) = name.strip_prefix("transport_") {
            let kind = transport_kind_from_name(kind)?;
            return Some(E::Transport(tokenring_core::TransportError::new(
                kind,
                self.message.clone(),
            )));
        }
        core_error_from_name(name)
    }

    fn vault(&self) -> Option<VaultError> {
        let path = || self.path.clone().map(std::path::PathBuf::from);
        Some(match self.vault_error.as_deref()? {
            "authenticator" => VaultError::from(self.core()?),
            "not_found" => VaultError::NotFound { path: path()? },
            "already_exists" => VaultError::AlreadyExists { path: path()? },
            "corrupt" => VaultError::Corrupt {
                path: path()?,
                reason: FormatError::Shape(self.core_error.clone().unwrap_or_default()),
            },
            "did_not_decrypt" => VaultError::DidNotDecrypt { path: path()? },
            "entry_did_not_decrypt" => {
                let entry = self.entry.clone()?;
                VaultError::EntryDidNotDecrypt {
                    service: entry.service,
                    user: entry.user,
                }
            }
            "wrong_authenticator" => VaultError::WrongAuthenticator,
            "hmac_secret_unsupported" => VaultError::HmacSecretUnsupported,
            "locked_by_another_process" => VaultError::LockedByAnotherProcess {
                path: path()?,
                holder: self.holder,
                waited: Duration::try_from_secs_f64(self.waited_secs.unwrap_or(0.0))
                    .unwrap_or_default(),
            },
            "locked" => VaultError::Locked,
            "replaced" => VaultError::Replaced { path: path()? },
            _ => return None,
        })
    }
}

fn transport_kind_name(kind: &tokenring_core::TransportErrorKind) -> &'static str {
    use tokenring_core::TransportErrorKind as K;
    match kind {
        K::Disconnected => "disconnected",
        K::Timeout => "timeout",
        K::Busy => "busy",
        K::PermissionDenied => "permission_denied",
        K::Protocol => "protocol",
        K::MessageTooLarge => "message_too_large",
        K::Cancelled => "cancelled",
        K::Io => "io",
        _ => "other",
    }
}

fn transport_kind_from_name(name: &str) -> Option<tokenring_core::TransportErrorKind> {
    use tokenring_core::TransportErrorKind as K;
    Some(match name {
        "disconnected" => K::Disconnected,
        "timeout" => K::Timeout,
        "busy" => K::Busy,
        "permission_denied" => K::PermissionDenied,
        "protocol" => K::Protocol,
        "message_too_large" => K::MessageTooLarge,
        "cancelled" => K::Cancelled,
        "io" => K::Io,
        _ => return None,
    })
}

/// Names of the authenticator errors that carry no CTAP status.
const CORE_ERROR_NAMES: [&str; 6] = [
    "pin_required",
    "hmac_secret_unsupported",
    "uv_required",
    "uv_unsupported",
    "no_common_pin_protocol",
    "pin_already_set",
];

fn core_error_name(error: &tokenring_core::Error) -> Option<&'static str> {
    use tokenring_core::Error as E;
    let index = match error {
        E::PinRequired => 0,
        E::HmacSecretUnsupported => 1,
        E::UvRequired => 2,
        E::UvUnsupported => 3,
        E::NoCommonPinProtocol => 4,
        E::PinAlreadySet => 5,
        _ => return None,
    };
    CORE_ERROR_NAMES.get(index).copied()
}

fn core_error_from_name(name: &str) -> Option<tokenring_core::Error> {
    use tokenring_core::Error as E;
    Some(match name {
        "pin_required" => E::PinRequired,
        "hmac_secret_unsupported" => E::HmacSecretUnsupported,
        "uv_required" => E::UvRequired,
        "uv_unsupported" => E::UvUnsupported,
        "no_common_pin_protocol" => E::NoCommonPinProtocol,
        "pin_already_set" => E::PinAlreadySet,
        _ => return None,
    })
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The peer closed the connection between frames.
    #[error("the connection was closed")]
    Closed,
    /// The peer closed the connection in the middle of a frame.
    #[error("the connection was closed in the middle of a frame")]
    Truncated,
    /// The length field is below the minimum (a version byte and a body).
    #[error("frame length {0} is too short")]
    TooShort(u32),
    /// The length field is above [`MAX_FRAME_LEN`].
    #[error("frame length {0} exceeds the limit of {MAX_FRAME_LEN} bytes")]
    TooLarge(u32),
    /// The version byte is not [`PROTOCOL_VERSION`].
    #[error(
        "protocol version {0} is not supported (this agent speaks version {PROTOCOL_VERSION})"
    )]
    UnsupportedVersion(u8),
    /// The body is not a message (not UTF-8 JSON of a known shape).
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A frame did not arrive completely in time.
    #[error("the frame did not arrive in time")]
    Timeout,
    /// A socket error.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
}

impl FrameError {
    /// The error reply for a frame that was refused (`None` when the peer
    /// is gone and nothing can be sent).
    pub fn reply(&self) -> Option<WireError> {
        let kind = match self {
            FrameError::Closed | FrameError::Truncated | FrameError::Io(_) => return None,
            FrameError::TooShort(_) | FrameError::Malformed(_) => ErrorKind::BadFrame,
            FrameError::TooLarge(_) => ErrorKind::FrameTooLarge,
            FrameError::UnsupportedVersion(_) => ErrorKind::UnsupportedVersion,
            FrameError::Timeout => ErrorKind::Timeout,
        };
        Some(WireError::new(kind, self.to_string()))
    }
}

/// Encodes a message into one frame. The buffer is zeroized on drop (it
/// may hold a password or a PIN).
pub fn encode<M: Serialize>(message: &M) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut frame = Zeroizing::new(Vec::with_capacity(256));
    frame.extend_from_slice(&[0, 0, 0, 0, PROTOCOL_VERSION]);
    serde_json::to_writer(&mut *frame, message)
        .map_err(|e| Error::Agent(format!("could not encode a message: {e}")))?;
    let len = frame.len() - 4;
    if len > MAX_FRAME_LEN {
        return Err(Error::Agent(format!(
            "the message is too long for the agent protocol ({len} bytes, at most {MAX_FRAME_LEN}); \
             use the vault without the agent (--no-agent) for values this large"
        )));
    }
    let len_bytes = u32::try_from(len)
        .map_err(|_| Error::Agent("frame length overflow".into()))?
        .to_be_bytes();
    if let Some(head) = frame.get_mut(..4) {
        head.copy_from_slice(&len_bytes);
    }
    Ok(frame)
}

/// Writes one message as a frame.
pub fn write_message<M: Serialize>(out: &mut impl Write, message: &M) -> Result<(), Error> {
    let frame = encode(message)?;
    out.write_all(&frame)
        .and_then(|()| out.flush())
        .map_err(|e| Error::Agent(format!("could not write to the agent socket: {e}")))
}

/// Decodes a frame body (the JSON after the version byte).
pub fn decode<'a, M: Deserialize<'a>>(body: &'a [u8]) -> Result<M, FrameError> {
    serde_json::from_slice(body).map_err(|e| {
        // serde_json's messages name the position and the expected shape;
        // a value appears only where it has the wrong type (a well-formed
        // password or PIN never does), and the reply goes only to the
        // client that sent the frame.
        FrameError::Malformed(e.to_string())
    })
}

/// Reads frames from a socket incrementally, so that a read timeout (a
/// poll tick) never loses bytes and a frame that trickles in too slowly is
/// refused.
pub struct FrameReader {
    buffer: Zeroizing<Vec<u8>>,
    started: Option<Instant>,
    frame_timeout: Duration,
}

impl FrameReader {
    /// A reader whose frames must complete within `frame_timeout` of their
    /// first byte.
    pub fn new(frame_timeout: Duration) -> Self {
        FrameReader {
            buffer: Zeroizing::new(Vec::new()),
            started: None,
            frame_timeout,
        }
    }

    /// Whether part of a frame has arrived.
    pub fn in_frame(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// Reads until a whole frame is buffered, the stream's read timeout
    /// passes (`Ok(None)`), or an error. On `Ok(Some(body))` the body (JSON)
    /// is returned and removed from the buffer.
    pub fn poll(
        &mut self,
        stream: &mut impl Read,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, FrameError> {
        loop {
            if let Some(body) = self.take_frame()? {
                return Ok(Some(body));
            }
            let need = self.bytes_needed();
            let mut chunk = Zeroizing::new([0u8; 4096]);
            let want = need.clamp(1, chunk.len());
            let target = chunk.get_mut(..want).ok_or(FrameError::Timeout)?;
            match stream.read(target) {
                Ok(0) => {
                    return Err(if self.in_frame() {
                        FrameError::Truncated
                    } else {
                        FrameError::Closed
                    })
                }
                Ok(n) => {
                    if self.started.is_none() {
                        self.started = Some(Instant::now());
                    }
                    self.buffer
                        .extend_from_slice(chunk.get(..n).unwrap_or_default());
                }
                Err(e) if is_timeout(&e) => {
                    if let Some(start) = self.started {
                        if start.elapsed() > self.frame_timeout {
                            return Err(FrameError::Timeout);
                        }
                    }
                    return Ok(None);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(FrameError::Io(e)),
            }
        }
    }

    /// How many more bytes complete the header or the frame.
    fn bytes_needed(&self) -> usize {
        match self.header() {
            Some(len) => (len as usize + 4).saturating_sub(self.buffer.len()),
            None => 4usize.saturating_sub(self.buffer.len()),
        }
    }

    fn header(&self) -> Option<u32> {
        let head: [u8; 4] = self.buffer.get(..4)?.try_into().ok()?;
        Some(u32::from_be_bytes(head))
    }

    fn take_frame(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, FrameError> {
        let Some(len) = self.header() else {
            return Ok(None);
        };
        if len < 2 {
            return Err(FrameError::TooShort(len));
        }
        if len as usize > MAX_FRAME_LEN {
            return Err(FrameError::TooLarge(len));
        }
        if let Some(&version) = self.buffer.get(4) {
            if version != PROTOCOL_VERSION {
                return Err(FrameError::UnsupportedVersion(version));
            }
        }
        let total = len as usize + 4;
        if self.buffer.len() < total {
            return Ok(None);
        }
        let body = Zeroizing::new(
            self.buffer
                .get(HEADER_LEN..total)
                .unwrap_or_default()
                .to_vec(),
        );
        let rest = self.buffer.get(total..).unwrap_or_default().to_vec();
        self.buffer.clear();
        self.buffer.extend_from_slice(&rest);
        self.started = if self.buffer.is_empty() {
            None
        } else {
            Some(Instant::now())
        };
        Ok(Some(body))
    }
}

/// Whether an I/O error is a read/write timeout (a poll tick).
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A PIN answer from the wire, as the core type.
pub fn pin_from_wire(pin: Option<WireSecret>) -> Option<Pin> {
    pin.map(|p| Pin::new(p.expose_secret()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frames_round_trip_across_partial_reads() {
        let frame = encode(&ClientMessage::Get {
            service: "bank".into(),
            user: "alice".into(),
        })
        .unwrap();
        assert_eq!(frame.get(4), Some(&PROTOCOL_VERSION));
        // Two frames arriving one byte at a time.
        let mut bytes = frame.to_vec();
        bytes.extend_from_slice(&encode(&ClientMessage::List).unwrap());
        struct Trickle(Vec<u8>, usize);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match self.0.get(self.1) {
                    Some(&b) if !buf.is_empty() => {
                        buf[0] = b;
                        self.1 += 1;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let mut reader = FrameReader::new(Duration::from_secs(5));
        let mut src = Trickle(bytes, 0);
        let first = reader.poll(&mut src).unwrap().unwrap();
        assert!(
            matches!(decode::<ClientMessage>(&first).unwrap(), ClientMessage::Get { service, user } if service == "bank" && user == "alice")
        );
        let second = reader.poll(&mut src).unwrap().unwrap();
        assert!(matches!(
            decode::<ClientMessage>(&second).unwrap(),
            ClientMessage::List
        ));
        assert!(matches!(reader.poll(&mut src), Err(FrameError::Closed)));
    }

    #[test]
    fn bad_frames_are_refused() {
        let mut reader = FrameReader::new(Duration::from_secs(5));
        let mut big = &[0xFFu8, 0xFF, 0xFF, 0xFF][..];
        assert!(matches!(
            reader.poll(&mut big),
            Err(FrameError::TooLarge(_))
        ));
        let mut reader = FrameReader::new(Duration::from_secs(5));
        let mut short = &[0u8, 0, 0, 1, 1][..];
        assert!(matches!(
            reader.poll(&mut short),
            Err(FrameError::TooShort(1))
        ));
        let mut reader = FrameReader::new(Duration::from_secs(5));
        let mut version = &[0u8, 0, 0, 3, 9, b'{', b'}'][..];
        assert!(matches!(
            reader.poll(&mut version),
            Err(FrameError::UnsupportedVersion(9))
        ));
        let mut reader = FrameReader::new(Duration::from_secs(5));
        let mut cut = &[0u8, 0, 0, 9, 1, b'{'][..];
        assert!(matches!(reader.poll(&mut cut), Err(FrameError::Truncated)));
        for body in [
            &b"not json"[..],
            b"{\"type\":\"launch\"}",
            b"{\"type\":\"get\"}",
            b"\xff\xfe",
            b"[]",
        ] {
            assert!(decode::<ClientMessage>(body).is_err());
        }
    }

    /// A deterministic generator (xorshift), so failures reproduce.
    struct Noise(u64);
    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn hostile_bytes_never_panic_the_reader_or_the_decoder() {
        let seeds: Vec<Vec<u8>> = [
            encode(&ClientMessage::Get {
                service: "s".into(),
                user: "u".into(),
            })
            .unwrap()
            .to_vec(),
            encode(&ClientMessage::Set {
                service: "s".into(),
                user: "u".into(),
                password: WireSecret::new("p"),
            })
            .unwrap()
            .to_vec(),
            encode(&ClientMessage::Pin { pin: None }).unwrap().to_vec(),
            encode(&AgentMessage::Error(WireError::new(ErrorKind::Busy, "x")))
                .unwrap()
                .to_vec(),
        ]
        .into();
        let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
        for round in 0..8_000 {
            let mut bytes = seeds[round % seeds.len()].clone();
            match noise.below(4) {
                0 => {
                    for _ in 0..=noise.below(4) {
                        let i = noise.below(bytes.len());
                        bytes[i] = noise.next() as u8;
                    }
                }
                1 => bytes.truncate(noise.below(bytes.len() + 1)),
                2 => {
                    let extra = noise.below(64);
                    bytes.extend((0..extra).map(|_| noise.next() as u8));
                }
                _ => {
                    bytes = (0..noise.below(80)).map(|_| noise.next() as u8).collect();
                }
            }
            let mut reader = FrameReader::new(Duration::from_secs(5));
            let mut src = &bytes[..];
            while let Ok(Some(body)) = reader.poll(&mut src) {
                let _ = decode::<ClientMessage>(&body);
                let _ = decode::<AgentMessage>(&body);
            }
        }
    }

    #[test]
    fn errors_survive_the_wire() {
        let cases = [
            Error::Authenticator(tokenring_core::Error::PinInvalid { retries: Some(3) }),
            Error::Authenticator(tokenring_core::Error::Cancelled),
            Error::Authenticator(tokenring_core::Error::PinRequired),
            Error::Vault(VaultError::LockedByAnotherProcess {
                path: "/v".into(),
                holder: Some(42),
                waited: Duration::from_secs(10),
            }),
            Error::Vault(VaultError::from(tokenring_core::Error::UserActionTimeout)),
            Error::Vault(VaultError::NotFound { path: "/v".into() }),
            Error::Authenticator(tokenring_core::Error::NoAuthenticator {
                tried: vec!["hid".into()],
            }),
            Error::Authenticator(tokenring_core::Error::WrongAuthenticator {
                tried: vec!["hid:/dev/hidraw0".into()],
            }),
        ];
        for error in cases {
            let text = error.to_string();
            let json = serde_json::to_vec(&WireError::from_error(&error)).unwrap();
            let back = serde_json::from_slice::<WireError>(&json)
                .unwrap()
                .into_error();
            assert_eq!(back.to_string(), text);
            assert_eq!(
                std::mem::discriminant(&back),
                std::mem::discriminant(&error)
            );
        }
    }

    #[test]
    fn messages_have_the_documented_shape() {
        let json = serde_json::to_string(&AgentMessage::Names {
            names: vec![Name {
                service: "s".into(),
                user: "u".into(),
            }],
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"type":"names","names":[{"service":"s","user":"u"}]}"#
        );
        let json = serde_json::to_string(&AgentMessage::Password { password: None }).unwrap();
        assert_eq!(json, r#"{"type":"password","password":null}"#);
        let msg: ClientMessage = serde_json::from_str(
            r#"{"type":"set","service":"s","user":"u","password":"p","extra":1}"#,
        )
        .unwrap();
        assert!(
            matches!(msg, ClientMessage::Set { ref password, .. } if password.expose_secret() == "p")
        );
    }
}
