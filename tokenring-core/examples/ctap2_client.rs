//! The CTAP 2.1 client over the in-process simulator: getInfo, enroll a
//! credential with hmac-secret, derive secrets with and without user
//! verification, probe for the credential without a touch.
//!
//! The simulator protects nothing; it stands in for a token here. With a
//! real one, the transport comes from `tokenring-hid` or `tokenring-nfc` and
//! everything else stays the same.
//!
//! ```sh
//! cargo run -p tokenring-core --example ctap2_client
//! ```

use tokenring_core::{
    Authenticator, CredentialId, Ctap2Client, DeriveRequest, Pin, PinRequest, Prompt, Salts,
    UserEntity, UvMode, DEFAULT_RP_ID,
};
use tokenring_sim::{SimConfig, SimTransport, Simulator};

const PIN: &str = "4711";

/// Shows what a terminal prompt would show. A real prompt asks the user for
/// the PIN; this one answers from the program.
struct Console;

impl Prompt for Console {
    fn touch_needed(&self, purpose: &str) {
        println!("    (touch your authenticator to {purpose})");
    }

    fn pin(&self, request: &PinRequest<'_>) -> Option<Pin> {
        let tries = request
            .retries
            .map_or(String::new(), |n| format!(", {n} tries left"));
        println!("    (PIN asked for: {}{tries})", request.purpose);
        Some(Pin::new(PIN))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let simulator = Simulator::new(SimConfig::with_seed(1).pin(PIN));
    let mut client = Ctap2Client::new(SimTransport::from_simulator(simulator))?;

    let info = client.info();
    println!("getInfo");
    println!("  versions:   {}", info.versions.join(", "));
    println!("  extensions: {}", info.extensions.join(", "));
    println!("  PIN/UV auth protocols: {:?}", info.pin_uv_auth_protocols);
    let protocol = client.protocol().map(|p| p.number());
    println!("  the client uses protocol {protocol:?}");
    let described = client.describe()?;
    println!(
        "  {} over {}: hmac-secret {}, PIN set {:?}",
        described.name, described.transport, described.hmac_secret, described.client_pin
    );

    println!("enroll (makeCredential with hmac-secret; the PIN because one is set)");
    let credential = client.enroll(DEFAULT_RP_ID, &UserEntity::default(), &Console)?;
    println!("  credential id: {} bytes", credential.as_bytes().len());

    let derive = |uv: UvMode| DeriveRequest {
        credential: &credential,
        rp_id: DEFAULT_RP_ID,
        salts: Salts::Two([1; 32], [2; 32]),
        uv,
        purpose: "derive two secrets",
    };
    println!("derive without user verification (getAssertion, two salts, one touch)");
    let presence = client.derive(&derive(UvMode::PresenceOnly), &Console)?;
    println!("derive again");
    let again = client.derive(&derive(UvMode::PresenceOnly), &Console)?;
    println!("derive with user verification (the PIN)");
    let verified = client.derive(&derive(UvMode::Verified), &Console)?;

    // The outputs are secrets: compare them, never print them.
    let same = presence.first == again.first && presence.second == again.second;
    let uv_differs = presence.first != verified.first;
    let two_outputs = presence
        .second
        .as_ref()
        .is_some_and(|second| *second != presence.first);
    println!("  same salts, same secrets: {same}");
    println!("  one assertion gave two different secrets: {two_outputs}");
    println!("  with user verification the secret differs: {uv_differs}");

    println!("probe (getAssertion with up=false: no touch)");
    let holds = client.probe(&credential, DEFAULT_RP_ID)?;
    let holds_other = client.probe(&CredentialId(vec![7; 64]), DEFAULT_RP_ID)?;
    println!("  holds our credential: {holds}; holds a made-up one: {holds_other}");

    if same && uv_differs && two_outputs && holds && !holds_other {
        Ok(())
    } else {
        Err("the client or the simulator did not behave as CTAP 2.1 says".into())
    }
}
