//! The vault API end to end with an HMAC authenticator: create, set, get,
//! delete, list, lock, UV modes, persistence rules.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::hmac_authenticator::HmacAuthenticator;
use tokenring_core::testing::ScriptedPrompt;
use tokenring_core::{NoPrompt, UvMode};
use tokenring_vault::{CreateOptions, Vault, VaultError, VaultLock};

fn new_vault(dir: &Path) -> (Vault, HmacAuthenticator) {
    let mut auth = HmacAuthenticator::new();
    let vault = Vault::create(
        &dir.join("vault.json"),
        &mut auth,
        &CreateOptions::default(),
        &NoPrompt,
    )
    .expect("create");
    (vault, auth)
}

fn get(vault: &Vault, auth: &mut HmacAuthenticator, service: &str, user: &str) -> Option<String> {
    vault
        .get(service, user, auth, &NoPrompt)
        .expect("get")
        .map(|p| p.expose_secret().to_string())
}

/// Names and passwords that break naive encoders.
pub const AWKWARD: &[(&str, &str, &str)] = &[
    ("tab\tservice", "new\nline", "quote \" and \\ backslash"),
    ("emoji 🔑 ✓", "", "pässwörd ✓ 🔑"),
    ("'single' \"double\"", "user\r\n\u{1}\u{7f}", "\ttabbed\n"),
    ("", "empty service", ""),
    ("bidi \u{202e}evil", "zero\u{200b}width", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢"),
];

#[test]
fn create_set_get_list_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (vault, mut auth) = new_vault(dir.path());
    assert_eq!(auth.enrollments, 1);
    assert_eq!(
        auth.derivations,
        vec![("unlock the new vault".to_string(), UvMode::PresenceOnly)]
    );
    let path = dir.path().join("vault.json");
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(vault.list().expect("list").is_empty());

    let prompt = ScriptedPrompt::new();
    vault
        .set("svc", "alice", "pw1", &mut auth, &prompt)
        .expect("set");
    assert_eq!(prompt.touches(), 1, "one derivation per set");
    assert_eq!(
        auth.derivations.last().map(|d| d.0.as_str()),
        Some("encrypt the new password for 'alice' in 'svc'")
    );
    vault
        .set("svc", "bob", "pw2", &mut auth, &NoPrompt)
        .expect("set");
    vault
        .set("other", "carol", "pw3", &mut auth, &NoPrompt)
        .expect("set");
    // Replacing keeps the entry's place, like the original's dict.
    vault
        .set("svc", "alice", "pw1-new", &mut auth, &NoPrompt)
        .expect("set");
    let names = vec![
        ("svc".to_string(), "alice".to_string()),
        ("svc".to_string(), "bob".to_string()),
        ("other".to_string(), "carol".to_string()),
    ];
    assert_eq!(vault.list().expect("list"), names);
    assert_eq!(
        get(&vault, &mut auth, "svc", "alice").as_deref(),
        Some("pw1-new")
    );

    // Another process's view: a fresh open sees the same.
    let mut auth2 = HmacAuthenticator::new();
    auth2.credentials = std::mem::take(&mut auth.credentials);
    let reopened = Vault::open(&path, &mut auth2, &NoPrompt).expect("open");
    assert_eq!(reopened.list().expect("list"), names);
    assert_eq!(
        get(&reopened, &mut auth2, "other", "carol").as_deref(),
        Some("pw3")
    );

    assert!(reopened.delete("svc", "bob").expect("delete"));
    assert!(!reopened.delete("svc", "bob").expect("delete again"));
    // The first handle sees the deletion (the file is re-read when it changed).
    assert_eq!(vault.list().expect("list").len(), 2);
    assert!(!vault.contains("svc", "bob").expect("contains"));
    assert_eq!(
        vault.list().expect("list")[1],
        ("other".to_string(), "carol".to_string())
    );
}

