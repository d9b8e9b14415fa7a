//! Personalities: getInfo copies a real product's recorded answer (with
//! the edits `Personality::get_info` documents, and no others), and the
//! simulator behaves as that product does where it differs.

mod common;

use std::time::Duration;

use ciborium::Value;
use common::*;
use tokenring_core::Status;
use tokenring_sim::testing::PinProtocol;
use tokenring_sim::{Personality, ProvisionedCredential, SimConfig, SimState, Simulator};

fn sim(p: Personality) -> Simulator {
    Simulator::new(SimConfig::with_seed(3).personality(p))
}

fn sim_with_pin(p: Personality) -> Simulator {
    Simulator::new(SimConfig::with_seed(3).personality(p).pin("1234"))
}

fn entries(v: &Value) -> Vec<(i64, Value)> {
    v.as_map()
        .expect("a map")
        .iter()
        .map(|(k, v)| {
            (
                k.as_integer()
                    .and_then(|i| i64::try_from(i).ok())
                    .expect("integer key"),
                v.clone(),
            )
        })
        .collect()
}

fn texts(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|t| t.as_text().expect("text").to_string())
        .collect()
}

fn options(v: &Value) -> Vec<(String, bool)> {
    v.as_map()
        .expect("options")
        .iter()
        .map(|(k, v)| {
            (
                k.as_text().expect("name").to_string(),
                v.as_bool().expect("bool"),
            )
        })
        .collect()
}

const RECORDED: [Personality; 4] = [
    Personality::SecurityKeyCtap20,
    Personality::Yubikey5Fido21Pre,
    Personality::Token2Fido21,
    Personality::YubikeyBio,
];

#[test]
fn every_recording_names_its_source_and_decodes() {
    for p in RECORDED {
        let text = p.recording().expect("a recording");
        assert!(text.starts_with("# source: https://github.com/"), "{p}");
        assert!(text.contains("# commit: "), "{p}");
        let bytes = p.recorded_get_info().expect("hex");
        let value: Value = ciborium::de::from_reader(bytes.as_slice()).expect("CBOR");
        assert!(value.as_map().is_some(), "{p}");
        // Canonical CBOR: re-encoding gives the same bytes.
        assert_eq!(encode(&value), bytes, "{p}");
        assert_eq!(p.to_string().parse::<Personality>(), Ok(p));
    }
    assert_eq!(Personality::TokenringSim.recording(), None);
    assert_eq!(Personality::ALL.len(), 5);
    assert!("yubikey-6".parse::<Personality>().is_err());
}

