//! Errors callers can act on. CTAP status codes keep their spec values
//! (CTAP 2.1 §8.2, see [`Status`]); the common ones get their own
//! variant with a message that says what to do.

use crate::status::{self, Status};
use crate::transport::{TransportError, TransportErrorKind};

/// Everything that can go wrong talking to an authenticator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The authenticator does not hold the credential (wrong authenticator,
    /// or the credential was made for another RP ID).
    #[error("this authenticator does not hold the credential (CTAP2_ERR_NO_CREDENTIALS); use the authenticator the vault was created with")]
    NoCredentials,
    /// Wrong PIN; `retries` left before the PIN is blocked, when known.
    #[error("wrong PIN{}", match .retries { Some(n) => format!(": {n} {} left before the authenticator blocks its PIN", if *n == 1 { "try" } else { "tries" }), None => String::new() })]
    PinInvalid {
        /// Retries left.
        retries: Option<u8>,
    },
    /// The PIN is blocked; only a reset (which destroys every credential) helps.
    #[error("the authenticator's PIN is blocked after too many wrong PINs; it must be reset, which destroys its credentials")]
    PinBlocked,
    /// Three wrong PINs in a row: the authenticator needs a power cycle.
    #[error("too many wrong PINs in a row; unplug the authenticator (or take it off the reader) and try again")]
    PinAuthBlocked,
    /// The operation needs a PIN but none is set.
    #[error("the authenticator has no PIN set; set one first")]
    PinNotSet,
    /// The operation needs a PIN (or UV) and the user declined to give one.
    #[error("a PIN is needed and none was given")]
    PinRequired,
    /// setPIN on an authenticator that already has a PIN.
    #[error("the authenticator already has a PIN; change it instead of setting it")]
    PinAlreadySet,
    /// The new PIN breaks the authenticator's PIN policy.
    #[error("the PIN does not meet the authenticator's policy (at least 4 characters, at most 63 bytes)")]
    PinPolicyViolation,
    /// The authenticator wants its PIN changed before the PIN may verify
    /// the user again (getInfo `forcePINChange`, set by its administrator
    /// or by a new minimum PIN length).
    #[error("the authenticator requires a new PIN before its PIN can be used again (forcePINChange); change it with `tokenring pin change`")]
    PinChangeRequired,
    /// The authenticator grants registrations and assertions with user
    /// verification only after its built-in method (fingerprint …), not
    /// after the PIN (getInfo `noMcGaPermissionsWithClientPin`), and that
    /// method is not set up or failed.
    #[error("this authenticator verifies the user for TokenRing only with its built-in user verification (a fingerprint or the like; noMcGaPermissionsWithClientPin), never with the PIN: set that up with the maker's tool, then try again")]
    BuiltInUvRequired,
    /// Built-in user verification is blocked.
    #[error("the authenticator's built-in user verification is blocked; use the PIN instead")]
    UvBlocked,
    /// Built-in user verification failed; retries left when known.
    #[error("user verification failed{}", match .retries { Some(n) => format!(": {n} tries left"), None => String::new() })]
    UvInvalid {
        /// Retries left.
        retries: Option<u8>,
    },
    /// The user declined (or the authenticator refused) the operation.
    #[error("the operation was denied on the authenticator")]
    OperationDenied,
    /// Nobody touched the authenticator in time.
    #[error("the authenticator was not touched in time; try again and touch it when it blinks")]
    UserActionTimeout,
    /// The operation was cancelled (Ctrl-C, or another authenticator was chosen).
    #[error("cancelled")]
    Cancelled,
    /// The token lacks the hmac-secret extension.
    #[error(
        "this authenticator does not support the hmac-secret extension, which TokenRing needs"
    )]
    HmacSecretUnsupported,
    /// The token requires UV (`alwaysUv`) but the caller asked for presence only.
    #[error("this authenticator always requires user verification (alwaysUv); a derivation without UV is impossible on it")]
    UvRequired,
    /// The token cannot verify the user (no PIN support, no built-in UV).
    #[error("this authenticator cannot verify the user (no PIN and no built-in UV)")]
    UvUnsupported,
    /// The PIN/UV authentication of a request did not verify
    /// (CTAP2_ERR_PIN_AUTH_INVALID), also after the client renewed its key
    /// agreement and token once.
    #[error("the authenticator rejected the PIN/UV authentication (CTAP2_ERR_PIN_AUTH_INVALID); unplug and replug the authenticator, then try again")]
    PinAuthInvalid,
    /// The operation needs user verification (a pinUvAuthToken) and none
    /// was sent (CTAP2_ERR_PUAT_REQUIRED).
    #[error("the authenticator requires user verification for this operation (CTAP2_ERR_PUAT_REQUIRED); retry with user verification (PIN)")]
    PinUvAuthTokenRequired,
    /// The token's PIN/UV auth token lacks a permission
    /// (CTAP2_ERR_UNAUTHORIZED_PERMISSION).
    #[error("the authenticator refused the PIN/UV auth token's permissions (CTAP2_ERR_UNAUTHORIZED_PERMISSION); try again, or update the authenticator's firmware")]
    UnauthorizedPermission,
    /// The token requires user presence, and the request asked for none
    /// (CTAP2_ERR_UP_REQUIRED).
    #[error("the authenticator requires a touch for this operation (CTAP2_ERR_UP_REQUIRED)")]
    UpRequired,
    /// The token does not support an extension we asked for.
    #[error("the authenticator does not support a requested extension (CTAP2_ERR_UNSUPPORTED_EXTENSION); TokenRing needs hmac-secret: use another authenticator")]
    UnsupportedExtension,
    /// The token does not support an option we asked for.
    #[error("the authenticator does not support a requested option (CTAP2_ERR_UNSUPPORTED_OPTION); it may be too old for this operation")]
    UnsupportedOption,
    /// The token does not support ES256.
    #[error("the authenticator does not support ES256 credentials (CTAP2_ERR_UNSUPPORTED_ALGORITHM); use another authenticator")]
    UnsupportedAlgorithm,
    /// The token rejected the request as malformed (invalid command,
    /// parameter, length, CBOR, option or subcommand); `status` is the CTAP
    /// status code.
    #[error("the authenticator rejected TokenRing's request as malformed ({status}: {}); it may not support this operation: please report this with the authenticator's model", .status.meaning())]
    InvalidRequest {
        /// The CTAP status code.
        status: Status,
    },
    /// Another program is using the authenticator (CTAP1_ERR_CHANNEL_BUSY).
    #[error("the authenticator is busy with another program (a browser or another tokenring?); finish or close that, then try again")]
    Busy,
    /// The credential is in the exclude list (CTAP2_ERR_CREDENTIAL_EXCLUDED).
    #[error("the authenticator already holds an excluded credential (CTAP2_ERR_CREDENTIAL_EXCLUDED); it is already enrolled")]
    CredentialExcluded,
    /// The credential is not valid for this authenticator
    /// (CTAP2_ERR_INVALID_CREDENTIAL).
    #[error("the credential is not valid for this authenticator (CTAP2_ERR_INVALID_CREDENTIAL); use the authenticator the vault was created with")]
    InvalidCredential,
    /// The token's storage is full (KEY_STORE_FULL, FP_DATABASE_FULL,
    /// LARGE_BLOB_STORAGE_FULL); `status` is the CTAP status code.
    #[error("the authenticator's storage is full ({status}: {}); delete something on it with its maker's tool", .status.meaning())]
    StorageFull {
        /// The CTAP status code.
        status: Status,
    },
    /// The request exceeds a limit of the token (LIMIT_EXCEEDED,
    /// REQUEST_TOO_LARGE); `status` is the CTAP status code.
    #[error("the request exceeds a limit of the authenticator ({status}: {})", .status.meaning())]
    LimitExceeded {
        /// The CTAP status code.
        status: Status,
    },
    /// The token shares no PIN/UV auth protocol with this client (we
    /// support protocols 2 and 1).
    #[error("the authenticator offers no PIN/UV auth protocol TokenRing supports (1 or 2); update its firmware or use another authenticator")]
    NoCommonPinProtocol,
    /// A bug in TokenRing (a request that could not be encoded, …).
    #[error("internal error: {0}; please report this")]
    Internal(String),
    /// Any other CTAP status the authenticator answered, as the byte it sent:
    /// a [`Status`] without a variant of its own here, or one the enum does
    /// not name (an undefined, extension- or vendor-specific code;
    /// `Status::try_from` tells them apart).
    #[error("the authenticator answered {}; try again, and if it persists, unplug and replug it", status::describe(*.0))]
    Ctap(u8),
    /// The authenticator's answer is malformed or hostile.
    #[error("the authenticator sent a malformed response: {0}")]
    MalformedResponse(String),
    /// The transport failed (device gone, timeout, framing error, …).
    #[error("{0}")]
    Transport(#[from] TransportError),
    /// No authenticator is connected (or none could be opened).
    #[error("no authenticator found: plug in your authenticator or hold it to the reader{}", tried_list(.tried))]
    NoAuthenticator {
        /// What was looked at and why it could not be used, for the message.
        tried: Vec<String>,
    },
    /// None of the connected authenticators holds the credential asked for.
    #[error("none of the connected authenticators holds this vault's credential{}", tried_list(.tried))]
    WrongAuthenticator {
        /// The authenticators that were asked (and what they answered).
        tried: Vec<String>,
    },
    /// A selector (`hid:PATH`, `nfc:READER`, `sim:STATEFILE`) that is not
    /// one, or names a transport this program was built without.
    #[error("{0}")]
    BadSelector(String),
}

