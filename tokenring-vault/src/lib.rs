#![doc = include_str!("../README.md")]

mod canonical_reader;
mod entry;
mod error;
mod fernet;
mod format;
mod handle;
mod hex_codec;
mod persist;
mod python_json;
mod seen;
mod v2;
mod vault;

pub use entry::{Password, VaultCredential};
pub use error::{FormatError, LinkProblem, VaultError};
pub use handle::{Format, NameIter, Names, OpenOptions, Vault};
pub use persist::{VaultLock, DEFAULT_LOCK_TIMEOUT};
pub use seen::SeenStore;
pub use v2::vault::{KeyOptions, KeySlot, VaultWarning};
pub use vault::{quote_name, CreateOptions};

/// The file format (both readers and the writer), Fernet and the hex codecs,
/// reachable for the fuzz targets and for tests that build or take apart
/// vault files by hand. Not part of the API: it changes without notice.
#[doc(hidden)]
pub mod internal {
    /// The v1 file format: the outer file and the entry list, read and written.
    pub mod format {
        pub use crate::entry::{Entries, KeyHandle, StoredEntry};
        pub use crate::format::*;
    }
    /// Fernet tokens (the Fernet specification).
    pub mod fernet {
        pub use crate::fernet::*;
    }
    /// The format-2 layout (header, slots, entry records) and key schedule.
    pub mod format2 {
        pub use crate::v2::keys::*;
        pub use crate::v2::layout::*;
    }
    /// Hex and hex-of-base64url, table-driven.
    pub mod hex_codec {
        pub use crate::hex_codec::*;
    }
}
