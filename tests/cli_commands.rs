//! Every `tokenring` command through the real binary, against the simulator.

#![cfg(all(feature = "sim", feature = "cli"))]

mod cli_support;

use cli_support::{create_sim, Env};

const WARNING: &str = "warning: using the software authenticator";

#[test]
fn init_set_get_list_delete() {
    let env = Env::new();
    let init = env.run(&["init"]).expect(0);
    assert_eq!(
        init.touch_prompts(),
        [
            "Touch your authenticator to register this authenticator for hardware.keychain.glyph.im",
            "Touch your authenticator to unlock the new vault",
        ]
    );
    assert!(init
        .stderr
        .contains(&format!("Created the vault {}", env.vault.display())));
    assert!(env.vault.exists());

    // set from stdin without a TTY: all of it, one \n or \r\n at the end stripped.
    let set = env
        .run_input(&["set", "bank.example", "alice"], "hunter2\n")
        .expect(0);
    assert_eq!(
        set.touch_prompts(),
        [
            "Touch your authenticator to unlock the vault",
            "Touch your authenticator to encrypt the new password for 'alice' in 'bank.example'",
        ]
    );
    assert_eq!(set.stdout, "");
    env.run_input(&["set", "pypi.org", "__token__"], "pypi-AgEI\r\n")
        .expect(0);
    env.run_input(&["set", "spaces here", "bob"], "  with spaces  ")
        .expect(0);

    let get = env.run(&["get", "bank.example", "alice"]).expect(0);
    assert_eq!(get.stdout, "hunter2\n");
    assert_eq!(
        get.touch_prompts(),
        [
            "Touch your authenticator to unlock the vault",
            "Touch your authenticator to decrypt the password for 'alice' in 'bank.example'",
        ]
    );
    assert!(!get.stderr.contains("hunter2"));
    assert_eq!(
        env.run(&["get", "pypi.org", "__token__"]).expect(0).stdout,
        "pypi-AgEI\n"
    );
    assert_eq!(
        env.run(&["get", "spaces here", "bob"]).expect(0).stdout,
        "  with spaces  \n"
    );

    let list = env.run(&["list"]).expect(0);
    assert_eq!(
        list.stdout,
        "bank.example\talice\npypi.org\t__token__\nspaces here\tbob\n"
    );
    assert_eq!(
        list.touch_prompts().len(),
        1,
        "list needs only the unlock touch"
    );
    let json = env.run(&["list", "--json"]).expect(0);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(
        value,
        serde_json::json!([
            {"service": "bank.example", "user": "alice"},
            {"service": "pypi.org", "user": "__token__"},
            {"service": "spaces here", "user": "bob"},
        ])
    );
    assert!(!json.stdout.contains("hunter2") && !list.stdout.contains("hunter2"));

    // Replacing keeps one entry.
    env.set("bank.example", "alice", "correct horse");
    assert_eq!(
        env.run(&["get", "bank.example", "alice"]).expect(0).stdout,
        "correct horse\n"
    );

    let delete = env.run(&["delete", "bank.example", "alice"]).expect(0);
    assert!(delete
        .stderr
        .contains("Deleted the password for 'alice' in 'bank.example'"));
    let missing = env.run(&["get", "bank.example", "alice"]).expect(1);
    assert_eq!(missing.stdout, "");
    assert!(missing
        .stderr
        .contains("no password for 'alice' in 'bank.example'"));
    let again = env.run(&["delete", "bank.example", "alice"]).expect(1);
    assert!(again
        .stderr
        .contains("no password for 'alice' in 'bank.example'"));
    assert_eq!(
        env.run(&["list"]).expect(0).stdout,
        "pypi.org\t__token__\nspaces here\tbob\n"
    );
}

#[test]
fn get_of_a_missing_entry_prints_nothing_and_exits_1() {
    let env = Env::with_vault();
    let run = env.run(&["get", "nowhere.example", "nobody"]).expect(1);
    assert_eq!(run.stdout, "");
}

#[test]
fn set_refuses_empty_stdin_and_keeps_an_empty_line() {
    let env = Env::with_vault();
    let run = env.run_input(&["set", "a", "b"], "").expect(11);
    assert!(run
        .stderr
        .contains("no password on standard input; nothing was stored"));
    assert_eq!(
        run.touch_prompts().len(),
        0,
        "no touch before the password is read"
    );
    env.run_input(&["set", "a", "b"], "\n").expect(0);
    assert_eq!(env.run(&["get", "a", "b"]).expect(0).stdout, "\n");
}

