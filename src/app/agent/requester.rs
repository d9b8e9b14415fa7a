//! Who asks: the process at the other end of a client's connection, as the
//! kernel reports it (the pid from `SO_PEERCRED`) and as `/proc` names it
//! (the executable behind `/proc/PID/exe`). Read once, when the client
//! connects, and shown in every touch prompt, every waiting message and
//! every audit record of that connection's requests.

use std::fmt;
use std::path::{Path, PathBuf};

/// The process that connected (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    pid: u32,
    exe: Option<PathBuf>,
}

impl Requester {
    /// The process `pid`, its executable read from `/proc/PID/exe` now
    /// (`None` when it cannot be read: the process is gone, or the system
    /// has no `/proc`).
    pub fn of_pid(pid: u32) -> Requester {
        let exe = if pid == 0 {
            None
        } else {
            std::fs::read_link(format!("/proc/{pid}/exe")).ok()
        };
        Requester { pid, exe }
    }

    /// A requester with a known executable.
    pub fn new(pid: u32, exe: Option<PathBuf>) -> Requester {
        Requester { pid, exe }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The executable, when it could be read.
    pub fn exe(&self) -> Option<&Path> {
        self.exe.as_deref()
    }

    /// The executable for a message: quoted, control characters escaped (a
    /// path chosen by whoever asks cannot rewrite the user's terminal), or
    /// "an unknown program".
    pub fn program(&self) -> String {
        match &self.exe {
            Some(exe) => tokenring_vault::quote_name(&exe.to_string_lossy()),
            None => "an unknown program".to_string(),
        }
    }
}

impl fmt::Display for Requester {
    /// `'/usr/bin/git' (pid 4242)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (pid {})", self.program(), self.pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_this_process_and_escapes_what_it_shows() {
        let me = Requester::of_pid(std::process::id());
        let exe = std::env::current_exe().ok();
        assert_eq!(me.exe(), exe.as_deref());
        assert!(me
            .to_string()
            .ends_with(&format!("(pid {})", std::process::id())));
        let odd = Requester::new(7, Some(PathBuf::from("/tmp/x\n\u{1b}[2Jok")));
        assert_eq!(odd.to_string(), "'/tmp/x\\n\\u{001b}[2Jok' (pid 7)");
        assert_eq!(
            Requester::new(8, None).to_string(),
            "an unknown program (pid 8)"
        );
        assert_eq!(Requester::of_pid(0).exe(), None);
    }
}
