//! `cargo-credential-tokenring` spoken to directly, the way cargo does
//! (`--cargo-plugin`, one JSON line each way): exact answers for each
//! action, stdout holding nothing but the protocol's JSON while the touch
//! prompts go to stderr, the options cargo passes in `args`, and the
//! command's own usage text.

#![cfg(all(feature = "sim", feature = "cli"))]

mod cli_support;

use cli_support::{Env, Run};
use serde_json::{json, Value};

const PROVIDER: &str = env!("CARGO_BIN_EXE_cargo-credential-tokenring");

const INDEX: &str = "sparse+https://registry.example/index/";
const SERVICE: &str = "cargo-registry:sparse+https://registry.example/index/";

/// Sends one request the way cargo does and returns the run and the
/// answer; asserts the hello and that stdout holds exactly the two JSON
/// lines.
fn ask(env: &Env, request: Value) -> (Run, Value) {
    let command = provider(env, &["--cargo-plugin"]);
    let run = Env::run_with_input(command, format!("{request}\n").as_bytes()).expect(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "only the hello and the answer: {run:#?}");
    assert_eq!(lines[0], r#"{"v":[1]}"#);
    let answer = serde_json::from_str(lines[1]).expect("the answer is JSON");
    (run, answer)
}

/// The provider in the test's environment (no terminal), output captured.
fn provider(env: &Env, args: &[&str]) -> std::process::Command {
    let mut program_and_args = vec![PROVIDER];
    program_and_args.extend_from_slice(args);
    let mut command = env.wrapped(&program_and_args);
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

fn request(kind: Value, args: &[&str]) -> Value {
    let mut request = json!({
        "v": 1,
        "registry": { "index-url": INDEX, "name": "example" },
        "args": args,
    });
    if let (Some(request), Some(kind)) = (request.as_object_mut(), kind.as_object()) {
        request.extend(kind.clone());
    }
    request
}

#[test]
fn each_action_answers_as_the_protocol_says() {
    let env = Env::with_vault_in_memory();

    let (_, answer) = ask(
        &env,
        request(json!({"kind": "get", "operation": "read"}), &[]),
    );
    assert_eq!(answer, json!({"Err": {"kind": "not-found"}}));

    let (run, answer) = ask(
        &env,
        request(json!({"kind": "login", "token": "  s3cr3t-token  "}), &[]),
    );
    assert_eq!(answer, json!({"Ok": {"kind": "login"}}));
    assert!(!run.touch_prompts().is_empty(), "{run:#?}");
    let stored = env.run(&["get", SERVICE, "token"]).expect(0);
    assert_eq!(stored.stdout, "s3cr3t-token\n", "stored trimmed");

    let (run, answer) = ask(
        &env,
        request(
            json!({"kind": "get", "operation": "publish", "name": "foo", "vers": "1.2.3", "cksum": "ab"}),
            &[],
        ),
    );
    assert_eq!(
        answer,
        json!({"Ok": {"kind": "get", "token": "s3cr3t-token", "cache": "session", "operation_independent": true}})
    );
    assert!(
        run.stderr
            .contains("cargo asks for the token for registry `example` to publish foo 1.2.3"),
        "{run:#?}"
    );
    assert!(!run.stdout.contains("Touch"), "prompts stay off stdout");
    assert_eq!(run.touch_prompts().len(), 2, "unlock + entry: {run:#?}");

    let (_, answer) = ask(&env, request(json!({"kind": "logout"}), &[]));
    assert_eq!(answer, json!({"Ok": {"kind": "logout"}}));
    env.run(&["get", SERVICE, "token"]).expect(1);
    let (_, answer) = ask(&env, request(json!({"kind": "logout"}), &[]));
    assert_eq!(answer, json!({"Err": {"kind": "not-found"}}));

    let (_, answer) = ask(&env, request(json!({"kind": "frobnicate"}), &[]));
    assert_eq!(answer, json!({"Err": {"kind": "operation-not-supported"}}));
}

#[test]
fn an_empty_token_is_refused_and_a_missing_vault_means_not_found() {
    let env = Env::new();
    let (run, answer) = ask(
        &env,
        request(json!({"kind": "get", "operation": "read"}), &[]),
    );
    assert_eq!(answer, json!({"Err": {"kind": "not-found"}}));
    assert!(
        run.stderr.contains("there is no TokenRing vault at")
            && run.stderr.contains("tokenring init"),
        "{run:#?}"
    );

    let (_, answer) = ask(&env, request(json!({"kind": "login", "token": "x"}), &[]));
    assert_eq!(answer["Err"]["kind"], "other");
    assert!(
        answer["Err"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("the token was not stored")),
        "{answer}"
    );

    let env = Env::with_vault_in_memory();
    let (_, answer) = ask(&env, request(json!({"kind": "login", "token": "   "}), &[]));
    assert_eq!(answer["Err"]["kind"], "other");
    assert!(
        answer["Err"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("empty")),
        "{answer}"
    );
}

/// `credential-provider = ["cargo-credential-tokenring", "--vault", PATH]`:
/// cargo passes the arguments in the request, and they win over the
/// environment; unknown ones are refused with a message.
#[test]
fn arguments_from_the_configuration_choose_the_vault() {
    let env = Env::with_vault_in_memory();
    let other = env.path("other.tokenvault");
    let other_text = other.to_str().expect("UTF-8 path");
    env.run(&["--vault", other_text, "init"]).expect(0);
    env.run_input(
        &["--vault", other_text, "set", SERVICE, "token"],
        "from-the-other-vault\n",
    )
    .expect(0);

    let (_, answer) = ask(
        &env,
        request(
            json!({"kind": "get", "operation": "read"}),
            &["--vault", other_text, "--no-agent"],
        ),
    );
    assert_eq!(answer["Ok"]["token"], "from-the-other-vault");
    let (_, answer) = ask(
        &env,
        request(json!({"kind": "get", "operation": "read"}), &[]),
    );
    assert_eq!(
        answer,
        json!({"Err": {"kind": "not-found"}}),
        "TOKENRING_VAULT's vault"
    );

    let (_, answer) = ask(
        &env,
        request(json!({"kind": "get", "operation": "read"}), &["--verbose"]),
    );
    assert_eq!(answer["Err"]["kind"], "other");
    assert!(
        answer["Err"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown argument \"--verbose\"")),
        "{answer}"
    );
}

#[test]
fn run_by_hand_it_explains_the_set_up() {
    let env = Env::new();
    let help = Env::run_with_input(provider(&env, &["--help"]), b"").expect(0);
    assert!(
        help.stdout
            .contains("credential-provider = [\"cargo-credential-tokenring\"]"),
        "{help:#?}"
    );
    let bare = Env::run_with_input(provider(&env, &[]), b"").expect(2);
    assert!(
        bare.stderr.contains("Cargo runs this program itself"),
        "{bare:#?}"
    );
}
