//! A vault on the simulated authenticator: create it, store secrets, read
//! one back, list the names, delete one, and open the vault again as
//! another process would. Every touch the authenticator asks for is shown.
//!
//! The simulator protects nothing; it stands in for a FIDO2 token here.
//! Never keep a real secret in a vault made with it.
//!
//! ```sh
//! cargo run -p tokenring-vault --example vault_on_simulator
//! ```

use tokenring_core::{Ctap2Client, Prompt};
use tokenring_sim::{SimConfig, SimTransport, Simulator};
use tokenring_vault::{CreateOptions, Vault};

/// Shows what a terminal would show when the authenticator wants a touch.
struct Console;

impl Prompt for Console {
    fn touch_needed(&self, purpose: &str) {
        println!("    (touch your authenticator to {purpose})");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("example.tokenvault");
    let simulator = Simulator::new(SimConfig::with_seed(7));
    let mut auth = Ctap2Client::new(SimTransport::from_simulator(simulator))?;

    println!(
        "create {} (enroll a credential, derive the vault key)",
        path.display()
    );
    let vault = Vault::create(&path, &mut auth, &CreateOptions::default(), &Console)?;

    println!("set three secrets (one touch each)");
    vault.set(
        "pypi",
        "__token__",
        "pypi-AgEIcHlwaS5vcmc",
        &mut auth,
        &Console,
    )?;
    vault.set("crates.io", "alice", "cio-7d3f", &mut auth, &Console)?;
    vault.set("stripe", "live", "sk_live_51H", &mut auth, &Console)?;

    println!("get pypi/__token__ (one touch)");
    let token = vault.get("pypi", "__token__", &mut auth, &Console)?;
    let found = token.as_ref().map(|t| t.expose_secret().len());
    println!("  found a secret of {} characters", found.unwrap_or(0));

    println!("list (no touch: the vault key is held while the vault is open)");
    for (service, user) in vault.list()? {
        println!("  {service} / {user}");
    }

    println!("delete stripe/live (no touch)");
    let deleted = vault.delete("stripe", "live")?;
    let absent = vault.get("stripe", "live", &mut auth, &Console)?.is_none();
    println!("  deleted: {deleted}; get finds nothing: {absent}");
    vault.lock();
    drop(vault);

    println!("open again, as another process would (one touch)");
    let vault = Vault::open(&path, &mut auth, &Console)?;
    let names = vault.list()?;
    println!("  {} entries", names.len());

    if found.is_some() && deleted && absent && names.len() == 2 {
        Ok(())
    } else {
        Err("the vault did not behave as its documentation says".into())
    }
}
