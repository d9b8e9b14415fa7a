//! The raw-report joint: everything CTAPHID needs from a HID device.

use std::time::Duration;

use tokenring_core::TransportError;

use crate::ctaphid::{ReportSizes, REPORT_SIZE};

/// A FIDO HID device as two operations on reports of at most 64 bytes.
///
/// Reports carry no report id: the FIDO usage page uses unnumbered
/// reports, and an implementation on top of an OS API that wants one (such
/// as hidapi) prefixes report id 0 itself when writing. A report travels in
/// a 64-byte array; a device whose reports are smaller (its
/// [`HidReports::report_sizes`]) uses the first bytes of it.
pub trait HidReports {
    /// Sends one output report to the device: the first
    /// `report_sizes().output()` bytes of `report` (the rest is zero).
    fn write_report(&mut self, report: &[u8; REPORT_SIZE]) -> Result<(), TransportError>;

    /// Waits at most `timeout` for one input report; `Ok(None)` when none
    /// arrived in time. A zero timeout polls without blocking. Only the
    /// first `report_sizes().input()` bytes are read.
    fn read_report(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<[u8; REPORT_SIZE]>, TransportError>;

    /// The sizes of the device's input and output reports, from its report
    /// descriptor. The default is 64 bytes both ways, what every FIDO token
    /// uses.
    fn report_sizes(&self) -> ReportSizes {
        ReportSizes::default()
    }
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
    fn report_sizes(&self) -> ReportSizes {
        (**self).report_sizes()
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
    fn report_sizes(&self) -> ReportSizes {
        (**self).report_sizes()
    }
}
