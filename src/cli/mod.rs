//! The `tokenring` command line: options, subcommands, and how each runs.
//!
//! Each subcommand lives in its own file and returns the exit code of a
//! successful run (0, or 1 for "no such entry"); failures are
//! [`tokenring::Error`]s whose exit code is [`ExitStatus::exit_code`].

mod agent;
mod completions;
mod convert;
mod delete;
mod devices;
mod get;
mod import;
mod init;
mod input;
mod key;
mod list;
mod lock;
mod log;
mod man_page;
mod pin;
mod rekey;
mod run;
mod set;
mod status;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use tokenring::app::env::StoreOptions;
use tokenring::app::exit::{self, ExitStatus};
use tokenring::app::terminal::TerminalPrompt;
use tokenring::{Error, Selector, Store, Tokenring};

const EXAMPLES: &str = "\
Examples:
  tokenring init                                  # create a vault (touch your authenticator)
  printf '%s\\n' \"$TOKEN\" | tokenring set pypi.org __token__
  tokenring get pypi.org __token__                # prints the secret (one touch per secret)
  tokenring list
  tokenring devices

Try it without hardware on the software authenticator (it protects nothing):
  tokenring-sim init /tmp/sim.json
  tokenring --authenticator sim:/tmp/sim.json --vault /tmp/demo.tokenvault init";

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    no such entry (get, delete); nothing is printed on stdout
  2    usage error (bad option, bad --authenticator selector)
  3    no authenticator found: plug it in or hold it to the reader
  4    wrong authenticator: none of the connected ones holds the vault's credential
  5    PIN wrong, blocked, not given or not set, or to be changed first
  6    touch denied or timed out
  7    vault file corrupt or tampered with (it was left untouched)
  8    vault locked by another process
  9    no vault (run `tokenring init`), or `init` found one already
  10   agent error
  11   anything else
  12   the vault file is older than one this machine saw (a write was refused; --accept-older-vault)
  130  cancelled with Ctrl-C, SIGTERM or SIGHUP (the authenticator was told to stop waiting)";

const ENVIRONMENT: &str = "\
Environment:
  TOKENRING_VAULT          the vault file (like --vault)
  TOKENRING_AUTHENTICATOR  the authenticator to use (like --authenticator)
  TOKENRING_NO_AGENT       1: never use the agent (like --no-agent)
  TOKENRING_PIN_FILE       a file whose first line is the authenticator's PIN, used when
                           there is no terminal to ask on (scripts, tests); tried once
  TOKENRING_SIM_PRESENCE   the simulator's simulated touch: approve (default), deny,
                           timeout, delay:MILLIS, or a comma-separated script of those";

/// Secrets that only leave their vault with a tap on a FIDO2 authenticator.
///
/// TokenRing keeps passwords and tokens in a vault file that opens only with
/// a touch on a FIDO2 security key (USB or NFC), through the CTAP2
/// hmac-secret extension. Its vaults are those of the Python `tokenring`
/// keyring backend, found at the same place.
#[derive(Parser, Debug)]
#[command(name = "tokenring", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    global: Global,

    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// The vault file [env: TOKENRING_VAULT] [default: the Python
    /// tokenring's, ~/.local/share/python_keyring/keyring.tokenvault on Linux]
    #[arg(long, global = true, value_name = "PATH")]
    vault: Option<PathBuf>,

    /// The authenticator to use: hid:PATH (USB, see `tokenring devices`),
    /// nfc:READER (a PC/SC reader, a unique part of its name is enough) or
    /// sim:STATEFILE or sim:SOCKET (the software authenticator, from its
    /// state file or served by `tokenring-sim serve`: it protects nothing).
    /// Without it, every USB and NFC authenticator is looked at and the one
    /// that holds the vault's credential is used, without a touch.
    /// [env: TOKENRING_AUTHENTICATOR]
    #[arg(
        long,
        global = true,
        value_name = "SELECTOR",
        value_parser = parse_selector
    )]
    authenticator: Option<Selector>,

    /// Open the vault in this process even when an agent runs for it
    /// (two touches per secret instead of one) [env: TOKENRING_NO_AGENT=1].
    #[arg(long, global = true)]
    no_agent: bool,

    /// Write to a format-2 vault even though this machine saw a newer
    /// version of it (an old copy was put back, and it is the right one).
    #[arg(long, global = true)]
    accept_older_vault: bool,
}

pub(crate) fn parse_selector(text: &str) -> Result<Selector, String> {
    text.parse::<Selector>().map_err(|e| e.to_string())
}

