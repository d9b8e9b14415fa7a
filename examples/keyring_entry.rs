//! A program that keeps its secret with the `keyring` API (keyring-core
//! 1.x, as `keyring` v4 uses), with TokenRing as the credential store.
//!
//! ```text
//! # A throw-away simulator and vault, no hardware (the simulator protects nothing):
//! cargo run --example keyring_entry -- demo
//! # Your own vault at the default path, with whatever authenticator holds it
//! # (the agent is used when it runs):
//! cargo run --example keyring_entry -- set SERVICE USER   # the secret is read from stdin
//! cargo run --example keyring_entry -- get SERVICE USER
//! cargo run --example keyring_entry -- delete SERVICE USER
//! ```

use std::collections::HashMap;
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;

use keyring_core::Entry;
use tokenring::keyring_store::TokenRingStore;

/// What this program shows its user: touch requests and notices on stderr.
/// (A real program would also answer `pin` requests.)
struct Stderr;

impl tokenring::Prompt for Stderr {
    fn touch_needed(&self, purpose: &str) {
        eprintln!("Touch your authenticator to {purpose}");
    }
    fn info(&self, message: &str) {
        eprintln!("{message}");
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["demo"] => demo(),
        [command, service, user] => with_env_store(command, service, user),
        _ => {
            eprintln!("usage: keyring_entry demo | (set|get|delete) SERVICE USER");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(keyring_core::Error::NoEntry) => {
            eprintln!("no such entry");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(3)
        }
    }
}

/// The program's own code: nothing TokenRing-specific but the store set
/// at start-up.
fn with_env_store(command: &str, service: &str, user: &str) -> keyring_core::Result<()> {
    let store = TokenRingStore::with_prompt(Arc::new(Stderr))
        .map_err(|e| keyring_core::Error::NoStorageAccess(Box::new(e)))?;
    keyring_core::set_default_store(Arc::new(store));
    let entry = Entry::new(service, user)?;
    match command {
        "set" => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| keyring_core::Error::PlatformFailure(Box::new(e)))?;
            entry.set_password(line.trim_end_matches(['\n', '\r']))
        }
        "get" => {
            println!("{}", entry.get_password()?);
            Ok(())
        }
        "delete" => entry.delete_credential(),
        other => Err(keyring_core::Error::Invalid(
            "command".into(),
            format!("{other:?} is not set, get or delete"),
        )),
    }
}

/// A temporary simulator and vault: set, get, search, delete.
#[cfg(feature = "sim")]
fn demo() -> keyring_core::Result<()> {
    use tokenring::{AgentUse, Selector, Tokenring};
    let failure =
        |e: &dyn std::fmt::Display| keyring_core::Error::PlatformFailure(e.to_string().into());
    let tmp = tempfile::tempdir().map_err(|e| failure(&e))?;
    let dir = tmp.path();
    let state = dir.join("token.json");
    tokenring_sim::Simulator::create(tokenring_sim::SimConfig::with_seed(1), &state)
        .map_err(|e| failure(&e))?;
    let tokenring = Tokenring::new()
        .only(Selector::Sim(state))
        .agent(AgentUse::Never);
    let vault = dir.join("keyring.tokenvault");
    tokenring.create(&vault, &Stderr).map_err(|e| failure(&e))?;
    keyring_core::set_default_store(Arc::new(TokenRingStore::new(
        vault,
        tokenring,
        Arc::new(Stderr),
    )));

    let entry = Entry::new("demo.example", "alice")?;
    entry.set_password("correct horse battery staple")?;
    println!("stored; reading it back: {}", entry.get_password()?);
    let found = Entry::search(&HashMap::from([("user", "alice")]))?;
    println!(
        "entries for alice: {:?}",
        found.iter().map(Entry::get_specifiers).collect::<Vec<_>>()
    );
    entry.delete_credential()?;
    match entry.get_password() {
        Err(keyring_core::Error::NoEntry) => println!("deleted; get now says: no entry"),
        Err(e) => println!("deleted; get now says: {e}"),
        Ok(_) => println!("deleted, yet get still finds it?"),
    }
    Ok(())
}

#[cfg(not(feature = "sim"))]
fn demo() -> keyring_core::Result<()> {
    Err(keyring_core::Error::NotSupportedByStore(
        "the demo needs the simulator (feature `sim`)".into(),
    ))
}