/// getInfo is the recording but for the documented edits, and the edits
/// follow the state (clientPin after setPIN).
#[test]
fn get_info_is_the_recording_with_the_documented_edits() {
    for p in RECORDED {
        let recorded = decode(&p.recorded_get_info().expect("recording"));
        let mut s = sim(p);
        let (status, served) = call(&mut s, GET_INFO, None);
        assert_eq!(status, Status::Ok);
        // The served bytes are canonical too.
        let raw = s.process(GET_INFO, &[], &mut tokenring_sim::NoContext);
        assert_eq!(encode(&served), raw[1..].to_vec(), "{p}");

        let served_entries = entries(&served);
        let served_keys: Vec<i64> = served_entries.iter().map(|(k, _)| *k).collect();
        let expected_keys: Vec<i64> = entries(&recorded)
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| ![0x0B, 0x0F, 0x10, 0x14].contains(k))
            .collect();
        assert_eq!(served_keys, expected_keys, "{p}: the keys left out");
        for (key, value) in entries(&recorded) {
            let got = field(&served, key).cloned();
            match key {
                0x01 => {
                    let want: Vec<String> = texts(&value)
                        .into_iter()
                        .filter(|v| v != "U2F_V2")
                        .collect();
                    assert_eq!(texts(&got.expect("versions")), want, "{p}");
                }
                0x02 => {
                    let want: Vec<String> = texts(&value)
                        .into_iter()
                        .filter(|v| v == "credProtect" || v == "hmac-secret")
                        .collect();
                    assert_eq!(texts(&got.expect("extensions")), want, "{p}");
                }
                0x04 => {
                    let implemented = [
                        "rk",
                        "up",
                        "uv",
                        "plat",
                        "uvToken",
                        "alwaysUv",
                        "authnrCfg",
                        "clientPin",
                        "pinUvAuthToken",
                        "setMinPINLength",
                        "makeCredUvNotRqd",
                    ];
                    let want: Vec<(String, bool)> = options(&value)
                        .into_iter()
                        .filter(|(n, _)| implemented.contains(&n.as_str()))
                        .map(|(n, v)| match n.as_str() {
                            "rk" | "clientPin" => (n, false),
                            _ => (n, v),
                        })
                        .collect();
                    assert_eq!(options(&got.expect("options")), want, "{p}");
                }
                0x0A => {
                    let algs = got.expect("algorithms");
                    let algs = algs.as_array().expect("array");
                    assert_eq!(algs.len(), 1, "{p}: ES256 only");
                    assert_eq!(tfield(&algs[0], "alg"), Some(&int(-7)));
                }
                0x0C => assert_eq!(got, Some(Value::Bool(false)), "{p}"),
                0x0D => assert_eq!(got, Some(int(4)), "{p}"),
                0x0B | 0x0F | 0x10 | 0x14 => assert_eq!(got, None, "{p}"),
                _ => assert_eq!(got, Some(value), "{p}: key {key:#04x} as recorded"),
            }
        }
        assert_eq!(set_pin(&mut s, PinProtocol::One, "1234"), Status::Ok);
        let (_, served) = call(&mut s, GET_INFO, None);
        assert_eq!(
            tfield(field(&served, 4).expect("options"), "clientPin"),
            Some(&Value::Bool(true)),
            "{p}"
        );
    }
}

/// A client that knows only CTAP 2.0, and one that reads the versions:
/// the CTAP 2.0 and FIDO_2_1_PRE keys have no authenticatorSelection, no
/// authenticatorConfig, no pinUvAuthToken subcommands.
#[test]
fn ctap_2_0_and_2_1_pre_lack_the_ctap_2_1_commands() {
    for (p, unknown) in [
        (Personality::SecurityKeyCtap20, Status::Other),
        (Personality::Yubikey5Fido21Pre, Status::InvalidSubcommand),
    ] {
        let mut s = sim_with_pin(p);
        assert_eq!(
            call(&mut s, SELECTION, None).0,
            Status::InvalidCommand,
            "{p}"
        );
        assert_eq!(
            call(
                &mut s,
                AUTHENTICATOR_CONFIG,
                Some(map(vec![(int(1), int(2))]))
            )
            .0,
            Status::InvalidCommand,
            "{p}"
        );
        assert_eq!(
            pin_token(&mut s, PinProtocol::One, "1234", Some((2, Some(RP_ID)))).0,
            unknown,
            "{p}: getPinUvAuthTokenUsingPinWithPermissions"
        );
        let (status, _) = call(
            &mut s,
            CLIENT_PIN,
            Some(map(vec![(int(1), int(1)), (int(2), int(7))])),
        );
        assert_eq!(status, unknown, "{p}: getUVRetries");
        // Protocol one only.
        let (status, _) = call(
            &mut s,
            CLIENT_PIN,
            Some(map(vec![(int(1), int(2)), (int(2), int(2))])),
        );
        assert_eq!(status, Status::InvalidParameter, "{p}");
    }
    // The CTAP 2.1 ones have them.
    for p in [Personality::Token2Fido21, Personality::YubikeyBio] {
        let mut s = sim(p);
        assert_eq!(call(&mut s, SELECTION, None).0, Status::Ok, "{p}");
    }
}

