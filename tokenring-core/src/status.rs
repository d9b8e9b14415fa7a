//! CTAP status codes (CTAP 2.1 PS 2021-06-15 §8.2 "Status codes"), with
//! their spec values, names and what they mean for a TokenRing user.

/// CTAP1_ERR_SUCCESS / CTAP2_OK: successful response.
pub const CTAP2_OK: u8 = 0x00;
/// CTAP1_ERR_INVALID_COMMAND: the command is not a valid CTAP command.
pub const CTAP1_ERR_INVALID_COMMAND: u8 = 0x01;
/// CTAP1_ERR_INVALID_PARAMETER: the command included an invalid parameter.
pub const CTAP1_ERR_INVALID_PARAMETER: u8 = 0x02;
/// CTAP1_ERR_INVALID_LENGTH: invalid message or item length.
pub const CTAP1_ERR_INVALID_LENGTH: u8 = 0x03;
/// CTAP1_ERR_INVALID_SEQ: invalid message sequencing.
pub const CTAP1_ERR_INVALID_SEQ: u8 = 0x04;
/// CTAP1_ERR_TIMEOUT: message timed out.
pub const CTAP1_ERR_TIMEOUT: u8 = 0x05;
/// CTAP1_ERR_CHANNEL_BUSY: channel busy (another client uses the device).
pub const CTAP1_ERR_CHANNEL_BUSY: u8 = 0x06;
/// CTAP1_ERR_LOCK_REQUIRED: the command requires a channel lock.
pub const CTAP1_ERR_LOCK_REQUIRED: u8 = 0x0A;
/// CTAP1_ERR_INVALID_CHANNEL: the command is not allowed on this channel.
pub const CTAP1_ERR_INVALID_CHANNEL: u8 = 0x0B;
/// CTAP2_ERR_CBOR_UNEXPECTED_TYPE: invalid or unexpected CBOR type.
pub const CTAP2_ERR_CBOR_UNEXPECTED_TYPE: u8 = 0x11;
/// CTAP2_ERR_INVALID_CBOR: error when parsing CBOR.
pub const CTAP2_ERR_INVALID_CBOR: u8 = 0x12;
/// CTAP2_ERR_MISSING_PARAMETER: a mandatory parameter is missing.
pub const CTAP2_ERR_MISSING_PARAMETER: u8 = 0x14;
/// CTAP2_ERR_LIMIT_EXCEEDED: limit for the number of items exceeded.
pub const CTAP2_ERR_LIMIT_EXCEEDED: u8 = 0x15;
/// CTAP2_ERR_UNSUPPORTED_EXTENSION: unsupported extension (CTAP 2.0; kept by many tokens).
pub const CTAP2_ERR_UNSUPPORTED_EXTENSION: u8 = 0x16;
/// CTAP2_ERR_FP_DATABASE_FULL: the fingerprint database is full.
pub const CTAP2_ERR_FP_DATABASE_FULL: u8 = 0x17;
/// CTAP2_ERR_LARGE_BLOB_STORAGE_FULL: the large-blob storage is full.
pub const CTAP2_ERR_LARGE_BLOB_STORAGE_FULL: u8 = 0x18;
/// CTAP2_ERR_CREDENTIAL_EXCLUDED: a valid credential was found in the exclude list.
pub const CTAP2_ERR_CREDENTIAL_EXCLUDED: u8 = 0x19;
/// CTAP2_ERR_PROCESSING: processing (lengthy operation in progress).
pub const CTAP2_ERR_PROCESSING: u8 = 0x21;
/// CTAP2_ERR_INVALID_CREDENTIAL: credential not valid for the authenticator.
pub const CTAP2_ERR_INVALID_CREDENTIAL: u8 = 0x22;
/// CTAP2_ERR_USER_ACTION_PENDING: authentication is waiting for user interaction.
pub const CTAP2_ERR_USER_ACTION_PENDING: u8 = 0x23;
/// CTAP2_ERR_OPERATION_PENDING: processing, lengthy operation in progress.
pub const CTAP2_ERR_OPERATION_PENDING: u8 = 0x24;
/// CTAP2_ERR_NO_OPERATIONS: no request is pending.
pub const CTAP2_ERR_NO_OPERATIONS: u8 = 0x25;
/// CTAP2_ERR_UNSUPPORTED_ALGORITHM: the authenticator does not support the requested algorithm.
pub const CTAP2_ERR_UNSUPPORTED_ALGORITHM: u8 = 0x26;
/// CTAP2_ERR_OPERATION_DENIED: not authorized for the requested operation.
pub const CTAP2_ERR_OPERATION_DENIED: u8 = 0x27;
/// CTAP2_ERR_KEY_STORE_FULL: internal key storage is full.
pub const CTAP2_ERR_KEY_STORE_FULL: u8 = 0x28;
/// CTAP2_ERR_NOT_BUSY (CTAP 2.0; not used in 2.1): no outstanding operations.
pub const CTAP2_ERR_NOT_BUSY: u8 = 0x29;
/// CTAP2_ERR_NO_OPERATION_PENDING (CTAP 2.0; not used in 2.1).
pub const CTAP2_ERR_NO_OPERATION_PENDING: u8 = 0x2A;
/// CTAP2_ERR_UNSUPPORTED_OPTION: unsupported option.
pub const CTAP2_ERR_UNSUPPORTED_OPTION: u8 = 0x2B;
/// CTAP2_ERR_INVALID_OPTION: not a valid option for the current operation.
pub const CTAP2_ERR_INVALID_OPTION: u8 = 0x2C;
/// CTAP2_ERR_KEEPALIVE_CANCEL: pending keep-alive was cancelled.
pub const CTAP2_ERR_KEEPALIVE_CANCEL: u8 = 0x2D;
/// CTAP2_ERR_NO_CREDENTIALS: no valid credentials provided.
pub const CTAP2_ERR_NO_CREDENTIALS: u8 = 0x2E;
/// CTAP2_ERR_USER_ACTION_TIMEOUT: a user action timeout occurred.
pub const CTAP2_ERR_USER_ACTION_TIMEOUT: u8 = 0x2F;
/// CTAP2_ERR_NOT_ALLOWED: continuation command not allowed.
pub const CTAP2_ERR_NOT_ALLOWED: u8 = 0x30;
/// CTAP2_ERR_PIN_INVALID: PIN invalid.
pub const CTAP2_ERR_PIN_INVALID: u8 = 0x31;
/// CTAP2_ERR_PIN_BLOCKED: PIN blocked.
pub const CTAP2_ERR_PIN_BLOCKED: u8 = 0x32;
/// CTAP2_ERR_PIN_AUTH_INVALID: PIN authentication (pinUvAuthParam) verification failed.
pub const CTAP2_ERR_PIN_AUTH_INVALID: u8 = 0x33;
/// CTAP2_ERR_PIN_AUTH_BLOCKED: PIN authentication blocked; requires a power cycle.
pub const CTAP2_ERR_PIN_AUTH_BLOCKED: u8 = 0x34;
/// CTAP2_ERR_PIN_NOT_SET: no PIN has been set.
pub const CTAP2_ERR_PIN_NOT_SET: u8 = 0x35;
/// CTAP2_ERR_PUAT_REQUIRED: a pinUvAuthToken is required (CTAP 2.0: PIN_REQUIRED).
pub const CTAP2_ERR_PUAT_REQUIRED: u8 = 0x36;
/// CTAP2_ERR_PIN_POLICY_VIOLATION: PIN policy violation.
pub const CTAP2_ERR_PIN_POLICY_VIOLATION: u8 = 0x37;
/// Reserved for future use (CTAP 2.0: CTAP2_ERR_PIN_TOKEN_EXPIRED).
pub const CTAP2_ERR_PIN_TOKEN_EXPIRED: u8 = 0x38;
/// CTAP2_ERR_REQUEST_TOO_LARGE: the authenticator cannot handle this request due to memory constraints.
pub const CTAP2_ERR_REQUEST_TOO_LARGE: u8 = 0x39;
/// CTAP2_ERR_ACTION_TIMEOUT: the current operation has timed out.
pub const CTAP2_ERR_ACTION_TIMEOUT: u8 = 0x3A;
/// CTAP2_ERR_UP_REQUIRED: user presence is required for the requested operation.
pub const CTAP2_ERR_UP_REQUIRED: u8 = 0x3B;
/// CTAP2_ERR_UV_BLOCKED: built-in user verification is disabled.
pub const CTAP2_ERR_UV_BLOCKED: u8 = 0x3C;
/// CTAP2_ERR_INTEGRITY_FAILURE: a checksum did not match.
pub const CTAP2_ERR_INTEGRITY_FAILURE: u8 = 0x3D;
/// CTAP2_ERR_INVALID_SUBCOMMAND: the requested subcommand is invalid or not implemented.
pub const CTAP2_ERR_INVALID_SUBCOMMAND: u8 = 0x3E;
/// CTAP2_ERR_UV_INVALID: built-in user verification unsuccessful.
pub const CTAP2_ERR_UV_INVALID: u8 = 0x3F;
/// CTAP2_ERR_UNAUTHORIZED_PERMISSION: the permissions parameter contains an unauthorized permission.
pub const CTAP2_ERR_UNAUTHORIZED_PERMISSION: u8 = 0x40;
/// CTAP1_ERR_OTHER: other unspecified error.
pub const CTAP1_ERR_OTHER: u8 = 0x7F;
/// CTAP2_ERR_SPEC_LAST: last spec-defined error code.
pub const CTAP2_ERR_SPEC_LAST: u8 = 0xDF;
/// CTAP2_ERR_EXTENSION_FIRST: first extension-specific error code.
pub const CTAP2_ERR_EXTENSION_FIRST: u8 = 0xE0;
/// CTAP2_ERR_EXTENSION_LAST: last extension-specific error code.
pub const CTAP2_ERR_EXTENSION_LAST: u8 = 0xEF;
/// CTAP2_ERR_VENDOR_FIRST: first vendor-specific error code.
pub const CTAP2_ERR_VENDOR_FIRST: u8 = 0xF0;
/// CTAP2_ERR_VENDOR_LAST: last vendor-specific error code.
pub const CTAP2_ERR_VENDOR_LAST: u8 = 0xFF;

