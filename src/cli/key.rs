//! `tokenring key list|add|remove`: the authenticators of a format-2 vault.

use clap::{Args, Subcommand};
use tokenring::app::terminal::TerminalPrompt;
use tokenring::{Error, KeyOptions, KeySlot, Selector};
use tokenring_vault::Vault;

use super::{print_stdout, quoted, Context};

/// The authenticators (keys) that open the vault (format 2).
///
/// Any key listed opens the vault and reads every secret, with a touch on
/// it. Keep a second key as a backup: with it, losing the daily key loses
/// nothing (`tokenring rekey` then makes the lost one useless).
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring key list
  tokenring key add --label drawer                      # the new key and one enrolled key connected
  tokenring --authenticator hid:/dev/hidraw3 key add --new hid:/dev/hidraw4 --label drawer
  tokenring key remove daily                            # then: tokenring rekey

Exit codes: 0 done; 2 not a format-2 vault, the last key, no such key;
4 no connected key holds the vault's credentials (see `tokenring --help`).")]
pub struct KeyArgs {
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    List(ListArgs),
    Add(AddArgs),
    Remove(RemoveArgs),
}

/// List the vault's keys: number, label, transport, policy, usage, AAGUID.
///
/// Reads the file's header without a touch (not verified: a modified
/// header shows here, and fails at the next open).
#[derive(Args, Debug)]
struct ListArgs {}

/// Add an authenticator to the vault.
///
/// First the new key: it registers a credential (a touch; a key with
/// CTAP 2.2's hmac-secret-mc needs no more, a CTAP 2.1 key one more touch),
/// then one touch (and the PIN, where it verifies the user) on a key the
/// vault already has, whatever the number of entries: 2 touches in all, 3
/// with a CTAP 2.1 key.
#[derive(Args, Debug)]
struct AddArgs {
    /// The new key's name (default: the authenticator's name).
    #[arg(long, value_name = "NAME")]
    label: Option<String>,
    /// Make its credential with credProtect level 3 and derive everything
    /// with user verification (PIN or fingerprint), so that a program
    /// talking to the key directly gets nothing without the PIN.
    #[arg(long, alias = "require-pin")]
    require_uv: bool,
    /// The new authenticator (hid:PATH, nfc:READER, sim:STATEFILE); by
    /// default the one connected key that holds no credential of the vault.
    #[arg(long, value_name = "SELECTOR", value_parser = super::parse_selector)]
    new: Option<Selector>,
}

/// Remove a key (by label or number) from the vault; never the last.
///
/// One touch on a remaining key (to open the vault). The removed key can
/// still read an old copy of the file: run `tokenring rekey` afterwards if
/// it was lost or stolen.
#[derive(Args, Debug)]
struct RemoveArgs {
    /// The key's label or number (see `tokenring key list`).
    key: String,
}

/// Runs `key`.
pub fn run(context: &Context, args: &KeyArgs, prompt: &TerminalPrompt) -> Result<u8, Error> {
    match &args.command {
        KeyCommand::List(_) => list(context),
        KeyCommand::Add(a) => add(context, a, prompt),
        KeyCommand::Remove(r) => remove(context, r, prompt),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn aaguid(a: &[u8; 16]) -> String {
    let h = hex(a);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// One line per key, for `key list`.
pub fn describe(slot: &KeySlot) -> String {
    let policy = match (slot.daily_uv, slot.recovery_uv) {
        (true, _) => "touch + PIN/UV",
        (false, true) => "touch (backup: + PIN/UV)",
        (false, false) => "touch",
    };
    format!(
        "{}\t{}\t{}\t{}\tcredProtect {}\towns {} ({} from format 1)\t{}",
        slot.id,
        slot.label.escape_default(),
        slot.transport
            .map(|t| t.to_string())
            .unwrap_or_else(|| "?".into()),
        policy,
        slot.cred_protect,
        slot.owned,
        slot.legacy,
        aaguid(&slot.aaguid),
    )
}

fn list(context: &Context) -> Result<u8, Error> {
    let slots = Vault::slots_of(&context.vault)?;
    let mut text =
        String::from("#\tlabel\tseen on\tpolicy\tcredProtect\tentries it wrote\tAAGUID\n");
    for slot in &slots {
        text.push_str(&describe(slot));
        text.push('\n');
    }
    print_stdout(&text)?;
    eprintln!(
        "{} key(s); any of them opens the vault (read from the file without a touch, not verified)",
        slots.len()
    );
    Ok(0)
}

fn add(context: &Context, args: &AddArgs, prompt: &TerminalPrompt) -> Result<u8, Error> {
    let credentials = Vault::credentials_of(&context.vault)?;
    let (mut new, mut enrolled) = match &args.new {
        Some(selector) => {
            let everything = tokenring::app::env::every_source()?;
            let new = everything.discovery().open(selector, prompt)?;
            let enrolled = context
                .tokenring
                .find_vault_holder(&context.vault, prompt)?;
            (new, enrolled)
        }
        None => {
            let found = context.tokenring.discovery().open_all(prompt);
            let mut new = Vec::new();
            let mut enrolled = Vec::new();
            for mut opened in found.opened {
                let holds = credentials
                    .iter()
                    .any(|c| opened.authenticator.probe(&c.id, &c.rp_id).unwrap_or(false));
                if holds {
                    enrolled.push(opened);
                } else if opened.info.hmac_secret {
                    new.push(opened);
                }
            }
            if new.len() != 1 || enrolled.is_empty() {
                return Err(Error::Other(format!(
                    "connect exactly one new key ({} found) and one key the vault already has ({} found), or name the new one with --new SELECTOR",
                    new.len(),
                    enrolled.len()
                )));
            }
            (new.remove(0), enrolled.remove(0))
        }
    };
    let mc = new.info.has_extension("hmac-secret-mc");
    eprintln!(
        "Adding {} to the vault: {} on it, then one touch on {} (with its PIN if it has one).",
        new.label(),
        if mc {
            "one touch (it supports hmac-secret-mc)"
        } else {
            "two touches (a CTAP 2.1 key: register, then derive)"
        },
        enrolled.label()
    );
    let slot = Vault::add_key(
        &context.vault,
        &mut *new.authenticator,
        &mut *enrolled.authenticator,
        &KeyOptions {
            label: args.label.clone(),
            require_uv: args.require_uv,
        },
        context.tokenring.vault_options(),
        prompt,
    )?;
    eprintln!(
        "Added key {} {}: it opens every entry of the vault (every secret is sealed to it), {}",
        slot.id,
        quoted(&slot.label),
        if slot.recovery_uv {
            "with a touch and its PIN (or fingerprint)"
        } else {
            "with one touch: this key cannot verify the user, so one touch on it opens everything; keep it in a drawer, or set a PIN on it and add it again"
        }
    );
    Ok(0)
}

fn remove(context: &Context, args: &RemoveArgs, prompt: &TerminalPrompt) -> Result<u8, Error> {
    let mut opened = context
        .tokenring
        .find_vault_holder(&context.vault, prompt)?;
    let vault = Vault::open_with(
        &context.vault,
        &mut *opened.authenticator,
        prompt,
        context.tokenring.vault_options(),
    )?;
    let slot = vault.remove_key(&args.key)?;
    eprintln!(
        "Removed key {} {}. It can still read an old copy of this file; if it was lost or stolen, run `tokenring rekey` now.",
        slot.id,
        quoted(&slot.label)
    );
    Ok(0)
}
