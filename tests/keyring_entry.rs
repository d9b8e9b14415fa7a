//! The keyring-core credential store, driven through keyring-core's own
//! `Entry` API, against the simulator: in-process and through the agent.

#![cfg(all(feature = "keyring", feature = "sim", feature = "cli"))]
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};

use keyring_core::{CredentialStore, Entry};
use tokenring::app::agent::{Agent, AgentConfig, AuthenticatorSource};
use tokenring::keyring_store::TokenRingStore;
use tokenring::{AgentUse, DynAuthenticator, Selector, Tokenring};
use tokenring_core::testing::ScriptedPrompt;
use tokenring_core::Ctap2Client;
use tokenring_sim::{PresencePolicy, SimConfig, SimTransport, Simulator};

static ENV: Once = Once::new();
static AGENT_DIR: Mutex<Option<tempfile::TempDir>> = Mutex::new(None);

/// One private agent directory for the whole test binary, set before any
/// test reads the environment.
fn init_env() {
    ENV.call_once(|| {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("XDG_RUNTIME_DIR", dir.path());
        *AGENT_DIR.lock().unwrap() = Some(dir);
    });
}

struct Setup {
    _dir: tempfile::TempDir,
    vault: PathBuf,
    state: PathBuf,
}

/// A simulator state file and a vault made with it (in-process, as `tokenring init` does).
fn setup(seed: u64) -> Setup {
    init_env();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("token.json");
    Simulator::create(SimConfig::with_seed(seed), &state).unwrap();
    let vault = dir.path().join("keyring.tokenvault");
    sim_only(&state)
        .create(&vault, &ScriptedPrompt::new())
        .unwrap();
    Setup {
        _dir: dir,
        vault,
        state,
    }
}

/// The simulator whose state is in `state`, and only it.
fn sim_only(state: &Path) -> Tokenring {
    Tokenring::new().only(Selector::Sim(state.to_path_buf()))
}

fn make_store(setup: &Setup, agent: AgentUse, prompt: Arc<ScriptedPrompt>) -> Arc<CredentialStore> {
    Arc::new(TokenRingStore::new(
        setup.vault.clone(),
        sim_only(&setup.state).agent(agent),
        prompt,
    ))
}

fn sim_source(state: &Path, policy: PresencePolicy) -> Box<dyn AuthenticatorSource> {
    let state = state.to_path_buf();
    Box::new(
        move |_: &[tokenring_vault::VaultCredential], _: &dyn tokenring_core::Prompt| {
            let mut sim = Simulator::open(&state).unwrap();
            sim.set_presence_policy(policy.clone());
            Ok(Box::new(Ctap2Client::new(SimTransport::from_simulator(sim))?) as DynAuthenticator)
        },
    )
}

#[test]
fn entry_api_in_process() {
    let setup = setup(21);
    let prompt = Arc::new(ScriptedPrompt::new());
    let store = make_store(&setup, AgentUse::Never, Arc::clone(&prompt));
    let entry = Entry::new_in_store(&store, "crates.io", "alice").unwrap();
    assert_eq!(
        entry.get_specifiers(),
        Some(("crates.io".into(), "alice".into()))
    );

    assert!(matches!(
        entry.get_password(),
        Err(keyring_core::Error::NoEntry)
    ));
    let before = prompt.touches();
    entry.set_password("cio_t0ken").unwrap();
    assert_eq!(prompt.touches() - before, 2, "in-process: unlock + entry");
    assert_eq!(entry.get_password().unwrap(), "cio_t0ken");

    // Secrets are text; other bytes are refused and change nothing.
    assert!(matches!(
        entry.set_secret(&[0xff, 0xfe]),
        Err(keyring_core::Error::Invalid(..))
    ));
    assert_eq!(entry.get_secret().unwrap(), b"cio_t0ken");
    entry.set_secret("ünïcode ✓".as_bytes()).unwrap();
    assert_eq!(entry.get_password().unwrap(), "ünïcode ✓");

    // Another entry, then search by name.
    Entry::new_in_store(&store, "pypi", "alice")
        .unwrap()
        .set_password("pypi-x")
        .unwrap();
    let found = Entry::search_in_store(&store, &HashMap::from([("user", "alice")])).unwrap();
    let mut names: Vec<_> = found.iter().map(|e| e.get_specifiers().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            ("crates.io".into(), "alice".into()),
            ("pypi".into(), "alice".into())
        ]
    );
    let found = Entry::search_in_store(&store, &HashMap::from([("service", "pypi")])).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].get_password().unwrap(), "pypi-x");
    assert!(matches!(
        Entry::search_in_store(&store, &HashMap::from([("colour", "red")])),
        Err(keyring_core::Error::Invalid(..))
    ));
    assert!(matches!(
        keyring_core::Entry::new_in_store_with_modifiers(
            &store,
            "s",
            "u",
            &HashMap::from([("x", "y")])
        ),
        Err(keyring_core::Error::Invalid(..))
    ));

    // Wrapper, attributes, delete.
    entry.get_credential().unwrap();
    assert!(entry.get_attributes().unwrap().is_empty());
    entry.delete_credential().unwrap();
    assert!(matches!(
        entry.delete_credential(),
        Err(keyring_core::Error::NoEntry)
    ));
    assert!(matches!(
        entry.get_password(),
        Err(keyring_core::Error::NoEntry)
    ));
    assert!(matches!(
        entry.get_credential(),
        Err(keyring_core::Error::NoEntry)
    ));
    // A specifier: it can be set again after the delete.
    entry.set_password("again").unwrap();
    assert_eq!(entry.get_password().unwrap(), "again");
    assert!(format!("{entry:?}").contains("crates.io"));
    assert!(!format!("{entry:?}").contains("again"));
}

