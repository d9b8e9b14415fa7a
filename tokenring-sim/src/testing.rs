//! What tests of a CTAP client written against the raw simulator need, and
//! nothing else uses: the PIN/UV auth protocols' primitives, to play the
//! platform's half by hand (encrypt a PIN, authenticate a request, decrypt
//! a token or an hmac-secret output).
//!
//! These are the simulator's own authenticator-side functions. A test that
//! wants a platform independent of the simulator uses another client
//! (`tokenring_core::Ctap2Client`, python-fido2) instead.
//!
//! ```
//! use tokenring_sim::testing::PinProtocol;
//!
//! let key = PinProtocol::Two.kdf(&[7; 32]);
//! let tag = PinProtocol::Two.authenticate(&key, b"message");
//! assert!(PinProtocol::Two.verify(&key, b"message", &tag));
//! assert_eq!(PinProtocol::from_number(1), Some(PinProtocol::One));
//! ```

pub use crate::pin_protocol::PinProtocol;
