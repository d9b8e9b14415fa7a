//! Finding the right authenticator among several without a tap, and the
//! tap race for a new vault (`tokenring::devices`), with simulated
//! authenticators standing in for USB and NFC ones.

#![cfg(feature = "sim")]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokenring::devices::{self, Candidate, Discovery, Problem};
use tokenring::Error;
use tokenring_core::transport::command;
use tokenring_core::{Authenticator, Ctap2Client, ScriptedPrompt, TransportKind, UserEntity};
use tokenring_sim::{ClockMode, PresencePolicy, SimConfig, SimTransport, Simulator};
use tokenring_vault::VaultCredential;

struct Sim {
    sim: Arc<Mutex<Simulator>>,
}

impl Sim {
    fn new(dir: &Path, name: &str, seed: u64, presence: PresencePolicy, clock: ClockMode) -> Sim {
        let mut sim = Simulator::create(SimConfig::with_seed(seed), &dir.join(name)).expect("sim");
        sim.set_presence_policy(presence);
        sim.set_clock(clock);
        Sim {
            sim: Arc::new(Mutex::new(sim)),
        }
    }

    fn candidate(&self) -> Candidate {
        let client = Ctap2Client::new(SimTransport::new(Arc::clone(&self.sim))).expect("client");
        Candidate::new(Box::new(client)).expect("candidate")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Simulator> {
        self.sim
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn enroll(&self) -> VaultCredential {
        let mut client =
            Ctap2Client::new(SimTransport::new(Arc::clone(&self.sim))).expect("client");
        let rp_id = tokenring_core::DEFAULT_RP_ID;
        let id = client
            .enroll(rp_id, &UserEntity::default(), &ScriptedPrompt::new())
            .expect("enroll");
        VaultCredential {
            rp_id: rp_id.to_string(),
            id,
        }
    }
}

fn discovery(candidates: Vec<Candidate>) -> Discovery {
    Discovery {
        candidates,
        problems: vec![Problem {
            device: Some((TransportKind::Hid, "/dev/hidraw7".into(), "Acme Key".into())),
            message: "permission denied opening /dev/hidraw7: install udev rules".into(),
        }],
    }
}

fn path_of(authenticator: &mut tokenring::devices::DynAuthenticator) -> String {
    authenticator.describe().expect("describe").path
}

#[test]
fn the_holder_is_found_without_a_touch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Sim::new(
        dir.path(),
        "a.json",
        1,
        PresencePolicy::approve(),
        ClockMode::Virtual,
    );
    let b = Sim::new(
        dir.path(),
        "b.json",
        2,
        PresencePolicy::approve(),
        ClockMode::Virtual,
    );
    let credential = b.enroll();
    let (a_before, b_before) = (a.lock().presence_requests(), b.lock().presence_requests());
    let prompt = ScriptedPrompt::new();
    let mut chosen = devices::find_holder(
        discovery(vec![a.candidate(), b.candidate()]),
        &credential,
        &prompt,
    )
    .expect("found");
    assert!(path_of(&mut chosen).ends_with("b.json"));
    assert_eq!(prompt.touches(), 0);
    assert!(
        prompt.events().iter().any(|e| matches!(
            e,
            tokenring_core::PromptEvent::Info(m) if m.starts_with("using ") && m.contains("b.json")
        )),
        "says which one it uses: {:?}",
        prompt.events()
    );
    assert_eq!(
        a.lock().presence_requests(),
        a_before,
        "no touch asked of a"
    );
    assert_eq!(
        b.lock().presence_requests(),
        b_before,
        "no touch asked of b"
    );
    assert_eq!(
        a.lock().request_count(command::GET_ASSERTION),
        1,
        "a probed once"
    );
}

#[test]
fn none_holds_it_lists_every_authenticator_tried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Sim::new(
        dir.path(),
        "a.json",
        1,
        PresencePolicy::approve(),
        ClockMode::Virtual,
    );
    let b = Sim::new(
        dir.path(),
        "b.json",
        2,
        PresencePolicy::approve(),
        ClockMode::Virtual,
    );
    let c = Sim::new(
        dir.path(),
        "c.json",
        3,
        PresencePolicy::approve(),
        ClockMode::Virtual,
    );
    let credential = c.enroll();
    let error = devices::find_holder(
        discovery(vec![a.candidate(), b.candidate()]),
        &credential,
        &ScriptedPrompt::new(),
    )
    .err()
    .expect("nobody holds it");
    let Error::WrongAuthenticator { tried } = &error else {
        panic!("{error}")
    };
    assert_eq!(tried.len(), 3, "{tried:?}");
    assert!(tried[0].contains("a.json") && tried[1].contains("b.json"));
    assert!(tried[2].contains("/dev/hidraw7") && tried[2].contains("udev"));
    assert!(error.to_string().starts_with(
        "none of the connected authenticators holds this vault's credential (tried: "
    ));
    assert_eq!(error.exit_code(), 4);
}

