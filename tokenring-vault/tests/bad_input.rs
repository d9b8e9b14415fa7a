//! Bad files give typed errors with clear messages, never panics, and are
//! never written to: not by open, not by a mutation that finds them.

mod common;

use std::path::{Path, PathBuf};

use common::hmac_authenticator::HmacAuthenticator;
use tokenring_core::NoPrompt;
use tokenring_vault::{CreateOptions, FormatError, Vault, VaultError};

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    good: Vec<u8>,
    auth: HmacAuthenticator,
}

fn good_vault() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("vault.json");
    let mut auth = HmacAuthenticator::new();
    let vault =
        Vault::create(&path, &mut auth, &CreateOptions::default(), &NoPrompt).expect("create");
    vault
        .set("svc", "user", "pw", &mut auth, &NoPrompt)
        .expect("set");
    let good = std::fs::read(&path).expect("read");
    Fixture {
        _dir: dir,
        path,
        good,
        auth,
    }
}

fn open(path: &Path, auth: &mut HmacAuthenticator) -> Result<Vault, VaultError> {
    Vault::open(path, auth, &NoPrompt)
}

fn corrupt_reason(result: Result<Vault, VaultError>) -> FormatError {
    match result {
        Err(VaultError::Corrupt { reason, .. }) => reason,
        Err(other) => panic!("expected Corrupt, got {other:?}"),
        Ok(_) => panic!("expected Corrupt, it opened"),
    }
}

/// Writes `bytes` as the vault, expects `check` of the open error, and the
/// file unchanged afterwards.
fn assert_rejected(f: &mut Fixture, bytes: &[u8], check: impl Fn(Result<Vault, VaultError>)) {
    std::fs::write(&f.path, bytes).expect("write");
    check(open(&f.path, &mut f.auth));
    assert_eq!(
        std::fs::read(&f.path).expect("read"),
        bytes,
        "file untouched"
    );
}

fn replace_once(text: &str, from: &str, to: &str) -> Vec<u8> {
    assert!(text.contains(from), "{from}");
    text.replacen(from, to, 1).into_bytes()
}

#[test]
fn every_truncation_is_a_typed_error() {
    let mut f = good_vault();
    let good = f.good.clone();
    // Every prefix of the head and the tail, and a sample in between.
    let lens: Vec<usize> = (0..300)
        .chain((300..good.len()).step_by(97))
        .chain(good.len() - 300..good.len())
        .collect();
    for len in lens {
        std::fs::write(&f.path, &good[..len]).expect("write");
        match open(&f.path, &mut f.auth) {
            Err(VaultError::Corrupt { reason, .. }) => {
                if len > 0 {
                    assert!(
                        matches!(
                            reason,
                            FormatError::Truncated
                                | FormatError::BadHex { .. }
                                | FormatError::Shape(_)
                        ),
                        "{len}: {reason:?}"
                    );
                }
            }
            Err(other) => panic!("{len}: expected Corrupt, got {other:?}"),
            Ok(_) => panic!("{len}: a truncated vault opened"),
        }
        assert_eq!(std::fs::read(&f.path).expect("read"), &good[..len]);
    }
    std::fs::write(&f.path, b"").expect("write");
    assert_eq!(
        corrupt_reason(open(&f.path, &mut f.auth)),
        FormatError::Truncated
    );
}

