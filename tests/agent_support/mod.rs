//! Shared set-up for the agent tests: a vault on an in-memory simulator and
//! an agent serving it on a thread of the test process.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tempfile::TempDir;
use tokenring::agent::AgentClient;
use tokenring::app::agent::{Agent, AgentConfig, Limits, ShutdownHandle};
use tokenring::DynAuthenticator;
use tokenring_core::{Ctap2Client, NoPrompt};
use tokenring_sim::{PresencePolicy, SimConfig, SimTransport, Simulator};
use tokenring_vault::{CreateOptions, Vault};

/// A vault on a simulator, in a private temporary directory.
pub struct Fixture {
    pub dir: TempDir,
    pub vault: PathBuf,
    pub socket: PathBuf,
    pub sim: Arc<Mutex<Simulator>>,
}

impl Fixture {
    /// A new vault on a simulator approving every touch at once.
    pub fn new() -> Fixture {
        Self::with_config(SimConfig::with_seed(7).presence(PresencePolicy::approve()))
    }

    /// A new vault on a simulator made from `config`; `pin` answers the PIN
    /// request while enrolling, if the simulator has one.
    pub fn with_config(config: SimConfig) -> Fixture {
        Self::with_config_and_pin(config, None)
    }

    pub fn with_config_and_pin(config: SimConfig, pin: Option<&str>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().join("keyring.tokenvault");
        let socket = dir.path().join("agent").join("vault.sock");
        let sim = Arc::new(Mutex::new(Simulator::new(config)));
        let mut auth = Ctap2Client::new(SimTransport::new(Arc::clone(&sim))).unwrap();
        let prompt = tokenring_core::testing::ScriptedPrompt::new();
        if let Some(pin) = pin {
            for _ in 0..4 {
                prompt.push_pin(Some(pin));
            }
        }
        Vault::create(&vault, &mut auth, &CreateOptions::default(), &prompt).unwrap();
        Fixture {
            dir,
            vault,
            socket,
            sim,
        }
    }

    /// How many times the simulator asked for user presence so far.
    pub fn touches(&self) -> usize {
        self.sim.lock().unwrap().presence_requests()
    }

    pub fn set_presence(&self, policy: PresencePolicy) {
        self.sim.lock().unwrap().set_presence_policy(policy);
    }

    /// An agent configuration whose authenticator is this simulator.
    pub fn config(&self) -> AgentConfig {
        let sim = Arc::clone(&self.sim);
        let source = move |_: &[tokenring_vault::VaultCredential],
                           _: &dyn tokenring_core::Prompt| {
            let client = Ctap2Client::new(SimTransport::new(Arc::clone(&sim)))?;
            Ok(Box::new(client) as DynAuthenticator)
        };
        AgentConfig::new(self.vault.clone(), self.socket.clone(), Box::new(source)).limits(Limits {
            frame_timeout: Duration::from_millis(300),
            ..Limits::default()
        })
    }

    /// Starts an agent with `config` on a thread.
    pub fn start(&self, config: AgentConfig) -> RunningAgent {
        let agent = Agent::bind(config).unwrap();
        let shutdown = agent.shutdown_handle();
        let thread = std::thread::spawn(move || agent.serve());
        RunningAgent {
            shutdown,
            thread: Some(thread),
        }
    }

    pub fn client(&self) -> AgentClient {
        AgentClient::connect_socket(&self.socket)
            .unwrap()
            .expect("the agent runs")
    }

    /// The vault opened directly (one unlock touch), to check its content.
    pub fn open_directly(&self) -> Vault {
        let mut auth = Ctap2Client::new(SimTransport::new(Arc::clone(&self.sim))).unwrap();
        Vault::open(&self.vault, &mut auth, &NoPrompt).unwrap()
    }
}

/// An agent on a thread; stopped (and joined) on drop.
pub struct RunningAgent {
    pub shutdown: ShutdownHandle,
    thread: Option<JoinHandle<Result<(), tokenring::Error>>>,
}

impl RunningAgent {
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        self.shutdown.shutdown();
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap().unwrap();
        }
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        if self.thread.is_some() && !std::thread::panicking() {
            self.stop_inner();
        }
    }
}

/// Writes raw bytes to a new connection and reads every frame until the
/// agent closes it. Returns the JSON bodies.
pub fn raw_exchange(socket: &Path, bytes: &[u8]) -> Vec<serde_json::Value> {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    read_frames_until_closed(&mut stream)
}

pub fn read_frames_until_closed(stream: &mut UnixStream) -> Vec<serde_json::Value> {
    // The agent may close with our bytes unread: then the end comes as a
    // reset after its frames.
    let mut all = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("read: {e}"),
        }
    }
    let mut frames = Vec::new();
    let mut rest = &all[..];
    while rest.len() >= 5 {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        assert_eq!(rest[4], 1, "version byte");
        frames.push(serde_json::from_slice(&rest[5..4 + len]).unwrap());
        rest = &rest[4 + len..];
    }
    assert!(rest.is_empty(), "trailing bytes");
    frames
}

/// A frame with version 1 around `json`.
pub fn frame(json: &str) -> Vec<u8> {
    let mut out = ((json.len() + 1) as u32).to_be_bytes().to_vec();
    out.push(1);
    out.extend_from_slice(json.as_bytes());
    out
}
