//! The CTAPHID client: [`HidTransport`] runs CTAP2 exchanges over any
//! [`HidReports`] device (CTAP 2.1 PS 2021-06-15 §11.2).

use std::thread;
use std::time::{Duration, Instant};

use rand_core::{OsRng, RngCore};
use tokenring_core::{
    KeepaliveStatus, Prompt, Reply, Transport, TransportError, TransportErrorKind, TransportInfo,
};

use crate::ctaphid::{
    command, error_code, fragment_sized, keepalive_status, ChannelId, InitResponse,
    INIT_NONCE_SIZE, REPORT_SIZE,
};
use crate::reassembly::{Progress, Reassembler};
use crate::reports::HidReports;

/// How long [`HidTransport`] waits for what. Every wait is bounded: a
/// silent or misbehaving device ends in a [`TransportErrorKind::Timeout`],
/// never a hang.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HidTimeouts {
    /// The longest single read; the prompt's cancel flag is polled at least
    /// this often.
    pub poll: Duration,
    /// The longest wait for the answer to CTAPHID_INIT, and between two
    /// packets of one message once its first packet arrived (a token sends
    /// a message's packets back to back). Not a limit on the wait for an
    /// answer: keepalives are only a SHOULD (CTAP 2.1 §11.2.9.1.7), and a
    /// token may wait for its touch in silence, so that wait is bounded by
    /// [`HidTimeouts::transaction`] and the user's cancel, as python-fido2
    /// and libfido2 do.
    pub silence: Duration,
    /// The longest a whole exchange may take, keepalives or not.
    pub transaction: Duration,
    /// How long to keep retrying while the device answers ERR_CHANNEL_BUSY.
    pub busy: Duration,
    /// After CTAPHID_CANCEL, how long to wait for the authenticator's answer.
    pub cancel_grace: Duration,
}

impl Default for HidTimeouts {
    fn default() -> Self {
        HidTimeouts {
            poll: Duration::from_millis(50),
            silence: Duration::from_secs(5),
            transaction: Duration::from_secs(120),
            busy: Duration::from_secs(10),
            cancel_grace: Duration::from_secs(2),
        }
    }
}

/// The first pause after ERR_CHANNEL_BUSY; doubled on every retry.
const BUSY_BACKOFF_START: Duration = Duration::from_millis(10);
/// The longest pause between two retries after ERR_CHANNEL_BUSY.
const BUSY_BACKOFF_MAX: Duration = Duration::from_millis(250);
/// Reports discarded at most before a request (leftovers of an abandoned
/// exchange); a device that floods us is not drained forever.
const MAX_STALE_REPORTS: usize = 1024;

/// How a single attempt at a transaction ended.
enum Outcome {
    /// The device answered with the command we sent.
    Response(Vec<u8>),
    /// The device answered CTAPHID_ERROR with this code.
    DeviceError(u8),
}

/// CTAP2 over USB HID: a [`Transport`] on top of a [`HidReports`] device.
///
/// The channel is allocated with CTAPHID_INIT on first use (or by
/// [`HidTransport::connect`]). Requests go as CTAPHID_CBOR messages,
/// fragmented into packets of the device's report size (64 bytes, or what
/// [`HidReports::report_sizes`] says); keepalives reach the prompt; the
/// prompt's cancel flag sends CTAPHID_CANCEL; ERR_CHANNEL_BUSY is retried
/// with backoff; ERR_INVALID_CHANNEL allocates a new channel once.
pub struct HidTransport<D: HidReports> {
    device: D,
    info: TransportInfo,
    timeouts: HidTimeouts,
    channel: Option<InitResponse>,
}

impl<D: HidReports> HidTransport<D> {
    /// A transport over `device`, described by `info`. No channel is
    /// allocated until the first exchange.
    pub fn new(device: D, info: TransportInfo) -> Self {
        HidTransport {
            device,
            info,
            timeouts: HidTimeouts::default(),
            channel: None,
        }
    }

    /// A transport over `device` with a channel allocated now.
    pub fn connect(device: D, info: TransportInfo) -> Result<Self, TransportError> {
        let mut transport = Self::new(device, info);
        transport.init()?;
        Ok(transport)
    }

