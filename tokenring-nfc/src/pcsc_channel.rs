//! The PC/SC implementation of [`ApduChannel`] (crate `pcsc`, libpcsclite
//! on Linux): list readers, connect to the card on one, transmit.

use std::ffi::CString;

use tokenring_core::{TransportError, TransportErrorKind};

use crate::channel::{ApduChannel, Session};
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
            card: Some(card),
            reader: reader.to_string(),
        })
    }

    /// Every reader with what opening it as a CTAP2 authenticator gave: the
    /// transport, or why not (no card, not FIDO, U2F only, …). For listing
    /// devices; readers without a card cost one failed connect each.
    pub fn open_all(&self, options: &NfcOptions) -> Result<Vec<ReaderCard>, NfcError> {
        Ok(self
            .readers()?
            .into_iter()
            .map(|reader| {
                let opened = self.open(&reader, options.clone());
                ReaderCard { reader, opened }
            })
            .collect())
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

/// One reader and what opening its card as an authenticator gave
/// ([`PcscContext::open_all`]).
#[derive(Debug)]
pub struct ReaderCard {
    /// The reader's name (the `nfc:READER` selector).
    pub reader: String,
    /// The authenticator, or why there is none on this reader.
    pub opened: Result<NfcTransport<PcscChannel>, NfcError>,
}

/// The card on one PC/SC reader (shared mode, T=0 or T=1).
///
/// Dropping it leaves the card as it is (`SCARD_LEAVE_CARD`), so other
/// programs that use the card at the same time keep their state. When
/// another program resets the card, the next transmit reconnects the handle
/// and reports the interrupted exchange as
/// [`TransportErrorKind::Disconnected`]; [`NfcTransport`] then selects the
/// FIDO applet again before its next exchange.
pub struct PcscChannel {
    card: Option<pcsc::Card>,
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
        let card = self.card.as_ref().ok_or_else(|| NfcError::NoCard {
            reader: self.reader.clone(),
        })?;
        card.get_attribute_owned(pcsc::Attribute::AtrString)
            .map_err(|error| NfcError::from(transmit_error(&self.reader, error)))
    }
}

impl ApduChannel for PcscChannel {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let Some(card) = self.card.as_mut() else {
            return Err(transmit_error(&self.reader, pcsc::Error::InvalidHandle));
        };
        let mut buffer = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
        match card.transmit(apdu, &mut buffer) {
            Ok(response) => Ok(response.to_vec()),
            Err(pcsc::Error::ResetCard) => {
                // Someone reset the card: take it up again as it is now.
                let _ = card.reconnect(
                    pcsc::ShareMode::Shared,
                    pcsc::Protocols::ANY,
                    pcsc::Disposition::LeaveCard,
                );
                Err(transmit_error(&self.reader, pcsc::Error::ResetCard))
            }
            Err(error) => Err(transmit_error(&self.reader, error)),
        }
    }

    /// Runs `session` inside a PC/SC transaction (`SCardBeginTransaction`):
    /// other programs' APDUs wait until the request is done. A card reset
    /// by another program is taken up again first (the transport then finds
    /// the applet unselected and selects it).
    fn exclusive(&mut self, session: &mut Session<'_>) -> Result<(), TransportError> {
        let reader = self.reader.as_str();
        let Some(card) = self.card.as_mut() else {
            return Err(transmit_error(reader, pcsc::Error::InvalidHandle));
        };
        if let Err(pcsc::Error::ResetCard) = card.transaction().map(drop) {
            card.reconnect(
                pcsc::ShareMode::Shared,
                pcsc::Protocols::ANY,
                pcsc::Disposition::LeaveCard,
            )
            .map_err(|error| transmit_error(reader, error))?;
        }
        let transaction = card
            .transaction()
            .map_err(|error| transmit_error(reader, error))?;
        let mut buffer = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
        session(&mut |apdu: &[u8]| {
            transaction
                .transmit(apdu, &mut buffer)
                .map(<[u8]>::to_vec)
                .map_err(|error| transmit_error(reader, error))
        });
        // Ending fails only when the card is gone; the session saw that.
        let _ = transaction.end(pcsc::Disposition::LeaveCard);
        Ok(())
    }
}

impl Drop for PcscChannel {
    fn drop(&mut self) {
        if let Some(card) = self.card.take() {
            // On failure the card handle is dropped, which resets the card:
            // nothing better can be done then.
            let _ = card.disconnect(pcsc::Disposition::LeaveCard);
        }
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
        pcsc::Error::ResetCard => TransportError::new(
            TransportErrorKind::Disconnected,
            format!(
                "the card on reader '{reader}' was reset (by another program, or it left the \
                 field and came back); {HOLD_TO_READER} and try again"
            ),
        ),
        pcsc::Error::RemovedCard
        | pcsc::Error::NoSmartcard
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
