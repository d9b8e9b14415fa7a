//! Errors of finding and opening HID authenticators.

use thiserror::Error;
use tokenring_core::{TransportError, TransportErrorKind};

/// The fix for a device node the user may not open (Linux hidraw).
pub const UDEV_HINT: &str = "install udev rules that give the logged-in user access to FIDO \
authenticators: your distribution's (Debian/Ubuntu: package libfido2-1 or libu2f-udev), libfido2's \
70-u2f.rules, or with systemd 244 or later its 60-fido-id.rules, which mark every hidraw device with \
the FIDO usage page 0xF1D0 for TAG+=\"uaccess\"; then unplug the authenticator and plug it in again";

/// Finding or opening a HID authenticator failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HidError {
    /// The device node exists but this user may not open it.
    #[error("permission denied opening {path}: {hint}", hint = UDEV_HINT)]
    PermissionDenied {
        /// The device path.
        path: String,
    },
    /// No device at this path (unplugged, or a wrong path).
    #[error("no HID device at {path}; plug in your authenticator")]
    NotFound {
        /// The device path.
        path: String,
    },
    /// The device could not be opened for another reason.
    #[error("cannot open the HID device {path}: {reason}")]
    Open {
        /// The device path.
        path: String,
        /// What the operating system said.
        reason: String,
    },
    /// The list of HID devices could not be read.
    #[error("cannot list HID devices: {0}")]
    Enumerate(String),
}

impl From<HidError> for TransportError {
    fn from(error: HidError) -> Self {
        let kind = match &error {
            HidError::PermissionDenied { .. } => TransportErrorKind::PermissionDenied,
            HidError::NotFound { .. } => TransportErrorKind::Disconnected,
            HidError::Open { .. } | HidError::Enumerate(_) => TransportErrorKind::Io,
        };
        TransportError::new(kind, error.to_string())
    }
}

impl HidError {
    /// Classifies the operating system's answer to opening `path`.
    pub fn from_open_error(path: &str, error: &std::io::Error) -> HidError {
        match error.kind() {
            std::io::ErrorKind::PermissionDenied => HidError::PermissionDenied {
                path: path.to_string(),
            },
            std::io::ErrorKind::NotFound => HidError::NotFound {
                path: path.to_string(),
            },
            _ => HidError::Open {
                path: path.to_string(),
                reason: error.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_denied_carries_the_udev_hint() {
        let e = HidError::from_open_error(
            "/dev/hidraw3",
            &std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert_eq!(
            e,
            HidError::PermissionDenied {
                path: "/dev/hidraw3".into()
            }
        );
        let text = e.to_string();
        assert!(text.contains("/dev/hidraw3") && text.contains("uaccess") && text.contains("udev"));
        let t: TransportError = e.into();
        assert_eq!(t.kind, TransportErrorKind::PermissionDenied);
        assert!(t.message.contains("uaccess"));
    }

    #[test]
    fn other_open_errors() {
        let e = HidError::from_open_error(
            "/dev/hidraw9",
            &std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert!(matches!(e, HidError::NotFound { .. }));
        assert_eq!(
            TransportError::from(e).kind,
            TransportErrorKind::Disconnected
        );
        let e = HidError::from_open_error("/dev/hidraw9", &std::io::Error::other("boom"));
        assert!(matches!(e, HidError::Open { .. }));
    }
}