/// getPinToken on the older keys: a 16-byte token that serves any
/// makeCredential and getAssertion, for any RP, until power-off.
#[test]
fn ctap_2_0_pin_tokens_are_16_bytes_and_last() {
    for p in [
        Personality::SecurityKeyCtap20,
        Personality::Yubikey5Fido21Pre,
    ] {
        let mut s = sim_with_pin(p);
        // CTAP 2.0 knows no permissions or rpId in clientPIN: ignored.
        let (status, token) = pin_token_v1(
            &mut s,
            "1234",
            &[(int(9), int(1)), (int(10), txt("x.example"))],
        );
        assert_eq!(status, Status::Ok, "{p}");
        assert_eq!(token.len(), 16, "{p}: a 16-byte pinToken");
        let cdh = [5u8; 32];
        let param = PinProtocol::One.authenticate(&token, &cdh);
        let id = {
            let req = make_credential_request(&cdh, RP_ID, Some((&param, 1)), vec![]);
            let (status, body) = call(&mut s, MAKE_CREDENTIAL, Some(req));
            assert_eq!(status, Status::Ok, "{p}");
            let ad = field(&body, 2).and_then(Value::as_bytes).expect("authData");
            assert_eq!(ad[32] & 0x05, 0x05, "{p}: UP and UV");
            let len = u16::from_be_bytes([ad[53], ad[54]]) as usize;
            ad[55..55 + len].to_vec()
        };
        // The same token again, for another RP and for assertions.
        let req = make_credential_request(&cdh, "other.example", Some((&param, 1)), vec![]);
        assert_eq!(
            call(&mut s, MAKE_CREDENTIAL, Some(req)).0,
            Status::Ok,
            "{p}"
        );
        s.advance_clock(Duration::from_secs(3600));
        for _ in 0..3 {
            let (status, outputs, flags) =
                derive(&mut s, PinProtocol::One, &id, &[[1; 32]], Some(&token));
            assert_eq!(status, Status::Ok, "{p}: the token is not spent");
            assert_eq!(flags & 0x05, 0x05);
            assert_eq!(outputs.len(), 1);
        }
        s.power_cycle();
        let (status, _, _) = derive(&mut s, PinProtocol::One, &id, &[[1; 32]], Some(&token));
        assert_eq!(status, Status::PinAuthInvalid, "{p}: gone at power-off");
    }
    // A CTAP 2.1 token is spent after one use with user presence.
    let mut s = sim_with_pin(Personality::Token2Fido21);
    let (status, token) = pin_token(&mut s, PinProtocol::Two, "1234", Some((3, Some(RP_ID))));
    assert_eq!((status, token.len()), (Status::Ok, 32));
    let id = enroll(&mut s, Some("1234"));
    let (status, _, _) = derive(&mut s, PinProtocol::Two, &id, &[[1; 32]], Some(&token));
    assert_eq!(
        status,
        Status::PinAuthInvalid,
        "spent by enroll's makeCredential"
    );
}

/// getPinToken (0x05) with protocol one and extra request keys.
fn pin_token_v1(s: &mut Simulator, pin: &str, extra: &[(Value, Value)]) -> (Status, Vec<u8>) {
    let mut p = Platform::new(s, PinProtocol::One);
    let enc = p.encrypt(&pin_hash(pin));
    let mut req = vec![
        (int(1), int(1)),
        (int(2), int(5)),
        (int(3), p.key_agreement.clone()),
        (int(6), byt(&enc)),
    ];
    req.extend_from_slice(extra);
    let (status, body) = call(s, CLIENT_PIN, Some(map(req)));
    if status != Status::Ok {
        return (status, Vec::new());
    }
    let token = p.decrypt(field(&body, 2).and_then(Value::as_bytes).expect("token"));
    (status, token)
}

