//! `tokenring status [--json]`: where the vault is, its credential, the agent.

use clap::Args;
use std::time::Duration;

use tokenring::agent::{AgentClient, StatusReport};
use tokenring::app::agent::{format_duration, units};
use tokenring::Error;
use tokenring_vault::{Vault, VaultError};

use super::{print_stdout, Context};

/// Show the vault's path and credential, the authenticator choice, and
/// whether an agent serves the vault.
///
/// Reads only the vault file's header and asks the agent for its state
/// (which does not unlock it nor reset its idle timer): no authenticator is
/// touched. With the systemd units installed but no agent running, says how
/// to start them.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring status
  tokenring --vault ~/work.tokenvault status
  tokenring status --json | jq .agent.state

JSON output: {\"vault\": {\"path\", \"state\": \"present\"|\"missing\"|\"unreadable\",
\"credential_id\", \"rp_id\", \"error\"}, \"authenticator\": SELECTOR or null,
\"agent\": {\"state\": \"running\"|\"not_running\"|\"unreachable\", \"pid\", \"locked\",
\"entries\", \"idle_lock_in_secs\", \"socket\", \"units\": PATH or null, \"error\"}}")]
pub struct StatusArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

enum VaultState {
    Present {
        credential_id: String,
        rp_id: String,
    },
    Missing,
    Unreadable(String),
}

enum AgentState {
    Running {
        pid: u32,
        report: Option<StatusReport>,
        error: Option<String>,
    },
    NotRunning,
    Unreachable(String),
}

/// Runs `status`.
pub fn run(context: &Context, args: &StatusArgs) -> Result<u8, Error> {
    let vault = match Vault::credential_of(&context.vault) {
        Ok(credential) => VaultState::Present {
            credential_id: hex::encode(credential.id.as_bytes()),
            rp_id: credential.rp_id,
        },
        Err(VaultError::NotFound { .. }) => VaultState::Missing,
        Err(e) => VaultState::Unreadable(e.to_string()),
    };
    let agent = match AgentClient::connect(&context.vault) {
        Ok(Some(client)) => match client.status() {
            Ok(report) => AgentState::Running {
                pid: report.pid,
                report: Some(report),
                error: None,
            },
            Err(e) => AgentState::Running {
                pid: client.pid(),
                report: None,
                error: Some(e.to_string()),
            },
        },
        Ok(None) => AgentState::NotRunning,
        Err(e) => AgentState::Unreachable(e.to_string()),
    };
    let units = units::installed();
    let selector = context
        .tokenring
        .discovery()
        .selector()
        .map(ToString::to_string);
    let text = if args.json {
        json(context, &vault, selector, &agent, units.as_deref())?
    } else {
        text(context, &vault, selector, &agent, units.as_deref())
    };
    print_stdout(&text)?;
    Ok(0)
}

fn text(
    context: &Context,
    vault: &VaultState,
    selector: Option<String>,
    agent: &AgentState,
    units: Option<&std::path::Path>,
) -> String {
    let mut out = String::new();
    let path = context.vault.display();
    match vault {
        VaultState::Present {
            credential_id,
            rp_id,
        } => {
            out.push_str(&format!("vault:         {path}\n"));
            let short = credential_id.get(..16).unwrap_or(credential_id);
            out.push_str(&format!(
                "credential:    {short}… ({} bytes) for {rp_id}\n",
                credential_id.len() / 2
            ));
        }
        VaultState::Missing => out.push_str(&format!(
            "vault:         {path} (none yet: create it with `tokenring init`)\n"
        )),
        VaultState::Unreadable(e) => {
            out.push_str(&format!("vault:         {path} (unreadable: {e})\n"))
        }
    }
    let authenticator = selector.unwrap_or_else(|| {
        "any connected USB or NFC authenticator that holds the credential".to_string()
    });
    out.push_str(&format!("authenticator: {authenticator}\n"));
    let agent_line = match agent {
        AgentState::Running {
            pid,
            report: Some(report),
            ..
        } => {
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
            format!("running (pid {pid}), {state}")
        }
        AgentState::Running { pid, error, .. } => format!(
            "running (pid {pid}) but not answering: {}",
            error.as_deref().unwrap_or("no answer")
        ),
        AgentState::NotRunning => match units {
            Some(units_path) => format!(
                "not running; the systemd units are installed ({}): start them with \
                 `systemctl --user enable --now {}`",
                units_path.display(),
                units::SOCKET_UNIT
            ),
            None => "not running (start one with `tokenring agent`, or install the systemd \
                     units with `tokenring agent --install-units`)"
                .to_string(),
        },
        AgentState::Unreachable(e) => format!("unreachable: {e}"),
    };
    out.push_str(&format!("agent:         {agent_line}\n"));
    out
}

fn json(
    context: &Context,
    vault: &VaultState,
    selector: Option<String>,
    agent: &AgentState,
    units: Option<&std::path::Path>,
) -> Result<String, Error> {
    use serde_json::{json, Value};
    let path = context.vault.display().to_string();
    let vault = match vault {
        VaultState::Present {
            credential_id,
            rp_id,
        } => json!({"path": path, "state": "present", "credential_id": credential_id,
                    "rp_id": rp_id, "error": Value::Null}),
        VaultState::Missing => {
            json!({"path": path, "state": "missing", "credential_id": Value::Null,
                    "rp_id": Value::Null, "error": Value::Null})
        }
        VaultState::Unreadable(e) => json!({"path": path, "state": "unreadable",
                    "credential_id": Value::Null, "rp_id": Value::Null, "error": e}),
    };
    let units = units.map(|p| p.display().to_string());
    let socket = tokenring::agent::socket_path(&context.vault).map(|p| p.display().to_string());
    let mut agent = match agent {
        AgentState::Running { pid, report, error } => json!({
            "state": "running",
            "pid": pid,
            "locked": report.as_ref().map(|r| r.locked),
            "entries": report.as_ref().and_then(|r| r.entries),
            "idle_lock_in_secs": report.as_ref().and_then(|r| r.idle_lock_in_secs),
            "units": units,
            "error": error,
        }),
        AgentState::NotRunning => json!({"state": "not_running", "pid": Value::Null,
            "locked": Value::Null, "entries": Value::Null, "idle_lock_in_secs": Value::Null,
            "units": units, "error": Value::Null}),
        AgentState::Unreachable(e) => json!({"state": "unreachable", "pid": Value::Null,
            "locked": Value::Null, "entries": Value::Null, "idle_lock_in_secs": Value::Null,
            "units": units, "error": e}),
    };
    agent["socket"] = json!(socket);
    let value = json!({"vault": vault, "authenticator": selector, "agent": agent});
    let mut text = serde_json::to_string_pretty(&value)
        .map_err(|e| Error::Other(format!("cannot write JSON: {e}")))?;
    text.push('\n');
    Ok(text)
}
