//! The tokenring-rs wheel with real Python programs: it is built from
//! `python/` around this build's `tokenring` binary, installed with `keyring`
//! and `twine` into a fresh virtual environment (made with `$TOKENRING_PYTHON`
//! or `python3`), and then
//!
//! - the `keyring` command line chooses its backend and sets, gets and
//!   deletes passwords through it, with and without the agent;
//! - `twine upload` to a local `pypiserver` (password authentication from an
//!   htpasswd file) gets its password from TokenRing on the simulator and the
//!   server accepts the upload; with a wrong or missing secret, or a denied or
//!   timed-out touch, the upload is refused (twine's ordinary "credential not
//!   found" path, with TokenRing's message), never hanging; with and without
//!   the agent.
//!
//! Packages come from PyPI into a cached tools environment
//! (`$TOKENRING_PYTHON_VENV`, default `/tmp/tokenring-python-venv`) and a
//! wheelhouse in it, so repeated runs need no network. Without Python or the
//! network the tests are skipped with the reason, except under `CI`, where
//! they fail.

#![cfg(all(feature = "sim", feature = "cli"))]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokenring_sim::{SimConfig, Simulator};

/// The simulator's PIN.
const PIN: &str = "1234";

/// What the tools environment must provide (`import` names) and the
/// packages that bring them.
const TOOL_MODULES: &str = "hatchling, pypiserver, passlib, twine, keyring";
const TOOL_PACKAGES: [&str; 5] = [
    "hatchling>=1.27",
    "pypiserver",
    "passlib",
    "twine",
    "keyring",
];

/// The longest any one Python program may take before the test calls it a hang.
const DEADLINE: Duration = Duration::from_secs(90);

/// The repository root (where `python/` is).
fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Says why the tests are skipped, or fails under `CI`.
fn unavailable(reason: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{reason} (needed in CI)");
    }
    eprintln!("skipped: {reason}");
}

/// What a program printed and how it ended.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "the program failed: {self:#?}");
        self
    }

    #[track_caller]
    fn failed(self) -> Run {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "the program should have failed: {self:#?}"
        );
        self
    }

    #[track_caller]
    fn says(self, text: &str) -> Run {
        assert!(
            self.stderr.contains(text) || self.stdout.contains(text),
            "{text:?} is not in the output: {self:#?}"
        );
        self
    }
}

/// Runs a command with `input` on stdin; fails the test if it outlives
/// [`DEADLINE`] (a hang).
fn run(mut command: Command, input: Option<&str>) -> Run {
    let started = Instant::now();
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(text.as_bytes()).expect("write stdin");
    }
    // Drain the pipes on threads so a chatty program cannot block.
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut out_pipe, &mut text).ok();
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut err_pipe, &mut text).ok();
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            child.kill().ok();
            child.wait().ok();
            panic!("{command:?} hung for more than {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        took: started.elapsed(),
    }
}

/// The Python side, prepared once per test binary: the tools environment,
/// the wheel, the fresh environment with twine, keyring and the wheel, and
/// a tiny distribution to upload.
struct Python {
    /// The tools environment's interpreter (pip, hatchling, pypiserver, passlib).
    tools: PathBuf,
    /// The fresh environment's interpreter (twine, keyring, tokenring-rs).
    python: PathBuf,
    /// The `tokenring` the wheel installed into the fresh environment.
    tokenring: PathBuf,
    /// The distribution to upload.
    dist: PathBuf,
}

fn python() -> Option<&'static Python> {
    static PYTHON: OnceLock<Option<Python>> = OnceLock::new();
    // Without Python, `prepare` said why (or failed under CI).
    PYTHON.get_or_init(prepare).as_ref()
}

