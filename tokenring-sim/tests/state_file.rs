//! The JSON state file keeps its format: files written by an earlier build
//! of `tokenring-sim` (`tests/fixtures/state-v1-*.json`, made with its
//! `init` and `provision` commands) load, serve their credentials, and are
//! written back byte for byte.

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokenring_core::{
    Authenticator, CredentialId, Ctap2Client, DeriveRequest, NoPrompt, Salts, UvMode, DEFAULT_RP_ID,
};
use tokenring_sim::{AttestationMode, SimState, SimTransport, Simulator};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The fixture copied into a temporary directory (opening may write back).
fn copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::copy(fixture(name), &path).expect("copy fixture");
    (dir, path)
}

fn hmac_sha256(key: &[u8; 32], salt: &[u8; 32]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(salt);
    mac.finalize().into_bytes().into()
}

#[test]
fn an_earlier_state_file_loads_with_every_field() {
    let state = SimState::load(&fixture("state-v1-pin.json")).expect("loads");
    assert_eq!(state.version, 1);
    assert_eq!(state.seed, 7);
    assert_eq!(&state.aaguid, b"tokenring-sim\0\0\0");
    assert_eq!(
        hex::encode(state.master_secret),
        "19454a27b752f905909507d6160ddc888e2df8b773098ef3f7bcd321a7caa748"
    );
    // LEFT(SHA-256("1234"), 16).
    assert_eq!(
        state.pin_hash.map(hex::encode).as_deref(),
        Some("03ac674216f3e15c761ee1a5e255f067")
    );
    assert_eq!(state.pin_retries, 8);
    assert_eq!(state.pin_uv_auth_protocols, vec![2, 1]);
    assert_eq!(state.attestation, AttestationMode::Packed);
    let [plain, with_uv] = state.credentials.as_slice() else {
        panic!("two provisioned credentials: {:?}", state.credentials);
    };
    assert_eq!(
        hex::encode(&plain.credential_id),
        "0102030405060708090a0b0c0d0e0f10"
    );
    assert_eq!(plain.rp_id, DEFAULT_RP_ID);
    assert_eq!(plain.cred_random, [0x5A; 32]);
    assert_eq!(plain.cred_random_uv, None);
    assert_eq!(with_uv.credential_id, vec![0xA0, 0xA1, 0xA2, 0xA3]);
    assert_eq!(with_uv.rp_id, "example.org");
    assert_eq!(with_uv.cred_random, [0x11; 32]);
    assert_eq!(with_uv.cred_random_uv, Some([0x22; 32]));

    let state = SimState::load(&fixture("state-v1-no-pin.json")).expect("loads");
    assert_eq!(state.pin_hash, None);
    assert_eq!(state.pin_code_points, None);
    assert_eq!(state.pin_uv_auth_protocols, vec![1]);
    assert!(state.always_uv);
    assert!(state.credentials.is_empty());
}

#[test]
fn an_earlier_state_file_is_written_back_byte_for_byte() {
    for name in ["state-v1-pin.json", "state-v1-no-pin.json"] {
        let (dir, _) = copy(name);
        let state = SimState::load(&fixture(name)).expect("loads");
        let again = dir.path().join("again.json");
        state.save(&again).expect("saves");
        assert_eq!(
            std::fs::read_to_string(&again).expect("read back"),
            std::fs::read_to_string(fixture(name)).expect("fixture"),
            "{name}"
        );
    }
}

#[test]
fn hex_in_either_case_loads_and_bad_hex_is_refused() {
    let (dir, path) = copy("state-v1-pin.json");
    let text = std::fs::read_to_string(&path).expect("read");
    let upper = text.replace(
        "19454a27b752f905909507d6160ddc888e2df8b773098ef3f7bcd321a7caa748",
        "19454A27B752F905909507D6160DDC888E2DF8B773098EF3F7BCD321A7CAA748",
    );
    let upper_path = dir.path().join("upper.json");
    std::fs::write(&upper_path, upper).expect("write");
    let state = SimState::load(&upper_path).expect("upper-case hex loads");
    assert_eq!(state.master_secret[0], 0x19);

    for (what, bad) in [
        ("a short master secret", text.replace("\"19454a27", "\"")),
        ("a non-hex digit", text.replace("03ac6742", "03ac674z")),
        ("an odd length", text.replace("\"a0a1a2a3\"", "\"a0a1a2a\"")),
    ] {
        let bad_path = dir.path().join("bad.json");
        std::fs::write(&bad_path, &bad).expect("write");
        assert!(
            matches!(
                SimState::load(&bad_path),
                Err(tokenring_sim::SimError::InvalidState { .. })
            ),
            "{what}"
        );
        assert_eq!(
            std::fs::read_to_string(&bad_path).expect("read"),
            bad,
            "{what}: left as it was"
        );
    }
}

#[test]
fn an_earlier_state_file_serves_its_provisioned_credential() {
    let (_dir, path) = copy("state-v1-pin.json");
    let simulator = Simulator::open(&path).expect("opens");
    assert!(simulator.pin_is_set());
    let mut client = Ctap2Client::new(SimTransport::from_simulator(simulator)).expect("client");
    let credential = CredentialId(hex::decode("0102030405060708090a0b0c0d0e0f10").expect("hex"));
    let salt = [0x33; 32];
    let out = client
        .derive(
            &DeriveRequest {
                credential: &credential,
                rp_id: DEFAULT_RP_ID,
                salts: Salts::One(salt),
                uv: UvMode::PresenceOnly,
                purpose: "read the fixture",
            },
            &NoPrompt,
        )
        .expect("derives");
    assert_eq!(out.first.expose_secret(), &hmac_sha256(&[0x5A; 32], &salt));
}

#[test]
fn create_refuses_a_pin_the_policy_forbids_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    for pin in ["123".to_string(), "ü".repeat(3), "x".repeat(64)] {
        let path = dir.path().join("state.json");
        let result = Simulator::create(tokenring_sim::SimConfig::with_seed(1).pin(&pin), &path);
        assert!(
            matches!(result, Err(tokenring_sim::SimError::InvalidConfig(_))),
            "{pin:?}"
        );
        assert!(!path.exists(), "{pin:?}: no state file");
    }
    // The limits themselves are allowed: 4 code points, 63 bytes.
    for (name, pin) in [("four", "ünïç".to_string()), ("long", "x".repeat(63))] {
        let path = dir.path().join(name);
        let simulator = Simulator::create(tokenring_sim::SimConfig::with_seed(1).pin(&pin), &path)
            .expect("created");
        assert!(simulator.pin_is_set());
    }
}
