//! Vault format 2: a versioned header with key slots (one per
//! authenticator, with its recorded UV and credProtect policy), a Fernet
//! envelope of compact entry records, each with its own inner Fernet
//! token. The design, every key and the threat table are in
//! `docs/vault-format-2.md`.

pub(crate) mod keys;
pub(crate) mod layout;
pub(crate) mod vault;
