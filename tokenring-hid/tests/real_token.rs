//! Against a real FIDO2 token over USB. Ignored by default: plug one in and
//! run `cargo test -p tokenring-hid -- --ignored real_token`, then touch the
//! token each time it blinks (three touches: enroll, two derivations).
//! Set `TOKENRING_TEST_PIN` if the token has a PIN. Nothing is stored on
//! the token (non-discoverable credential).

#![cfg(feature = "hidapi")]

use tokenring_core::testing::ScriptedPrompt;
use tokenring_core::{
    Authenticator, Ctap2Client, DeriveRequest, NoPrompt, Prompt, Salts, Transport, UserEntity,
    UvMode, DEFAULT_RP_ID,
};

#[test]
#[ignore = "needs a real FIDO2 token over USB: run with cargo test -p tokenring-hid -- --ignored real_token"]
fn real_token_enumerate_get_info_enroll_derive() {
    let found = tokenring_hid::enumerate().expect("enumeration");
    for device in &found {
        eprintln!(
            "found {} at {} (serial {:?}): {}",
            device.info.display_name(),
            device.info.path,
            device.info.serial,
            match &device.access {
                Ok(()) => "accessible".to_string(),
                Err(e) => e.to_string(),
            }
        );
    }
    let usable = found
        .iter()
        .find(|d| d.access.is_ok())
        .expect("a FIDO HID device this user may open");

    let mut transport = tokenring_hid::open_transport(&usable.info).expect("open + CTAPHID_INIT");
    // The sizes from the token's own report descriptor (64 on every
    // token seen so far).
    let sizes = transport.device().report_sizes();
    eprintln!("report sizes: {} in, {} out", sizes.input(), sizes.output());
    assert!((8..=64).contains(&sizes.input()) && (8..=64).contains(&sizes.output()));
    let init = *transport.device_info().expect("INIT answer");
    assert!(init.supports_cbor(), "a FIDO2 (CTAP2) token");
    transport.ping(b"tokenring").expect("CTAPHID_PING");
    let reply = transport.exchange(0x04, &[], &NoPrompt).expect("getInfo");
    assert_eq!(reply.status, 0);

    let mut client = Ctap2Client::new(transport).expect("client");
    let prompt = ScriptedPrompt::new();
    if let Ok(pin) = std::env::var("TOKENRING_TEST_PIN") {
        prompt.push_pin(Some(&pin));
    }
    eprintln!("touch the token to enroll");
    let credential = client
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &prompt)
        .expect("enroll");
    let mut derive = |prompt: &dyn Prompt| {
        eprintln!("touch the token to derive");
        let out = client
            .derive(
                &DeriveRequest {
                    credential: &credential,
                    rp_id: DEFAULT_RP_ID,
                    salts: Salts::One([0x42; 32]),
                    uv: UvMode::PresenceOnly,
                    purpose: "tokenring-hid real token test",
                },
                prompt,
            )
            .expect("derive");
        *out.first.expose_secret()
    };
    let first = derive(&prompt);
    let second = derive(&prompt);
    assert_eq!(
        first, second,
        "the same salt gives the same hmac-secret output"
    );
}
