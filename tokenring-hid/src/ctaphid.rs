//! CTAPHID constants and the packet layout (CTAP 2.1 PS 2021-06-15 §11.2.4
//! "Message and packet structure"), and fragmentation of a message into
//! packets.
//!
//! A message travels as one initialization packet followed by zero or more
//! continuation packets, each exactly one 64-byte HID report:
//!
//! ```text
//! initialization packet            continuation packet
//! offset len                       offset len
//! 0      4   CID (channel)          0      4   CID
//! 4      1   CMD | 0x80             4      1   SEQ (0..=0x7F)
//! 5      1   BCNTH                  5      59  DATA
//! 6      1   BCNTL
//! 7      57  DATA
//! ```
//!
//! With 64-byte reports a message is at most 57 + 128 × 59 = 7609 bytes.
//!
//! Every FIDO token seen so far uses 64-byte reports, but the report size
//! is the device's to choose in its HID report descriptor (§11.2.8);
//! libfido2 and python-fido2 read it from there, and so do we
//! ([`ReportSizes`]), taking 8 to 64 bytes as libfido2 does. A report here
//! is always a 64-byte array: with a smaller report size only its first
//! bytes are the report, the rest zeros.

use std::fmt;

use thiserror::Error;

/// Size of one HID report: full-speed USB, the size every FIDO token uses,
/// and the largest this crate takes (see [`ReportSizes`]).
pub const REPORT_SIZE: usize = 64;
/// The smallest report size taken: an initialization header and one byte
/// (libfido2's `CTAP_MIN_REPORT_LEN`).
pub const MIN_REPORT_SIZE: usize = 8;
/// Header of an initialization packet: CID (4), CMD (1), BCNTH, BCNTL.
pub const INIT_HEADER_SIZE: usize = 7;
/// Header of a continuation packet: CID (4), SEQ (1).
pub const CONT_HEADER_SIZE: usize = 5;
/// Payload bytes in an initialization packet (57).
pub const INIT_DATA_SIZE: usize = REPORT_SIZE - INIT_HEADER_SIZE;
/// Payload bytes in a continuation packet (59).
pub const CONT_DATA_SIZE: usize = REPORT_SIZE - CONT_HEADER_SIZE;
/// The highest continuation sequence number (§11.2.4: 0..=0x7F).
pub const MAX_SEQ: u8 = 0x7F;
/// The largest message a 64-byte report allows: 57 + 128 × 59 = 7609 bytes.
pub const MAX_MESSAGE_SIZE: usize = INIT_DATA_SIZE + (MAX_SEQ as usize + 1) * CONT_DATA_SIZE;
/// Bit 7 of byte 4 marks an initialization packet (the command byte).
pub const TYPE_INIT: u8 = 0x80;
/// Size of the CTAPHID_INIT nonce (§11.2.9.1.3).
pub const INIT_NONCE_SIZE: usize = 8;
/// Size of the CTAPHID_INIT response payload (§11.2.9.1.3).
pub const INIT_RESPONSE_SIZE: usize = 17;
/// The CTAPHID protocol version this crate speaks (§11.2.9.1.3).
pub const PROTOCOL_VERSION: u8 = 2;

/// The largest message `report_size`-byte reports can carry: one
/// initialization packet and 128 continuation packets.
pub fn max_message_size(report_size: usize) -> usize {
    let size = report_size.clamp(MIN_REPORT_SIZE, REPORT_SIZE);
    (size - INIT_HEADER_SIZE) + (MAX_SEQ as usize + 1) * (size - CONT_HEADER_SIZE)
}

/// The sizes of a device's input and output reports (what it sends and what
/// it takes), each 8 to 64 bytes; 64 both unless its report descriptor
/// says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReportSizes {
    input: usize,
    output: usize,
}

impl ReportSizes {
    /// Sizes in bytes; `None` unless both are within 8..=64.
    pub fn new(input: usize, output: usize) -> Option<ReportSizes> {
        let ok = |n: usize| (MIN_REPORT_SIZE..=REPORT_SIZE).contains(&n);
        (ok(input) && ok(output)).then_some(ReportSizes { input, output })
    }

