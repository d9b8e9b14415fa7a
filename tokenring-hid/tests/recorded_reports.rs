//! HID reports recorded from real tokens (libfido2's `fuzz/wiredata_fido2.h`,
//! see `tests/data/README.md`) through our CTAPHID reassembly and our
//! response parsers: every message comes out as its recording's header says
//! (channel, command, length), and every CBOR answer decodes to the values
//! the recording implies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use tokenring_core::internal::client_pin::ClientPinResponse;
use tokenring_core::internal::get_assertion::GetAssertionResponse;
use tokenring_core::internal::get_info::GetInfoResponse;
use tokenring_core::internal::make_credential::MakeCredentialResponse;
use tokenring_core::testing::{PromptEvent, ScriptedPrompt};
use tokenring_core::{
    Ctap2Client, KeepaliveStatus, PinUvAuthProtocol, Transport, TransportError, TransportInfo,
    TransportKind,
};
use tokenring_hid::internal::ctaphid::{command, ChannelId, InitResponse, REPORT_SIZE};
use tokenring_hid::internal::reassembly::{Message, Progress, Reassembler};
use tokenring_hid::{HidReports, HidTransport};

type Report = [u8; REPORT_SIZE];

/// A recording: its reports, and the messages its header lists as
/// (channel, command, length).
struct Recording {
    reports: Vec<Report>,
    messages: Vec<(ChannelId, u8, usize)>,
}

fn load(name: &str) -> Recording {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/libfido2")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reports = Vec::new();
    let mut messages = Vec::new();
    for line in text.lines() {
        if let Some(list) = line.strip_prefix("# messages:") {
            // "N; cid 00220002 cmd 0x10 bcnt 185 reports 4; cid …"
            for part in list.split(';').skip(1) {
                let words: Vec<&str> = part.split_whitespace().collect();
                let cid = u32::from_str_radix(words[1], 16).unwrap();
                let cmd = u8::from_str_radix(words[3].trim_start_matches("0x"), 16).unwrap();
                let bcnt: usize = words[5].parse().unwrap();
                messages.push((ChannelId(cid), cmd, bcnt));
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let bytes = hex::decode(line.trim()).unwrap();
            reports.push(bytes.try_into().expect("a 64-byte report"));
        }
    }
    assert!(!reports.is_empty() && !messages.is_empty(), "{name}");
    Recording { reports, messages }
}

/// Every message in the reports, as our reassembler puts them together
/// (one reassembler per channel, as the transport listens to one).
fn reassemble(reports: &[Report]) -> Vec<(ChannelId, Message)> {
    let mut out = Vec::new();
    let mut reassemblers: Vec<Reassembler> = Vec::new();
    for report in reports {
        let channel = ChannelId::from_bytes([report[0], report[1], report[2], report[3]]);
        if !reassemblers.iter().any(|r| r.channel() == channel) {
            reassemblers.push(Reassembler::new(channel));
        }
        for r in reassemblers.iter_mut() {
            if let Progress::Complete(message) = r.push(report).expect("a well-formed packet") {
                out.push((r.channel(), message));
            }
        }
    }
    out
}

/// The recording's messages, checked against its header.
fn messages(name: &str) -> Vec<Message> {
    let recording = load(name);
    let got = reassemble(&recording.reports);
    let shape: Vec<(ChannelId, u8, usize)> = got
        .iter()
        .map(|(c, m)| (*c, m.command, m.payload.len()))
        .collect();
    assert_eq!(shape, recording.messages, "{name}");
    got.into_iter().map(|(_, m)| m).collect()
}

/// The CBOR body of a recording's only CTAPHID_CBOR answer, which must
/// carry CTAP2_OK.
fn cbor_body(name: &str) -> Vec<u8> {
    let mut all = messages(name);
    assert_eq!(all.len(), 1, "{name}");
    let message = all.remove(0);
    assert_eq!(message.command, command::CBOR);
    assert_eq!(message.payload.first(), Some(&0x00), "{name}: CTAP2_OK");
    message.payload[1..].to_vec()
}

#[test]
fn every_recording_reassembles_as_its_header_says() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/libfido2");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".hex") && n != "hid_cbor_get_assertion.hex")
        .collect();
    names.sort();
    assert_eq!(names.len(), 16);
    for name in &names {
        let all = messages(name);
        for message in all.iter().filter(|m| m.command == command::CBOR) {
            assert_eq!(message.payload.first(), Some(&0x00), "{name}: CTAP2_OK");
        }
    }
}

#[test]
fn init_response() {
    let all = messages("hid_init_response.hex");
    let init = InitResponse::parse(&all[0].payload).expect("17 bytes");
    assert_eq!(init.nonce, [0x80, 0x43, 0x56, 0x40, 0xb1, 0x4e, 0xd9, 0x2d]);
    assert_eq!(init.channel, ChannelId(0x0022_0002));
    assert_eq!(init.protocol_version, 2);
    assert_eq!((init.major, init.minor, init.build), (5, 2, 1));
    assert_eq!(init.capabilities, 0x05);
    assert!(init.supports_cbor() && init.supports_wink());
}

