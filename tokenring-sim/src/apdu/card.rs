//! The card's state machine: applet selection, command chaining, response
//! chaining and the NFCCTAP instructions (CTAP 2.1 §11.3), over the
//! simulator.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::iso7816::{
    parse_command, status, sw, Command, CLA_CHAIN_BIT, CLA_ISO, CLA_PROPRIETARY, INS_GET_RESPONSE,
    INS_SELECT,
};
use super::pending::{lock, Pending};
use crate::{SimConfig, Simulator};

/// The FIDO applet's AID (CTAP 2.1 §11.3.3).
pub(crate) const FIDO_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x06, 0x47, 0x2F, 0x00, 0x01];
/// What SELECT answers: this applet speaks CTAP2 only (§11.3.3).
pub(crate) const APPLET_VERSION: &[u8] = b"FIDO_2_0";

/// NFCCTAP_MSG (§11.3.7.1).
const INS_NFCCTAP_MSG: u8 = 0x10;
/// NFCCTAP_GETRESPONSE (§11.3.7.2).
const INS_NFCCTAP_GETRESPONSE: u8 = 0x11;
/// NFCCTAP_MSG P1 bit: the client takes status updates.
const P1_GETRESPONSE_SUPPORTED: u8 = 0x80;
/// NFCCTAP_GETRESPONSE P1: cancel the request in progress.
const P1_CANCEL: u8 = 0x11;
/// The longest message reassembled from a command chain.
const MAX_CHAINED: usize = 65_536;

/// Which class bytes the card takes on GET RESPONSE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GetResponseClass {
    /// `00` and `80` alike (the default).
    #[default]
    Any,
    /// Only this class; the other answers `6E00`.
    Only(u8),
}

/// How the card behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimCardOptions {
    /// Whether extended-length APDUs are accepted (else they answer `6700`).
    pub extended_length: bool,
    /// Which class bytes GET RESPONSE takes.
    pub get_response_class: GetResponseClass,
    /// How long NFCCTAP_MSG / NFCCTAP_GETRESPONSE wait for the simulator to
    /// finish before they answer a status update (`9100`).
    pub status_update_after: Duration,
}

impl Default for SimCardOptions {
    fn default() -> Self {
        SimCardOptions {
            extended_length: true,
            get_response_class: GetResponseClass::Any,
            status_update_after: Duration::from_millis(50),
        }
    }
}

/// A command chain being reassembled.
struct Chain {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: Vec<u8>,
}

/// The simulator as a contactless FIDO card (CTAP 2.1 §11.3): APDUs in,
/// response APDUs out.
pub struct SimCard {
    simulator: Arc<Mutex<Simulator>>,
    options: SimCardOptions,
    selected: bool,
    chain: Option<Chain>,
    /// Response bytes waiting for GET RESPONSE.
    outgoing: Vec<u8>,
    pending: Option<Pending>,
}

impl std::fmt::Debug for SimCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCard")
            .field("options", &self.options)
            .field("selected", &self.selected)
            .field("pending", &self.pending.is_some())
            .finish_non_exhaustive()
    }
}

impl SimCard {
    /// A card around a new simulator.
    pub fn new(config: SimConfig) -> Self {
        Self::shared(Arc::new(Mutex::new(Simulator::new(config))))
    }

    /// A card around a simulator other front ends may share.
    pub fn shared(simulator: Arc<Mutex<Simulator>>) -> Self {
        Self::with_options(simulator, SimCardOptions::default())
    }

    /// A card with options.
    pub fn with_options(simulator: Arc<Mutex<Simulator>>, options: SimCardOptions) -> Self {
        SimCard {
            simulator,
            options,
            selected: false,
            chain: None,
            outgoing: Vec::new(),
            pending: None,
        }
    }

    /// The simulator behind the card.
    pub fn simulator(&self) -> &Arc<Mutex<Simulator>> {
        &self.simulator
    }

