//! CTAPHID packets on the device's side (CTAP 2.1 §11.2.4): what one
//! 64-byte output report says, and how a response message is cut into
//! input reports. No state: the device state machine decides what to do
//! with a packet.

/// Bytes in one HID report (full-speed USB).
pub(crate) const REPORT_SIZE: usize = 64;

/// The broadcast channel (§11.2.4): only CTAPHID_INIT may use it.
pub(crate) const BROADCAST_CID: u32 = 0xFFFF_FFFF;
/// Channel 0 is reserved and never valid.
pub(crate) const RESERVED_CID: u32 = 0;

/// Bit 7 of the fifth byte marks an initialization packet.
const INIT_FLAG: u8 = 0x80;
/// Payload bytes in an initialization packet (CID 4, CMD 1, BCNT 2).
pub(crate) const INIT_PACKET_DATA: usize = REPORT_SIZE - 7;
/// Payload bytes in a continuation packet (CID 4, SEQ 1).
pub(crate) const CONT_PACKET_DATA: usize = REPORT_SIZE - 5;
/// The longest message: one initialization packet and 128 continuation
/// packets (sequence numbers 0 to 0x7F), 7609 bytes.
pub(crate) const LARGEST_MESSAGE: usize = INIT_PACKET_DATA + 128 * CONT_PACKET_DATA;

/// CTAPHID commands (§11.2.9).
pub(crate) mod command {
    /// CTAPHID_PING: echo.
    pub(crate) const PING: u8 = 0x01;
    /// CTAPHID_INIT: allocate a channel or resynchronize one.
    pub(crate) const INIT: u8 = 0x06;
    /// CTAPHID_WINK.
    pub(crate) const WINK: u8 = 0x08;
    /// CTAPHID_CBOR: one CTAP2 request.
    pub(crate) const CBOR: u8 = 0x10;
    /// CTAPHID_CANCEL: cancel the request in progress on the channel.
    pub(crate) const CANCEL: u8 = 0x11;
    /// CTAPHID_KEEPALIVE (device to host only).
    pub(crate) const KEEPALIVE: u8 = 0x3B;
    /// CTAPHID_ERROR (device to host only).
    pub(crate) const ERROR: u8 = 0x3F;
}

/// CTAPHID_ERROR codes (§11.2.9.1.6).
pub(crate) mod error {
    /// The command in the request is invalid.
    pub(crate) const INVALID_CMD: u8 = 0x01;
    /// The length field (BCNT) is invalid for the request.
    pub(crate) const INVALID_LEN: u8 = 0x03;
    /// The sequence does not match the expected value.
    pub(crate) const INVALID_SEQ: u8 = 0x04;
    /// The message has timed out.
    pub(crate) const MSG_TIMEOUT: u8 = 0x05;
    /// The device is busy for the requesting channel.
    pub(crate) const CHANNEL_BUSY: u8 = 0x06;
    /// The command is not allowed on this channel.
    pub(crate) const INVALID_CHANNEL: u8 = 0x0B;
}

/// CTAPHID_KEEPALIVE status bytes (§11.2.9.1.7).
pub(crate) mod keepalive {
    /// The authenticator is still processing the current request.
    pub(crate) const PROCESSING: u8 = 1;
    /// The authenticator is waiting for user presence.
    pub(crate) const UP_NEEDED: u8 = 2;
}

/// Capability flags in the CTAPHID_INIT response (§11.2.9.1.3).
pub(crate) mod capability {
    /// Implements CTAPHID_WINK.
    pub(crate) const WINK: u8 = 0x01;
    /// Implements CTAPHID_CBOR.
    pub(crate) const CBOR: u8 = 0x04;
    /// Does not implement CTAPHID_MSG.
    pub(crate) const NMSG: u8 = 0x08;
}

/// One output report, as the host sent it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Packet<'a> {
    /// The first packet of a message: channel, command (without the
    /// initialization bit), the message's total length (BCNT), and the
    /// payload bytes this packet carries (all 57, whatever the length says).
    Init {
        channel: u32,
        command: u8,
        length: usize,
        data: &'a [u8],
    },
    /// A further packet of a message: channel, sequence number, 59 bytes.
    Continuation {
        channel: u32,
        seq: u8,
        data: &'a [u8],
    },
}

