//! The real `cargo` with `cargo-credential-tokenring` as the credential
//! provider of a local registry (tests/support/registry.rs) started by the
//! test: `cargo login` stores the token in the vault, `cargo publish` sends
//! exactly that token (the server checks it), `cargo logout` deletes it;
//! a wrong token, a missing one, or a denied or timed-out touch ends in
//! cargo's ordinary failure with a clear message, never a hang. With and
//! without the agent.
//!
//! Nothing leaves the machine: cargo's HTTP proxy points at a closed port
//! and only 127.0.0.1 bypasses it, the test crate has no dependencies, and
//! CARGO_HOME is private to each test.

#![cfg(all(feature = "sim", feature = "cli"))]

mod cli_support;
#[path = "support/registry.rs"]
mod registry;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{Agent, Env, Run};
use registry::Registry;

/// The token the registry accepts.
const TOKEN: &str = "cio-tokenring-test-7f3a9c21e5";

/// The test crate's name.
const CRATE: &str = "tokenring-cargo-test-hello";

/// Longer than any honest cargo command here takes, even on a loaded
/// machine; reaching it means something hangs.
const TIMEOUT: Duration = Duration::from_secs(90);

const PROVIDER: &str = env!("CARGO_BIN_EXE_cargo-credential-tokenring");

/// A private CARGO_HOME configured for the local registry, and a crate to
/// publish.
struct CargoSetup {
    home: PathBuf,
    project: PathBuf,
    target: PathBuf,
}

impl CargoSetup {
    fn new(env: &Env, registry: &Registry) -> CargoSetup {
        let home = env.path("cargo-home");
        std::fs::create_dir_all(&home).expect("cargo home");
        std::fs::write(
            home.join("config.toml"),
            format!(
                "[registries.local]\n\
                 index = \"{}\"\n\
                 credential-provider = [\"{PROVIDER}\"]\n\
                 \n\
                 [http]\n\
                 # Only 127.0.0.1 bypasses this closed proxy (NO_PROXY): nothing reaches crates.io.\n\
                 proxy = \"127.0.0.1:9\"\n\
                 multiplexing = false\n\
                 timeout = 30\n\
                 \n\
                 [net]\n\
                 retry = 0\n",
                registry.index_url()
            ),
        )
        .expect("cargo config");
        let project = env.path("hello");
        std::fs::create_dir_all(project.join("src")).expect("project dir");
        std::fs::write(project.join("src/lib.rs"), "//! Hello.\n").expect("lib.rs");
        let setup = CargoSetup {
            home,
            project,
            target: env.path("target"),
        };
        setup.set_version("0.1.0");
        setup
    }

    /// Writes the test crate's manifest with this version.
    fn set_version(&self, version: &str) {
        std::fs::write(
            self.project.join("Cargo.toml"),
            format!(
                "[package]\n\
                 name = \"{CRATE}\"\n\
                 version = \"{version}\"\n\
                 edition = \"2021\"\n\
                 description = \"A crate published by TokenRing's tests\"\n\
                 license = \"MIT\"\n\
                 publish = [\"local\"]\n\
                 \n\
                 [workspace]\n"
            ),
        )
        .expect("Cargo.toml");
    }

    /// The real cargo (the one running these tests, not a rustup proxy)
    /// with this CARGO_HOME, in the crate's directory, in the test's
    /// environment (vault, simulator, PIN file; no terminal).
    fn cargo(&self, env: &Env, args: &[&str]) -> Command {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut command = env.wrapped(&[&cargo]);
        command.args(args);
        for (key, _) in std::env::vars_os() {
            let key_text = key.to_string_lossy();
            if key_text.starts_with("CARGO_")
                || key_text.starts_with("RUSTC")
                || key_text.starts_with("RUSTFLAGS")
                || key_text.to_ascii_lowercase().ends_with("_proxy")
            {
                command.env_remove(&key);
            }
        }
        if let Some(rustc) = Path::new(&cargo)
            .parent()
            .map(|bin| bin.join("rustc"))
            .filter(|rustc| rustc.exists())
        {
            command.env("RUSTC", rustc);
        }
        command
            .env("CARGO_HOME", &self.home)
            .env("CARGO_TARGET_DIR", &self.target)
            .env("CARGO_TERM_COLOR", "never")
            .env("NO_PROXY", "127.0.0.1")
            .env("no_proxy", "127.0.0.1")
            .current_dir(&self.project);
        command
    }

