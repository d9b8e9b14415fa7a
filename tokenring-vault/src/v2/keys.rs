//! Format 2's key schedule (`docs/vault-format-2.md`, §3): one function
//! per derived key. HKDF is RFC 5869 with SHA-256 (`hkdf`); the key pairs
//! and seals are HPKE (RFC 9180) base mode, single shot, with
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and ChaCha20Poly1305 (`hpke`).
//! No secret leaves this module except in a zeroizing type.

use hmac::{Hmac, Mac};
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokenring_core::Secret32;
use zeroize::Zeroizing;

use super::layout::SEALED_LEN;
use crate::fernet::FernetKey;

/// Labels, used verbatim as HKDF info (or its prefix) and HPKE info.
pub const L_ENVELOPE: &[u8] = b"tokenring/vault-v2/envelope-key";
/// Header MAC key.
pub const L_HEADER: &[u8] = b"tokenring/vault-v2/header-mac-key";
/// Unlock key pair.
pub const L_UNLOCK: &[u8] = b"tokenring/vault-v2/unlock-keypair";
/// Recovery key pair.
pub const L_RECOVERY: &[u8] = b"tokenring/vault-v2/recovery-keypair";
/// Entry salts (the HKDF salt).
pub const L_ENTRY_SALT: &[u8] = b"tokenring/vault-v2/entry-salt";
/// Entry keys of owner grants.
pub const L_ENTRY_KEY: &[u8] = b"tokenring/vault-v2/entry-key";
/// The vault secret sealed to a slot's unlock key.
pub const L_SEAL_VS: &[u8] = b"tokenring/vault-v2/seal-vault-secret";
/// The vault secret sealed to a slot's recovery key.
pub const L_SEAL_VS_RECOVERY: &[u8] = b"tokenring/vault-v2/seal-vault-secret-recovery";
/// An entry key sealed to a slot's recovery key.
pub const L_SEAL_EK: &[u8] = b"tokenring/vault-v2/seal-entry-key";

/// The X25519 private key of a slot's unlock or recovery pair (zeroized on
/// drop by `hpke`).
pub type PrivateKey = <X25519HkdfSha256 as hpke::Kem>::PrivateKey;

/// A 32-byte secret held in zeroizing memory.
pub type Key32 = Zeroizing<[u8; 32]>;

/// HKDF-SHA-256 Extract-then-Expand to 32 bytes; `info` is concatenated.
pub fn hkdf(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> Key32 {
    let hk = hkdf::Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is always a valid HKDF-SHA-256 output length.
    let _ = hk.expand_multi_info(info, out.as_mut_slice());
    out
}

/// A key pair from an hmac-secret output (RFC 9180 §7.1.3 DeriveKeyPair
/// of an HKDF of the output, bound to the vault and the slot).
pub fn key_pair(
    vault_id: &[u8; 16],
    output: &Secret32,
    label: &[u8],
    slot: u8,
) -> (PrivateKey, [u8; 32]) {
    let ikm = hkdf(vault_id, output.expose_secret(), &[label, &[slot]]);
    let (sk, pk) = X25519HkdfSha256::derive_keypair(ikm.as_slice());
    let mut public = [0u8; 32];
    public.copy_from_slice(&pk.to_bytes());
    (sk, public)
}

fn seal_info(label: &[u8], vault_id: &[u8; 16], slot: u8) -> Vec<u8> {
    let mut info = Vec::with_capacity(label.len() + 17);
    info.extend_from_slice(label);
    info.extend_from_slice(vault_id);
    info.push(slot);
    info
}

/// Seals a 32-byte key to a public key: `enc (32) ‖ ciphertext+tag (48)`.
pub fn seal(
    public: &[u8; 32],
    label: &[u8],
    vault_id: &[u8; 16],
    slot: u8,
    aad: &[u8],
    key: &[u8; 32],
) -> Option<[u8; SEALED_LEN]> {
    let pk = <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(public).ok()?;
    let info = seal_info(label, vault_id, slot);
    let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256, _>(
        &OpModeS::Base,
        &pk,
        &info,
        key,
        aad,
        &mut rand_core::OsRng,
    )
    .ok()?;
    let mut out = [0u8; SEALED_LEN];
    let enc = enc.to_bytes();
    if enc.len() != 32 || ct.len() != 48 {
        return None;
    }
    out[..32].copy_from_slice(&enc);
    out[32..].copy_from_slice(&ct);
    Some(out)
}

/// Opens a seal made by [`seal`]; `None` on any failure (opaque).
pub fn open(
    private: &PrivateKey,
    sealed: &[u8; SEALED_LEN],
    label: &[u8],
    vault_id: &[u8; 16],
    slot: u8,
    aad: &[u8],
) -> Option<Key32> {
    let enc = <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(&sealed[..32]).ok()?;
    let info = seal_info(label, vault_id, slot);
    let plain = Zeroizing::new(
        hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
            &OpModeR::Base,
            private,
            &enc,
            &info,
            &sealed[32..],
            aad,
        )
        .ok()?,
    );
    let mut out = Zeroizing::new([0u8; 32]);
    if plain.len() != 32 {
        return None;
    }
    out.copy_from_slice(&plain);
    Some(out)
}

/// The envelope's Fernet key.
pub fn envelope_key(vault_id: &[u8; 16], vs: &[u8; 32]) -> FernetKey {
    let k = hkdf(vault_id, vs, &[L_ENVELOPE]);
    FernetKey::from_secret(&Secret32::new(*k))
}

/// The header MAC key.
pub fn header_key(vault_id: &[u8; 16], vs: &[u8; 32]) -> Key32 {
    hkdf(vault_id, vs, &[L_HEADER])
}

/// HMAC-SHA-256 of the signed header bytes.
pub fn header_mac(key: &[u8; 32], signed: &[u8]) -> [u8; 32] {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC takes keys of any length.
        Err(_) => return [0u8; 32],
    };
    mac.update(signed);
    mac.finalize().into_bytes().into()
}

/// Constant-time equality of two MACs.
pub fn mac_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

/// The hmac-secret salt of an entry on a slot (derived from the name, so
/// it is known before the envelope is open).
pub fn entry_salt(entry_seed: &[u8; 32], name: &[u8]) -> [u8; 32] {
    *hkdf(L_ENTRY_SALT, entry_seed, &[name])
}

/// The entry key of an owner grant: HKDF of the owner's output with the
/// record's nonce.
pub fn owner_entry_key(nonce: &[u8; 16], output: &Secret32) -> FernetKey {
    let k = hkdf(nonce, output.expose_secret(), &[L_ENTRY_KEY]);
    FernetKey::from_secret(&Secret32::new(*k))
}

/// The raw bytes of an owner grant's entry key (to seal it).
pub fn owner_entry_key_bytes(nonce: &[u8; 16], output: &Secret32) -> Key32 {
    hkdf(nonce, output.expose_secret(), &[L_ENTRY_KEY])
}

/// A Fernet key from 32 raw bytes.
pub fn fernet(bytes: &[u8; 32]) -> FernetKey {
    FernetKey::from_secret(&Secret32::new(*bytes))
}
