//! Format 2 through the public API, on the simulator with our CTAP2 client:
//! several keys, one touch per secret, the recorded policy, rekey,
//! conversions, rollback, bad input. Touches are the simulator's own count
//! of presence requests.

use std::path::Path;

use tokenring_core::testing::ScriptedPrompt;
use tokenring_core::{Authenticator, CredentialId, Ctap2Client, DeriveRequest, Salts, UvMode};
use tokenring_sim::{SimConfig, SimTransport, Simulator};
use tokenring_vault::{
    CreateOptions, Format, FormatError, KeyOptions, OpenOptions, SeenStore, Vault, VaultError,
};

const PIN: &str = "1234";

struct Key {
    auth: Ctap2Client<SimTransport>,
}

impl Key {
    fn new(seed: u64) -> Key {
        Self::from(Simulator::new(SimConfig::with_seed(seed).pin(PIN)))
    }
    fn from(sim: Simulator) -> Key {
        Key {
            auth: Ctap2Client::new(SimTransport::from_simulator(sim)).expect("client"),
        }
    }
    fn touches(&self) -> usize {
        self.auth.transport().lock().presence_requests()
    }
    /// A copy of this authenticator as it is now (a cloned state file).
    fn copy(&self) -> Key {
        let state = self.auth.transport().lock().state().clone();
        Key::from(Simulator::from_sim_state(state).expect("copy"))
    }
}

/// A prompt that answers the PIN (as often as asked, within reason).
fn prompt() -> ScriptedPrompt {
    let p = ScriptedPrompt::new();
    for _ in 0..8 {
        p.push_pin(Some(PIN));
    }
    p
}

fn v2_options() -> CreateOptions {
    CreateOptions {
        format: Format::V2,
        key: KeyOptions {
            label: Some("daily".into()),
            require_uv: false,
        },
        ..CreateOptions::default()
    }
}

fn read(vault: &Vault, key: &mut Key, service: &str, user: &str) -> String {
    vault
        .get(service, user, &mut key.auth, &prompt())
        .expect("get")
        .expect("present")
        .expose_secret()
        .to_string()
}

#[test]
fn create_set_get_one_touch_each_and_one_touch_without_the_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v.tokenvault");
    let mut a = Key::new(1);
    let vault = Vault::create(&path, &mut a.auth, &v2_options(), &prompt()).expect("create");
    // hmac-secret-mc gives the recovery output (with the PIN) at
    // makeCredential; the presence-only unlock output needs one assertion.
    assert_eq!(a.touches(), 2, "create");
    assert_eq!(vault.format(), Format::V2);
    assert_eq!(Vault::format_of(&path).expect("format"), Format::V2);
    let slots = vault.slots();
    assert_eq!(slots.len(), 1);
    assert_eq!(slots[0].label, "daily");
    assert!(!slots[0].daily_uv && slots[0].recovery_uv);
    assert_eq!(slots[0].cred_protect, 1);

    let before = a.touches();
    vault
        .set(
            "pypi.org",
            "__token__",
            "pypi-secret",
            &mut a.auth,
            &prompt(),
        )
        .expect("set");
    vault
        .set("bank", "alice", "hunter2", &mut a.auth, &prompt())
        .expect("set");
    assert_eq!(a.touches() - before, 2, "one touch per set");
    let before = a.touches();
    assert_eq!(read(&vault, &mut a, "pypi.org", "__token__"), "pypi-secret");
    assert_eq!(
        a.touches() - before,
        1,
        "one touch per get on an open vault"
    );
    assert!(vault
        .get("nope", "x", &mut a.auth, &prompt())
        .expect("get")
        .is_none());
    assert_eq!(a.touches() - before, 1, "none for an absent entry");
    assert_eq!(
        vault.list().expect("list"),
        vec![
            ("pypi.org".to_string(), "__token__".to_string()),
            ("bank".to_string(), "alice".to_string())
        ]
    );
    // Replaced in place.
    vault
        .set("pypi.org", "__token__", "new", &mut a.auth, &prompt())
        .expect("set");
    assert_eq!(vault.list().expect("list")[0].0, "pypi.org");
    assert!(vault.delete("bank", "alice").expect("delete"));
    assert!(!vault.delete("bank", "alice").expect("delete"));
    drop(vault);

    // Another process, without the agent: one getAssertion, two salts.
    let before = a.touches();
    let (vault, password) = Vault::open_and_get(
        &path,
        &mut a.auth,
        "pypi.org",
        "__token__",
        &prompt(),
        &OpenOptions::default(),
    )
    .expect("open and get");
    assert_eq!(password.expect("present").expose_secret(), "new");
    assert_eq!(a.touches() - before, 1, "open + get is one touch");
    assert_eq!(vault.len().expect("len"), 1);
}

