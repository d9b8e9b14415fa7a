//! The simulator as a virtual contactless card for a real `pcscd`, through
//! the `vpcd` reader driver of vsmartcard (Debian package `vsmartcard-vpcd`).
//!
//! pcscd loads vpcd (`/etc/reader.conf.d/vpcd`), which listens on TCP port
//! 35963 (reader "Virtual PCD 00 00"; 35964 is "Virtual PCD 00 01") for a
//! virtual card to connect. Every message either way is a 2-byte big-endian
//! length followed by that many bytes. From the reader, a 1-byte message is
//! a control message — `00` power off, `01` power on, `02` reset, `04` ATR
//! request (answered with the ATR) — and anything longer is a command APDU,
//! answered with the response APDU. The card answers nothing to power
//! on/off/reset.
//!
//! [`serve_vpcd`] keeps the card connected: when pcscd goes away (restart)
//! it reconnects, and it returns when the caller's stop flag is raised.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::apdu::{SimCard, SimCardOptions};
use crate::Simulator;

/// The port vpcd listens on for the first virtual reader.
const DEFAULT_PORT: u16 = 35963;

/// vpcd control message: power off.
const CTRL_POWER_OFF: u8 = 0x00;
/// vpcd control message: power on.
const CTRL_POWER_ON: u8 = 0x01;
/// vpcd control message: reset.
const CTRL_RESET: u8 = 0x02;
/// vpcd control message: ATR request.
const CTRL_ATR: u8 = 0x04;

/// Historical bytes of the simulated card's ATR.
const HISTORICAL_BYTES: &[u8] = b"TokenRingSim";

/// The ATR a PC/SC reader reports for an ISO/IEC 14443-4 contactless card
/// (PC/SC Part 3 §3.1.3.2.3.1): `3B 8n 80 01`, the `n` historical bytes,
/// and the check byte TCK (XOR of every byte from T0 on). It says T=1.
fn contactless_atr(historical: &[u8]) -> Vec<u8> {
    let count = historical.len().min(15);
    let mut atr = vec![0x3B, 0x80 | low_nibble(count), 0x80, 0x01];
    atr.extend_from_slice(historical.get(..count).unwrap_or_default());
    let tck = atr.iter().skip(1).fold(0u8, |acc, b| acc ^ b);
    atr.push(tck);
    atr
}

fn low_nibble(n: usize) -> u8 {
    n.to_le_bytes()[0] & 0x0F
}

/// Where and how to connect. The default is vpcd's first reader on this
/// machine (`127.0.0.1:35963`, "Virtual PCD 00 00"), the ATR of an
/// ISO/IEC 14443-4 contactless card with the historical bytes
/// `TokenRingSim`, a new connection attempt every 500 ms, and the default
/// [`SimCardOptions`].
#[derive(Debug, Clone)]
pub struct VpcdOptions {
    /// vpcd's address (pcscd's host, port 35963 for "Virtual PCD 00 00").
    pub address: SocketAddr,
    /// The ATR to report.
    pub atr: Vec<u8>,
    /// Pause between connection attempts while pcscd is not there.
    pub reconnect_interval: Duration,
    /// How the card behaves.
    pub card: SimCardOptions,
}

impl Default for VpcdOptions {
    fn default() -> Self {
        VpcdOptions {
            address: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            atr: contactless_atr(HISTORICAL_BYTES),
            reconnect_interval: Duration::from_millis(500),
            card: SimCardOptions::default(),
        }
    }
}

/// What the bridge reports while it runs (the `tokenring-sim vpcd` command
/// prints these).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VpcdEvent {
    /// Connected to vpcd: the simulated card is on the reader.
    Connected(SocketAddr),
    /// The connection ended (pcscd stopped or restarted); the bridge
    /// reconnects.
    Disconnected {
        /// Why, in words.
        reason: String,
    },
}

impl std::fmt::Display for VpcdEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VpcdEvent::Connected(address) => write!(
                f,
                "connected to vpcd at {address}: the card is on the reader"
            ),
            VpcdEvent::Disconnected { reason } => write!(f, "{reason}; waiting for pcscd"),
        }
    }
}

/// How a connection ended.
enum End {
    Stopped,
    Lost(String),
}

/// A card that vpcd can put on its reader: what the reader does to a
/// card (power, reset) and its APDUs.
///
/// [`SimCard`] is one; a test can put another card (another
/// authenticator's APDU interface) on pcscd's reader through
/// [`serve_vpcd_card`].
pub trait VirtualCard {
    /// The reader powers the card (it enters the field).
    fn power_on(&mut self);
    /// The reader powers the card down.
    fn power_off(&mut self);
    /// The reader resets the card (a warm reset: nothing selected, nothing
    /// in progress).
    fn reset(&mut self);
    /// The card left the reader (the vpcd connection ended).
    fn removed(&mut self) {
        self.power_off();
    }
    /// One command APDU in, the response APDU (data, SW1, SW2) out.
    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8>;
}

