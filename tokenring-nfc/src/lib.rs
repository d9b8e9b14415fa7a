#![doc = include_str!("../README.md")]

pub mod apdu;
pub mod channel;
#[cfg(feature = "pcsc")]
pub mod discovery;
pub mod error;
#[cfg(feature = "pcsc")]
pub mod pcsc_channel;
pub mod transport;

pub use apdu::{CommandApdu, LengthEncoding, ResponseApdu, StatusWord};
pub use channel::{ApduChannel, Session};
#[cfg(feature = "pcsc")]
pub use discovery::NfcSource;
pub use error::NfcError;
#[cfg(feature = "pcsc")]
pub use pcsc_channel::{PcscChannel, PcscContext, ReaderCard};
pub use transport::{NfcOptions, NfcTransport, FIDO_AID};
