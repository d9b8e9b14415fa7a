//! A minimal platform for driving the simulator in tests: hand-built CBOR
//! requests and the platform half of the PIN/UV auth protocols.

#![allow(dead_code)]

use ciborium::Value;
use hmac::{Hmac, Mac};
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use p256::{EncodedPoint, PublicKey, SecretKey};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use tokenring_core::Status;
use tokenring_sim::testing::PinProtocol;
use tokenring_sim::{NoContext, Simulator};

pub const RP_ID: &str = "hardware.keychain.glyph.im";

pub const MAKE_CREDENTIAL: u8 = 0x01;
pub const GET_ASSERTION: u8 = 0x02;
pub const GET_INFO: u8 = 0x04;
pub const CLIENT_PIN: u8 = 0x06;
pub const RESET: u8 = 0x07;
pub const SELECTION: u8 = 0x0B;
pub const AUTHENTICATOR_CONFIG: u8 = 0x0D;

pub fn int(i: i64) -> Value {
    Value::Integer(i.into())
}
pub fn txt(s: &str) -> Value {
    Value::Text(s.into())
}
pub fn byt(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}
pub fn map(entries: Vec<(Value, Value)>) -> Value {
    Value::Map(entries)
}

pub fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).expect("encode");
    out
}

pub fn decode(b: &[u8]) -> Value {
    ciborium::de::from_reader(b).expect("decode")
}

/// Looks up an integer key in a decoded map.
pub fn field(v: &Value, key: i64) -> Option<&Value> {
    v.as_map()?
        .iter()
        .find(|(k, _)| k.as_integer().and_then(|i| i64::try_from(i).ok()) == Some(key))
        .map(|(_, v)| v)
}

/// Looks up a text key in a decoded map.
pub fn tfield<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_map()?
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

/// Sends a request; returns (status, decoded body or Null).
/// The simulator must answer only status codes the specification names.
pub fn call(sim: &mut Simulator, cmd: u8, req: Option<Value>) -> (Status, Value) {
    let payload = req.map(|r| encode(&r)).unwrap_or_default();
    let resp = sim.process(cmd, &payload, &mut NoContext);
    let (status, body) = resp.split_first().expect("non-empty response");
    let status = Status::try_from(*status).expect("a status CTAP 2.1 names");
    let body = if body.is_empty() {
        Value::Null
    } else {
        decode(body)
    };
    (status, body)
}

/// The platform side of a PIN/UV auth protocol session.
pub struct Platform {
    pub protocol: PinProtocol,
    pub shared: Vec<u8>,
    pub key_agreement: Value,
    rng: ChaCha20Rng,
}

impl Platform {
    /// getKeyAgreement + platform key pair + kdf.
    pub fn new(sim: &mut Simulator, protocol: PinProtocol) -> Platform {
        let (status, body) = call(
            sim,
            CLIENT_PIN,
            Some(map(vec![
                (int(1), int(protocol.number().into())),
                (int(2), int(2)),
            ])),
        );
        assert_eq!(status, Status::Ok, "getKeyAgreement");
        let cose = field(&body, 1).expect("keyAgreement");
        let x = field(cose, -2).and_then(Value::as_bytes).expect("x");
        let y = field(cose, -3).and_then(Value::as_bytes).expect("y");
        let point =
            EncodedPoint::from_affine_coordinates(x.as_slice().into(), y.as_slice().into(), false);
        let peer = PublicKey::from_encoded_point(&point).expect("on curve");
        let mut rng = ChaCha20Rng::seed_from_u64(99);
        let secret = SecretKey::random(&mut rng);
        let z = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
        let shared = protocol.kdf(z.raw_secret_bytes().as_slice()).to_vec();
        let own = secret.public_key().to_encoded_point(false);
        let key_agreement = map(vec![
            (int(1), int(2)),
            (int(3), int(-25)),
            (int(-1), int(1)),
            (int(-2), byt(own.x().expect("x"))),
            (int(-3), byt(own.y().expect("y"))),
        ]);
        Platform {
            protocol,
            shared,
            key_agreement,
            rng,
        }
    }

    pub fn encrypt(&mut self, plaintext: &[u8]) -> Vec<u8> {
        self.protocol
            .encrypt(&self.shared, plaintext, &mut self.rng)
            .expect("encrypt")
    }

    pub fn decrypt(&self, ciphertext: &[u8]) -> Vec<u8> {
        self.protocol
            .decrypt(&self.shared, ciphertext)
            .expect("decrypt")
            .to_vec()
    }

    pub fn authenticate(&self, msg: &[u8]) -> Vec<u8> {
        self.protocol.authenticate(&self.shared, msg)
    }

    pub fn number(&self) -> i64 {
        self.protocol.number().into()
    }
}

pub fn padded(pin: &str) -> Vec<u8> {
    let mut p = pin.as_bytes().to_vec();
    p.resize(64, 0);
    p
}

pub fn pin_hash(pin: &str) -> Vec<u8> {
    Sha256::digest(pin.as_bytes())[..16].to_vec()
}

/// setPIN; returns the status.
pub fn set_pin(sim: &mut Simulator, protocol: PinProtocol, pin: &str) -> Status {
    let mut p = Platform::new(sim, protocol);
    let enc = p.encrypt(&padded(pin));
    let auth = p.authenticate(&enc);
    call(
        sim,
        CLIENT_PIN,
        Some(map(vec![
            (int(1), int(p.number())),
            (int(2), int(3)),
            (int(3), p.key_agreement.clone()),
            (int(4), byt(&auth)),
            (int(5), byt(&enc)),
        ])),
    )
    .0
}