    fn login(&self, env: &Env, input: &str, presence: Option<&str>) -> Run {
        let mut command = self.cargo(env, &["login", "--registry", "local"]);
        if let Some(p) = presence {
            command.env("TOKENRING_SIM_PRESENCE", p);
        }
        run(command, input.as_bytes())
    }

    fn publish(&self, env: &Env, presence: Option<&str>) -> Run {
        let mut command = self.cargo(env, &["publish", "--registry", "local", "--no-verify"]);
        if let Some(p) = presence {
            command.env("TOKENRING_SIM_PRESENCE", p);
        }
        run(command, b"")
    }

    fn logout(&self, env: &Env) -> Run {
        run(self.cargo(env, &["logout", "--registry", "local"]), b"")
    }
}

/// Runs a command with `input` on stdin, killing its process group (it
/// runs under `setsid`) if it outlives [`TIMEOUT`].
fn run(mut command: Command, input: &[u8]) -> Run {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child: Child = command.spawn().expect("spawn cargo");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).expect("write stdin");
    }
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for cargo") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "cargo hung for {TIMEOUT:?}; stderr so far: {}",
                stderr.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code(),
        stdout: stdout.join().expect("stdout"),
        stderr: stderr.join().expect("stderr"),
    }
}

/// The vault entry's service for the registry.
fn service(registry: &Registry) -> String {
    format!("cargo-registry:{}", registry.index_url())
}

#[track_caller]
fn expect_success(run: Run, what: &str) -> Run {
    assert_eq!(run.code, Some(0), "{what} failed: {run:#?}");
    run
}

#[track_caller]
fn expect_failure(run: Run, what: &str) -> Run {
    assert_ne!(run.code, Some(0), "{what} should have failed: {run:#?}");
    assert!(run.code.is_some(), "{what} was killed: {run:#?}");
    eprintln!("--- {what}:\n{}", run.stderr);
    run
}