#[test]
fn keepalive_user_presence_needed() {
    let all = messages("hid_keepalive_up_needed.hex");
    assert_eq!(all[0].command, command::KEEPALIVE);
    assert_eq!(all[0].payload, vec![0x02]);
}

#[test]
fn get_info_of_a_fido_2_1_pre_key() {
    let info = GetInfoResponse::decode(&cbor_body("hid_cbor_get_info_2022.hex")).unwrap();
    assert_eq!(info.versions, ["U2F_V2", "FIDO_2_0", "FIDO_2_1_PRE"]);
    assert_eq!(info.extensions, ["credProtect", "hmac-secret"]);
    assert_eq!(hex::encode(info.aaguid), "1956e5bda37445f1a814356403fdbc18");
    assert_eq!(info.option("rk"), Some(true));
    assert_eq!(info.option("clientPin"), Some(false));
    assert_eq!(info.option("credentialMgmtPreview"), Some(true));
    assert_eq!(info.option("pinUvAuthToken"), None);
    assert_eq!(info.max_msg_size, Some(1200));
    assert_eq!(info.pin_uv_auth_protocols, vec![1]);
    assert_eq!(info.max_credential_count_in_list, Some(8));
    assert_eq!(info.max_credential_id_length, Some(128));
    assert!(!info.force_pin_change);
    assert_eq!(info.min_pin_length, None);
    // What follows for the client: CTAP 2.0 paths (getPinToken, the
    // makeCredential probe for selection), protocol one.
    assert!(!info.is_ctap21());
    assert!(!info.has_pin_uv_auth_token());
    assert!(info.has_hmac_secret());
    assert_eq!(
        PinUvAuthProtocol::negotiate(&info.pin_uv_auth_protocols),
        Some(PinUvAuthProtocol::One)
    );
}

#[test]
fn get_info_with_every_newer_member() {
    // Edited upstream for CTAP 2.3: members 0x0F-0x1F must be ignored.
    let info = GetInfoResponse::decode(&cbor_body("hid_cbor_get_info.hex")).unwrap();
    assert!(info.is_ctap21());
    assert!(info.has_pin_uv_auth_token());
    assert_eq!(info.pin_uv_auth_protocols, vec![2, 1]);
    assert_eq!(info.options.len(), 14);
    assert_eq!(info.option("alwaysUv"), Some(false));
    assert_eq!(info.option("makeCredUvNotRqd"), Some(true));
    assert!(!info.no_mc_ga_with_client_pin());
    assert_eq!(info.max_msg_size, Some(1536));
    assert_eq!(info.transports, ["nfc", "usb", "smart-card"]);
    assert!(!info.force_pin_change);
    assert_eq!(info.min_pin_length, Some(4));
    assert_eq!(info.firmware_version, Some(1));
}

#[test]
fn key_agreement_and_pin_answers() {
    let resp =
        ClientPinResponse::decode(&cbor_body("hid_cbor_client_pin_key_agreement.hex")).unwrap();
    let key = resp.require_key_agreement().unwrap();
    assert_eq!(key.alg(), Some(-25));
    let (x, y) = key.coordinates();
    assert_eq!(
        hex::encode(x),
        "2ab82d3669ab309de35e9bfb94fc1d9295af0147fe4b87e5cf3f050b39da1749"
    );
    assert_eq!(
        hex::encode(y),
        "151bbe0878604d3c3ff160a6d8f8edce4a305d1aaf80c40ad26f77381297aabd"
    );

    let resp = ClientPinResponse::decode(&cbor_body("hid_cbor_client_pin_token.hex")).unwrap();
    // A 16-byte token under protocol one (no IV): a CTAP 2.0-size token.
    assert_eq!(
        resp.pin_uv_auth_token_enc
            .as_deref()
            .map(hex::encode)
            .as_deref(),
        Some("ee404c85d7a12f56c44ec59341d03b23")
    );

    let resp = ClientPinResponse::decode(&cbor_body("hid_cbor_client_pin_retries.hex")).unwrap();
    assert_eq!(resp.require_pin_retries(), Ok(8));
    assert_eq!(resp.power_cycle_state, None);

    // setPIN, changePIN, reset and selection answer CTAP2_OK and nothing.
    let body = cbor_body("hid_cbor_status_ok_empty.hex");
    assert!(body.is_empty());
    let resp = ClientPinResponse::decode(&body).unwrap();
    assert!(resp.key_agreement.is_none() && resp.pin_retries.is_none());
}

