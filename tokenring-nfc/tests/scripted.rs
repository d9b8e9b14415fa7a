//! The NFC framing against scripted cards: every APDU the transport sends is
//! checked byte for byte, every response is chosen by the test.

use std::collections::VecDeque;
use std::time::Duration;

use tokenring_core::command;
use tokenring_core::testing::{PromptEvent, ScriptedPrompt};
use tokenring_core::{KeepaliveStatus, NoPrompt, Transport, TransportError, TransportErrorKind};
use tokenring_nfc::{ApduChannel, LengthEncoding, NfcError, NfcOptions, NfcTransport, StatusWord};

const SELECT: [u8; 14] = [
    0x00, 0xA4, 0x04, 0x00, 0x08, 0xA0, 0x00, 0x00, 0x06, 0x47, 0x2F, 0x00, 0x01, 0x00,
];
const GET_INFO_MSG: [u8; 7] = [0x80, 0x10, 0x80, 0x00, 0x01, 0x04, 0x00];
const POLL: [u8; 5] = [0x80, 0x11, 0x00, 0x00, 0x00];
const POLL_CANCEL: [u8; 5] = [0x80, 0x11, 0x11, 0x00, 0x00];

/// One step of a script: the APDU the card expects (None: any) and what it answers.
struct Step {
    expect: Option<Vec<u8>>,
    answer: Result<Vec<u8>, TransportError>,
}

/// A card that plays a script and records what it was sent.
#[derive(Default)]
struct ScriptedCard {
    steps: VecDeque<Step>,
    sent: Vec<Vec<u8>>,
}

impl ScriptedCard {
    fn new() -> Self {
        Self::default()
    }

    fn expect(mut self, apdu: &[u8], answer: &[u8]) -> Self {
        self.steps.push_back(Step {
            expect: Some(apdu.to_vec()),
            answer: Ok(answer.to_vec()),
        });
        self
    }

    fn any(mut self, answer: &[u8]) -> Self {
        self.steps.push_back(Step {
            expect: None,
            answer: Ok(answer.to_vec()),
        });
        self
    }

    fn fail(mut self, apdu: &[u8], error: TransportError) -> Self {
        self.steps.push_back(Step {
            expect: Some(apdu.to_vec()),
            answer: Err(error),
        });
        self
    }

    /// SELECT → `version` 9000, getInfo → CTAP2_OK + a tiny CBOR map.
    fn opened(self, version: &str) -> Self {
        let mut answer = version.as_bytes().to_vec();
        answer.extend_from_slice(&[0x90, 0x00]);
        self.expect(&SELECT, &answer)
            .expect(&GET_INFO_MSG, &[0x00, 0xA0, 0x90, 0x00])
    }
}

impl ApduChannel for ScriptedCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.sent.push(apdu.to_vec());
        let step = self.steps.pop_front().ok_or_else(|| {
            TransportError::new(TransportErrorKind::Io, "the script has no more steps")
        })?;
        if let Some(expected) = step.expect {
            assert_eq!(
                hex(apdu),
                hex(&expected),
                "APDU #{} differs from the script",
                self.sent.len()
            );
        }
        step.answer
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn fast() -> NfcOptions {
    NfcOptions {
        poll_interval: Duration::ZERO,
        ..NfcOptions::default()
    }
}

fn open(card: ScriptedCard) -> NfcTransport<ScriptedCard> {
    NfcTransport::open(card, "Scripted Reader 00 00", fast()).expect("the scripted card opens")
}

fn done(transport: NfcTransport<ScriptedCard>) {
    let card = transport.into_channel();
    assert!(
        card.steps.is_empty(),
        "{} scripted steps were not used",
        card.steps.len()
    );
}

#[test]
fn open_selects_the_fido_applet_and_confirms_ctap2() {
    let transport = open(ScriptedCard::new().opened("U2F_V2"));
    assert_eq!(transport.applet_version(), "U2F_V2");
    assert_eq!(transport.get_info_response(), &[0xA0]);
    let info = transport.info();
    assert_eq!(info.kind, tokenring_core::TransportKind::Nfc);
    assert_eq!(info.path, "Scripted Reader 00 00");
    done(transport);
}