fn tried_list(tried: &[String]) -> String {
    if tried.is_empty() {
        String::new()
    } else {
        format!(" (tried: {})", tried.join(", "))
    }
}

impl Error {
    /// The typed error for a CTAP status byte other than CTAP2_OK
    /// (CTAP 2.1 §8.2); a byte [`Status`] does not name becomes
    /// [`Error::Ctap`] with that byte. PIN_INVALID comes without retries
    /// here; the client fills them in with getPINRetries.
    pub fn from_status(byte: u8) -> Error {
        let Ok(status) = Status::try_from(byte) else {
            return Error::Ctap(byte);
        };
        match status {
            Status::NoCredentials => Error::NoCredentials,
            Status::PinInvalid => Error::PinInvalid { retries: None },
            Status::PinBlocked => Error::PinBlocked,
            Status::PinAuthBlocked => Error::PinAuthBlocked,
            Status::PinNotSet => Error::PinNotSet,
            Status::PinAuthInvalid => Error::PinAuthInvalid,
            Status::PuatRequired => Error::PinUvAuthTokenRequired,
            Status::PinPolicyViolation => Error::PinPolicyViolation,
            Status::UvBlocked => Error::UvBlocked,
            Status::UvInvalid => Error::UvInvalid { retries: None },
            Status::OperationDenied => Error::OperationDenied,
            Status::UserActionTimeout | Status::ActionTimeout => Error::UserActionTimeout,
            Status::KeepaliveCancel => Error::Cancelled,
            Status::UnauthorizedPermission => Error::UnauthorizedPermission,
            Status::UpRequired => Error::UpRequired,
            Status::UnsupportedExtension => Error::UnsupportedExtension,
            Status::UnsupportedOption => Error::UnsupportedOption,
            Status::UnsupportedAlgorithm => Error::UnsupportedAlgorithm,
            Status::InvalidCommand
            | Status::InvalidParameter
            | Status::InvalidLength
            | Status::CborUnexpectedType
            | Status::InvalidCbor
            | Status::MissingParameter
            | Status::InvalidOption
            | Status::InvalidSubcommand => Error::InvalidRequest { status },
            Status::ChannelBusy => Error::Busy,
            Status::CredentialExcluded => Error::CredentialExcluded,
            Status::InvalidCredential => Error::InvalidCredential,
            Status::KeyStoreFull | Status::FpDatabaseFull | Status::LargeBlobStorageFull => {
                Error::StorageFull { status }
            }
            Status::LimitExceeded | Status::RequestTooLarge => Error::LimitExceeded { status },
            _ => Error::Ctap(byte),
        }
    }

