//! NFC and contact readers as a discovery [`Source`]: every PC/SC reader,
//! its card opened as a CTAP2 client over NFCCTAP.

use tokenring_core::discovery::match_reader;
use tokenring_core::{
    Ctap2Client, Device, DynAuthenticator, Error, Selector, Source, TransportKind,
};

use crate::pcsc_channel::PcscContext;
use crate::transport::NfcOptions;

/// The PC/SC discovery source: one device per reader (see the module
/// documentation). Listing asks the PC/SC service for its readers and
/// touches no card.
#[derive(Debug, Clone, Default)]
pub struct NfcSource {
    options: NfcOptions,
}

impl NfcSource {
    /// Every PC/SC reader, with the default [`NfcOptions`].
    pub fn new() -> NfcSource {
        NfcSource::default()
    }

    /// Replaces the options of the transports this source opens.
    pub fn options(mut self, options: NfcOptions) -> NfcSource {
        self.options = options;
        self
    }
}

impl Source for NfcSource {
    fn transport(&self) -> TransportKind {
        TransportKind::Nfc
    }

    fn list(&self) -> Result<Vec<Device>, Error> {
        let context = PcscContext::establish()?;
        Ok(context
            .readers()?
            .into_iter()
            .map(|reader| Device {
                selector: Selector::Nfc(reader.clone()),
                name: reader,
                problem: None,
            })
            .collect())
    }

    fn open(&self, selector: &Selector) -> Result<DynAuthenticator, Error> {
        let Selector::Nfc(wanted) = selector else {
            return Err(Error::BadSelector(format!(
                "{selector} is not a PC/SC reader"
            )));
        };
        let context = PcscContext::establish()?;
        let readers = context.readers()?;
        let reader = match_reader(&readers, wanted).ok_or_else(|| {
            let known = if readers.is_empty() {
                "no reader is connected".to_string()
            } else {
                format!("readers: {}", readers.join(", "))
            };
            Error::BadSelector(format!("{selector}: no such reader ({known})"))
        })?;
        let transport = context.open(reader, self.options.clone())?;
        Ok(Box::new(Ctap2Client::new(transport)?))
    }
}
