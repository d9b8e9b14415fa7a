//! The vault parser against arbitrary bytes: the outer file and a decrypted
//! entry list. Nothing may panic, and the fast reader of the canonical
//! layout must agree with the general (serde) reader on everything.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use tokenring_core::CredentialId;
use tokenring_vault::internal::format;
use tokenring_vault::VaultCredential;

fuzz_target!(|data: &[u8]| {
    let fast = format::parse_file(data);
    let general = format::parse_file_general(data);
    match (&fast, &general) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Err(_)) => {}
        _ => panic!("readers disagree on the outer file"),
    }
    if let Ok(file) = fast {
        // What was read is written back in the canonical layout, which reads the same.
        let mut out = Vec::new();
        format::write_file(&file.key, &file.token, &mut out).expect("writing to a Vec");
        assert_eq!(format::parse_file(&out).as_ref(), Ok(&file));
    }

    let credential = Arc::new(VaultCredential {
        rp_id: "hardware.keychain.glyph.im".to_string(),
        id: CredentialId(vec![0xc0; 32]),
    });
    let fast = format::parse_entries(data, &credential);
    let general = format::parse_entries_general(data, &credential);
    match (&fast, &general) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Err(_)) => {}
        _ => panic!("readers disagree on the entry list"),
    }
    if let Ok(entries) = fast {
        let mut out = Vec::new();
        format::write_entries(&entries, &mut out);
        assert_eq!(format::parse_entries(&out, &credential).as_ref(), Ok(&entries));
    }
});
