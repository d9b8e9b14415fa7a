//! [`ScriptedPrompt`]: a [`Prompt`] whose PIN answers come from a script
//! and which records everything it is shown.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::{CancelFlag, KeepaliveStatus, Pin, PinPurpose, PinRequest, Prompt};

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
