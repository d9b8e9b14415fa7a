//! What `set` stores is what it was given: all of a pipe or a file (one
//! line ending at the very end removed), multi-line secrets included, in
//! this process and through the agent; input it cannot store is refused
//! with the reason, never cut. Names can stay off the command line.

#![cfg(all(feature = "sim", feature = "cli"))]

mod cli_support;

use cli_support::{Agent, Env};

/// A PEM private key as a file holds it (ending in a newline).
const PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg0CvUWWC4LdNBlZnU\n\
Xqzr1aumQ0Mv1S8r8ZxFJyzb+eChRANCAAQ9yxTeJ5p3Gx6rtx1yqczXkKlX6Wz7\n\
-----END PRIVATE KEY-----\n";

/// A JSON service account, pretty-printed, without a final newline.
const SERVICE_ACCOUNT: &str = "{\n  \"type\": \"service_account\",\n  \
\"project_id\": \"demo\",\n  \"private_key\": \"-----BEGIN PRIVATE KEY-----\\nMIGH\\n-----END PRIVATE KEY-----\\n\",\n  \
\"client_email\": \"deploy@demo.iam.gserviceaccount.com\"\n}";

fn round_trips(env: &Env) {
    env.run_input(&["set", "ssh", "deploy"], PEM).expect(0);
    let run = env
        .run_input(&["set", "gcp", "sa"], SERVICE_ACCOUNT)
        .expect(0);
    assert!(run.stderr.contains("Stored the password for 'sa' in 'gcp'"));
    // `get` prints the secret and one newline: the PEM file comes back as it was.
    assert_eq!(env.run(&["get", "ssh", "deploy"]).expect(0).stdout, PEM);
    assert_eq!(
        env.run(&["get", "gcp", "sa"]).expect(0).stdout,
        format!("{SERVICE_ACCOUNT}\n")
    );
    let json = env.run(&["get", "--json", "gcp", "sa"]).expect(0);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(value["password"], SERVICE_ACCOUNT);
}

#[test]
fn multi_line_secrets_from_a_pipe_round_trip_in_process() {
    let env = Env::with_vault();
    round_trips(&env);
}

#[test]
fn multi_line_secrets_from_a_pipe_round_trip_through_the_agent() {
    let env = Env::with_vault();
    let _agent = Agent::start(&env, None);
    round_trips(&env);
    let get = env.run(&["get", "ssh", "deploy"]).expect(0);
    assert_eq!(get.touch_prompts().len(), 1, "served by the agent: {get:?}");
    // And what the agent stored opens without it.
    assert_eq!(
        env.run(&["--no-agent", "get", "ssh", "deploy"])
            .expect(0)
            .stdout,
        PEM
    );
}

#[test]
fn one_line_ending_at_the_very_end_is_removed_and_nothing_else() {
    let env = Env::with_vault();
    for (input, stored) in [
        ("tok\r\n", "tok"),
        ("two endings\n\n", "two endings\n"),
        ("no ending", "no ending"),
        ("a\nb\r\nc\n", "a\nb\r\nc"),
        ("\n", ""),
    ] {
        env.run_input(&["set", "s", "u"], input).expect(0);
        assert_eq!(
            env.run(&["get", "s", "u"]).expect(0).stdout,
            format!("{stored}\n"),
            "{input:?}"
        );
    }
}

#[test]
fn set_file_stores_the_files_content() {
    let env = Env::with_vault();
    let pem = env.path("key.pem");
    std::fs::write(&pem, PEM).expect("write");
    let run = env
        .run(&[
            "set",
            "ssh",
            "deploy",
            "--file",
            pem.to_str().expect("path"),
        ])
        .expect(0);
    assert_eq!(run.touch_prompts().len(), 2);
    assert_eq!(env.run(&["get", "ssh", "deploy"]).expect(0).stdout, PEM);

    // Refused, with nothing stored: empty, not UTF-8, missing, too large.
    let empty = env.path("empty");
    std::fs::write(&empty, "").expect("write");
    let binary = env.path("binary");
    std::fs::write(&binary, b"\xff\xfe\x00key").expect("write");
    let large = env.path("large");
    std::fs::write(&large, vec![b'x'; (1 << 20) + 1]).expect("write");
    for (file, says) in [
        (empty, "is empty"),
        (binary, "is not UTF-8"),
        (env.path("missing"), "cannot open"),
        (large, "more than a secret may be"),
    ] {
        let run = env
            .run(&["set", "x", "y", "--file", file.to_str().expect("path")])
            .expect(11);
        assert!(
            run.stderr.contains(says) && run.stderr.contains("nothing was stored"),
            "{}",
            run.stderr
        );
        assert_eq!(run.touch_prompts().len(), 0, "no touch for refused input");
    }
    env.run(&["get", "x", "y"]).expect(1);
}

