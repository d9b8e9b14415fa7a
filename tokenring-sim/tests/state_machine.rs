//! The simulator's state machine through its public interface, with
//! hand-built CBOR (CTAP 2.1 PS 2021-06-15 section numbers in comments).

mod common;

use std::time::Duration;

use ciborium::Value;
use common::*;
use tokenring_core::{KeepaliveStatus, Status};
use tokenring_sim::testing::PinProtocol;
use tokenring_sim::{
    DeviceContext, Fault, NoContext, PresenceAnswer, PresencePolicy, ProvisionedCredential,
    SimConfig, Simulator,
};

fn sim() -> Simulator {
    Simulator::new(SimConfig::with_seed(1))
}

fn sim_with_pin(pin: &str) -> Simulator {
    Simulator::new(SimConfig::with_seed(1).pin(pin))
}

#[test]
fn get_info_announces_versions_extensions_options_and_limits() {
    // §6.4
    let mut s = Simulator::new(SimConfig::with_seed(1).protocols(&[1]).built_in_uv(true));
    let (status, info) = call(&mut s, GET_INFO, None);
    assert_eq!(status, Status::Ok);
    assert_eq!(
        field(&info, 1).and_then(Value::as_array).map(Vec::len),
        Some(2)
    );
    assert_eq!(
        field(&info, 2),
        Some(&Value::Array(vec![
            txt("credProtect"),
            txt("hmac-secret"),
            txt("hmac-secret-mc")
        ]))
    );
    assert_eq!(
        field(&info, 3).and_then(Value::as_bytes).map(Vec::len),
        Some(16)
    );
    let options = field(&info, 4).expect("options");
    assert_eq!(tfield(options, "clientPin"), Some(&Value::Bool(false)));
    assert_eq!(tfield(options, "uv"), Some(&Value::Bool(true)));
    assert_eq!(tfield(options, "pinUvAuthToken"), Some(&Value::Bool(true)));
    assert_eq!(field(&info, 6), Some(&Value::Array(vec![int(1)])));
    assert_eq!(field(&info, 0x0D), Some(&int(4)));
    assert_eq!(set_pin(&mut s, PinProtocol::One, "1234"), Status::Ok);
    let (_, info) = call(&mut s, GET_INFO, None);
    assert_eq!(
        tfield(field(&info, 4).expect("options"), "clientPin"),
        Some(&Value::Bool(true))
    );
}

#[test]
fn pin_retries_count_down_and_block() {
    // §6.5.5.7.2: each wrong PIN costs a retry; three in a row need a
    // power cycle; at zero the PIN is blocked.
    let mut s = sim_with_pin("1234");
    assert_eq!(retries(&mut s), (8, false));
    for expected in [7, 6] {
        assert_eq!(
            pin_token(&mut s, PinProtocol::Two, "0000", None).0,
            Status::PinInvalid
        );
        assert_eq!(retries(&mut s).0, expected);
    }
    assert_eq!(
        pin_token(&mut s, PinProtocol::One, "0000", None).0,
        Status::PinAuthBlocked
    );
    assert_eq!(retries(&mut s), (5, true));
    assert_eq!(
        pin_token(&mut s, PinProtocol::Two, "1234", None).0,
        Status::PinAuthBlocked,
        "blocked until power cycle, even with the right PIN"
    );
    assert_eq!(retries(&mut s).0, 5, "a blocked attempt costs nothing");
    s.power_cycle();
    assert_eq!(
        pin_token(&mut s, PinProtocol::Two, "1234", None).0,
        Status::Ok
    );
    assert_eq!(s.pin_retries(), 8, "the right PIN restores the retries");
    // Down to zero, power cycling every three.
    for n in 1..=8u8 {
        let st = pin_token(&mut s, PinProtocol::Two, "9999", None).0;
        if n == 8 {
            assert_eq!(st, Status::PinBlocked);
        } else if n % 3 == 0 {
            assert_eq!(st, Status::PinAuthBlocked);
            s.power_cycle();
        } else {
            assert_eq!(st, Status::PinInvalid);
        }
    }
    assert_eq!(s.pin_retries(), 0);
    s.power_cycle();
    assert_eq!(
        pin_token(&mut s, PinProtocol::Two, "1234", None).0,
        Status::PinBlocked
    );
}

#[test]
fn wrong_pin_regenerates_the_key_agreement() {
    // §6.5.5.7.2 step: "the authenticator calls regenerate()".
    let mut s = sim_with_pin("1234");
    let first = {
        let (_, body) = call(
            &mut s,
            CLIENT_PIN,
            Some(map(vec![(int(1), int(2)), (int(2), int(2))])),
        );
        field(&body, 1).cloned()
    };
    assert_eq!(
        pin_token(&mut s, PinProtocol::Two, "0000", None).0,
        Status::PinInvalid
    );
    let (_, body) = call(
        &mut s,
        CLIENT_PIN,
        Some(map(vec![(int(1), int(2)), (int(2), int(2))])),
    );
    assert_ne!(field(&body, 1).cloned(), first);
}

#[test]
fn set_pin_policy_and_change_pin() {
    // §6.5.5.5 / §6.5.5.6
    let mut s = sim();
    assert_eq!(
        set_pin(&mut s, PinProtocol::Two, "123"),
        Status::PinPolicyViolation
    );
    assert_eq!(
        set_pin(&mut s, PinProtocol::Two, &"9".repeat(64)),
        Status::PinPolicyViolation
    );
    assert_eq!(
        set_pin(&mut s, PinProtocol::Two, "ünï"),
        Status::PinPolicyViolation
    );
    assert_eq!(
        set_pin(&mut s, PinProtocol::Two, "ünïç"),
        Status::Ok,
        "4 code points, 8 bytes"
    );
    // §6.5.5.5 step 3: a second setPIN is PIN_AUTH_INVALID, and the PIN
    // stays as it was.
    assert_eq!(
        set_pin(&mut s, PinProtocol::Two, "5678"),
        Status::PinAuthInvalid
    );
    assert_eq!(
        pin_token(&mut s, PinProtocol::Two, "5678", None).0,
        Status::PinInvalid
    );
    // changePIN with protocol one.
    let mut p = Platform::new(&mut s, PinProtocol::One);
    let new_enc = p.encrypt(&padded("24680"));
    let hash_enc = p.encrypt(&pin_hash("ünïç"));
    let mut msg = new_enc.clone();
    msg.extend_from_slice(&hash_enc);
    let auth = p.authenticate(&msg);
    let (st, _) = call(
        &mut s,
        CLIENT_PIN,
        Some(map(vec![
            (int(1), int(1)),
            (int(2), int(4)),
            (int(3), p.key_agreement.clone()),
            (int(4), byt(&auth)),
            (int(5), byt(&new_enc)),
            (int(6), byt(&hash_enc)),
        ])),
    );
    assert_eq!(st, Status::Ok);
    assert_eq!(
        pin_token(&mut s, PinProtocol::Two, "24680", None).0,
        Status::Ok
    );
    assert_eq!(
        pin_token(&mut s, PinProtocol::Two, "ünïç", None).0,
        Status::PinInvalid
    );
}

