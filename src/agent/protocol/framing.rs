//! Frames: a big-endian u32 length, the version byte, the JSON body.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use serde::Serialize;
use zeroize::{Zeroize, Zeroizing};

use std::borrow::Cow;

use super::{Decode, ErrorKind, NameRef, WireError, HEADER_LEN, MAX_FRAME_LEN, PROTOCOL_VERSION};
use crate::Error;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The peer closed the connection between frames.
    #[error("the connection was closed")]
    Closed,
    /// The peer closed the connection in the middle of a frame.
    #[error("the connection was closed in the middle of a frame")]
    Truncated,
    /// The length field is below the minimum (a version byte and a body).
    #[error("frame length {0} is too short")]
    TooShort(u32),
    /// The length field is above [`MAX_FRAME_LEN`].
    #[error("frame length {0} exceeds the limit of {MAX_FRAME_LEN} bytes")]
    TooLarge(u32),
    /// The version byte is not [`PROTOCOL_VERSION`].
    #[error(
        "protocol version {0} is not supported (this agent speaks version {PROTOCOL_VERSION})"
    )]
    UnsupportedVersion(u8),
    /// The body is not a message (not UTF-8 JSON of a known shape).
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A frame did not arrive completely in time.
    #[error("the frame did not arrive in time")]
    Timeout,
    /// A socket error.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
}

impl FrameError {
    /// The error reply for a frame that was refused (`None` when the peer
    /// is gone and nothing can be sent).
    pub fn reply(&self) -> Option<WireError> {
        let kind = match self {
            FrameError::Closed | FrameError::Truncated | FrameError::Io(_) => return None,
            FrameError::TooShort(_) | FrameError::Malformed(_) => ErrorKind::BadFrame,
            FrameError::TooLarge(_) => ErrorKind::FrameTooLarge,
            FrameError::UnsupportedVersion(_) => ErrorKind::UnsupportedVersion,
            FrameError::Timeout => ErrorKind::Timeout,
        };
        Some(WireError::new(kind, self.to_string()))
    }
}

/// Encodes a message into one frame. The buffer is zeroized on drop (it
/// may hold a password or a PIN), and grows without leaving a copy behind
/// (the old block is wiped before it is freed).
pub fn encode<M: Serialize>(message: &M) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut frame = WipingWriter(Zeroizing::new(Vec::with_capacity(256)));
    frame.0.extend_from_slice(&[0, 0, 0, 0, PROTOCOL_VERSION]);
    serde_json::to_writer(&mut frame, message)
        .map_err(|e| Error::Agent(format!("could not encode a message: {e}")))?;
    let mut frame = frame.0;
    let len = frame.len() - 4;
    if len > MAX_FRAME_LEN {
        return Err(Error::Agent(format!(
            "the message is too long for the agent protocol ({len} bytes, at most {MAX_FRAME_LEN}); \
             use the vault without the agent (--no-agent) for values this large"
        )));
    }
    let len_bytes = u32::try_from(len)
        .map_err(|_| Error::Agent("frame length overflow".into()))?
        .to_be_bytes();
    if let Some(head) = frame.get_mut(..4) {
        head.copy_from_slice(&len_bytes);
    }
    Ok(frame)
}

