//! USB HID as a discovery [`Source`]: every FIDO HID device the operating
//! system lists, opened as a CTAP2 client over CTAPHID.
//!
//! [`HidSource::new`] uses hidapi; [`HidSource::with_backend`] takes any
//! [`HidBackend`] (a test's simulated devices, another HID library).

use tokenring_core::{
    Ctap2Client, Device, DynAuthenticator, Error, Selector, Source, TransportError, TransportInfo,
    TransportKind,
};

use crate::enumeration::FoundDevice;
use crate::error::HidError;
use crate::reports::HidReports;
use crate::transport::{HidTimeouts, HidTransport};

/// An opened HID device: CTAPHID reports in and out, movable to another thread.
pub type DynReports = Box<dyn HidReports + Send>;

/// What [`HidSource`] needs from the operating system: the FIDO HID
/// devices, and a way to open one.
pub trait HidBackend: Send + Sync {
    /// Every FIDO HID device (usage page 0xF1D0, usage 0x01), with whether
    /// this user may open it. Nothing is opened for reading or writing.
    fn enumerate(&self) -> Result<Vec<FoundDevice>, HidError>;

    /// Opens the device at `path` for CTAPHID reports.
    fn open(&self, path: &str) -> Result<DynReports, HidError>;
}

/// The USB HID discovery source (see the module documentation).
pub struct HidSource {
    backend: Box<dyn HidBackend>,
    timeouts: HidTimeouts,
}

impl std::fmt::Debug for HidSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HidSource")
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl HidSource {
    /// The FIDO HID devices of this machine, through hidapi.
    #[cfg(feature = "hidapi")]
    pub fn new() -> HidSource {
        HidSource::with_backend(crate::hidapi_device::Hidapi)
    }

    /// The devices `backend` lists.
    pub fn with_backend(backend: impl HidBackend + 'static) -> HidSource {
        HidSource {
            backend: Box::new(backend),
            timeouts: HidTimeouts::default(),
        }
    }

    /// Replaces the CTAPHID timeouts of the transports this source opens.
    pub fn timeouts(mut self, timeouts: HidTimeouts) -> HidSource {
        self.timeouts = timeouts;
        self
    }
}

#[cfg(feature = "hidapi")]
impl Default for HidSource {
    fn default() -> Self {
        HidSource::new()
    }
}

impl Source for HidSource {
    fn transport(&self) -> TransportKind {
        TransportKind::Hid
    }

    fn list(&self) -> Result<Vec<Device>, Error> {
        let found = self.backend.enumerate().map_err(TransportError::from)?;
        Ok(found
            .into_iter()
            .map(|device| Device {
                selector: Selector::Hid(device.info.path.clone()),
                name: device.info.display_name(),
                problem: device.access.err().map(TransportError::from),
            })
            .collect())
    }

    fn open(&self, selector: &Selector) -> Result<DynAuthenticator, Error> {
        let Selector::Hid(path) = selector else {
            return Err(Error::BadSelector(format!(
                "{selector} is not a USB HID device"
            )));
        };
        // The name from enumeration, when the device is listed there.
        let name = self
            .backend
            .enumerate()
            .ok()
            .and_then(|found| found.into_iter().find(|f| &f.info.path == path))
            .map(|f| f.info.display_name())
            .unwrap_or_else(|| format!("FIDO device at {path}"));
        let reports = self.backend.open(path).map_err(TransportError::from)?;
        let info = TransportInfo {
            kind: TransportKind::Hid,
            name,
            path: path.clone(),
        };
        let mut transport = HidTransport::new(reports, info).with_timeouts(self.timeouts);
        transport.init()?;
        Ok(Box::new(Ctap2Client::new(transport)?))
    }
}