#[test]
fn awkward_names_and_passwords_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (vault, mut auth) = new_vault(dir.path());
    for (s, u, p) in AWKWARD {
        vault.set(s, u, p, &mut auth, &NoPrompt).expect("set");
    }
    let reopened = Vault::open(vault.path(), &mut auth, &NoPrompt).expect("open");
    let expected: Vec<(String, String)> = AWKWARD
        .iter()
        .map(|(s, u, _)| (s.to_string(), u.to_string()))
        .collect();
    assert_eq!(reopened.list().expect("list"), expected);
    for (s, u, p) in AWKWARD {
        assert_eq!(
            get(&reopened, &mut auth, s, u).as_deref(),
            Some(*p),
            "{s:?}/{u:?}"
        );
    }
    // The file is ASCII only (json.dumps' ensure_ascii).
    assert!(std::fs::read(vault.path()).expect("read").is_ascii());
}

#[test]
fn prompts_quote_names_safely() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (vault, mut auth) = new_vault(dir.path());
    vault
        .set("it's", "a\nb\u{202e}", "x", &mut auth, &NoPrompt)
        .expect("set");
    assert_eq!(
        auth.derivations.last().map(|d| d.0.as_str()),
        Some("encrypt the new password for 'a\\nb\\u{202e}' in 'it\\'s'")
    );
}

#[test]
fn lock_forgets_and_unlock_restores() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (vault, mut auth) = new_vault(dir.path());
    vault.set("s", "u", "p", &mut auth, &NoPrompt).expect("set");
    vault.lock();
    assert!(vault.is_locked());
    assert!(matches!(vault.list(), Err(VaultError::Locked)));
    assert!(matches!(
        vault.get("s", "u", &mut auth, &NoPrompt),
        Err(VaultError::Locked)
    ));
    assert!(matches!(
        vault.set("s", "v", "p", &mut auth, &NoPrompt),
        Err(VaultError::Locked)
    ));
    assert!(matches!(vault.delete("s", "u"), Err(VaultError::Locked)));
    let before = auth.derivations.len();
    vault.unlock(&mut auth, &NoPrompt).expect("unlock");
    assert_eq!(auth.derivations.len(), before + 1);
    assert_eq!(get(&vault, &mut auth, "s", "u").as_deref(), Some("p"));
}

#[test]
fn refuses_to_create_over_an_existing_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("vault.json");
    std::fs::write(&path, b"precious").expect("write");
    let mut auth = HmacAuthenticator::new();
    match Vault::create(&path, &mut auth, &CreateOptions::default(), &NoPrompt) {
        Err(VaultError::AlreadyExists { .. }) => {}
        other => panic!("expected AlreadyExists, got {:?}", other.err()),
    }
    assert_eq!(std::fs::read(&path).expect("read"), b"precious");
    assert_eq!(auth.enrollments, 0, "no touch before refusing");
}

#[test]
fn open_of_a_missing_vault_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut auth = HmacAuthenticator::new();
    assert!(matches!(
        Vault::open(&dir.path().join("nope.json"), &mut auth, &NoPrompt),
        Err(VaultError::NotFound { .. })
    ));
}

#[test]
fn uv_vault_opens_with_the_mode_that_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("vault.json");
    // A token that always verifies the user makes a UV vault…
    let mut auth = HmacAuthenticator::new();
    auth.info.always_uv = true;
    let vault =
        Vault::create(&path, &mut auth, &CreateOptions::default(), &NoPrompt).expect("create");
    assert_eq!(vault.uv_mode(), UvMode::Verified);
    vault.set("s", "u", "p", &mut auth, &NoPrompt).expect("set");
    drop(vault);
    // …which a token with a PIN (no alwaysUv) opens on the second try, with UV.
    auth.info.always_uv = false;
    auth.info.client_pin = Some(true);
    auth.derivations.clear();
    let vault = Vault::open(&path, &mut auth, &NoPrompt).expect("open");
    assert_eq!(vault.uv_mode(), UvMode::Verified);
    assert_eq!(
        auth.derivations.iter().map(|d| d.1).collect::<Vec<_>>(),
        vec![UvMode::PresenceOnly, UvMode::Verified]
    );
    assert_eq!(get(&vault, &mut auth, "s", "u").as_deref(), Some("p"));
    assert_eq!(auth.derivations.last().map(|d| d.1), Some(UvMode::Verified));
    drop(vault);
    // A token that cannot verify the user does not get a second try.
    auth.info.client_pin = Some(false);
    auth.derivations.clear();
    assert!(matches!(
        Vault::open(&path, &mut auth, &NoPrompt),
        Err(VaultError::DidNotDecrypt { .. })
    ));
    assert_eq!(auth.derivations.len(), 1);
}

