//! Clients in other processes: the thin Python reference client
//! (examples/python/tokenring_agent.py) speaks the protocol, and a client
//! running under another uid is refused (SO_PEERCRED).

#![cfg(all(feature = "sim", feature = "cli"))]
#![allow(clippy::unwrap_used)]

mod agent_support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use agent_support::Fixture;
use tokenring::SecretStore;
use tokenring_core::NoPrompt;

/// A Python 3 that any user may run (`/usr/bin/python3` first: a pyenv shim
/// under /root is not reachable for another uid).
fn python() -> Option<PathBuf> {
    ["/usr/bin/python3", "/usr/local/bin/python3"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            Command::new("python3")
                .arg("--version")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|_| PathBuf::from("python3"))
        })
}

/// The reference client, copied where any user can read it.
fn client_script(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python/tokenring_agent.py");
    let target = dir.join("tokenring_agent.py");
    std::fs::copy(source, &target).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    target
}

fn run(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_python_reference_client_speaks_the_protocol() {
    let Some(python) = python() else {
        if std::env::var_os("CI").is_some() {
            panic!("python3 is needed for this test in CI");
        }
        eprintln!("skipped: no python3 on this machine");
        return;
    };
    let fx = Fixture::new();
    let _agent = fx.start(fx.config());
    let script = client_script(fx.dir.path());
    let py = |args: &[&str], stdin: &str| {
        let mut command = Command::new(&python);
        command
            .arg(&script)
            .arg("--socket")
            .arg(&fx.socket)
            .args(args);
        run(command, stdin)
    };

    let out = py(&["set", "pypi", "__token__"], "pypi-AgEIcHlwaS5vcmc\n");
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("Touch your authenticator to unlock the vault"));
    let out = py(&["get", "pypi", "__token__"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "pypi-AgEIcHlwaS5vcmc\n");
    assert!(text(&out.stderr).contains("decrypt the password for '__token__' in 'pypi'"));
    let out = py(&["get", "pypi", "nobody"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let out = py(&["list"], "");
    assert_eq!(text(&out.stdout), "pypi\t__token__\n");
    let out = py(&["status"], "");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["type"], "status");
    assert_eq!(status["locked"], false);
    assert_eq!(status["entries"], 1);
    // What Python stored, Rust reads.
    assert_eq!(
        fx.client()
            .get("pypi", "__token__", &NoPrompt)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "pypi-AgEIcHlwaS5vcmc"
    );
    let out = py(&["delete", "pypi", "__token__"], "");
    assert!(out.status.success());
    let out = py(&["lock"], "");
    assert!(out.status.success());
    assert!(fx.client().status().unwrap().locked);
}

#[test]
fn a_client_under_another_uid_is_refused() {
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!(
            "skipped: starting a client under another uid needs root (setpriv --reuid); \
             this test runs as uid {}",
            rustix::process::geteuid().as_raw()
        );
        return;
    }
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    let (Some(setpriv), Some(python)) = (setpriv, python()) else {
        if std::env::var_os("CI").is_some() {
            panic!("setpriv and python3 are needed for this test in CI");
        }
        eprintln!("skipped: setpriv or python3 is missing");
        return;
    };
    let fx = Fixture::new();
    let _agent = fx.start(fx.config());
    fx.client().set("s", "u", "secret", &NoPrompt).unwrap();
    // A bare client that skips the reference client's own check of the
    // agent's uid: it connects, asks for a secret and prints what comes back.
    const BARE_CLIENT: &str = r#"
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(json.dumps({"kind": "os_error", "message": str(e)})); sys.exit(3)
body = json.dumps({"type": "get", "service": "s", "user": "u"}).encode()
try:
    s.sendall(struct.pack(">IB", len(body) + 1, 1) + body)
except OSError:
    pass  # the agent may refuse before reading: its reply is still there
data = b""
while True:
    try:
        chunk = s.recv(65536)
    except ConnectionResetError:
        break
    if not chunk: break
    data += chunk
length = struct.unpack(">I", data[:4])[0]
print(data[5:4 + length].decode()); sys.exit(3)
"#;
    let as_nobody = |socket: &Path| {
        let mut command = Command::new(&setpriv);
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&python)
            .args(["-c", BARE_CLIENT])
            .arg(socket);
        run(command, "")
    };

    // First line of defence: nobody else may even reach the socket (0700
    // directory, 0600 socket).
    std::fs::set_permissions(fx.dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let out = as_nobody(&fx.socket);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("Permission denied"),
        "{}",
        text(&out.stdout)
    );

    // Second line: with the file permissions opened up, the agent itself
    // checks the peer's uid (SO_PEERCRED) and refuses.
    let agent_dir = fx.socket.parent().unwrap();
    std::fs::set_permissions(agent_dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(&fx.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = as_nobody(&fx.socket);
    std::fs::set_permissions(agent_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&fx.socket, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["kind"], "permission_denied", "{reply}");
    assert!(
        reply["message"].as_str().unwrap().contains("uid 65534"),
        "{reply}"
    );
    assert!(!text(&out.stdout).contains("secret"));

    // The agent serves its own user as before.
    assert_eq!(
        fx.client()
            .get("s", "u", &NoPrompt)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "secret"
    );
}

#[test]
fn python_clients_gather_names_beyond_one_frame() {
    let Some(python) = python() else {
        if std::env::var_os("CI").is_some() {
            panic!("python3 is needed for this test in CI");
        }
        eprintln!("skipped: no python3 on this machine");
        return;
    };
    let fx = Fixture::new();
    // More names than one 64 KiB frame holds, stored without the agent.
    let path = "/a/long/path".repeat(40);
    let names: Vec<(String, String)> = (0..300)
        .map(|i| {
            (
                format!("registry-{i:03}.example.com{path}"),
                format!("user-{i}"),
            )
        })
        .collect();
    {
        let vault = fx.open_directly();
        let mut auth = tokenring_core::Ctap2Client::new(tokenring_sim::SimTransport::new(
            std::sync::Arc::clone(&fx.sim),
        ))
        .unwrap();
        let items: Vec<(&str, &str, &str)> = names
            .iter()
            .map(|(s, u)| (s.as_str(), u.as_str(), "pw"))
            .collect();
        vault.set_many(&items, &mut auth, &NoPrompt).unwrap();
    }
    let _agent = fx.start(fx.config());
    let expected: String = names.iter().map(|(s, u)| format!("{s}\t{u}\n")).collect();

    // The reference client.
    let script = client_script(fx.dir.path());
    let mut command = Command::new(&python);
    command
        .arg(&script)
        .arg("--socket")
        .arg(&fx.socket)
        .arg("list");
    let out = run(command, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), expected);

    // The keyring backend's agent client (python/tokenring_rs/agent.py),
    // loaded without the package's keyring backend, with a stand-in for
    // the one name it takes from `keyring`.
    const LIST_WITH_THE_BACKEND: &str = r#"
import importlib.util, sys, types
package = types.ModuleType("tokenring_rs")
package.__path__ = [sys.argv[3]]
sys.modules["tokenring_rs"] = package
spec = importlib.util.spec_from_file_location("tokenring_rs.agent", sys.argv[2])
agent = importlib.util.module_from_spec(spec)
sys.modules["tokenring_rs.agent"] = agent
spec.loader.exec_module(agent)
with agent.AgentConnection(sys.argv[1]) as connection:
    for service, user in connection.list():
        print(service + "\t" + user)
"#;
    let stub = fx.dir.path().join("stub");
    std::fs::create_dir_all(stub.join("keyring")).unwrap();
    std::fs::write(stub.join("keyring/__init__.py"), "").unwrap();
    std::fs::write(
        stub.join("keyring/errors.py"),
        "class KeyringError(Exception):\n    pass\n",
    )
    .unwrap();
    let package = Path::new(env!("CARGO_MANIFEST_DIR")).join("python");
    let mut command = Command::new(&python);
    command
        .env(
            "PYTHONPATH",
            format!("{}:{}", stub.display(), package.display()),
        )
        .args(["-c", LIST_WITH_THE_BACKEND])
        .arg(&fx.socket)
        .arg(package.join("tokenring_rs/agent.py"))
        .arg(package.join("tokenring_rs"));
    let out = run(command, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), expected);
}