    /// The size of the reports the device sends.
    pub fn input(self) -> usize {
        self.input
    }

    /// The size of the reports the device takes.
    pub fn output(self) -> usize {
        self.output
    }
}

impl Default for ReportSizes {
    fn default() -> Self {
        ReportSizes {
            input: REPORT_SIZE,
            output: REPORT_SIZE,
        }
    }
}

/// CTAPHID commands (§11.2.9), without the [`TYPE_INIT`] bit.
pub mod command {
    /// CTAPHID_PING (§11.2.9.1.4): echo the payload.
    pub const PING: u8 = 0x01;
    /// CTAPHID_MSG (§11.2.9.1.1): a CTAP1/U2F APDU.
    pub const MSG: u8 = 0x03;
    /// CTAPHID_LOCK (§11.2.9.2.2): lock the device to one channel.
    pub const LOCK: u8 = 0x04;
    /// CTAPHID_INIT (§11.2.9.1.3): allocate a channel, or resynchronize one.
    pub const INIT: u8 = 0x06;
    /// CTAPHID_WINK (§11.2.9.2.1): make the device identify itself.
    pub const WINK: u8 = 0x08;
    /// CTAPHID_CBOR (§11.2.9.1.2): a CTAP2 request or response.
    pub const CBOR: u8 = 0x10;
    /// CTAPHID_CANCEL (§11.2.9.1.5): cancel the request in progress.
    pub const CANCEL: u8 = 0x11;
    /// CTAPHID_KEEPALIVE (§11.2.9.1.7): the device is still working.
    pub const KEEPALIVE: u8 = 0x3B;
    /// CTAPHID_ERROR (§11.2.9.1.6): the device reports a CTAPHID error.
    pub const ERROR: u8 = 0x3F;
}

/// CTAPHID_INIT capability flags (§11.2.9.1.3).
pub mod capability {
    /// The device implements CTAPHID_WINK.
    pub const WINK: u8 = 0x01;
    /// The device implements CTAPHID_CBOR.
    pub const CBOR: u8 = 0x04;
    /// The device does NOT implement CTAPHID_MSG.
    pub const NMSG: u8 = 0x08;
}

/// CTAPHID_KEEPALIVE status bytes (§11.2.9.1.7).
pub mod keepalive_status {
    /// The authenticator is still processing the current request.
    pub const PROCESSING: u8 = 1;
    /// The authenticator is waiting for user presence.
    pub const UP_NEEDED: u8 = 2;
}

/// CTAPHID_ERROR codes (§11.2.9.1.6).
pub mod error_code {
    /// The command in the request is invalid.
    pub const INVALID_CMD: u8 = 0x01;
    /// The parameter(s) in the request are invalid.
    pub const INVALID_PAR: u8 = 0x02;
    /// The length field (BCNT) is invalid for the request.
    pub const INVALID_LEN: u8 = 0x03;
    /// The sequence does not match the expected value.
    pub const INVALID_SEQ: u8 = 0x04;
    /// The message has timed out.
    pub const MSG_TIMEOUT: u8 = 0x05;
    /// The device is busy for the requesting channel.
    pub const CHANNEL_BUSY: u8 = 0x06;
    /// The command requires a channel lock.
    pub const LOCK_REQUIRED: u8 = 0x0A;
    /// The CID is not valid.
    pub const INVALID_CHANNEL: u8 = 0x0B;
    /// Unspecified error.
    pub const OTHER: u8 = 0x7F;

    /// The spec's name of a CTAPHID error code.
    pub fn name(code: u8) -> &'static str {
        match code {
            INVALID_CMD => "ERR_INVALID_CMD",
            INVALID_PAR => "ERR_INVALID_PAR",
            INVALID_LEN => "ERR_INVALID_LEN",
            INVALID_SEQ => "ERR_INVALID_SEQ",
            MSG_TIMEOUT => "ERR_MSG_TIMEOUT",
            CHANNEL_BUSY => "ERR_CHANNEL_BUSY",
            LOCK_REQUIRED => "ERR_LOCK_REQUIRED",
            INVALID_CHANNEL => "ERR_INVALID_CHANNEL",
            OTHER => "ERR_OTHER",
            _ => "an unknown CTAPHID error",
        }
    }
}

