//! `tokenring status`: where the vault is, its credential, the agent.

use clap::Args;
use std::time::Duration;

use tokenring::agent::AgentClient;
use tokenring::app::agent::format_duration;
use tokenring::Error;
use tokenring_vault::{Vault, VaultError};

use super::{print_stdout, Context};

/// Show the vault's path and credential, the authenticator choice, and
/// whether an agent serves the vault.
///
/// Reads only the vault file's header and asks the agent for its state
/// (which does not unlock it nor reset its idle timer): no authenticator is
/// touched.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring status
  tokenring --vault ~/work.tokenvault status")]
pub struct StatusArgs {}

/// Runs `status`.
pub fn run(context: &Context, _args: &StatusArgs) -> Result<u8, Error> {
    let mut out = String::new();
    let path = context.vault.display();
    match Vault::credential_of(&context.vault) {
        Ok(credential) => {
            out.push_str(&format!("vault:         {path}\n"));
            let id = hex::encode(credential.id.as_bytes());
            let short = id.get(..16).unwrap_or(&id);
            out.push_str(&format!(
                "credential:    {short}… ({} bytes) for {}\n",
                credential.id.as_bytes().len(),
                credential.rp_id
            ));
        }
        Err(VaultError::NotFound { .. }) => {
            out.push_str(&format!(
                "vault:         {path} (none yet: create it with `tokenring init`)\n"
            ));
        }
        Err(e) => out.push_str(&format!("vault:         {path} (unreadable: {e})\n")),
    }
    let authenticator = match context.tokenring.discovery().selector() {
        Some(selector) => selector.to_string(),
        None => "any connected USB or NFC authenticator that holds the credential".to_string(),
    };
    out.push_str(&format!("authenticator: {authenticator}\n"));
    out.push_str(&format!("agent:         {}\n", agent_line(context)));
    print_stdout(&out)?;
    Ok(0)
}

fn agent_line(context: &Context) -> String {
    let client = match AgentClient::connect(&context.vault) {
        Ok(Some(client)) => client,
        Ok(None) => return "not running (start one with `tokenring agent`)".to_string(),
        Err(e) => return format!("unreachable: {e}"),
    };
    match client.status() {
        Ok(report) => {
            let state = if report.locked {
                "locked (the next request needs the unlock touch)".to_string()
            } else {
                let entries = report
                    .entries
                    .map(|n| format!(", {n} {}", if n == 1 { "entry" } else { "entries" }))
                    .unwrap_or_default();
                // Whichever comes first: the idle lock or the end of the
                // maximum unlocked lifetime.
                let idle = report
                    .idle_lock_in_secs
                    .into_iter()
                    .chain(report.max_unlocked_in_secs)
                    .reduce(f64::min)
                    .and_then(|s| Duration::try_from_secs_f64(s.round()).ok())
                    .map(|d| format!(", locks itself in {}", format_duration(d)))
                    .unwrap_or_default();
                format!("unlocked{entries}{idle}")
            };
            format!("running (pid {}), {state}", report.pid)
        }
        Err(e) => format!("running (pid {}) but not answering: {e}", client.pid()),
    }
}
