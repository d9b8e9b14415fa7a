//! CTAP status codes (CTAP 2.1 §8.2), with their spec values.

/// CTAP2_OK / CTAP1_ERR_SUCCESS.
pub const CTAP2_OK: u8 = 0x00;

/// A short name and meaning of a CTAP status code, for messages.
pub fn describe(code: u8) -> String {
    format!("status 0x{code:02X}")
}