impl VirtualCard for SimCard {
    fn power_on(&mut self) {
        self.power_cycle();
    }
    fn power_off(&mut self) {
        SimCard::reset(self);
    }
    fn reset(&mut self) {
        SimCard::reset(self);
    }
    fn removed(&mut self) {
        self.power_cycle();
    }
    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        SimCard::transmit(self, apdu)
    }
}

/// Serves `simulator` as a contactless FIDO card to a running pcscd through
/// its vpcd driver, until `stop` is raised; reconnects whenever the
/// connection is lost (pcscd restarted), reporting each connection to
/// `events`.
///
/// The simulator's clock should be [`crate::ClockMode::Real`], so that
/// presence waits take real time and the host's cancel can arrive. The
/// caller owns the stop flag: the `tokenring-sim vpcd` command raises it on
/// SIGTERM and SIGINT; a test raises it when it is done.
pub fn serve_vpcd(
    simulator: Arc<Mutex<Simulator>>,
    options: &VpcdOptions,
    stop: &AtomicBool,
    events: &mut dyn FnMut(VpcdEvent),
) {
    let mut card = SimCard::with_options(simulator, options.card.clone());
    serve_vpcd_card(&mut card, options, stop, events);
}

/// Serves any [`VirtualCard`] to pcscd through vpcd, as [`serve_vpcd`]
/// serves the simulator ([`VpcdOptions::card`] is not used): until `stop`
/// is raised, reconnecting when the connection is lost. Raising `stop`
/// takes the card off the reader (vpcd then reports it removed).
pub fn serve_vpcd_card(
    card: &mut dyn VirtualCard,
    options: &VpcdOptions,
    stop: &AtomicBool,
    events: &mut dyn FnMut(VpcdEvent),
) {
    while !stop.load(Ordering::SeqCst) {
        match TcpStream::connect_timeout(&options.address, Duration::from_secs(2)) {
            Ok(stream) => {
                events(VpcdEvent::Connected(options.address));
                let end = serve(stream, card, &options.atr, stop);
                // The reader is gone: the card is out of the field.
                card.removed();
                match end {
                    End::Stopped => return,
                    End::Lost(reason) => events(VpcdEvent::Disconnected { reason }),
                }
            }
            Err(_) => pause(options.reconnect_interval, stop),
        }
    }
}

fn pause(duration: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    while waited < duration && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(step);
        waited += step;
    }
}

/// One connection: frames in, answers out, until the peer leaves or `stop`.
fn serve(mut stream: TcpStream, card: &mut dyn VirtualCard, atr: &[u8], stop: &AtomicBool) -> End {
    if let Err(error) = stream.set_read_timeout(Some(Duration::from_millis(100))) {
        return End::Lost(error.to_string());
    }
    let _ = stream.set_nodelay(true);
    let mut reader = FrameReader::default();
    loop {
        if stop.load(Ordering::SeqCst) {
            return End::Stopped;
        }
        let frame = match reader.next(&mut stream) {
            Ok(Some(frame)) => frame,
            Ok(None) => continue,
            Err(reason) => return End::Lost(reason),
        };
        let answer = match frame.as_slice() {
            [CTRL_POWER_OFF] => {
                card.power_off();
                None
            }
            [CTRL_POWER_ON] => {
                card.power_on();
                None
            }
            [CTRL_RESET] => {
                card.reset();
                None
            }
            [CTRL_ATR] => Some(atr.to_vec()),
            // Unknown control messages are ignored.
            [_] => None,
            apdu => Some(card.transmit(apdu)),
        };
        if let Some(answer) = answer {
            if let Err(reason) = write_frame(&mut stream, &answer) {
                return End::Lost(reason);
            }
        }
    }
}

fn write_frame(stream: &mut TcpStream, payload: &[u8]) -> Result<(), String> {
    let length = u16::try_from(payload.len())
        .map_err(|_| format!("a {}-byte answer does not fit a vpcd frame", payload.len()))?;
    let mut frame = Vec::with_capacity(payload.len() + 2);
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(payload);
    stream.write_all(&frame).map_err(|e| e.to_string())
}

/// Reassembles length-prefixed frames across read timeouts.
#[derive(Default)]
struct FrameReader {
    buffer: Vec<u8>,
}

