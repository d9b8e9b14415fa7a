//! Malformed and hostile responses through every public decoder: valid
//! samples truncated at every length, with every byte flipped, and
//! deterministic pseudo-random garbage. Each must give an error or a value,
//! never a panic (the fuzz target in fuzz/ does the same without bounds).

#![allow(clippy::unwrap_used)]

use ciborium::Value;
use tokenring_core::internal::auth_data::{build, flags, AuthenticatorData};
use tokenring_core::internal::cbor::{self, ResponseError};
use tokenring_core::internal::client_pin::ClientPinResponse;
use tokenring_core::internal::cose::CoseEc2Key;
use tokenring_core::internal::get_assertion::GetAssertionResponse;
use tokenring_core::internal::get_info::GetInfoResponse;
use tokenring_core::internal::make_credential::MakeCredentialResponse;

fn key() -> CoseEc2Key {
    CoseEc2Key::key_agreement(p256::SecretKey::from_slice(&[9; 32]).unwrap().public_key())
}

fn samples() -> Vec<Vec<u8>> {
    let ext = cbor::text_map([("hmac-secret", Value::Bool(true))]);
    let ad_mc = build(
        "example.org",
        flags::UP | flags::AT | flags::ED,
        Some((&[3; 64], &key())),
        Some(&ext),
    );
    let ext_ga = cbor::text_map([("hmac-secret", cbor::bytes(&[5; 48]))]);
    let ad_ga = build("example.org", flags::UP | flags::ED, None, Some(&ext_ga));
    vec![
        cbor::encode(&cbor::int_map([
            (1, Value::Array(vec![Value::Text("FIDO_2_1".into())])),
            (2, Value::Array(vec![Value::Text("hmac-secret".into())])),
            (3, cbor::bytes(&[1; 16])),
            (4, cbor::text_map([("clientPin", Value::Bool(true))])),
            (6, Value::Array(vec![Value::Integer(2.into())])),
        ]))
        .unwrap(),
        cbor::encode(&cbor::int_map([
            (1, key().to_value()),
            (3, Value::Integer(8.into())),
        ]))
        .unwrap(),
        cbor::encode(&cbor::int_map([
            (1, Value::Text("none".into())),
            (2, Value::Bytes(ad_mc.clone())),
            (3, cbor::text_map([])),
        ]))
        .unwrap(),
        cbor::encode(&cbor::int_map([
            (
                1,
                cbor::text_map([
                    ("id", cbor::bytes(&[3; 64])),
                    ("type", Value::Text("public-key".into())),
                ]),
            ),
            (2, Value::Bytes(ad_ga.clone())),
            (3, cbor::bytes(&[0; 71])),
        ]))
        .unwrap(),
        ad_mc,
        ad_ga,
    ]
}

fn every_decoder(bytes: &[u8]) {
    let _ = cbor::decode(bytes);
    let _ = GetInfoResponse::decode(bytes);
    let _ = ClientPinResponse::decode(bytes);
    let _ = MakeCredentialResponse::decode(bytes);
    let _ = GetAssertionResponse::decode(bytes);
    let _ = AuthenticatorData::decode(bytes);
    if let Ok(v) = cbor::decode(bytes) {
        let _ = CoseEc2Key::from_key_agreement(v);
    }
}

#[test]
fn samples_decode() {
    let s = samples();
    assert!(GetInfoResponse::decode(&s[0]).is_ok());
    assert!(ClientPinResponse::decode(&s[1]).is_ok());
    assert!(MakeCredentialResponse::decode(&s[2]).is_ok());
    assert!(GetAssertionResponse::decode(&s[3]).is_ok());
    assert!(AuthenticatorData::decode(&s[4]).is_ok());
}

#[test]
fn truncations_are_errors() {
    let s = samples();
    for cut in 0..s[0].len() {
        assert!(GetInfoResponse::decode(&s[0][..cut]).is_err());
    }
    for cut in 1..s[1].len() {
        assert!(ClientPinResponse::decode(&s[1][..cut]).is_err());
    }
    for cut in 0..s[2].len() {
        assert!(MakeCredentialResponse::decode(&s[2][..cut]).is_err());
    }
    for cut in 0..s[3].len() {
        assert!(GetAssertionResponse::decode(&s[3][..cut]).is_err());
    }
}

#[test]
fn every_byte_flipped_and_garbage_never_panics() {
    for sample in samples() {
        for i in 0..sample.len() {
            for mask in [0x01u8, 0x80, 0xFF] {
                let mut m = sample.clone();
                m[i] ^= mask;
                every_decoder(&m);
            }
        }
    }
    // xorshift64: deterministic garbage of every small length.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = usize::try_from(state % 96).unwrap();
        let bytes: Vec<u8> = (0..len)
            .map(|i| (state >> (i % 8 * 8)) as u8 ^ i as u8)
            .collect();
        every_decoder(&bytes);
    }
}

#[test]
fn absurd_lengths_and_nesting() {
    // authData claiming a 60000-byte credential id.
    let mut ad = build("a", flags::AT, None, None);
    ad.extend_from_slice(&[0; 16]);
    ad.extend_from_slice(&[0xEA, 0x60]);
    assert!(matches!(
        AuthenticatorData::decode(&ad),
        Err(ResponseError::BadLength { .. })
    ));
    // A map claiming 2^32 entries, an array nested 1000 deep.
    assert!(GetInfoResponse::decode(&[0xBA, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]).is_err());
    let mut deep = vec![0xA1, 0x01];
    deep.extend(std::iter::repeat_n(0x81, 1000));
    deep.push(0x00);
    assert_eq!(
        GetInfoResponse::decode(&deep).err(),
        Some(ResponseError::TooDeep)
    );
    // A 32-byte aaguid, a pinRetries of 2^64-1, a signature of 2 KiB.
    let bad = [
        cbor::int_map([(1, Value::Array(vec![])), (3, cbor::bytes(&[0; 32]))]),
        cbor::int_map([(3, Value::Integer(u64::MAX.into()))]),
    ];
    assert!(GetInfoResponse::decode(&cbor::encode(&bad[0]).unwrap()).is_err());
    assert!(ClientPinResponse::decode(&cbor::encode(&bad[1]).unwrap()).is_err());
    let big_sig = cbor::int_map([
        (2, Value::Bytes(build("a", flags::UP, None, None))),
        (3, cbor::bytes(&[0; 2048])),
    ]);
    assert!(GetAssertionResponse::decode(&cbor::encode(&big_sig).unwrap()).is_err());
}