#[test]
fn nothing_connected_says_to_plug_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = Sim::new(
        dir.path(),
        "c.json",
        3,
        PresencePolicy::approve(),
        ClockMode::Virtual,
    );
    let credential = c.enroll();
    let error = devices::find_holder(discovery(Vec::new()), &credential, &ScriptedPrompt::new())
        .err()
        .expect("nothing");
    assert!(matches!(error, Error::NoAuthenticator { .. }));
    assert!(error
        .to_string()
        .contains("plug in your authenticator or hold it to the reader (tried: usb /dev/hidraw7 (Acme Key): permission denied"));
    assert_eq!(error.exit_code(), 3);
    let error = devices::choose_among(discovery(Vec::new()), &ScriptedPrompt::new())
        .err()
        .expect("nothing");
    assert_eq!(error.exit_code(), 3);
}

#[test]
fn a_single_authenticator_is_chosen_without_a_touch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Sim::new(
        dir.path(),
        "a.json",
        1,
        PresencePolicy::approve(),
        ClockMode::Virtual,
    );
    let prompt = ScriptedPrompt::new();
    let mut chosen = devices::choose_among(discovery(vec![a.candidate()]), &prompt).expect("one");
    assert!(path_of(&mut chosen).ends_with("a.json"));
    assert_eq!(prompt.touches(), 0);
    assert_eq!(a.lock().request_count(command::SELECTION), 0);
}

#[test]
fn with_several_the_first_touched_wins_and_the_others_are_cancelled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let slow = Sim::new(
        dir.path(),
        "slow.json",
        1,
        PresencePolicy::approve_after(Duration::from_secs(20)),
        ClockMode::Real,
    );
    let fast = Sim::new(
        dir.path(),
        "fast.json",
        2,
        PresencePolicy::approve_after(Duration::from_millis(200)),
        ClockMode::Real,
    );
    let slower = Sim::new(
        dir.path(),
        "slower.json",
        3,
        PresencePolicy::approve_after(Duration::from_secs(25)),
        ClockMode::Real,
    );
    let prompt = ScriptedPrompt::new();
    let start = Instant::now();
    let mut chosen = devices::choose_among(
        discovery(vec![slow.candidate(), fast.candidate(), slower.candidate()]),
        &prompt,
    )
    .expect("chosen");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "the others were cancelled"
    );
    assert!(path_of(&mut chosen).ends_with("fast.json"));
    for sim in [&slow, &fast, &slower] {
        assert_eq!(
            sim.lock().request_count(command::SELECTION),
            1,
            "sent to all"
        );
    }
    assert_eq!(prompt.touches(), 1, "one prompt for the race");
    // The chosen one works on after the race.
    let credential = {
        let rp_id = tokenring_core::DEFAULT_RP_ID;
        fast.lock().set_presence_policy(PresencePolicy::approve());
        let id = chosen
            .enroll(rp_id, &UserEntity::default(), &ScriptedPrompt::new())
            .expect("enroll on the chosen one");
        VaultCredential {
            rp_id: rp_id.to_string(),
            id,
        }
    };
    assert!(chosen
        .probe(&credential.id, &credential.rp_id)
        .expect("probe"));
}

