//! The simulator served on a Unix socket (`SimSocketServer`) and reached
//! through `SimSocketTransport` and `SimSource`: one simulator for several
//! connections, keepalives and cancel across the socket, the time inside
//! the simulator counted, state kept in memory or written back, hostile
//! frames refused.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokenring_core::testing::{PromptEvent, ScriptedPrompt};
use tokenring_core::{
    Authenticator, Ctap2Client, DeriveRequest, KeepaliveStatus, NoPrompt, Salts, Selector, Source,
    Status, Transport, TransportErrorKind, TransportKind, UserEntity, UvMode, DEFAULT_RP_ID,
};
use tokenring_sim::{
    ClockMode, Fault, PresencePolicy, SimConfig, SimSocketServer, SimSocketTransport, SimSource,
    Simulator,
};

fn serve(sim: Simulator) -> (tempfile::TempDir, Arc<Mutex<Simulator>>, SimSocketServer) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Arc::new(Mutex::new(sim));
    let server =
        SimSocketServer::bind(Arc::clone(&sim), &dir.path().join("sim.sock")).expect("bind");
    (dir, sim, server)
}

fn derive(auth: &mut dyn Authenticator, credential: &tokenring_core::CredentialId) -> [u8; 32] {
    let request = DeriveRequest {
        credential,
        rp_id: DEFAULT_RP_ID,
        salts: Salts::One([7; 32]),
        uv: UvMode::PresenceOnly,
        purpose: "test",
    };
    *auth
        .derive(&request, &NoPrompt)
        .expect("derive")
        .first
        .expose_secret()
}

#[test]
fn connections_share_one_simulator_and_its_time_is_counted() {
    let (_dir, sim, server) = serve(Simulator::new(SimConfig::with_seed(11)));
    let mut first = Ctap2Client::new(SimSocketTransport::connect(server.path()).expect("connect"))
        .expect("client");
    let credential = first
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &NoPrompt)
        .expect("enroll");
    let secret = derive(&mut first, &credential);
    // Another connection (another process would do the same) reaches the
    // same authenticator: same credential, same secret, one counter.
    let mut second = Ctap2Client::new(SimSocketTransport::connect(server.path()).expect("connect"))
        .expect("client");
    assert_eq!(derive(&mut second, &credential), secret);
    assert_eq!(derive(&mut first, &credential), secret);
    let served = sim.lock().expect("lock").total_requests();
    let stats = server.stats();
    assert_eq!(stats.requests, served as u64);
    assert!(stats.requests >= 6, "{stats:?}");
    assert!(stats.busy > Duration::ZERO);
    assert_eq!(sim.lock().expect("lock").sign_count(), 4);
    let info = second.describe().expect("describe");
    assert!(info.hmac_secret);
}

#[test]
fn keepalives_and_cancel_cross_the_socket() {
    let (_dir, _sim, server) = serve(Simulator::new(
        SimConfig::with_seed(3)
            .clock(ClockMode::Real)
            .presence(PresencePolicy::approve_after(Duration::from_millis(250))),
    ));
    let mut transport = SimSocketTransport::connect(server.path()).expect("connect");
    assert_eq!(transport.info().kind, TransportKind::Sim);
    let prompt = ScriptedPrompt::new();
    let reply = transport.exchange(0x0B, &[], &prompt).expect("selection");
    assert_eq!(reply.status, 0);
    let keepalives = prompt
        .events()
        .into_iter()
        .filter(|e| *e == PromptEvent::Keepalive(KeepaliveStatus::UserPresenceNeeded))
        .count();
    assert_eq!(keepalives, 1 + 3, "at the start and after each 100 ms step");
    // The wait for a touch that never comes ends with the user's cancel.
    let (_dir, _sim, server) = serve(Simulator::new(
        SimConfig::with_seed(3)
            .clock(ClockMode::Real)
            .presence(PresencePolicy::time_out()),
    ));
    let mut transport = SimSocketTransport::connect(server.path()).expect("connect");
    let prompt = ScriptedPrompt::new().cancel_after_keepalives(2);
    let started = std::time::Instant::now();
    let reply = transport.exchange(0x0B, &[], &prompt).expect("selection");
    assert_eq!(reply.status, u8::from(Status::KeepaliveCancel));
    assert!(started.elapsed() < Duration::from_secs(5));
    // The connection serves on.
    let reply = transport.exchange(0x04, &[], &NoPrompt).expect("getInfo");
    assert_eq!(reply.status, 0);
}