#[derive(Subcommand, Debug)]
enum Command {
    Init(init::InitArgs),
    Set(set::SetArgs),
    Get(get::GetArgs),
    Delete(delete::DeleteArgs),
    List(list::ListArgs),
    Devices(devices::DevicesArgs),
    Status(status::StatusArgs),
    Agent(agent::AgentArgs),
    Lock(lock::LockArgs),
    Run(run::RunArgs),
    Log(log::LogArgs),
    Pin(pin::PinArgs),
    Key(key::KeyArgs),
    Rekey(rekey::RekeyArgs),
    Convert(convert::ConvertArgs),
    Completions(completions::CompletionsArgs),
    Import(import::ImportArgs),
    #[command(hide = true)]
    ManPage(man_page::ManPageArgs),
}

/// What every command needs: the vault path, where to look for the
/// authenticator and whether to use the agent.
pub struct Context {
    /// The vault file.
    pub vault: PathBuf,
    /// The authenticator sources, the selector, the agent use.
    pub tokenring: Tokenring,
}

impl Context {
    /// The options, then the environment (an empty variable counts as
    /// unset), then the defaults.
    fn from_global(global: &Global) -> Result<Context, Error> {
        let StoreOptions { vault, tokenring } = StoreOptions::resolve(
            global.vault.clone(),
            global.authenticator.clone(),
            global.no_agent,
        )?;
        let tokenring = tokenring.accept_older_vault(global.accept_older_vault);
        Ok(Context { vault, tokenring })
    }

    /// The vault's operations: through the agent when one runs for this
    /// vault (and `--no-agent` is not given), in this process otherwise.
    pub fn store(&self) -> Result<Store, Error> {
        self.tokenring.open(&self.vault)
    }
}

/// The command line, with the examples, exit codes and environment
/// variables at the end of `--help`.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command().after_long_help(format!("{EXAMPLES}\n\n{EXIT_CODES}\n\n{ENVIRONMENT}"))
}

/// Parses the process's arguments (exits with 2 and a message when they
/// do not parse, 0 after `--help`).
pub fn parse() -> Cli {
    use clap::FromArgMatches;
    let matches = command().get_matches();
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    }
}

/// Runs the command line; the exit code.
pub fn run(cli: Cli) -> u8 {
    match execute(&cli) {
        Ok(code) => code,
        Err(e) => report(&e),
    }
}

fn execute(cli: &Cli) -> Result<u8, Error> {
    if let Command::Completions(args) = &cli.command {
        return Ok(completions::run(args));
    }
    if let Command::ManPage(args) = &cli.command {
        return Ok(man_page::run(args));
    }
    let context = Context::from_global(&cli.global)?;
    // Commands that never wait for a touch keep the default Ctrl-C; the
    // agent handles SIGINT and SIGTERM itself (a clean shutdown).
    let with_prompt = |run: &dyn Fn(&TerminalPrompt) -> Result<u8, Error>| {
        let prompt = TerminalPrompt::with_ctrl_c()?;
        run(&prompt)
    };
    match &cli.command {
        Command::Init(args) => with_prompt(&|p| init::run(&context, args, p)),
        Command::Set(args) => with_prompt(&|p| set::run(&context, args, p)),
        Command::Get(args) => with_prompt(&|p| get::run(&context, args, p)),
        Command::Delete(args) => with_prompt(&|p| delete::run(&context, args, p)),
        Command::List(args) => with_prompt(&|p| list::run(&context, args, p)),
        Command::Devices(args) => devices::run(&context, args, &TerminalPrompt::new()),
        Command::Status(args) => status::run(&context, args),
        Command::Agent(args) => agent::run(&context, args),
        Command::Lock(args) => lock::run(&context, args),
        Command::Run(args) => with_prompt(&|p| run::run(&context, args, p)),
        Command::Log(args) => log::run(&context, args),
        Command::Pin(args) => with_prompt(&|p| pin::run(&context, args, p)),
        Command::Key(args) => with_prompt(&|p| key::run(&context, args, p)),
        Command::Rekey(args) => with_prompt(&|p| rekey::run(&context, args, p)),
        Command::Convert(args) => with_prompt(&|p| convert::run(&context, args, p)),
        Command::Completions(args) => Ok(completions::run(args)),
        Command::Import(args) => with_prompt(&|p| import::run(&context, args, p)),
        Command::ManPage(args) => Ok(man_page::run(args)),
    }
}

/// Prints an error on stderr; its exit code.
fn report(error: &Error) -> u8 {
    let code = error.exit_code();
    if code == exit::CANCELLED {
        eprintln!("tokenring: cancelled; the authenticator was told to stop waiting");
    } else {
        eprintln!("tokenring: error: {error}");
    }
    code
}

/// Quotes a name for a message, as the vault's prompts do (`'alice'`), with
/// control characters escaped.
pub fn quoted(name: &str) -> String {
    tokenring_vault::quote_name(name)
}

