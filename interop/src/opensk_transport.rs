//! OpenSK (Google's CTAP 2.1 authenticator, the `opensk` crate) on its test
//! environment, reached through `CtapState::process_command`.

use opensk::api::user_presence::UserPresenceError;
use opensk::ctap::{Channel, CtapState};
use opensk::env::test::TestEnv;
use opensk::env::Env as _;
use tokenring_core::{
    Prompt, Reply, Transport, TransportError, TransportErrorKind, TransportInfo, TransportKind,
};

use crate::Presence;

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
pub(crate) fn opensk_env(presence: &Presence) -> TestEnv {
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
            kind: TransportKind::Sim,
            name: "OpenSK (TestEnv)".to_string(),
            path: "in-process".to_string(),
        }
    }

    fn reports_keepalive(&self) -> bool {
        false
    }
}
