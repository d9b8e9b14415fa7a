//! `tokenring run`: a real child (a shell script) gets the secrets in its
//! environment only, its exit status is ours, signals are passed on; a
//! missing entry, a denied touch and Ctrl-C run nothing; `get --json`.

#![cfg(all(feature = "sim", feature = "cli"))]

mod cli_support;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{Agent, Env, Run};

/// A script that checks its environment: it writes what it saw into
/// `report`, then exits with `code`.
fn checker(env: &Env, code: i32) -> (String, std::path::PathBuf) {
    let script = env.path("check.sh");
    let report = env.path("report");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             {{ printf 'A=%s\\n' \"$TOKEN_A\"; printf 'B=%s\\n' \"$TOKEN_B\"; \
             printf 'args=%s\\n' \"$*\"; \
             if tr '\\0' ' ' < /proc/$$/cmdline | grep -q -- secret-; then echo 'secret on the command line'; fi; \
             }} > '{}'\n\
             exit {code}\n",
            report.display()
        ),
    )
    .expect("script");
    make_executable(&script);
    (script.display().to_string(), report)
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn the_command_gets_the_secrets_in_its_environment_and_its_exit_status_is_ours() {
    let env = Env::with_vault();
    env.set("pypi.org", "__token__", "secret-pypi");
    env.set("git:https://h/team", "alice", "secret-git with spaces");
    let (script, report) = checker(&env, 7);
    let run = env
        .run(&[
            "run",
            "--env",
            "TOKEN_A=pypi.org/__token__",
            "-e",
            "TOKEN_B=git:https://h/team/alice",
            "--",
            &script,
            "one",
            "two",
        ])
        .expect(7);
    let seen = std::fs::read_to_string(&report).expect("the command ran");
    assert_eq!(
        seen, "A=secret-pypi\nB=secret-git with spaces\nargs=one two\n",
        "{run:#?}"
    );
    assert!(!run.stdout.contains("secret-") && !run.stderr.contains("secret-"));
    // Without the agent (format 1): the unlock, then one touch for both
    // secrets (two salts in one assertion), its prompt naming both.
    assert_eq!(
        run.touch_prompts(),
        [
            "Touch your authenticator to unlock the vault",
            "Touch your authenticator to decrypt the passwords for '__token__' in 'pypi.org' \
             and 'alice' in 'git:https://h/team'"
        ],
        "{run:#?}"
    );
}

#[test]
fn through_the_agent_two_secrets_are_one_touch_that_names_both() {
    let env = Env::with_vault();
    env.set("pypi.org", "__token__", "secret-pypi");
    env.set("other", "bob", "secret-other");
    let _agent = Agent::start(&env, None);
    env.run(&["list"]).expect(0); // unlocks the agent
    let (script, report) = checker(&env, 0);
    let run = env
        .run(&[
            "run",
            "-e",
            "TOKEN_A=pypi.org/__token__",
            "-e",
            "TOKEN_B=other/bob",
            "--",
            &script,
        ])
        .expect(0);
    let prompts = run.touch_prompts();
    assert_eq!(prompts.len(), 1, "{run:#?}");
    assert!(
        prompts[0].starts_with(
            "Touch your authenticator to decrypt the passwords for '__token__' in 'pypi.org' \
             and 'bob' in 'other'"
        ),
        "{run:#?}"
    );
    assert!(std::fs::read_to_string(report)
        .expect("ran")
        .starts_with("A=secret-pypi\nB=secret-other\n"));
    // The audit log names both entries the touch released.
    let log = env.run(&["log"]).expect(0);
    let words = log.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("released get_many '__token__' in 'pypi.org' by")
            && words.contains("released get_many 'bob' in 'other' by"),
        "{}",
        log.stdout
    );
    assert!(!log.stdout.contains("secret-"));
}

/// A script that writes `$V1 $V2 $V3` (those that are set) into `report`.
fn three_checker(env: &Env) -> (String, std::path::PathBuf) {
    let script = env.path("check3.sh");
    let report = env.path("report3");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s|%s|%s' \"$V1\" \"$V2\" \"$V3\" > '{}'\n",
            report.display()
        ),
    )
    .expect("script");
    make_executable(&script);
    (script.display().to_string(), report)
}

