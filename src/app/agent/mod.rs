//! The agent process (`tokenring agent`): the server, its connections, the
//! authenticator gate, process hardening, and [`run`].

pub mod audit;
mod clock;
mod connection;
pub mod desktop;
mod device;
pub mod harden;
pub mod logind;
mod released;
mod requester;
pub mod server;
pub mod units;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use device::AuthenticatorSource;
pub use requester::Requester;
pub use server::{Agent, AgentConfig, BootClock, Clock, Limits, LockHandle, ShutdownHandle};

use crate::agent::socket_path;
use crate::{Error, Tokenring};

/// Locks a mutex, ignoring poisoning (no invariant of the agent's state
/// depends on a panicking holder finishing).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The default idle lock: 15 minutes without a request.
pub const DEFAULT_IDLE_LOCK: Duration = Duration::from_secs(15 * 60);

/// The default maximum unlocked lifetime: 2 hours after the unlock, however
/// busy the agent is (gpg-agent's `max-cache-ttl` default).
pub const DEFAULT_MAX_UNLOCKED: Duration = Duration::from_secs(2 * 60 * 60);

/// How `tokenring agent` runs.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// The vault to serve.
    pub vault: PathBuf,
    /// Where to look for the authenticator (as for in-process access).
    pub tokenring: Tokenring,
    /// Lock the vault after this long without a request ([`DEFAULT_IDLE_LOCK`]).
    pub idle_lock: Duration,
    /// Lock the vault this long after its unlock, whatever the requests
    /// ([`DEFAULT_MAX_UNLOCKED`]).
    pub max_unlocked: Duration,
    /// Where to record every request ([`audit::default_path`]); `None`:
    /// nowhere (said on stderr).
    pub audit_log: Option<PathBuf>,
    /// The session bus for desktop notifications of touch requests
    /// ([`crate::app::env::session_bus_address`]), or why there are none.
    pub session_bus: Result<String, String>,
    /// The system bus where logind says when the screen locks and the
    /// system sleeps ([`crate::app::env::system_bus_address`]), or why the
    /// agent does not lock on those.
    pub system_bus: Result<String, String>,
}

/// Runs the agent for `options.vault` in the foreground until SIGTERM,
/// SIGINT or SIGHUP: hardens the process (reporting once on stderr what
/// could not be done), binds the socket (refusing when an agent already
/// serves this vault, replacing a stale socket) or takes the one systemd
/// passes (socket activation: `LISTEN_FDS`), tells systemd it is ready when
/// it runs as a notify service (`NOTIFY_SOCKET`), serves, and on the signal
/// removes the socket it bound and zeroizes the vault key.
pub fn run(options: AgentOptions) -> Result<(), Error> {
    let report = harden::harden();
    for warning in &report.warnings {
        eprintln!("tokenring agent: warning: {warning}");
    }
    let socket = socket_path(&options.vault).ok_or_else(|| {
        if options.vault.exists() {
            Error::Agent(
                "no directory for the agent's socket: set XDG_RUNTIME_DIR or HOME".to_string(),
            )
        } else {
            Error::Vault(tokenring_vault::VaultError::NotFound {
                path: options.vault.clone(),
            })
        }
    })?;
    let tokenring = options.tokenring.clone();
    let vault = options.vault.clone();
    let source = move |_: &[tokenring_vault::VaultCredential],
                       prompt: &dyn tokenring_core::Prompt| {
        Ok(tokenring.find_vault_holder(&vault, prompt)?.authenticator)
    };
    let mut config = AgentConfig::new(options.vault.clone(), socket, Box::new(source))
        .idle_lock(options.idle_lock)
        .max_unlocked(options.max_unlocked)
        .vault_options(options.tokenring.vault_options().clone());
    let activated = listenfd::ListenFd::from_env()
        .take_unix_listener(0)
        .map_err(|e| Error::Agent(format!("the socket passed by systemd is unusable: {e}")))?;
    let socket_activated = activated.is_some();
    if let Some(listener) = activated {
        config = config.inherited_listener(listener);
    }
    let audit = match &options.audit_log {
        Some(path) => {
            config = config.audit_log(path.clone());
            format!("audit log {}", path.display())
        }
        None => {
            eprintln!("tokenring agent: warning: no audit log (HOME is not set): requests are not recorded");
            "no audit log".to_string()
        }
    };
    let notifications = match &options.session_bus {
        Err(why) => format!("off ({why})"),
        Ok(address) => match desktop::DesktopNotifier::connect(address) {
            Ok(notifier) => {
                config = config.touch_notifier(Box::new(notifier));
                "on".to_string()
            }
            Err(e) => format!("off ({e})"),
        },
    };
    let agent = Agent::bind(config)?;
    eprintln!("tokenring agent: desktop notifications of touch requests: {notifications}");
    let on_lock = match &options.system_bus {
        Err(why) => format!("off ({why})"),
        Ok(address) => match logind::watch(address, agent.lock_handle()) {
            Ok(watching) if watching.inhibitor => "on".to_string(),
            Ok(_) => "on (without a sleep inhibitor: the lock races the suspend)".to_string(),
            Err(e) => format!("off ({e})"),
        },
    };
    eprintln!("tokenring agent: lock when the screen locks and before sleep: {on_lock}");
    let flag = agent.shutdown_handle().flag();
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&flag))
            .map_err(|e| Error::Agent(format!("cannot install the signal handler: {e}")))?;
    }
    eprintln!(
        "tokenring agent: serving {} on {}{} (pid {}); {}; idle lock after {}, locked {} after each unlock at the latest; {audit}",
        options.vault.display(),
        agent.socket_path().display(),
        if socket_activated {
            " (passed by systemd)"
        } else {
            ""
        },
        std::process::id(),
        report,
        format_duration(options.idle_lock),
        format_duration(options.max_unlocked),
    );
    notify_systemd(&[sd_notify::NotifyState::Ready]);
    let served = agent.serve();
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    served?;
    eprintln!("tokenring agent: stopped; the vault key is forgotten");
    Ok(())
}

/// Tells systemd about the agent's state when it runs as a notify service
/// (`NOTIFY_SOCKET` is set); does nothing otherwise. A failure is reported,
/// not fatal: systemd then times the start out and says so itself.
fn notify_systemd(states: &[sd_notify::NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(false, states) {
        eprintln!("tokenring agent: warning: cannot notify systemd: {e}");
    }
}

/// Parses an idle-lock duration: a number with a unit `ms`, `s`, `m` or
/// `h` (`30s`, `15m`, `1h`, `500ms`); a bare number means seconds.
pub fn parse_duration(text: &str) -> Result<Duration, Error> {
    let text = text.trim();
    let bad = || {
        Error::Other(format!(
            "{text:?} is not a duration: use a number with a unit, e.g. 30s, 15m, 1h"
        ))
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" | "sec" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

/// A duration the way [`parse_duration`] reads it (`15m`, `30s`, `1h`, `250ms`).
pub fn format_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        for (text, secs) in [
            ("30s", 30.0),
            ("15m", 900.0),
            ("1h", 3600.0),
            ("250ms", 0.25),
            ("7", 7.0),
        ] {
            assert_eq!(
                parse_duration(text).unwrap(),
                Duration::from_secs_f64(secs),
                "{text}"
            );
        }
        for bad in ["", "m", "5x", "-1s", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(DEFAULT_IDLE_LOCK), "15m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }
}
