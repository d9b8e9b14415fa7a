//! What the simulator needs from the front end that carries its messages.

use tokenring_core::KeepaliveStatus;

/// What the simulator needs from whatever carries its messages while it
/// works on a request: keepalives and the host's cancel (CTAP 2.1
/// §11.2.9.1.7 CTAPHID_KEEPALIVE and §11.2.9.1.5 CTAPHID_CANCEL over HID;
/// §11.3.7 NFCCTAP status updates and cancel over NFC).
pub trait DeviceContext {
    /// Sent regularly (every 100 ms of simulator clock) while a request is
    /// processed or waits for user presence; HID sends CTAPHID_KEEPALIVE,
    /// NFC answers status polls with it.
    fn keepalive(&mut self, status: KeepaliveStatus);

    /// Whether the host cancelled the request in progress (the front end saw
    /// CTAPHID_CANCEL / NFCCTAP cancel). Polled during the wait; when true
    /// the request ends with CTAP2_ERR_KEEPALIVE_CANCEL (0x2D).
    fn cancelled(&mut self) -> bool;
}

/// A context with no keepalives and no cancel (for tests that need none).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoContext;

impl DeviceContext for NoContext {
    fn keepalive(&mut self, _status: KeepaliveStatus) {}

    fn cancelled(&mut self) -> bool {
        false
    }
}