#[test]
fn entry_api_through_the_agent() {
    let setup = setup(22);
    let socket = tokenring::agent::socket_path(&setup.vault).unwrap();
    let agent = Agent::bind(AgentConfig::new(
        setup.vault.clone(),
        socket,
        sim_source(&setup.state, PresencePolicy::approve()),
    ))
    .unwrap();
    let shutdown = agent.shutdown_handle();
    let serving = std::thread::spawn(move || agent.serve());

    let prompt = Arc::new(ScriptedPrompt::new());
    let store = make_store(&setup, AgentUse::Require, Arc::clone(&prompt));
    let entry = Entry::new_in_store(&store, "github.com", "bob").unwrap();
    entry.set_password("ghp_x").unwrap();
    assert_eq!(prompt.touches(), 2, "unlock once + the entry");
    let before = prompt.touches();
    for _ in 0..3 {
        assert_eq!(entry.get_password().unwrap(), "ghp_x");
    }
    assert_eq!(
        prompt.touches() - before,
        3,
        "one tap per secret with the agent"
    );
    let before = prompt.touches();
    assert_eq!(
        Entry::search_in_store(&store, &HashMap::new())
            .unwrap()
            .len(),
        1
    );
    entry.delete_credential().unwrap();
    assert_eq!(prompt.touches() - before, 0, "names and delete need no tap");

    // The same vault in-process sees what the agent wrote (and vice versa).
    let direct = make_store(&setup, AgentUse::Never, Arc::new(ScriptedPrompt::new()));
    Entry::new_in_store(&direct, "later", "bob")
        .unwrap()
        .set_password("v")
        .unwrap();
    assert_eq!(
        Entry::new_in_store(&store, "later", "bob")
            .unwrap()
            .get_password()
            .unwrap(),
        "v"
    );

    shutdown.shutdown();
    serving.join().unwrap().unwrap();
    // Require without an agent: a clear error, as NoStorageAccess... or the
    // platform failure that says to start one.
    let error = Entry::new_in_store(&store, "later", "bob")
        .unwrap()
        .get_password()
        .unwrap_err();
    assert!(error.to_string().contains("tokenring agent"), "{error}");
}

#[test]
fn a_denied_touch_is_no_storage_access() {
    let setup = setup(23);
    let socket = tokenring::agent::socket_path(&setup.vault).unwrap();
    let agent = Agent::bind(AgentConfig::new(
        setup.vault.clone(),
        socket,
        sim_source(&setup.state, PresencePolicy::deny()),
    ))
    .unwrap();
    let shutdown = agent.shutdown_handle();
    let serving = std::thread::spawn(move || agent.serve());
    let store = make_store(&setup, AgentUse::Auto, Arc::new(ScriptedPrompt::new()));
    let error = Entry::new_in_store(&store, "s", "u")
        .unwrap()
        .set_password("p")
        .unwrap_err();
    assert!(
        matches!(error, keyring_core::Error::NoStorageAccess(_)),
        "{error:?}"
    );
    assert!(error.to_string().contains("denied"), "{error}");
    shutdown.shutdown();
    serving.join().unwrap().unwrap();
}

#[test]
fn the_default_store_serves_entry_new() {
    let setup = setup(24);
    let store = make_store(&setup, AgentUse::Never, Arc::new(ScriptedPrompt::new()));
    keyring_core::set_default_store(store);
    let entry = Entry::new("default", "carol").unwrap();
    entry.set_password("via default").unwrap();
    assert_eq!(
        Entry::new("default", "carol")
            .unwrap()
            .get_password()
            .unwrap(),
        "via default"
    );
    keyring_core::unset_default_store();
}

/// Multi-line secrets (a PEM key, a JSON service account) come back exactly,
/// in-process and through the agent, where the two see each other's.
#[test]
fn multi_line_secrets_round_trip_in_process_and_through_the_agent() {
    const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\nAgEGCCqGSM49AwEHBG0w\n-----END PRIVATE KEY-----\n";
    const JSON: &str =
        "{\n  \"type\": \"service_account\",\n  \"private_key\": \"-----BEGIN-----\\nx\\n\"\n}";
    let setup = setup(23);
    let prompt = Arc::new(ScriptedPrompt::new());
    let in_process = make_store(&setup, AgentUse::Never, Arc::clone(&prompt));
    Entry::new_in_store(&in_process, "ssh", "deploy")
        .unwrap()
        .set_password(PEM)
        .unwrap();

    let socket = tokenring::agent::socket_path(&setup.vault).unwrap();
    let agent = Agent::bind(AgentConfig::new(
        setup.vault.clone(),
        socket,
        sim_source(&setup.state, PresencePolicy::approve()),
    ))
    .unwrap();
    let shutdown = agent.shutdown_handle();
    let serving = std::thread::spawn(move || agent.serve());
    let through_agent = make_store(&setup, AgentUse::Require, Arc::clone(&prompt));
    let pem = Entry::new_in_store(&through_agent, "ssh", "deploy").unwrap();
    assert_eq!(pem.get_password().unwrap(), PEM);
    Entry::new_in_store(&through_agent, "gcp", "sa")
        .unwrap()
        .set_password(JSON)
        .unwrap();
    shutdown.shutdown();
    serving.join().unwrap().unwrap();

    let fresh = make_store(&setup, AgentUse::Never, Arc::clone(&prompt));
    let json = Entry::new_in_store(&fresh, "gcp", "sa").unwrap();
    assert_eq!(json.get_password().unwrap(), JSON);
    assert_eq!(json.get_secret().unwrap(), JSON.as_bytes());
}