/// `tokenring run` with the first `n` of three entries; the child's view
/// and the touch prompts.
fn run_n(env: &Env, n: usize) -> (String, Vec<String>) {
    let (script, report) = three_checker(env);
    let _ = std::fs::remove_file(&report);
    let mut args = vec!["run".to_string()];
    for i in 1..=n {
        args.push("-e".into());
        args.push(format!("V{i}=svc{i}.example/user{i}"));
    }
    args.push("--".into());
    args.push(script);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = env.run(&args).expect(0);
    let prompts = run.touch_prompts().iter().map(|p| p.to_string()).collect();
    (
        std::fs::read_to_string(report).expect("the command ran"),
        prompts,
    )
}

#[test]
fn touches_for_one_two_and_three_secrets_in_each_format_with_and_without_the_agent() {
    // (format, in-process touches for 1, 2, 3 secrets): format 1 unlocks
    // first (its entry salts are inside the encrypted list), format 2's
    // unlock touch also reads the first secret; then two per touch.
    for (format, in_process) in [("1", [2, 2, 3]), ("2", [1, 2, 2])] {
        let env = Env::new();
        env.run(&["init", "--format", format]).expect(0);
        for i in 1..=3 {
            env.set(
                &format!("svc{i}.example"),
                &format!("user{i}"),
                &format!("secret-{i}"),
            );
        }
        let expected = [
            "secret-1||",
            "secret-1|secret-2|",
            "secret-1|secret-2|secret-3",
        ];
        for n in 1..=3 {
            let (seen, prompts) = run_n(&env, n);
            assert_eq!(seen, expected[n - 1], "format {format}, {n} in-process");
            assert_eq!(
                prompts.len(),
                in_process[n - 1],
                "format {format}, {n} in-process: {prompts:#?}"
            );
            // Every entry is named by the touch that releases it.
            for i in 1..=n {
                let name = format!("'user{i}' in 'svc{i}.example'");
                assert!(
                    prompts.iter().any(|p| p.contains(&name)),
                    "format {format}: {name} in {prompts:#?}"
                );
            }
        }
        let _agent = Agent::start(&env, None);
        env.run(&["list"]).expect(0); // unlocks the agent
        for (n, touches) in [(1, 1), (2, 1), (3, 2)] {
            let (seen, prompts) = run_n(&env, n);
            assert_eq!(seen, expected[n - 1], "format {format}, {n} with the agent");
            assert_eq!(
                prompts.len(),
                touches,
                "format {format}, {n} with the agent: {prompts:#?}"
            );
        }
    }
}

#[test]
fn a_denied_touch_on_a_pair_fails_both_and_runs_nothing() {
    for format in ["1", "2"] {
        let env = Env::new();
        env.run(&["init", "--format", format]).expect(0);
        env.set("pypi.org", "__token__", "secret-pypi");
        env.set("other", "bob", "secret-other");
        env.set("third", "carol", "secret-third");
        let (script, report) = checker(&env, 0);
        let mut command = env.command();
        // Format 1: unlock, then the pair is denied. Format 2: the unlock
        // touch reads TOKEN_A, then the pair (B, C) is denied.
        command.env("TOKENRING_SIM_PRESENCE", "approve,deny").args([
            "run",
            "-e",
            "TOKEN_A=pypi.org/__token__",
            "-e",
            "TOKEN_B=other/bob",
            "-e",
            "TOKEN_C=third/carol",
            "--",
            &script,
        ]);
        let run = Env::run_with_input(command, b"").expect(6);
        assert!(run.stderr.contains("denied"), "{run:#?}");
        assert!(
            !report.exists(),
            "format {format}: the command must not run"
        );
        assert!(!run.stdout.contains("secret-") && !run.stderr.contains("secret-"));
        let pair = if format == "1" {
            "'__token__' in 'pypi.org' and 'bob' in 'other'"
        } else {
            "'bob' in 'other' and 'carol' in 'third'"
        };
        assert!(
            run.touch_prompts()
                .last()
                .is_some_and(|p| p.contains(&format!("decrypt the passwords for {pair}"))),
            "format {format}: {run:#?}"
        );
    }
}