/// hmac-secret with hand-made salts on the CTAP 2.0 key: key 4 ignored,
/// CTAP 2.0-era codes for a bad saltAuth (0xE0) and bad salt lengths.
#[test]
fn ctap_2_0_hmac_secret_codes() {
    let mut s = sim(Personality::SecurityKeyCtap20);
    let id = enroll_v1(&mut s);
    let mut p = Platform::new(&mut s, PinProtocol::One);
    let request = |salt_enc: &[u8], salt_auth: &[u8], ka: &Value, key4: Option<i64>| {
        let mut input = vec![
            (int(1), ka.clone()),
            (int(2), byt(salt_enc)),
            (int(3), byt(salt_auth)),
        ];
        if let Some(n) = key4 {
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
    let enc = p.encrypt(&[1u8; 32]);
    let auth = p.authenticate(&enc);
    let ka = p.key_agreement.clone();
    // Key 4 = 2 (protocol two, unknown to this key): ignored.
    assert_eq!(
        call(
            &mut s,
            GET_ASSERTION,
            Some(request(&enc, &auth, &ka, Some(2)))
        )
        .0,
        Status::Ok
    );
    let mut bad = auth.clone();
    bad[0] ^= 1;
    assert_eq!(
        call(&mut s, GET_ASSERTION, Some(request(&enc, &bad, &ka, None))).0,
        Status::ExtensionFirst
    );
    let short = p.encrypt(&[1u8; 16]);
    let short_auth = p.authenticate(&short);
    assert_eq!(
        call(
            &mut s,
            GET_ASSERTION,
            Some(request(&short, &short_auth, &ka, None))
        )
        .0,
        Status::InvalidLength
    );
    // The CTAP 2.1 keys: PIN_AUTH_INVALID and INVALID_PARAMETER.
    for per in [
        Personality::Yubikey5Fido21Pre,
        Personality::Token2Fido21,
        Personality::YubikeyBio,
    ] {
        let mut s = sim(per);
        let id = enroll_v1(&mut s);
        let mut p = Platform::new(&mut s, PinProtocol::One);
        let enc = p.encrypt(&[1u8; 32]);
        let mut bad = p.authenticate(&enc);
        bad[0] ^= 1;
        let ka = p.key_agreement.clone();
        let req = |salt_enc: &[u8], salt_auth: &[u8]| {
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
                            (int(4), int(1)),
                        ]),
                    )]),
                ),
            ])
        };
        assert_eq!(
            call(&mut s, GET_ASSERTION, Some(req(&enc, &bad))).0,
            Status::PinAuthInvalid,
            "{per}"
        );
        let short = p.encrypt(&[1u8; 16]);
        let short_auth = p.authenticate(&short);
        assert_eq!(
            call(&mut s, GET_ASSERTION, Some(req(&short, &short_auth))).0,
            Status::InvalidParameter,
            "{per}"
        );
    }
}

/// makeCredential without a PIN (none set), hmac-secret on; the id.
fn enroll_v1(s: &mut Simulator) -> Vec<u8> {
    let cdh = [7u8; 32];
    let req = make_credential_request(&cdh, RP_ID, None, vec![]);
    let (status, body) = call(s, MAKE_CREDENTIAL, Some(req));
    assert_eq!(status, Status::Ok, "makeCredential");
    let ad = field(&body, 2).and_then(Value::as_bytes).expect("authData");
    let len = u16::from_be_bytes([ad[53], ad[54]]) as usize;
    ad[55..55 + len].to_vec()
}

