//! `tokenring get SERVICE USER`: print a secret.

use clap::Args;
use tokenring::app::terminal::TerminalPrompt;
use tokenring::Error;

use super::{print_stdout, quoted, Context};

/// Print the secret for SERVICE and USER on stdout, followed by a newline.
///
/// Needs a touch for the secret (and, without the agent, one more to
/// unlock the vault). When there is no such entry, prints nothing on stdout
/// and exits with 1, as `keyring get` does.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring get pypi.org __token__
  TWINE_PASSWORD=\"$(tokenring get pypi.org __token__)\" twine upload dist/*

Exit codes: 0 printed; 1 no such entry (nothing on stdout); 4 wrong
authenticator; 6 touch denied or timed out; 130 cancelled (see `tokenring --help`).")]
pub struct GetArgs {
    /// The service (e.g. a host name: pypi.org).
    pub service: String,
    /// The user name within the service.
    pub user: String,
}

/// Runs `get`.
pub fn run(context: &Context, args: &GetArgs, prompt: &TerminalPrompt) -> Result<u8, Error> {
    let store = context.store()?;
    match store.get(&args.service, &args.user, prompt)? {
        Some(password) => {
            let mut line =
                zeroize::Zeroizing::new(String::with_capacity(password.expose_secret().len() + 1));
            line.push_str(password.expose_secret());
            line.push('\n');
            print_stdout(&line)?;
            Ok(0)
        }
        None => {
            eprintln!(
                "tokenring: no password for {} in {}",
                quoted(&args.user),
                quoted(&args.service)
            );
            Ok(tokenring::app::exit::NO_SUCH_ENTRY)
        }
    }
}
