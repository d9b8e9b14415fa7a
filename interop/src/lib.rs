#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ctaphid_app::{App, Command};
use fido_authenticator::{Authenticator as FidoAuthenticator, Config, Conforming};
use heapless_bytes::Bytes;
use tokenring_core::TransportKind;
use tokenring_core::{Prompt, Reply, Transport, TransportError, TransportErrorKind, TransportInfo};
use trussed::backend::BackendId;
use trussed::platform::{Platform as _, UserInterface};
use trussed::types::ui::Status;
use trussed::virt::{self, StoreConfig};
use trussed_core::types::{consent::Level, reboot::To};
use trussed_staging::virt::{BackendIds, Client, Dispatcher};

use opensk::api::user_presence::UserPresenceError;
use opensk::ctap::{Channel, CtapState};
use opensk::env::test::TestEnv;
use opensk::env::Env as _;
use opensk::Ctap;
use tokenring_hid::{HidReports, HidTransport, REPORT_SIZE};

/// The largest CTAPHID message (the `ctaphid-dispatch` default, 7609 bytes:
/// 64-byte reports, one initialization and 128 continuation packets, CTAP 2.1
/// §11.2.4). Used as the authenticator's maxMsgSize and as our reply buffer.
pub const MAX_MESSAGE_SIZE: usize = 7609;

/// How long the authenticator waits for a touch that never comes, in
/// milliseconds. Short, so that tests of a missing touch stay fast.
pub const USER_PRESENCE_TIMEOUT_MS: u32 = 100;

/// The foreign authenticator as the trussed virtual platform runs it.
pub type VirtualFidoAuthenticator<'a> = FidoAuthenticator<Conforming, Client<'a>>;

/// Whether the simulated user touches the authenticator when asked.
///
/// Shared between the test and the platform's user interface, so a test can
/// stop touching halfway.
#[derive(Clone, Debug, Default)]
pub struct Presence(Arc<AtomicBool>);

impl Presence {
    /// A user who touches whenever asked.
    pub fn touching() -> Self {
        let presence = Presence::default();
        presence.set(true);
        presence
    }

    /// Starts (`true`) or stops (`false`) touching.
    pub fn set(&self, touching: bool) {
        self.0.store(touching, Ordering::SeqCst);
    }

    fn is_touching(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn level(&self) -> Level {
        if self.0.load(Ordering::SeqCst) {
            Level::Normal
        } else {
            Level::None
        }
    }
}

/// The user interface of the virtual platform: presence comes from a
/// [`Presence`]; everything else is ignored.
struct PresenceUi(Presence);

impl UserInterface for PresenceUi {
    fn check_user_presence(&mut self) -> Level {
        self.0.level()
    }

    fn set_status(&mut self, _status: Status) {}

    fn refresh(&mut self) {}

    // The virtual platform's own user interface answers uptime; the inner
    // one is never asked for it.
    fn uptime(&mut self) -> Duration {
        Duration::ZERO
    }

    fn reboot(&mut self, _to: To) -> ! {
        // Nothing asks a test platform to reboot; park the thread for good
        // rather than panic.
        loop {
            std::thread::park();
        }
    }

    fn wink(&mut self, _duration: Duration) {}
}

/// A [`Transport`] that hands each CTAP2 request, exactly as our client
/// encoded it, to an application that speaks CTAPHID's CBOR command
/// (CTAPHID_CBOR, CTAP 2.1 §11.2.9.1.2: the command byte followed by the
/// CBOR parameters; the answer is a status byte followed by the CBOR
/// response), in process and without framing.
///
/// The application answers synchronously and never sends keepalives, so
/// [`Transport::reports_keepalive`] is false and cancellation is not
/// supported.
pub struct CtaphidAppTransport<A> {
    app: A,
    name: String,
}

impl<A: App<'static>> CtaphidAppTransport<A> {
    /// Wraps `app`; `name` describes it in [`Transport::info`].
    pub fn new(app: A, name: impl Into<String>) -> Self {
        CtaphidAppTransport {
            app,
            name: name.into(),
        }
    }

    /// The wrapped application.
    pub fn app(&self) -> &A {
        &self.app
    }
}