#[test]
fn invalid_json_and_wrong_shapes() {
    let mut f = good_vault();
    let text = String::from_utf8(f.good.clone()).expect("ascii");
    let salt_start = text.find("\"salt\": \"").expect("salt") + 9;
    let salt = text[salt_start..salt_start + 64].to_string();
    type Check = fn(&FormatError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("not json", b"this is not json".to_vec(), |r| {
            matches!(r, FormatError::Syntax(_))
        }),
        ("binary", vec![0xff, 0xfe, 0, 1, 2], |r| {
            matches!(r, FormatError::Syntax(_))
        }),
        ("array", b"[1, 2, 3]".to_vec(), |r| {
            matches!(r, FormatError::Shape(_))
        }),
        ("trailing garbage", [&f.good[..], b" x"].concat(), |r| {
            matches!(r, FormatError::Syntax(_))
        }),
        (
            "key is a number",
            replace_once(&text, "\"key\": {", "\"key\": 5, \"old\": {"),
            |r| matches!(r, FormatError::Shape(_)),
        ),
        (
            "data is a number",
            replace_once(&text, "\"data\": \"", "\"data\": 5, \"x\": \""),
            |r| matches!(r, FormatError::Shape(_)),
        ),
        (
            "unknown top-level field",
            replace_once(&text, "{\"key\"", "{\"version\": 2, \"key\""),
            |r| matches!(r, FormatError::Shape(m) if m.contains("version")),
        ),
        (
            "unknown credential field",
            replace_once(&text, "\"rp_id\"", "\"uv\": true, \"rp_id\""),
            |r| matches!(r, FormatError::Shape(m) if m.contains("uv")),
        ),
        (
            "missing data",
            replace_once(&text, ", \"data\": \"", ", \"datum\": \""),
            |r| matches!(r, FormatError::Shape(_)),
        ),
        (
            "duplicate key",
            replace_once(
                &text,
                "{\"key\": ",
                &format!("{{\"key\": {{\"salt\": \"{salt}\"}}, \"key\": "),
            ),
            |r| matches!(r, FormatError::Shape(_)),
        ),
        (
            "salt not hex",
            replace_once(&text, &salt, &format!("zz{}", &salt[2..])),
            |r| matches!(r, FormatError::BadHex { field: "salt" }),
        ),
        ("salt short", replace_once(&text, &salt, &salt[2..]), |r| {
            matches!(
                r,
                FormatError::BadLength {
                    field: "salt",
                    expected: 32,
                    actual: 31
                }
            )
        }),
        (
            "credential id not hex",
            replace_once(&text, "\"credential_id\": \"", "\"credential_id\": \"x"),
            |r| {
                matches!(
                    r,
                    FormatError::BadHex {
                        field: "credential_id"
                    }
                )
            },
        ),
        (
            "data not hex",
            replace_once(&text, "\"data\": \"", "\"data\": \"zz"),
            |r| matches!(r, FormatError::BadHex { field: "data" }),
        ),
        (
            "data hex but not base64",
            replace_once(&text, "\"data\": \"67", "\"data\": \"20"),
            |r| matches!(r, FormatError::BadHex { field: "data" }),
        ),
    ];
    for (name, bytes, check) in cases {
        assert_rejected(&mut f, &bytes, |result| {
            let reason = corrupt_reason(result);
            assert!(check(&reason), "{name}: {reason:?}");
            let message = VaultError::Corrupt {
                path: "v".into(),
                reason,
            }
            .to_string();
            assert!(message.contains("left untouched"), "{name}: {message}");
        });
    }
}

#[test]
fn tampered_data_does_not_decrypt() {
    let mut f = good_vault();
    let text = String::from_utf8(f.good.clone()).expect("ascii");
    let data_start = text.find("\"data\": \"").expect("data") + 9;
    // Change one base64 character in the middle of the token (still valid encoding).
    let mid = data_start + (text.len() - data_start) / 2 / 2 * 2;
    let pair = &text[mid..mid + 2];
    let replacement = if pair == "41" { "42" } else { "41" };
    let mut tampered = text.clone();
    tampered.replace_range(mid..mid + 2, replacement);
    assert_rejected(&mut f, tampered.as_bytes(), |result| {
        let err = result.expect_err("must not open");
        assert!(matches!(err, VaultError::DidNotDecrypt { .. }), "{err:?}");
        assert!(err.to_string().contains("did not decrypt"));
    });
}

#[test]
fn wrong_credential_is_reported_as_such() {
    let f = good_vault();
    let mut stranger =
        HmacAuthenticator::with_credential(&[1, 2, 3], "hardware.keychain.glyph.im", [9; 32]);
    let err = open(&f.path, &mut stranger).expect_err("must not open");
    assert!(matches!(err, VaultError::WrongAuthenticator), "{err:?}");
    assert_eq!(std::fs::read(&f.path).expect("read"), f.good);
}

