//! The CLI and its agent against a simulator served from the test process
//! over a Unix socket (`--authenticator sim:SOCKET`), its state kept in
//! memory: the whole cycle works, every process shares the one
//! authenticator, and the state file is never written.

#![cfg(all(feature = "sim", feature = "cli"))]

mod cli_support;

use cli_support::{Agent, Env};

#[test]
fn the_cli_and_its_agent_work_on_a_served_simulator() {
    let mut env = Env::new();
    let before = std::fs::read(&env.sim).expect("read the state file");
    let server = env.serve_in_memory();
    env.run(&["init"]).expect(0);
    env.set("pypi", "__token__", "pypi-secret");
    env.set("bank.example", "alice", "hunter2");
    let got = env.run(&["get", "pypi", "__token__"]).expect(0);
    assert_eq!(got.stdout, "pypi-secret\n");
    assert_eq!(got.touch_prompts().len(), 2, "unlock and entry");
    assert_eq!(
        env.run(&["list"]).expect(0).stdout,
        "pypi\t__token__\nbank.example\talice\n"
    );
    let served = server.stats().requests;
    assert!(served > 0);

    // The agent reaches the same authenticator through the socket.
    let _agent = Agent::start(&env, None);
    let got = env.run(&["get", "bank.example", "alice"]).expect(0);
    assert_eq!(got.stdout, "hunter2\n");
    let got = env.run(&["get", "bank.example", "alice"]).expect(0);
    assert_eq!(got.touch_prompts().len(), 1, "one touch through the agent");
    assert!(server.stats().requests > served);
    env.run(&["delete", "pypi", "__token__"]).expect(0);
    env.run(&["get", "pypi", "__token__"]).expect(1);

    // Everything happened in the server's memory.
    assert_eq!(std::fs::read(&env.sim).expect("read"), before);
}
