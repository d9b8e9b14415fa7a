//! The NFC transport against the simulator's card front end (written from
//! the specification on the card side): the whole client (enroll, derive,
//! PIN, presence waits, cancel) over NFCCTAP APDUs, in process.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokenring_core::command;
use tokenring_core::testing::{PromptEvent, ScriptedPrompt};
use tokenring_core::{
    Authenticator, Ctap2Client, DeriveRequest, Error, KeepaliveStatus, NoPrompt, Salts, Transport,
    TransportError, UserEntity, UvMode, DEFAULT_RP_ID,
};
use tokenring_nfc::{ApduChannel, LengthEncoding, NfcOptions, NfcTransport};
use tokenring_sim::{
    AttestationMode, ClockMode, GetResponseClass, PresencePolicy, SimCard, SimCardOptions,
    SimConfig, SimTransport, Simulator,
};

/// The simulator's card as an [`ApduChannel`], counting APDUs.
struct SimChannel {
    card: SimCard,
    apdus: usize,
    chained_segments: usize,
    get_responses: Vec<u8>,
}

impl ApduChannel for SimChannel {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.apdus += 1;
        match apdu {
            [0x90, ..] => self.chained_segments += 1,
            [cla, 0xC0, ..] => self.get_responses.push(*cla),
            _ => {}
        }
        Ok(self.card.transmit(apdu))
    }
}

fn shared(config: SimConfig) -> Arc<Mutex<Simulator>> {
    Arc::new(Mutex::new(Simulator::new(config)))
}

fn nfc(
    simulator: &Arc<Mutex<Simulator>>,
    card: SimCardOptions,
    options: NfcOptions,
) -> NfcTransport<SimChannel> {
    let channel = SimChannel {
        card: SimCard::with_options(Arc::clone(simulator), card),
        apdus: 0,
        chained_segments: 0,
        get_responses: Vec::new(),
    };
    NfcTransport::open(channel, "Simulated Reader", options).expect("the simulated card opens")
}

fn fast() -> NfcOptions {
    NfcOptions {
        poll_interval: Duration::from_millis(10),
        ..NfcOptions::default()
    }
}

fn derive_request<'a>(credential: &'a tokenring_core::CredentialId, salt: u8) -> DeriveRequest<'a> {
    DeriveRequest {
        credential,
        rp_id: DEFAULT_RP_ID,
        salts: Salts::Two([salt; 32], [salt ^ 0xFF; 32]),
        uv: UvMode::PresenceOnly,
        purpose: "unlock the vault",
    }
}

#[test]
fn open_reports_the_applet_and_get_info() {
    let simulator = shared(SimConfig::default());
    let transport = nfc(&simulator, SimCardOptions::default(), fast());
    assert_eq!(transport.applet_version(), "FIDO_2_0");
    assert!(!transport.get_info_response().is_empty());
}

#[test]
fn enroll_with_pin_and_derive_over_nfc_match_the_in_process_transport() {
    let simulator = shared(SimConfig::with_seed(7).pin("1234"));
    let mut client = Ctap2Client::new(nfc(&simulator, SimCardOptions::default(), fast()))
        .expect("client over NFC");
    let prompt = ScriptedPrompt::new().with_pin("1234");
    let credential = client
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
        .expect("enrolled over NFC");
    assert_eq!(prompt.pin_requests(), 1, "makeCredential used the PIN");
    let over_nfc = client
        .derive(&derive_request(&credential, 0x42), &NoPrompt)
        .expect("derived over NFC");
    assert!(
        client.transport_mut().channel_mut().apdus > 6,
        "went through APDUs"
    );

    // The same simulator behind the in-process transport gives the same secret.
    let mut direct = Ctap2Client::new(SimTransport::new(Arc::clone(&simulator))).expect("client");
    let in_process = direct
        .derive(&derive_request(&credential, 0x42), &NoPrompt)
        .expect("derived in process");
    assert_eq!(
        over_nfc.first.expose_secret(),
        in_process.first.expose_secret()
    );
    assert_eq!(
        over_nfc.second.as_ref().map(|s| *s.expose_secret()),
        in_process.second.as_ref().map(|s| *s.expose_secret())
    );
}

