//! authenticatorGetAssertion (CTAP 2.1 §6.2) with the hmac-secret
//! extension (§12.5): the request, the extension input (keyAgreement,
//! saltEnc, saltAuth, pinUvAuthProtocol), and the decoded response with
//! the decrypted output.

use ciborium::Value;

use crate::auth_data::{AuthenticatorData, MAX_CREDENTIAL_ID_LEN};
use crate::cbor::{self, IntMap, ResponseError};
use crate::pin_protocol::{KeyAgreement, PinUvAuthProtocol};
use crate::{Error, HmacSecretOutput, Salts, Secret32};

/// The hmac-secret extension input (§12.5, "authenticatorGetAssertion
/// additional behaviors"): `{1: keyAgreement, 2: saltEnc, 3: saltAuth,
/// 4: pinUvAuthProtocol}`.
pub struct HmacSecretInput {
    value: Value,
    salt_count: usize,
}

impl HmacSecretInput {
    /// saltEnc = encrypt(sharedSecret, salt1 (‖ salt2)),
    /// saltAuth = authenticate(sharedSecret, saltEnc). pinUvAuthProtocol is
    /// sent when it is not 1 (§12.5: "CTAP2.1 platforms MUST include this
    /// parameter if the value of pinUvAuthProtocol is not 1"), so CTAP 2.0
    /// authenticators, which know no key 4, keep working with protocol one.
    pub fn new(
        ka: &KeyAgreement,
        salts: &Salts,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<Self, Error> {
        let (plain, salt_count) = match salts {
            Salts::One(a) => (a.to_vec(), 1),
            Salts::Two(a, b) => ([&a[..], &b[..]].concat(), 2),
        };
        let shared = ka.shared_secret();
        let salt_enc = shared.encrypt(&plain, rng)?;
        let salt_auth = shared.authenticate(&salt_enc);
        let mut entries = vec![
            (0x01, ka.platform_key().to_value()),
            (0x02, cbor::bytes(&salt_enc)),
            (0x03, cbor::bytes(&salt_auth)),
        ];
        if shared.protocol() != PinUvAuthProtocol::One {
            entries.push((0x04, Value::Integer(shared.protocol().number().into())));
        }
        Ok(HmacSecretInput {
            value: cbor::int_map(entries),
            salt_count,
        })
    }

    /// The CBOR map sent as the extension's value.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// How many salts were sent.
    pub fn salt_count(&self) -> usize {
        self.salt_count
    }
}

/// Decrypts the hmac-secret output of an assertion (§12.5): the extension
/// value must be a byte string of encrypt(sharedSecret, output1 (‖ output2)),
/// i.e. 32/64 bytes for protocol one, 48/80 for protocol two.
pub fn decrypt_hmac_secret_output(
    ka: &KeyAgreement,
    auth_data: &AuthenticatorData,
    salt_count: usize,
) -> Result<HmacSecretOutput, ResponseError> {
    decrypt_extension_output(ka, auth_data, "hmac-secret", salt_count)
}

/// Decrypts the hmac-secret outputs carried by the extension `name` of
/// the authenticator data: `hmac-secret` in an assertion, `hmac-secret-mc`
/// in a new credential's (CTAP 2.2 §12.8, the same encoding).
pub fn decrypt_extension_output(
    ka: &KeyAgreement,
    auth_data: &AuthenticatorData,
    name: &str,
    salt_count: usize,
) -> Result<HmacSecretOutput, ResponseError> {
    let value = auth_data
        .extension(name)
        .ok_or(ResponseError::Missing("hmac-secret extension output"))?;
    let Value::Bytes(enc) = value else {
        return Err(ResponseError::WrongType {
            field: "hmac-secret output",
            expected: "a byte string",
        });
    };
    let shared = ka.shared_secret();
    let expected = shared.protocol().ciphertext_len(32 * salt_count);
    if enc.len() != expected {
        return Err(ResponseError::BadLength {
            field: "hmac-secret output",
            len: enc.len(),
            expected: "32 bytes per salt (plus a 16-byte IV for protocol two)",
        });
    }
    let plain = shared.decrypt(enc)?;
    let first = plain
        .get(..32)
        .and_then(Secret32::from_slice)
        .ok_or(ResponseError::Missing("hmac-secret output1"))?;
    let second = if salt_count == 2 {
        Some(
            plain
                .get(32..64)
                .and_then(Secret32::from_slice)
                .ok_or(ResponseError::Missing("hmac-secret output2"))?,
        )
    } else {
        None
    };
    Ok(HmacSecretOutput { first, second })
}

/// An authenticatorGetAssertion request (§6.2, parameters 0x01–0x07).
pub struct GetAssertionRequest<'a> {
    /// rpId (0x01).
    pub rp_id: &'a str,
    /// clientDataHash (0x02).
    pub client_data_hash: [u8; 32],
    /// allowList (0x03): credential ids.
    pub allow_list: &'a [&'a [u8]],
    /// extensions (0x04) `{"hmac-secret": …}`.
    pub hmac_secret: Option<&'a HmacSecretInput>,
    /// options.up (0x05); `None` leaves the default (true).
    pub up: Option<bool>,
    /// options.uv (0x05): only for CTAP 2.0 built-in UV; never sent
    /// together with a pinUvAuthParam.
    pub uv: bool,
    /// pinUvAuthParam (0x06) and pinUvAuthProtocol (0x07).
    pub pin_uv_auth: Option<(Vec<u8>, PinUvAuthProtocol)>,
}

