//! The PC/SC implementation of [`ApduChannel`] (crate `pcsc`, libpcsclite
//! on Linux): list readers, connect to the card on one, transmit.

use std::ffi::CString;

use tokenring_core::{TransportError, TransportErrorKind};

use crate::channel::ApduChannel;
use crate::error::{NfcError, HOLD_TO_READER};
use crate::transport::{NfcOptions, NfcTransport};

/// A PC/SC resource manager context (a connection to pcscd).
pub struct PcscContext {
    context: pcsc::Context,
}

impl std::fmt::Debug for PcscContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscContext").finish_non_exhaustive()
    }
}

impl PcscContext {
    /// Connects to the PC/SC service.
    pub fn establish() -> Result<Self, NfcError> {
        let context = pcsc::Context::establish(pcsc::Scope::User).map_err(open_error)?;
        Ok(PcscContext { context })
    }

    /// The names of the connected readers (empty when there are none).
    pub fn readers(&self) -> Result<Vec<String>, NfcError> {
        match self.context.list_readers_owned() {
            Ok(names) => Ok(names
                .into_iter()
                .map(|name| name.to_string_lossy().into_owned())
                .collect()),
            Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
            Err(error) => Err(open_error(error)),
        }
    }

    /// Connects to the card on `reader` (shared mode, T=0 or T=1).
    pub fn connect(&self, reader: &str) -> Result<PcscChannel, NfcError> {
        let name = CString::new(reader).map_err(|_| NfcError::UnknownReader(reader.to_string()))?;
        let card = self
            .context
            .connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
            .map_err(|error| match error {
                pcsc::Error::NoSmartcard
                | pcsc::Error::RemovedCard
                | pcsc::Error::UnpoweredCard
                | pcsc::Error::UnresponsiveCard => NfcError::NoCard {
                    reader: reader.to_string(),
                },
                pcsc::Error::UnknownReader | pcsc::Error::ReaderUnavailable => {
                    NfcError::UnknownReader(reader.to_string())
                }
                other => open_error(other),
            })?;
        Ok(PcscChannel {
            card,
            reader: reader.to_string(),
        })
    }

    /// Connects to the card on `reader` and opens it as a CTAP2 authenticator.
    pub fn open(
        &self,
        reader: &str,
        options: NfcOptions,
    ) -> Result<NfcTransport<PcscChannel>, NfcError> {
        let channel = self.connect(reader)?;
        NfcTransport::open(channel, reader, options)
    }
}

/// The card on one PC/SC reader.
pub struct PcscChannel {
    card: pcsc::Card,
    reader: String,
}

impl std::fmt::Debug for PcscChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscChannel")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

impl PcscChannel {
    /// The reader's name.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// The card's ATR.
    pub fn atr(&self) -> Result<Vec<u8>, NfcError> {
        self.card
            .get_attribute_owned(pcsc::Attribute::AtrString)
            .map_err(|error| NfcError::from(transmit_error(&self.reader, error)))
    }
}

impl ApduChannel for PcscChannel {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let mut buffer = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
        let response = self
            .card
            .transmit(apdu, &mut buffer)
            .map_err(|error| transmit_error(&self.reader, error))?;
        Ok(response.to_vec())
    }
}

fn open_error(error: pcsc::Error) -> NfcError {
    match error {
        pcsc::Error::NoReadersAvailable => NfcError::NoReaders,
        pcsc::Error::NoService | pcsc::Error::ServiceStopped => NfcError::NoService,
        other => NfcError::Pcsc(other.to_string()),
    }
}

fn transmit_error(reader: &str, error: pcsc::Error) -> TransportError {
    match error {
        // What a contactless reader (and vpcd) report first when the card
        // leaves the field in the middle of an exchange; RemovedCard follows.
        pcsc::Error::NotTransacted | pcsc::Error::CommError => TransportError::new(
            TransportErrorKind::Disconnected,
            format!(
                "the exchange with the authenticator on reader '{reader}' broke off ({error}); \
                 {HOLD_TO_READER} and try again"
            ),
        ),
        pcsc::Error::RemovedCard
        | pcsc::Error::NoSmartcard
        | pcsc::Error::ResetCard
        | pcsc::Error::UnpoweredCard
        | pcsc::Error::UnresponsiveCard => TransportError::new(
            TransportErrorKind::Disconnected,
            format!(
                "the authenticator left reader '{reader}' ({error}); {HOLD_TO_READER} and try again"
            ),
        ),
        pcsc::Error::ReaderUnavailable | pcsc::Error::UnknownReader => TransportError::new(
            TransportErrorKind::Disconnected,
            format!("reader '{reader}' is gone ({error}); plug it in again"),
        ),
        pcsc::Error::NoService | pcsc::Error::ServiceStopped | pcsc::Error::Shutdown => {
            TransportError::new(
                TransportErrorKind::Disconnected,
                format!("the PC/SC service stopped ({error}); start pcscd and try again"),
            )
        }
        pcsc::Error::Timeout => TransportError::new(TransportErrorKind::Timeout, error.to_string()),
        pcsc::Error::SharingViolation => TransportError::new(
            TransportErrorKind::Busy,
            format!("another program holds the card on reader '{reader}' exclusively"),
        ),
        other => TransportError::new(
            TransportErrorKind::Io,
            format!("PC/SC error on reader '{reader}': {other}"),
        ),
    }
}
