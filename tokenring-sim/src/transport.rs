//! The simulator as an in-process [`tokenring_core::Transport`].

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokenring_core::{
    KeepaliveStatus, Prompt, Reply, Transport, TransportError, TransportErrorKind, TransportInfo,
    TransportKind,
};

use crate::{DeviceContext, Simulator};

/// A [`Transport`] straight into a shared [`Simulator`]: keepalives go to
/// the prompt, cancellation is polled from `prompt.is_cancelled()`.
#[derive(Clone)]
pub struct SimTransport {
    sim: Arc<Mutex<Simulator>>,
    name: String,
    path: String,
}

impl SimTransport {
    /// A transport over a shared simulator.
    pub fn new(sim: Arc<Mutex<Simulator>>) -> Self {
        let path = lock(&sim)
            .state_file()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "memory".to_string());
        SimTransport {
            sim,
            name: "TokenRing simulated authenticator".to_string(),
            path,
        }
    }

    /// A transport over a simulator it owns (shared through [`Self::simulator`]).
    pub fn from_simulator(sim: Simulator) -> Self {
        Self::new(Arc::new(Mutex::new(sim)))
    }

    /// The shared simulator (to inspect counters or inject faults).
    pub fn simulator(&self) -> Arc<Mutex<Simulator>> {
        Arc::clone(&self.sim)
    }

    /// Locks the simulator (poisoning is ignored: the state machine has no
    /// invariants a panic elsewhere could break).
    pub fn lock(&self) -> MutexGuard<'_, Simulator> {
        lock(&self.sim)
    }
}

fn lock(sim: &Mutex<Simulator>) -> MutexGuard<'_, Simulator> {
    sim.lock().unwrap_or_else(PoisonError::into_inner)
}

struct PromptContext<'a> {
    prompt: &'a dyn Prompt,
}

impl DeviceContext for PromptContext<'_> {
    fn keepalive(&mut self, status: KeepaliveStatus) {
        self.prompt.keepalive(status);
    }

    fn cancelled(&mut self) -> bool {
        self.prompt.is_cancelled()
    }
}

impl Transport for SimTransport {
    fn exchange(
        &mut self,
        command: u8,
        payload: &[u8],
        prompt: &dyn Prompt,
    ) -> Result<Reply, TransportError> {
        let mut ctx = PromptContext { prompt };
        let response = lock(&self.sim).process(command, payload, &mut ctx);
        match response.split_first() {
            Some((status, body)) => Ok(Reply {
                status: *status,
                body: body.to_vec(),
            }),
            None => Err(TransportError::new(
                TransportErrorKind::Timeout,
                "the simulated authenticator did not answer (dropped response)",
            )),
        }
    }

    fn info(&self) -> TransportInfo {
        TransportInfo {
            kind: TransportKind::Sim,
            name: self.name.clone(),
            path: self.path.clone(),
        }
    }
}
