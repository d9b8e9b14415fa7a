//! The CTAP 2.1 client against the software authenticator (tokenring-sim),
//! in process: every operation of the Authenticator trait, PIN protocols
//! one and two, PIN set and not set, alwaysUv, wrong PINs down to lockout,
//! denied / timed-out presence, cancel, hostile (corrupted) responses, a
//! provisioned credential checked against an independent HMAC, and the
//! round-trip count.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokenring_core::command;
use tokenring_core::testing::{CountingTransport, PromptEvent, ScriptedPrompt};
use tokenring_core::{
    Authenticator, CredentialId, Ctap2Client, DeriveRequest, Error, KeepaliveStatus, Pin,
    PinPurpose, Salts, UserEntity, UvMode, DEFAULT_RP_ID,
};
use tokenring_sim::{
    Fault, PresencePolicy, ProvisionedCredential, SimConfig, SimTransport, Simulator,
};

const SALT_A: [u8; 32] = [0xA5; 32];
const SALT_B: [u8; 32] = [0x5A; 32];

fn sim(config: SimConfig) -> SimTransport {
    SimTransport::from_simulator(Simulator::new(config))
}

fn client(transport: SimTransport) -> Ctap2Client<CountingTransport<SimTransport>> {
    Ctap2Client::new(CountingTransport::new(transport)).unwrap()
}

fn request<'a>(credential: &'a CredentialId, salts: Salts, uv: UvMode) -> DeriveRequest<'a> {
    DeriveRequest {
        credential,
        rp_id: DEFAULT_RP_ID,
        salts,
        uv,
        purpose: "unlock the vault",
    }
}

fn enroll(
    c: &mut Ctap2Client<CountingTransport<SimTransport>>,
    prompt: &ScriptedPrompt,
) -> CredentialId {
    c.enroll(DEFAULT_RP_ID, &UserEntity::default(), prompt)
        .unwrap()
}

fn hmac(key: &[u8; 32], salt: &[u8; 32]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(salt);
    mac.finalize().into_bytes().into()
}

#[test]
fn protocols_one_and_two_without_pin() {
    for protocols in [&[2u8, 1][..], &[1u8][..]] {
        let mut c = client(sim(SimConfig::with_seed(1).protocols(protocols)));
        assert_eq!(c.protocol().map(|p| p.number()), protocols.first().copied());
        let info = c.describe().unwrap();
        assert!(info.hmac_secret);
        assert_eq!(info.client_pin, Some(false));
        let prompt = ScriptedPrompt::new();
        let cred = enroll(&mut c, &prompt);
        assert_eq!(prompt.pin_requests(), 0);
        let one = c
            .derive(
                &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
                &prompt,
            )
            .unwrap();
        assert!(one.second.is_none());
        let two = c
            .derive(
                &request(&cred, Salts::Two(SALT_A, SALT_B), UvMode::PresenceOnly),
                &prompt,
            )
            .unwrap();
        assert!(two.first == one.first);
        assert!(two.second.as_ref().unwrap() != &one.first);
        // No PIN set: user verification is impossible and says so.
        assert!(matches!(
            c.derive(
                &request(&cred, Salts::One(SALT_A), UvMode::Verified),
                &prompt
            ),
            Err(Error::PinNotSet)
        ));
    }
}