#[test]
fn ctap_2_0_pin_answers() {
    let mut s = sim_with_pin(Personality::SecurityKeyCtap20);
    // setPIN with a PIN set: NOT_ALLOWED, as CTAP 2.0 firmware answers.
    assert_eq!(
        set_pin(&mut s, PinProtocol::One, "5678"),
        Status::NotAllowed
    );
    // The zero-length pinAuth probe with a PIN set: PIN_AUTH_INVALID.
    let cdh = [1u8; 32];
    let req = make_credential_request(&cdh, RP_ID, Some((&[], 1)), vec![]);
    assert_eq!(
        call(&mut s, MAKE_CREDENTIAL, Some(req)).0,
        Status::PinAuthInvalid
    );
    // A PIN set and no pinAuth: PIN_REQUIRED (0x36).
    let req = make_credential_request(&cdh, RP_ID, None, vec![]);
    assert_eq!(
        call(&mut s, MAKE_CREDENTIAL, Some(req)).0,
        Status::PuatRequired
    );
    // uv without built-in UV: UNSUPPORTED_OPTION (CTAP 2.0).
    let req = make_credential_request(
        &cdh,
        RP_ID,
        None,
        vec![(int(7), map(vec![(txt("uv"), Value::Bool(true))]))],
    );
    assert_eq!(
        call(&mut s, MAKE_CREDENTIAL, Some(req)).0,
        Status::UnsupportedOption
    );
    // The FIDO_2_1_PRE key answers with CTAP 2.1 codes.
    let mut s = sim_with_pin(Personality::Yubikey5Fido21Pre);
    assert_eq!(
        set_pin(&mut s, PinProtocol::One, "5678"),
        Status::PinAuthInvalid
    );
    let req = make_credential_request(&cdh, RP_ID, Some((&[], 1)), vec![]);
    assert_eq!(
        call(&mut s, MAKE_CREDENTIAL, Some(req)).0,
        Status::PinInvalid
    );
}

#[test]
fn yubikeys_refuse_a_reset_after_five_seconds() {
    for (p, window) in [
        (Personality::SecurityKeyCtap20, 5),
        (Personality::Yubikey5Fido21Pre, 5),
        (Personality::YubikeyBio, 5),
        (Personality::Token2Fido21, 10),
        (Personality::TokenringSim, 10),
    ] {
        let mut s = sim(p);
        s.advance_clock(Duration::from_secs(window) + Duration::from_millis(1));
        assert_eq!(call(&mut s, RESET, None).0, Status::NotAllowed, "{p}");
        s.power_cycle();
        s.advance_clock(Duration::from_secs(window) - Duration::from_millis(1));
        assert_eq!(call(&mut s, RESET, None).0, Status::Ok, "{p}");
    }
}

/// Token2 announces maxCredentialIdLength 96: its ids fit, open again in
/// another process over the same state, and keep two CredRandoms.
#[test]
fn token2_credential_ids_fit_its_max_credential_id_length() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("token2.json");
    let mut s = Simulator::create(
        SimConfig::with_seed(4)
            .personality(Personality::Token2Fido21)
            .pin("1234"),
        &path,
    )
    .expect("create");
    let (_, info) = call(&mut s, GET_INFO, None);
    assert_eq!(field(&info, 8), Some(&int(96)));
    assert_eq!(field(&info, 5), Some(&int(1536)));
    let id = enroll(&mut s, Some("1234"));
    assert!(id.len() <= 96, "{} bytes", id.len());
    let (status, plain, _) = derive(&mut s, PinProtocol::Two, &id, &[[1; 32], [2; 32]], None);
    assert_eq!(status, Status::Ok);
    assert_ne!(plain[0], plain[1]);
    let (_, t) = pin_token(&mut s, PinProtocol::Two, "1234", Some((2, Some(RP_ID))));
    let (status, verified, flags) = derive(&mut s, PinProtocol::Two, &id, &[[1; 32]], Some(&t));
    assert_eq!(status, Status::Ok);
    assert_eq!(flags & 0x04, 0x04);
    assert_ne!(verified[0], plain[0], "a CredRandom of its own with UV");
    drop(s);
    let mut again = Simulator::open(&path).expect("open");
    assert_eq!(again.personality(), Personality::Token2Fido21);
    let (status, reopened, _) = derive(&mut again, PinProtocol::One, &id, &[[1; 32]], None);
    assert_eq!(status, Status::Ok);
    assert_eq!(reopened[0], plain[0], "the same output in another process");
    // A provisioned id longer than 96 bytes is refused.
    assert!(again
        .provision(ProvisionedCredential {
            credential_id: vec![7; 97],
            rp_id: RP_ID.into(),
            cred_random: [1; 32],
            cred_random_uv: None,
            cred_protect: None,
        })
        .is_err());
    // maxMsgSize 1536: one byte more is too large.
    let big = vec![0u8; 1536];
    let response = again.process(MAKE_CREDENTIAL, &big, &mut tokenring_sim::NoContext);
    assert_eq!(response, vec![u8::from(Status::RequestTooLarge)]);
}

