//! The agent's wire protocol: length-prefixed, versioned frames carrying one
//! JSON message each, simple enough for a few lines of Python.
//!
//! # Frames
//!
//! ```text
//! +----------------------+-------------+------------------------------+
//! | length: u32 big end. | version: u8 | body: UTF-8 JSON (length-1)  |
//! +----------------------+-------------+------------------------------+
//! ```
//!
//! `length` counts the version byte and the body; it is at least 2 and at
//! most [`MAX_FRAME_LEN`] (64 KiB). [`PROTOCOL_VERSION`] is 1. A frame that
//! breaks these rules, or whose body is not a message below, is answered
//! with an `error` message and the connection is closed.
//!
//! # Messages
//!
//! Every body is a JSON object with a `"type"` field. A client sends one
//! request and then reads frames until the final reply; while the agent
//! works it may send events (`touch`, `touch_done`, `keepalive`, `info`,
//! `pin_request`; and for `list`, `names_part` frames before the final
//! `names` when the names do not fit in one frame). The client answers a `pin_request` with a `pin` message
//! and may send `cancel` at any time; closing the connection also cancels.
//!
//! | client → agent | fields | final reply |
//! |---|---|---|
//! | `get` | `service`, `user` | `password` (`password`: string or null) |
//! | `get_many` | `names`: `[{"service", "user"}]` | `passwords` (`passwords`: `[string]` in the order asked, and `missing`: `[]`; or, when any entry is absent, `passwords`: `[]` and `missing`: the absent names' indices, and no password was read) |
//! | `set` | `service`, `user`, `password` | `done` |
//! | `delete` | `service`, `user` | `deleted` (`existed`: bool) |
//! | `list` | | `names` (`names`: `[{"service", "user"}]`), after as many `names_part` events (same shape) as the names need |
//! | `lock` | | `done` |
//! | `status` | | `status` (see [`StatusReport`]) |
//! | `cancel` | | (the running request ends with an `error` of kind `cancelled`) |
//! | `pin` | `pin`: string, or null to decline | (answers a `pin_request`) |
//!
//! Any request may instead end with `error` ([`WireError`]: `kind`,
//! `message`, and details). Unknown fields are ignored, for later versions.

mod decoding;
mod errors;
mod framing;
mod messages;

// The Rust types of the messages and frames, for the agent, its client and
// the fuzz targets: not part of the library API (a Rust program talks to the
// agent through `AgentClient`; programs in other languages follow the
// documentation above).
#[doc(hidden)]
pub use decoding::Decode;
#[doc(hidden)]
pub use errors::{ErrorKind, WireError};
#[doc(hidden)]
pub use framing::{
    decode, encode, encode_names, is_timeout, write_message, FrameError, FrameReader,
};
pub use messages::StatusReport;
#[doc(hidden)]
pub use messages::{
    pin_from_wire, AgentMessage, ClientMessage, FrameType, Name, NameRef, NamesBody, WireKeepalive,
    WirePinKind, WireSecret,
};

/// The protocol version in every frame.
pub const PROTOCOL_VERSION: u8 = 1;

/// The largest frame (version byte and body), 64 KiB.
pub const MAX_FRAME_LEN: usize = 64 * 1024;

/// Bytes before the body: the length (4) and the version (1).
pub const HEADER_LEN: usize = 5;
