//! Vault format 2 through the real `tokenring` binary on simulators: a
//! backup key that reads everything after the daily key is gone, rekey,
//! conversions, one touch per secret with and without the agent.

#![cfg(all(feature = "sim", feature = "cli"))]

mod cli_support;

use cli_support::{create_sim, Agent, Env};

fn with(env: &Env, sim: &std::path::Path, args: &[&str]) -> cli_support::Run {
    let mut command = env.command();
    command
        .env("TOKENRING_AUTHENTICATOR", format!("sim:{}", sim.display()))
        .args(args);
    let output = command.output().expect("run tokenring");
    cli_support::Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn backup_key_reads_everything_after_the_daily_key_is_gone() {
    let env = Env::new();
    let init = env
        .run(&["init", "--format", "2", "--label", "daily"])
        .expect(0);
    assert!(init.stderr.contains("(format 2)"), "{init:#?}");
    let b = env.path("b.json");
    create_sim(&b, 2);
    let b_selector = format!("sim:{}", b.display());
    let add = env
        .run(&["key", "add", "--new", &b_selector, "--label", "drawer"])
        .expect(0);
    assert_eq!(add.touch_prompts().len(), 2, "{add:#?}");
    assert!(add
        .stderr
        .contains("one touch (it supports hmac-secret-mc)"));

    // Secrets stored with only A present.
    env.set("pypi.org", "__token__", "pypi-secret");
    env.set("bank.example", "alice", "hunter2");
    let list = env.run(&["key", "list"]).expect(0);
    assert!(
        list.stdout.contains("\tdaily\t") && list.stdout.contains("\tdrawer\t"),
        "{list:#?}"
    );

    // A is gone (its state file deleted; a copy kept to try later).
    let a_old = env.path("a-old.json");
    std::fs::copy(&env.sim, &a_old).expect("copy A");
    std::fs::remove_file(&env.sim).expect("delete A");
    for (service, user, secret) in [
        ("pypi.org", "__token__", "pypi-secret"),
        ("bank.example", "alice", "hunter2"),
    ] {
        let get = with(&env, &b, &["get", service, user]).expect(0);
        assert_eq!(get.stdout, format!("{secret}\n"));
        assert_eq!(
            get.touch_prompts().len(),
            1,
            "one touch with the backup: {get:#?}"
        );
    }

    // Remove A's slot and rekey with B alone.
    let remove = with(&env, &b, &["key", "remove", "daily"]).expect(0);
    assert!(remove.stderr.contains("tokenring rekey"));
    with(&env, &b, &["key", "remove", "drawer"]).expect(2);
    let rekey = with(&env, &b, &["rekey"]).expect(0);
    assert_eq!(rekey.touch_prompts().len(), 1, "{rekey:#?}");
    assert_eq!(
        with(&env, &b, &["get", "pypi.org", "__token__"])
            .expect(0)
            .stdout,
        "pypi-secret\n"
    );
    // A copy of A's old state opens nothing of the current file.
    with(&env, &a_old, &["get", "pypi.org", "__token__"]).expect(4);
    with(&env, &a_old, &["list"]).expect(4);
}

#[test]
fn one_touch_per_get_without_and_with_the_agent() {
    let env = Env::new();
    env.run(&["init", "--format", "2"]).expect(0);
    env.set("s", "u", "secret");
    let get = env.run(&["get", "s", "u"]).expect(0);
    assert_eq!(get.stdout, "secret\n");
    assert_eq!(
        get.touch_prompts(),
        ["Touch your authenticator to unlock the vault and decrypt the password for 'u' in 's'"],
        "{get:#?}"
    );
    let _agent = Agent::start(&env, None);
    env.run(&["list"]).expect(0);
    for _ in 0..2 {
        let get = env.run(&["get", "s", "u"]).expect(0);
        assert_eq!(get.stdout, "secret\n");
        assert_eq!(get.touch_prompts().len(), 1, "{get:#?}");
    }
}

#[test]
fn convert_to_2_asks_or_takes_yes_and_back_to_1() {
    let env = Env::with_vault();
    env.set("bank.example", "alice", "pässwörd");
    let before = std::fs::read(&env.vault).expect("read");
    let refused = env.run(&["convert", "--to", "2"]).expect(11);
    assert!(refused.stderr.contains("--yes"), "{refused:#?}");
    assert_eq!(
        std::fs::read(&env.vault).expect("read"),
        before,
        "untouched"
    );
    env.run(&["convert", "--to", "2", "--yes"]).expect(0);
    assert_eq!(&std::fs::read(&env.vault).expect("read")[..4], b"\x89TRV");
    assert_eq!(
        env.run(&["get", "bank.example", "alice"]).expect(0).stdout,
        "pässwörd\n"
    );
    // Format-1 commands that need format 2 say so.
    env.run(&["convert", "--to", "1", "--yes"]).expect(0);
    assert_eq!(std::fs::read(&env.vault).expect("read")[0], b'{');
    assert_eq!(
        env.run(&["get", "bank.example", "alice"]).expect(0).stdout,
        "pässwörd\n"
    );
    let not2 = env.run(&["key", "list"]).expect(2);
    assert!(not2.stderr.contains("convert --to 2"));
}

#[test]
fn require_uv_vault_needs_the_pin_for_every_secret() {
    let env = Env::new();
    env.run(&["init", "--require-uv"]).expect(0);
    let list = env.run(&["key", "list"]).expect(0);
    assert!(
        list.stdout.contains("touch + PIN/UV\tcredProtect 3"),
        "{list:#?}"
    );
    env.set("s", "u", "p");
    assert_eq!(env.run(&["get", "s", "u"]).expect(0).stdout, "p\n");
    // Without the PIN: nothing.
    let mut command = env.command();
    command
        .env_remove("TOKENRING_PIN_FILE")
        .args(["get", "s", "u"]);
    let output = command.output().expect("run");
    assert_eq!(output.status.code(), Some(5));
    assert!(output.stdout.is_empty());
}
