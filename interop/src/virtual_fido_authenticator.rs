//! `fido-authenticator` (the FIDO app of the Nitrokey 3 and Solo 2
//! firmware) on trussed's virtual platform.

use std::time::Duration;

use fido_authenticator::{Authenticator as FidoAuthenticator, Config, Conforming};
use trussed::backend::BackendId;
use trussed::platform::{Platform as _, UserInterface};
use trussed::types::ui::Status;
use trussed::virt::{self, StoreConfig};
use trussed_core::types::{consent::Level, reboot::To};
use trussed_staging::virt::{BackendIds, Client, Dispatcher};

use apdu_dispatch::interchanges::Channel;
use tokenring_sim::VirtualCard;

use crate::{CtaphidAppTransport, FidoCard, Presence, MAX_MESSAGE_SIZE};

/// How long the authenticator waits for a touch that never comes, in
/// milliseconds (real time: trussed's virtual clock is the wall clock).
/// Short, so that tests of a missing touch stay fast; long enough that a
/// loaded machine never turns a touch into a timeout.
pub const USER_PRESENCE_TIMEOUT_MS: u32 = 500;

/// The foreign authenticator as the trussed virtual platform runs it.
pub type VirtualFidoAuthenticator<'a> = FidoAuthenticator<Conforming, Client<'a>>;

/// The user interface of the virtual platform: presence comes from a
/// [`Presence`]; everything else is ignored.
struct PresenceUi(Presence);

impl UserInterface for PresenceUi {
    fn check_user_presence(&mut self) -> Level {
        level(&self.0)
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

/// The consent level the platform reports for `presence`.
fn level(presence: &Presence) -> Level {
    if presence.is_touching() {
        Level::Normal
    } else {
        Level::None
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

/// Runs `f` with a fresh `fido-authenticator` as a contactless card
/// ([`FidoCard`]: its APDU interface behind apdu-dispatch), for
/// [`tokenring_sim::serve_vpcd_card`] to put on pcscd's reader. Like
/// [`with_fido_authenticator`] otherwise (RAM storage, no PIN, presence from
/// `presence`); its getInfo lists the `nfc` transport.
///
/// Everything that touches the authenticator runs on this thread, inside
/// the virtual platform; a client talks to the card through pcscd from
/// another thread.
pub fn with_fido_card<R>(presence: &Presence, f: impl FnOnce(&mut dyn VirtualCard) -> R) -> R {
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
                config.nfc_transport = true;
                let authenticator = FidoAuthenticator::new(client, Conforming {}, config);
                let contact = Channel::new();
                let contactless = Channel::new();
                let mut card = FidoCard::new(authenticator, &contact, &contactless);
                f(&mut card)
            },
        )
    })
}
