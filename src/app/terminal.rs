//! The CLI's [`Prompt`]: touch prompts on stderr with their purpose, PIN
//! entry hidden on the terminal (`/dev/tty`) with the retries left, and
//! Ctrl-C as a cancel.
//!
//! - Touch: "Touch your authenticator to decrypt the password for 'alice'
//!   in 'bank.example'" on stderr.
//! - PIN: read from `/dev/tty` without echo (crate `rpassword`), showing the
//!   retries left; an empty answer declines. Without a terminal, the PIN
//!   comes from the file named by `TOKENRING_PIN_FILE` ([`PIN_FILE_ENV`],
//!   for scripts and tests; its first line, used once: after a wrong PIN it
//!   is not tried again), or the request is declined.
//! - Ctrl-C ([`TerminalPrompt::with_ctrl_c`]): while the authenticator
//!   waits for a touch, the first Ctrl-C sets the cancel flag, so the
//!   transport sends the CTAP cancel (CTAPHID_CANCEL, the NFCCTAP cancel)
//!   and the command ends with exit code 130; a second
//!   Ctrl-C, or one at any other moment, exits with 130 at once (after
//!   restoring the terminal if a PIN was being typed).

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokenring_core::{Pin, PinPurpose, PinRequest, Prompt};
use zeroize::Zeroizing;

use crate::Error;

/// The environment variable naming a file whose first line is the PIN, for
/// use without a terminal (scripts, tests, the demo).
pub const PIN_FILE_ENV: &str = "TOKENRING_PIN_FILE";

/// The exit status after Ctrl-C (128 + SIGINT).
pub const EXIT_INTERRUPTED: i32 = 130;

/// State shared with the Ctrl-C watcher thread.
#[derive(Default)]
struct Shared {
    /// Ctrl-C was pressed.
    cancelled: AtomicBool,
    /// The authenticator waits for a touch (between `touch_needed` and
    /// `touch_done`): Ctrl-C cancels instead of exiting.
    waiting: AtomicBool,
    /// The terminal settings to restore when Ctrl-C interrupts PIN entry.
    saved_tty: Mutex<Option<rustix::termios::Termios>>,
    /// The signals are someone else's now ([`TerminalPrompt::stop_watching_signals`]).
    released: AtomicBool,
    /// The watcher's signal delivery, to end it.
    watcher: Mutex<Option<signal_hook::iterator::Handle>>,
}

/// The terminal [`Prompt`] (see the module documentation).
pub struct TerminalPrompt {
    shared: Arc<Shared>,
}

impl Default for TerminalPrompt {
    fn default() -> Self {
        Self::new()
    }
}

impl TerminalPrompt {
    /// A prompt without a Ctrl-C handler (the process keeps the default
    /// SIGINT action).
    pub fn new() -> Self {
        TerminalPrompt {
            shared: Arc::new(Shared::default()),
        }
    }

    /// A prompt that turns Ctrl-C (SIGINT) — and SIGTERM and SIGHUP, so that
    /// a closed terminal or a `kill` also tells the authenticator to stop
    /// waiting — into a cancel: a thread waits for the signals (crate
    /// `signal-hook`, no `unsafe`). Call once per process.
    pub fn with_ctrl_c() -> Result<Self, Error> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let prompt = Self::new();
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
            .map_err(|e| Error::Other(format!("cannot watch for Ctrl-C: {e}")))?;
        *prompt
            .shared
            .watcher
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(signals.handle());
        let shared = Arc::clone(&prompt.shared);
        std::thread::Builder::new()
            .name("ctrl-c".into())
            .spawn(move || {
                for _ in signals.forever() {
                    if shared.released.load(Ordering::SeqCst) {
                        break;
                    }
                    let again = shared.cancelled.swap(true, Ordering::SeqCst);
                    if again || !shared.waiting.load(Ordering::SeqCst) {
                        exit_interrupted(&shared);
                    }
                    eprintln!();
                    eprintln!("tokenring: cancelling: telling the authenticator to stop waiting…");
                }
            })
            .map_err(|e| Error::Other(format!("cannot watch for Ctrl-C: {e}")))?;
        Ok(prompt)
    }

    /// Ends the Ctrl-C watcher of [`TerminalPrompt::with_ctrl_c`]: from now
    /// on SIGINT, SIGTERM and SIGHUP are handled elsewhere (by `tokenring
    /// run`, which passes them on to its command) and never end this
    /// process from here.
    pub fn stop_watching_signals(&self) {
        self.shared.released.store(true, Ordering::SeqCst);
        if let Some(handle) = self
            .shared
            .watcher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            handle.close();
        }
    }

    /// Whether Ctrl-C was pressed.
    pub fn interrupted(&self) -> bool {
        self.shared.cancelled.load(Ordering::SeqCst)
    }

    /// Asks for a secret on the terminal without echo, restoring the
    /// terminal if Ctrl-C interrupts. `None` when there is no terminal.
    pub fn read_hidden(&self, question: &str) -> Option<Result<Zeroizing<String>, Error>> {
        let tty = File::open("/dev/tty").ok()?;
        if let Ok(settings) = rustix::termios::tcgetattr(&tty) {
            *self
                .shared
                .saved_tty
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(settings);
        }
        let answer = match rpassword::prompt_password(question) {
            Ok(text) => Ok(Zeroizing::new(text)),
            // Ctrl-C interrupted the read (the watcher thread exits too;
            // whichever comes first).
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted || self.interrupted() => {
                exit_interrupted(&self.shared)
            }
            Err(e) => Err(Error::Other(format!("cannot read from the terminal: {e}"))),
        };
        *self
            .shared
            .saved_tty
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        Some(answer)
    }

    fn pin_from_file(&self, request: &PinRequest<'_>) -> Option<Option<Pin>> {
        let path = std::env::var_os(PIN_FILE_ENV).filter(|p| !p.is_empty())?;
        if request.previous_wrong {
            // Trying the same PIN again would only burn a retry.
            return Some(None);
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => Zeroizing::new(text),
            Err(e) => {
                eprintln!(
                    "tokenring: cannot read the PIN from {} ({PIN_FILE_ENV}): {e}",
                    std::path::Path::new(&path).display()
                );
                return Some(None);
            }
        };
        let line = text.lines().next().unwrap_or_default();
        if line.is_empty() {
            return Some(None);
        }
        Some(Some(Pin::new(line)))
    }
}

