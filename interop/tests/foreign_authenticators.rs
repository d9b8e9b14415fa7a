//! Our `Ctap2Client` against two authenticators that are not ours, in
//! process: `fido-authenticator` (the FIDO app of the Nitrokey 3 / Solo 2
//! firmware) on trussed's virtual platform, and OpenSK (Google) on its test
//! environment. Every request is the CBOR our client encodes; every answer
//! is the CBOR the foreign authenticator encodes. Each scenario below runs
//! against both (`fido_authenticator::NAME`, `opensk::NAME`), and against
//! OpenSK once more through its CTAPHID layer and our `tokenring-hid`
//! (`opensk_hid::NAME`).

use ciborium::Value;
use tokenring_core::testing::{CountingTransport, PromptEvent, ScriptedPrompt};
use tokenring_core::{
    command, Authenticator, CredentialId, Ctap2Client, DeriveRequest, Error, HmacSecretOutput, Pin,
    Prompt, Reply, Salts, Transport, TransportError, TransportInfo, UserEntity, UvMode,
    DEFAULT_RP_ID,
};
use tokenring_interop::{with_fido_authenticator, OpenSkHidDevice, OpenSkTransport, Presence};

const SALT_A: [u8; 32] = [0xA5; 32];
const SALT_B: [u8; 32] = [0x5A; 32];
const PIN: &str = "4711";

fn derive<T: Transport>(
    client: &mut Ctap2Client<T>,
    credential: &CredentialId,
    salts: Salts,
    uv: UvMode,
    prompt: &dyn Prompt,
) -> Result<HmacSecretOutput, Error> {
    client.derive(
        &DeriveRequest {
            credential,
            rp_id: DEFAULT_RP_ID,
            salts,
            uv,
            purpose: "interop test",
        },
        prompt,
    )
}

fn bytes(output: &HmacSecretOutput) -> ([u8; 32], Option<[u8; 32]>) {
    (
        *output.first.expose_secret(),
        output.second.as_ref().map(|s| *s.expose_secret()),
    )
}

/// Checks the hmac-secret contract on one credential and UV mode: stable
/// outputs, one output per salt, the two-salt answer consistent with the
/// one-salt answers (in either order), different salts give different
/// outputs. Returns the output for `SALT_A`.
fn check_outputs<T: Transport>(
    client: &mut Ctap2Client<T>,
    credential: &CredentialId,
    uv: UvMode,
    prompt: &dyn Prompt,
) -> [u8; 32] {
    let a1 = bytes(&derive(client, credential, Salts::One(SALT_A), uv, prompt).expect("derive A"));
    let a2 = bytes(&derive(client, credential, Salts::One(SALT_A), uv, prompt).expect("derive A"));
    let b = bytes(&derive(client, credential, Salts::One(SALT_B), uv, prompt).expect("derive B"));
    let ab = bytes(
        &derive(client, credential, Salts::Two(SALT_A, SALT_B), uv, prompt).expect("derive A+B"),
    );
    let ba = bytes(
        &derive(client, credential, Salts::Two(SALT_B, SALT_A), uv, prompt).expect("derive B+A"),
    );
    assert_eq!(a1.1, None, "one salt gives one output");
    assert_eq!(a1, a2, "the same salt gives the same output");
    assert_ne!(a1.0, b.0, "different salts give different outputs");
    assert_eq!(
        ab,
        (a1.0, Some(b.0)),
        "two salts = the two one-salt outputs"
    );
    assert_eq!(ba, (b.0, Some(a1.0)), "salt order is kept");
    a1.0
}

fn get_info_is_understood<T: Transport>(_presence: &Presence, transport: T) {
    let mut client = Ctap2Client::new(transport).expect("getInfo");
    let info = client.describe().expect("describe");
    assert!(info.hmac_secret, "hmac-secret advertised: {info:?}");
    assert_eq!(info.client_pin, Some(false), "PIN supported, not set");
    assert!(!info.always_uv);
    assert!(info.versions.iter().any(|v| v == "FIDO_2_1"), "{info:?}");
    assert!(info.pin_uv_auth_protocols.contains(&2), "{info:?}");
    assert!(info.pin_uv_auth_protocols.contains(&1), "{info:?}");
    assert!(info.make_cred_uv_not_required, "{info:?}");
    assert!(client.protocol().is_some(), "a common PIN/UV protocol");
}