#[test]
fn pin_set_enroll_uses_pin_and_verified_derivation_differs() {
    for protocols in [&[2u8, 1][..], &[1u8][..]] {
        let transport = sim(SimConfig::with_seed(2).protocols(protocols).pin("1234"));
        let mut c = client(transport);
        assert_eq!(c.describe().unwrap().client_pin, Some(true));
        let prompt = ScriptedPrompt::new().with_pin("1234");
        let cred = enroll(&mut c, &prompt);
        assert_eq!(prompt.pin_requests(), 1);
        let plain = c
            .derive(
                &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
                &prompt,
            )
            .unwrap();
        // Presence only never asks for the PIN.
        assert_eq!(prompt.pin_requests(), 1);
        prompt.push_pin(Some("1234"));
        let verified = c
            .derive(
                &request(&cred, Salts::One(SALT_A), UvMode::Verified),
                &prompt,
            )
            .unwrap();
        assert_eq!(prompt.pin_requests(), 2);
        assert!(
            plain.first != verified.first,
            "UV must select the other CredRandom"
        );
        prompt.push_pin(Some("1234"));
        let again = c
            .derive(
                &request(&cred, Salts::One(SALT_A), UvMode::Verified),
                &prompt,
            )
            .unwrap();
        assert!(again.first == verified.first);
        // The PIN request carried the retries left.
        assert!(prompt.events().iter().any(|e| matches!(
            e,
            PromptEvent::Pin {
                kind: PinPurpose::Verify,
                retries: Some(8),
                previous_wrong: false,
                answered: true
            }
        )));
    }
}

#[test]
fn make_cred_uv_not_rqd_enrolls_without_pin() {
    let mut c = client(sim(SimConfig::with_seed(3)
        .pin("1234")
        .make_cred_uv_not_rqd(true)));
    let prompt = ScriptedPrompt::new();
    let cred = enroll(&mut c, &prompt);
    assert_eq!(prompt.pin_requests(), 0);
    c.derive(
        &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
        &prompt,
    )
    .unwrap();
}

#[test]
fn enroll_without_an_answer_to_the_pin_prompt() {
    let mut c = client(sim(SimConfig::with_seed(3).pin("1234")));
    let prompt = ScriptedPrompt::new();
    assert!(matches!(
        c.enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt),
        Err(Error::PinRequired)
    ));
}

#[test]
fn always_uv_refuses_presence_only() {
    let mut c = client(sim(SimConfig::with_seed(4).pin("1234").always_uv(true)));
    let info = c.describe().unwrap();
    assert!(info.always_uv);
    assert_eq!(info.default_derive_uv(), UvMode::Verified);
    let prompt = ScriptedPrompt::new().with_pin("1234");
    let cred = enroll(&mut c, &prompt);
    let before = c.transport().count();
    assert!(matches!(
        c.derive(
            &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
            &prompt
        ),
        Err(Error::UvRequired)
    ));
    assert_eq!(
        c.transport().count(),
        before,
        "refused before any round trip"
    );
    prompt.push_pin(Some("1234"));
    c.derive(
        &request(&cred, Salts::One(SALT_A), UvMode::Verified),
        &prompt,
    )
    .unwrap();
}

#[test]
fn built_in_uv_verifies_without_pin() {
    let mut c = client(sim(SimConfig::with_seed(5).pin("1234").built_in_uv(true)));
    let prompt = ScriptedPrompt::new();
    let cred = enroll(&mut c, &prompt);
    let plain = c
        .derive(
            &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
            &prompt,
        )
        .unwrap();
    let verified = c
        .derive(
            &request(&cred, Salts::One(SALT_A), UvMode::Verified),
            &prompt,
        )
        .unwrap();
    assert_eq!(prompt.pin_requests(), 0);
    assert!(plain.first != verified.first);
}

