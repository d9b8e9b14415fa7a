//! The simulator as a contactless FIDO card: the card side of CTAP 2.1
//! §11.3 (NFC) over ISO/IEC 7816-4 APDUs. `iso7816` parses command APDUs
//! and names the status words, `card` is the card's state machine,
//! `pending` runs a request on the simulator's own thread.
//!
//! Written from the specifications, not from TokenRing's client:
//!
//! - ISO 7816-4 §5.1 command APDU cases 1, 2S/2E, 3S/3E, 4S/4E; command
//!   chaining (CLA bit `10`); response chaining (`61XX` and GET RESPONSE).
//! - CTAP 2.1 §11.3.3 applet selection: SELECT of AID `A0000006472F0001`
//!   answers `FIDO_2_0` (a CTAP2-only authenticator).
//! - §11.3.5 fragmentation: a short request is answered with response
//!   chaining, an extended one with one extended response.
//! - §11.3.7.1 NFCCTAP_MSG (`80 10`), P1 bit `80` = the client takes status
//!   updates; §11.3.7.2 NFCCTAP_GETRESPONSE (`80 11`), P1 `11` = cancel. While
//!   the simulator works (on its own thread) the card answers `9100` with the
//!   status byte `01` (processing) or `02` (user presence needed).
//!
//! Errors answer with the ISO status words: `6700` wrong length, `6883`
//! broken chain, `6884` chaining not supported, `6985` conditions not
//! satisfied (applet not selected, nothing to get), `6A82` application not
//! found, `6A86` wrong P1/P2, `6D00` unknown instruction, `6E00` wrong class.

mod card;
mod iso7816;
mod pending;
#[cfg(test)]
mod tests;

pub use card::{GetResponseClass, SimCard, SimCardOptions};
