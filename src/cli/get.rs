//! `tokenring get SERVICE USER`: print a secret.

use clap::Args;
use tokenring::app::terminal::TerminalPrompt;
use tokenring::Error;

use super::input::NameArgs;
use super::{print_stdout_bytes, quoted, Context};

/// Print the secret for SERVICE and USER on stdout, followed by a newline.
///
/// Needs a touch for the secret (and, without the agent, one more to
/// unlock the vault). When there is no such entry, prints nothing on stdout
/// and exits with 1, as `keyring get` does.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring get pypi.org __token__
  tokenring get --json pypi.org __token__ | jq -r .password
  tokenring run --env TWINE_PASSWORD=pypi.org/__token__ -- twine upload dist/*
                              # keeps the secret out of the shell (see `tokenring run --help`)

JSON output: {\"service\", \"user\", \"password\"}; nothing when there is no such
entry (exit code 1).

Exit codes: 0 printed; 1 no such entry (nothing on stdout); 4 wrong
authenticator; 6 touch denied or timed out; 130 cancelled (see `tokenring --help`).")]
pub struct GetArgs {
    /// The entry.
    #[command(flatten)]
    pub names: NameArgs,
    /// Print a JSON object (service, user, password) instead of the bare
    /// secret.
    #[arg(long)]
    pub json: bool,
}

#[derive(serde::Serialize)]
struct JsonEntry<'a> {
    service: &'a str,
    user: &'a str,
    password: &'a str,
}

/// Runs `get`.
pub fn run(context: &Context, args: &GetArgs, prompt: &TerminalPrompt) -> Result<u8, Error> {
    let names = args.names.names_only()?;
    let store = context.store()?;
    match store.get(&names.service, &names.user, prompt)? {
        Some(password) => {
            let secret = password.expose_secret();
            let line = if args.json {
                // Sized for the worst escaping (\uXXXX), so the buffer
                // holding the secret never moves.
                let capacity = 6 * (secret.len() + names.service.len() + names.user.len()) + 64;
                let mut out = zeroize::Zeroizing::new(Vec::with_capacity(capacity));
                serde_json::to_writer(
                    &mut *out,
                    &JsonEntry {
                        service: &names.service,
                        user: &names.user,
                        password: secret,
                    },
                )
                .map_err(|e| Error::Other(format!("cannot write JSON: {e}")))?;
                out.push(b'\n');
                out
            } else {
                let mut out = zeroize::Zeroizing::new(Vec::with_capacity(secret.len() + 1));
                out.extend_from_slice(secret.as_bytes());
                out.push(b'\n');
                out
            };
            print_stdout_bytes(&line)?;
            Ok(0)
        }
        None => {
            eprintln!(
                "tokenring: no password for {} in {}",
                quoted(&names.user),
                quoted(&names.service)
            );
            Ok(tokenring::app::exit::NO_SUCH_ENTRY)
        }
    }
}
