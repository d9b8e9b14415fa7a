//! `tokenring init`: choose an authenticator, enroll it, create the vault.

use clap::Args;
use tokenring::app::terminal::TerminalPrompt;
use tokenring::Error;

use super::Context;

/// Create a new vault on an authenticator.
///
/// Chooses the authenticator (the one named by --authenticator, the only
/// one connected, or — with several — the one you touch), registers a
/// credential on it (a touch, and its PIN if it has one) and creates an
/// empty vault keyed by it (another touch). Refuses if the vault file exists.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring init
  tokenring --vault ~/work.tokenvault init
  tokenring --authenticator hid:/dev/hidraw3 init
  tokenring --authenticator sim:/tmp/sim.json --vault /tmp/demo.tokenvault init

Exit codes: 0 created; 9 the vault file exists already; 3 no authenticator;
5 PIN; 6 touch denied or timed out; 130 cancelled (see `tokenring --help`).")]
pub struct InitArgs {}

/// Runs `init`.
pub fn run(context: &Context, _args: &InitArgs, prompt: &TerminalPrompt) -> Result<u8, Error> {
    context.tokenring.create(&context.vault, prompt)?;
    eprintln!("Created the vault {}", context.vault.display());
    Ok(0)
}