    /// Replaces the timeouts.
    pub fn with_timeouts(mut self, timeouts: HidTimeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The timeouts in force.
    pub fn timeouts(&self) -> HidTimeouts {
        self.timeouts
    }

    /// Allocates a new channel with CTAPHID_INIT on the broadcast channel
    /// (§11.2.9.1.3) and returns the device's answer (version, capabilities).
    pub fn init(&mut self) -> Result<InitResponse, TransportError> {
        self.channel = None;
        let response = self.allocate_channel(&tokenring_core::NoPrompt)?;
        self.channel = Some(response);
        Ok(response)
    }

    /// The device's INIT answer for the current channel, if one is allocated.
    pub fn device_info(&self) -> Option<&InitResponse> {
        self.channel.as_ref()
    }

    /// The current channel, if one is allocated.
    pub fn channel(&self) -> Option<ChannelId> {
        self.channel.map(|c| c.channel)
    }

    /// The device underneath.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// Gives back the device.
    pub fn into_inner(self) -> D {
        self.device
    }

    /// CTAPHID_PING (§11.2.9.1.4): sends `data` and checks that the device
    /// echoes it unchanged.
    pub fn ping(&mut self, data: &[u8]) -> Result<(), TransportError> {
        let echoed = self.transact(command::PING, data, &tokenring_core::NoPrompt)?;
        if echoed != data {
            return Err(protocol(
                "the authenticator answered PING with different data",
            ));
        }
        Ok(())
    }

    /// CTAPHID_WINK (§11.2.9.2.1): asks the device to identify itself (blink).
    pub fn wink(&mut self) -> Result<(), TransportError> {
        let info = self.ensure_channel(&tokenring_core::NoPrompt)?;
        if !info.supports_wink() {
            return Err(TransportError::new(
                TransportErrorKind::Protocol,
                "this authenticator cannot wink (no CTAPHID_WINK capability)",
            ));
        }
        self.transact(command::WINK, &[], &tokenring_core::NoPrompt)?;
        Ok(())
    }

    fn ensure_channel(&mut self, prompt: &dyn Prompt) -> Result<InitResponse, TransportError> {
        if let Some(info) = self.channel {
            return Ok(info);
        }
        let info = self.allocate_channel(prompt)?;
        self.channel = Some(info);
        Ok(info)
    }

    /// CTAPHID_INIT on the broadcast channel with a fresh random nonce;
    /// answers with other nonces (other clients, stale requests) and
    /// packets on other channels are ignored.
    fn allocate_channel(&mut self, prompt: &dyn Prompt) -> Result<InitResponse, TransportError> {
        let busy_deadline = Instant::now() + self.timeouts.busy;
        let mut backoff = BUSY_BACKOFF_START;
        loop {
            let mut nonce = [0u8; INIT_NONCE_SIZE];
            OsRng.try_fill_bytes(&mut nonce).map_err(|e| {
                TransportError::new(
                    TransportErrorKind::Io,
                    format!("no randomness for the CTAPHID_INIT nonce: {e}"),
                )
            })?;
            self.drain_stale()?;
            self.send(ChannelId::BROADCAST, command::INIT, &nonce)?;
            match self.await_init_response(&nonce)? {
                Outcome::Response(payload) => {
                    let response = InitResponse::parse(&payload).ok_or_else(|| {
                        protocol("the authenticator's CTAPHID_INIT answer is too short")
                    })?;
                    if !response.channel.is_allocatable() {
                        return Err(protocol(format!(
                            "the authenticator allocated the reserved channel {}",
                            response.channel
                        )));
                    }
                    return Ok(response);
                }
                Outcome::DeviceError(error_code::CHANNEL_BUSY) => {
                    self.back_off(&mut backoff, busy_deadline, prompt)?;
                }
                Outcome::DeviceError(code) => return Err(device_error(code)),
            }
        }
    }

    fn await_init_response(
        &mut self,
        nonce: &[u8; INIT_NONCE_SIZE],
    ) -> Result<Outcome, TransportError> {
        let deadline = Instant::now() + self.timeouts.silence;
        let mut reassembler = Reassembler::new(ChannelId::BROADCAST);
        loop {
            let Some(report) = self.read_until(deadline)? else {
                return Err(TransportError::new(
                    TransportErrorKind::Timeout,
                    "the authenticator did not answer CTAPHID_INIT; unplug it and plug it in again",
                ));
            };
            // Broadcast traffic may be meant for other clients: anything
            // that does not parse is simply not ours.
            let input = self.device.report_sizes().input();
            let Ok(Progress::Complete(message)) =
                reassembler.push(report.get(..input).unwrap_or(&report))
            else {
                continue;
            };
            match message.command {
                command::INIT if message.payload.get(..INIT_NONCE_SIZE) == Some(&nonce[..]) => {
                    return Ok(Outcome::Response(message.payload));
                }
                command::ERROR => {
                    let code = message
                        .payload
                        .first()
                        .copied()
                        .unwrap_or(error_code::OTHER);
                    // Only a busy answer is taken as ours: the broadcast
                    // channel carries other clients' errors too.
                    if code == error_code::CHANNEL_BUSY {
                        return Ok(Outcome::DeviceError(code));
                    }
                }
                _ => {}
            }
        }
    }

    /// One request and its response on our channel, retrying on
    /// ERR_CHANNEL_BUSY (with backoff) and once on ERR_INVALID_CHANNEL
    /// (with a new channel).
    fn transact(
        &mut self,
        hid_command: u8,
        data: &[u8],
        prompt: &dyn Prompt,
    ) -> Result<Vec<u8>, TransportError> {
        let busy_deadline = Instant::now() + self.timeouts.busy;
        let mut backoff = BUSY_BACKOFF_START;
        let mut reallocated = false;
        loop {
            if prompt.is_cancelled() {
                return Err(cancelled());
            }
            let channel = self.ensure_channel(prompt)?.channel;
            self.drain_stale()?;
            self.send(channel, hid_command, data)?;
            let outcome = self.await_response(channel, hid_command, prompt);
            match outcome {
                Ok(Outcome::Response(payload)) => return Ok(payload),
                Ok(Outcome::DeviceError(error_code::CHANNEL_BUSY)) => {
                    self.back_off(&mut backoff, busy_deadline, prompt)?;
                }
                Ok(Outcome::DeviceError(error_code::INVALID_CHANNEL)) if !reallocated => {
                    reallocated = true;
                    self.channel = None;
                }
                Ok(Outcome::DeviceError(code)) => return Err(device_error(code)),
                Err(e) => {
                    // After a timeout, a cancel without answer or a framing
                    // error the channel's state is unknown: start afresh.
                    self.channel = None;
                    return Err(e);
                }
            }
        }
    }

    fn back_off(
        &mut self,
        backoff: &mut Duration,
        deadline: Instant,
        prompt: &dyn Prompt,
    ) -> Result<(), TransportError> {
        let wake = Instant::now() + *backoff;
        if wake > deadline {
            return Err(device_error(error_code::CHANNEL_BUSY));
        }
        while Instant::now() < wake {
            if prompt.is_cancelled() {
                return Err(cancelled());
            }
            thread::sleep(
                self.timeouts
                    .poll
                    .min(wake.saturating_duration_since(Instant::now())),
            );
        }
        *backoff = (*backoff * 2).min(BUSY_BACKOFF_MAX);
        Ok(())
    }

    fn await_response(
        &mut self,
        channel: ChannelId,
        hid_command: u8,
        prompt: &dyn Prompt,
    ) -> Result<Outcome, TransportError> {
        let start = Instant::now();
        let mut limit = start + self.timeouts.transaction;
        // Until the answer begins, only the transaction limit (and the
        // user's cancel) ends the wait; inside a message, a gap longer than
        // `silence` means the rest will not come.
        let mut deadline = limit;
        let mut cancel_sent = false;
        let mut reassembler = Reassembler::new(channel);
        loop {
            if !cancel_sent && prompt.is_cancelled() {
                // §11.2.9.1.5: the authenticator answers the pending
                // request with CTAP2_ERR_KEEPALIVE_CANCEL.
                self.send(channel, command::CANCEL, &[])?;
                cancel_sent = true;
                limit = limit.min(Instant::now() + self.timeouts.cancel_grace);
                deadline = deadline.min(limit);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(if cancel_sent {
                    TransportError::new(
                        TransportErrorKind::Cancelled,
                        "cancelled (the authenticator did not confirm the cancel)",
                    )
                } else if reassembler.is_receiving() {
                    TransportError::new(
                        TransportErrorKind::Timeout,
                        "the authenticator stopped in the middle of its answer; unplug it and plug it in again",
                    )
                } else {
                    TransportError::new(
                        TransportErrorKind::Timeout,
                        format!(
                            "the authenticator did not answer within {} s; unplug it and plug it in again",
                            self.timeouts.transaction.as_secs()
                        ),
                    )
                });
            }
            let wait = deadline
                .saturating_duration_since(now)
                .min(self.timeouts.poll);
            let Some(report) = self.device.read_report(wait)? else {
                continue;
            };
            let input = self.device.report_sizes().input();
            let progress = reassembler
                .push(report.get(..input).unwrap_or(&report))
                .map_err(|e| {
                    protocol(format!(
                        "the authenticator sent a malformed CTAPHID packet: {e}"
                    ))
                })?;
            let message = match progress {
                Progress::Ignored => continue,
                Progress::Incomplete => {
                    deadline = (Instant::now() + self.timeouts.silence).min(limit);
                    continue;
                }
                Progress::Complete(message) => {
                    // Between messages the wait is bounded by the limit only.
                    deadline = limit;
                    message
                }
            };
            match message.command {
                command::KEEPALIVE => {
                    match message.payload.first().copied() {
                        Some(keepalive_status::PROCESSING) => {
                            prompt.keepalive(KeepaliveStatus::Processing)
                        }
                        Some(keepalive_status::UP_NEEDED) => {
                            prompt.keepalive(KeepaliveStatus::UserPresenceNeeded)
                        }
                        // Other status values are reserved; the device is
                        // alive all the same.
                        _ => {}
                    }
                }
                command::ERROR => {
                    let code = message.payload.first().copied().unwrap_or(error_code::OTHER);
                    return Ok(Outcome::DeviceError(code));
                }
                c if c == hid_command => return Ok(Outcome::Response(message.payload)),
                other => {
                    return Err(protocol(format!(
                        "the authenticator answered command {hid_command:#04x} with command {other:#04x}"
                    )))
                }
            }
        }
    }

    fn read_until(
        &mut self,
        deadline: Instant,
    ) -> Result<Option<[u8; REPORT_SIZE]>, TransportError> {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let wait = deadline
                .saturating_duration_since(now)
                .min(self.timeouts.poll);
            if let Some(report) = self.device.read_report(wait)? {
                return Ok(Some(report));
            }
        }
    }

