//! Credentials: stateless (the id wraps the key material) and provisioned
//! (listed in the state).
//!
//! A stateless credential id is `0x01 || nonce (12) || AES-256-GCM(wrapKey,
//! nonce, flags || privateKey || CredRandom || CredRandomUv, aad =
//! rpIdHash)` (126 bytes). The wrap key is derived from the token's master
//! secret; the nonce is synthetic (an HMAC of the plaintext and RP ID hash
//! under a second derived key), so a repeated seed can never reuse a nonce
//! for a different plaintext. Any process with the same master secret
//! serves the same credentials; an id presented for another RP ID fails to
//! open.
//!
//! A personality whose product announces a smaller maxCredentialIdLength
//! gets the short form, `0x02 || nonce (12) || AES-256-GCM(wrapKey, nonce,
//! flags || privateKey, aad = rpIdHash)` (62 bytes), whose two CredRandoms
//! are derived from the master secret, the nonce and the RP ID hash.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use p256::ecdsa::SigningKey;
use p256::SecretKey;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The version byte at the front of every stateless credential id.
const CREDENTIAL_ID_VERSION: u8 = 0x01;
/// The version byte of the short form.
const SHORT_CREDENTIAL_ID_VERSION: u8 = 0x02;
/// The length of a credential id in the long form.
pub(crate) const LONG_CREDENTIAL_ID_LEN: usize = 1 + 12 + PLAINTEXT_LEN + 16;
const SHORT_PLAINTEXT_LEN: usize = 1 + 32;
/// Plaintext flag: the credential was made with `hmac-secret: true`.
const FLAG_HMAC_SECRET: u8 = 0x01;
/// Plaintext flags, bits 1–2: the credProtect level (CTAP 2.1 §12.1; 0:
/// none requested, which behaves as level 1).
const CRED_PROTECT_SHIFT: u8 = 1;
const CRED_PROTECT_MASK: u8 = 0b0000_0110;
const PLAINTEXT_LEN: usize = 1 + 32 + 32 + 32;

type HmacSha256 = Hmac<Sha256>;

/// A credential the simulator recognised: its key and CredRandoms.
pub(crate) struct Credential {
    /// The id as the platform sent it.
    pub id: Vec<u8>,
    /// The ES256 key.
    pub signing_key: SigningKey,
    /// CredRandom for assertions without UV (§12.5).
    pub cred_random: Zeroizing<[u8; 32]>,
    /// CredRandom for assertions with UV.
    pub cred_random_uv: Zeroizing<[u8; 32]>,
    /// Whether hmac-secret was enabled at creation.
    pub hmac_secret: bool,
    /// The credProtect level (CTAP 2.1 §12.1), 0 when none was requested
    /// (which behaves as 1, userVerificationOptional).
    pub cred_protect: u8,
}

/// A credential listed explicitly in the state (for vaults made elsewhere).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct ProvisionedCredential {
    /// The credential id (hex in JSON).
    #[serde(with = "hex::serde")]
    pub credential_id: Vec<u8>,
    /// The RP ID it belongs to.
    pub rp_id: String,
    /// CredRandom for assertions without UV (hex in JSON).
    #[serde(with = "hex::serde")]
    pub cred_random: [u8; 32],
    /// CredRandom for assertions with UV (hex in JSON); derived from the
    /// master secret and the id when absent.
    #[serde(
        with = "crate::optional_hex",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cred_random_uv: Option<[u8; 32]>,
    /// The credProtect level (CTAP 2.1 §12.1: 1, 2 or 3); absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cred_protect: Option<u8>,
}

impl Drop for ProvisionedCredential {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.cred_random.zeroize();
        if let Some(r) = self.cred_random_uv.as_mut() {
            r.zeroize();
        }
    }
}

impl std::fmt::Debug for ProvisionedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvisionedCredential")
            .field("credential_id", &hex::encode(&self.credential_id))
            .field("rp_id", &self.rp_id)
            .finish_non_exhaustive()
    }
}

/// Keys derived from the master secret.
pub(crate) struct WrapKeys {
    master: Zeroizing<[u8; 32]>,
}

impl WrapKeys {
    pub(crate) fn new(master: &[u8; 32]) -> Self {
        WrapKeys {
            master: Zeroizing::new(*master),
        }
    }

