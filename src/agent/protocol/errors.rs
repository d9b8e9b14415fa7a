//! Errors on the wire: a kind, a message, and what a client needs to
//! rebuild the typed error.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokenring_vault::{FormatError, VaultError};

use super::Name;
use crate::Error;

/// Why a request failed, in a form a client can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The frame broke the framing rules (length, version, UTF-8, JSON).
    BadFrame,
    /// The frame is longer than [`MAX_FRAME_LEN`](super::MAX_FRAME_LEN).
    FrameTooLarge,
    /// The frame's version is not [`PROTOCOL_VERSION`](super::PROTOCOL_VERSION).
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
}
