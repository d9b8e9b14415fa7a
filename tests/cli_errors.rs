//! The errors a user sees, each with its
//! message and exit code, through the real binary against the simulator.

#![cfg(all(feature = "sim", feature = "cli"))]

mod cli_support;

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use cli_support::{create_sim, Env, Run};

#[test]
fn wrong_pin_says_how_many_tries_are_left() {
    let env = Env::new();
    std::fs::write(&env.pin_file, "9999\n").expect("pin file");
    let run = env.run(&["init"]).expect(5);
    assert!(
        run.stderr.contains(
            "tokenring: error: wrong PIN: 7 tries left before the authenticator blocks its PIN"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("9999"));
    assert!(!env.vault.exists());
    // The wrong PIN was tried once, not again.
    assert_eq!(env.sim_state().pin_retries(), 7);
    // The right PIN then works and resets the counter.
    std::fs::write(&env.pin_file, "1234\n").expect("pin file");
    env.run(&["init"]).expect(0);
    assert_eq!(env.sim_state().pin_retries(), 8);
}

#[test]
fn pin_declined_without_a_terminal() {
    let env = Env::new();
    let mut command = env.command();
    command.env_remove("TOKENRING_PIN_FILE").arg("init");
    let run = Env::run_with_input(command, b"");
    let run = run.expect(5);
    assert!(run
        .stderr
        .contains("tokenring: error: a PIN is needed and none was given"));
    assert!(!env.vault.exists());
    assert_eq!(env.sim_state().pin_retries(), 8, "no PIN was tried");
    // An empty PIN file declines too.
    std::fs::write(&env.pin_file, "\n").expect("pin file");
    env.run(&["init"]).expect(5);
}

#[test]
fn pin_blocked() {
    let env = Env::new();
    std::fs::write(&env.pin_file, "9999\n").expect("pin file");
    // Three wrong PINs in a row need a power cycle (a new process opens the
    // simulator afresh); eight block the PIN.
    for _ in 0..8 {
        env.run(&["init"]).expect(5);
    }
    let run = env.run(&["init"]).expect(5);
    assert!(run.stderr.contains("PIN is blocked"), "{}", run.stderr);
}

#[test]
fn denied_touch() {
    let env = Env::with_vault();
    env.set("s", "u", "v");
    let mut command = env.command();
    command
        .env("TOKENRING_SIM_PRESENCE", "deny")
        .args(["get", "s", "u"]);
    let run = Env::run_with_input(command, b"").expect(6);
    assert!(run
        .stderr
        .contains("tokenring: error: the operation was denied on the authenticator"));
    assert_eq!(run.stdout, "");
    // Denied on the second touch (the entry), after the unlock.
    let mut command = env.command();
    command
        .env("TOKENRING_SIM_PRESENCE", "approve,deny")
        .args(["get", "s", "u"]);
    let run = Env::run_with_input(command, b"").expect(6);
    assert_eq!(run.touch_prompts().len(), 2);
    assert_eq!(run.stdout, "");
}

#[test]
fn presence_timeout_is_reported_quickly_on_the_virtual_clock() {
    let env = Env::with_vault();
    let start = Instant::now();
    let mut command = env.command();
    command
        .env("TOKENRING_SIM_PRESENCE", "timeout")
        .args(["list"]);
    let run = Env::run_with_input(command, b"").expect(6);
    assert!(run.stderr.contains(
        "the authenticator was not touched in time; try again and touch it when it blinks"
    ));
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
fn a_delayed_touch_is_waited_for() {
    let env = Env::with_vault();
    env.set("s", "u", "v");
    let mut command = env.command();
    command
        .env("TOKENRING_SIM_PRESENCE", "delay:150")
        .args(["get", "s", "u"]);
    assert_eq!(Env::run_with_input(command, b"").expect(0).stdout, "v\n");
}

/// Starts `tokenring ARGS` with the simulator waiting `delay:20000` for a
/// touch, waits for the touch prompt on stderr, sends SIGINT `signals`
/// times, and returns what it printed and how it ended.
fn interrupt_during_touch(env: &Env, args: &[&str], signals: usize) -> (Run, Duration) {
    signal_during_touch(env, args, "-INT", signals)
}

/// As [`interrupt_during_touch`], with any signal (`-TERM`, `-HUP`, …).
fn signal_during_touch(env: &Env, args: &[&str], signal: &str, signals: usize) -> (Run, Duration) {
    let mut command = env.command();
    command
        .env("TOKENRING_SIM_PRESENCE", "delay:20000")
        .args(args);
    let mut child = command.spawn().expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut reader = BufReader::new(stderr);
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("read stderr");
        assert!(n > 0, "tokenring ended before asking for a touch: {seen}");
        seen.push_str(&line);
        if line.starts_with("Touch your authenticator") {
            break;
        }
    }
    let start = Instant::now();
    for _ in 0..signals {
        let status = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut rest = String::new();
    reader.read_to_string(&mut rest).expect("read stderr");
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout).expect("read stdout");
    }
    let status = child.wait().expect("wait");
    seen.push_str(&rest);
    (
        Run {
            code: status.code(),
            stdout,
            stderr: seen,
        },
        start.elapsed(),
    )
}

