#![doc = include_str!("../README.md")]

mod ctaphid;
mod descriptor;
mod discovery;
mod enumeration;
mod error;
#[cfg(feature = "hidapi")]
mod hidapi_device;
mod reassembly;
mod reports;
mod transport;

pub use ctaphid::{ChannelId, InitResponse, ReportSizes, MAX_MESSAGE_SIZE, REPORT_SIZE};
pub use descriptor::DescriptorError;
pub use discovery::{DynReports, HidBackend, HidSource};
#[cfg(feature = "hidapi")]
pub use enumeration::enumerate;
pub use enumeration::{FoundDevice, HidDeviceInfo, FIDO_USAGE_CTAPHID, FIDO_USAGE_PAGE};
pub use error::HidError;
#[cfg(feature = "hidapi")]
pub use hidapi_device::{open_path, open_transport, Hidapi, HidapiDevice};
pub use reports::HidReports;
pub use transport::{HidTimeouts, HidTransport};

/// The CTAPHID wire layer (packet layout, constants, fragmentation) and the
/// reassembly state machine, reachable for the fuzz targets and for tests
/// that script a device packet by packet. Not part of the API: it changes
/// without notice.
#[doc(hidden)]
pub mod internal {
    /// CTAPHID packets, constants and fragmentation (CTAP 2.1 §11.2.4).
    pub mod ctaphid {
        pub use crate::ctaphid::*;
    }
    /// Reassembly of one channel's messages from device packets.
    pub mod reassembly {
        pub use crate::reassembly::*;
    }
}
