//! `git-credential-tokenring`: a git credential helper whose passwords only
//! leave the TokenRing vault with a tap on a FIDO2 authenticator.
//!
//! Set up with `git config --global credential.helper tokenring` (git runs
//! `git-credential-tokenring` from PATH; an absolute path works too); git
//! then runs it with `get`, `store`
//! or `erase` and a credential description on stdin (see
//! the `git_credential` module of the programs' shared code for the service
//! names and semantics).
//!
//! Environment: `TOKENRING_VAULT`, `TOKENRING_AUTHENTICATOR`,
//! `TOKENRING_PIN_FILE`, `TOKENRING_SIM_PRESENCE` as for `tokenring`;
//! `TOKENRING_NO_AGENT=1` opens the vault in this process even when an
//! agent runs.

use std::process::ExitCode;

use tokenring::app::env::StoreOptions;
use tokenring::app::exit::{self, ExitStatus};
use tokenring::app::git_credential::{self, CredentialDescription, Messages, Operation};
use tokenring::app::terminal::TerminalPrompt;
use tokenring::Store;

const USAGE: &str = "\
usage: git-credential-tokenring get|store|erase

A git credential helper: git runs it with a credential description on stdin.
Set it up with:
  git config --global credential.helper \"\"
  git config --global --add credential.helper tokenring
Passwords are kept in the TokenRing vault as service git:PROTOCOL://HOST[:PORT][/PATH]
(the path only with credential.useHttpPath) and user USERNAME, e.g.
  tokenring set git:https://git.example.com alice";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(name) = args.next() else {
        eprintln!("{USAGE}");
        return ExitCode::from(exit::USAGE);
    };
    if name == "--help" || name == "-h" {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if name == "--version" || name == "-V" {
        println!("git-credential-tokenring {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    // gitcredentials(7): a helper ignores operations it does not know.
    let Some(operation) = Operation::from_name(&name) else {
        return ExitCode::SUCCESS;
    };
    ExitCode::from(run(operation))
}

fn run(operation: Operation) -> u8 {
    let mut stderr = std::io::stderr();
    let mut messages = Messages::new(&mut stderr);
    let description = match CredentialDescription::read(&mut std::io::stdin().lock()) {
        Ok(description) => description,
        Err(e) => {
            eprintln!("tokenring: {e}");
            return e.exit_code();
        }
    };
    // One store for the whole run: through the agent when it runs, else the
    // vault opened in this process once (one unlock touch for the run, so a
    // `get` without a user name or an `erase` with a compare costs no extra
    // unlock).
    let setup = || -> Result<(Store, TerminalPrompt), tokenring::Error> {
        let store = StoreOptions::resolve(None, None, false)?.connect()?;
        let prompt = TerminalPrompt::with_ctrl_c()?;
        Ok((store, prompt))
    };
    let (store, prompt) = match setup() {
        Ok(ready) => ready,
        Err(e) => {
            eprintln!("tokenring: {e}");
            return git_credential::status_of(&e);
        }
    };
    let mut stdout = std::io::stdout().lock();
    git_credential::serve(
        operation,
        &description,
        &store,
        &prompt,
        &mut stdout,
        &mut messages,
    )
}
