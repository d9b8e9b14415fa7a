//! `SimTransport`: the simulator as an in-process `tokenring_core::Transport`.

use tokenring_core::testing::{PromptEvent, ScriptedPrompt};
use tokenring_core::{KeepaliveStatus, Status, Transport, TransportErrorKind, TransportKind};
use tokenring_sim::{Fault, PresencePolicy, SimConfig, SimTransport, Simulator};

#[test]
fn exchanges_reach_the_simulator_and_keepalives_reach_the_prompt() {
    let sim = Simulator::new(
        SimConfig::with_seed(3).presence(PresencePolicy::approve_after(
            std::time::Duration::from_millis(250),
        )),
    );
    let mut transport = SimTransport::from_simulator(sim);
    assert_eq!(transport.info().kind, TransportKind::Sim);
    let prompt = ScriptedPrompt::new();
    let reply = transport.exchange(0x04, &[], &prompt).expect("getInfo");
    assert_eq!(reply.status, 0);
    assert!(!reply.body.is_empty());
    let reply = transport.exchange(0x0B, &[], &prompt).expect("selection");
    assert_eq!(reply.status, 0);
    assert!(reply.body.is_empty());
    let keepalives = prompt
        .events()
        .into_iter()
        .filter(|e| *e == PromptEvent::Keepalive(KeepaliveStatus::UserPresenceNeeded))
        .count();
    assert_eq!(keepalives, 1 + 3, "at the start and after each 100 ms step");
    assert_eq!(transport.lock().request_count(0x0B), 1);
    assert_eq!(transport.lock().total_requests(), 2);
}

#[test]
fn the_prompt_cancels_a_presence_wait() {
    let sim = Simulator::new(SimConfig::with_seed(3).presence(PresencePolicy::time_out()));
    let mut transport = SimTransport::from_simulator(sim);
    let prompt = ScriptedPrompt::new().cancel_after_keepalives(4);
    let reply = transport.exchange(0x0B, &[], &prompt).expect("selection");
    assert_eq!(reply.status, u8::from(Status::KeepaliveCancel));
}

#[test]
fn a_dropped_response_is_a_timeout() {
    let mut transport = SimTransport::from_simulator(Simulator::new(SimConfig::with_seed(3)));
    transport.lock().inject(Fault::DropResponse);
    let err = transport
        .exchange(0x04, &[], &ScriptedPrompt::new())
        .expect_err("dropped");
    assert_eq!(err.kind, TransportErrorKind::Timeout);
    let shared = transport.simulator();
    shared.lock().expect("lock").inject(Fault::ForceStatus {
        command: 0x04,
        status: Status::Other.into(),
    });
    let reply = transport
        .exchange(0x04, &[], &ScriptedPrompt::new())
        .expect("forced");
    assert_eq!(reply.status, u8::from(Status::Other));
}

#[test]
fn simulator_and_transport_cross_threads() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<Simulator>();
    assert_send::<SimTransport>();
    let s = Simulator::new(SimConfig::default().clock(tokenring_sim::ClockMode::Real));
    assert_eq!(s.clock_mode(), tokenring_sim::ClockMode::Real);
}
