//! `tokenring init`: choose an authenticator, enroll it, create the vault.

use clap::Args;
use tokenring::app::terminal::TerminalPrompt;
use tokenring::{CreateOptions, Error, Format, KeyOptions};

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
  tokenring init --format 2 --label daily        # then: tokenring key add --label drawer
  tokenring init --require-uv                    # format 2, the PIN for every secret

Format 1 (the default) is the Python tokenring's: it opens there too, and
holds one authenticator. Format 2 holds several (a backup key), reads a
secret with one touch without the agent, and records each key's UV policy;
the Python tokenring cannot open it.

Exit codes: 0 created; 9 the vault file exists already; 3 no authenticator;
5 PIN; 6 touch denied or timed out; 130 cancelled (see `tokenring --help`).")]
pub struct InitArgs {
    /// The vault format: 1 (the Python tokenring's, one authenticator) or
    /// 2 (several authenticators, a recorded policy).
    #[arg(long, value_parser = ["1", "2"])]
    format: Option<String>,
    /// Make the credential with credProtect level 3 and derive every key
    /// with user verification (the PIN or a fingerprint), so that a program
    /// talking to the authenticator directly gets nothing without the PIN.
    /// Implies --format 2.
    #[arg(long, alias = "require-pin")]
    require_uv: bool,
    /// The key's name in format 2 (default: the authenticator's name).
    #[arg(long, value_name = "NAME")]
    label: Option<String>,
}

/// Runs `init`.
pub fn run(context: &Context, args: &InitArgs, prompt: &TerminalPrompt) -> Result<u8, Error> {
    let format = match args.format.as_deref() {
        Some("2") => Format::V2,
        Some(_) if args.require_uv || args.label.is_some() => {
            return Err(Error::Other(
                "--require-uv and --label need format 2 (format 1 records no policy or label)"
                    .into(),
            ))
        }
        Some(_) => Format::V1,
        None if args.require_uv || args.label.is_some() => Format::V2,
        None => Format::V1,
    };
    let options = CreateOptions {
        format,
        key: KeyOptions {
            label: args.label.clone(),
            require_uv: args.require_uv,
        },
        ..CreateOptions::default()
    };
    context
        .tokenring
        .create_with(&context.vault, &options, prompt)?;
    eprintln!(
        "Created the vault {} (format {format})",
        context.vault.display()
    );
    if format == Format::V2 {
        eprintln!(
            "Add a backup key now, while the vault is empty: tokenring key add --label backup"
        );
    }
    Ok(0)
}
