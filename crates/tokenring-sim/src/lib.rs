#![doc = include_str!("../README.md")]

pub mod config;
pub mod context;
pub mod simulator;
pub mod status;

pub use config::{AttestationMode, ClockMode, PresenceAnswer, PresencePolicy, SimConfig};
pub use context::{DeviceContext, NoContext};
pub use simulator::Simulator;