    fn derive(&self, label: &[u8], context: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"tokenring-sim"), self.master.as_slice());
        let mut info = label.to_vec();
        info.extend_from_slice(context);
        let ok = hk.expand(&info, out.as_mut_slice()).is_ok();
        debug_assert!(ok);
        out
    }

    /// The flags byte that leads a credential id's plaintext.
    fn flags(hmac_secret: bool, cred_protect: u8) -> u8 {
        let flags = if hmac_secret { FLAG_HMAC_SECRET } else { 0 };
        flags | ((cred_protect.min(3) << CRED_PROTECT_SHIFT) & CRED_PROTECT_MASK)
    }

    /// Seals a credential id's plaintext: the version byte, a nonce (an HMAC
    /// of the RP ID hash and the plaintext under the key `nonce_label`
    /// derives, so that the same key material gives the same id), then
    /// AES-256-GCM with the RP ID hash as associated data.
    fn seal(
        &self,
        version: u8,
        nonce_label: &[u8],
        rp_id_hash: &[u8; 32],
        plaintext: &[u8],
    ) -> Option<Vec<u8>> {
        let nonce_key = self.derive(nonce_label, &[]);
        let mut mac = <HmacSha256 as Mac>::new_from_slice(nonce_key.as_slice()).ok()?;
        mac.update(rp_id_hash);
        mac.update(plaintext);
        let tag = mac.finalize().into_bytes();
        let nonce_bytes = tag.get(..12)?;
        let key = self.derive(b"credential wrap", &[]);
        let cipher = Aes256Gcm::new_from_slice(key.as_slice()).ok()?;
        let ct = cipher
            .encrypt(
                Nonce::from_slice(nonce_bytes),
                Payload {
                    msg: plaintext,
                    aad: rp_id_hash,
                },
            )
            .ok()?;
        let mut id = vec![version];
        id.extend_from_slice(nonce_bytes);
        id.extend_from_slice(&ct);
        Some(id)
    }

    /// Opens what [`WrapKeys::seal`] made: the nonce and a plaintext of
    /// exactly `len` bytes, or `None` (not ours, not for this RP, or not of
    /// this form).
    fn open<'a>(
        &self,
        rp_id_hash: &[u8; 32],
        id: &'a [u8],
        len: usize,
    ) -> Option<(&'a [u8], Zeroizing<Vec<u8>>)> {
        let (nonce, ct) = id.get(1..)?.split_at_checked(12)?;
        let key = self.derive(b"credential wrap", &[]);
        let cipher = Aes256Gcm::new_from_slice(key.as_slice()).ok()?;
        let plaintext = Zeroizing::new(
            cipher
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: ct,
                        aad: rp_id_hash,
                    },
                )
                .ok()?,
        );
        (plaintext.len() == len).then_some((nonce, plaintext))
    }

    /// Wraps fresh key material into a credential id.
    pub(crate) fn wrap(
        &self,
        rp_id_hash: &[u8; 32],
        private_key: &SecretKey,
        cred_random: &[u8; 32],
        cred_random_uv: &[u8; 32],
        hmac_secret: bool,
        cred_protect: u8,
    ) -> Option<Vec<u8>> {
        let mut plaintext = Zeroizing::new(Vec::with_capacity(PLAINTEXT_LEN));
        plaintext.push(Self::flags(hmac_secret, cred_protect));
        plaintext.extend_from_slice(&private_key.to_bytes());
        plaintext.extend_from_slice(cred_random);
        plaintext.extend_from_slice(cred_random_uv);
        self.seal(
            CREDENTIAL_ID_VERSION,
            b"credential nonce",
            rp_id_hash,
            &plaintext,
        )
    }

    /// Wraps a fresh private key into a credential id of the short form.
    pub(crate) fn wrap_short(
        &self,
        rp_id_hash: &[u8; 32],
        private_key: &SecretKey,
        hmac_secret: bool,
        cred_protect: u8,
    ) -> Option<Vec<u8>> {
        let mut plaintext = Zeroizing::new(Vec::with_capacity(SHORT_PLAINTEXT_LEN));
        plaintext.push(Self::flags(hmac_secret, cred_protect));
        plaintext.extend_from_slice(&private_key.to_bytes());
        self.seal(
            SHORT_CREDENTIAL_ID_VERSION,
            b"short credential nonce",
            rp_id_hash,
            &plaintext,
        )
    }

    /// Opens a short-form credential id.
    fn unwrap_short(&self, rp_id_hash: &[u8; 32], id: &[u8]) -> Option<Credential> {
        let (nonce, plaintext) = self.open(rp_id_hash, id, SHORT_PLAINTEXT_LEN)?;
        let flags = *plaintext.first()?;
        let signing_key = SigningKey::from_slice(plaintext.get(1..33)?).ok()?;
        let mut context = nonce.to_vec();
        context.extend_from_slice(rp_id_hash);
        Some(Credential {
            id: id.to_vec(),
            signing_key,
            cred_random: self.derive(b"short credential cred random", &context),
            cred_random_uv: self.derive(b"short credential cred random uv", &context),
            hmac_secret: flags & FLAG_HMAC_SECRET != 0,
            cred_protect: (flags & CRED_PROTECT_MASK) >> CRED_PROTECT_SHIFT,
        })
    }

    /// Opens a stateless credential id for this RP ID hash; `None` when it
    /// is not ours (or not for this RP).
    pub(crate) fn unwrap(&self, rp_id_hash: &[u8; 32], id: &[u8]) -> Option<Credential> {
        match *id.first()? {
            SHORT_CREDENTIAL_ID_VERSION => return self.unwrap_short(rp_id_hash, id),
            CREDENTIAL_ID_VERSION => {}
            _ => return None,
        }
        let (_, plaintext) = self.open(rp_id_hash, id, PLAINTEXT_LEN)?;
        let flags = *plaintext.first()?;
        let signing_key = SigningKey::from_slice(plaintext.get(1..33)?).ok()?;
        let mut cred_random = Zeroizing::new([0u8; 32]);
        cred_random.copy_from_slice(plaintext.get(33..65)?);
        let mut cred_random_uv = Zeroizing::new([0u8; 32]);
        cred_random_uv.copy_from_slice(plaintext.get(65..97)?);
        Some(Credential {
            id: id.to_vec(),
            signing_key,
            cred_random,
            cred_random_uv,
            hmac_secret: flags & FLAG_HMAC_SECRET != 0,
            cred_protect: (flags & CRED_PROTECT_MASK) >> CRED_PROTECT_SHIFT,
        })
    }

    /// The credential for a provisioned entry: its signing key and (when
    /// not given) its UV CredRandom are derived from the master secret and
    /// the id, so they stay the same across processes.
    pub(crate) fn provisioned(&self, entry: &ProvisionedCredential) -> Option<Credential> {
        let mut counter = 0u8;
        let signing_key = loop {
            let mut context = entry.credential_id.clone();
            context.push(counter);
            let scalar = self.derive(b"provisioned signing key", &context);
            if let Ok(key) = SigningKey::from_slice(scalar.as_slice()) {
                break key;
            }
            counter = counter.checked_add(1)?;
        };
        let cred_random_uv = match entry.cred_random_uv {
            Some(v) => Zeroizing::new(v),
            None => self.derive(b"provisioned cred random uv", &entry.credential_id),
        };
        Some(Credential {
            id: entry.credential_id.clone(),
            signing_key,
            cred_random: Zeroizing::new(entry.cred_random),
            cred_random_uv,
            hmac_secret: true,
            cred_protect: entry.cred_protect.unwrap_or(0).min(3),
        })
    }
}

/// SHA-256 of an RP ID.
pub(crate) fn rp_id_hash(rp_id: &str) -> [u8; 32] {
    Sha256::digest(rp_id.as_bytes()).into()
}

impl Credential {
    /// Whether an assertion may see this credential (CTAP 2.1 §12.1):
    /// level 3 only after user verification, level 2 without UV only when
    /// the platform listed it in the allowList.
    pub(crate) fn visible(&self, user_verified: bool, from_allow_list: bool) -> bool {
        match self.cred_protect {
            3 => user_verified,
            2 => user_verified || from_allow_list,
            _ => true,
        }
    }
}
