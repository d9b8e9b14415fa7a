//! Reassembly of one channel's messages from the device's packets
//! (CTAP 2.1 PS 2021-06-15 §11.2.4): a pure state machine with no I/O, so
//! that it can be unit-tested and fuzzed on its own.

use thiserror::Error;

use crate::ctaphid::{max_message_size, ChannelId, Packet, PacketError, MAX_MESSAGE_SIZE};

/// A complete CTAPHID message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The command (without the initialization bit).
    pub command: u8,
    /// The payload: exactly BCNT bytes.
    pub payload: Vec<u8>,
}

/// What one packet did to the reassembly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The packet belongs to another channel, or is a continuation packet
    /// when no message is being received: not ours, dropped (§11.2.4).
    Ignored,
    /// The packet was accepted; more continuation packets are needed.
    Incomplete,
    /// The packet completed a message.
    Complete(Message),
}

/// Packets on our channel that break the framing rules.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReassemblyError {
    /// Not a report of 8 to 64 bytes.
    #[error(transparent)]
    Packet(#[from] PacketError),
    /// BCNT larger than a message in reports of this size can be (at most
    /// 7609 bytes, with 64-byte reports).
    #[error("a message length of {0} bytes, more than CTAPHID allows in these reports ({MAX_MESSAGE_SIZE} in 64-byte reports)")]
    TooLong(usize),
    /// A continuation packet out of sequence.
    #[error("continuation packet {got} where {expected} was due")]
    Sequence {
        /// The sequence number due.
        expected: u8,
        /// The sequence number received.
        got: u8,
    },
    /// A new initialization packet before the previous message was complete.
    #[error("a new message (command {command:#04x}) began before the previous one was complete")]
    Interrupted {
        /// The command of the interrupting packet.
        command: u8,
    },
}

#[derive(Debug, Clone)]
enum State {
    Idle,
    Receiving {
        command: u8,
        length: usize,
        next_seq: u8,
        data: Vec<u8>,
    },
}

/// Reassembles the messages addressed to one channel.
///
/// Feed every report read from the device to [`Reassembler::push`]; it
/// ignores other channels and stray continuation packets and reports
/// framing violations on its own channel as errors. After an error it is
/// idle again (the partial message is dropped).
#[derive(Debug, Clone)]
pub struct Reassembler {
    channel: ChannelId,
    state: State,
}

impl Reassembler {
    /// A reassembler for `channel`, idle.
    pub fn new(channel: ChannelId) -> Self {
        Reassembler {
            channel,
            state: State::Idle,
        }
    }

    /// The channel this reassembler listens to.
    pub fn channel(&self) -> ChannelId {
        self.channel
    }

    /// Whether a message is partly received.
    pub fn is_receiving(&self) -> bool {
        matches!(self.state, State::Receiving { .. })
    }

    /// Drops any partly received message.
    pub fn reset(&mut self) {
        self.state = State::Idle;
    }

