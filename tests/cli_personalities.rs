//! The `tokenring` binary against the simulator pretending to be each real
//! product it has a recording of (tokenring-sim's personalities): init,
//! set, get, list, a wrong PIN and a PIN change, and what each product
//! makes the client do differently.

#![cfg(all(feature = "sim", feature = "cli"))]

mod cli_support;

use cli_support::{Env, PIN};
use tokenring_sim::{Personality, SimConfig, Simulator};

/// An environment whose simulator is `personality`, with the test PIN.
fn env_as(personality: Personality) -> Env {
    let env = Env::new();
    std::fs::remove_file(&env.sim).expect("remove the default simulator");
    Simulator::create(
        SimConfig::with_seed(21).personality(personality).pin(PIN),
        &env.sim,
    )
    .expect("create the simulator");
    env
}

fn the_daily_commands_work(personality: Personality) {
    let env = env_as(personality);
    let init = env.run(&["init"]).expect(0);
    assert!(
        init.stderr.contains("Created the vault"),
        "{personality}: {init:#?}"
    );
    env.set("pypi.org", "__token__", "pypi-AgEIcHlwaS5vcmc");
    env.set("bank.example", "alice", "hunter2");
    let get = env.run(&["get", "pypi.org", "__token__"]).expect(0);
    assert_eq!(get.stdout, "pypi-AgEIcHlwaS5vcmc\n", "{personality}");
    let list = env.run(&["list"]).expect(0);
    let mut names: Vec<&str> = list.stdout.lines().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["bank.example\talice", "pypi.org\t__token__"],
        "{personality}"
    );
    env.run(&["get", "nowhere", "nobody"]).expect(1);
    let devices = env.run(&["devices"]).expect(0);
    assert!(
        devices.stdout.contains("PIN:         set (8 tries left)"),
        "{personality}: {devices:#?}"
    );

    // A wrong PIN says how many tries are left and costs one.
    std::fs::write(&env.pin_file, "9999\n").expect("pin file");
    let wrong = env.run_input(&["pin", "change"], "24680\n").expect(5);
    assert!(
        wrong.stderr.contains("wrong PIN: 7 tries left"),
        "{personality}: {wrong:#?}"
    );
    assert!(!wrong.stderr.contains("9999"));
    assert_eq!(env.sim_state().pin_retries(), 7, "{personality}");
    // The right one changes it; the vault opens with the new PIN in place.
    std::fs::write(&env.pin_file, format!("{PIN}\n")).expect("pin file");
    env.run_input(&["pin", "change"], "24680\n").expect(0);
    std::fs::write(&env.pin_file, "24680\n").expect("pin file");
    assert_eq!(env.sim_state().pin_retries(), 8, "{personality}");
    let get = env.run(&["get", "bank.example", "alice"]).expect(0);
    assert_eq!(get.stdout, "hunter2\n", "{personality}");
    assert_eq!(env.sim_state().personality(), personality);
}

#[test]
fn security_key_ctap20() {
    the_daily_commands_work(Personality::SecurityKeyCtap20);
}

#[test]
fn yubikey5_fido21_pre() {
    the_daily_commands_work(Personality::Yubikey5Fido21Pre);
}

#[test]
fn token2_fido21() {
    the_daily_commands_work(Personality::Token2Fido21);
}

#[test]
fn yubikey_bio() {
    the_daily_commands_work(Personality::YubikeyBio);
}

#[test]
fn tokenring_sim() {
    the_daily_commands_work(Personality::TokenringSim);
}

/// Where the products differ, the client takes their paths: init asks for
/// the PIN where makeCredential needs it (no makeCredUvNotRqd, no built-in
/// UV), and a wrong one there is refused with the tries left.
#[test]
fn init_asks_for_the_pin_where_the_product_needs_it() {
    for (personality, pin_at_init) in [
        (Personality::SecurityKeyCtap20, true),
        (Personality::Yubikey5Fido21Pre, true),
        (Personality::Token2Fido21, false),
        (Personality::YubikeyBio, false),
    ] {
        let env = env_as(personality);
        std::fs::write(&env.pin_file, "9999\n").expect("pin file");
        let init = env.run(&["init"]);
        if pin_at_init {
            let init = init.expect(5);
            assert!(
                init.stderr.contains("wrong PIN: 7 tries left"),
                "{personality}: {init:#?}"
            );
            assert!(!env.vault.exists(), "{personality}");
            std::fs::write(&env.pin_file, format!("{PIN}\n")).expect("pin file");
            env.run(&["init"]).expect(0);
        } else {
            init.expect(0);
            assert_eq!(
                env.sim_state().pin_retries(),
                8,
                "{personality}: no PIN tried"
            );
        }
    }
}
