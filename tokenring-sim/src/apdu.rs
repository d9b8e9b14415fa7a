//! The simulator as a contactless FIDO card: the card side of CTAP 2.1
//! §11.3 (NFC) over ISO/IEC 7816-4 APDUs.
//!
//! Written from the specifications, not from TokenRing's client:
//!
//! - ISO 7816-4 §5.1 command APDU cases 1, 2S/2E, 3S/3E, 4S/4E; command
//!   chaining (CLA bit `10`); response chaining (`61XX` and GET RESPONSE).
//! - CTAP 2.1 §11.3.3 applet selection: SELECT of AID `A0000006472F0001`
//!   answers `FIDO_2_0` (a CTAP2-only authenticator).
//! - §11.3.5 fragmentation: a short request is answered with response
//!   chaining, an extended one with one extended response.
//! - §11.3.7.1 NFCCTAP_MSG (`80 10`), P1 bit `80` = the client takes status
//!   updates; §11.3.7.2 NFCCTAP_GETRESPONSE (`80 11`), P1 `11` = cancel. While
//!   the simulator works (on its own thread) the card answers `9100` with the
//!   status byte `01` (processing) or `02` (user presence needed).
//!
//! Errors answer with the ISO status words: `6700` wrong length, `6883`
//! broken chain, `6884` chaining not supported, `6985` conditions not
//! satisfied (applet not selected, nothing to get), `6A82` application not
//! found, `6A86` wrong P1/P2, `6D00` unknown instruction, `6E00` wrong class.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tokenring_core::KeepaliveStatus;

use crate::{DeviceContext, SimConfig, Simulator};

/// The FIDO applet's AID (CTAP 2.1 §11.3.3).
pub const FIDO_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x06, 0x47, 0x2F, 0x00, 0x01];
/// What SELECT answers: this applet speaks CTAP2 only (§11.3.3).
pub const APPLET_VERSION: &[u8] = b"FIDO_2_0";

/// Status words the card answers (ISO 7816-4 §5.1.3, CTAP 2.1 §11.3).
pub mod sw {
    /// Success.
    pub const OK: u16 = 0x9000;
    /// CTAP status update: poll with NFCCTAP_GETRESPONSE.
    pub const STATUS_UPDATE: u16 = 0x9100;
    /// Wrong length (malformed APDU, Lc/Le out of range).
    pub const WRONG_LENGTH: u16 = 0x6700;
    /// The chain was broken (expected its next segment).
    pub const LAST_COMMAND_EXPECTED: u16 = 0x6883;
    /// This instruction takes no command chaining.
    pub const CHAINING_NOT_SUPPORTED: u16 = 0x6884;
    /// Conditions of use not satisfied (applet not selected, nothing pending).
    pub const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
    /// Application not found.
    pub const NOT_FOUND: u16 = 0x6A82;
    /// Wrong P1/P2.
    pub const WRONG_P1P2: u16 = 0x6A86;
    /// Instruction not supported.
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    /// Class not supported.
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;
}

const INS_SELECT: u8 = 0xA4;
const INS_GET_RESPONSE: u8 = 0xC0;
const INS_NFCCTAP_MSG: u8 = 0x10;
const INS_NFCCTAP_GETRESPONSE: u8 = 0x11;
const CLA_ISO: u8 = 0x00;
const CLA_PROPRIETARY: u8 = 0x80;
const CLA_CHAIN_BIT: u8 = 0x10;
const P1_GETRESPONSE_SUPPORTED: u8 = 0x80;
const P1_CANCEL: u8 = 0x11;
const STATUS_PROCESSING: u8 = 0x01;
const STATUS_UP_NEEDED: u8 = 0x02;
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

/// A command APDU as ISO 7816-4 §5.1 lays it out.
struct Command<'a> {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: &'a [u8],
    /// Ne: the most response bytes the host takes (None: no Le field).
    ne: Option<usize>,
    extended: bool,
}