/// Writes `text` to stdout; a closed pipe is not an error worth a message.
pub fn print_stdout(text: &str) -> Result<(), Error> {
    print_stdout_bytes(text.as_bytes())
}

/// Writes `bytes` to stdout; a closed pipe is not an error worth a message.
pub fn print_stdout_bytes(bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::Other(format!(
            "cannot write to standard output: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn help_texts_list_every_exit_code_and_variable() {
        let help = command().render_long_help().to_string();
        for line in EXIT_CODES.lines().chain(ENVIRONMENT.lines()) {
            assert!(help.contains(line.trim()), "{line}");
        }
    }

    #[test]
    fn the_exit_code_table_matches_the_codes() {
        let rows = [
            (exit::OK, "success"),
            (exit::NO_SUCH_ENTRY, "no such entry"),
            (exit::USAGE, "usage error"),
            (exit::NO_AUTHENTICATOR, "no authenticator found"),
            (exit::WRONG_AUTHENTICATOR, "wrong authenticator"),
            (exit::PIN, "PIN wrong, blocked"),
            (exit::TOUCH, "touch denied or timed out"),
            (exit::VAULT_CORRUPT, "corrupt or tampered"),
            (exit::VAULT_LOCKED, "locked by another process"),
            (exit::VAULT_MISSING_OR_EXISTS, "no vault"),
            (exit::AGENT, "agent error"),
            (exit::OTHER, "anything else"),
            (exit::ROLLBACK, "older than one this machine saw"),
            (exit::CANCELLED, "cancelled with Ctrl-C"),
        ];
        for (code, words) in rows {
            let start = format!("  {code:<4} ");
            assert!(
                EXIT_CODES
                    .lines()
                    .any(|line| line.starts_with(&start) && line.contains(words)),
                "{code} {words}"
            );
        }
        assert_eq!(EXIT_CODES.lines().count(), rows.len() + 1);
    }

    #[test]
    fn errors_map_to_their_exit_codes() {
        use std::path::PathBuf;
        use std::time::Duration;
        use tokenring_core::{Error as Ctap, TransportError, TransportErrorKind};
        use tokenring_vault::VaultError;
        let path = || PathBuf::from("/v");
        let cases: Vec<(Error, u8)> = vec![
            (
                Error::Authenticator(Ctap::NoAuthenticator { tried: vec![] }),
                3,
            ),
            (
                Error::Authenticator(Ctap::WrongAuthenticator { tried: vec![] }),
                4,
            ),
            (Error::Vault(VaultError::WrongAuthenticator), 4),
            (Error::Authenticator(Ctap::NoCredentials), 4),
            (
                Error::Authenticator(Ctap::PinInvalid { retries: Some(3) }),
                5,
            ),
            (Error::Authenticator(Ctap::PinBlocked), 5),
            (Error::Authenticator(Ctap::PinAuthBlocked), 5),
            (Error::Authenticator(Ctap::PinRequired), 5),
            (Error::Authenticator(Ctap::PinChangeRequired), 5),
            (Error::Authenticator(Ctap::PinAlreadySet), 5),
            (Error::Authenticator(Ctap::BuiltInUvRequired), 5),
            (Error::Vault(VaultError::Authenticator(Ctap::PinNotSet)), 5),
            (Error::Authenticator(Ctap::OperationDenied), 6),
            (
                Error::Vault(VaultError::Authenticator(Ctap::UserActionTimeout)),
                6,
            ),
            (Error::Vault(VaultError::DidNotDecrypt { path: path() }), 7),
            (Error::Vault(VaultError::Replaced { path: path() }), 7),
            (
                Error::Vault(VaultError::EntryDidNotDecrypt {
                    service: "s".into(),
                    user: "u".into(),
                }),
                7,
            ),
            (
                Error::Vault(VaultError::LockedByAnotherProcess {
                    path: path(),
                    holder: Some(1),
                    waited: Duration::from_secs(10),
                }),
                8,
            ),
            (Error::Vault(VaultError::NotFound { path: path() }), 9),
            (Error::Vault(VaultError::AlreadyExists { path: path() }), 9),
            (Error::Agent("x".into()), 10),
            (Error::Authenticator(Ctap::BadSelector("x".into())), 2),
            (Error::Other("x".into()), 11),
            (Error::Authenticator(Ctap::HmacSecretUnsupported), 11),
            (Error::Authenticator(Ctap::Cancelled), 130),
            (
                Error::Vault(VaultError::Authenticator(Ctap::Cancelled)),
                130,
            ),
            (
                Error::Authenticator(Ctap::Transport(TransportError::new(
                    TransportErrorKind::Cancelled,
                    "cancelled",
                ))),
                130,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(error.exit_code(), code, "{error}");
        }
    }
}
