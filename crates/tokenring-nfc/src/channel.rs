//! The one joint between the NFC framing and whatever moves APDUs.

use tokenring_core::TransportError;

/// Moves one command APDU to a card and brings its response back.
///
/// The PC/SC implementation is [`crate::PcscChannel`] (feature `pcsc`); tests
/// script responses; the simulator's card front end is another.
///
/// Implementations report a card that left the reader as
/// [`tokenring_core::TransportErrorKind::Disconnected`].
pub trait ApduChannel {
    /// Sends `apdu` (a complete command APDU) and returns the complete
    /// response APDU (data followed by SW1 SW2).
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError>;
}

impl<C: ApduChannel + ?Sized> ApduChannel for &mut C {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(apdu)
    }
}

impl<C: ApduChannel + ?Sized> ApduChannel for Box<C> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(apdu)
    }
}