#[test]
fn backup_key_reads_everything_after_the_daily_key_is_gone_and_rekey_locks_it_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v.tokenvault");
    let mut a = Key::new(11);
    let mut b = Key::new(12);
    Vault::create(&path, &mut a.auth, &v2_options(), &prompt()).expect("create");

    // Add B: one touch on B (hmac-secret-mc), one (and the PIN) on A.
    let (ta, tb) = (a.touches(), b.touches());
    let slot = Vault::add_key(
        &path,
        &mut b.auth,
        &mut a.auth,
        &KeyOptions {
            label: Some("drawer".into()),
            require_uv: false,
        },
        &OpenOptions::default(),
        &prompt(),
    )
    .expect("add B");
    assert_eq!(
        (a.touches() - ta) + (b.touches() - tb),
        2,
        "two touches in all"
    );
    assert_eq!(slot.label, "drawer");
    assert!(
        slot.daily_uv && slot.recovery_uv,
        "B can verify: everything with the PIN"
    );
    // Adding it again is refused.
    assert!(matches!(
        Vault::add_key(
            &path,
            &mut b.auth,
            &mut a.auth,
            &KeyOptions::default(),
            &OpenOptions::default(),
            &prompt()
        ),
        Err(VaultError::AlreadyEnrolled(_))
    ));

    // Store secrets with only A present.
    let vault = Vault::open(&path, &mut a.auth, &prompt()).expect("open with A");
    for i in 0..5 {
        vault
            .set(
                &format!("svc{i}"),
                "u",
                &format!("secret{i}"),
                &mut a.auth,
                &prompt(),
            )
            .expect("set");
    }
    drop(vault);
    let old_a = a.copy();
    let old_file = std::fs::read(&path).expect("read");
    drop(a);

    // A is gone: every secret reads with B alone, one touch each.
    let before = b.touches();
    let (vault, password) = Vault::open_and_get(
        &path,
        &mut b.auth,
        "svc0",
        "u",
        &prompt(),
        &OpenOptions::default(),
    )
    .expect("open with B");
    assert_eq!(password.expect("present").expose_secret(), "secret0");
    assert_eq!(
        b.touches() - before,
        1,
        "the backup's open + get is one touch"
    );
    for i in 1..5 {
        let before = b.touches();
        assert_eq!(
            read(&vault, &mut b, &format!("svc{i}"), "u"),
            format!("secret{i}")
        );
        assert_eq!(b.touches() - before, 1);
    }
    // B writes too.
    vault
        .set("from-b", "u", "b-secret", &mut b.auth, &prompt())
        .expect("set with B");

    // Remove A's slot and rekey with B: one touch.
    let removed = vault.remove_key("daily").expect("remove A");
    assert_eq!(removed.label, "daily");
    assert!(matches!(
        vault.remove_key("drawer"),
        Err(VaultError::LastKey)
    ));
    drop(vault);
    let before = b.touches();
    let n =
        Vault::rekey(&path, &mut b.auth, &[], &OpenOptions::default(), &prompt()).expect("rekey");
    assert_eq!(n, 6);
    assert_eq!(b.touches() - before, 1, "rekey is one touch");

    // A's old state opens nothing of the current file.
    let mut old_a = old_a;
    assert!(matches!(
        Vault::open(&path, &mut old_a.auth, &prompt()),
        Err(VaultError::WrongAuthenticator)
    ));
    // The old file still opens with A (that copy is what it knew), but its
    // vault secret opens nothing of the new file: the new file's header MAC
    // and seals are under a new vault secret.
    let old_copy = dir.path().join("old.tokenvault");
    std::fs::write(&old_copy, &old_file).expect("write");
    let old_vault = Vault::open(&old_copy, &mut old_a.auth, &prompt()).expect("the old copy");
    std::fs::copy(&path, &old_copy).expect("replace the copy with the current file");
    assert!(matches!(old_vault.list(), Err(VaultError::Replaced { .. })));
    // Everything still reads with B.
    let vault = Vault::open(&path, &mut b.auth, &prompt()).expect("open with B");
    assert_eq!(vault.slots().len(), 1);
    for i in 0..5 {
        assert_eq!(
            read(&vault, &mut b, &format!("svc{i}"), "u"),
            format!("secret{i}")
        );
    }
    assert_eq!(read(&vault, &mut b, "from-b", "u"), "b-secret");
}