#[test]
fn open_accepts_fido_2_0_and_a_chained_select_answer() {
    let card = ScriptedCard::new()
        .expect(&SELECT, b"FIDO\x61\x04")
        .expect(&[0x00, 0xC0, 0x00, 0x00, 0x04], b"_2_0\x90\x00")
        .expect(&GET_INFO_MSG, &[0x00, 0xA0, 0x90, 0x00]);
    let transport = open(card);
    assert_eq!(transport.applet_version(), "FIDO_2_0");
    done(transport);
}

#[test]
fn a_card_without_the_fido_applet_is_named() {
    let card = ScriptedCard::new().expect(&SELECT, &[0x6A, 0x82]);
    let error = NfcTransport::open(card, "r", fast()).expect_err("no FIDO applet");
    assert_eq!(
        error,
        NfcError::NotFido {
            sw: StatusWord::NOT_FOUND
        }
    );
    assert!(error.to_string().contains("not a FIDO authenticator"));
}

#[test]
fn a_u2f_only_card_is_refused() {
    let card = ScriptedCard::new()
        .expect(&SELECT, b"U2F_V2\x90\x00")
        .expect(&GET_INFO_MSG, &[0x6D, 0x00]);
    let error = NfcTransport::open(card, "r", fast()).expect_err("U2F only");
    assert!(matches!(error, NfcError::NotCtap2 { ref version } if version == "U2F_V2"));
}

#[test]
fn long_requests_are_chained_with_cla_90_and_le_only_on_the_last() {
    let payload: Vec<u8> = (0..599u32).map(|i| (i % 253) as u8).collect();
    // command byte + payload = 600 bytes = 255 + 255 + 90
    let mut message = vec![command::GET_ASSERTION];
    message.extend_from_slice(&payload);
    let mut first = vec![0x90, 0x10, 0x80, 0x00, 0xFF];
    first.extend_from_slice(&message[..255]);
    let mut second = vec![0x90, 0x10, 0x80, 0x00, 0xFF];
    second.extend_from_slice(&message[255..510]);
    let mut last = vec![0x80, 0x10, 0x80, 0x00, 90];
    last.extend_from_slice(&message[510..]);
    last.push(0x00);
    let card = ScriptedCard::new()
        .opened("FIDO_2_0")
        .expect(&first, &[0x90, 0x00])
        .expect(&second, &[0x90, 0x00])
        .expect(&last, &[0x00, 0xA1, 0x01, 0x02, 0x90, 0x00]);
    let mut transport = open(card);
    let reply = transport
        .exchange(command::GET_ASSERTION, &payload, &NoPrompt)
        .expect("chained request answered");
    assert_eq!(reply.status, 0);
    assert_eq!(reply.body, vec![0xA1, 0x01, 0x02]);
    done(transport);
}

#[test]
fn a_card_refusing_a_chain_segment_is_reported() {
    let payload = vec![0u8; 300];
    let card = ScriptedCard::new().opened("FIDO_2_0").any(&[0x68, 0x84]);
    let mut transport = open(card);
    let error = transport
        .exchange(command::MAKE_CREDENTIAL, &payload, &NoPrompt)
        .expect_err("chaining refused");
    assert_eq!(error.kind, TransportErrorKind::Protocol);
    assert!(error.message.contains("6884"), "{}", error.message);
    assert!(error.message.contains("extended"), "{}", error.message);
}

#[test]
fn extended_apdus_when_asked_for() {
    let payload = vec![0x5Au8; 299];
    let mut apdu = vec![
        0x80,
        0x10,
        0x80,
        0x00,
        0x00,
        0x01,
        0x2C,
        command::CLIENT_PIN,
    ];
    apdu.extend_from_slice(&payload);
    apdu.extend_from_slice(&[0x00, 0x00]);
    let card = ScriptedCard::new()
        // SELECT stays short; getInfo goes out as one extended APDU.
        .expect(&SELECT, b"FIDO_2_0\x90\x00")
        .expect(
            &[0x80, 0x10, 0x80, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00],
            &[0x00, 0xA0, 0x90, 0x00],
        )
        .expect(&apdu, &[0x00, 0x90, 0x00]);
    let options = NfcOptions {
        length_encoding: LengthEncoding::Extended,
        ..fast()
    };
    let mut transport = NfcTransport::open(card, "r", options).expect("opens");
    let reply = transport
        .exchange(command::CLIENT_PIN, &payload, &NoPrompt)
        .expect("extended request answered");
    assert_eq!(reply.status, 0);
    assert!(reply.body.is_empty());
    done(transport);
}