/// login → the vault holds the token; publish → the server received
/// exactly it on every request; logout → the entry is gone and publish
/// fails with cargo's "no token found".
fn login_publish_logout(agent: bool) {
    let env = Env::with_vault();
    let registry = Registry::start(TOKEN, true);
    let setup = CargoSetup::new(&env, &registry);
    let mut running = agent.then(|| Agent::start(&env, None));

    let login = expect_success(
        setup.login(&env, &format!("{TOKEN}\n"), None),
        "cargo login",
    );
    assert!(
        login
            .stderr
            .contains("stored the token for registry `local`"),
        "{login:#?}"
    );
    let stored = env.run(&["get", &service(&registry), "token"]).expect(0);
    assert_eq!(stored.stdout.trim_end(), TOKEN, "the vault holds the token");

    let publish = expect_success(setup.publish(&env, None), "cargo publish");
    // cargo passes the provider's stderr through: its touch prompts reach
    // the user. cargo asks once per command (the answer is cached for the
    // command): one touch for the entry, plus one to unlock the vault
    // without the agent (the agent was unlocked by `cargo login`).
    assert_eq!(
        publish
            .stderr
            .matches("cargo asks for the token for registry `local`")
            .count(),
        1,
        "{publish:#?}"
    );
    assert_eq!(
        publish.touch_prompts().len(),
        if agent { 1 } else { 2 },
        "{publish:#?}"
    );
    let published = registry.published();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].name, CRATE);
    assert_eq!(published[0].vers, "0.1.0");
    assert_eq!(
        published[0].token, TOKEN,
        "the server received the vault's token"
    );
    let seen = registry.seen();
    assert!(
        seen.iter()
            .any(|s| s.method == "PUT" && s.authorization.as_deref() == Some(TOKEN)),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .all(|s| s.authorization.is_none() || s.authorization.as_deref() == Some(TOKEN)),
        "only the stored token was ever sent: {seen:#?}"
    );

    let logout = expect_success(setup.logout(&env), "cargo logout");
    assert!(
        logout
            .stderr
            .contains("deleted the token for registry `local`"),
        "{logout:#?}"
    );
    env.run(&["get", &service(&registry), "token"]).expect(1);
    let again = expect_success(setup.logout(&env), "a second cargo logout");
    assert!(
        again.stderr.contains("not currently logged in"),
        "{again:#?}"
    );

    setup.set_version("0.2.0");
    let without = expect_failure(setup.publish(&env, None), "cargo publish after logout");
    assert!(without.stderr.contains("no token found"), "{without:#?}");
    assert!(
        without.stderr.contains("has no token for registry `local`"),
        "{without:#?}"
    );
    assert_eq!(registry.published().len(), 1, "nothing more was published");

    if let Some(agent) = running.as_mut() {
        assert_eq!(agent.stop(), Some(0), "the agent stops cleanly on SIGTERM");
    }
}

#[test]
fn login_publish_logout_in_process() {
    login_publish_logout(false);
}

#[test]
fn login_publish_logout_through_the_agent() {
    login_publish_logout(true);
}

/// A wrong token in the vault: the registry refuses it and cargo fails
/// with its own message; the server saw only that token.
#[test]
fn a_wrong_token_is_refused_by_the_registry() {
    let env = Env::with_vault();
    let registry = Registry::start(TOKEN, true);
    let setup = CargoSetup::new(&env, &registry);
    expect_success(setup.login(&env, "not-the-token\n", None), "cargo login");

    let publish = expect_failure(setup.publish(&env, None), "cargo publish");
    assert!(publish.stderr.contains("token rejected"), "{publish:#?}");
    assert!(registry.published().is_empty());
    let seen = registry.seen();
    assert!(
        seen.iter()
            .any(|s| s.authorization.as_deref() == Some("not-the-token")),
        "{seen:#?}"
    );
}

/// A denied or timed-out touch: the provider says so and answers "not
/// found", cargo fails with "no token found", quickly; a denied touch at
/// login stores nothing.
#[test]
fn a_denied_or_timed_out_touch_means_no_token_in_process() {
    let env = Env::with_vault();
    let registry = Registry::start(TOKEN, true);
    let setup = CargoSetup::new(&env, &registry);

    let login = expect_failure(
        setup.login(&env, &format!("{TOKEN}\n"), Some("deny")),
        "cargo login with a denied touch",
    );
    assert!(
        login.stderr.contains("the token was not stored"),
        "{login:#?}"
    );
    env.run(&["get", &service(&registry), "token"]).expect(1);

    expect_success(
        setup.login(&env, &format!("{TOKEN}\n"), None),
        "cargo login",
    );
    for presence in ["deny", "timeout"] {
        let started = Instant::now();
        let publish = expect_failure(
            setup.publish(&env, Some(presence)),
            &format!("cargo publish with presence {presence}"),
        );
        assert!(publish.stderr.contains("no token found"), "{publish:#?}");
        assert!(
            publish.stderr.contains("no token for registry `local`")
                && publish.stderr.contains("released only after a touch"),
            "{publish:#?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no hang: {:?}",
            started.elapsed()
        );
    }
    assert!(registry.published().is_empty());
    assert!(
        registry.seen().iter().all(|s| s.authorization.is_none()),
        "no token left the vault"
    );
}

