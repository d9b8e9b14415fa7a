//! The simulator's clock: virtual (waits are instant) or real (waits sleep).

use std::time::{Duration, Instant};

use crate::ClockMode;

/// Time since the simulator was created.
pub(crate) struct Clock {
    mode: ClockMode,
    virtual_now: Duration,
    origin: Instant,
}

impl Clock {
    pub(crate) fn new(mode: ClockMode) -> Self {
        Clock {
            mode,
            virtual_now: Duration::ZERO,
            origin: Instant::now(),
        }
    }

    /// Virtual or real.
    pub(crate) fn mode(&self) -> ClockMode {
        self.mode
    }

    /// Now, on this clock.
    pub(crate) fn now(&self) -> Duration {
        match self.mode {
            ClockMode::Virtual => self.virtual_now,
            ClockMode::Real => self.origin.elapsed(),
        }
    }

    /// Lets `d` pass (instantly on a virtual clock).
    pub(crate) fn sleep(&mut self, d: Duration) {
        match self.mode {
            ClockMode::Virtual => self.virtual_now = self.virtual_now.saturating_add(d),
            ClockMode::Real => std::thread::sleep(d),
        }
    }

    /// Moves a virtual clock forward (no effect on a real clock).
    pub(crate) fn advance(&mut self, d: Duration) {
        if self.mode == ClockMode::Virtual {
            self.virtual_now = self.virtual_now.saturating_add(d);
        }
    }
}