impl FrameReader {
    /// The next whole frame, `None` when the read timed out first, an error
    /// when the peer closed the connection or it failed.
    fn next(&mut self, stream: &mut impl Read) -> Result<Option<Vec<u8>>, String> {
        loop {
            if let Some(frame) = self.take_frame() {
                return Ok(Some(frame));
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) => return Err("vpcd closed the connection".into()),
                Ok(n) => self
                    .buffer
                    .extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(None)
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    fn take_frame(&mut self) -> Option<Vec<u8>> {
        let (prefix, rest) = self.buffer.split_at_checked(2)?;
        let length = usize::from(u16::from_be_bytes([*prefix.first()?, *prefix.get(1)?]));
        let frame = rest.get(..length)?.to_vec();
        self.buffer.drain(..2 + length);
        Some(frame)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::{SimConfig, Simulator};

    #[test]
    fn the_atr_is_a_valid_contactless_atr() {
        assert_eq!(contactless_atr(&[]), vec![0x3B, 0x80, 0x80, 0x01, 0x01]);
        let atr = contactless_atr(HISTORICAL_BYTES);
        assert_eq!(atr.len(), 4 + HISTORICAL_BYTES.len() + 1);
        assert_eq!(atr.get(1), Some(&0x8C));
        // XOR of T0..TCK is zero.
        assert_eq!(atr.iter().skip(1).fold(0u8, |a, b| a ^ b), 0);
    }

    #[test]
    fn frames_survive_arbitrary_splits() {
        let mut reader = FrameReader::default();
        let mut bytes: &[u8] = &[0x00, 0x01, 0x04, 0x00, 0x03, 0xAA, 0xBB];
        assert_eq!(reader.next(&mut bytes), Ok(Some(vec![0x04])));
        // 0xAA 0xBB is one byte short: the stream ends.
        assert!(reader.next(&mut bytes).is_err());
        let mut rest: &[u8] = &[0xCC];
        assert_eq!(reader.next(&mut rest), Ok(Some(vec![0xAA, 0xBB, 0xCC])));
    }

    fn send(stream: &mut TcpStream, payload: &[u8]) {
        let mut frame = (payload.len() as u16).to_be_bytes().to_vec();
        frame.extend_from_slice(payload);
        stream.write_all(&frame).expect("write");
    }

    fn receive(stream: &mut TcpStream) -> Vec<u8> {
        let mut length = [0u8; 2];
        stream.read_exact(&mut length).expect("length");
        let mut payload = vec![0u8; usize::from(u16::from_be_bytes(length))];
        stream.read_exact(&mut payload).expect("payload");
        payload
    }

    /// Plays vpcd: accepts the card, powers it, asks the ATR, selects the
    /// FIDO applet and sends getInfo; then drops the connection and checks
    /// the card comes back; then stops it.
    #[test]
    fn the_bridge_speaks_vpcd_and_reconnects() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let options = VpcdOptions {
            address: listener.local_addr().expect("address"),
            reconnect_interval: Duration::from_millis(20),
            ..VpcdOptions::default()
        };
        let simulator = Arc::new(Mutex::new(Simulator::new(SimConfig::default())));
        let stop = Arc::new(AtomicBool::new(false));
        let bridge = {
            let stop = Arc::clone(&stop);
            let options = options.clone();
            std::thread::spawn(move || {
                let mut events = Vec::new();
                serve_vpcd(simulator, &options, &stop, &mut |event| events.push(event));
                events
            })
        };
        for round in 0..2 {
            let (mut stream, _) = listener.accept().expect("the card connects");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            send(&mut stream, &[CTRL_POWER_ON]);
            send(&mut stream, &[CTRL_ATR]);
            assert_eq!(receive(&mut stream), options.atr, "round {round}");
            send(
                &mut stream,
                &[
                    0x00, 0xA4, 0x04, 0x00, 0x08, 0xA0, 0x00, 0x00, 0x06, 0x47, 0x2F, 0x00, 0x01,
                    0x00,
                ],
            );
            assert_eq!(receive(&mut stream), b"FIDO_2_0\x90\x00".to_vec());
            send(&mut stream, &[0x80, 0x10, 0x80, 0x00, 0x01, 0x04, 0x00]);
            let mut answer = receive(&mut stream);
            // getInfo may take a status update round when the machine is slow.
            while answer.ends_with(&[0x91, 0x00]) {
                send(&mut stream, &[0x80, 0x11, 0x00, 0x00, 0x00]);
                answer = receive(&mut stream);
            }
            assert!(answer.ends_with(&[0x90, 0x00]), "{answer:02X?}");
            assert_eq!(answer.first(), Some(&0x00), "CTAP2_OK");
            send(&mut stream, &[CTRL_POWER_OFF]);
            drop(stream);
        }
        stop.store(true, Ordering::SeqCst);
        let events = bridge.join().expect("the bridge stops");
        // Connected, lost when the first connection dropped, connected again.
        assert!(
            matches!(
                events.as_slice(),
                [
                    VpcdEvent::Connected(a),
                    VpcdEvent::Disconnected { .. },
                    VpcdEvent::Connected(b),
                    ..
                ] if *a == options.address && *b == options.address
            ),
            "{events:?}"
        );
    }
}
