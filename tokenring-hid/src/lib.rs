#![doc = include_str!("../README.md")]

pub mod ctaphid;
pub mod discovery;
pub mod enumeration;
pub mod error;
#[cfg(feature = "hidapi")]
pub mod hidapi_device;
pub mod reassembly;
pub mod reports;
pub mod transport;

pub use ctaphid::{ChannelId, InitResponse, MAX_MESSAGE_SIZE, REPORT_SIZE};
pub use discovery::{DynReports, HidBackend, HidSource};
#[cfg(feature = "hidapi")]
pub use enumeration::enumerate;
pub use enumeration::{FoundDevice, HidDeviceInfo, FIDO_USAGE_PAGE};
pub use error::HidError;
#[cfg(feature = "hidapi")]
pub use hidapi_device::{open_path, open_transport, Hidapi, HidapiDevice};
pub use reassembly::{Message, Progress, Reassembler, ReassemblyError};
pub use reports::HidReports;
pub use transport::{HidTimeouts, HidTransport};