#[test]
fn wrong_pins_down_to_auth_blocked_and_blocked() {
    let transport = sim(SimConfig::with_seed(6).pin("1234"));
    let handle = transport.clone();
    let mut c = client(transport);
    let enroll_prompt = ScriptedPrompt::new().with_pin("1234");
    let cred = enroll(&mut c, &enroll_prompt);
    let derive = |c: &mut Ctap2Client<CountingTransport<SimTransport>>, prompt: &ScriptedPrompt| {
        c.derive(
            &request(&cred, Salts::One(SALT_A), UvMode::Verified),
            prompt,
        )
    };

    // Three wrong PINs in a row: PIN_AUTH_BLOCKED (retries 8 → 5).
    let prompt = ScriptedPrompt::new()
        .with_pin("0000")
        .with_pin("0001")
        .with_pin("0002");
    assert!(matches!(
        derive(&mut c, &prompt),
        Err(Error::PinAuthBlocked)
    ));
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
    assert_eq!(
        asked,
        vec![(Some(8), false), (Some(7), true), (Some(6), true)]
    );
    // Until a power cycle even the right PIN is refused.
    let prompt = ScriptedPrompt::new().with_pin("1234");
    assert!(matches!(
        derive(&mut c, &prompt),
        Err(Error::PinAuthBlocked)
    ));

    handle.lock().power_cycle();
    assert_eq!(c.pin_retries().unwrap(), 5);
    // A wrong PIN, then the prompt declines: the error carries the retries left.
    let prompt = ScriptedPrompt::new().with_pin("9999");
    assert!(matches!(
        derive(&mut c, &prompt),
        Err(Error::PinInvalid { retries: Some(4) })
    ));
    // Two more wrong PINs make three in a row again (retries 4 → 2).
    let prompt = ScriptedPrompt::new()
        .with_pin("0000")
        .with_pin("0001")
        .with_pin("1234");
    assert!(matches!(
        derive(&mut c, &prompt),
        Err(Error::PinAuthBlocked)
    ));
    assert_eq!(prompt.pin_requests(), 2);
    handle.lock().power_cycle();
    // The seventh and eighth wrong PIN: blocked for good.
    let prompt = ScriptedPrompt::new()
        .with_pin("0000")
        .with_pin("0001")
        .with_pin("1234");
    assert!(matches!(derive(&mut c, &prompt), Err(Error::PinBlocked)));
    assert_eq!(prompt.pin_requests(), 2);
    assert_eq!(handle.lock().pin_retries(), 0);
    handle.lock().power_cycle();
    // Blocked: the prompt is not even asked.
    let prompt = ScriptedPrompt::new().with_pin("1234");
    assert!(matches!(derive(&mut c, &prompt), Err(Error::PinBlocked)));
    assert_eq!(prompt.pin_requests(), 0);
    assert!(Error::PinBlocked.to_string().contains("reset"));
}

#[test]
fn pin_management() {
    let mut c = client(sim(SimConfig::with_seed(7)));
    assert!(matches!(
        c.change_pin(&Pin::new("1234"), &Pin::new("5678")),
        Err(Error::PinNotSet)
    ));
    assert!(matches!(
        c.set_pin(&Pin::new("123")),
        Err(Error::PinPolicyViolation)
    ));
    c.set_pin(&Pin::new("1234")).unwrap();
    assert_eq!(c.describe().unwrap().client_pin, Some(true));
    assert!(matches!(
        c.set_pin(&Pin::new("1234")),
        Err(Error::PinAlreadySet)
    ));
    assert_eq!(c.pin_retries().unwrap(), 8);
    assert!(matches!(
        c.change_pin(&Pin::new("0000"), &Pin::new("5678")),
        Err(Error::PinInvalid { retries: Some(7) })
    ));
    c.change_pin(&Pin::new("1234"), &Pin::new("5678")).unwrap();
    assert_eq!(c.pin_retries().unwrap(), 8);
    // The new PIN is the one that works now.
    let prompt = ScriptedPrompt::new().with_pin("5678");
    enroll(&mut c, &prompt);
    let prompt = ScriptedPrompt::new().with_pin("1234");
    assert!(matches!(
        c.enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt),
        Err(Error::PinInvalid { retries: Some(7) })
    ));
}