/// A CTAPHID channel identifier (CID, §11.2.3). The four bytes are opaque;
/// they are kept in wire order (read and written big-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelId(pub u32);

impl ChannelId {
    /// The broadcast channel 0xFFFFFFFF, used only for CTAPHID_INIT.
    pub const BROADCAST: ChannelId = ChannelId(0xFFFF_FFFF);
    /// Channel 0 is reserved and never allocated.
    pub const RESERVED: ChannelId = ChannelId(0);

    /// The channel as it appears on the wire.
    pub fn to_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }

    /// The channel from its wire bytes.
    pub fn from_bytes(bytes: [u8; 4]) -> Self {
        ChannelId(u32::from_be_bytes(bytes))
    }

    /// Whether a device may hand out this channel (neither 0 nor broadcast).
    pub fn is_allocatable(self) -> bool {
        self != Self::BROADCAST && self != Self::RESERVED
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// One parsed packet, borrowing its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// An initialization packet: the first of a message.
    Init {
        /// The channel.
        channel: ChannelId,
        /// The command, without the [`TYPE_INIT`] bit.
        command: u8,
        /// The total length of the message payload (BCNT).
        length: u16,
        /// The payload bytes of this packet (57 in a 64-byte report; only
        /// the first `min(length, 57)` belong to the message).
        data: &'a [u8],
    },
    /// A continuation packet.
    Continuation {
        /// The channel.
        channel: ChannelId,
        /// The sequence number (0..=0x7F).
        seq: u8,
        /// The payload bytes of this packet (59 in a 64-byte report).
        data: &'a [u8],
    },
}

/// A report that is not a CTAPHID packet at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PacketError {
    /// The report is shorter than 8 or longer than 64 bytes.
    #[error(
        "a HID report of {0} bytes (CTAPHID reports are {MIN_REPORT_SIZE} to {REPORT_SIZE} bytes)"
    )]
    ReportSize(usize),
}

impl<'a> Packet<'a> {
    /// Parses one report of 8 to 64 bytes (the device's input report size).
    /// Fails only on a report of the wrong size; the meaning of the fields
    /// is checked by the caller.
    pub fn parse(report: &'a [u8]) -> Result<Packet<'a>, PacketError> {
        let [c0, c1, c2, c3, kind, rest @ ..] = report else {
            return Err(PacketError::ReportSize(report.len()));
        };
        if !(MIN_REPORT_SIZE..=REPORT_SIZE).contains(&report.len()) {
            return Err(PacketError::ReportSize(report.len()));
        }
        let channel = ChannelId::from_bytes([*c0, *c1, *c2, *c3]);
        if kind & TYPE_INIT != 0 {
            let [bcnth, bcntl, data @ ..] = rest else {
                return Err(PacketError::ReportSize(report.len()));
            };
            Ok(Packet::Init {
                channel,
                command: kind & !TYPE_INIT,
                length: u16::from_be_bytes([*bcnth, *bcntl]),
                data,
            })
        } else {
            Ok(Packet::Continuation {
                channel,
                seq: *kind,
                data: rest,
            })
        }
    }

    /// The channel the packet belongs to.
    pub fn channel(&self) -> ChannelId {
        match self {
            Packet::Init { channel, .. } | Packet::Continuation { channel, .. } => *channel,
        }
    }
}

/// A message too large to be framed in the device's reports.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("a {0}-byte message is larger than CTAPHID allows over the device's reports ({MAX_MESSAGE_SIZE} bytes with 64-byte reports)")]
pub struct MessageTooLarge(pub usize);

/// Splits a message into its initialization packet and continuation
/// packets (§11.2.4) of 64-byte reports. Unused bytes of the last packet
/// are zero.
pub fn fragment(
    channel: ChannelId,
    command: u8,
    payload: &[u8],
) -> Result<Vec<[u8; REPORT_SIZE]>, MessageTooLarge> {
    fragment_sized(channel, command, payload, REPORT_SIZE)
}

/// [`fragment`] for reports of `report_size` bytes (8 to 64): each packet
/// fills the first `report_size` bytes of its array, the rest is zero.
pub fn fragment_sized(
    channel: ChannelId,
    command: u8,
    payload: &[u8],
    report_size: usize,
) -> Result<Vec<[u8; REPORT_SIZE]>, MessageTooLarge> {
    let report_size = report_size.clamp(MIN_REPORT_SIZE, REPORT_SIZE);
    let init_data = report_size - INIT_HEADER_SIZE;
    let cont_data = report_size - CONT_HEADER_SIZE;
    let length = u16::try_from(payload.len())
        .ok()
        .filter(|_| payload.len() <= max_message_size(report_size))
        .ok_or(MessageTooLarge(payload.len()))?;
    let cid = channel.to_bytes();
    let mut packets =
        Vec::with_capacity(1 + payload.len().saturating_sub(init_data) / cont_data + 1);

    let mut first = [0u8; REPORT_SIZE];
    let (head, body) = first.split_at_mut(INIT_HEADER_SIZE);
    head.copy_from_slice(&[
        cid[0],
        cid[1],
        cid[2],
        cid[3],
        TYPE_INIT | command,
        length.to_be_bytes()[0],
        length.to_be_bytes()[1],
    ]);
    let (now, mut rest) = payload.split_at(payload.len().min(init_data));
    if let Some(dst) = body.get_mut(..now.len()) {
        dst.copy_from_slice(now);
    }
    packets.push(first);

    let mut seq: u8 = 0;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rest.len().min(cont_data));
        let mut packet = [0u8; REPORT_SIZE];
        let (head, body) = packet.split_at_mut(CONT_HEADER_SIZE);
        head.copy_from_slice(&[cid[0], cid[1], cid[2], cid[3], seq]);
        if let Some(dst) = body.get_mut(..chunk.len()) {
            dst.copy_from_slice(chunk);
        }
        packets.push(packet);
        rest = tail;
        seq = seq.wrapping_add(1);
    }
    Ok(packets)
}

