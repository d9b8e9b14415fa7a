//! `tokenring devices [--json]`: the authenticators TokenRing can see.

use clap::Args;
use tokenring::{Error, Found, Opened, Prompt, Selector, TransportKind};

use super::{print_stdout, Context};

/// List the USB (HID) and NFC (PC/SC) authenticators TokenRing can see.
///
/// For each: its name, transport, path or reader, the selector that names
/// it for --authenticator, whether it supports hmac-secret (which TokenRing
/// needs) and its PIN state. Devices that cannot be opened are listed with
/// the reason and what to do (e.g. the udev rules for a USB key this user
/// may not open). Nothing here needs a touch. The software authenticator
/// appears only when named with --authenticator sim:STATEFILE.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring devices
  tokenring devices --json | jq -r '.devices[].selector'

JSON output: {\"devices\": [{\"name\", \"transport\", \"path\", \"selector\",
\"hmac_secret\", \"pin\", \"error\"}], \"notes\": [...]}")]
pub struct DevicesArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One row of the list.
struct Row {
    name: String,
    transport: TransportKind,
    selector: Selector,
    hmac_secret: Option<bool>,
    pin: Option<String>,
    error: Option<String>,
}

/// Runs `devices`.
pub fn run(context: &Context, args: &DevicesArgs, prompt: &dyn Prompt) -> Result<u8, Error> {
    #[cfg(not(feature = "sim"))]
    let _ = context;
    // Every device, whatever --authenticator names; a simulator is listed
    // only when named.
    #[allow(unused_mut)]
    let mut tokenring = tokenring::app::env::every_source()?;
    #[cfg(feature = "sim")]
    if let Some(Selector::Sim(path)) = context.tokenring.discovery().selector() {
        tokenring = tokenring.with_source(
            tokenring::SimSource::new()
                .presence(tokenring::app::env::sim_presence()?)
                .with_state_file(path),
        );
    }
    let Found { opened, problems } = tokenring.discovery().open_all(prompt);
    let mut rows: Vec<Row> = opened.into_iter().map(row).collect();
    let mut notes = Vec::new();
    for problem in problems {
        match problem.device {
            Some(device) => rows.push(Row {
                name: device.name,
                transport: device.selector.transport(),
                selector: device.selector,
                hmac_secret: None,
                pin: None,
                error: Some(problem.message),
            }),
            None => notes.push(problem.message),
        }
    }
    let text = if args.json {
        json(&rows, &notes)?
    } else {
        text(&rows, &notes)
    };
    print_stdout(&text)?;
    Ok(0)
}

/// A row for an opened authenticator, with its PIN retries (getPINRetries:
/// no tap) when a PIN is set.
fn row(mut opened: Opened) -> Row {
    let info = &opened.info;
    let pin = match info.client_pin {
        Some(true) => match opened.authenticator.pin_retries() {
            Ok(Some(n)) => format!("set ({n} {} left)", if n == 1 { "try" } else { "tries" }),
            _ => "set".to_string(),
        },
        Some(false) => "not set".to_string(),
        None => "not supported".to_string(),
    };
    Row {
        name: info.name.clone(),
        transport: info.transport,
        selector: Selector::new(info.transport, &info.path),
        hmac_secret: Some(info.hmac_secret),
        pin: Some(pin),
        error: None,
    }
}

fn path_of(selector: &Selector) -> String {
    let text = selector.to_string();
    match text.split_once(':') {
        Some((_, path)) => path.to_string(),
        None => text,
    }
}

fn json(rows: &[Row], notes: &[String]) -> Result<String, Error> {
    let devices: Vec<serde_json::Value> = rows
        .iter()
        .map(|d| {
            serde_json::json!({
                "name": d.name,
                "transport": d.transport.to_string(),
                "path": path_of(&d.selector),
                "selector": d.selector.to_string(),
                "hmac_secret": d.hmac_secret,
                "pin": d.pin,
                "error": d.error,
            })
        })
        .collect();
    let value = serde_json::json!({ "devices": devices, "notes": notes });
    let mut text = serde_json::to_string_pretty(&value)
        .map_err(|e| Error::Other(format!("cannot write JSON: {e}")))?;
    text.push('\n');
    Ok(text)
}

fn text(rows: &[Row], notes: &[String]) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str(
            "No authenticators found: plug in your authenticator or hold it to the reader.\n",
        );
    }
    for d in rows {
        if d.name.is_empty() {
            out.push_str(&format!("{}\n", d.selector));
        } else {
            out.push_str(&format!("{} ({})\n", d.selector, d.name));
        }
        match &d.error {
            Some(error) => out.push_str(&format!("    cannot be used: {error}\n")),
            None => {
                let hmac = match d.hmac_secret {
                    Some(true) => "yes",
                    Some(false) => "no (TokenRing cannot use it)",
                    None => "unknown",
                };
                out.push_str(&format!("    transport:   {}\n", d.transport));
                out.push_str(&format!("    hmac-secret: {hmac}\n"));
                out.push_str(&format!(
                    "    PIN:         {}\n",
                    d.pin.as_deref().unwrap_or("unknown")
                ));
            }
        }
    }
    for note in notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}
