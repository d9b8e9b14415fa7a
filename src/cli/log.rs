//! `tokenring log`: the agent's audit log.

use std::path::Path;

use clap::Args;
use tokenring::app::agent::audit::{self, AuditRecord};
use tokenring::Error;

use super::{print_stdout, quoted, Context};

/// Show what the agent released, and to whom: its audit log.
///
/// The agent records every request it serves (get, set, delete, list,
/// lock) and the locks it makes on its own: when, the process that asked
/// (pid and executable), the entry, and how it ended (released, stored,
/// deleted, listed, unlocked, locked, denied, timed_out, cancelled,
/// not_found, unchanged, failed). Never a secret. Shown oldest first, for
/// the vault in use unless --all-vaults.
///
/// The log is $XDG_STATE_HOME/tokenring/audit.log (by default
/// ~/.local/state/tokenring/audit.log), mode 0600; at 1 MiB it moves to
/// audit.log.1 (replacing the older one). Programs that open the vault
/// themselves (no agent, or --no-agent) are not in it.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring log                  # the last 50 records of this vault
  tokenring log -n 0 --all-vaults
  tokenring log --json | jq 'select(.outcome == \"released\")'")]
pub struct LogArgs {
    /// Show the last N records (0: all).
    #[arg(short = 'n', long, value_name = "N", default_value_t = 50)]
    lines: usize,

    /// Show the records of every vault, not only of the one in use.
    #[arg(long)]
    all_vaults: bool,

    /// Print the records as stored, one JSON object per line.
    #[arg(long)]
    json: bool,
}

/// Runs `log`.
pub fn run(context: &Context, args: &LogArgs) -> Result<u8, Error> {
    let path = audit::default_path().ok_or_else(|| {
        Error::Other("cannot tell where the audit log is: HOME is not set".into())
    })?;
    let contents = audit::read(&path)
        .map_err(|e| Error::Other(format!("cannot read the audit log {}: {e}", path.display())))?;
    if contents.unreadable > 0 {
        eprintln!(
            "tokenring: {} line(s) of {} are not records and were skipped",
            contents.unreadable,
            path.display()
        );
    }
    let vault = canonical(&context.vault);
    let mut records: Vec<&AuditRecord> = contents
        .records
        .iter()
        .filter(|r| args.all_vaults || r.vault == vault)
        .collect();
    if args.lines > 0 && records.len() > args.lines {
        records.drain(..records.len() - args.lines);
    }
    if records.is_empty() {
        eprintln!(
            "No agent requests recorded{} in {}",
            if args.all_vaults {
                String::new()
            } else {
                format!(" for {vault}")
            },
            path.display()
        );
        return Ok(0);
    }
    let mut out = String::new();
    for record in records {
        if args.json {
            out.push_str(&serde_json::to_string(record).map_err(|e| Error::Other(e.to_string()))?);
        } else {
            out.push_str(&line(record, args.all_vaults));
        }
        out.push('\n');
    }
    print_stdout(&out)?;
    Ok(0)
}

fn canonical(path: &Path) -> String {
    path.canonicalize()
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// `2025-06-01T12:34:56Z  released   get 'live' in 'stripe.com' by '/usr/bin/python3' (pid 4242)`.
fn line(record: &AuditRecord, with_vault: bool) -> String {
    let what = match (&record.service, &record.user) {
        (Some(service), Some(user)) => {
            format!("{} {} in {}", record.request, quoted(user), quoted(service))
        }
        _ => match record.request.as_str() {
            "idle_lock" => "lock after the idle time".to_string(),
            "max_unlocked" => "lock at the end of the maximum unlocked time".to_string(),
            other => other.to_string(),
        },
    };
    let program = record
        .exe
        .as_deref()
        .map(quoted)
        .unwrap_or_else(|| "an unknown program".to_string());
    let mut text = format!(
        "{}  {:<10} {what} by {program} (pid {})",
        record.time,
        record.outcome.name(),
        record.pid
    );
    if let Some(detail) = &record.detail {
        text.push_str(": ");
        // Shown as is but for control characters (a name in an error
        // message cannot rewrite the terminal).
        text.extend(detail.chars().map(|c| if c.is_control() { '?' } else { c }));
    }
    if with_vault {
        text.push_str(&format!(" [{}]", quoted(&record.vault)));
    }
    text
}
