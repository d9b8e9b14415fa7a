//! The agent as a systemd user service: the unit files (the ones the
//! packages ship, in `contrib/systemd/`), written for this installation by
//! `tokenring agent --install-units`, and found again by `tokenring status`.

use std::path::{Path, PathBuf};

use crate::Error;

/// The socket unit's name.
pub const SOCKET_UNIT: &str = "tokenring-agent.socket";
/// The service unit's name.
pub const SERVICE_UNIT: &str = "tokenring-agent.service";

/// The socket unit as packaged (for the default vault).
pub const PACKAGED_SOCKET: &str = include_str!("../../../contrib/systemd/tokenring-agent.socket");
/// The service unit as packaged (`/usr/bin/tokenring agent`).
pub const PACKAGED_SERVICE: &str = include_str!("../../../contrib/systemd/tokenring-agent.service");

const PACKAGED_EXEC: &str = "ExecStart=/usr/bin/tokenring agent";
const PACKAGED_LISTEN: &str = "ListenStream=%t/tokenring/agent.sock";

/// The directories systemd's user manager reads units from, most specific
/// first (systemd.unit(5), "User Unit Search Path"; the per-user one from
/// `XDG_CONFIG_HOME`).
pub fn search_path() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = user_unit_dir() {
        dirs.push(dir);
    }
    for dir in [
        "/etc/systemd/user",
        "/usr/local/lib/systemd/user",
        "/usr/lib/systemd/user",
    ] {
        dirs.push(PathBuf::from(dir));
    }
    dirs
}

/// `$XDG_CONFIG_HOME/systemd/user`, or `~/.config/systemd/user`.
pub fn user_unit_dir() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".config"))
        })?;
    Some(config.join("systemd").join("user"))
}

/// Where the socket unit is installed, if it is (first in the search path).
pub fn installed() -> Option<PathBuf> {
    search_path()
        .into_iter()
        .map(|dir| dir.join(SOCKET_UNIT))
        .find(|path| path.is_file())
}

/// A path as one word of a unit file's command line (systemd.service(5),
/// "Command lines": double quotes, `%` doubled for the specifiers, `\\` and
/// `"` escaped).
fn unit_word(path: &Path) -> Result<String, Error> {
    let text = path.to_str().ok_or_else(|| {
        Error::Other(format!(
            "{} is not UTF-8; systemd units cannot name it",
            path.display()
        ))
    })?;
    if text.chars().any(|c| c.is_control()) {
        return Err(Error::Other(format!(
            "{text:?} holds control characters; systemd units cannot name it"
        )));
    }
    let escaped = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%");
    Ok(format!("\"{escaped}\""))
}

/// The socket and service units for this installation: the agent is
/// `exe`, serving `vault`, listening on `socket` (for the default vault:
/// `%t/tokenring/agent.sock`, exactly the packaged units but for the
/// program's path).
pub fn render(
    exe: &Path,
    vault: &Path,
    socket: &Path,
    default_vault: bool,
) -> Result<(String, String), Error> {
    let mut service_exec = format!("ExecStart={} agent", unit_word(exe)?);
    let mut socket_unit = PACKAGED_SOCKET.to_string();
    if !default_vault {
        service_exec = format!(
            "ExecStart={} --vault {} agent",
            unit_word(exe)?,
            unit_word(vault)?
        );
        let listen = socket.to_str().ok_or_else(|| {
            Error::Other(format!(
                "{} is not UTF-8; systemd units cannot name it",
                socket.display()
            ))
        })?;
        socket_unit = socket_unit.replace(
            PACKAGED_LISTEN,
            &format!("ListenStream={}", listen.replace('%', "%%")),
        );
    }
    let service_unit = PACKAGED_SERVICE.replace(PACKAGED_EXEC, &service_exec);
    Ok((socket_unit, service_unit))
}

/// Writes `units` (name, text) into `dir` (created when missing), each
/// through a temporary file renamed over the old one; the paths written.
pub fn write(dir: &Path, units: &[(&str, &str)]) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Other(format!("cannot create {}: {e}", dir.display())))?;
    let mut written = Vec::new();
    for (name, text) in units {
        let path = dir.join(name);
        let temp = dir.join(format!(".{name}.tokenring-tmp"));
        std::fs::write(&temp, text)
            .and_then(|()| std::fs::rename(&temp, &path))
            .map_err(|e| Error::Other(format!("cannot write {}: {e}", path.display())))?;
        written.push(path);
    }
    Ok(written)
}

/// Removes this installation's units from `dir`; the paths removed.
pub fn remove(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut removed = Vec::new();
    for name in [SOCKET_UNIT, SERVICE_UNIT] {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::Other(format!(
                    "cannot remove {}: {e}",
                    path.display()
                )))
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_packaged_units_are_rendered_with_this_program() {
        let (socket, service) = render(
            Path::new("/home/a/.cargo/bin/tokenring"),
            Path::new("/v"),
            Path::new("/run/user/1/tokenring/agent.sock"),
            true,
        )
        .unwrap();
        assert_eq!(socket, PACKAGED_SOCKET);
        assert!(service.contains("ExecStart=\"/home/a/.cargo/bin/tokenring\" agent\n"));
        assert!(!service.contains(PACKAGED_EXEC));
    }

    #[test]
    fn another_vault_gets_its_socket_and_option() {
        let (socket, service) = render(
            Path::new("/opt/tr 1/tokenring"),
            Path::new("/data/100%/work.tokenvault"),
            Path::new("/run/user/1/tokenring/vault-abc.sock"),
            false,
        )
        .unwrap();
        assert!(socket.contains("ListenStream=/run/user/1/tokenring/vault-abc.sock\n"));
        assert!(service.contains(
            "ExecStart=\"/opt/tr 1/tokenring\" --vault \"/data/100%%/work.tokenvault\" agent\n"
        ));
    }

    #[test]
    fn names_systemd_cannot_hold_are_refused() {
        assert!(unit_word(Path::new("/a\nb")).is_err());
        assert_eq!(
            unit_word(Path::new("/a\"b\\c")).unwrap(),
            "\"/a\\\"b\\\\c\""
        );
    }
}
