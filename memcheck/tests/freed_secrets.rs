//! Secrets never stay behind in freed memory: with the tracking allocator
//! installed, a marker secret goes through the agent (`set` and `get`, from
//! the Rust client and from a client that escapes JSON as Python's `json`
//! module does, with a non-ASCII PIN), through the `tokenring get` command
//! (in a child process that has the allocator too, with and without an
//! agent), and an unlocked vault is locked; no block freed meanwhile may
//! hold a fragment of the secret, of the PIN, of an entry's name or salt.
//!
//! The fragments are plain ASCII runs between characters that JSON escapes
//! (quotes, backslashes, newlines, tabs, non-ASCII), so that a copy is found
//! in whichever form it was left: raw, or escaped inside a frame.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokenring::agent::protocol::{self, AgentMessage};
use tokenring::agent::AgentClient;
use tokenring::app::agent::{Agent, AgentConfig, ShutdownHandle};
use tokenring::{AgentUse, DynAuthenticator, SecretStore, Selector, Tokenring};
use tokenring_core::{Authenticator, Ctap2Client, NoPrompt};
use tokenring_memcheck::{arm, disarm, Findings, Tracking};
use tokenring_sim::{PresencePolicy, SimConfig, SimTransport, Simulator};
use tokenring_vault::{CreateOptions, Vault};
use zeroize::Zeroizing;

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// One test at a time: the patterns are global.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A secret of at least `min_len` bytes: the fragments, again and again,
/// between characters that JSON escapes (and a few that it does not but
/// Python's `json.dumps` does), built in a buffer that never reallocates.
fn marker(fragments: &[&str], min_len: usize) -> Zeroizing<String> {
    const BETWEEN: [&str; 7] = ["\n", "\"", "\\", "é", "\t", "漢字", "😀"];
    let capacity = min_len + 256;
    let mut secret = Zeroizing::new(String::with_capacity(capacity));
    let mut i = 0;
    while secret.len() < min_len {
        secret.push_str(fragments[i % fragments.len()]);
        secret.push_str(BETWEEN[i % BETWEEN.len()]);
        i += 1;
    }
    assert_eq!(secret.capacity(), capacity, "the marker itself reallocated");
    secret
}

fn as_bytes<'a>(fragments: &[&'a str]) -> Vec<&'a [u8]> {
    fragments.iter().map(|f| f.as_bytes()).collect()
}

#[track_caller]
fn assert_clean(findings: &Findings) {
    assert!(findings.scanned > 0, "nothing was scanned: {findings}");
    assert_eq!(
        findings.hits, 0,
        "secrets left in freed memory:\n{findings}"
    );
}

/// A vault on an in-memory simulator and an agent serving it on a thread.
struct Fixture {
    _dir: tempfile::TempDir,
    vault: PathBuf,
    socket: PathBuf,
    sim: Arc<Mutex<Simulator>>,
}

impl Fixture {
    fn new(config: SimConfig, pin: Option<&str>) -> Fixture {
        Self::with_options(config, pin, &CreateOptions::default())
    }

    fn with_options(config: SimConfig, pin: Option<&str>, options: &CreateOptions) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().join("keyring.tokenvault");
        let socket = dir.path().join("agent").join("vault.sock");
        let sim = Arc::new(Mutex::new(Simulator::new(config)));
        let mut auth = Ctap2Client::new(SimTransport::new(Arc::clone(&sim))).unwrap();
        let prompt = tokenring_core::testing::ScriptedPrompt::new();
        for _ in 0..4 {
            prompt.push_pin(pin);
        }
        Vault::create(&vault, &mut auth, options, &prompt).unwrap();
        Fixture {
            _dir: dir,
            vault,
            socket,
            sim,
        }
    }

    fn start_agent(&self) -> (ShutdownHandle, std::thread::JoinHandle<()>) {
        let sim = Arc::clone(&self.sim);
        let source = move |_: &[tokenring_vault::VaultCredential],
                           _: &dyn tokenring_core::Prompt| {
            let client = Ctap2Client::new(SimTransport::new(Arc::clone(&sim)))?;
            Ok(Box::new(client) as DynAuthenticator)
        };
        let config = AgentConfig::new(self.vault.clone(), self.socket.clone(), Box::new(source));
        let agent = Agent::bind(config).unwrap();
        let shutdown = agent.shutdown_handle();
        let thread = std::thread::spawn(move || agent.serve().unwrap());
        (shutdown, thread)
    }
}