impl<A: App<'static>> Transport for CtaphidAppTransport<A> {
    fn exchange(
        &mut self,
        command: u8,
        payload: &[u8],
        _prompt: &dyn Prompt,
    ) -> Result<Reply, TransportError> {
        let mut request = Vec::with_capacity(payload.len() + 1);
        request.push(command);
        request.extend_from_slice(payload);
        if request.len() > MAX_MESSAGE_SIZE {
            return Err(TransportError::new(
                TransportErrorKind::MessageTooLarge,
                format!(
                    "request of {} bytes exceeds the {MAX_MESSAGE_SIZE}-byte message size",
                    request.len()
                ),
            ));
        }
        let mut response: Box<Bytes<MAX_MESSAGE_SIZE>> = Box::default();
        self.app
            .call(Command::Cbor, &request, response.as_mut_view())
            .map_err(|error| {
                TransportError::new(
                    TransportErrorKind::Protocol,
                    format!("the authenticator rejected the CTAPHID_CBOR message: {error:?}"),
                )
            })?;
        let (status, body) = response.split_first().ok_or_else(|| {
            TransportError::new(
                TransportErrorKind::Protocol,
                "the authenticator answered with an empty message (no status byte)",
            )
        })?;
        Ok(Reply {
            status: *status,
            body: body.to_vec(),
        })
    }

    fn info(&self) -> TransportInfo {
        TransportInfo {
            kind: TransportKind::Simulator,
            name: self.name.clone(),
            path: "in-process".to_string(),
        }
    }

    fn reports_keepalive(&self) -> bool {
        false
    }
}