#[test]
fn a_missing_entry_runs_nothing_and_asks_for_no_secret() {
    let env = Env::with_vault();
    env.set("pypi.org", "__token__", "secret-pypi");
    let (script, report) = checker(&env, 0);
    let run = env
        .run(&[
            "run",
            "-e",
            "TOKEN_A=pypi.org/__token__",
            "-e",
            "TOKEN_B=nowhere/nobody",
            "--",
            &script,
        ])
        .expect(1);
    assert!(
        run.stderr
            .contains("no such entry for TOKEN_B ('nobody' in 'nowhere'); nothing was run"),
        "{run:#?}"
    );
    assert!(!report.exists(), "the command must not run");
    // Only the unlock: no secret was decrypted.
    assert_eq!(
        run.touch_prompts(),
        ["Touch your authenticator to unlock the vault"]
    );
}

#[test]
fn a_denied_touch_runs_nothing() {
    let env = Env::with_vault();
    env.set("pypi.org", "__token__", "secret-pypi");
    let (script, report) = checker(&env, 0);
    let mut command = env.command();
    command.env("TOKENRING_SIM_PRESENCE", "approve,deny").args([
        "run",
        "-e",
        "TOKEN_A=pypi.org/__token__",
        "--",
        &script,
    ]);
    let run = Env::run_with_input(command, b"").expect(6);
    assert!(run.stderr.contains("denied"), "{run:#?}");
    assert!(!report.exists(), "the command must not run");
}

#[test]
fn a_command_that_is_not_there_is_127() {
    let env = Env::with_vault();
    env.set("s", "u", "secret-x");
    let run = env
        .run(&["run", "-e", "X=s/u", "--", "/nonexistent/command"])
        .expect(127);
    assert!(run.stderr.contains("cannot run /nonexistent/command"));
}

#[test]
fn usage_errors_are_refused_before_anything() {
    let env = Env::with_vault();
    for args in [
        &["run", "-e", "X=s/u"][..],
        &["run", "-e", "1X=s/u", "--", "true"],
        &["run", "-e", "X=su", "--", "true"],
        &["run", "--", "true"],
    ] {
        let run = env.run(args);
        assert_eq!(run.code, Some(2), "{args:?}: {run:#?}");
        assert!(run.touch_prompts().is_empty());
    }
    let run = env
        .run(&["run", "-e", "X=s/u", "-e", "X=t/v", "--", "true"])
        .expect(11);
    assert!(run.stderr.contains("the variable X is given twice"));
}

/// Waits until `path` exists.
fn wait_for(path: &Path, child: &mut Child) {
    let start = Instant::now();
    while !path.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut stderr);
            }
            panic!("tokenring ended early ({status}): {stderr}");
        }
        assert!(start.elapsed() < Duration::from_secs(30), "timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(child: &Child, signal: &str) {
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
}

fn finish(child: Child) -> Run {
    let output = child.wait_with_output().expect("wait");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn signals_sent_to_tokenring_run_reach_the_command() {
    let env = Env::with_vault();
    env.set("s", "u", "secret-x");
    let script = env.path("trap.sh");
    let started = env.path("started");
    let got = env.path("got");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntrap 'echo TERM > {got}; exit 42' TERM\ntouch {started}\n\
             while :; do sleep 0.05; done\n",
            got = got.display(),
            started = started.display()
        ),
    )
    .expect("script");
    make_executable(&script);
    let mut child = env
        .command()
        .args(["run", "-e", "X=s/u", "--", &script.display().to_string()])
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn");
    wait_for(&started, &mut child);
    kill(&child, "-TERM");
    let run = finish(child);
    assert_eq!(run.code, Some(42), "{run:#?}");
    assert_eq!(std::fs::read_to_string(got).expect("trapped"), "TERM\n");
}

