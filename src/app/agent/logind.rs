//! Locking the vault when the screen locks and before the system sleeps,
//! where systemd-logind runs: its signals on the system D-Bus
//! (`org.freedesktop.login1`).
//!
//! - `Manager.PrepareForSleep(true)`: the system is about to suspend or
//!   hibernate. The agent holds a *delay* inhibitor lock for sleep
//!   (`Manager.Inhibit("sleep", …, "delay")`), so logind waits until the
//!   agent has locked the vault and closed the inhibitor; after the resume
//!   (`PrepareForSleep(false)`) it takes a new one.
//! - `Session.Lock` (what `loginctl lock-session` sends) and the session's
//!   `LockedHint` turning true (what desktops such as GNOME set when the
//!   screen locks), for a session of the agent's own user (from
//!   `Manager.ListSessions`).
//!
//! Only signals from the process that owns `org.freedesktop.login1` count:
//! another program on the bus can send signals of the same name, but not
//! with that sender.

use std::collections::HashMap;
use std::time::Duration;

use zbus::blocking::{Connection, MessageIterator};
use zbus::message::Type;
use zbus::zvariant::{OwnedFd, OwnedObjectPath, OwnedValue};

use super::server::LockHandle;

const LOGIND: &str = "org.freedesktop.login1";
const MANAGER_PATH: &str = "/org/freedesktop/login1";
const MANAGER: &str = "org.freedesktop.login1.Manager";
const SESSION: &str = "org.freedesktop.login1.Session";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// How long one D-Bus call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// What [`watch`] set up, for the agent's start message.
pub struct Watching {
    /// Whether the sleep inhibitor was granted (otherwise the lock races
    /// the suspend).
    pub inhibitor: bool,
}

/// Connects to the system bus at `address`, subscribes to logind's signals
/// and takes the sleep inhibitor, then watches on a thread of its own,
/// locking through `lock`. An error (as a message) when there is no system
/// bus or no logind on it.
pub fn watch(address: &str, lock: LockHandle) -> Result<Watching, String> {
    let connection = zbus::blocking::connection::Builder::address(address)
        .and_then(|b| b.method_timeout(CALL_TIMEOUT).build())
        .map_err(|e| format!("cannot connect to the system bus: {e}"))?;
    let owner = logind_owner(&connection).ok_or("logind is not on the system bus")?;
    let rule = format!("type='signal',sender='{LOGIND}'");
    let signals = MessageIterator::for_match_rule(rule.as_str(), &connection, Some(64))
        .map_err(|e| format!("cannot subscribe to logind's signals: {e}"))?;
    let inhibitor = inhibit(&connection);
    let watching = Watching {
        inhibitor: inhibitor.is_some(),
    };
    let uid = rustix::process::geteuid().as_raw();
    let watcher = Watcher {
        connection,
        owner,
        uid,
        inhibitor,
        lock,
    };
    std::thread::Builder::new()
        .name("agent-logind".into())
        .spawn(move || watcher.run(signals))
        .map_err(|e| format!("cannot start the logind thread: {e}"))?;
    Ok(watching)
}

/// The unique name of logind's connection.
fn logind_owner(connection: &Connection) -> Option<String> {
    connection
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "GetNameOwner",
            &(LOGIND,),
        )
        .ok()?
        .body()
        .deserialize::<String>()
        .ok()
}

/// A delay inhibitor for sleep: logind waits (up to its
/// `InhibitDelayMaxSec`) until it is closed.
fn inhibit(connection: &Connection) -> Option<OwnedFd> {
    connection
        .call_method(
            Some(LOGIND),
            MANAGER_PATH,
            Some(MANAGER),
            "Inhibit",
            &(
                "sleep",
                "TokenRing agent",
                "Lock the vault before the system sleeps",
                "delay",
            ),
        )
        .ok()?
        .body()
        .deserialize::<OwnedFd>()
        .ok()
}

struct Watcher {
    connection: Connection,
    owner: String,
    uid: u32,
    inhibitor: Option<OwnedFd>,
    lock: LockHandle,
}

impl Watcher {
    fn run(mut self, signals: MessageIterator) {
        for message in signals {
            let Ok(message) = message else { continue };
            let header = message.header();
            if header.message_type() != Type::Signal || !self.sent_by_logind(&header) {
                continue;
            }
            let interface = header.interface().map(|i| i.as_str().to_string());
            let member = header.member().map(|m| m.as_str().to_string());
            let path = header.path().map(|p| p.as_str().to_string());
            match (interface.as_deref(), member.as_deref()) {
                (Some(MANAGER), Some("PrepareForSleep")) => {
                    let Ok(sleeping) = message.body().deserialize::<bool>() else {
                        continue;
                    };
                    if sleeping {
                        self.lock.lock("sleep", "the system is going to sleep");
                        // Now logind may go on.
                        self.inhibitor = None;
                    } else if self.inhibitor.is_none() {
                        self.inhibitor = inhibit(&self.connection);
                    }
                }
                (Some(SESSION), Some("Lock"))
                    if path.as_deref().is_some_and(|p| self.is_ours(p)) =>
                {
                    self.lock.lock("screen_lock", "the session was locked");
                }
                (Some(PROPERTIES), Some("PropertiesChanged")) => {
                    let Ok((changed_interface, changed, _)) =
                        message
                            .body()
                            .deserialize::<(String, HashMap<String, OwnedValue>, Vec<String>)>()
                    else {
                        continue;
                    };
                    let locked = changed
                        .get("LockedHint")
                        .and_then(|v| bool::try_from(v).ok())
                        .unwrap_or(false);
                    if changed_interface == SESSION
                        && locked
                        && path.as_deref().is_some_and(|p| self.is_ours(p))
                    {
                        self.lock.lock("screen_lock", "the screen was locked");
                    }
                }
                _ => {}
            }
        }
    }

    /// Whether a signal comes from logind itself (whose unique name changes
    /// when it restarts: then it is looked up again).
    fn sent_by_logind(&mut self, header: &zbus::message::Header<'_>) -> bool {
        let Some(sender) = header.sender().map(|s| s.as_str().to_string()) else {
            return false;
        };
        if sender == self.owner {
            return true;
        }
        match logind_owner(&self.connection) {
            Some(owner) => {
                self.owner = owner;
                sender == self.owner
            }
            None => false,
        }
    }

    /// Whether the session at `path` is one of our user's.
    fn is_ours(&self, path: &str) -> bool {
        let sessions = self
            .connection
            .call_method(
                Some(LOGIND),
                MANAGER_PATH,
                Some(MANAGER),
                "ListSessions",
                &(),
            )
            .ok()
            .and_then(|reply| {
                reply
                    .body()
                    .deserialize::<Vec<(String, u32, String, String, OwnedObjectPath)>>()
                    .ok()
            })
            .unwrap_or_default();
        sessions
            .iter()
            .any(|(_, uid, _, _, session)| *uid == self.uid && session.as_str() == path)
    }
}
