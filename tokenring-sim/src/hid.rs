//! The simulator as a USB HID authenticator: a CTAPHID device (CTAP 2.1 PS
//! 2021-06-15 §11.2) that speaks 64-byte reports.
//!
//! Written from the device's side of the specification, independently of
//! any client's framing code. The device runs on its own thread; CTAP2
//! requests run on a second thread so that the device keeps reading reports
//! (CTAPHID_CANCEL, other channels' requests) while the simulator waits for
//! a touch. Every report the device sends reaches every open connection, as
//! input reports of a hidraw node reach every process that opened it.
//!
//! Behaviour, per §11.2:
//! - CTAPHID_INIT on the broadcast channel allocates a new channel (also
//!   while another channel's transaction is in progress: allocating does not
//!   disturb it); INIT on an allocated channel aborts that channel's
//!   transaction and answers on the same channel (resynchronization).
//! - One transaction at a time: an initialization packet on another channel
//!   while a message is being received or processed gets ERR_CHANNEL_BUSY.
//! - ERR_INVALID_SEQ for a continuation packet out of sequence, or a new
//!   initialization packet on the channel whose message is incomplete;
//!   ERR_INVALID_LEN for a length the command cannot have (or above
//!   7609 bytes); ERR_INVALID_CHANNEL for channel 0, any command but INIT on
//!   the broadcast channel, or a channel never allocated; ERR_INVALID_CMD
//!   for unknown commands (also CTAPHID_MSG and CTAPHID_LOCK, which this
//!   CTAP2-only device does not implement: capability NMSG);
//!   ERR_MSG_TIMEOUT when an incomplete message stalls.
//! - CTAPHID_KEEPALIVE every 100 ms while a CTAPHID_CBOR request is
//!   processed, and at once when its status changes; CTAPHID_CANCEL on the
//!   processing channel makes the simulator end the request with
//!   CTAP2_ERR_KEEPALIVE_CANCEL; CANCEL is never answered itself.
//! - Continuation packets with no message in progress are ignored.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tokenring_core::KeepaliveStatus;

use crate::{ClockMode, DeviceContext, Simulator};

/// Bytes in one HID report (full-speed USB).
pub const HID_REPORT_SIZE: usize = 64;

// Wire constants, CTAP 2.1 §11.2.4 and §11.2.9.
const BROADCAST_CID: u32 = 0xFFFF_FFFF;
const RESERVED_CID: u32 = 0;
const INIT_FLAG: u8 = 0x80;
const INIT_PACKET_DATA: usize = HID_REPORT_SIZE - 7;
const CONT_PACKET_DATA: usize = HID_REPORT_SIZE - 5;
const LARGEST_MESSAGE: usize = INIT_PACKET_DATA + 128 * CONT_PACKET_DATA;

const CMD_PING: u8 = 0x01;
const CMD_INIT: u8 = 0x06;
const CMD_WINK: u8 = 0x08;
const CMD_CBOR: u8 = 0x10;
const CMD_CANCEL: u8 = 0x11;
const CMD_KEEPALIVE: u8 = 0x3B;
const CMD_ERROR: u8 = 0x3F;

const ERR_INVALID_CMD: u8 = 0x01;
const ERR_INVALID_LEN: u8 = 0x03;
const ERR_INVALID_SEQ: u8 = 0x04;
const ERR_MSG_TIMEOUT: u8 = 0x05;
const ERR_CHANNEL_BUSY: u8 = 0x06;
const ERR_INVALID_CHANNEL: u8 = 0x0B;

const STATUS_PROCESSING: u8 = 1;
const STATUS_UPNEEDED: u8 = 2;

const CAPABILITY_WINK: u8 = 0x01;
const CAPABILITY_CBOR: u8 = 0x04;
const CAPABILITY_NMSG: u8 = 0x08;

/// CTAPHID protocol version announced in the INIT response.
const CTAPHID_PROTOCOL_VERSION: u8 = 2;
/// Device version announced in the INIT response (major, minor, build).
const DEVICE_VERSION: [u8; 3] = [0, 1, 0];
/// Channels remembered at most; the oldest allocation is forgotten first.
const MAX_CHANNELS: usize = 64;