#[test]
fn new_vaults_derive_without_uv_even_with_a_pin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut auth = HmacAuthenticator::new();
    auth.info.client_pin = Some(true);
    let vault = Vault::create(
        &dir.path().join("v.json"),
        &mut auth,
        &CreateOptions::default(),
        &NoPrompt,
    )
    .expect("create");
    assert_eq!(vault.uv_mode(), UvMode::PresenceOnly);
}

#[test]
fn waits_for_another_lock_holder_then_says_who() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (vault, mut auth) = new_vault(dir.path());
    let vault = vault.with_lock_timeout(Duration::from_millis(150));
    let held = VaultLock::acquire(vault.path(), Duration::from_secs(1)).expect("lock");
    let start = Instant::now();
    let err = vault
        .set("s", "u", "p", &mut auth, &NoPrompt)
        .expect_err("locked");
    assert!(start.elapsed() >= Duration::from_millis(150));
    match &err {
        VaultError::LockedByAnotherProcess { holder, .. } => {
            assert_eq!(*holder, Some(std::process::id()))
        }
        other => panic!("expected LockedByAnotherProcess, got {other:?}"),
    }
    assert!(
        err.to_string().contains("locked by another process"),
        "{err}"
    );
    drop(held);
    vault
        .set("s", "u", "p", &mut auth, &NoPrompt)
        .expect("set after release");
}

#[test]
fn one_vault_serves_many_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (vault, auth) = new_vault(dir.path());
    let credentials = auth.credentials;
    let vault = &vault;
    std::thread::scope(|scope| {
        for t in 0..4 {
            let mut auth = HmacAuthenticator::new();
            auth.credentials = credentials
                .iter()
                .map(|c| common::hmac_authenticator::TestCredential {
                    id: c.id.clone(),
                    rp_id: c.rp_id.clone(),
                    cred_random: c.cred_random,
                    cred_random_uv: c.cred_random_uv,
                })
                .collect();
            scope.spawn(move || {
                for i in 0..10 {
                    vault
                        .set(
                            &format!("t{t}"),
                            &format!("u{i}"),
                            &format!("p{t}-{i}"),
                            &mut auth,
                            &NoPrompt,
                        )
                        .expect("set");
                    assert_eq!(
                        get(vault, &mut auth, &format!("t{t}"), &format!("u{i}")).as_deref(),
                        Some(format!("p{t}-{i}").as_str())
                    );
                }
            });
        }
    });
    assert_eq!(vault.list().expect("list").len(), 40);
}

#[test]
fn names_are_borrowed_in_file_order_and_see_other_writers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (vault, mut auth) = new_vault(dir.path());
    assert!(vault.names().expect("names").is_empty());
    for (service, user, password) in AWKWARD {
        vault
            .set(service, user, password, &mut auth, &NoPrompt)
            .expect("set");
    }
    // Replacing an entry keeps its place.
    vault
        .set(AWKWARD[1].0, AWKWARD[1].1, "new", &mut auth, &NoPrompt)
        .expect("replace");
    let expected: Vec<(&str, &str)> = AWKWARD.iter().map(|(s, u, _)| (*s, *u)).collect();
    {
        let names = vault.names().expect("names");
        assert_eq!(names.len(), AWKWARD.len());
        assert_eq!(names.iter().len(), AWKWARD.len());
        assert_eq!(names.iter().collect::<Vec<_>>(), expected);
        assert_eq!((&names).into_iter().count(), AWKWARD.len());
    }
    let copied = vault.list().expect("list");
    assert_eq!(
        copied
            .iter()
            .map(|(s, u)| (s.as_str(), u.as_str()))
            .collect::<Vec<_>>(),
        expected
    );

    // Another opener (as another process would) deletes one: the names
    // of the first come from the file as it is now.
    let other = Vault::open(&dir.path().join("vault.json"), &mut auth, &NoPrompt).expect("open");
    assert!(other.delete(AWKWARD[0].0, AWKWARD[0].1).expect("delete"));
    let names = vault.names().expect("names");
    assert_eq!(names.iter().collect::<Vec<_>>(), expected[1..]);
    drop(names);

    vault.lock();
    assert!(matches!(vault.names(), Err(VaultError::Locked)));
}