/// Parses the four cases of ISO 7816-4 §5.1 (short and extended). `None`:
/// the length fields do not add up.
fn parse_command(apdu: &[u8]) -> Option<Command<'_>> {
    let (header, body) = apdu.split_at_checked(4)?;
    let [cla, ins, p1, p2] = <[u8; 4]>::try_from(header).ok()?;
    let (data, ne, extended): (&[u8], Option<usize>, bool) = match body {
        // Case 1.
        [] => (&[], None, false),
        // Case 2S.
        [le] => (&[], Some(short_ne(*le)), false),
        // Case 2E.
        [0x00, le1, le2] => (&[], Some(extended_ne(*le1, *le2)), true),
        [0x00, lc1, lc2, rest @ ..] => {
            let lc = usize::from(u16::from_be_bytes([*lc1, *lc2]));
            if lc == 0 {
                return None;
            }
            if rest.len() == lc {
                // Case 3E.
                (rest, None, true)
            } else if rest.len() == lc + 2 {
                // Case 4E.
                let (data, le) = rest.split_at_checked(lc)?;
                let [le1, le2] = <[u8; 2]>::try_from(le).ok()?;
                (data, Some(extended_ne(le1, le2)), true)
            } else {
                return None;
            }
        }
        [lc, rest @ ..] => {
            let lc = usize::from(*lc);
            if rest.len() == lc {
                // Case 3S.
                (rest, None, false)
            } else if rest.len() == lc + 1 {
                // Case 4S.
                let (data, le) = rest.split_at_checked(lc)?;
                (data, Some(short_ne(*le.first()?)), false)
            } else {
                return None;
            }
        }
    };
    Some(Command {
        cla,
        ins,
        p1,
        p2,
        data,
        ne,
        extended,
    })
}

fn short_ne(le: u8) -> usize {
    if le == 0 {
        256
    } else {
        usize::from(le)
    }
}

fn extended_ne(le1: u8, le2: u8) -> usize {
    match u16::from_be_bytes([le1, le2]) {
        0 => 65_536,
        n => usize::from(n),
    }
}

/// What the worker thread shares with the card while the simulator works.
#[derive(Default)]
struct Progress {
    status: AtomicU8,
    cancel: AtomicBool,
}

/// The simulator's [`DeviceContext`] on the worker thread.
struct WorkerContext(Arc<Progress>);

impl DeviceContext for WorkerContext {
    fn keepalive(&mut self, status: KeepaliveStatus) {
        let byte = match status {
            KeepaliveStatus::Processing => STATUS_PROCESSING,
            KeepaliveStatus::UserPresenceNeeded => STATUS_UP_NEEDED,
        };
        self.0.status.store(byte, Ordering::SeqCst);
    }

    fn cancelled(&mut self) -> bool {
        self.0.cancel.load(Ordering::SeqCst)
    }
}

/// A request the simulator works on, on its own thread.
struct Pending {
    progress: Arc<Progress>,
    result: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<()>>,
    /// The request came as an extended APDU (answer likewise, §11.3.5).
    extended: bool,
    ne: usize,
}

impl Pending {
    fn finish(&mut self, wait: Duration) -> Option<Vec<u8>> {
        match self.result.recv_timeout(wait) {
            Ok(response) => {
                self.join();
                Some(response)
            }
            Err(RecvTimeoutError::Timeout) => None,
            // The worker died without answering (a panic in the simulator):
            // answer CTAP1_ERR_OTHER rather than hang.
            Err(RecvTimeoutError::Disconnected) => {
                self.join();
                Some(vec![0x7F])
            }
        }
    }

    /// Waits as long as the simulator takes.
    fn wait(&mut self) -> Vec<u8> {
        let response = self.result.recv().unwrap_or_else(|_| vec![0x7F]);
        self.join();
        response
    }

    fn join(&mut self) {
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }

    /// Cancels and waits for the simulator to give up.
    fn abandon(mut self) {
        self.progress.cancel.store(true, Ordering::SeqCst);
        let _ = self.result.recv();
        self.join();
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
        let mut pending = self.start(ctap_command, payload.to_vec(), command.extended, ne);
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
            pending.progress.cancel.store(true, Ordering::SeqCst);
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
                let update = pending.progress.status.load(Ordering::SeqCst);
                self.pending = Some(pending);
                let mut out = vec![update];
                out.extend_from_slice(&sw::STATUS_UPDATE.to_be_bytes());
                out
            }
        }
    }

    /// Runs the simulator on its own thread.
    fn start(&self, command: u8, payload: Vec<u8>, extended: bool, ne: usize) -> Pending {
        let progress = Arc::new(Progress::default());
        progress.status.store(STATUS_PROCESSING, Ordering::SeqCst);
        let (sender, result) = mpsc::channel();
        let simulator = Arc::clone(&self.simulator);
        let context = WorkerContext(Arc::clone(&progress));
        let worker = std::thread::Builder::new()
            .name("sim-card".into())
            .spawn(move || {
                let mut context = context;
                let response = lock(&simulator).process(command, &payload, &mut context);
                let _ = sender.send(response);
            });
        // No thread: the receiver sees a disconnect and answers an error.
        let worker = worker.ok();
        Pending {
            progress,
            result,
            worker,
            extended,
            ne,
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

fn status(word: u16) -> Vec<u8> {
    word.to_be_bytes().to_vec()
}

fn lock(simulator: &Mutex<Simulator>) -> std::sync::MutexGuard<'_, Simulator> {
    simulator.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClockMode, PresencePolicy};

    const SELECT: [u8; 14] = [
        0x00, 0xA4, 0x04, 0x00, 0x08, 0xA0, 0x00, 0x00, 0x06, 0x47, 0x2F, 0x00, 0x01, 0x00,
    ];

    fn selected(config: SimConfig) -> SimCard {
        let mut card = SimCard::new(config);
        assert_eq!(card.transmit(&SELECT), b"FIDO_2_0\x90\x00".to_vec());
        card
    }

    fn sw_of(response: &[u8]) -> u16 {
        match response {
            [.., a, b] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        }
    }

    #[test]
    fn malformed_apdus_answer_6700() {
        let mut card = SimCard::new(SimConfig::default());
        for apdu in [
            &[][..],
            &[0x00, 0xA4, 0x04][..],
            &[0x00, 0xA4, 0x04, 0x00, 0x08, 0xA0][..],
            &[0x80, 0x10, 0x80, 0x00, 0x00, 0x00, 0x00, 0x04][..],
            &[0x80, 0x10, 0x80, 0x00, 0x00, 0x00, 0x02, 0x04][..],
        ] {
            assert_eq!(card.transmit(apdu), vec![0x67, 0x00], "{apdu:02X?}");
        }
    }

    #[test]
    fn selection_errors() {
        let mut card = SimCard::new(SimConfig::default());
        // NFCCTAP before SELECT.
        assert_eq!(
            sw_of(&card.transmit(&[0x80, 0x10, 0x80, 0x00, 0x01, 0x04, 0x00])),
            0x6985
        );
        // Another AID.
        assert_eq!(
            sw_of(&card.transmit(&[0x00, 0xA4, 0x04, 0x00, 0x03, 0xA0, 0x00, 0x01, 0x00])),
            0x6A82
        );
        // Wrong P1.
        let mut wrong_p1 = SELECT;
        wrong_p1[2] = 0x00;
        assert_eq!(sw_of(&card.transmit(&wrong_p1)), 0x6A86);
        // Wrong class.
        let mut wrong_cla = SELECT;
        wrong_cla[0] = 0x80;
        assert_eq!(sw_of(&card.transmit(&wrong_cla)), 0x6E00);
        // Unknown instruction.
        assert_eq!(
            sw_of(&card.transmit(&[0x00, 0xB0, 0x00, 0x00, 0x00])),
            0x6D00
        );
    }

    fn get_info_reference(card: &SimCard) -> Vec<u8> {
        lock(card.simulator()).process(0x04, &[], &mut crate::NoContext)
    }

    #[test]
    fn a_short_le_is_honoured_with_61xx_and_get_response() {
        let mut card = selected(SimConfig::default());
        // Le = 0x20: at most 32 bytes per response.
        let mut response = card.transmit(&[0x80, 0x10, 0x80, 0x00, 0x01, 0x04, 0x20]);
        let mut data = Vec::new();
        let mut rounds = 0;
        while let [ref body @ .., 0x61, n] = response[..] {
            assert!(body.len() <= 0x20);
            data.extend_from_slice(body);
            rounds += 1;
            response = card.transmit(&[0x00, 0xC0, 0x00, 0x00, n.min(0x20)]);
        }
        let [ref body @ .., 0x90, 0x00] = response[..] else {
            panic!("no 9000: {response:02X?}")
        };
        data.extend_from_slice(body);
        assert!(rounds >= 2, "{rounds}");
        assert_eq!(data, get_info_reference(&card));
    }

    #[test]
    fn an_extended_request_gets_one_extended_response() {
        let mut card = selected(SimConfig::default());
        let response = card.transmit(&[0x80, 0x10, 0x80, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00]);
        let mut expected = get_info_reference(&card);
        expected.extend_from_slice(&[0x90, 0x00]);
        assert_eq!(response, expected);
    }

    #[test]
    fn extended_apdus_can_be_refused() {
        let simulator = Arc::new(Mutex::new(Simulator::new(SimConfig::default())));
        let options = SimCardOptions {
            extended_length: false,
            ..SimCardOptions::default()
        };
        let mut card = SimCard::with_options(simulator, options);
        card.transmit(&SELECT);
        let response = card.transmit(&[0x80, 0x10, 0x80, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00]);
        assert_eq!(response, vec![0x67, 0x00]);
    }

    #[test]
    fn command_chaining_is_reassembled() {
        let mut card = selected(SimConfig::default());
        // getInfo with a 300-byte payload: the simulator must see all of it
        // (it answers CTAP1_ERR_INVALID_LENGTH to a getInfo with parameters).
        let mut message = vec![0x04];
        message.extend_from_slice(&[0xA0; 300]);
        let (first, last) = message.split_at(255);
        let mut apdu = vec![0x90, 0x10, 0x80, 0x00, 0xFF];
        apdu.extend_from_slice(first);
        assert_eq!(card.transmit(&apdu), vec![0x90, 0x00]);
        let mut apdu = vec![
            0x80,
            0x10,
            0x80,
            0x00,
            u8::try_from(last.len()).unwrap_or(0),
        ];
        apdu.extend_from_slice(last);
        apdu.push(0x00);
        assert_eq!(card.transmit(&apdu), vec![0x03, 0x90, 0x00]);
    }

    #[test]
    fn a_broken_chain_answers_6883() {
        let mut card = selected(SimConfig::default());
        assert_eq!(
            card.transmit(&[0x90, 0x10, 0x80, 0x00, 0x01, 0x04]),
            vec![0x90, 0x00]
        );
        assert_eq!(
            card.transmit(&[0x80, 0x11, 0x00, 0x00, 0x00]),
            vec![0x68, 0x83]
        );
        // SELECT may not be chained.
        let mut chained_select = SELECT;
        chained_select[0] = 0x10;
        assert_eq!(card.transmit(&chained_select), vec![0x68, 0x84]);
    }

    #[test]
    fn get_response_class_can_be_restricted() {
        let simulator = Arc::new(Mutex::new(Simulator::new(SimConfig::default())));
        let options = SimCardOptions {
            get_response_class: GetResponseClass::Only(0x80),
            ..SimCardOptions::default()
        };
        let mut card = SimCard::with_options(simulator, options);
        card.transmit(&SELECT);
        let response = card.transmit(&[0x80, 0x10, 0x80, 0x00, 0x01, 0x04, 0x20]);
        assert_eq!(response.get(response.len() - 2), Some(&0x61));
        assert_eq!(
            card.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x00]),
            vec![0x6E, 0x00]
        );
        let next = card.transmit(&[0x80, 0xC0, 0x00, 0x00, 0x20]);
        assert!(matches!(sw_of(&next), 0x9000 | 0x6100..=0x61FF));
        // Nothing left to get.
        let mut rest = next;
        while let [.., 0x61, n] = rest[..] {
            rest = card.transmit(&[0x80, 0xC0, 0x00, 0x00, n]);
        }
        assert_eq!(
            card.transmit(&[0x80, 0xC0, 0x00, 0x00, 0x00]),
            vec![0x69, 0x85]
        );
    }

    #[test]
    fn nothing_to_poll_answers_6985() {
        let mut card = selected(SimConfig::default());
        assert_eq!(
            card.transmit(&[0x80, 0x11, 0x00, 0x00, 0x00]),
            vec![0x69, 0x85]
        );
    }

    fn real_clock(presence: PresencePolicy) -> SimConfig {
        SimConfig::default()
            .clock(ClockMode::Real)
            .presence(presence)
    }

    #[test]
    fn a_presence_wait_answers_status_updates_until_the_touch() {
        let mut card = selected(real_clock(PresencePolicy::approve_after(
            Duration::from_millis(300),
        )));
        // authenticatorSelection waits for a touch.
        let mut response = card.transmit(&[0x80, 0x10, 0x80, 0x00, 0x01, 0x0B, 0x00]);
        let mut updates = Vec::new();
        while sw_of(&response) == 0x9100 {
            updates.push(response.first().copied());
            response = card.transmit(&[0x80, 0x11, 0x00, 0x00, 0x00]);
        }
        assert_eq!(response, vec![0x00, 0x90, 0x00]);
        assert!(updates.len() >= 2, "{updates:?}");
        assert!(updates.contains(&Some(STATUS_UP_NEEDED)), "{updates:?}");
    }

    #[test]
    fn cancel_ends_the_wait_with_keepalive_cancel() {
        let mut card = selected(real_clock(PresencePolicy::time_out()));
        let response = card.transmit(&[0x80, 0x10, 0x80, 0x00, 0x01, 0x0B, 0x00]);
        assert_eq!(sw_of(&response), 0x9100);
        let started = std::time::Instant::now();
        let mut response = card.transmit(&[0x80, 0x11, 0x11, 0x00, 0x00]);
        while sw_of(&response) == 0x9100 {
            response = card.transmit(&[0x80, 0x11, 0x00, 0x00, 0x00]);
        }
        assert_eq!(
            response,
            vec![0x2D, 0x90, 0x00],
            "CTAP2_ERR_KEEPALIVE_CANCEL"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_client_without_getresponse_support_gets_the_final_answer() {
        let mut card = selected(real_clock(PresencePolicy::approve_after(
            Duration::from_millis(150),
        )));
        let response = card.transmit(&[0x80, 0x10, 0x00, 0x00, 0x01, 0x0B, 0x00]);
        assert_eq!(response, vec![0x00, 0x90, 0x00]);
    }

    #[test]
    fn reselecting_abandons_the_request_in_progress() {
        let mut card = selected(real_clock(PresencePolicy::time_out()));
        let response = card.transmit(&[0x80, 0x10, 0x80, 0x00, 0x01, 0x0B, 0x00]);
        assert_eq!(sw_of(&response), 0x9100);
        assert_eq!(card.transmit(&SELECT), b"FIDO_2_0\x90\x00".to_vec());
        assert_eq!(
            card.transmit(&[0x80, 0x11, 0x00, 0x00, 0x00]),
            vec![0x69, 0x85]
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut card = selected(SimConfig::default());
        let mut state = 0x1234_5678_9ABC_DEF1u64;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bytes = state.to_le_bytes();
            let len = usize::from(bytes[0] % 9);
            let mut apdu: Vec<u8> = bytes.iter().copied().cycle().skip(1).take(len).collect();
            // Steer some of them at the interesting instructions.
            if let Some(ins) = apdu.get_mut(1) {
                *ins = [0xA4, 0xC0, 0x10, 0x11, *ins][usize::from(bytes[7] % 5)];
            }
            let response = card.transmit(&apdu);
            assert!(response.len() >= 2 || response.is_empty());
        }
    }
}
