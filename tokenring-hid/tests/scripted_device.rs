//! HidTransport against scripted devices: well-behaved answers, busy and
//! invalid-channel errors, keepalives, cancel, and devices that send
//! nonsense or nothing (errors, never panics or hangs).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tokenring_core::testing::{PromptEvent, ScriptedPrompt};
use tokenring_core::{
    KeepaliveStatus, NoPrompt, Transport, TransportError, TransportErrorKind, TransportInfo,
    TransportKind,
};
use tokenring_hid::internal::ctaphid::{
    capability, command, error_code, fragment, ChannelId, REPORT_SIZE,
};
use tokenring_hid::{HidReports, HidTimeouts, HidTransport};

type Report = [u8; REPORT_SIZE];
/// What a scripted device does with each report the host writes.
type OnWrite = Box<dyn FnMut(&Report, &mut VecDeque<Report>) + Send>;
/// One scripted answer to a CBOR request.
type Answer = Box<dyn Fn(&mut VecDeque<Report>) + Send>;

const OUR_CID: ChannelId = ChannelId(0x1122_3344);

/// A device whose answers come from a script: `on_write` sees every report
/// the host writes and queues answers; once a CBOR request was written,
/// `on_idle` may produce a report when the queue is empty (keepalives).
struct ScriptedDevice {
    written: Vec<Report>,
    processing: bool,
    queue: VecDeque<Report>,
    on_write: OnWrite,
    on_idle: Box<dyn FnMut() -> Option<Report> + Send>,
}

impl ScriptedDevice {
    fn new(on_write: impl FnMut(&Report, &mut VecDeque<Report>) + Send + 'static) -> Self {
        ScriptedDevice {
            written: Vec::new(),
            processing: false,
            queue: VecDeque::new(),
            on_write: Box::new(on_write),
            on_idle: Box::new(|| None),
        }
    }

    fn with_idle(mut self, on_idle: impl FnMut() -> Option<Report> + Send + 'static) -> Self {
        self.on_idle = Box::new(on_idle);
        self
    }

    fn written_commands(&self) -> Vec<(ChannelId, u8)> {
        self.written
            .iter()
            .filter(|r| r[4] & 0x80 != 0)
            .map(|r| (ChannelId::from_bytes([r[0], r[1], r[2], r[3]]), r[4] & 0x7F))
            .collect()
    }
}

