//! Fault injection: make the next response go missing, arrive damaged, or
//! carry a forced status.

/// A fault to inject into the simulator's next response(s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The next response is dropped: [`crate::Simulator::process`] returns an
    /// empty vector (front ends then send nothing; the in-process transport
    /// reports a time-out). The request itself is still processed.
    DropResponse,
    /// One byte of the next response is XORed with `mask` (`offset` is taken
    /// modulo the response length; the status byte is offset 0).
    CorruptResponse {
        /// Which byte.
        offset: usize,
        /// What to XOR it with (non-zero to change anything).
        mask: u8,
    },
    /// The next request with this command byte is not processed and is
    /// answered with `status` alone.
    ForceStatus {
        /// The command byte (e.g. 0x02 getAssertion).
        command: u8,
        /// The status to answer.
        status: u8,
    },
}
