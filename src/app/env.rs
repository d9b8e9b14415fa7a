//! The programs' environment variables, turned into what the library takes.

use std::path::PathBuf;

use crate::{AgentUse, Error, Selector, Tokenring};

/// The vault file (like `--vault`).
pub const VAULT_ENV: &str = "TOKENRING_VAULT";

/// The authenticator to use (like `--authenticator`: `hid:PATH`,
/// `nfc:READER`, `sim:STATEFILE`).
pub const AUTHENTICATOR_ENV: &str = "TOKENRING_AUTHENTICATOR";

/// Keeps every command and integration away from the agent (as
/// `--no-agent` does).
pub const NO_AGENT_ENV: &str = "TOKENRING_NO_AGENT";

/// The simulator's user: `approve` (default), `deny`, `timeout`,
/// `delay:MILLIS`, or a comma-separated script of those (one answer per
/// touch; once the script is used up, nobody touches any more). `timeout`
/// runs on the simulator's virtual clock (instant); a script with `delay:`
/// runs on the real clock, so the wait really lasts and can be cancelled.
pub const SIM_PRESENCE_ENV: &str = "TOKENRING_SIM_PRESENCE";

/// The value of `name`, unset when empty; an error when not UTF-8.
fn var(name: &str) -> Result<Option<String>, Error> {
    match std::env::var(name) {
        Ok(text) if !text.is_empty() => Ok(Some(text)),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Error::Other(format!("{name} is not valid UTF-8")))
        }
    }
}

/// The vault every command and integration uses: `explicit` (a `--vault`
/// option), else `TOKENRING_VAULT` (an empty value counts as unset), else
/// the default ([`crate::default_vault_path`]).
pub fn vault_path(explicit: Option<PathBuf>) -> Result<PathBuf, Error> {
    if let Some(path) = explicit {
        return Ok(path);
    }
    match std::env::var_os(VAULT_ENV).filter(|v| !v.is_empty()) {
        Some(path) => Ok(PathBuf::from(path)),
        None => crate::default_vault_path().map_err(|_| {
            Error::Other(
                "cannot tell where the vault is: HOME is not set; use --vault PATH or set \
                 TOKENRING_VAULT"
                    .into(),
            )
        }),
    }
}

/// `Never` when `TOKENRING_NO_AGENT` is set to anything but an empty
/// value, `0`, `false`, `no` or `off`; `Auto` otherwise.
pub fn agent_use() -> AgentUse {
    match std::env::var(NO_AGENT_ENV) {
        Ok(v)
            if !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "0" | "false" | "no" | "off"
            ) =>
        {
            AgentUse::Never
        }
        _ => AgentUse::Auto,
    }
}

/// The selector in `TOKENRING_AUTHENTICATOR` (unset or empty: none).
pub fn selector() -> Result<Option<Selector>, Error> {
    var(AUTHENTICATOR_ENV)?
        .map(|text| text.parse::<Selector>().map_err(Error::from))
        .transpose()
}

/// What the programs look through: every transport, the simulator's user
/// from `TOKENRING_SIM_PRESENCE`, only `selector` when given (else the one
/// in `TOKENRING_AUTHENTICATOR`), and the agent unless `no_agent` or
/// `TOKENRING_NO_AGENT` says otherwise.
pub fn tokenring(selector: Option<Selector>, no_agent: bool) -> Result<Tokenring, Error> {
    let mut tokenring = every_source()?;
    if let Some(selector) = selector.map(Ok).or_else(|| self::selector().transpose()) {
        tokenring = tokenring.only(selector?);
    }
    let agent = if no_agent {
        AgentUse::Never
    } else {
        agent_use()
    };
    if let Some(path) = rollback_state_path() {
        tokenring = tokenring.rollback_state(path);
    }
    Ok(tokenring.agent(agent))
}

/// Where the programs keep the rollback record of format-2 vaults:
/// `$XDG_STATE_HOME/tokenring/seen-vaults.json` (default
/// `~/.local/state/tokenring/`; on macOS `~/Library/Application
/// Support/tokenring/`). `None` without a home.
pub fn rollback_state_path() -> Option<PathBuf> {
    let file = "seen-vaults.json";
    if cfg!(target_os = "macos") {
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
        return Some(
            PathBuf::from(home)
                .join("Library/Application Support/tokenring")
                .join(file),
        );
    }
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        let state = PathBuf::from(state);
        if state.is_absolute() {
            return Some(state.join("tokenring").join(file));
        }
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(
        PathBuf::from(home)
            .join(".local/state/tokenring")
            .join(file),
    )
}