impl HidReports for ScriptedDevice {
    fn write_report(&mut self, report: &Report) -> Result<(), TransportError> {
        self.written.push(*report);
        if is_init(report, command::CBOR) {
            self.processing = true;
        }
        (self.on_write)(report, &mut self.queue);
        Ok(())
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, TransportError> {
        if let Some(r) = self.queue.pop_front() {
            return Ok(Some(r));
        }
        if self.processing {
            if let Some(r) = (self.on_idle)() {
                return Ok(Some(r));
            }
        }
        std::thread::sleep(timeout.min(Duration::from_millis(5)));
        Ok(None)
    }
}

fn info() -> TransportInfo {
    TransportInfo {
        kind: TransportKind::Hid,
        name: "scripted".into(),
        path: "scripted".into(),
    }
}

fn fast() -> HidTimeouts {
    HidTimeouts {
        poll: Duration::from_millis(10),
        silence: Duration::from_millis(150),
        transaction: Duration::from_secs(2),
        busy: Duration::from_secs(2),
        cancel_grace: Duration::from_millis(300),
    }
}

fn is_init(r: &Report, cmd: u8) -> bool {
    r[4] == 0x80 | cmd
}

fn message(cid: ChannelId, cmd: u8, payload: &[u8]) -> Vec<Report> {
    fragment(cid, cmd, payload).expect("fits")
}

fn init_answer(request: &Report, cid: ChannelId, capabilities: u8) -> Report {
    let mut payload = request[7..15].to_vec();
    payload.extend_from_slice(&cid.to_bytes());
    payload.extend_from_slice(&[2, 1, 2, 3, capabilities]);
    message(ChannelId::BROADCAST, command::INIT, &payload)[0]
}

/// Answers INIT with OUR_CID; hands CBOR requests to `cbor`.
fn device(mut cbor: impl FnMut(&[u8], &mut VecDeque<Report>) + Send + 'static) -> ScriptedDevice {
    ScriptedDevice::new(move |r, q| {
        if is_init(r, command::INIT) {
            q.push_back(init_answer(r, OUR_CID, capability::CBOR | capability::WINK));
        } else if is_init(r, command::CBOR) {
            let len = usize::from(u16::from_be_bytes([r[5], r[6]]));
            cbor(&r[7..7 + len.min(57)], q);
        }
    })
}

fn transport(dev: ScriptedDevice) -> HidTransport<ScriptedDevice> {
    HidTransport::new(dev, info()).with_timeouts(fast())
}

fn ok_reply(q: &mut VecDeque<Report>, body: &[u8]) {
    let mut payload = vec![0u8];
    payload.extend_from_slice(body);
    q.extend(message(OUR_CID, command::CBOR, &payload));
}

#[test]
fn get_info_round_trip_and_requests_are_well_formed() {
    let mut t = transport(device(|req, q| {
        assert_eq!(req[0], 0x04);
        ok_reply(q, &[0xA1, 0x01, 0x80]);
    }));
    let reply = t.exchange(0x04, &[], &NoPrompt).expect("reply");
    assert_eq!(reply.status, 0);
    assert_eq!(reply.body, vec![0xA1, 0x01, 0x80]);
    assert_eq!(t.channel(), Some(OUR_CID));
    let info = *t.device_info().expect("init done");
    assert_eq!((info.major, info.minor, info.build), (1, 2, 3));
    let commands = t.device().written_commands();
    assert_eq!(
        commands,
        vec![
            (ChannelId::BROADCAST, command::INIT),
            (OUR_CID, command::CBOR)
        ]
    );
    // The INIT request carries an 8-byte nonce.
    assert_eq!(&t.device().written[0][5..7], &[0, 8]);
    // A second exchange reuses the channel.
    t.exchange(0x04, &[], &NoPrompt).expect("reply");
    assert_eq!(t.device().written_commands().len(), 3);
}

#[test]
fn init_nonces_differ() {
    let mut a = transport(device(|_, q| ok_reply(q, &[])));
    let mut b = transport(device(|_, q| ok_reply(q, &[])));
    a.init().expect("init");
    b.init().expect("init");
    assert_ne!(a.device().written[0][7..15], b.device().written[0][7..15]);
}

#[test]
fn stale_nonces_and_other_channels_are_ignored_during_init() {
    let dev = ScriptedDevice::new(|r, q| {
        if is_init(r, command::INIT) {
            // Another client's answer (other nonce), noise on another
            // channel, a continuation on broadcast, then ours.
            let mut other = *r;
            other[7] ^= 0xFF;
            q.push_back(init_answer(&other, ChannelId(5), capability::CBOR));
            q.extend(message(ChannelId(9), command::CBOR, &[0; 80]));
            let mut stray = [0u8; REPORT_SIZE];
            stray[..4].copy_from_slice(&[0xFF; 4]);
            q.push_back(stray);
            q.push_back(init_answer(r, OUR_CID, capability::CBOR));
        }
    });
    let mut t = transport(dev);
    let info = t.init().expect("init");
    assert_eq!(info.channel, OUR_CID);
}

#[test]
fn other_channels_are_ignored_while_waiting() {
    let mut t = transport(device(|_, q| {
        q.extend(message(ChannelId(77), command::CBOR, &[0x00; 300]));
        q.extend(message(
            ChannelId(78),
            command::ERROR,
            &[error_code::CHANNEL_BUSY],
        ));
        ok_reply(q, &[0xF5]);
    }));
    let reply = t.exchange(0x04, &[], &NoPrompt).expect("reply");
    assert_eq!(reply.body, vec![0xF5]);
}

#[test]
fn large_request_is_fragmented_and_large_response_reassembled() {
    let request: Vec<u8> = (0..3000u32).map(|i| (i % 253) as u8).collect();
    let expected = request.clone();
    let mut collected: Vec<u8> = Vec::new();
    let mut want = 0usize;
    let dev = ScriptedDevice::new(move |r, q| {
        if is_init(r, command::INIT) {
            q.push_back(init_answer(r, OUR_CID, capability::CBOR));
        } else if is_init(r, command::CBOR) {
            want = usize::from(u16::from_be_bytes([r[5], r[6]]));
            collected = r[7..].to_vec();
        } else if r[4] & 0x80 == 0 {
            collected.extend_from_slice(&r[5..]);
            if collected.len() >= want {
                collected.truncate(want);
                assert_eq!(collected[0], 0x01);
                assert_eq!(&collected[1..], &expected[..]);
                // Echo back a 7000-byte response.
                let mut payload = vec![0u8];
                payload.extend((0..6999u32).map(|i| (i % 241) as u8));
                q.extend(message(OUR_CID, command::CBOR, &payload));
            }
        }
    });
    let mut t = transport(dev);
    let reply = t.exchange(0x01, &request, &NoPrompt).expect("reply");
    assert_eq!(reply.body.len(), 6999);
    assert!(reply
        .body
        .iter()
        .enumerate()
        .all(|(i, b)| *b == (i % 241) as u8));
    // 1 INIT + 1 init packet + ceil((3001 - 57) / 59) = 50 continuations.
    assert_eq!(t.device().written.len(), 1 + 1 + 50);
    let seqs: Vec<u8> = t.device().written[2..].iter().map(|r| r[4]).collect();
    assert_eq!(seqs, (0..50).collect::<Vec<u8>>());
}

#[test]
fn too_large_a_request_is_refused_before_sending() {
    let mut t = transport(device(|_, q| ok_reply(q, &[])));
    let err = t
        .exchange(0x01, &vec![0; tokenring_hid::MAX_MESSAGE_SIZE], &NoPrompt)
        .expect_err("too large");
    assert_eq!(err.kind, TransportErrorKind::MessageTooLarge);
    // The largest possible request still goes through.
    t.exchange(
        0x01,
        &vec![0; tokenring_hid::MAX_MESSAGE_SIZE - 1],
        &NoPrompt,
    )
    .expect("largest fits");
}

#[test]
fn keepalives_reach_the_prompt() {
    let mut t = transport(device(|_, q| {
        q.extend(message(OUR_CID, command::KEEPALIVE, &[1]));
        q.extend(message(OUR_CID, command::KEEPALIVE, &[2]));
        q.extend(message(OUR_CID, command::KEEPALIVE, &[0x55])); // reserved: ignored
        ok_reply(q, &[]);
    }));
    let prompt = ScriptedPrompt::new();
    t.exchange(0x02, &[], &prompt).expect("reply");
    assert_eq!(
        prompt.events(),
        vec![
            PromptEvent::Keepalive(KeepaliveStatus::Processing),
            PromptEvent::Keepalive(KeepaliveStatus::UserPresenceNeeded)
        ]
    );
}

#[test]
fn keepalives_extend_the_wait_beyond_the_silence_timeout() {
    // Keepalives for 900 ms (3× the silence timeout), then the answer.
    let mut started: Option<Instant> = None;
    let mut answered = false;
    let dev = device(|_, _| {}).with_idle(move || {
        let start = *started.get_or_insert_with(Instant::now);
        std::thread::sleep(Duration::from_millis(20));
        if start.elapsed() < Duration::from_millis(900) {
            Some(message(OUR_CID, command::KEEPALIVE, &[2])[0])
        } else if !answered {
            answered = true;
            Some(message(OUR_CID, command::CBOR, &[0])[0])
        } else {
            None
        }
    });
    let mut t = HidTransport::new(dev, info()).with_timeouts(HidTimeouts {
        silence: Duration::from_millis(300),
        ..fast()
    });
    t.init().expect("init");
    let start = Instant::now();
    let reply = t
        .exchange(0x02, &[], &NoPrompt)
        .expect("reply after keepalives");
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.status, 0);
}

