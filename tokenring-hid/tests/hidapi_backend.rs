//! The hidapi backend without a token: enumeration runs, and opening
//! paths that are not FIDO devices fails with clear, typed errors.

#![cfg(feature = "hidapi")]

use tokenring_core::{TransportError, TransportErrorKind};
use tokenring_hid::{HidError, HidapiDevice, FIDO_USAGE_PAGE};

#[test]
fn enumeration_lists_only_fido_devices_with_access_results() {
    let found = tokenring_hid::enumerate().expect("enumeration works without devices too");
    assert_eq!(FIDO_USAGE_PAGE, 0xF1D0);
    for device in found {
        assert!(!device.info.path.is_empty());
        if let Err(e) = device.access {
            assert!(!e.to_string().is_empty());
        }
    }
}

#[test]
fn transports_can_move_to_other_threads() {
    // Several authenticators are asked for a tap at once, each on its own
    // thread (authenticatorSelection).
    fn assert_send<T: Send>() {}
    assert_send::<tokenring_hid::HidTransport<HidapiDevice>>();
}

#[test]
fn opening_a_missing_path_says_so() {
    let err = HidapiDevice::open("/nonexistent/tokenring-hidraw99")
        .err()
        .expect("no device");
    assert!(matches!(err, HidError::NotFound { .. }), "{err:?}");
    assert_eq!(
        TransportError::from(err).kind,
        TransportErrorKind::Disconnected
    );
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

#[cfg(unix)]
#[test]
fn unopenable_node_gets_the_udev_hint_and_a_plain_file_is_no_hid_device() {
    use std::os::unix::fs::PermissionsExt;

    let dir = std::env::temp_dir().join(format!("tokenring-hid-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let node = dir.join("hidraw-locked");
    std::fs::write(&node, b"").expect("file");
    std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let path = node.to_str().expect("utf-8 path");
    let err = HidapiDevice::open(path)
        .err()
        .expect("cannot be a HID device");
    if running_as_root() {
        // Root passes the permission check; hidapi then finds no HID device.
        assert!(matches!(err, HidError::Open { .. }), "{err:?}");
    } else {
        assert!(matches!(err, HidError::PermissionDenied { .. }), "{err:?}");
        let message = TransportError::from(err).message;
        assert!(
            message.contains("uaccess") && message.contains(path),
            "{message}"
        );
    }
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
