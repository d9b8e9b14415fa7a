//! What the agent just released for git, remembered briefly, so that git's
//! `store` of that very credential right after it worked costs no second
//! tap. (git 2.46 and later hand the helper's `state[]` back with `store`,
//! and the helper then skips it itself; older gits do not.)
//!
//! Only for git's entries (services starting with `git:`), only for
//! [`RELEASE_MEMORY`] (2 minutes: git sends `store` as soon as the server
//! accepted the credential), only the first `store` of that entry after
//! the release (any `set` of it consumes the memory, match or not, so a
//! program cannot try several guesses against one release), and only while
//! the vault is unlocked and the entry still exists. The value itself is
//! not kept: a SHA-256 of it under a random key of this agent, compared in
//! constant time. Everything is forgotten with the vault key.

use std::sync::Mutex;
use std::time::Duration;

use rand_core::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::lock;

/// How long a release is remembered.
pub const RELEASE_MEMORY: Duration = Duration::from_secs(120);

/// At most this many releases are remembered (the oldest is forgotten).
const MAX_REMEMBERED: usize = 32;

/// The remembered releases (see the module documentation).
pub(super) struct RecentReleases {
    key: Zeroizing<[u8; 32]>,
    /// The key is random (the OS gave randomness).
    enabled: bool,
    remembered: Mutex<Vec<Released>>,
}

struct Released {
    service: String,
    user: String,
    /// When, on the agent's clock.
    at: Duration,
    digest: Zeroizing<[u8; 32]>,
}

/// Whether releases of this service are remembered: git's entries only.
fn remembered_service(service: &str) -> bool {
    service.starts_with(crate::app::git_credential::SERVICE_PREFIX)
}

impl RecentReleases {
    /// No release remembered yet; a fresh random key. Without randomness
    /// from the OS, nothing is ever remembered (every `store` needs its tap).
    pub(super) fn new() -> RecentReleases {
        let mut key = Zeroizing::new([0u8; 32]);
        let enabled = rand_core::OsRng.try_fill_bytes(&mut key[..]).is_ok();
        RecentReleases {
            key,
            enabled,
            remembered: Mutex::new(Vec::new()),
        }
    }

    fn digest(&self, password: &str) -> Zeroizing<[u8; 32]> {
        let mut hash = Sha256::new();
        hash.update(&self.key[..]);
        hash.update(password.as_bytes());
        Zeroizing::new(hash.finalize().into())
    }

    /// Remembers that `password` was just released for (service, user).
    pub(super) fn remember(&self, service: &str, user: &str, password: &str, now: Duration) {
        if !self.enabled || !remembered_service(service) {
            return;
        }
        let digest = self.digest(password);
        let mut remembered = lock(&self.remembered);
        remembered.retain(|r| !(r.service == service && r.user == user));
        if remembered.len() >= MAX_REMEMBERED {
            remembered.remove(0);
        }
        remembered.push(Released {
            service: service.to_string(),
            user: user.to_string(),
            at: now,
            digest,
        });
    }

    /// Whether `password` is what was released for (service, user) less
    /// than [`RELEASE_MEMORY`] ago. The memory of that entry is gone
    /// afterwards, whatever the answer.
    pub(super) fn take_if_same(
        &self,
        service: &str,
        user: &str,
        password: &str,
        now: Duration,
    ) -> bool {
        let mut remembered = lock(&self.remembered);
        let Some(index) = remembered
            .iter()
            .position(|r| r.service == service && r.user == user)
        else {
            return false;
        };
        let released = remembered.remove(index);
        drop(remembered);
        let recent = now.saturating_sub(released.at) < RELEASE_MEMORY;
        let same: bool = self.digest(password)[..].ct_eq(&released.digest[..]).into();
        recent && same
    }

    /// Forgets the release of (service, user).
    pub(super) fn forget(&self, service: &str, user: &str) {
        lock(&self.remembered).retain(|r| !(r.service == service && r.user == user));
    }

    /// Forgets every release (with the vault key).
    pub(super) fn forget_all(&self) {
        lock(&self.remembered).clear();
    }
}
