//! The format-2 parsers against arbitrary bytes: the file (preamble,
//! header, slots, envelope shape) and the envelope plaintext's entry
//! records (past the crypto, as a holder of the vault secret would see
//! them). Nothing may panic; what parses is written back to the same bytes,
//! and every record's names are found by the index.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenring_vault::internal::format2 as layout;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = layout::parse_file(data) {
        // The header is written back byte for byte.
        let mut out = Vec::new();
        layout::write_header(&parsed.header, &mut out);
        assert_eq!(out.as_slice(), parsed.signed);
        assert_eq!(&out[..], &data[..out.len()]);
        // The rest of the input as an envelope plaintext for this header.
        let rest = parsed.envelope;
        if rest.len() >= layout::ENVELOPE_PREFIX {
            if let Ok(records) = layout::index_records(rest, layout::ENVELOPE_PREFIX, &parsed.header)
            {
                for (i, r) in records.as_slice().iter().enumerate() {
                    let _ = r.token(rest);
                    // The index's names are the record's, and find them.
                    let (service, user) = records.names(i);
                    assert_eq!((r.service(rest), r.user(rest)), (service, user));
                    assert_eq!(records.find(service, user), Some(i));
                    for slot in &parsed.header.slots {
                        let _ = r.sealed_for(rest, slot.id);
                    }
                }
                assert_eq!(records.name_iter().count(), records.len());
            }
        }
    }
    // The records parser on its own, against a header with one slot and
    // counts taken from the input.
    if data.len() > 6 {
        let (head, body) = data.split_at(6);
        let header = layout::Header {
            vault_id: [0; 16],
            generation: 1,
            entry_count: u32::from(head[0]),
            next_slot_id: 2,
            slots: vec![layout::Slot {
                id: 1,
                policy: 0,
                cred_protect: 0,
                transport: 0,
                aaguid: [0; 16],
                enrolled_at: 0,
                owned: u32::from(head[1] % 4),
                legacy: u32::from(head[2] % 2),
                rp_id: "r".into(),
                credential_id: vec![1],
                label: "l".into(),
                unlock_salt: [0; 32],
                recovery_salt: [0; 32],
                entry_seed: [0; 32],
                unlock_pk: [0; 32],
                recovery_pk: [0; 32],
                vs_unlock: [0; 80],
                vs_recovery: [0; 80],
            }],
        };
        let _ = layout::parse_records(body, usize::from(head[3] % 8).min(body.len()), &header);
    }
});
