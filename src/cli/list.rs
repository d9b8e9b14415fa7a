//! `tokenring list [--json]`: the names in the vault, never secrets.

use clap::Args;
use tokenring::app::terminal::TerminalPrompt;
use tokenring::Error;

use super::{print_stdout, Context};

/// List the (service, user) names in the vault; never secrets.
///
/// One line per entry: the service, a tab, the user (tabs, newlines and
/// backslashes in names are escaped as \t, \n and \\). Needs the touch that
/// unlocks the vault (none with an unlocked agent).
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring list
  tokenring list --json | jq -r '.[].service'

JSON output: [{\"service\": \"pypi.org\", \"user\": \"__token__\"}, ...]")]
pub struct ListArgs {
    /// Print a JSON array of {\"service\", \"user\"} objects.
    #[arg(long)]
    pub json: bool,
}

/// Runs `list`.
pub fn run(context: &Context, args: &ListArgs, prompt: &TerminalPrompt) -> Result<u8, Error> {
    let store = context.store()?;
    let names = store.list(prompt)?;
    let text = if args.json {
        let array: Vec<serde_json::Value> = names
            .iter()
            .map(|(service, user)| serde_json::json!({ "service": service, "user": user }))
            .collect();
        let mut text = serde_json::to_string_pretty(&array)
            .map_err(|e| Error::Other(format!("cannot write JSON: {e}")))?;
        text.push('\n');
        text
    } else {
        let mut text = String::new();
        for (service, user) in &names {
            text.push_str(&escape(service));
            text.push('\t');
            text.push_str(&escape(user));
            text.push('\n');
        }
        text
    };
    print_stdout(&text)?;
    Ok(0)
}

/// Escapes a name for one tab-separated line.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:04x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn names_stay_on_one_line() {
        assert_eq!(escape("a\tb\nc\\d\u{1b}"), "a\\tb\\nc\\\\d\\u{001b}");
        assert_eq!(escape("bank.example"), "bank.example");
    }
}
