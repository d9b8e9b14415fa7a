//! Where authenticators differ: the behaviour a personality gives the
//! simulator.

use std::time::Duration;

use tokenring_core::Status;

/// How the simulator behaves where the specification leaves a choice, or
/// where products of an older specification answer otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Profile {
    /// CTAP 2.1 (`FIDO_2_1` in versions): authenticatorSelection, the
    /// clientPIN subcommands with permissions, tokens that lose their
    /// permissions after one use with user presence.
    pub ctap21: bool,
    /// authenticatorConfig (getInfo `authnrCfg`): toggleAlwaysUv and
    /// setMinPINLength, and the acfg permission.
    pub authnr_cfg: bool,
    /// How long after power-up authenticatorReset is allowed (§6.6 leaves
    /// it to the authenticator).
    pub reset_window: Duration,
    /// The answer to setPIN when a PIN is set.
    pub set_pin_when_set: Status,
}

impl Profile {
    /// This simulator as written from CTAP 2.1.
    pub(crate) const CTAP_2_1: Profile = Profile {
        ctap21: true,
        authnr_cfg: true,
        reset_window: Duration::from_secs(10),
        set_pin_when_set: Status::PinAuthInvalid,
    };
}
