//! `tokenring log`: the agent's audit log, read with one command, through
//! the real binaries (the agent as a process, requests from other
//! processes).

#![cfg(all(feature = "sim", feature = "cli"))]
#![allow(clippy::unwrap_used)]

mod cli_support;

use std::os::unix::fs::PermissionsExt;

use cli_support::{Agent, Env};

#[test]
fn the_log_says_what_was_released_to_which_process() {
    let env = Env::with_vault();
    env.set("stripe.com", "live", "sk_live_secret");
    let mut agent = Agent::start(&env, None);
    env.run(&["get", "stripe.com", "live"]).expect(0);
    env.run(&["get", "stripe.com", "test"]).expect(1);
    env.run(&["list"]).expect(0);
    env.run(&["lock"]).expect(0);
    agent.stop();
    // A denied touch through a new agent.
    let _agent = Agent::start(&env, Some("deny"));
    env.run(&["get", "stripe.com", "live"]).expect(6);

    let log = env.run(&["log"]).expect(0);
    let lines: Vec<&str> = log.stdout.lines().collect();
    let tokenring = env!("CARGO_BIN_EXE_tokenring");
    let by = format!(" by '{tokenring}' (pid ");
    let shapes: Vec<String> = lines
        .iter()
        .map(|l| {
            // "<time>  <outcome> <what> by '<exe>' (pid N)"
            let (time, rest) = l.split_once("  ").unwrap_or_else(|| panic!("{l}"));
            assert!(time.ends_with('Z'), "{l}");
            let (what, pid) = rest.split_once(&by).unwrap_or_else(|| panic!("{l}"));
            assert!(pid.trim_end_matches(')').parse::<u32>().is_ok(), "{l}");
            what.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect();
    assert_eq!(
        shapes,
        [
            "unlocked unlock",
            "released get 'live' in 'stripe.com'",
            "not_found get 'test' in 'stripe.com'",
            "listed list",
            "locked lock",
            "denied get 'live' in 'stripe.com'",
        ],
        "{}",
        log.stdout
    );
    assert!(!log.stdout.contains("sk_live_secret"));

    // The last N, and the stored form.
    let last = env.run(&["log", "-n", "1", "--json"]).expect(0);
    let record: serde_json::Value = serde_json::from_str(last.stdout.trim()).unwrap();
    assert_eq!(record["outcome"], "denied");
    assert_eq!(record["service"], "stripe.com");
    assert_eq!(record["exe"], tokenring);

    // Where it lives, and who may read it.
    let file = env.path(".local/state/tokenring/audit.log");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(file.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    assert!(!std::fs::read_to_string(&file)
        .unwrap()
        .contains("sk_live_secret"));

    // Another vault's records are not shown unless asked for.
    let other = env.path("other.tokenvault");
    let mut command = env.command();
    command.args(["--vault", other.to_str().unwrap(), "log"]);
    let run = Env::run_with_input(command, b"").expect(0);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("No agent requests recorded"), "{run:?}");
    let mut command = env.command();
    command.args(["--vault", other.to_str().unwrap(), "log", "--all-vaults"]);
    let run = Env::run_with_input(command, b"").expect(0);
    assert_eq!(run.stdout.lines().count(), 6);
}
