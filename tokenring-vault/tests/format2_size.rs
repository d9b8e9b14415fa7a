//! The file size per entry of format 2 against format 1, with the
//! benchmark's entries (a size, not a time, so a test): at most a quarter
//! with two keys (the benchmark vault), and what one and three keys cost.

mod common;

use common::hmac_authenticator::HmacAuthenticator;
use tokenring_core::NoPrompt;
use tokenring_vault::{CreateOptions, Format, KeyOptions, OpenOptions, Vault};

const N: usize = 1000;

fn items() -> Vec<(String, String, String)> {
    (0..N)
        .map(|i| {
            let i = 5000 + i % 1000;
            (
                format!("service-{i}.example"),
                format!("user{i}@example.com"),
                format!("password-{i}"),
            )
        })
        .collect()
}

fn fill(vault: &Vault, auth: &mut HmacAuthenticator) -> u64 {
    let items = items();
    let refs: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|(s, u, p)| (s.as_str(), u.as_str(), p.as_str()))
        .collect();
    let before = std::fs::metadata(vault.path()).expect("meta").len();
    vault.set_many(&refs, auth, &NoPrompt).expect("set");
    std::fs::metadata(vault.path()).expect("meta").len() - before
}

fn enroller(n: u8) -> HmacAuthenticator {
    HmacAuthenticator::enrolling_as(n)
}

#[test]
fn bytes_per_entry_at_most_a_quarter_of_format_1_with_two_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v1 = dir.path().join("v1.tokenvault");
    let mut a = enroller(0);
    let vault = Vault::create(&v1, &mut a, &CreateOptions::default(), &NoPrompt).expect("v1");
    let format1 = fill(&vault, &mut a) as f64 / N as f64;

    let mut per_keys = Vec::new();
    for keys in 1..=3u8 {
        let path = dir.path().join(format!("v2-{keys}.tokenvault"));
        let mut a = enroller(0);
        let options = CreateOptions {
            format: Format::V2,
            ..CreateOptions::default()
        };
        drop(Vault::create(&path, &mut a, &options, &NoPrompt).expect("v2"));
        for k in 1..keys {
            let mut new = enroller(k);
            Vault::add_key(
                &path,
                &mut new,
                &mut a,
                &KeyOptions::default(),
                &OpenOptions::default(),
                &NoPrompt,
            )
            .expect("add");
        }
        let vault = Vault::open(&path, &mut a, &NoPrompt).expect("open");
        per_keys.push(fill(&vault, &mut a) as f64 / N as f64);
    }
    eprintln!("bytes per entry: format 1 {format1:.0}; format 2 with 1, 2, 3 keys: {per_keys:?}");
    assert!((1200.0..1300.0).contains(&format1), "format 1: {format1}");
    // 221, 302, 383 bytes: 140 + 81 per key (docs/vault-format-2.md §0).
    for (k, bytes) in per_keys.iter().enumerate() {
        let expected = 140.0 + 81.0 * (k + 1) as f64;
        assert!((bytes - expected).abs() < 1.0, "{} keys: {bytes}", k + 1);
    }
    assert!(
        per_keys[1] <= format1 / 4.0,
        "two keys: {} > {format1} / 4",
        per_keys[1]
    );
}
