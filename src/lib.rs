#![doc = include_str!("../README.md")]

pub mod agent;
#[cfg(feature = "cargo-credential")]
pub mod cargo_credential;
pub mod devices;
pub mod error;
pub mod git_credential;
pub mod inprocess;
#[cfg(feature = "keyring")]
pub mod keyring_store;
pub mod paths;
pub mod store;
pub mod terminal;

pub use error::Error;
pub use store::SecretStore;