#[test]
fn endless_keepalives_end_at_the_transaction_limit() {
    let dev = device(|_, _| {}).with_idle(|| {
        std::thread::sleep(Duration::from_millis(5));
        Some(message(OUR_CID, command::KEEPALIVE, &[1])[0])
    });
    let mut t = HidTransport::new(dev, info()).with_timeouts(HidTimeouts {
        transaction: Duration::from_millis(300),
        ..fast()
    });
    let start = Instant::now();
    let err = t.exchange(0x02, &[], &NoPrompt).expect_err("must time out");
    assert_eq!(err.kind, TransportErrorKind::Timeout);
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn busy_is_retried_with_backoff() {
    let mut busy_left = 3;
    let mut t = transport(device(move |_, q| {
        if busy_left > 0 {
            busy_left -= 1;
            q.extend(message(
                OUR_CID,
                command::ERROR,
                &[error_code::CHANNEL_BUSY],
            ));
        } else {
            ok_reply(q, &[0x42]);
        }
    }));
    let reply = t.exchange(0x04, &[], &NoPrompt).expect("after retries");
    assert_eq!(reply.body, vec![0x42]);
    let cbor_requests = t
        .device()
        .written_commands()
        .iter()
        .filter(|(_, c)| *c == command::CBOR)
        .count();
    assert_eq!(cbor_requests, 4);
}

#[test]
fn busy_for_ever_gives_a_busy_error_in_bounded_time() {
    let mut t = HidTransport::new(
        device(|_, q| {
            q.extend(message(
                OUR_CID,
                command::ERROR,
                &[error_code::CHANNEL_BUSY],
            ))
        }),
        info(),
    )
    .with_timeouts(HidTimeouts {
        busy: Duration::from_millis(300),
        ..fast()
    });
    let start = Instant::now();
    let err = t.exchange(0x04, &[], &NoPrompt).expect_err("busy");
    assert_eq!(err.kind, TransportErrorKind::Busy);
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn invalid_channel_allocates_a_new_one_once() {
    let mut first = true;
    let mut t = transport(device(move |_, q| {
        if first {
            first = false;
            q.extend(message(
                OUR_CID,
                command::ERROR,
                &[error_code::INVALID_CHANNEL],
            ));
        } else {
            ok_reply(q, &[]);
        }
    }));
    t.exchange(0x04, &[], &NoPrompt).expect("after re-INIT");
    let inits = t
        .device()
        .written_commands()
        .iter()
        .filter(|(c, cmd)| *c == ChannelId::BROADCAST && *cmd == command::INIT)
        .count();
    assert_eq!(inits, 2);

    // A device that keeps saying so ends in an error, not a loop.
    let mut t = transport(device(|_, q| {
        q.extend(message(
            OUR_CID,
            command::ERROR,
            &[error_code::INVALID_CHANNEL],
        ))
    }));
    let err = t
        .exchange(0x04, &[], &NoPrompt)
        .expect_err("invalid channel");
    assert_eq!(err.kind, TransportErrorKind::Protocol);
    assert!(
        err.message.contains("ERR_INVALID_CHANNEL"),
        "{}",
        err.message
    );
}

#[test]
fn device_errors_are_named() {
    for (code, kind) in [
        (error_code::MSG_TIMEOUT, TransportErrorKind::Timeout),
        (error_code::INVALID_LEN, TransportErrorKind::Protocol),
        (error_code::INVALID_SEQ, TransportErrorKind::Protocol),
        (error_code::INVALID_CMD, TransportErrorKind::Protocol),
        (0x66, TransportErrorKind::Protocol),
    ] {
        let mut t = transport(device(move |_, q| {
            q.extend(message(OUR_CID, command::ERROR, &[code]))
        }));
        let err = t.exchange(0x04, &[], &NoPrompt).expect_err("device error");
        assert_eq!(err.kind, kind, "code {code:#04x}: {}", err.message);
    }
}

#[test]
fn cancel_mid_wait_sends_ctaphid_cancel() {
    let dev = ScriptedDevice::new(|r, q| {
        if is_init(r, command::INIT) {
            q.push_back(init_answer(r, OUR_CID, capability::CBOR));
        } else if is_init(r, command::CANCEL) {
            assert_eq!(&r[5..7], &[0, 0]);
            q.extend(message(OUR_CID, command::CBOR, &[0x2D]));
        }
    })
    .with_idle(|| {
        std::thread::sleep(Duration::from_millis(10));
        Some(message(OUR_CID, command::KEEPALIVE, &[2])[0])
    });
    let mut t = transport(dev);
    let prompt = ScriptedPrompt::new().cancel_after_keepalives(3);
    let reply = t.exchange(0x02, &[], &prompt).expect("the device's answer");
    assert_eq!(reply.status, 0x2D);
    let cancels = t
        .device()
        .written_commands()
        .iter()
        .filter(|(c, cmd)| *c == OUR_CID && *cmd == command::CANCEL)
        .count();
    assert_eq!(cancels, 1);
}

#[test]
fn cancel_without_an_answer_ends_in_bounded_time() {
    let dev = device(|_, _| {}).with_idle(|| {
        std::thread::sleep(Duration::from_millis(10));
        Some(message(OUR_CID, command::KEEPALIVE, &[2])[0])
    });
    let mut t = transport(dev);
    let prompt = ScriptedPrompt::new().cancel_after_keepalives(1);
    let start = Instant::now();
    let err = t.exchange(0x02, &[], &prompt).expect_err("cancelled");
    assert_eq!(err.kind, TransportErrorKind::Cancelled);
    assert!(start.elapsed() < Duration::from_secs(2));
    // The channel is dropped: the next exchange starts with a new INIT.
    assert_eq!(t.channel(), None);
}

#[test]
fn already_cancelled_prompt_sends_nothing() {
    let mut t = transport(device(|_, q| ok_reply(q, &[])));
    t.init().expect("init");
    let prompt = ScriptedPrompt::new();
    prompt.cancel_flag().cancel();
    let err = t.exchange(0x02, &[], &prompt).expect_err("cancelled");
    assert_eq!(err.kind, TransportErrorKind::Cancelled);
    assert_eq!(t.device().written.len(), 1);
}

#[test]
fn silent_device_times_out_in_bounded_time() {
    let mut t = transport(ScriptedDevice::new(|_, _| {}));
    let start = Instant::now();
    let err = t.exchange(0x04, &[], &NoPrompt).expect_err("silent");
    assert_eq!(err.kind, TransportErrorKind::Timeout);
    assert!(start.elapsed() < Duration::from_secs(1));

    // Silent after INIT: waited for until the transaction limit (a token
    // may wait for its touch in silence), no longer.
    let mut t = HidTransport::new(device(|_, _| {}), info()).with_timeouts(HidTimeouts {
        transaction: Duration::from_millis(500),
        ..fast()
    });
    t.init().expect("init");
    let start = Instant::now();
    let err = t.exchange(0x04, &[], &NoPrompt).expect_err("silent");
    assert_eq!(err.kind, TransportErrorKind::Timeout);
    assert!(start.elapsed() >= Duration::from_millis(500));
    assert!(start.elapsed() < Duration::from_secs(2));
}

/// A token that waits for its touch without keepalives (they are only a
/// SHOULD in CTAP 2.1 §11.2.9.1.7) is waited for far beyond `silence`:
/// python-fido2 and libfido2 have no silence timer either.
#[test]
fn a_token_silent_while_it_waits_for_the_touch_is_waited_for() {
    let mut asked: Option<Instant> = None;
    let mut answered = false;
    let dev = device(|_, _| {}).with_idle(move || {
        let since = *asked.get_or_insert_with(Instant::now);
        if since.elapsed() >= Duration::from_millis(700) && !answered {
            answered = true;
            Some(message(OUR_CID, command::CBOR, &[0, 0xA0])[0])
        } else {
            None
        }
    });
    let mut t = transport(dev);
    t.init().expect("init");
    let start = Instant::now();
    let reply = t
        .exchange(0x02, &[], &NoPrompt)
        .expect("the answer after 700 ms of silence");
    assert!(start.elapsed() >= Duration::from_millis(700));
    assert!(start.elapsed() > fast().silence * 4);
    assert_eq!((reply.status, reply.body), (0, vec![0xA0]));
}

/// The user's cancel reaches a silent token at once: CTAPHID_CANCEL goes
/// out while nothing was received, and the token's answer ends the wait.
#[test]
fn cancel_reaches_a_silent_token() {
    let dev = ScriptedDevice::new(|r, q| {
        if is_init(r, command::INIT) {
            q.push_back(init_answer(r, OUR_CID, capability::CBOR));
        } else if is_init(r, command::CANCEL) {
            q.extend(message(OUR_CID, command::CBOR, &[0x2D]));
        }
    });
    let mut t = transport(dev);
    t.init().expect("init");
    let prompt = ScriptedPrompt::new();
    let flag = prompt.cancel_flag().clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        flag.cancel();
    });
    let start = Instant::now();
    let reply = t.exchange(0x02, &[], &prompt).expect("the cancel's answer");
    canceller.join().expect("canceller");
    assert_eq!(reply.status, 0x2D);
    assert!(start.elapsed() >= Duration::from_millis(400));
    assert!(start.elapsed() < Duration::from_secs(2));
    let cancels = t
        .device()
        .written_commands()
        .iter()
        .filter(|(c, cmd)| *c == OUR_CID && *cmd == command::CANCEL)
        .count();
    assert_eq!(cancels, 1);
}

