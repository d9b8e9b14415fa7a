//! Open, list, get and set at several vault sizes, with an authenticator
//! that answers at once (HMAC-SHA-256(CredRandom, salt)), and the peak RSS
//! of each size measured in a process of its own.
//!
//! ```text
//! cargo bench -p tokenring-vault --bench vault_bench -- 10 1000 10000 100000
//! cargo bench -p tokenring-vault --bench vault_bench -- --format 2 --keys 2 1000 10000
//! sh tokenring-vault/benches/compare.sh          # side by side with the original
//! ```
//!
//! `--format 2 --keys K`: format-2 vaults with K key slots (entries written
//! by slot 1, as in daily use); at 1,000 entries the line also has the
//! touches and time of adding one more key with the simulator
//! (`add_key_touches`, `add_key_s`: a key with `hmac-secret-mc`).
//!
//! One JSON line per size, in the shape `../shared/bench/glyph_bench.py`
//! prints: median of 5 repetitions per operation. open = read file, unlock
//! and parse; list = a Vec of the borrowed (service, user) pairs; get =
//! decrypt one entry; set = add
//! one entry and save (lock, re-read check, encrypt, temp file, fsync,
//! rename, fsync of the directory).

#![allow(missing_docs)]

#[path = "../tests/common/hmac_authenticator.rs"]
mod hmac_authenticator;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use hmac_authenticator::HmacAuthenticator;
use tokenring_core::{
    Authenticator, AuthenticatorInfo, CredentialId, DeriveRequest, Error, HmacSecretOutput,
    NoPrompt, Prompt, UserEntity, DEFAULT_RP_ID,
};
use tokenring_vault::{CreateOptions, Format, KeyOptions, OpenOptions, Vault};

const CRED_ID: [u8; 32] = [0xc0; 32];

/// The HMAC authenticator, enrolling the known credential.
struct Bench(HmacAuthenticator);

impl Authenticator for Bench {
    fn describe(&mut self) -> Result<AuthenticatorInfo, Error> {
        self.0.describe()
    }
    fn enroll(&mut self, _: &str, _: &UserEntity, _: &dyn Prompt) -> Result<CredentialId, Error> {
        Ok(CredentialId(CRED_ID.to_vec()))
    }
    fn derive(&mut self, r: &DeriveRequest<'_>, p: &dyn Prompt) -> Result<HmacSecretOutput, Error> {
        self.0.derive(r, p)
    }
    fn probe(&mut self, c: &CredentialId, rp: &str) -> Result<bool, Error> {
        self.0.probe(c, rp)
    }
    fn select(&mut self, p: &dyn Prompt) -> Result<(), Error> {
        self.0.select(p)
    }
}

fn auth() -> Bench {
    let cred_random: [u8; 32] = std::array::from_fn(|i| i as u8);
    let mut a = HmacAuthenticator::with_credential(&CRED_ID, DEFAULT_RP_ID, cred_random);
    a.record = false;
    Bench(a)
}

fn median(mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[2]
}

/// Peak resident set size of this process (kB), from /proc (Linux).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn items(n: usize) -> Vec<(String, String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("service-{i}.example"),
                format!("user{i}@example.com"),
                format!("password-{i}"),
            )
        })
        .collect()
}

fn build(path: &Path, n: usize, format: Format, keys: u8, auth: &mut Bench) {
    let options = CreateOptions {
        format,
        ..CreateOptions::default()
    };
    drop(Vault::create(path, auth, &options, &NoPrompt).expect("create"));
    for k in 1..keys {
        let mut new = HmacAuthenticator::enrolling_as(k);
        Vault::add_key(
            path,
            &mut new,
            auth,
            &KeyOptions::default(),
            &OpenOptions::default(),
            &NoPrompt,
        )
        .expect("add a key");
    }
    let vault = Vault::open(path, auth, &NoPrompt).expect("open");
    let items = items(n);
    let refs: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|(s, u, p)| (s.as_str(), u.as_str(), p.as_str()))
        .collect();
    vault.set_many(&refs, auth, &NoPrompt).expect("build");
}

