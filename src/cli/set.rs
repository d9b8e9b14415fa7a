//! `tokenring set SERVICE USER`: store a secret.

use std::io::{BufRead, IsTerminal};

use clap::Args;
use tokenring::app::terminal::TerminalPrompt;
use tokenring::Error;
use zeroize::Zeroizing;

use super::{quoted, Context};

/// Store a secret for SERVICE and USER, replacing any there is.
///
/// On a terminal, asks for the secret twice without echo. Otherwise reads
/// one line from standard input and strips its line ending (\n or \r\n), as
/// `keyring set` does. The secret is read before any touch is asked for.
/// Needs a touch to encrypt it (and, without the agent, one more to unlock
/// the vault).
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring set pypi.org __token__                   # asks twice, hidden
  printf '%s\\n' \"$TOKEN\" | tokenring set pypi.org __token__
  tokenring set stripe.com live < key.txt            # the file's first line

Exit codes: 0 stored; 9 no vault (run `tokenring init`); 8 vault locked by
another process; 130 cancelled (see `tokenring --help`).")]
pub struct SetArgs {
    /// The service (e.g. a host name: pypi.org).
    pub service: String,
    /// The user name within the service.
    pub user: String,
}

/// Runs `set`.
pub fn run(context: &Context, args: &SetArgs, prompt: &TerminalPrompt) -> Result<u8, Error> {
    let password = read_password(args, prompt)?;
    let store = context.store()?;
    store.set(&args.service, &args.user, &password, prompt)?;
    eprintln!(
        "Stored the password for {} in {}",
        quoted(&args.user),
        quoted(&args.service)
    );
    Ok(0)
}

fn read_password(args: &SetArgs, prompt: &TerminalPrompt) -> Result<Zeroizing<String>, Error> {
    if std::io::stdin().is_terminal() {
        let question = format!(
            "Password for {} in {}: ",
            quoted(&args.user),
            quoted(&args.service)
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
    read_line(&mut std::io::stdin().lock())
}

/// One line of `input` without its line ending; an error when there is
/// nothing at all to read.
fn read_line(input: &mut impl BufRead) -> Result<Zeroizing<String>, Error> {
    let mut bytes = Zeroizing::new(Vec::new());
    let read = input
        .read_until(b'\n', &mut bytes)
        .map_err(|e| Error::Other(format!("cannot read the password from standard input: {e}")))?;
    if read == 0 {
        return Err(Error::Other(
            "no password on standard input; nothing was stored (give it as one line, or run on a terminal)"
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
        Error::Other("the password on standard input is not UTF-8; nothing was stored".into())
    })?;
    Ok(Zeroizing::new(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::read_line;

    fn line(input: &[u8]) -> Option<String> {
        read_line(&mut &input[..]).ok().map(|s| s.to_string())
    }

    #[test]
    fn one_line_without_its_ending() {
        assert_eq!(line(b"s3cret\n").as_deref(), Some("s3cret"));
        assert_eq!(line(b"s3cret\r\n").as_deref(), Some("s3cret"));
        assert_eq!(line(b"s3cret").as_deref(), Some("s3cret"));
        assert_eq!(line(b"first\nsecond\n").as_deref(), Some("first"));
        assert_eq!(line(b"with \r inside\n").as_deref(), Some("with \r inside"));
        assert_eq!(line(b"\n").as_deref(), Some(""));
        assert_eq!(line(b""), None);
        assert_eq!(line(b"\xff\n"), None);
    }
}
