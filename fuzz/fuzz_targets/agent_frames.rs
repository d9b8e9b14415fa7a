//! The agent's frame reader and message decoders against arbitrary bytes,
//! as a hostile client (or agent) could send them: nothing may panic; a
//! frame that decodes re-encodes to a frame that decodes to the same JSON;
//! an error reply turns into a typed error without panicking.
#![no_main]

use std::io::Read;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokenring::agent::protocol::{self, AgentMessage, ClientMessage, FrameReader};

/// Hands out the input in pieces of varying size, like a socket.
struct Chunks<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Chunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.step = self.step % 7 + 1;
        let n = self.step.min(buf.len()).min(self.data.len());
        let (head, tail) = self.data.split_at(n);
        buf[..n].copy_from_slice(head);
        self.data = tail;
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut reader = FrameReader::new(Duration::from_secs(60));
    let mut source = Chunks { data, step: 0 };
    while let Ok(Some(body)) = reader.poll(&mut source) {
        if let Ok(message) = protocol::decode::<ClientMessage>(&body) {
            let frame = protocol::encode(&message).expect("a decoded message encodes");
            let again: ClientMessage = protocol::decode(&frame[protocol::HEADER_LEN..])
                .expect("an encoded message decodes");
            assert_eq!(again.kind(), message.kind());
        }
        if let Ok(message) = protocol::decode::<AgentMessage>(&body) {
            if let AgentMessage::Error(error) = message {
                let _ = error.into_error().to_string();
            }
        }
    }
});
