//! Several processes on one vault: concurrent writers never lose updates,
//! a writer killed with SIGKILL at random moments always leaves a vault
//! that opens with the old or the new state, and `create` (what `tokenring
//! init` does) killed at random moments leaves no vault or a whole one,
//! whose next save never writes into it in place.
//!
//! The writers are this test binary run again: the `#[ignore]`d
//! `writer_process` test is the child's entry point (it refuses to run
//! without its environment, so it is not a test by itself).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::hmac_authenticator::HmacAuthenticator;
use tokenring_core::{NoPrompt, DEFAULT_RP_ID};
use tokenring_vault::{CreateOptions, Vault};

const CRED_ID: [u8; 16] = [0x11; 16];
const CRED_RANDOM: [u8; 32] = [0x22; 32];

fn known_auth() -> HmacAuthenticator {
    HmacAuthenticator::with_credential(&CRED_ID, DEFAULT_RP_ID, CRED_RANDOM)
}

/// A scratch directory, on tmpfs when there is one: these tests are about
/// processes (locks, renames, SIGKILL), which tmpfs handles like any file
/// system, and its fsync costs nothing, so 400 saves take a second, not ten.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().expect("tempdir")
}

fn spawn_writer(mode: &str, path: &Path, id: usize, count: usize) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "writer_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            "TOKENRING_VAULT_WRITER",
            format!("{mode}\t{}\t{id}\t{count}", path.display()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn writer")
}

/// The child's entry point (see the module docs).
#[test]
#[ignore = "child process of the multi-process tests; runs only when they spawn it"]
fn writer_process() {
    let spec =
        std::env::var("TOKENRING_VAULT_WRITER").expect("only run by the multi-process tests");
    let parts: Vec<&str> = spec.split('\t').collect();
    let (mode, path, id, count) = (parts[0], PathBuf::from(parts[1]), parts[2], parts[3]);
    let count: usize = count.parse().expect("count");
    if mode == "create" {
        // Creates vault-0.json, vault-1.json, … in the directory, until killed.
        for n in 0.. {
            let mut enroll = KnownEnroll(known_auth());
            Vault::create(
                &path.join(format!("vault-{n}.json")),
                &mut enroll,
                &CreateOptions::default(),
                &NoPrompt,
            )
            .expect("create");
        }
    }
    let mut auth = known_auth();
    let vault = Vault::open(&path, &mut auth, &NoPrompt)
        .expect("open")
        .with_lock_timeout(Duration::from_secs(60));
    match mode {
        "concurrent" => {
            for j in 0..count {
                vault
                    .set(
                        &format!("writer-{id}"),
                        &format!("entry-{j}"),
                        &format!("password {id}/{j}"),
                        &mut auth,
                        &NoPrompt,
                    )
                    .expect("set");
            }
        }
        "crash" => {
            // Appends crash/k{n} with n counting on from what is there, until killed.
            let mut n = vault
                .list()
                .expect("list")
                .iter()
                .filter(|(s, _)| s == "crash")
                .count();
            loop {
                vault
                    .set(
                        "crash",
                        &format!("k{n}"),
                        &format!("v{n}"),
                        &mut auth,
                        &NoPrompt,
                    )
                    .expect("set");
                n += 1;
            }
        }
        other => panic!("unknown mode {other}"),
    }
}

/// Makes a vault file under the known credential by letting the test
/// authenticator enroll it with the known id.
fn new_vault(dir: &Path) -> PathBuf {
    let path = dir.join("vault.json");
    let mut a = KnownEnroll(known_auth());
    Vault::create(&path, &mut a, &CreateOptions::default(), &NoPrompt).expect("create");
    path
}

/// Enrolls by handing out the known credential.
struct KnownEnroll(HmacAuthenticator);

