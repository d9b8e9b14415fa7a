//! `tokenring pin set` and `tokenring pin change`: the authenticator's PIN.

use std::io::{BufRead, IsTerminal};

use clap::{Args, Subcommand};
use tokenring::app::terminal::TerminalPrompt;
use tokenring::{AuthenticatorError, Error, Opened, Pin, PinPurpose, PinRequest, Prompt};
use zeroize::Zeroizing;

use super::Context;

/// Set or change the authenticator's PIN.
///
/// The new PIN is asked twice without echo on the terminal; without a
/// terminal it is one line of standard input. `change` asks for the current
/// PIN first (on the terminal, or from TOKENRING_PIN_FILE), with the tries
/// left. The authenticator is the one --authenticator names, the only one
/// connected, or, with several, the one you touch. Nothing in the vault
/// changes: the vault's keys come from the credential, not from the PIN.
///
/// A PIN is at least 4 characters (or the authenticator's minimum), at most
/// 63 bytes. It is sent as the UTF-8 of its Unicode NFC form, as CTAP 2.1
/// asks, so an accented letter typed as one character or as a letter and a
/// combining accent is the same PIN. A PIN that another program (one built
/// on python-fido2 or libfido2, which send a PIN as typed) set from
/// decomposed characters is therefore not accepted when typed here: change
/// it with that program, or reset the authenticator.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring pin set                  # an authenticator without a PIN
  tokenring pin change               # e.g. when the authenticator requires a new PIN
  printf '%s\\n' \"$NEW_PIN\" | TOKENRING_PIN_FILE=current.txt tokenring pin change

Exit codes: 0 done; 5 PIN wrong, blocked, already set (use change), not set
(use set), or refused by the authenticator's policy; 3 no authenticator;
130 cancelled (see `tokenring --help`).")]
pub struct PinArgs {
    #[command(subcommand)]
    command: PinCommand,
}

#[derive(Subcommand, Debug)]
enum PinCommand {
    /// Set the first PIN of an authenticator that has none.
    Set,
    /// Change the PIN (the current one is asked first).
    Change,
}

/// Runs `pin set` / `pin change`.
pub fn run(context: &Context, args: &PinArgs, prompt: &TerminalPrompt) -> Result<u8, Error> {
    let mut opened = authenticator(context, prompt)?;
    let label = opened.label();
    match args.command {
        PinCommand::Set => {
            match opened.info.client_pin {
                Some(true) => return Err(AuthenticatorError::PinAlreadySet.into()),
                None => return Err(AuthenticatorError::UvUnsupported.into()),
                Some(false) => {}
            }
            let new_pin = new_pin(prompt, "Choose a new PIN for your authenticator")?;
            opened.authenticator.set_pin(&new_pin)?;
            eprintln!("Set the PIN of {label}");
        }
        PinCommand::Change => {
            match opened.info.client_pin {
                Some(false) => return Err(AuthenticatorError::PinNotSet.into()),
                None => return Err(AuthenticatorError::UvUnsupported.into()),
                Some(true) => {}
            }
            let retries = opened.authenticator.pin_retries()?;
            if retries == Some(0) {
                return Err(AuthenticatorError::PinBlocked.into());
            }
            let request = PinRequest {
                purpose: "change it",
                kind: PinPurpose::ChangeCurrent,
                retries,
                previous_wrong: false,
            };
            let current = prompt
                .pin(&request)
                .ok_or(AuthenticatorError::PinRequired)?;
            let new_pin = new_pin(prompt, "Enter the new PIN for your authenticator")?;
            if new_pin.expose_secret() == current.expose_secret() {
                return Err(Error::Other(
                    "the new PIN is the current one; nothing was changed".into(),
                ));
            }
            opened.authenticator.change_pin(&current, &new_pin)?;
            eprintln!("Changed the PIN of {label}");
        }
    }
    Ok(0)
}

/// The authenticator: the one named, the only one, or the one touched.
fn authenticator(context: &Context, prompt: &dyn Prompt) -> Result<Opened, Error> {
    let discovery = context.tokenring.discovery();
    Ok(match discovery.selector() {
        Some(selector) => discovery.open(selector, prompt)?,
        None => discovery.choose(prompt)?,
    })
}

/// The new PIN: asked twice without echo on a terminal, else one line of
/// standard input.
fn new_pin(prompt: &TerminalPrompt, question: &str) -> Result<Pin, Error> {
    if std::io::stdin().is_terminal() {
        if let Some(first) = prompt.read_hidden(&format!("{question}: ")) {
            let first = first?;
            let again = prompt
                .read_hidden("Repeat it: ")
                .unwrap_or_else(|| Err(Error::Other("the terminal went away".into())))?;
            if first.as_str() != again.as_str() {
                return Err(Error::Other(
                    "the two PINs differ; nothing was changed".into(),
                ));
            }
            return non_empty(first);
        }
    }
    non_empty(read_line(&mut std::io::stdin().lock())?)
}

fn non_empty(pin: Zeroizing<String>) -> Result<Pin, Error> {
    if pin.is_empty() {
        return Err(Error::Other(
            "no new PIN was given; nothing was changed".into(),
        ));
    }
    Ok(Pin::new(pin.as_str()))
}

/// One line of `input` without its line ending.
fn read_line(input: &mut impl BufRead) -> Result<Zeroizing<String>, Error> {
    let mut bytes = Zeroizing::new(Vec::new());
    let read = input
        .read_until(b'\n', &mut bytes)
        .map_err(|e| Error::Other(format!("cannot read the new PIN from standard input: {e}")))?;
    if read == 0 {
        return Err(Error::Other(
            "no new PIN on standard input; nothing was changed (give it as one line, or run on a terminal)"
                .into(),
        ));
    }
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Error::Other("the new PIN on standard input is not UTF-8; nothing was changed".into())
    })?;
    Ok(Zeroizing::new(text.to_string()))
}