#[test]
fn a_mutation_never_overwrites_a_file_that_went_bad() {
    let mut f = good_vault();
    let vault = open(&f.path, &mut f.auth).expect("open");
    for bad in [&b"{\"key\": trunc"[..], b"", b"{}"] {
        std::fs::write(&f.path, bad).expect("write");
        let err = vault
            .set("a", "b", "c", &mut f.auth, &NoPrompt)
            .expect_err("must refuse");
        assert!(matches!(err, VaultError::Corrupt { .. }), "{err:?}");
        assert!(vault.delete("svc", "user").is_err());
        assert!(vault.list().is_err());
        assert_eq!(std::fs::read(&f.path).expect("read"), bad);
    }
    // Put the good file back: the vault works again.
    std::fs::write(&f.path, &f.good).expect("write");
    vault
        .set("a", "b", "c", &mut f.auth, &NoPrompt)
        .expect("set");
    assert_eq!(vault.list().expect("list").len(), 2);
}

#[test]
fn a_vault_replaced_by_another_is_not_overwritten() {
    let mut f = good_vault();
    let vault = open(&f.path, &mut f.auth).expect("open");
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other_path = other_dir.path().join("other.json");
    Vault::create(
        &other_path,
        &mut f.auth,
        &CreateOptions::default(),
        &NoPrompt,
    )
    .expect("create");
    let other = std::fs::read(&other_path).expect("read");
    std::fs::write(&f.path, &other).expect("write");
    let err = vault
        .set("a", "b", "c", &mut f.auth, &NoPrompt)
        .expect_err("must refuse");
    assert!(matches!(err, VaultError::Replaced { .. }), "{err:?}");
    assert_eq!(std::fs::read(&f.path).expect("read"), other);
}

#[test]
fn tampered_entry_list_and_entry_tokens() {
    use tokenring_vault::internal::fernet::FernetKey;
    use tokenring_vault::internal::format;
    let mut f = good_vault();
    let file = format::parse_file(&f.good).expect("parse");
    // Re-encrypt a bad entry list under the real vault key: it is corrupt, not tampered.
    let cred = &f.auth.credentials[0];
    let vault_key = tokenring_core::Secret32::new(common::hmac_authenticator::hmac_sha256(
        &cred.cred_random,
        &file.key.salt,
    ));
    let key = FernetKey::from_secret(&vault_key);
    let plaintext = key.decrypt(&file.token).expect("decrypt");
    let text = String::from_utf8(plaintext.to_vec()).expect("utf8");
    for (name, list) in [
        ("not a list", "{}".to_string()),
        ("three items", "[[\"a\", \"b\", \"c\"]]".to_string()),
        ("not utf-8", "\u{0}".to_string()),
    ] {
        let list = if name == "not utf-8" {
            vec![b'[', 0xff, b']']
        } else {
            list.into_bytes()
        };
        let token = key.encrypt_with(&list, [0; 16], 0);
        let mut out = Vec::new();
        format::write_file(&file.key, &token, &mut out).expect("write");
        assert_rejected(&mut f, &out, |r| {
            let reason = corrupt_reason(r);
            assert!(
                matches!(reason, FormatError::Shape(_) | FormatError::NotUtf8),
                "{name}: {reason:?}"
            );
        });
    }
    // An entry token changed inside a well-formed list: that entry fails alone.
    let token_start = text.rfind(", \"").expect("token") + 3;
    let mut bad_list = text.clone();
    let r = token_start + 40..token_start + 42;
    let replacement = if &text[r.clone()] == "41" { "42" } else { "41" };
    bad_list.replace_range(r, replacement);
    let token = key.encrypt_with(bad_list.as_bytes(), [0; 16], 0);
    let mut out = Vec::new();
    format::write_file(&file.key, &token, &mut out).expect("write");
    std::fs::write(&f.path, &out).expect("write");
    let vault = open(&f.path, &mut f.auth).expect("the vault itself opens");
    let err = vault
        .get("svc", "user", &mut f.auth, &NoPrompt)
        .expect_err("entry must fail");
    assert!(
        matches!(err, VaultError::EntryDidNotDecrypt { .. }),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&f.path).expect("read"), out);
}