#[test]
fn the_scanner_finds_what_is_freed_unwiped_and_not_what_is_wiped() {
    let _serial = serial();
    arm(&[b"SELFTEST-unwiped-0f1e2d3c"]).unwrap();
    let plain = b"..SELFTEST-unwiped-0f1e2d3c..".to_vec();
    drop(std::hint::black_box(plain));
    let found = disarm();
    assert_eq!(found.hits, 1, "{found}");

    arm(&[b"SELFTEST-wiped-4b5a6978"]).unwrap();
    let wiped = Zeroizing::new(b"..SELFTEST-wiped-4b5a6978..".to_vec());
    drop(std::hint::black_box(wiped));
    let found = disarm();
    assert_eq!(found.hits, 0, "{found}");

    // A zeroizing buffer that grows leaves its old block behind, unwiped.
    arm(&[b"SELFTEST-grown-8c9dab01"]).unwrap();
    let mut grown = Zeroizing::new(Vec::with_capacity(32));
    grown.extend_from_slice(b"SELFTEST-grown-8c9dab01");
    grown.extend_from_slice(&[b'.'; 64]);
    drop(std::hint::black_box(grown));
    let found = disarm();
    assert_eq!(found.hits, 1, "{found}");
}

const AGENT_FRAGMENTS: [&str; 4] = [
    "AGENTSECRET-0a9b8c7d",
    "AGENTSECRET-1e2f3a4b",
    "AGENTSECRET-5c6d7e8f",
    "AGENTSECRET-90a1b2c3",
];

#[test]
fn an_agent_set_and_get_leave_no_copy_of_the_secret_in_freed_memory() {
    let _serial = serial();
    let fixture = Fixture::new(
        SimConfig::with_seed(31).presence(PresencePolicy::approve()),
        None,
    );
    // The vault key's two halves (the signing and the encryption key) are
    // looked for too: a cipher's key schedule begins with its key.
    let key = {
        let mut auth = Ctap2Client::new(SimTransport::new(Arc::clone(&fixture.sim))).unwrap();
        vault_key(&fixture.vault, &mut auth)
    };
    // Longer than every buffer's first size: the frame encoder's (256
    // bytes) and the frame reader's chunk (4 KiB).
    let secret = marker(&AGENT_FRAGMENTS, 9000);
    let mut patterns = as_bytes(&AGENT_FRAGMENTS);
    patterns.push(&key.expose_secret()[..16]);
    patterns.push(&key.expose_secret()[16..]);
    set_and_get_through_the_agent(&fixture, "rust", &secret, &patterns);
    drop(secret);
    let findings = disarm();
    assert_clean(&findings);
}

/// Starts the fixture's agent, arms the scanner with `patterns`, stores
/// `secret` through the agent and reads it back, locks, and stops the
/// agent (the scanner stays armed).
fn set_and_get_through_the_agent(fixture: &Fixture, user: &str, secret: &str, patterns: &[&[u8]]) {
    let (shutdown, thread) = fixture.start_agent();
    arm(patterns).unwrap();
    {
        let client = AgentClient::connect_socket(&fixture.socket)
            .unwrap()
            .unwrap();
        client.set("svc", user, secret, &NoPrompt).unwrap();
        let back = client.get("svc", user, &NoPrompt).unwrap().unwrap();
        assert!(
            back.expose_secret() == secret,
            "the secret came back changed"
        );
        client.lock().unwrap();
    }
    shutdown.shutdown();
    thread.join().unwrap();
}

const V2_FRAGMENTS: [&str; 3] = [
    "V2SECRET-a0b1c2d3e4f5",
    "V2SECRET-0f1e2d3c4b5a",
    "V2SECRET-99887766aabb",
];

#[test]
fn an_agent_set_and_get_on_a_format_2_vault_leave_no_copy_behind() {
    let _serial = serial();
    let fixture = Fixture::with_options(
        SimConfig::with_seed(35).presence(PresencePolicy::approve()),
        None,
        &CreateOptions {
            format: tokenring_vault::Format::V2,
            ..CreateOptions::default()
        },
    );
    let secret = marker(&V2_FRAGMENTS, 5000);
    set_and_get_through_the_agent(&fixture, "v2", &secret, &as_bytes(&V2_FRAGMENTS));
    drop(secret);
    let findings = disarm();
    assert_clean(&findings);
}