#[test]
fn names_with_tabs_and_newlines_stay_on_one_list_line() {
    let env = Env::with_vault();
    env.set("tab\there", "new\nline", "x");
    assert_eq!(
        env.run(&["list"]).expect(0).stdout,
        "tab\\there\tnew\\nline\n"
    );
    let json = env.run(&["list", "--json"]).expect(0);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(value[0]["service"], "tab\there");
    assert_eq!(value[0]["user"], "new\nline");
}

#[test]
fn list_of_an_empty_vault() {
    let env = Env::with_vault();
    assert_eq!(env.run(&["list"]).expect(0).stdout, "");
    assert_eq!(env.run(&["list", "--json"]).expect(0).stdout, "[]\n");
}

#[test]
fn the_simulator_warns_once_on_stderr() {
    let env = Env::with_vault();
    let run = env.run(&["list"]).expect(0);
    assert_eq!(run.stderr.matches(WARNING).count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("it protects nothing"));
    assert!(run.stderr.contains(&env.sim.display().to_string()));
}

#[test]
fn init_refuses_an_existing_file_and_leaves_it() {
    let env = Env::with_vault();
    let before = std::fs::read(&env.vault).expect("vault");
    let run = env.run(&["init"]).expect(9);
    assert!(run
        .stderr
        .contains("already exists; refusing to create a vault over it"));
    assert_eq!(run.touch_prompts().len(), 0);
    assert_eq!(std::fs::read(&env.vault).expect("vault"), before);

    let other = env.path("not-a-vault");
    std::fs::write(&other, "precious").expect("write");
    env.run(&["--vault", other.to_str().expect("utf-8"), "init"])
        .expect(9);
    assert_eq!(std::fs::read(&other).expect("file"), b"precious");
}

#[test]
fn commands_without_a_vault_say_to_create_one() {
    let env = Env::new();
    for args in [&["get", "a", "b"][..], &["list"], &["delete", "a", "b"]] {
        let run = env.run(args).expect(9);
        assert!(
            run.stderr.contains("there is no vault at"),
            "{}",
            run.stderr
        );
        assert_eq!(run.stdout, "");
    }
    let run = env.run_input(&["set", "a", "b"], "x\n").expect(9);
    assert!(run.stderr.contains("create one first"));
}

#[test]
fn status_shows_the_vault_credential_and_authenticator() {
    let env = Env::new();
    let before = env.run(&["status"]).expect(0);
    assert!(before.stdout.contains(&format!(
        "vault:         {} (none yet: create it with `tokenring init`)",
        env.vault.display()
    )));
    env.run(&["init"]).expect(0);
    let after = env.run(&["status"]).expect(0);
    assert!(after
        .stdout
        .contains(&format!("vault:         {}\n", env.vault.display())));
    assert!(after.stdout.contains("for hardware.keychain.glyph.im"));
    assert!(after
        .stdout
        .contains(&format!("authenticator: {}\n", env.selector())));
    assert_eq!(after.touch_prompts().len(), 0);
}

#[test]
fn vault_path_from_option_environment_or_default() {
    let env = Env::new();
    // --vault wins over TOKENRING_VAULT.
    let explicit = env.path("explicit.tokenvault");
    env.run(&["--vault", explicit.to_str().expect("utf-8"), "init"])
        .expect(0);
    assert!(explicit.exists() && !env.vault.exists());
    // TOKENRING_VAULT is used when --vault is absent.
    env.run(&["init"]).expect(0);
    assert!(env.vault.exists());
    // Neither: the original's place under XDG_DATA_HOME (directories made).
    let mut command = env.command();
    command.env_remove("TOKENRING_VAULT").arg("init");
    let run = Env::run_with_input(command, b"");
    assert_eq!(run.code, Some(0), "{run:#?}");
    let default = env.path("data/python_keyring/keyring.tokenvault");
    assert!(default.exists(), "{run:#?}");
    let mut command = env.command();
    command.env_remove("TOKENRING_VAULT").arg("status");
    let status = Env::run_with_input(command, b"");
    assert!(status.stdout.contains(&default.display().to_string()));
}

