//! The agent's clock for its locks (the idle lock and the maximum unlocked
//! lifetime): one that keeps counting while the computer is suspended.
//!
//! `std::time::Instant` is `CLOCK_MONOTONIC` on Linux, which stops during
//! suspend: a laptop closed after 14 idle minutes of a 15-minute idle lock
//! would wake up hours later still unlocked. The agent reads
//! `CLOCK_BOOTTIME` instead (as OpenSSH's `ssh-agent` does), which counts
//! the time spent suspended. On macOS, `CLOCK_MONOTONIC` is the clock that
//! keeps counting during sleep (`Instant` there stops); elsewhere
//! `CLOCK_MONOTONIC` is used as the best the system offers.

use std::time::Duration;

/// A clock for the agent's locks: time since an arbitrary, fixed origin
/// that includes time the system spent suspended. Tests inject their own
/// to play a suspend.
pub trait Clock: Send + Sync {
    /// The time now, since the clock's origin.
    fn now(&self) -> Duration;
}

/// The system's boot-time clock (see the module documentation); the
/// agent's default.
#[derive(Debug, Clone, Copy, Default)]
pub struct BootClock;

#[cfg(any(target_os = "linux", target_os = "android", target_os = "openbsd"))]
const CLOCK: rustix::time::ClockId = rustix::time::ClockId::Boottime;

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "openbsd")))]
const CLOCK: rustix::time::ClockId = rustix::time::ClockId::Monotonic;

impl Clock for BootClock {
    fn now(&self) -> Duration {
        let now = rustix::time::clock_gettime(CLOCK);
        Duration::new(
            u64::try_from(now.tv_sec).unwrap_or(0),
            u32::try_from(now.tv_nsec).unwrap_or(0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn the_default_clock_is_the_boot_time_clock() {
        use rustix::time::{clock_gettime, ClockId};
        let seconds = |id| {
            let t = clock_gettime(id);
            Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
        };
        let monotonic = seconds(ClockId::Monotonic);
        let ours = BootClock.now();
        let boottime = seconds(ClockId::Boottime);
        // CLOCK_BOOTTIME is CLOCK_MONOTONIC plus the time spent suspended.
        assert!(ours >= monotonic, "{ours:?} < {monotonic:?}");
        assert!(ours <= boottime, "{ours:?} > {boottime:?}");
    }
}