const PY_FRAGMENTS: [&str; 3] = [
    "PYSECRET-d4c3b2a1e0f9",
    "PYSECRET-a8b7c6d5e4f3",
    "PYSECRET-1a2b3c4d5e6f",
];
const PIN_FRAGMENTS: [&str; 2] = ["PINFRAG-a1b2c3d4", "PINFRAG-e5f6a7b8"];

/// The test PIN: non-ASCII, so that Python's client sends it escaped.
fn pin() -> Zeroizing<String> {
    let mut pin = Zeroizing::new(String::with_capacity(64));
    pin.push_str(PIN_FRAGMENTS[0]);
    pin.push('ü');
    pin.push_str(PIN_FRAGMENTS[1]);
    pin.push('é');
    pin
}

/// Appends `text` as a JSON string the way Python's `json.dumps` writes it
/// (`ensure_ascii`: everything outside ASCII as `\uXXXX`, surrogate pairs
/// for the rest), into a buffer with room for it.
fn push_python_json_string(out: &mut Zeroizing<Vec<u8>>, text: &str) {
    let capacity = out.capacity();
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let mut hex = [0u8; 6];
                    let digits = b"0123456789abcdef";
                    hex[0] = b'\\';
                    hex[1] = b'u';
                    for (i, shift) in [12, 8, 4, 0].into_iter().enumerate() {
                        hex[2 + i] = digits[usize::from((*unit >> shift) as u8 & 0xf)];
                    }
                    out.extend_from_slice(&hex);
                }
            }
            c => out.push(c as u8),
        }
    }
    out.push(b'"');
    assert_eq!(
        out.capacity(),
        capacity,
        "the test's own buffer reallocated"
    );
}

/// A minimal agent client as another language would write it: frames out,
/// frames in, every buffer sized up front and wiped.
struct RawClient {
    stream: UnixStream,
}

impl RawClient {
    fn send(&mut self, json: &[u8]) {
        let mut frame = Zeroizing::new(Vec::with_capacity(json.len() + 5));
        frame.extend_from_slice(&u32::try_from(json.len() + 1).unwrap().to_be_bytes());
        frame.push(1);
        frame.extend_from_slice(json);
        self.stream.write_all(&frame).unwrap();
    }

    fn receive(&mut self) -> AgentMessage {
        let mut head = [0u8; 4];
        self.stream.read_exact(&mut head).unwrap();
        let len = u32::from_be_bytes(head) as usize;
        let mut frame = Zeroizing::new(vec![0u8; len]);
        self.stream.read_exact(&mut frame).unwrap();
        assert_eq!(frame[0], 1, "version byte");
        protocol::decode::<AgentMessage>(&frame[1..]).unwrap()
    }

    /// Sends `request` and answers every PIN request with `pin`, until the
    /// final reply.
    fn request(&mut self, request: &[u8], pin: &str) -> AgentMessage {
        self.send(request);
        loop {
            match self.receive() {
                AgentMessage::PinRequest { .. } => {
                    let mut answer = Zeroizing::new(Vec::with_capacity(512));
                    answer.extend_from_slice(b"{\"type\": \"pin\", \"pin\": ");
                    push_python_json_string(&mut answer, pin);
                    answer.push(b'}');
                    self.send(&answer);
                }
                AgentMessage::Error(e) => panic!("the agent failed: {}", e.message),
                message if message.is_event() => {}
                reply => return reply,
            }
        }
    }
}

#[test]
fn a_python_client_with_escaped_strings_and_a_non_ascii_pin_leaves_nothing_behind() {
    let _serial = serial();
    let pin = pin();
    let fixture = Fixture::new(
        SimConfig::with_seed(32)
            .pin(&pin)
            .always_uv(true)
            .presence(PresencePolicy::approve()),
        Some(&pin),
    );
    let (shutdown, thread) = fixture.start_agent();
    let secret = marker(&PY_FRAGMENTS, 600);
    let mut patterns = as_bytes(&PY_FRAGMENTS);
    patterns.extend(as_bytes(&PIN_FRAGMENTS));
    arm(&patterns).unwrap();
    {
        let mut client = RawClient {
            stream: UnixStream::connect(&fixture.socket).unwrap(),
        };
        client
            .stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut set = Zeroizing::new(Vec::with_capacity(8 * secret.len() + 128));
        set.extend_from_slice(
            b"{\"type\": \"set\", \"service\": \"svc\", \"user\": \"py\", \"password\": ",
        );
        push_python_json_string(&mut set, &secret);
        set.push(b'}');
        assert!(matches!(client.request(&set, &pin), AgentMessage::Done));
        let get = br#"{"type": "get", "service": "svc", "user": "py"}"#;
        match client.request(get, &pin) {
            AgentMessage::Password {
                password: Some(password),
            } => assert!(password.expose_secret() == secret.as_str()),
            _ => panic!("no password"),
        }
    }
    shutdown.shutdown();
    thread.join().unwrap();
    drop(secret);
    let findings = disarm();
    assert_clean(&findings);
}

