//! The CTAPHID device state machine (CTAP 2.1 §11.2), on the device's own
//! thread: channels, the one transaction in progress, timers for
//! keepalives and stalled messages, and the worker thread that runs a
//! CTAP2 request on the simulator while reports keep arriving.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Instant;

use tokenring_core::{KeepaliveStatus, Status};

use super::packet::{
    capability, command, error, keepalive, reports, Packet, BROADCAST_CID, INIT_PACKET_DATA,
    LARGEST_MESSAGE, REPORT_SIZE, RESERVED_CID,
};
use super::SimHidOptions;
use crate::{DeviceContext, Simulator};

/// CTAPHID protocol version announced in the INIT response.
pub(super) const CTAPHID_PROTOCOL_VERSION: u8 = 2;
/// Device version announced in the INIT response (major, minor, build).
const DEVICE_VERSION: [u8; 3] = [0, 1, 0];
/// Channels remembered at most; the oldest allocation is forgotten first.
const MAX_CHANNELS: usize = 64;

/// What reaches the device thread.
pub(super) enum Event {
    /// An output report from a host connection.
    Report([u8; REPORT_SIZE]),
    /// The simulator's keepalive status while it processes.
    Status(KeepaliveStatus),
    /// The simulator finished the request: its response (empty: dropped).
    Done(Vec<u8>),
    /// Stop the device thread.
    Shutdown,
}

/// Where every input report goes: one inbox per open connection.
pub(super) type Inboxes = Arc<Mutex<Vec<Sender<[u8; REPORT_SIZE]>>>>;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
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

/// The device: its channels and its one transaction.
pub(super) struct DeviceMachine {
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
    pub(super) fn new(
        simulator: Arc<Mutex<Simulator>>,
        events: Sender<Event>,
        inboxes: Inboxes,
        options: SimHidOptions,
        winks: Arc<AtomicUsize>,
    ) -> DeviceMachine {
        DeviceMachine {
            simulator,
            events,
            inboxes,
            options,
            channels: VecDeque::new(),
            next_channel: 1,
            phase: Phase::Idle,
            winks,
        }
    }

    /// Handles events until [`Event::Shutdown`] (or every sender is gone).
    pub(super) fn run(mut self, receiver: &Receiver<Event>) {
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
                Some(Event::Report(report)) => self.on_packet(Packet::parse(&report)),
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
            self.send_error(channel, error::MSG_TIMEOUT);
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
            self.send_message(channel, command::CBOR, &response);
        }
    }

    fn on_packet(&mut self, packet: Packet<'_>) {
        match packet {
            Packet::Continuation { channel, seq, data } => self.on_continuation(channel, seq, data),
            Packet::Init {
                channel,
                command,
                length,
                data,
            } => self.on_init_packet(channel, command, length, data),
        }
    }

    fn on_init_packet(&mut self, channel: u32, command: u8, length: usize, data: &[u8]) {
        if command == command::INIT {
            self.on_init(channel, length, data);
            return;
        }
        if channel == BROADCAST_CID || channel == RESERVED_CID || !self.channels.contains(&channel)
        {
            self.send_error(channel, error::INVALID_CHANNEL);
            return;
        }
        if command == command::CANCEL {
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
                self.send_error(channel, error::INVALID_SEQ);
                return;
            }
            Phase::Receiving { .. } | Phase::Processing { .. } => {
                self.send_error(channel, error::CHANNEL_BUSY);
                return;
            }
        }
        if length > LARGEST_MESSAGE {
            self.send_error(channel, error::INVALID_LEN);
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
            self.send_error(channel, error::INVALID_SEQ);
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
            self.send_error(channel, error::INVALID_LEN);
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
            self.send_error(channel, error::INVALID_CHANNEL);
            return;
        };
        let mut payload = nonce;
        payload.extend_from_slice(&answered_channel.to_be_bytes());
        payload.push(CTAPHID_PROTOCOL_VERSION);
        payload.extend_from_slice(&DEVICE_VERSION);
        payload.push(capability::WINK | capability::CBOR | capability::NMSG);
        self.send_message(channel, command::INIT, &payload);
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
            command::PING => self.send_message(channel, command::PING, &payload),
            command::WINK => {
                if payload.is_empty() {
                    self.winks.fetch_add(1, Ordering::SeqCst);
                    self.send_message(channel, command::WINK, &[]);
                } else {
                    self.send_error(channel, error::INVALID_LEN);
                }
            }
            command::CBOR => {
                let Some((&ctap_command, parameters)) = payload.split_first() else {
                    self.send_error(channel, error::INVALID_LEN);
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
            _ => self.send_error(channel, error::INVALID_CMD),
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
            let _ = events.send(Event::Done(vec![Status::Other.into()]));
        }
    }

    fn send_keepalive(&mut self, channel: u32, status: KeepaliveStatus) {
        let byte = match status {
            KeepaliveStatus::Processing => keepalive::PROCESSING,
            KeepaliveStatus::UserPresenceNeeded => keepalive::UP_NEEDED,
        };
        self.send_message(channel, command::KEEPALIVE, &[byte]);
    }

    fn send_error(&mut self, channel: u32, code: u8) {
        self.send_message(channel, command::ERROR, &[code]);
    }

    /// Sends a message to every connection.
    fn send_message(&mut self, channel: u32, command: u8, payload: &[u8]) {
        for report in reports(channel, command, payload) {
            // Connections that were dropped are forgotten.
            lock(&self.inboxes).retain(|inbox| inbox.send(report).is_ok());
        }
    }
}