#[test]
fn truncated_response_times_out() {
    let mut t = transport(device(|_, q| {
        // Announces 200 bytes, sends only the first packet and one more.
        let packets = message(OUR_CID, command::CBOR, &[0; 200]);
        q.push_back(packets[0]);
        q.push_back(packets[1]);
    }));
    let err = t.exchange(0x04, &[], &NoPrompt).expect_err("truncated");
    assert_eq!(err.kind, TransportErrorKind::Timeout);
    assert_eq!(t.channel(), None);
}

#[test]
fn malformed_responses_are_protocol_errors() {
    let cases: Vec<Answer> = vec![
        // Oversized: BCNT beyond 7609.
        Box::new(|q| {
            let mut r = message(OUR_CID, command::CBOR, &[0])[0];
            r[5..7].copy_from_slice(&0xFFFFu16.to_be_bytes());
            q.push_back(r);
        }),
        // Continuation out of sequence.
        Box::new(|q| {
            let p = message(OUR_CID, command::CBOR, &[0; 200]);
            q.push_back(p[0]);
            q.push_back(p[2]);
        }),
        // A new message before the previous one was complete.
        Box::new(|q| {
            let p = message(OUR_CID, command::CBOR, &[0; 200]);
            q.push_back(p[0]);
            q.push_back(p[0]);
        }),
        // Empty CBOR answer (no status byte).
        Box::new(|q| q.extend(message(OUR_CID, command::CBOR, &[]))),
        // Answer with another command.
        Box::new(|q| q.extend(message(OUR_CID, command::PING, &[0]))),
    ];
    for (i, case) in cases.into_iter().enumerate() {
        let mut t = transport(device(move |_, q| case(q)));
        let err = t.exchange(0x04, &[], &NoPrompt).expect_err("malformed");
        assert_eq!(
            err.kind,
            TransportErrorKind::Protocol,
            "case {i}: {}",
            err.message
        );
    }
}