#[test]
fn adding_a_key_to_a_thousand_entries_is_two_touches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v.tokenvault");
    let mut a = Key::new(21);
    let vault = Vault::create(&path, &mut a.auth, &v2_options(), &prompt()).expect("create");
    let items: Vec<(String, String, String)> = (0..1000)
        .map(|i| {
            (
                format!("service-{i}.example"),
                format!("user{i}@example.com"),
                format!("password-{i}"),
            )
        })
        .collect();
    let refs: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|(s, u, p)| (s.as_str(), u.as_str(), p.as_str()))
        .collect();
    vault
        .set_many(&refs, &mut a.auth, &prompt())
        .expect("set 1000");
    drop(vault);
    let mut b = Key::new(22);
    let (ta, tb) = (a.touches(), b.touches());
    Vault::add_key(
        &path,
        &mut b.auth,
        &mut a.auth,
        &KeyOptions::default(),
        &OpenOptions::default(),
        &prompt(),
    )
    .expect("add");
    assert_eq!((a.touches() - ta) + (b.touches() - tb), 2);
    // A CTAP 2.1 key (no hmac-secret-mc) costs one more: register, derive.
    let mut c = Key::from(Simulator::new(
        SimConfig::with_seed(23).pin(PIN).hmac_secret_mc(false),
    ));
    let (ta, tc) = (a.touches(), c.touches());
    Vault::add_key(
        &path,
        &mut c.auth,
        &mut a.auth,
        &KeyOptions::default(),
        &OpenOptions::default(),
        &prompt(),
    )
    .expect("add a CTAP 2.1 key");
    assert_eq!((a.touches() - ta) + (c.touches() - tc), 3);
    let vault = Vault::open(&path, &mut c.auth, &prompt()).expect("open with C");
    assert_eq!(
        read(&vault, &mut c, "service-999.example", "user999@example.com"),
        "password-999"
    );
}

#[test]
fn require_uv_makes_a_credprotect_3_credential_that_gives_nothing_without_the_pin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v.tokenvault");
    let mut a = Key::new(31);
    let options = CreateOptions {
        key: KeyOptions {
            label: Some("uv".into()),
            require_uv: true,
        },
        ..v2_options()
    };
    let vault = Vault::create(&path, &mut a.auth, &options, &prompt()).expect("create");
    let slot = vault.slots().remove(0);
    assert_eq!(slot.cred_protect, 3);
    assert!(slot.daily_uv && slot.recovery_uv);
    vault
        .set("s", "u", "p", &mut a.auth, &prompt())
        .expect("set");
    drop(vault);
    // A direct getAssertion without UV: the credential is invisible.
    let request = DeriveRequest {
        credential: &CredentialId(slot.credential.id.0.clone()),
        rp_id: &slot.credential.rp_id,
        salts: Salts::One([7; 32]),
        uv: UvMode::PresenceOnly,
        purpose: "a direct caller",
    };
    assert!(matches!(
        a.auth.derive(&request, &prompt()),
        Err(tokenring_core::Error::NoCredentials)
    ));
    // With the PIN it answers.
    let request = DeriveRequest {
        uv: UvMode::Verified,
        ..request
    };
    assert!(a.auth.derive(&request, &prompt()).is_ok());
    // The vault opens (the probe cannot see the credential: the AAGUID finds the slot).
    let (_, password) = Vault::open_and_get(
        &path,
        &mut a.auth,
        "s",
        "u",
        &prompt(),
        &OpenOptions::default(),
    )
    .expect("open");
    assert_eq!(password.expect("present").expose_secret(), "p");
    // Without a PIN answer: nothing.
    assert!(Vault::open(&path, &mut a.auth, &ScriptedPrompt::new()).is_err());
}

#[test]
fn require_uv_is_refused_without_a_way_to_verify_the_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v.tokenvault");
    let mut a = Key::from(Simulator::new(SimConfig::with_seed(32)));
    let options = CreateOptions {
        key: KeyOptions {
            label: None,
            require_uv: true,
        },
        ..v2_options()
    };
    assert!(matches!(
        Vault::create(&path, &mut a.auth, &options, &prompt()),
        Err(VaultError::UvUnavailable)
    ));
    assert!(!path.exists());
}

fn v1_entries(path: &Path) -> Vec<(String, String, [u8; 32], String)> {
    use tokenring_vault::internal::format;
    let _ = format::parse_file(&std::fs::read(path).expect("read")).expect("v1");
    Vec::new()
}