    /// A warm reset (ISO 7816-3): the applet is deselected and whatever was
    /// in progress is dropped (a request in progress is cancelled).
    pub fn reset(&mut self) {
        if let Some(pending) = self.pending.take() {
            pending.abandon();
        }
        self.selected = false;
        self.chain = None;
        self.outgoing.clear();
    }

    /// The card left the field and came back: a reset, and the simulator
    /// forgets its volatile state (PIN tokens, key agreement).
    pub fn power_cycle(&mut self) {
        self.reset();
        lock(&self.simulator).power_cycle();
    }

    /// One command APDU in, one response APDU (data, SW1, SW2) out; empty
    /// only when the simulator's fault injection dropped the answer.
    pub fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        let Some(command) = parse_command(apdu) else {
            return status(sw::WRONG_LENGTH);
        };
        if command.extended && !self.options.extended_length {
            return status(sw::WRONG_LENGTH);
        }
        // While a chain is open, only its next segment may come (ISO 7816-4
        // §5.1.1.1): same class (chaining bit aside), instruction and parameters.
        if let Some(chain) = &self.chain {
            if (chain.cla, chain.ins, chain.p1, chain.p2)
                != (
                    command.cla & !CLA_CHAIN_BIT,
                    command.ins,
                    command.p1,
                    command.p2,
                )
            {
                self.chain = None;
                return status(sw::LAST_COMMAND_EXPECTED);
            }
        }
        match command.ins {
            INS_SELECT => self.select(&command),
            INS_GET_RESPONSE => self.get_response(&command),
            INS_NFCCTAP_MSG | INS_NFCCTAP_GETRESPONSE => self.nfcctap(&command),
            _ => status(sw::INS_NOT_SUPPORTED),
        }
    }

    /// SELECT by DF name (ISO 7816-4 §11.2.2; CTAP 2.1 §11.3.3).
    fn select(&mut self, command: &Command<'_>) -> Vec<u8> {
        if command.cla & !CLA_CHAIN_BIT != CLA_ISO {
            return status(sw::CLA_NOT_SUPPORTED);
        }
        if command.cla & CLA_CHAIN_BIT != 0 {
            return status(sw::CHAINING_NOT_SUPPORTED);
        }
        if command.p1 != 0x04 || (command.p2 != 0x00 && command.p2 != 0x0C) {
            return status(sw::WRONG_P1P2);
        }
        if command.data != FIDO_AID {
            self.reset();
            return status(sw::NOT_FOUND);
        }
        self.reset();
        self.selected = true;
        if command.p2 == 0x0C {
            // "No response data" asked for.
            return status(sw::OK);
        }
        let ne = command.ne.unwrap_or(256);
        self.respond(APPLET_VERSION.to_vec(), ne, false)
    }

    /// GET RESPONSE (ISO 7816-4 §11.4.2): the next part of a chained response.
    fn get_response(&mut self, command: &Command<'_>) -> Vec<u8> {
        let class_ok = match self.options.get_response_class {
            GetResponseClass::Any => command.cla == CLA_ISO || command.cla == CLA_PROPRIETARY,
            GetResponseClass::Only(cla) => command.cla == cla,
        };
        if !class_ok {
            return status(sw::CLA_NOT_SUPPORTED);
        }
        if command.p1 != 0 || command.p2 != 0 {
            return status(sw::WRONG_P1P2);
        }
        if self.outgoing.is_empty() {
            return status(sw::CONDITIONS_NOT_SATISFIED);
        }
        let rest = std::mem::take(&mut self.outgoing);
        self.respond(rest, command.ne.unwrap_or(256), false)
    }

    /// NFCCTAP_MSG and NFCCTAP_GETRESPONSE (CTAP 2.1 §11.3.7).
    fn nfcctap(&mut self, command: &Command<'_>) -> Vec<u8> {
        if command.cla & !CLA_CHAIN_BIT != CLA_PROPRIETARY {
            return status(sw::CLA_NOT_SUPPORTED);
        }
        if !self.selected {
            return status(sw::CONDITIONS_NOT_SATISFIED);
        }
        if command.ins == INS_NFCCTAP_GETRESPONSE {
            if command.cla & CLA_CHAIN_BIT != 0 {
                return status(sw::CHAINING_NOT_SUPPORTED);
            }
            return self.poll(command);
        }
        // NFCCTAP_MSG, maybe one segment of a chain.
        let chained = command.cla & CLA_CHAIN_BIT != 0;
        let mut message = match self.chain.take() {
            Some(chain) => chain.data,
            None => Vec::new(),
        };
        if message.len() + command.data.len() > MAX_CHAINED {
            return status(sw::WRONG_LENGTH);
        }
        message.extend_from_slice(command.data);
        if chained {
            self.chain = Some(Chain {
                cla: command.cla & !CLA_CHAIN_BIT,
                ins: command.ins,
                p1: command.p1,
                p2: command.p2,
                data: message,
            });
            return status(sw::OK);
        }
        let Some((&ctap_command, payload)) = message.split_first() else {
            return status(sw::WRONG_LENGTH);
        };
        if let Some(previous) = self.pending.take() {
            previous.abandon();
        }
        self.outgoing.clear();
        let ne = command
            .ne
            .unwrap_or(if command.extended { 65_536 } else { 256 });
        let mut pending = Pending::start(
            &self.simulator,
            ctap_command,
            payload.to_vec(),
            command.extended,
            ne,
        );
        if command.p1 & P1_GETRESPONSE_SUPPORTED == 0 {
            // The client cannot poll: answer only when done.
            let response = pending.wait();
            return self.respond_ctap(response, ne, command.extended);
        }
        self.answer_or_update(pending)
    }

    /// NFCCTAP_GETRESPONSE: the answer when it is ready, else a status
    /// update; P1 `11` cancels first.
    fn poll(&mut self, command: &Command<'_>) -> Vec<u8> {
        let Some(pending) = self.pending.take() else {
            return status(sw::CONDITIONS_NOT_SATISFIED);
        };
        if command.p1 == P1_CANCEL {
            pending.cancel();
        } else if command.p1 != 0 || command.p2 != 0 {
            self.pending = Some(pending);
            return status(sw::WRONG_P1P2);
        }
        self.answer_or_update(pending)
    }

    fn answer_or_update(&mut self, mut pending: Pending) -> Vec<u8> {
        match pending.finish(self.options.status_update_after) {
            Some(response) => self.respond_ctap(response, pending.ne, pending.extended),
            None => {
                let update = pending.status_update();
                self.pending = Some(pending);
                let mut out = vec![update];
                out.extend_from_slice(&sw::STATUS_UPDATE.to_be_bytes());
                out
            }
        }
    }

    /// The simulator's answer; nothing at all when fault injection dropped
    /// it (the card is mute: vpcd then reports the card gone).
    fn respond_ctap(&mut self, data: Vec<u8>, ne: usize, extended: bool) -> Vec<u8> {
        if data.is_empty() {
            return Vec::new();
        }
        self.respond(data, ne, extended)
    }

    /// A response of `data`: whole when it fits `ne` (an extended request
    /// takes up to 65 536 bytes at once, §11.3.5), else the first `ne` bytes
    /// and `61XX`.
    fn respond(&mut self, mut data: Vec<u8>, ne: usize, extended: bool) -> Vec<u8> {
        let limit = if extended { ne } else { ne.min(256) };
        if data.len() <= limit {
            data.extend_from_slice(&sw::OK.to_be_bytes());
            return data;
        }
        self.outgoing = data.split_off(limit);
        let remaining = self.outgoing.len();
        // 61 00: 256 or more bytes remain.
        let sw2 = u8::try_from(remaining).unwrap_or(0);
        data.extend_from_slice(&[0x61, sw2]);
        data
    }
}

impl Drop for SimCard {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            pending.abandon();
        }
    }
}
