//! Compatibility proven with the original's own code: vaults written here
//! are read by `../shared/compat/glyph_oracle.py` (glyph/tokenring
//! 2025.2.19 unmodified, the token replaced by its HMAC), and vaults it
//! writes are read here, with awkward names and passwords.
//!
//! The interpreter: `$TOKENRING_PYTHON`, else what `sh ../shared/compat/setup.sh`
//! prints. If neither works the tests fail when `CI` is set, and otherwise
//! say why and skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::hmac_authenticator::HmacAuthenticator;
use tokenring_core::{NoPrompt, DEFAULT_RP_ID};
use tokenring_vault::internal::{format, hex_codec};
use tokenring_vault::{CreateOptions, Vault};

const ENTRIES: &[(&str, &str, &str)] = &[
    ("index.example", "__token__", "tok-AgEIc2VjcmV0LXVwbG9hZA"),
    ("tab\tservice", "new\nline", "quote \" and \\ backslash"),
    ("emoji 🔑 ✓", "", "pässwörd ✓ 🔑"),
    (
        "'single' \"double\"",
        "user\r\n\u{1}\u{7f}",
        "\ttabbed and trailing space ",
    ),
    ("", "empty service", "x"),
    (
        "bidi \u{202e}evil",
        "zero\u{200b}width",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 {\"json\": [1]}",
    ),
];

fn python() -> Option<&'static PathBuf> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let found = find_python();
            match found {
                Ok(p) => Some(p),
                Err(why) => {
                    if std::env::var_os("CI").is_some() {
                        panic!("the oracle is unavailable in CI: {why}");
                    }
                    eprintln!("SKIPPING oracle compatibility tests: {why}");
                    None
                }
            }
        })
        .as_ref()
}

