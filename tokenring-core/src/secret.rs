//! Secret values: zeroized on drop, never `Debug`, readable only through
//! `expose_secret`, so a grep finds every place a secret is used.

use zeroize::{Zeroize, Zeroizing};

/// A 32-byte secret (an hmac-secret output, a key, a shared secret).
///
/// Zeroized on drop. Deliberately implements neither `Debug` nor `Display`
/// nor `Clone` (use [`Secret32::duplicate`] where a copy is really needed).
pub struct Secret32(Box<[u8; 32]>);

impl Secret32 {
    /// Wraps bytes; the caller should zeroize its own copy.
    pub fn new(bytes: [u8; 32]) -> Self {
        let mut boxed = Box::new([0u8; 32]);
        boxed.copy_from_slice(&bytes);
        let mut bytes = bytes;
        bytes.zeroize();
        Secret32(boxed)
    }

    /// Builds a secret from a slice that must be exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 32 {
            return None;
        }
        let mut boxed = Box::new([0u8; 32]);
        boxed.copy_from_slice(bytes);
        Some(Secret32(boxed))
    }

    /// The secret bytes. Every use is a place to review.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }

    /// An explicit copy (there is no `Clone`, so copies are visible).
    pub fn duplicate(&self) -> Self {
        let mut boxed = Box::new([0u8; 32]);
        boxed.copy_from_slice(&self.0[..]);
        Secret32(boxed)
    }
}

impl Drop for Secret32 {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl PartialEq for Secret32 {
    /// Constant-time comparison.
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.ct_eq(&*other.0).into()
    }
}

impl Eq for Secret32 {}

/// A PIN as the user typed it (UTF-8). Zeroized on drop, never printed.
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// Wraps a PIN string.
    pub fn new(pin: impl Into<String>) -> Self {
        Pin(Zeroizing::new(pin.into()))
    }

    /// The PIN text. Every use is a place to review.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl From<String> for Pin {
    fn from(s: String) -> Self {
        Pin::new(s)
    }
}

/// Bytes that are secret but of no fixed length (decrypted PIN/UV tokens,
/// plaintexts). Zeroized on drop, never printed.
pub type SecretBytes = Zeroizing<Vec<u8>>;
