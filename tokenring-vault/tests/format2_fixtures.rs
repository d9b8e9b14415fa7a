//! Committed format-2 files (`tests/fixtures/format2/`) that must keep
//! opening: a change that breaks existing format-2 vaults fails here. The
//! key schedule is recomputed from the known CredRandoms with HMAC, HKDF
//! and HPKE directly (not the vault's code) and compared with the file.

mod common;

use std::path::{Path, PathBuf};

use common::hmac_authenticator::HmacAuthenticator;
use hmac::{Hmac, Mac};
use hpke::{Deserializable, Kem as _, Serializable};
use sha2::Sha256;
use tokenring_core::testing::ScriptedPrompt;
use tokenring_core::{Ctap2Client, NoPrompt, DEFAULT_RP_ID};
use tokenring_sim::{ProvisionedCredential, SimConfig, SimTransport, Simulator};
use tokenring_vault::internal::fernet::FernetKey;
use tokenring_vault::internal::format2 as layout;
use tokenring_vault::{CreateOptions, Format, KeyOptions, OpenOptions, Vault, VaultError};

/// Every entry of `two-keys.tokenvault`: service, user, secret, written by.
const ENTRIES: [(&str, &str, &str); 4] = [
    ("pypi.org", "__token__", "pypi-AgEIcHlwaS5vcmc"),
    ("bank.example", "alice@example.com", "pässwörd ✓ 🔑"),
    ("git:https://git.example.com", "alice", "hunter2"),
    ("backup.example", "bob", "written with the drawer key"),
];

/// The daily key's credential: the first an [`HmacAuthenticator`] makes.
fn daily_id() -> Vec<u8> {
    (0..32u8).map(|i| i.wrapping_mul(7)).collect()
}
const DAILY_CRED_RANDOM: [u8; 32] = [1; 32];
const DAILY_CRED_RANDOM_UV: [u8; 32] = [101; 32];
/// The drawer key's: the second one (after a placeholder credential).
fn drawer_id() -> Vec<u8> {
    (0..32u8)
        .map(|i| i.wrapping_mul(7).wrapping_add(1))
        .collect()
}
const DRAWER_CRED_RANDOM: [u8; 32] = [2; 32];
const DRAWER_CRED_RANDOM_UV: [u8; 32] = [102; 32];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format2")
}

fn sim_state(path: &Path, seed: u64, id: Vec<u8>, cr: [u8; 32], cr_uv: [u8; 32]) {
    let _ = std::fs::remove_file(path);
    let mut sim = Simulator::create(SimConfig::with_seed(seed), path).expect("create");
    sim.provision(ProvisionedCredential {
        credential_id: id,
        rp_id: DEFAULT_RP_ID.into(),
        cred_random: cr,
        cred_random_uv: Some(cr_uv),
        cred_protect: None,
    })
    .expect("provision");
}

/// Writes the fixtures (a deliberate change: the files are committed).
#[test]
#[ignore = "writes the committed fixtures; run by hand after a deliberate format change"]
fn regenerate_format2_fixtures() {
    let out = dir();
    std::fs::create_dir_all(&out).expect("dir");
    let path = out.join("two-keys.tokenvault");
    let _ = std::fs::remove_file(&path);
    let mut daily = HmacAuthenticator::new();
    let options = CreateOptions {
        format: Format::V2,
        key: KeyOptions {
            label: Some("daily".into()),
            require_uv: false,
        },
        ..CreateOptions::default()
    };
    let vault = Vault::create(&path, &mut daily, &options, &NoPrompt).expect("create");
    drop(vault);
    let mut drawer = HmacAuthenticator::with_credential(&[0xbb; 32], DEFAULT_RP_ID, [0xbb; 32]);
    Vault::add_key(
        &path,
        &mut drawer,
        &mut daily,
        &KeyOptions {
            label: Some("drawer".into()),
            require_uv: false,
        },
        &OpenOptions::default(),
        &NoPrompt,
    )
    .expect("add");
    let vault = Vault::open(&path, &mut daily, &NoPrompt).expect("open");
    for (s, u, p) in &ENTRIES[..3] {
        vault.set(s, u, p, &mut daily, &NoPrompt).expect("set");
    }
    let (s, u, p) = ENTRIES[3];
    vault
        .set(s, u, p, &mut drawer, &NoPrompt)
        .expect("set with the drawer");
    sim_state(
        &out.join("two-keys.daily.sim.json"),
        101,
        daily_id(),
        DAILY_CRED_RANDOM,
        DAILY_CRED_RANDOM_UV,
    );
    sim_state(
        &out.join("two-keys.drawer.sim.json"),
        102,
        drawer_id(),
        DRAWER_CRED_RANDOM,
        DRAWER_CRED_RANDOM_UV,
    );
    let _ = std::fs::remove_file(out.join("two-keys.tokenvault.lock"));
}