impl GetAssertionRequest<'_> {
    /// The canonical CBOR request body.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut entries = vec![
            (0x01, Value::Text(self.rp_id.to_string())),
            (0x02, cbor::bytes(&self.client_data_hash)),
        ];
        if !self.allow_list.is_empty() {
            entries.push((
                0x03,
                Value::Array(
                    self.allow_list
                        .iter()
                        .map(|id| {
                            cbor::text_map([
                                ("id", cbor::bytes(id)),
                                ("type", Value::Text("public-key".into())),
                            ])
                        })
                        .collect(),
                ),
            ));
        }
        if let Some(input) = self.hmac_secret {
            entries.push((0x04, cbor::text_map([("hmac-secret", input.value.clone())])));
        }
        let mut options = Vec::new();
        if let Some(up) = self.up {
            options.push(("up", Value::Bool(up)));
        }
        // Never `uv: true` together with a pinUvAuthParam.
        if self.uv && self.pin_uv_auth.is_none() {
            options.push(("uv", Value::Bool(true)));
        }
        if !options.is_empty() {
            entries.push((0x05, cbor::text_map(options)));
        }
        if let Some((param, protocol)) = &self.pin_uv_auth {
            entries.push((0x06, cbor::bytes(param)));
            entries.push((0x07, Value::Integer(protocol.number().into())));
        }
        cbor::encode(&cbor::int_map(entries))
    }
}

/// An authenticatorGetAssertion response (§6.2, response 0x01–0x05).
#[derive(Debug, Clone, PartialEq)]
pub struct GetAssertionResponse {
    /// credential (0x01): the id of the credential used (may be omitted
    /// when the allowList had exactly one entry).
    pub credential_id: Option<Vec<u8>>,
    /// authData (0x02), decoded.
    pub auth_data: AuthenticatorData,
    /// signature (0x03).
    pub signature: Vec<u8>,
    /// numberOfCredentials (0x05).
    pub number_of_credentials: Option<u64>,
}

