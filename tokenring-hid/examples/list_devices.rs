//! Lists the FIDO authenticators on USB: every HID device with the FIDO
//! usage page, whether this user may open it (and what fixes it if not),
//! and for each one that opens, what its getInfo says. Nothing here needs a
//! touch. With nothing plugged in it says so and succeeds.
//!
//! ```sh
//! cargo run -p tokenring-hid --example list_devices
//! ```

use tokenring_core::{Authenticator, Ctap2Client};
use tokenring_hid::{FoundDevice, HidError};

fn main() -> Result<(), HidError> {
    let found = tokenring_hid::enumerate()?;
    if found.is_empty() {
        println!("no FIDO authenticator on USB: plug one in");
        return Ok(());
    }
    for device in found {
        show(&device);
    }
    Ok(())
}

fn show(device: &FoundDevice) {
    let info = &device.info;
    println!(
        "{} ({:04x}:{:04x}) at {}",
        info.display_name(),
        info.vendor_id,
        info.product_id,
        info.path
    );
    if let Err(problem) = &device.access {
        println!("  cannot be opened: {problem}");
        return;
    }
    // CTAPHID_INIT, then authenticatorGetInfo: no touch.
    let described = tokenring_hid::open_transport(info)
        .map_err(tokenring_core::Error::from)
        .and_then(Ctap2Client::new)
        .and_then(|mut client| client.describe());
    match described {
        Ok(about) => {
            println!("  versions: {}", about.versions.join(", "));
            println!("  hmac-secret: {}", yes_no(about.hmac_secret));
            let pin = match about.client_pin {
                Some(true) => "set",
                Some(false) => "supported, not set",
                None => "not supported",
            };
            println!("  PIN: {pin}");
            println!(
                "  always requires user verification: {}",
                yes_no(about.always_uv)
            );
        }
        Err(error) => println!("  getInfo failed: {error}"),
    }
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}
