//! A real FIDO2 card on a real PC/SC reader. Ignored by default:
//!
//! ```sh
//! cargo test -p tokenring-nfc -- --ignored real_card --nocapture
//! ```
//!
//! Hold the authenticator to the reader; tap when asked (twice). When the
//! card has a PIN, give it in `TOKENRING_TEST_PIN`. `TOKENRING_TEST_READER`
//! picks a reader (default: the first one with a FIDO applet, virtual vpcd
//! readers skipped). Nothing is stored on the card (the credential is not
//! discoverable).
#![cfg(feature = "pcsc")]

use tokenring_core::{
    Authenticator, Ctap2Client, DeriveRequest, KeepaliveStatus, Pin, PinRequest, Prompt, Salts,
    Transport, UserEntity, DEFAULT_RP_ID,
};
use tokenring_nfc::{NfcOptions, NfcTransport, PcscChannel, PcscContext};

/// Talks to the person at the reader on stderr.
struct Terminal;

impl Prompt for Terminal {
    fn touch_needed(&self, purpose: &str) {
        eprintln!("touch your authenticator to {purpose}");
    }
    fn pin(&self, _request: &PinRequest<'_>) -> Option<Pin> {
        std::env::var("TOKENRING_TEST_PIN").ok().map(Pin::new)
    }
    fn keepalive(&self, status: KeepaliveStatus) {
        if status == KeepaliveStatus::UserPresenceNeeded {
            eprintln!("(waiting for a touch)");
        }
    }
}

fn open_card(pcsc: &PcscContext) -> NfcTransport<PcscChannel> {
    let wanted = std::env::var("TOKENRING_TEST_READER").ok();
    let readers = pcsc.readers().expect("PC/SC readers");
    assert!(!readers.is_empty(), "no PC/SC reader is connected");
    let mut tried = Vec::new();
    for reader in readers {
        let chosen = match &wanted {
            Some(name) => &reader == name,
            None => !reader.starts_with("Virtual PCD"),
        };
        if !chosen {
            continue;
        }
        match pcsc.open(&reader, NfcOptions::default()) {
            Ok(transport) => return transport,
            Err(error) => tried.push(format!("{reader}: {error}")),
        }
    }
    panic!("no FIDO2 card found: {tried:?}");
}

#[test]
#[ignore = "needs a PC/SC reader with a FIDO2 card: cargo test -p tokenring-nfc -- --ignored real_card"]
fn real_card_enrolls_and_derives_hmac_secret() {
    let pcsc = PcscContext::establish().expect("pcscd is running");
    let transport = open_card(&pcsc);
    eprintln!(
        "FIDO applet {} on {}",
        transport.applet_version(),
        transport.info().name
    );
    let mut client = Ctap2Client::new(transport).expect("getInfo");
    let info = client.describe().expect("describe");
    eprintln!("{info:?}");
    assert!(info.hmac_secret, "the card lacks hmac-secret");
    let credential = client
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &Terminal)
        .expect("enrolled");
    let request = DeriveRequest {
        credential: &credential,
        rp_id: DEFAULT_RP_ID,
        salts: Salts::One([7; 32]),
        uv: info.default_derive_uv(),
        purpose: "derive (1 of 2)",
    };
    let first = client.derive(&request, &Terminal).expect("derived");
    let request = DeriveRequest {
        purpose: "derive (2 of 2)",
        ..request
    };
    let second = client.derive(&request, &Terminal).expect("derived again");
    assert_eq!(first.first.expose_secret(), second.first.expose_secret());
    assert!(client.probe(&credential, DEFAULT_RP_ID).expect("probe"));
}
