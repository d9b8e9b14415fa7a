//! `Vault::get_many` and `Vault::open_and_get_many`: several entries read
//! with two hmac-secret salts per getAssertion, in both formats, through
//! our CTAP2 client and the simulator. Touches are the simulator's own
//! count of presence requests; prompts are what the user is shown.

mod common;

use std::path::{Path, PathBuf};

use tokenring_core::testing::{PromptEvent, ScriptedPrompt};
use tokenring_core::{Ctap2Client, NoPrompt, DEFAULT_RP_ID};
use tokenring_sim::{PresencePolicy, ProvisionedCredential, SimConfig, SimTransport, Simulator};
use tokenring_vault::{CreateOptions, Format, KeyOptions, OpenOptions, Vault, VaultError};

struct Key {
    auth: Ctap2Client<SimTransport>,
}

impl Key {
    fn from(sim: Simulator) -> Key {
        Key {
            auth: Ctap2Client::new(SimTransport::from_simulator(sim)).expect("client"),
        }
    }
    fn new(seed: u64) -> Key {
        Self::from(Simulator::new(SimConfig::with_seed(seed)))
    }
    fn touches(&self) -> usize {
        self.auth.transport().lock().presence_requests()
    }
    fn presence(&self, policy: &str) {
        self.auth
            .transport()
            .lock()
            .set_presence_policy(policy.parse().expect("policy"));
    }
}

fn purposes(prompt: &ScriptedPrompt) -> Vec<String> {
    prompt
        .events()
        .into_iter()
        .filter_map(|e| match e {
            PromptEvent::TouchNeeded(purpose) => Some(purpose),
            _ => None,
        })
        .collect()
}

fn texts(passwords: &[Option<tokenring_vault::Password>]) -> Vec<Option<String>> {
    passwords
        .iter()
        .map(|p| p.as_ref().map(|p| p.expose_secret().to_string()))
        .collect()
}

const NAMES: [(&str, &str); 3] = [
    ("svc1.example", "user1"),
    ("svc2.example", "user2"),
    ("svc3.example", "user3"),
];

/// A vault of `format` with the three entries, closed again.
fn vault_with_three(dir: &Path, format: Format, key: &mut Key) -> PathBuf {
    let path = dir.join("v.tokenvault");
    let options = CreateOptions {
        format,
        key: KeyOptions {
            label: (format == Format::V2).then(|| "daily".into()),
            require_uv: false,
        },
        ..CreateOptions::default()
    };
    let vault = Vault::create(&path, &mut key.auth, &options, &NoPrompt).expect("create");
    for (i, (s, u)) in NAMES.iter().enumerate() {
        vault
            .set(s, u, &format!("secret-{}", i + 1), &mut key.auth, &NoPrompt)
            .expect("set");
    }
    path
}

#[test]
fn touches_for_one_two_and_three_entries_in_each_format() {
    // (format, open_and_get_many touches for 1, 2, 3 entries): format 2's
    // open touch also reads the first entry; format 1's cannot (the entry
    // salts are inside the encrypted entry list).
    for (format, opening) in [(Format::V1, [2, 2, 3]), (Format::V2, [1, 2, 2])] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut key = Key::new(7);
        let path = vault_with_three(dir.path(), format, &mut key);
        for n in 1..=3 {
            let names = &NAMES[..n];
            let want: Vec<Option<String>> = (1..=n).map(|i| Some(format!("secret-{i}"))).collect();
            let before = key.touches();
            let prompt = ScriptedPrompt::new();
            let (vault, got) = Vault::open_and_get_many(
                &path,
                &mut key.auth,
                names,
                &prompt,
                &OpenOptions::default(),
            )
            .expect("open and get");
            assert_eq!(texts(&got), want, "{format}: {n}");
            assert_eq!(
                key.touches() - before,
                opening[n - 1],
                "{format}: open + {n}"
            );
            assert_eq!(prompt.touches(), opening[n - 1]);
            // On the open vault (the agent's case): ⌈n/2⌉.
            let before = key.touches();
            let prompt = ScriptedPrompt::new();
            let got = vault
                .get_many(names, &mut key.auth, &prompt)
                .expect("get_many");
            assert_eq!(texts(&got), want, "{format}: {n}");
            assert_eq!(key.touches() - before, n.div_ceil(2), "{format}: {n} open");
            // Each touch's prompt names the entries it releases, all of them.
            let shown = purposes(&prompt);
            for (s, u) in names {
                let name = format!("'{u}' in '{s}'");
                assert_eq!(
                    shown.iter().filter(|p| p.contains(&name)).count(),
                    1,
                    "{format}: {name} in {shown:?}"
                );
            }
            if n >= 2 {
                assert_eq!(
                    shown[0],
                    "decrypt the passwords for 'user1' in 'svc1.example' and 'user2' in \
                     'svc2.example'"
                );
            }
        }
    }
}