/// Every transport, with the simulator's user from
/// `TOKENRING_SIM_PRESENCE`; no selector, the agent when it runs.
pub fn every_source() -> Result<Tokenring, Error> {
    #[allow(unused_mut)]
    let mut tokenring = Tokenring::new();
    #[cfg(feature = "sim")]
    {
        tokenring = tokenring.with_source(crate::SimSource::new().presence(sim_presence()?));
    }
    Ok(tokenring)
}

/// The simulator's user from `TOKENRING_SIM_PRESENCE` (see
/// [`SIM_PRESENCE_ENV`]); approve when unset.
#[cfg(feature = "sim")]
pub fn sim_presence() -> Result<tokenring_sim::PresencePolicy, Error> {
    match var(SIM_PRESENCE_ENV)? {
        None => Ok(tokenring_sim::PresencePolicy::approve()),
        Some(text) if text.trim().is_empty() => Ok(tokenring_sim::PresencePolicy::approve()),
        Some(text) => text.trim().parse().map_err(|e| {
            Error::Authenticator(tokenring_core::Error::BadSelector(format!(
                "{SIM_PRESENCE_ENV}={text:?}: {e}"
            )))
        }),
    }
}

/// A vault and how to reach it: what every program opens.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The vault file.
    pub vault: PathBuf,
    /// Where to look for the authenticator, and whether to use the agent.
    pub tokenring: Tokenring,
}

impl StoreOptions {
    /// The options a program was given (`None`/`false`: not given), then
    /// the environment (an empty variable counts as unset), then the
    /// defaults.
    pub fn resolve(
        vault: Option<PathBuf>,
        selector: Option<Selector>,
        no_agent: bool,
    ) -> Result<StoreOptions, Error> {
        Ok(StoreOptions {
            vault: vault_path(vault)?,
            tokenring: tokenring(selector, no_agent)?,
        })
    }

    /// The vault, through the agent when it runs for it (and is allowed),
    /// in this process otherwise. Touches nothing yet.
    pub fn connect(&self) -> Result<crate::Store, Error> {
        self.tokenring.open(&self.vault)
    }
}

/// Where the plaintext files `tokenring import` reads are by default:
/// `$HOME`, `$CARGO_HOME` (default `~/.cargo`) and `$XDG_CONFIG_HOME`
/// (default `~/.config`), as twine, cargo and git find them. Empty
/// variables count as unset.
pub mod plaintext_homes {
    use std::path::PathBuf;

    use crate::Error;

    /// `$HOME`.
    pub fn home() -> Result<PathBuf, Error> {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| Error::Other("HOME is not set: name the file to import".into()))
    }

    /// `$CARGO_HOME`, else `~/.cargo`.
    pub fn cargo_home() -> Result<PathBuf, Error> {
        match std::env::var_os("CARGO_HOME").filter(|h| !h.is_empty()) {
            Some(dir) => Ok(PathBuf::from(dir)),
            None => Ok(home()?.join(".cargo")),
        }
    }

    /// `$XDG_CONFIG_HOME`, else `~/.config`.
    pub fn config_home() -> Result<PathBuf, Error> {
        match std::env::var_os("XDG_CONFIG_HOME").filter(|h| !h.is_empty()) {
            Some(dir) => Ok(PathBuf::from(dir)),
            None => Ok(home()?.join(".config")),
        }
    }

    /// The environment variables that tell cargo where registries are
    /// (`CARGO_REGISTRIES_*`), as (name, value) pairs.
    pub fn cargo_registry_vars() -> Vec<(String, String)> {
        std::env::vars()
            .filter(|(k, _)| k.starts_with("CARGO_REGISTRIES_"))
            .collect()
    }
}

/// The session D-Bus (desktop notifications of the agent's touch
/// requests): `DBUS_SESSION_BUS_ADDRESS`, else the socket `bus` in
/// `XDG_RUNTIME_DIR` when there is one (where systemd's user instance puts
/// it), as other D-Bus clients look for it. `None`: no session bus.
pub fn session_bus_address() -> Option<String> {
    if let Some(address) = std::env::var("DBUS_SESSION_BUS_ADDRESS")
        .ok()
        .filter(|a| !a.is_empty())
    {
        return Some(address);
    }
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty())?;
    let socket = PathBuf::from(runtime).join("bus");
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(&socket)
        .ok()
        .filter(|m| m.file_type().is_socket())?;
    Some(format!("unix:path={}", socket.display()))
}

/// The system D-Bus (logind's screen-lock and sleep signals for the
/// agent): `DBUS_SYSTEM_BUS_ADDRESS`, else the standard
/// `unix:path=/var/run/dbus/system_bus_socket`.
pub fn system_bus_address() -> String {
    std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
        .ok()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "unix:path=/var/run/dbus/system_bus_socket".to_string())
}