impl tokenring_core::Authenticator for KnownEnroll {
    fn describe(&mut self) -> Result<tokenring_core::AuthenticatorInfo, tokenring_core::Error> {
        self.0.describe()
    }
    fn enroll(
        &mut self,
        _: &str,
        _: &tokenring_core::UserEntity,
        _: &dyn tokenring_core::Prompt,
    ) -> Result<tokenring_core::CredentialId, tokenring_core::Error> {
        Ok(tokenring_core::CredentialId(CRED_ID.to_vec()))
    }
    fn derive(
        &mut self,
        r: &tokenring_core::DeriveRequest<'_>,
        p: &dyn tokenring_core::Prompt,
    ) -> Result<tokenring_core::HmacSecretOutput, tokenring_core::Error> {
        self.0.derive(r, p)
    }
    fn probe(
        &mut self,
        c: &tokenring_core::CredentialId,
        rp: &str,
    ) -> Result<bool, tokenring_core::Error> {
        self.0.probe(c, rp)
    }
    fn select(&mut self, p: &dyn tokenring_core::Prompt) -> Result<(), tokenring_core::Error> {
        self.0.select(p)
    }
}

#[test]
fn eight_writers_times_fifty_sets_lose_nothing() {
    let dir = scratch_dir();
    let path = new_vault(dir.path());
    let start = Instant::now();
    let children: Vec<Child> = (0..8)
        .map(|id| spawn_writer("concurrent", &path, id, 50))
        .collect();
    for mut child in children {
        assert!(child.wait().expect("wait").success(), "a writer failed");
    }
    eprintln!("8 writers x 50 sets in {:?}", start.elapsed());
    let mut auth = known_auth();
    let vault = Vault::open(&path, &mut auth, &NoPrompt).expect("open");
    let names = vault.list().expect("list");
    assert_eq!(names.len(), 400, "every update kept");
    for id in 0..8 {
        for j in 0..50 {
            let pw = vault
                .get(
                    &format!("writer-{id}"),
                    &format!("entry-{j}"),
                    &mut auth,
                    &NoPrompt,
                )
                .expect("get")
                .expect("present");
            assert_eq!(pw.expose_secret(), format!("password {id}/{j}"));
        }
        // Each writer's own entries are in its order.
        let mine: Vec<&String> = names
            .iter()
            .filter(|(s, _)| *s == format!("writer-{id}"))
            .map(|(_, u)| u)
            .collect();
        let expected: Vec<String> = (0..50).map(|j| format!("entry-{j}")).collect();
        assert_eq!(mine, expected.iter().collect::<Vec<_>>());
    }
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn sigkill_at_random_moments_never_breaks_the_vault() {
    let dir = scratch_dir();
    let path = new_vault(dir.path());
    let mut auth = known_auth();
    {
        let vault = Vault::open(&path, &mut auth, &NoPrompt).expect("open");
        vault
            .set("keep", "me", "old state", &mut auth, &NoPrompt)
            .expect("set");
    }
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = XorShift(seed);
    let start = Instant::now();
    let mut last = 0usize;
    let mut grew = 0;
    for round in 0..200 {
        let mut child = spawn_writer("crash", &path, 0, 0);
        std::thread::sleep(Duration::from_micros(1_000 + rng.next() % 14_000));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let vault = Vault::open(&path, &mut auth, &NoPrompt)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let names = vault.list().expect("list");
        assert_eq!(
            names[0],
            ("keep".to_string(), "me".to_string()),
            "round {round}"
        );
        let crash: Vec<&String> = names
            .iter()
            .filter(|(s, _)| s == "crash")
            .map(|(_, u)| u)
            .collect();
        let expected: Vec<String> = (0..crash.len()).map(|n| format!("k{n}")).collect();
        assert_eq!(
            crash,
            expected.iter().collect::<Vec<_>>(),
            "round {round}: not a state any writer made"
        );
        assert!(
            crash.len() >= last,
            "round {round}: a saved update was lost"
        );
        if crash.len() > last {
            grew += 1;
        }
        last = crash.len();
        if let Some(n) = crash.len().checked_sub(1) {
            let pw = vault
                .get("crash", &format!("k{n}"), &mut auth, &NoPrompt)
                .expect("get")
                .expect("present");
            assert_eq!(pw.expose_secret(), format!("v{n}"));
        }
        let old = vault
            .get("keep", "me", &mut auth, &NoPrompt)
            .expect("get")
            .expect("present");
        assert_eq!(old.expose_secret(), "old state");
    }
    eprintln!(
        "200 kills in {:?}; {last} entries written; the vault grew in {grew} rounds",
        start.elapsed()
    );
    assert!(
        grew > 10,
        "the writer rarely got to write: the test is not exercising saves"
    );
}

fn read_whole(file: &std::fs::File) -> Vec<u8> {
    use std::io::{Read, Seek};
    let mut file = file;
    file.rewind().expect("rewind");
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).expect("read");
    bytes
}

