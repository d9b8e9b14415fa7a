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
    let mut text = String::new();
    if args.json {
        // The names go straight from the store into the output.
        let mut first = true;
        let mut failed = None;
        text.push('[');
        store.for_each_name(prompt, &mut |service, user| {
            text.push_str(if first { "\n  " } else { ",\n  " });
            first = false;
            if let Err(e) = write_json(&mut text, &JsonName { service, user }) {
                failed.get_or_insert(e);
            }
        })?;
        if let Some(e) = failed {
            return Err(Error::Other(format!("cannot write JSON: {e}")));
        }
        text.push_str(if first { "]\n" } else { "\n]\n" });
    } else {
        store.for_each_name(prompt, &mut |service, user| {
            push_escaped(&mut text, service);
            text.push('\t');
            push_escaped(&mut text, user);
            text.push('\n');
        })?;
    }
    print_stdout(&text)?;
    Ok(0)
}

/// One entry of `--json`, borrowed.
#[derive(serde::Serialize)]
struct JsonName<'a> {
    service: &'a str,
    user: &'a str,
}

/// Appends one name object as pretty JSON, indented one level.
fn write_json(text: &mut String, name: &JsonName<'_>) -> Result<(), serde_json::Error> {
    let pretty = serde_json::to_string_pretty(name)?;
    text.push_str(&pretty.replace('\n', "\n  "));
    Ok(())
}

/// Appends a name escaped for one tab-separated line.
fn push_escaped(out: &mut String, name: &str) {
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
}

#[cfg(test)]
fn escape(name: &str) -> String {
    let mut out = String::new();
    push_escaped(&mut out, name);
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
