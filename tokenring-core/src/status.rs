//! CTAP status codes (CTAP 2.1 PS 2021-06-15 §8.2 "Status codes") as one
//! enum, [`Status`], with the spec's values and names. The client maps the
//! status byte of every answer through it (see [`crate::Error`]), and
//! TokenRing's simulated authenticator answers with it.
//!
//! Besides the CTAP 2.1 table it keeps the CTAP 2.0 codes that 2.1 retired
//! but tokens in the field still send (0x16 UNSUPPORTED_EXTENSION, 0x29
//! NOT_BUSY, 0x2A NO_OPERATION_PENDING, 0x38 PIN_TOKEN_EXPIRED). A byte the
//! enum has no variant for (an undefined value, or a code inside the
//! extension 0xE0–0xEF or vendor 0xF0–0xFF ranges other than their first
//! and last) is an [`UnknownStatus`] carrying the byte: never a panic.

use std::fmt;

/// One table, four uses: the enum, its byte conversion, the spec name and
/// the meaning for a user. `$spec` is the spec's description (the variant's
/// documentation); `$meaning` is what the error messages say.
macro_rules! statuses {
    ($( $variant:ident = $code:literal, $name:literal, $spec:literal, $meaning:literal; )*) => {
        /// A CTAP status code (CTAP 2.1 §8.2), the first byte of every CTAP2
        /// response; the discriminant is the spec's value
        /// (`u8::from(Status::PinInvalid) == 0x31`).
        ///
        /// ```
        /// use tokenring_core::Status;
        ///
        /// assert_eq!(Status::try_from(0x31), Ok(Status::PinInvalid));
        /// assert_eq!(u8::from(Status::NoCredentials), 0x2E);
        /// assert_eq!(Status::PinInvalid.name(), "CTAP2_ERR_PIN_INVALID");
        /// assert_eq!(Status::PinInvalid.to_string(), "CTAP2_ERR_PIN_INVALID (0x31)");
        /// // Undefined and vendor-specific bytes keep their value.
        /// assert_eq!(Status::try_from(0xF2).unwrap_err().byte(), 0xF2);
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        #[repr(u8)]
        pub enum Status {
            $(
                #[doc = concat!("`", $name, "` (", stringify!($code), "): ", $spec)]
                $variant = $code,
            )*
        }

        impl Status {
            /// Every status the enum names, in the order of their values.
            #[cfg(test)]
            const ALL: &'static [Status] = &[$(Status::$variant,)*];

            /// The spec's name: `"CTAP2_ERR_PIN_INVALID"`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Status::$variant => $name,)*
                }
            }

            /// What the status means for someone using TokenRing, in words:
            /// `"wrong PIN"`.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Status::$variant => $meaning,)*
                }
            }
        }

        impl TryFrom<u8> for Status {
            type Error = UnknownStatus;

            fn try_from(byte: u8) -> Result<Status, UnknownStatus> {
                match byte {
                    $($code => Ok(Status::$variant),)*
                    other => Err(UnknownStatus(other)),
                }
            }
        }
    };
}