#[test]
fn presence_denied_and_timed_out() {
    let transport = sim(SimConfig::with_seed(8));
    let handle = transport.clone();
    let mut c = client(transport);
    let prompt = ScriptedPrompt::new();
    let cred = enroll(&mut c, &prompt);
    handle.lock().set_presence_policy(PresencePolicy::deny());
    assert!(matches!(
        c.derive(
            &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
            &prompt
        ),
        Err(Error::OperationDenied)
    ));
    handle
        .lock()
        .set_presence_policy(PresencePolicy::time_out());
    assert!(matches!(
        c.derive(
            &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
            &prompt
        ),
        Err(Error::UserActionTimeout)
    ));
    assert!(matches!(c.select(&prompt), Err(Error::UserActionTimeout)));
    handle.lock().set_presence_policy(PresencePolicy::approve());
    c.derive(
        &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
        &prompt,
    )
    .unwrap();
}

#[test]
fn cancel_while_waiting_for_a_touch() {
    let transport = sim(SimConfig::with_seed(9));
    let handle = transport.clone();
    let mut c = client(transport);
    let cred = enroll(&mut c, &ScriptedPrompt::new());
    handle
        .lock()
        .set_presence_policy(PresencePolicy::approve_after(Duration::from_secs(10)));
    let prompt = ScriptedPrompt::new().cancel_after_keepalives(3);
    let err = c
        .derive(
            &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
            &prompt,
        )
        .err()
        .unwrap();
    assert!(matches!(err, Error::Cancelled));
    assert!(err.is_cancelled());
    // The touch was announced once and closed.
    let events = prompt.events();
    assert_eq!(prompt.touches(), 1);
    assert!(events.contains(&PromptEvent::TouchNeeded("unlock the vault".into())));
    assert_eq!(events.last(), Some(&PromptEvent::TouchDone));
    assert!(events.contains(&PromptEvent::Keepalive(KeepaliveStatus::UserPresenceNeeded)));
    // A prompt already cancelled costs no round trip.
    let before = c.transport().count();
    assert!(matches!(c.select(&prompt), Err(Error::Cancelled)));
    assert_eq!(c.transport().count(), before);
}

#[test]
fn touch_is_announced_once_per_derivation() {
    let mut c = client(sim(SimConfig::with_seed(10)));
    let cred = enroll(&mut c, &ScriptedPrompt::new());
    let prompt = ScriptedPrompt::new();
    for _ in 0..3 {
        c.derive(
            &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
            &prompt,
        )
        .unwrap();
    }
    assert_eq!(prompt.touches(), 3);
    let touch_done = prompt
        .events()
        .iter()
        .filter(|e| **e == PromptEvent::TouchDone)
        .count();
    assert_eq!(touch_done, 3);
}

#[test]
fn provisioned_credential_matches_independent_hmac() {
    let cred_random = [0x42u8; 32];
    let cred_random_uv = [0x24u8; 32];
    let id = vec![
        0xC0, 0xFF, 0xEE, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C,
        0x0D,
    ];
    for protocols in [&[2u8, 1][..], &[1u8][..]] {
        let mut simulator =
            Simulator::new(SimConfig::with_seed(11).protocols(protocols).pin("1234"));
        simulator
            .provision(ProvisionedCredential {
                credential_id: id.clone(),
                rp_id: DEFAULT_RP_ID.to_string(),
                cred_random,
                cred_random_uv: Some(cred_random_uv),
                cred_protect: None,
            })
            .unwrap();
        let mut c = client(SimTransport::from_simulator(simulator));
        let cred = CredentialId(id.clone());
        let prompt = ScriptedPrompt::new();
        let out = c
            .derive(
                &request(&cred, Salts::Two(SALT_A, SALT_B), UvMode::PresenceOnly),
                &prompt,
            )
            .unwrap();
        assert_eq!(out.first.expose_secret(), &hmac(&cred_random, &SALT_A));
        assert_eq!(
            out.second.as_ref().unwrap().expose_secret(),
            &hmac(&cred_random, &SALT_B)
        );
        prompt.push_pin(Some("1234"));
        let out = c
            .derive(
                &request(&cred, Salts::One(SALT_B), UvMode::Verified),
                &prompt,
            )
            .unwrap();
        assert_eq!(out.first.expose_secret(), &hmac(&cred_random_uv, &SALT_B));
        assert!(c.probe(&cred, DEFAULT_RP_ID).unwrap());
        assert!(!c.probe(&cred, "other.example").unwrap());
    }
}

