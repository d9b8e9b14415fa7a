#![doc = include_str!("../README.md")]

pub mod ctaphid;
pub mod reassembly;
pub mod reports;
pub mod transport;

pub use ctaphid::{ChannelId, InitResponse, MAX_MESSAGE_SIZE, REPORT_SIZE};
pub use reassembly::{Message, Progress, Reassembler, ReassemblyError};
pub use reports::HidReports;
pub use transport::{HidTimeouts, HidTransport};