/// Ctrl-C outside a touch wait: restore the terminal, say so, exit 130.
fn exit_interrupted(shared: &Shared) -> ! {
    restore_tty(shared);
    eprintln!();
    eprintln!("tokenring: interrupted");
    std::process::exit(EXIT_INTERRUPTED);
}

fn restore_tty(shared: &Shared) {
    let saved = shared
        .saved_tty
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let (Some(settings), Ok(tty)) = (saved, File::open("/dev/tty")) {
        let _ = rustix::termios::tcsetattr(&tty, rustix::termios::OptionalActions::Now, &settings);
    }
}

/// The question for a PIN request.
fn pin_question(request: &PinRequest<'_>) -> String {
    let mut question = String::new();
    if request.previous_wrong {
        question.push_str("Wrong PIN. ");
    }
    question.push_str(match request.kind {
        PinPurpose::Verify => "Enter your authenticator's PIN",
        PinPurpose::SetNew => "Choose a new PIN for your authenticator",
        PinPurpose::ChangeCurrent => "Enter your authenticator's current PIN",
        PinPurpose::ChangeNew => "Enter the new PIN for your authenticator",
    });
    if !request.purpose.is_empty() {
        question.push_str(" to ");
        question.push_str(request.purpose);
    }
    if let Some(n) = request.retries {
        question.push_str(&format!(
            " ({n} {} left)",
            if n == 1 { "try" } else { "tries" }
        ));
    }
    question.push_str(" (empty to cancel): ");
    question
}

impl Prompt for TerminalPrompt {
    fn touch_needed(&self, purpose: &str) {
        self.shared.waiting.store(true, Ordering::SeqCst);
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "Touch your authenticator to {purpose}");
        let _ = err.flush();
    }

    fn touch_done(&self) {
        self.shared.waiting.store(false, Ordering::SeqCst);
    }

    fn pin(&self, request: &PinRequest<'_>) -> Option<Pin> {
        if let Some(answer) = self.pin_from_file(request) {
            return answer;
        }
        // No terminal: nobody to ask, decline (the error says a PIN is needed).
        match self.read_hidden(&pin_question(request))? {
            Ok(pin) if !pin.is_empty() => Some(Pin::new(pin.as_str())),
            Ok(_) => None,
            Err(e) => {
                eprintln!("tokenring: {e}");
                None
            }
        }
    }

    fn info(&self, message: &str) {
        eprintln!("{message}");
    }

    /// Each warning once per process (the simulator's is given on every
    /// open).
    fn warning(&self, message: &str) {
        static SHOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let mut shown = SHOWN.lock().unwrap_or_else(PoisonError::into_inner);
        if !shown.iter().any(|m| m == message) {
            shown.push(message.to_string());
            eprintln!("warning: {message}");
        }
    }

    fn is_cancelled(&self) -> bool {
        self.shared.cancelled.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_questions_say_why_and_how_many_tries() {
        let q = pin_question(&PinRequest {
            purpose: "register this authenticator for hardware.keychain.glyph.im",
            kind: PinPurpose::Verify,
            retries: Some(7),
            previous_wrong: true,
        });
        assert_eq!(
            q,
            "Wrong PIN. Enter your authenticator's PIN to register this authenticator for \
             hardware.keychain.glyph.im (7 tries left) (empty to cancel): "
        );
        let q = pin_question(&PinRequest {
            purpose: "",
            kind: PinPurpose::Verify,
            retries: Some(1),
            previous_wrong: false,
        });
        assert!(q.contains("(1 try left)"));
    }
}
