//! `git-credential-tokenring` run directly, as git runs it: malformed
//! input, unknown operations, no vault — never a panic, never a hang,
//! nothing on stdout unless it answers.

#![cfg(all(feature = "sim", feature = "cli"))]

mod cli_support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{Env, Run};

fn helper(env: &Env, args: &[&str], input: &[u8]) -> Run {
    let mut command: Command = env.wrapped(&[env!("CARGO_BIN_EXE_git-credential-tokenring")]);
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Env::run_with_input(command, input)
}

#[test]
fn malformed_input_is_ignored_without_a_panic() {
    let env = Env::with_vault();
    let inputs: [&[u8]; 6] = [
        b"",
        b"\n\n\n",
        b"no equals\n=\n==\nprotocol\nhost\n",
        b"protocol=https\0\nhost=\xff\xfe\n",
        b"\xff\xff\xff\xff",
        &[b'x'; 100_000],
    ];
    for input in inputs {
        for operation in ["get", "store", "erase"] {
            let run = helper(&env, &[operation], input);
            assert_eq!(run.code, Some(0), "{operation}: {run:#?}");
            assert_eq!(run.stdout, "", "{operation}");
            assert!(!run.stderr.contains("panicked"), "{run:#?}");
        }
    }
}

#[test]
fn unknown_operations_are_ignored_and_usage_is_explained() {
    let env = Env::with_vault();
    let run = helper(&env, &["capability"], b"protocol=https\nhost=h\n");
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (Some(0), "", "")
    );
    let run = helper(&env, &[], b"");
    assert_eq!(run.code, Some(2));
    assert!(run
        .stderr
        .contains("usage: git-credential-tokenring get|store|erase"));
    let run = helper(&env, &["--help"], b"");
    assert_eq!(run.code, Some(0));
    assert!(run.stdout.contains("credential.helper"));
}

#[test]
fn get_answers_from_the_vault_and_nothing_without_one() {
    let env = Env::with_vault();
    env.set("git:https://git.example.com", "alice", "pw");
    let run = helper(
        &env,
        &["get"],
        b"protocol=https\nhost=git.example.com\nusername=alice\n",
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stdout, "username=alice\npassword=pw\n");

    let empty = Env::new();
    let run = helper(
        &empty,
        &["get"],
        b"protocol=https\nhost=git.example.com\nusername=alice\n",
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .contains("tokenring: no password for git from TokenRing: "),
        "{}",
        run.stderr
    );
}

#[test]
fn answers_without_waiting_for_the_end_of_input() {
    let env = Env::with_vault();
    env.set("git:https://git.example.com", "alice", "pw");
    let mut command: Command = env.wrapped(&[env!("CARGO_BIN_EXE_git-credential-tokenring")]);
    command
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().expect("spawn the helper");
    // Keep our end of stdin open after the blank line.
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"protocol=https\nhost=git.example.com\nusername=alice\n\n")
        .expect("write");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the helper waited for the end of input");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(stdin);
    assert!(status.success());
    let mut answer = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut answer)
        .expect("read");
    assert_eq!(answer, "username=alice\npassword=pw\n");
}

#[test]
fn through_the_agent_an_older_gits_store_after_get_costs_no_touch() {
    // Before 2.46, git sends no `capability[]=state` and hands no state[]
    // back with `store`: the helper cannot tell that the credential is the
    // one it answered, but the agent remembers what it just released.
    let env = Env::with_vault();
    env.set("git:https://git.example.com", "alice", "pw");
    let _agent = cli_support::Agent::start(&env, None);
    let touches = |run: &Run| run.stderr.matches("Touch your authenticator").count();
    let query = b"protocol=https\nhost=git.example.com\nusername=alice\n";
    let run = helper(&env, &["get"], query);
    assert_eq!(run.stdout, "username=alice\npassword=pw\n", "{run:#?}");
    assert_eq!(touches(&run), 2, "unlock + entry: {run:#?}");
    let approved = b"protocol=https\nhost=git.example.com\nusername=alice\npassword=pw\n";
    let run = helper(&env, &["store"], approved);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(
        touches(&run),
        0,
        "no second tap for the same value: {run:#?}"
    );
    // A store of another value is a real one (one touch), and is stored.
    let run = helper(&env, &["get"], query);
    assert_eq!(touches(&run), 1, "{run:#?}");
    let changed = b"protocol=https\nhost=git.example.com\nusername=alice\npassword=new\n";
    let run = helper(&env, &["store"], changed);
    assert_eq!(touches(&run), 1, "{run:#?}");
    let run = helper(&env, &["get"], query);
    assert_eq!(run.stdout, "username=alice\npassword=new\n", "{run:#?}");
    // The agent's audit log says which store it skipped.
    let log = env.run(&["log"]).expect(0);
    assert_eq!(
        log.stdout
            .matches("unchanged  set 'alice' in 'git:https://git.example.com'")
            .count(),
        1,
        "{}",
        log.stdout
    );
}