#[test]
fn authenticator_from_option_or_environment() {
    let env = Env::with_vault();
    env.set("s", "u", "v");
    // --authenticator wins over TOKENRING_AUTHENTICATOR.
    let mut command = env.command();
    command
        .env("TOKENRING_AUTHENTICATOR", "sim:/nonexistent/state.json")
        .args(["--authenticator", &env.selector(), "get", "s", "u"]);
    assert_eq!(Env::run_with_input(command, b"").expect(0).stdout, "v\n");
    // The environment alone.
    let mut command = env.command();
    command
        .env("TOKENRING_AUTHENTICATOR", "sim:/nonexistent/state.json")
        .args(["get", "s", "u"]);
    let run = Env::run_with_input(command, b"").expect(11);
    assert!(run
        .stderr
        .contains("cannot open the simulated authenticator /nonexistent/state.json"));
    // A bad selector is a usage error, from either place.
    let run = env
        .run(&["--authenticator", "usb:/dev/hidraw0", "list"])
        .expect(2);
    assert!(run
        .stderr
        .contains("is not an authenticator selector: use hid:PATH, nfc:READER or sim:STATEFILE"));
    let mut command = env.command();
    command
        .env("TOKENRING_AUTHENTICATOR", "nonsense")
        .arg("list");
    Env::run_with_input(command, b"").expect(2);
    // Empty variables count as unset.
    let mut command = env.command();
    command
        .env("TOKENRING_AUTHENTICATOR", "")
        .env("TOKENRING_VAULT", "")
        .arg("status");
    let run = Env::run_with_input(command, b"").expect(0);
    assert!(run
        .stdout
        .contains("any connected USB or NFC authenticator"));
    assert!(run.stdout.contains("python_keyring/keyring.tokenvault"));
    // A HID path that does not exist.
    let run = env
        .run(&["--authenticator", "hid:/nonexistent/hidraw9", "list"])
        .expect(11);
    assert!(
        run.stderr.contains("/nonexistent/hidraw9"),
        "{}",
        run.stderr
    );
}

#[test]
fn devices_lists_the_named_simulator_with_hmac_secret_and_pin() {
    let env = Env::new();
    let run = env.run(&["devices"]).expect(0);
    assert!(run.stdout.contains(&format!(
        "{} (TokenRing simulated authenticator)\n    transport:   sim\n    hmac-secret: yes\n    PIN:         set (8 tries left)\n",
        env.selector()
    )));
    let json = env.run(&["devices", "--json"]).expect(0);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let first = &value["devices"][0];
    assert_eq!(first["transport"], "sim");
    assert_eq!(first["selector"], env.selector());
    assert_eq!(first["hmac_secret"], true);
    assert_eq!(first["pin"], "set (8 tries left)");
    assert_eq!(first["error"], serde_json::Value::Null);
    // A simulator without a PIN.
    let bare = env.path("bare.json");
    tokenring_sim::Simulator::create(tokenring_sim::SimConfig::with_seed(9), &bare).expect("sim");
    let run = env
        .run(&[
            "--authenticator",
            &format!("sim:{}", bare.display()),
            "devices",
        ])
        .expect(0);
    assert!(run.stdout.contains("PIN:         not set"));
}

