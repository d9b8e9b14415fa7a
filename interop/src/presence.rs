//! Whether the simulated user touches the authenticator.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Whether the simulated user touches the authenticator when asked.
///
/// Shared between the test and the platform's user interface, so a test can
/// stop touching halfway.
#[derive(Clone, Debug, Default)]
pub struct Presence(Arc<AtomicBool>);

impl Presence {
    /// A user who touches whenever asked.
    pub fn touching() -> Self {
        let presence = Presence::default();
        presence.set(true);
        presence
    }

    /// Starts (`true`) or stops (`false`) touching.
    pub fn set(&self, touching: bool) {
        self.0.store(touching, Ordering::SeqCst);
    }

    pub(crate) fn is_touching(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