fn find_python() -> Result<PathBuf, String> {
    let python = match std::env::var_os("TOKENRING_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => {
            let setup = common::shared_dir().join("compat").join("setup.sh");
            let out = Command::new("sh")
                .arg(&setup)
                .output()
                .map_err(|e| format!("cannot run {}: {e}", setup.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "{} failed: {}",
                    setup.display(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let stdout = String::from_utf8_lossy(&out.stdout);
            PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
        }
    };
    let check = Command::new(&python)
        .args(["-c", "import tokenring, fido2"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !check.status.success() {
        return Err(format!(
            "{} cannot import tokenring: {}",
            python.display(),
            String::from_utf8_lossy(&check.stderr)
        ));
    }
    Ok(python)
}

fn oracle(python: &Path, args: &[&str]) -> (bool, Vec<u8>) {
    let script = common::shared_dir().join("compat").join("glyph_oracle.py");
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .env("PYTHONUTF8", "1")
        .env("PYTHONIOENCODING", "utf-8")
        .output()
        .expect("run the oracle");
    if !out.status.success() && !out.stderr.is_empty() {
        eprintln!(
            "oracle {:?}: {}",
            args.first(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (out.status.success(), out.stdout)
}

fn expected_list(entries: &[(&str, &str, &str)]) -> Vec<u8> {
    entries
        .iter()
        .flat_map(|(s, u, _)| format!("{s}\t{u}\n").into_bytes())
        .collect()
}

#[test]
fn the_original_reads_what_we_write() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ours.json");
    let mut auth = HmacAuthenticator::new();
    let vault =
        Vault::create(&path, &mut auth, &CreateOptions::default(), &NoPrompt).expect("create");
    for (s, u, p) in ENTRIES {
        vault.set(s, u, p, &mut auth, &NoPrompt).expect("set");
    }
    // A replaced entry keeps its place in the original's dict too.
    vault
        .set(
            ENTRIES[1].0,
            ENTRIES[1].1,
            ENTRIES[1].2,
            &mut auth,
            &NoPrompt,
        )
        .expect("set again");
    let cred_random = hex_codec::hex_encode(&auth.credentials[0].cred_random);
    let p = path.to_str().expect("utf-8 path");

    let (ok, listed) = oracle(python, &["list", p, &cred_random]);
    assert!(ok);
    assert_eq!(
        String::from_utf8_lossy(&listed),
        String::from_utf8_lossy(&expected_list(ENTRIES))
    );
    for (s, u, pw) in ENTRIES {
        let (ok, out) = oracle(python, &["get", p, &cred_random, s, u]);
        assert!(ok, "{s:?}/{u:?}");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            format!("{pw}\n"),
            "{s:?}/{u:?}"
        );
    }
    let (found, _) = oracle(python, &["get", p, &cred_random, "index.example", "nobody"]);
    assert!(!found);
    // A wrong CredRandom does not open it there either.
    let (ok, _) = oracle(python, &["list", p, &"00".repeat(32)]);
    assert!(!ok);
}

#[test]
fn we_read_what_the_original_writes_and_it_reads_our_changes() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("glyph.json");
    let p = path.to_str().expect("utf-8 path");
    let cred_random = [0x42u8; 32];
    let cred_id = [0xa5u8; 48];
    let mut args = vec![
        "write".to_string(),
        p.to_string(),
        hex_codec::hex_encode(&cred_random),
        hex_codec::hex_encode(&cred_id),
    ];
    for (s, u, pw) in ENTRIES {
        args.extend([s.to_string(), u.to_string(), pw.to_string()]);
    }
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, _) = oracle(python, &arg_refs);
    assert!(ok, "oracle write");

    let mut auth = HmacAuthenticator::with_credential(&cred_id, DEFAULT_RP_ID, cred_random);
    let vault = Vault::open(&path, &mut auth, &NoPrompt).expect("open the original's vault");
    let names: Vec<(String, String)> = ENTRIES
        .iter()
        .map(|(s, u, _)| (s.to_string(), u.to_string()))
        .collect();
    assert_eq!(vault.list().expect("list"), names);
    for (s, u, pw) in ENTRIES {
        let got = vault
            .get(s, u, &mut auth, &NoPrompt)
            .expect("get")
            .expect("present");
        assert_eq!(got.expose_secret(), *pw, "{s:?}/{u:?}");
    }

    // Its layout, rewritten by us, is byte for byte the same.
    let bytes = std::fs::read(&path).expect("read");
    let file = format::parse_file(&bytes).expect("parse");
    let mut rewritten = Vec::new();
    format::write_file(&file.key, &file.token, &mut rewritten).expect("write");
    assert_eq!(rewritten, bytes);

    // Change it here; the original reads the result.
    vault.delete(ENTRIES[0].0, ENTRIES[0].1).expect("delete");
    vault
        .set("added here", "🙂", "new\tpassword\n", &mut auth, &NoPrompt)
        .expect("set");
    let mut expected: Vec<(&str, &str, &str)> = ENTRIES[1..].to_vec();
    expected.push(("added here", "🙂", "new\tpassword\n"));
    let (ok, listed) = oracle(python, &["list", p, &hex_codec::hex_encode(&cred_random)]);
    assert!(ok);
    assert_eq!(
        String::from_utf8_lossy(&listed),
        String::from_utf8_lossy(&expected_list(&expected))
    );
    let (ok, out) = oracle(
        python,
        &[
            "get",
            p,
            &hex_codec::hex_encode(&cred_random),
            "added here",
            "🙂",
        ],
    );
    assert!(ok);
    assert_eq!(out, b"new\tpassword\n\n");
}

/// Every entry of a format-1 file as stored: names, salt, token text.
fn stored_entries(path: &Path, cred_random: &[u8; 32]) -> Vec<(String, String, [u8; 32], String)> {
    use tokenring_vault::internal::fernet::FernetKey;
    let file = format::parse_file(&std::fs::read(path).expect("read")).expect("format 1");
    let key = common::hmac_authenticator::hmac_sha256(cred_random, &file.key.salt);
    let plain = FernetKey::from_secret(&tokenring_core::Secret32::new(key))
        .decrypt(&file.token)
        .expect("the vault key");
    let entries = format::parse_entries(&plain, &file.key.credential).expect("entries");
    entries
        .iter()
        .map(|(s, u, e)| {
            (
                s.to_string(),
                u.to_string(),
                e.key.salt,
                e.token.to_string(),
            )
        })
        .collect()
}

#[test]
fn the_oracle_opens_a_vault_converted_to_format_2_and_back() {
    use tokenring_vault::{Format, KeyOptions, OpenOptions};
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ours.json");
    let mut auth = HmacAuthenticator::new();
    let vault =
        Vault::create(&path, &mut auth, &CreateOptions::default(), &NoPrompt).expect("create");
    for (s, u, p) in ENTRIES {
        vault.set(s, u, p, &mut auth, &NoPrompt).expect("set");
    }
    drop(vault);
    let cred_random = auth.credentials[0].cred_random;
    let before = stored_entries(&path, &cred_random);
    Vault::convert(
        &path,
        Format::V2,
        &mut auth,
        &KeyOptions::default(),
        &OpenOptions::default(),
        &NoPrompt,
    )
    .expect("to format 2");
    assert_eq!(Vault::format_of(&path).expect("format"), Format::V2);
    let p = path.to_str().expect("utf-8 path");
    let hex = hex_codec::hex_encode(&cred_random);
    let (ok, _) = oracle(python, &["list", p, &hex]);
    assert!(
        !ok,
        "the original cannot open format 2 (what convert asks to confirm)"
    );
    Vault::convert(
        &path,
        Format::V1,
        &mut auth,
        &KeyOptions::default(),
        &OpenOptions::default(),
        &NoPrompt,
    )
    .expect("back to format 1");
    // Every entry byte for byte: names, order, salts and token text.
    assert_eq!(stored_entries(&path, &cred_random), before);
    let (ok, listed) = oracle(python, &["list", p, &hex]);
    assert!(ok);
    assert_eq!(listed, expected_list(ENTRIES));
    for (s, u, pw) in ENTRIES {
        let (ok, out) = oracle(python, &["get", p, &hex, s, u]);
        assert!(ok, "{s:?}/{u:?}");
        assert_eq!(String::from_utf8(out).expect("utf-8"), format!("{pw}\n"));
    }
}