/// Runs `f` with a fresh `fido-authenticator` (RAM storage, no PIN, no
/// attestation certificate) on trussed's virtual platform, reached through a
/// [`CtaphidAppTransport`]. The user touches when `presence` says so.
///
/// The virtual platform's random number generator has a fixed seed, so every
/// run starts from the same authenticator state.
pub fn with_fido_authenticator<R>(
    presence: &Presence,
    f: impl FnOnce(CtaphidAppTransport<VirtualFidoAuthenticator<'_>>) -> R,
) -> R {
    virt::with_platform(StoreConfig::ram(), |mut platform| {
        platform
            .user_interface()
            .set_inner(Box::new(PresenceUi(presence.clone())));
        platform.run_client_with_backends(
            "fido",
            Dispatcher::default(),
            &[
                BackendId::Custom(BackendIds::StagingBackend),
                BackendId::Core,
            ],
            |client| {
                let mut config = Config::new(MAX_MESSAGE_SIZE);
                config.fido2_up_timeout = Some(USER_PRESENCE_TIMEOUT_MS);
                let authenticator = FidoAuthenticator::new(client, Conforming {}, config);
                f(CtaphidAppTransport::new(
                    authenticator,
                    "fido-authenticator (trussed virt)",
                ))
            },
        )
    })
}

/// OpenSK (Google's CTAP 2.1 authenticator, the `opensk` crate) on its test
/// environment (`TestEnv`: RAM storage, software crypto, a seeded RNG and a
/// virtual clock that only moves when told), reached in process: each
/// request goes to `CtapState::process_command` as `command byte || CBOR`,
/// exactly as CTAPHID_CBOR would carry it, and the answer is split into
/// status byte and CBOR.
///
/// OpenSK answers synchronously and never sends keepalives, so
/// [`Transport::reports_keepalive`] is false and cancellation is not
/// supported.
pub struct OpenSkTransport {
    env: TestEnv,
    state: CtapState<TestEnv>,
}

/// OpenSK's test environment whose user touches when `presence` says so.
/// While nobody touches, every poll of the touch sensor moves the virtual
/// clock on by [`OPENSK_POLL_MS`], so OpenSK's 30-second touch timeout runs
/// out at once in real time.
fn opensk_env(presence: &Presence) -> TestEnv {
    let mut env = TestEnv::default();
    let presence = presence.clone();
    let clock = env.clock().clone();
    env.user_presence().set(move || {
        if presence.is_touching() {
            Ok(())
        } else {
            clock.advance(OPENSK_POLL_MS);
            Err(UserPresenceError::Timeout)
        }
    });
    env
}

/// How far OpenSK's virtual clock moves per unanswered touch poll, in
/// milliseconds.
pub const OPENSK_POLL_MS: usize = 1000;

/// Any CTAPHID channel id will do: OpenSK only tells channels apart.
const OPENSK_CHANNEL: Channel = Channel::MainHid([0x54, 0x52, 0x49, 0x4E]);

impl OpenSkTransport {
    /// A freshly booted OpenSK (no PIN, default customization) whose user
    /// touches when `presence` says so (see [`OPENSK_POLL_MS`]).
    pub fn new(presence: &Presence) -> Self {
        let mut env = opensk_env(presence);
        let state = CtapState::new(&mut env);
        OpenSkTransport { env, state }
    }

    /// Unplugs and replugs the authenticator: its RAM state (key agreement
    /// key, PIN tokens, the consecutive-wrong-PIN counter) starts afresh,
    /// its storage (credentials' master keys, PIN, retries) stays, and a
    /// reset is allowed again.
    pub fn power_cycle(&mut self) {
        self.state = CtapState::new(&mut self.env);
    }
}

impl Transport for OpenSkTransport {
    fn exchange(
        &mut self,
        command: u8,
        payload: &[u8],
        _prompt: &dyn Prompt,
    ) -> Result<Reply, TransportError> {
        let mut request = Vec::with_capacity(payload.len() + 1);
        request.push(command);
        request.extend_from_slice(payload);
        let response = self
            .state
            .process_command(&mut self.env, &request, OPENSK_CHANNEL);
        let (status, body) = response.split_first().ok_or_else(|| {
            TransportError::new(
                TransportErrorKind::Protocol,
                "OpenSK answered with an empty message (no status byte)",
            )
        })?;
        Ok(Reply {
            status: *status,
            body: body.to_vec(),
        })
    }

    fn info(&self) -> TransportInfo {
        TransportInfo {
            kind: TransportKind::Simulator,
            name: "OpenSK (TestEnv)".to_string(),
            path: "in-process".to_string(),
        }
    }

    fn reports_keepalive(&self) -> bool {
        false
    }
}

/// OpenSK as a USB HID device: 64-byte reports go through OpenSK's own
/// CTAPHID layer (channel allocation, fragmentation, reassembly, CTAP 2.1
/// §11.2), so that our CTAPHID client (`tokenring-hid`) meets a framing
/// implementation that is not ours.
///
/// OpenSK answers every output report at once; the answer's reports wait in
/// a queue for [`HidReports::read_report`]. Keepalives that OpenSK sends
/// while it waits for a touch go to its test environment, which drops them.
pub struct OpenSkHidDevice {
    ctap: Ctap<TestEnv>,
    pending: VecDeque<[u8; REPORT_SIZE]>,
}

impl OpenSkHidDevice {
    /// A freshly booted OpenSK whose user touches when `presence` says so.
    pub fn new(presence: &Presence) -> Self {
        OpenSkHidDevice {
            ctap: Ctap::new(opensk_env(presence)),
            pending: VecDeque::new(),
        }
    }

    /// Our CTAPHID transport over this device, with a channel allocated.
    pub fn connect(presence: &Presence) -> Result<HidTransport<OpenSkHidDevice>, TransportError> {
        HidTransport::connect(
            OpenSkHidDevice::new(presence),
            TransportInfo {
                kind: TransportKind::Hid,
                name: "OpenSK (TestEnv, CTAPHID)".to_string(),
                path: "in-process".to_string(),
            },
        )
    }
}

impl HidReports for OpenSkHidDevice {
    fn write_report(&mut self, report: &[u8; REPORT_SIZE]) -> Result<(), TransportError> {
        let answer = self
            .ctap
            .process_hid_packet(report, opensk::Transport::MainHid);
        self.pending.extend(answer);
        Ok(())
    }

    fn read_report(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<[u8; REPORT_SIZE]>, TransportError> {
        // Everything OpenSK will ever say to a write is already queued: when
        // the queue is empty, nothing more will come. Pause briefly so that
        // a caller waiting in a loop does not spin.
        let report = self.pending.pop_front();
        if report.is_none() {
            std::thread::sleep(timeout.min(Duration::from_millis(1)));
        }
        Ok(report)
    }
}
