//! `tokenring rekey`: fresh keys for every entry, for after a key is lost.

use clap::Args;
use tokenring::app::terminal::TerminalPrompt;
use tokenring::Error;
use tokenring_vault::Vault;

use super::Context;

/// Give every entry a fresh key and the vault a new secret (format 2).
///
/// One touch (and the PIN, where the key verifies the user) on any key of
/// the vault, whatever the number of entries. Keys named with --remove
/// are removed in the same save. Afterwards a removed key, or a copy of its
/// secrets, opens nothing of the file, and every key's entry salts are new
/// (outputs a direct caller got from a touch before are useless). Entries
/// then open like a backup's (touch + PIN on a key that has one) until you
/// set them again.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring rekey --remove daily      # the daily key was lost: with the backup
  tokenring rekey

Exit codes: 0 done; 2 not a format-2 vault, no such key; 4 no connected key
holds the vault's credentials (see `tokenring --help`).")]
pub struct RekeyArgs {
    /// A key (label or number) to remove in the same save; repeatable.
    #[arg(long, value_name = "KEY")]
    remove: Vec<String>,
}

/// Runs `rekey`.
pub fn run(context: &Context, args: &RekeyArgs, prompt: &TerminalPrompt) -> Result<u8, Error> {
    let mut opened = context
        .tokenring
        .find_vault_holder(&context.vault, prompt)?;
    let remove: Vec<&str> = args.remove.iter().map(String::as_str).collect();
    let n = Vault::rekey(
        &context.vault,
        &mut *opened.authenticator,
        &remove,
        context.tokenring.vault_options(),
        prompt,
    )?;
    eprintln!(
        "Rekeyed the vault: {n} entries have new keys; removed {} key(s)",
        remove.len()
    );
    Ok(0)
}
