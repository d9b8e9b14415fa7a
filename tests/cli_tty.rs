//! `tokenring` on a terminal: hidden entry of the secret (asked twice) and
//! of the PIN (with the retries left), through a pseudo-terminal made by
//! util-linux `script`.

#![cfg(all(feature = "sim", feature = "cli"))]

mod cli_support;

use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cli_support::Env;

/// Runs `tokenring ARGS` on a pseudo-terminal; each time `prompt` appears
/// in the output, types `answer` and Enter. The exit code and everything
/// the terminal showed.
fn on_tty(env: &Env, args: &[&str], dialogue: &[(&str, &str)]) -> Option<(Option<i32>, String)> {
    if std::process::Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        eprintln!("skipped: util-linux `script` is not installed");
        return None;
    }
    let line = std::iter::once(env!("CARGO_BIN_EXE_tokenring"))
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut command = env.wrapped(&["script", "-qec", &line, "/dev/null"]);
    command
        .env_remove("TOKENRING_PIN_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().expect("spawn script");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let screen = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let screen = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 256];
            while let Ok(n) = stdout.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                screen.lock().expect("lock").extend_from_slice(&buffer[..n]);
            }
        })
    };
    let mut seen = 0;
    for (prompt, answer) in dialogue {
        let start = Instant::now();
        loop {
            let text = String::from_utf8_lossy(&screen.lock().expect("lock")).into_owned();
            if let Some(at) = text.get(seen..).and_then(|rest| rest.find(prompt)) {
                seen += at + prompt.len();
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no {prompt:?} on the terminal: {text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Let the prompt switch echo off before typing.
        std::thread::sleep(Duration::from_millis(100));
        stdin
            .write_all(format!("{answer}\r").as_bytes())
            .expect("type");
        stdin.flush().expect("flush");
    }
    let status = child.wait().expect("wait");
    drop(stdin);
    reader.join().expect("reader");
    let text = String::from_utf8_lossy(&screen.lock().expect("lock")).into_owned();
    Some((status.code(), text))
}

#[test]
fn set_on_a_terminal_asks_twice_without_echo() {
    let env = Env::with_vault();
    let Some((code, screen)) = on_tty(
        &env,
        &["set", "bank.example", "alice"],
        &[
            ("Password for 'alice' in 'bank.example': ", "Tr0ub4dor&3"),
            ("Repeat it: ", "Tr0ub4dor&3"),
        ],
    ) else {
        return;
    };
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        !screen.contains("Tr0ub4dor"),
        "the secret was echoed: {screen}"
    );
    assert_eq!(
        env.run(&["get", "bank.example", "alice"]).expect(0).stdout,
        "Tr0ub4dor&3\n"
    );
}

#[test]
fn set_on_a_terminal_refuses_two_different_answers() {
    let env = Env::with_vault();
    let Some((code, screen)) = on_tty(
        &env,
        &["set", "s", "u"],
        &[("Password for 'u' in 's': ", "one"), ("Repeat it: ", "two")],
    ) else {
        return;
    };
    assert_eq!(code, Some(11), "{screen}");
    assert!(screen.contains("the two passwords differ; nothing was stored"));
    assert!(!screen.contains("Touch your authenticator"), "{screen}");
    env.run(&["get", "s", "u"]).expect(1);
}

#[test]
fn the_pin_is_asked_on_the_terminal_with_the_retries_left() {
    let env = Env::new();
    let Some((code, screen)) = on_tty(
        &env,
        &["init"],
        &[
            ("(8 tries left) (empty to cancel): ", "0000"),
            ("Wrong PIN. Enter your authenticator's PIN to register this authenticator for hardware.keychain.glyph.im (7 tries left) (empty to cancel): ", cli_support::PIN),
        ],
    ) else {
        return;
    };
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        !screen.contains("0000") && !screen.contains(cli_support::PIN),
        "{screen}"
    );
    assert!(screen.contains("Created the vault"));
    assert_eq!(env.sim_state().pin_retries(), 8);
}

#[test]
fn an_empty_pin_declines() {
    let env = Env::new();
    let Some((code, screen)) = on_tty(&env, &["init"], &[("(empty to cancel): ", "")]) else {
        return;
    };
    assert_eq!(code, Some(5), "{screen}");
    assert!(screen.contains("a PIN is needed and none was given"));
    assert_eq!(env.sim_state().pin_retries(), 8);
}

#[test]
fn ctrl_c_at_the_pin_prompt_exits_130() {
    let env = Env::new();
    let Some((code, screen)) = on_tty(&env, &["init"], &[("(empty to cancel): ", "\u{3}")]) else {
        return;
    };
    assert_eq!(code, Some(130), "{screen}");
    assert!(screen.contains("tokenring: interrupted"), "{screen}");
    assert!(!env.vault.exists());
}

#[test]
fn import_removes_the_plaintext_only_when_confirmed() {
    let env = Env::with_vault();
    let file = env.path(".git-credentials");
    let text = "https://alice:s3cret@git.example.com\n";
    std::fs::write(&file, text).expect("write");
    let question = "Remove the moved secret from";
    let Some((code, screen)) = on_tty(&env, &["import", "git"], &[("[y/N] ", "n")]) else {
        return;
    };
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains(question), "{screen}");
    assert!(screen.contains("still holds the plaintext"), "{screen}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), text);
    assert!(!env.path(".git-credentials.tokenring-backup").exists());

    let Some((code, screen)) = on_tty(&env, &["import", "git"], &[("[y/N] ", "y")]) else {
        return;
    };
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("Removed 1 secret from"), "{screen}");
    assert!(!screen.contains("s3cret"), "{screen}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "");
    assert_eq!(
        std::fs::read_to_string(env.path(".git-credentials.tokenring-backup")).expect("backup"),
        text
    );
}

#[test]
fn pin_change_on_a_terminal_asks_the_current_pin_then_the_new_one_twice() {
    let env = Env::new();
    let Some((code, screen)) = on_tty(
        &env,
        &["pin", "change"],
        &[
            (
                "Enter your authenticator's current PIN to change it (8 tries left) (empty to cancel): ",
                cli_support::PIN,
            ),
            ("Enter the new PIN for your authenticator: ", "97531"),
            ("Repeat it: ", "97531"),
        ],
    ) else {
        return;
    };
    assert_eq!(code, Some(0), "{screen}");
    assert!(!screen.contains("97531"), "the PIN was echoed: {screen}");
    assert!(screen.contains("Changed the PIN"), "{screen}");
    // The new PIN is the one the authenticator now wants.
    std::fs::write(&env.pin_file, "97531\n").expect("pin file");
    env.run(&["init"]).expect(0);
}

#[test]
fn pin_set_on_a_terminal_refuses_two_different_answers() {
    let env = Env::new();
    std::fs::remove_file(&env.sim).expect("remove the default simulator");
    tokenring_sim::Simulator::create(tokenring_sim::SimConfig::with_seed(3), &env.sim)
        .expect("sim");
    let Some((code, screen)) = on_tty(
        &env,
        &["pin", "set"],
        &[
            ("Choose a new PIN for your authenticator: ", "24680"),
            ("Repeat it: ", "24681"),
        ],
    ) else {
        return;
    };
    assert_eq!(code, Some(11), "{screen}");
    assert!(
        screen.contains("the two PINs differ; nothing was changed"),
        "{screen}"
    );
}
