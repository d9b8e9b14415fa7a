//! The client against a scripted transport: a closure answers each request
//! (a minimal authenticator side where crypto is needed) and every request
//! is recorded, so the tests can look at what the client sent and feed it
//! hostile answers the simulator would never give.

#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::rc::Rc;

use ciborium::Value;
use tokenring_core::command;
use tokenring_core::internal::auth_data::{build, flags};
use tokenring_core::internal::cbor::{self, IntMap};
use tokenring_core::internal::cose::CoseEc2Key;
use tokenring_core::internal::pin_protocol::{KeyAgreement, PinUvAuthProtocol};
use tokenring_core::testing::{PromptEvent, ScriptedPrompt};
use tokenring_core::{
    Authenticator, CredentialId, Ctap2Client, DeriveRequest, Error, KeepaliveStatus, Pin, Prompt,
    Reply, Salts, Transport, TransportError, TransportInfo, TransportKind, UserEntity, UvMode,
};

type Responder = Box<dyn FnMut(u8, &[u8], &dyn Prompt) -> Reply>;
/// Every request the client sent: (command, payload).
type Sent = Rc<RefCell<Vec<(u8, Vec<u8>)>>>;

struct ScriptedTransport {
    respond: Responder,
    sent: Sent,
    keepalive: bool,
}

impl Transport for ScriptedTransport {
    fn exchange(
        &mut self,
        cmd: u8,
        payload: &[u8],
        prompt: &dyn Prompt,
    ) -> Result<Reply, TransportError> {
        self.sent.borrow_mut().push((cmd, payload.to_vec()));
        Ok((self.respond)(cmd, payload, prompt))
    }
    fn info(&self) -> TransportInfo {
        TransportInfo {
            kind: TransportKind::Sim,
            name: "scripted".into(),
            path: "script".into(),
        }
    }
    fn reports_keepalive(&self) -> bool {
        self.keepalive
    }
}

fn ok(value: &Value) -> Reply {
    Reply {
        status: 0,
        body: cbor::encode(value).unwrap(),
    }
}

fn status(code: u8) -> Reply {
    Reply {
        status: code,
        body: Vec::new(),
    }
}