#[test]
fn n_derivations_after_warm_up_cost_n_round_trips() {
    let mut c = client(sim(SimConfig::with_seed(12).pin("1234")));
    let cred = enroll(&mut c, &ScriptedPrompt::new().with_pin("1234"));
    let prompt = ScriptedPrompt::new();
    c.derive(
        &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
        &prompt,
    )
    .unwrap();
    c.transport_mut().reset_counts();
    const N: usize = 7;
    for i in 0..N {
        let salt = [u8::try_from(i).unwrap(); 32];
        c.derive(
            &request(&cred, Salts::One(salt), UvMode::PresenceOnly),
            &prompt,
        )
        .unwrap();
    }
    assert_eq!(c.transport().count(), N);
    assert_eq!(c.transport().count_of(command::GET_ASSERTION), N);
    assert_eq!(c.transport().count_of(command::CLIENT_PIN), 0);
}

#[test]
fn warm_up_is_one_key_agreement_and_no_second_get_info() {
    let mut c = client(sim(SimConfig::with_seed(13)));
    assert_eq!(c.transport().count_of(command::GET_INFO), 1);
    let cred = enroll(&mut c, &ScriptedPrompt::new());
    c.transport_mut().reset_counts();
    c.derive(
        &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
        &ScriptedPrompt::new(),
    )
    .unwrap();
    assert_eq!(c.transport().count(), 2, "getKeyAgreement + getAssertion");
    assert_eq!(c.transport().count_of(command::GET_INFO), 0);
}

#[test]
fn recovers_once_after_a_power_cycle_forgets_the_key_agreement() {
    let transport = sim(SimConfig::with_seed(14));
    let handle = transport.clone();
    let mut c = client(transport);
    let cred = enroll(&mut c, &ScriptedPrompt::new());
    let prompt = ScriptedPrompt::new();
    let first = c
        .derive(
            &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
            &prompt,
        )
        .unwrap();
    handle.lock().power_cycle();
    c.transport_mut().reset_counts();
    let second = c
        .derive(
            &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
            &prompt,
        )
        .unwrap();
    assert!(first.first == second.first);
    // failed getAssertion (PIN_AUTH_INVALID), getKeyAgreement, getAssertion.
    assert_eq!(c.transport().count(), 3);
}

#[test]
fn probe_needs_no_touch() {
    let transport = sim(SimConfig::with_seed(15));
    let handle = transport.clone();
    let mut c = client(transport);
    let cred = enroll(&mut c, &ScriptedPrompt::new());
    let presence_before = handle.lock().presence_requests();
    assert!(c.probe(&cred, DEFAULT_RP_ID).unwrap());
    let mut foreign = cred.clone();
    if let Some(b) = foreign.0.last_mut() {
        *b ^= 0xFF;
    }
    assert!(!c.probe(&foreign, DEFAULT_RP_ID).unwrap());
    assert!(!c.probe(&cred, "another.example").unwrap());
    assert_eq!(handle.lock().presence_requests(), presence_before);
    // A credential another authenticator made is refused by derive too.
    let mut other = client(sim(SimConfig::with_seed(99)));
    assert!(!other.probe(&cred, DEFAULT_RP_ID).unwrap());
    assert!(matches!(
        other.derive(
            &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
            &ScriptedPrompt::new()
        ),
        Err(Error::NoCredentials)
    ));
}

