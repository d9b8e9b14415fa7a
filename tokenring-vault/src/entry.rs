//! The entries of a vault: (service, user) → key handle and encrypted
//! password, in the order the file lists them (the original keeps a Python
//! dict, which preserves insertion order; replacing an entry keeps its place).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use indexmap::{Equivalent, IndexMap};
use tokenring_core::CredentialId;
use zeroize::Zeroizing;

/// The credential a key derives from: the RP ID it was made for and its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VaultCredential {
    /// The RP ID (`hardware.keychain.glyph.im` for every vault the original makes).
    pub rp_id: String,
    /// The credential id the authenticator returned at enrollment.
    pub id: CredentialId,
}

/// The original's `KeyHandle`: a credential and a 32-byte salt; the key is
/// `hmac-secret(credential, salt)`. Neither part is secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHandle {
    /// The hmac-secret salt.
    pub salt: [u8; 32],
    /// The credential (shared between the entries that use the same one).
    pub credential: Arc<VaultCredential>,
}

/// One entry as stored: its key handle and its token, kept as the file has
/// it (hex of the base64url Fernet token) and decoded only when asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// Salt and credential of the entry key.
    pub key: KeyHandle,
    /// `hex(base64url(Fernet token))` of the password's UTF-8 bytes.
    pub token: Box<str>,
}

/// A password taken out of a vault: zeroized on drop, never printed.
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Password(Zeroizing::new(password.into()))
    }

    /// The password. Every use is a place to review.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    /// Redacted: a password never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

type Name = (String, String);

/// The names of [`Entries`], borrowed, in file order.
pub(crate) type NameKeys<'a> = indexmap::map::Keys<'a, Name, StoredEntry>;

/// A borrowed (service, user) that looks up an owned one without copying.
#[derive(PartialEq, Eq)]
struct NameRef<'a>(&'a str, &'a str);

impl Hash for NameRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Hashes exactly as `(String, String)` does.
        self.0.hash(state);
        self.1.hash(state);
    }
}

impl Equivalent<Name> for NameRef<'_> {
    fn equivalent(&self, key: &Name) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

/// The entries of a vault, in file order. Their names and salts are
/// overwritten in place when the entries are dropped (a locked or
/// re-read vault forgets them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entries {
    map: IndexMap<Name, StoredEntry>,
}

impl Drop for Entries {
    fn drop(&mut self) {
        use indexmap::map::MutableKeys;
        use zeroize::Zeroize;
        for ((service, user), entry) in self.map.iter_mut2() {
            service.zeroize();
            user.zeroize();
            entry.key.salt.zeroize();
        }
    }
}

impl Entries {
    /// No entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        Entries {
            map: IndexMap::with_capacity(n),
        }
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The entry for (service, user).
    pub fn get(&self, service: &str, user: &str) -> Option<&StoredEntry> {
        self.map.get(&NameRef(service, user))
    }

    /// Whether there is an entry for (service, user).
    pub fn contains(&self, service: &str, user: &str) -> bool {
        self.map.contains_key(&NameRef(service, user))
    }

    /// Adds an entry at the end, or replaces an existing one in its place
    /// (as a Python dict does).
    pub fn insert(&mut self, service: String, user: String, entry: StoredEntry) {
        self.map.insert((service, user), entry);
    }

    /// Removes an entry, keeping the order of the others; whether there was one.
    pub fn remove(&mut self, service: &str, user: &str) -> bool {
        self.map.shift_remove(&NameRef(service, user)).is_some()
    }

    /// (service, user), borrowed, in file order.
    pub(crate) fn names(&self) -> NameKeys<'_> {
        self.map.keys()
    }

    /// (service, user, entry), in file order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str, &StoredEntry)> {
        self.map
            .iter()
            .map(|((s, u), e)| (s.as_str(), u.as_str(), e))
    }
}
