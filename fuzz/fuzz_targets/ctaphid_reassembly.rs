//! Fuzzes CTAPHID reassembly of device packets (CTAP 2.1 §11.2.4) and the
//! whole HidTransport exchange against a device that sends the fuzz input.
//! Nothing may panic or hang; every complete message must survive a
//! fragment → reassemble round trip. The input is also read as a HID
//! report descriptor (the report sizes a device declares).

#![no_main]

use std::collections::VecDeque;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokenring_core::{
    NoPrompt, Transport, TransportError, TransportErrorKind, TransportInfo, TransportKind,
};
use tokenring_hid::internal::ctaphid::{capability, command, fragment, ChannelId, InitResponse, REPORT_SIZE};
use tokenring_hid::{HidReports, HidTimeouts, HidTransport, ReportSizes, MAX_MESSAGE_SIZE};
use tokenring_hid::internal::reassembly::{Progress, Reassembler};

const CID: ChannelId = ChannelId(0x0102_0304);

/// Answers INIT correctly, then plays the fuzz input as its reports.
struct FuzzDevice {
    queue: VecDeque<[u8; REPORT_SIZE]>,
    script: VecDeque<[u8; REPORT_SIZE]>,
    /// The script was handed out (a request was sent).
    released: bool,
}

impl HidReports for FuzzDevice {
    fn write_report(&mut self, report: &[u8; REPORT_SIZE]) -> Result<(), TransportError> {
        if report[4] == 0x80 | command::INIT {
            let mut payload = report[7..15].to_vec();
            payload.extend_from_slice(&CID.to_bytes());
            payload.extend_from_slice(&[2, 0, 0, 0, capability::CBOR]);
            if let Ok(packets) = fragment(ChannelId::BROADCAST, command::INIT, &payload) {
                self.queue.extend(packets);
            }
        } else if report[4] & 0x80 != 0 {
            self.released = true;
            self.queue.extend(self.script.drain(..));
        }
        Ok(())
    }

    fn read_report(
        &mut self,
        _timeout: Duration,
    ) -> Result<Option<[u8; REPORT_SIZE]>, TransportError> {
        // Once the input is used up the device is gone: the exchange ends
        // at once instead of waiting for its timeouts (fast fuzzing).
        match self.queue.pop_front() {
            Some(report) => Ok(Some(report)),
            None if !self.released => Ok(None),
            None => Err(TransportError::new(
                TransportErrorKind::Disconnected,
                "input used up",
            )),
        }
    }
}

fn reports(data: &[u8]) -> VecDeque<[u8; REPORT_SIZE]> {
    data.chunks(REPORT_SIZE)
        .map(|chunk| {
            let mut r = [0u8; REPORT_SIZE];
            r[..chunk.len()].copy_from_slice(chunk);
            // Steer half the packets onto our channel.
            if chunk.first().is_some_and(|b| b & 1 == 1) {
                r[..4].copy_from_slice(&CID.to_bytes());
            }
            r
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    // 1. The pure state machine, on raw chunks (the last may be short).
    let mut reassembler = Reassembler::new(CID);
    for chunk in data.chunks(REPORT_SIZE) {
        let mut report = chunk.to_vec();
        if chunk.first().is_some_and(|b| b & 1 == 1) && report.len() >= 4 {
            report[..4].copy_from_slice(&CID.to_bytes());
        }
        if let Ok(Progress::Complete(message)) = reassembler.push(&report) {
            assert!(message.payload.len() <= MAX_MESSAGE_SIZE);
            let packets = fragment(CID, message.command, &message.payload).expect("fits");
            let mut again = Reassembler::new(CID);
            let mut rebuilt = None;
            for p in &packets {
                if let Ok(Progress::Complete(m)) = again.push(p) {
                    rebuilt = Some(m);
                }
            }
            assert_eq!(rebuilt.as_ref(), Some(&message));
        }
    }
    let _ = InitResponse::parse(data);
    if let Ok(sizes) = ReportSizes::from_descriptor(data) {
        assert!((8..=64).contains(&sizes.input()) && (8..=64).contains(&sizes.output()));
    }

    // 2. A whole exchange against a device that answers with the input.
    let device = FuzzDevice {
        queue: VecDeque::new(),
        script: reports(data),
        released: false,
    };
    let info = TransportInfo {
        kind: TransportKind::Hid,
        name: "fuzz".into(),
        path: "fuzz".into(),
    };
    let mut transport = HidTransport::new(device, info).with_timeouts(HidTimeouts {
        poll: Duration::from_millis(1),
        silence: Duration::from_millis(1),
        transaction: Duration::from_millis(20),
        busy: Duration::ZERO,
        cancel_grace: Duration::from_millis(1),
    });
    let _ = transport.exchange(0x04, &[], &NoPrompt);
});