statuses! {
    Ok = 0x00, "CTAP2_OK",
        "successful response (CTAP1_ERR_SUCCESS).",
        "success";
    InvalidCommand = 0x01, "CTAP1_ERR_INVALID_COMMAND",
        "the command is not a valid CTAP command.",
        "the authenticator does not know this command (it may not be a CTAP2 authenticator, or the command is newer than its firmware)";
    InvalidParameter = 0x02, "CTAP1_ERR_INVALID_PARAMETER",
        "the command included an invalid parameter.",
        "the request had an invalid parameter";
    InvalidLength = 0x03, "CTAP1_ERR_INVALID_LENGTH",
        "invalid message or item length.",
        "invalid message or item length";
    InvalidSeq = 0x04, "CTAP1_ERR_INVALID_SEQ",
        "invalid message sequencing.",
        "invalid message sequencing; try again";
    Timeout = 0x05, "CTAP1_ERR_TIMEOUT",
        "message timed out.",
        "the message timed out on the transport; try again";
    ChannelBusy = 0x06, "CTAP1_ERR_CHANNEL_BUSY",
        "channel busy; the client should retry the request after a short delay.",
        "the authenticator is busy with another program; close it (e.g. a browser asking for a touch) and try again";
    LockRequired = 0x0A, "CTAP1_ERR_LOCK_REQUIRED",
        "command requires channel lock.",
        "the command requires a channel lock";
    InvalidChannel = 0x0B, "CTAP1_ERR_INVALID_CHANNEL",
        "command not allowed on this cid.",
        "the command is not allowed on this channel; reconnect the authenticator";
    CborUnexpectedType = 0x11, "CTAP2_ERR_CBOR_UNEXPECTED_TYPE",
        "invalid/unexpected CBOR type.",
        "the authenticator found an unexpected CBOR type in the request";
    InvalidCbor = 0x12, "CTAP2_ERR_INVALID_CBOR",
        "error when parsing CBOR.",
        "the authenticator could not parse the request's CBOR";
    MissingParameter = 0x14, "CTAP2_ERR_MISSING_PARAMETER",
        "missing non-optional parameter.",
        "a mandatory request parameter is missing";
    LimitExceeded = 0x15, "CTAP2_ERR_LIMIT_EXCEEDED",
        "limit for number of items exceeded.",
        "a limit of the authenticator (number of items, sizes) was exceeded";
    UnsupportedExtension = 0x16, "CTAP2_ERR_UNSUPPORTED_EXTENSION",
        "unsupported extension (CTAP 2.0; retired in 2.1, still sent by tokens).",
        "the authenticator does not support a requested extension";
    FpDatabaseFull = 0x17, "CTAP2_ERR_FP_DATABASE_FULL",
        "fingerprint database is full.",
        "the fingerprint database is full; remove a fingerprint";
    LargeBlobStorageFull = 0x18, "CTAP2_ERR_LARGE_BLOB_STORAGE_FULL",
        "large blob storage is full.",
        "the large-blob storage is full";
    CredentialExcluded = 0x19, "CTAP2_ERR_CREDENTIAL_EXCLUDED",
        "valid credential found in the exclude list.",
        "the authenticator already holds an excluded credential";
    Processing = 0x21, "CTAP2_ERR_PROCESSING",
        "processing (lengthy operation is in progress).",
        "the authenticator is still processing";
    InvalidCredential = 0x22, "CTAP2_ERR_INVALID_CREDENTIAL",
        "credential not valid for the authenticator.",
        "the credential is not valid for this authenticator";
    UserActionPending = 0x23, "CTAP2_ERR_USER_ACTION_PENDING",
        "authentication is waiting for user interaction.",
        "the authenticator waits for user interaction";
    OperationPending = 0x24, "CTAP2_ERR_OPERATION_PENDING",
        "processing, lengthy operation is in progress.",
        "a lengthy operation is in progress; try again later";
    NoOperations = 0x25, "CTAP2_ERR_NO_OPERATIONS",
        "no request is pending.",
        "no request is pending";
    UnsupportedAlgorithm = 0x26, "CTAP2_ERR_UNSUPPORTED_ALGORITHM",
        "authenticator does not support requested algorithm.",
        "the authenticator does not support the requested algorithm (ES256)";
    OperationDenied = 0x27, "CTAP2_ERR_OPERATION_DENIED",
        "not authorized for requested operation.",
        "the operation was denied on the authenticator";
    KeyStoreFull = 0x28, "CTAP2_ERR_KEY_STORE_FULL",
        "internal key storage is full.",
        "the authenticator's key storage is full";
    NotBusy = 0x29, "CTAP2_ERR_NOT_BUSY",
        "no outstanding operations (CTAP 2.0; not used in 2.1).",
        "no outstanding operation (CTAP 2.0)";
    NoOperationPending = 0x2A, "CTAP2_ERR_NO_OPERATION_PENDING",
        "no operation pending (CTAP 2.0; not used in 2.1).",
        "no operation pending (CTAP 2.0)";
    UnsupportedOption = 0x2B, "CTAP2_ERR_UNSUPPORTED_OPTION",
        "unsupported option.",
        "the authenticator does not support a requested option";
    InvalidOption = 0x2C, "CTAP2_ERR_INVALID_OPTION",
        "not a valid option for current operation.",
        "an option is not valid for this operation";
    KeepaliveCancel = 0x2D, "CTAP2_ERR_KEEPALIVE_CANCEL",
        "pending keep alive was cancelled.",
        "the operation was cancelled";
    NoCredentials = 0x2E, "CTAP2_ERR_NO_CREDENTIALS",
        "no valid credentials provided.",
        "the authenticator does not hold the credential";
    UserActionTimeout = 0x2F, "CTAP2_ERR_USER_ACTION_TIMEOUT",
        "a user action timeout occurred.",
        "the authenticator was not touched in time";
    NotAllowed = 0x30, "CTAP2_ERR_NOT_ALLOWED",
        "continuation command, such as authenticatorGetNextAssertion, not allowed.",
        "the command is not allowed now";
    PinInvalid = 0x31, "CTAP2_ERR_PIN_INVALID",
        "PIN invalid.",
        "wrong PIN";
    PinBlocked = 0x32, "CTAP2_ERR_PIN_BLOCKED",
        "PIN blocked.",
        "the PIN is blocked; only a reset helps";
    PinAuthInvalid = 0x33, "CTAP2_ERR_PIN_AUTH_INVALID",
        "PIN authentication (pinUvAuthParam) verification failed.",
        "the PIN/UV authentication (pinUvAuthParam) did not verify";
    PinAuthBlocked = 0x34, "CTAP2_ERR_PIN_AUTH_BLOCKED",
        "PIN authentication using pinUvAuthToken blocked; requires power cycle to reset.",
        "too many wrong PINs in a row; power-cycle the authenticator";
    PinNotSet = 0x35, "CTAP2_ERR_PIN_NOT_SET",
        "no PIN has been set.",
        "no PIN is set";
    PuatRequired = 0x36, "CTAP2_ERR_PUAT_REQUIRED",
        "a pinUvAuthToken is required for the selected operation (CTAP 2.0: PIN_REQUIRED).",
        "the operation needs user verification (a PIN/UV auth token)";
    PinPolicyViolation = 0x37, "CTAP2_ERR_PIN_POLICY_VIOLATION",
        "PIN policy violation.",
        "the PIN does not meet the authenticator's policy";
    PinTokenExpired = 0x38, "CTAP2_ERR_PIN_TOKEN_EXPIRED",
        "PIN token expired (CTAP 2.0; reserved for future use in 2.1).",
        "the PIN token expired (CTAP 2.0; reserved in 2.1)";
    RequestTooLarge = 0x39, "CTAP2_ERR_REQUEST_TOO_LARGE",
        "authenticator cannot handle this request due to memory constraints.",
        "the request is too large for the authenticator";
    ActionTimeout = 0x3A, "CTAP2_ERR_ACTION_TIMEOUT",
        "the current operation has timed out.",
        "the operation timed out on the authenticator";
    UpRequired = 0x3B, "CTAP2_ERR_UP_REQUIRED",
        "user presence is required for the requested operation.",
        "user presence (a touch) is required";
    UvBlocked = 0x3C, "CTAP2_ERR_UV_BLOCKED",
        "built-in user verification is disabled.",
        "built-in user verification is blocked";
    IntegrityFailure = 0x3D, "CTAP2_ERR_INTEGRITY_FAILURE",
        "a checksum did not match.",
        "a checksum did not match";
    InvalidSubcommand = 0x3E, "CTAP2_ERR_INVALID_SUBCOMMAND",
        "the requested subcommand is either invalid or not implemented.",
        "the subcommand is invalid or not implemented";
    UvInvalid = 0x3F, "CTAP2_ERR_UV_INVALID",
        "built-in user verification unsuccessful.",
        "built-in user verification failed";
    UnauthorizedPermission = 0x40, "CTAP2_ERR_UNAUTHORIZED_PERMISSION",
        "the permissions parameter contains an unauthorized permission.",
        "the PIN/UV auth token lacks a needed permission";
    Other = 0x7F, "CTAP1_ERR_OTHER",
        "other unspecified error.",
        "other unspecified error";
    SpecLast = 0xDF, "CTAP2_ERR_SPEC_LAST",
        "CTAP 2 spec last error.",
        "last spec-defined error code";
    ExtensionFirst = 0xE0, "CTAP2_ERR_EXTENSION_FIRST",
        "extension specific error (first of the range 0xE0–0xEF).",
        "an extension-specific error";
    ExtensionLast = 0xEF, "CTAP2_ERR_EXTENSION_LAST",
        "extension specific error (last of the range 0xE0–0xEF).",
        "an extension-specific error";
    VendorFirst = 0xF0, "CTAP2_ERR_VENDOR_FIRST",
        "vendor specific error (first of the range 0xF0–0xFF).",
        "a vendor-specific error; see the authenticator maker's documentation";
    VendorLast = 0xFF, "CTAP2_ERR_VENDOR_LAST",
        "vendor specific error (last of the range 0xF0–0xFF).",
        "a vendor-specific error; see the authenticator maker's documentation";
}