#[test]
fn chained_responses_are_fetched_with_get_response() {
    let part1 = vec![0x11u8; 256];
    let part2 = vec![0x22u8; 256];
    let part3 = vec![0x33u8; 16];
    let mut a1 = vec![0x00];
    a1.extend_from_slice(&part1[1..]);
    a1.extend_from_slice(&[0x61, 0x00]);
    let mut a2 = part2.clone();
    a2.extend_from_slice(&[0x61, 0x10]);
    let mut a3 = part3.clone();
    a3.extend_from_slice(&[0x90, 0x00]);
    let card = ScriptedCard::new()
        .opened("FIDO_2_0")
        .expect(&[0x80, 0x10, 0x80, 0x00, 0x01, 0x04, 0x00], &a1)
        .expect(&[0x00, 0xC0, 0x00, 0x00, 0x00], &a2)
        .expect(&[0x00, 0xC0, 0x00, 0x00, 0x10], &a3);
    let mut transport = open(card);
    let reply = transport
        .exchange(command::GET_INFO, &[], &NoPrompt)
        .expect("chained response");
    assert_eq!(reply.status, 0);
    let mut expected = part1[1..].to_vec();
    expected.extend_from_slice(&part2);
    expected.extend_from_slice(&part3);
    assert_eq!(reply.body, expected);
    done(transport);
}

#[test]
fn get_response_retries_with_the_other_class_and_remembers_it() {
    let card = ScriptedCard::new()
        .opened("FIDO_2_0")
        .expect(&GET_INFO_MSG, &[0x00, 0x01, 0x61, 0x02])
        .expect(&[0x00, 0xC0, 0x00, 0x00, 0x02], &[0x6E, 0x00])
        .expect(&[0x80, 0xC0, 0x00, 0x00, 0x02], &[0x02, 0x03, 0x90, 0x00])
        // The next exchange goes straight to class 80.
        .expect(&GET_INFO_MSG, &[0x00, 0x61, 0x01])
        .expect(&[0x80, 0xC0, 0x00, 0x00, 0x01], &[0x07, 0x90, 0x00]);
    let mut transport = open(card);
    let first = transport
        .exchange(command::GET_INFO, &[], &NoPrompt)
        .expect("class retry");
    assert_eq!(first.body, vec![0x01, 0x02, 0x03]);
    let second = transport
        .exchange(command::GET_INFO, &[], &NoPrompt)
        .expect("remembered class");
    assert_eq!(second.body, vec![0x07]);
    done(transport);
}

#[test]
fn status_updates_are_polled_and_reach_the_prompt() {
    let card = ScriptedCard::new()
        .opened("FIDO_2_0")
        .expect(
            &[0x80, 0x10, 0x80, 0x00, 0x01, 0x0B, 0x00],
            &[0x01, 0x91, 0x00],
        )
        .expect(&POLL, &[0x02, 0x91, 0x00])
        .expect(&POLL, &[0x02, 0x91, 0x00])
        .expect(&POLL, &[0x00, 0x90, 0x00]);
    let mut transport = open(card);
    let prompt = ScriptedPrompt::new();
    let reply = transport
        .exchange(command::SELECTION, &[], &prompt)
        .expect("answered after polling");
    assert_eq!(reply.status, 0);
    assert_eq!(
        prompt.events(),
        vec![
            PromptEvent::Keepalive(KeepaliveStatus::Processing),
            PromptEvent::Keepalive(KeepaliveStatus::UserPresenceNeeded),
            PromptEvent::Keepalive(KeepaliveStatus::UserPresenceNeeded),
        ]
    );
    done(transport);
}

