//! `tokenring agent`: run the agent in the foreground.

use std::time::Duration;

use clap::Args;
use tokenring::app::agent::{self, AgentOptions};
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
/// the time the computer was suspended. Its socket is private to your
/// user; one agent per vault.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring agent &                         # in the background of your shell
  tokenring agent --idle-lock 5m --max-unlocked 1h
  systemd-run --user --unit tokenring-agent tokenring agent

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
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    agent::parse_duration(text).map_err(|e| e.to_string())
}

/// Runs `agent`.
pub fn run(context: &Context, args: &AgentArgs) -> Result<u8, Error> {
    agent::run(AgentOptions {
        vault: context.vault.clone(),
        tokenring: context.tokenring.clone(),
        idle_lock: args.idle_lock,
        max_unlocked: args.max_unlocked,
    })?;
    Ok(0)
}