#[test]
fn select_waits_for_a_touch() {
    let transport = sim(SimConfig::with_seed(16));
    let handle = transport.clone();
    let mut c = client(transport);
    let prompt = ScriptedPrompt::new();
    c.select(&prompt).unwrap();
    assert_eq!(c.transport().count_of(command::SELECTION), 1);
    assert_eq!(prompt.touches(), 1);
    handle.lock().set_presence_policy(PresencePolicy::deny());
    assert!(matches!(c.select(&prompt), Err(Error::OperationDenied)));
}

#[test]
fn corrupted_and_dropped_responses_are_errors_not_panics() {
    let transport = sim(SimConfig::with_seed(17));
    let handle = transport.clone();
    let mut c = client(transport);
    let cred = enroll(&mut c, &ScriptedPrompt::new());
    let prompt = ScriptedPrompt::new();
    let good = c
        .derive(
            &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
            &prompt,
        )
        .unwrap();
    // Every byte of the response flipped in turn (status byte excluded):
    // CBOR structure, lengths, rpIdHash, flags and the output's length are
    // checked; a flip inside the signature, the counter or the encrypted
    // output itself cannot be noticed here (hmac-secret outputs carry no
    // MAC; the vault's own MAC catches them). Never a panic.
    let mut failures = 0;
    for offset in 1..300 {
        handle
            .lock()
            .inject(Fault::CorruptResponse { offset, mask: 0x5A });
        if c.derive(
            &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
            &prompt,
        )
        .is_err()
        {
            failures += 1;
        }
    }
    assert!(failures > 100, "only {failures} corruptions were noticed");
    handle.lock().inject(Fault::DropResponse);
    assert!(matches!(
        c.derive(
            &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
            &prompt
        ),
        Err(Error::Transport(_))
    ));
    // Forced statuses map to their typed errors.
    for (status, check) in [
        (
            0x2Eu8,
            (|e: &Error| matches!(e, Error::NoCredentials)) as fn(&Error) -> bool,
        ),
        (0x27, |e| matches!(e, Error::OperationDenied)),
        (0x2F, |e| matches!(e, Error::UserActionTimeout)),
        (0x2D, |e| matches!(e, Error::Cancelled)),
        (0x12, |e| {
            matches!(
                e,
                Error::InvalidRequest {
                    status: tokenring_core::Status::InvalidCbor
                }
            )
        }),
        (0xF2, |e| matches!(e, Error::Ctap(0xF2))),
    ] {
        handle.lock().inject(Fault::ForceStatus {
            command: command::GET_ASSERTION,
            status,
        });
        let err = c
            .derive(
                &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
                &prompt,
            )
            .err()
            .unwrap();
        assert!(check(&err), "{status:#x}: {err}");
    }
    // And the client still works afterwards.
    let again = c
        .derive(
            &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
            &prompt,
        )
        .unwrap();
    assert!(again.first == good.first);
}

#[test]
fn reset_forgets_credentials_and_pin() {
    let mut c = client(sim(SimConfig::with_seed(18).pin("1234")));
    let cred = enroll(&mut c, &ScriptedPrompt::new().with_pin("1234"));
    c.reset(&ScriptedPrompt::new()).unwrap();
    assert_eq!(c.describe().unwrap().client_pin, Some(false));
    assert!(!c.probe(&cred, DEFAULT_RP_ID).unwrap());
}

#[test]
fn a_power_cycle_before_a_pin_never_costs_a_retry() {
    let transport = sim(SimConfig::with_seed(19).pin("1234"));
    let handle = transport.clone();
    let mut c = client(transport);
    let cred = enroll(&mut c, &ScriptedPrompt::new().with_pin("1234"));
    for _ in 0..3 {
        handle.lock().power_cycle();
        let prompt = ScriptedPrompt::new().with_pin("1234");
        c.derive(
            &request(&cred, Salts::One(SALT_A), UvMode::Verified),
            &prompt,
        )
        .unwrap();
        assert_eq!(handle.lock().pin_retries(), 8);
    }
    handle.lock().power_cycle();
    c.change_pin(&Pin::new("1234"), &Pin::new("4321")).unwrap();
    assert_eq!(handle.lock().pin_retries(), 8);
}