/// The same through the agent: an agent whose touches are denied.
#[test]
fn a_denied_touch_means_no_token_through_the_agent() {
    let env = Env::with_vault();
    let registry = Registry::start(TOKEN, true);
    let setup = CargoSetup::new(&env, &registry);
    expect_success(
        setup.login(&env, &format!("{TOKEN}\n"), None),
        "cargo login",
    );

    let mut agent = Agent::start(&env, Some("deny"));
    let publish = expect_failure(setup.publish(&env, None), "cargo publish");
    assert!(publish.stderr.contains("no token found"), "{publish:#?}");
    assert!(
        publish.stderr.contains("released only after a touch"),
        "{publish:#?}"
    );
    assert!(registry.published().is_empty());
    assert_eq!(agent.stop(), Some(0));
}

/// A registry that needs the token only to publish (like crates.io): the
/// index is read without it, and the provider is asked for the token to
/// publish, which the server receives.
#[test]
fn a_publish_only_registry_gets_the_token_only_for_publishing() {
    let env = Env::with_vault();
    let registry = Registry::start(TOKEN, false);
    let setup = CargoSetup::new(&env, &registry);
    expect_success(
        setup.login(&env, &format!("{TOKEN}\n"), None),
        "cargo login",
    );

    let publish = expect_success(setup.publish(&env, None), "cargo publish");
    assert_eq!(
        publish.stderr.matches("cargo asks for the token").count(),
        1,
        "{publish:#?}"
    );
    assert_eq!(registry.published().len(), 1);
    for seen in registry.seen() {
        let expected = (seen.method == "PUT").then_some(TOKEN);
        assert_eq!(seen.authorization.as_deref(), expected, "{seen:?}");
    }
}

#[test]
fn a_token_cargo_kept_in_plaintext_moves_in_with_import_and_publishes() {
    let env = Env::with_vault();
    let registry = Registry::start(TOKEN, true);
    let setup = CargoSetup::new(&env, &registry);
    // First cargo's own plaintext provider: `cargo login` writes the token
    // into $CARGO_HOME/credentials.toml, as it does by default.
    let config = setup.home.join("config.toml");
    let with_tokenring = std::fs::read_to_string(&config).expect("config");
    let plaintext = with_tokenring.replace(
        &format!("credential-provider = [\"{PROVIDER}\"]"),
        "credential-provider = [\"cargo:token\"]",
    );
    assert_ne!(plaintext, with_tokenring);
    std::fs::write(&config, &plaintext).expect("config");
    expect_success(
        setup.login(&env, &format!("{TOKEN}\n"), None),
        "cargo login with cargo:token",
    );
    let credentials = setup.home.join("credentials.toml");
    let written = std::fs::read_to_string(&credentials).expect("credentials.toml");
    assert!(written.contains(TOKEN), "{written}");

    let mut import = env.command();
    import
        .args(["import", "cargo", "--remove"])
        .env("CARGO_HOME", &setup.home)
        .current_dir(&setup.project);
    let import = Env::run_with_input(import, b"").expect(0);
    assert!(
        import.stderr.contains(&format!(
            "[registries.local] -> '{}' / 'token'",
            service(&registry)
        )),
        "{import:#?}"
    );
    let after = std::fs::read_to_string(&credentials).expect("credentials.toml");
    assert!(!after.contains(TOKEN), "{after}");
    assert_eq!(
        std::fs::read_to_string(setup.home.join("credentials.toml.tokenring-backup"))
            .expect("backup"),
        written
    );

    // cargo with TokenRing's provider publishes with the moved token.
    std::fs::write(&config, &with_tokenring).expect("config");
    let publish = expect_success(setup.publish(&env, None), "cargo publish");
    assert_eq!(publish.touch_prompts().len(), 2, "{publish:#?}");
    let published = registry.published();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(
        published[0].token, TOKEN,
        "the server received the moved token"
    );
}