fn enroll_and_derive_without_pin<T: Transport>(_presence: &Presence, transport: T) {
    let mut client = Ctap2Client::new(CountingTransport::new(transport)).expect("getInfo");
    let prompt = ScriptedPrompt::new();
    let credential = client
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
        .expect("enroll");
    assert_eq!(prompt.pin_requests(), 0, "no PIN is set, none is asked");

    check_outputs(&mut client, &credential, UvMode::PresenceOnly, &prompt);

    // After warm-up (the key agreement is done), one round trip per
    // derivation.
    let before = client.transport().count();
    for _ in 0..3 {
        derive(
            &mut client,
            &credential,
            Salts::One(SALT_A),
            UvMode::PresenceOnly,
            &prompt,
        )
        .expect("derive");
    }
    assert_eq!(client.transport().count() - before, 3);
    assert_eq!(
        client.transport().count_of(command::CLIENT_PIN),
        1,
        "one getKeyAgreement for the life of the client"
    );

    // Verified needs a PIN (the virtual token has no built-in UV); with
    // none set, the client says so.
    let err = derive(
        &mut client,
        &credential,
        Salts::One(SALT_A),
        UvMode::Verified,
        &prompt,
    )
    .err()
    .expect("UV without a PIN fails");
    assert!(matches!(err, Error::PinNotSet), "{err:?}");
}

fn probe_tells_own_from_foreign_credentials<T: Transport>(_presence: &Presence, transport: T) {
    let mut client = Ctap2Client::new(CountingTransport::new(transport)).expect("getInfo");
    let prompt = ScriptedPrompt::new();
    let credential = client
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
        .expect("enroll");
    let touches = prompt.touches();

    assert!(client.probe(&credential, DEFAULT_RP_ID).expect("probe own"));
    assert!(
        !client
            .probe(&credential, "other.example")
            .expect("probe other RP"),
        "a credential is bound to its RP ID"
    );
    let mut tampered = credential.0.clone();
    if let Some(last) = tampered.last_mut() {
        *last ^= 0x01;
    }
    assert!(!client
        .probe(&CredentialId(tampered), DEFAULT_RP_ID)
        .expect("probe tampered"));
    let stranger = CredentialId((0..credential.0.len()).map(|i| i as u8).collect());
    assert!(!client
        .probe(&stranger, DEFAULT_RP_ID)
        .expect("probe foreign"));
    assert_eq!(prompt.touches(), touches, "probing never asks for a touch");

    // Deriving from a foreign credential is NO_CREDENTIALS.
    let err = derive(
        &mut client,
        &stranger,
        Salts::One(SALT_A),
        UvMode::PresenceOnly,
        &prompt,
    )
    .err()
    .expect("foreign credential");
    assert!(matches!(err, Error::NoCredentials), "{err:?}");
}

