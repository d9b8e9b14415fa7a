//! User interaction, injected: the CLI shows it on the terminal, the agent
//! relays it to its client's terminal, tests script it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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

/// What a [`ScriptedPrompt`] saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptEvent {
    /// `touch_needed(purpose)`.
    TouchNeeded(String),
    /// `touch_done()`.
    TouchDone,
    /// `pin(request)`: purpose kind, retries, previous_wrong, and whether an
    /// answer was given.
    Pin {
        /// The kind of PIN asked for.
        kind: PinPurpose,
        /// Retries left, as the client reported them.
        retries: Option<u8>,
        /// The previous attempt was wrong.
        previous_wrong: bool,
        /// A PIN was given (false: declined).
        answered: bool,
    },
    /// `keepalive(status)`.
    Keepalive(KeepaliveStatus),
    /// `info(message)`.
    Info(String),
}

/// A prompt for tests: PIN answers from a script, every event recorded,
/// cancellation on demand (optionally after the n-th keepalive).
#[derive(Default)]
pub struct ScriptedPrompt {
    pins: Mutex<VecDeque<Option<String>>>,
    events: Mutex<Vec<PromptEvent>>,
    cancel: CancelFlag,
    cancel_after_keepalives: Mutex<Option<usize>>,
}

impl ScriptedPrompt {
    /// A prompt with no PIN answers (declines every request).
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers the next PIN request with `pin`.
    pub fn with_pin(self, pin: &str) -> Self {
        self.push_pin(Some(pin));
        self
    }

    /// Queues an answer (`None`: decline) for the next PIN request.
    pub fn push_pin(&self, pin: Option<&str>) {
        lock(&self.pins).push_back(pin.map(str::to_string));
    }

    /// Cancels once `n` keepalives have been seen.
    pub fn cancel_after_keepalives(self, n: usize) -> Self {
        *lock(&self.cancel_after_keepalives) = Some(n);
        self
    }

    /// The cancel flag (set it to cancel).
    pub fn cancel_flag(&self) -> &CancelFlag {
        &self.cancel
    }

    /// Everything seen so far.
    pub fn events(&self) -> Vec<PromptEvent> {
        lock(&self.events).clone()
    }

    /// How many times a touch was asked for.
    pub fn touches(&self) -> usize {
        lock(&self.events)
            .iter()
            .filter(|e| matches!(e, PromptEvent::TouchNeeded(_)))
            .count()
    }

    /// How many PIN requests were made.
    pub fn pin_requests(&self) -> usize {
        lock(&self.events)
            .iter()
            .filter(|e| matches!(e, PromptEvent::Pin { .. }))
            .count()
    }

    fn record(&self, event: PromptEvent) {
        lock(&self.events).push(event);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Prompt for ScriptedPrompt {
    fn touch_needed(&self, purpose: &str) {
        self.record(PromptEvent::TouchNeeded(purpose.to_string()));
    }

    fn touch_done(&self) {
        self.record(PromptEvent::TouchDone);
    }

    fn pin(&self, request: &PinRequest<'_>) -> Option<Pin> {
        let answer = lock(&self.pins).pop_front().flatten();
        self.record(PromptEvent::Pin {
            kind: request.kind,
            retries: request.retries,
            previous_wrong: request.previous_wrong,
            answered: answer.is_some(),
        });
        answer.map(Pin::new)
    }

    fn keepalive(&self, status: KeepaliveStatus) {
        self.record(PromptEvent::Keepalive(status));
        let seen = lock(&self.events)
            .iter()
            .filter(|e| matches!(e, PromptEvent::Keepalive(_)))
            .count();
        if let Some(n) = *lock(&self.cancel_after_keepalives) {
            if seen >= n {
                self.cancel.cancel();
            }
        }
    }

    fn info(&self, message: &str) {
        self.record(PromptEvent::Info(message.to_string()));
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
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