#[test]
fn u2f_only_devices_are_refused() {
    let dev = ScriptedDevice::new(|r, q| {
        if is_init(r, command::INIT) {
            q.push_back(init_answer(r, OUR_CID, capability::WINK));
        }
    });
    let mut t = transport(dev);
    let err = t.exchange(0x04, &[], &NoPrompt).expect_err("no CBOR");
    assert_eq!(err.kind, TransportErrorKind::Protocol);
    assert!(err.message.contains("U2F"));
}

#[test]
fn init_answer_with_a_reserved_channel_is_refused() {
    for bad in [ChannelId::BROADCAST, ChannelId::RESERVED] {
        let dev = ScriptedDevice::new(move |r, q| {
            if is_init(r, command::INIT) {
                q.push_back(init_answer(r, bad, capability::CBOR));
            }
        });
        let mut t = transport(dev);
        let err = t.init().expect_err("reserved channel");
        assert_eq!(err.kind, TransportErrorKind::Protocol);
    }
}

/// A small deterministic generator for garbage.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn report(&mut self, cid: Option<ChannelId>) -> Report {
        let mut r = [0u8; REPORT_SIZE];
        for b in r.iter_mut() {
            *b = self.next() as u8;
        }
        if let Some(cid) = cid {
            r[..4].copy_from_slice(&cid.to_bytes());
        }
        r
    }
}