/// getPinUvAuthTokenUsingPinWithPermissions (or getPinToken when
/// `permissions` is None); returns (status, token).
pub fn pin_token(
    sim: &mut Simulator,
    protocol: PinProtocol,
    pin: &str,
    permissions: Option<(i64, Option<&str>)>,
) -> (Status, Vec<u8>) {
    let mut p = Platform::new(sim, protocol);
    let enc = p.encrypt(&pin_hash(pin));
    let mut req = vec![
        (int(1), int(p.number())),
        (int(2), int(if permissions.is_some() { 9 } else { 5 })),
        (int(3), p.key_agreement.clone()),
        (int(6), byt(&enc)),
    ];
    if let Some((perms, rp)) = permissions {
        req.push((int(9), int(perms)));
        if let Some(rp) = rp {
            req.push((int(10), txt(rp)));
        }
    }
    let (status, body) = call(sim, CLIENT_PIN, Some(map(req)));
    if status != Status::Ok {
        return (status, Vec::new());
    }
    let enc_token = field(&body, 2).and_then(Value::as_bytes).expect("token");
    (status, p.decrypt(enc_token))
}

/// getPINRetries.
pub fn retries(sim: &mut Simulator) -> (i64, bool) {
    let (status, body) = call(
        sim,
        CLIENT_PIN,
        Some(map(vec![(int(1), int(2)), (int(2), int(1))])),
    );
    assert_eq!(status, Status::Ok);
    let r = field(&body, 3)
        .and_then(Value::as_integer)
        .and_then(|i| i64::try_from(i).ok())
        .expect("retries");
    let power_cycle = field(&body, 4).and_then(Value::as_bool).unwrap_or(false);
    (r, power_cycle)
}

/// A makeCredential request.
pub fn make_credential_request(
    cdh: &[u8; 32],
    rp_id: &str,
    auth: Option<(&[u8], i64)>,
    extra: Vec<(Value, Value)>,
) -> Value {
    let mut req = vec![
        (int(1), byt(cdh)),
        (int(2), map(vec![(txt("id"), txt(rp_id))])),
        (
            int(3),
            map(vec![(txt("id"), byt(b"user")), (txt("name"), txt("user"))]),
        ),
        (
            int(4),
            Value::Array(vec![map(vec![
                (txt("alg"), int(-7)),
                (txt("type"), txt("public-key")),
            ])]),
        ),
        (int(6), map(vec![(txt("hmac-secret"), Value::Bool(true))])),
    ];
    if let Some((param, proto)) = auth {
        req.push((int(8), byt(param)));
        req.push((int(9), int(proto)));
    }
    req.extend(extra);
    map(req)
}

/// Makes a credential (PIN token when `pin` is given); returns the id.
pub fn enroll(sim: &mut Simulator, pin: Option<&str>) -> Vec<u8> {
    let cdh = [7u8; 32];
    let req = match pin {
        Some(pin) => {
            let (s, token) = pin_token(sim, PinProtocol::Two, pin, Some((1, Some(RP_ID))));
            assert_eq!(s, Status::Ok);
            let param = PinProtocol::Two.authenticate(&token, &cdh);
            make_credential_request(&cdh, RP_ID, Some((&param, 2)), vec![])
        }
        None => make_credential_request(&cdh, RP_ID, None, vec![]),
    };
    let (status, body) = call(sim, MAKE_CREDENTIAL, Some(req));
    assert_eq!(status, Status::Ok, "makeCredential");
    let auth_data = field(&body, 2).and_then(Value::as_bytes).expect("authData");
    let len = u16::from_be_bytes([auth_data[53], auth_data[54]]) as usize;
    auth_data[55..55 + len].to_vec()
}

/// getAssertion with hmac-secret; returns (status, outputs, flags).
pub fn derive(
    sim: &mut Simulator,
    protocol: PinProtocol,
    cred_id: &[u8],
    salts: &[[u8; 32]],
    token: Option<&[u8]>,
) -> (Status, Vec<Vec<u8>>, u8) {
    let mut p = Platform::new(sim, protocol);
    let plain: Vec<u8> = salts.concat();
    let salt_enc = p.encrypt(&plain);
    let salt_auth = p.authenticate(&salt_enc);
    let cdh = [9u8; 32];
    let mut req = vec![
        (int(1), txt(RP_ID)),
        (int(2), byt(&cdh)),
        (
            int(3),
            Value::Array(vec![map(vec![
                (txt("id"), byt(cred_id)),
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
                    (int(3), byt(&salt_auth)),
                    (int(4), int(p.number())),
                ]),
            )]),
        ),
    ];
    if let Some(token) = token {
        req.push((int(6), byt(&protocol.authenticate(token, &cdh))));
        req.push((int(7), int(p.number())));
    }
    let (status, body) = call(sim, GET_ASSERTION, Some(map(req)));
    if status != Status::Ok {
        return (status, Vec::new(), 0);
    }
    let auth_data = field(&body, 2).and_then(Value::as_bytes).expect("authData");
    let flags = auth_data[32];
    let ext = decode(&auth_data[37..]);
    let enc = tfield(&ext, "hmac-secret")
        .and_then(Value::as_bytes)
        .expect("hmac-secret output");
    let out = p.decrypt(enc);
    (status, out.chunks(32).map(<[u8]>::to_vec).collect(), flags)
}

pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("key");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}