    /// Drops reports already waiting (answers to an abandoned exchange), so
    /// that they cannot be taken for the answer to the next request.
    fn drain_stale(&mut self) -> Result<(), TransportError> {
        let until = Instant::now() + self.timeouts.poll;
        for _ in 0..MAX_STALE_REPORTS {
            if Instant::now() >= until || self.device.read_report(Duration::ZERO)?.is_none() {
                break;
            }
        }
        Ok(())
    }

    fn send(
        &mut self,
        channel: ChannelId,
        hid_command: u8,
        data: &[u8],
    ) -> Result<(), TransportError> {
        let output = self.device.report_sizes().output();
        let packets = fragment_sized(channel, hid_command, data, output)
            .map_err(|e| TransportError::new(TransportErrorKind::MessageTooLarge, e.to_string()))?;
        for packet in &packets {
            self.device.write_report(packet)?;
        }
        Ok(())
    }
}

impl<D: HidReports> Transport for HidTransport<D> {
    fn exchange(
        &mut self,
        command: u8,
        payload: &[u8],
        prompt: &dyn Prompt,
    ) -> Result<Reply, TransportError> {
        let mut message = Vec::with_capacity(payload.len() + 1);
        message.push(command);
        message.extend_from_slice(payload);
        let info = self.ensure_channel(prompt)?;
        if !info.supports_cbor() {
            return Err(TransportError::new(
                TransportErrorKind::Protocol,
                "this authenticator speaks only U2F (no CTAPHID_CBOR capability); TokenRing needs a FIDO2 authenticator",
            ));
        }
        let response = self.transact(command::CBOR, &message, prompt)?;
        let Some((&status, body)) = response.split_first() else {
            return Err(protocol(
                "the authenticator sent an empty CTAPHID_CBOR answer",
            ));
        };
        Ok(Reply {
            status,
            body: body.to_vec(),
        })
    }

    fn cancel(&mut self) -> Result<(), TransportError> {
        match self.channel {
            Some(info) => self.send(info.channel, command::CANCEL, &[]),
            None => Ok(()),
        }
    }

    fn info(&self) -> TransportInfo {
        self.info.clone()
    }
}

fn protocol(message: impl Into<String>) -> TransportError {
    TransportError::new(TransportErrorKind::Protocol, message)
}

fn cancelled() -> TransportError {
    TransportError::new(TransportErrorKind::Cancelled, "cancelled")
}

fn device_error(code: u8) -> TransportError {
    let name = error_code::name(code);
    match code {
        error_code::CHANNEL_BUSY => TransportError::new(
            TransportErrorKind::Busy,
            "the authenticator is busy with another application; close it and try again",
        ),
        error_code::MSG_TIMEOUT => TransportError::new(
            TransportErrorKind::Timeout,
            format!("the authenticator gave up waiting for the rest of the request ({name})"),
        ),
        _ => TransportError::new(
            TransportErrorKind::Protocol,
            format!("the authenticator answered CTAPHID_ERROR {name} ({code:#04x})"),
        ),
    }
}
