//! credProtect (CTAP 2.1 §12.1) and hmac-secret-mc (CTAP 2.2 §12.8),
//! driven with hand-built CBOR (the platform of `common`), not our client.

mod common;

use ciborium::Value;
use common::*;
use tokenring_core::Status;
use tokenring_sim::testing::PinProtocol;
use tokenring_sim::{SimConfig, Simulator};

const PIN: &str = "1234";
/// Permissions: makeCredential (0x01), getAssertion (0x02).
const MC: i64 = 0x01;
const GA: i64 = 0x02;

/// makeCredential with the given extensions map (PIN token when `pin`);
/// returns (status, credential id, extension outputs).
fn make(sim: &mut Simulator, pin: Option<&str>, extensions: Value) -> (Status, Vec<u8>, Value) {
    let cdh = [7u8; 32];
    let auth = pin.map(|pin| {
        let (s, token) = pin_token(sim, PinProtocol::Two, pin, Some((MC, Some(RP_ID))));
        assert_eq!(s, Status::Ok);
        PinProtocol::Two.authenticate(&token, &cdh)
    });
    let mut req = make_credential_request(&cdh, RP_ID, auth.as_deref().map(|a| (a, 2)), vec![]);
    if let Value::Map(entries) = &mut req {
        for (k, v) in entries.iter_mut() {
            if *k == int(6) {
                *v = extensions.clone();
            }
        }
    }
    let (status, body) = call(sim, MAKE_CREDENTIAL, Some(req));
    if status != Status::Ok {
        return (status, Vec::new(), Value::Null);
    }
    let auth_data = field(&body, 2).and_then(Value::as_bytes).expect("authData");
    let len = u16::from_be_bytes([auth_data[53], auth_data[54]]) as usize;
    let id = auth_data[55..55 + len].to_vec();
    // After the id: the COSE key, then the extension outputs.
    let mut rest = std::io::Cursor::new(&auth_data[55 + len..]);
    let _key: Value = ciborium::de::from_reader(&mut rest).expect("COSE key");
    let outputs: Value = ciborium::de::from_reader(&mut rest).expect("extensions");
    (status, id, outputs)
}

fn level(n: i64) -> Value {
    map(vec![
        (txt("credProtect"), int(n)),
        (txt("hmac-secret"), Value::Bool(true)),
    ])
}

fn ga_token(sim: &mut Simulator) -> Vec<u8> {
    let (s, token) = pin_token(sim, PinProtocol::Two, PIN, Some((GA, Some(RP_ID))));
    assert_eq!(s, Status::Ok);
    token
}

/// A probe as TokenRing's discovery sends it: up=false, allowList, no UV.
fn probe(sim: &mut Simulator, id: &[u8]) -> Status {
    let req = map(vec![
        (int(1), txt(RP_ID)),
        (int(2), byt(&[1u8; 32])),
        (
            int(3),
            Value::Array(vec![map(vec![
                (txt("id"), byt(id)),
                (txt("type"), txt("public-key")),
            ])]),
        ),
        (int(5), map(vec![(txt("up"), Value::Bool(false))])),
    ]);
    call(sim, GET_ASSERTION, Some(req)).0
}

#[test]
fn level_three_needs_user_verification_for_every_assertion() {
    let mut sim = Simulator::new(SimConfig::with_seed(3).pin(PIN));
    let (status, id, outputs) = make(&mut sim, Some(PIN), level(3));
    assert_eq!(status, Status::Ok);
    // §12.1: the authenticator reports the level it applied.
    assert_eq!(tfield(&outputs, "credProtect"), Some(&int(3)));
    // Without UV the credential is invisible, with and without up.
    let (status, _, _) = derive(&mut sim, PinProtocol::Two, &id, &[[5; 32]], None);
    assert_eq!(status, Status::NoCredentials);
    assert_eq!(probe(&mut sim, &id), Status::NoCredentials);
    // With the PIN: the hmac-secret output, from the with-UV CredRandom.
    let token = ga_token(&mut sim);
    let (status, outputs, flags) =
        derive(&mut sim, PinProtocol::Two, &id, &[[5; 32]], Some(&token));
    assert_eq!(status, Status::Ok);
    assert_eq!(outputs.len(), 1);
    assert_ne!(flags & 0x04, 0, "UV flag");
}

#[test]
fn levels_one_and_two_are_usable_without_uv_through_the_allow_list() {
    let mut sim = Simulator::new(SimConfig::with_seed(4).pin(PIN));
    for n in [1, 2] {
        let (status, id, outputs) = make(&mut sim, Some(PIN), level(n));
        assert_eq!(status, Status::Ok);
        assert_eq!(tfield(&outputs, "credProtect"), Some(&int(n)));
        let (status, outputs, _) = derive(&mut sim, PinProtocol::Two, &id, &[[6; 32]], None);
        assert_eq!(status, Status::Ok, "level {n}");
        assert_eq!(outputs.len(), 1);
        assert_eq!(probe(&mut sim, &id), Status::Ok, "level {n}");
    }
    // Without credProtect nothing is reported.
    let (status, _, outputs) = make(
        &mut sim,
        Some(PIN),
        map(vec![(txt("hmac-secret"), Value::Bool(true))]),
    );
    assert_eq!(status, Status::Ok);
    assert_eq!(tfield(&outputs, "credProtect"), None);
}