#[test]
fn cancel_sends_nfcctap_getresponse_with_p1_11_and_returns_the_answer() {
    let card = ScriptedCard::new()
        .opened("FIDO_2_0")
        .expect(
            &[0x80, 0x10, 0x80, 0x00, 0x01, 0x0B, 0x00],
            &[0x02, 0x91, 0x00],
        )
        .expect(&POLL, &[0x02, 0x91, 0x00])
        .expect(&POLL_CANCEL, &[0x2D, 0x90, 0x00]);
    let mut transport = open(card);
    let prompt = ScriptedPrompt::new().cancel_after_keepalives(2);
    let reply = transport
        .exchange(command::SELECTION, &[], &prompt)
        .expect("the cancel is answered");
    assert_eq!(reply.status, 0x2D, "CTAP2_ERR_KEEPALIVE_CANCEL");
    done(transport);
}

#[test]
fn cancel_before_the_first_status_update_is_sent_at_once() {
    let card = ScriptedCard::new()
        .opened("FIDO_2_0")
        .expect(
            &[0x80, 0x10, 0x80, 0x00, 0x01, 0x0B, 0x00],
            &[0x02, 0x91, 0x00],
        )
        // The card is still busy after the cancel: keep polling normally.
        .expect(&POLL_CANCEL, &[0x01, 0x91, 0x00])
        .expect(&POLL, &[0x2D, 0x90, 0x00]);
    let mut transport = open(card);
    let prompt = ScriptedPrompt::new();
    prompt.cancel_flag().cancel();
    let reply = transport
        .exchange(command::SELECTION, &[], &prompt)
        .expect("the cancel is answered");
    assert_eq!(reply.status, 0x2D);
    done(transport);
}

#[test]
fn a_card_removed_mid_operation_says_hold_it_to_the_reader() {
    let card = ScriptedCard::new()
        .opened("FIDO_2_0")
        .expect(
            &[0x80, 0x10, 0x80, 0x00, 0x01, 0x0B, 0x00],
            &[0x02, 0x91, 0x00],
        )
        .fail(
            &POLL,
            TransportError::new(TransportErrorKind::Disconnected, "card removed"),
        );
    let mut transport = open(card);
    let error = transport
        .exchange(command::SELECTION, &[], &NoPrompt)
        .expect_err("card gone");
    assert_eq!(error.kind, TransportErrorKind::Disconnected);
    assert!(
        error
            .message
            .contains("hold your authenticator to the reader"),
        "{}",
        error.message
    );
}

#[test]
fn after_the_card_left_the_next_exchange_selects_the_applet_again() {
    let card = ScriptedCard::new()
        .opened("FIDO_2_0")
        .fail(
            &GET_INFO_MSG,
            TransportError::new(TransportErrorKind::Disconnected, "card removed"),
        )
        .expect(&SELECT, b"FIDO_2_0\x90\x00")
        .expect(&GET_INFO_MSG, &[0x00, 0xA0, 0x90, 0x00])
        // No SELECT once the applet is selected again.
        .expect(&GET_INFO_MSG, &[0x00, 0xA0, 0x90, 0x00]);
    let mut transport = open(card);
    let error = transport
        .exchange(command::GET_INFO, &[], &NoPrompt)
        .expect_err("card gone");
    assert_eq!(error.kind, TransportErrorKind::Disconnected);
    for _ in 0..2 {
        let reply = transport
            .exchange(command::GET_INFO, &[], &NoPrompt)
            .expect("the card is back");
        assert_eq!(reply.status, 0);
    }
    done(transport);
}

#[test]
fn a_card_that_lost_its_applet_selection_is_selected_again_once() {
    let card = ScriptedCard::new()
        .opened("FIDO_2_0")
        // Reset behind our back: the applet is not selected.
        .expect(&GET_INFO_MSG, &[0x69, 0x85])
        .expect(&SELECT, b"FIDO_2_0\x90\x00")
        .expect(&GET_INFO_MSG, &[0x00, 0xA0, 0x90, 0x00])
        // Only once per request: a second refusal is an error.
        .expect(&GET_INFO_MSG, &[0x6A, 0x82])
        .expect(&SELECT, b"FIDO_2_0\x90\x00")
        .expect(&GET_INFO_MSG, &[0x6A, 0x82]);
    let mut transport = open(card);
    let reply = transport
        .exchange(command::GET_INFO, &[], &NoPrompt)
        .expect("selected again");
    assert_eq!(reply.status, 0);
    let error = transport
        .exchange(command::GET_INFO, &[], &NoPrompt)
        .expect_err("still not selected");
    assert!(error.message.contains("6A82"), "{}", error.message);
    done(transport);
}

