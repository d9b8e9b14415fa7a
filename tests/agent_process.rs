//! The agent as a process (`tokenring agent`), against the simulator:
//! SIGTERM and SIGINT remove the socket, a second agent refuses, `kill -9`
//! in the middle of writes leaves the vault intact and a new agent starts
//! (replacing the stale socket), and the process is hardened.

#![cfg(all(feature = "sim", feature = "cli"))]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};
use tokenring::agent::AgentClient;
use tokenring::SecretStore;
use tokenring::{AgentUse, Selector, Store, Tokenring};
use tokenring_core::NoPrompt;

struct Env {
    dir: tempfile::TempDir,
    vault: PathBuf,
    state: PathBuf,
    runtime: PathBuf,
}

impl Env {
    fn new(seed: u64) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("token.json");
        tokenring_sim::Simulator::create(tokenring_sim::SimConfig::with_seed(seed), &state)
            .unwrap();
        let vault = dir.path().join("keyring.tokenvault");
        tokenring_at(&state).create(&vault, &NoPrompt).unwrap();
        let runtime = dir.path().join("run");
        std::fs::create_dir(&runtime).unwrap();
        Env {
            dir,
            vault,
            state,
            runtime,
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tokenring"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env("TOKENRING_VAULT", &self.vault)
            .env(
                "TOKENRING_AUTHENTICATOR",
                format!("sim:{}", self.state.display()),
            );
        command
    }

    /// The socket the agent for this vault uses (as the agent computes it).
    fn socket(&self) -> PathBuf {
        let canonical = self.vault.canonicalize().unwrap();
        let digest = {
            use sha2::Digest;
            use std::os::unix::ffi::OsStrExt;
            sha2::Sha256::digest(canonical.as_os_str().as_bytes())
        };
        self.runtime
            .join("tokenring")
            .join(format!("vault-{}.sock", hex::encode(&digest[..12])))
    }