/// Every status code defined by CTAP 2.1 §8.2 (plus the CTAP 2.0 codes
/// 2.1 retired but tokens still send): `(code, name, meaning)`.
pub const KNOWN: &[(u8, &str, &str)] = &[
    (CTAP2_OK, "CTAP2_OK", "success"),
    (CTAP1_ERR_INVALID_COMMAND, "CTAP1_ERR_INVALID_COMMAND", "the authenticator does not know this command (it may not be a CTAP2 authenticator, or the command is newer than its firmware)"),
    (CTAP1_ERR_INVALID_PARAMETER, "CTAP1_ERR_INVALID_PARAMETER", "the request had an invalid parameter"),
    (CTAP1_ERR_INVALID_LENGTH, "CTAP1_ERR_INVALID_LENGTH", "invalid message or item length"),
    (CTAP1_ERR_INVALID_SEQ, "CTAP1_ERR_INVALID_SEQ", "invalid message sequencing; try again"),
    (CTAP1_ERR_TIMEOUT, "CTAP1_ERR_TIMEOUT", "the message timed out on the transport; try again"),
    (CTAP1_ERR_CHANNEL_BUSY, "CTAP1_ERR_CHANNEL_BUSY", "the authenticator is busy with another program; close it (e.g. a browser asking for a touch) and try again"),
    (CTAP1_ERR_LOCK_REQUIRED, "CTAP1_ERR_LOCK_REQUIRED", "the command requires a channel lock"),
    (CTAP1_ERR_INVALID_CHANNEL, "CTAP1_ERR_INVALID_CHANNEL", "the command is not allowed on this channel; reconnect the authenticator"),
    (CTAP2_ERR_CBOR_UNEXPECTED_TYPE, "CTAP2_ERR_CBOR_UNEXPECTED_TYPE", "the authenticator found an unexpected CBOR type in the request"),
    (CTAP2_ERR_INVALID_CBOR, "CTAP2_ERR_INVALID_CBOR", "the authenticator could not parse the request's CBOR"),
    (CTAP2_ERR_MISSING_PARAMETER, "CTAP2_ERR_MISSING_PARAMETER", "a mandatory request parameter is missing"),
    (CTAP2_ERR_LIMIT_EXCEEDED, "CTAP2_ERR_LIMIT_EXCEEDED", "a limit of the authenticator (number of items, sizes) was exceeded"),
    (CTAP2_ERR_UNSUPPORTED_EXTENSION, "CTAP2_ERR_UNSUPPORTED_EXTENSION", "the authenticator does not support a requested extension"),
    (CTAP2_ERR_FP_DATABASE_FULL, "CTAP2_ERR_FP_DATABASE_FULL", "the fingerprint database is full; remove a fingerprint"),
    (CTAP2_ERR_LARGE_BLOB_STORAGE_FULL, "CTAP2_ERR_LARGE_BLOB_STORAGE_FULL", "the large-blob storage is full"),
    (CTAP2_ERR_CREDENTIAL_EXCLUDED, "CTAP2_ERR_CREDENTIAL_EXCLUDED", "the authenticator already holds an excluded credential"),
    (CTAP2_ERR_PROCESSING, "CTAP2_ERR_PROCESSING", "the authenticator is still processing"),
    (CTAP2_ERR_INVALID_CREDENTIAL, "CTAP2_ERR_INVALID_CREDENTIAL", "the credential is not valid for this authenticator"),
    (CTAP2_ERR_USER_ACTION_PENDING, "CTAP2_ERR_USER_ACTION_PENDING", "the authenticator waits for user interaction"),
    (CTAP2_ERR_OPERATION_PENDING, "CTAP2_ERR_OPERATION_PENDING", "a lengthy operation is in progress; try again later"),
    (CTAP2_ERR_NO_OPERATIONS, "CTAP2_ERR_NO_OPERATIONS", "no request is pending"),
    (CTAP2_ERR_UNSUPPORTED_ALGORITHM, "CTAP2_ERR_UNSUPPORTED_ALGORITHM", "the authenticator does not support the requested algorithm (ES256)"),
    (CTAP2_ERR_OPERATION_DENIED, "CTAP2_ERR_OPERATION_DENIED", "the operation was denied on the authenticator"),
    (CTAP2_ERR_KEY_STORE_FULL, "CTAP2_ERR_KEY_STORE_FULL", "the authenticator's key storage is full"),
    (CTAP2_ERR_NOT_BUSY, "CTAP2_ERR_NOT_BUSY", "no outstanding operation (CTAP 2.0)"),
    (CTAP2_ERR_NO_OPERATION_PENDING, "CTAP2_ERR_NO_OPERATION_PENDING", "no operation pending (CTAP 2.0)"),
    (CTAP2_ERR_UNSUPPORTED_OPTION, "CTAP2_ERR_UNSUPPORTED_OPTION", "the authenticator does not support a requested option"),
    (CTAP2_ERR_INVALID_OPTION, "CTAP2_ERR_INVALID_OPTION", "an option is not valid for this operation"),
    (CTAP2_ERR_KEEPALIVE_CANCEL, "CTAP2_ERR_KEEPALIVE_CANCEL", "the operation was cancelled"),
    (CTAP2_ERR_NO_CREDENTIALS, "CTAP2_ERR_NO_CREDENTIALS", "the authenticator does not hold the credential"),
    (CTAP2_ERR_USER_ACTION_TIMEOUT, "CTAP2_ERR_USER_ACTION_TIMEOUT", "the authenticator was not touched in time"),
    (CTAP2_ERR_NOT_ALLOWED, "CTAP2_ERR_NOT_ALLOWED", "the command is not allowed now"),
    (CTAP2_ERR_PIN_INVALID, "CTAP2_ERR_PIN_INVALID", "wrong PIN"),
    (CTAP2_ERR_PIN_BLOCKED, "CTAP2_ERR_PIN_BLOCKED", "the PIN is blocked; only a reset helps"),
    (CTAP2_ERR_PIN_AUTH_INVALID, "CTAP2_ERR_PIN_AUTH_INVALID", "the PIN/UV authentication (pinUvAuthParam) did not verify"),
    (CTAP2_ERR_PIN_AUTH_BLOCKED, "CTAP2_ERR_PIN_AUTH_BLOCKED", "too many wrong PINs in a row; power-cycle the authenticator"),
    (CTAP2_ERR_PIN_NOT_SET, "CTAP2_ERR_PIN_NOT_SET", "no PIN is set"),
    (CTAP2_ERR_PUAT_REQUIRED, "CTAP2_ERR_PUAT_REQUIRED", "the operation needs user verification (a PIN/UV auth token)"),
    (CTAP2_ERR_PIN_POLICY_VIOLATION, "CTAP2_ERR_PIN_POLICY_VIOLATION", "the PIN does not meet the authenticator's policy"),
    (CTAP2_ERR_PIN_TOKEN_EXPIRED, "CTAP2_ERR_PIN_TOKEN_EXPIRED", "the PIN token expired (CTAP 2.0; reserved in 2.1)"),
    (CTAP2_ERR_REQUEST_TOO_LARGE, "CTAP2_ERR_REQUEST_TOO_LARGE", "the request is too large for the authenticator"),
    (CTAP2_ERR_ACTION_TIMEOUT, "CTAP2_ERR_ACTION_TIMEOUT", "the operation timed out on the authenticator"),
    (CTAP2_ERR_UP_REQUIRED, "CTAP2_ERR_UP_REQUIRED", "user presence (a touch) is required"),
    (CTAP2_ERR_UV_BLOCKED, "CTAP2_ERR_UV_BLOCKED", "built-in user verification is blocked"),
    (CTAP2_ERR_INTEGRITY_FAILURE, "CTAP2_ERR_INTEGRITY_FAILURE", "a checksum did not match"),
    (CTAP2_ERR_INVALID_SUBCOMMAND, "CTAP2_ERR_INVALID_SUBCOMMAND", "the subcommand is invalid or not implemented"),
    (CTAP2_ERR_UV_INVALID, "CTAP2_ERR_UV_INVALID", "built-in user verification failed"),
    (CTAP2_ERR_UNAUTHORIZED_PERMISSION, "CTAP2_ERR_UNAUTHORIZED_PERMISSION", "the PIN/UV auth token lacks a needed permission"),
    (CTAP1_ERR_OTHER, "CTAP1_ERR_OTHER", "other unspecified error"),
    (CTAP2_ERR_SPEC_LAST, "CTAP2_ERR_SPEC_LAST", "last spec-defined error code"),
];

