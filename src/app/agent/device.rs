//! The authenticator inside the agent: opened when first needed (no tap),
//! shared by all clients one request at a time behind a gate that a
//! waiting request leaves as soon as its client cancels, and looked for
//! again after a transport failure or when the vault's credential changes.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokenring_core::Prompt;
use tokenring_vault::{VaultCredential, VaultError};

use super::lock;
use crate::Error;
use tokenring_core::DynAuthenticator;

/// Opens the authenticator that holds a vault's credential (no tap). The
/// agent calls it when it first needs the authenticator, and again after
/// the authenticator failed at the transport level (unplugged, …).
pub trait AuthenticatorSource: Send {
    /// The authenticator for `credential`.
    fn open(
        &mut self,
        credential: &VaultCredential,
        prompt: &dyn Prompt,
    ) -> Result<DynAuthenticator, Error>;
}

impl<F> AuthenticatorSource for F
where
    F: FnMut(&VaultCredential, &dyn Prompt) -> Result<DynAuthenticator, Error> + Send,
{
    fn open(
        &mut self,
        credential: &VaultCredential,
        prompt: &dyn Prompt,
    ) -> Result<DynAuthenticator, Error> {
        self(credential, prompt)
    }
}

/// The authenticator, for one request at a time. Waiters poll their
/// prompt so that a cancelled client stops waiting.
pub(super) struct DeviceGate {
    busy: Mutex<bool>,
    freed: Condvar,
    slot: Mutex<DeviceSlot>,
}

pub(super) struct DeviceSlot {
    source: Box<dyn AuthenticatorSource>,
    pub(super) authenticator: Option<DynAuthenticator>,
    /// The credential `authenticator` was found for.
    opened_for: Option<VaultCredential>,
}

impl DeviceSlot {
    /// The open authenticator, opening it (no tap) when needed.
    pub(super) fn authenticator(
        &mut self,
        credential: &VaultCredential,
        prompt: &dyn Prompt,
    ) -> Result<&mut DynAuthenticator, Error> {
        if self.authenticator.is_none() || self.opened_for.as_ref() != Some(credential) {
            // A vault replaced by one with another credential may need
            // another authenticator: look again (no tap).
            self.authenticator = None;
            self.authenticator = Some(self.source.open(credential, prompt)?);
            self.opened_for = Some(credential.clone());
        }
        self.authenticator
            .as_mut()
            .ok_or_else(|| Error::Agent("the authenticator is not open".into()))
    }

    /// After a failure: forget an authenticator whose transport failed, so
    /// the next request looks for it again (it may have been re-plugged).
    pub(super) fn after_error(&mut self, error: &Error) {
        let transport_failed = |e: &tokenring_core::Error| {
            matches!(e, tokenring_core::Error::Transport(t)
                if t.kind != tokenring_core::TransportErrorKind::Cancelled)
        };
        let failed = match error {
            Error::Authenticator(e) => transport_failed(e),
            Error::Vault(VaultError::Authenticator(e)) => transport_failed(e),
            _ => false,
        };
        if failed {
            self.authenticator = None;
        }
    }
}

/// The authenticator, held by one request; released (and the next waiter
/// woken) on drop.
pub(super) struct DeviceGuard<'a> {
    gate: &'a DeviceGate,
    slot: MutexGuard<'a, DeviceSlot>,
}

impl std::ops::Deref for DeviceGuard<'_> {
    type Target = DeviceSlot;
    fn deref(&self) -> &DeviceSlot {
        &self.slot
    }
}

impl std::ops::DerefMut for DeviceGuard<'_> {
    fn deref_mut(&mut self) -> &mut DeviceSlot {
        &mut self.slot
    }
}

impl Drop for DeviceGuard<'_> {
    fn drop(&mut self) {
        // The slot's mutex is released right after this, when the field
        // drops; a woken waiter blocks on it only for that instant.
        *lock(&self.gate.busy) = false;
        self.gate.freed.notify_one();
    }
}

impl DeviceGate {
    pub(super) fn new(source: Box<dyn AuthenticatorSource>) -> Self {
        DeviceGate {
            busy: Mutex::new(false),
            freed: Condvar::new(),
            slot: Mutex::new(DeviceSlot {
                source,
                authenticator: None,
                opened_for: None,
            }),
        }
    }

    /// Waits for the authenticator (leaving when the prompt is cancelled).
    pub(super) fn acquire(
        &self,
        prompt: &dyn Prompt,
        tick: Duration,
    ) -> Result<DeviceGuard<'_>, Error> {
        let mut busy = lock(&self.busy);
        let mut told = false;
        while *busy {
            if prompt.is_cancelled() {
                return Err(Error::Authenticator(tokenring_core::Error::Cancelled));
            }
            if !told {
                prompt.info("waiting for another request to finish with the authenticator");
                told = true;
            }
            busy = self
                .freed
                .wait_timeout(busy, tick)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *busy = true;
        drop(busy);
        Ok(DeviceGuard {
            gate: self,
            slot: lock(&self.slot),
        })
    }

    /// The authenticator now, if nobody uses it.
    pub(super) fn try_acquire(&self) -> Option<DeviceGuard<'_>> {
        let mut busy = lock(&self.busy);
        if *busy {
            return None;
        }
        *busy = true;
        drop(busy);
        Some(DeviceGuard {
            gate: self,
            slot: lock(&self.slot),
        })
    }
}