/// Sets a PIN, enrolls (with a PIN token when `pin_at_enroll`, i.e. when
/// the client does not see makeCredUvNotRqd), and derives with and
/// without UV; then a wrong PIN and a PIN change.
fn enroll_and_derive_with_pin<T: Transport>(mut client: Ctap2Client<T>, pin_at_enroll: bool) {
    client.set_pin(&Pin::new(PIN)).expect("setPIN");
    let info = client.describe().expect("describe");
    assert_eq!(info.client_pin, Some(true), "PIN now set: {info:?}");
    assert_eq!(client.pin_retries().expect("getPINRetries"), 8);

    // makeCredential with pinUvAuthParam from a PIN token.
    let prompt = ScriptedPrompt::new().with_pin(PIN);
    let credential = client
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
        .expect("enroll with PIN set");
    assert_eq!(prompt.pin_requests(), usize::from(pin_at_enroll));

    // Presence only: no PIN asked, the output without UV.
    let prompt = ScriptedPrompt::new();
    let without_uv = check_outputs(&mut client, &credential, UvMode::PresenceOnly, &prompt);
    assert_eq!(prompt.pin_requests(), 0);

    // Verified: the PIN (asked once per derivation here; the client may
    // reuse its token, so answer generously), the output with UV.
    let prompt = ScriptedPrompt::new();
    for _ in 0..8 {
        prompt.push_pin(Some(PIN));
    }
    let with_uv = check_outputs(&mut client, &credential, UvMode::Verified, &prompt);
    assert!(prompt.pin_requests() >= 1);
    assert_ne!(
        with_uv, without_uv,
        "separate CredRandom with and without UV"
    );

    // A new client holds no PIN token: a wrong PIN is refused with the
    // retries left, the prompt is asked again, the right PIN works.
    let mut client = Ctap2Client::new(client.into_transport()).expect("getInfo");
    let prompt = ScriptedPrompt::new();
    prompt.push_pin(Some("0000"));
    prompt.push_pin(Some(PIN));
    let again = derive(
        &mut client,
        &credential,
        Salts::One(SALT_A),
        UvMode::Verified,
        &prompt,
    )
    .expect("wrong PIN, then the right one");
    assert_eq!(bytes(&again).0, with_uv);
    let asked: Vec<_> = prompt
        .events()
        .into_iter()
        .filter_map(|e| match e {
            PromptEvent::Pin {
                retries,
                previous_wrong,
                ..
            } => Some((retries, previous_wrong)),
            _ => None,
        })
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(
        !asked[0].1 && asked[1].1,
        "the second question says the first PIN was wrong: {asked:?}"
    );
    assert_eq!(asked[1].0, Some(7), "one retry spent: {asked:?}");
    assert_eq!(
        client.pin_retries().expect("getPINRetries"),
        8,
        "the right PIN restores the retries"
    );

    let err = client
        .change_pin(&Pin::new("0000"), &Pin::new("1234"))
        .expect_err("changePIN with a wrong PIN fails");
    assert!(matches!(err, Error::PinInvalid { .. }), "{err:?}");
    assert_eq!(
        client.pin_retries().expect("getPINRetries"),
        7,
        "a wrong PIN costs a retry"
    );
    client
        .change_pin(&Pin::new(PIN), &Pin::new("1234"))
        .expect("changePIN");
    assert_eq!(client.pin_retries().expect("getPINRetries"), 8);
    let prompt = ScriptedPrompt::new();
    for _ in 0..8 {
        prompt.push_pin(Some("1234"));
    }
    let after = derive(
        &mut client,
        &credential,
        Salts::One(SALT_A),
        UvMode::Verified,
        &prompt,
    )
    .expect("derive with the new PIN");
    assert_eq!(
        bytes(&after).0,
        with_uv,
        "the PIN is not part of the output"
    );
    assert!(client.probe(&credential, DEFAULT_RP_ID).expect("probe"));
}

fn enroll_and_derive_with_pin_protocol_2<T: Transport>(_presence: &Presence, transport: T) {
    let mut client = Ctap2Client::new(transport).expect("getInfo");
    assert_eq!(client.protocol().map(|p| p.number()), Some(2));
    let info = client.describe().expect("describe");
    assert!(
        info.make_cred_uv_not_required,
        "fido-authenticator reports makeCredUvNotRqd"
    );
    enroll_and_derive_with_pin(client, false);
}

fn enroll_with_pin_token_protocol_2<T: Transport>(_presence: &Presence, transport: T) {
    let client = Ctap2Client::new(EditGetInfo {
        hide_make_cred_uv_not_rqd: true,
        ..EditGetInfo::new(transport)
    })
    .expect("getInfo");
    assert_eq!(client.protocol().map(|p| p.number()), Some(2));
    enroll_and_derive_with_pin(client, true);
}

fn enroll_with_pin_token_protocol_1<T: Transport>(_presence: &Presence, transport: T) {
    let client = Ctap2Client::new(EditGetInfo {
        only_protocol_one: true,
        hide_make_cred_uv_not_rqd: true,
        ..EditGetInfo::new(transport)
    })
    .expect("getInfo");
    assert_eq!(client.protocol().map(|p| p.number()), Some(1));
    enroll_and_derive_with_pin(client, true);
}

