//! `tokenring-sim vpcd` against a stand-in for pcscd's vpcd driver (a TCP
//! listener speaking vpcd's framing): it connects, answers the ATR and the
//! FIDO APDUs, comes back after the connection drops (pcscd restart), and
//! exits cleanly on SIGTERM. The real pcscd is exercised by
//! `tokenring-nfc/tests/pcscd_e2e.rs`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

const SELECT: [u8; 14] = [
    0x00, 0xA4, 0x04, 0x00, 0x08, 0xA0, 0x00, 0x00, 0x06, 0x47, 0x2F, 0x00, 0x01, 0x00,
];

fn send(stream: &mut TcpStream, payload: &[u8]) {
    let length = u16::try_from(payload.len()).expect("short frame");
    let mut frame = length.to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    stream.write_all(&frame).expect("write");
}

fn receive(stream: &mut TcpStream) -> Vec<u8> {
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).expect("length");
    let mut payload = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut payload).expect("payload");
    payload
}

#[test]
fn the_vpcd_command_serves_reconnects_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("sim.json");
    let binary = env!("CARGO_BIN_EXE_tokenring-sim");
    let init = Command::new(binary)
        .arg("init")
        .arg(&state)
        .stderr(Stdio::null())
        .status()
        .expect("init runs");
    assert!(init.success());

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let mut child = Command::new(binary)
        .arg("vpcd")
        .arg(&state)
        .args(["--presence", "delay:300", "--address", &address.to_string()])
        .stderr(Stdio::null())
        .spawn()
        .expect("tokenring-sim vpcd starts");

    for round in 0..2 {
        let (mut stream, _) = listener.accept().expect("the card connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        send(&mut stream, &[0x01]); // power on
        send(&mut stream, &[0x04]); // ATR
        let atr = receive(&mut stream);
        assert_eq!(
            atr.get(..4),
            Some(&[0x3B, 0x8C, 0x80, 0x01][..]),
            "round {round}"
        );
        send(&mut stream, &SELECT);
        assert_eq!(receive(&mut stream), b"FIDO_2_0\x90\x00".to_vec());
        // authenticatorSelection waits 300 ms for the touch: status updates.
        send(&mut stream, &[0x80, 0x10, 0x80, 0x00, 0x01, 0x0B, 0x00]);
        let mut answer = receive(&mut stream);
        let mut updates = 0;
        while answer.ends_with(&[0x91, 0x00]) {
            updates += 1;
            send(&mut stream, &[0x80, 0x11, 0x00, 0x00, 0x00]);
            answer = receive(&mut stream);
        }
        assert_eq!(answer, vec![0x00, 0x90, 0x00]);
        assert!(updates >= 1, "the touch took real time");
        // pcscd goes away; the command must come back.
        drop(stream);
    }

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let exit = child.wait().expect("the command exits");
    assert!(exit.success(), "clean exit on SIGTERM: {exit}");
}