    fn spawn_agent(&self) -> Child {
        self.command()
            .args(["agent", "--idle-lock", "10m"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Starts an agent and waits until it answers.
    fn start_agent(&self) -> (Child, AgentClient) {
        let mut child = self.spawn_agent();
        let started = Instant::now();
        loop {
            if let Some(client) = AgentClient::connect_socket(&self.socket()).unwrap() {
                if client.status().is_ok() {
                    return (child, client);
                }
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the agent exited early: {status}: {}",
                    stderr_of(&mut child)
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the agent did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn in_process(&self) -> Store {
        tokenring_at(&self.state)
            .agent(AgentUse::Never)
            .open(&self.vault)
            .unwrap()
    }
}

/// The simulator whose state is in `state`, and only it.
fn tokenring_at(state: &Path) -> Tokenring {
    Tokenring::new().only(Selector::Sim(state.to_path_buf()))
}

fn stderr_of(child: &mut Child) -> String {
    use std::io::Read;
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut text);
    }
    text
}

fn signal(child: &Child, signal: Signal) {
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    kill_process(pid, signal).unwrap();
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(started.elapsed() < limit, "the agent did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_and_sigint_stop_cleanly_and_remove_the_socket() {
    let env = Env::new(31);
    for sig in [Signal::TERM, Signal::INT] {
        let (mut child, client) = env.start_agent();
        const SECRET: &str = "S3cr3t-that-must-never-be-logged";
        client.set("s", "u", SECRET, &NoPrompt).unwrap();
        assert_eq!(
            client
                .get("s", "u", &NoPrompt)
                .unwrap()
                .unwrap()
                .expose_secret(),
            SECRET
        );
        assert!(env.socket().exists());
        signal(&child, sig);
        let status = wait_exit(&mut child, Duration::from_secs(10));
        assert!(status.success(), "{sig:?}: {status}");
        assert!(!env.socket().exists(), "{sig:?}: the socket is removed");
        let stderr = stderr_of(&mut child);
        assert!(stderr.contains("stopped"), "{stderr}");
        assert!(
            !stderr.contains(SECRET),
            "the agent logged the secret: {stderr}"
        );
        // Nothing answers on the old path any more.
        assert!(AgentClient::connect(&env.vault).unwrap().is_none());
    }
}

#[test]
fn a_second_agent_refuses_with_a_clear_message() {
    let env = Env::new(32);
    let (mut first, client) = env.start_agent();
    let second = env
        .command()
        .args(["agent"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("already running") && stderr.contains(&format!("pid {}", first.id())),
        "{stderr}"
    );
    // The first still serves, and its socket is still there.
    client.status().unwrap();
    signal(&first, Signal::TERM);
    assert!(wait_exit(&mut first, Duration::from_secs(10)).success());
}

#[test]
fn kill_9_during_writes_leaves_the_vault_intact_and_a_new_agent_starts() {
    let env = Env::new(33);
    let (mut child, client) = env.start_agent();
    client.set("before", "u", "kept", &NoPrompt).unwrap();
    // Writers hammer the agent; it dies in the middle.
    let socket = env.socket();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0..1000 {
                    let Ok(Some(client)) = AgentClient::connect_socket(&socket) else {
                        break;
                    };
                    let user = format!("w{w}-{i}");
                    if client.set("burst", &user, "v", &NoPrompt).is_err() {
                        break;
                    }
                    acknowledged.push(user);
                }
                acknowledged
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, Signal::KILL);
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert!(!status.success());
    let acknowledged: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        !acknowledged.is_empty(),
        "some writes went through before the kill"
    );
    assert!(env.socket().exists(), "kill -9 leaves the socket behind");

    // The vault opens (in-process) with everything that was acknowledged.
    let store = env.in_process();
    let names = store.list(&NoPrompt).unwrap();
    assert!(names.contains(&("before".to_string(), "u".to_string())));
    for user in &acknowledged {
        assert!(
            names.contains(&("burst".to_string(), user.clone())),
            "lost {user}"
        );
    }
    assert_eq!(
        store
            .get("before", "u", &NoPrompt)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "kept"
    );

    // A new agent replaces the stale socket and serves the same vault.
    let (mut again, client) = env.start_agent();
    assert_eq!(
        client
            .get("before", "u", &NoPrompt)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "kept"
    );
    assert_eq!(client.list(&NoPrompt).unwrap().len(), names.len());
    signal(&again, Signal::TERM);
    assert!(wait_exit(&mut again, Duration::from_secs(10)).success());
    let stderr = stderr_of(&mut again);
    assert!(stderr.contains("replaced the stale socket"), "{stderr}");
}

#[test]
fn the_agent_process_is_hardened() {
    let env = Env::new(34);
    let (mut child, client) = env.start_agent();
    let pid = client.pid();
    assert_eq!(pid, child.id());
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let fields: Vec<_> = core.split_whitespace().collect();
    assert_eq!(
        &fields[fields.len() - 3..fields.len() - 1],
        ["0", "0"],
        "{core}"
    );
    client.set("s", "u", "p", &NoPrompt).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let locked_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    signal(&child, Signal::TERM);
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success());
    let stderr = stderr_of(&mut child);
    assert!(
        stderr.contains("core dumps off") && stderr.contains("not dumpable"),
        "{stderr}"
    );
    // Memory is locked, or the agent said once why not.
    // (PR_SET_DUMPABLE cannot be read from outside; the agent reports it.)
    let locked = stderr.contains("memory locked");
    let warned = stderr.matches("memory not locked").count();
    assert!(locked != (warned == 1), "{stderr}");
    if locked {
        assert!(locked_kib > 0, "mlockall reported but VmLck is 0");
    }
}

#[test]
fn cli_sets_beside_the_agent_lose_nothing() {
    let env = Env::new(35);
    let (mut child, client) = env.start_agent();
    client.set("agent", "first", "a", &NoPrompt).unwrap();
    // Writers through the agent and `tokenring --no-agent set` processes
    // (in-process, under the vault's file lock) at the same time.
    let socket = env.socket();
    let through_agent = std::thread::spawn(move || {
        let client = AgentClient::connect_socket(&socket).unwrap().unwrap();
        for i in 0..20 {
            client
                .set("agent", &format!("u{i}"), "a", &NoPrompt)
                .unwrap();
        }
    });
    let cli: Vec<_> = (0..4)
        .map(|i| {
            let mut command = env.command();
            command
                .args(["--no-agent", "set", "cli", &format!("u{i}")])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let mut child = command.spawn().unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"from the cli\n")
                .unwrap();
            child
        })
        .collect();
    for child in cli {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    through_agent.join().unwrap();
    // The agent sees the CLI's entries, and the file has the agent's.
    let names = client.list(&NoPrompt).unwrap();
    assert_eq!(names.len(), 1 + 20 + 4, "{names:?}");
    assert_eq!(
        client
            .get("cli", "u3", &NoPrompt)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "from the cli"
    );
    assert_eq!(env.in_process().list(&NoPrompt).unwrap().len(), 25);
    signal(&child, Signal::TERM);
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success());
}
