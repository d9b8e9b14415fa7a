//! Lists the PC/SC readers (NFC and contact) and, for each one with a FIDO
//! authenticator on it, what its getInfo says. Nothing here needs a touch.
//! When the PC/SC service (pcscd) does not run, it says how to start it and
//! exits with status 1; with no reader or no card it says so.
//!
//! ```sh
//! cargo run -p tokenring-nfc --example list_readers
//! ```

use std::process::ExitCode;

use tokenring_core::{Authenticator, Ctap2Client};
use tokenring_nfc::{NfcOptions, PcscContext};

fn main() -> ExitCode {
    let pcsc = match PcscContext::establish() {
        Ok(pcsc) => pcsc,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let readers = match pcsc.open_all(&NfcOptions::default()) {
        Ok(readers) => readers,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    if readers.is_empty() {
        println!("no PC/SC reader found: plug in a reader");
    }
    for reader in readers {
        println!("{}", reader.reader);
        let transport = match reader.opened {
            Ok(transport) => transport,
            // No card, not a FIDO card, a U2F-only applet, …: the message says which.
            Err(why) => {
                println!("  {why}");
                continue;
            }
        };
        println!("  FIDO applet {}", transport.applet_version());
        match Ctap2Client::new(transport).and_then(|mut client| client.describe()) {
            Ok(about) => {
                println!("  versions: {}", about.versions.join(", "));
                println!("  hmac-secret: {}", about.hmac_secret);
                println!("  PIN set: {:?}", about.client_pin);
            }
            Err(error) => println!("  getInfo failed: {error}"),
        }
    }
    ExitCode::SUCCESS
}
