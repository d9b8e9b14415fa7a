//! The authenticator inside the agent: opened when first needed (no tap),
//! shared by all clients one request at a time, first come first served,
//! behind a gate that names its holder to every waiter and that a waiting
//! request leaves as soon as its client cancels; looked for again after a
//! transport failure or when the vault's credential changes.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokenring_core::Prompt;
use tokenring_vault::{VaultCredential, VaultError};

use super::lock;
use super::requester::Requester;
use crate::Error;
use tokenring_core::DynAuthenticator;

/// Opens the authenticator that holds a vault's credential (no tap). The
/// agent calls it when it first needs the authenticator, and again after
/// the authenticator failed at the transport level (unplugged, …).
pub trait AuthenticatorSource: Send {
    /// An authenticator that holds one of `credentials` (one per key slot
    /// of a format-2 vault; format 1 has one).
    fn open(
        &mut self,
        credentials: &[VaultCredential],
        prompt: &dyn Prompt,
    ) -> Result<DynAuthenticator, Error>;
}

impl<F> AuthenticatorSource for F
where
    F: FnMut(&[VaultCredential], &dyn Prompt) -> Result<DynAuthenticator, Error> + Send,
{
    fn open(
        &mut self,
        credentials: &[VaultCredential],
        prompt: &dyn Prompt,
    ) -> Result<DynAuthenticator, Error> {
        self(credentials, prompt)
    }
}

/// The authenticator, for one request at a time, in the order the
/// requests came (first come, first served: a client that asks again
/// right after its turn queues behind those already waiting). Waiters poll
/// their prompt so that a cancelled client stops waiting, and are told
/// which request holds the authenticator, for whom, whenever that changes.
pub(super) struct DeviceGate {
    queue: Mutex<Queue>,
    changed: Condvar,
    slot: Mutex<DeviceSlot>,
}

/// Who holds the gate and who waits for it.
struct Queue {
    /// The request holding the authenticator.
    holder: Option<Arc<Holder>>,
    /// Tickets of the waiting requests, in arrival order.
    waiting: VecDeque<u64>,
    next_ticket: u64,
}

/// A request that holds (or waits for) the authenticator: what it does and
/// for whom, as waiting messages name it.
pub(super) struct Holder {
    /// "a get of 'alice' in 'bank'".
    pub(super) what: String,
    /// The process that asked.
    pub(super) requester: Arc<Requester>,
}

impl Holder {
    fn waiting_message(&self) -> String {
        format!(
            "waiting for the authenticator, busy with {} for {}",
            self.what, self.requester
        )
    }
}

pub(super) struct DeviceSlot {
    source: Box<dyn AuthenticatorSource>,
    pub(super) authenticator: Option<DynAuthenticator>,
    /// The credential `authenticator` was found for.
    opened_for: Option<Vec<VaultCredential>>,
}

impl DeviceSlot {
    /// The open authenticator, opening it (no tap) when needed.
    pub(super) fn authenticator(
        &mut self,
        credentials: &[VaultCredential],
        prompt: &dyn Prompt,
    ) -> Result<&mut DynAuthenticator, Error> {
        if self.authenticator.is_none() || self.opened_for.as_deref() != Some(credentials) {
            // A vault replaced by one with another credential may need
            // another authenticator: look again (no tap).
            self.authenticator = None;
            self.authenticator = Some(self.source.open(credentials, prompt)?);
            self.opened_for = Some(credentials.to_vec());
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
        lock(&self.gate.queue).holder = None;
        self.gate.changed.notify_all();
    }
}

impl DeviceGate {
    pub(super) fn new(source: Box<dyn AuthenticatorSource>) -> Self {
        DeviceGate {
            queue: Mutex::new(Queue {
                holder: None,
                waiting: VecDeque::new(),
                next_ticket: 0,
            }),
            changed: Condvar::new(),
            slot: Mutex::new(DeviceSlot {
                source,
                authenticator: None,
                opened_for: None,
            }),
        }
    }

    /// Waits for the authenticator, behind the requests that came first,
    /// telling the prompt which request holds it (again whenever another
    /// one takes it), and leaving when the prompt is cancelled.
    pub(super) fn acquire(
        &self,
        prompt: &dyn Prompt,
        tick: Duration,
        me: Holder,
    ) -> Result<DeviceGuard<'_>, Error> {
        let me = Arc::new(me);
        let mut queue = lock(&self.queue);
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.waiting.push_back(ticket);
        let mut told: Option<Arc<Holder>> = None;
        loop {
            let first = queue.waiting.front() == Some(&ticket);
            if queue.holder.is_none() && first {
                break;
            }
            if prompt.is_cancelled() {
                queue.waiting.retain(|t| *t != ticket);
                drop(queue);
                self.changed.notify_all();
                return Err(Error::Authenticator(tokenring_core::Error::Cancelled));
            }
            if let Some(holder) = &queue.holder {
                if !told.as_ref().is_some_and(|t| Arc::ptr_eq(t, holder)) {
                    prompt.info(&holder.waiting_message());
                    told = Some(Arc::clone(holder));
                }
            }
            queue = self
                .changed
                .wait_timeout(queue, tick)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        queue.waiting.pop_front();
        queue.holder = Some(me);
        drop(queue);
        Ok(DeviceGuard {
            gate: self,
            slot: lock(&self.slot),
        })
    }

    /// Whether a request waits for the authenticator.
    pub(super) fn has_waiters(&self) -> bool {
        !lock(&self.queue).waiting.is_empty()
    }

    /// The authenticator now, if nobody holds it or waits for it.
    pub(super) fn try_acquire(&self) -> Option<DeviceGuard<'_>> {
        let mut queue = lock(&self.queue);
        if queue.holder.is_some() || !queue.waiting.is_empty() {
            return None;
        }
        queue.holder = Some(Arc::new(Holder {
            what: "locking the vault".to_string(),
            requester: Arc::new(Requester::of_pid(std::process::id())),
        }));
        drop(queue);
        Some(DeviceGuard {
            gate: self,
            slot: lock(&self.slot),
        })
    }
}
