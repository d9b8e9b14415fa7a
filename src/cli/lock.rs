//! `tokenring lock`: make the agent forget the vault key.

use clap::Args;
use tokenring::agent::AgentClient;
use tokenring::Error;

use super::Context;

/// Make the running agent forget the vault key now.
///
/// The next request through the agent needs the unlock touch again. When
/// no agent runs for the vault, there is nothing to lock (exit 0).
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring lock
  loginctl lock-session && tokenring lock")]
pub struct LockArgs {}

/// Runs `lock`.
pub fn run(context: &Context, _args: &LockArgs) -> Result<u8, Error> {
    match AgentClient::connect(&context.vault)? {
        Some(client) => {
            client.lock()?;
            eprintln!(
                "The agent (pid {}) forgot the vault key of {}",
                client.pid(),
                context.vault.display()
            );
        }
        None => eprintln!(
            "No agent runs for {}; nothing to lock",
            context.vault.display()
        ),
    }
    Ok(0)
}