#[test]
fn token_permissions_and_rp_id_binding() {
    // §6.1.2 step 11, §6.5.5.7
    let mut s = sim_with_pin("1234");
    let cdh = [1u8; 32];
    // ga-only token cannot make credentials.
    let (_, t) = pin_token(&mut s, PinProtocol::Two, "1234", Some((2, Some(RP_ID))));
    let param = PinProtocol::Two.authenticate(&t, &cdh);
    let req = make_credential_request(&cdh, RP_ID, Some((&param, 2)), vec![]);
    assert_eq!(
        call(&mut s, MAKE_CREDENTIAL, Some(req)).0,
        Status::PinAuthInvalid
    );
    // mc token bound to another RP ID.
    let (_, t) = pin_token(
        &mut s,
        PinProtocol::Two,
        "1234",
        Some((1, Some("other.example"))),
    );
    let param = PinProtocol::Two.authenticate(&t, &cdh);
    let req = make_credential_request(&cdh, RP_ID, Some((&param, 2)), vec![]);
    assert_eq!(
        call(&mut s, MAKE_CREDENTIAL, Some(req)).0,
        Status::PinAuthInvalid
    );
    // A token used under the other protocol.
    let (_, t) = pin_token(&mut s, PinProtocol::Two, "1234", Some((1, Some(RP_ID))));
    let param = PinProtocol::One.authenticate(&t, &cdh);
    let req = make_credential_request(&cdh, RP_ID, Some((&param, 1)), vec![]);
    assert_eq!(
        call(&mut s, MAKE_CREDENTIAL, Some(req)).0,
        Status::PinAuthInvalid
    );
    // The right token works once: its permissions are spent after UP.
    let (_, t) = pin_token(&mut s, PinProtocol::Two, "1234", Some((1, Some(RP_ID))));
    let param = PinProtocol::Two.authenticate(&t, &cdh);
    let req = make_credential_request(&cdh, RP_ID, Some((&param, 2)), vec![]);
    assert_eq!(
        call(&mut s, MAKE_CREDENTIAL, Some(req.clone())).0,
        Status::Ok
    );
    assert_eq!(
        call(&mut s, MAKE_CREDENTIAL, Some(req)).0,
        Status::PinAuthInvalid
    );
    // Permissions for features the token lacks (cm, be, lbw), zero
    // permissions (§6.5.5.7.2 steps 3-4).
    for missing_feature in [0x04, 0x08, 0x10] {
        assert_eq!(
            pin_token(
                &mut s,
                PinProtocol::Two,
                "1234",
                Some((missing_feature, None))
            )
            .0,
            Status::UnauthorizedPermission
        );
    }
    assert_eq!(
        pin_token(&mut s, PinProtocol::Two, "1234", Some((0, None))).0,
        Status::InvalidParameter
    );
    // mc and ga without an rpId are granted (§6.5.5.7.2 requires none).
    let (status, t) = pin_token(&mut s, PinProtocol::Two, "1234", Some((3, None)));
    assert_eq!(status, Status::Ok, "an mc+ga token without rpId");
    let param = PinProtocol::Two.authenticate(&t, &cdh);
    let req = make_credential_request(&cdh, RP_ID, Some((&param, 2)), vec![]);
    assert_eq!(call(&mut s, MAKE_CREDENTIAL, Some(req)).0, Status::Ok);
    // Such a token takes the RP ID of its first use (§6.2.2 step 6.1.6):
    // getAssertion with up=false keeps its permissions, and another RP ID
    // is then refused.
    let id = enroll(&mut s, Some("1234"));
    let (status, t) = pin_token(&mut s, PinProtocol::Two, "1234", Some((2, None)));
    assert_eq!(status, Status::Ok, "a ga token without rpId");
    let silent = |rp: &str| {
        map(vec![
            (int(1), txt(rp)),
            (int(2), byt(&cdh)),
            (
                int(3),
                Value::Array(vec![map(vec![
                    (txt("id"), byt(&id)),
                    (txt("type"), txt("public-key")),
                ])]),
            ),
            (int(5), map(vec![(txt("up"), Value::Bool(false))])),
            (int(6), byt(&PinProtocol::Two.authenticate(&t, &cdh))),
            (int(7), int(2)),
        ])
    };
    assert_eq!(
        call(&mut s, GET_ASSERTION, Some(silent(RP_ID))).0,
        Status::Ok
    );
    assert_eq!(
        call(&mut s, GET_ASSERTION, Some(silent(RP_ID))).0,
        Status::Ok
    );
    assert_eq!(
        call(&mut s, GET_ASSERTION, Some(silent("other.example"))).0,
        Status::PinAuthInvalid,
        "bound to the RP ID of its first use"
    );
    // getPinToken without an RP ID binds to the first RP it is used for.
    let (_, t) = pin_token(&mut s, PinProtocol::Two, "1234", None);
    let param = PinProtocol::Two.authenticate(&t, &cdh);
    let req = make_credential_request(&cdh, RP_ID, Some((&param, 2)), vec![]);
    assert_eq!(call(&mut s, MAKE_CREDENTIAL, Some(req)).0, Status::Ok);
}

#[test]
fn unused_tokens_expire() {
    // §6.5.5.7 usage timer: unused for 30 s → stopUsingPinUvAuthToken.
    let mut s = sim_with_pin("1234");
    let (_, t) = pin_token(&mut s, PinProtocol::Two, "1234", Some((1, Some(RP_ID))));
    s.advance_clock(Duration::from_secs(31));
    let cdh = [3u8; 32];
    let param = PinProtocol::Two.authenticate(&t, &cdh);
    let req = make_credential_request(&cdh, RP_ID, Some((&param, 2)), vec![]);
    assert_eq!(
        call(&mut s, MAKE_CREDENTIAL, Some(req)).0,
        Status::PinAuthInvalid
    );
}

