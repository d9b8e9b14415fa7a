//! tokenring-nfc
