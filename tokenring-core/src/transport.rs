//! One CTAP2 exchange over some transport: a command byte and a CBOR
//! payload in, a status byte and a CBOR payload out.

use crate::{Prompt, TransportKind};

/// CTAP2 command bytes (CTAP 2.1 §6).
pub mod command {
    /// authenticatorMakeCredential (§6.1).
    pub const MAKE_CREDENTIAL: u8 = 0x01;
    /// authenticatorGetAssertion (§6.2).
    pub const GET_ASSERTION: u8 = 0x02;
    /// authenticatorGetNextAssertion (§6.3).
    pub const GET_NEXT_ASSERTION: u8 = 0x08;
    /// authenticatorGetInfo (§6.4).
    pub const GET_INFO: u8 = 0x04;
    /// authenticatorClientPIN (§6.5).
    pub const CLIENT_PIN: u8 = 0x06;
    /// authenticatorReset (§6.6).
    pub const RESET: u8 = 0x07;
    /// authenticatorSelection (§6.9).
    pub const SELECTION: u8 = 0x0B;
}

/// The authenticator's answer: the CTAP status byte and the CBOR payload
/// (empty unless the status is 0x00 CTAP2_OK).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// CTAP status code (0x00 = success).
    pub status: u8,
    /// CBOR-encoded response (may be empty).
    pub body: Vec<u8>,
}

/// What went wrong below CTAP: the device, the bus, the framing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The device or card is gone (unplugged, removed from the reader).
    Disconnected,
    /// No answer in time.
    Timeout,
    /// The device is busy with another channel or client.
    Busy,
    /// The device node cannot be opened; the message carries the fix.
    PermissionDenied,
    /// A frame, packet or APDU that breaks the transport's protocol.
    Protocol,
    /// The request is too large for the device.
    MessageTooLarge,
    /// The operation was cancelled (by the user, through the prompt).
    Cancelled,
    /// Any other I/O failure.
    Io,
}

/// A transport-level failure with a message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// What kind of failure.
    pub kind: TransportErrorKind,
    /// What happened and, where possible, what to do.
    pub message: String,
}

impl TransportError {
    /// A new error.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        TransportError {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransportError {}

/// Where a transport leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportInfo {
    /// USB, NFC or the simulator.
    pub kind: TransportKind,
    /// Product or reader name.
    pub name: String,
    /// A path, reader name or state file (used in selectors).
    pub path: String,
}

/// One CTAP2 exchange: `command` + CBOR `payload` → [`Reply`].
///
/// While the authenticator works, the transport forwards keepalives to
/// `prompt.keepalive`, polls `prompt.is_cancelled()`, and when the user
/// cancels sends its transport's cancel (CTAPHID_CANCEL, NFCCTAP cancel)
/// and returns what the authenticator answers (normally
/// CTAP2_ERR_KEEPALIVE_CANCEL).
pub trait Transport {
    /// Sends one CTAP2 request and waits for its reply.
    fn exchange(
        &mut self,
        command: u8,
        payload: &[u8],
        prompt: &dyn Prompt,
    ) -> Result<Reply, TransportError>;

    /// Cancels whatever the authenticator is doing for this client, outside
    /// an exchange. The default does nothing.
    fn cancel(&mut self) -> Result<(), TransportError> {
        Ok(())
    }

    /// Where this transport leads.
    fn info(&self) -> TransportInfo;

    /// Whether this transport reports keepalives (user presence needed)
    /// before the user has to touch. When false, the client announces every
    /// touch before it sends the request.
    fn reports_keepalive(&self) -> bool {
        true
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn exchange(
        &mut self,
        command: u8,
        payload: &[u8],
        prompt: &dyn Prompt,
    ) -> Result<Reply, TransportError> {
        (**self).exchange(command, payload, prompt)
    }
    fn cancel(&mut self) -> Result<(), TransportError> {
        (**self).cancel()
    }
    fn info(&self) -> TransportInfo {
        (**self).info()
    }
    fn reports_keepalive(&self) -> bool {
        (**self).reports_keepalive()
    }
}
