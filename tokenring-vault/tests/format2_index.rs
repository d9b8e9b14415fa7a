//! Format 2's index of entry names: names validated once when the records
//! are parsed (a character split between two names is caught), duplicates
//! refused, every name found by its hash and compared, and through the
//! vault: get, contains, list, set over an existing name and delete on a
//! vault large enough that a lookup by scan and one by index differ.

mod common;

use common::hmac_authenticator::HmacAuthenticator;
use tokenring_core::NoPrompt;
use tokenring_vault::internal::format2 as layout;
use tokenring_vault::{CreateOptions, Format, FormatError, Vault};

/// A header with one slot and `count` entries, none owned.
fn header(count: u32) -> layout::Header {
    layout::Header {
        vault_id: [7; 16],
        generation: 1,
        entry_count: count,
        next_slot_id: 2,
        slots: vec![layout::Slot {
            id: 1,
            policy: 0,
            cred_protect: 0,
            transport: 0,
            aaguid: [0; 16],
            enrolled_at: 0,
            owned: 0,
            legacy: 0,
            rp_id: "r".into(),
            credential_id: vec![1],
            label: "l".into(),
            unlock_salt: [0; 32],
            recovery_salt: [0; 32],
            entry_seed: [0; 32],
            unlock_pk: [0; 32],
            recovery_pk: [0; 32],
            vs_unlock: [0; layout::SEALED_LEN],
            vs_recovery: [0; layout::SEALED_LEN],
        }],
    }
}

/// The smallest token of the right shape (version byte, one block).
fn token() -> Vec<u8> {
    let mut t = vec![0u8; 73];
    t[0] = 0x80;
    t
}

/// An envelope plaintext (zero prefix) holding one record per name, each
/// with the one sealed grant the header's slot needs.
fn plaintext(names: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = vec![0u8; layout::ENVELOPE_PREFIX];
    let token = token();
    for (service, user) in names {
        out.extend_from_slice(&(service.len() as u16).to_be_bytes());
        out.extend_from_slice(service);
        out.extend_from_slice(&(user.len() as u16).to_be_bytes());
        out.extend_from_slice(user);
        out.extend_from_slice(&[0, layout::GRANT_NONE]);
        out.extend_from_slice(&(token.len() as u32).to_be_bytes());
        out.extend_from_slice(&token);
        out.push(1);
        out.push(1);
        out.extend_from_slice(&[0u8; layout::SEALED_LEN]);
    }
    out
}

fn index(names: &[(&[u8], &[u8])]) -> Result<layout::Records, FormatError> {
    let plain = plaintext(names);
    layout::index_records(&plain, layout::ENVELOPE_PREFIX, &header(names.len() as u32))
}

#[test]
fn every_name_is_found_where_it_is_and_no_other_name_is() {
    let owned: Vec<(String, String)> = (0..500)
        .map(|i| {
            (
                format!("service-{i}.example"),
                format!("user{i}@example.com"),
            )
        })
        .chain([
            ("ab".to_string(), "c".to_string()),
            ("a".to_string(), "bc".to_string()),
            (String::new(), String::new()),
            ("café".to_string(), "Zoë".to_string()),
        ])
        .collect();
    let names: Vec<(&[u8], &[u8])> = owned
        .iter()
        .map(|(s, u)| (s.as_bytes(), u.as_bytes()))
        .collect();
    let records = index(&names).expect("index");
    assert_eq!(records.len(), owned.len());
    for (i, (service, user)) in owned.iter().enumerate() {
        assert_eq!(records.find(service, user), Some(i), "{service} {user}");
        assert_eq!(records.names(i), (service.as_str(), user.as_str()));
    }
    let listed: Vec<(&str, &str)> = records.name_iter().collect();
    let expected: Vec<(&str, &str)> = owned
        .iter()
        .map(|(s, u)| (s.as_str(), u.as_str()))
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(records.name_iter().len(), owned.len());
    for (service, user) in [
        ("service-1.example", "user2@example.com"),
        ("user1@example.com", "service-1.example"),
        ("abc", ""),
        ("", "abc"),
        ("service-500.example", "user500@example.com"),
        ("cafe", "Zoë"),
    ] {
        assert_eq!(records.find(service, user), None, "{service} {user}");
    }
    // The records alone, as the parser without the index returns them.
    let plain = plaintext(&names);
    let alone =
        layout::parse_records(&plain, layout::ENVELOPE_PREFIX, &header(504)).expect("records");
    assert_eq!(alone.as_slice(), records.as_slice());
    assert_eq!(alone[503].service(&plain), "café");
}

#[test]
fn an_empty_index_finds_nothing() {
    let records = index(&[]).expect("index");
    assert!(records.is_empty());
    assert_eq!(records.find("", ""), None);
    assert_eq!(records.name_iter().next(), None);
    assert_eq!(records.names(0), ("", ""));
}