/// The spec name of a status code (`CTAP2_ERR_PIN_INVALID`), or the name of
/// its range (`CTAP2_ERR_EXTENSION_*`, `CTAP2_ERR_VENDOR_*`), or `None` for
/// an undefined code.
pub fn name(code: u8) -> Option<&'static str> {
    if let Some((_, name, _)) = KNOWN.iter().find(|(c, _, _)| *c == code) {
        return Some(name);
    }
    match code {
        CTAP2_ERR_EXTENSION_FIRST..=CTAP2_ERR_EXTENSION_LAST => Some("CTAP2_ERR_EXTENSION_*"),
        CTAP2_ERR_VENDOR_FIRST..=CTAP2_ERR_VENDOR_LAST => Some("CTAP2_ERR_VENDOR_*"),
        _ => None,
    }
}

/// What a status code means, in words.
pub fn meaning(code: u8) -> &'static str {
    if let Some((_, _, meaning)) = KNOWN.iter().find(|(c, _, _)| *c == code) {
        return meaning;
    }
    match code {
        CTAP2_ERR_EXTENSION_FIRST..=CTAP2_ERR_EXTENSION_LAST => "an extension-specific error",
        CTAP2_ERR_VENDOR_FIRST..=CTAP2_ERR_VENDOR_LAST => {
            "a vendor-specific error; see the authenticator maker's documentation"
        }
        _ => "a status code the CTAP 2.1 specification does not define",
    }
}

