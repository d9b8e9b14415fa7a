#![doc = include_str!("../README.md")]

mod apdu;
mod channel;
#[cfg(feature = "pcsc")]
mod discovery;
mod error;
#[cfg(feature = "pcsc")]
mod pcsc_channel;
mod transport;

pub use apdu::{LengthEncoding, StatusWord};
pub use channel::{ApduChannel, Session};
#[cfg(feature = "pcsc")]
pub use discovery::NfcSource;
pub use error::NfcError;
#[cfg(feature = "pcsc")]
pub use pcsc_channel::{PcscChannel, PcscContext, ReaderCard};
pub use transport::{NfcOptions, NfcTransport, FIDO_AID};

/// The ISO 7816-4 APDU layer (command encoding with both length encodings,
/// command chaining, response parsing), reachable for the fuzz targets. Not
/// part of the API: it changes without notice.
#[doc(hidden)]
pub mod internal {
    /// Command and response APDUs (ISO/IEC 7816-4 §5.1, §5.6).
    pub mod apdu {
        pub use crate::apdu::*;
    }
}