/// The client's CTAP 2.0 paths against CTAP 2.1 authenticators that keep
/// them for compatibility: getPinToken (0x05) instead of a token with
/// permissions, makeCredential with its pinUvAuthParam, a cached PIN token,
/// and selection by a makeCredential with a zero-length pinUvAuthParam
/// (§6.1.2 step 1).
fn ctap_2_0_paths<T: Transport>(presence: &Presence, transport: T) {
    let edit = EditGetInfo {
        as_ctap_2_0: true,
        ..EditGetInfo::new(CountingTransport::new(transport))
    };
    let mut client = Ctap2Client::new(edit).expect("getInfo");
    assert_eq!(client.protocol().map(|p| p.number()), Some(1));
    client
        .select(&ScriptedPrompt::new())
        .expect("selection without a PIN");
    client.set_pin(&Pin::new(PIN)).expect("setPIN");
    client
        .select(&ScriptedPrompt::new())
        .expect("selection with a PIN");

    let prompt = ScriptedPrompt::new().with_pin(PIN);
    let credential = client
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
        .expect("enroll with getPinToken");
    assert_eq!(prompt.pin_requests(), 1);
    // The client keeps a CTAP 2.0 PIN token (valid until power-off on a
    // CTAP 2.0 authenticator). fido-authenticator accepts it again; OpenSK
    // does not, since CTAP 2.1 §6.2.2 step 9.4 clears a token's permissions
    // after each getAssertion with user presence, and the client then asks
    // for the PIN again. Either way: stable outputs, and a refused token
    // never costs a PIN retry.
    let prompt = ScriptedPrompt::new();
    for _ in 0..8 {
        prompt.push_pin(Some(PIN));
    }
    let with_uv = check_outputs(&mut client, &credential, UvMode::Verified, &prompt);
    let without_uv = check_outputs(&mut client, &credential, UvMode::PresenceOnly, &prompt);
    assert_ne!(with_uv, without_uv);
    assert!(prompt.pin_requests() >= 1);
    assert!(
        prompt.events().iter().all(|e| !matches!(
            e,
            PromptEvent::Pin {
                previous_wrong: true,
                ..
            }
        )),
        "{:?}",
        prompt.events()
    );
    assert_eq!(client.pin_retries().expect("getPINRetries"), 8);
    assert!(client.probe(&credential, DEFAULT_RP_ID).expect("probe"));

    presence.set(false);
    let err = client
        .select(&ScriptedPrompt::new())
        .expect_err("selection without a touch");
    assert!(matches!(err, Error::UserActionTimeout), "{err:?}");
}

fn protocols_one_and_two_give_the_same_outputs<T: Transport>(_presence: &Presence, transport: T) {
    let edit = EditGetInfo::new(transport);
    let mut client = Ctap2Client::new(edit).expect("getInfo");
    client.set_pin(&Pin::new(PIN)).expect("setPIN");
    let prompt = ScriptedPrompt::new();
    let credential = client
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
        .expect("enroll");
    let salts = Salts::Two(SALT_A, SALT_B);
    let prompt = ScriptedPrompt::new().with_pin(PIN);
    let two_up = bytes(
        &derive(
            &mut client,
            &credential,
            salts,
            UvMode::PresenceOnly,
            &prompt,
        )
        .expect("derive"),
    );
    let two_uv =
        bytes(&derive(&mut client, &credential, salts, UvMode::Verified, &prompt).expect("derive"));
    assert_eq!(client.protocol().map(|p| p.number()), Some(2));

    // Same authenticator, same credential, a new client that negotiates
    // protocol one: other KDF, other encryption, the same outputs.
    let mut edit = client.into_transport();
    edit.only_protocol_one = true;
    let mut client = Ctap2Client::new(edit).expect("getInfo");
    assert_eq!(client.protocol().map(|p| p.number()), Some(1));
    let prompt = ScriptedPrompt::new().with_pin(PIN);
    let one_up = bytes(
        &derive(
            &mut client,
            &credential,
            salts,
            UvMode::PresenceOnly,
            &prompt,
        )
        .expect("derive"),
    );
    let one_uv =
        bytes(&derive(&mut client, &credential, salts, UvMode::Verified, &prompt).expect("derive"));
    assert_eq!(one_up, two_up);
    assert_eq!(one_uv, two_uv);
    assert_ne!(one_up, one_uv);
}

fn select_waits_for_a_touch<T: Transport>(presence: &Presence, transport: T) {
    let mut client = Ctap2Client::new(transport).expect("getInfo");
    client
        .select(&ScriptedPrompt::new())
        .expect("selection with a touch");
    presence.set(false);
    let err = client.select(&ScriptedPrompt::new()).expect_err("no touch");
    assert!(matches!(err, Error::UserActionTimeout), "{err:?}");
}

/// Reset within seconds of power-up, after other commands (fido-authenticator
/// allows this; OpenSK only as the first command after power-up, see
/// `opensk_reset_after_power_cycle`).
#[test]
fn fido_authenticator_reset_forgets_credentials_and_pin() {
    with_fido_authenticator(&Presence::touching(), |transport| {
        reset_forgets_credentials_and_pin(transport)
    });
}