#[test]
fn sigkill_during_create_leaves_no_vault_or_a_whole_one() {
    use std::os::unix::fs::MetadataExt;
    let scratch = scratch_dir();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    eprintln!("create crash test seed {seed}");
    let mut rng = XorShift(seed);
    let mut auth = known_auth();
    let (mut vaults, mut linked_twice, mut rounds_with_a_vault) = (0, 0, 0);
    for round in 0..100 {
        let dir = scratch.path().join(format!("round-{round}"));
        std::fs::create_dir(&dir).expect("round dir");
        let mut child = spawn_writer("create", &dir, 0, 0);
        std::thread::sleep(Duration::from_micros(1_000 + rng.next() % 14_000));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");

        // Vault files, their lock files, and at most the temp file of the
        // create that was killed: nothing else.
        let numbered = |name: &str, prefix: &str, suffix: &str| {
            name.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(suffix))
                .is_some_and(|n| n.parse::<u32>().is_ok())
        };
        let mut made = 0;
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let name = entry.expect("entry").file_name();
            let name = name.to_string_lossy();
            if numbered(&name, "vault-", ".json") {
                made += 1;
            } else {
                assert!(
                    numbered(&name, "vault-", ".json.lock")
                        || numbered(&name, ".vault-", ".json.tokenring-tmp"),
                    "round {round}: unexpected file {name}"
                );
            }
        }
        vaults += made;
        if made > 0 {
            rounds_with_a_vault += 1;
        }
        for n in 0..=made {
            let path = dir.join(format!("vault-{n}.json"));
            if !path.exists() {
                assert_eq!(
                    n, made,
                    "round {round}: vault-{n} missing but a later one exists"
                );
                // The interrupted create: no vault; a new create works.
                let mut enroll = KnownEnroll(known_auth());
                Vault::create(&path, &mut enroll, &CreateOptions::default(), &NoPrompt)
                    .unwrap_or_else(|e| panic!("round {round}: create again: {e}"));
            }
            let temp = dir.join(format!(".vault-{n}.json.tokenring-tmp"));
            let live = std::fs::File::open(&path).expect("open the vault file");
            if std::fs::metadata(&temp)
                .is_ok_and(|t| t.ino() == live.metadata().expect("stat").ino())
            {
                linked_twice += 1;
            }
            let before = read_whole(&live);
            let vault = Vault::open(&path, &mut auth, &NoPrompt)
                .unwrap_or_else(|e| panic!("round {round}, vault-{n}: not whole: {e}"));
            assert!(vault.list().expect("list").is_empty());
            vault
                .set("after", "crash", "saved", &mut auth, &NoPrompt)
                .expect("the next save");
            assert_eq!(
                read_whole(&live),
                before,
                "round {round}, vault-{n}: the next save wrote into the live vault"
            );
            let vault = Vault::open(&path, &mut auth, &NoPrompt).expect("reopen");
            let saved = vault
                .get("after", "crash", &mut auth, &NoPrompt)
                .expect("get")
                .expect("present");
            assert_eq!(saved.expose_secret(), "saved");
        }
    }
    eprintln!(
        "100 kills during create: {vaults} vaults made, {linked_twice} kills between the link and the temp's removal"
    );
    assert!(
        rounds_with_a_vault > 10,
        "the child rarely got to create a vault: the test is not exercising create"
    );
}
