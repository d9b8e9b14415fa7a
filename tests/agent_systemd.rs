//! The agent as a systemd user service, with systemd's own tools: the units
//! `tokenring agent --install-units` writes pass `systemd-analyze verify`;
//! under `systemd-socket-activate` the first `tokenring get` starts the
//! agent and the second one reuses it; the agent tells a notify socket it
//! is ready; `status` says when the units are installed but no agent runs.

#![cfg(all(feature = "sim", feature = "cli"))]

mod cli_support;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::Env;

/// Whether `tool` is on PATH; under `CI` its absence is a failure (scripts/deps
/// installs Debian's systemd package), elsewhere the test is skipped.
fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is missing (Debian package systemd; scripts/deps installs it)"
        );
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

fn status_json(env: &Env) -> serde_json::Value {
    let run = env.run(&["status", "--json"]).expect(0);
    serde_json::from_str(&run.stdout).expect("status JSON")
}

#[test]
fn installed_units_pass_systemd_analyze_verify() {
    if !have("systemd-analyze") {
        return;
    }
    let env = Env::with_vault();
    let config = env.path("config");
    let mut command = env.command();
    command
        .env("XDG_CONFIG_HOME", &config)
        .args(["agent", "--install-units"]);
    let run = cli_support::Env::run_with_input(command, b"").expect(0);
    assert!(
        run.stderr
            .contains("systemctl --user enable --now tokenring-agent.socket"),
        "{run:#?}"
    );
    let dir = config.join("systemd/user");
    let socket_unit = dir.join("tokenring-agent.socket");
    let service_unit = dir.join("tokenring-agent.service");
    let service = std::fs::read_to_string(&service_unit).expect("service unit");
    assert!(service.contains(&format!(
        "ExecStart=\"{}\" --vault \"{}\" agent",
        Path::new(env!("CARGO_BIN_EXE_tokenring"))
            .canonicalize()
            .expect("exe")
            .display(),
        env.vault.display()
    )));
    assert!(service.contains("Type=notify"));
    let socket = std::fs::read_to_string(&socket_unit).expect("socket unit");
    let socket_path = status_json(&env)["agent"]["socket"]
        .as_str()
        .expect("socket path")
        .to_string();
    assert!(socket.contains(&format!("ListenStream={socket_path}\n")));
    assert!(socket.contains("SocketMode=0600") && socket.contains("DirectoryMode=0700"));

    // systemd's own check of both units (it needs a runtime directory).
    let runtime = env.path("verify-runtime");
    std::fs::create_dir_all(&runtime).expect("runtime dir");
    let verified = Command::new("systemd-analyze")
        .args(["verify", "--user", "--man=no"])
        .arg(&socket_unit)
        .arg(&service_unit)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("XDG_CONFIG_HOME", &config)
        .output()
        .expect("systemd-analyze");
    assert!(
        verified.status.success() && verified.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&verified.stderr)
    );

    // status: installed but not running, and what to do.
    let mut command = env.command();
    command.env("XDG_CONFIG_HOME", &config).arg("status");
    let status = cli_support::Env::run_with_input(command, b"").expect(0);
    assert!(
        status.stdout.contains(&format!(
            "agent:         not running; the systemd units are installed ({}): start them with \
             `systemctl --user enable --now tokenring-agent.socket`",
            socket_unit.display()
        )),
        "{status:#?}"
    );
    // And they go again.
    let mut command = env.command();
    command
        .env("XDG_CONFIG_HOME", &config)
        .args(["agent", "--remove-units"]);
    cli_support::Env::run_with_input(command, b"").expect(0);
    assert!(!socket_unit.exists() && !service_unit.exists());
}

