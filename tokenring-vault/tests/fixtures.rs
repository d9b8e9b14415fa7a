//! The original's own vaults (../shared/fixtures/glyph-vault-v1*.json) open,
//! and are rewritten byte for byte in the original's layout.

mod common;

use common::hmac_authenticator::{hmac_sha256, HmacAuthenticator};
use tokenring_core::{NoPrompt, Secret32, UvMode, DEFAULT_RP_ID};
use tokenring_vault::internal::fernet::FernetKey;
use tokenring_vault::internal::format;
use tokenring_vault::{Vault, VaultError};

fn fixture1_auth() -> HmacAuthenticator {
    HmacAuthenticator::with_credential(
        &common::fixture1_cred_id(),
        DEFAULT_RP_ID,
        common::fixture1_cred_random(),
    )
}

fn fixture2_auth() -> HmacAuthenticator {
    HmacAuthenticator::with_credential(
        &common::fixture2_cred_id(),
        DEFAULT_RP_ID,
        common::fixture2_cred_random(),
    )
}

fn get(vault: &Vault, auth: &mut HmacAuthenticator, service: &str, user: &str) -> Option<String> {
    vault
        .get(service, user, auth, &NoPrompt)
        .expect("get")
        .map(|p| p.expose_secret().to_string())
}

#[test]
fn glyph_vault_v1_opens_and_every_password_decrypts() {
    let path = common::fixture("glyph-vault-v1.json");
    let before = std::fs::read(&path).expect("read");
    let mut auth = fixture1_auth();
    let vault = Vault::open(&path, &mut auth, &NoPrompt).expect("opens");
    assert_eq!(
        auth.derivations,
        vec![("unlock the vault".to_string(), UvMode::PresenceOnly)]
    );
    assert_eq!(vault.uv_mode(), UvMode::PresenceOnly);
    let cred = vault.credential();
    assert_eq!(cred.rp_id, "hardware.keychain.glyph.im");
    assert_eq!(cred.id.0, common::fixture1_cred_id());
    assert_eq!(
        vault.list().expect("list"),
        vec![
            ("index.example".to_string(), "__token__".to_string()),
            (
                "https://upload.index.example/legacy/".to_string(),
                "glyph".to_string()
            ),
            ("bank.example".to_string(), "alice@example.com".to_string()),
        ]
    );
    assert_eq!(auth.derivations.len(), 1, "list derives nothing");
    assert_eq!(
        get(&vault, &mut auth, "index.example", "__token__").as_deref(),
        Some("tok-AgEIc2VjcmV0LXVwbG9hZA")
    );
    assert_eq!(
        get(
            &vault,
            &mut auth,
            "https://upload.index.example/legacy/",
            "glyph"
        )
        .as_deref(),
        Some("correct horse battery staple")
    );
    assert_eq!(
        get(&vault, &mut auth, "bank.example", "alice@example.com").as_deref(),
        Some("pässwörd ✓ 🔑")
    );
    assert_eq!(auth.derivations.len(), 4, "one derivation per get");
    assert_eq!(
        auth.derivations[3].0,
        "decrypt the password for 'alice@example.com' in 'bank.example'"
    );
    assert_eq!(
        get(&vault, &mut auth, "bank.example", "bob").as_deref(),
        None
    );
    assert_eq!(
        auth.derivations.len(),
        4,
        "no derivation for a missing entry"
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "reading never writes"
    );
}

#[test]
fn future_clock_vault_opens() {
    let path = common::fixture("glyph-vault-v1-future-clock.json");
    let mut auth = fixture2_auth();
    let vault =
        Vault::open(&path, &mut auth, &NoPrompt).expect("opens despite the future timestamp");
    assert_eq!(
        vault.list().expect("list"),
        vec![("git.example.org".to_string(), "deploy".to_string())]
    );
    assert_eq!(
        get(&vault, &mut auth, "git.example.org", "deploy").as_deref(),
        Some("s3cr3t-from-the-future")
    );
}

#[test]
fn wrong_credential_is_a_typed_error() {
    let path = common::fixture("glyph-vault-v1.json");
    let mut auth = fixture2_auth();
    match Vault::open(&path, &mut auth, &NoPrompt) {
        Err(VaultError::WrongAuthenticator) => {}
        other => panic!("expected WrongAuthenticator, got {:?}", other.err()),
    }
}

/// The fixture's bytes, parsed and written again, are identical: outer file
/// and decrypted entry list alike. This pins the original's exact layout
/// (json.dumps separators, ASCII escapes, hex case, key order).
#[test]
fn fixtures_are_rewritten_byte_for_byte() {
    for (name, cred_random) in [
        ("glyph-vault-v1.json", common::fixture1_cred_random()),
        (
            "glyph-vault-v1-future-clock.json",
            common::fixture2_cred_random(),
        ),
    ] {
        let bytes = std::fs::read(common::fixture(name)).expect("read");
        let file = format::parse_file(&bytes).expect("parses");
        let mut written = Vec::new();
        format::write_file(&file.key, &file.token, &mut written).expect("write");
        assert_eq!(
            String::from_utf8_lossy(&written),
            String::from_utf8_lossy(&bytes),
            "{name}"
        );

        let key = FernetKey::from_secret(&Secret32::new(hmac_sha256(&cred_random, &file.key.salt)));
        let plaintext = key.decrypt(&file.token).expect("decrypts");
        let entries = format::parse_entries(&plaintext, &file.key.credential).expect("entries");
        let mut rewritten = Vec::new();
        format::write_entries(&entries, &mut rewritten);
        assert_eq!(
            String::from_utf8_lossy(&rewritten),
            String::from_utf8_lossy(&plaintext),
            "{name} entries"
        );
    }
}
