//! Finding FIDO authenticators among the HID devices (CTAP 2.1 PS
//! 2021-06-15 §11.2.8 "HID device implementation": the report descriptor
//! has usage page 0xF1D0, usage 0x01).

use crate::error::HidError;

/// The FIDO Alliance HID usage page.
pub const FIDO_USAGE_PAGE: u16 = 0xF1D0;
/// The CTAPHID usage on the FIDO usage page.
pub const FIDO_USAGE_CTAPHID: u16 = 0x01;

/// A FIDO HID device as the operating system describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HidDeviceInfo {
    /// The path to open it with (e.g. `/dev/hidraw3`).
    pub path: String,
    /// The product string ("YubiKey OTP+FIDO+CCID"); may be empty.
    pub product: String,
    /// The manufacturer string; may be empty.
    pub manufacturer: String,
    /// The USB serial number; often empty on FIDO tokens.
    pub serial: String,
    /// USB vendor id.
    pub vendor_id: u16,
    /// USB product id.
    pub product_id: u16,
}

impl HidDeviceInfo {
    /// A name for the user: manufacturer and product, or the ids.
    pub fn display_name(&self) -> String {
        let name = match (self.manufacturer.trim(), self.product.trim()) {
            ("", "") => String::new(),
            (m, "") => m.to_string(),
            ("", p) => p.to_string(),
            (m, p) if p.starts_with(m) => p.to_string(),
            (m, p) => format!("{m} {p}"),
        };
        if name.is_empty() && self.vendor_id == 0 && self.product_id == 0 {
            format!("FIDO device at {}", self.path)
        } else if name.is_empty() {
            format!("FIDO device {:04x}:{:04x}", self.vendor_id, self.product_id)
        } else {
            name
        }
    }
}

/// One FIDO HID device found, and whether this user may open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundDevice {
    /// What the operating system says about it.
    pub info: HidDeviceInfo,
    /// `Ok` when it can be opened; otherwise why not (for
    /// [`HidError::PermissionDenied`], the message names the udev fix).
    pub access: Result<(), HidError>,
}

/// Every FIDO HID device (usage page 0xF1D0, usage 0x01), with a per-device
/// access check: a device this user may not open is listed with its error,
/// never skipped.
#[cfg(feature = "hidapi")]
pub fn enumerate() -> Result<Vec<FoundDevice>, HidError> {
    let api = hidapi::HidApi::new().map_err(|e| HidError::Enumerate(e.to_string()))?;
    let mut found: Vec<FoundDevice> = Vec::new();
    for device in api.device_list() {
        if device.usage_page() != FIDO_USAGE_PAGE || device.usage() != FIDO_USAGE_CTAPHID {
            continue;
        }
        let path = device.path().to_string_lossy().into_owned();
        if found.iter().any(|f| f.info.path == path) {
            continue;
        }
        let access = crate::hidapi_device::check_access(&path);
        found.push(FoundDevice {
            info: HidDeviceInfo {
                path,
                product: device.product_string().unwrap_or_default().to_string(),
                manufacturer: device.manufacturer_string().unwrap_or_default().to_string(),
                serial: device.serial_number().unwrap_or_default().to_string(),
                vendor_id: device.vendor_id(),
                product_id: device.product_id(),
            },
            access,
        });
    }
    found.sort_by(|a, b| a.info.path.cmp(&b.info.path));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(manufacturer: &str, product: &str) -> HidDeviceInfo {
        HidDeviceInfo {
            path: "/dev/hidraw0".into(),
            product: product.into(),
            manufacturer: manufacturer.into(),
            serial: String::new(),
            vendor_id: 0x1050,
            product_id: 0x0407,
        }
    }

    #[test]
    fn display_names() {
        assert_eq!(
            info("Yubico", "YubiKey OTP+FIDO+CCID").display_name(),
            "Yubico YubiKey OTP+FIDO+CCID"
        );
        assert_eq!(info("Yubico", "Yubico Key").display_name(), "Yubico Key");
        assert_eq!(info("", "").display_name(), "FIDO device 1050:0407");
        assert_eq!(info("Acme", "").display_name(), "Acme");
        let unlisted = HidDeviceInfo {
            vendor_id: 0,
            product_id: 0,
            ..info("", "")
        };
        assert_eq!(unlisted.display_name(), "FIDO device at /dev/hidraw0");
    }
}