#[test]
fn a_dropped_response_is_a_timeout() {
    let (_dir, sim, server) = serve(Simulator::new(SimConfig::with_seed(3)));
    sim.lock().expect("lock").inject(Fault::DropResponse);
    let mut transport = SimSocketTransport::connect(server.path()).expect("connect");
    let err = transport
        .exchange(0x04, &[], &NoPrompt)
        .expect_err("dropped");
    assert_eq!(err.kind, TransportErrorKind::Timeout);
}

#[test]
fn a_state_file_served_in_memory_is_left_as_it_was_and_persisted_otherwise() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");
    drop(Simulator::create(SimConfig::with_seed(5), &state).expect("create"));
    let before = std::fs::read(&state).expect("read");

    // In memory: the counter moves in the server, not in the file.
    let mut sim = Simulator::open(&state).expect("open");
    sim.keep_in_memory();
    let sim = Arc::new(Mutex::new(sim));
    let server = SimSocketServer::bind(Arc::clone(&sim), &dir.path().join("a.sock")).expect("bind");
    let source = SimSource::new();
    let mut auth = source
        .open(&Selector::Sim(server.path().to_path_buf()))
        .expect("open the served simulator");
    let credential = auth
        .enroll(DEFAULT_RP_ID, &UserEntity::default(), &NoPrompt)
        .expect("enroll");
    let secret = derive(&mut *auth, &credential);
    assert_eq!(sim.lock().expect("lock").sign_count(), 2);
    assert_eq!(std::fs::read(&state).expect("read"), before);
    drop(auth);
    server.shutdown();
    assert!(!dir.path().join("a.sock").exists(), "the socket is removed");

    // Written back: the file follows, and a state-file simulator opened
    // from it afterwards gives the same secret.
    let sim = Arc::new(Mutex::new(Simulator::open(&state).expect("open")));
    let server = SimSocketServer::bind(Arc::clone(&sim), &dir.path().join("b.sock")).expect("bind");
    let mut auth = source
        .open(&Selector::Sim(server.path().to_path_buf()))
        .expect("open");
    assert_eq!(derive(&mut *auth, &credential), secret);
    drop(auth);
    server.shutdown();
    assert_ne!(std::fs::read(&state).expect("read"), before);
    let mut direct = source.open(&Selector::Sim(state)).expect("open the file");
    assert_eq!(derive(&mut *direct, &credential), secret);
}

#[test]
fn hostile_frames_close_the_connection_and_the_server_serves_on() {
    let (_dir, _sim, server) = serve(Simulator::new(SimConfig::with_seed(3)));
    for bytes in [
        // A request longer than the server takes.
        vec![0x10, 0xFF, 0xFF, 0xFF, 0xFF],
        // An unknown frame type.
        vec![0x42, 0, 0, 0, 1, 0],
        // An empty request (no command byte).
        vec![0x10, 0, 0, 0, 0],
    ] {
        let mut stream = UnixStream::connect(server.path()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        stream.write_all(&bytes).expect("write");
        let mut rest = Vec::new();
        // Closed without an answer.
        let _ = stream.read_to_end(&mut rest);
        assert!(rest.is_empty(), "{rest:?}");
    }
    let mut transport = SimSocketTransport::connect(server.path()).expect("connect");
    let reply = transport.exchange(0x04, &[], &NoPrompt).expect("getInfo");
    assert_eq!(reply.status, 0);
}

#[test]
fn nothing_listening_is_a_disconnected_authenticator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = SimSocketTransport::connect(&dir.path().join("none.sock")).expect_err("nothing");
    assert_eq!(err.kind, TransportErrorKind::Disconnected);
}

#[test]
fn shutdown_returns_even_when_the_socket_is_gone() {
    let (dir, _sim, server) = serve(Simulator::new(SimConfig::with_seed(3)));
    drop(dir);
    let started = std::time::Instant::now();
    server.shutdown();
    assert!(started.elapsed() < Duration::from_secs(5));
}