const NAME_FRAGMENTS: [&str; 2] = ["NAMEFRAG-service-5e4d3c2b", "NAMEFRAG-user-7a6b5c4d"];

#[test]
fn locking_a_vault_wipes_the_names_and_salts_it_held() {
    let _serial = serial();
    let fixture = Fixture::new(
        SimConfig::with_seed(33).presence(PresencePolicy::approve()),
        None,
    );
    let mut auth = Ctap2Client::new(SimTransport::new(Arc::clone(&fixture.sim))).unwrap();
    let vault = Vault::open(&fixture.vault, &mut auth, &NoPrompt).unwrap();
    for i in 0..3 {
        let service = format!("{}-{i}", NAME_FRAGMENTS[0]);
        let user = format!("{}-{i}", NAME_FRAGMENTS[1]);
        vault
            .set(&service, &user, "x", &mut auth, &NoPrompt)
            .unwrap();
    }
    let salts = entry_salts(&fixture.vault, &mut auth);
    assert_eq!(salts.len(), 3);
    let mut patterns = as_bytes(&NAME_FRAGMENTS);
    for salt in &salts {
        patterns.push(&salt[..16]);
        patterns.push(&salt[16..]);
    }
    arm(&patterns).unwrap();
    vault.lock();
    let findings = disarm();
    assert_clean(&findings);
}

const V2_NAME_FRAGMENTS: [&str; 2] = ["V2NAME-service-1b2c3d4e", "V2NAME-user-5f6a7b8c"];

#[test]
fn locking_a_format_2_vault_wipes_the_names_it_held() {
    let _serial = serial();
    let fixture = Fixture::with_options(
        SimConfig::with_seed(36).presence(PresencePolicy::approve()),
        None,
        &CreateOptions {
            format: tokenring_vault::Format::V2,
            ..CreateOptions::default()
        },
    );
    let mut auth = Ctap2Client::new(SimTransport::new(Arc::clone(&fixture.sim))).unwrap();
    let vault = Vault::open(&fixture.vault, &mut auth, &NoPrompt).unwrap();
    for i in 0..3 {
        let service = format!("{}-{i}", V2_NAME_FRAGMENTS[0]);
        let user = format!("{}-{i}", V2_NAME_FRAGMENTS[1]);
        vault
            .set(&service, &user, "x", &mut auth, &NoPrompt)
            .unwrap();
    }
    arm(&as_bytes(&V2_NAME_FRAGMENTS)).unwrap();
    vault.lock();
    let findings = disarm();
    assert_clean(&findings);
}

/// The vault key (as the authenticator derives it), from the file's header.
fn vault_key(path: &Path, auth: &mut dyn Authenticator) -> tokenring_core::Secret32 {
    let bytes = std::fs::read(path).unwrap();
    let file = tokenring_vault::internal::format::parse_file(&bytes).unwrap();
    auth.derive(
        &tokenring_core::DeriveRequest {
            credential: &file.key.credential.id,
            rp_id: &file.key.credential.rp_id,
            salts: tokenring_core::Salts::One(file.key.salt),
            uv: tokenring_core::UvMode::PresenceOnly,
            purpose: "read the vault key",
        },
        &NoPrompt,
    )
    .unwrap()
    .first
}

/// The entries' salts, read from the file with the vault key.
fn entry_salts(path: &Path, auth: &mut dyn Authenticator) -> Vec<[u8; 32]> {
    use tokenring_vault::internal::fernet::FernetKey;
    use tokenring_vault::internal::format;
    let bytes = std::fs::read(path).unwrap();
    let file = format::parse_file(&bytes).unwrap();
    let key = FernetKey::from_secret(&vault_key(path, auth));
    let plaintext = key.decrypt(&file.token).unwrap();
    let entries = format::parse_entries(&plaintext, &file.key.credential).unwrap();
    entries.iter().map(|(_, _, e)| e.key.salt).collect()
}

