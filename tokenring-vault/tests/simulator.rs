//! The whole stack: vault → tokenring-core's CTAP2 client → the simulator
//! (tokenring-sim, in-process transport). The original's fixtures open with
//! their credentials provisioned in the simulator; new vaults round-trip.

mod common;

use tokenring_core::testing::ScriptedPrompt;
use tokenring_core::{Ctap2Client, NoPrompt, UvMode, DEFAULT_RP_ID};
use tokenring_sim::{ProvisionedCredential, SimConfig, SimTransport, Simulator};
use tokenring_vault::{CreateOptions, Vault, VaultError};

fn client(sim: Simulator) -> Ctap2Client<SimTransport> {
    Ctap2Client::new(SimTransport::from_simulator(sim)).expect("client")
}

fn provisioned(config: SimConfig, id: Vec<u8>, cred_random: [u8; 32]) -> Simulator {
    let mut sim = Simulator::new(config);
    sim.provision(ProvisionedCredential {
        credential_id: id,
        rp_id: DEFAULT_RP_ID.into(),
        cred_random,
        cred_random_uv: None,
        cred_protect: None,
    })
    .expect("provision");
    sim
}

#[test]
fn the_original_fixtures_open_through_the_simulator() {
    let mut auth = client(provisioned(
        SimConfig::with_seed(1),
        common::fixture1_cred_id(),
        common::fixture1_cred_random(),
    ));
    let prompt = ScriptedPrompt::new();
    let vault =
        Vault::open(&common::fixture("glyph-vault-v1.json"), &mut auth, &prompt).expect("open");
    assert_eq!(prompt.touches(), 1);
    assert_eq!(vault.uv_mode(), UvMode::PresenceOnly);
    let pw = vault
        .get("bank.example", "alice@example.com", &mut auth, &prompt)
        .expect("get")
        .expect("present");
    assert_eq!(pw.expose_secret(), "pässwörd ✓ 🔑");
    let pw = vault
        .get("index.example", "__token__", &mut auth, &prompt)
        .expect("get")
        .expect("present");
    assert_eq!(pw.expose_secret(), "tok-AgEIc2VjcmV0LXVwbG9hZA");
    assert_eq!(prompt.touches(), 3, "one touch to unlock, one per secret");

    let mut auth = client(provisioned(
        SimConfig::with_seed(2),
        common::fixture2_cred_id(),
        common::fixture2_cred_random(),
    ));
    let vault = Vault::open(
        &common::fixture("glyph-vault-v1-future-clock.json"),
        &mut auth,
        &NoPrompt,
    )
    .expect("open");
    let pw = vault
        .get("git.example.org", "deploy", &mut auth, &NoPrompt)
        .expect("get")
        .expect("present");
    assert_eq!(pw.expose_secret(), "s3cr3t-from-the-future");
}

#[test]
fn a_fixture_on_the_wrong_simulator_is_the_wrong_authenticator() {
    let mut auth = client(provisioned(
        SimConfig::with_seed(3),
        common::fixture2_cred_id(),
        common::fixture2_cred_random(),
    ));
    let err = Vault::open(
        &common::fixture("glyph-vault-v1.json"),
        &mut auth,
        &NoPrompt,
    )
    .expect_err("must fail");
    assert!(matches!(err, VaultError::WrongAuthenticator), "{err:?}");
}

#[test]
fn create_set_get_through_the_simulator_with_a_pin_set() {
    // A token with a PIN: enrollment asks for it; derivations for a v1
    // vault use no UV (as the original), so no PIN after that.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("vault.json");
    let mut auth = client(Simulator::new(SimConfig::with_seed(4).pin("1234")));
    let prompt = ScriptedPrompt::new().with_pin("1234");
    let vault =
        Vault::create(&path, &mut auth, &CreateOptions::default(), &prompt).expect("create");
    assert_eq!(vault.uv_mode(), UvMode::PresenceOnly);
    vault
        .set("svc", "tab\tuser", "secret ✓", &mut auth, &prompt)
        .expect("set");
    drop(vault);
    let vault = Vault::open(&path, &mut auth, &prompt).expect("open");
    let pw = vault
        .get("svc", "tab\tuser", &mut auth, &prompt)
        .expect("get")
        .expect("present");
    assert_eq!(pw.expose_secret(), "secret ✓");
    assert_eq!(prompt.pin_requests(), 1, "the PIN only for enrollment");
}

#[test]
fn an_always_uv_token_makes_and_opens_uv_vaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("vault.json");
    let mut config = SimConfig::with_seed(5).pin("1234");
    config.always_uv = true;
    let mut auth = client(Simulator::new(config));
    let prompt = ScriptedPrompt::new();
    for _ in 0..8 {
        prompt.push_pin(Some("1234"));
    }
    let vault =
        Vault::create(&path, &mut auth, &CreateOptions::default(), &prompt).expect("create");
    assert_eq!(vault.uv_mode(), UvMode::Verified);
    vault.set("s", "u", "p", &mut auth, &prompt).expect("set");
    let vault = Vault::open(&path, &mut auth, &prompt).expect("open");
    assert_eq!(vault.uv_mode(), UvMode::Verified);
    let pw = vault
        .get("s", "u", &mut auth, &prompt)
        .expect("get")
        .expect("present");
    assert_eq!(pw.expose_secret(), "p");
}

#[test]
fn a_vault_made_with_uv_opens_on_a_token_with_a_pin_by_falling_back_to_uv() {
    // As if written by a newer python-fido2 that derives with UV: made on
    // an alwaysUv token, opened on the same token (same master secret)
    // without alwaysUv but with a PIN.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("vault.json");
    let mut config = SimConfig::with_seed(6).pin("1234");
    config.always_uv = true;
    let prompt = ScriptedPrompt::new();
    for _ in 0..8 {
        prompt.push_pin(Some("1234"));
    }
    {
        let mut auth = client(Simulator::new(config));
        let vault =
            Vault::create(&path, &mut auth, &CreateOptions::default(), &prompt).expect("create");
        vault
            .set("s", "u", "made with UV", &mut auth, &prompt)
            .expect("set");
    }
    let mut auth = client(Simulator::new(SimConfig::with_seed(6).pin("1234")));
    let prompt = ScriptedPrompt::new().with_pin("1234").with_pin("1234");
    let vault = Vault::open(&path, &mut auth, &prompt).expect("open falls back to UV");
    assert_eq!(vault.uv_mode(), UvMode::Verified);
    assert_eq!(prompt.touches(), 2, "one try without UV, one with");
    let pw = vault
        .get("s", "u", &mut auth, &prompt)
        .expect("get")
        .expect("present");
    assert_eq!(pw.expose_secret(), "made with UV");
}