#[test]
fn absent_entries_cost_nothing_and_a_name_asked_twice_is_read_once() {
    for format in [Format::V1, Format::V2] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut key = Key::new(8);
        let path = vault_with_three(dir.path(), format, &mut key);
        let vault = Vault::open(&path, &mut key.auth, &NoPrompt).expect("open");
        let before = key.touches();
        let got = vault
            .get_many(
                &[("nowhere", "nobody"), ("svc1.example", "user1")],
                &mut key.auth,
                &NoPrompt,
            )
            .expect("get_many");
        assert_eq!(texts(&got), [None, Some("secret-1".to_string())]);
        assert_eq!(key.touches() - before, 1, "{format}");
        let before = key.touches();
        let got = vault
            .get_many(&[("nowhere", "nobody")], &mut key.auth, &NoPrompt)
            .expect("get_many");
        assert_eq!(texts(&got), [None]);
        assert_eq!(key.touches(), before, "{format}: nothing asked");
        let got = vault
            .get_many(
                &[
                    ("svc2.example", "user2"),
                    ("svc2.example", "user2"),
                    ("svc3.example", "user3"),
                ],
                &mut key.auth,
                &NoPrompt,
            )
            .expect("get_many");
        assert_eq!(
            texts(&got),
            [
                Some("secret-2".to_string()),
                Some("secret-2".to_string()),
                Some("secret-3".to_string())
            ]
        );
        assert_eq!(key.touches() - before, 1, "{format}: one pair");
    }
}

#[test]
fn a_denied_touch_fails_the_whole_call() {
    for format in [Format::V1, Format::V2] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut key = Key::new(9);
        let path = vault_with_three(dir.path(), format, &mut key);
        let vault = Vault::open(&path, &mut key.auth, &NoPrompt).expect("open");
        // The first pair is approved, the second touch denied: no password
        // comes back, not even the approved pair's.
        key.presence("approve,deny");
        let err = vault
            .get_many(&NAMES, &mut key.auth, &NoPrompt)
            .expect_err("denied");
        assert!(
            matches!(
                err,
                VaultError::Authenticator(tokenring_core::Error::OperationDenied)
            ),
            "{format}: {err:?}"
        );
        key.presence("deny");
        let err = vault
            .get_many(&NAMES[..2], &mut key.auth, &NoPrompt)
            .expect_err("denied");
        assert!(
            matches!(
                err,
                VaultError::Authenticator(tokenring_core::Error::OperationDenied)
            ),
            "{format}: {err:?}"
        );
    }
}

fn provisioned(id: Vec<u8>, cred_random: [u8; 32]) -> Key {
    let mut sim = Simulator::new(SimConfig::with_seed(1).presence(PresencePolicy::approve()));
    sim.provision(ProvisionedCredential {
        credential_id: id,
        rp_id: DEFAULT_RP_ID.into(),
        cred_random,
        cred_random_uv: None,
        cred_protect: None,
    })
    .expect("provision");
    Key::from(sim)
}