fn reset_forgets_credentials_and_pin<T: Transport>(transport: T) {
    let mut client = Ctap2Client::new(transport).expect("getInfo");
    client.set_pin(&Pin::new(PIN)).expect("setPIN");
    let prompt = ScriptedPrompt::new();
    let credential = client
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
        .expect("enroll");
    assert!(client.probe(&credential, DEFAULT_RP_ID).expect("probe"));
    client
        .reset(&prompt)
        .expect("reset (within 10 s of power-up)");
    assert!(!client
        .probe(&credential, DEFAULT_RP_ID)
        .expect("probe after reset"));
    let info = client.describe().expect("describe");
    assert_eq!(info.client_pin, Some(false), "the PIN is gone: {info:?}");
}

fn always_uv_requires_the_pin<T: Transport>(_presence: &Presence, transport: T) {
    let mut client = Ctap2Client::new(transport).expect("getInfo");
    // authenticatorConfig (0x0D) {subCommand (0x01): toggleAlwaysUv
    // (0x02)}, CTAP 2.1 §6.11.2; without a PIN set, no pinUvAuthParam is
    // needed (§6.11.1 step 4). Our client has no authenticatorConfig, so
    // the test sends it by hand.
    let reply = client
        .transport_mut()
        .exchange(0x0D, &[0xA1, 0x01, 0x02], &ScriptedPrompt::new())
        .expect("authenticatorConfig");
    assert_eq!(reply.status, 0, "toggleAlwaysUv accepted");
    client.refresh_info().expect("getInfo");
    let info = client.describe().expect("describe");
    assert!(info.always_uv, "{info:?}");
    assert!(!info.make_cred_uv_not_required, "{info:?}");

    client.set_pin(&Pin::new(PIN)).expect("setPIN");
    let prompt = ScriptedPrompt::new().with_pin(PIN);
    let credential = client
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
        .expect("enroll with the PIN");
    assert_eq!(prompt.pin_requests(), 1);

    let prompt = ScriptedPrompt::new();
    let err = derive(
        &mut client,
        &credential,
        Salts::One(SALT_A),
        UvMode::PresenceOnly,
        &prompt,
    )
    .err()
    .expect("presence only is impossible");
    assert!(matches!(err, Error::UvRequired), "{err:?}");
    for _ in 0..8 {
        prompt.push_pin(Some(PIN));
    }
    check_outputs(&mut client, &credential, UvMode::Verified, &prompt);
    assert!(client.probe(&credential, DEFAULT_RP_ID).expect("probe"));
}

/// setPIN on a token whose PIN is set: CTAP 2.1 §6.5.5.5 step 3 answers
/// CTAP2_ERR_PIN_AUTH_INVALID (CTAP 2.0 firmware answered NOT_ALLOWED).
/// Our client refuses locally without sending anything; a well-formed
/// setPIN built by hand shows what the authenticator says, and that the
/// PIN stays as it was.
fn set_pin_twice<T: Transport>(_presence: &Presence, transport: T) {
    use tokenring_core::internal::client_pin::{get_key_agreement, set_pin, ClientPinResponse};
    use tokenring_core::internal::pin_protocol::KeyAgreement;

    let mut client = Ctap2Client::new(CountingTransport::new(transport)).expect("getInfo");
    client.set_pin(&Pin::new(PIN)).expect("setPIN");
    let before = client.transport().count();
    let err = client
        .set_pin(&Pin::new("5678"))
        .expect_err("a second setPIN");
    assert!(matches!(err, Error::PinAlreadySet), "{err:?}");
    assert_eq!(client.transport().count(), before, "refused locally");

    let protocol = client.protocol().expect("a common PIN/UV protocol");
    let prompt = ScriptedPrompt::new();
    let request = get_key_agreement(protocol).encode().expect("encode");
    let reply = client
        .transport_mut()
        .exchange(command::CLIENT_PIN, &request, &prompt)
        .expect("getKeyAgreement");
    assert_eq!(reply.status, 0, "getKeyAgreement");
    let key = ClientPinResponse::decode(&reply.body)
        .and_then(ClientPinResponse::require_key_agreement)
        .expect("keyAgreement");
    let agreement = KeyAgreement::encapsulate(protocol, &key, &mut rand_core::OsRng);
    let request = set_pin(&agreement, &Pin::new("5678"), &mut rand_core::OsRng)
        .and_then(|r| r.encode())
        .expect("setPIN request");
    let reply = client
        .transport_mut()
        .exchange(command::CLIENT_PIN, &request, &prompt)
        .expect("setPIN exchange");
    assert_eq!(
        reply.status, 0x33,
        "CTAP2_ERR_PIN_AUTH_INVALID for setPIN with a PIN set"
    );
    // The PIN is still the first one.
    client
        .change_pin(&Pin::new(PIN), &Pin::new("1234"))
        .expect("changePIN from the first PIN");
}