/// Encodes the reply to `list` from borrowed names, in as many frames as
/// they need: `names_part` events of at most [`MAX_FRAME_LEN`] each, then
/// the final `names` (possibly with an empty list). No name is copied but
/// into the frames themselves. A single name too long for a frame is an
/// error.
pub fn encode_names<'a>(
    names: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<Zeroizing<Vec<u8>>>, Error> {
    const PART: &[u8] = br#"{"type":"names_part","names":["#;
    const LAST: &[u8] = br#"{"type":"names","names":["#;
    const END: &[u8] = b"]}";
    let start = || {
        let mut frame = Zeroizing::new(Vec::with_capacity(MAX_FRAME_LEN + 4));
        frame.extend_from_slice(&[0, 0, 0, 0, PROTOCOL_VERSION]);
        frame.extend_from_slice(PART);
        frame
    };
    let empty_len = HEADER_LEN + PART.len();
    let mut frames = Vec::new();
    let mut frame = start();
    let mut item = Vec::with_capacity(256);
    for (service, user) in names {
        item.clear();
        let name = NameRef {
            service: Cow::Borrowed(service),
            user: Cow::Borrowed(user),
        };
        serde_json::to_writer(&mut item, &name)
            .map_err(|e| Error::Agent(format!("could not encode a name: {e}")))?;
        // The length field counts everything after itself.
        let fits = |frame: &[u8]| frame.len() - 4 + 1 + item.len() + END.len() <= MAX_FRAME_LEN;
        if !fits(&frame) {
            if frame.len() == empty_len {
                return Err(Error::Agent(format!(
                    "a name of {} bytes is too long for the agent protocol (at most {MAX_FRAME_LEN} bytes a frame); \
                     list the vault without the agent (--no-agent)",
                    item.len()
                )));
            }
            frames.push(finish_frame(frame, END)?);
            frame = start();
            if !fits(&frame) {
                return Err(Error::Agent(format!(
                    "a name of {} bytes is too long for the agent protocol (at most {MAX_FRAME_LEN} bytes a frame); \
                     list the vault without the agent (--no-agent)",
                    item.len()
                )));
            }
        }
        if frame.len() > empty_len {
            frame.push(b',');
        }
        frame.extend_from_slice(&item);
    }
    // The last frame is the final reply.
    frame.splice(HEADER_LEN..HEADER_LEN + PART.len(), LAST.iter().copied());
    frames.push(finish_frame(frame, END)?);
    Ok(frames)
}

/// Closes a frame's JSON and writes its length field.
fn finish_frame(mut frame: Zeroizing<Vec<u8>>, end: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    frame.extend_from_slice(end);
    let len =
        u32::try_from(frame.len() - 4).map_err(|_| Error::Agent("frame length overflow".into()))?;
    if let Some(head) = frame.get_mut(..4) {
        head.copy_from_slice(&len.to_be_bytes());
    }
    Ok(frame)
}

/// Appends `bytes` to a buffer that may hold a secret. A `Vec` that grows
/// moves to a larger block and frees the old one as it is, with the secret
/// still in it; this moves the content itself and wipes the old block
/// first (through [`Zeroizing`]'s drop).
pub(crate) fn extend_wiping(buffer: &mut Zeroizing<Vec<u8>>, bytes: &[u8]) {
    let needed = buffer.len().saturating_add(bytes.len());
    if needed > buffer.capacity() {
        reserve_wiping(buffer, needed.max(buffer.capacity().saturating_mul(2)));
    }
    buffer.extend_from_slice(bytes);
}

/// Makes room for `capacity` bytes in all, as [`extend_wiping`] does.
pub(crate) fn reserve_wiping(buffer: &mut Zeroizing<Vec<u8>>, capacity: usize) {
    if capacity <= buffer.capacity() {
        return;
    }
    let mut larger = Zeroizing::new(Vec::with_capacity(capacity));
    larger.extend_from_slice(buffer);
    // The old buffer is zeroized (its whole capacity) as it drops here.
    *buffer = larger;
}

/// A [`Write`] into a secret buffer that grows with [`extend_wiping`].
struct WipingWriter(Zeroizing<Vec<u8>>);