#[test]
fn make_credential_rules() {
    // §6.1.2
    let cdh = [5u8; 32];
    let mut s = sim();
    // Zero-length pinUvAuthParam: a touch, then PIN_NOT_SET / PIN_INVALID.
    let req = make_credential_request(&cdh, RP_ID, Some((&[], 2)), vec![]);
    assert_eq!(
        call(&mut s, MAKE_CREDENTIAL, Some(req.clone())).0,
        Status::PinNotSet
    );
    assert_eq!(s.presence_requests(), 1);
    let mut p = sim_with_pin("1234");
    assert_eq!(
        call(&mut p, MAKE_CREDENTIAL, Some(req)).0,
        Status::PinInvalid
    );
    p.set_presence_policy(PresencePolicy::deny());
    let req = make_credential_request(&cdh, RP_ID, Some((&[], 2)), vec![]);
    assert_eq!(
        call(&mut p, MAKE_CREDENTIAL, Some(req)).0,
        Status::OperationDenied
    );
    // PIN set, no param → PUAT_REQUIRED; with makeCredUvNotRqd it proceeds.
    let req = make_credential_request(&cdh, RP_ID, None, vec![]);
    assert_eq!(
        call(&mut p, MAKE_CREDENTIAL, Some(req.clone())).0,
        Status::PuatRequired
    );
    let mut n = Simulator::new(
        SimConfig::with_seed(2)
            .pin("1234")
            .make_cred_uv_not_rqd(true),
    );
    let (st, body) = call(&mut n, MAKE_CREDENTIAL, Some(req.clone()));
    assert_eq!(st, Status::Ok);
    let ad = field(&body, 2).and_then(Value::as_bytes).expect("authData");
    assert_eq!(ad[32], 0x01 | 0x40 | 0x80, "UP, AT, ED; no UV");
    // Missing protocol, unsupported protocol.
    let mut req2 = make_credential_request(&cdh, RP_ID, None, vec![(int(8), byt(&[1; 32]))]);
    assert_eq!(
        call(&mut s, MAKE_CREDENTIAL, Some(req2)).0,
        Status::MissingParameter
    );
    req2 = make_credential_request(&cdh, RP_ID, Some((&[1; 32], 3)), vec![]);
    assert_eq!(
        call(&mut s, MAKE_CREDENTIAL, Some(req2)).0,
        Status::InvalidParameter
    );
    // Options.
    let opt = |k: &str, v: bool| vec![(int(7), map(vec![(txt(k), Value::Bool(v))]))];
    for (k, v, expected) in [
        ("rk", true, Status::UnsupportedOption),
        ("up", false, Status::InvalidOption),
        ("uv", true, Status::InvalidOption),
    ] {
        let req = make_credential_request(&cdh, RP_ID, None, opt(k, v));
        assert_eq!(
            call(&mut s, MAKE_CREDENTIAL, Some(req)).0,
            expected,
            "{k}={v}"
        );
    }
    // Only ES256.
    let mut req = make_credential_request(&cdh, RP_ID, None, vec![]);
    if let Value::Map(entries) = &mut req {
        for (k, v) in entries.iter_mut() {
            if *k == int(4) {
                *v = Value::Array(vec![map(vec![
                    (txt("alg"), int(-8)),
                    (txt("type"), txt("public-key")),
                ])]);
            }
        }
    }
    assert_eq!(
        call(&mut s, MAKE_CREDENTIAL, Some(req)).0,
        Status::UnsupportedAlgorithm
    );
    // Missing required parameter.
    assert_eq!(
        call(
            &mut s,
            MAKE_CREDENTIAL,
            Some(map(vec![(int(1), byt(&cdh))]))
        )
        .0,
        Status::MissingParameter
    );
    // excludeList with our credential → a touch, then CREDENTIAL_EXCLUDED.
    let id = enroll(&mut s, None);
    let req = make_credential_request(
        &cdh,
        RP_ID,
        None,
        vec![(
            int(5),
            Value::Array(vec![map(vec![
                (txt("id"), byt(&id)),
                (txt("type"), txt("public-key")),
            ])]),
        )],
    );
    assert_eq!(
        call(&mut s, MAKE_CREDENTIAL, Some(req)).0,
        Status::CredentialExcluded
    );
}

#[test]
fn hmac_secret_outputs_differ_with_uv_and_are_stable() {
    // §12.5: two CredRandoms per credential.
    let mut s = sim_with_pin("1234");
    let id = enroll(&mut s, Some("1234"));
    let salts = [[0x11u8; 32], [0x22u8; 32]];
    let (st, plain, flags) = derive(&mut s, PinProtocol::Two, &id, &salts, None);
    assert_eq!(st, Status::Ok);
    assert_eq!(flags & 0x05, 0x01, "UP without UV");
    assert_eq!(plain.len(), 2);
    let (_, again, _) = derive(&mut s, PinProtocol::One, &id, &salts[..1], None);
    assert_eq!(again[0], plain[0], "protocol one gives the same output");
    let (_, t) = pin_token(&mut s, PinProtocol::Two, "1234", Some((2, Some(RP_ID))));
    let (st, uv, flags) = derive(&mut s, PinProtocol::Two, &id, &salts, Some(&t));
    assert_eq!(st, Status::Ok);
    assert_eq!(flags & 0x05, 0x05, "UP and UV");
    assert_ne!(uv[0], plain[0]);
    assert_ne!(uv[1], plain[1]);
    let (_, t) = pin_token(&mut s, PinProtocol::One, "1234", Some((2, Some(RP_ID))));
    let (_, uv2, _) = derive(&mut s, PinProtocol::One, &id, &salts[..1], Some(&t));
    assert_eq!(uv2[0], uv[0]);
}

#[test]
fn hmac_secret_rejects_bad_salt_auth_and_lengths() {
    let mut s = sim();
    let id = enroll(&mut s, None);
    let mut p = Platform::new(&mut s, PinProtocol::Two);
    let mk = |salt_enc: &[u8], salt_auth: &[u8], ka: &Value| {
        map(vec![
            (int(1), txt(RP_ID)),
            (int(2), byt(&[0; 32])),
            (
                int(3),
                Value::Array(vec![map(vec![
                    (txt("id"), byt(&id)),
                    (txt("type"), txt("public-key")),
                ])]),
            ),
            (
                int(4),
                map(vec![(
                    txt("hmac-secret"),
                    map(vec![
                        (int(1), ka.clone()),
                        (int(2), byt(salt_enc)),
                        (int(3), byt(salt_auth)),
                        (int(4), int(2)),
                    ]),
                )]),
            ),
        ])
    };
    let enc = p.encrypt(&[1u8; 32]);
    let mut bad = p.authenticate(&enc);
    bad[0] ^= 1;
    assert_eq!(
        call(
            &mut s,
            GET_ASSERTION,
            Some(mk(&enc, &bad, &p.key_agreement))
        )
        .0,
        Status::PinAuthInvalid
    );
    let enc = p.encrypt(&[1u8; 48]);
    let auth = p.authenticate(&enc);
    assert_eq!(
        call(
            &mut s,
            GET_ASSERTION,
            Some(mk(&enc, &auth, &p.key_agreement))
        )
        .0,
        Status::InvalidParameter,
        "§12.5: salts that are not 32 or 64 bytes"
    );
    let short = p.encrypt(&[1u8; 16]);
    let short_auth = p.authenticate(&short);
    assert_eq!(
        call(
            &mut s,
            GET_ASSERTION,
            Some(mk(&short, &short_auth, &p.key_agreement))
        )
        .0,
        Status::InvalidParameter,
        "one 16-byte salt"
    );
    // A saltEnc that does not decrypt (protocol two: not IV plus whole
    // blocks).
    let torn = &enc[..enc.len() - 1];
    let torn_auth = p.authenticate(torn);
    assert_eq!(
        call(
            &mut s,
            GET_ASSERTION,
            Some(mk(torn, &torn_auth, &p.key_agreement))
        )
        .0,
        Status::InvalidParameter
    );
    // A key agreement point that is not on the curve.
    let bogus = map(vec![
        (int(1), int(2)),
        (int(3), int(-25)),
        (int(-1), int(1)),
        (int(-2), byt(&[1; 32])),
        (int(-3), byt(&[2; 32])),
    ]);
    assert_eq!(
        call(&mut s, GET_ASSERTION, Some(mk(&enc, &auth, &bogus))).0,
        Status::InvalidParameter
    );
}

