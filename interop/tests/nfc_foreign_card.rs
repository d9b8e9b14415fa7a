//! Our NFC transport against a card we did not write, through the real
//! pcscd: tokenring-nfc (PC/SC) → pcscd → vpcd → fido-authenticator's APDU
//! interface behind apdu-dispatch (trussed's ISO 7816-4 layer), on the
//! trussed virtual platform.
//!
//! Runs when `TOKENRING_PCSCD=1` (pcscd running with the vpcd driver,
//! `scripts/pcscd start`); otherwise it says why it skipped, and fails when
//! `CI` is set. The card goes on vpcd's second reader, "Virtual PCD 00 01"
//! (port 35964), which tokenring-nfc's pcscd tests use too: the two must
//! not run at the same time (`scripts/test` runs this after them; vpcd has
//! two readers only, and a second reader.conf entry for it would share
//! their slots). These tests take the reader one at a time.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use tokenring_core::testing::{PromptEvent, ScriptedPrompt};
use tokenring_core::{
    Authenticator, CredentialId, Ctap2Client, DeriveRequest, Error, GetInfoResponse,
    HmacSecretOutput, NoPrompt, Pin, Salts, Transport, TransportErrorKind, UserEntity, UvMode,
    DEFAULT_RP_ID,
};
use tokenring_interop::{with_fido_card, Presence, USER_PRESENCE_TIMEOUT_MS};
use tokenring_nfc::{ApduChannel, NfcError, NfcOptions, NfcTransport, PcscChannel, PcscContext};
use tokenring_sim::{serve_vpcd_card, VpcdOptions};

/// vpcd's second reader (port 35964).
const READER: &str = "Virtual PCD 00 01";
const PORT: u16 = 35964;
const PIN: &str = "4711";
const SALT_A: [u8; 32] = [0xA5; 32];
const SALT_B: [u8; 32] = [0x5A; 32];

/// One test at a time on the reader.
static READER_LOCK: Mutex<()> = Mutex::new(());

fn pcscd() -> Option<PcscContext> {
    if std::env::var("TOKENRING_PCSCD").as_deref() != Ok("1") {
        assert!(
            std::env::var_os("CI").is_none(),
            "the foreign NFC card must run in CI: set TOKENRING_PCSCD=1 with pcscd and its \
             vpcd driver running (scripts/pcscd start)"
        );
        eprintln!(
            "nfc_foreign_card skipped: set TOKENRING_PCSCD=1 with pcscd running and its vpcd \
             driver loaded (scripts/pcscd start, as root)"
        );
        return None;
    }
    let pcsc = PcscContext::establish().expect("pcscd is running");
    let readers = pcsc.readers().expect("readers");
    assert!(
        readers.iter().any(|r| r == READER),
        "pcscd has no reader '{READER}' (is the vpcd driver installed?): {readers:?}"
    );
    Some(pcsc)
}

fn options() -> NfcOptions {
    NfcOptions {
        poll_interval: Duration::from_millis(20),
        timeout: Duration::from_secs(20),
        ..NfcOptions::default()
    }
}

/// Waits until pcscd sees the card, then opens it.
fn open_when_present(pcsc: &PcscContext) -> NfcTransport<PcscChannel> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match pcsc.open(READER, options()) {
            Ok(transport) => return transport,
            Err(error) if Instant::now() < deadline => {
                assert!(
                    matches!(
                        error,
                        NfcError::NoCard { .. } | NfcError::Transport(_) | NfcError::Pcsc(_)
                    ),
                    "unexpected error while waiting for the card: {error}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(error) => panic!("the card never appeared on '{READER}': {error}"),
        }
    }
}

/// Waits until pcscd sees the reader empty.
fn wait_until_empty(pcsc: &PcscContext) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match pcsc.connect(READER) {
            Err(NfcError::NoCard { .. }) => return,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => panic!("the card stayed on the reader: {:?}", other.err()),
        }
    }
}

enum Control {
    PutBack,
    Done,
}

/// What the client side holds: the card can be taken off the reader and
/// put back.
struct Reader {
    presence: Presence,
    stop: Arc<AtomicBool>,
    control: mpsc::Sender<Control>,
}

