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

    /// Runs `session` — every APDU of one CTAP request: chained segments,
    /// GET RESPONSEs, status polls — with the card reserved for this client,
    /// so that no other program's APDUs come in between (a SELECT from
    /// another program would end the request). `session` transmits through
    /// the function it is given.
    ///
    /// The default reserves nothing and transmits with
    /// [`ApduChannel::transmit`]; [`crate::PcscChannel`] wraps the session in
    /// a PC/SC transaction. An error means the card could not be reserved
    /// (the session did not run).
    fn exclusive(&mut self, session: &mut Session<'_>) -> Result<(), TransportError> {
        session(&mut |apdu: &[u8]| self.transmit(apdu));
        Ok(())
    }
}

/// A session run by [`ApduChannel::exclusive`]: it gets the transmit
/// function to use.
pub type Session<'a> = dyn FnMut(&mut dyn FnMut(&[u8]) -> Result<Vec<u8>, TransportError>) + 'a;

impl<C: ApduChannel + ?Sized> ApduChannel for &mut C {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(apdu)
    }
    fn exclusive(&mut self, session: &mut Session<'_>) -> Result<(), TransportError> {
        (**self).exclusive(session)
    }
}

impl<C: ApduChannel + ?Sized> ApduChannel for Box<C> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(apdu)
    }
    fn exclusive(&mut self, session: &mut Session<'_>) -> Result<(), TransportError> {
        (**self).exclusive(session)
    }
}