#[test]
fn provisioned_credentials_output_hmac_of_their_cred_random() {
    // Two credentials made elsewhere, with known CredRandoms.
    let mut s = sim();
    let fixtures: [([u8; 32], Vec<u8>); 2] = [
        (
            std::array::from_fn(|i| i as u8),
            [0xc0, 0xff, 0xee, 0x00].repeat(8),
        ),
        (
            std::array::from_fn(|i| 31 - i as u8),
            [0x0b, 0xad, 0xc0, 0xde].repeat(8),
        ),
    ];
    for (cred_random, id) in &fixtures {
        s.provision(ProvisionedCredential {
            credential_id: id.clone(),
            rp_id: RP_ID.into(),
            cred_random: *cred_random,
            cred_random_uv: None,
            cred_protect: None,
        })
        .expect("provision");
    }
    for (cred_random, id) in &fixtures {
        let salts = [[0xA5u8; 32], [0x5Au8; 32]];
        let (st, out, _) = derive(&mut s, PinProtocol::Two, id, &salts, None);
        assert_eq!(st, Status::Ok);
        assert_eq!(out[0], hmac_sha256(cred_random, &salts[0]));
        assert_eq!(out[1], hmac_sha256(cred_random, &salts[1]));
    }
    // Not for another RP.
    let (st, _, _) = {
        let mut s2 = sim();
        s2.provision(ProvisionedCredential {
            credential_id: fixtures[0].1.clone(),
            rp_id: "other.example".into(),
            cred_random: fixtures[0].0,
            cred_random_uv: Some([9; 32]),
            cred_protect: None,
        })
        .expect("provision");
        derive(&mut s2, PinProtocol::Two, &fixtures[0].1, &[[0; 32]], None)
    };
    assert_eq!(st, Status::NoCredentials);
}

#[test]
fn probe_with_up_false_needs_no_touch() {
    // §6.2.2 step 7 before step 9: a foreign credential answers at once.
    let mut s = Simulator::new(SimConfig::with_seed(1).presence(PresencePolicy::time_out()));
    let before = s.presence_requests();
    let req = map(vec![
        (int(1), txt(RP_ID)),
        (int(2), byt(&[0; 32])),
        (
            int(3),
            Value::Array(vec![map(vec![
                (txt("id"), byt(&[7; 80])),
                (txt("type"), txt("public-key")),
            ])]),
        ),
        (int(5), map(vec![(txt("up"), Value::Bool(false))])),
    ]);
    assert_eq!(
        call(&mut s, GET_ASSERTION, Some(req)).0,
        Status::NoCredentials
    );
    assert_eq!(s.presence_requests(), before);
    assert_eq!(s.now(), Duration::ZERO, "no wait happened");
    // Our credential with up=false: success, UP clear, still no touch.
    s.set_presence_policy(PresencePolicy::approve());
    let id = enroll(&mut s, None);
    s.set_presence_policy(PresencePolicy::time_out());
    let before = s.presence_requests();
    let req = map(vec![
        (int(1), txt(RP_ID)),
        (int(2), byt(&[0; 32])),
        (
            int(3),
            Value::Array(vec![map(vec![
                (txt("id"), byt(&id)),
                (txt("type"), txt("public-key")),
            ])]),
        ),
        (int(5), map(vec![(txt("up"), Value::Bool(false))])),
    ]);
    let (st, body) = call(&mut s, GET_ASSERTION, Some(req));
    assert_eq!(st, Status::Ok);
    let ad = field(&body, 2).and_then(Value::as_bytes).expect("authData");
    assert_eq!(ad[32] & 0x01, 0);
    assert_eq!(s.presence_requests(), before);
    // hmac-secret needs presence: refused with up=false.
    let mut p = Platform::new(&mut s, PinProtocol::Two);
    let salt_enc = p.encrypt(&[1; 32]);
    let req = map(vec![
        (int(1), txt(RP_ID)),
        (int(2), byt(&[0; 32])),
        (
            int(3),
            Value::Array(vec![map(vec![
                (txt("id"), byt(&id)),
                (txt("type"), txt("public-key")),
            ])]),
        ),
        (
            int(4),
            map(vec![(
                txt("hmac-secret"),
                map(vec![
                    (int(1), p.key_agreement.clone()),
                    (int(2), byt(&salt_enc)),
                    (int(3), byt(&p.authenticate(&salt_enc))),
                    (int(4), int(2)),
                ]),
            )]),
        ),
        (int(5), map(vec![(txt("up"), Value::Bool(false))])),
    ]);
    assert_eq!(
        call(&mut s, GET_ASSERTION, Some(req)).0,
        Status::UnsupportedOption
    );
}

#[test]
fn always_uv_requires_a_token() {
    let mut s = Simulator::new(SimConfig::with_seed(1).always_uv(true).pin("1234"));
    let id = enroll(&mut s, Some("1234"));
    let (st, _, _) = derive(&mut s, PinProtocol::Two, &id, &[[1; 32]], None);
    assert_eq!(st, Status::PuatRequired);
    let (_, t) = pin_token(&mut s, PinProtocol::Two, "1234", Some((2, Some(RP_ID))));
    let (st, _, flags) = derive(&mut s, PinProtocol::Two, &id, &[[1; 32]], Some(&t));
    assert_eq!(st, Status::Ok);
    assert_eq!(flags & 0x04, 0x04);
    // Built-in UV satisfies alwaysUv by itself.
    let mut b = Simulator::new(SimConfig::with_seed(1).always_uv(true).built_in_uv(true));
    let id = enroll(&mut b, None);
    let (st, _, flags) = derive(&mut b, PinProtocol::Two, &id, &[[1; 32]], None);
    assert_eq!(st, Status::Ok);
    assert_eq!(flags & 0x05, 0x05);
}

#[test]
fn reset_only_within_ten_seconds_and_forgets_everything() {
    // §6.6
    let mut s = sim_with_pin("1234");
    let id = enroll(&mut s, Some("1234"));
    s.advance_clock(Duration::from_secs(11));
    assert_eq!(call(&mut s, RESET, None).0, Status::NotAllowed);
    s.power_cycle();
    s.set_presence_policy(PresencePolicy::deny());
    assert_eq!(call(&mut s, RESET, None).0, Status::OperationDenied);
    s.set_presence_policy(PresencePolicy::approve());
    assert_eq!(call(&mut s, RESET, None).0, Status::Ok);
    assert!(!s.pin_is_set());
    let (st, _, _) = derive(&mut s, PinProtocol::Two, &id, &[[1; 32]], None);
    assert_eq!(st, Status::NoCredentials);
}

