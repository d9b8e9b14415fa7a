//! `tokenring set SERVICE USER`: store a secret.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use tokenring::app::terminal::TerminalPrompt;
use tokenring::Error;
use zeroize::Zeroizing;

use super::input::{self, NameArgs};
use super::{quoted, Context};

/// Store a secret for SERVICE and USER, replacing any there is.
///
/// With --file, stores the file's content. Otherwise, on a terminal, asks
/// for the secret twice without echo; from a pipe or a redirected file,
/// stores all of standard input (a PEM key or a JSON service account keeps
/// every line). Either way one line ending (\n or \r\n) at the very end is
/// removed, as `keyring set` removes it; `get` prints the secret with one
/// newline after it, so `tokenring get … > FILE` gives the file back. At
/// most 1 MiB; more, empty input or text that is not UTF-8 is refused and
/// nothing is stored. Through the agent a secret can be about 64 KiB (its
/// protocol's frame); a larger one is refused with the reason (store and
/// read it with --no-agent). The secret is read before any touch is asked
/// for. Needs a touch to encrypt it (and, without the agent, one more to
/// unlock the vault).
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring set pypi.org __token__                   # asks twice, hidden
  printf '%s\\n' \"$TOKEN\" | tokenring set pypi.org __token__
  tokenring set gcp deploy@example.iam --file key.json   # every line of the file
  tokenring set stripe.com live < key.txt            # the same, from stdin
  printf 'svc\\0user\\0secret' | tokenring set --names-from-stdin   # names off the command line

Exit codes: 0 stored; 9 no vault (run `tokenring init`); 8 vault locked by
another process; 10 too large for the agent; 11 input refused (empty, too
large, not UTF-8); 130 cancelled (see `tokenring --help`).")]
pub struct SetArgs {
    /// The entry.
    #[command(flatten)]
    pub names: NameArgs,
    /// Store the content of this file (one line ending at its end removed)
    /// instead of reading the secret from the terminal or standard input.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
}

/// Runs `set`.
pub fn run(context: &Context, args: &SetArgs, prompt: &TerminalPrompt) -> Result<u8, Error> {
    let names = args.names.names()?;
    let password = read_password(args, &names, prompt)?;
    let store = context.store()?;
    store.set(&names.service, &names.user, &password, prompt)?;
    eprintln!(
        "Stored the password for {} in {}",
        quoted(&names.user),
        quoted(&names.service)
    );
    Ok(0)
}

fn read_password(
    args: &SetArgs,
    names: &input::Names,
    prompt: &TerminalPrompt,
) -> Result<Zeroizing<String>, Error> {
    if let Some(path) = &args.file {
        if names.rest.as_ref().is_some_and(|rest| !rest.is_empty()) {
            return Err(Error::Other(
                "--file and a secret after the names on standard input: give one of them; nothing was stored"
                    .into(),
            ));
        }
        let mut bytes = input::read_file(path)?;
        if bytes.is_empty() {
            return Err(Error::Other(format!(
                "the file {} is empty; nothing was stored",
                path.display()
            )));
        }
        input::strip_one_line_ending(&mut bytes);
        return input::into_text(bytes, &format!("the file {}", path.display()));
    }
    if let Some(rest) = &names.rest {
        // After the names, the secret exactly as it is (for programs).
        return input::into_text(Zeroizing::new(rest.to_vec()), "standard input");
    }
    if std::io::stdin().is_terminal() {
        let question = format!(
            "Password for {} in {}: ",
            quoted(&names.user),
            quoted(&names.service)
        );
        if let Some(first) = prompt.read_hidden(&question) {
            let first = first?;
            let again = prompt
                .read_hidden("Repeat it: ")
                .unwrap_or_else(|| Err(Error::Other("the terminal went away".into())))?;
            if first.as_str() != again.as_str() {
                return Err(Error::Other(
                    "the two passwords differ; nothing was stored".into(),
                ));
            }
            return Ok(first);
        }
    }
    let mut bytes = input::read_bounded(&mut std::io::stdin().lock(), "standard input")?;
    if bytes.is_empty() {
        return Err(Error::Other(
            "no password on standard input; nothing was stored (pipe it in, use --file, or run on a terminal)"
                .into(),
        ));
    }
    input::strip_one_line_ending(&mut bytes);
    input::into_text(bytes, "standard input")
}