fn get_info(versions: &[&str], options: &[(&'static str, bool)], protocols: &[u8]) -> Value {
    cbor::int_map([
        (
            1,
            Value::Array(
                versions
                    .iter()
                    .map(|v| Value::Text(v.to_string()))
                    .collect(),
            ),
        ),
        (2, Value::Array(vec![Value::Text("hmac-secret".into())])),
        (3, cbor::bytes(&[7; 16])),
        (
            4,
            cbor::text_map(options.iter().map(|(k, v)| (*k, Value::Bool(*v)))),
        ),
        (
            6,
            Value::Array(
                protocols
                    .iter()
                    .map(|p| Value::Integer((*p).into()))
                    .collect(),
            ),
        ),
    ])
}

fn authenticator_secret() -> p256::SecretKey {
    p256::SecretKey::from_slice(&[0x33; 32]).unwrap()
}

fn key_agreement_reply() -> Reply {
    let key = CoseEc2Key::key_agreement(authenticator_secret().public_key());
    ok(&cbor::int_map([(1, key.to_value())]))
}

/// The authenticator's side of the key agreement, from the platform key in
/// a request: the same shared secret the client derived.
fn authenticator_side(protocol: PinUvAuthProtocol, platform_key: Value) -> KeyAgreement {
    let platform = CoseEc2Key::from_key_agreement(platform_key).unwrap();
    KeyAgreement::with_secret(protocol, &platform, &authenticator_secret())
}

fn client(respond: Responder, keepalive: bool) -> (Ctap2Client<ScriptedTransport>, Sent) {
    let sent = Rc::new(RefCell::new(Vec::new()));
    let transport = ScriptedTransport {
        respond,
        sent: Rc::clone(&sent),
        keepalive,
    };
    (Ctap2Client::new(transport).unwrap(), sent)
}

fn derive_request(cred: &CredentialId, uv: UvMode) -> DeriveRequest<'_> {
    DeriveRequest {
        credential: cred,
        rp_id: "example.org",
        salts: Salts::One([1; 32]),
        uv,
        purpose: "test",
    }
}

/// An authenticator that answers getInfo, getKeyAgreement, and getAssertion
/// with an hmac-secret output of `output_len` plaintext bytes and `flag_bits`.
fn hmac_authenticator(protocol: PinUvAuthProtocol, output_len: usize, flag_bits: u8) -> Responder {
    Box::new(move |cmd, payload, _prompt| match cmd {
        command::GET_INFO => ok(&get_info(
            &["FIDO_2_1"],
            &[("clientPin", false)],
            &[protocol.number()],
        )),
        command::CLIENT_PIN => key_agreement_reply(),
        command::GET_ASSERTION => {
            let mut req = IntMap::decode(payload, "req").unwrap();
            let ext = cbor::into_text_map(req.require(4, "ext").unwrap(), "ext").unwrap();
            let mut input = IntMap::from_value(ext.into_iter().next().unwrap().1, "hs").unwrap();
            let ka = authenticator_side(protocol, input.require(1, "ka").unwrap());
            let enc = ka
                .shared_secret()
                .encrypt(&vec![0x77; output_len], &mut rand_core::OsRng)
                .unwrap();
            let ext = cbor::text_map([("hmac-secret", Value::Bytes(enc))]);
            let ad = build("example.org", flag_bits | flags::ED, None, Some(&ext));
            ok(&cbor::int_map([
                (2, Value::Bytes(ad)),
                (3, cbor::bytes(&[0; 70])),
            ]))
        }
        _ => status(0x01),
    })
}

#[test]
fn a_scripted_authenticator_round_trip_works() {
    for protocol in PinUvAuthProtocol::SUPPORTED {
        let (mut c, sent) = client(hmac_authenticator(protocol, 32, flags::UP), true);
        let cred = CredentialId(vec![1; 32]);
        let out = c
            .derive(
                &derive_request(&cred, UvMode::PresenceOnly),
                &ScriptedPrompt::new(),
            )
            .unwrap();
        assert_eq!(out.first.expose_secret(), &[0x77; 32]);
        // The request: no options (up defaults to true), no pinUvAuthParam,
        // pinUvAuthProtocol inside hmac-secret only for protocol two.
        let sent = sent.borrow();
        let (cmd, body) = sent.last().unwrap();
        assert_eq!(*cmd, command::GET_ASSERTION);
        let mut req = IntMap::decode(body, "req").unwrap();
        assert!(req.get(5).is_none() && req.get(6).is_none() && req.get(7).is_none());
        let ext = cbor::into_text_map(req.require(4, "ext").unwrap(), "ext").unwrap();
        let input = IntMap::from_value(ext.into_iter().next().unwrap().1, "hs").unwrap();
        assert_eq!(input.get(4).is_some(), protocol == PinUvAuthProtocol::Two);
    }
}

#[test]
fn wrong_output_lengths_and_flags_are_errors() {
    for protocol in PinUvAuthProtocol::SUPPORTED {
        for len in [16usize, 48, 64] {
            let (mut c, _) = client(hmac_authenticator(protocol, len, flags::UP), true);
            let cred = CredentialId(vec![1; 32]);
            let err = c.derive(
                &derive_request(&cred, UvMode::PresenceOnly),
                &ScriptedPrompt::new(),
            );
            assert!(
                matches!(err, Err(Error::MalformedResponse(_))),
                "{protocol:?} {len}"
            );
        }
        // No touch reported, or a UV nobody asked for: refused.
        for bits in [0, flags::UP | flags::UV] {
            let (mut c, _) = client(hmac_authenticator(protocol, 32, bits), true);
            let cred = CredentialId(vec![1; 32]);
            let err = c.derive(
                &derive_request(&cred, UvMode::PresenceOnly),
                &ScriptedPrompt::new(),
            );
            assert!(matches!(err, Err(Error::MalformedResponse(_))));
        }
    }
}

#[test]
fn key_agreement_point_not_on_the_curve_is_refused() {
    let respond: Responder = Box::new(|cmd, _, _| match cmd {
        command::GET_INFO => ok(&get_info(&["FIDO_2_1"], &[], &[2])),
        command::CLIENT_PIN => {
            let (x, mut y) =
                CoseEc2Key::key_agreement(authenticator_secret().public_key()).coordinates();
            y[0] ^= 1;
            ok(&cbor::int_map([(
                1,
                cbor::int_map([
                    (1, Value::Integer(2.into())),
                    (3, Value::Integer((-25).into())),
                    (-1, Value::Integer(1.into())),
                    (-2, cbor::bytes(&x)),
                    (-3, cbor::bytes(&y)),
                ]),
            )]))
        }
        _ => status(0x01),
    });
    let (mut c, _) = client(respond, true);
    let cred = CredentialId(vec![1; 32]);
    match c.derive(
        &derive_request(&cred, UvMode::PresenceOnly),
        &ScriptedPrompt::new(),
    ) {
        Err(Error::MalformedResponse(m)) => assert!(m.contains("not on the P-256 curve"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
}

#[test]
fn hostile_get_info_is_an_error() {
    for body in [
        vec![],
        vec![0xA1],
        vec![0x80],
        vec![0xA1, 0x01, 0x80],
        vec![0xBF, 0x01],
    ] {
        let sent = Rc::new(RefCell::new(Vec::new()));
        let body2 = body.clone();
        let transport = ScriptedTransport {
            respond: Box::new(move |_, _, _| Reply {
                status: 0,
                body: body2.clone(),
            }),
            sent,
            keepalive: true,
        };
        assert!(
            matches!(
                Ctap2Client::new(transport),
                Err(Error::MalformedResponse(_))
            ),
            "{body:02x?}"
        );
    }
}

#[test]
fn ctap20_select_falls_back_to_make_credential() {
    for answer in [0x31u8, 0x35] {
        let respond: Responder = Box::new(move |cmd, _, prompt| match cmd {
            command::GET_INFO => ok(&get_info(&["FIDO_2_0"], &[("clientPin", true)], &[1])),
            command::MAKE_CREDENTIAL => {
                prompt.keepalive(KeepaliveStatus::UserPresenceNeeded);
                status(answer)
            }
            _ => status(0x01),
        });
        let (mut c, sent) = client(respond, true);
        let prompt = ScriptedPrompt::new();
        c.select(&prompt).unwrap();
        assert_eq!(prompt.touches(), 1);
        let sent = sent.borrow();
        let (cmd, body) = sent.last().unwrap();
        assert_eq!(*cmd, command::MAKE_CREDENTIAL);
        let req = IntMap::decode(body, "req").unwrap();
        assert_eq!(req.get(8), Some(&Value::Bytes(vec![])));
    }
}

#[test]
fn touch_is_announced_before_sending_without_keepalives() {
    for keepalive in [false, true] {
        let (mut c, _) = client(
            hmac_authenticator(PinUvAuthProtocol::Two, 32, flags::UP),
            keepalive,
        );
        let cred = CredentialId(vec![1; 32]);
        let prompt = ScriptedPrompt::new();
        c.derive(&derive_request(&cred, UvMode::PresenceOnly), &prompt)
            .unwrap();
        // This authenticator sends no keepalive: only a transport that
        // reports none gets the touch announced up front.
        let expected = if keepalive {
            vec![]
        } else {
            vec![
                PromptEvent::TouchNeeded("test".into()),
                PromptEvent::TouchDone,
            ]
        };
        assert_eq!(prompt.events(), expected);
    }
}

/// CTAP 2.1 token with a PIN and built-in UV: the UV token path sends the
/// pinUvAuthParam and never `uv: true` with it.
#[test]
fn never_uv_true_together_with_pin_uv_auth_param() {
    let protocol = PinUvAuthProtocol::Two;
    let token = [0x99u8; 32];
    let respond: Responder = Box::new(move |cmd, payload, _| match cmd {
        command::GET_INFO => ok(&get_info(
            &["FIDO_2_0", "FIDO_2_1"],
            &[("clientPin", true), ("uv", true), ("pinUvAuthToken", true)],
            &[2, 1],
        )),
        command::CLIENT_PIN => {
            let mut req = IntMap::decode(payload, "req").unwrap();
            match req.require(2, "sub").unwrap() {
                Value::Integer(i) if i128::from(i) == 2 => key_agreement_reply(),
                Value::Integer(i) if i128::from(i) == 6 => {
                    assert_eq!(req.get(9), Some(&Value::Integer(2.into())), "ga permission");
                    assert_eq!(req.get(10), Some(&Value::Text("example.org".into())));
                    let ka = authenticator_side(protocol, req.require(3, "ka").unwrap());
                    let enc = ka
                        .shared_secret()
                        .encrypt(&token, &mut rand_core::OsRng)
                        .unwrap();
                    ok(&cbor::int_map([(2, Value::Bytes(enc))]))
                }
                _ => status(0x3E),
            }
        }
        command::GET_ASSERTION => {
            let mut req = IntMap::decode(payload, "req").unwrap();
            if let Some(options) = req.take(5) {
                let options = cbor::into_text_map(options, "options").unwrap();
                assert!(
                    !options.iter().any(|(k, _)| k == "uv"),
                    "uv sent with pinUvAuthParam"
                );
            }
            let cdh = cbor::into_bytes(req.require(2, "cdh").unwrap(), "cdh", 32).unwrap();
            let param = cbor::into_bytes(req.require(6, "param").unwrap(), "param", 64).unwrap();
            assert!(tokenring_core::internal::pin_protocol::verify(
                protocol, &token, &cdh, &param
            ));
            let ext = cbor::into_text_map(req.require(4, "ext").unwrap(), "ext").unwrap();
            let mut input = IntMap::from_value(ext.into_iter().next().unwrap().1, "hs").unwrap();
            let ka = authenticator_side(protocol, input.require(1, "ka").unwrap());
            let enc = ka
                .shared_secret()
                .encrypt(&[0x55; 32], &mut rand_core::OsRng)
                .unwrap();
            let ext = cbor::text_map([("hmac-secret", Value::Bytes(enc))]);
            let ad = build(
                "example.org",
                flags::UP | flags::UV | flags::ED,
                None,
                Some(&ext),
            );
            ok(&cbor::int_map([
                (2, Value::Bytes(ad)),
                (3, cbor::bytes(&[0; 70])),
            ]))
        }
        _ => status(0x01),
    });
    let (mut c, sent) = client(respond, true);
    let cred = CredentialId(vec![1; 32]);
    let out = c
        .derive(
            &derive_request(&cred, UvMode::Verified),
            &ScriptedPrompt::new(),
        )
        .unwrap();
    assert_eq!(out.first.expose_secret(), &[0x55; 32]);
    assert!(sent
        .borrow()
        .iter()
        .any(|(cmd, _)| *cmd == command::GET_ASSERTION));
}

#[test]
fn pin_invalid_reports_retries_from_get_pin_retries() {
    let respond: Responder = Box::new(|cmd, payload, _| match cmd {
        command::GET_INFO => ok(&get_info(
            &["FIDO_2_1"],
            &[("clientPin", true), ("pinUvAuthToken", true)],
            &[2],
        )),
        command::CLIENT_PIN => {
            let mut req = IntMap::decode(payload, "req").unwrap();
            match req.require(2, "sub").unwrap() {
                Value::Integer(i) if i128::from(i) == 1 => {
                    ok(&cbor::int_map([(3, Value::Integer(5.into()))]))
                }
                Value::Integer(i) if i128::from(i) == 2 => key_agreement_reply(),
                Value::Integer(i) if i128::from(i) == 4 => status(0x31),
                _ => status(0x3E),
            }
        }
        _ => status(0x01),
    });
    let (mut c, sent) = client(respond, true);
    assert!(matches!(
        c.change_pin(&Pin::new("1111"), &Pin::new("2222")),
        Err(Error::PinInvalid { retries: Some(5) })
    ));
    // The wrong PIN made the authenticator regenerate its key: the next PIN
    // operation agrees on a new key first.
    let before = sent.borrow().len();
    let _ = c.change_pin(&Pin::new("1111"), &Pin::new("2222"));
    let subs: Vec<Value> = sent.borrow()[before..]
        .iter()
        .map(|(_, body)| IntMap::decode(body, "r").unwrap().require(2, "s").unwrap())
        .collect();
    assert_eq!(subs.first(), Some(&Value::Integer(2.into())));
    assert!(Error::PinInvalid { retries: Some(5) }
        .to_string()
        .contains("5 tries left"));
}

#[test]
fn enroll_refuses_a_credential_without_hmac_secret_or_for_another_rp() {
    let key = CoseEc2Key::key_agreement(authenticator_secret().public_key());
    for (rp, ext) in [
        ("example.org", None),
        (
            "example.org",
            Some(cbor::text_map([("hmac-secret", Value::Bool(false))])),
        ),
        (
            "evil.example",
            Some(cbor::text_map([("hmac-secret", Value::Bool(true))])),
        ),
    ] {
        let key = key.clone();
        let respond: Responder = Box::new(move |cmd, _, _| match cmd {
            command::GET_INFO => ok(&get_info(&["FIDO_2_1"], &[("clientPin", false)], &[2])),
            command::MAKE_CREDENTIAL => {
                let bits = flags::UP | flags::AT | if ext.is_some() { flags::ED } else { 0 };
                let ad = build(rp, bits, Some((&[4; 64], &key)), ext.as_ref());
                ok(&cbor::int_map([
                    (1, Value::Text("none".into())),
                    (2, Value::Bytes(ad)),
                    (3, cbor::text_map([])),
                ]))
            }
            _ => status(0x01),
        });
        let (mut c, _) = client(respond, true);
        assert!(c
            .enroll(
                "example.org",
                &UserEntity::default(),
                &ScriptedPrompt::new()
            )
            .is_err());
    }
}

/// What python-fido2 and libfido2 accept and firmware varies on: a
/// keyAgreement with neither `alg` nor `kty`/`crv` (only the coordinates,
/// still on the curve), and pinUvAuthTokens of 16 and 48 bytes under
/// protocol two (any whole number of AES blocks).
#[test]
fn key_agreement_without_alg_and_tokens_of_other_lengths_are_accepted() {
    for token_len in [16usize, 48] {
        let protocol = PinUvAuthProtocol::Two;
        let token = vec![0x42u8; token_len];
        let respond: Responder = Box::new(move |cmd, payload, _| match cmd {
            command::GET_INFO => ok(&get_info(
                &["FIDO_2_0", "FIDO_2_1"],
                &[("clientPin", true), ("pinUvAuthToken", true)],
                &[2],
            )),
            command::CLIENT_PIN => {
                let mut req = IntMap::decode(payload, "req").unwrap();
                match req.require(2, "sub").unwrap() {
                    Value::Integer(i) if i128::from(i) == 1 => {
                        ok(&cbor::int_map([(3, Value::Integer(8.into()))]))
                    }
                    Value::Integer(i) if i128::from(i) == 2 => {
                        let (x, y) = CoseEc2Key::key_agreement(authenticator_secret().public_key())
                            .coordinates();
                        ok(&cbor::int_map([(
                            1,
                            cbor::int_map([(-2, cbor::bytes(&x)), (-3, cbor::bytes(&y))]),
                        )]))
                    }
                    Value::Integer(i) if i128::from(i) == 9 => {
                        let ka = authenticator_side(protocol, req.require(3, "ka").unwrap());
                        let enc = ka
                            .shared_secret()
                            .encrypt(&token, &mut rand_core::OsRng)
                            .unwrap();
                        ok(&cbor::int_map([(2, Value::Bytes(enc))]))
                    }
                    _ => status(0x3E),
                }
            }
            command::GET_ASSERTION => {
                let mut req = IntMap::decode(payload, "req").unwrap();
                let cdh = cbor::into_bytes(req.require(2, "cdh").unwrap(), "cdh", 32).unwrap();
                let param =
                    cbor::into_bytes(req.require(6, "param").unwrap(), "param", 64).unwrap();
                if !tokenring_core::internal::pin_protocol::verify(protocol, &token, &cdh, &param) {
                    return status(0x33);
                }
                let ext = cbor::into_text_map(req.require(4, "ext").unwrap(), "ext").unwrap();
                let mut input =
                    IntMap::from_value(ext.into_iter().next().unwrap().1, "hs").unwrap();
                let ka = authenticator_side(protocol, input.require(1, "ka").unwrap());
                let enc = ka
                    .shared_secret()
                    .encrypt(&[0x66; 32], &mut rand_core::OsRng)
                    .unwrap();
                let ext = cbor::text_map([("hmac-secret", Value::Bytes(enc))]);
                let ad = build(
                    "example.org",
                    flags::UP | flags::UV | flags::ED,
                    None,
                    Some(&ext),
                );
                ok(&cbor::int_map([
                    (2, Value::Bytes(ad)),
                    (3, cbor::bytes(&[0; 70])),
                ]))
            }
            _ => status(0x01),
        });
        let (mut c, _) = client(respond, true);
        let cred = CredentialId(vec![1; 32]);
        let out = c
            .derive(
                &derive_request(&cred, UvMode::Verified),
                &ScriptedPrompt::new().with_pin("1234"),
            )
            .unwrap_or_else(|e| panic!("token of {token_len} bytes: {e}"));
        assert_eq!(out.first.expose_secret(), &[0x66; 32]);
    }
}

/// forcePINChange set after the client read getInfo: the authenticator
/// answers the PIN with PIN_POLICY_VIOLATION (or, as OpenSK does,
/// PIN_INVALID); the client looks at getInfo again and says to change the
/// PIN instead of "wrong PIN", and asks for no second PIN.
#[test]
fn force_pin_change_set_since_get_info_is_recognized() {
    for answer in [0x37u8, 0x31] {
        let infos = Rc::new(RefCell::new(0usize));
        let seen = Rc::clone(&infos);
        let respond: Responder = Box::new(move |cmd, payload, _| match cmd {
            command::GET_INFO => {
                *seen.borrow_mut() += 1;
                let mut info = get_info(
                    &["FIDO_2_0", "FIDO_2_1"],
                    &[("clientPin", true), ("pinUvAuthToken", true)],
                    &[2],
                );
                if *seen.borrow() > 1 {
                    if let Value::Map(entries) = &mut info {
                        entries.push((Value::Integer(0x0C.into()), Value::Bool(true)));
                    }
                }
                ok(&info)
            }
            command::CLIENT_PIN => {
                let mut req = IntMap::decode(payload, "req").unwrap();
                match req.require(2, "sub").unwrap() {
                    Value::Integer(i) if i128::from(i) == 1 => {
                        ok(&cbor::int_map([(3, Value::Integer(8.into()))]))
                    }
                    Value::Integer(i) if i128::from(i) == 2 => key_agreement_reply(),
                    _ => status(answer),
                }
            }
            _ => status(0x01),
        });
        let (mut c, _) = client(respond, true);
        let cred = CredentialId(vec![1; 32]);
        let prompt = ScriptedPrompt::new().with_pin("1234").with_pin("1234");
        let err = c
            .derive(&derive_request(&cred, UvMode::Verified), &prompt)
            .err()
            .expect("refused");
        assert!(
            matches!(err, Error::PinChangeRequired),
            "{answer:#x}: {err}"
        );
        assert_eq!(prompt.pin_requests(), 1);
        assert!(c.info().force_pin_change);
    }
}