fn prepare() -> Option<Python> {
    let base = std::env::var("TOKENRING_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".to_string());
    let check = Command::new(&base)
        .args(["-c", "import sys, venv; assert sys.version_info >= (3, 8)"])
        .output();
    if !matches!(&check, Ok(o) if o.status.success()) {
        unavailable(&format!(
            "{base} with the venv module (Python 3.8 or later) is not available"
        ));
        return None;
    }
    let started = Instant::now();
    let tools_dir = std::env::var_os("TOKENRING_PYTHON_VENV")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/tokenring-python-venv"));
    let tools = tools_dir.join("bin/python");
    let has_tools = || {
        Command::new(&tools)
            .args(["-c", &format!("import {TOOL_MODULES}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has_tools() {
        let mut venv = Command::new(&base);
        venv.args(["-m", "venv", "--clear"]).arg(&tools_dir);
        if run(venv, None).code != Some(0) {
            unavailable(&format!(
                "cannot create a virtual environment in {}",
                tools_dir.display()
            ));
            return None;
        }
        let mut pip = Command::new(&tools);
        pip.args(["-m", "pip", "install", "--quiet"])
            .args(TOOL_PACKAGES);
        let installed = run(pip, None);
        if installed.code != Some(0) {
            unavailable(&format!(
                "cannot install {TOOL_PACKAGES:?} from PyPI: {}",
                installed.stderr
            ));
            return None;
        }
    }
    // twine and keyring as wheels, so each fresh environment installs offline.
    let wheelhouse = tools_dir.join("wheelhouse");
    let work = work_dir();

    // The wheel, around the binary this test run built.
    let wheels = work.join("wheels");
    let mut build = Command::new(&tools);
    build
        .args([
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
        ])
        .arg("--wheel-dir")
        .arg(&wheels)
        .arg(repo_root().join("python"))
        .env("TOKENRING_WHEEL_BINARY", env!("CARGO_BIN_EXE_tokenring"));
    run(build, None).ok();
    let wheel = single_file(&wheels, "tokenring_rs-");
    let name = wheel
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    assert!(
        name.ends_with(".whl") && name.contains("-py3-none-"),
        "the wheel is tagged for any Python 3, one platform: {name}"
    );

    // A fresh environment, as twine's own (pipx's venvs/twine): twine,
    // keyring and the wheel installed with pip.
    let fresh = work.join("venv");
    let mut venv = Command::new(&base);
    venv.args(["-m", "venv", "--without-pip"]).arg(&fresh);
    run(venv, None).ok();
    let python = fresh.join("bin/python");
    let install = |offline: bool| {
        let mut pip = Command::new(&tools);
        pip.args(["-m", "pip", "--python"]).arg(&python).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ]);
        if offline {
            pip.arg("--no-index").arg("--find-links").arg(&wheelhouse);
        }
        pip.args(["twine", "keyring"]).arg(&wheel);
        run(pip, None)
    };
    if install(true).code != Some(0) {
        // Fill the wheelhouse (for the tools' Python), then retry; when
        // that Python differs from this one, install from PyPI directly.
        let mut download = Command::new(&tools);
        download
            .args(["-m", "pip", "download", "--quiet", "--dest"])
            .arg(&wheelhouse)
            .args(["twine", "keyring"]);
        run(download, None);
        if install(true).code != Some(0) {
            let online = install(false);
            if online.code != Some(0) {
                unavailable(&format!(
                    "cannot install twine and keyring from PyPI: {}",
                    online.stderr
                ));
                return None;
            }
        }
    }
    let tokenring = fresh.join("bin/tokenring");
    assert!(
        tokenring.is_file(),
        "the wheel installs the tokenring command into the environment's bin"
    );

    // The distribution to upload: a one-module package built with hatchling.
    let probe = work.join("probe");
    std::fs::create_dir_all(probe.join("tokenring_probe")).expect("probe dir");
    std::fs::write(
        probe.join("pyproject.toml"),
        "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n\n\
         [project]\nname = \"tokenring-probe\"\nversion = \"1.0\"\n\n\
         [tool.hatch.build.targets.wheel]\npackages = [\"tokenring_probe\"]\n",
    )
    .expect("probe pyproject");
    std::fs::write(
        probe.join("tokenring_probe/__init__.py"),
        "\"\"\"Uploaded by TokenRing's tests.\"\"\"\n",
    )
    .expect("probe module");
    let dist_dir = work.join("dist");
    let mut build = Command::new(&tools);
    build
        .args([
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
        ])
        .arg("--wheel-dir")
        .arg(&dist_dir)
        .arg(&probe);
    run(build, None).ok();
    let dist = single_file(&dist_dir, "tokenring_probe-");
    eprintln!(
        "python side ready in {:.1}s: {}",
        started.elapsed().as_secs_f64(),
        wheel.display()
    );
    Some(Python {
        tools,
        python,
        tokenring,
        dist,
    })
}

/// This process's directory under `target/tmp/python-keyring/` (named by
/// its pid); those of test processes that are gone are removed.
fn work_dir() -> PathBuf {
    let parent = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-keyring");
    if let Ok(entries) = std::fs::read_dir(&parent) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let gone = match name.parse::<u32>() {
                Ok(pid) => !Path::new(&format!("/proc/{pid}")).exists(),
                Err(_) => true,
            };
            if gone {
                std::fs::remove_dir_all(entry.path()).ok();
            }
        }
    }
    let work = parent.join(std::process::id().to_string());
    std::fs::remove_dir_all(&work).ok();
    std::fs::create_dir_all(&work).expect("work dir");
    work
}