#[test]
fn the_originals_vault_reads_the_same_with_get_many_as_with_single_gets() {
    let path = common::fixture("glyph-vault-v1.json");
    let before = std::fs::read(&path).expect("fixture");
    let mut key = provisioned(common::fixture1_cred_id(), common::fixture1_cred_random());
    let vault = Vault::open(&path, &mut key.auth, &NoPrompt).expect("open");
    let names: Vec<(String, String)> = vault.list().expect("list");
    assert_eq!(names.len(), 3);
    let refs: Vec<(&str, &str)> = names
        .iter()
        .map(|(s, u)| (s.as_str(), u.as_str()))
        .collect();
    let mut singles = Vec::new();
    for (s, u) in &refs {
        let start = key.touches();
        singles.push(
            vault
                .get(s, u, &mut key.auth, &NoPrompt)
                .expect("get")
                .map(|p| p.expose_secret().to_string()),
        );
        assert_eq!(key.touches() - start, 1);
    }
    let start = key.touches();
    let prompt = ScriptedPrompt::new();
    let many = vault
        .get_many(&refs, &mut key.auth, &prompt)
        .expect("get_many");
    assert_eq!(texts(&many), singles);
    assert_eq!(
        singles[2].as_deref(),
        Some("pässwörd ✓ 🔑"),
        "the fixture's documented value"
    );
    assert_eq!(key.touches() - start, 2, "three entries, two touches");
    assert_eq!(
        purposes(&prompt)[0],
        "decrypt the passwords for '__token__' in 'index.example' and 'glyph' in \
         'https://upload.index.example/legacy/'"
    );
    assert_eq!(
        std::fs::read(&path).expect("fixture"),
        before,
        "reads never write"
    );
}

fn copy_fixture(tmp: &Path, name: &str) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/format2")
        .join(name);
    let to = tmp.join(name);
    std::fs::copy(from, &to).expect("copy fixture");
    to
}

#[test]
fn format2_backup_key_reads_every_sealed_entry_from_one_output() {
    // Entries of the committed two-key vault: three written with `daily`,
    // one with `drawer`; every one sealed to both keys.
    let entries = [
        ("pypi.org", "__token__", "pypi-AgEIcHlwaS5vcmc"),
        ("bank.example", "alice@example.com", "pässwörd ✓ 🔑"),
        ("git:https://git.example.com", "alice", "hunter2"),
        ("backup.example", "bob", "written with the drawer key"),
    ];
    let names: Vec<(&str, &str)> = entries.iter().map(|(s, u, _)| (*s, *u)).collect();
    let want: Vec<Option<String>> = entries.iter().map(|e| Some(e.2.to_string())).collect();
    // (key, touches on the open vault, touches to open and read all):
    // daily: its three outputs and its recovery output (for drawer's
    // entry), two per touch; open: unlock + pypi, then the other three.
    // drawer: its own entry's output and its recovery output (the other
    // three): one touch; open: the recovery output (opens and reads
    // pypi), then the owned one with the recovery again.
    for (state, open_vault, opening) in [
        ("two-keys.daily.sim.json", 2, 3),
        ("two-keys.drawer.sim.json", 1, 2),
    ] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = copy_fixture(tmp.path(), "two-keys.tokenvault");
        let mut key = Key::from(Simulator::open(&copy_fixture(tmp.path(), state)).expect("sim"));
        let start = key.touches();
        let (vault, got) = Vault::open_and_get_many(
            &path,
            &mut key.auth,
            &names,
            &NoPrompt,
            &OpenOptions::default(),
        )
        .expect("open and get");
        assert_eq!(texts(&got), want, "{state}");
        assert_eq!(key.touches() - start, opening, "{state}: open and read");
        let start = key.touches();
        let prompt = ScriptedPrompt::new();
        let got = vault
            .get_many(&names, &mut key.auth, &prompt)
            .expect("get_many");
        assert_eq!(texts(&got), want, "{state}");
        assert_eq!(key.touches() - start, open_vault, "{state}: open vault");
        // A touch that uses a recovery output says which key, and names
        // every entry it releases.
        let shown = purposes(&prompt);
        if state.contains("drawer") {
            assert_eq!(
                shown,
                [
                    "decrypt the passwords for '__token__' in 'pypi.org', 'alice@example.com' in \
                  'bank.example', 'alice' in 'git:https://git.example.com' and 'bob' in \
                  'backup.example' with 'drawer'"
                ]
            );
        }
    }
}