#[test]
fn devices_without_any_authenticator() {
    let env = Env::new();
    let mut command = env.command();
    command
        .env_remove("TOKENRING_AUTHENTICATOR")
        .args(["devices", "--json"]);
    let run = Env::run_with_input(command, b"").expect(0);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let devices = value["devices"].as_array().expect("array");
    // Never the simulator unless named.
    assert!(devices.iter().all(|d| d["transport"] != "sim"));
    assert!(!run.stderr.contains(WARNING));
    if devices.iter().any(|d| d["error"].is_null()) {
        eprintln!("skipping the empty-list check: a real authenticator is connected");
        return;
    }
    // Readers without a card may be listed, each saying what to do.
    for d in devices {
        assert!(d["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    let mut command = env.command();
    command.env_remove("TOKENRING_AUTHENTICATOR").arg("devices");
    let text = Env::run_with_input(command, b"").expect(0);
    if devices.is_empty() {
        assert!(text.stdout.contains(
            "No authenticators found: plug in your authenticator or hold it to the reader."
        ));
    } else {
        assert!(text.stdout.contains("cannot be used: "));
    }
}

#[test]
fn completions_for_each_shell() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = env.run(&["completions", shell]).expect(0);
        for word in ["tokenring", "devices", "completions", "authenticator"] {
            assert!(run.stdout.contains(word), "{shell}: {word}");
        }
        assert!(!run.stderr.contains(WARNING));
    }
    env.run(&["completions", "tcsh"]).expect(2);
}

#[test]
fn every_command_has_a_complete_help() {
    let env = Env::new();
    let top = env.run(&["--help"]).expect(0);
    for needle in [
        "Examples:",
        "Exit codes:",
        "130  cancelled",
        "TOKENRING_VAULT",
        "TOKENRING_AUTHENTICATOR",
        "TOKENRING_PIN_FILE",
        "TOKENRING_SIM_PRESENCE",
        "--no-agent",
    ] {
        assert!(top.stdout.contains(needle), "{needle}");
    }
    for command in [
        "init",
        "set",
        "get",
        "delete",
        "list",
        "devices",
        "status",
        "agent",
        "lock",
        "completions",
    ] {
        let run = env.run(&[command, "--help"]).expect(0);
        assert!(
            run.stdout.contains("Examples:"),
            "{command}: {}",
            run.stdout
        );
        assert!(run.stdout.contains("--vault"), "{command}");
        assert!(run.stdout.contains("--authenticator"), "{command}");
    }
    env.run(&["frobnicate"]).expect(2);
    env.run(&["get", "only-service"]).expect(2);
}

#[test]
fn two_simulators_with_one_seed_are_one_authenticator() {
    // The same seed makes the same master secret: a copy of a state file
    // opens the vault (this is what "it protects nothing" means).
    let env = Env::with_vault();
    env.set("s", "u", "v");
    let copy = env.path("copy.json");
    create_sim(&copy, 1);
    let run = env
        .run(&[
            "--authenticator",
            &format!("sim:{}", copy.display()),
            "get",
            "s",
            "u",
        ])
        .expect(0);
    assert_eq!(run.stdout, "v\n");
}

#[test]
fn pin_change_and_set() {
    let env = Env::with_vault();
    // Without a terminal: the current PIN from TOKENRING_PIN_FILE, the new
    // one from standard input.
    let change = env.run_input(&["pin", "change"], "5678\n").expect(0);
    assert!(
        change.stderr.contains("Changed the PIN of sim:"),
        "{change:#?}"
    );
    // The old PIN is wrong now, and the message counts the tries.
    let again = env.run_input(&["pin", "change"], "2468\n").expect(5);
    assert!(
        again.stderr.contains("wrong PIN: 7 tries left"),
        "{again:#?}"
    );
    std::fs::write(&env.pin_file, "5678\n").expect("pin file");
    let same = env.run_input(&["pin", "change"], "5678\n").expect(11);
    assert!(
        same.stderr.contains("the new PIN is the current one"),
        "{same:#?}"
    );
    let short = env.run_input(&["pin", "change"], "12\n").expect(5);
    assert!(short.stderr.contains("policy"), "{short:#?}");
    // The vault still opens (its keys do not depend on the PIN).
    env.run_input(&["set", "s", "u"], "x\n").expect(0);
    // setPIN on an authenticator that has one: use change.
    let set = env.run_input(&["pin", "set"], "1111\n").expect(5);
    assert!(set.stderr.contains("already has a PIN"), "{set:#?}");

    // An authenticator without a PIN gets its first one.
    let bare = env.path("bare.json");
    tokenring_sim::Simulator::create(tokenring_sim::SimConfig::with_seed(9), &bare).expect("sim");
    let selector = format!("sim:{}", bare.display());
    let mut command = env.command();
    command.args(["--authenticator", &selector, "pin", "change"]);
    let change = Env::run_with_input(command, b"1111\n").expect(5);
    assert!(change.stderr.contains("no PIN set"), "{change:#?}");
    let mut command = env.command();
    command.args(["--authenticator", &selector, "pin", "set"]);
    Env::run_with_input(command, b"1111\n").expect(0);
    let devices = env
        .run(&["--authenticator", &selector, "devices"])
        .expect(0);
    assert!(
        devices.stdout.contains("PIN:         set (8 tries left)"),
        "{devices:#?}"
    );
}

/// forcePINChange: TokenRing does not try the PIN (the authenticator would
/// refuse even the right one), says to run `tokenring pin change`, and
/// works again after it.
#[test]
fn a_required_pin_change_is_reported_and_done_with_pin_change() {
    let env = Env::new();
    std::fs::remove_file(&env.sim).expect("remove the default simulator");
    tokenring_sim::Simulator::create(
        tokenring_sim::SimConfig::with_seed(1)
            .pin(cli_support::PIN)
            .force_pin_change(true),
        &env.sim,
    )
    .expect("sim");
    let init = env.run(&["init"]).expect(5);
    assert!(init.stderr.contains("tokenring pin change"), "{init:#?}");
    assert!(init.touch_prompts().is_empty(), "{init:#?}");
    env.run_input(&["pin", "change"], "5678\n").expect(0);
    std::fs::write(&env.pin_file, "5678\n").expect("pin file");
    env.run(&["init"]).expect(0);
}