impl Reader {
    /// Takes the card off the reader (the vpcd connection closes).
    fn remove(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Puts it back (a new vpcd connection: the card powers up afresh).
    fn put_back(&self) {
        let _ = self.control.send(Control::PutBack);
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.control.send(Control::Done);
    }
}

/// Puts a fresh fido-authenticator card on the reader and runs `client`
/// on another thread against it. The card (and everything that touches
/// the authenticator) stays on this thread, inside trussed's platform.
fn with_card(client: impl FnOnce(PcscContext, Reader) + Send) {
    let _one = READER_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(pcsc) = pcscd() else {
        return;
    };
    let presence = Presence::touching();
    let options = VpcdOptions {
        address: SocketAddr::from(([127, 0, 0, 1], PORT)),
        reconnect_interval: Duration::from_millis(50),
        ..VpcdOptions::default()
    };
    with_fido_card(&presence, |card| {
        let stop = Arc::new(AtomicBool::new(false));
        let (control, commands) = mpsc::channel();
        let reader = Reader {
            presence: presence.clone(),
            stop: Arc::clone(&stop),
            control,
        };
        std::thread::scope(|scope| {
            let client = scope.spawn(move || client(pcsc, reader));
            loop {
                serve_vpcd_card(card, &options, &stop, &mut |event| {
                    eprintln!("foreign card: {event}")
                });
                match commands.recv() {
                    Ok(Control::PutBack) => stop.store(false, Ordering::SeqCst),
                    Ok(Control::Done) | Err(_) => break,
                }
            }
            if let Err(panic) = client.join() {
                std::panic::resume_unwind(panic);
            }
        });
    });
}

fn derive<T: Transport>(
    client: &mut Ctap2Client<T>,
    credential: &CredentialId,
    salts: Salts,
    uv: UvMode,
    prompt: &dyn tokenring_core::Prompt,
) -> Result<HmacSecretOutput, Error> {
    client.derive(
        &DeriveRequest {
            credential,
            rp_id: DEFAULT_RP_ID,
            salts,
            uv,
            purpose: "the foreign NFC card",
        },
        prompt,
    )
}

fn first(output: &HmacSecretOutput) -> [u8; 32] {
    *output.first.expose_secret()
}

#[test]
fn enroll_and_derive_through_pcscd() {
    with_card(|pcsc, _reader| {
        let transport = open_when_present(&pcsc);
        // fido-authenticator answers SELECT with the U2F version string.
        assert_eq!(transport.applet_version(), "U2F_V2");
        let info = GetInfoResponse::decode(transport.get_info_response()).expect("getInfo");
        assert!(info.transports.iter().any(|t| t == "nfc"), "{info:?}");
        // Longer than one short response: it came back in 61XX parts
        // through GET RESPONSE.
        assert!(
            transport.get_info_response().len() > 256,
            "{} bytes",
            transport.get_info_response().len()
        );
        let mut client = Ctap2Client::new(transport).expect("client over pcscd");
        let described = client.describe().expect("describe");
        assert!(described.hmac_secret, "{described:?}");
        let prompt = ScriptedPrompt::new();
        let credential = client
            .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
            .expect("enrolled over NFC");
        // The card sends no status updates: the touch is announced before
        // the request goes out.
        assert!(prompt.touches() >= 1, "{:?}", prompt.events());

        let a = derive(
            &mut client,
            &credential,
            Salts::One(SALT_A),
            UvMode::PresenceOnly,
            &NoPrompt,
        )
        .expect("derive");
        let again = derive(
            &mut client,
            &credential,
            Salts::One(SALT_A),
            UvMode::PresenceOnly,
            &NoPrompt,
        )
        .expect("derive again");
        let b = derive(
            &mut client,
            &credential,
            Salts::One(SALT_B),
            UvMode::PresenceOnly,
            &NoPrompt,
        )
        .expect("derive B");
        let both = derive(
            &mut client,
            &credential,
            Salts::Two(SALT_A, SALT_B),
            UvMode::PresenceOnly,
            &NoPrompt,
        )
        .expect("derive A+B");
        assert_eq!(first(&a), first(&again), "the same salt, the same output");
        assert_ne!(first(&a), first(&b));
        assert_eq!(first(&both), first(&a));
        assert_eq!(
            both.second.as_ref().map(|s| *s.expose_secret()),
            Some(first(&b))
        );
        assert!(client.probe(&credential, DEFAULT_RP_ID).expect("probe own"));
        assert!(!client
            .probe(&CredentialId(vec![0x42; 64]), DEFAULT_RP_ID)
            .expect("probe foreign"));
    });
}

#[test]
fn pin_through_pcscd() {
    with_card(|pcsc, _reader| {
        let mut client = Ctap2Client::new(open_when_present(&pcsc)).expect("client");
        client.set_pin(&Pin::new(PIN)).expect("setPIN over NFC");
        assert_eq!(client.pin_retries().expect("getPINRetries"), 8);
        let prompt = ScriptedPrompt::new().with_pin(PIN);
        let credential = client
            .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
            .expect("enroll with a PIN set");
        let presence_only = first(
            &derive(
                &mut client,
                &credential,
                Salts::One(SALT_A),
                UvMode::PresenceOnly,
                &NoPrompt,
            )
            .expect("derive without UV"),
        );
        // With UV: a wrong PIN first, then the right one.
        let prompt = ScriptedPrompt::new();
        prompt.push_pin(Some("0000"));
        prompt.push_pin(Some(PIN));
        let verified = first(
            &derive(
                &mut client,
                &credential,
                Salts::One(SALT_A),
                UvMode::Verified,
                &prompt,
            )
            .expect("derive with UV"),
        );
        assert_ne!(verified, presence_only, "a CredRandom for each");
        let asked: Vec<_> = prompt
            .events()
            .into_iter()
            .filter_map(|e| match e {
                PromptEvent::Pin {
                    retries,
                    previous_wrong,
                    ..
                } => Some((retries, previous_wrong)),
                _ => None,
            })
            .collect();
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert_eq!(asked[1], (Some(7), true), "{asked:?}");
        assert_eq!(client.pin_retries().expect("getPINRetries"), 8);
        client
            .change_pin(&Pin::new(PIN), &Pin::new("1234"))
            .expect("changePIN over NFC");
        let err = client
            .change_pin(&Pin::new(PIN), &Pin::new("5678"))
            .expect_err("the old PIN");
        assert!(
            matches!(err, Error::PinInvalid { retries: Some(7) }),
            "{err:?}"
        );
    });
}

/// fido-authenticator runs each request to its end inside one APDU
/// exchange (user presence included) and never answers 9100, so no status
/// update gives our transport a moment to send the NFCCTAP cancel; its
/// answer to that cancel (the CTAP 2.2 form, NFCCTAP_GETRESPONSE with
/// P1 = 0x11) is 6D00, instruction not supported. A user who cancels
/// during the touch wait gets the card's own answer once it gives up, and
/// the card goes on working.
#[test]
fn cancel_against_a_card_without_status_updates() {
    with_card(|pcsc, reader| {
        let mut client = Ctap2Client::new(open_when_present(&pcsc)).expect("client");
        let credential = client
            .enroll(
                DEFAULT_RP_ID,
                &UserEntity::default(),
                &ScriptedPrompt::new(),
            )
            .expect("enroll");

        // One touched derivation first, so that the shared secret is agreed
        // and the next derivation's first exchange is the getAssertion
        // itself: the client looks at the cancel flag before each exchange,
        // and a key agreement that took longer than 100 ms on a loaded
        // machine would otherwise see the cancel before the wait began.
        derive(
            &mut client,
            &credential,
            Salts::One(SALT_A),
            UvMode::PresenceOnly,
            &ScriptedPrompt::new(),
        )
        .expect("a touched derivation");

        // Nobody touches; the user cancels 100 ms into the wait.
        reader.presence.set(false);
        let prompt = ScriptedPrompt::new();
        let flag = prompt.cancel_flag().clone();
        let started = Instant::now();
        let outcome = std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(100));
                flag.cancel();
            });
            derive(
                &mut client,
                &credential,
                Salts::One(SALT_A),
                UvMode::PresenceOnly,
                &prompt,
            )
        });
        let waited = started.elapsed();
        let err = outcome.err().expect("no touch");
        eprintln!("cancel during the touch wait: {err:?} after {waited:?}");
        assert!(
            matches!(
                err,
                Error::UserActionTimeout | Error::OperationDenied | Error::Cancelled
            ),
            "{err:?}"
        );
        assert!(
            waited >= Duration::from_millis(u64::from(USER_PRESENCE_TIMEOUT_MS)),
            "the card answered only when its own wait ran out: {waited:?}"
        );

        // The cancel APDU itself, by hand: refused as an unknown
        // instruction.
        let refused = client
            .transport_mut()
            .channel_mut()
            .transmit(&[0x80, 0x11, 0x11, 0x00])
            .expect("the cancel APDU goes through pcscd");
        assert_eq!(refused, vec![0x6D, 0x00]);

        // The card still works.
        reader.presence.set(true);
        derive(
            &mut client,
            &credential,
            Salts::One(SALT_A),
            UvMode::PresenceOnly,
            &NoPrompt,
        )
        .expect("derive after the cancel");
    });
}