#[test]
fn a_presence_wait_shows_status_updates_and_ends_with_the_touch() {
    let simulator = shared(
        SimConfig::with_seed(3)
            .clock(ClockMode::Real)
            .presence(PresencePolicy::approve_after(Duration::from_millis(400))),
    );
    let mut client = Ctap2Client::new(nfc(&simulator, SimCardOptions::default(), fast()))
        .expect("client over NFC");
    let prompt = ScriptedPrompt::new();
    client.select(&prompt).expect("touched");
    let events = prompt.events();
    assert!(
        events.contains(&PromptEvent::Keepalive(KeepaliveStatus::UserPresenceNeeded)),
        "{events:?}"
    );
}

#[test]
fn ctrl_c_during_a_presence_wait_cancels_on_the_card() {
    let simulator = shared(
        SimConfig::with_seed(4)
            .clock(ClockMode::Real)
            .presence(PresencePolicy::time_out()),
    );
    let mut transport = nfc(&simulator, SimCardOptions::default(), fast());
    let prompt = ScriptedPrompt::new().cancel_after_keepalives(2);
    let started = std::time::Instant::now();
    let reply = transport
        .exchange(command::SELECTION, &[], &prompt)
        .expect("the card answers the cancel");
    assert_eq!(reply.status, 0x2D, "CTAP2_ERR_KEEPALIVE_CANCEL");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Through the client the same is a Cancelled error.
    let mut client = Ctap2Client::new(transport).expect("client");
    let prompt = ScriptedPrompt::new().cancel_after_keepalives(1);
    let error = client.select(&prompt).expect_err("cancelled");
    assert!(matches!(error, Error::Cancelled), "{error:?}");
}

#[test]
fn long_messages_chain_both_ways_with_a_fussy_get_response_class() {
    // Packed attestation makes makeCredential's answer longer than 256 bytes.
    let simulator = shared(
        SimConfig::with_seed(5)
            .pin("123456")
            .attestation(AttestationMode::Packed),
    );
    // The card takes GET RESPONSE only with class 80: the client must retry.
    let card = SimCardOptions {
        get_response_class: GetResponseClass::Only(0x80),
        ..SimCardOptions::default()
    };
    let mut client = Ctap2Client::new(nfc(&simulator, card, fast())).expect("client");
    let prompt = ScriptedPrompt::new().with_pin("123456");
    // A long user name makes a makeCredential request of several segments.
    let user = UserEntity {
        id: vec![0x55; 64],
        name: "n".repeat(64),
        display_name: Some("d".repeat(64)),
    };
    let credential = client
        .enroll(DEFAULT_RP_ID, &user, &prompt)
        .expect("enrolled with chaining");
    let output = client
        .derive(&derive_request(&credential, 1), &NoPrompt)
        .expect("derived");
    assert_ne!(output.first.expose_secret(), &[0u8; 32]);
    let channel = client.transport_mut().channel_mut();
    assert!(channel.chained_segments >= 1, "the request was chained");
    // The first GET RESPONSE went out with class 00 and was refused; every
    // later one uses class 80 straight away.
    assert_eq!(channel.get_responses.first(), Some(&0x00));
    assert!(
        channel.get_responses.len() >= 3,
        "{:?}",
        channel.get_responses
    );
    assert!(channel.get_responses[1..].iter().all(|&cla| cla == 0x80));
}

#[test]
fn extended_apdus_work_end_to_end() {
    let simulator = shared(SimConfig::with_seed(6));
    let options = NfcOptions {
        length_encoding: LengthEncoding::Extended,
        ..fast()
    };
    let mut client =
        Ctap2Client::new(nfc(&simulator, SimCardOptions::default(), options)).expect("client");
    let credential = client
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &NoPrompt)
        .expect("enrolled");
    client
        .derive(&derive_request(&credential, 9), &NoPrompt)
        .expect("derived");
}

#[test]
fn a_wrong_pin_reports_retries_over_nfc() {
    let simulator = shared(SimConfig::with_seed(8).pin("1234"));
    let mut client =
        Ctap2Client::new(nfc(&simulator, SimCardOptions::default(), fast())).expect("client");
    let prompt = ScriptedPrompt::new();
    prompt.push_pin(Some("9999"));
    prompt.push_pin(None);
    let error = client
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
        .expect_err("wrong PIN, then declined");
    assert!(
        matches!(error, Error::PinRequired | Error::PinInvalid { .. }),
        "{error:?}"
    );
    let retries_after_wrong_pin = prompt.events().into_iter().find_map(|e| match e {
        PromptEvent::Pin {
            previous_wrong: true,
            retries,
            ..
        } => Some(retries),
        _ => None,
    });
    assert_eq!(retries_after_wrong_pin, Some(Some(7)));
}
