//! End to end through a real pcscd: tokenring-nfc (PC/SC) → pcscd → the
//! vpcd driver → the simulator as a virtual contactless card.
//!
//! Runs when `TOKENRING_PCSCD=1` (pcscd running with the vpcd driver of
//! Debian's `vsmartcard-vpcd`); otherwise it says why it skipped. Two tests,
//! one per vpcd reader, so they can run side by side:
//!
//! - "Virtual PCD 00 00" (port 35963): the simulator's vpcd bridge in this
//!   process; the whole story (PIN, presence wait, derive, reset by another
//!   program, probe, cancel, card taken away).
//! - "Virtual PCD 00 01" (port 35964): the `tokenring-sim vpcd` command
//!   (`TOKENRING_SIM_BIN`, else `target/<profile>/tokenring-sim` beside this
//!   test, built by `cargo build -p tokenring-sim --features cli` or by any
//!   `--all-features` build of the workspace; missing, it fails when `CI`
//!   is set), stopped with SIGTERM at the end.
//!
//! ```sh
//! pcscd --foreground --apdu &   # as root
//! TOKENRING_PCSCD=1 cargo test -p tokenring-nfc --test pcscd_e2e
//! ```
#![cfg(feature = "pcsc")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokenring_core::command;
use tokenring_core::testing::{PromptEvent, ScriptedPrompt};
use tokenring_core::{
    Authenticator, CredentialId, Ctap2Client, DeriveRequest, Error, KeepaliveStatus, NoPrompt,
    Salts, Transport, TransportError, TransportErrorKind, UserEntity, UvMode, DEFAULT_RP_ID,
};
use tokenring_nfc::{NfcError, NfcOptions, NfcTransport, PcscChannel, PcscContext};
use tokenring_sim::{serve_vpcd, ClockMode, PresencePolicy, SimConfig, Simulator, VpcdOptions};

/// The first vpcd reader (port 35963): the in-process bridge.
const READER: &str = "Virtual PCD 00 00";
/// The second vpcd reader (port 35964): the `tokenring-sim vpcd` command.
const READER_2: &str = "Virtual PCD 00 01";
const PIN: &str = "1234";

/// The simulator on the reader: in this process, or the `tokenring-sim` binary.
enum Card {
    InProcess {
        simulator: Arc<Mutex<Simulator>>,
        stop: Arc<AtomicBool>,
        bridge: Option<JoinHandle<()>>,
    },
    Binary(Child),
}

impl Card {
    /// The simulator in this process, on the first vpcd reader.
    fn in_process(state: &Path, presence: &str) -> Card {
        let config = SimConfig::with_seed(0x5EED).pin(PIN);
        let mut simulator = Simulator::create(config, state).expect("state file");
        simulator.set_clock(ClockMode::Real);
        simulator.set_presence_policy(parse_presence(presence));
        let simulator = Arc::new(Mutex::new(simulator));
        let stop = Arc::new(AtomicBool::new(false));
        let bridge = {
            let simulator = Arc::clone(&simulator);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                serve_vpcd(simulator, &VpcdOptions::default(), &stop, &mut |event| {
                    eprintln!("vpcd bridge: {event}")
                })
            })
        };
        Card::InProcess {
            simulator,
            stop,
            bridge: Some(bridge),
        }
    }

    /// `tokenring-sim vpcd` on the second vpcd reader.
    fn command(binary: &Path, state: &Path, presence: &str) -> Card {
        let status = Command::new(binary)
            .args(["init", "--seed", "24301", "--pin", PIN])
            .arg(state)
            .status()
            .expect("tokenring-sim init runs");
        assert!(status.success(), "tokenring-sim init failed");
        let child = Command::new(binary)
            .arg("vpcd")
            .arg(state)
            .args(["--presence", presence, "--address", "127.0.0.1:35964"])
            .spawn()
            .expect("tokenring-sim vpcd starts");
        Card::Binary(child)
    }

    /// Takes the card off the reader.
    fn remove(&mut self) {
        match self {
            Card::InProcess { stop, bridge, .. } => {
                stop.store(true, Ordering::SeqCst);
                if let Some(bridge) = bridge.take() {
                    bridge.join().expect("the bridge stops");
                }
            }
            Card::Binary(child) => {
                let status = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status()
                    .expect("kill runs");
                assert!(status.success());
                let exit = child.wait().expect("tokenring-sim exits");
                assert!(
                    exit.success(),
                    "tokenring-sim vpcd exits cleanly on SIGTERM: {exit}"
                );
            }
        }
    }

    /// Changes the presence policy of the simulator in this process.
    fn set_presence(&self, presence: &str) {
        match self {
            Card::InProcess { simulator, .. } => simulator
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .set_presence_policy(parse_presence(presence)),
            Card::Binary(_) => panic!("the command's presence policy is fixed"),
        }
    }
}