    /// The CTAP status byte this error stands for, when it came from one.
    pub fn status(&self) -> Option<u8> {
        let status = match self {
            Error::NoCredentials => Status::NoCredentials,
            Error::PinInvalid { .. } => Status::PinInvalid,
            Error::PinBlocked => Status::PinBlocked,
            Error::PinAuthBlocked => Status::PinAuthBlocked,
            Error::PinNotSet => Status::PinNotSet,
            Error::PinAuthInvalid => Status::PinAuthInvalid,
            Error::PinUvAuthTokenRequired => Status::PuatRequired,
            Error::PinPolicyViolation => Status::PinPolicyViolation,
            Error::UvBlocked => Status::UvBlocked,
            Error::UvInvalid { .. } => Status::UvInvalid,
            Error::OperationDenied => Status::OperationDenied,
            Error::UserActionTimeout => Status::UserActionTimeout,
            Error::Cancelled => Status::KeepaliveCancel,
            Error::UnauthorizedPermission => Status::UnauthorizedPermission,
            Error::UpRequired => Status::UpRequired,
            Error::UnsupportedExtension => Status::UnsupportedExtension,
            Error::UnsupportedOption => Status::UnsupportedOption,
            Error::UnsupportedAlgorithm => Status::UnsupportedAlgorithm,
            Error::InvalidRequest { status }
            | Error::StorageFull { status }
            | Error::LimitExceeded { status } => *status,
            Error::Busy => Status::ChannelBusy,
            Error::CredentialExcluded => Status::CredentialExcluded,
            Error::InvalidCredential => Status::InvalidCredential,
            Error::Ctap(byte) => return Some(*byte),
            _ => return None,
        };
        Some(status.into())
    }