#[test]
fn a_command_killed_by_a_signal_gives_128_plus_it() {
    let env = Env::with_vault();
    env.set("s", "u", "secret-x");
    let run = env
        .run(&["run", "-e", "X=s/u", "--", "sh", "-c", "kill -KILL $$"])
        .expect(137);
    assert!(run.stdout.is_empty());
}

#[test]
fn ctrl_c_while_waiting_for_a_touch_cancels_and_runs_nothing() {
    let env = Env::with_vault();
    env.set("s", "u", "secret-x");
    let (script, report) = checker(&env, 0);
    let mut command = env.command();
    command
        .env("TOKENRING_SIM_PRESENCE", "approve,delay:30000")
        .args(["run", "-e", "TOKEN_A=s/u", "--", &script]);
    let mut child = command.spawn().expect("spawn");
    // Wait for the second touch prompt (the secret's), then Ctrl-C.
    let mut stderr = child.stderr.take().expect("stderr");
    let mut seen = String::new();
    let start = Instant::now();
    let mut buffer = [0u8; 256];
    while seen.matches("Touch your authenticator").count() < 2 {
        let n = stderr.read(&mut buffer).expect("read");
        assert!(n > 0, "tokenring ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
        assert!(start.elapsed() < Duration::from_secs(30), "{seen}");
    }
    kill(&child, "-INT");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    assert!(!report.exists(), "the command must not run");
}

#[test]
fn get_json_prints_the_entry_for_scripts() {
    let env = Env::with_vault();
    env.set("pypi.org", "__token__", "secret \"quoted\" é");
    let run = env
        .run(&["get", "--json", "pypi.org", "__token__"])
        .expect(0);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(
        value,
        serde_json::json!({"service": "pypi.org", "user": "__token__",
                           "password": "secret \"quoted\" é"})
    );
    let missing = env.run(&["get", "--json", "nope", "x"]).expect(1);
    assert_eq!(missing.stdout, "");
}

#[test]
fn an_env_file_names_the_secrets() {
    let env = Env::with_vault();
    env.set("pypi.org", "__token__", "secret-pypi");
    env.set("other", "bob", "secret-other");
    let (script, report) = checker(&env, 0);
    let file = env.path("refs");
    std::fs::write(
        &file,
        "# deploy\nTOKEN_A=pypi.org/__token__\n\n  TOKEN_B=other/bob  \n",
    )
    .expect("refs");
    env.run(&[
        "run",
        "--env-file",
        &file.display().to_string(),
        "--",
        &script,
    ])
    .expect(0);
    assert!(std::fs::read_to_string(report)
        .expect("ran")
        .starts_with("A=secret-pypi\nB=secret-other\n"));
    std::fs::write(&file, "TOKEN_A=pypi.org\n").expect("refs");
    let run = env
        .run(&[
            "run",
            "--env-file",
            &file.display().to_string(),
            "--",
            &script,
        ])
        .expect(11);
    assert!(
        run.stderr
            .contains("refs:1: \"pypi.org\" is not SERVICE/USER"),
        "{run:#?}"
    );
}

#[test]
fn a_missing_entry_in_a_format_2_vault_runs_nothing_after_the_unlock_touch() {
    let env = Env::new();
    env.run(&["init", "--format", "2"]).expect(0);
    env.set("pypi.org", "__token__", "secret-pypi");
    env.set("other", "bob", "secret-other");
    let (script, report) = checker(&env, 0);
    let run = env
        .run(&[
            "run",
            "-e",
            "TOKEN_A=pypi.org/__token__",
            "-e",
            "TOKEN_B=nowhere/nobody",
            "-e",
            "TOKEN_C=other/bob",
            "--",
            &script,
        ])
        .expect(1);
    assert!(
        run.stderr
            .contains("no such entry for TOKEN_B ('nobody' in 'nowhere'); nothing was run"),
        "{run:#?}"
    );
    assert!(!report.exists(), "the command must not run");
    // Only the unlock touch (which in format 2 also reads the first entry,
    // and says so); no touch for the others.
    assert_eq!(
        run.touch_prompts(),
        [
            "Touch your authenticator to unlock the vault and decrypt the password for \
          '__token__' in 'pypi.org'"
        ],
        "{run:#?}"
    );
}
