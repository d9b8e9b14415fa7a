//! `tokenring delete SERVICE USER`: remove an entry.

use clap::Args;
use tokenring::app::terminal::TerminalPrompt;
use tokenring::Error;

use super::input::NameArgs;
use super::{quoted, Context};

/// Delete the entry for SERVICE and USER.
///
/// Needs the touch that unlocks the vault (none with an unlocked agent).
/// Exits with 1 when there is no such entry.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring delete pypi.org __token__

Exit codes: 0 deleted; 1 no such entry; 8 vault locked by another process
(see `tokenring --help`).")]
pub struct DeleteArgs {
    /// The entry.
    #[command(flatten)]
    pub names: NameArgs,
}

/// Runs `delete`.
pub fn run(context: &Context, args: &DeleteArgs, prompt: &TerminalPrompt) -> Result<u8, Error> {
    let names = args.names.names_only()?;
    let store = context.store()?;
    if store.delete(&names.service, &names.user, prompt)? {
        eprintln!(
            "Deleted the password for {} in {}",
            quoted(&names.user),
            quoted(&names.service)
        );
        Ok(0)
    } else {
        eprintln!(
            "tokenring: no password for {} in {}",
            quoted(&names.user),
            quoted(&names.service)
        );
        Ok(tokenring::app::exit::NO_SUCH_ENTRY)
    }
}
