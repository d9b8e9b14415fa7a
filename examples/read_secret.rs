//! The common case of a program that embeds TokenRing: the vault at the
//! default path (the original's), whatever authenticator holds it, one
//! secret to standard output.
//!
//! ```text
//! cargo run --example read_secret -- SERVICE USER
//! ```
//!
//! Touch your authenticator when asked on stderr. The agent is used when
//! it runs (one tap); otherwise the vault is unlocked here (one tap more).
//! This example asks for no PIN: a vault whose authenticator needs one for
//! each derivation is better read with `tokenring get`.

use std::process::ExitCode;

use tokenring::Prompt;

struct Stderr;

impl Prompt for Stderr {
    fn touch_needed(&self, purpose: &str) {
        eprintln!("Touch your authenticator to {purpose}");
    }
    fn info(&self, message: &str) {
        eprintln!("{message}");
    }
}

fn read(service: &str, user: &str) -> Result<Option<tokenring::Password>, tokenring::Error> {
    let vault = tokenring::open(tokenring::default_vault_path()?)?;
    vault.get(service, user, &Stderr)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [service, user] = &args[..] else {
        eprintln!("usage: read_secret SERVICE USER");
        return ExitCode::from(2);
    };
    match read(service, user) {
        Ok(Some(secret)) => {
            println!("{}", secret.expose_secret());
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(3)
        }
    }
}
