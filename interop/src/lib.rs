#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ctaphid_app_transport;
pub mod fido_card;
pub mod opensk_hid;
pub mod opensk_transport;
pub mod presence;
pub mod virtual_fido_authenticator;

pub use ctaphid_app_transport::{CtaphidAppTransport, MAX_MESSAGE_SIZE};
pub use fido_card::FidoCard;
pub use opensk_hid::OpenSkHidDevice;
pub use opensk_transport::{OpenSkTransport, OPENSK_POLL_MS};
pub use presence::Presence;
pub use virtual_fido_authenticator::{
    with_fido_authenticator, with_fido_card, VirtualFidoAuthenticator, USER_PRESENCE_TIMEOUT_MS,
};