#[test]
fn garbage_never_panics_or_hangs() {
    for seed in 0..60u64 {
        let mut rng = Lcg(seed);
        let count = 1 + (seed % 12) as usize;
        let dev = ScriptedDevice::new(move |r, q| {
            if is_init(r, command::INIT) {
                // Sometimes garbage on broadcast first, then a valid answer.
                if seed % 3 == 0 {
                    q.push_back(rng.report(Some(ChannelId::BROADCAST)));
                }
                q.push_back(init_answer(r, OUR_CID, capability::CBOR));
            } else if r[4] & 0x80 != 0 {
                for i in 0..count {
                    let cid = match (seed + i as u64) % 3 {
                        0 => None,
                        _ => Some(OUR_CID),
                    };
                    let mut g = rng.report(cid);
                    if seed % 2 == 0 {
                        // Plausible lengths make deeper states reachable.
                        g[4] |= 0x80;
                        let len = (rng.next() % 400) as u16;
                        g[5..7].copy_from_slice(&len.to_be_bytes());
                    }
                    q.push_back(g);
                }
            }
        });
        // A device that never answers is waited for until the transaction
        // limit: keep it short here.
        let mut t = HidTransport::new(dev, info()).with_timeouts(HidTimeouts {
            transaction: Duration::from_millis(300),
            ..fast()
        });
        let start = Instant::now();
        let result = t.exchange(0x04, &[], &NoPrompt);
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "seed {seed} took too long"
        );
        if let Err(e) = result {
            assert!(!e.message.is_empty());
        }
    }
}

