//! `tokenring status`: where the vault is, its credential, the agent.

use clap::Args;
use tokenring::Error;
use tokenring_vault::{Vault, VaultError};

use super::{print_stdout, Context};

/// Show the vault's path and credential, and the authenticator choice.
///
/// Reads only the vault file's header: no authenticator is touched.
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
    let authenticator = match &context.devices.selector {
        Some(selector) => selector.to_string(),
        None => "any connected USB or NFC authenticator that holds the credential".to_string(),
    };
    out.push_str(&format!("authenticator: {authenticator}\n"));
    print_stdout(&out)?;
    Ok(0)
}
