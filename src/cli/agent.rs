//! `tokenring agent`: run the agent in the foreground.

use std::time::Duration;

use clap::Args;
use tokenring::app::agent::{self, units, AgentOptions};
use tokenring::Error;

use super::Context;

/// Run the agent for the vault in the foreground, until SIGTERM or Ctrl-C.
///
/// The agent unlocks the vault once (one touch, on the first request that
/// needs it) and then needs exactly one touch per secret; every command and
/// integration uses it automatically while it runs. Touch prompts and PIN
/// requests appear on the terminal of the command that asked. It forgets
/// the vault key after --idle-lock without a request, --max-unlocked after
/// each unlock whatever the requests, and on `tokenring lock`. Both count
/// the time the computer was suspended. Every request it serves is recorded
/// in the audit log (`tokenring log`). Its socket is private to your user;
/// one agent per vault.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring agent &                         # in the background of your shell
  tokenring agent --idle-lock 5m --max-unlocked 1h
  tokenring agent --install-units           # a systemd user service, started by
  systemctl --user enable --now tokenring-agent.socket   # the first client

Exit codes: 0 stopped cleanly; 9 no vault; 10 another agent already
serves this vault, or the socket directory is not private (see
`tokenring --help`).")]
pub struct AgentArgs {
    /// Forget the vault key after this long without a request (e.g. 30s,
    /// 15m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    pub idle_lock: Duration,

    /// Forget the vault key this long after each unlock, however busy the
    /// agent is: requests that need no touch (list, delete) do not extend
    /// it (e.g. 1h, 8h).
    #[arg(long, value_name = "DURATION", default_value = "2h", value_parser = parse_duration)]
    pub max_unlocked: Duration,

    /// No desktop notifications when a request waits for a touch (they are
    /// shown where there is a session bus, naming the program that asks
    /// and the entry).
    #[arg(long)]
    pub no_notifications: bool,

    /// Do not lock the vault when the screen locks or before the system
    /// sleeps (logind's signals on the system bus, where logind runs).
    #[arg(long)]
    pub no_lock_on_sleep: bool,

    /// Instead of running the agent: write the systemd user units that start
    /// it on the first connection (socket activation) to
    /// ~/.config/systemd/user, for this vault and this program; then
    /// `systemctl --user enable --now tokenring-agent.socket`.
    #[arg(long, conflicts_with = "remove_units")]
    pub install_units: bool,

    /// Instead of running the agent: remove the units --install-units wrote
    /// (stop them first: `systemctl --user disable --now tokenring-agent.socket`).
    #[arg(long)]
    pub remove_units: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    agent::parse_duration(text).map_err(|e| e.to_string())
}

/// Runs `agent`.
pub fn run(context: &Context, args: &AgentArgs) -> Result<u8, Error> {
    if args.install_units {
        return install_units(context);
    }
    if args.remove_units {
        return remove_units();
    }
    agent::run(AgentOptions {
        vault: context.vault.clone(),
        tokenring: context.tokenring.clone(),
        idle_lock: args.idle_lock,
        max_unlocked: args.max_unlocked,
        audit_log: agent::audit::default_path(),
        session_bus: if args.no_notifications {
            Err("--no-notifications".to_string())
        } else {
            tokenring::app::env::session_bus_address().ok_or_else(|| "no session bus".to_string())
        },
        system_bus: if args.no_lock_on_sleep {
            Err("--no-lock-on-sleep".to_string())
        } else {
            Ok(tokenring::app::env::system_bus_address())
        },
    })?;
    Ok(0)
}

fn unit_dir() -> Result<std::path::PathBuf, Error> {
    units::user_unit_dir().ok_or_else(|| {
        Error::Other("cannot tell where systemd user units go: HOME is not set".into())
    })
}

fn install_units(context: &Context) -> Result<u8, Error> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| Error::Other(format!("cannot tell where this program is: {e}")))?;
    // The vault must exist: its socket's name depends on its canonical path.
    tokenring_vault::Vault::credential_of(&context.vault)?;
    let socket = tokenring::agent::socket_path(&context.vault).ok_or_else(|| {
        Error::Agent("no directory for the agent's socket: set XDG_RUNTIME_DIR or HOME".into())
    })?;
    let default = tokenring::default_vault_path()
        .ok()
        .and_then(|p| p.canonicalize().ok())
        .is_some_and(|p| Some(p) == context.vault.canonicalize().ok());
    let (socket_unit, service_unit) = units::render(&exe, &context.vault, &socket, default)?;
    let written = units::write(
        &unit_dir()?,
        &[
            (units::SOCKET_UNIT, &socket_unit),
            (units::SERVICE_UNIT, &service_unit),
        ],
    )?;
    for path in &written {
        eprintln!("wrote {}", path.display());
    }
    eprintln!(
        "The agent for {} now starts with the first request once you run:\n  \
         systemctl --user enable --now {}",
        context.vault.display(),
        units::SOCKET_UNIT
    );
    Ok(0)
}

fn remove_units() -> Result<u8, Error> {
    let removed = units::remove(&unit_dir()?)?;
    if removed.is_empty() {
        eprintln!("no TokenRing units in {}", unit_dir()?.display());
    }
    for path in &removed {
        eprintln!("removed {}", path.display());
    }
    Ok(0)
}