/// The recorded assertion splices two sessions: its initialization packet is
/// on channel 00220002, its continuations on 0092000e. A continuation of
/// another channel is never taken into our message; with one channel
/// throughout (as libfido2's fuzz build rewrites it) it parses.
#[test]
fn get_assertion() {
    let recording = load("hid_cbor_get_assertion.hex");
    let mut ours = Reassembler::new(ChannelId(0x0022_0002));
    assert_eq!(ours.push(&recording.reports[0]), Ok(Progress::Incomplete));
    for report in &recording.reports[1..] {
        assert_eq!(ours.push(report), Ok(Progress::Ignored));
    }
    assert!(ours.is_receiving());

    let mut rewritten = recording.reports.clone();
    for report in &mut rewritten {
        report[..4].copy_from_slice(&[0x00, 0x22, 0x00, 0x02]);
    }
    let all = reassemble(&rewritten);
    assert_eq!(all.len(), 1);
    let (_, message) = &all[0];
    assert_eq!(message.payload.len(), 203);
    assert_eq!(message.payload[0], 0x00);
    let resp = GetAssertionResponse::decode(&message.payload[1..]).unwrap();
    let id = resp.credential_id.as_deref().expect("credential id");
    assert_eq!(id.len(), 64);
    assert!(hex::encode(id).starts_with("4a4c9ecc817d4203"));
    let ad = &resp.auth_data;
    ad.check_rp_id("localhost").unwrap();
    assert_eq!(ad.flags, 0x04);
    assert!(!ad.user_present());
    assert!(ad.user_verified());
    assert_eq!(ad.sign_count, 9);
    assert!(ad.extensions.is_empty());
    assert_eq!(resp.signature.len(), 71);
}

#[test]
fn make_credential() {
    let resp = MakeCredentialResponse::decode(&cbor_body("hid_cbor_make_credential.hex")).unwrap();
    assert_eq!(resp.fmt, "packed");
    let ad = &resp.auth_data;
    ad.check_rp_id("localhost").unwrap();
    assert_eq!(ad.flags, 0x45);
    assert_eq!(ad.sign_count, 0);
    let attested = ad
        .attested_credential
        .as_ref()
        .expect("attested credential");
    assert_eq!(
        hex::encode(attested.aaguid),
        "f8a011f38c0a4d15800617111f9edc7d"
    );
    assert_eq!(attested.credential_id.len(), 64);
    assert!(hex::encode(&attested.credential_id).starts_with("ed8848a1"));
    assert!(hex::encode(attested.public_key.coordinates().0).starts_with("9d95a1b5"));
    // No hmac-secret in this recording: our enroll would refuse it.
    assert!(ad.extension("hmac-secret").is_none());
}

#[test]
fn bio_enrollment_interleaves_keepalives() {
    let all = messages("hid_cbor_bio_enroll.hex");
    let keepalives = all
        .iter()
        .filter(|m| m.command == command::KEEPALIVE)
        .count();
    assert_eq!(keepalives, 6);
    assert!(all
        .iter()
        .filter(|m| m.command == command::KEEPALIVE)
        .all(|m| m.payload == [0x02]));
}

/// A replayed token behind our whole stack: it answers INIT with the
/// recorded answer (our nonce in place of the recorded one) and getInfo
/// with the recorded reports, so `Ctap2Client::new` over `HidTransport`
/// reads the recorded getInfo; a recorded keepalive reaches the prompt.
struct Replay {
    pending: VecDeque<Report>,
    init: Report,
    answers: VecDeque<Vec<Report>>,
}

impl HidReports for Replay {
    fn write_report(&mut self, report: &Report) -> Result<(), TransportError> {
        if report[4] == 0x80 | command::INIT {
            let mut answer = self.init;
            answer[7..15].copy_from_slice(&report[7..15]);
            self.pending.push_back(answer);
        } else if report[4] == 0x80 | command::CBOR {
            if let Some(answer) = self.answers.pop_front() {
                self.pending.extend(answer);
            }
        }
        Ok(())
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, TransportError> {
        match self.pending.pop_front() {
            Some(report) => Ok(Some(report)),
            None => {
                std::thread::sleep(timeout.min(Duration::from_millis(5)));
                Ok(None)
            }
        }
    }
}

#[test]
fn the_client_reads_a_recorded_get_info_through_the_transport() {
    let keepalive = load("hid_keepalive_up_needed.hex").reports;
    let get_info = load("hid_cbor_get_info_2022.hex").reports;
    let mut first = keepalive;
    first.extend(get_info.iter().copied());
    let replay = Replay {
        pending: VecDeque::new(),
        init: load("hid_init_response.hex").reports[0],
        answers: VecDeque::from([first, get_info]),
    };
    let mut transport = HidTransport::new(
        replay,
        TransportInfo {
            kind: TransportKind::Hid,
            name: "replayed".into(),
            path: "replayed".into(),
        },
    );
    let prompt = ScriptedPrompt::new();
    let reply = transport
        .exchange(tokenring_core::command::GET_INFO, &[], &prompt)
        .expect("the recorded answer");
    assert_eq!(reply.status, 0);
    assert_eq!(
        prompt.events(),
        [PromptEvent::Keepalive(KeepaliveStatus::UserPresenceNeeded)]
    );
    assert_eq!(transport.channel(), Some(ChannelId(0x0022_0002)));
    let client = Ctap2Client::new(transport).expect("the recorded getInfo");
    assert_eq!(
        client.info().versions,
        ["U2F_V2", "FIDO_2_0", "FIDO_2_1_PRE"]
    );
    assert_eq!(client.protocol(), Some(PinUvAuthProtocol::One));
}
