//! A [`Transport`] wrapper that counts CTAP round trips, so tests (and
//! benchmarks) can prove how many exchanges an operation costs.

use std::collections::BTreeMap;

use crate::{Prompt, Reply, Transport, TransportError, TransportInfo};

/// Counts every exchange passed to the wrapped transport (also the ones
/// that fail), in total and per CTAP command byte.
pub struct CountingTransport<T> {
    inner: T,
    total: usize,
    per_command: BTreeMap<u8, usize>,
}

impl<T> CountingTransport<T> {
    /// Wraps `inner`, with all counts at zero.
    pub fn new(inner: T) -> Self {
        CountingTransport {
            inner,
            total: 0,
            per_command: BTreeMap::new(),
        }
    }

    /// Exchanges so far.
    pub fn count(&self) -> usize {
        self.total
    }

    /// Exchanges of one command (see [`crate::command`]).
    pub fn count_of(&self, command: u8) -> usize {
        self.per_command.get(&command).copied().unwrap_or(0)
    }

    /// Exchanges per command byte.
    pub fn per_command(&self) -> &BTreeMap<u8, usize> {
        &self.per_command
    }

    /// Sets every count back to zero.
    pub fn reset_counts(&mut self) {
        self.total = 0;
        self.per_command.clear();
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The wrapped transport, mutably.
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the transport.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: Transport> Transport for CountingTransport<T> {
    fn exchange(
        &mut self,
        command: u8,
        payload: &[u8],
        prompt: &dyn Prompt,
    ) -> Result<Reply, TransportError> {
        self.total += 1;
        *self.per_command.entry(command).or_insert(0) += 1;
        self.inner.exchange(command, payload, prompt)
    }

    fn cancel(&mut self) -> Result<(), TransportError> {
        self.inner.cancel()
    }

    fn info(&self) -> TransportInfo {
        self.inner.info()
    }

    fn reports_keepalive(&self) -> bool {
        self.inner.reports_keepalive()
    }
}