#[test]
fn ctrl_c_during_the_race_cancels_every_authenticator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sims: Vec<Sim> = (0..2)
        .map(|i| {
            Sim::new(
                dir.path(),
                &format!("s{i}.json"),
                i,
                PresencePolicy::approve_after(Duration::from_secs(20)),
                ClockMode::Real,
            )
        })
        .collect();
    let prompt = ScriptedPrompt::new();
    let flag = prompt.cancel_flag().clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        flag.cancel();
    });
    let start = Instant::now();
    let error = devices::choose_among(
        discovery(sims.iter().map(Sim::candidate).collect()),
        &prompt,
    )
    .err()
    .expect("cancelled");
    canceller.join().expect("join");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(error.exit_code(), 130, "{error}");
}

#[test]
fn authenticators_without_hmac_secret_are_not_eligible() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Sim::new(
        dir.path(),
        "a.json",
        1,
        PresencePolicy::approve(),
        ClockMode::Virtual,
    );
    let b = Sim::new(
        dir.path(),
        "b.json",
        2,
        PresencePolicy::approve(),
        ClockMode::Virtual,
    );
    let without = || {
        let mut c = a.candidate();
        c.info.hmac_secret = false; // as a token without the extension reports it
        c
    };
    // Enrollment: the only eligible one is taken without a race.
    let prompt = ScriptedPrompt::new();
    let mut chosen =
        devices::choose_among(discovery(vec![without(), b.candidate()]), &prompt).expect("b");
    assert!(path_of(&mut chosen).ends_with("b.json"));
    assert_eq!(prompt.touches(), 0);
    assert_eq!(a.lock().request_count(command::SELECTION), 0);
    // Nothing eligible: the message says why.
    let error = devices::choose_among(discovery(vec![without()]), &ScriptedPrompt::new())
        .err()
        .expect("none eligible");
    assert!(
        error
            .to_string()
            .contains("a.json (TokenRing simulated authenticator): no hmac-secret support"),
        "{error}"
    );
    // Probing skips it.
    let credential = a.enroll();
    let error = devices::find_holder(
        discovery(vec![without()]),
        &credential,
        &ScriptedPrompt::new(),
    )
    .err()
    .expect("skipped");
    assert!(
        error.to_string().contains("no hmac-secret support"),
        "{error}"
    );
    assert_eq!(
        a.lock().request_count(command::GET_ASSERTION),
        0,
        "not probed"
    );
}

/// With a real FIDO2 authenticator (USB or NFC) connected:
///
///     cargo test -p tokenring --test cli_discovery -- --ignored --nocapture
///
/// Touch the authenticator when asked (twice: enroll and vault key; a PIN
/// is read from TOKENRING_PIN_FILE if the authenticator has one). Checks
/// that discovery finds it, that a new vault is made with it, and that the
/// probe for the vault's credential then picks it without a touch.
#[test]
#[ignore = "needs a real FIDO2 authenticator and touches"]
fn a_real_authenticator_is_discovered_enrolled_and_found_again() {
    use tokenring::devices::DeviceOptions;
    use tokenring::terminal::TerminalPrompt;
    let options = DeviceOptions::default();
    let list = devices::list_devices(&options);
    eprintln!("{list:#?}");
    assert!(
        list.devices.iter().any(|d| d.hmac_secret == Some(true)),
        "no usable authenticator connected"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let vault_path = dir.path().join("real.tokenvault");
    let prompt = TerminalPrompt::new();
    let vault = tokenring::inprocess::create_vault(&vault_path, &options, &prompt).expect("create");
    let credential = vault.credential();
    let scripted = ScriptedPrompt::new();
    let mut found =
        devices::open_for_credential(&options, &credential, &scripted).expect("found again");
    assert_eq!(scripted.touches(), 0);
    assert!(found
        .probe(&credential.id, &credential.rp_id)
        .expect("probe"));
}