#[test]
fn the_card_goes_away_and_comes_back() {
    with_card(|pcsc, reader| {
        let mut client = Ctap2Client::new(open_when_present(&pcsc)).expect("client");
        let credential = client
            .enroll(
                DEFAULT_RP_ID,
                &UserEntity::default(),
                &ScriptedPrompt::new(),
            )
            .expect("enroll");
        let before = first(
            &derive(
                &mut client,
                &credential,
                Salts::One(SALT_A),
                UvMode::PresenceOnly,
                &NoPrompt,
            )
            .expect("derive"),
        );

        reader.remove();
        wait_until_empty(&pcsc);
        let err = client
            .transport_mut()
            .exchange(tokenring_core::command::GET_INFO, &[], &NoPrompt)
            .expect_err("the card is gone");
        assert_eq!(err.kind, TransportErrorKind::Disconnected, "{err}");
        assert!(
            err.message
                .contains("hold your authenticator to the reader"),
            "{err}"
        );

        // Back on the reader, powered up afresh: the old PC/SC handle died
        // with the card, so the card is opened again (as discovery does);
        // SELECT, getInfo, and the credential gives the same output.
        reader.put_back();
        let mut client = Ctap2Client::new(open_when_present(&pcsc)).expect("client again");
        let after = first(
            &derive(
                &mut client,
                &credential,
                Salts::One(SALT_A),
                UvMode::PresenceOnly,
                &NoPrompt,
            )
            .expect("derive after the card came back"),
        );
        assert_eq!(after, before);
    });
}
