//! The messages: what a client sends, what the agent answers.

use std::borrow::Cow;

use serde::{Deserialize, Serialize, Serializer};
use tokenring_core::{KeepaliveStatus, Pin, PinPurpose};
use zeroize::Zeroizing;

use super::WireError;

/// A secret string on the wire (a password or a PIN): zeroized on drop,
/// never `Debug`, serialized as a plain JSON string. It has no serde
/// `Deserialize`: [`decode`](super::decode) reads secrets itself, so that
/// no parser buffer keeps a copy.
pub struct WireSecret(Zeroizing<String>);

impl WireSecret {
    /// Copies a secret into a zeroizing buffer of its exact size.
    pub fn new(secret: &str) -> Self {
        let mut copy = Zeroizing::new(String::with_capacity(secret.len()));
        copy.push_str(secret);
        WireSecret(copy)
    }

    /// Takes a secret already in a zeroizing buffer.
    pub(super) fn from_zeroizing(secret: Zeroizing<String>) -> Self {
        WireSecret(secret)
    }

    /// The secret. Every use is a place to review.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl Serialize for WireSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A (service, user) name pair, as `list` returns them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Name {
    /// The service.
    pub service: String,
    /// The user.
    pub user: String,
}

/// A (service, user) pair borrowed from where it lies: a vault's entry
/// list when the agent writes a `names` frame, the frame's bytes when a
/// client reads one (a name is copied only when its JSON has escapes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameRef<'a> {
    /// The service.
    #[serde(borrow)]
    pub service: Cow<'a, str>,
    /// The user.
    #[serde(borrow)]
    pub user: Cow<'a, str>,
}

/// The names in a `names` or `names_part` frame, borrowed from its bytes.
#[derive(Deserialize)]
pub struct NamesBody<'a> {
    /// The (service, user) pairs of this frame, in vault order.
    #[serde(borrow)]
    pub names: Vec<NameRef<'a>>,
}

/// Only the `type` of a frame, to choose how to decode the rest.
#[derive(Deserialize)]
pub struct FrameType<'a> {
    /// The message's `type`.
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
}

/// What a client sends (read with [`decode`](super::decode)).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// The password for (service, user): one tap (plus the unlock tap when
    /// the agent is locked).
    Get {
        /// The service.
        service: String,
        /// The user.
        user: String,
    },
    /// The passwords for several entries, all or nothing: two entries per
    /// tap (one getAssertion, two salts), each tap's prompt naming both.
    GetMany {
        /// The entries, in the order the reply gives their passwords.
        names: Vec<Name>,
    },
    /// Stores a password: one tap.
    Set {
        /// The service.
        service: String,
        /// The user.
        user: String,
        /// The password.
        password: WireSecret,
    },
    /// Deletes an entry; no tap once unlocked.
    Delete {
        /// The service.
        service: String,
        /// The user.
        user: String,
    },
    /// The names of every entry; no tap once unlocked.
    List,
    /// Forgets the vault key now.
    Lock,
    /// The agent's state; never unlocks, never resets the idle timer.
    Status,
    /// Cancels the running request (CTAP cancel on the authenticator).
    Cancel,
    /// Answers a `pin_request`; `null` declines.
    Pin {
        /// The PIN, or `None` to decline.
        pin: Option<WireSecret>,
    },
}

impl ClientMessage {
    /// Whether this message starts a request (as opposed to `cancel` and
    /// `pin`, which belong to a running one).
    pub fn is_request(&self) -> bool {
        !matches!(self, ClientMessage::Cancel | ClientMessage::Pin { .. })
    }

    /// The message's `type`, for error messages (never its content).
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Get { .. } => "get",
            ClientMessage::GetMany { .. } => "get_many",
            ClientMessage::Set { .. } => "set",
            ClientMessage::Delete { .. } => "delete",
            ClientMessage::List => "list",
            ClientMessage::Lock => "lock",
            ClientMessage::Status => "status",
            ClientMessage::Cancel => "cancel",
            ClientMessage::Pin { .. } => "pin",
        }
    }
}

/// A keepalive status on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireKeepalive {
    /// The authenticator is processing.
    Processing,
    /// The authenticator waits for a touch.
    UserPresenceNeeded,
}

impl From<KeepaliveStatus> for WireKeepalive {
    fn from(status: KeepaliveStatus) -> Self {
        match status {
            KeepaliveStatus::Processing => WireKeepalive::Processing,
            KeepaliveStatus::UserPresenceNeeded => WireKeepalive::UserPresenceNeeded,
        }
    }
}

impl From<WireKeepalive> for KeepaliveStatus {
    fn from(status: WireKeepalive) -> Self {
        match status {
            WireKeepalive::Processing => KeepaliveStatus::Processing,
            WireKeepalive::UserPresenceNeeded => KeepaliveStatus::UserPresenceNeeded,
        }
    }
}

/// Which PIN a `pin_request` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WirePinKind {
    /// The PIN, to verify the user.
    Verify,
    /// A new PIN to set.
    SetNew,
    /// The current PIN, before a change.
    ChangeCurrent,
    /// The new PIN of a change.
    ChangeNew,
}

impl From<PinPurpose> for WirePinKind {
    fn from(kind: PinPurpose) -> Self {
        match kind {
            PinPurpose::Verify => WirePinKind::Verify,
            PinPurpose::SetNew => WirePinKind::SetNew,
            PinPurpose::ChangeCurrent => WirePinKind::ChangeCurrent,
            PinPurpose::ChangeNew => WirePinKind::ChangeNew,
        }
    }
}

