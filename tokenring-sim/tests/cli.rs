//! The `tokenring-sim` command: init, provision, serve-stdio framing.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_tokenring-sim");

fn frame(cmd: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![cmd];
    out.extend_from_slice(&u32::try_from(payload.len()).expect("len").to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[test]
fn init_provision_and_serve_stdio() {
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("state.json");
    let st = Command::new(BIN)
        .args([
            "init",
            state.to_str().expect("utf8"),
            "--seed",
            "3",
            "--pin",
            "1234",
            "--protocols",
            "1",
        ])
        .status()
        .expect("init");
    assert!(st.success());
    let again = Command::new(BIN)
        .args(["init", state.to_str().expect("utf8")])
        .stderr(Stdio::null())
        .status()
        .expect("init again");
    assert!(!again.success(), "init refuses to overwrite");
    let short = dir.path().join("short-pin.json");
    let out = Command::new(BIN)
        .args(["init", short.to_str().expect("utf8"), "--pin", "123"])
        .output()
        .expect("init with a short PIN");
    assert!(!out.status.success(), "a 3-digit PIN is refused");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("at least 4 characters"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!short.exists());
    let id = "c0ffee00".repeat(8);
    let cred_random: String = (0u8..32).map(|b| format!("{b:02x}")).collect();
    let st = Command::new(BIN)
        .args([
            "provision",
            state.to_str().expect("utf8"),
            "--credential-id",
            &id,
            "--rp-id",
            RP_ID,
            "--cred-random",
            &cred_random,
        ])
        .status()
        .expect("provision");
    assert!(st.success());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).expect("read")).expect("json");
    assert_eq!(json["credentials"][0]["credential_id"], id);
    assert_eq!(json["pin_uv_auth_protocols"], serde_json::json!([1]));

    let mut child = Command::new(BIN)
        .args([
            "serve-stdio",
            state.to_str().expect("utf8"),
            "--presence",
            "deny",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut input = child.stdin.take().expect("stdin");
    let probe = encode(&map(vec![
        (int(1), txt(RP_ID)),
        (int(2), byt(&[0; 32])),
        (
            int(3),
            ciborium::Value::Array(vec![map(vec![
                (txt("id"), byt(&hex::decode(&id).expect("hex"))),
                (txt("type"), txt("public-key")),
            ])]),
        ),
        (int(5), map(vec![(txt("up"), ciborium::Value::Bool(false))])),
    ]));
    input.write_all(&frame(0x04, &[])).expect("write");
    input.write_all(&frame(0x02, &probe)).expect("write");
    input.write_all(&frame(0x0B, &[])).expect("write");
    drop(input);
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut out)
        .expect("read");
    assert!(child.wait().expect("wait").success());
    let mut rest = out.as_slice();
    let mut responses = Vec::new();
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        responses.push(rest[4..4 + len].to_vec());
        rest = &rest[4 + len..];
    }
    assert_eq!(responses.len(), 3);
    assert_eq!(responses[0][0], 0, "getInfo");
    let info = decode(&responses[0][1..]);
    assert_eq!(field(&info, 6), Some(&ciborium::Value::Array(vec![int(1)])));
    assert_eq!(
        responses[1][0], 0,
        "the provisioned credential answers a probe"
    );
    assert_eq!(
        responses[2],
        vec![u8::from(tokenring_core::Status::OperationDenied)]
    );
}

#[test]
fn serve_on_a_socket_in_memory_until_sigterm() {
    use tokenring_core::Transport;
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("state.json");
    let socket = dir.path().join("sim.sock");
    assert!(Command::new(BIN)
        .args(["init", state.to_str().expect("utf8"), "--seed", "4"])
        .stderr(Stdio::null())
        .status()
        .expect("init")
        .success());
    let before = std::fs::read(&state).expect("read");
    let child = Command::new(BIN)
        .args([
            "serve",
            state.to_str().expect("utf8"),
            "--in-memory",
            "--socket",
        ])
        .arg(&socket)
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let started = std::time::Instant::now();
    while !socket.exists() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "no socket"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // The socket file appears at bind, a moment before the server listens.
    let mut transport = loop {
        match tokenring_sim::SimSocketTransport::connect(&socket) {
            Ok(transport) => break transport,
            Err(e) => {
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(10),
                    "connect: {e}"
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    };
    let reply = transport
        .exchange(0x04, &[], &tokenring_core::NoPrompt)
        .expect("getInfo");
    assert_eq!(reply.status, 0);
    drop(transport);
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("changes kept in memory"), "{stderr}");
    assert!(stderr.contains("stopped after 1 requests"), "{stderr}");
    assert!(!socket.exists(), "the socket is removed");
    assert_eq!(std::fs::read(&state).expect("read"), before);
}
