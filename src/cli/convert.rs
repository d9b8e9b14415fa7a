//! `tokenring convert --to 1|2`: move a vault between the formats.

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;
use tokenring::app::terminal::TerminalPrompt;
use tokenring::{Error, Format, KeyOptions};
use tokenring_vault::Vault;

use super::Context;

/// Convert the vault between format 1 (the Python tokenring's) and format 2.
///
/// To 2: afterwards the Python tokenring can no longer open the file, so
/// this asks for confirmation (or takes --yes); the entries keep their
/// format-1 keys (two touches per secret without the agent until you set
/// them again). To 1: only with exactly one key; the entries converted
/// from format 1 come back byte for byte.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring convert --to 2 --label daily
  tokenring convert --to 1 --yes

Exit codes: 0 converted (or already in that format); 2 more than one key;
11 not confirmed (see `tokenring --help`).")]
pub struct ConvertArgs {
    /// The format to convert to: 1 or 2.
    #[arg(long, value_parser = ["1", "2"])]
    to: String,
    /// The key's label in format 2 (default: the authenticator's name).
    #[arg(long, value_name = "NAME")]
    label: Option<String>,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
}

fn confirm(question: &str) -> Result<bool, Error> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Ok(false);
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Other(format!("cannot read the answer: {e}")))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// Runs `convert`.
pub fn run(context: &Context, args: &ConvertArgs, prompt: &TerminalPrompt) -> Result<u8, Error> {
    let to = if args.to == "2" {
        Format::V2
    } else {
        Format::V1
    };
    let from = Vault::format_of(&context.vault)?;
    if from == to {
        eprintln!("The vault is in format {to} already.");
        return Ok(0);
    }
    let question = match to {
        Format::V2 => "After this, the Python tokenring can no longer open this vault. Convert it to format 2?",
        _ => "Convert the vault to format 1 (one key, two touches per secret without the agent)?",
    };
    if !args.yes && !confirm(question)? {
        return Err(Error::Other(format!(
            "not converted: confirm on a terminal, or pass --yes ({question})"
        )));
    }
    let mut opened = context
        .tokenring
        .find_vault_holder(&context.vault, prompt)?;
    Vault::convert(
        &context.vault,
        to,
        &mut *opened.authenticator,
        &KeyOptions {
            label: args.label.clone(),
            require_uv: false,
        },
        context.tokenring.vault_options(),
        prompt,
    )?;
    eprintln!("Converted {} to format {to}.", context.vault.display());
    Ok(0)
}