impl<'a> Packet<'a> {
    /// What a report says. Every 64-byte report is one of the two kinds.
    pub(crate) fn parse(report: &'a [u8; REPORT_SIZE]) -> Packet<'a> {
        let [c0, c1, c2, c3, kind, rest @ ..] = report;
        let channel = u32::from_be_bytes([*c0, *c1, *c2, *c3]);
        if kind & INIT_FLAG == 0 {
            return Packet::Continuation {
                channel,
                seq: *kind,
                data: rest,
            };
        }
        let [high, low, data @ ..] = rest;
        Packet::Init {
            channel,
            command: kind & !INIT_FLAG,
            length: usize::from(u16::from_be_bytes([*high, *low])),
            data,
        }
    }
}

/// A response message as input reports (§11.2.4): one initialization
/// packet and as many continuation packets as needed, zero-padded. A
/// payload longer than [`LARGEST_MESSAGE`] is cut there.
pub(crate) fn reports(channel: u32, command: u8, payload: &[u8]) -> Vec<[u8; REPORT_SIZE]> {
    let payload = payload.get(..LARGEST_MESSAGE).unwrap_or(payload);
    let cid = channel.to_be_bytes();
    let length = u16::try_from(payload.len())
        .unwrap_or(u16::MAX)
        .to_be_bytes();
    let (first, mut rest) = payload.split_at(payload.len().min(INIT_PACKET_DATA));
    let header = [
        cid[0],
        cid[1],
        cid[2],
        cid[3],
        INIT_FLAG | command,
        length[0],
        length[1],
    ];
    let mut out = vec![filled(&header, first)];
    let mut seq = 0u8;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rest.len().min(CONT_PACKET_DATA));
        out.push(filled(&[cid[0], cid[1], cid[2], cid[3], seq], chunk));
        seq = seq.wrapping_add(1);
        rest = tail;
    }
    out
}

/// A report of `header` then `data`, zero-padded.
fn filled(header: &[u8], data: &[u8]) -> [u8; REPORT_SIZE] {
    let mut report = [0u8; REPORT_SIZE];
    for (dst, src) in report.iter_mut().zip(header.iter().chain(data.iter())) {
        *dst = *src;
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An initialization packet as a host builds it (for tests).
    fn init_packet(channel: u32, command: u8, payload: &[u8]) -> [u8; REPORT_SIZE] {
        let length = u16::try_from(payload.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes();
        let cid = channel.to_be_bytes();
        filled(
            &[
                cid[0],
                cid[1],
                cid[2],
                cid[3],
                INIT_FLAG | command,
                length[0],
                length[1],
            ],
            payload.get(..INIT_PACKET_DATA).unwrap_or(payload),
        )
    }

    /// A continuation packet as a host builds it (for tests).
    fn cont_packet(channel: u32, seq: u8, payload: &[u8]) -> [u8; REPORT_SIZE] {
        let cid = channel.to_be_bytes();
        filled(&[cid[0], cid[1], cid[2], cid[3], seq], payload)
    }

    #[test]
    fn reports_parse_back_into_the_message() {
        let payload: Vec<u8> = (0..200u8).collect();
        let reports = reports(0x0102_0304, command::PING, &payload);
        assert_eq!(reports.len(), 4, "57 + 3 × 59 ≥ 200");
        let mut got = Vec::new();
        for (i, report) in reports.iter().enumerate() {
            match Packet::parse(report) {
                Packet::Init {
                    channel,
                    command,
                    length,
                    data,
                } => {
                    assert_eq!(i, 0);
                    assert_eq!(
                        (channel, command, length),
                        (0x0102_0304, command::PING, 200)
                    );
                    got.extend_from_slice(data);
                }
                Packet::Continuation { channel, seq, data } => {
                    assert_eq!(channel, 0x0102_0304);
                    assert_eq!(usize::from(seq), i - 1);
                    got.extend_from_slice(data);
                }
            }
        }
        got.truncate(200);
        assert_eq!(got, payload);
    }

    #[test]
    fn an_empty_message_is_one_packet_and_long_ones_are_cut() {
        assert_eq!(reports(1, command::WINK, &[]).len(), 1);
        let huge = vec![0xAB; LARGEST_MESSAGE + 100];
        let cut = reports(1, command::CBOR, &huge);
        assert_eq!(cut.len(), 129);
        assert!(matches!(
            Packet::parse(&cut[0]),
            Packet::Init { length, .. } if length == LARGEST_MESSAGE
        ));
        assert!(matches!(
            Packet::parse(&cut[128]),
            Packet::Continuation { seq: 127, .. }
        ));
    }

    #[test]
    fn host_packets_parse() {
        let init = init_packet(BROADCAST_CID, command::INIT, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(matches!(
            Packet::parse(&init),
            Packet::Init { channel: BROADCAST_CID, command: command::INIT, length: 8, data }
                if data.starts_with(&[1, 2, 3, 4, 5, 6, 7, 8])
        ));
        let cont = cont_packet(7, 3, &[9; 59]);
        assert_eq!(
            Packet::parse(&cont),
            Packet::Continuation {
                channel: 7,
                seq: 3,
                data: &[9; 59]
            }
        );
    }
}