#[test]
fn a_card_removed_before_select_is_a_disconnect() {
    let card = ScriptedCard::new().fail(
        &SELECT,
        TransportError::new(TransportErrorKind::Disconnected, "no card"),
    );
    let error = NfcTransport::open(card, "r", fast()).expect_err("no card");
    let error: TransportError = error.into();
    assert_eq!(error.kind, TransportErrorKind::Disconnected);
    assert!(error
        .message
        .contains("hold your authenticator to the reader"));
}

#[test]
fn status_words_other_than_9000_are_errors_not_replies() {
    for (sw, kind) in [
        ([0x6F, 0x00], TransportErrorKind::Io),
        ([0x67, 0x00], TransportErrorKind::Protocol),
        ([0x6D, 0x00], TransportErrorKind::Protocol),
        ([0x12, 0x34], TransportErrorKind::Protocol),
    ] {
        let card = ScriptedCard::new().opened("FIDO_2_0").any(&sw);
        let mut transport = open(card);
        let error = transport
            .exchange(command::GET_INFO, &[], &NoPrompt)
            .expect_err("not 9000");
        assert_eq!(error.kind, kind, "{}", error.message);
        assert!(error.message.contains(&hex(&sw)), "{}", error.message);
    }
}

#[test]
fn ctap_errors_pass_up_as_replies() {
    let card = ScriptedCard::new()
        .opened("FIDO_2_0")
        .any(&[0x2E, 0x90, 0x00]);
    let mut transport = open(card);
    let reply = transport
        .exchange(command::GET_ASSERTION, &[0xA0], &NoPrompt)
        .expect("a CTAP error is a reply");
    assert_eq!(reply.status, 0x2E);
    assert!(reply.body.is_empty());
}

#[test]
fn garbage_responses_are_errors() {
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x90],
        vec![0x90, 0x00], // 9000 without a CTAP status byte
    ];
    for garbage in cases {
        let card = ScriptedCard::new().opened("FIDO_2_0").any(&garbage);
        let mut transport = open(card);
        let error = transport
            .exchange(command::GET_INFO, &[], &NoPrompt)
            .expect_err("garbage");
        assert_eq!(
            error.kind,
            TransportErrorKind::Protocol,
            "{}",
            error.message
        );
    }
}

/// A card that answers `61 01` with no data, forever.
struct EndlessChain;

impl ApduChannel for EndlessChain {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(match apdu {
            [0x00, 0xA4, ..] => b"FIDO_2_0\x90\x00".to_vec(),
            _ => vec![0x61, 0x01],
        })
    }
}

#[test]
fn endless_response_chaining_ends_in_an_error() {
    let options = NfcOptions {
        max_response_len: 1024,
        ..fast()
    };
    let error = NfcTransport::open(EndlessChain, "r", options).expect_err("endless");
    let error: TransportError = error.into();
    assert_eq!(error.kind, TransportErrorKind::Protocol);
}

/// A card that is always busy.
struct Busy(usize);

impl ApduChannel for Busy {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.0 += 1;
        Ok(match apdu {
            [0x00, 0xA4, ..] => b"FIDO_2_0\x90\x00".to_vec(),
            [0x80, 0x11, 0x11, ..] => vec![0x01, 0x91, 0x00],
            [0x80, 0x10, _, _, _, 0x04, ..] => vec![0x00, 0x90, 0x00],
            _ => vec![0x01, 0x91, 0x00],
        })
    }
}

#[test]
fn a_card_that_never_finishes_times_out_after_a_cancel() {
    let options = NfcOptions {
        timeout: Duration::from_millis(30),
        poll_interval: Duration::from_millis(5),
        ..NfcOptions::default()
    };
    let mut transport = NfcTransport::open(Busy(0), "r", options).expect("opens");
    let error = transport
        .exchange(command::SELECTION, &[], &NoPrompt)
        .expect_err("times out");
    assert_eq!(error.kind, TransportErrorKind::Timeout);
    assert!(transport.channel_mut().0 > 3, "it polled");
}