/// CTAP 2.1 §6.5.1: the client sends the PIN's Unicode NFC form, so the
/// same PIN typed with composed or decomposed accents is one PIN, and a new
/// PIN's minimum length counts the code points of that form.
#[test]
fn pins_are_sent_in_unicode_nfc_form() {
    let decomposed = "e\u{301}e\u{301}e\u{301}e\u{301}";
    let composed = "\u{e9}\u{e9}\u{e9}\u{e9}";
    let transport = sim(SimConfig::with_seed(40));
    let handle = transport.clone();
    let mut c = client(transport);
    // Three accented letters are six code points as typed, three in NFC:
    // refused before anything is sent.
    c.transport_mut().reset_counts();
    assert!(matches!(
        c.set_pin(&Pin::new("e\u{301}e\u{301}e\u{301}")),
        Err(Error::PinPolicyViolation)
    ));
    assert_eq!(c.transport().count(), 0);
    c.set_pin(&Pin::new(decomposed)).unwrap();
    // The authenticator received four code points (eight bytes), not eight.
    assert_eq!(handle.lock().state().pin_code_points, Some(4));
    let cred = enroll(&mut c, &ScriptedPrompt::new().with_pin(composed));
    let prompt = ScriptedPrompt::new().with_pin(decomposed);
    c.derive(
        &request(&cred, Salts::One(SALT_A), UvMode::Verified),
        &prompt,
    )
    .unwrap();
    assert_eq!(handle.lock().pin_retries(), 8);

    // A PIN set elsewhere in NFC opens when typed decomposed.
    let mut c = client(sim(SimConfig::with_seed(41).pin(composed)));
    let cred = enroll(&mut c, &ScriptedPrompt::new().with_pin(decomposed));
    c.derive(
        &request(&cred, Salts::One(SALT_A), UvMode::Verified),
        &ScriptedPrompt::new().with_pin(decomposed),
    )
    .unwrap();
}

/// A stale shared secret on an authenticator that answers a saltAuth it
/// cannot verify like Solo 1's CTAP 2.0 firmware (0xE0,
/// CTAP2_ERR_EXTENSION_FIRST), or with INVALID_PARAMETER: the long-lived
/// client renews its key agreement once and derives, at the cost of a
/// second touch, which the prompt announces.
#[test]
fn a_stale_shared_secret_is_renewed_whatever_the_authenticator_answers() {
    for status in [
        tokenring_core::Status::ExtensionFirst,
        tokenring_core::Status::InvalidParameter,
        tokenring_core::Status::PinAuthInvalid,
    ] {
        let transport = sim(SimConfig::with_seed(42).bad_salt_auth_status(status));
        let handle = transport.clone();
        let mut c = client(transport);
        let cred = enroll(&mut c, &ScriptedPrompt::new());
        let prompt = ScriptedPrompt::new();
        let first = c
            .derive(
                &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
                &prompt,
            )
            .unwrap();
        // The authenticator makes a new key agreement key (as after a
        // re-plug); the client still holds the old shared secret.
        handle.lock().power_cycle();
        let touches_before = handle.lock().presence_requests();
        c.transport_mut().reset_counts();
        let prompt = ScriptedPrompt::new();
        let again = c
            .derive(
                &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
                &prompt,
            )
            .unwrap_or_else(|e| panic!("{status}: {e}"));
        assert!(first.first == again.first, "{status}");
        // The refused getAssertion (after its touch), getKeyAgreement, and
        // the getAssertion that worked: two touches.
        assert_eq!(c.transport().count(), 3, "{status}");
        assert_eq!(handle.lock().presence_requests() - touches_before, 2);
        assert!(
            prompt.events().iter().any(|e| matches!(
                e,
                PromptEvent::Info(m) if m.contains("touch the authenticator once more")
            )),
            "{status}: {:?}",
            prompt.events()
        );
        // Renewed once only: a token that keeps refusing ends in its error.
        handle.lock().power_cycle();
        for _ in 0..2 {
            handle.lock().inject(Fault::ForceStatus {
                command: command::GET_ASSERTION,
                status: status.into(),
            });
        }
        let Err(err) = c.derive(
            &request(&cred, Salts::One(SALT_A), UvMode::PresenceOnly),
            &ScriptedPrompt::new(),
        ) else {
            panic!("{status}: refused twice, yet derived");
        };
        assert_eq!(err.status(), Some(u8::from(status)), "{status}");
    }
}