impl From<Status> for u8 {
    fn from(status: Status) -> u8 {
        status as u8
    }
}

impl fmt::Display for Status {
    /// The spec name and the value: `CTAP2_ERR_PIN_INVALID (0x31)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:02X})", self.name(), u8::from(*self))
    }
}

/// A status byte [`Status`] has no variant for: a value the specification
/// does not define, or an extension- or vendor-specific code inside those
/// ranges. It keeps the byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnknownStatus(u8);

impl UnknownStatus {
    /// The byte the authenticator sent.
    pub fn byte(self) -> u8 {
        self.0
    }
}

impl fmt::Display for UnknownStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "status 0x{:02X}: {}", self.0, unnamed_meaning(self.0))
    }
}

impl std::error::Error for UnknownStatus {}

/// What a byte without a [`Status`] variant means: the range it falls in.
fn unnamed_meaning(byte: u8) -> &'static str {
    let extension = u8::from(Status::ExtensionFirst)..=u8::from(Status::ExtensionLast);
    let vendor = u8::from(Status::VendorFirst)..=u8::from(Status::VendorLast);
    if extension.contains(&byte) {
        Status::ExtensionFirst.meaning()
    } else if vendor.contains(&byte) {
        Status::VendorFirst.meaning()
    } else {
        "a status code the CTAP 2.1 specification does not define"
    }
}

