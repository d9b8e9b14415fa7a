//! CBOR answers of real Yubico keys and PIN protocol one known answers from
//! python-fido2's tests (see `tests/data/README.md`) through our response
//! parsers and PIN/UV auth protocol: each decodes to what the recording
//! implies, as python-fido2's own tests read it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;

use ciborium::Value;
use tokenring_core::internal::cbor;
use tokenring_core::internal::client_pin::{self, ClientPinResponse};
use tokenring_core::internal::cose::{public_key_from_coordinates, CoseEc2Key};
use tokenring_core::internal::get_assertion::GetAssertionResponse;
use tokenring_core::internal::get_info::GetInfoResponse;
use tokenring_core::internal::make_credential::MakeCredentialResponse;
use tokenring_core::internal::pin_protocol::{KeyAgreement, PinUvAuthProtocol};
use tokenring_core::Pin;

fn data(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/python-fido2")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The CBOR body of a `.hex` recording (its one line that is not a comment).
fn body(name: &str) -> Vec<u8> {
    let text = data(name);
    let line = text
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .expect("a line of hex");
    hex::decode(line.trim()).unwrap()
}

#[test]
fn get_info_of_a_ctap_2_0_security_key() {
    for name in [
        "get_info_security_key_ctap20.hex",
        // The same with an unknown key 99 = 1234, which must be ignored.
        "get_info_extra_key.hex",
    ] {
        let info = GetInfoResponse::decode(&body(name)).unwrap();
        assert_eq!(info.versions, ["U2F_V2", "FIDO_2_0"], "{name}");
        assert_eq!(info.extensions, ["uvm", "hmac-secret"]);
        assert_eq!(hex::encode(info.aaguid), "f8a011f38c0a4d15800617111f9edc7d");
        assert_eq!(
            info.options,
            [
                ("rk".to_string(), true),
                ("up".to_string(), true),
                ("plat".to_string(), false),
                ("clientPin".to_string(), false),
            ]
        );
        assert_eq!(info.max_msg_size, Some(1200));
        assert_eq!(info.pin_uv_auth_protocols, vec![1]);
        assert_eq!(info.max_credential_count_in_list, None);
        assert!(!info.force_pin_change);
        assert!(!info.is_ctap21());
        assert!(info.has_hmac_secret());
    }
}

#[test]
fn make_credential_of_a_yubico_key() {
    for name in [
        "make_credential_yubico.hex",
        // The same with authData's length in two bytes instead of one (not
        // canonical CBOR): python-fido2 reads it, so do we.
        "make_credential_noncanonical_length.hex",
    ] {
        let resp = MakeCredentialResponse::decode(&body(name)).unwrap();
        assert_eq!(resp.fmt, "packed", "{name}");
        let ad = &resp.auth_data;
        assert_eq!(
            hex::encode(&ad.rp_id_hash[..8]),
            "0021f5fc0b85cd22",
            "{name}"
        );
        assert_eq!(ad.flags, 0x41);
        assert!(ad.user_present() && !ad.user_verified());
        assert_eq!(ad.sign_count, 28);
        let attested = ad.attested_credential.as_ref().expect("attested");
        assert_eq!(
            hex::encode(attested.aaguid),
            "f8a011f38c0a4d15800617111f9edc7d"
        );
        assert_eq!(attested.credential_id.len(), 64);
        assert!(hex::encode(&attested.credential_id).starts_with("fe3aac03"));
        let (x, y) = attested.public_key.coordinates();
        assert!(hex::encode(x).starts_with("643566c2"));
        assert!(hex::encode(y).starts_with("171353b2"));
        assert!(ad.extensions.is_empty());
        let statement = match &resp.att_stmt {
            Value::Map(entries) => entries,
            other => panic!("attStmt {other:?}"),
        };
        let get = |key: &str| {
            statement
                .iter()
                .find(|(k, _)| k.as_text() == Some(key))
                .map(|(_, v)| v)
        };
        assert_eq!(get("alg"), Some(&Value::Integer((-7).into())));
        assert_eq!(get("sig").and_then(Value::as_bytes).map(Vec::len), Some(72));
        assert_eq!(get("x5c").and_then(Value::as_array).map(Vec::len), Some(1));
    }
    let resp = MakeCredentialResponse::decode(&body("make_credential_packed_preview.hex")).unwrap();
    assert_eq!(resp.fmt, "packed");
    assert_eq!(resp.auth_data.flags, 0x41);
    assert_eq!(resp.auth_data.sign_count, 3);
    let attested = resp
        .auth_data
        .attested_credential
        .as_ref()
        .expect("attested");
    assert!(hex::encode(&attested.credential_id).starts_with("60a38620"));
}

#[test]
fn get_assertion_of_a_yubico_key() {
    let resp = GetAssertionResponse::decode(&body("get_assertion_yubico.hex")).unwrap();
    let id = resp.credential_id.as_deref().expect("credential id");
    assert_eq!(id.len(), 64);
    assert!(hex::encode(id).starts_with("fe3aac03"));
    let ad = &resp.auth_data;
    assert_eq!(hex::encode(&ad.rp_id_hash[..8]), "0021f5fc0b85cd22");
    assert_eq!(ad.flags, 0x01);
    assert_eq!(ad.sign_count, 29);
    assert!(ad.attested_credential.is_none());
    assert_eq!(resp.signature.len(), 70);
    assert!(hex::encode(&resp.signature).starts_with("304402206765"));
    // No numberOfCredentials (0x05), as python-fido2's test has it.
    assert_eq!(resp.number_of_credentials, None);
}

/// python-fido2's `TestClientPin` vectors: the shared secret from the two
/// keys, the 16-byte pinToken a CTAP 2.0 key hands out, and the setPIN,
/// changePIN and pinHashEnc parameters our protocol one computes.
#[test]
fn pin_protocol_one_known_answers() {
    let text = data("client_pin_protocol_one_vectors.txt");
    let v: HashMap<&str, Vec<u8>> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, val)| (k.trim(), hex::decode(val.trim()).unwrap()))
        .collect();
    let a32 = |k: &str| -> [u8; 32] { v[k].clone().try_into().unwrap() };
    let device = public_key_from_coordinates(&a32("DEV_PUB_X"), &a32("DEV_PUB_Y")).unwrap();
    let platform = p256::SecretKey::from_slice(&v["EC_PRIV"]).unwrap();
    let ka = KeyAgreement::with_secret(
        PinUvAuthProtocol::One,
        &CoseEc2Key::key_agreement(device),
        &platform,
    );
    assert_eq!(
        ka.platform_key().coordinates(),
        (a32("EC_PUB_X"), a32("EC_PUB_Y"))
    );
    assert_eq!(ka.shared_secret().expose_secret(), &v["SHARED"][..]);

    // The encrypted pinToken decrypts to a 16-byte token, which we accept.
    let answer = cbor::encode(&cbor::int_map([(2, cbor::bytes(&v["TOKEN_ENC"]))])).unwrap();
    let token = ClientPinResponse::decode(&answer)
        .unwrap()
        .decrypt_token(&ka)
        .expect("a 16-byte token is accepted");
    assert_eq!(
        token.authenticate(b"message"),
        tokenring_core::internal::pin_protocol::authenticate(
            PinUvAuthProtocol::One,
            &v["TOKEN"],
            b"message"
        )
    );

    // Protocol one has no IV: every request below is deterministic.
    let mut rng = rand_core::OsRng;
    let get_token = client_pin::get_pin_token(&ka, &Pin::new("1234"), &mut rng).unwrap();
    assert_eq!(
        get_token.pin_hash_enc.as_deref(),
        Some(&v["PIN_HASH_ENC_1234"][..])
    );
    let set = client_pin::set_pin(&ka, &Pin::new("1234"), &mut rng).unwrap();
    assert_eq!(
        set.new_pin_enc.as_deref(),
        Some(&v["SET_PIN_NEW_PIN_ENC"][..])
    );
    assert_eq!(
        set.pin_uv_auth_param.as_deref(),
        Some(&v["SET_PIN_PARAM"][..])
    );
    let change =
        client_pin::change_pin(&ka, &Pin::new("1234"), &Pin::new("4321"), &mut rng).unwrap();
    assert_eq!(
        change.new_pin_enc.as_deref(),
        Some(&v["CHANGE_PIN_NEW_PIN_ENC"][..])
    );
    assert_eq!(
        change.pin_hash_enc.as_deref(),
        Some(&v["CHANGE_PIN_HASH_ENC"][..])
    );
    assert_eq!(
        change.pin_uv_auth_param.as_deref(),
        Some(&v["CHANGE_PIN_PARAM"][..])
    );
}