/// What a device answered to CTAPHID_INIT (§11.2.9.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitResponse {
    /// The nonce the host sent (echoed).
    pub nonce: [u8; INIT_NONCE_SIZE],
    /// The channel the device allocated (or the one resynchronized).
    pub channel: ChannelId,
    /// CTAPHID protocol version (2).
    pub protocol_version: u8,
    /// Major device version number.
    pub major: u8,
    /// Minor device version number.
    pub minor: u8,
    /// Build device version number.
    pub build: u8,
    /// Capability flags (see [`capability`]).
    pub capabilities: u8,
}

impl InitResponse {
    /// Parses the 17-byte INIT response payload (longer payloads are
    /// accepted, the extra bytes ignored, as the spec allows growth).
    pub fn parse(payload: &[u8]) -> Option<InitResponse> {
        let [n0, n1, n2, n3, n4, n5, n6, n7, c0, c1, c2, c3, protocol_version, major, minor, build, capabilities, ..] =
            *payload
        else {
            return None;
        };
        Some(InitResponse {
            nonce: [n0, n1, n2, n3, n4, n5, n6, n7],
            channel: ChannelId::from_bytes([c0, c1, c2, c3]),
            protocol_version,
            major,
            minor,
            build,
            capabilities,
        })
    }

    /// The 17-byte payload.
    pub fn to_bytes(&self) -> [u8; INIT_RESPONSE_SIZE] {
        let mut out = [0u8; INIT_RESPONSE_SIZE];
        let cid = self.channel.to_bytes();
        for (dst, src) in out.iter_mut().zip(
            self.nonce.iter().chain(cid.iter()).chain(
                [
                    self.protocol_version,
                    self.major,
                    self.minor,
                    self.build,
                    self.capabilities,
                ]
                .iter(),
            ),
        ) {
            *dst = *src;
        }
        out
    }

    /// Whether the device implements CTAPHID_CBOR (is a CTAP2 device).
    pub fn supports_cbor(&self) -> bool {
        self.capabilities & capability::CBOR != 0
    }

