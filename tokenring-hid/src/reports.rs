//! The raw-report joint: everything CTAPHID needs from a HID device.

use std::time::Duration;

use tokenring_core::TransportError;

use crate::ctaphid::REPORT_SIZE;

/// A FIDO HID device as two operations on 64-byte reports.
///
/// Reports carry no report id: the FIDO usage page uses unnumbered
/// reports, and an implementation on top of an OS API that wants one (such
/// as hidapi) prefixes report id 0 itself when writing.
pub trait HidReports {
    /// Sends one output report to the device.
    fn write_report(&mut self, report: &[u8; REPORT_SIZE]) -> Result<(), TransportError>;

    /// Waits at most `timeout` for one input report; `Ok(None)` when none
    /// arrived in time. A zero timeout polls without blocking.
    fn read_report(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<[u8; REPORT_SIZE]>, TransportError>;
}

impl<T: HidReports + ?Sized> HidReports for &mut T {
    fn write_report(&mut self, report: &[u8; REPORT_SIZE]) -> Result<(), TransportError> {
        (**self).write_report(report)
    }
    fn read_report(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<[u8; REPORT_SIZE]>, TransportError> {
        (**self).read_report(timeout)
    }
}

impl<T: HidReports + ?Sized> HidReports for Box<T> {
    fn write_report(&mut self, report: &[u8; REPORT_SIZE]) -> Result<(), TransportError> {
        (**self).write_report(report)
    }
    fn read_report(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<[u8; REPORT_SIZE]>, TransportError> {
        (**self).read_report(timeout)
    }
}
