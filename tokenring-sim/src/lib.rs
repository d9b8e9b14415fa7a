#![doc = include_str!("../README.md")]

mod apdu;
mod authenticator_config;
mod cbor;
mod client_pin;
mod clock;
mod config;
mod context;
mod credential;
mod discovery;
mod error;
mod faults;
mod get_assertion;
mod get_info;
mod hid;
mod make_credential;
mod optional_hex;
mod personality;
mod pin_protocol;
mod pin_token;
mod request;
mod simulator;
mod socket;
mod state;
mod transport;
mod vpcd;

pub mod testing;

pub use apdu::{GetResponseClass, SimCard, SimCardOptions};
pub use config::{
    AttestationMode, BadPresence, ClockMode, PresenceAnswer, PresencePolicy, SimConfig,
};
pub use context::{DeviceContext, NoContext};
pub use credential::ProvisionedCredential;
pub use discovery::SimSource;
pub use error::SimError;
pub use faults::Fault;
pub use hid::{SimHidConnection, SimHidDevice, SimHidGone, SimHidOptions};
pub use personality::{Personality, UnknownPersonality};
pub use simulator::Simulator;
pub use socket::{SimServerStats, SimSocketServer, SimSocketTransport, MAX_REQUEST_LEN};
pub use state::SimState;
pub use transport::SimTransport;
pub use vpcd::{serve_vpcd, serve_vpcd_card, VirtualCard, VpcdEvent, VpcdOptions};
