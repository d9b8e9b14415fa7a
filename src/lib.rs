#![doc = include_str!("../README.md")]

pub mod error;
pub mod paths;
pub mod store;

pub use error::Error;
pub use store::SecretStore;