fn three_wrong_pins_block_until_power_cycle<T: Transport>(_presence: &Presence, transport: T) {
    let mut client = Ctap2Client::new(transport).expect("getInfo");
    client.set_pin(&Pin::new(PIN)).expect("setPIN");
    let new_pin = Pin::new("1234");
    for (attempt, retries_left) in [(1, 7), (2, 6)] {
        let err = client
            .change_pin(&Pin::new("0000"), &new_pin)
            .expect_err("wrong PIN");
        assert!(
            matches!(err, Error::PinInvalid { retries } if retries == Some(retries_left)),
            "attempt {attempt}: {err:?}"
        );
        assert_eq!(client.pin_retries().expect("getPINRetries"), retries_left);
    }
    // The third consecutive wrong PIN (CTAP 2.1 §6.5.5.5 step 8).
    let err = client
        .change_pin(&Pin::new("0000"), &new_pin)
        .expect_err("third wrong PIN");
    assert!(matches!(err, Error::PinAuthBlocked), "{err:?}");
    // Until a power cycle, even the right PIN is refused.
    let err = client
        .change_pin(&Pin::new(PIN), &new_pin)
        .expect_err("blocked until power cycle");
    assert!(matches!(err, Error::PinAuthBlocked), "{err:?}");
    assert_eq!(client.pin_retries().expect("getPINRetries"), 5);
}

fn missing_touch_times_out<T: Transport>(presence: &Presence, transport: T) {
    let mut client = Ctap2Client::new(transport).expect("getInfo");
    let prompt = ScriptedPrompt::new();
    let credential = client
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
        .expect("enroll");
    presence.set(false);
    let err = derive(
        &mut client,
        &credential,
        Salts::One(SALT_A),
        UvMode::PresenceOnly,
        &prompt,
    )
    .err()
    .expect("no touch");
    assert!(matches!(err, Error::UserActionTimeout), "{err:?}");
    // Probing needs no touch.
    assert!(client.probe(&credential, DEFAULT_RP_ID).expect("probe"));
    presence.set(true);
    derive(
        &mut client,
        &credential,
        Salts::One(SALT_A),
        UvMode::PresenceOnly,
        &prompt,
    )
    .expect("touched again");
}

/// Edits the authenticator's getInfo answer (CTAP 2.1 §6.4) before our
/// client reads it, to steer the client's choices; the authenticator itself
/// is unchanged.
struct EditGetInfo<T> {
    inner: T,
    /// Advertise only PIN/UV auth protocol one (key 0x06), so that the client
    /// negotiates it.
    only_protocol_one: bool,
    /// Drop the `makeCredUvNotRqd` option (in key 0x04), so that the client
    /// sends makeCredential with a pinUvAuthParam once a PIN is set.
    hide_make_cred_uv_not_rqd: bool,
    /// Look like a CTAP 2.0 authenticator: no `FIDO_2_1` version (key 0x01),
    /// no CTAP 2.1 options (`pinUvAuthToken`, `makeCredUvNotRqd`), protocol
    /// one only; the client takes its CTAP 2.0 paths (getPinToken, the
    /// makeCredential touch probe for selection).
    as_ctap_2_0: bool,
}

impl<T> EditGetInfo<T> {
    fn new(inner: T) -> Self {
        EditGetInfo {
            inner,
            only_protocol_one: false,
            hide_make_cred_uv_not_rqd: false,
            as_ctap_2_0: false,
        }
    }
}

/// The value under integer `key` in a getInfo map.
fn entry(entries: &mut [(Value, Value)], key: u8) -> &mut Value {
    entries
        .iter_mut()
        .find(|(k, _)| *k == Value::Integer(key.into()))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("getInfo has key {key:#04x}"))
}

fn drop_option(entries: &mut [(Value, Value)], name: &str) {
    let Value::Map(options) = entry(entries, 0x04) else {
        panic!("options is a map");
    };
    let before = options.len();
    options.retain(|(option, _)| *option != Value::Text(name.into()));
    assert_eq!(options.len() + 1, before, "getInfo had the {name} option");
}