impl From<WirePinKind> for PinPurpose {
    fn from(kind: WirePinKind) -> Self {
        match kind {
            WirePinKind::Verify => PinPurpose::Verify,
            WirePinKind::SetNew => PinPurpose::SetNew,
            WirePinKind::ChangeCurrent => PinPurpose::ChangeCurrent,
            WirePinKind::ChangeNew => PinPurpose::ChangeNew,
        }
    }
}

/// The agent's state, as `status` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The agent's process id.
    pub pid: u32,
    /// The agent's TokenRing version.
    pub version: String,
    /// The protocol version it speaks.
    pub protocol: u8,
    /// The vault it serves.
    pub vault: String,
    /// Whether the vault key is forgotten (the next request needs an unlock tap).
    pub locked: bool,
    /// The idle timeout, in seconds.
    pub idle_lock_secs: f64,
    /// Seconds until the idle lock, when unlocked.
    pub idle_lock_in_secs: Option<f64>,
    /// The maximum unlocked lifetime, in seconds: the vault locks this
    /// long after its unlock whatever the requests (absent from agents
    /// older than this field).
    #[serde(default)]
    pub max_unlocked_secs: Option<f64>,
    /// Seconds until the maximum unlocked lifetime ends, when unlocked.
    #[serde(default)]
    pub max_unlocked_in_secs: Option<f64>,
    /// How many entries the vault has, when unlocked.
    pub entries: Option<usize>,
    /// Connected clients (this one included).
    pub clients: usize,
}

/// What the agent sends: events during a request, then one final reply.
///
/// Read it with [`decode`](super::decode): serde's `Deserialize` alone
/// refuses `password` replies, whose secret only `decode` reads without
/// leaving copies behind.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentMessage {
    /// Event: touch the authenticator, for `purpose`.
    Touch {
        /// Why ("unlock the vault", "decrypt the password for 'alice' in 'bank'").
        purpose: String,
    },
    /// Event: the touch arrived (or the wait ended).
    TouchDone,
    /// Event: a keepalive from the authenticator.
    Keepalive {
        /// Its status.
        status: WireKeepalive,
    },
    /// Event: a message for the user.
    Info {
        /// The message.
        message: String,
    },
    /// Event: the authenticator needs the PIN; answer with a `pin` message.
    PinRequest {
        /// What the PIN is for.
        purpose: String,
        /// Which PIN.
        kind: WirePinKind,
        /// Retries left, when known.
        retries: Option<u8>,
        /// The previous attempt was wrong.
        previous_wrong: bool,
    },
    /// Reply to `set` and `lock`.
    Done,
    /// Reply to `get`: the password, or `null` when there is no such entry.
    #[serde(skip_deserializing)]
    Password {
        /// The password.
        password: Option<WireSecret>,
    },
    /// Reply to `get_many`: every password in the order asked, or (with
    /// `passwords` empty) the indices of the names that are absent, when
    /// no password was read.
    #[serde(skip_deserializing)]
    Passwords {
        /// The passwords, when every entry is there.
        passwords: Vec<WireSecret>,
        /// The indices of the absent names (empty when all are there).
        missing: Vec<usize>,
    },
    /// Reply to `delete`.
    Deleted {
        /// Whether there was such an entry.
        existed: bool,
    },
    /// Event: some of the names of a `list` reply, in vault order (a
    /// vault's names may need more than one frame); the rest follows in
    /// more `names_part` frames and the final `names`.
    NamesPart {
        /// The next (service, user) pairs.
        names: Vec<Name>,
    },
    /// Reply to `list`: the last (or only) names, in vault order.
    Names {
        /// The last (service, user) pairs (every one, when no
        /// `names_part` came before).
        names: Vec<Name>,
    },
    /// Reply to `status`.
    Status(StatusReport),
    /// The request failed (or the frame was refused).
    Error(WireError),
}

impl AgentMessage {
    /// Whether this is an event (more frames follow) rather than a final reply.
    pub fn is_event(&self) -> bool {
        matches!(
            self,
            AgentMessage::Touch { .. }
                | AgentMessage::TouchDone
                | AgentMessage::NamesPart { .. }
                | AgentMessage::Keepalive { .. }
                | AgentMessage::Info { .. }
                | AgentMessage::PinRequest { .. }
        )
    }
}

/// A PIN answer from the wire, as the core type.
pub fn pin_from_wire(pin: Option<WireSecret>) -> Option<Pin> {
    pin.map(|p| Pin::new(p.expose_secret()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn messages_have_the_documented_shape() {
        let json = serde_json::to_string(&AgentMessage::Names {
            names: vec![Name {
                service: "s".into(),
                user: "u".into(),
            }],
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"type":"names","names":[{"service":"s","user":"u"}]}"#
        );
        let json = serde_json::to_string(&AgentMessage::Password { password: None }).unwrap();
        assert_eq!(json, r#"{"type":"password","password":null}"#);
        let msg: ClientMessage = super::super::decode(
            br#"{"type":"set","service":"s","user":"u","password":"p","extra":1}"#,
        )
        .unwrap();
        assert!(
            matches!(msg, ClientMessage::Set { ref password, .. } if password.expose_secret() == "p")
        );
    }
}
