//! Running the real `tokenring` binary against simulated authenticators in
//! a private temporary directory.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use tokenring_sim::{SimConfig, Simulator};

/// The PIN every test simulator is created with.
pub const PIN: &str = "1234";

/// A temporary home with a simulator state file, a vault path and a PIN file.
pub struct Env {
    /// The server behind `sim_socket`, while this environment lives
    /// (first, so that it stops before the directory goes).
    server: Option<tokenring_sim::SimSocketServer>,
    pub dir: tempfile::TempDir,
    pub sim: PathBuf,
    pub vault: PathBuf,
    pub pin_file: PathBuf,
    /// The socket of a served simulator, when [`Env::serve_in_memory`]
    /// started one: then the selector names it instead of the state file.
    pub sim_socket: Option<PathBuf>,
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(self.code, Some(code), "unexpected exit code: {self:#?}");
        self
    }

    /// The stderr lines asking for a touch.
    pub fn touch_prompts(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("Touch your authenticator"))
            .collect()
    }
}

/// Creates a simulator state file (seeded: equal seeds make equal
/// authenticators), with the test PIN.
pub fn create_sim(path: &Path, seed: u64) {
    Simulator::create(SimConfig::with_seed(seed).pin(PIN), path).expect("create the simulator");
}

impl Env {
    /// A new environment with a simulator (seed 1, PIN [`PIN`]) served from
    /// the test process and kept in memory (no state-file writes), and no
    /// vault yet. The simulator approves every touch:
    /// `TOKENRING_SIM_PRESENCE` does not reach it.
    pub fn in_memory() -> Env {
        let mut env = Env::new();
        let server = env.serve_in_memory();
        env.server = Some(server);
        env
    }

    /// A new environment whose commands open the simulator's state file
    /// (seed 1, PIN [`PIN`]) themselves, as `sim:STATEFILE`, writing it
    /// back; no vault yet.
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let sim = dir.path().join("sim.json");
        create_sim(&sim, 1);
        let pin_file = dir.path().join("pin");
        std::fs::write(&pin_file, format!("{PIN}\n")).expect("pin file");
        let vault = dir.path().join("test.tokenvault");
        Env {
            dir,
            sim,
            vault,
            pin_file,
            sim_socket: None,
            server: None,
        }
    }

    /// A new environment with an initialised vault.
    pub fn with_vault() -> Env {
        let env = Env::new();
        env.run(&["init"]).expect(0);
        env
    }

    /// A new environment with an initialised vault, its simulator served
    /// in memory (see [`Env::in_memory`]).
    pub fn with_vault_in_memory() -> Env {
        let env = Env::in_memory();
        env.run(&["init"]).expect(0);
        env
    }

    /// The `--authenticator` selector of this environment's simulator.
    pub fn selector(&self) -> String {
        match &self.sim_socket {
            Some(socket) => format!("sim:{}", socket.display()),
            None => format!("sim:{}", self.sim.display()),
        }
    }

    /// Serves this environment's simulator from the test process, its
    /// changes kept in memory (the state file is left as it is), and
    /// selects it for every command from now on. It keeps its own
    /// presence policy (`approve`): `TOKENRING_SIM_PRESENCE` does not
    /// reach it.
    pub fn serve_in_memory(&mut self) -> tokenring_sim::SimSocketServer {
        assert!(self.server.is_none(), "already served");
        let mut sim = Simulator::open(&self.sim).expect("open the simulator state");
        sim.keep_in_memory();
        let socket = self.dir.path().join("sim.sock");
        let server = tokenring_sim::SimSocketServer::bind(
            std::sync::Arc::new(std::sync::Mutex::new(sim)),
            &socket,
        )
        .expect("serve the simulator");
        self.sim_socket = Some(socket);
        server
    }

    /// A path inside the temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The `tokenring` binary with a clean environment: HOME and XDG dirs
    /// in the temporary directory, the simulator selected, the vault and
    /// PIN file set, and no controlling terminal (`setsid`), so nothing
    /// can prompt on the developer's terminal.
    pub fn command(&self) -> Command {
        let mut command = self.wrapped(&[env!("CARGO_BIN_EXE_tokenring")]);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// `setsid PROGRAM ARGS…` with this environment's variables (see
    /// [`Env::command`]).
    pub fn wrapped(&self, program_and_args: &[&str]) -> Command {
        let mut command = Command::new("setsid");
        command.args(program_and_args);
        for (key, _) in std::env::vars_os() {
            let key_text = key.to_string_lossy();
            if key_text.starts_with("TOKENRING_") || key_text.starts_with("XDG_") {
                command.env_remove(&key);
            }
        }
        command
            .env("HOME", self.dir.path())
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("XDG_RUNTIME_DIR", self.dir.path().join("run"))
            .env("TOKENRING_AUTHENTICATOR", self.selector())
            .env("TOKENRING_VAULT", &self.vault)
            .env("TOKENRING_PIN_FILE", &self.pin_file)
            // No D-Bus: an agent started by a test never reaches the
            // developer's desktop or logind (tests that want a bus set these).
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/nonexistent/tokenring-test-bus",
            )
            .env(
                "DBUS_SYSTEM_BUS_ADDRESS",
                "unix:path=/nonexistent/tokenring-test-bus",
            );
        command
    }

    /// Runs `tokenring ARGS` with no input.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command().args(args).output().expect("run tokenring"))
    }

    /// Runs a prepared command with `input` on stdin.
    pub fn run_with_input(mut command: Command, input: &[u8]) -> Run {
        command.stdin(Stdio::piped());
        let mut child: Child = command.spawn().expect("spawn tokenring");
        if let Some(mut stdin) = child.stdin.take() {
            // A program may end without reading its input (a usage error, an
            // operation it ignores): a closed pipe is not the test's failure.
            match stdin.write_all(input) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    panic!("write stdin: {e}")
                }
                _ => {}
            }
        }
        Run::from(child.wait_with_output().expect("wait for tokenring"))
    }

    /// Runs `tokenring ARGS` with `input` on stdin.
    pub fn run_input(&self, args: &[&str], input: &str) -> Run {
        let mut command = self.command();
        command.args(args);
        Env::run_with_input(command, input.as_bytes())
    }

    /// Stores a secret (`set` from stdin).
    pub fn set(&self, service: &str, user: &str, secret: &str) {
        self.run_input(&["set", service, user], &format!("{secret}\n"))
            .expect(0);
    }

    /// The simulator's state as saved.
    pub fn sim_state(&self) -> Simulator {
        Simulator::open(&self.sim).expect("open the simulator state")
    }
}

/// A running `tokenring agent` for an [`Env`]'s vault, stopped with SIGTERM
/// on drop.
pub struct Agent {
    child: Option<Child>,
}

impl Agent {
    /// Starts the agent (with `TOKENRING_SIM_PRESENCE=presence` when given)
    /// and waits until `tokenring status` sees it.
    pub fn start(env: &Env, presence: Option<&str>) -> Agent {
        let mut command = env.command();
        command.args(["agent", "--idle-lock", "10m"]);
        if let Some(p) = presence {
            command.env("TOKENRING_SIM_PRESENCE", p);
        }
        command.stdout(Stdio::null()).stderr(Stdio::null());
        let agent = Agent {
            child: Some(command.spawn().expect("spawn the agent")),
        };
        let start = std::time::Instant::now();
        while !env
            .run(&["status"])
            .stdout
            .contains("agent:         running (pid")
        {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "the agent did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        agent
    }

    /// Stops the agent with SIGTERM; its exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
    }
}
