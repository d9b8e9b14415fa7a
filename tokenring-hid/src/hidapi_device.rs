//! [`HidReports`] on a real device through the `hidapi` crate.

use std::ffi::CString;
use std::time::Duration;

use tokenring_core::{TransportError, TransportErrorKind, TransportInfo, TransportKind};

use crate::ctaphid::REPORT_SIZE;
use crate::enumeration::HidDeviceInfo;
use crate::error::HidError;
use crate::reports::HidReports;
use crate::transport::HidTransport;

/// An open FIDO HID device (a hidraw node on Linux).
pub struct HidapiDevice {
    device: hidapi::HidDevice,
    path: String,
}

impl HidapiDevice {
    /// Opens the device at `path` (as listed by [`crate::enumerate`]).
    /// A node the user may not open gives [`HidError::PermissionDenied`],
    /// whose message says which udev rules fix it.
    pub fn open(path: &str) -> Result<HidapiDevice, HidError> {
        check_access(path)?;
        let c_path = CString::new(path).map_err(|_| HidError::NotFound {
            path: path.to_string(),
        })?;
        let api = hidapi::HidApi::new().map_err(|e| HidError::Enumerate(e.to_string()))?;
        let device = api
            .open_path(&c_path)
            .map_err(|e| classify_hidapi_error(path, &e))?;
        Ok(HidapiDevice {
            device,
            path: path.to_string(),
        })
    }

    /// The path this device was opened with.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn io_error(&self, what: &str, error: &hidapi::HidError) -> TransportError {
        // After a successful open, reads and writes fail in practice only
        // when the device went away.
        TransportError::new(
            TransportErrorKind::Disconnected,
            format!(
                "the authenticator at {} is gone ({what} failed: {error}); plug it in again",
                self.path
            ),
        )
    }
}

impl HidReports for HidapiDevice {
    fn write_report(&mut self, report: &[u8; REPORT_SIZE]) -> Result<(), TransportError> {
        // hidapi wants the report id first: 0 for unnumbered reports.
        let mut buffer = [0u8; REPORT_SIZE + 1];
        for (dst, src) in buffer.iter_mut().skip(1).zip(report.iter()) {
            *dst = *src;
        }
        let written = self
            .device
            .write(&buffer)
            .map_err(|e| self.io_error("write", &e))?;
        if written < REPORT_SIZE {
            return Err(TransportError::new(
                TransportErrorKind::Io,
                format!(
                    "only {written} bytes of a {REPORT_SIZE}-byte report reached the authenticator"
                ),
            ));
        }
        Ok(())
    }

    fn read_report(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<[u8; REPORT_SIZE]>, TransportError> {
        let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let mut buffer = [0u8; REPORT_SIZE];
        let read = self
            .device
            .read_timeout(&mut buffer, millis)
            .map_err(|e| self.io_error("read", &e))?;
        // hidapi returns 0 on timeout. A short report keeps its zero
        // padding; the framing checks lengths.
        Ok((read > 0).then_some(buffer))
    }
}

/// The operating system's FIDO HID devices through hidapi: the backend of
/// [`crate::HidSource::new`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Hidapi;

impl crate::discovery::HidBackend for Hidapi {
    fn enumerate(&self) -> Result<Vec<crate::enumeration::FoundDevice>, HidError> {
        crate::enumeration::enumerate()
    }

    fn open(&self, path: &str) -> Result<crate::discovery::DynReports, HidError> {
        Ok(Box::new(HidapiDevice::open(path)?))
    }
}

/// Opens the authenticator at `path` and allocates a CTAPHID channel.
pub fn open_transport(info: &HidDeviceInfo) -> Result<HidTransport<HidapiDevice>, TransportError> {
    let device = HidapiDevice::open(&info.path)?;
    HidTransport::connect(
        device,
        TransportInfo {
            kind: TransportKind::Hid,
            name: info.display_name(),
            path: info.path.clone(),
        },
    )
}

/// Opens the authenticator at `path` (a `hid:PATH` selector) and allocates
/// a CTAPHID channel; its name comes from enumeration when the path is
/// listed there.
pub fn open_path(path: &str) -> Result<HidTransport<HidapiDevice>, TransportError> {
    let listed = crate::enumeration::enumerate()
        .ok()
        .and_then(|found| found.into_iter().find(|f| f.info.path == path));
    let info = match listed {
        Some(found) => found.info,
        None => HidDeviceInfo {
            path: path.to_string(),
            product: String::new(),
            manufacturer: String::new(),
            serial: String::new(),
            vendor_id: 0,
            product_id: 0,
        },
    };
    open_transport(&info)
}

/// Opens and closes `path` ourselves first (on platforms where it is a
/// file), so that "permission denied" is recognized from the error kind
/// rather than from a library's message text.
pub(crate) fn check_access(path: &str) -> Result<(), HidError> {
    if !path.starts_with('/') {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(drop)
        .map_err(|e| HidError::from_open_error(path, &e))
}

fn classify_hidapi_error(path: &str, error: &hidapi::HidError) -> HidError {
    if let hidapi::HidError::IoError { error } = error {
        return HidError::from_open_error(path, error);
    }
    let text = error.to_string();
    if text.contains("Permission denied") || text.contains("os error 13") {
        HidError::PermissionDenied {
            path: path.to_string(),
        }
    } else {
        HidError::Open {
            path: path.to_string(),
            reason: text,
        }
    }
}