#[test]
fn a_name_that_is_not_utf8_on_its_own_is_refused_even_when_the_names_together_are() {
    // "é" is C3 A9: its first byte ends the service, its second starts
    // the user. Together they are valid UTF-8; neither name is.
    let bad_service: &[(&[u8], &[u8])] = &[(b"ok", b"ok"), (b"caf\xc3", b"\xa9x")];
    assert!(matches!(
        index(bad_service),
        Err(FormatError::BadUtf8 { field: "service" })
    ));
    // The user ends in the middle of a character that the next service finishes.
    let bad_user: &[(&[u8], &[u8])] = &[(b"s", b"caf\xc3"), (b"\xa9", b"u")];
    assert!(matches!(
        index(bad_user),
        Err(FormatError::BadUtf8 { field: "user" })
    ));
    // Plainly invalid bytes, in the user.
    let invalid: &[(&[u8], &[u8])] = &[(b"s", b"u"), (b"t", b"\xff")];
    assert!(matches!(
        index(invalid),
        Err(FormatError::BadUtf8 { field: "user" })
    ));
    // The same bytes, whole characters in each name, are fine.
    let fine: &[(&[u8], &[u8])] = &[(b"caf\xc3\xa9", b"\xc3\xa9x")];
    let records = index(fine).expect("valid");
    assert_eq!(records.find("café", "éx"), Some(0));
}

#[test]
fn the_same_name_twice_is_a_duplicate_wherever_it_is() {
    let mut names: Vec<(String, String)> = (0..200)
        .map(|i| (format!("s{i}"), format!("u{i}")))
        .collect();
    names.push(("s17".into(), "u17".into()));
    let bytes: Vec<(&[u8], &[u8])> = names
        .iter()
        .map(|(s, u)| (s.as_bytes(), u.as_bytes()))
        .collect();
    assert!(matches!(index(&bytes), Err(FormatError::DuplicateEntry)));
    // Same service, other user (and the reverse) is no duplicate.
    let distinct: &[(&[u8], &[u8])] = &[(b"s", b"u"), (b"s", b"v"), (b"u", b"s")];
    assert_eq!(index(distinct).expect("distinct").len(), 3);
}

#[test]
fn get_list_set_and_delete_through_the_index_of_a_large_vault() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v2.tokenvault");
    let mut auth = HmacAuthenticator::new();
    let options = CreateOptions {
        format: Format::V2,
        ..CreateOptions::default()
    };
    let vault = Vault::create(&path, &mut auth, &options, &NoPrompt).expect("create");
    let items: Vec<(String, String, String)> = (0..1500)
        .map(|i| {
            (
                format!("host-{}.example", i / 3),
                format!("user{}", i % 3),
                format!("pw-{i}"),
            )
        })
        .collect();
    let refs: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|(s, u, p)| (s.as_str(), u.as_str(), p.as_str()))
        .collect();
    vault.set_many(&refs, &mut auth, &NoPrompt).expect("fill");
    for i in [0, 1, 2, 749, 1498, 1499] {
        let (s, u, p) = &items[i];
        let got = vault.get(s, u, &mut auth, &NoPrompt).expect("get");
        assert_eq!(got.expect("present").expose_secret(), p.as_str());
        assert!(vault.contains(s, u).expect("contains"));
    }
    assert!(vault
        .get("host-500.example", "user0", &mut auth, &NoPrompt)
        .expect("get")
        .is_none());
    assert!(!vault.contains("host-1.example", "user3").expect("contains"));

    // Replacing an entry keeps its place; a new one comes last.
    vault
        .set_many(
            &[
                ("host-10.example", "user1", "changed"),
                ("new.example", "me", "new"),
                ("host-0.example", "user0", "changed too"),
            ],
            &mut auth,
            &NoPrompt,
        )
        .expect("set");
    {
        let names = vault.names().expect("names");
        let listed: Vec<(&str, &str)> = names.iter().collect();
        assert_eq!(listed.len(), 1501);
        assert_eq!(listed[0], ("host-0.example", "user0"));
        assert_eq!(listed[31], ("host-10.example", "user1"));
        assert_eq!(listed[1500], ("new.example", "me"));
    }
    for (s, u, p) in [
        ("host-10.example", "user1", "changed"),
        ("host-0.example", "user0", "changed too"),
        ("new.example", "me", "new"),
        ("host-10.example", "user2", "pw-32"),
    ] {
        let got = vault.get(s, u, &mut auth, &NoPrompt).expect("get");
        assert_eq!(got.expect("present").expose_secret(), p);
    }

    assert!(vault.delete("host-10.example", "user1").expect("delete"));
    assert!(!vault.delete("host-10.example", "user1").expect("delete"));
    assert!(!vault
        .contains("host-10.example", "user1")
        .expect("contains"));
    assert_eq!(vault.len().expect("len"), 1500);

    // The same answers from the file opened afresh.
    drop(vault);
    let vault = Vault::open(&path, &mut auth, &NoPrompt).expect("open");
    let list = vault.list().expect("list");
    assert_eq!(list.len(), 1500);
    assert_eq!(
        list[31],
        ("host-10.example".to_string(), "user2".to_string())
    );
    let got = vault
        .get("host-0.example", "user0", &mut auth, &NoPrompt)
        .expect("get");
    assert_eq!(got.expect("present").expose_secret(), "changed too");
    assert!(vault
        .get("host-10.example", "user1", &mut auth, &NoPrompt)
        .expect("get")
        .is_none());
}
