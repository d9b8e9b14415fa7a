//! TokenRing's CTAP2 client against the simulator, in one process: getInfo,
//! enroll a credential with the PIN, derive hmac-secret outputs, and a touch
//! the scripted user refuses.
//!
//! ```sh
//! cargo run -p tokenring-sim --example client_on_simulator
//! ```
//!
//! The simulator protects nothing: its secrets live in memory here (or in a
//! plain state file); it is for tests and demos.

use std::process::ExitCode;

use tokenring_core::{
    Authenticator, Ctap2Client, DeriveRequest, Error, Pin, PinRequest, Prompt, Salts, UserEntity,
    UvMode, DEFAULT_RP_ID,
};
use tokenring_sim::{PresenceAnswer, PresencePolicy, SimConfig, SimTransport, Simulator};

/// The user at the keyboard: knows the PIN, says what is asked of them.
struct User;

impl Prompt for User {
    fn touch_needed(&self, purpose: &str) {
        println!("  (touch requested: {purpose})");
    }

    fn pin(&self, request: &PinRequest<'_>) -> Option<Pin> {
        println!("  (PIN requested: {})", request.purpose);
        Some(Pin::new("1234"))
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("client_on_simulator: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    // A seeded simulator with a PIN. Its user approves the first three
    // touches and refuses the fourth: one answer per presence request.
    let presence = PresencePolicy::Scripted(vec![
        PresenceAnswer::Approve,
        PresenceAnswer::Approve,
        PresenceAnswer::Approve,
        PresenceAnswer::Deny,
    ]);
    let simulator = Simulator::new(SimConfig::with_seed(42).pin("1234").presence(presence));
    let transport = SimTransport::from_simulator(simulator);
    let handle = transport.simulator();
    let mut client = Ctap2Client::new(transport)?;

    let info = client.describe()?;
    println!("getInfo: {} ({:?})", info.name, info.versions);
    println!(
        "  hmac-secret: {}, PIN set: {:?}, PIN/UV auth protocols: {:?}",
        info.hmac_secret, info.client_pin, info.pin_uv_auth_protocols
    );

    println!("makeCredential for {DEFAULT_RP_ID}:");
    let credential = client.enroll(DEFAULT_RP_ID, &UserEntity::default(), &User)?;
    println!("  credential id: {} bytes", credential.0.len());

    let salt = [0x5A; 32];
    let request = DeriveRequest {
        credential: &credential,
        rp_id: DEFAULT_RP_ID,
        salts: Salts::One(salt),
        uv: UvMode::PresenceOnly,
        purpose: "derive a key",
    };
    println!("getAssertion with hmac-secret, twice:");
    let first = client.derive(&request, &User)?;
    let again = client.derive(&request, &User)?;
    let same = first.first.expose_secret() == again.first.expose_secret();
    println!("  the same salt gives the same secret: {same}");
    if !same {
        return Err(Error::Internal("hmac-secret outputs differ".into()));
    }

    println!("getAssertion once more; the user refuses the touch:");
    match client.derive(&request, &User) {
        Err(Error::OperationDenied) => println!("  refused: {}", Error::OperationDenied),
        Ok(_) => return Err(Error::Internal("a refused touch derived a secret".into())),
        Err(other) => return Err(other),
    }

    let simulator = handle
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    println!(
        "the simulator answered {} requests and asked for {} touches",
        simulator.total_requests(),
        simulator.presence_requests()
    );
    Ok(())
}
