//! Report sizes from the HID report descriptor, as python-fido2 and
//! libfido2 take them: the descriptors of python-fido2's tests (see
//! `tests/data/README.md`), and the transport over a device whose reports
//! are 32 bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use tokenring_core::{NoPrompt, Transport, TransportError, TransportInfo, TransportKind};
use tokenring_hid::internal::ctaphid::{
    capability, command, fragment_sized, ChannelId, REPORT_SIZE,
};
use tokenring_hid::internal::reassembly::{Progress, Reassembler};
use tokenring_hid::{DescriptorError, HidReports, HidTransport, ReportSizes};

fn descriptor(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/python-fido2/hid_report_descriptors.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let line = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.split_once('=').filter(|(k, _)| k.trim() == name))
        .expect("the descriptor");
    hex::decode(line.1.trim()).unwrap()
}

#[test]
fn recorded_descriptors() {
    let sizes = ReportSizes::from_descriptor(&descriptor("FIDO_U2F_DESCRIPTOR")).unwrap();
    assert_eq!((sizes.input(), sizes.output()), (64, 64));
    assert_eq!(
        ReportSizes::from_descriptor(&descriptor("MOUSE_DESCRIPTOR")),
        Err(DescriptorError::NotFido)
    );
}

/// A token with 32-byte reports: it reads our requests in 32-byte packets
/// and answers in 32-byte packets (the rest of each 64-byte array unused).
struct SmallReports {
    size: usize,
    cid: ChannelId,
    request: Reassembler,
    pending: VecDeque<[u8; REPORT_SIZE]>,
    written: Vec<[u8; REPORT_SIZE]>,
}

impl HidReports for SmallReports {
    fn write_report(&mut self, report: &[u8; REPORT_SIZE]) -> Result<(), TransportError> {
        self.written.push(*report);
        if report[4] == 0x80 | command::INIT {
            let mut payload = report[7..15].to_vec();
            payload.extend_from_slice(&self.cid.to_bytes());
            payload.extend_from_slice(&[2, 1, 0, 0, capability::CBOR]);
            self.pending.extend(
                fragment_sized(ChannelId::BROADCAST, command::INIT, &payload, self.size).unwrap(),
            );
            return Ok(());
        }
        if let Progress::Complete(message) = self.request.push(&report[..self.size]).unwrap() {
            // Answer CTAP2_OK and 200 bytes: the request's length, repeated.
            let mut answer = vec![0u8];
            answer.extend(std::iter::repeat_n(message.payload.len() as u8, 200));
            self.pending
                .extend(fragment_sized(self.cid, command::CBOR, &answer, self.size).unwrap());
        }
        Ok(())
    }

    fn read_report(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<[u8; REPORT_SIZE]>, TransportError> {
        match self.pending.pop_front() {
            Some(r) => Ok(Some(r)),
            None => {
                std::thread::sleep(timeout.min(Duration::from_millis(5)));
                Ok(None)
            }
        }
    }

    fn report_sizes(&self) -> ReportSizes {
        ReportSizes::new(self.size, self.size).unwrap()
    }
}

#[test]
fn a_token_with_32_byte_reports() {
    let cid = ChannelId(0x0BAD_CAFE);
    let device = SmallReports {
        size: 32,
        cid,
        request: Reassembler::new(cid),
        pending: VecDeque::new(),
        written: Vec::new(),
    };
    let mut transport = HidTransport::new(
        device,
        TransportInfo {
            kind: TransportKind::Hid,
            name: "small".into(),
            path: "small".into(),
        },
    );
    let payload = vec![0x5A; 149];
    let reply = transport
        .exchange(0x02, &payload, &NoPrompt)
        .expect("answered in 32-byte reports");
    assert_eq!(reply.status, 0);
    // The token read the whole request: command byte + 149 bytes.
    assert_eq!(reply.body, vec![150; 200]);
    let written = &transport.device().written;
    // INIT, then 150 bytes as 25 + 27 × 5 (6 packets).
    assert_eq!(written.len(), 1 + 6);
    assert!(written.iter().all(|r| r[32..].iter().all(|b| *b == 0)));
}
