//! The agent and the desktop, against real `dbus-daemon`s started by the
//! test: a desktop notification (freedesktop Notifications, answered by a
//! stand-in notification service written here that records every call)
//! names the process that asks for a touch and the entry, and is closed
//! when the touch came; none without a session bus or with
//! `--no-notifications`. On a second, private bus a stand-in logind emits
//! its signals: the agent locks the vault when one of its user's sessions
//! is locked (`Session.Lock`, `LockedHint`), and before the system sleeps
//! (`PrepareForSleep`), releasing its sleep inhibitor only once the vault is
//! locked; signals of another user's session or from another sender change
//! nothing.

#![cfg(all(feature = "sim", feature = "cli"))]
#![allow(clippy::unwrap_used)]

mod cli_support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cli_support::Env;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

/// A `dbus-daemon` of our own, with a configuration that lets anyone own
/// any name (as on a session bus) and activates no services.
struct Bus {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Bus {
    /// A new bus; `None` (skip) when `dbus-daemon` is not installed, except
    /// in CI where that fails the test.
    fn start() -> Option<Bus> {
        Self::start_at(None)
    }

    /// A new bus listening on `socket` (else a socket of its own).
    fn start_at(socket: Option<&std::path::Path>) -> Option<Bus> {
        let found = Command::new("sh")
            .args(["-c", "command -v dbus-daemon"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            assert!(
                std::env::var_os("CI").is_none(),
                "dbus-daemon is missing (Debian package dbus-daemon; scripts/deps installs it)"
            );
            eprintln!("skipped: dbus-daemon is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                socket
                    .map_or_else(|| dir.path().join("bus"), std::path::Path::to_path_buf)
                    .display()
            ),
        )
        .unwrap();
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.trim().to_string();
        assert!(address.starts_with("unix:"), "dbus-daemon said {line:?}");
        Some(Bus {
            child,
            address,
            _dir: dir,
        })
    }

    fn connect(&self) -> zbus::blocking::Connection {
        zbus::blocking::connection::Builder::address(self.address.as_str())
            .unwrap()
            .build()
            .unwrap()
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `Notify` call as the stand-in received it.
#[derive(Debug, Clone)]
struct Notification {
    id: u32,
    app_name: String,
    summary: String,
    body: String,
    urgency: Option<u8>,
    expire_timeout: i32,
}

#[derive(Default, Clone)]
struct Recorded {
    shown: Arc<Mutex<Vec<Notification>>>,
    closed: Arc<Mutex<Vec<u32>>>,
}

/// The stand-in notification service (the calls of the freedesktop
/// Notifications specification the agent makes).
struct Notifications {
    recorded: Recorded,
    next: u32,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Notifications {
    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".to_string(), "body-markup".to_string()]
    }

    #[allow(clippy::too_many_arguments)]
    fn notify(
        &mut self,
        app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        hints: HashMap<String, OwnedValue>,
        expire_timeout: i32,
    ) -> u32 {
        self.next += 1;
        let urgency = hints.get("urgency").and_then(|v| u8::try_from(v).ok());
        self.recorded.shown.lock().unwrap().push(Notification {
            id: self.next,
            app_name,
            summary,
            body,
            urgency,
            expire_timeout,
        });
        self.next
    }

    fn close_notification(&mut self, id: u32) {
        self.recorded.closed.lock().unwrap().push(id);
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "stand-in".into(),
            "tokenring tests".into(),
            "0".into(),
            "1.2".into(),
        )
    }
}

fn serve_notifications(bus: &Bus) -> (zbus::blocking::Connection, Recorded) {
    let recorded = Recorded::default();
    let connection = zbus::blocking::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .name("org.freedesktop.Notifications")
        .unwrap()
        .serve_at(
            "/org/freedesktop/Notifications",
            Notifications {
                recorded: recorded.clone(),
                next: 0,
            },
        )
        .unwrap()
        .build()
        .unwrap();
    (connection, recorded)
}

/// A running `tokenring agent`; stopped with SIGTERM on drop.
struct AgentProcess {
    child: Option<Child>,
}

impl AgentProcess {
    /// Starts the agent with `args` and extra environment, and waits until
    /// `tokenring status` sees it.
    fn start(env: &Env, args: &[&str], vars: &[(&str, Option<&str>)]) -> AgentProcess {
        let mut command = env.command();
        command.args(["agent", "--idle-lock", "10m"]).args(args);
        for (key, value) in vars {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        command.stdout(Stdio::null()).stderr(Stdio::piped());
        let agent = AgentProcess {
            child: Some(command.spawn().unwrap()),
        };
        wait_for("the agent to start", || {
            env.run(&["status"])
                .stdout
                .contains("agent:         running (pid")
        });
        agent
    }

    /// Stops it; what it said on stderr.
    fn stop(mut self) -> String {
        let mut child = self.child.take().unwrap();
        let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        child.wait().unwrap();
        stderr
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[track_caller]
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn env_with_secret() -> Env {
    let env = Env::with_vault();
    env.set("svc", "alice", "s3cret");
    env
}

#[test]
fn a_touch_request_shows_a_notification_naming_the_process_and_the_entry() {
    let Some(bus) = Bus::start() else { return };
    let (_service, recorded) = serve_notifications(&bus);
    let env = env_with_secret();
    let agent = AgentProcess::start(
        &env,
        &[],
        &[
            ("DBUS_SESSION_BUS_ADDRESS", Some(&bus.address)),
            ("TOKENRING_SIM_PRESENCE", Some("delay:200")),
        ],
    );
    let client = env
        .command()
        .args(["get", "--", "svc", "alice"])
        .spawn()
        .unwrap();
    let pid = client.id();
    let output = client.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(output.stdout, b"s3cret\n");
    // The unlock touch, then the entry's.
    wait_for("two notifications, both closed", || {
        recorded.shown.lock().unwrap().len() == 2 && recorded.closed.lock().unwrap().len() == 2
    });
    let shown = recorded.shown.lock().unwrap().clone();
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_tokenring")).unwrap();
    let asker = format!("'{}' (pid {pid})", exe.display());
    for note in &shown {
        assert_eq!(note.app_name, "TokenRing");
        assert_eq!(note.summary, "Touch your authenticator?");
        assert!(
            note.body.starts_with(&format!("{asker} asks to ")),
            "{note:?}"
        );
        assert_eq!(note.urgency, Some(2), "{note:?}");
        assert_eq!(note.expire_timeout, 0, "{note:?}");
    }
    assert!(
        shown[0].body.contains("asks to unlock the vault"),
        "{shown:?}"
    );
    assert!(
        shown[1]
            .body
            .contains("asks to decrypt the password for 'alice' in 'svc'"),
        "{shown:?}"
    );
    let mut closed = recorded.closed.lock().unwrap().clone();
    closed.sort_unstable();
    assert_eq!(closed, shown.iter().map(|n| n.id).collect::<Vec<_>>());
    let stderr = agent.stop();
    assert!(
        stderr.contains("desktop notifications of touch requests: on"),
        "{stderr}"
    );
}

#[test]
fn a_touch_that_releases_two_entries_names_both_in_its_notification() {
    let Some(bus) = Bus::start() else { return };
    let (_service, recorded) = serve_notifications(&bus);
    let env = env_with_secret();
    env.set("svc", "bob", "other");
    let agent = AgentProcess::start(
        &env,
        &[],
        &[("DBUS_SESSION_BUS_ADDRESS", Some(&bus.address))],
    );
    let output = env
        .command()
        .args(["run", "-e", "A=svc/alice", "-e", "B=svc/bob", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    // The unlock touch, then one touch for both entries.
    wait_for("two notifications, both closed", || {
        recorded.shown.lock().unwrap().len() == 2 && recorded.closed.lock().unwrap().len() == 2
    });
    let shown = recorded.shown.lock().unwrap().clone();
    assert!(
        shown[1]
            .body
            .contains("asks to decrypt the passwords for 'alice' in 'svc' and 'bob' in 'svc'"),
        "{shown:?}"
    );
    agent.stop();
}

#[test]
fn names_cannot_add_markup_to_a_notification() {
    let Some(bus) = Bus::start() else { return };
    let (_service, recorded) = serve_notifications(&bus);
    let env = Env::with_vault();
    env.set("<b>bank</b>", "a&b", "x");
    let agent = AgentProcess::start(
        &env,
        &[],
        &[("DBUS_SESSION_BUS_ADDRESS", Some(&bus.address))],
    );
    env.run(&["get", "--", "<b>bank</b>", "a&b"]).expect(0);
    wait_for("two notifications", || {
        recorded.shown.lock().unwrap().len() == 2
    });
    let body = recorded.shown.lock().unwrap()[1].body.clone();
    assert!(
        body.contains("decrypt the password for 'a&amp;b' in '&lt;b&gt;bank&lt;/b&gt;'"),
        "{body}"
    );
    agent.stop();
}

#[test]
fn notifications_go_to_the_session_bus_and_are_off_without_one() {
    let Some(bus) = Bus::start() else { return };
    let (_service, recorded) = serve_notifications(&bus);
    let env = env_with_secret();

    // No session bus at all: neither the variable nor a socket in
    // XDG_RUNTIME_DIR.
    let agent = AgentProcess::start(&env, &[], &[("DBUS_SESSION_BUS_ADDRESS", None)]);
    let run = env.run(&["get", "svc", "alice"]).expect(0);
    assert_eq!(run.touch_prompts().len(), 2, "{run:?}");
    let stderr = agent.stop();
    assert!(
        stderr.contains("desktop notifications of touch requests: off (no session bus)"),
        "{stderr}"
    );

    // A session bus, but --no-notifications.
    let agent = AgentProcess::start(
        &env,
        &["--no-notifications"],
        &[("DBUS_SESSION_BUS_ADDRESS", Some(&bus.address))],
    );
    env.run(&["get", "svc", "alice"]).expect(0);
    let stderr = agent.stop();
    assert!(
        stderr.contains("desktop notifications of touch requests: off (--no-notifications)"),
        "{stderr}"
    );
    assert!(recorded.shown.lock().unwrap().is_empty());

    // No variable, but the bus where systemd's user instance puts it:
    // $XDG_RUNTIME_DIR/bus.
    let runtime = env.path("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let Some(user_bus) = Bus::start_at(Some(&runtime.join("bus"))) else {
        return;
    };
    let (_service, recorded) = serve_notifications(&user_bus);
    let agent = AgentProcess::start(&env, &[], &[("DBUS_SESSION_BUS_ADDRESS", None)]);
    env.run(&["get", "svc", "alice"]).expect(0);
    wait_for("the notifications on $XDG_RUNTIME_DIR/bus", || {
        recorded.shown.lock().unwrap().len() == 2
    });
    let stderr = agent.stop();
    assert!(
        stderr.contains("desktop notifications of touch requests: on"),
        "{stderr}"
    );
}

/// The stand-in logind: the two Manager methods the agent calls, and the
/// read ends of the sleep inhibitors it handed out.
struct Logind {
    uid: u32,
    inhibitors: Arc<Mutex<Vec<std::io::PipeReader>>>,
}

#[zbus::interface(name = "org.freedesktop.login1.Manager")]
impl Logind {
    fn inhibit(
        &self,
        what: String,
        _who: String,
        _why: String,
        mode: String,
    ) -> zbus::fdo::Result<zbus::zvariant::OwnedFd> {
        assert_eq!((what.as_str(), mode.as_str()), ("sleep", "delay"));
        let (reader, writer) =
            std::io::pipe().map_err(|e| zbus::fdo::Error::Failed(e.to_string()))?;
        self.inhibitors.lock().unwrap().push(reader);
        Ok(zbus::zvariant::OwnedFd::from(std::os::fd::OwnedFd::from(
            writer,
        )))
    }

    fn list_sessions(&self) -> Vec<(String, u32, String, String, OwnedObjectPath)> {
        vec![
            (
                "c1".into(),
                self.uid,
                "me".into(),
                "seat0".into(),
                OwnedObjectPath::try_from("/org/freedesktop/login1/session/c1").unwrap(),
            ),
            (
                "c2".into(),
                self.uid + 1,
                "someone".into(),
                "seat0".into(),
                OwnedObjectPath::try_from("/org/freedesktop/login1/session/c2").unwrap(),
            ),
        ]
    }
}

fn locked(env: &Env) -> bool {
    let run = env.run(&["status", "--json"]).expect(0);
    let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    status["agent"]["locked"]
        .as_bool()
        .unwrap_or_else(|| panic!("no agent state: {status}"))
}

fn unlock(env: &Env) {
    env.run(&["list"]).expect(0);
    assert!(!locked(env));
}

const SESSION: &str = "org.freedesktop.login1.Session";

#[test]
fn the_vault_locks_when_the_session_locks_and_before_the_system_sleeps() {
    let Some(bus) = Bus::start() else { return };
    let inhibitors = Arc::new(Mutex::new(Vec::new()));
    let logind = zbus::blocking::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .name("org.freedesktop.login1")
        .unwrap()
        .serve_at(
            "/org/freedesktop/login1",
            Logind {
                uid: rustix::process::geteuid().as_raw(),
                inhibitors: Arc::clone(&inhibitors),
            },
        )
        .unwrap()
        .build()
        .unwrap();
    let env = env_with_secret();
    let agent = AgentProcess::start(
        &env,
        &[],
        &[("DBUS_SYSTEM_BUS_ADDRESS", Some(&bus.address))],
    );
    wait_for("the sleep inhibitor", || {
        inhibitors.lock().unwrap().len() == 1
    });

    // Another user's session, and a signal from a sender that is not
    // logind: nothing happens.
    unlock(&env);
    logind
        .emit_signal(
            None::<&str>,
            "/org/freedesktop/login1/session/c2",
            SESSION,
            "Lock",
            &(),
        )
        .unwrap();
    bus.connect()
        .emit_signal(
            None::<&str>,
            "/org/freedesktop/login1/session/c1",
            SESSION,
            "Lock",
            &(),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!locked(&env), "a signal that is not ours locked the vault");

    // loginctl lock-session.
    logind
        .emit_signal(
            None::<&str>,
            "/org/freedesktop/login1/session/c1",
            SESSION,
            "Lock",
            &(),
        )
        .unwrap();
    wait_for("the lock on Session.Lock", || locked(&env));

    // A desktop's screen locker setting LockedHint.
    unlock(&env);
    let changed = HashMap::from([("LockedHint", Value::Bool(true))]);
    logind
        .emit_signal(
            None::<&str>,
            "/org/freedesktop/login1/session/c1",
            "org.freedesktop.DBus.Properties",
            "PropertiesChanged",
            &(SESSION, changed, Vec::<&str>::new()),
        )
        .unwrap();
    wait_for("the lock on LockedHint", || locked(&env));

    // Sleep: the inhibitor is closed only after the vault is locked.
    unlock(&env);
    let mut inhibitor = inhibitors.lock().unwrap().remove(0);
    let (closed, released) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = inhibitor.read_to_end(&mut rest);
        let _ = closed.send(());
    });
    logind
        .emit_signal(
            None::<&str>,
            "/org/freedesktop/login1",
            "org.freedesktop.login1.Manager",
            "PrepareForSleep",
            &(true,),
        )
        .unwrap();
    released
        .recv_timeout(Duration::from_secs(20))
        .expect("the agent did not release its sleep inhibitor");
    assert!(locked(&env), "the inhibitor was released before the lock");

    // After the resume, a new inhibitor for the next sleep.
    logind
        .emit_signal(
            None::<&str>,
            "/org/freedesktop/login1",
            "org.freedesktop.login1.Manager",
            "PrepareForSleep",
            &(false,),
        )
        .unwrap();
    wait_for("a new sleep inhibitor", || {
        inhibitors.lock().unwrap().len() == 1
    });
    let stderr = agent.stop();
    assert!(
        stderr.contains("lock when the screen locks and before sleep: on"),
        "{stderr}"
    );
    assert!(
        stderr.contains("locked the vault: the session was locked"),
        "{stderr}"
    );
    assert!(
        stderr.contains("locked the vault: the screen was locked"),
        "{stderr}"
    );
    assert!(
        stderr.contains("locked the vault: the system is going to sleep"),
        "{stderr}"
    );
    let log = env.run(&["log"]).expect(0).stdout;
    assert!(
        log.contains("screen_lock") && log.contains("sleep"),
        "{log}"
    );
}

#[test]
fn without_logind_or_with_no_lock_on_sleep_the_agent_serves_as_before() {
    let env = env_with_secret();
    // The variable points to no bus (see cli_support).
    let agent = AgentProcess::start(&env, &[], &[]);
    env.run(&["get", "svc", "alice"]).expect(0);
    let stderr = agent.stop();
    assert!(
        stderr.contains(
            "lock when the screen locks and before sleep: off (cannot connect to the system bus"
        ),
        "{stderr}"
    );
    let agent = AgentProcess::start(&env, &["--no-lock-on-sleep"], &[]);
    let stderr = agent.stop();
    assert!(
        stderr.contains("lock when the screen locks and before sleep: off (--no-lock-on-sleep)"),
        "{stderr}"
    );
}