/// `systemd-socket-activate -l SOCKET tokenring agent`, with the test's
/// environment passed on (it passes only what `-E` names).
fn socket_activate(env: &Env, socket: &str) -> Child {
    let mut command = Command::new("systemd-socket-activate");
    command.args(["-l", socket]);
    for (name, value) in [
        ("HOME", env.dir.path().display().to_string()),
        (
            "XDG_DATA_HOME",
            env.dir.path().join("data").display().to_string(),
        ),
        (
            "XDG_RUNTIME_DIR",
            env.dir.path().join("run").display().to_string(),
        ),
        ("TOKENRING_AUTHENTICATOR", env.selector()),
        ("TOKENRING_VAULT", env.vault.display().to_string()),
        ("TOKENRING_PIN_FILE", env.pin_file.display().to_string()),
        ("PATH", std::env::var("PATH").unwrap_or_default()),
    ] {
        command.arg(format!("-E{name}={value}"));
    }
    command
        .args([env!("CARGO_BIN_EXE_tokenring"), "agent"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command.spawn().expect("systemd-socket-activate")
}

fn exe_of(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

#[test]
fn socket_activation_starts_the_agent_on_first_use_and_reuses_it() {
    if !have("systemd-socket-activate") {
        return;
    }
    let env = Env::with_vault();
    env.set("pypi.org", "__token__", "s3cret");
    let socket = status_json(&env)["agent"]["socket"]
        .as_str()
        .expect("socket path")
        .to_string();
    let dir = Path::new(&socket).parent().expect("socket dir");
    std::fs::create_dir_all(dir).expect("mkdir");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    let activator = socket_activate(&env, &socket);
    let start = Instant::now();
    while !Path::new(&socket).exists() {
        assert!(start.elapsed() < Duration::from_secs(10), "no socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Nothing runs yet but the activator, listening.
    assert!(exe_of(activator.id()).ends_with("systemd-socket-activate"));

    let first = env.run(&["get", "pypi.org", "__token__"]).expect(0);
    assert_eq!(first.stdout, "s3cret\n");
    assert_eq!(
        first.touch_prompts().len(),
        2,
        "the agent unlocked: {first:#?}"
    );
    let agent_pid = status_json(&env)["agent"]["pid"].as_u64().expect("pid");
    assert_eq!(agent_pid, u64::from(activator.id()), "the activated agent");
    assert!(exe_of(activator.id()).ends_with("tokenring"));

    let second = env.run(&["get", "pypi.org", "__token__"]).expect(0);
    assert_eq!(second.stdout, "s3cret\n");
    assert_eq!(second.touch_prompts().len(), 1, "already unlocked");
    assert_eq!(
        status_json(&env)["agent"]["pid"].as_u64(),
        Some(agent_pid),
        "the same agent"
    );

    Command::new("kill")
        .args(["-TERM", &activator.id().to_string()])
        .status()
        .expect("kill");
    let output = activator.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("(passed by systemd)"), "{stderr}");
    assert!(
        stderr.contains("stopped; the vault key is forgotten"),
        "{stderr}"
    );
    assert!(
        Path::new(&socket).exists(),
        "the socket belongs to whoever made it"
    );
}

#[test]
fn the_agent_tells_systemd_it_is_ready_and_stopping() {
    let env = Env::with_vault();
    let notify = env.path("notify.sock");
    let listener = UnixDatagram::bind(&notify).expect("notify socket");
    listener
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut command = env.command();
    command
        .env("NOTIFY_SOCKET", &notify)
        .args(["agent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut agent = command.spawn().expect("agent");
    let mut buffer = [0u8; 256];
    let n = listener.recv(&mut buffer).expect("READY=1 within 20 s");
    assert_eq!(String::from_utf8_lossy(&buffer[..n]).trim_end(), "READY=1");
    // Ready means serving: status sees it at once.
    assert_eq!(status_json(&env)["agent"]["state"], "running");
    Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status()
        .expect("kill");
    let n = listener.recv(&mut buffer).expect("STOPPING=1");
    assert_eq!(
        String::from_utf8_lossy(&buffer[..n]).trim_end(),
        "STOPPING=1"
    );
    assert_eq!(agent.wait().expect("wait").code(), Some(0));
}

#[test]
fn the_default_vault_has_the_socket_the_packaged_unit_names() {
    let env = Env::new();
    let default = env
        .dir
        .path()
        .join("data/python_keyring/keyring.tokenvault");
    let mut command = env.command();
    command.env_remove("TOKENRING_VAULT").arg("init");
    cli_support::Env::run_with_input(command, b"").expect(0);
    assert!(default.exists());
    let mut command = env.command();
    command
        .env_remove("TOKENRING_VAULT")
        .args(["status", "--json"]);
    let run = cli_support::Env::run_with_input(command, b"").expect(0);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(
        value["agent"]["socket"],
        env.dir
            .path()
            .join("run/tokenring/agent.sock")
            .display()
            .to_string()
    );
    let packaged = include_str!("../contrib/systemd/tokenring-agent.socket");
    assert!(packaged.contains("ListenStream=%t/tokenring/agent.sock\n"));
}