#[test]
fn ctrl_c_while_waiting_for_a_touch_sends_ctap_cancel_and_exits_130() {
    let env = Env::with_vault();
    env.set("s", "u", "v");
    let (run, took) = interrupt_during_touch(&env, &["get", "s", "u"], 1);
    let run = run.expect(130);
    // The authenticator answered CTAP2_ERR_KEEPALIVE_CANCEL to the cancel:
    // the command ended through the cancelled operation, not by exiting
    // from the signal handler.
    assert!(
        run.stderr
            .contains("tokenring: cancelled; the authenticator was told to stop waiting"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("interrupted"));
    assert_eq!(run.stdout, "");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn sigterm_and_sighup_while_waiting_for_a_touch_also_send_ctap_cancel() {
    let env = Env::with_vault();
    env.set("s", "u", "v");
    for signal in ["-TERM", "-HUP"] {
        let (run, took) = signal_during_touch(&env, &["get", "s", "u"], signal, 1);
        let run = run.expect(130);
        assert!(
            run.stderr
                .contains("tokenring: cancelled; the authenticator was told to stop waiting"),
            "{signal}: {}",
            run.stderr
        );
        assert_eq!(run.stdout, "");
        assert!(took < Duration::from_secs(10), "{signal} took {took:?}");
    }
}

#[test]
fn ctrl_c_twice_exits_at_once() {
    let env = Env::with_vault();
    let (run, took) = interrupt_during_touch(&env, &["list"], 2);
    run.expect(130);
    assert!(took < Duration::from_secs(10));
}

#[test]
fn a_corrupt_vault_is_left_untouched() {
    let env = Env::with_vault();
    env.set("s", "u", "v");
    let good = std::fs::read(&env.vault).expect("vault");

    let mut truncated = good.clone();
    truncated.truncate(good.len() / 2);
    std::fs::write(&env.vault, &truncated).expect("write");
    for run in [
        env.run(&["list"]),
        env.run(&["get", "s", "u"]),
        env.run(&["delete", "s", "u"]),
        env.run_input(&["set", "s", "u"], "new\n"),
    ] {
        let run = run.expect(7);
        assert!(
            run.stderr.contains("is not a valid TokenRing vault")
                && run.stderr.contains("the file was left untouched"),
            "{}",
            run.stderr
        );
        assert_eq!(
            run.touch_prompts().len(),
            0,
            "no touch for a file that does not parse"
        );
        assert_eq!(std::fs::read(&env.vault).expect("vault"), truncated);
    }

    // Tampered: one character of the encrypted data changed.
    let text = String::from_utf8(good.clone()).expect("utf-8");
    let at = text
        .rfind("\"data\"")
        .map(|i| i + 20)
        .unwrap_or(text.len() - 40);
    let mut tampered = good.clone();
    tampered[at] = if tampered[at] == b'a' { b'b' } else { b'a' };
    std::fs::write(&env.vault, &tampered).expect("write");
    let run = env.run(&["list"]).expect(7);
    assert!(
        run.stderr.contains("the file was left untouched"),
        "{}",
        run.stderr
    );
    let run = env.run_input(&["set", "x", "y"], "z\n").expect(7);
    assert!(run.stderr.contains("the file was left untouched"));
    assert_eq!(std::fs::read(&env.vault).expect("vault"), tampered);
}

#[test]
fn wrong_authenticator_lists_what_was_tried() {
    let env = Env::with_vault();
    let other = env.path("other.json");
    create_sim(&other, 2);
    let selector = format!("sim:{}", other.display());
    let run = env.run(&["--authenticator", &selector, "list"]).expect(4);
    assert!(
        run.stderr.contains(&format!(
            "tokenring: error: none of the connected authenticators holds this vault's credential (tried: {selector} (TokenRing simulated authenticator))"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(run.touch_prompts().len(), 0, "found out without a touch");
    let state = tokenring_sim::Simulator::open(&other).expect("sim");
    assert_eq!(state.state().sign_count, 0);
}

#[test]
fn no_authenticator_says_to_plug_one_in() {
    let env = Env::with_vault();
    let mut devices = env.command();
    devices
        .env_remove("TOKENRING_AUTHENTICATOR")
        .args(["devices", "--json"]);
    let listed = Env::run_with_input(devices, b"").expect(0);
    let value: serde_json::Value = serde_json::from_str(&listed.stdout).expect("JSON");
    if value["devices"]
        .as_array()
        .is_some_and(|d| d.iter().any(|d| d["error"].is_null()))
    {
        eprintln!("skipped: a real authenticator is connected");
        return;
    }
    let mut command = env.command();
    command.env_remove("TOKENRING_AUTHENTICATOR").arg("list");
    let run = Env::run_with_input(command, b"").expect(3);
    assert!(run.stderr.contains(
        "tokenring: error: no authenticator found: plug in your authenticator or hold it to the reader"
    ));
    let mut command = env.command();
    command.env_remove("TOKENRING_AUTHENTICATOR").arg("init");
    command.env("TOKENRING_VAULT", env.path("new.tokenvault"));
    Env::run_with_input(command, b"").expect(3);
}

#[test]
fn vault_locked_by_another_process_says_who() {
    let env = Env::with_vault();
    let _lock =
        tokenring_vault::VaultLock::acquire(&env.vault, Duration::from_secs(1)).expect("lock");
    let run = env.run_input(&["set", "s", "u"], "v\n").expect(8);
    assert!(
        run.stderr.contains(&format!(
            "is locked by another process (pid {})",
            std::process::id()
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn secrets_never_appear_in_errors() {
    let env = Env::with_vault();
    env.set("s", "u", "sup3r-s3cret");
    let mut command = env.command();
    command
        .env("TOKENRING_SIM_PRESENCE", "approve,deny")
        .args(["get", "s", "u"]);
    let run = Env::run_with_input(command, b"").expect(6);
    assert!(!run.stderr.contains("sup3r-s3cret") && !run.stdout.contains("sup3r-s3cret"));
    let run = env.run_input(&["set", "s", "u"], "").expect(11);
    assert!(!run.stderr.contains("sup3r-s3cret"));
}
