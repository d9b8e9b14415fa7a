//! Shared test helpers.

#![allow(dead_code)]

pub mod hmac_authenticator;

use std::path::PathBuf;

/// `../shared` relative to the repository root (found by walking up from
/// this crate until a directory has `shared/` beside it).
pub fn shared_dir() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        if let Some(parent) = dir.parent() {
            let candidate = parent.join("shared");
            if candidate.join("fixtures").is_dir() {
                return candidate;
            }
            dir = parent.to_path_buf();
        } else {
            panic!(
                "no shared/ directory beside any ancestor of {}",
                env!("CARGO_MANIFEST_DIR")
            );
        }
    }
}

pub fn fixture(name: &str) -> PathBuf {
    shared_dir().join("fixtures").join(name)
}

pub fn bytes_of(hex: &str) -> Vec<u8> {
    tokenring_vault::internal::hex_codec::hex_decode(hex.as_bytes()).expect("hex")
}

/// CredRandom of glyph-vault-v1.json: bytes 0..31.
pub fn fixture1_cred_random() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

/// Credential id of glyph-vault-v1.json: c0ffee00 × 8.
pub fn fixture1_cred_id() -> Vec<u8> {
    [0xc0, 0xff, 0xee, 0x00].repeat(8)
}

/// CredRandom of glyph-vault-v1-future-clock.json: bytes 31..0.
pub fn fixture2_cred_random() -> [u8; 32] {
    std::array::from_fn(|i| 31 - i as u8)
}

/// Credential id of glyph-vault-v1-future-clock.json: 0badc0de × 8.
pub fn fixture2_cred_id() -> Vec<u8> {
    [0x0b, 0xad, 0xc0, 0xde].repeat(8)
}