struct Recorder {
    keepalives: usize,
    cancel_after: Option<usize>,
}

impl DeviceContext for Recorder {
    fn keepalive(&mut self, status: KeepaliveStatus) {
        assert_eq!(status, KeepaliveStatus::UserPresenceNeeded);
        self.keepalives += 1;
    }
    fn cancelled(&mut self) -> bool {
        self.cancel_after.is_some_and(|n| self.keepalives >= n)
    }
}

#[test]
fn selection_and_presence_policies() {
    // §6.9 authenticatorSelection under every policy.
    let mut s = Simulator::new(
        SimConfig::with_seed(1).presence(PresencePolicy::Scripted(vec![
            PresenceAnswer::Approve,
            PresenceAnswer::Deny,
            PresenceAnswer::ApproveAfter(Duration::from_millis(450)),
            PresenceAnswer::ApproveAfter(Duration::from_secs(31)),
        ])),
    );
    let mut ctx = Recorder {
        keepalives: 0,
        cancel_after: None,
    };
    assert_eq!(s.process(SELECTION, &[], &mut ctx), vec![0]);
    assert_eq!(
        s.process(SELECTION, &[], &mut ctx),
        vec![u8::from(Status::OperationDenied)]
    );
    let t0 = s.now();
    let k0 = ctx.keepalives;
    assert_eq!(s.process(SELECTION, &[], &mut ctx), vec![0]);
    assert_eq!(s.now() - t0, Duration::from_millis(450));
    assert_eq!(
        ctx.keepalives - k0,
        1 + 5,
        "one at the start, one per 100 ms step"
    );
    let t0 = s.now();
    assert_eq!(
        s.process(SELECTION, &[], &mut ctx),
        vec![u8::from(Status::UserActionTimeout)]
    );
    assert_eq!(s.now() - t0, Duration::from_secs(30));
    // Script used up: nobody touches.
    assert_eq!(
        s.process(SELECTION, &[], &mut ctx),
        vec![u8::from(Status::UserActionTimeout)]
    );
    // Cancel mid-wait.
    s.set_presence_policy(PresencePolicy::time_out());
    let mut ctx = Recorder {
        keepalives: 0,
        cancel_after: Some(3),
    };
    assert_eq!(
        s.process(SELECTION, &[], &mut ctx),
        vec![u8::from(Status::KeepaliveCancel)]
    );
    assert_eq!(ctx.keepalives, 3);
}

#[test]
fn real_clock_wait_can_be_cancelled_from_another_thread() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    struct Flag(Arc<AtomicBool>);
    impl DeviceContext for Flag {
        fn keepalive(&mut self, _: KeepaliveStatus) {}
        fn cancelled(&mut self) -> bool {
            self.0.load(Ordering::SeqCst)
        }
    }
    let mut s = Simulator::new(
        SimConfig::with_seed(1)
            .clock(tokenring_sim::ClockMode::Real)
            .presence(PresencePolicy::time_out()),
    );
    let flag = Arc::new(AtomicBool::new(false));
    let setter = Arc::clone(&flag);
    let handle = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        setter.store(true, Ordering::SeqCst);
    });
    let started = std::time::Instant::now();
    assert_eq!(
        s.process(SELECTION, &[], &mut Flag(flag)),
        vec![u8::from(Status::KeepaliveCancel)]
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    handle.join().expect("thread");
}

#[test]
fn faults_drop_corrupt_and_force() {
    let mut s = sim();
    s.inject(Fault::DropResponse);
    assert!(s.process(GET_INFO, &[], &mut NoContext).is_empty());
    let good = s.process(GET_INFO, &[], &mut NoContext);
    s.inject(Fault::CorruptResponse {
        offset: 5,
        mask: 0xFF,
    });
    let bad = s.process(GET_INFO, &[], &mut NoContext);
    assert_eq!(good.len(), bad.len());
    assert_eq!(good.iter().zip(&bad).filter(|(a, b)| a != b).count(), 1);
    assert_eq!(bad[5], good[5] ^ 0xFF);
    s.inject(Fault::ForceStatus {
        command: SELECTION,
        status: Status::OperationDenied.into(),
    });
    assert_eq!(
        s.process(GET_INFO, &[], &mut NoContext)[0],
        0,
        "other commands unaffected"
    );
    assert_eq!(
        s.process(SELECTION, &[], &mut NoContext),
        vec![u8::from(Status::OperationDenied)]
    );
    assert_eq!(
        s.process(SELECTION, &[], &mut NoContext),
        vec![0],
        "applies once"
    );
    assert_eq!(s.request_count(GET_INFO), 4);
    assert_eq!(s.request_count(SELECTION), 2);
    assert_eq!(s.total_requests(), 6);
}