/// forcePINChange (getInfo 0x0C): the client does not ask for the PIN (the
/// authenticator would answer even the right PIN with an error that reads
/// as a wrong PIN), says to change it, and works again after changePIN.
#[test]
fn force_pin_change_is_reported_before_any_pin_is_asked_for() {
    let transport = sim(SimConfig::with_seed(43)
        .pin("1234")
        .make_cred_uv_not_rqd(true)
        .force_pin_change(true));
    let handle = transport.clone();
    let mut c = client(transport);
    assert!(c.info().force_pin_change);
    // Presence only needs no PIN: unaffected.
    let cred = enroll(&mut c, &ScriptedPrompt::new());
    let prompt = ScriptedPrompt::new().with_pin("1234");
    let err = c
        .derive(
            &request(&cred, Salts::One(SALT_A), UvMode::Verified),
            &prompt,
        )
        .err()
        .expect("a PIN change is required");
    assert!(matches!(err, Error::PinChangeRequired), "{err}");
    assert!(err.to_string().contains("tokenring pin change"));
    assert_eq!(prompt.pin_requests(), 0);
    assert_eq!(handle.lock().pin_retries(), 8);
    // The same PIN again is refused by the authenticator.
    assert!(matches!(
        c.change_pin(&Pin::new("1234"), &Pin::new("1234")),
        Err(Error::PinPolicyViolation)
    ));
    c.change_pin(&Pin::new("1234"), &Pin::new("5678")).unwrap();
    assert!(!c.info().force_pin_change);
    c.derive(
        &request(&cred, Salts::One(SALT_A), UvMode::Verified),
        &ScriptedPrompt::new().with_pin("5678"),
    )
    .unwrap();
}

/// noMcGaPermissionsWithClientPin: the PIN cannot give a token for mc/ga,
/// so the client uses built-in UV, and without it says what to do instead
/// of asking for a PIN the authenticator will not honour.
#[test]
fn no_mc_ga_with_client_pin_uses_built_in_uv() {
    // With built-in UV: enrollment and a verified derivation ask no PIN.
    let transport = sim(SimConfig::with_seed(44)
        .pin("1234")
        .built_in_uv(true)
        .no_mc_ga_permissions_with_client_pin(true));
    let mut c = client(transport);
    let prompt = ScriptedPrompt::new().with_pin("1234");
    let cred = enroll(&mut c, &prompt);
    c.derive(
        &request(&cred, Salts::One(SALT_A), UvMode::Verified),
        &prompt,
    )
    .unwrap();
    assert_eq!(prompt.pin_requests(), 0);

    // Without it: a clear error, no PIN asked, no retry spent.
    let transport = sim(SimConfig::with_seed(45)
        .pin("1234")
        .no_mc_ga_permissions_with_client_pin(true));
    let handle = transport.clone();
    let mut c = client(transport);
    let prompt = ScriptedPrompt::new().with_pin("1234");
    assert!(matches!(
        c.enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt),
        Err(Error::BuiltInUvRequired)
    ));
    assert_eq!(prompt.pin_requests(), 0);
    assert_eq!(handle.lock().pin_retries(), 8);
}
