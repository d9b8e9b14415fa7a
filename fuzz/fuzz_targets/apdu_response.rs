//! APDU response parsing and the whole NFCCTAP client state machine
//! (SELECT, chaining, 61XX / GET RESPONSE, 9100 polling, cancel) fed with
//! hostile card responses. Nothing a card sends may panic the transport.
//!
//! Input: one option byte, then frames `[len u8][len bytes]`, each the
//! card's answer to the next APDU the transport sends.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokenring_core::{NoPrompt, Transport, TransportError, TransportErrorKind};
use tokenring_nfc::{ApduChannel, LengthEncoding, NfcOptions, NfcTransport};
use tokenring_nfc::internal::apdu::ResponseApdu;

struct FuzzCard<'a> {
    frames: &'a [u8],
}

impl ApduChannel for FuzzCard<'_> {
    fn transmit(&mut self, _apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let Some((&len, rest)) = self.frames.split_first() else {
            return Err(TransportError::new(
                TransportErrorKind::Disconnected,
                "out of frames",
            ));
        };
        let len = usize::from(len).min(rest.len());
        let (frame, rest) = rest.split_at(len);
        self.frames = rest;
        Ok(frame.to_vec())
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = ResponseApdu::parse(data);
    let Some((&flags, frames)) = data.split_first() else {
        return;
    };
    let options = NfcOptions {
        length_encoding: if flags & 1 == 0 {
            LengthEncoding::Short
        } else {
            LengthEncoding::Extended
        },
        poll_interval: Duration::ZERO,
        timeout: Duration::ZERO,
        max_response_len: 4096,
    };
    let card = FuzzCard { frames };
    if let Ok(mut transport) = NfcTransport::open(card, "fuzz", options) {
        let payload = vec![0xA5; usize::from(flags >> 1) * 4];
        let _ = transport.exchange(0x02, &payload, &NoPrompt);
        let _ = transport.exchange(0x04, &[], &NoPrompt);
    }
});