/// Timing of the simulated HID device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimHidOptions {
    /// How long an incomplete message may wait for its next packet before
    /// the device answers ERR_MSG_TIMEOUT (§11.2.5.2 "transaction timeout").
    pub message_timeout: Duration,
    /// How often CTAPHID_KEEPALIVE is sent while a request is processed
    /// (§11.2.9.1.7: at least every 100 ms).
    pub keepalive_interval: Duration,
}

impl Default for SimHidOptions {
    fn default() -> Self {
        SimHidOptions {
            message_timeout: Duration::from_millis(500),
            keepalive_interval: Duration::from_millis(100),
        }
    }
}

/// The device thread has stopped (the [`SimHidDevice`] was dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the simulated HID device is gone")]
pub struct SimHidGone;

enum Event {
    /// An output report from a host connection.
    Report([u8; HID_REPORT_SIZE]),
    /// The simulator's keepalive status while it processes.
    Status(KeepaliveStatus),
    /// The simulator finished the request: its response (empty: dropped).
    Done(Vec<u8>),
    /// Stop the device thread.
    Shutdown,
}

type Inboxes = Arc<Mutex<Vec<Sender<[u8; HID_REPORT_SIZE]>>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One host-side connection to the simulated device (like one open file
/// descriptor of a hidraw node): it sends output reports and receives a
/// copy of every input report the device sends from the moment it opened.
pub struct SimHidConnection {
    events: Sender<Event>,
    inbox: Mutex<Receiver<[u8; HID_REPORT_SIZE]>>,
}

impl SimHidConnection {
    /// Sends one output report to the device.
    pub fn write_report(&self, report: &[u8; HID_REPORT_SIZE]) -> Result<(), SimHidGone> {
        self.events
            .send(Event::Report(*report))
            .map_err(|_| SimHidGone)
    }

    /// Waits at most `timeout` for one input report.
    pub fn read_report(&self, timeout: Duration) -> Option<[u8; HID_REPORT_SIZE]> {
        let inbox = lock(&self.inbox);
        if timeout.is_zero() {
            inbox.try_recv().ok()
        } else {
            inbox.recv_timeout(timeout).ok()
        }
    }
}

/// The simulator behind a CTAPHID device, with one built-in connection
/// ([`SimHidDevice::write_report`] / [`SimHidDevice::read_report`]) and as
/// many more as wanted ([`SimHidDevice::connect`]).
pub struct SimHidDevice {
    simulator: Arc<Mutex<Simulator>>,
    events: Sender<Event>,
    inboxes: Inboxes,
    primary: SimHidConnection,
    winks: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl SimHidDevice {
    /// A HID device around `simulator`, switched to the real clock (so that
    /// a CANCEL can arrive while it waits for a touch, as on a real token).
    pub fn new(simulator: Simulator) -> SimHidDevice {
        let mut simulator = simulator;
        simulator.set_clock(ClockMode::Real);
        Self::shared(Arc::new(Mutex::new(simulator)), SimHidOptions::default())
    }

    /// A HID device around a simulator shared with other front ends. Its
    /// clock is left as it is: with [`ClockMode::Real`] a CANCEL can arrive
    /// while it waits for a touch; with the virtual clock waits end at once.
    pub fn shared(simulator: Arc<Mutex<Simulator>>, options: SimHidOptions) -> SimHidDevice {
        let (events, receiver) = mpsc::channel();
        let inboxes: Inboxes = Arc::new(Mutex::new(Vec::new()));
        let winks = Arc::new(AtomicUsize::new(0));
        let primary = Self::open_connection(&events, &inboxes);
        let machine = DeviceMachine {
            simulator: Arc::clone(&simulator),
            events: events.clone(),
            inboxes: Arc::clone(&inboxes),
            options,
            channels: VecDeque::new(),
            next_channel: 1,
            phase: Phase::Idle,
            winks: Arc::clone(&winks),
        };
        let thread = thread::Builder::new()
            .name("tokenring-sim-hid".into())
            .spawn(move || machine.run(&receiver))
            .ok();
        SimHidDevice {
            simulator,
            events,
            inboxes,
            primary,
            winks,
            thread,
        }
    }

    fn open_connection(events: &Sender<Event>, inboxes: &Inboxes) -> SimHidConnection {
        let (sender, receiver) = mpsc::channel();
        lock(inboxes).push(sender);
        SimHidConnection {
            events: events.clone(),
            inbox: Mutex::new(receiver),
        }
    }

    /// A new host connection (another process opening the device).
    pub fn connect(&self) -> SimHidConnection {
        Self::open_connection(&self.events, &self.inboxes)
    }

    /// Sends one output report on the built-in connection.
    pub fn write_report(&self, report: &[u8; HID_REPORT_SIZE]) -> Result<(), SimHidGone> {
        self.primary.write_report(report)
    }

    /// Waits at most `timeout` for one input report on the built-in connection.
    pub fn read_report(&self, timeout: Duration) -> Option<[u8; HID_REPORT_SIZE]> {
        self.primary.read_report(timeout)
    }

    /// The simulator behind the device.
    pub fn simulator(&self) -> Arc<Mutex<Simulator>> {
        Arc::clone(&self.simulator)
    }

    /// How many CTAPHID_WINK requests the device has answered.
    pub fn winks(&self) -> usize {
        self.winks.load(Ordering::SeqCst)
    }
}

impl Drop for SimHidDevice {
    fn drop(&mut self) {
        // A send error means the thread is already gone; nothing to stop.
        let _ = self.events.send(Event::Shutdown);
        if let Some(thread) = self.thread.take() {
            // A panicked device thread has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

/// Where the device is in a transaction (§11.2.5.1: idle, receiving a
/// request, processing it; the response is sent at once).
enum Phase {
    Idle,
    Receiving {
        channel: u32,
        command: u8,
        length: usize,
        next_seq: u8,
        data: Vec<u8>,
        last_packet: Instant,
    },
    Processing {
        channel: u32,
        cancel: Arc<AtomicBool>,
        /// The channel was resynchronized: the response is not sent.
        discard: bool,
        status: KeepaliveStatus,
        last_keepalive: Instant,
    },
}

struct DeviceMachine {
    simulator: Arc<Mutex<Simulator>>,
    events: Sender<Event>,
    inboxes: Inboxes,
    options: SimHidOptions,
    channels: VecDeque<u32>,
    next_channel: u32,
    phase: Phase,
    winks: Arc<AtomicUsize>,
}

/// The simulator's view of the host while a CBOR request runs on the
/// worker thread.
struct WorkerContext {
    cancel: Arc<AtomicBool>,
    events: Sender<Event>,
}

impl DeviceContext for WorkerContext {
    fn keepalive(&mut self, status: KeepaliveStatus) {
        // The device thread is gone only when the device is being dropped.
        let _ = self.events.send(Event::Status(status));
    }

    fn cancelled(&mut self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
}

impl DeviceMachine {
    fn run(mut self, receiver: &Receiver<Event>) {
        loop {
            let event = match self.next_wake() {
                Some(wake) => {
                    match receiver.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                        Ok(event) => Some(event),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                None => match receiver.recv() {
                    Ok(event) => Some(event),
                    Err(_) => break,
                },
            };
            match event {
                Some(Event::Report(report)) => self.on_report(&report),
                Some(Event::Status(status)) => self.on_status(status),
                Some(Event::Done(response)) => self.on_done(response),
                Some(Event::Shutdown) => break,
                None => {}
            }
            self.on_timers();
        }
        if let Phase::Processing { cancel, .. } = &self.phase {
            cancel.store(true, Ordering::SeqCst);
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Idle => None,
            Phase::Receiving { last_packet, .. } => {
                Some(*last_packet + self.options.message_timeout)
            }
            Phase::Processing { last_keepalive, .. } => {
                Some(*last_keepalive + self.options.keepalive_interval)
            }
        }
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        let interval = self.options.keepalive_interval;
        let timeout = self.options.message_timeout;
        let mut send_keepalive = None;
        let mut timed_out = None;
        match &mut self.phase {
            Phase::Idle => {}
            Phase::Receiving {
                channel,
                last_packet,
                ..
            } => {
                if now.saturating_duration_since(*last_packet) >= timeout {
                    timed_out = Some(*channel);
                }
            }
            Phase::Processing {
                channel,
                discard,
                status,
                last_keepalive,
                ..
            } => {
                if now.saturating_duration_since(*last_keepalive) >= interval {
                    *last_keepalive = now;
                    if !*discard {
                        send_keepalive = Some((*channel, *status));
                    }
                }
            }
        }
        if let Some(channel) = timed_out {
            self.phase = Phase::Idle;
            self.send_error(channel, ERR_MSG_TIMEOUT);
        }
        if let Some((channel, status)) = send_keepalive {
            self.send_keepalive(channel, status);
        }
    }

    fn on_status(&mut self, new_status: KeepaliveStatus) {
        let mut send = None;
        if let Phase::Processing {
            channel,
            discard,
            status,
            last_keepalive,
            ..
        } = &mut self.phase
        {
            if *status != new_status {
                *status = new_status;
                *last_keepalive = Instant::now();
                if !*discard {
                    send = Some(*channel);
                }
            }
        }
        if let Some(channel) = send {
            self.send_keepalive(channel, new_status);
        }
    }

    fn on_done(&mut self, response: Vec<u8>) {
        let Phase::Processing {
            channel, discard, ..
        } = &self.phase
        else {
            return;
        };
        let (channel, discard) = (*channel, *discard);
        self.phase = Phase::Idle;
        // An empty response was dropped by fault injection: send nothing.
        if !discard && !response.is_empty() {
            self.send_message(channel, CMD_CBOR, &response);
        }
    }

    fn on_report(&mut self, report: &[u8; HID_REPORT_SIZE]) {
        let [c0, c1, c2, c3, kind, rest @ ..] = report;
        let channel = u32::from_be_bytes([*c0, *c1, *c2, *c3]);
        if kind & INIT_FLAG == 0 {
            self.on_continuation(channel, *kind, rest);
            return;
        }
        let command = kind & !INIT_FLAG;
        let [high, low, data @ ..] = rest;
        let length = usize::from(u16::from_be_bytes([*high, *low]));
        if command == CMD_INIT {
            self.on_init(channel, length, data);
            return;
        }
        if channel == BROADCAST_CID || channel == RESERVED_CID || !self.channels.contains(&channel)
        {
            self.send_error(channel, ERR_INVALID_CHANNEL);
            return;
        }
        if command == CMD_CANCEL {
            // §11.2.9.1.5: cancels the request in progress on this channel;
            // never answered itself; ignored when nothing is in progress.
            if let Phase::Processing {
                channel: busy,
                cancel,
                ..
            } = &self.phase
            {
                if *busy == channel {
                    cancel.store(true, Ordering::SeqCst);
                }
            }
            return;
        }
        match &self.phase {
            Phase::Idle => {}
            Phase::Receiving { channel: busy, .. } if *busy == channel => {
                // A new message before the previous one was complete.
                self.phase = Phase::Idle;
                self.send_error(channel, ERR_INVALID_SEQ);
                return;
            }
            Phase::Receiving { .. } | Phase::Processing { .. } => {
                self.send_error(channel, ERR_CHANNEL_BUSY);
                return;
            }
        }
        if length > LARGEST_MESSAGE {
            self.send_error(channel, ERR_INVALID_LEN);
            return;
        }
        if length <= INIT_PACKET_DATA {
            let payload = data.get(..length).unwrap_or(data).to_vec();
            self.execute(channel, command, payload);
        } else {
            let mut buffer = Vec::with_capacity(length);
            buffer.extend_from_slice(data);
            self.phase = Phase::Receiving {
                channel,
                command,
                length,
                next_seq: 0,
                data: buffer,
                last_packet: Instant::now(),
            };
        }
    }

    fn on_continuation(&mut self, channel: u32, seq: u8, data: &[u8]) {
        let Phase::Receiving {
            channel: receiving,
            command,
            length,
            next_seq,
            data: buffer,
            last_packet,
        } = &mut self.phase
        else {
            // No message in progress: a spurious continuation, ignored.
            return;
        };
        if *receiving != channel {
            // Part of a message that was refused as busy: ignored.
            return;
        }
        if seq != *next_seq {
            self.phase = Phase::Idle;
            self.send_error(channel, ERR_INVALID_SEQ);
            return;
        }
        let wanted = length.saturating_sub(buffer.len()).min(data.len());
        buffer.extend_from_slice(data.get(..wanted).unwrap_or(data));
        *next_seq = next_seq.wrapping_add(1);
        *last_packet = Instant::now();
        if buffer.len() >= *length {
            let command = *command;
            let payload = std::mem::take(buffer);
            self.phase = Phase::Idle;
            self.execute(channel, command, payload);
        }
    }

    /// §11.2.9.1.3: allocation on the broadcast channel, resynchronization
    /// on an allocated one.
    fn on_init(&mut self, channel: u32, length: usize, data: &[u8]) {
        if length != 8 {
            self.send_error(channel, ERR_INVALID_LEN);
            return;
        }
        let Some(nonce) = data.get(..8) else {
            return;
        };
        let nonce = nonce.to_vec();
        let answered_channel = if channel == BROADCAST_CID {
            self.allocate()
        } else if channel != RESERVED_CID && self.channels.contains(&channel) {
            self.abort_transaction(channel);
            channel
        } else {
            self.send_error(channel, ERR_INVALID_CHANNEL);
            return;
        };
        let mut payload = nonce;
        payload.extend_from_slice(&answered_channel.to_be_bytes());
        payload.push(CTAPHID_PROTOCOL_VERSION);
        payload.extend_from_slice(&DEVICE_VERSION);
        payload.push(CAPABILITY_WINK | CAPABILITY_CBOR | CAPABILITY_NMSG);
        self.send_message(channel, CMD_INIT, &payload);
    }

    fn allocate(&mut self) -> u32 {
        let mut candidate = self.next_channel;
        while candidate == BROADCAST_CID
            || candidate == RESERVED_CID
            || self.channels.contains(&candidate)
        {
            candidate = candidate.wrapping_add(1);
        }
        self.next_channel = candidate.wrapping_add(1);
        if self.channels.len() >= MAX_CHANNELS {
            self.channels.pop_front();
        }
        self.channels.push_back(candidate);
        candidate
    }

    fn abort_transaction(&mut self, channel: u32) {
        match &mut self.phase {
            Phase::Receiving { channel: busy, .. } if *busy == channel => self.phase = Phase::Idle,
            Phase::Processing {
                channel: busy,
                cancel,
                discard,
                ..
            } if *busy == channel => {
                // The simulator stops at its next poll; its answer is dropped.
                cancel.store(true, Ordering::SeqCst);
                *discard = true;
            }
            _ => {}
        }
    }

    fn execute(&mut self, channel: u32, command: u8, payload: Vec<u8>) {
        match command {
            CMD_PING => self.send_message(channel, CMD_PING, &payload),
            CMD_WINK => {
                if payload.is_empty() {
                    self.winks.fetch_add(1, Ordering::SeqCst);
                    self.send_message(channel, CMD_WINK, &[]);
                } else {
                    self.send_error(channel, ERR_INVALID_LEN);
                }
            }
            CMD_CBOR => {
                let Some((&ctap_command, parameters)) = payload.split_first() else {
                    self.send_error(channel, ERR_INVALID_LEN);
                    return;
                };
                let cancel = Arc::new(AtomicBool::new(false));
                self.phase = Phase::Processing {
                    channel,
                    cancel: Arc::clone(&cancel),
                    discard: false,
                    status: KeepaliveStatus::Processing,
                    last_keepalive: Instant::now(),
                };
                self.spawn_request(ctap_command, parameters.to_vec(), cancel);
            }
            _ => self.send_error(channel, ERR_INVALID_CMD),
        }
    }

    fn spawn_request(&mut self, command: u8, parameters: Vec<u8>, cancel: Arc<AtomicBool>) {
        let simulator = Arc::clone(&self.simulator);
        let events = self.events.clone();
        let worker_events = events.clone();
        let spawned = thread::Builder::new()
            .name("tokenring-sim-hid-request".into())
            .spawn(move || {
                let mut context = WorkerContext {
                    cancel,
                    events: worker_events,
                };
                let response = lock(&simulator).process(command, &parameters, &mut context);
                // The device thread is gone only when the device is dropped.
                let _ = context.events.send(Event::Done(response));
            });
        if spawned.is_err() {
            // No thread for the request: answer as a device that failed.
            let _ = events.send(Event::Done(vec![0x7F]));
        }
    }

    fn send_keepalive(&mut self, channel: u32, status: KeepaliveStatus) {
        let byte = match status {
            KeepaliveStatus::Processing => STATUS_PROCESSING,
            KeepaliveStatus::UserPresenceNeeded => STATUS_UPNEEDED,
        };
        self.send_message(channel, CMD_KEEPALIVE, &[byte]);
    }

    fn send_error(&mut self, channel: u32, code: u8) {
        self.send_message(channel, CMD_ERROR, &[code]);
    }

    /// Sends a response as one initialization packet and as many
    /// continuation packets as needed (§11.2.4), to every connection.
    fn send_message(&mut self, channel: u32, command: u8, payload: &[u8]) {
        let payload = payload.get(..LARGEST_MESSAGE).unwrap_or(payload);
        let cid = channel.to_be_bytes();
        let length = u16::try_from(payload.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes();
        let mut report = [0u8; HID_REPORT_SIZE];
        let header = [
            cid[0],
            cid[1],
            cid[2],
            cid[3],
            INIT_FLAG | command,
            length[0],
            length[1],
        ];
        let (first, mut rest) = payload.split_at(payload.len().min(INIT_PACKET_DATA));
        for (dst, src) in report.iter_mut().zip(header.iter().chain(first.iter())) {
            *dst = *src;
        }
        self.emit(&report);
        let mut seq = 0u8;
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rest.len().min(CONT_PACKET_DATA));
            let mut report = [0u8; HID_REPORT_SIZE];
            let header = [cid[0], cid[1], cid[2], cid[3], seq];
            for (dst, src) in report.iter_mut().zip(header.iter().chain(chunk.iter())) {
                *dst = *src;
            }
            self.emit(&report);
            seq = seq.wrapping_add(1);
            rest = tail;
        }
    }

    fn emit(&mut self, report: &[u8; HID_REPORT_SIZE]) {
        // Connections that were dropped are forgotten.
        lock(&self.inboxes).retain(|inbox| inbox.send(*report).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimConfig;

    const T: Duration = Duration::from_secs(2);

    fn init_packet(channel: u32, command: u8, payload: &[u8]) -> [u8; HID_REPORT_SIZE] {
        let mut r = [0u8; HID_REPORT_SIZE];
        r[..4].copy_from_slice(&channel.to_be_bytes());
        r[4] = INIT_FLAG | command;
        r[5..7].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        r[7..7 + payload.len().min(57)].copy_from_slice(&payload[..payload.len().min(57)]);
        r
    }

    fn cont_packet(channel: u32, seq: u8, payload: &[u8]) -> [u8; HID_REPORT_SIZE] {
        let mut r = [0u8; HID_REPORT_SIZE];
        r[..4].copy_from_slice(&channel.to_be_bytes());
        r[4] = seq;
        r[5..5 + payload.len()].copy_from_slice(payload);
        r
    }

    fn device() -> SimHidDevice {
        SimHidDevice::new(Simulator::new(SimConfig::with_seed(7)))
    }

    fn allocate(dev: &SimHidDevice) -> u32 {
        let nonce = [1, 2, 3, 4, 5, 6, 7, 8];
        dev.write_report(&init_packet(BROADCAST_CID, CMD_INIT, &nonce))
            .expect("write");
        let r = dev.read_report(T).expect("INIT answer");
        assert_eq!(&r[..4], &[0xFF; 4]);
        assert_eq!(r[4], INIT_FLAG | CMD_INIT);
        assert_eq!(&r[5..7], &[0, 17]);
        assert_eq!(&r[7..15], &nonce);
        assert_eq!(r[15 + 4], CTAPHID_PROTOCOL_VERSION);
        assert_eq!(r[23], CAPABILITY_WINK | CAPABILITY_CBOR | CAPABILITY_NMSG);
        u32::from_be_bytes([r[15], r[16], r[17], r[18]])
    }

    fn expect_error(dev: &SimHidDevice, channel: u32, code: u8) {
        let r = dev.read_report(T).expect("an answer");
        assert_eq!(&r[..7], &init_packet(channel, CMD_ERROR, &[code])[..7]);
        assert_eq!(r[7], code, "expected error {code:#04x}");
    }

    #[test]
    fn init_allocates_distinct_channels() {
        let dev = device();
        let a = allocate(&dev);
        let b = allocate(&dev);
        assert_ne!(a, b);
        assert!(a != 0 && a != BROADCAST_CID);
    }

    #[test]
    fn ping_echoes_a_multi_packet_message() {
        let dev = device();
        let ch = allocate(&dev);
        let payload: Vec<u8> = (0..200u8).collect();
        dev.write_report(&init_packet(ch, CMD_PING, &payload))
            .expect("w");
        for (seq, chunk) in payload[57..].chunks(59).enumerate() {
            dev.write_report(&cont_packet(ch, seq as u8, chunk))
                .expect("w");
        }
        let first = dev.read_report(T).expect("answer");
        assert_eq!(&first[..7], &init_packet(ch, CMD_PING, &payload)[..7]);
        let mut got = first[7..].to_vec();
        for seq in 0..3u8 {
            let r = dev.read_report(T).expect("cont");
            assert_eq!(r[4], seq);
            got.extend_from_slice(&r[5..]);
        }
        got.truncate(200);
        assert_eq!(got, payload);
    }

    #[test]
    fn framing_errors() {
        let dev = device();
        let ch = allocate(&dev);
        // Non-INIT on the broadcast channel, channel 0, unknown channel.
        dev.write_report(&init_packet(BROADCAST_CID, CMD_PING, &[1]))
            .expect("w");
        expect_error(&dev, BROADCAST_CID, ERR_INVALID_CHANNEL);
        dev.write_report(&init_packet(0, CMD_PING, &[1]))
            .expect("w");
        expect_error(&dev, 0, ERR_INVALID_CHANNEL);
        dev.write_report(&init_packet(ch + 1000, CMD_PING, &[1]))
            .expect("w");
        expect_error(&dev, ch + 1000, ERR_INVALID_CHANNEL);
        // Unknown command, CTAPHID_MSG (NMSG).
        dev.write_report(&init_packet(ch, 0x55, &[])).expect("w");
        expect_error(&dev, ch, ERR_INVALID_CMD);
        dev.write_report(&init_packet(ch, 0x03, &[0; 10]))
            .expect("w");
        expect_error(&dev, ch, ERR_INVALID_CMD);
        // INIT with a wrong length; a message longer than 7609 bytes.
        dev.write_report(&init_packet(BROADCAST_CID, CMD_INIT, &[1, 2, 3]))
            .expect("w");
        expect_error(&dev, BROADCAST_CID, ERR_INVALID_LEN);
        let mut too_long = init_packet(ch, CMD_PING, &[]);
        too_long[5..7].copy_from_slice(&7610u16.to_be_bytes());
        dev.write_report(&too_long).expect("w");
        expect_error(&dev, ch, ERR_INVALID_LEN);
        // Empty CBOR; WINK with data.
        dev.write_report(&init_packet(ch, CMD_CBOR, &[]))
            .expect("w");
        expect_error(&dev, ch, ERR_INVALID_LEN);
        dev.write_report(&init_packet(ch, CMD_WINK, &[1]))
            .expect("w");
        expect_error(&dev, ch, ERR_INVALID_LEN);
        // Out of sequence; new init packet mid-message.
        let payload = [9u8; 100];
        dev.write_report(&init_packet(ch, CMD_PING, &payload))
            .expect("w");
        dev.write_report(&cont_packet(ch, 1, &payload[57..]))
            .expect("w");
        expect_error(&dev, ch, ERR_INVALID_SEQ);
        dev.write_report(&init_packet(ch, CMD_PING, &payload))
            .expect("w");
        dev.write_report(&init_packet(ch, CMD_PING, &payload))
            .expect("w");
        expect_error(&dev, ch, ERR_INVALID_SEQ);
        // A stray continuation is ignored; the device still answers.
        dev.write_report(&cont_packet(ch, 0, &[1])).expect("w");
        dev.write_report(&init_packet(ch, CMD_WINK, &[]))
            .expect("w");
        let r = dev.read_report(T).expect("wink answer");
        assert_eq!(r[4], INIT_FLAG | CMD_WINK);
        assert_eq!(dev.winks(), 1);
        assert!(dev.read_report(Duration::from_millis(20)).is_none());
    }

    #[test]
    fn incomplete_message_times_out_and_busy_meanwhile() {
        let sim = Arc::new(Mutex::new(Simulator::new(SimConfig::with_seed(1))));
        let dev = SimHidDevice::shared(
            sim,
            SimHidOptions {
                message_timeout: Duration::from_millis(500),
                ..SimHidOptions::default()
            },
        );
        let a = allocate(&dev);
        let b = allocate(&dev);
        dev.write_report(&init_packet(a, CMD_PING, &[7; 100]))
            .expect("w");
        // Another channel while a's message is incomplete: busy.
        dev.write_report(&init_packet(b, CMD_PING, &[1]))
            .expect("w");
        expect_error(&dev, b, ERR_CHANNEL_BUSY);
        // Allocation still works meanwhile.
        let c = allocate(&dev);
        assert!(c != a && c != b);
        expect_error(&dev, a, ERR_MSG_TIMEOUT);
        // Idle again: b is served.
        dev.write_report(&init_packet(b, CMD_PING, &[1]))
            .expect("w");
        let r = dev.read_report(T).expect("ping");
        assert_eq!(r[4], INIT_FLAG | CMD_PING);
    }

    #[test]
    fn resync_aborts_the_channels_message() {
        let dev = device();
        let ch = allocate(&dev);
        dev.write_report(&init_packet(ch, CMD_PING, &[7; 100]))
            .expect("w");
        let nonce = [8u8; 8];
        dev.write_report(&init_packet(ch, CMD_INIT, &nonce))
            .expect("w");
        let r = dev.read_report(T).expect("answer");
        assert_eq!(&r[..7], &init_packet(ch, CMD_INIT, &[0; 17])[..7]);
        assert_eq!(&r[7..15], &nonce);
        assert_eq!(u32::from_be_bytes([r[15], r[16], r[17], r[18]]), ch);
        // The aborted message's continuation is now ignored.
        dev.write_report(&cont_packet(ch, 0, &[7; 43])).expect("w");
        assert!(dev.read_report(Duration::from_millis(50)).is_none());
        // INIT on an unallocated channel.
        dev.write_report(&init_packet(ch + 77, CMD_INIT, &nonce))
            .expect("w");
        expect_error(&dev, ch + 77, ERR_INVALID_CHANNEL);
    }

    #[test]
    fn cbor_get_info_answers_and_cancel_is_silent_when_idle() {
        let dev = device();
        let ch = allocate(&dev);
        dev.write_report(&init_packet(ch, CMD_CANCEL, &[]))
            .expect("w");
        dev.write_report(&init_packet(ch, CMD_CBOR, &[0x04]))
            .expect("w");
        let first = dev.read_report(T).expect("answer");
        assert_eq!(&first[..5], &init_packet(ch, CMD_CBOR, &[])[..5]);
        assert_eq!(first[7], 0x00, "CTAP2_OK");
    }
}
