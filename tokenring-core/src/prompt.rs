//! User interaction, injected: the CLI shows it on the terminal, the agent
//! relays it to its client's terminal, tests script it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::Pin;

/// A keepalive from the authenticator while it works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepaliveStatus {
    /// The authenticator is processing.
    Processing,
    /// The authenticator waits for the user to touch it.
    UserPresenceNeeded,
}

/// Why a PIN is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinPurpose {
    /// To verify the user for an operation.
    Verify,
    /// A new PIN to set (there is none yet).
    SetNew,
    /// The current PIN, before changing it.
    ChangeCurrent,
    /// The new PIN, when changing it.
    ChangeNew,
}

/// A request for the PIN.
#[derive(Debug, Clone)]
pub struct PinRequest<'a> {
    /// What the PIN is for, in words for the user.
    pub purpose: &'a str,
    /// Which PIN is asked for.
    pub kind: PinPurpose,
    /// PIN retries left before the authenticator blocks, when known.
    pub retries: Option<u8>,
    /// The previous attempt in this operation was wrong.
    pub previous_wrong: bool,
}

/// User interaction during an authenticator operation.
///
/// Every method has a default, so an implementation overrides only what it
/// shows. Cancellation is polled: transports call [`Prompt::is_cancelled`]
/// while they wait and then send the CTAP cancel for their transport.
pub trait Prompt {
    /// The user must touch the authenticator; `purpose` says why
    /// ("unlock the vault", "decrypt the password for 'alice' in 'bank.example'").
    fn touch_needed(&self, purpose: &str) {
        let _ = purpose;
    }

    /// The touch arrived (or the wait ended).
    fn touch_done(&self) {}

    /// Asks for the PIN; `None` means the user declined.
    fn pin(&self, request: &PinRequest<'_>) -> Option<Pin> {
        let _ = request;
        None
    }

    /// A keepalive from the authenticator.
    fn keepalive(&self, status: KeepaliveStatus) {
        let _ = status;
    }

    /// A progress or information message for the user.
    fn info(&self, message: &str) {
        let _ = message;
    }

    /// Something the user must know before going on (e.g. that the
    /// authenticator in use is the software one, which protects nothing).
    /// The default shows it as [`info`](Self::info).
    fn warning(&self, message: &str) {
        self.info(message);
    }

    /// Whether the user asked to cancel (Ctrl-C); polled while waiting.
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// Shows nothing, declines every PIN request, never cancels.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoPrompt;

impl Prompt for NoPrompt {}

/// A shareable cancellation flag (set from a signal handler or another
/// thread, polled by transports through a [`Prompt`]).
#[derive(Debug, Default, Clone)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A new, unset flag.
    pub fn new() -> Self {
        Self::default()
    }
    /// Requests cancellation.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// Clears the flag.
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl<P: Prompt + ?Sized> Prompt for &P {
    fn touch_needed(&self, purpose: &str) {
        (**self).touch_needed(purpose)
    }
    fn touch_done(&self) {
        (**self).touch_done()
    }
    fn pin(&self, request: &PinRequest<'_>) -> Option<Pin> {
        (**self).pin(request)
    }
    fn keepalive(&self, status: KeepaliveStatus) {
        (**self).keepalive(status)
    }
    fn info(&self, message: &str) {
        (**self).info(message)
    }
    fn warning(&self, message: &str) {
        (**self).warning(message)
    }
    fn is_cancelled(&self) -> bool {
        (**self).is_cancelled()
    }
}
