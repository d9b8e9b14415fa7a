#![doc = include_str!("../README.md")]

mod canonical;
pub mod encoding;
pub mod entry;
pub mod error;
pub mod fernet;
pub mod format;
pub mod json_text;
pub mod persist;
pub mod vault;

pub use entry::{Entries, KeyHandle, Password, StoredEntry, VaultCredential};
pub use error::{FormatError, VaultError};
pub use fernet::{FernetError, FernetKey};
pub use persist::DEFAULT_LOCK_TIMEOUT;
pub use vault::{quote_name, CreateOptions, Vault};