#[test]
fn malformed_requests_get_status_codes() {
    let mut s = sim();
    assert_eq!(
        s.process(0x55, &[], &mut NoContext),
        vec![u8::from(Status::InvalidCommand)]
    );
    assert_eq!(
        s.process(GET_ASSERTION, &[0xA1], &mut NoContext),
        vec![u8::from(Status::InvalidCbor)]
    );
    assert_eq!(
        s.process(GET_ASSERTION, &[0x01], &mut NoContext),
        vec![u8::from(Status::CborUnexpectedType)]
    );
    // Duplicate keys.
    assert_eq!(
        s.process(CLIENT_PIN, &[0xA2, 0x02, 0x01, 0x02, 0x01], &mut NoContext),
        vec![u8::from(Status::InvalidCbor)]
    );
    assert_eq!(
        call(&mut s, CLIENT_PIN, Some(map(vec![(int(2), int(0x42))]))).0,
        Status::InvalidSubcommand
    );
    assert_eq!(
        call(&mut s, CLIENT_PIN, Some(map(vec![(int(2), txt("x"))]))).0,
        Status::CborUnexpectedType
    );
    // Absurd declared lengths and deep nesting: errors, no allocation, no panic.
    for hostile in [
        vec![
            0xA1, 0x01, 0x5B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ],
        vec![
            0xA1, 0x01, 0x9B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ],
        vec![0xBB, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        vec![
            0xA1, 0x01, 0x7B, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ],
        [vec![0xA1, 0x01], vec![0x81; 1000]].concat(),
        vec![0xA1, 0x01, 0x5F, 0x41, 0x00],
        vec![0xA1, 0x01, 0xFB],
        vec![0xA1, 0x01, 0xC6, 0x41, 0x00],
    ] {
        for cmd in [MAKE_CREDENTIAL, GET_ASSERTION, CLIENT_PIN] {
            let r = s.process(cmd, &hostile, &mut NoContext);
            assert_eq!(r.len(), 1);
            assert_ne!(r[0], 0);
        }
    }
    let big = vec![0u8; s.max_msg_size()];
    assert_eq!(
        s.process(GET_ASSERTION, &big, &mut NoContext),
        vec![u8::from(Status::RequestTooLarge)]
    );
}

#[test]
fn garbage_never_panics() {
    // Fuzz-ish: random bytes and mutated valid requests to every command.
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let mut s = sim_with_pin("1234");
    let id = enroll(&mut s, Some("1234"));
    let mut p = Platform::new(&mut s, PinProtocol::Two);
    let salt_enc = p.encrypt(&[3u8; 32]);
    let valid: Vec<(u8, Vec<u8>)> = vec![
        (
            MAKE_CREDENTIAL,
            encode(&make_credential_request(
                &[1; 32],
                RP_ID,
                Some((&[1; 32], 2)),
                vec![],
            )),
        ),
        (
            GET_ASSERTION,
            encode(&map(vec![
                (int(1), txt(RP_ID)),
                (int(2), byt(&[0; 32])),
                (
                    int(3),
                    Value::Array(vec![map(vec![
                        (txt("id"), byt(&id)),
                        (txt("type"), txt("public-key")),
                    ])]),
                ),
                (
                    int(4),
                    map(vec![(
                        txt("hmac-secret"),
                        map(vec![
                            (int(1), p.key_agreement.clone()),
                            (int(2), byt(&salt_enc)),
                            (int(3), byt(&p.authenticate(&salt_enc))),
                        ]),
                    )]),
                ),
            ])),
        ),
        (
            CLIENT_PIN,
            encode(&map(vec![
                (int(1), int(2)),
                (int(2), int(9)),
                (int(3), p.key_agreement.clone()),
                (int(6), byt(&p.encrypt(&pin_hash("1234")))),
                (int(9), int(3)),
                (int(10), txt(RP_ID)),
            ])),
        ),
    ];
    let commands = [0x01, 0x02, 0x04, 0x06, 0x07, 0x08, 0x0B, 0x0A, 0x40];
    for round in 0..3000 {
        let (cmd, payload) = if round % 2 == 0 {
            let (cmd, base) = &valid[round % valid.len()];
            let mut m = base.clone();
            let flips = 1 + (rng.next_u32() % 4) as usize;
            for _ in 0..flips {
                let i = rng.next_u32() as usize % m.len();
                m[i] ^= 1 << (rng.next_u32() % 8);
            }
            if rng.next_u32() % 5 == 0 {
                let cut = rng.next_u32() as usize % m.len();
                m.truncate(cut);
            }
            (*cmd, m)
        } else {
            let mut m = vec![0u8; (rng.next_u32() % 200) as usize];
            rng.fill_bytes(&mut m);
            if let Some(first) = m.first_mut() {
                *first = 0xA0 | (*first & 0x0F);
            }
            (commands[round % commands.len()], m)
        };
        let resp = s.process(cmd, &payload, &mut NoContext);
        assert!(!resp.is_empty());
        if s.pin_retries() < 3 || round % 500 == 0 {
            s.power_cycle();
        }
    }
}

#[test]
fn state_file_is_private_atomic_and_shared() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("sim.json");
    let mut a = Simulator::create(SimConfig::with_seed(5).pin("1234"), &path).expect("create");
    assert!(
        Simulator::create(SimConfig::with_seed(5), &path).is_err(),
        "no overwrite"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let id = enroll(&mut a, Some("1234"));
    assert_eq!(
        pin_token(&mut a, PinProtocol::Two, "0000", None).0,
        Status::PinInvalid
    );
    let (_, out_a, _) = derive(&mut a, PinProtocol::Two, &id, &[[4; 32]], None);
    let mut b = Simulator::open(&path).expect("open");
    assert_eq!(b.pin_retries(), 7, "retries persisted");
    assert!(b.sign_count() >= 2);
    let (st, out_b, _) = derive(&mut b, PinProtocol::Two, &id, &[[4; 32]], None);
    assert_eq!(st, Status::Ok);
    assert_eq!(out_a, out_b, "another process serves the same credential");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    std::fs::write(&path, "{not json").expect("write");
    assert!(Simulator::open(&path).is_err());
}

#[test]
fn same_seed_same_credentials() {
    let mut a = Simulator::new(SimConfig::with_seed(42));
    let mut b = Simulator::new(SimConfig::with_seed(42));
    let ia = enroll(&mut a, None);
    let ib = enroll(&mut b, None);
    assert_eq!(ia, ib);
    let mut c = Simulator::new(SimConfig::with_seed(43));
    assert_eq!(
        derive(&mut c, PinProtocol::Two, &ia, &[[0; 32]], None).0,
        Status::NoCredentials
    );
}

#[test]
fn hmac_secret_without_protocol_key_needs_protocol_one() {
    // §12.5: pinUvAuthProtocol (key 4) absent means protocol one; when the
    // token does not support protocol one, PIN_AUTH_INVALID.
    let mut s = Simulator::new(SimConfig::with_seed(1).protocols(&[2]));
    let id = enroll(&mut s, None);
    let mut p = Platform::new(&mut s, PinProtocol::Two);
    let salt_enc = p.encrypt(&[1u8; 32]);
    let salt_auth = p.authenticate(&salt_enc);
    let request = |protocol: Option<i64>| {
        let mut input = vec![
            (int(1), p.key_agreement.clone()),
            (int(2), byt(&salt_enc)),
            (int(3), byt(&salt_auth)),
        ];
        if let Some(n) = protocol {
            input.push((int(4), int(n)));
        }
        map(vec![
            (int(1), txt(RP_ID)),
            (int(2), byt(&[0; 32])),
            (
                int(3),
                Value::Array(vec![map(vec![
                    (txt("id"), byt(&id)),
                    (txt("type"), txt("public-key")),
                ])]),
            ),
            (int(4), map(vec![(txt("hmac-secret"), map(input))])),
        ])
    };
    assert_eq!(
        call(&mut s, GET_ASSERTION, Some(request(None))).0,
        Status::PinAuthInvalid
    );
    assert_eq!(
        call(&mut s, GET_ASSERTION, Some(request(Some(1)))).0,
        Status::InvalidParameter,
        "protocol one named but not supported"
    );
    assert_eq!(
        call(&mut s, GET_ASSERTION, Some(request(Some(2)))).0,
        Status::Ok
    );
}

/// authenticatorConfig (§6.11) with an optional pinUvAuthParam made from
/// `token` (protocol two).
fn config(
    s: &mut Simulator,
    sub_command: i64,
    params: Option<Value>,
    token: Option<&[u8]>,
) -> Status {
    let mut request = vec![(int(1), int(sub_command))];
    if let Some(p) = &params {
        request.push((int(2), p.clone()));
    }
    if let Some(token) = token {
        let mut message = vec![0xFF; 32];
        message.push(0x0D);
        message.push(u8::try_from(sub_command).expect("subcommand byte"));
        if let Some(p) = &params {
            message.extend_from_slice(&encode(p));
        }
        request.push((int(3), int(2)));
        request.push((int(4), byt(&PinProtocol::Two.authenticate(token, &message))));
    }
    call(s, AUTHENTICATOR_CONFIG, Some(map(request))).0
}

fn option(s: &mut Simulator, name: &str) -> Option<Value> {
    let (_, info) = call(s, GET_INFO, None);
    tfield(field(&info, 4).expect("options"), name).cloned()
}

#[test]
fn toggle_always_uv_is_what_always_uv_false_advertises() {
    // §6.4: alwaysUv present and false means the feature is there, off;
    // authnrCfg announces authenticatorConfig, whose toggleAlwaysUv
    // (§6.11.2) turns it on.
    let mut s = Simulator::new(SimConfig::with_seed(1).make_cred_uv_not_rqd(true));
    assert_eq!(option(&mut s, "alwaysUv"), Some(Value::Bool(false)));
    assert_eq!(option(&mut s, "authnrCfg"), Some(Value::Bool(true)));
    assert_eq!(option(&mut s, "makeCredUvNotRqd"), Some(Value::Bool(true)));
    // Not protected by user verification yet: no token needed (§6.11.1
    // step 4 applies only once it is).
    assert_eq!(config(&mut s, 0x02, None, None), Status::Ok);
    assert_eq!(option(&mut s, "alwaysUv"), Some(Value::Bool(true)));
    assert_eq!(
        option(&mut s, "makeCredUvNotRqd"),
        Some(Value::Bool(false)),
        "alwaysUv on turns makeCredUvNotRqd off"
    );
    // alwaysUv on, nothing protects the token: a touch is not enough.
    let cdh = [3u8; 32];
    let req = make_credential_request(&cdh, RP_ID, None, vec![]);
    assert_eq!(
        call(&mut s, MAKE_CREDENTIAL, Some(req)).0,
        Status::PuatRequired
    );
    // Step 3: alwaysUv on and no PIN: toggling it off needs no token.
    assert_eq!(config(&mut s, 0x02, None, None), Status::Ok);
    assert_eq!(option(&mut s, "alwaysUv"), Some(Value::Bool(false)));
    assert_eq!(option(&mut s, "makeCredUvNotRqd"), Some(Value::Bool(true)));

    // With a PIN: a token with the acfg permission authenticates the
    // request (step 4).
    assert_eq!(set_pin(&mut s, PinProtocol::Two, "1234"), Status::Ok);
    assert_eq!(config(&mut s, 0x02, None, None), Status::PuatRequired);
    let (_, ga) = pin_token(&mut s, PinProtocol::Two, "1234", Some((2, Some(RP_ID))));
    assert_eq!(
        config(&mut s, 0x02, None, Some(&ga)),
        Status::PinAuthInvalid,
        "a token without acfg"
    );
    let (status, acfg) = pin_token(&mut s, PinProtocol::Two, "1234", Some((0x20, None)));
    assert_eq!(status, Status::Ok);
    let mut wrong = acfg.clone();
    wrong[0] ^= 1;
    assert_eq!(
        config(&mut s, 0x02, None, Some(&wrong)),
        Status::PinAuthInvalid
    );
    assert_eq!(config(&mut s, 0x02, None, Some(&acfg)), Status::Ok);
    assert_eq!(option(&mut s, "alwaysUv"), Some(Value::Bool(true)));
    // Unsupported subcommands (enableEnterpriseAttestation, vendor).
    assert_eq!(
        config(&mut s, 0x01, None, Some(&acfg)),
        Status::InvalidParameter
    );
    assert_eq!(
        config(&mut s, 0xFF, None, Some(&acfg)),
        Status::InvalidParameter
    );
    assert_eq!(
        call(&mut s, AUTHENTICATOR_CONFIG, Some(map(vec![]))).0,
        Status::MissingParameter
    );
    // Reset puts alwaysUv back as the token was made.
    s.power_cycle();
    assert_eq!(call(&mut s, RESET, None).0, Status::Ok);
    assert_eq!(option(&mut s, "alwaysUv"), Some(Value::Bool(false)));
    // Through built-in UV, acfg would need uvAcfg, which is not announced.
    let mut b = Simulator::new(SimConfig::with_seed(1).built_in_uv(true));
    let p = Platform::new(&mut b, PinProtocol::Two);
    let (status, _) = call(
        &mut b,
        CLIENT_PIN,
        Some(map(vec![
            (int(1), int(2)),
            (int(2), int(6)),
            (int(3), p.key_agreement.clone()),
            (int(9), int(0x20)),
        ])),
    );
    assert_eq!(status, Status::UnauthorizedPermission);
}

#[test]
fn set_min_pin_length_and_force_pin_change() {
    // §6.11.4 and the forcePINChange steps of §6.5.5.6 and §6.5.5.7.
    let mut s = sim_with_pin("1234");
    let (_, acfg) = pin_token(&mut s, PinProtocol::Two, "1234", Some((0x20, None)));
    let min = |n: i64| Some(map(vec![(int(1), int(n))]));
    // The minimum only grows.
    assert_eq!(
        config(&mut s, 0x03, min(3), Some(&acfg)),
        Status::PinPolicyViolation
    );
    // A list of RP IDs needs the minPinLength extension (not implemented).
    assert_eq!(
        config(
            &mut s,
            0x03,
            Some(map(vec![(int(2), Value::Array(vec![txt(RP_ID)]))])),
            Some(&acfg)
        ),
        Status::InvalidParameter
    );
    // 6 > the current PIN's 4 code points: forcePINChange.
    assert_eq!(config(&mut s, 0x03, min(6), Some(&acfg)), Status::Ok);
    let (_, info) = call(&mut s, GET_INFO, None);
    assert_eq!(field(&info, 0x0D), Some(&int(6)));
    assert_eq!(field(&info, 0x0C), Some(&Value::Bool(true)));
    // The right PIN restores the retries but gives no token.
    assert_eq!(
        pin_token(&mut s, PinProtocol::Two, "0000", None).0,
        Status::PinInvalid
    );
    assert_eq!(retries(&mut s).0, 7);
    assert_eq!(
        pin_token(&mut s, PinProtocol::Two, "1234", None).0,
        Status::PinInvalid,
        "getPinToken: §6.5.5.7.1 step 11"
    );
    assert_eq!(retries(&mut s).0, 8);
    assert_eq!(
        pin_token(&mut s, PinProtocol::Two, "1234", Some((2, Some(RP_ID)))).0,
        Status::PinPolicyViolation,
        "with permissions: §6.5.5.7.2 step 11"
    );
    // A new PIN must meet the new minimum and differ from the old one.
    let change = |s: &mut Simulator, old: &str, new: &str| {
        let mut p = Platform::new(s, PinProtocol::Two);
        let new_enc = p.encrypt(&padded(new));
        let hash_enc = p.encrypt(&pin_hash(old));
        let mut msg = new_enc.clone();
        msg.extend_from_slice(&hash_enc);
        let auth = p.authenticate(&msg);
        call(
            s,
            CLIENT_PIN,
            Some(map(vec![
                (int(1), int(2)),
                (int(2), int(4)),
                (int(3), p.key_agreement.clone()),
                (int(4), byt(&auth)),
                (int(5), byt(&new_enc)),
                (int(6), byt(&hash_enc)),
            ])),
        )
        .0
    };
    assert_eq!(change(&mut s, "1234", "12345"), Status::PinPolicyViolation);
    assert_eq!(
        config(&mut s, 0x03, None, None),
        Status::PuatRequired,
        "setMinPINLength needs the acfg token once a PIN is set"
    );
    assert_eq!(change(&mut s, "1234", "123456"), Status::Ok);
    let (_, info) = call(&mut s, GET_INFO, None);
    assert_eq!(field(&info, 0x0C), Some(&Value::Bool(false)));
    assert_eq!(
        pin_token(&mut s, PinProtocol::Two, "123456", None).0,
        Status::Ok
    );
    // forceChangePin: the same PIN is refused while the change is forced.
    let (_, acfg) = pin_token(&mut s, PinProtocol::Two, "123456", Some((0x20, None)));
    assert_eq!(
        config(
            &mut s,
            0x03,
            Some(map(vec![(int(3), Value::Bool(true))])),
            Some(&acfg)
        ),
        Status::Ok
    );
    assert_eq!(
        change(&mut s, "123456", "123456"),
        Status::PinPolicyViolation
    );
    assert_eq!(change(&mut s, "123456", "654321"), Status::Ok);
    // Reset: minimum 4 again, no forced change.
    s.power_cycle();
    assert_eq!(call(&mut s, RESET, None).0, Status::Ok);
    let (_, info) = call(&mut s, GET_INFO, None);
    assert_eq!(field(&info, 0x0D), Some(&int(4)));
    assert_eq!(field(&info, 0x0C), Some(&Value::Bool(false)));
    // Without a PIN, forceChangePin is PIN_NOT_SET; a setPIN meets the
    // current minimum.
    assert_eq!(
        config(
            &mut s,
            0x03,
            Some(map(vec![(int(1), int(5)), (int(3), Value::Bool(true))])),
            None
        ),
        Status::PinNotSet
    );
    assert_eq!(config(&mut s, 0x03, min(5), None), Status::Ok);
    assert_eq!(
        set_pin(&mut s, PinProtocol::Two, "1234"),
        Status::PinPolicyViolation
    );
    assert_eq!(set_pin(&mut s, PinProtocol::Two, "12345"), Status::Ok);
}

#[test]
fn force_pin_change_refuses_tokens_until_the_pin_is_changed() {
    // §6.5.5.7.1 / §6.5.5.7.2: the PIN is checked (retries back to the
    // maximum), then the token is refused; §6.5.5.6: changePIN clears it.
    let mut s = Simulator::new(SimConfig::with_seed(1).pin("1234").force_pin_change(true));
    let (_, info) = call(&mut s, GET_INFO, None);
    assert_eq!(field(&info, 0x0C), Some(&Value::Bool(true)));
    for protocol in [PinProtocol::One, PinProtocol::Two] {
        assert_eq!(
            pin_token(&mut s, protocol, "1234", None).0,
            Status::PinInvalid
        );
        assert_eq!(
            pin_token(&mut s, protocol, "1234", Some((2, Some("example.org")))).0,
            Status::PinPolicyViolation
        );
        assert_eq!(retries(&mut s).0, 8);
    }
    // A wrong PIN is still a wrong PIN.
    assert_eq!(
        pin_token(
            &mut s,
            PinProtocol::Two,
            "0000",
            Some((2, Some("example.org")))
        )
        .0,
        Status::PinInvalid
    );
    assert_eq!(retries(&mut s).0, 7);
    assert_eq!(
        change_pin(&mut s, "1234", "1234"),
        Status::PinPolicyViolation
    );
    assert_eq!(change_pin(&mut s, "1234", "5678"), Status::Ok);
    let (_, info) = call(&mut s, GET_INFO, None);
    assert_eq!(field(&info, 0x0C), Some(&Value::Bool(false)));
    assert_eq!(
        pin_token(
            &mut s,
            PinProtocol::Two,
            "5678",
            Some((2, Some("example.org")))
        )
        .0,
        Status::Ok
    );
}

#[test]
fn no_mc_ga_permissions_with_client_pin() {
    // §6.5.5.7.2: mc and ga refused before the PIN is checked; §6.5.5.7.1:
    // getPinToken's token has no default permissions, so a getAssertion
    // with it fails.
    let mut s = Simulator::new(
        SimConfig::with_seed(1)
            .pin("1234")
            .no_mc_ga_permissions_with_client_pin(true),
    );
    let (_, info) = call(&mut s, GET_INFO, None);
    let options = field(&info, 4).expect("options");
    assert_eq!(
        tfield(options, "noMcGaPermissionsWithClientPin"),
        Some(&Value::Bool(true))
    );
    for permission in [1, 2, 3] {
        assert_eq!(
            pin_token(
                &mut s,
                PinProtocol::Two,
                "1234",
                Some((permission, Some("example.org")))
            )
            .0,
            Status::UnauthorizedPermission
        );
    }
    assert_eq!(retries(&mut s).0, 8);
    let (status, token) = pin_token(&mut s, PinProtocol::Two, "1234", None);
    assert_eq!(status, Status::Ok);
    let cdh = [7u8; 32];
    let param = hmac_sha256(&token, &cdh);
    let (status, _) = call(
        &mut s,
        MAKE_CREDENTIAL,
        Some(make_credential_request(
            &cdh,
            RP_ID,
            Some((&param, 2)),
            vec![],
        )),
    );
    assert_eq!(status, Status::PinAuthInvalid);
}

/// changePIN (§6.5.5.6) with protocol two.
fn change_pin(s: &mut Simulator, current: &str, new: &str) -> Status {
    let mut p = Platform::new(s, PinProtocol::Two);
    let new_enc = p.encrypt(&padded(new));
    let hash_enc = p.encrypt(&pin_hash(current));
    let mut msg = new_enc.clone();
    msg.extend_from_slice(&hash_enc);
    let auth = p.authenticate(&msg);
    call(
        s,
        CLIENT_PIN,
        Some(map(vec![
            (int(1), int(2)),
            (int(2), int(4)),
            (int(3), p.key_agreement.clone()),
            (int(4), byt(&auth)),
            (int(5), byt(&new_enc)),
            (int(6), byt(&hash_enc)),
        ])),
    )
    .0
}
