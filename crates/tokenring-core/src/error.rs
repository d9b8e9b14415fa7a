//! Errors callers can act on. CTAP status codes keep their spec values
//! (CTAP 2.1 §8.2, see [`crate::status`]); the common ones get their own
//! variant with a message that says what to do.

use crate::transport::TransportError;

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
    /// The new PIN breaks the authenticator's PIN policy.
    #[error("the PIN does not meet the authenticator's policy (at least 4 characters, at most 63 bytes)")]
    PinPolicyViolation,
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
    #[error("this authenticator does not support the hmac-secret extension, which TokenRing needs")]
    HmacSecretUnsupported,
    /// The token requires UV (`alwaysUv`) but the caller asked for presence only.
    #[error("this authenticator always requires user verification (alwaysUv); a derivation without UV is impossible on it")]
    UvRequired,
    /// The token cannot verify the user (no PIN support, no built-in UV).
    #[error("this authenticator cannot verify the user (no PIN and no built-in UV)")]
    UvUnsupported,
    /// Any other CTAP status the authenticator answered.
    #[error("the authenticator answered {}", crate::status::describe(*.0))]
    Ctap(u8),
    /// The authenticator's answer is malformed or hostile.
    #[error("the authenticator sent a malformed response: {0}")]
    MalformedResponse(String),
    /// The transport failed (device gone, timeout, framing error, …).
    #[error("{0}")]
    Transport(#[from] TransportError),
}
