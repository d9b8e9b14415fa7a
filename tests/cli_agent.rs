//! The CLI with the agent: commands go through it automatically (one touch
//! per secret), `--no-agent` bypasses it, `status` and `lock` talk to it,
//! errors and Ctrl-C keep their exit codes through it.

#![cfg(all(feature = "sim", feature = "cli"))]

mod cli_support;

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use cli_support::{Agent, Env};

/// The prompts without their ", asked by '…/tokenring' (pid N)" ending,
/// checking that each names the `tokenring` binary and one process.
fn asked_by_tokenring<'a>(prompts: &[&'a str]) -> Vec<&'a str> {
    let by = format!(", asked by '{}' (pid ", env!("CARGO_BIN_EXE_tokenring"));
    let mut pids = Vec::new();
    let stripped = prompts
        .iter()
        .map(|p| {
            let (prompt, pid) = p.split_once(&by).unwrap_or_else(|| panic!("{p}"));
            pids.push(pid.trim_end_matches(')').parse::<u32>().expect(p));
            prompt
        })
        .collect();
    pids.dedup();
    assert_eq!(pids.len(), 1, "one process asked: {prompts:?}");
    stripped
}

#[test]
fn every_command_through_the_agent() {
    let env = Env::with_vault();
    env.set("before", "agent", "old");
    let mut agent = Agent::start(&env, None);
    let status = env.run(&["status"]).expect(0);
    assert!(status
        .stdout
        .contains("locked (the next request needs the unlock touch)"));

    // The first request unlocks (touch relayed to this client), then one
    // touch per secret.
    let first = env.run(&["get", "before", "agent"]).expect(0);
    assert_eq!(first.stdout, "old\n");
    // Each prompt names the process that asked: this `tokenring` command.
    assert_eq!(
        asked_by_tokenring(&first.touch_prompts()),
        [
            "Touch your authenticator to unlock the vault",
            "Touch your authenticator to decrypt the password for 'agent' in 'before'",
        ]
    );
    let set = env
        .run_input(&["set", "bank.example", "alice"], "hunter2\r\n")
        .expect(0);
    assert_eq!(
        asked_by_tokenring(&set.touch_prompts()),
        ["Touch your authenticator to encrypt the new password for 'alice' in 'bank.example'"]
    );
    let get = env.run(&["get", "bank.example", "alice"]).expect(0);
    assert_eq!(get.stdout, "hunter2\n");
    assert_eq!(get.touch_prompts().len(), 1);
    let list = env.run(&["list"]).expect(0);
    assert_eq!(list.stdout, "before\tagent\nbank.example\talice\n");
    assert_eq!(
        list.touch_prompts().len(),
        0,
        "the unlocked agent lists without a touch"
    );
    let json = env.run(&["list", "--json"]).expect(0);
    assert!(json.stdout.contains("\"service\": \"bank.example\""));
    let missing = env.run(&["get", "nowhere", "nobody"]).expect(1);
    assert_eq!(missing.stdout, "");
    env.run(&["delete", "before", "agent"]).expect(0);
    env.run(&["delete", "before", "agent"]).expect(1);

    let status = env.run(&["status"]).expect(0);
    assert!(
        status.stdout.contains("unlocked, 1 entry"),
        "{}",
        status.stdout
    );

    // --no-agent opens the vault in this process and sees the agent's changes.
    let direct = env
        .run(&["--no-agent", "get", "bank.example", "alice"])
        .expect(0);
    assert_eq!(direct.stdout, "hunter2\n");
    assert_eq!(direct.touch_prompts().len(), 2);
    // TOKENRING_NO_AGENT=1 does the same as --no-agent; "0" does not.
    let mut command = env.command();
    command
        .env("TOKENRING_NO_AGENT", "1")
        .args(["get", "bank.example", "alice"]);
    let from_env = cli_support::Env::run_with_input(command, b"").expect(0);
    assert_eq!(from_env.stdout, "hunter2\n");
    assert_eq!(from_env.touch_prompts().len(), 2, "{from_env:?}");
    let mut command = env.command();
    command
        .env("TOKENRING_NO_AGENT", "0")
        .args(["get", "bank.example", "alice"]);
    let through_agent = cli_support::Env::run_with_input(command, b"").expect(0);
    assert_eq!(through_agent.touch_prompts().len(), 1, "{through_agent:?}");
    // A write without the agent is seen by the agent (nothing lost).
    env.run_input(&["--no-agent", "set", "direct", "write"], "x\n")
        .expect(0);
    assert_eq!(
        env.run(&["list"]).expect(0).stdout,
        "bank.example\talice\ndirect\twrite\n"
    );

    // lock: the next request needs the unlock touch again.
    let lock = env.run(&["lock"]).expect(0);
    assert!(lock.stderr.contains("forgot the vault key"));
    assert!(env
        .run(&["status"])
        .expect(0)
        .stdout
        .contains("locked (the next"));
    assert_eq!(env.run(&["list"]).expect(0).touch_prompts().len(), 1);

    assert_eq!(agent.stop(), Some(0), "a clean shutdown on SIGTERM");
    let status = env.run(&["status"]).expect(0);
    assert!(status.stdout.contains("agent:         not running"));
    let lock = env.run(&["lock"]).expect(0);
    assert!(lock.stderr.contains("nothing to lock"));
}

#[test]
fn errors_keep_their_exit_codes_through_the_agent() {
    let env = Env::with_vault();
    env.set("s", "u", "v");
    // The agent's simulator approves the unlock and denies the next touch.
    let _agent = Agent::start(&env, Some("approve,deny"));
    let run = env.run(&["get", "s", "u"]).expect(6);
    assert!(run.stderr.contains("denied"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
}

#[test]
fn ctrl_c_through_the_agent_cancels_and_exits_130() {
    let env = Env::with_vault();
    let _agent = Agent::start(&env, Some("delay:20000"));
    let mut child = env.command().args(["list"]).spawn().expect("spawn");
    let mut reader = BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).expect("read") > 0, "{seen}");
        seen.push_str(&line);
        if line.starts_with("Touch your authenticator") {
            break;
        }
    }
    let start = Instant::now();
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    reader.read_to_string(&mut seen).expect("read");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "{seen}");
    assert!(seen.contains("tokenring: cancelled"), "{seen}");
    assert!(start.elapsed() < Duration::from_secs(10));
    // The agent is still there and serves the next request.
    let status = env.run(&["status"]).expect(0);
    assert!(status.stdout.contains("running (pid"));
}