    /// Takes one report from the device: a slice of the device's input
    /// report size (64 bytes, or what its descriptor says).
    pub fn push(&mut self, report: &[u8]) -> Result<Progress, ReassemblyError> {
        let packet = Packet::parse(report)?;
        if packet.channel() != self.channel {
            return Ok(Progress::Ignored);
        }
        match packet {
            Packet::Init {
                command,
                length,
                data,
                ..
            } => {
                if self.is_receiving() {
                    self.state = State::Idle;
                    return Err(ReassemblyError::Interrupted { command });
                }
                let length = usize::from(length);
                if length > max_message_size(report.len()) {
                    return Err(ReassemblyError::TooLong(length));
                }
                let here = data.get(..length.min(data.len())).unwrap_or(data);
                if length <= data.len() {
                    return Ok(Progress::Complete(Message {
                        command,
                        payload: here.to_vec(),
                    }));
                }
                let mut buffer = Vec::with_capacity(length);
                buffer.extend_from_slice(here);
                self.state = State::Receiving {
                    command,
                    length,
                    next_seq: 0,
                    data: buffer,
                };
                Ok(Progress::Incomplete)
            }
            Packet::Continuation { seq, data, .. } => {
                let State::Receiving {
                    command,
                    length,
                    next_seq,
                    data: buffer,
                } = &mut self.state
                else {
                    return Ok(Progress::Ignored);
                };
                if seq != *next_seq {
                    let expected = *next_seq;
                    self.state = State::Idle;
                    return Err(ReassemblyError::Sequence { expected, got: seq });
                }
                let missing = length.saturating_sub(buffer.len());
                let take = data.get(..missing.min(data.len())).unwrap_or(data);
                buffer.extend_from_slice(take);
                *next_seq = next_seq.wrapping_add(1);
                if buffer.len() >= *length {
                    let message = Message {
                        command: *command,
                        payload: std::mem::take(buffer),
                    };
                    self.state = State::Idle;
                    Ok(Progress::Complete(message))
                } else {
                    Ok(Progress::Incomplete)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctaphid::{command, fragment, REPORT_SIZE};

    fn feed(r: &mut Reassembler, packets: &[[u8; REPORT_SIZE]]) -> Option<Message> {
        let mut out = None;
        for p in packets {
            match r.push(p).expect("valid packet") {
                Progress::Complete(m) => out = Some(m),
                Progress::Incomplete | Progress::Ignored => {}
            }
        }
        out
    }

    #[test]
    fn round_trips_every_size_boundary() {
        for len in [
            0,
            1,
            56,
            57,
            58,
            115,
            116,
            117,
            1024,
            4000,
            MAX_MESSAGE_SIZE,
        ] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let packets = fragment(ChannelId(42), command::CBOR, &payload).expect("fits");
            let mut r = Reassembler::new(ChannelId(42));
            let m = feed(&mut r, &packets).expect("complete");
            assert_eq!(m.command, command::CBOR);
            assert_eq!(m.payload, payload, "length {len}");
            assert!(!r.is_receiving());
        }
    }

    #[test]
    fn other_channels_and_stray_continuations_are_ignored() {
        let mut r = Reassembler::new(ChannelId(1));
        let other = fragment(ChannelId(2), command::CBOR, &[0; 200]).expect("fits");
        for p in &other {
            assert_eq!(r.push(p), Ok(Progress::Ignored));
        }
        let mine = fragment(ChannelId(1), command::CBOR, &[0; 200]).expect("fits");
        // A continuation with no message in progress.
        assert_eq!(r.push(&mine[1]), Ok(Progress::Ignored));
    }

    #[test]
    fn interleaved_channels_reassemble_independently() {
        let a = fragment(ChannelId(1), command::CBOR, &[1; 300]).expect("fits");
        let b = fragment(ChannelId(2), command::CBOR, &[2; 300]).expect("fits");
        let mut ra = Reassembler::new(ChannelId(1));
        let mut rb = Reassembler::new(ChannelId(2));
        let (mut ma, mut mb) = (None, None);
        for (pa, pb) in a.iter().zip(b.iter()) {
            for p in [pa, pb] {
                if let Progress::Complete(m) = ra.push(p).expect("ok") {
                    ma = Some(m);
                }
                if let Progress::Complete(m) = rb.push(p).expect("ok") {
                    mb = Some(m);
                }
            }
        }
        assert_eq!(ma.expect("a").payload, vec![1; 300]);
        assert_eq!(mb.expect("b").payload, vec![2; 300]);
    }

    #[test]
    fn out_of_sequence_is_an_error() {
        let packets = fragment(ChannelId(1), command::CBOR, &[0; 200]).expect("fits");
        let mut r = Reassembler::new(ChannelId(1));
        assert_eq!(r.push(&packets[0]), Ok(Progress::Incomplete));
        assert_eq!(
            r.push(&packets[2]),
            Err(ReassemblyError::Sequence {
                expected: 0,
                got: 1
            })
        );
        assert!(!r.is_receiving());
    }

    #[test]
    fn too_long_and_interrupted() {
        let mut r = Reassembler::new(ChannelId(1));
        let mut p = [0u8; REPORT_SIZE];
        p[..7].copy_from_slice(&[0, 0, 0, 1, 0x90, 0xFF, 0xFF]);
        assert_eq!(r.push(&p), Err(ReassemblyError::TooLong(0xFFFF)));
        let packets = fragment(ChannelId(1), command::CBOR, &[0; 100]).expect("fits");
        assert_eq!(r.push(&packets[0]), Ok(Progress::Incomplete));
        assert_eq!(
            r.push(&packets[0]),
            Err(ReassemblyError::Interrupted {
                command: command::CBOR
            })
        );
    }

    #[test]
    fn short_report_is_an_error() {
        let mut r = Reassembler::new(ChannelId(1));
        assert!(matches!(
            r.push(&[0, 0, 0, 1]),
            Err(ReassemblyError::Packet(_))
        ));
    }
}
