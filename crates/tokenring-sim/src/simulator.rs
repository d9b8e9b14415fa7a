//! The CTAP 2.1 state machine: one request in, one response out.

use crate::{status, DeviceContext, SimConfig};

/// The software authenticator: a CTAP 2.1 state machine (no I/O).
pub struct Simulator {
    config: SimConfig,
}

impl Simulator {
    /// A fresh authenticator (keys from `config.seed`).
    pub fn new(config: SimConfig) -> Simulator {
        Simulator { config }
    }

    /// One CTAP2 request (authenticatorAPI command byte + CBOR parameters)
    /// → response bytes: the status byte followed by the CBOR response
    /// (CTAP 2.1 §8.1 message encoding).
    pub fn process(&mut self, command: u8, payload: &[u8], ctx: &mut dyn DeviceContext) -> Vec<u8> {
        let _ = (command, payload, ctx);
        vec![status::INVALID_COMMAND]
    }

    /// maxMsgSize as announced in getInfo.
    pub fn max_msg_size(&self) -> usize {
        self.config.max_msg_size
    }

    /// Power cycle: forget PIN/UV auth tokens, key agreement, the
    /// consecutive-wrong-PIN counter.
    pub fn power_cycle(&mut self) {}
}