#[test]
fn an_unknown_level_is_an_invalid_parameter() {
    let mut sim = Simulator::new(SimConfig::with_seed(5));
    for n in [0, 4, -1] {
        let (status, _, _) = make(&mut sim, None, level(n));
        assert_eq!(status, Status::InvalidParameter, "level {n}");
    }
}

/// The hmac-secret-mc input: the hmac-secret input map under the shared secret.
fn mc_extensions(p: &mut Platform, salts: &[[u8; 32]]) -> Value {
    let enc = p.encrypt(&salts.concat());
    let auth = p.authenticate(&enc);
    map(vec![
        (txt("hmac-secret"), Value::Bool(true)),
        (
            txt("hmac-secret-mc"),
            map(vec![
                (int(1), p.key_agreement.clone()),
                (int(2), byt(&enc)),
                (int(3), byt(&auth)),
                (int(4), int(p.number())),
            ]),
        ),
    ])
}

#[test]
fn hmac_secret_mc_returns_the_outputs_a_later_assertion_gives() {
    for pin in [None, Some(PIN)] {
        let mut sim = Simulator::new(match pin {
            Some(pin) => SimConfig::with_seed(6).pin(pin),
            None => SimConfig::with_seed(6),
        });
        let salts = [[1u8; 32], [2u8; 32]];
        // The PIN token first: pin_token runs its own key agreement.
        let cdh = [7u8; 32];
        let auth = pin.map(|pin| {
            let (s, token) = pin_token(&mut sim, PinProtocol::Two, pin, Some((MC, Some(RP_ID))));
            assert_eq!(s, Status::Ok);
            PinProtocol::Two.authenticate(&token, &cdh)
        });
        let mut p = Platform::new(&mut sim, PinProtocol::Two);
        let extensions = mc_extensions(&mut p, &salts);
        let mut req = make_credential_request(&cdh, RP_ID, auth.as_deref().map(|a| (a, 2)), vec![]);
        if let Value::Map(entries) = &mut req {
            for (k, v) in entries.iter_mut() {
                if *k == int(6) {
                    *v = extensions.clone();
                }
            }
        }
        let (status, body) = call(&mut sim, MAKE_CREDENTIAL, Some(req));
        assert_eq!(status, Status::Ok);
        let auth_data = field(&body, 2).and_then(Value::as_bytes).expect("authData");
        let uv = auth_data[32] & 0x04 != 0;
        assert_eq!(uv, pin.is_some());
        let len = u16::from_be_bytes([auth_data[53], auth_data[54]]) as usize;
        let id = auth_data[55..55 + len].to_vec();
        let mut rest = std::io::Cursor::new(&auth_data[55 + len..]);
        let _key: Value = ciborium::de::from_reader(&mut rest).expect("COSE key");
        let outputs: Value = ciborium::de::from_reader(&mut rest).expect("extensions");
        let enc = tfield(&outputs, "hmac-secret-mc")
            .and_then(Value::as_bytes)
            .expect("hmac-secret-mc output");
        let at_creation = p.decrypt(enc);
        assert_eq!(at_creation.len(), 64);
        // The same salts in an assertion of the same UV state give the same outputs.
        let token = pin.map(|_| ga_token(&mut sim));
        let (status, later, _) = derive(&mut sim, PinProtocol::Two, &id, &salts, token.as_deref());
        assert_eq!(status, Status::Ok);
        assert_eq!(later.concat(), at_creation, "pin {pin:?}");
    }
}

#[test]
fn a_ctap_2_1_personality_ignores_hmac_secret_mc() {
    let mut sim = Simulator::new(SimConfig::with_seed(7).hmac_secret_mc(false));
    let (status, info) = call(&mut sim, GET_INFO, None);
    assert_eq!(status, Status::Ok);
    assert_eq!(
        field(&info, 2),
        Some(&Value::Array(vec![txt("credProtect"), txt("hmac-secret")]))
    );
    let mut p = Platform::new(&mut sim, PinProtocol::Two);
    let extensions = mc_extensions(&mut p, &[[1u8; 32]]);
    let (status, _, outputs) = make(&mut sim, None, extensions);
    assert_eq!(status, Status::Ok);
    assert_eq!(tfield(&outputs, "hmac-secret"), Some(&Value::Bool(true)));
    assert_eq!(tfield(&outputs, "hmac-secret-mc"), None);
}
