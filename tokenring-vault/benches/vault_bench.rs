//! Open, list, get and set at several vault sizes, with an authenticator
//! that answers at once (HMAC-SHA-256(CredRandom, salt)), and the peak RSS
//! of each size measured in a process of its own.
//!
//! ```text
//! cargo bench -p tokenring-vault --bench vault_bench -- 10 1000 10000 100000
//! sh tokenring-vault/benches/compare.sh          # side by side with the original
//! ```
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
use tokenring_vault::{CreateOptions, Vault};

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

fn build(path: &Path, n: usize, auth: &mut Bench) {
    let vault = Vault::create(path, auth, &CreateOptions::default(), &NoPrompt).expect("create");
    let items: Vec<(String, String, String)> = (0..n)
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
    vault.set_many(&refs, auth, &NoPrompt).expect("build");
}

fn run(n: usize) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.tokenvault");
    let mut auth = auth();
    build(&path, n, &mut auth);
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
    format!(
        "{{\"impl\": \"tokenring-rust\", \"entries\": {n}, \"file_bytes\": {file_bytes}, \"open_s\": {open_s}, \"list_s\": {list_s}, \"get_s\": {get_s}, \"set_s\": {set_s}, \"peak_rss_kib\": {}}}",
        peak_rss_kib()
    )
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--bench"))
        .collect();
    if args.first().map(String::as_str) == Some("--child") {
        let n = args.get(1).and_then(|a| a.parse().ok()).expect("--child N");
        println!("{}", run(n));
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
            .args(["--child", &n.to_string()])
            .output()
            .expect("run child");
        if !out.status.success() {
            eprintln!("size {n} failed: {}", String::from_utf8_lossy(&out.stderr));
            std::process::exit(1);
        }
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}
