//! [`HidReports`] on a real device through the `hidapi` crate.

use std::ffi::CString;
use std::time::Duration;

use tokenring_core::{TransportError, TransportErrorKind, TransportInfo, TransportKind};

use crate::ctaphid::{ReportSizes, REPORT_SIZE};
use crate::enumeration::HidDeviceInfo;
use crate::error::HidError;
use crate::reports::HidReports;
use crate::transport::HidTransport;

/// An open FIDO HID device (a hidraw node on Linux).
pub struct HidapiDevice {
    device: hidapi::HidDevice,
    path: String,
    sizes: ReportSizes,
}

/// The longest report descriptor read (HID descriptors are a few dozen
/// bytes; the Linux kernel caps them at 4096).
const MAX_DESCRIPTOR: usize = 4096;

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
        let sizes = report_sizes_of(&device).map_err(|reason| HidError::Open {
            path: path.to_string(),
            reason,
        })?;
        Ok(HidapiDevice {
            device,
            path: path.to_string(),
            sizes,
        })
    }

    /// The report sizes read from the device's report descriptor.
    pub fn report_sizes(&self) -> ReportSizes {
        self.sizes
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
        let size = self.sizes.output();
        let mut buffer = [0u8; REPORT_SIZE + 1];
        for (dst, src) in buffer.iter_mut().skip(1).zip(report.iter().take(size)) {
            *dst = *src;
        }
        let written = self
            .device
            .write(buffer.get(..=size).unwrap_or(&buffer))
            .map_err(|e| self.io_error("write", &e))?;
        if written < size {
            return Err(TransportError::new(
                TransportErrorKind::Io,
                format!("only {written} bytes of a {size}-byte report reached the authenticator"),
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
        let size = self.sizes.input();
        let read = self
            .device
            .read_timeout(buffer.get_mut(..size).unwrap_or(&mut [0u8; 0]), millis)
            .map_err(|e| self.io_error("read", &e))?;
        // hidapi returns 0 on timeout. A short report keeps its zero
        // padding; the framing checks lengths.
        Ok((read > 0).then_some(buffer))
    }

    fn report_sizes(&self) -> ReportSizes {
        self.sizes
    }
}

/// The report sizes from the device's report descriptor. As libfido2 does,
/// a descriptor that cannot be read or gives no FIDO sizes means 64 bytes
/// both ways (every FIDO token's), and sizes outside 8 to 64 bytes refuse
/// the device.
fn report_sizes_of(device: &hidapi::HidDevice) -> Result<ReportSizes, String> {
    let mut descriptor = vec![0u8; MAX_DESCRIPTOR];
    let Ok(len) = device.get_report_descriptor(&mut descriptor) else {
        return Ok(ReportSizes::default());
    };
    match ReportSizes::from_descriptor(descriptor.get(..len).unwrap_or_default()) {
        Ok(sizes) => Ok(sizes),
        Err(error @ crate::DescriptorError::Unsupported { .. }) => Err(error.to_string()),
        Err(_) => Ok(ReportSizes::default()),
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
