//! `tokenring run --env NAME=SERVICE/USER … -- COMMAND [ARGS…]`: run a
//! command with secrets in its environment only.

use std::ffi::OsString;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use clap::Args;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::SignalsInfo;
use signal_hook::low_level::siginfo::Cause;
use tokenring::app::exit;
use tokenring::app::terminal::TerminalPrompt;
use tokenring::{Error, Password, Secrets};

use super::{quoted, Context};

/// Run a command with secrets from the vault in its environment.
///
/// Each --env NAME=SERVICE/USER puts the secret for SERVICE and USER into
/// the environment variable NAME of COMMAND, and only there: never on a
/// command line, never in the shell that runs `tokenring run`. Every entry
/// is checked before any secret is read: when one is missing, nothing
/// runs and no secret is asked for (without the agent, the unlock touch
/// comes first; in format 2 it also reads the first entry). Each touch
/// reads two secrets (CTAP2 hmac-secret takes two salts per assertion) and
/// its prompt names both: N secrets cost ⌈N/2⌉ touches through the agent
/// (one more when it is locked); without the agent, 1 + ⌈(N−1)/2⌉ touches
/// with a format-2 vault (the unlock touch reads the first secret) and
/// 1 + ⌈N/2⌉ with a format-1 vault (its entry salts lie inside the
/// encrypted list, so the unlock touch reads none). COMMAND runs with its
/// exit status as `tokenring run`'s own (128 + N when a signal N ends it).
/// Signals sent to `tokenring run` (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1,
/// SIGUSR2 from `kill`, a service manager, …) are passed on to COMMAND; Ctrl-C
/// on the terminal reaches COMMAND directly, as it would without
/// `tokenring run`.
///
/// SERVICE/USER is split at the last `/`: a service may contain slashes
/// (`git:https://host/path/alice`), a user may not.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring run --env TWINE_PASSWORD=pypi.org/__token__ -- twine upload dist/*
  tokenring run -e STRIPE_KEY=stripe.com/live -e DB_URL=db.internal/app -- ./deploy.sh
  tokenring run --env-file deploy.tokenring -- ./deploy.sh   # lines NAME=SERVICE/USER

Exit codes: COMMAND's own; 1 an entry is missing (COMMAND did not run);
2 usage error; 6 touch denied or timed out; 127 COMMAND not found, 126 not
executable; 130 cancelled while waiting for a touch; the others as in
`tokenring --help`.")]
pub struct RunArgs {
    /// NAME=SERVICE/USER: the secret for SERVICE and USER, as the environment
    /// variable NAME of COMMAND (repeat for several).
    #[arg(short = 'e', long = "env", value_name = "NAME=SERVICE/USER",
          required_unless_present = "env_file", value_parser = parse_reference)]
    pub env: Vec<Reference>,

    /// A file of NAME=SERVICE/USER lines (blank lines and `#` comments
    /// ignored), as --env each: a list of references that can be committed
    /// beside a project, since it holds no secret.
    #[arg(long, value_name = "PATH")]
    pub env_file: Option<std::path::PathBuf>,

    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// One `--env NAME=SERVICE/USER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The environment variable.
    pub name: String,
    /// The entry's service.
    pub service: String,
    /// The entry's user.
    pub user: String,
}

fn parse_reference(text: &str) -> Result<Reference, String> {
    let (name, entry) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=SERVICE/USER"))?;
    let valid_name = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        return Err(format!(
            "{name:?} is not an environment variable name (letters, digits and _, not starting \
             with a digit)"
        ));
    }
    let (service, user) = entry
        .rsplit_once('/')
        .filter(|(service, user)| !service.is_empty() && !user.is_empty())
        .ok_or_else(|| format!("{entry:?} is not SERVICE/USER"))?;
    Ok(Reference {
        name: name.to_string(),
        service: service.to_string(),
        user: user.to_string(),
    })
}

/// The references of an `--env-file`.
fn read_env_file(path: &std::path::Path) -> Result<Vec<Reference>, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Other(format!("cannot read {}: {e}", path.display())))?;
    text.lines()
        .enumerate()
        .map(|(n, line)| (n, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(n, line)| {
            parse_reference(line)
                .map_err(|e| Error::Other(format!("{}:{}: {e}", path.display(), n + 1)))
        })
        .collect()
}

