//! The discovery joint through the public API: several sources (USB HID,
//! the simulator, a source of the test's own), the holder of a credential
//! found without a tap, a wrong token, an inaccessible device with the udev
//! hint, and tap-to-choose with the rest cancelled.
//!
//! USB HID devices are simulated authenticators behind the simulator's
//! CTAPHID front end, listed by a [`HidBackend`] of the test's, so the real
//! [`HidSource`] does the listing, the opening and the CTAPHID framing.

#![cfg(all(feature = "hid", feature = "sim", feature = "cli"))]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokenring::{
    Authenticator, AuthenticatorError, AuthenticatorInfo, Device, Discovery, DynAuthenticator,
    HidSource, Prompt, Selector, SimSource, Source, Tokenring, TransportKind,
};
use tokenring_core::command;
use tokenring_core::testing::{PromptEvent, ScriptedPrompt};
use tokenring_core::{CredentialId, Ctap2Client, TransportError};
use tokenring_hid::{DynReports, FoundDevice, HidBackend, HidDeviceInfo, HidError, HidReports};
use tokenring_sim::{ClockMode, PresencePolicy, SimConfig, SimTransport, Simulator};
use tokenring_sim::{SimHidConnection, SimHidDevice, SimHidOptions};

const RP_ID: &str = tokenring_core::DEFAULT_RP_ID;

/// A simulated USB authenticator: a simulator behind a CTAPHID device.
struct UsbSim {
    path: String,
    sim: Arc<Mutex<Simulator>>,
    device: Arc<SimHidDevice>,
}