#[test]
fn format_1_to_2_and_back_keeps_every_entry_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v.tokenvault");
    let mut a = Key::new(41);
    let vault =
        Vault::create(&path, &mut a.auth, &CreateOptions::default(), &prompt()).expect("create v1");
    vault
        .set(
            "bank.example",
            "alice",
            "pässwörd ✓",
            &mut a.auth,
            &prompt(),
        )
        .expect("set");
    vault
        .set("pypi", "__token__", "tok", &mut a.auth, &prompt())
        .expect("set");
    drop(vault);
    let _ = v1_entries(&path);
    let v1_before = std::fs::read(&path).expect("read");

    let before = a.touches();
    Vault::convert(
        &path,
        Format::V2,
        &mut a.auth,
        &KeyOptions::default(),
        &OpenOptions::default(),
        &prompt(),
    )
    .expect("to 2");
    assert!(a.touches() - before <= 3);
    assert_eq!(Vault::format_of(&path).expect("format"), Format::V2);
    let vault = Vault::open(&path, &mut a.auth, &prompt()).expect("open v2");
    assert_eq!(read(&vault, &mut a, "bank.example", "alice"), "pässwörd ✓");
    assert_eq!(vault.slots()[0].legacy, 2);
    drop(vault);

    Vault::convert(
        &path,
        Format::V1,
        &mut a.auth,
        &KeyOptions::default(),
        &OpenOptions::default(),
        &prompt(),
    )
    .expect("to 1");
    assert_eq!(Vault::format_of(&path).expect("format"), Format::V1);
    // Same entries: names, salts and token text, in order (only the vault
    // salt and the outer token are new).
    let entry_part = |bytes: &[u8]| {
        use tokenring_vault::internal::format;
        let file = format::parse_file(bytes).expect("v1");
        (file.key.credential.clone(), file.key.salt)
    };
    let (cred_before, _) = entry_part(&v1_before);
    let (cred_after, _) = entry_part(&std::fs::read(&path).expect("read"));
    assert_eq!(cred_before, cred_after);
    let vault = Vault::open(&path, &mut a.auth, &prompt()).expect("open v1 again");
    assert_eq!(read(&vault, &mut a, "bank.example", "alice"), "pässwörd ✓");
    assert_eq!(read(&vault, &mut a, "pypi", "__token__"), "tok");
}

#[test]
fn format_2_to_1_needs_exactly_one_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v.tokenvault");
    let mut a = Key::new(51);
    let mut b = Key::new(52);
    Vault::create(&path, &mut a.auth, &v2_options(), &prompt()).expect("create");
    Vault::add_key(
        &path,
        &mut b.auth,
        &mut a.auth,
        &KeyOptions::default(),
        &OpenOptions::default(),
        &prompt(),
    )
    .expect("add");
    let bytes = std::fs::read(&path).expect("read");
    assert!(matches!(
        Vault::convert(
            &path,
            Format::V1,
            &mut a.auth,
            &KeyOptions::default(),
            &OpenOptions::default(),
            &prompt()
        ),
        Err(VaultError::NeedsExactlyOneKey(2))
    ));
    assert_eq!(std::fs::read(&path).expect("read"), bytes);
}

#[test]
fn an_older_copy_warns_and_refuses_writes_until_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v.tokenvault");
    let seen = OpenOptions {
        seen: Some(SeenStore::at(dir.path().join("state/seen-vaults.json"))),
        accept_older: false,
    };
    let mut a = Key::new(61);
    let vault =
        Vault::create_with(&path, &mut a.auth, &v2_options(), &seen, &prompt()).expect("create");
    vault
        .set("s", "u", "old", &mut a.auth, &prompt())
        .expect("set");
    let old = std::fs::read(&path).expect("read");
    vault
        .set("s", "u", "new", &mut a.auth, &prompt())
        .expect("set");
    let generation = vault.generation().expect("v2");
    drop(vault);
    std::fs::write(&path, &old).expect("put the old copy back");
    let vault = Vault::open_with(&path, &mut a.auth, &prompt(), &seen).expect("opens");
    assert_eq!(
        vault.warnings(),
        vec![tokenring_vault::VaultWarning::OlderGeneration {
            found: generation - 1,
            seen: generation
        }]
    );
    assert!(matches!(
        vault.set("s", "u", "x", &mut a.auth, &prompt()),
        Err(VaultError::RollbackDetected { .. })
    ));
    assert_eq!(std::fs::read(&path).expect("read"), old, "nothing written");
    vault.accept_older_file();
    vault
        .set("s", "u", "accepted", &mut a.auth, &prompt())
        .expect("set after accepting");
    assert!(
        vault.generation().expect("v2") > generation,
        "the counter never goes back"
    );
    drop(vault);
    let vault = Vault::open_with(&path, &mut a.auth, &prompt(), &seen).expect("opens");
    assert!(vault.warnings().is_empty());
}

