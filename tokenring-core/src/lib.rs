#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod auth_data;
mod authenticator;
mod cbor;
mod client;
mod client_pin;
mod cose;
pub mod discovery;
mod error;
mod get_assertion;
mod get_info;
mod make_credential;
mod pin_protocol;
mod prompt;
mod secret;
mod status;
mod transport;

pub mod testing;

pub use authenticator::{
    Authenticator, AuthenticatorInfo, CredentialId, DeriveRequest, EnrollOptions, Enrollment,
    HmacSecretOutput, Salts, TransportKind, UserEntity, UvMode, DEFAULT_RP_ID, DEFAULT_USER_ID,
};
pub use client::Ctap2Client;
pub use discovery::{
    Device, Discovery, DynAuthenticator, Found, Listing, Opened, Problem, Selector, Source,
};
pub use error::Error;
pub use get_info::GetInfoResponse;
pub use pin_protocol::PinUvAuthProtocol;
pub use prompt::{CancelFlag, KeepaliveStatus, NoPrompt, PinPurpose, PinRequest, Prompt};
pub use secret::{Pin, Secret32, SecretBytes};
pub use status::{Status, UnknownStatus};
pub use transport::{command, Reply, Transport, TransportError, TransportErrorKind, TransportInfo};

/// The wire layer (CBOR, the command modules, COSE keys, authenticator
/// data, the PIN/UV auth protocols), reachable for the fuzz targets and the
/// tests of hostile responses. Not part of the API: it changes without
/// notice.
#[doc(hidden)]
pub mod internal {
    /// Bounded CBOR decoding and canonical encoding.
    pub mod cbor {
        pub use crate::cbor::*;
    }
    /// Authenticator data (WebAuthn §6.1).
    pub mod auth_data {
        pub use crate::auth_data::*;
    }
    /// authenticatorClientPIN requests and responses (CTAP 2.1 §6.5).
    pub mod client_pin {
        pub use crate::client_pin::*;
    }
    /// COSE_Key EC2 P-256 keys.
    pub mod cose {
        pub use crate::cose::*;
    }
    /// authenticatorGetAssertion and the hmac-secret extension (§6.2, §12.5).
    pub mod get_assertion {
        pub use crate::get_assertion::*;
    }
    /// authenticatorGetInfo (§6.4).
    pub mod get_info {
        pub use crate::get_info::*;
    }
    /// authenticatorMakeCredential (§6.1).
    pub mod make_credential {
        pub use crate::make_credential::*;
    }
    /// PIN/UV auth protocols one and two (§6.5.6, §6.5.7).
    pub mod pin_protocol {
        pub use crate::pin_protocol::*;
    }
}