    /// Whether the user cancelled (a CTAP cancel, or the transport's own).
    pub fn is_cancelled(&self) -> bool {
        match self {
            Error::Cancelled => true,
            Error::Transport(e) => e.kind == TransportErrorKind::Cancelled,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_maps_and_round_trips() {
        for code in 1..=255u8 {
            let error = Error::from_status(code);
            // ACTION_TIMEOUT folds into USER_ACTION_TIMEOUT; all others keep their code.
            if code != u8::from(Status::ActionTimeout) {
                assert_eq!(error.status(), Some(code), "{code:#x}");
            }
            assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn messages_say_what_to_do() {
        let e = Error::PinInvalid { retries: Some(1) };
        assert_eq!(
            e.to_string(),
            "wrong PIN: 1 try left before the authenticator blocks its PIN"
        );
        assert!(Error::from_status(0x34).to_string().contains("unplug"));
        assert!(Error::from_status(0x12)
            .to_string()
            .contains("CTAP2_ERR_INVALID_CBOR"));
        assert!(matches!(Error::from_status(0x2D), Error::Cancelled));
        assert!(Error::from_status(0xF1)
            .to_string()
            .contains("vendor-specific"));
    }

    #[test]
    fn unknown_bytes_keep_their_value() {
        for byte in [0x07, 0x50, 0xDE, 0xE5, 0xF2] {
            let error = Error::from_status(byte);
            assert!(matches!(error, Error::Ctap(b) if b == byte), "{byte:#x}");
            assert_eq!(error.status(), Some(byte));
        }
        assert!(matches!(
            Error::from_status(0x14),
            Error::InvalidRequest {
                status: Status::MissingParameter
            }
        ));
    }
}