/// Adding a key to a vault of `n` entries written with the simulator: the
/// touches (presence requests on both simulated keys) and the time.
fn add_key_with_the_simulator(n: usize) -> (usize, f64) {
    use tokenring_core::testing::ScriptedPrompt;
    use tokenring_core::Ctap2Client;
    use tokenring_sim::{SimConfig, SimTransport, Simulator};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sim.tokenvault");
    let client = |seed| {
        Ctap2Client::new(SimTransport::from_simulator(Simulator::new(
            SimConfig::with_seed(seed).pin("1234"),
        )))
        .expect("client")
    };
    let prompt = || {
        let p = ScriptedPrompt::new();
        for _ in 0..4 {
            p.push_pin(Some("1234"));
        }
        p
    };
    let mut a = client(1);
    let options = CreateOptions {
        format: Format::V2,
        ..CreateOptions::default()
    };
    let vault = Vault::create(&path, &mut a, &options, &prompt()).expect("create");
    let items = items(n);
    let refs: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|(s, u, p)| (s.as_str(), u.as_str(), p.as_str()))
        .collect();
    vault.set_many(&refs, &mut a, &prompt()).expect("fill");
    drop(vault);
    let mut b = client(2);
    let touches = |c: &Ctap2Client<SimTransport>| c.transport().lock().presence_requests();
    let before = touches(&a) + touches(&b);
    let t = Instant::now();
    Vault::add_key(
        &path,
        &mut b,
        &mut a,
        &KeyOptions::default(),
        &OpenOptions::default(),
        &prompt(),
    )
    .expect("add a key");
    let seconds = t.elapsed().as_secs_f64();
    (touches(&a) + touches(&b) - before, seconds)
}

fn run(n: usize, format: Format, keys: u8) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.tokenvault");
    let mut auth = auth();
    build(&path, n, format, keys, &mut auth);
    let file_bytes = std::fs::metadata(&path).expect("meta").len();
    let open_s = median(|| {
        Vault::open(&path, &mut auth, &NoPrompt).expect("open");
    });
    let vault = Vault::open(&path, &mut auth, &NoPrompt).expect("open");
    // As the original's `list(v.handles)`: a list of the names, borrowed
    // from the open vault (after the check that the file did not change).
    let list_s = median(|| {
        let names = vault.names().expect("names");
        let listed: Vec<(&str, &str)> = names.iter().collect();
        assert_eq!(listed.len(), n);
    });
    let mid = n / 2;
    let (service, user) = (
        format!("service-{mid}.example"),
        format!("user{mid}@example.com"),
    );
    let get_s = median(|| {
        vault
            .get(&service, &user, &mut auth, &NoPrompt)
            .expect("get")
            .expect("present");
    });
    let mut counter = 0;
    let set_s = median(|| {
        counter += 1;
        vault
            .set(
                "new.example",
                &format!("u{counter}"),
                "pw",
                &mut auth,
                &NoPrompt,
            )
            .expect("set");
    });
    let rss = peak_rss_kib();
    let add = if format == Format::V2 && n == 1000 {
        let (touches, seconds) = add_key_with_the_simulator(n);
        format!(", \"add_key_touches\": {touches}, \"add_key_s\": {seconds}")
    } else {
        String::new()
    };
    format!(
        "{{\"impl\": \"tokenring-rust\", \"format\": {format}, \"keys\": {keys}, \"entries\": {n}, \"file_bytes\": {file_bytes}, \"open_s\": {open_s}, \"list_s\": {list_s}, \"get_s\": {get_s}, \"set_s\": {set_s}, \"peak_rss_kib\": {rss}{add}}}"
    )
}

fn main() {
    let mut args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--bench"))
        .collect();
    let mut format = Format::V1;
    let mut keys = 1u8;
    while let Some(i) = args.iter().position(|a| a == "--format" || a == "--keys") {
        let value = args.get(i + 1).cloned().expect("a value");
        if args[i] == "--format" {
            format = if value == "2" { Format::V2 } else { Format::V1 };
        } else {
            keys = value.parse().expect("--keys K");
        }
        args.drain(i..i + 2);
    }
    if format == Format::V1 {
        keys = 1;
    }
    if args.first().map(String::as_str) == Some("--child") {
        let n = args.get(1).and_then(|a| a.parse().ok()).expect("--child N");
        println!("{}", run(n, format, keys));
        return;
    }
    let sizes: Vec<usize> = if args.is_empty() {
        vec![10, 1000, 10_000]
    } else {
        args.iter()
            .map(|a| a.parse().expect("sizes are numbers"))
            .collect()
    };
    let me = std::env::current_exe().expect("bench binary");
    for n in sizes {
        // One process per size: peak RSS is per process.
        let out = Command::new(&me)
            .args([
                "--child",
                &n.to_string(),
                "--format",
                &format.to_string(),
                "--keys",
                &keys.to_string(),
            ])
            .output()
            .expect("run child");
        if !out.status.success() {
            eprintln!("size {n} failed: {}", String::from_utf8_lossy(&out.stderr));
            std::process::exit(1);
        }
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}