impl<T: Transport> Transport for EditGetInfo<T> {
    fn exchange(
        &mut self,
        command: u8,
        payload: &[u8],
        prompt: &dyn Prompt,
    ) -> Result<Reply, TransportError> {
        let mut reply = self.inner.exchange(command, payload, prompt)?;
        if command != command::GET_INFO || reply.status != 0 {
            return Ok(reply);
        }
        let mut info: Value =
            ciborium::from_reader(reply.body.as_slice()).expect("getInfo is CBOR");
        let Value::Map(entries) = &mut info else {
            panic!("getInfo is a map");
        };
        if self.only_protocol_one || self.as_ctap_2_0 {
            *entry(entries, 0x06) = Value::Array(vec![Value::Integer(1.into())]);
        }
        if self.hide_make_cred_uv_not_rqd || self.as_ctap_2_0 {
            drop_option(entries, "makeCredUvNotRqd");
        }
        if self.as_ctap_2_0 {
            drop_option(entries, "pinUvAuthToken");
            let Value::Array(versions) = entry(entries, 0x01) else {
                panic!("versions is an array");
            };
            versions.retain(|v| *v != Value::Text("FIDO_2_1".into()));
            assert!(versions.contains(&Value::Text("FIDO_2_0".into())));
        }
        reply.body.clear();
        ciborium::into_writer(&info, &mut reply.body).expect("re-encode getInfo");
        Ok(reply)
    }

    fn info(&self) -> TransportInfo {
        self.inner.info()
    }

    fn reports_keepalive(&self) -> bool {
        self.inner.reports_keepalive()
    }
}

/// One `#[test]` per scenario and authenticator.
macro_rules! against_each_authenticator {
    ($($scenario:ident),* $(,)?) => {
        mod fido_authenticator {
            use super::*;
            $(
                #[test]
                fn $scenario() {
                    let presence = Presence::touching();
                    with_fido_authenticator(&presence, |transport| super::$scenario(&presence, transport));
                }
            )*
        }
        mod opensk {
            use super::*;
            $(
                #[test]
                fn $scenario() {
                    let presence = Presence::touching();
                    super::$scenario(&presence, OpenSkTransport::new(&presence));
                }
            )*
        }
        /// OpenSK through its own CTAPHID layer and our `tokenring-hid`.
        mod opensk_hid {
            use super::*;
            $(
                #[test]
                fn $scenario() {
                    let presence = Presence::touching();
                    let transport = OpenSkHidDevice::connect(&presence).expect("CTAPHID_INIT");
                    super::$scenario(&presence, transport);
                }
            )*
        }
    };
}

against_each_authenticator!(
    get_info_is_understood,
    enroll_and_derive_without_pin,
    probe_tells_own_from_foreign_credentials,
    enroll_and_derive_with_pin_protocol_2,
    enroll_with_pin_token_protocol_2,
    enroll_with_pin_token_protocol_1,
    protocols_one_and_two_give_the_same_outputs,
    ctap_2_0_paths,
    select_waits_for_a_touch,
    always_uv_requires_the_pin,
    set_pin_twice,
    three_wrong_pins_block_until_power_cycle,
    missing_touch_times_out,
);

#[test]
fn opensk_reset_after_power_cycle() {
    let presence = Presence::touching();
    let mut client = Ctap2Client::new(OpenSkTransport::new(&presence)).expect("getInfo");
    client.set_pin(&Pin::new(PIN)).expect("setPIN");
    let prompt = ScriptedPrompt::new();
    let credential = client
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
        .expect("enroll");
    // OpenSK allows authenticatorReset only as the first command after
    // power-up (CTAP 2.1 §6.6 leaves the window to the authenticator);
    // the client reports the status as it is.
    let err = client
        .reset(&prompt)
        .expect_err("reset after other commands");
    assert_eq!(err.status(), Some(0x30), "CTAP2_ERR_NOT_ALLOWED: {err:?}");

    client.transport_mut().power_cycle();
    client.reset(&prompt).expect("reset right after power-up");
    assert!(!client
        .probe(&credential, DEFAULT_RP_ID)
        .expect("probe after reset"));
    let info = client.describe().expect("describe");
    assert_eq!(info.client_pin, Some(false), "the PIN is gone: {info:?}");
}

