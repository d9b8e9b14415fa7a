//! Format 2 under SIGKILL: a writer killed at random moments of set, key
//! add, key remove, rekey and convert always leaves a vault that opens,
//! whole, with the old or the new state (every change is one new file and
//! one rename). The writers are this test binary run again (the
//! `#[ignore]`d `format2_writer_process` is the child's entry point).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::hmac_authenticator::HmacAuthenticator;
use tokenring_core::{NoPrompt, DEFAULT_RP_ID};
use tokenring_vault::{CreateOptions, Format, KeyOptions, OpenOptions, Vault};

/// The n-th credential an [`HmacAuthenticator`] makes: its id and CredRandom.
fn credential(n: u8) -> (Vec<u8>, [u8; 32]) {
    (
        (0..32u8)
            .map(|i| i.wrapping_mul(7).wrapping_add(n))
            .collect(),
        [n.wrapping_add(1); 32],
    )
}

/// An authenticator holding the n-th credential.
fn holder(n: u8) -> HmacAuthenticator {
    let (id, cr) = credential(n);
    HmacAuthenticator::with_credential(&id, DEFAULT_RP_ID, cr)
}

/// An authenticator whose next enrollment makes the n-th credential.
fn enroller(n: u8) -> HmacAuthenticator {
    HmacAuthenticator::enrolling_as(n)
}

fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().expect("tempdir")
}

fn spawn(mode: &str, path: &Path) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "format2_writer_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            "TOKENRING_VAULT2_WRITER",
            format!("{mode}\t{}", path.display()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn writer")
}

/// The child's entry point.
#[test]
#[ignore = "child process of the format-2 SIGKILL tests"]
fn format2_writer_process() {
    let spec = std::env::var("TOKENRING_VAULT2_WRITER").expect("only run by the SIGKILL tests");
    let (mode, path) = spec.split_once('\t').expect("spec");
    let path = PathBuf::from(path);
    let none = OpenOptions::default();
    let mut a = holder(0);
    match mode {
        "keys" => loop {
            let vault = Vault::open(&path, &mut a, &NoPrompt).expect("open");
            let n = vault
                .list()
                .expect("list")
                .iter()
                .filter(|(s, _)| s == "crash")
                .count();
            vault
                .set(
                    "crash",
                    &format!("k{n}"),
                    &format!("v{n}"),
                    &mut a,
                    &NoPrompt,
                )
                .expect("set");
            let can_add = vault.slots().len() == 2 && vault.generation().unwrap_or(0) < 400;
            drop(vault);
            if can_add {
                let mut c = enroller(2);
                Vault::add_key(
                    &path,
                    &mut c,
                    &mut a,
                    &KeyOptions::default(),
                    &none,
                    &NoPrompt,
                )
                .expect("add");
                let vault = Vault::open(&path, &mut a, &NoPrompt).expect("open");
                let extra = vault.slots()[2].id.to_string();
                vault.remove_key(&extra).expect("remove");
            }
            Vault::rekey(&path, &mut a, &[], &none, &NoPrompt).expect("rekey");
        },
        "convert" => loop {
            let to = match Vault::format_of(&path).expect("format") {
                Format::V1 => Format::V2,
                _ => Format::V1,
            };
            Vault::convert(&path, to, &mut a, &KeyOptions::default(), &none, &NoPrompt)
                .expect("convert");
        },
        other => panic!("unknown mode {other}"),
    }
}

fn seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1
}

fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn kill_soon(child: &mut Child, rng: &mut u64) {
    std::thread::sleep(Duration::from_micros(1_000 + next(rng) % 14_000));
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

#[test]
fn sigkill_during_set_add_remove_and_rekey_leaves_a_whole_vault() {
    let dir = scratch_dir();
    let path = dir.path().join("v.tokenvault");
    let mut a = enroller(0);
    let options = CreateOptions {
        format: Format::V2,
        ..CreateOptions::default()
    };
    let vault = Vault::create(&path, &mut a, &options, &NoPrompt).expect("create");
    vault
        .set("keep", "me", "old state", &mut a, &NoPrompt)
        .expect("set");
    drop(vault);
    let mut b = enroller(1);
    Vault::add_key(
        &path,
        &mut b,
        &mut a,
        &KeyOptions::default(),
        &OpenOptions::default(),
        &NoPrompt,
    )
    .expect("add B");
    let mut rng = seed();
    eprintln!("seed {rng}");
    let (mut a, mut b) = (holder(0), holder(1));
    let mut generations = std::collections::BTreeSet::new();
    for round in 0..100 {
        let mut child = spawn("keys", &path);
        kill_soon(&mut child, &mut rng);
        for (who, auth) in [("A", &mut a), ("B", &mut b)] {
            let vault = Vault::open(&path, auth, &NoPrompt)
                .unwrap_or_else(|e| panic!("round {round}, {who}: {e}"));
            let slots = vault.slots();
            assert!(
                slots.len() == 2 || slots.len() == 3,
                "round {round}: {} slots",
                slots.len()
            );
            assert_eq!(
                vault
                    .get("keep", "me", auth, &NoPrompt)
                    .expect("get")
                    .expect("kept")
                    .expose_secret(),
                "old state",
                "round {round}, {who}"
            );
            let names = vault.list().expect("list");
            let crash = names.iter().filter(|(s, _)| s == "crash").count();
            if crash > 0 {
                let n = crash - 1;
                let last = names
                    .iter()
                    .find(|(s, u)| s == "crash" && *u == format!("k{n}"));
                assert!(last.is_some(), "round {round}: not a state a writer made");
            }
            generations.insert(vault.generation().expect("v2"));
        }
    }
    assert!(generations.len() > 10, "the writer rarely got to write");
}

#[test]
fn sigkill_during_convert_leaves_a_vault_of_either_format() {
    let dir = scratch_dir();
    let path = dir.path().join("v.tokenvault");
    let mut a = enroller(0);
    let vault =
        Vault::create(&path, &mut a, &CreateOptions::default(), &NoPrompt).expect("create v1");
    vault
        .set("keep", "me", "old state", &mut a, &NoPrompt)
        .expect("set");
    vault
        .set("and", "me", "too", &mut a, &NoPrompt)
        .expect("set");
    drop(vault);
    let mut rng = seed();
    eprintln!("seed {rng}");
    let mut a = holder(0);
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..100 {
        let mut child = spawn("convert", &path);
        kill_soon(&mut child, &mut rng);
        let vault =
            Vault::open(&path, &mut a, &NoPrompt).unwrap_or_else(|e| panic!("round {round}: {e}"));
        seen.insert(format!("{:?}", vault.format()));
        assert_eq!(
            vault.list().expect("list"),
            vec![
                ("keep".to_string(), "me".to_string()),
                ("and".to_string(), "me".to_string())
            ]
        );
        assert_eq!(
            vault
                .get("and", "me", &mut a, &NoPrompt)
                .expect("get")
                .expect("kept")
                .expose_secret(),
            "too"
        );
    }
    assert_eq!(
        seen.len(),
        2,
        "both formats were seen between kills: {seen:?}"
    );
}