/// A short name and meaning of a CTAP status code, for messages:
/// `"CTAP2_ERR_PIN_INVALID (0x31): wrong PIN"`.
pub fn describe(code: u8) -> String {
    match name(code) {
        Some(name) => format!("{name} (0x{code:02X}): {}", meaning(code)),
        None => format!("status 0x{code:02X}: {}", meaning(code)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_values_and_names() {
        // Spot checks against CTAP 2.1 §8.2.
        assert_eq!(name(0x31), Some("CTAP2_ERR_PIN_INVALID"));
        assert_eq!(name(0x2E), Some("CTAP2_ERR_NO_CREDENTIALS"));
        assert_eq!(name(0x40), Some("CTAP2_ERR_UNAUTHORIZED_PERMISSION"));
        assert_eq!(name(0xE5), Some("CTAP2_ERR_EXTENSION_*"));
        assert_eq!(name(0xF3), Some("CTAP2_ERR_VENDOR_*"));
        assert_eq!(name(0x50), None);
        assert_eq!(
            describe(0x2F),
            "CTAP2_ERR_USER_ACTION_TIMEOUT (0x2F): the authenticator was not touched in time"
        );
        assert!(describe(0x50).starts_with("status 0x50"));
    }

    #[test]
    fn table_has_unique_codes() {
        for (i, (a, _, _)) in KNOWN.iter().enumerate() {
            for (b, _, _) in KNOWN.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
    }
}