/// The one file in `dir` whose name starts with `prefix`.
#[track_caller]
fn single_file(dir: &Path, prefix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {prefix}* in {}: {found:?}",
        dir.display()
    );
    found.into_iter().next().expect("one file")
}

/// A private home: simulator, PIN file, vault (created with the wheel's
/// `tokenring init`), no terminal.
struct Home {
    dir: tempfile::TempDir,
    py: &'static Python,
}

impl Home {
    fn new(py: &'static Python) -> Home {
        Home::with_config(py, SimConfig::with_seed(11).pin(PIN))
    }

    fn with_config(py: &'static Python, config: SimConfig) -> Home {
        let dir = tempfile::tempdir().expect("tempdir");
        Simulator::create(config, &dir.path().join("sim.json")).expect("create the simulator");
        std::fs::write(dir.path().join("pin"), format!("{PIN}\n")).expect("pin file");
        let home = Home { dir, py };
        run(home.command(&home.py.tokenring, &["init"]), None).ok();
        home
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `setsid PROGRAM ARGS` with only this home's environment: no
    /// controlling terminal, no TokenRing, XDG, keyring, twine or Python
    /// variables from outside.
    fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut command = Command::new("setsid");
        command.arg(program).args(args);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if [
                "TOKENRING_",
                "XDG_",
                "KEYRING_",
                "TWINE_",
                "PYTHON",
                "VIRTUAL_ENV",
                "PIP_",
            ]
            .iter()
            .any(|prefix| key.starts_with(prefix))
            {
                command.env_remove(&key);
            }
        }
        command
            .env("HOME", self.dir.path())
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_RUNTIME_DIR", self.path("run"))
            .env(
                "TOKENRING_AUTHENTICATOR",
                format!("sim:{}", self.path("sim.json").display()),
            )
            .env("TOKENRING_VAULT", self.path("test.tokenvault"))
            .env("TOKENRING_PIN_FILE", self.path("pin"))
            .env("NO_COLOR", "1")
            .env("COLUMNS", "200");
        command
    }

    /// `python -m keyring ARGS` in the fresh environment.
    fn keyring(&self, args: &[&str]) -> Command {
        let mut all = vec!["-m", "keyring"];
        all.extend_from_slice(args);
        self.python(&all)
    }

    /// The fresh environment's `python ARGS`, with a decoy `tokenring`
    /// first on `PATH` (it would answer "no such entry" to everything): the
    /// backend must run the binary its wheel installed.
    fn python(&self, args: &[&str]) -> Command {
        let decoys = self.path("decoys");
        if !decoys.exists() {
            std::fs::create_dir_all(&decoys).expect("decoy dir");
            let exit_1 = ["/usr/bin/false", "/bin/false"]
                .into_iter()
                .find(|p| Path::new(p).exists())
                .expect("false(1)");
            std::os::unix::fs::symlink(exit_1, decoys.join("tokenring")).expect("decoy");
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![decoys];
        paths.extend(std::env::split_paths(&path));
        let mut command = self.command(&self.py.python, args);
        command.env("PATH", std::env::join_paths(paths).expect("PATH"));
        command
    }

    fn keyring_set(&self, service: &str, user: &str, secret: &str) {
        run(
            self.keyring(&["set", service, user]),
            Some(&format!("{secret}\n")),
        )
        .ok();
    }

    /// Starts `tokenring agent` (the wheel's) for this home's vault, with
    /// extra environment; waits for its socket.
    fn start_agent(&self, env: &[(&str, &str)]) -> Agent {
        let mut command = self.command(&self.py.tokenring, &["agent"]);
        command.envs(env.iter().copied());
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = command.spawn().expect("start the agent");
        let agent = Agent { child };
        let socket_dir = self.path("run").join("tokenring");
        let started = Instant::now();
        loop {
            let has_socket = std::fs::read_dir(&socket_dir)
                .map(|d| {
                    d.filter_map(Result::ok)
                        .any(|e| e.file_name().to_string_lossy().ends_with(".sock"))
                })
                .unwrap_or(false);
            if has_socket {
                return agent;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the agent did not create its socket in {}",
                socket_dir.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A running `tokenring agent`, stopped with SIGTERM.
struct Agent {
    child: Child,
}

impl Agent {
    fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        // `setsid` execs the agent, so the child's pid is the agent's.
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .ok();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

#[test]
fn keyring_cli_chooses_tokenring_and_sets_gets_deletes() {
    let Some(py) = python() else { return };
    let home = Home::new(py);

    let backends = run(home.keyring(&["--list-backends"]), None).ok();
    assert!(
        backends
            .stdout
            .contains("tokenring_rs.backend.TokenRingKeyring (priority: 20)"),
        "{backends:#?}"
    );
    let chosen = run(
        home.command(
            &py.python,
            &[
                "-c",
                "import keyring; print(type(keyring.get_keyring()).__name__)",
            ],
        ),
        None,
    )
    .ok();
    assert_eq!(chosen.stdout.trim(), "TokenRingKeyring", "{chosen:#?}");

    // In-process: through the bundled binary.
    home.keyring_set("example.org", "alice", "in-process secret");
    let got = run(home.keyring(&["get", "example.org", "alice"]), None).ok();
    assert_eq!(got.stdout, "in-process secret\n");
    assert_eq!(
        got.stderr.matches("Touch your authenticator").count(),
        2,
        "{got:#?}"
    );
    let creds = run(
        home.keyring(&["--mode", "creds", "get", "example.org"]),
        None,
    )
    .ok();
    assert_eq!(creds.stdout, "alice\nin-process secret\n");
    // The vault named by keyring's property instead of TOKENRING_VAULT;
    // without either, the default vault (absent here) is an error.
    let mut by_property = home.keyring(&["get", "example.org", "alice"]);
    by_property
        .env_remove("TOKENRING_VAULT")
        .env("KEYRING_PROPERTY_VAULT", home.path("test.tokenvault"));
    assert_eq!(run(by_property, None).ok().stdout, "in-process secret\n");
    let mut no_vault = home.keyring(&["get", "example.org", "alice"]);
    no_vault.env_remove("TOKENRING_VAULT");
    run(no_vault, None)
        .failed()
        .says("TokenRingError")
        .says("no vault at")
        .says("tokenring init");
    run(home.keyring(&["get", "example.org", "bob"]), None).failed();
    run(
        home.keyring(&["--mode", "creds", "get", "nowhere.org"]),
        None,
    )
    .failed();
    // A denied or timed-out touch is an error (keyring's command shows it
    // and exits 1, as for any backend error), not "no such password".
    for (presence, words) in [("deny", "denied"), ("timeout", "not touched in time")] {
        let mut get = home.keyring(&["get", "example.org", "alice"]);
        get.env("TOKENRING_SIM_PRESENCE", presence);
        let refused = run(get, None).failed().says("TokenRingError").says(words);
        assert!(refused.stdout.is_empty(), "{refused:#?}");
    }
    let mut set = home.keyring(&["set", "example.org", "carol"]);
    set.env("TOKENRING_SIM_PRESENCE", "deny");
    run(set, Some("never stored\n"))
        .failed()
        .says("PasswordSetError")
        .says("denied");
    run(home.keyring(&["get", "example.org", "carol"]), None).failed();
    run(home.keyring(&["del", "example.org", "alice"]), None).ok();
    run(home.keyring(&["get", "example.org", "alice"]), None).failed();
    run(home.keyring(&["del", "example.org", "alice"]), None)
        .failed()
        .says("PasswordDeleteError")
        .says("no password for 'alice'");

    // With the agent: through its socket alone (the binary made unfindable).
    let agent = home.start_agent(&[]);
    let via_socket = |args: &[&str]| {
        let mut command = home.keyring(args);
        command.env("TOKENRING_BINARY", "/nonexistent/tokenring");
        command
    };
    run(
        via_socket(&["set", "example.org", "dave"]),
        Some("agent secret\n"),
    )
    .ok();
    let got = run(via_socket(&["get", "example.org", "dave"]), None).ok();
    assert_eq!(got.stdout, "agent secret\n");
    assert_eq!(
        got.stderr.matches("Touch your authenticator").count(),
        1,
        "one touch per secret with the agent: {got:#?}"
    );
    let creds = run(via_socket(&["--mode", "creds", "get", "example.org"]), None).ok();
    assert_eq!(creds.stdout, "dave\nagent secret\n");
    let mut by_property = via_socket(&["get", "example.org", "dave"]);
    by_property
        .env_remove("TOKENRING_VAULT")
        .env("KEYRING_PROPERTY_VAULT", home.path("test.tokenvault"));
    assert_eq!(run(by_property, None).ok().stdout, "agent secret\n");
    run(via_socket(&["get", "example.org", "erin"]), None).failed();
    // TOKENRING_NO_AGENT=1: the backend leaves the agent alone and runs the
    // (here unfindable) binary instead, as the `tokenring` command would.
    let mut no_agent = via_socket(&["get", "example.org", "dave"]);
    no_agent.env("TOKENRING_NO_AGENT", "1");
    let refused = run(no_agent, None).failed();
    assert!(!refused.stdout.contains("agent secret"), "{refused:#?}");
    run(via_socket(&["del", "example.org", "dave"]), None).ok();
    run(via_socket(&["del", "example.org", "dave"]), None)
        .failed()
        .says("PasswordDeleteError");
    agent.stop();
    // The agent gone, the binary is needed again: without it, the backend
    // says so instead of failing obscurely.
    let mut list = home.keyring(&["--list-backends"]);
    list.env("TOKENRING_BINARY", "/nonexistent/tokenring");
    let unfindable = run(list, None).ok();
    assert!(
        !unfindable.stdout.contains("TokenRingKeyring"),
        "{unfindable:#?}"
    );
}

/// The backend's script for the test below: names that look like options,
/// multi-line secrets, and a watch on every process's command line while
/// the bundled `tokenring` runs (slowed by a delayed touch).
const NAMES_AND_LINES_SCRIPT: &str = r#"
import json, os, sys, threading
from tokenring_rs.backend import TokenRingKeyring

# Built here so the name is not on this script's own command line.
marker = "-".join(["--secret", "project", "name"])
pem = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\nAgEGCCqGSM49AwEHBG0w\n-----END PRIVATE KEY-----\n"
account = '{\n  "type": "service_account",\n  "private_key": "-----BEGIN-----\\nx\\n"\n}'
k = TokenRingKeyring()
report = {}
report["help"] = k.get_password("--help", "u")
report["version"] = k.get_password("--version", "-h")
k.set_password("--help", "u", pem)
report["pem"] = k.get_password("--help", "u") == pem
k.set_password(marker, "sa", account)
report["account"] = k.get_password(marker, "sa") == account

if sys.argv[1] == "watch":
    seen = {"marker": False, "tokenring": []}
    done = threading.Event()
    def watch():
        while not done.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit() or int(pid) == os.getpid():
                    continue
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
                except OSError:
                    continue
                if any(marker in a for a in argv):
                    seen["marker"] = True
                if argv and argv[0].endswith("tokenring") and argv not in seen["tokenring"]:
                    seen["tokenring"].append(argv)
    watcher = threading.Thread(target=watch)
    watcher.start()
    os.environ["TOKENRING_SIM_PRESENCE"] = "delay:1500"
    report["watched"] = k.get_password(marker, "sa") == account
    done.set()
    watcher.join()
    report["marker_on_a_command_line"] = seen["marker"]
    report["tokenring_command_lines"] = seen["tokenring"]
k.delete_password(marker, "sa")
k.delete_password("--help", "u")
report["deleted"] = k.get_password(marker, "sa") is None and k.get_password("--help", "u") is None
print(json.dumps(report))
"#;

/// Service and user names reach the bundled `tokenring` on its standard
/// input, never as arguments: a name like `--help` is a name (not the help
/// text returned as a password), and no name shows in `/proc/*/cmdline`.
/// Multi-line secrets round-trip in-process and through the agent.
#[test]
fn names_stay_off_the_command_line_and_multi_line_secrets_round_trip() {
    let Some(py) = python() else { return };
    let home = Home::new(py);
    let script = home.path("names_and_lines.py");
    std::fs::write(&script, NAMES_AND_LINES_SCRIPT).expect("script");
    let script = script.to_str().expect("path");

    let check = |run: Run, watched: bool| {
        let report: serde_json::Value =
            serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {run:#?}"));
        assert_eq!(report["help"], serde_json::Value::Null, "{report}");
        assert_eq!(report["version"], serde_json::Value::Null, "{report}");
        for key in ["pem", "account", "deleted"] {
            assert_eq!(report[key], true, "{key}: {report}");
        }
        if watched {
            assert_eq!(report["watched"], true, "{report}");
            assert_eq!(report["marker_on_a_command_line"], false, "{report}");
            let lines = report["tokenring_command_lines"]
                .as_array()
                .expect("command lines");
            assert!(
                lines
                    .iter()
                    .any(|argv| argv.to_string().contains("--names-from-stdin")),
                "the watch saw no tokenring command: {report}"
            );
        }
    };
    // In-process: the bundled binary, watched.
    check(run(home.python(&[script, "watch"]), None).ok(), true);

    // Through the agent's socket alone.
    let agent = home.start_agent(&[]);
    let mut via_socket = home.python(&[script, "agent"]);
    via_socket.env("TOKENRING_BINARY", "/nonexistent/tokenring");
    check(run(via_socket, None).ok(), false);
    agent.stop();
}

/// A local package index with password authentication for uploads.
struct Index {
    child: Child,
    url: String,
    packages: PathBuf,
}

impl Index {
    fn start(py: &Python, dir: &Path, user: &str, password: &str) -> Index {
        let htpasswd = dir.join("htpasswd");
        let mut make = Command::new(&py.tools);
        make.args([
            "-c",
            "import sys\nfrom passlib.apache import HtpasswdFile\n\
             h = HtpasswdFile(sys.argv[1], new=True)\nh.set_password(sys.argv[2], sys.argv[3])\nh.save()",
        ])
        .arg(&htpasswd)
        .args([user, password]);
        run(make, None).ok();
        let packages = dir.join("packages");
        std::fs::create_dir_all(&packages).expect("packages dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&py.tools)
            .args(["-m", "pypiserver", "run", "-i", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .args(["-a", "update", "-P"])
            .arg(&htpasswd)
            .args(["--backend", "simple-dir", "--disable-fallback"])
            .arg(&packages)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pypiserver");
        let index = Index {
            child,
            url: format!("http://127.0.0.1:{port}/"),
            packages,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "pypiserver did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        index
    }

    /// The uploaded files (then removed, for the next upload).
    fn take_uploads(&self) -> Vec<String> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.packages)
            .expect("packages")
            .flatten()
        {
            names.push(entry.file_name().to_string_lossy().into_owned());
            std::fs::remove_file(entry.path()).expect("remove the upload");
        }
        names
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// `python -m twine upload --non-interactive --repository-url URL [-u USER] DIST`.
fn twine(home: &Home, index: &Index, user: Option<&str>) -> Command {
    let dist = home.py.dist.to_string_lossy().into_owned();
    let mut args = vec![
        "-m",
        "twine",
        "upload",
        "--non-interactive",
        "--disable-progress-bar",
        "--repository-url",
        &index.url,
    ];
    if let Some(user) = user {
        args.extend_from_slice(&["--username", user]);
    }
    args.push(&dist);
    home.python(&args)
}

/// The upload is accepted: twine succeeds and the server has the file.
#[track_caller]
fn accepted(index: &Index, command: Command) -> Run {
    let upload = run(command, None).ok();
    assert_eq!(
        index.take_uploads(),
        vec!["tokenring_probe-1.0-py2.py3-none-any.whl".to_string()],
        "{upload:#?}"
    );
    upload
}

/// The upload is refused: twine fails and the server has nothing.
#[track_caller]
fn refused(index: &Index, command: Command) -> Run {
    let upload = run(command, None).failed();
    assert!(index.take_uploads().is_empty(), "{upload:#?}");
    upload
}

#[test]
fn twine_upload_gets_its_password_from_tokenring() {
    let Some(py) = python() else { return };
    let home = Home::new(py);
    let index_dir = home.path("index");
    std::fs::create_dir_all(&index_dir).expect("index dir");
    let index = Index::start(py, &index_dir, "alice", "upload secret");
    home.keyring_set(&index.url, "alice", "upload secret");
    home.keyring_set(&index.url, "mallory", "a wrong secret");

    // In-process (the bundled binary): accepted with the stored password,
    // the user name given or found in the vault (get_credential).
    let upload = accepted(&index, twine(&home, &index, Some("alice")));
    assert!(
        upload
            .stderr
            .contains("Touch your authenticator to decrypt the password for 'alice'"),
        "{upload:#?}"
    );
    eprintln!(
        "twine upload, in-process: {:.2}s",
        upload.took.as_secs_f64()
    );
    accepted(&index, twine(&home, &index, None));
    // Wrong secret: the server refuses it.
    refused(&index, twine(&home, &index, Some("mallory"))).says("403");
    // Missing secret: twine's own "credential not found".
    refused(&index, twine(&home, &index, Some("bob"))).says("Credential not found for password");
    // Denied or timed-out touch: TokenRing's message, then twine's
    // ordinary no-credential path, at once.
    for (presence, words) in [("deny", "denied"), ("timeout", "not touched in time")] {
        let mut upload = twine(&home, &index, Some("alice"));
        upload.env("TOKENRING_SIM_PRESENCE", presence);
        let upload = refused(&index, upload)
            .says(words)
            .says("Credential not found for password");
        assert!(upload.took < Duration::from_secs(30), "{upload:#?}");
    }

    // With the agent, through its socket alone.
    let agent = home.start_agent(&[]);
    let via_socket = |user: Option<&str>| {
        let mut command = twine(&home, &index, user);
        command.env("TOKENRING_BINARY", "/nonexistent/tokenring");
        command
    };
    let upload = accepted(&index, via_socket(Some("alice")));
    eprintln!("twine upload, agent: {:.2}s", upload.took.as_secs_f64());
    accepted(&index, via_socket(None));
    refused(&index, via_socket(Some("mallory"))).says("403");
    refused(&index, via_socket(Some("bob"))).says("Credential not found for password");
    agent.stop();

    // An agent whose touches are denied: refused with its message, no hang.
    let agent = home.start_agent(&[("TOKENRING_SIM_PRESENCE", "deny")]);
    let upload = refused(&index, via_socket(Some("alice")))
        .says("denied")
        .says("Credential not found for password");
    assert!(upload.took < Duration::from_secs(30), "{upload:#?}");
    agent.stop();
}

#[test]
fn pin_requests_are_answered_by_the_backend_with_and_without_the_agent() {
    let Some(py) = python() else { return };
    // alwaysUv: every derivation needs the PIN.
    let home = Home::with_config(py, SimConfig::with_seed(12).pin(PIN).always_uv(true));
    std::fs::write(home.path("wrong-pin"), "9999\n").expect("wrong pin file");
    home.keyring_set("example.org", "alice", "needs a PIN");
    let with_pin_file = |pin_file: Option<&str>, args: &[&str]| {
        let mut command = home.keyring(args);
        match pin_file {
            Some(name) => command.env("TOKENRING_PIN_FILE", home.path(name)),
            None => command.env_remove("TOKENRING_PIN_FILE"),
        };
        command
    };
    let get = ["get", "example.org", "alice"];
    run(with_pin_file(Some("wrong-pin"), &get), None)
        .failed()
        .says("wrong PIN");
    run(with_pin_file(None, &get), None)
        .failed()
        .says("TokenRingError")
        .says("PIN");

    // The agent relays its PIN requests to the backend, which answers from
    // the client's TOKENRING_PIN_FILE (or the terminal), not the agent's.
    let agent = home.start_agent(&[("TOKENRING_PIN_FILE", "/nonexistent/pin")]);
    let via_socket = |pin_file: Option<&str>| {
        let mut command = with_pin_file(pin_file, &get);
        command.env("TOKENRING_BINARY", "/nonexistent/tokenring");
        command
    };
    run(via_socket(Some("wrong-pin")), None)
        .failed()
        .says("wrong PIN");
    run(via_socket(None), None)
        .failed()
        .says("a PIN is needed and none was given");
    let got = run(via_socket(Some("pin")), None).ok();
    assert_eq!(got.stdout, "needs a PIN\n");
    agent.stop();
}

/// Starts `command`, waits until it asks for a touch, sends SIGINT to its
/// process group (as Ctrl-C on a terminal would) and returns how it ended
/// and how long that took after the signal.
fn interrupt_while_waiting_for_a_touch(mut command: Command) -> (Run, Duration) {
    use std::io::BufRead;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            all.push_str(&line);
            all.push('\n');
            lines_tx.send(line).ok();
        }
        all
    });
    let started = Instant::now();
    loop {
        match lines_rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) if line.starts_with("Touch your authenticator") => break,
            Ok(_) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                panic!(
                    "the program ended before asking for a touch: {}",
                    reader.join().unwrap_or_default()
                )
            }
        }
        if started.elapsed() > DEADLINE {
            child.kill().ok();
            panic!("the program never asked for a touch");
        }
    }
    // `setsid` made the program the leader of its own process group.
    Command::new("kill")
        .args(["-INT", "--", &format!("-{}", child.id())])
        .status()
        .expect("kill -INT");
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if signalled.elapsed() > Duration::from_secs(20) {
            child.kill().ok();
            panic!("the program did not stop after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = signalled.elapsed();
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        std::io::Read::read_to_string(&mut out, &mut stdout).ok();
    }
    let run = Run {
        code: status.code(),
        stdout,
        stderr: reader.join().unwrap_or_default(),
        took: started.elapsed(),
    };
    (run, took)
}

#[test]
fn ctrl_c_while_waiting_for_a_touch_stops_at_once() {
    let Some(py) = python() else { return };
    let home = Home::new(py);
    home.keyring_set("example.org", "alice", "secret");
    // Nobody touches for 20 s (real time); Ctrl-C must not wait for that.
    let slow = "delay:20000";

    // In-process: the bundled command cancels the authenticator's wait.
    let mut get = home.keyring(&["get", "example.org", "alice"]);
    get.env("TOKENRING_SIM_PRESENCE", slow);
    let (run, took) = interrupt_while_waiting_for_a_touch(get);
    eprintln!(
        "stopped {took:?} after Ctrl-C: {}",
        run.stderr.lines().last().unwrap_or_default()
    );
    assert!(took < Duration::from_secs(10), "{took:?} {run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert!(run.stderr.contains("KeyboardInterrupt"), "{run:#?}");

    // Through the agent: the backend sends `cancel`, and the agent is
    // ready for the next client.
    let agent = home.start_agent(&[("TOKENRING_SIM_PRESENCE", slow)]);
    let mut get = home.keyring(&["get", "example.org", "alice"]);
    get.env("TOKENRING_BINARY", "/nonexistent/tokenring");
    let (run, took) = interrupt_while_waiting_for_a_touch(get);
    eprintln!(
        "stopped {took:?} after Ctrl-C: {}",
        run.stderr.lines().last().unwrap_or_default()
    );
    assert!(took < Duration::from_secs(10), "{took:?} {run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    let status = run_status(&home);
    assert!(status.contains("agent"), "{status}");
    agent.stop();
}

/// `tokenring status` (the wheel's) while an agent runs.
fn run_status(home: &Home) -> String {
    let status = run(home.command(&home.py.tokenring, &["status"]), None).ok();
    format!("{}{}", status.stdout, status.stderr)
}

/// `python -m twine upload --non-interactive -r REPOSITORY DIST`: the
/// repository, user and password from `~/.pypirc` (or keyring).
fn twine_from_pypirc(home: &Home, repository: &str) -> Command {
    let dist = home.py.dist.to_string_lossy().into_owned();
    home.python(&[
        "-m",
        "twine",
        "upload",
        "--non-interactive",
        "--disable-progress-bar",
        "-r",
        repository,
        &dist,
    ])
}

#[test]
fn a_pypirc_password_moved_by_import_is_what_twine_uploads_with() {
    let Some(py) = python() else { return };
    let home = Home::new(py);
    let index_dir = home.path("index");
    std::fs::create_dir_all(&index_dir).expect("index dir");
    let index = Index::start(py, &index_dir, "alice", "upload secret");
    // ~/.pypirc as the packaging guide describes it, for twine.
    let pypirc = home.path(".pypirc");
    let text = format!(
        "[distutils]\nindex-servers =\n    local\n\n[local]\nrepository = {}\nusername = alice\n\
         password = upload secret\n",
        index.url
    );
    std::fs::write(&pypirc, &text).expect("pypirc");

    // twine reads the plaintext: accepted, TokenRing not asked.
    let before = accepted(&index, twine_from_pypirc(&home, "local"));
    assert!(
        !before.stderr.contains("Touch your authenticator"),
        "{before:#?}"
    );

    let import = run(
        home.command(&py.tokenring, &["import", "pypirc", "--remove"]),
        None,
    )
    .ok();
    assert!(
        import
            .stderr
            .contains(&format!("[local] -> '{}' / 'alice'", index.url)),
        "{import:#?}"
    );
    let after = std::fs::read_to_string(&pypirc).expect("pypirc");
    assert!(!after.contains("upload secret"), "{after}");
    assert!(after.contains("username = alice"), "{after}");
    let backup = std::fs::read_to_string(home.path(".pypirc.tokenring-backup")).expect("backup");
    assert_eq!(backup, text);

    // twine now finds the password through keyring, in TokenRing: one
    // touch to unlock, one for the entry; the server accepts it.
    let moved = accepted(&index, twine_from_pypirc(&home, "local"));
    assert!(
        moved
            .stderr
            .contains("Touch your authenticator to decrypt the password for 'alice'"),
        "{moved:#?}"
    );
}