/// A card that answers from a fixed stream of pseudo-random bytes.
struct Noise {
    state: u64,
    calls: usize,
}

impl Noise {
    fn next(&mut self) -> u8 {
        // xorshift64
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state.to_le_bytes()[0]
    }
}

impl ApduChannel for Noise {
    fn transmit(&mut self, _apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.calls += 1;
        if self.calls > 64 {
            return Err(TransportError::new(TransportErrorKind::Io, "enough"));
        }
        let len = usize::from(self.next() % 8);
        let mut out: Vec<u8> = (0..len).map(|_| self.next()).collect();
        // Bias towards the status words the transport acts on.
        match self.next() % 6 {
            0 => out.extend_from_slice(&[0x90, 0x00]),
            1 => out.extend_from_slice(&[0x91, 0x00]),
            2 => out.extend_from_slice(&[0x61, self.next()]),
            3 => out.extend_from_slice(&[0x6E, 0x00]),
            _ => {}
        }
        Ok(out)
    }
}

#[test]
fn noise_never_panics() {
    let options = NfcOptions {
        timeout: Duration::ZERO,
        poll_interval: Duration::ZERO,
        max_response_len: 4096,
        ..NfcOptions::default()
    };
    for seed in 1..500u64 {
        let noise = Noise {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            calls: 0,
        };
        if let Ok(mut transport) = NfcTransport::open(noise, "r", options.clone()) {
            let _ = transport.exchange(command::GET_ASSERTION, &[0xA0; 300], &NoPrompt);
        }
    }
}

#[test]
fn transports_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<NfcTransport<ScriptedCard>>();
    #[cfg(feature = "pcsc")]
    assert_send::<NfcTransport<tokenring_nfc::PcscChannel>>();
}

/// A card that counts exclusive sessions and refuses APDUs outside one.
struct Reserving {
    sessions: usize,
    inside: bool,
    stray: usize,
}

impl ApduChannel for Reserving {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        if !self.inside {
            self.stray += 1;
        }
        Ok(match apdu {
            [0x00, 0xA4, ..] => b"FIDO_2_0\x90\x00".to_vec(),
            // A status update first, so one request takes several APDUs.
            [0x80, 0x10, ..] => vec![0x01, 0x91, 0x00],
            _ => vec![0x00, 0xA0, 0x90, 0x00],
        })
    }

    fn exclusive(
        &mut self,
        session: &mut tokenring_nfc::Session<'_>,
    ) -> Result<(), TransportError> {
        self.sessions += 1;
        self.inside = true;
        session(&mut |apdu: &[u8]| self.transmit(apdu));
        self.inside = false;
        Ok(())
    }
}

#[test]
fn every_request_runs_in_one_exclusive_session() {
    let card = Reserving {
        sessions: 0,
        inside: false,
        stray: 0,
    };
    let mut transport = NfcTransport::open(card, "r", fast()).expect("opens");
    for _ in 0..3 {
        transport
            .exchange(command::GET_INFO, &[], &NoPrompt)
            .expect("answered");
    }
    let card = transport.into_channel();
    assert_eq!(card.sessions, 4, "open + three requests");
    assert_eq!(card.stray, 0, "no APDU outside a session");
}

/// A card that cannot be reserved.
struct Unreservable;

impl ApduChannel for Unreservable {
    fn transmit(&mut self, _apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(vec![0x90, 0x00])
    }

    fn exclusive(
        &mut self,
        _session: &mut tokenring_nfc::Session<'_>,
    ) -> Result<(), TransportError> {
        Err(TransportError::new(
            TransportErrorKind::Busy,
            "another program holds the card",
        ))
    }
}

#[test]
fn a_card_that_cannot_be_reserved_is_an_error() {
    let error = NfcTransport::open(Unreservable, "r", fast()).expect_err("busy");
    let error: TransportError = error.into();
    assert_eq!(error.kind, TransportErrorKind::Busy);
}

