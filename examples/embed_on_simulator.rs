//! Embedding TokenRing: open a vault with whatever authenticator holds its
//! credential and read one secret, here on the simulated authenticator (it
//! protects nothing: for demos and CI).
//!
//! ```text
//! cargo run --example embed_on_simulator
//! ```
//!
//! `main` first makes a simulator and a vault with one secret in a
//! temporary directory, as `tokenring-sim init` and `tokenring init` /
//! `tokenring set` would; [`read_secret`] is what an embedding program
//! writes.

use std::path::Path;

use tokenring::{Password, Prompt, SimSource, Tokenring};

/// What the program shows its user: every touch request, and notices (such
/// as the simulator's warning), on stderr.
struct Stderr;

impl Prompt for Stderr {
    fn touch_needed(&self, purpose: &str) {
        eprintln!("Touch your authenticator to {purpose}");
    }
    fn info(&self, message: &str) {
        eprintln!("{message}");
    }
}

/// The embedder's code: discovery looks at every transport and the
/// simulator listed by its state file, finds the one that holds the vault's
/// credential without a tap, unlocks the vault (one tap) and decrypts the
/// secret (one tap).
fn read_secret(simulator: &Path, vault: &Path) -> Result<Option<Password>, tokenring::Error> {
    let tokenring = Tokenring::new().with_source(SimSource::new().with_state_file(simulator));
    tokenring
        .open(vault)?
        .get("upload.pypi.org", "__token__", &Stderr)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let (simulator, vault) = (dir.path().join("sim.json"), dir.path().join("vault"));
    tokenring_sim::Simulator::create(tokenring_sim::SimConfig::with_seed(1), &simulator)?;
    let maker = Tokenring::new().with_source(SimSource::new().with_state_file(&simulator));
    maker.create(&vault, &Stderr)?.set(
        "upload.pypi.org",
        "__token__",
        "pypi-AgEIcHlwaS5vcmc",
        &Stderr,
    )?;

    let secret = read_secret(&simulator, &vault)?.ok_or("the secret is missing")?;
    assert_eq!(secret.expose_secret(), "pypi-AgEIcHlwaS5vcmc");
    println!(
        "read the secret back ({} characters)",
        secret.expose_secret().len()
    );
    Ok(())
}
