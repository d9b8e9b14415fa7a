//! OpenSK as a USB HID device, for our CTAPHID client (`tokenring-hid`).

use std::collections::VecDeque;
use std::time::Duration;

use opensk::env::test::TestEnv;
use opensk::Ctap;
use tokenring_core::{TransportError, TransportInfo, TransportKind};
use tokenring_hid::{HidReports, HidTransport, REPORT_SIZE};

use crate::opensk_transport::opensk_env;
use crate::Presence;

/// OpenSK as a USB HID device: 64-byte reports go through OpenSK's own
/// CTAPHID layer (channel allocation, fragmentation, reassembly, CTAP 2.1
/// §11.2), so that our CTAPHID client (`tokenring-hid`) meets a framing
/// implementation that is not ours.
///
/// OpenSK answers every output report at once; the answer's reports wait in
/// a queue for [`HidReports::read_report`]. Keepalives that OpenSK sends
/// while it waits for a touch go to its test environment, which drops them.
pub struct OpenSkHidDevice {
    ctap: Ctap<TestEnv>,
    pending: VecDeque<[u8; REPORT_SIZE]>,
}

impl OpenSkHidDevice {
    /// A freshly booted OpenSK whose user touches when `presence` says so.
    pub fn new(presence: &Presence) -> Self {
        OpenSkHidDevice {
            ctap: Ctap::new(opensk_env(presence)),
            pending: VecDeque::new(),
        }
    }

    /// Our CTAPHID transport over this device, with a channel allocated.
    pub fn connect(presence: &Presence) -> Result<HidTransport<OpenSkHidDevice>, TransportError> {
        HidTransport::connect(
            OpenSkHidDevice::new(presence),
            TransportInfo {
                kind: TransportKind::Hid,
                name: "OpenSK (TestEnv, CTAPHID)".to_string(),
                path: "in-process".to_string(),
            },
        )
    }
}

impl HidReports for OpenSkHidDevice {
    fn write_report(&mut self, report: &[u8; REPORT_SIZE]) -> Result<(), TransportError> {
        let answer = self
            .ctap
            .process_hid_packet(report, opensk::Transport::MainHid);
        self.pending.extend(answer);
        Ok(())
    }

    fn read_report(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<[u8; REPORT_SIZE]>, TransportError> {
        // Everything OpenSK will ever say to a write is already queued: when
        // the queue is empty, nothing more will come. Pause briefly so that
        // a caller waiting in a loop does not spin.
        let report = self.pending.pop_front();
        if report.is_none() {
            std::thread::sleep(timeout.min(Duration::from_millis(1)));
        }
        Ok(report)
    }
}
