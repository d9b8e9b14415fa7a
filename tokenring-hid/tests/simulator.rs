//! HidTransport end to end against the simulator's CTAPHID front end
//! (`tokenring_sim::SimHidDevice`, written from the device's side of
//! the specification).

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ciborium::Value;
use tokenring_core::testing::{PromptEvent, ScriptedPrompt};
use tokenring_core::{
    KeepaliveStatus, NoPrompt, Transport, TransportError, TransportErrorKind, TransportInfo,
    TransportKind,
};
use tokenring_hid::internal::ctaphid::{command, error_code, REPORT_SIZE};
use tokenring_hid::{HidReports, HidTimeouts, HidTransport};
use tokenring_sim::{
    PresencePolicy, SimConfig, SimHidConnection, SimHidDevice, SimHidOptions, SimTransport,
    Simulator,
};

type Report = [u8; REPORT_SIZE];

/// The simulator's connection as a `HidReports`, recording what it reads.
struct SimReports {
    connection: SimHidConnection,
    seen: Arc<Mutex<Vec<Report>>>,
}

impl SimReports {
    fn new(connection: SimHidConnection) -> Self {
        SimReports {
            connection,
            seen: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl HidReports for SimReports {
    fn write_report(&mut self, report: &Report) -> Result<(), TransportError> {
        self.connection
            .write_report(report)
            .map_err(|e| TransportError::new(TransportErrorKind::Disconnected, e.to_string()))
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, TransportError> {
        let report = self.connection.read_report(timeout);
        if let Some(r) = report {
            self.seen.lock().expect("lock").push(r);
        }
        Ok(report)
    }
}

fn info() -> TransportInfo {
    TransportInfo {
        kind: TransportKind::Hid,
        name: "simulated HID authenticator".into(),
        path: "sim-hid".into(),
    }
}

fn timeouts() -> HidTimeouts {
    HidTimeouts {
        poll: Duration::from_millis(20),
        silence: Duration::from_secs(3),
        transaction: Duration::from_secs(20),
        busy: Duration::from_secs(10),
        cancel_grace: Duration::from_secs(2),
    }
}

fn transport(device: &SimHidDevice) -> HidTransport<SimReports> {
    HidTransport::new(SimReports::new(device.connect()), info()).with_timeouts(timeouts())
}

fn device(config: SimConfig) -> SimHidDevice {
    SimHidDevice::new(Simulator::new(config))
}

fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).expect("encode");
    out
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

/// A makeCredential request (CTAP 2.1 §6.1) for a non-discoverable ES256
/// credential with hmac-secret, for user `user_name`.
fn make_credential(user_name: &str) -> Vec<u8> {
    cbor(&Value::Map(vec![
        (Value::Integer(1.into()), Value::Bytes(vec![0x11; 32])),
        (
            Value::Integer(2.into()),
            Value::Map(vec![(text("id"), text("hardware.keychain.glyph.im"))]),
        ),
        (
            Value::Integer(3.into()),
            Value::Map(vec![
                (text("id"), Value::Bytes(b"hardware_keyring_user".to_vec())),
                (text("name"), text(user_name)),
            ]),
        ),
        (
            Value::Integer(4.into()),
            Value::Array(vec![Value::Map(vec![
                (text("alg"), Value::Integer((-7).into())),
                (text("type"), text("public-key")),
            ])]),
        ),
        (
            Value::Integer(6.into()),
            Value::Map(vec![(text("hmac-secret"), Value::Bool(true))]),
        ),
    ]))
}

fn decode(body: &[u8]) -> Value {
    ciborium::from_reader(body).expect("CBOR body")
}

#[test]
fn get_info_over_hid_matches_the_in_process_transport() {
    let shared = Arc::new(Mutex::new(Simulator::new(SimConfig::with_seed(3))));
    let device = SimHidDevice::shared(Arc::clone(&shared), SimHidOptions::default());
    let mut hid = transport(&device);
    let reply = hid.exchange(0x04, &[], &NoPrompt).expect("getInfo");
    assert_eq!(reply.status, 0);
    assert!(reply.body.len() > 57, "getInfo spans several packets");
    let mut direct = SimTransport::new(shared);
    let expected = direct.exchange(0x04, &[], &NoPrompt).expect("getInfo");
    assert_eq!(reply, expected);
    let Value::Map(entries) = decode(&reply.body) else {
        panic!("getInfo is a map");
    };
    assert!(entries.iter().any(|(k, _)| *k == Value::Integer(1.into())));
    let init = hid.device_info().expect("channel");
    assert!(init.supports_cbor() && init.supports_wink());
}

#[test]
fn large_make_credential_is_fragmented_and_answered() {
    let config = SimConfig {
        max_msg_size: tokenring_hid::MAX_MESSAGE_SIZE,
        ..SimConfig::with_seed(4)
    };
    let device = device(config);
    let mut hid = transport(&device);
    let request = make_credential(&"x".repeat(3000));
    assert!(request.len() > 3000);
    let reply = hid
        .exchange(0x01, &request, &NoPrompt)
        .expect("makeCredential");
    assert_eq!(reply.status, 0, "CTAP status");
    assert!(
        reply.body.len() > 57 + 59,
        "the response spans several packets"
    );
    let Value::Map(entries) = decode(&reply.body) else {
        panic!("makeCredential response is a map");
    };
    assert!(
        entries.iter().any(|(k, _)| *k == Value::Integer(2.into())),
        "authData"
    );
    let sim = device.simulator();
    assert_eq!(sim.lock().expect("lock").request_count(0x01), 1);
}

#[test]
fn request_above_the_announced_max_msg_size_is_refused_by_the_authenticator() {
    // Default maxMsgSize 1200: CTAPHID carries the request, CTAP refuses it.
    let device = device(SimConfig::with_seed(5));
    let mut hid = transport(&device);
    let reply = hid
        .exchange(0x01, &make_credential(&"y".repeat(2000)), &NoPrompt)
        .expect("a CTAP answer");
    assert_ne!(reply.status, 0);
}

#[test]
fn largest_message_echoes_through_ping() {
    let device = device(SimConfig::with_seed(6));
    let mut hid = transport(&device);
    let data: Vec<u8> = (0..tokenring_hid::MAX_MESSAGE_SIZE)
        .map(|i| (i % 255) as u8)
        .collect();
    hid.ping(&data).expect("7609-byte echo");
    hid.ping(&[]).expect("empty echo");
    hid.wink().expect("wink");
    assert_eq!(device.winks(), 1);
}

#[test]
fn keepalives_reach_the_prompt_during_a_presence_wait() {
    let config =
        SimConfig::with_seed(7).presence(PresencePolicy::approve_after(Duration::from_millis(450)));
    let device = device(config);
    let mut hid = transport(&device);
    let prompt = ScriptedPrompt::new();
    let reply = hid
        .exchange(0x01, &make_credential("alice"), &prompt)
        .expect("makeCredential");
    assert_eq!(reply.status, 0);
    let up_needed = prompt
        .events()
        .iter()
        .filter(|e| **e == PromptEvent::Keepalive(KeepaliveStatus::UserPresenceNeeded))
        .count();
    assert!(up_needed >= 2, "{:?}", prompt.events());
}

#[test]
fn cancel_mid_wait_ends_with_keepalive_cancel() {
    let device = device(SimConfig::with_seed(8).presence(PresencePolicy::time_out()));
    let mut hid = transport(&device);
    let prompt = ScriptedPrompt::new().cancel_after_keepalives(2);
    let start = Instant::now();
    let reply = hid
        .exchange(0x01, &make_credential("bob"), &prompt)
        .expect("the authenticator's answer");
    assert_eq!(reply.status, 0x2D, "CTAP2_ERR_KEEPALIVE_CANCEL");
    assert!(start.elapsed() < Duration::from_secs(5));
    // The device is idle again and serves the next request.
    let reply = hid.exchange(0x04, &[], &NoPrompt).expect("getInfo");
    assert_eq!(reply.status, 0);
}

#[test]
fn second_client_gets_busy_and_succeeds_after_retry() {
    let config =
        SimConfig::with_seed(9).presence(PresencePolicy::approve_after(Duration::from_millis(400)));
    let device = device(config);
    let mut first = transport(&device);
    let mut second = transport(&device);
    first.init().expect("init first");
    second.init().expect("init second");
    assert_ne!(first.channel(), second.channel());
    let second_seen = Arc::clone(&second.device().seen);
    let second_channel = second.channel().expect("channel");

    let first_prompt = ScriptedPrompt::new();
    thread::scope(|s| {
        let waiting = s.spawn(|| first.exchange(0x01, &make_credential("carol"), &first_prompt));
        // Wait until the first request is being processed (its first
        // keepalive arrived), so the device is certainly busy.
        let start = Instant::now();
        while first_prompt.events().is_empty() && start.elapsed() < Duration::from_secs(5) {
            thread::sleep(Duration::from_millis(5));
        }
        let reply = second
            .exchange(0x04, &[], &NoPrompt)
            .expect("getInfo after busy");
        assert_eq!(reply.status, 0);
        let first_reply = waiting.join().expect("thread").expect("makeCredential");
        assert_eq!(first_reply.status, 0);
    });

    let busy_seen = second_seen
        .lock()
        .expect("lock")
        .iter()
        .filter(|r| {
            r[..4] == second_channel.to_bytes()
                && r[4] == 0x80 | command::ERROR
                && r[7] == error_code::CHANNEL_BUSY
        })
        .count();
    assert!(
        busy_seen >= 1,
        "the second client was told the device is busy"
    );
}

#[test]
fn two_channels_interleaved() {
    let device = device(SimConfig::with_seed(10));
    let expected = transport(&device)
        .exchange(0x04, &[], &NoPrompt)
        .expect("getInfo");
    thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|n| {
                let mut hid = transport(&device);
                let expected = expected.clone();
                s.spawn(move || {
                    for i in 0..15 {
                        if i % 3 == n {
                            let data = vec![i as u8; 300 + i * 10];
                            hid.ping(&data).expect("ping");
                        } else {
                            let reply = hid.exchange(0x04, &[], &NoPrompt).expect("getInfo");
                            assert_eq!(reply, expected);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("worker");
        }
    });
}

#[test]
fn a_gone_device_is_an_error_not_a_hang() {
    let device = device(SimConfig::with_seed(11));
    let mut hid =
        HidTransport::new(SimReports::new(device.connect()), info()).with_timeouts(HidTimeouts {
            silence: Duration::from_millis(300),
            ..timeouts()
        });
    hid.init().expect("init");
    drop(device);
    let start = Instant::now();
    let err = hid.exchange(0x04, &[], &NoPrompt).expect_err("gone");
    assert!(
        matches!(
            err.kind,
            TransportErrorKind::Disconnected | TransportErrorKind::Timeout
        ),
        "{err:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(2));
}

mod client {
    //! The CTAP2 client over HID over the simulator: enroll and derive.

    use super::*;
    use tokenring_core::{
        Authenticator, Ctap2Client, DeriveRequest, Error, Salts, UserEntity, UvMode, DEFAULT_RP_ID,
    };

    fn derive_once(
        client: &mut dyn Authenticator,
        credential: &tokenring_core::CredentialId,
        uv: UvMode,
        prompt: &dyn tokenring_core::Prompt,
    ) -> Result<([u8; 32], [u8; 32]), Error> {
        let out = client.derive(
            &DeriveRequest {
                credential,
                rp_id: DEFAULT_RP_ID,
                salts: Salts::Two([0x01; 32], [0x02; 32]),
                uv,
                purpose: "unlock the vault",
            },
            prompt,
        )?;
        let second = out.second.expect("two salts, two outputs");
        Ok((*out.first.expose_secret(), *second.expose_secret()))
    }

    #[test]
    fn enroll_and_derive_over_hid_match_the_in_process_simulator() {
        let shared = Arc::new(Mutex::new(Simulator::new(SimConfig::with_seed(21))));
        let device = SimHidDevice::shared(Arc::clone(&shared), SimHidOptions::default());
        let mut client = Ctap2Client::new(transport(&device)).expect("getInfo over HID");
        let prompt = ScriptedPrompt::new();
        let credential = client
            .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
            .expect("enroll");
        let a = derive_once(&mut client, &credential, UvMode::PresenceOnly, &prompt)
            .expect("first derive");
        let b = derive_once(&mut client, &credential, UvMode::PresenceOnly, &prompt)
            .expect("second derive");
        assert_eq!(a, b, "hmac-secret is deterministic");
        assert_ne!(a.0, a.1, "two salts, two outputs");
        assert!(client.probe(&credential, DEFAULT_RP_ID).expect("probe"));

        // The same credential through the in-process transport gives the
        // same outputs: HID carried every byte faithfully.
        let mut direct = Ctap2Client::new(SimTransport::new(shared)).expect("getInfo");
        let c = derive_once(&mut direct, &credential, UvMode::PresenceOnly, &NoPrompt)
            .expect("direct derive");
        assert_eq!(a, c);
    }

    #[test]
    fn enroll_and_derive_with_pin_over_hid() {
        let device = device(SimConfig::with_seed(22).pin("1234"));
        let mut client = Ctap2Client::new(transport(&device)).expect("getInfo");
        let prompt = ScriptedPrompt::new().with_pin("1234").with_pin("1234");
        let credential = client
            .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
            .expect("enroll with PIN");
        let plain = derive_once(&mut client, &credential, UvMode::PresenceOnly, &prompt)
            .expect("presence-only derive");
        let verified = derive_once(&mut client, &credential, UvMode::Verified, &prompt)
            .expect("verified derive");
        assert_ne!(plain, verified, "UV changes the hmac-secret output");
    }

    #[test]
    fn ctrl_c_during_the_touch_wait_cancels_over_hid() {
        let device = device(SimConfig::with_seed(23).presence(PresencePolicy::time_out()));
        let mut client = Ctap2Client::new(transport(&device)).expect("getInfo");
        let prompt = ScriptedPrompt::new().cancel_after_keepalives(2);
        let start = Instant::now();
        let err = client
            .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
            .expect_err("cancelled");
        assert!(matches!(err, Error::Cancelled), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
