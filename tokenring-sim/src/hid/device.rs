//! The simulated HID device as a host sees it: the device (its thread, its
//! simulator) and connections to it, each like one open file descriptor of
//! a hidraw node.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::machine::{lock, DeviceMachine, Event, Inboxes};
use super::packet::REPORT_SIZE;
use crate::{ClockMode, Simulator};

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

/// One host-side connection to the simulated device (like one open file
/// descriptor of a hidraw node): it sends 64-byte output reports and
/// receives a copy of every input report the device sends from the moment
/// it opened.
pub struct SimHidConnection {
    events: Sender<Event>,
    inbox: Mutex<Receiver<[u8; REPORT_SIZE]>>,
}

impl SimHidConnection {
    /// Sends one output report to the device.
    pub fn write_report(&self, report: &[u8; REPORT_SIZE]) -> Result<(), SimHidGone> {
        self.events
            .send(Event::Report(*report))
            .map_err(|_| SimHidGone)
    }

    /// Waits at most `timeout` for one input report.
    pub fn read_report(&self, timeout: Duration) -> Option<[u8; REPORT_SIZE]> {
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
    /// Bytes in one HID report (full-speed USB, CTAP 2.1 §11.2.4).
    pub const REPORT_SIZE: usize = REPORT_SIZE;

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
        let machine = DeviceMachine::new(
            Arc::clone(&simulator),
            events.clone(),
            Arc::clone(&inboxes),
            options,
            Arc::clone(&winks),
        );
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
    pub fn write_report(&self, report: &[u8; REPORT_SIZE]) -> Result<(), SimHidGone> {
        self.primary.write_report(report)
    }

    /// Waits at most `timeout` for one input report on the built-in connection.
    pub fn read_report(&self, timeout: Duration) -> Option<[u8; REPORT_SIZE]> {
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
