#![doc = include_str!("../README.md")]

pub mod apdu;
mod cbor;
mod client_pin;
mod clock;
pub mod config;
pub mod context;
pub mod credential;
pub mod error;
pub mod faults;
mod get_assertion;
mod get_info;
mod hex_json;
pub mod hid;
mod make_credential;
pub mod pin_protocol;
pub mod pin_token;
mod request;
pub mod simulator;
pub mod state;
pub mod transport;
pub mod vpcd;

pub use client_pin::{MAX_PIN_BYTES, MIN_PIN_CODE_POINTS};
pub use config::{
    AttestationMode, BadPresence, ClockMode, PresenceAnswer, PresencePolicy, SimConfig,
};
pub use context::{DeviceContext, NoContext};
pub use credential::ProvisionedCredential;
pub use error::SimError;
pub use faults::Fault;
pub use simulator::Simulator;
pub use state::SimState;
pub use transport::SimTransport;
