//! The CTAPHID device through its reports, as a host sees it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::machine::CTAPHID_PROTOCOL_VERSION;
use super::packet::{
    capability::{CBOR as CAPABILITY_CBOR, NMSG as CAPABILITY_NMSG, WINK as CAPABILITY_WINK},
    command::{
        CANCEL as CMD_CANCEL, CBOR as CMD_CBOR, ERROR as CMD_ERROR, INIT as CMD_INIT,
        PING as CMD_PING, WINK as CMD_WINK,
    },
    error::{
        CHANNEL_BUSY as ERR_CHANNEL_BUSY, INVALID_CHANNEL as ERR_INVALID_CHANNEL,
        INVALID_CMD as ERR_INVALID_CMD, INVALID_LEN as ERR_INVALID_LEN,
        INVALID_SEQ as ERR_INVALID_SEQ, MSG_TIMEOUT as ERR_MSG_TIMEOUT,
    },
    BROADCAST_CID, REPORT_SIZE as HID_REPORT_SIZE,
};
use super::{SimHidDevice, SimHidOptions};
use crate::{SimConfig, Simulator};

const INIT_FLAG: u8 = 0x80;

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