const CLI_FRAGMENTS: [&str; 3] = [
    "CLISECRET-f0e1d2c3b4a5",
    "CLISECRET-968778695a4b",
    "CLISECRET-3c2d1e0f1a2b",
];

/// A simulator state file and a vault on it, for the command.
struct CliEnv {
    dir: tempfile::TempDir,
    state: PathBuf,
    vault: PathBuf,
}

impl CliEnv {
    fn new(seed: u64) -> CliEnv {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("sim.json");
        Simulator::create(SimConfig::with_seed(seed), &state).unwrap();
        let vault = dir.path().join("keyring.tokenvault");
        std::fs::create_dir(dir.path().join("run")).unwrap();
        let tokenring = Tokenring::new()
            .only(Selector::Sim(state.clone()))
            .agent(AgentUse::Never);
        tokenring.create(&vault, &NoPrompt).unwrap();
        CliEnv { dir, state, vault }
    }

    fn store(&self) -> tokenring::Store {
        Tokenring::new()
            .only(Selector::Sim(self.state.clone()))
            .agent(AgentUse::Never)
            .open(&self.vault)
            .unwrap()
    }

    /// `tokenring-memcheck ARGS` with this environment and the patterns.
    fn command(&self, args: &[&str], patterns: &[&[u8]]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tokenring-memcheck"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_RUNTIME_DIR", self.dir.path().join("run"))
            .env("TOKENRING_VAULT", &self.vault)
            .env(
                "TOKENRING_AUTHENTICATOR",
                format!("sim:{}", self.state.display()),
            )
            .env(
                tokenring_memcheck::PATTERNS_ENV,
                tokenring_memcheck::patterns_to_env(patterns),
            )
            .stdin(Stdio::null());
        if let Some(on) = std::env::var_os(tokenring_memcheck::BACKTRACE_ENV) {
            command.env(tokenring_memcheck::BACKTRACE_ENV, on);
        }
        command
    }
}

/// The child's report: (scanned, hits), from its stderr.
#[track_caller]
fn child_findings(stderr: &str) -> (usize, usize) {
    stderr
        .lines()
        .find_map(Findings::parse_summary)
        .unwrap_or_else(|| panic!("no memcheck report on stderr:\n{stderr}"))
}

#[test]
fn the_get_command_leaves_no_copy_of_the_secret_in_its_freed_memory() {
    let _serial = serial();
    let env = CliEnv::new(34);
    let secret = marker(&CLI_FRAGMENTS, 700);
    env.store().set("svc", "cli", &secret, &NoPrompt).unwrap();
    let patterns = as_bytes(&CLI_FRAGMENTS);

    // In the command's own process (no agent).
    let output = env
        .command(&["--no-agent", "get", "svc", "cli"], &patterns)
        .output()
        .unwrap();
    let mut stdout = Zeroizing::new(output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.strip_suffix(b"\n") == Some(secret.as_bytes()),
        "{stderr}"
    );
    stdout.clear();
    let (scanned, hits) = child_findings(&stderr);
    assert!(scanned > 0 && hits == 0, "in-process get:\n{stderr}");

    // Through an agent, itself a process with the tracking allocator.
    let mut agent = env
        .command(&["agent", "--idle-lock", "10m"], &patterns)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let status = env.command(&["status"], &patterns).output().unwrap();
        if String::from_utf8_lossy(&status.stdout).contains("agent:         running (pid") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the agent did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = env
        .command(&["get", "svc", "cli"], &patterns)
        .output()
        .unwrap();
    let mut stdout = Zeroizing::new(output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.strip_suffix(b"\n") == Some(secret.as_bytes()),
        "{stderr}"
    );
    stdout.clear();
    let (scanned, hits) = child_findings(&stderr);
    assert!(scanned > 0 && hits == 0, "get through the agent:\n{stderr}");

    let pid = rustix::process::Pid::from_raw(i32::try_from(agent.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = agent.wait().unwrap();
    let mut agent_stderr = String::new();
    agent
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut agent_stderr)
        .unwrap();
    assert!(status.success(), "{agent_stderr}");
    let (scanned, hits) = child_findings(&agent_stderr);
    assert!(scanned > 0 && hits == 0, "the agent:\n{agent_stderr}");
}