/// A card that refuses NFCCTAP_MSG with P1 = 0x80 (the "client polls status
/// updates" bit) as a wrong parameter never saw the request: it gets it
/// again with P1 = 0x00 in libfido2's 240-byte segments, and keeps getting
/// requests that way.
#[test]
fn a_card_refusing_p1_80_is_talked_to_as_libfido2_does() {
    for refusal in [[0x6A, 0x86], [0x6B, 0x00]] {
        let payload: Vec<u8> = (0..599u32).map(|i| (i % 253) as u8).collect();
        let mut message = vec![command::GET_ASSERTION];
        message.extend_from_slice(&payload);
        let segment = |cla: u8, part: &[u8], le: bool| {
            let mut apdu = vec![cla, 0x10, 0x00, 0x00, part.len() as u8];
            apdu.extend_from_slice(part);
            if le {
                apdu.push(0x00);
            }
            apdu
        };
        let card = ScriptedCard::new()
            .expect(&SELECT, b"FIDO_2_0\x90\x00")
            .expect(&GET_INFO_MSG, &refusal)
            .expect(
                &[0x80, 0x10, 0x00, 0x00, 0x01, 0x04, 0x00],
                &[0x00, 0xA0, 0x90, 0x00],
            )
            .expect(&segment(0x90, &message[..240], false), &[0x90, 0x00])
            .expect(&segment(0x90, &message[240..480], false), &[0x90, 0x00])
            .expect(
                &segment(0x80, &message[480..], true),
                &[0x00, 0xA1, 0x01, 0x02, 0x90, 0x00],
            );
        let mut transport = open(card);
        assert_eq!(transport.get_info_response(), &[0xA0]);
        let reply = transport
            .exchange(command::GET_ASSERTION, &payload, &NoPrompt)
            .expect("answered with P1 = 0x00");
        assert_eq!((reply.status, reply.body), (0, vec![0xA1, 0x01, 0x02]));
        done(transport);
    }
}

/// A card that refuses P1 = 0x00 too reports what it said to that.
#[test]
fn a_card_refusing_both_p1_values_is_reported() {
    let card = ScriptedCard::new()
        .opened("FIDO_2_0")
        .expect(&[0x80, 0x10, 0x80, 0x00, 0x01, 0x07, 0x00], &[0x6A, 0x86])
        .expect(&[0x80, 0x10, 0x00, 0x00, 0x01, 0x07, 0x00], &[0x6A, 0x80]);
    let mut transport = open(card);
    let error = transport
        .exchange(command::RESET, &[], &NoPrompt)
        .expect_err("refused");
    assert_eq!(error.kind, TransportErrorKind::Protocol);
    assert!(error.message.contains("6A80"), "{}", error.message);
    done(transport);
}

/// A CTAP 2.1 card does not know the cancel form of NFCCTAP_GETRESPONSE
/// (P1 = 0x11, CTAP 2.2) and refuses it as an unknown instruction or
/// parameter: the user cancelled all the same, and the next request
/// selects the applet again.
#[test]
fn a_refused_cancel_is_a_cancel() {
    for refusal in [[0x6D, 0x00], [0x6A, 0x86], [0x6E, 0x00]] {
        let card = ScriptedCard::new()
            .opened("FIDO_2_0")
            .expect(
                &[0x80, 0x10, 0x80, 0x00, 0x01, 0x0B, 0x00],
                &[0x02, 0x91, 0x00],
            )
            .expect(&POLL, &[0x02, 0x91, 0x00])
            .expect(&POLL_CANCEL, &refusal)
            .expect(&SELECT, b"FIDO_2_0\x90\x00")
            .expect(&GET_INFO_MSG, &[0x00, 0xA0, 0x90, 0x00]);
        let mut transport = open(card);
        let prompt = ScriptedPrompt::new().cancel_after_keepalives(2);
        let error = transport
            .exchange(command::SELECTION, &[], &prompt)
            .expect_err("cancelled");
        assert_eq!(
            error.kind,
            TransportErrorKind::Cancelled,
            "{}",
            error.message
        );
        assert!(error.message.contains(&hex(&refusal)), "{}", error.message);
        let reply = transport
            .exchange(command::GET_INFO, &[], &NoPrompt)
            .expect("the next request works");
        assert_eq!(reply.status, 0);
        done(transport);
    }
}
