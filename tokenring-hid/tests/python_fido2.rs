//! The simulator's CTAPHID front end checked against an independent,
//! widely used CTAP2 client: python-fido2 1.2 running the original
//! tokenring's own enrollment and derivation code, its packets relayed to a
//! `SimHidDevice`. Then our own stack (Ctap2Client over HidTransport)
//! derives from the credential python made and must get the same secret.
//!
//! Needs a Python with python-fido2 1.2 and tokenring 2025.2.19 (what
//! `../shared/compat/setup.sh` builds):
//! `TOKENRING_FIDO2_PYTHON=$(sh ../shared/compat/setup.sh) cargo test -p tokenring-hid --test python_fido2 -- --ignored`

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tokenring_core::{
    Authenticator, CredentialId, Ctap2Client, DeriveRequest, NoPrompt, Salts, TransportError,
    TransportErrorKind, TransportInfo, TransportKind, UvMode, DEFAULT_RP_ID,
};
use tokenring_hid::internal::ctaphid::REPORT_SIZE;
use tokenring_hid::{HidReports, HidTransport};
use tokenring_sim::{
    PresenceAnswer, PresencePolicy, SimConfig, SimHidConnection, SimHidDevice, Simulator,
};

struct SimReports(SimHidConnection);

impl HidReports for SimReports {
    fn write_report(&mut self, report: &[u8; REPORT_SIZE]) -> Result<(), TransportError> {
        self.0
            .write_report(report)
            .map_err(|e| TransportError::new(TransportErrorKind::Disconnected, e.to_string()))
    }
    fn read_report(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<[u8; REPORT_SIZE]>, TransportError> {
        Ok(self.0.read_report(timeout))
    }
}

fn python() -> String {
    std::env::var("TOKENRING_FIDO2_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/fido2_over_pipe.py")
}

fn parse_hex_report(line: &str) -> Option<[u8; REPORT_SIZE]> {
    let bytes: Vec<u8> = (0..line.len())
        .step_by(2)
        .map(|i| {
            line.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<_>>()?;
    let mut report = [0u8; REPORT_SIZE];
    if bytes.len() > REPORT_SIZE {
        return None;
    }
    report[..bytes.len()].copy_from_slice(&bytes);
    Some(report)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
#[ignore = "needs python-fido2 1.2 and tokenring 2025.2.19: TOKENRING_FIDO2_PYTHON=$(sh ../shared/compat/setup.sh) cargo test -p tokenring-hid --test python_fido2 -- --ignored"]
fn python_fido2_and_the_original_tokenring_code_work_against_the_simulated_hid_device() {
    let touch = PresenceAnswer::ApproveAfter(Duration::from_millis(200));
    // Enroll, derive, derive (touched after 200 ms), then nobody touches:
    // the fourth request is cancelled by the client.
    let config = SimConfig::with_seed(31).presence(PresencePolicy::Scripted(vec![touch; 3]));
    let device = SimHidDevice::new(Simulator::new(config));
    let results = std::env::temp_dir().join(format!("tokenring-fido2-{}.txt", std::process::id()));

    let mut child = Command::new(python())
        .arg(script())
        .arg(&results)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start python (set TOKENRING_FIDO2_PYTHON)");
    let mut to_python = child.stdin.take().expect("stdin");
    let from_python = child.stdout.take().expect("stdout");
    let connection = device.connect();
    let done = AtomicBool::new(false);

    let status = thread::scope(|s| {
        // Host → device: python's packets.
        s.spawn(|| {
            for line in BufReader::new(from_python).lines() {
                let Ok(line) = line else { break };
                let report = parse_hex_report(line.trim()).expect("a 64-byte hex packet");
                connection.write_report(&report).expect("device alive");
            }
        });
        // Device → host: every input report.
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                if let Some(report) = connection.read_report(Duration::from_millis(20)) {
                    if writeln!(to_python, "{}", hex(&report))
                        .and_then(|()| to_python.flush())
                        .is_err()
                    {
                        break;
                    }
                }
            }
        });
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            if start.elapsed() > Duration::from_secs(90) {
                let _ = child.kill();
                break None;
            }
            thread::sleep(Duration::from_millis(20));
        };
        done.store(true, Ordering::SeqCst);
        status
    });
    let status = status.expect("python finished in time");
    assert!(
        status.success(),
        "python-fido2 against the simulated HID device failed: {status}"
    );

    let text = std::fs::read_to_string(&results).expect("results");
    let _ = std::fs::remove_file(&results);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in results"))
            .to_string()
    };
    let prompt_up: usize = field("prompt_up").parse().expect("number");
    assert!(prompt_up >= 3, "python saw user-presence keepalives");

    // Our stack, on another connection of the same device, derives from
    // python's credential: the same secret.
    device
        .simulator()
        .lock()
        .expect("lock")
        .set_presence_policy(PresencePolicy::approve());
    let transport = HidTransport::new(
        SimReports(device.connect()),
        TransportInfo {
            kind: TransportKind::Hid,
            name: "sim".into(),
            path: "sim".into(),
        },
    );
    let mut client = Ctap2Client::new(transport).expect("getInfo");
    let credential = CredentialId(unhex(&field("credential_id")));
    let salt: [u8; 32] = unhex(&field("salt")).try_into().expect("32-byte salt");
    let out = client
        .derive(
            &DeriveRequest {
                credential: &credential,
                rp_id: DEFAULT_RP_ID,
                salts: Salts::One(salt),
                uv: UvMode::PresenceOnly,
                purpose: "compare with python-fido2",
            },
            &NoPrompt,
        )
        .expect("derive");
    assert_eq!(hex(out.first.expose_secret()), field("output"));
}
