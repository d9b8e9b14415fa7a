//! An authenticator that answers at once with the function a FIDO2 token
//! computes for hmac-secret: `HMAC-SHA-256(CredRandom, salt)`. For tests and
//! the benchmark only: it protects nothing.

#![allow(dead_code)]

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokenring_core::{
    Authenticator, AuthenticatorInfo, CredentialId, DeriveRequest, Error, HmacSecretOutput, Prompt,
    Salts, Secret32, TransportKind, UserEntity, UvMode,
};

/// One credential: its id, RP ID and the CredRandoms without and with UV.
pub struct TestCredential {
    pub id: Vec<u8>,
    pub rp_id: String,
    pub cred_random: [u8; 32],
    pub cred_random_uv: [u8; 32],
}

/// Answers derivations for known credentials, `NoCredentials` otherwise.
pub struct HmacAuthenticator {
    pub credentials: Vec<TestCredential>,
    pub info: AuthenticatorInfo,
    /// Every derivation: (purpose, uv), while `record` is true.
    pub derivations: Vec<(String, UvMode)>,
    /// Whether to record derivations (the benchmark turns it off).
    pub record: bool,
    pub enrollments: usize,
}

pub fn hmac_sha256(key: &[u8; 32], salt: &[u8; 32]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(salt);
    mac.finalize().into_bytes().into()
}

impl HmacAuthenticator {
    /// No credentials yet; `enroll` makes them.
    pub fn new() -> Self {
        HmacAuthenticator {
            credentials: Vec::new(),
            info: AuthenticatorInfo {
                name: "HMAC test authenticator".into(),
                transport: TransportKind::Sim,
                path: "test".into(),
                aaguid: [0; 16],
                versions: vec!["FIDO_2_1".into()],
                hmac_secret: true,
                client_pin: Some(false),
                built_in_uv: None,
                always_uv: false,
                make_cred_uv_not_required: true,
                pin_uv_auth_protocols: vec![2, 1],
                extensions: vec!["hmac-secret".into()],
            },
            derivations: Vec::new(),
            record: true,
            enrollments: 0,
        }
    }

    /// An authenticator whose next enrollment makes the `n`-th credential
    /// of the sequence `enroll` follows (id `7·i + n`, CredRandom `n + 1`),
    /// holding nothing a vault knows (placeholders with other ids).
    pub fn enrolling_as(n: u8) -> Self {
        let mut a = Self::new();
        for k in 0..n {
            a.credentials.push(TestCredential {
                id: vec![0xee, k],
                rp_id: String::new(),
                cred_random: [0xee; 32],
                cred_random_uv: [0xef; 32],
            });
        }
        a
    }

    /// One credential with a known id and CredRandom (as in the fixtures).
    pub fn with_credential(id: &[u8], rp_id: &str, cred_random: [u8; 32]) -> Self {
        let mut a = Self::new();
        let mut uv = cred_random;
        uv.reverse();
        uv[0] ^= 0x5a;
        a.credentials.push(TestCredential {
            id: id.to_vec(),
            rp_id: rp_id.to_string(),
            cred_random,
            cred_random_uv: uv,
        });
        a
    }
}

impl Authenticator for HmacAuthenticator {
    fn describe(&mut self) -> Result<AuthenticatorInfo, Error> {
        Ok(self.info.clone())
    }

    fn enroll(
        &mut self,
        rp_id: &str,
        _user: &UserEntity,
        _prompt: &dyn Prompt,
    ) -> Result<CredentialId, Error> {
        self.enrollments += 1;
        let n = self.credentials.len() as u8;
        let id: Vec<u8> = (0..32u8)
            .map(|i| i.wrapping_mul(7).wrapping_add(n))
            .collect();
        let cred_random = [n.wrapping_add(1); 32];
        let cred_random_uv = [n.wrapping_add(101); 32];
        self.credentials.push(TestCredential {
            id: id.clone(),
            rp_id: rp_id.to_string(),
            cred_random,
            cred_random_uv,
        });
        Ok(CredentialId(id))
    }

    fn derive(
        &mut self,
        request: &DeriveRequest<'_>,
        prompt: &dyn Prompt,
    ) -> Result<HmacSecretOutput, Error> {
        let cred = self
            .credentials
            .iter()
            .find(|c| c.id == request.credential.0 && c.rp_id == request.rp_id)
            .ok_or(Error::NoCredentials)?;
        if request.uv == UvMode::PresenceOnly && self.info.always_uv {
            return Err(Error::UvRequired);
        }
        prompt.touch_needed(request.purpose);
        if self.record {
            self.derivations
                .push((request.purpose.to_string(), request.uv));
        }
        let random = match request.uv {
            UvMode::PresenceOnly => &cred.cred_random,
            UvMode::Verified => &cred.cred_random_uv,
        };
        let (first, second) = match request.salts {
            Salts::One(s) => (hmac_sha256(random, &s), None),
            Salts::Two(a, b) => (
                hmac_sha256(random, &a),
                Some(Secret32::new(hmac_sha256(random, &b))),
            ),
        };
        prompt.touch_done();
        Ok(HmacSecretOutput {
            first: Secret32::new(first),
            second,
        })
    }

    fn probe(&mut self, credential: &CredentialId, rp_id: &str) -> Result<bool, Error> {
        Ok(self
            .credentials
            .iter()
            .any(|c| c.id == credential.0 && c.rp_id == rp_id))
    }

    fn select(&mut self, _prompt: &dyn Prompt) -> Result<(), Error> {
        Ok(())
    }
}