/// Runs `run`.
pub fn run(context: &Context, args: &RunArgs, prompt: &TerminalPrompt) -> Result<u8, Error> {
    let mut references = args.env.clone();
    if let Some(path) = &args.env_file {
        references.extend(read_env_file(path)?);
    }
    if let Some(twice) = references
        .iter()
        .enumerate()
        .find(|(i, r)| references[..*i].iter().any(|o| o.name == r.name))
    {
        return Err(Error::Other(format!(
            "the variable {} is given twice",
            twice.1.name
        )));
    }
    let Some((program, program_args)) = args.command.split_first() else {
        return Err(Error::Other("no command to run after --".into()));
    };
    let store = context.store()?;
    // Every entry is looked up before any secret is read: a missing one
    // stops everything. Two secrets per touch where the format allows.
    let names: Vec<(&str, &str)> = references
        .iter()
        .map(|r| (r.service.as_str(), r.user.as_str()))
        .collect();
    let secrets: Vec<(String, Password)> = match store.get_many(&names, prompt)? {
        Secrets::All(passwords) => references
            .iter()
            .map(|r| r.name.clone())
            .zip(passwords)
            .collect(),
        Secrets::Missing(missing) => {
            let missing: Vec<String> = missing
                .iter()
                .filter_map(|&i| references.get(i))
                .map(|r| format!("{} ({} in {})", r.name, quoted(&r.user), quoted(&r.service)))
                .collect();
            eprintln!(
                "tokenring: no such entry for {}; nothing was run",
                missing.join(", ")
            );
            return Ok(exit::NO_SUCH_ENTRY);
        }
    };
    drop(store);

    // From here on, the signals are the command's.
    prompt.stop_watching_signals();
    let child_pid = Arc::new(AtomicI32::new(0));
    let forwarder = forward_signals(Arc::clone(&child_pid))?;

    let mut command = Command::new(program);
    command.args(program_args);
    for (name, secret) in &secrets {
        command.env(name, secret.expose_secret());
    }
    let spawned = command.spawn();
    // Our copies of the secrets are no longer needed (the command's
    // environment is its own copy, made by the kernel at exec).
    drop(command);
    drop(secrets);
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            eprintln!("tokenring: cannot run {}: {e}", program.to_string_lossy());
            forwarder.close();
            return Ok(code);
        }
    };
    child_pid.store(
        i32::try_from(child.id()).unwrap_or(i32::MAX),
        Ordering::SeqCst,
    );
    let status = child
        .wait()
        .map_err(|e| Error::Other(format!("cannot wait for the command: {e}")));
    forwarder.close();
    Ok(exit_code_of(status?))
}

/// The command's exit status as ours: its code, or 128 + the signal that
/// ended it (as shells report it).
fn exit_code_of(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(u8::MAX),
        (None, Some(signal)) => u8::try_from((128 + signal) & 0xff).unwrap_or(u8::MAX),
        (None, None) => u8::MAX,
    }
}

/// Passes the signals another process sends us on to the command (once it
/// runs; before, such a signal ends `tokenring run` as it would have ended
/// the command). Signals from the kernel — Ctrl-C, a closed terminal —
/// already reach the command, which shares our process group, and are not
/// sent twice.
fn forward_signals(child: Arc<AtomicI32>) -> Result<signal_hook::iterator::Handle, Error> {
    let mut signals =
        SignalsInfo::<WithOrigin>::new([SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2])
            .map_err(|e| Error::Other(format!("cannot pass signals on: {e}")))?;
    let handle = signals.handle();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for origin in signals.forever() {
                if matches!(origin.cause, Cause::Kernel) {
                    continue;
                }
                let pid = child.load(Ordering::SeqCst);
                let signal = rustix::process::Signal::from_named_raw(origin.signal);
                match (rustix::process::Pid::from_raw(pid), signal) {
                    (Some(pid), Some(signal)) => {
                        let _ = rustix::process::kill_process(pid, signal);
                    }
                    // No command yet: stop here, as the command would have.
                    _ => std::process::exit(128 + origin.signal),
                }
            }
        })
        .map_err(|e| Error::Other(format!("cannot pass signals on: {e}")))?;
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse() {
        assert_eq!(
            parse_reference("TWINE_PASSWORD=pypi.org/__token__"),
            Ok(Reference {
                name: "TWINE_PASSWORD".into(),
                service: "pypi.org".into(),
                user: "__token__".into(),
            })
        );
        assert_eq!(
            parse_reference("_X1=git:https://h/p/alice").map(|r| (r.service, r.user)),
            Ok(("git:https://h/p".into(), "alice".into()))
        );
        for bad in ["X", "1X=a/b", "X-Y=a/b", "X=ab", "X=/b", "X=a/", "=a/b"] {
            assert!(parse_reference(bad).is_err(), "{bad}");
        }
    }
}
