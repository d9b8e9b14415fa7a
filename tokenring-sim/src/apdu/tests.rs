//! The card through its APDUs, as a reader sees it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::pending::{lock, STATUS_UP_NEEDED};
use super::{GetResponseClass, SimCard, SimCardOptions};
use crate::{ClockMode, PresencePolicy, SimConfig, Simulator};

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