/// The name, value and meaning of a status byte, for messages:
/// `"CTAP2_ERR_PIN_INVALID (0x31): wrong PIN"`, or
/// `"status 0xF2: a vendor-specific error; …"` for a byte without a name.
pub(crate) fn describe(byte: u8) -> String {
    match Status::try_from(byte) {
        Ok(status) => format!("{status}: {}", status.meaning()),
        Err(unknown) => unknown.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_values_and_names() {
        // Spot checks against the CTAP 2.1 §8.2 table.
        for (byte, name) in [
            (0x00, "CTAP2_OK"),
            (0x16, "CTAP2_ERR_UNSUPPORTED_EXTENSION"),
            (0x2E, "CTAP2_ERR_NO_CREDENTIALS"),
            (0x31, "CTAP2_ERR_PIN_INVALID"),
            (0x36, "CTAP2_ERR_PUAT_REQUIRED"),
            (0x40, "CTAP2_ERR_UNAUTHORIZED_PERMISSION"),
            (0x7F, "CTAP1_ERR_OTHER"),
            (0xDF, "CTAP2_ERR_SPEC_LAST"),
            (0xE0, "CTAP2_ERR_EXTENSION_FIRST"),
            (0xFF, "CTAP2_ERR_VENDOR_LAST"),
        ] {
            let status = Status::try_from(byte).expect("a named status");
            assert_eq!(status.name(), name);
            assert_eq!(u8::from(status), byte);
        }
        assert_eq!(
            describe(0x2F),
            "CTAP2_ERR_USER_ACTION_TIMEOUT (0x2F): the authenticator was not touched in time"
        );
        assert!(describe(0x50).starts_with("status 0x50: "));
        assert!(describe(0xE5).contains("extension-specific"));
        assert!(describe(0xF3).contains("vendor-specific"));
    }

    #[test]
    fn every_byte_converts_and_named_ones_round_trip() {
        let mut named = 0;
        for byte in 0..=255u8 {
            match Status::try_from(byte) {
                Ok(status) => {
                    named += 1;
                    assert_eq!(u8::from(status), byte);
                    assert!(status.name().starts_with("CTAP"), "{status}");
                    assert!(!status.meaning().is_empty());
                }
                Err(unknown) => {
                    assert_eq!(unknown.byte(), byte);
                    assert!(!unknown.to_string().is_empty());
                }
            }
        }
        assert_eq!(named, Status::ALL.len());
    }

    #[test]
    fn the_table_has_unique_values_and_names_in_order() {
        for pair in Status::ALL.windows(2) {
            if let [a, b] = pair {
                assert!(u8::from(*a) < u8::from(*b), "{a} before {b}");
                assert_ne!(a.name(), b.name());
            }
        }
    }
}