/// A copy of a fixture in a temporary directory (the simulator writes its
/// state; the vault is never written, but the test does not rely on it).
fn copy(tmp: &Path, name: &str) -> PathBuf {
    let to = tmp.join(name);
    std::fs::copy(dir().join(name), &to).expect("copy fixture");
    to
}

fn client(state: &Path) -> Ctap2Client<SimTransport> {
    Ctap2Client::new(SimTransport::from_simulator(
        Simulator::open(state).expect("sim"),
    ))
    .expect("client")
}

#[test]
fn the_committed_two_key_vault_opens_with_each_key_and_every_entry_reads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let vault_path = copy(tmp.path(), "two-keys.tokenvault");
    let before = std::fs::read(&vault_path).expect("read");
    for state in ["two-keys.daily.sim.json", "two-keys.drawer.sim.json"] {
        let mut auth = client(&copy(tmp.path(), state));
        let prompt = ScriptedPrompt::new();
        let vault = Vault::open(&vault_path, &mut auth, &prompt).expect(state);
        assert_eq!(vault.format(), Format::V2);
        let labels: Vec<String> = vault.slots().into_iter().map(|s| s.label).collect();
        assert_eq!(labels, ["daily", "drawer"]);
        let names: Vec<(String, String)> = vault.list().expect("list");
        assert_eq!(names.len(), ENTRIES.len());
        for (s, u, p) in ENTRIES {
            let got = vault.get(s, u, &mut auth, &prompt).expect("get").expect(s);
            assert_eq!(got.expose_secret(), p, "{state}: {s}");
        }
        assert_eq!(prompt.touches(), 1 + ENTRIES.len(), "{state}");
    }
    assert_eq!(
        std::fs::read(&vault_path).expect("read"),
        before,
        "reads never write"
    );
}

#[test]
fn damaged_copies_of_the_fixture_give_typed_errors_and_stay_as_they_were() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let good = std::fs::read(dir().join("two-keys.tokenvault")).expect("fixture");
    let parsed = layout::parse_file(&good).expect("parses");
    let label_at = good
        .windows(6)
        .position(|w| w == b"drawer")
        .expect("the label is in clear");
    type Check = fn(&VaultError) -> bool;
    let mut cases: Vec<(&str, Vec<u8>, Check)> = Vec::new();
    let mut label = good.clone();
    label[label_at] = b'D';
    cases.push(("label changed", label, |e| {
        matches!(e, VaultError::DidNotDecrypt { .. })
    }));
    let mut suite = good.clone();
    suite[9] = 2;
    cases.push(("unknown suite", suite, |e| {
        matches!(
            e,
            VaultError::Corrupt {
                reason: tokenring_vault::FormatError::UnsupportedSuite(2),
                ..
            }
        )
    }));
    let mut magic = good.clone();
    magic[1] = b'X';
    cases.push(("bad magic", magic, |e| {
        matches!(e, VaultError::Corrupt { .. })
    }));
    let truncated = good[..good.len() - 1].to_vec();
    cases.push(("truncated", truncated, |e| {
        matches!(e, VaultError::Corrupt { .. })
    }));
    let mut envelope = good.clone();
    let last = envelope.len() - 1;
    envelope[last] ^= 1;
    cases.push(("envelope tag", envelope, |e| {
        matches!(e, VaultError::DidNotDecrypt { .. })
    }));
    // Splice: this header with the envelope of an older generation.
    let mut older = parsed.signed.to_vec();
    older.extend_from_slice(&parsed.mac);
    older.extend_from_slice(parsed.envelope);
    assert_eq!(older, good, "header ‖ mac ‖ envelope is the whole file");
    let mut auth = client(&copy(tmp.path(), "two-keys.daily.sim.json"));
    for (name, bytes, check) in cases {
        let path = tmp.path().join("bad.tokenvault");
        std::fs::write(&path, &bytes).expect("write");
        match Vault::open(&path, &mut auth, &NoPrompt) {
            Err(e) => assert!(check(&e), "{name}: {e:?}"),
            Ok(_) => panic!("{name}: opened"),
        }
        assert_eq!(
            std::fs::read(&path).expect("read"),
            bytes,
            "{name}: untouched"
        );
    }
}

fn hkdf32(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand_multi_info(info, &mut out)
        .expect("32 bytes");
    out
}

fn hmac32(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("key");
    m.update(msg);
    m.finalize().into_bytes().into()
}

type Kem = hpke::kem::X25519HkdfSha256;