/// YubiKey Bio: alwaysUv on and built-in UV, so every request is verified
/// by the (simulated) fingerprint; UV tokens through 0x06.
#[test]
fn yubikey_bio_verifies_every_request() {
    let mut s = sim(Personality::YubikeyBio);
    let (_, info) = call(&mut s, GET_INFO, None);
    let opts = field(&info, 4).expect("options");
    assert_eq!(tfield(opts, "alwaysUv"), Some(&Value::Bool(true)));
    assert_eq!(tfield(opts, "uv"), Some(&Value::Bool(true)));
    assert_eq!(tfield(opts, "makeCredUvNotRqd"), Some(&Value::Bool(false)));
    let id = enroll(&mut s, None);
    let (status, _, flags) = derive(&mut s, PinProtocol::Two, &id, &[[1; 32]], None);
    assert_eq!(status, Status::Ok);
    assert_eq!(flags & 0x05, 0x05, "UV by the built-in method");
    // getPinUvAuthTokenUsingUvWithPermissions.
    let p = Platform::new(&mut s, PinProtocol::Two);
    let (status, body) = call(
        &mut s,
        CLIENT_PIN,
        Some(map(vec![
            (int(1), int(2)),
            (int(2), int(6)),
            (int(3), p.key_agreement.clone()),
            (int(9), int(2)),
            (int(10), txt(RP_ID)),
        ])),
    );
    assert_eq!(status, Status::Ok);
    let token = p.decrypt(field(&body, 2).and_then(Value::as_bytes).expect("token"));
    assert_eq!(token.len(), 32);
    let (status, _, flags) = derive(&mut s, PinProtocol::Two, &id, &[[1; 32]], Some(&token));
    assert_eq!(status, Status::Ok);
    assert_eq!(flags & 0x04, 0x04);
}

#[test]
fn a_state_file_that_contradicts_its_personality_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sk.json");
    Simulator::create(
        SimConfig::with_seed(5).personality(Personality::SecurityKeyCtap20),
        &path,
    )
    .expect("create");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(
        text.contains("\"personality\": \"security-key-ctap20\""),
        "{text}"
    );
    let state = SimState::load(&path).expect("loads");
    assert_eq!(state.pin_uv_auth_protocols, vec![1]);
    assert_eq!(state.max_msg_size, 1200);
    assert_eq!(state.bad_salt_auth_status, u8::from(Status::ExtensionFirst));
    for (what, edited) in [
        (
            "protocols",
            text.replacen(
                "\"pin_uv_auth_protocols\": [\n    1\n  ]",
                "\"pin_uv_auth_protocols\": [\n    2\n  ]",
                1,
            ),
        ),
        (
            "alwaysUv",
            text.replacen("\"always_uv\": false", "\"always_uv\": true", 1),
        ),
        (
            "personality",
            text.replacen("security-key-ctap20", "yubikey-7", 1),
        ),
    ] {
        assert_ne!(edited, text, "{what}");
        std::fs::write(&path, &edited).expect("write");
        assert!(
            matches!(
                SimState::load(&path),
                Err(tokenring_sim::SimError::InvalidState { .. })
            ),
            "{what}"
        );
    }
}