impl Drop for Card {
    fn drop(&mut self) {
        match self {
            Card::InProcess { stop, bridge, .. } => {
                stop.store(true, Ordering::SeqCst);
                if let Some(bridge) = bridge.take() {
                    let _ = bridge.join();
                }
            }
            Card::Binary(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn parse_presence(text: &str) -> PresencePolicy {
    text.parse().expect("a presence policy")
}

fn options() -> NfcOptions {
    NfcOptions {
        poll_interval: Duration::from_millis(20),
        timeout: Duration::from_secs(20),
        ..NfcOptions::default()
    }
}

/// Waits until pcscd sees the virtual card on `reader`, then opens it.
fn open_when_present(pcsc: &PcscContext, reader: &str) -> NfcTransport<PcscChannel> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match pcsc.open(reader, options()) {
            Ok(transport) => return transport,
            Err(error) if Instant::now() < deadline => {
                if !matches!(
                    error,
                    NfcError::NoCard { .. } | NfcError::Transport(_) | NfcError::Pcsc(_)
                ) {
                    panic!("unexpected error while waiting for the card: {error}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(error) => panic!("the virtual card never appeared on '{reader}': {error}"),
        }
    }
}

fn request<'a>(credential: &'a CredentialId, salt: u8) -> DeriveRequest<'a> {
    DeriveRequest {
        credential,
        rp_id: DEFAULT_RP_ID,
        salts: Salts::One([salt; 32]),
        uv: UvMode::PresenceOnly,
        purpose: "unlock the vault",
    }
}

/// One test at a time: each test's `open_all` opens the other's card too,
/// and the presence waits would stretch each other.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// pcscd with both vpcd readers, or why the test skips.
fn pcscd() -> Option<PcscContext> {
    if std::env::var("TOKENRING_PCSCD").as_deref() != Ok("1") {
        assert!(
            std::env::var_os("CI").is_none(),
            "pcscd_e2e must run in CI: set TOKENRING_PCSCD=1 with pcscd and its vpcd driver running"
        );
        eprintln!(
            "pcscd_e2e skipped: set TOKENRING_PCSCD=1 with pcscd running and its vpcd driver \
             loaded (Debian packages pcscd, vsmartcard-vpcd; as root: `pcscd --foreground &`)"
        );
        return None;
    }
    let pcsc = PcscContext::establish().expect("pcscd is running");
    let readers = pcsc.readers().expect("readers");
    for reader in [READER, READER_2] {
        assert!(
            readers.iter().any(|r| r == reader),
            "pcscd has no reader '{reader}' (is the vpcd driver installed?): {readers:?}"
        );
    }
    Some(pcsc)
}

/// The `tokenring-sim` binary: `TOKENRING_SIM_BIN`, else the one cargo
/// built beside this test (`target/<profile>/tokenring-sim`).
fn sim_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TOKENRING_SIM_BIN") {
        return Some(PathBuf::from(path));
    }
    let exe = std::env::current_exe().ok()?;
    let beside = exe.parent()?.parent()?.join("tokenring-sim");
    beside.is_file().then_some(beside)
}

#[test]
fn the_tokenring_sim_vpcd_command_through_pcscd() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(pcsc) = pcscd() else {
        return;
    };
    let Some(binary) = sim_binary() else {
        let why = "no tokenring-sim binary (cargo build -p tokenring-sim --features cli, \
                   or set TOKENRING_SIM_BIN)";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("skipped: {why}");
        return;
    };
    eprintln!("using {}", binary.display());
    let dir = tempfile::tempdir().expect("temp dir");
    let mut card = Card::command(&binary, &dir.path().join("sim.json"), "delay:300");
    let transport = open_when_present(&pcsc, READER_2);
    let mut client = Ctap2Client::new(transport).expect("client over pcscd");
    let prompt = ScriptedPrompt::new().with_pin(PIN);
    let credential = client
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
        .expect("enrolled through the command");
    let first = client
        .derive(&request(&credential, 5), &NoPrompt)
        .expect("derived");
    let again = client
        .derive(&request(&credential, 5), &NoPrompt)
        .expect("derived");
    assert_eq!(first.first.expose_secret(), again.first.expose_secret());
    drop(client);
    // SIGTERM: a clean exit, and the reader is empty again.
    card.remove();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match pcsc.connect(READER_2) {
            Err(NfcError::NoCard { .. }) => break,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => panic!("the card stayed on the reader: {:?}", other.err()),
        }
    }
}