impl Write for WipingWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        extend_wiping(&mut self.0, bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes one message as a frame.
pub fn write_message<M: Serialize>(out: &mut impl Write, message: &M) -> Result<(), Error> {
    let frame = encode(message)?;
    out.write_all(&frame)
        .and_then(|()| out.flush())
        .map_err(|e| Error::Agent(format!("could not write to the agent socket: {e}")))
}

/// Decodes a frame body (the JSON after the version byte) into a message.
///
/// Secrets (a `set`'s password, a PIN answer, a `password` reply) are read
/// from the frame itself into zeroizing buffers, never through serde's or
/// serde_json's own buffers, which would keep copies (see [`Decode`]).
pub fn decode<'a, M: Decode<'a>>(body: &'a [u8]) -> Result<M, FrameError> {
    M::decode_body(body).map_err(|e| {
        // serde_json's messages name the position and the expected shape;
        // a value appears only where it has the wrong type (a well-formed
        // password or PIN never does), and the reply goes only to the
        // client that sent the frame.
        FrameError::Malformed(e.to_string())
    })
}

/// Reads frames from a socket incrementally, so that a read timeout (a
/// poll tick) never loses bytes and a frame that trickles in too slowly is
/// refused.
pub struct FrameReader {
    buffer: Zeroizing<Vec<u8>>,
    started: Option<Instant>,
    frame_timeout: Duration,
}

impl FrameReader {
    /// A reader whose frames must complete within `frame_timeout` of their
    /// first byte.
    pub fn new(frame_timeout: Duration) -> Self {
        FrameReader {
            buffer: Zeroizing::new(Vec::new()),
            started: None,
            frame_timeout,
        }
    }

    /// Whether part of a frame has arrived.
    pub fn in_frame(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// Reads until a whole frame is buffered, the stream's read timeout
    /// passes (`Ok(None)`), or an error. On `Ok(Some(body))` the body (JSON)
    /// is returned and removed from the buffer.
    pub fn poll(
        &mut self,
        stream: &mut impl Read,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, FrameError> {
        loop {
            if let Some(body) = self.take_frame()? {
                return Ok(Some(body));
            }
            let need = self.bytes_needed();
            let mut chunk = Zeroizing::new([0u8; 4096]);
            let want = need.clamp(1, chunk.len());
            let target = chunk.get_mut(..want).ok_or(FrameError::Timeout)?;
            match stream.read(target) {
                Ok(0) => {
                    return Err(if self.in_frame() {
                        FrameError::Truncated
                    } else {
                        FrameError::Closed
                    })
                }
                Ok(n) => {
                    if self.started.is_none() {
                        self.started = Some(Instant::now());
                    }
                    extend_wiping(&mut self.buffer, chunk.get(..n).unwrap_or_default());
                    // Once the length is known (and allowed), room for the
                    // whole frame at once.
                    if let Some(len) = self.header().filter(|&l| l as usize <= MAX_FRAME_LEN) {
                        reserve_wiping(&mut self.buffer, len as usize + 4);
                    }
                }
                Err(e) if is_timeout(&e) => {
                    if let Some(start) = self.started {
                        if start.elapsed() > self.frame_timeout {
                            return Err(FrameError::Timeout);
                        }
                    }
                    return Ok(None);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(FrameError::Io(e)),
            }
        }
    }

    /// How many more bytes complete the header or the frame.
    fn bytes_needed(&self) -> usize {
        match self.header() {
            Some(len) => (len as usize + 4).saturating_sub(self.buffer.len()),
            None => 4usize.saturating_sub(self.buffer.len()),
        }
    }

    fn header(&self) -> Option<u32> {
        let head: [u8; 4] = self.buffer.get(..4)?.try_into().ok()?;
        Some(u32::from_be_bytes(head))
    }

    fn take_frame(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, FrameError> {
        let Some(len) = self.header() else {
            return Ok(None);
        };
        if len < 2 {
            return Err(FrameError::TooShort(len));
        }
        if len as usize > MAX_FRAME_LEN {
            return Err(FrameError::TooLarge(len));
        }
        if let Some(&version) = self.buffer.get(4) {
            if version != PROTOCOL_VERSION {
                return Err(FrameError::UnsupportedVersion(version));
            }
        }
        let total = len as usize + 4;
        if self.buffer.len() < total {
            return Ok(None);
        }
        let body = Zeroizing::new(
            self.buffer
                .get(HEADER_LEN..total)
                .unwrap_or_default()
                .to_vec(),
        );
        // What follows the frame moves to the front, in place; the bytes
        // behind it are wiped.
        let rest = self.buffer.len() - total;
        self.buffer.copy_within(total.., 0);
        if let Some(stale) = self.buffer.get_mut(rest..) {
            stale.zeroize();
        }
        self.buffer.truncate(rest);
        self.started = if self.buffer.is_empty() {
            None
        } else {
            Some(Instant::now())
        };
        Ok(Some(body))
    }
}

/// Whether an I/O error is a read/write timeout (a poll tick).
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::agent::protocol::*;

    #[test]
    fn frames_round_trip_across_partial_reads() {
        let frame = encode(&ClientMessage::Get {
            service: "bank".into(),
            user: "alice".into(),
        })
        .unwrap();
        assert_eq!(frame.get(4), Some(&PROTOCOL_VERSION));
        // Two frames arriving one byte at a time.
        let mut bytes = frame.to_vec();
        bytes.extend_from_slice(&encode(&ClientMessage::List).unwrap());
        struct Trickle(Vec<u8>, usize);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match self.0.get(self.1) {
                    Some(&b) if !buf.is_empty() => {
                        buf[0] = b;
                        self.1 += 1;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let mut reader = FrameReader::new(Duration::from_secs(5));
        let mut src = Trickle(bytes, 0);
        let first = reader.poll(&mut src).unwrap().unwrap();
        assert!(
            matches!(decode::<ClientMessage>(&first).unwrap(), ClientMessage::Get { service, user } if service == "bank" && user == "alice")
        );
        let second = reader.poll(&mut src).unwrap().unwrap();
        assert!(matches!(
            decode::<ClientMessage>(&second).unwrap(),
            ClientMessage::List
        ));
        assert!(matches!(reader.poll(&mut src), Err(FrameError::Closed)));
    }

    #[test]
    fn bad_frames_are_refused() {
        let mut reader = FrameReader::new(Duration::from_secs(5));
        let mut big = &[0xFFu8, 0xFF, 0xFF, 0xFF][..];
        assert!(matches!(
            reader.poll(&mut big),
            Err(FrameError::TooLarge(_))
        ));
        let mut reader = FrameReader::new(Duration::from_secs(5));
        let mut short = &[0u8, 0, 0, 1, 1][..];
        assert!(matches!(
            reader.poll(&mut short),
            Err(FrameError::TooShort(1))
        ));
        let mut reader = FrameReader::new(Duration::from_secs(5));
        let mut version = &[0u8, 0, 0, 3, 9, b'{', b'}'][..];
        assert!(matches!(
            reader.poll(&mut version),
            Err(FrameError::UnsupportedVersion(9))
        ));
        let mut reader = FrameReader::new(Duration::from_secs(5));
        let mut cut = &[0u8, 0, 0, 9, 1, b'{'][..];
        assert!(matches!(reader.poll(&mut cut), Err(FrameError::Truncated)));
        for body in [
            &b"not json"[..],
            b"{\"type\":\"launch\"}",
            b"{\"type\":\"get\"}",
            b"\xff\xfe",
            b"[]",
        ] {
            assert!(decode::<ClientMessage>(body).is_err());
        }
    }

    /// Reads back the frames of a `list` reply: the names, and whether every
    /// frame was a `names_part` but the last, a `names`.
    fn read_names(frames: &[Zeroizing<Vec<u8>>]) -> (Vec<(String, String)>, bool) {
        let mut names = Vec::new();
        let mut shaped = true;
        for (i, frame) in frames.iter().enumerate() {
            let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
            assert_eq!(len + 4, frame.len());
            assert!(len <= MAX_FRAME_LEN, "frame of {len} bytes");
            let mut reader = FrameReader::new(Duration::from_secs(5));
            let body = reader.poll(&mut &frame[..]).unwrap().unwrap();
            let last = i + 1 == frames.len();
            match decode::<AgentMessage>(&body).unwrap() {
                AgentMessage::Names { names: part } if last => {
                    names.extend(part.into_iter().map(|n| (n.service, n.user)))
                }
                AgentMessage::NamesPart { names: part } if !last => {
                    names.extend(part.into_iter().map(|n| (n.service, n.user)))
                }
                _ => shaped = false,
            }
        }
        (names, shaped)
    }

    #[test]
    fn names_are_split_into_frames_that_fit() {
        // Empty: one final frame.
        let frames = encode_names(std::iter::empty()).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(&frames[0][5..], br#"{"type":"names","names":[]}"#);
        assert_eq!(read_names(&frames), (Vec::new(), true));

        // Few: one final frame, in the documented shape.
        let frames = encode_names([("s", "u"), ("t\t", "\u{1}")]).unwrap();
        assert_eq!(
            &frames[0][5..],
            br#"{"type":"names","names":[{"service":"s","user":"u"},{"service":"t\t","user":"\u0001"}]}"#
        );

        // Many, with names that JSON escapes: several frames, each within
        // the limit, the names in order and complete.
        let owned: Vec<(String, String)> = (0..5_000)
            .map(|i| {
                (
                    format!("service-{i}.example\n\"é"),
                    format!("user{i}@example.com"),
                )
            })
            .collect();
        let frames = encode_names(owned.iter().map(|(s, u)| (s.as_str(), u.as_str()))).unwrap();
        assert!(frames.len() > 3, "{} frames", frames.len());
        assert_eq!(read_names(&frames), (owned, true));

        // A name that fills a frame by itself is refused with what to do.
        let huge = "x".repeat(MAX_FRAME_LEN);
        let error = encode_names([("s", huge.as_str())])
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("too long") && error.contains("--no-agent"),
            "{error}"
        );
        let error = encode_names([("a", "b"), ("s", huge.as_str())])
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("too long"), "{error}");
    }

    /// A deterministic generator (xorshift), so failures reproduce.
    struct Noise(u64);
    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn hostile_bytes_never_panic_the_reader_or_the_decoder() {
        let seeds: Vec<Vec<u8>> = [
            encode(&ClientMessage::Get {
                service: "s".into(),
                user: "u".into(),
            })
            .unwrap()
            .to_vec(),
            encode(&ClientMessage::Set {
                service: "s".into(),
                user: "u".into(),
                password: WireSecret::new("p"),
            })
            .unwrap()
            .to_vec(),
            encode(&ClientMessage::Pin { pin: None }).unwrap().to_vec(),
            encode(&AgentMessage::Error(WireError::new(ErrorKind::Busy, "x")))
                .unwrap()
                .to_vec(),
        ]
        .into();
        let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
        for round in 0..8_000 {
            let mut bytes = seeds[round % seeds.len()].clone();
            match noise.below(4) {
                0 => {
                    for _ in 0..=noise.below(4) {
                        let i = noise.below(bytes.len());
                        bytes[i] = noise.next() as u8;
                    }
                }
                1 => bytes.truncate(noise.below(bytes.len() + 1)),
                2 => {
                    let extra = noise.below(64);
                    bytes.extend((0..extra).map(|_| noise.next() as u8));
                }
                _ => {
                    bytes = (0..noise.below(80)).map(|_| noise.next() as u8).collect();
                }
            }
            let mut reader = FrameReader::new(Duration::from_secs(5));
            let mut src = &bytes[..];
            while let Ok(Some(body)) = reader.poll(&mut src) {
                let _ = decode::<ClientMessage>(&body);
                let _ = decode::<AgentMessage>(&body);
            }
        }
    }
}
