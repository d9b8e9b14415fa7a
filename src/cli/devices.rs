//! `tokenring devices [--json]`: the authenticators TokenRing can see.

use clap::Args;
use tokenring::devices::{list_devices, DeviceList};
use tokenring::Error;

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

/// Runs `devices`.
pub fn run(context: &Context, args: &DevicesArgs) -> Result<u8, Error> {
    let list = list_devices(&context.devices);
    let text = if args.json { json(&list)? } else { text(&list) };
    print_stdout(&text)?;
    Ok(0)
}

fn json(list: &DeviceList) -> Result<String, Error> {
    let devices: Vec<serde_json::Value> = list
        .devices
        .iter()
        .map(|d| {
            serde_json::json!({
                "name": d.name,
                "transport": d.transport,
                "path": d.path,
                "selector": d.selector,
                "hmac_secret": d.hmac_secret,
                "pin": d.pin,
                "error": d.error,
            })
        })
        .collect();
    let value = serde_json::json!({ "devices": devices, "notes": list.notes });
    let mut text = serde_json::to_string_pretty(&value)
        .map_err(|e| Error::Other(format!("cannot write JSON: {e}")))?;
    text.push('\n');
    Ok(text)
}

fn text(list: &DeviceList) -> String {
    let mut out = String::new();
    if list.devices.is_empty() {
        out.push_str(
            "No authenticators found: plug in your authenticator or hold it to the reader.\n",
        );
    }
    for d in &list.devices {
        out.push_str(&format!("{} ({})\n", d.selector, d.name));
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
    for note in &list.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}
