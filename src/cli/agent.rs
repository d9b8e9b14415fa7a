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
/// the vault key after --idle-lock without a request and on `tokenring
/// lock`. Its socket is private to your user; one agent per vault.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring agent &                         # in the background of your shell
  tokenring agent --idle-lock 5m
  systemd-run --user --unit tokenring-agent tokenring agent

Exit codes: 0 stopped cleanly; 9 no vault; 10 another agent already
serves this vault, or the socket directory is not private (see
`tokenring --help`).")]
pub struct AgentArgs {
    /// Forget the vault key after this long without a request (e.g. 30s,
    /// 15m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_idle_lock)]
    pub idle_lock: Duration,
}

fn parse_idle_lock(text: &str) -> Result<Duration, String> {
    agent::parse_duration(text).map_err(|e| e.to_string())
}

/// Runs `agent`.
pub fn run(context: &Context, args: &AgentArgs) -> Result<u8, Error> {
    agent::run(AgentOptions {
        vault: context.vault.clone(),
        tokenring: context.tokenring.clone(),
        idle_lock: args.idle_lock,
    })?;
    Ok(0)
}
