#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod auth_data;
pub mod authenticator;
pub mod cbor;
pub mod client;
pub mod client_pin;
pub mod cose;
pub mod counting;
pub mod discovery;
pub mod error;
pub mod get_assertion;
pub mod get_info;
pub mod make_credential;
pub mod pin_protocol;
pub mod prompt;
pub mod secret;
mod status;
pub mod transport;

pub use authenticator::{
    Authenticator, AuthenticatorInfo, CredentialId, DeriveRequest, HmacSecretOutput, Salts,
    TransportKind, UserEntity, UvMode, DEFAULT_RP_ID, DEFAULT_USER_ID,
};
pub use client::Ctap2Client;
pub use counting::CountingTransport;
pub use discovery::{
    Device, Discovery, DynAuthenticator, Found, Listing, Opened, Problem, Selector, Source,
};
pub use error::Error;
pub use pin_protocol::{KeyAgreement, PinUvAuthProtocol, PinUvAuthToken, SharedSecret};
pub use prompt::{
    CancelFlag, KeepaliveStatus, NoPrompt, PinPurpose, PinRequest, Prompt, PromptEvent,
    ScriptedPrompt,
};
pub use secret::{Pin, Secret32, SecretBytes};
pub use status::{Status, UnknownStatus};
pub use transport::{Reply, Transport, TransportError, TransportErrorKind, TransportInfo};