#[test]
fn input_that_cannot_be_stored_is_refused_not_cut() {
    let env = Env::with_vault();
    // One byte over (all of it is read before the refusal: no broken pipe here).
    let too_large = "x".repeat((1 << 20) + 1);
    let run = env.run_input(&["set", "s", "u"], &too_large).expect(11);
    assert!(
        run.stderr.contains("more than 1024 KiB") && run.stderr.contains("nothing was stored"),
        "{}",
        run.stderr
    );
    let mut command = env.command();
    command.args(["set", "s", "u"]);
    let run = Env::run_with_input(command, b"valid line\n\xff invalid\n").expect(11);
    assert!(run.stderr.contains("not UTF-8"), "{}", run.stderr);
    env.run(&["get", "s", "u"]).expect(1);

    // Exactly the limit is fine.
    let at_limit = "y".repeat(1 << 20);
    env.run_input(&["--no-agent", "set", "s", "u"], &at_limit)
        .expect(0);
    assert_eq!(
        env.run(&["get", "s", "u"]).expect(0).stdout.len(),
        (1 << 20) + 1
    );
}

/// The agent's frames hold at most 64 KiB: a secret that fits goes
/// through whole; one that does not is refused with the reason both ways
/// (storing it, and reading one stored without the agent), never cut.
#[test]
fn the_agent_frame_limit_is_a_clear_error_never_a_truncation() {
    let env = Env::with_vault();
    let _agent = Agent::start(&env, None);
    let fits = "f".repeat(60_000);
    env.run_input(&["set", "fits", "u"], &fits).expect(0);
    assert_eq!(
        env.run(&["get", "fits", "u"]).expect(0).stdout,
        format!("{fits}\n")
    );

    let large = "L".repeat(100_000);
    let run = env.run_input(&["set", "large", "u"], &large).expect(10);
    assert!(
        run.stderr.contains("too long for the agent protocol") && run.stderr.contains("--no-agent"),
        "{}",
        run.stderr
    );
    env.run(&["get", "large", "u"]).expect(1);

    env.run_input(&["--no-agent", "set", "large", "u"], &large)
        .expect(0);
    let run = env.run(&["get", "large", "u"]).expect(10);
    assert_eq!(run.stdout, "", "nothing, not a part, on stdout");
    assert!(
        run.stderr.contains("too long for the agent protocol") && run.stderr.contains("--no-agent"),
        "{}",
        run.stderr
    );
    assert_eq!(
        env.run(&["--no-agent", "get", "large", "u"])
            .expect(0)
            .stdout,
        format!("{large}\n")
    );
}

/// Names given on standard input (each ended by a NUL) never appear on the
/// command line; the secret after them is taken exactly. A name that starts
/// with `-` works there and after `--`.
#[test]
fn names_from_stdin_and_names_that_look_like_options() {
    let env = Env::with_vault();
    let mut command = env.command();
    command.args(["set", "--names-from-stdin"]);
    Env::run_with_input(command, b"svc\0--help\0exact\nsecret\n").expect(0);

    let mut command = env.command();
    command.args(["get", "--names-from-stdin"]);
    let run = Env::run_with_input(command, b"svc\0--help\0").expect(0);
    assert_eq!(run.stdout, "exact\nsecret\n\n");
    assert_eq!(
        env.run(&["get", "--", "svc", "--help"]).expect(0).stdout,
        "exact\nsecret\n\n"
    );
    let run = env.run(&["get", "--", "--help", "u"]).expect(1);
    assert_eq!(run.stdout, "", "not the help text");

    for (args, input) in [
        (&["get", "--names-from-stdin"][..], &b"only-one-name"[..]),
        (&["get", "--names-from-stdin"][..], b"svc\0--help\0trailing"),
        (&["delete", "--names-from-stdin"][..], b"svc\0"),
    ] {
        let mut command = env.command();
        command.args(args);
        let run = Env::run_with_input(command, input).expect(11);
        assert!(run.stderr.contains("--names-from-stdin"), "{}", run.stderr);
        assert_eq!(run.stdout, "");
    }
    let mut command = env.command();
    command.args(["delete", "--names-from-stdin"]);
    Env::run_with_input(command, b"svc\0--help\0").expect(0);
    env.run(&["get", "--", "svc", "--help"]).expect(1);
    // Names on both the command line and stdin is a usage error.
    env.run(&["get", "--names-from-stdin", "a", "b"]).expect(2);
}