    /// Whether the device implements CTAPHID_WINK.
    pub fn supports_wink(&self) -> bool {
        self.capabilities & capability::WINK != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_message_size_is_7609() {
        assert_eq!(MAX_MESSAGE_SIZE, 7609);
        assert_eq!(INIT_DATA_SIZE, 57);
        assert_eq!(CONT_DATA_SIZE, 59);
    }

    #[test]
    fn fragment_small_message_is_one_packet() {
        let packets = fragment(ChannelId(0x0102_0304), command::CBOR, &[4]).expect("fits");
        assert_eq!(packets.len(), 1);
        let p = packets[0];
        assert_eq!(&p[..8], &[1, 2, 3, 4, 0x90, 0, 1, 4]);
        assert!(p[8..].iter().all(|b| *b == 0));
    }

    #[test]
    fn fragment_counts_and_sequences() {
        let payload: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let packets = fragment(ChannelId(7), command::CBOR, &payload).expect("fits");
        // 57 + 16 * 59 = 1001 >= 1000
        assert_eq!(packets.len(), 17);
        for (i, p) in packets.iter().enumerate().skip(1) {
            assert_eq!(p[4] as usize, i - 1);
            assert_eq!(&p[..4], &[0, 0, 0, 7]);
        }
        assert_eq!(&packets[0][5..7], &[0x03, 0xE8]);
    }

    #[test]
    fn fragment_largest_and_too_large() {
        let max = vec![0xAB; MAX_MESSAGE_SIZE];
        let packets = fragment(ChannelId(9), command::PING, &max).expect("fits");
        assert_eq!(packets.len(), 129);
        assert_eq!(packets[128][4], MAX_SEQ);
        let too_big = vec![0; MAX_MESSAGE_SIZE + 1];
        assert_eq!(
            fragment(ChannelId(9), command::PING, &too_big),
            Err(MessageTooLarge(MAX_MESSAGE_SIZE + 1))
        );
    }

    #[test]
    fn parse_rejects_wrong_sizes() {
        assert_eq!(Packet::parse(&[0; 7]), Err(PacketError::ReportSize(7)));
        assert_eq!(Packet::parse(&[0; 65]), Err(PacketError::ReportSize(65)));
        assert_eq!(Packet::parse(&[]), Err(PacketError::ReportSize(0)));
        for size in [8, 32, 63, 64] {
            assert!(Packet::parse(&vec![0; size]).is_ok(), "{size}");
        }
    }

    #[test]
    fn smaller_reports_frame_smaller_packets() {
        assert_eq!(max_message_size(64), MAX_MESSAGE_SIZE);
        assert_eq!(max_message_size(32), 25 + 128 * 27);
        assert_eq!(max_message_size(8), 1 + 128 * 3);
        let payload: Vec<u8> = (0..100u8).collect();
        let packets = fragment_sized(ChannelId(5), command::CBOR, &payload, 32).expect("fits");
        // 25 + 27 + 27 + 27 >= 100
        assert_eq!(packets.len(), 4);
        for p in &packets {
            assert!(p[32..].iter().all(|b| *b == 0));
        }
        assert_eq!(&packets[0][7..32], &payload[..25]);
        assert_eq!(&packets[1][5..32], &payload[25..52]);
        assert_eq!(packets[3][4], 2);
        let too_big = vec![0; max_message_size(8) + 1];
        assert!(fragment_sized(ChannelId(5), command::CBOR, &too_big, 8).is_err());
        assert_eq!(ReportSizes::new(7, 64), None);
        assert_eq!(ReportSizes::new(8, 65), None);
        assert_eq!(
            ReportSizes::new(32, 16).map(|s| (s.input(), s.output())),
            Some((32, 16))
        );
        assert_eq!(
            ReportSizes::default(),
            ReportSizes::new(64, 64).expect("valid")
        );
    }

    #[test]
    fn init_response_round_trip() {
        let r = InitResponse {
            nonce: [1, 2, 3, 4, 5, 6, 7, 8],
            channel: ChannelId(0xCAFE_BABE),
            protocol_version: 2,
            major: 5,
            minor: 4,
            build: 3,
            capabilities: capability::CBOR | capability::WINK,
        };
        assert_eq!(InitResponse::parse(&r.to_bytes()), Some(r));
        assert_eq!(InitResponse::parse(&r.to_bytes()[..16]), None);
        assert!(r.supports_cbor() && r.supports_wink());
    }
}