impl GetAssertionResponse {
    /// Decodes a response body.
    pub fn decode(body: &[u8]) -> Result<Self, ResponseError> {
        let mut map = IntMap::decode(body, "getAssertion response")?;
        let credential_id = match map.take(0x01) {
            Some(descriptor) => {
                let mut id = None;
                for (k, v) in cbor::into_text_map(descriptor, "credential")? {
                    if k == "id" {
                        let bytes = cbor::into_bytes(v, "credential id", MAX_CREDENTIAL_ID_LEN)?;
                        id = Some(bytes);
                    }
                }
                Some(id.ok_or(ResponseError::Missing("credential id"))?)
            }
            None => None,
        };
        let auth_data = cbor::into_bytes(map.require(0x02, "authData")?, "authData", 4096)?;
        let auth_data = AuthenticatorData::decode(&auth_data)?;
        // An ES256 DER signature is at most 72 bytes; allow other algorithms room.
        let signature = cbor::into_bytes(map.require(0x03, "signature")?, "signature", 1024)?;
        let number_of_credentials = match map.take(0x05) {
            Some(v) => Some(cbor::as_u64(&v, "numberOfCredentials")?),
            None => None,
        };
        Ok(GetAssertionResponse {
            credential_id,
            auth_data,
            signature,
            number_of_credentials,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth_data::{build, flags};
    use crate::cose::CoseEc2Key;
    use rand_core::OsRng;

    fn agreement(protocol: PinUvAuthProtocol) -> KeyAgreement {
        let token_key = p256::SecretKey::from_slice(&[3u8; 32]).unwrap();
        KeyAgreement::encapsulate(
            protocol,
            &CoseEc2Key::key_agreement(token_key.public_key()),
            &mut OsRng,
        )
    }

    #[test]
    fn input_map_shape() {
        for (protocol, auth_len, has_4) in [
            (PinUvAuthProtocol::One, 16, false),
            (PinUvAuthProtocol::Two, 32, true),
        ] {
            let ka = agreement(protocol);
            let input =
                HmacSecretInput::new(&ka, &Salts::Two([1; 32], [2; 32]), &mut OsRng).unwrap();
            let mut map = IntMap::from_value(input.value.clone(), "in").unwrap();
            let enc = cbor::into_bytes(map.require(2, "e").unwrap(), "e", 100).unwrap();
            assert_eq!(enc.len(), protocol.ciphertext_len(64));
            let auth = cbor::into_bytes(map.require(3, "a").unwrap(), "a", 100).unwrap();
            assert_eq!(auth.len(), auth_len);
            assert!(ka.shared_secret().verify(&enc, &auth));
            assert_eq!(map.get(4).is_some(), has_4);
            assert_eq!(&ka.shared_secret().decrypt(&enc).unwrap()[..32], &[1; 32]);
        }
    }

    #[test]
    fn output_lengths_are_checked() {
        for protocol in PinUvAuthProtocol::SUPPORTED {
            let ka = agreement(protocol);
            for (len, salts, ok) in [
                (32usize, 1usize, true),
                (64, 2, true),
                (64, 1, false),
                (48, 1, false),
                (0, 1, false),
            ] {
                let enc = ka
                    .shared_secret()
                    .encrypt(&vec![9u8; len], &mut OsRng)
                    .unwrap();
                let ext = cbor::text_map([("hmac-secret", Value::Bytes(enc))]);
                let ad =
                    AuthenticatorData::decode(&build("a", flags::UP | flags::ED, None, Some(&ext)))
                        .unwrap();
                let out = decrypt_hmac_secret_output(&ka, &ad, salts);
                assert_eq!(out.is_ok(), ok, "{protocol:?} {len} {salts}");
                if let Ok(out) = out {
                    assert_eq!(out.first.expose_secret(), &[9u8; 32]);
                    assert_eq!(out.second.is_some(), salts == 2);
                }
            }
            let ad = AuthenticatorData::decode(&build("a", flags::UP, None, None)).unwrap();
            assert!(decrypt_hmac_secret_output(&ka, &ad, 1).is_err());
            let ext = cbor::text_map([("hmac-secret", Value::Bool(true))]);
            let ad =
                AuthenticatorData::decode(&build("a", flags::UP | flags::ED, None, Some(&ext)))
                    .unwrap();
            assert!(decrypt_hmac_secret_output(&ka, &ad, 1).is_err());
        }
    }

    #[test]
    fn hostile_responses() {
        let ad = build("a", flags::UP, None, None);
        let good = cbor::encode(&cbor::int_map([
            (
                1,
                cbor::text_map([
                    ("id", cbor::bytes(&[1; 16])),
                    ("type", Value::Text("public-key".into())),
                ]),
            ),
            (2, Value::Bytes(ad.clone())),
            (3, cbor::bytes(&[0; 70])),
        ]))
        .unwrap();
        let resp = GetAssertionResponse::decode(&good).unwrap();
        assert_eq!(resp.credential_id, Some(vec![1; 16]));
        for cut in 0..good.len() {
            assert!(GetAssertionResponse::decode(&good[..cut]).is_err());
        }
        let huge_id = cbor::encode(&cbor::int_map([
            (1, cbor::text_map([("id", cbor::bytes(&[1; 2000]))])),
            (2, Value::Bytes(ad.clone())),
            (3, cbor::bytes(&[0; 70])),
        ]))
        .unwrap();
        assert!(GetAssertionResponse::decode(&huge_id).is_err());
        let wrong_type = cbor::encode(&cbor::int_map([
            (2, Value::Text("authData".into())),
            (3, cbor::bytes(&[0; 70])),
        ]))
        .unwrap();
        assert!(GetAssertionResponse::decode(&wrong_type).is_err());
    }
}