#[test]
fn every_truncation_and_flipped_byte_is_a_typed_error_and_the_file_is_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v.tokenvault");
    let mut a = Key::new(71);
    let vault = Vault::create(&path, &mut a.auth, &v2_options(), &prompt()).expect("create");
    vault
        .set("s", "u", "p", &mut a.auth, &prompt())
        .expect("set");
    drop(vault);
    let good = std::fs::read(&path).expect("read");
    let bad = dir.path().join("bad.tokenvault");
    let check = |bytes: &[u8], a: &mut Key, what: &str| {
        std::fs::write(&bad, bytes).expect("write");
        match Vault::open(&bad, &mut a.auth, &prompt()) {
            Err(
                VaultError::Corrupt { .. }
                | VaultError::DidNotDecrypt { .. }
                | VaultError::SlotKeyMismatch { .. }
                | VaultError::WrongAuthenticator,
            ) => {}
            Err(other) => panic!("{what}: {other:?}"),
            Ok(_) => panic!("{what}: opened"),
        }
        assert_eq!(
            std::fs::read(&bad).expect("read"),
            bytes,
            "{what}: untouched"
        );
    };
    for len in (0..good.len()).step_by(7) {
        check(&good[..len], &mut a, &format!("truncated to {len}"));
    }
    let mut longer = good.clone();
    longer.push(0);
    check(&longer, &mut a, "a trailing byte");
    for i in (8..good.len()).step_by(11) {
        let mut flipped = good.clone();
        flipped[i] ^= 0x04;
        check(&flipped, &mut a, &format!("byte {i} flipped"));
    }
    // The reasons a reader gives before any crypto.
    let mut unknown_suite = good.clone();
    unknown_suite[9] = 9;
    std::fs::write(&bad, &unknown_suite).expect("write");
    assert!(matches!(
        Vault::open(&bad, &mut a.auth, &prompt()),
        Err(VaultError::Corrupt {
            reason: FormatError::UnsupportedSuite(9),
            ..
        })
    ));
    let mut later = good.clone();
    later[8] = 3;
    std::fs::write(&bad, &later).expect("write");
    assert!(matches!(
        Vault::open(&bad, &mut a.auth, &prompt()),
        Err(VaultError::Corrupt {
            reason: FormatError::UnsupportedVersion(3),
            ..
        })
    ));
}

#[test]
fn a_recovery_output_obtained_without_the_pin_opens_nothing() {
    use tokenring_vault::internal::format2 as layout;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v.tokenvault");
    let mut a = Key::new(81);
    drop(Vault::create(&path, &mut a.auth, &v2_options(), &prompt()).expect("create"));
    let bytes = std::fs::read(&path).expect("read");
    let parsed = layout::parse_file(&bytes).expect("parse");
    let slot = &parsed.header.slots[0];
    assert!(
        slot.recovery_uv(),
        "the key has a PIN: its recovery key verifies the user"
    );
    // A direct caller with one touch and no PIN asks for the recovery salt.
    let request = DeriveRequest {
        credential: &CredentialId(slot.credential_id.clone()),
        rp_id: &slot.rp_id,
        salts: Salts::One(slot.recovery_salt),
        uv: UvMode::PresenceOnly,
        purpose: "a direct caller",
    };
    let output = a
        .auth
        .derive(&request, &ScriptedPrompt::new())
        .expect("an output");
    let (_, pk) = layout::key_pair(
        &parsed.header.vault_id,
        &output.first,
        layout::L_RECOVERY,
        slot.id,
    );
    assert_ne!(
        pk, slot.recovery_pk,
        "the presence-only output is another secret"
    );
    // With the PIN it is the recovery key.
    let request = DeriveRequest {
        uv: UvMode::Verified,
        ..request
    };
    let output = a.auth.derive(&request, &prompt()).expect("an output");
    let (_, pk) = layout::key_pair(
        &parsed.header.vault_id,
        &output.first,
        layout::L_RECOVERY,
        slot.id,
    );
    assert_eq!(pk, slot.recovery_pk);
}