/// The key schedule of docs/vault-format-2.md §3, from the CredRandom only.
#[test]
fn key_schedule_known_answers() {
    let bytes = std::fs::read(dir().join("two-keys.tokenvault")).expect("fixture");
    let parsed = layout::parse_file(&bytes).expect("parses");
    let header = &parsed.header;
    let daily = &header.slots[0];
    assert_eq!(daily.credential_id, daily_id());
    // Unlock key pair from O_u = HMAC(CredRandom, unlock_salt).
    let o_u = hmac32(&DAILY_CRED_RANDOM, &daily.unlock_salt);
    let ikm = hkdf32(
        &header.vault_id,
        &o_u,
        &[b"tokenring/vault-v2/unlock-keypair", &[daily.id]],
    );
    let (sk_u, pk_u) = Kem::derive_keypair(&ikm);
    assert_eq!(pk_u.to_bytes().as_slice(), daily.unlock_pk);
    // Recovery key pair.
    let o_r = hmac32(&DAILY_CRED_RANDOM, &daily.recovery_salt);
    let ikm = hkdf32(
        &header.vault_id,
        &o_r,
        &[b"tokenring/vault-v2/recovery-keypair", &[daily.id]],
    );
    let (_, pk_r) = Kem::derive_keypair(&ikm);
    assert_eq!(pk_r.to_bytes().as_slice(), daily.recovery_pk);
    // VS from its seal to the unlock key.
    let mut info = b"tokenring/vault-v2/seal-vault-secret".to_vec();
    info.extend_from_slice(&header.vault_id);
    info.push(daily.id);
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&daily.vs_unlock[..32]).expect("enc");
    let vs = hpke::single_shot_open::<hpke::aead::ChaCha20Poly1305, hpke::kdf::HkdfSha256, Kem>(
        &hpke::OpModeR::Base,
        &sk_u,
        &enc,
        &info,
        &daily.vs_unlock[32..],
        b"",
    )
    .expect("VS");
    // HK and the header MAC.
    let hk = hkdf32(
        &header.vault_id,
        &vs,
        &[b"tokenring/vault-v2/header-mac-key"],
    );
    assert_eq!(hmac32(&hk, parsed.signed), parsed.mac);
    // FK and the envelope (Fernet: first 16 bytes sign, last 16 encrypt).
    let fk = hkdf32(&header.vault_id, &vs, &[b"tokenring/vault-v2/envelope-key"]);
    let fernet = FernetKey::from_secret(&tokenring_core::Secret32::new(fk));
    let plain = fernet.decrypt(parsed.envelope).expect("envelope");
    assert_eq!(&plain[..32], &parsed.mac, "the envelope names its header");
    let records = layout::parse_records(&plain, layout::ENVELOPE_PREFIX, header).expect("records");
    // An owner grant: EK = HKDF(nonce, O_e, entry-key), O_e for the
    // name-derived salt HKDF(entry-salt, entry_seed, name).
    let r = records
        .iter()
        .find(|r| r.service(&plain) == "pypi.org")
        .expect("pypi.org");
    assert_eq!(r.owner, daily.id);
    let name = layout::name_bytes("pypi.org", "__token__");
    let salt = hkdf32(
        b"tokenring/vault-v2/entry-salt",
        &daily.entry_seed,
        &[&name],
    );
    let o_e = hmac32(&DAILY_CRED_RANDOM, &salt);
    let ek = hkdf32(&r.nonce(&plain), &o_e, &[b"tokenring/vault-v2/entry-key"]);
    let key = FernetKey::from_secret(&tokenring_core::Secret32::new(ek));
    assert_eq!(
        &key.decrypt(r.token(&plain)).expect("token")[..],
        ENTRIES[0].2.as_bytes()
    );
    // The sealed grant of the same entry for the drawer opens to the same EK.
    let drawer = &header.slots[1];
    let o_r = hmac32(&DRAWER_CRED_RANDOM, &drawer.recovery_salt);
    let ikm = hkdf32(
        &header.vault_id,
        &o_r,
        &[b"tokenring/vault-v2/recovery-keypair", &[drawer.id]],
    );
    let (sk_r, _) = Kem::derive_keypair(&ikm);
    let sealed = r
        .sealed_for(&plain, drawer.id)
        .expect("sealed to the drawer");
    let mut info = b"tokenring/vault-v2/seal-entry-key".to_vec();
    info.extend_from_slice(&header.vault_id);
    info.push(drawer.id);
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&sealed[..32]).expect("enc");
    let opened =
        hpke::single_shot_open::<hpke::aead::ChaCha20Poly1305, hpke::kdf::HkdfSha256, Kem>(
            &hpke::OpModeR::Base,
            &sk_r,
            &enc,
            &info,
            &sealed[32..],
            &name,
        )
        .expect("EK for the drawer");
    assert_eq!(opened.as_slice(), ek);
}
