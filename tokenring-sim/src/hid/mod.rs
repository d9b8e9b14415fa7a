//! The simulator as a USB HID authenticator: a CTAPHID device (CTAP 2.1 PS
//! 2021-06-15 §11.2) that speaks 64-byte reports.
//!
//! Written from the device's side of the specification, independently of
//! any client's framing code: `packet` reads and writes the reports,
//! `machine` is the device's state machine, `device` the handle a host
//! holds. The device runs on its own thread; CTAP2 requests run on a
//! second thread so that the device keeps reading reports
//! (CTAPHID_CANCEL, other channels' requests) while the simulator waits for
//! a touch. Every report the device sends reaches every open connection, as
//! input reports of a hidraw node reach every process that opened it.
//!
//! Behaviour, per §11.2:
//! - CTAPHID_INIT on the broadcast channel allocates a new channel (also
//!   while another channel's transaction is in progress: allocating does not
//!   disturb it); INIT on an allocated channel aborts that channel's
//!   transaction and answers on the same channel (resynchronization).
//! - One transaction at a time: an initialization packet on another channel
//!   while a message is being received or processed gets ERR_CHANNEL_BUSY.
//! - ERR_INVALID_SEQ for a continuation packet out of sequence, or a new
//!   initialization packet on the channel whose message is incomplete;
//!   ERR_INVALID_LEN for a length the command cannot have (or above
//!   7609 bytes); ERR_INVALID_CHANNEL for channel 0, any command but INIT on
//!   the broadcast channel, or a channel never allocated; ERR_INVALID_CMD
//!   for unknown commands (also CTAPHID_MSG and CTAPHID_LOCK, which this
//!   CTAP2-only device does not implement: capability NMSG);
//!   ERR_MSG_TIMEOUT when an incomplete message stalls.
//! - CTAPHID_KEEPALIVE every 100 ms while a CTAPHID_CBOR request is
//!   processed, and at once when its status changes; CTAPHID_CANCEL on the
//!   processing channel makes the simulator end the request with
//!   CTAP2_ERR_KEEPALIVE_CANCEL; CANCEL is never answered itself.
//! - Continuation packets with no message in progress are ignored.

mod device;
mod machine;
mod packet;
#[cfg(test)]
mod tests;

pub use device::{SimHidConnection, SimHidDevice, SimHidGone, SimHidOptions};