#[test]
fn ping_and_wink() {
    let dev = ScriptedDevice::new(|r, q| {
        if is_init(r, command::INIT) {
            q.push_back(init_answer(r, OUR_CID, capability::CBOR | capability::WINK));
        } else if is_init(r, command::PING) {
            let len = usize::from(u16::from_be_bytes([r[5], r[6]]));
            q.extend(message(OUR_CID, command::PING, &r[7..7 + len]));
        } else if is_init(r, command::WINK) {
            q.extend(message(OUR_CID, command::WINK, &[]));
        }
    });
    let mut t = transport(dev);
    t.ping(b"hello").expect("echo");
    t.wink().expect("wink");

    // A device that echoes something else fails the ping.
    let dev = ScriptedDevice::new(|r, q| {
        if is_init(r, command::INIT) {
            q.push_back(init_answer(r, OUR_CID, capability::CBOR));
        } else if is_init(r, command::PING) {
            q.extend(message(OUR_CID, command::PING, b"other"));
        }
    });
    let mut t = transport(dev);
    assert_eq!(
        t.ping(b"hello").expect_err("bad echo").kind,
        TransportErrorKind::Protocol
    );
    // And without the WINK capability, no wink.
    assert_eq!(
        t.wink().expect_err("no wink").kind,
        TransportErrorKind::Protocol
    );
}

#[test]
fn stale_reports_are_drained_before_a_request() {
    // A late answer from an abandoned exchange sits in the queue.
    let mut t = transport(device(|_, q| ok_reply(q, &[0x01])));
    t.init().expect("init");
    // Fake a stale answer with a different body.
    let dev = t.into_inner();
    let mut dev = dev;
    dev.queue
        .extend(message(OUR_CID, command::CBOR, &[0x00, 0x99]));
    let mut t = HidTransport::new(dev, info()).with_timeouts(fast());
    let reply = t.exchange(0x04, &[], &NoPrompt).expect("reply");
    assert_eq!(reply.body, vec![0x01]);
}

#[test]
fn short_init_answer_is_a_protocol_error() {
    let dev = ScriptedDevice::new(|r, q| {
        if is_init(r, command::INIT) {
            // Our nonce, but only 12 of the 17 bytes.
            let mut payload = r[7..15].to_vec();
            payload.extend_from_slice(&OUR_CID.to_bytes());
            q.extend(message(ChannelId::BROADCAST, command::INIT, &payload));
        }
    });
    let mut t = transport(dev);
    let err = t.init().expect_err("short answer");
    assert_eq!(err.kind, TransportErrorKind::Protocol);
}
