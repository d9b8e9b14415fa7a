//! The simulator's NFC card side checked by a client that is not ours:
//! TokenRing enrolls through pcscd (tokenring-nfc → pcscd → vpcd →
//! simulator) and derives an hmac-secret output; python-fido2's own PC/SC
//! client (`fido2.pcsc`, over pyscard) then derives the same output from the
//! same card, through the same daemon, while the card makes it wait for a
//! touch. See `tests/python/fido2_nfc_check.py`.
//!
//! Needs `TOKENRING_PCSCD=1` (pcscd running with vpcd) and a Python with
//! python-fido2 1.x and pyscard: `TOKENRING_PYTHON` (default
//! `/tmp/glyph-venv/bin/python`, from `sh ../shared/compat/setup.sh`, then
//! `/tmp/glyph-venv/bin/pip install pyscard`). Otherwise it says why it
//! skipped.
#![cfg(feature = "pcsc")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokenring_core::testing::ScriptedPrompt;
use tokenring_core::{
    Authenticator, Ctap2Client, DeriveRequest, NoPrompt, Salts, UserEntity, UvMode, DEFAULT_RP_ID,
};
use tokenring_nfc::{NfcOptions, NfcTransport, PcscChannel, PcscContext};
use tokenring_sim::{serve_vpcd, ClockMode, PresencePolicy, SimConfig, Simulator, VpcdOptions};

const READER: &str = "Virtual PCD 00 00";

fn python() -> Result<PathBuf, String> {
    let python = std::env::var_os("TOKENRING_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/glyph-venv/bin/python"));
    let probe = Command::new(&python)
        .args([
            "-c",
            "import fido2, smartcard, sys; sys.exit(0 if fido2.__version__.startswith('1.') else 3)",
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if probe.status.success() {
        Ok(python)
    } else {
        Err(format!(
            "{} lacks python-fido2 1.x or pyscard: {}",
            python.display(),
            String::from_utf8_lossy(&probe.stderr).trim()
        ))
    }
}

/// Says why the test does not run; in CI (`CI` set) that is a failure.
fn skip_outside_ci(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("pcscd_python_fido2 cannot run in CI: {why}");
    }
    eprintln!("pcscd_python_fido2 skipped: {why}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn open_when_present(pcsc: &PcscContext) -> NfcTransport<PcscChannel> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match pcsc.open(READER, NfcOptions::default()) {
            Ok(transport) => return transport,
            Err(error) if Instant::now() < deadline => {
                let _ = error;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(error) => panic!("the virtual card never appeared on '{READER}': {error}"),
        }
    }
}

#[test]
fn python_fido2_over_pcscd_derives_what_tokenring_derives() {
    if std::env::var("TOKENRING_PCSCD").as_deref() != Ok("1") {
        skip_outside_ci("set TOKENRING_PCSCD=1 with pcscd and vpcd running");
        return;
    }
    let python = match python() {
        Ok(python) => python,
        Err(why) => {
            skip_outside_ci(&format!("{why} (set TOKENRING_PYTHON)"));
            return;
        }
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut simulator = Simulator::create(
        SimConfig::with_seed(0xF1D0).pin("2468"),
        &dir.path().join("s.json"),
    )
    .expect("state file");
    simulator.set_clock(ClockMode::Real);
    simulator.set_presence_policy(PresencePolicy::approve_after(Duration::from_millis(300)));
    let simulator = Arc::new(Mutex::new(simulator));
    let stop = Arc::new(AtomicBool::new(false));
    let bridge = {
        let simulator = Arc::clone(&simulator);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            serve_vpcd(simulator, &VpcdOptions::default(), &stop, &mut |_| {})
        })
    };

    let pcsc = PcscContext::establish().expect("pcscd");
    let mut client = Ctap2Client::new(open_when_present(&pcsc)).expect("client");
    let credential = client
        .enroll(
            DEFAULT_RP_ID,
            &UserEntity::default(),
            &ScriptedPrompt::new().with_pin("2468"),
        )
        .expect("enrolled by TokenRing");
    let salt = [0x3C; 32];
    let ours = client
        .derive(
            &DeriveRequest {
                credential: &credential,
                rp_id: DEFAULT_RP_ID,
                salts: Salts::One(salt),
                uv: UvMode::PresenceOnly,
                purpose: "cross-check",
            },
            &NoPrompt,
        )
        .expect("derived by TokenRing");
    drop(client);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/fido2_nfc_check.py");
    let out = Command::new(python)
        .arg(script)
        .args([READER, DEFAULT_RP_ID])
        .arg(hex(credential.as_bytes()))
        .arg(hex(&salt))
        .output()
        .expect("python runs");
    stop.store(true, Ordering::SeqCst);
    bridge.join().expect("bridge stops");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python-fido2 over pcscd failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON report");
    assert_eq!(
        report["output"].as_str(),
        Some(hex(ours.first.expose_secret()).as_str()),
        "python-fido2 and TokenRing derive the same hmac-secret output"
    );
    let keepalives = report["keepalives"].as_array().cloned().unwrap_or_default();
    assert!(
        keepalives.iter().any(|s| s.as_u64() == Some(2)),
        "python-fido2 saw the card wait for a touch (status update 02): {keepalives:?}"
    );
}
