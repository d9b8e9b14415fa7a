//! Process hardening for the agent, which holds the vault key in memory:
//! no core dumps, not dumpable (no ptrace by other processes of the same
//! user without CAP_SYS_PTRACE, no /proc/PID/mem), memory locked where the
//! OS allows so the key never reaches swap. All through `rustix`, no
//! `unsafe`.

use std::fmt;

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// What [`harden`] achieved; each failure is reported once on stderr by the
/// agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardeningReport {
    /// RLIMIT_CORE was set to 0.
    pub core_dumps_off: bool,
    /// PR_SET_DUMPABLE was set to 0 (Linux only).
    pub not_dumpable: bool,
    /// All current and future memory is locked (mlockall).
    pub memory_locked: bool,
    /// Why something could not be done, one line each.
    pub warnings: Vec<String>,
}

impl fmt::Display for HardeningReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "core dumps {}, {}, memory {}",
            if self.core_dumps_off { "off" } else { "ON" },
            if self.not_dumpable {
                "not dumpable"
            } else {
                "DUMPABLE"
            },
            if self.memory_locked {
                "locked"
            } else {
                "not locked"
            }
        )
    }
}

/// Hardens the current process. Never fails: what cannot be done is in the
/// report's warnings.
pub fn harden() -> HardeningReport {
    let mut warnings = Vec::new();

    let core_dumps_off = match setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    ) {
        Ok(()) => true,
        Err(e) => {
            warnings.push(format!("could not disable core dumps (RLIMIT_CORE): {e}"));
            false
        }
    };

    let not_dumpable = set_not_dumpable(&mut warnings);
    let memory_locked = lock_memory(&mut warnings);

    HardeningReport {
        core_dumps_off,
        not_dumpable,
        memory_locked,
        warnings,
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_not_dumpable(warnings: &mut Vec<String>) -> bool {
    use rustix::process::{set_dumpable_behavior, DumpableBehavior};
    match set_dumpable_behavior(DumpableBehavior::NotDumpable) {
        Ok(()) => true,
        Err(e) => {
            warnings.push(format!(
                "could not make the process undumpable (PR_SET_DUMPABLE): {e}"
            ));
            false
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_not_dumpable(warnings: &mut Vec<String>) -> bool {
    warnings.push("PR_SET_DUMPABLE is Linux-only; other processes of this user may be able to read the agent's memory with a debugger".into());
    false
}

/// mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT), but only when the
/// memory-lock limit cannot make later allocations fail: with
/// `MCL_FUTURE`, an allocation beyond RLIMIT_MEMLOCK fails, which would
/// crash the agent. So it is done when the limit is unlimited or the
/// process has CAP_IPC_LOCK, and reported otherwise.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn lock_memory(warnings: &mut Vec<String>) -> bool {
    use rustix::mm::{mlockall, MlockAllFlags};
    let limit = getrlimit(Resource::Memlock);
    let unlimited = limit.current.is_none();
    if !unlimited && !has_cap_ipc_lock() {
        let kib = limit.current.unwrap_or(0) / 1024;
        warnings.push(format!(
            "memory not locked: the memory-lock limit is {kib} KiB (`ulimit -l`); the vault key could be \
             written to swap. Raise it (`ulimit -l unlimited`, or LimitMEMLOCK=infinity in a systemd unit) \
             or use encrypted swap"
        ));
        return false;
    }
    match mlockall(MlockAllFlags::CURRENT | MlockAllFlags::FUTURE | MlockAllFlags::ONFAULT) {
        Ok(()) => true,
        Err(e) => {
            warnings.push(format!(
                "memory not locked (mlockall: {e}); the vault key could be written to swap"
            ));
            false
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn lock_memory(warnings: &mut Vec<String>) -> bool {
    let _ = getrlimit(Resource::Memlock);
    warnings.push("memory not locked on this OS; the vault key could be written to swap".into());
    false
}

/// Whether CAP_IPC_LOCK (capability 14) is in the effective set, from
/// `/proc/self/status`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn has_cap_ipc_lock() -> bool {
    const CAP_IPC_LOCK: u32 = 14;
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1u64 << CAP_IPC_LOCK) != 0)
}