#[test]
fn opensk_power_cycle_renews_the_shared_secret() {
    let presence = Presence::touching();
    let mut client =
        Ctap2Client::new(CountingTransport::new(OpenSkTransport::new(&presence))).expect("getInfo");
    client.set_pin(&Pin::new(PIN)).expect("setPIN");
    let prompt = ScriptedPrompt::new();
    let credential = client
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
        .expect("enroll");
    let salts = Salts::Two(SALT_A, SALT_B);
    let before = bytes(
        &derive(
            &mut client,
            &credential,
            salts,
            UvMode::PresenceOnly,
            &prompt,
        )
        .expect("derive"),
    );

    // The authenticator forgets its key agreement key; our client's shared
    // secret is stale, the authenticator refuses the saltAuth, the client
    // agrees on a new secret and retries once: same outputs.
    client.transport_mut().inner_mut().power_cycle();
    let start = client.transport().count();
    let after = bytes(
        &derive(
            &mut client,
            &credential,
            salts,
            UvMode::PresenceOnly,
            &prompt,
        )
        .expect("derive after power cycle"),
    );
    assert_eq!(after, before);
    assert_eq!(
        client.transport().count() - start,
        3,
        "refused getAssertion, getKeyAgreement, getAssertion"
    );

    // With UV as well (the PIN token is gone too).
    let prompt = ScriptedPrompt::new().with_pin(PIN);
    let with_uv = bytes(
        &derive(&mut client, &credential, salts, UvMode::Verified, &prompt)
            .expect("derive with UV"),
    );
    client.transport_mut().inner_mut().power_cycle();
    prompt.push_pin(Some(PIN));
    let again = bytes(
        &derive(&mut client, &credential, salts, UvMode::Verified, &prompt)
            .expect("derive with UV after power cycle"),
    );
    assert_eq!(again, with_uv);
}

#[test]
fn opensk_pin_blocks_after_eight_wrong_pins() {
    let presence = Presence::touching();
    let mut client = Ctap2Client::new(OpenSkTransport::new(&presence)).expect("getInfo");
    client.set_pin(&Pin::new(PIN)).expect("setPIN");
    let new_pin = Pin::new("1234");
    let mut seen = Vec::new();
    for _ in 0..8 {
        let err = client
            .change_pin(&Pin::new("0000"), &new_pin)
            .expect_err("wrong PIN");
        seen.push(format!("{err:?}"));
        if matches!(err, Error::PinAuthBlocked) {
            // Three in a row: a power cycle lifts the temporary block.
            client.transport_mut().power_cycle();
        }
    }
    // The eighth wrong PIN blocked the PIN for good (CTAP 2.1 §6.5.5.5).
    assert_eq!(client.pin_retries().expect("getPINRetries"), 0, "{seen:?}");
    let err = client
        .change_pin(&Pin::new(PIN), &new_pin)
        .expect_err("blocked");
    assert!(matches!(err, Error::PinBlocked), "{err:?} after {seen:?}");
    // Deriving with UV says so too, without asking for a PIN.
    let prompt = ScriptedPrompt::new().with_pin(PIN);
    let credential = CredentialId(vec![0x42; 64]);
    let err = derive(
        &mut client,
        &credential,
        Salts::One(SALT_A),
        UvMode::Verified,
        &prompt,
    )
    .err()
    .expect("blocked");
    assert!(matches!(err, Error::PinBlocked), "{err:?}");
    assert_eq!(
        prompt.pin_requests(),
        0,
        "no PIN is asked for a blocked PIN"
    );
}

/// A vault made on one authenticator, probed on another: the credential id
/// of one foreign authenticator is unknown to the other, both ways.
#[test]
fn credentials_do_not_cross_authenticators() {
    let presence = Presence::touching();
    let prompt = ScriptedPrompt::new();
    let mut opensk = Ctap2Client::new(OpenSkTransport::new(&presence)).expect("getInfo");
    let opensk_credential = opensk
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
        .expect("enroll on OpenSK");
    let fido_credential = with_fido_authenticator(&presence, |transport| {
        let mut fido = Ctap2Client::new(transport).expect("getInfo");
        let fido_credential = fido
            .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
            .expect("enroll on fido-authenticator");
        assert!(fido
            .probe(&fido_credential, DEFAULT_RP_ID)
            .expect("probe own"));
        assert!(!fido
            .probe(&opensk_credential, DEFAULT_RP_ID)
            .expect("probe OpenSK's credential"));
        fido_credential
    });
    assert!(opensk
        .probe(&opensk_credential, DEFAULT_RP_ID)
        .expect("probe own"));
    assert!(!opensk
        .probe(&fido_credential, DEFAULT_RP_ID)
        .expect("probe fido-authenticator's credential"));
}