impl UsbSim {
    fn new(path: &str, seed: u64, presence: PresencePolicy) -> UsbSim {
        let mut simulator = Simulator::new(SimConfig::with_seed(seed));
        simulator.set_presence_policy(presence);
        simulator.set_clock(ClockMode::Real);
        let sim = Arc::new(Mutex::new(simulator));
        let device = SimHidDevice::shared(Arc::clone(&sim), SimHidOptions::default());
        UsbSim {
            path: path.to_string(),
            sim,
            device: Arc::new(device),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Simulator> {
        self.sim.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A credential made on this authenticator (directly, not through
    /// discovery).
    fn enroll(&self) -> CredentialId {
        let mut client = Ctap2Client::new(SimTransport::new(Arc::clone(&self.sim))).unwrap();
        self.lock().set_presence_policy(PresencePolicy::approve());
        client
            .enroll(RP_ID, &Default::default(), &ScriptedPrompt::new())
            .unwrap()
    }

    fn touches(&self) -> usize {
        self.lock().presence_requests()
    }

    fn requests(&self, command: u8) -> usize {
        self.lock().request_count(command)
    }
}

/// One connection to a simulated device, as CTAPHID reports.
struct Reports(SimHidConnection);

impl HidReports for Reports {
    fn write_report(&mut self, report: &[u8; 64]) -> Result<(), TransportError> {
        self.0.write_report(report).map_err(|e| {
            TransportError::new(
                tokenring_core::TransportErrorKind::Disconnected,
                e.to_string(),
            )
        })
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<[u8; 64]>, TransportError> {
        Ok(self.0.read_report(timeout))
    }
}

/// The "operating system" of the test: simulated devices, and device nodes
/// this user may not open.
#[derive(Default, Clone)]
struct Backend {
    devices: Vec<(String, Arc<SimHidDevice>)>,
    denied: Vec<String>,
}

impl Backend {
    fn with(mut self, usb: &UsbSim) -> Backend {
        self.devices
            .push((usb.path.clone(), Arc::clone(&usb.device)));
        self
    }

    fn denied(mut self, path: &str) -> Backend {
        self.denied.push(path.to_string());
        self
    }
}

fn info(path: &str) -> HidDeviceInfo {
    HidDeviceInfo {
        path: path.to_string(),
        product: "Simulated Key".into(),
        manufacturer: "Acme".into(),
        serial: String::new(),
        vendor_id: 0x1234,
        product_id: 0x5678,
    }
}

impl HidBackend for Backend {
    fn enumerate(&self) -> Result<Vec<FoundDevice>, HidError> {
        let usable = self.devices.iter().map(|(path, _)| FoundDevice {
            info: info(path),
            access: Ok(()),
        });
        let denied = self.denied.iter().map(|path| FoundDevice {
            info: info(path),
            access: Err(HidError::PermissionDenied { path: path.clone() }),
        });
        Ok(usable.chain(denied).collect())
    }

    fn open(&self, path: &str) -> Result<DynReports, HidError> {
        if self.denied.iter().any(|p| p == path) {
            return Err(HidError::PermissionDenied {
                path: path.to_string(),
            });
        }
        let (_, device) = self
            .devices
            .iter()
            .find(|(p, _)| p == path)
            .ok_or_else(|| HidError::NotFound {
                path: path.to_string(),
            })?;
        Ok(Box::new(Reports(device.connect())))
    }
}

fn usb(backend: Backend) -> HidSource {
    HidSource::with_backend(backend)
}

fn infos(prompt: &ScriptedPrompt) -> Vec<String> {
    prompt
        .events()
        .into_iter()
        .filter_map(|e| match e {
            PromptEvent::Info(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn path_of(authenticator: &mut DynAuthenticator) -> String {
    authenticator.describe().unwrap().path
}

#[test]
fn across_several_sources_the_holder_is_found_without_a_tap() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sim.json");
    Simulator::create(SimConfig::with_seed(9), &state).unwrap();
    let a = UsbSim::new("/dev/hidraw1", 1, PresencePolicy::approve());
    let b = UsbSim::new("/dev/hidraw2", 2, PresencePolicy::approve());
    let credential = b.enroll();
    let (a_before, b_before) = (a.touches(), b.touches());
    let discovery = Discovery::new()
        .with_source(SimSource::new().with_state_file(&state))
        .with_source(usb(Backend::default()
            .with(&a)
            .with(&b)
            .denied("/dev/hidraw7")));

    let prompt = ScriptedPrompt::new();
    let mut found = discovery.find_holder(&credential, RP_ID, &prompt).unwrap();

    assert_eq!(found.device.selector, Selector::Hid("/dev/hidraw2".into()));
    assert_eq!(path_of(&mut found.authenticator), "/dev/hidraw2");
    assert_eq!(found.info.transport, TransportKind::Hid);
    assert_eq!(prompt.touches(), 0, "no touch asked for");
    assert_eq!((a.touches(), b.touches()), (a_before, b_before));
    assert_eq!(a.requests(command::GET_ASSERTION), 1, "a probed once");
    assert!(
        infos(&prompt)
            .iter()
            .any(|m| m == "using hid:/dev/hidraw2 (Acme Simulated Key)"),
        "says which one it uses: {:?}",
        prompt.events()
    );
    // The simulator source was asked too, and warned about.
    let warning = tokenring::simulator_warning(&state.display().to_string());
    assert!(prompt
        .events()
        .iter()
        .any(|e| matches!(e, PromptEvent::Info(m) if *m == warning)));
    // The authenticator found works on: the probe holds, no tap.
    assert!(found.authenticator.probe(&credential, RP_ID).unwrap());
}

#[test]
fn a_wrong_token_names_every_authenticator_tried() {
    let a = UsbSim::new("/dev/hidraw1", 1, PresencePolicy::approve());
    let b = UsbSim::new("/dev/hidraw2", 2, PresencePolicy::approve());
    let elsewhere = UsbSim::new("/dev/hidraw9", 3, PresencePolicy::approve());
    let credential = elsewhere.enroll();
    let discovery = Discovery::new().with_source(usb(Backend::default()
        .with(&a)
        .with(&b)
        .denied("/dev/hidraw7")));
    let error = discovery
        .find_holder(&credential, RP_ID, &ScriptedPrompt::new())
        .unwrap_err();
    let AuthenticatorError::WrongAuthenticator { tried } = &error else {
        panic!("{error}")
    };
    assert_eq!(tried.len(), 3, "{tried:?}");
    assert_eq!(tried[0], "hid:/dev/hidraw1 (Acme Simulated Key)");
    assert_eq!(tried[1], "hid:/dev/hidraw2 (Acme Simulated Key)");
    assert!(
        tried[2].starts_with("hid:/dev/hidraw7 (Acme Simulated Key): permission denied"),
        "{tried:?}"
    );
    assert!(error.to_string().starts_with(
        "none of the connected authenticators holds this vault's credential (tried: "
    ));
    assert_eq!((a.touches(), b.touches()), (0, 0));
}

#[test]
fn an_inaccessible_device_is_listed_with_the_udev_hint() {
    let source = usb(Backend::default().denied("/dev/hidraw7"));
    let devices = source.list().unwrap();
    assert_eq!(devices.len(), 1);
    let Device {
        selector, problem, ..
    } = &devices[0];
    assert_eq!(selector, &Selector::Hid("/dev/hidraw7".into()));
    let problem = problem.as_ref().expect("a problem");
    assert_eq!(
        problem.kind,
        tokenring_core::TransportErrorKind::PermissionDenied
    );
    assert!(problem.message.contains("udev"), "{problem}");

    // Nothing else connected: "no authenticator", with the reason and fix.
    let discovery = Discovery::new().with_source(source);
    let credential = UsbSim::new("/dev/x", 4, PresencePolicy::approve()).enroll();
    let error = discovery
        .find_holder(&credential, RP_ID, &ScriptedPrompt::new())
        .unwrap_err();
    assert!(
        matches!(error, AuthenticatorError::NoAuthenticator { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with("no authenticator found: plug in your authenticator or hold it to the reader (tried: hid:/dev/hidraw7 (Acme Simulated Key): permission denied"),
        "{message}"
    );
    assert!(message.contains("udev"), "{message}");
    let error = discovery.choose(&ScriptedPrompt::new()).unwrap_err();
    assert!(matches!(error, AuthenticatorError::NoAuthenticator { .. }));
}

#[test]
fn one_eligible_authenticator_is_chosen_without_a_tap() {
    let a = UsbSim::new("/dev/hidraw1", 1, PresencePolicy::approve());
    let discovery =
        Discovery::new().with_source(usb(Backend::default().with(&a).denied("/dev/hidraw7")));
    let prompt = ScriptedPrompt::new();
    let mut chosen = discovery.choose(&prompt).unwrap();
    assert_eq!(path_of(&mut chosen.authenticator), "/dev/hidraw1");
    assert_eq!(prompt.touches(), 0);
    assert_eq!(a.requests(command::SELECTION), 0);
}

#[test]
fn with_several_the_first_touched_wins_and_the_rest_are_cancelled() {
    let slow = UsbSim::new(
        "/dev/hidraw1",
        1,
        PresencePolicy::approve_after(Duration::from_secs(20)),
    );
    let fast = UsbSim::new(
        "/dev/hidraw2",
        2,
        PresencePolicy::approve_after(Duration::from_millis(200)),
    );
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("slower.json");
    Simulator::create(SimConfig::with_seed(3), &state).unwrap();
    // Two sources: USB, and a simulator whose user never touches.
    let discovery = Discovery::new()
        .with_source(usb(Backend::default().with(&slow).with(&fast)))
        .with_source(
            SimSource::new()
                .with_state_file(&state)
                .presence(PresencePolicy::approve_after(Duration::from_secs(25))),
        );
    let prompt = ScriptedPrompt::new();
    let start = Instant::now();
    let mut chosen = discovery.choose(&prompt).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "the others were cancelled: {:?}",
        start.elapsed()
    );
    assert_eq!(path_of(&mut chosen.authenticator), "/dev/hidraw2");
    for usb in [&slow, &fast] {
        assert_eq!(usb.requests(command::SELECTION), 1, "sent to all");
    }
    assert_eq!(prompt.touches(), 1, "one prompt for the race");
    // The chosen one works on after the race: enroll on it, find it again.
    fast.lock().set_presence_policy(PresencePolicy::approve());
    let credential = chosen
        .authenticator
        .enroll(RP_ID, &Default::default(), &ScriptedPrompt::new())
        .unwrap();
    let mut again = discovery
        .find_holder(&credential, RP_ID, &ScriptedPrompt::new())
        .unwrap();
    assert_eq!(path_of(&mut again.authenticator), "/dev/hidraw2");
}

#[test]
fn cancelling_the_race_cancels_every_authenticator() {
    let sims: Vec<UsbSim> = (0..2)
        .map(|i| {
            UsbSim::new(
                &format!("/dev/hidraw{i}"),
                i,
                PresencePolicy::approve_after(Duration::from_secs(20)),
            )
        })
        .collect();
    let backend = sims
        .iter()
        .fold(Backend::default(), |backend, sim| backend.with(sim));
    let discovery = Discovery::new().with_source(usb(backend));
    let prompt = ScriptedPrompt::new();
    let flag = prompt.cancel_flag().clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        flag.cancel();
    });
    let start = Instant::now();
    let error = discovery.choose(&prompt).unwrap_err();
    canceller.join().unwrap();
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(error.is_cancelled(), "{error}");
}

/// A source of the test's own: one authenticator that says it has no
/// hmac-secret (as a token without the extension does).
struct WithoutHmacSecret(Arc<Mutex<Simulator>>);

struct Claims(DynAuthenticator);

impl Authenticator for Claims {
    fn describe(&mut self) -> Result<AuthenticatorInfo, AuthenticatorError> {
        let mut info = self.0.describe()?;
        info.hmac_secret = false;
        Ok(info)
    }
    fn enroll(
        &mut self,
        rp_id: &str,
        user: &tokenring_core::UserEntity,
        prompt: &dyn Prompt,
    ) -> Result<CredentialId, AuthenticatorError> {
        self.0.enroll(rp_id, user, prompt)
    }
    fn derive(
        &mut self,
        request: &tokenring_core::DeriveRequest<'_>,
        prompt: &dyn Prompt,
    ) -> Result<tokenring_core::HmacSecretOutput, AuthenticatorError> {
        self.0.derive(request, prompt)
    }
    fn probe(
        &mut self,
        credential: &CredentialId,
        rp_id: &str,
    ) -> Result<bool, AuthenticatorError> {
        self.0.probe(credential, rp_id)
    }
    fn select(&mut self, prompt: &dyn Prompt) -> Result<(), AuthenticatorError> {
        self.0.select(prompt)
    }
}

impl Source for WithoutHmacSecret {
    fn transport(&self) -> TransportKind {
        TransportKind::Nfc
    }
    fn list(&self) -> Result<Vec<Device>, AuthenticatorError> {
        Ok(vec![Device {
            selector: Selector::Nfc("Old Reader".into()),
            name: "Old Reader".into(),
            problem: None,
        }])
    }
    fn open(&self, _: &Selector) -> Result<DynAuthenticator, AuthenticatorError> {
        let client = Ctap2Client::new(SimTransport::new(Arc::clone(&self.0)))?;
        Ok(Box::new(Claims(Box::new(client))))
    }
}

#[test]
fn authenticators_without_hmac_secret_are_not_eligible() {
    let old = Arc::new(Mutex::new(Simulator::new(SimConfig::with_seed(5))));
    let b = UsbSim::new("/dev/hidraw2", 2, PresencePolicy::approve());
    let discovery = Discovery::new()
        .with_source(WithoutHmacSecret(Arc::clone(&old)))
        .with_source(usb(Backend::default().with(&b)));
    // For a new vault, the only eligible one is taken without a race.
    let prompt = ScriptedPrompt::new();
    let mut chosen = discovery.choose(&prompt).unwrap();
    assert_eq!(path_of(&mut chosen.authenticator), "/dev/hidraw2");
    assert_eq!(prompt.touches(), 0);
    assert_eq!(old.lock().unwrap().request_count(command::SELECTION), 0);
    // Nothing eligible: the message says why.
    let alone = Discovery::new().with_source(WithoutHmacSecret(Arc::clone(&old)));
    let error = alone.choose(&ScriptedPrompt::new()).unwrap_err();
    assert!(
        error.to_string().contains("no hmac-secret support"),
        "{error}"
    );
    // Probing skips it.
    let credential = b.enroll();
    let error = alone
        .find_holder(&credential, RP_ID, &ScriptedPrompt::new())
        .unwrap_err();
    assert!(
        error.to_string().contains("no hmac-secret support"),
        "{error}"
    );
    assert_eq!(old.lock().unwrap().request_count(command::GET_ASSERTION), 0);
}

#[test]
fn the_simulator_is_used_only_when_named_and_always_warns() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sim.json");
    Simulator::create(SimConfig::with_seed(6), &state).unwrap();
    // The facade's default sources list no simulator…
    let tokenring = Tokenring::new();
    assert!(tokenring
        .discovery()
        .list()
        .devices
        .iter()
        .all(|d| d.selector.transport() != TransportKind::Sim));
    // …but open one by name, and warn that it protects nothing.
    let named = tokenring.only(Selector::Sim(state.clone()));
    assert_eq!(named.discovery().list().devices.len(), 1);
    let prompt = ScriptedPrompt::new();
    let opened = named.discovery().choose(&prompt).unwrap();
    assert_eq!(opened.info.transport, TransportKind::Sim);
    let warning = infos(&prompt);
    assert_eq!(warning.len(), 1, "{warning:?}");
    assert!(warning[0].contains(&state.display().to_string()));
    assert!(warning[0].ends_with(tokenring::SIMULATOR_WARNING));
}

#[test]
fn a_selector_for_a_missing_transport_says_so() {
    let discovery = Discovery::new().with_source(SimSource::new());
    let error = discovery
        .open(
            &Selector::Hid("/dev/hidraw0".into()),
            &ScriptedPrompt::new(),
        )
        .unwrap_err();
    assert!(
        matches!(error, AuthenticatorError::BadSelector(_)),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "hid:/dev/hidraw0: this program was built without hid support"
    );
}

/// With a real FIDO2 authenticator (USB or NFC) connected:
///
///     cargo test -p tokenring --test discovery -- --ignored --nocapture
///
/// Touch the authenticator when asked (twice: enroll and vault key; a PIN
/// is asked for on the terminal if the authenticator has one). Checks that
/// discovery finds it, that a new vault is made with it, and that the probe
/// for the vault's credential then picks it without a touch.
#[test]
#[ignore = "needs a real FIDO2 authenticator and touches: cargo test -p tokenring --test discovery -- --ignored"]
fn a_real_authenticator_is_discovered_enrolled_and_found_again() {
    let tokenring = Tokenring::new();
    let listing = tokenring.discovery().list();
    eprintln!("{listing:#?}");
    assert!(!listing.devices.is_empty(), "no authenticator connected");
    let dir = tempfile::tempdir().unwrap();
    let vault: PathBuf = dir.path().join("real.tokenvault");
    let prompt = tokenring::app::terminal::TerminalPrompt::new();
    tokenring.create(&vault, &prompt).unwrap();
    let credential = tokenring_vault::Vault::credential_of(Path::new(&vault)).unwrap();
    let scripted = ScriptedPrompt::new();
    let mut found = tokenring
        .discovery()
        .find_holder(&credential.id, &credential.rp_id, &scripted)
        .unwrap();
    assert_eq!(scripted.touches(), 0);
    assert!(found
        .authenticator
        .probe(&credential.id, &credential.rp_id)
        .unwrap());
}
