//! What can go wrong finding and opening an NFC authenticator.

use tokenring_core::{TransportError, TransportErrorKind};

use crate::apdu::StatusWord;

/// The hint every "card gone" message ends with.
pub const HOLD_TO_READER: &str = "hold your authenticator to the reader";

/// Errors of this crate (opening readers and cards; exchanges report
/// [`TransportError`], into which every `NfcError` converts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NfcError {
    /// The PC/SC service does not run.
    #[error("the PC/SC service is not running: start pcscd (e.g. `systemctl start pcscd.socket`)")]
    NoService,
    /// No reader is connected.
    #[error("no NFC or smart-card reader found: plug in a reader (PC/SC)")]
    NoReaders,
    /// A reader asked for by name does not exist.
    #[error("no reader named '{0}'")]
    UnknownReader(String),
    /// The reader has no card (or the authenticator is not near it).
    #[error("no authenticator on reader '{reader}': {HOLD_TO_READER}")]
    NoCard {
        /// The reader's name.
        reader: String,
    },
    /// The card does not have the FIDO applet (SELECT failed).
    #[error("the card on the reader is not a FIDO authenticator (SELECT of the FIDO applet answered {sw})")]
    NotFido {
        /// The status word SELECT answered.
        sw: StatusWord,
    },
    /// The FIDO applet does not speak CTAP2 (U2F only).
    #[error("this authenticator speaks only U2F (applet version '{version}'), TokenRing needs CTAP2 with hmac-secret")]
    NotCtap2 {
        /// The version string SELECT answered.
        version: String,
    },
    /// Any other PC/SC failure.
    #[error("PC/SC error: {0}")]
    Pcsc(String),
    /// The exchange with the card failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl From<NfcError> for TransportError {
    fn from(error: NfcError) -> Self {
        let kind = match &error {
            NfcError::Transport(inner) => return inner.clone(),
            NfcError::NoCard { .. } => TransportErrorKind::Disconnected,
            NfcError::NoService | NfcError::NoReaders | NfcError::UnknownReader(_) => {
                TransportErrorKind::Disconnected
            }
            NfcError::NotFido { .. } | NfcError::NotCtap2 { .. } => TransportErrorKind::Protocol,
            NfcError::Pcsc(_) => TransportErrorKind::Io,
        };
        TransportError::new(kind, error.to_string())
    }
}

impl From<NfcError> for tokenring_core::Error {
    fn from(error: NfcError) -> Self {
        tokenring_core::Error::Transport(error.into())
    }
}

/// A protocol error (the card broke ISO 7816-4 or CTAP 2.1 §11.3).
pub(crate) fn protocol(message: impl Into<String>) -> TransportError {
    TransportError::new(TransportErrorKind::Protocol, message)
}

/// The card left the reader (or was reset) in the middle of an operation.
pub(crate) fn card_gone(detail: &str) -> TransportError {
    let message = if detail.contains(HOLD_TO_READER) {
        detail.to_string()
    } else if detail.is_empty() {
        format!("the authenticator left the reader during the operation; {HOLD_TO_READER} and try again")
    } else {
        format!("the authenticator left the reader during the operation ({detail}); {HOLD_TO_READER} and try again")
    };
    TransportError::new(TransportErrorKind::Disconnected, message)
}