#[test]
fn enroll_and_derive_through_pcscd_and_vpcd() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(pcsc) = pcscd() else {
        return;
    };

    // Before the card is there, the reader is listed without an authenticator
    // (or with a card pcscd has not yet noticed is gone, when a previous run
    // just ended).
    let listed = pcsc.open_all(&options()).expect("open_all");
    let empty = listed
        .iter()
        .find(|r| r.reader == READER)
        .map(|r| r.opened.as_ref().err());
    assert!(
        matches!(
            empty,
            Some(Some(NfcError::NoCard { .. }))
                | Some(Some(NfcError::Transport(TransportError {
                    kind: TransportErrorKind::Disconnected,
                    ..
                })))
        ),
        "{empty:?}"
    );
    drop(listed);

    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("sim.json");
    // Every presence request takes a real 400 ms touch.
    let mut card = Card::in_process(&state, "delay:400");
    let transport = open_when_present(&pcsc, READER);
    assert_eq!(transport.applet_version(), "FIDO_2_0");
    let listed = pcsc.open_all(&options()).expect("open_all");
    assert!(
        listed
            .iter()
            .any(|r| r.reader == READER && r.opened.is_ok()),
        "the virtual card is listed as an authenticator"
    );
    drop(listed);
    assert_eq!(transport.info().path, READER);

    // Enroll with the PIN, through a presence wait.
    let mut client = Ctap2Client::new(transport).expect("client over pcscd");
    let prompt = ScriptedPrompt::new().with_pin(PIN);
    let credential = client
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
        .expect("enrolled through pcscd");
    assert_eq!(prompt.pin_requests(), 1, "makeCredential used the PIN");
    assert!(
        prompt
            .events()
            .contains(&PromptEvent::Keepalive(KeepaliveStatus::UserPresenceNeeded)),
        "status updates reached the prompt: {:?}",
        prompt.events()
    );

    // Derive twice: the same salt gives the same secret, another salt another.
    let first = client
        .derive(&request(&credential, 1), &NoPrompt)
        .expect("derived");
    let again = client
        .derive(&request(&credential, 1), &NoPrompt)
        .expect("derived again");
    let other = client
        .derive(&request(&credential, 2), &NoPrompt)
        .expect("derived");
    assert_eq!(first.first.expose_secret(), again.first.expose_secret());
    assert_ne!(first.first.expose_secret(), other.first.expose_secret());

    // Another program resets the card (a pcsc handle dropped without
    // SCARD_LEAVE_CARD): the next request takes the card up again, finds
    // the applet unselected, selects it and goes through.
    {
        let other = pcsc::Context::establish(pcsc::Scope::User).expect("context");
        let reader = std::ffi::CString::new(READER).expect("name");
        let handle = other
            .connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
            .expect("a second handle");
        drop(handle);
    }
    let after_reset = client
        .derive(&request(&credential, 1), &NoPrompt)
        .expect("derived after the reset");
    assert_eq!(
        first.first.expose_secret(),
        after_reset.first.expose_secret()
    );

    // Probe without a tap: the credential is there, another is not.
    assert!(client.probe(&credential, DEFAULT_RP_ID).expect("probe"));
    assert!(!client
        .probe(&CredentialId(vec![0u8; 64]), DEFAULT_RP_ID)
        .expect("probe"));

    // Ctrl-C during a presence wait sends the NFCCTAP cancel.
    card.set_presence("timeout");
    let prompt = ScriptedPrompt::new().cancel_after_keepalives(2);
    let error = client.select(&prompt).expect_err("cancelled");
    assert!(matches!(error, Error::Cancelled), "{error:?}");

    // The card leaves the reader while the authenticator waits for a touch.
    let transport = client.transport_mut();
    let remover = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        card.remove();
    });
    let error = transport
        .exchange(command::SELECTION, &[], &NoPrompt)
        .expect_err("the card left");
    remover.join().expect("removed");
    assert_eq!(error.kind, TransportErrorKind::Disconnected, "{error}");
    assert!(
        error
            .message
            .contains("hold your authenticator to the reader"),
        "{error}"
    );
}
