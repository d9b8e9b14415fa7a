//! `tokenring import` on the simulator: what it shows, what it moves, what
//! it leaves, and that a bad or partial file, a denied touch or a refusal
//! loses nothing. (The programs reading the moved secrets through TokenRing
//! are proven in python_keyring.rs, cargo_registry.rs and git_clone.rs.)

#![cfg(all(feature = "sim", feature = "cli"))]

mod cli_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cli_support::{Agent, Env};

const PYPIRC: &str = "\
[distutils]
index-servers =
    pypi
    local

# the company index
[local]
repository = http://127.0.0.1:8080/
username = alice
password = alice-s3cret

[pypi]
username = __token__
password = pypi-AgEIcHlwaS5vcmc-s3cret
";

const PYPIRC_AFTER: &str = "\
[distutils]
index-servers =
    pypi
    local

# the company index
[local]
repository = http://127.0.0.1:8080/
username = alice

[pypi]
username = __token__
";

fn get(env: &Env, service: &str, user: &str) -> Option<String> {
    let run = env.run(&["get", service, user]);
    match run.code {
        Some(0) => Some(run.stdout.trim_end_matches('\n').to_string()),
        Some(1) => None,
        _ => panic!("get failed: {run:#?}"),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn pypirc_moves_shows_and_removes_only_on_request() {
    let env = Env::with_vault();
    let pypirc = env.path(".pypirc");
    std::fs::write(&pypirc, PYPIRC).expect("pypirc");

    // --dry-run: the plan, names only; nothing changes, no touch.
    let dry = env.run(&["import", "pypirc", "--dry-run"]).expect(0);
    assert!(
        dry.stderr.contains("2 secrets to move into the vault")
            && dry.stderr.contains(
                "  [pypi] -> 'https://upload.pypi.org/legacy/' / '__token__'\n  \
             [local] -> 'http://127.0.0.1:8080/' / 'alice'\n"
            ),
        "{dry:#?}"
    );
    assert!(!dry.stderr.contains("s3cret"), "{dry:#?}");
    assert!(dry.touch_prompts().is_empty(), "{dry:#?}");
    assert_eq!(std::fs::read_to_string(&pypirc).expect("read"), PYPIRC);
    assert_eq!(get(&env, "http://127.0.0.1:8080/", "alice"), None);

    // No terminal, no --remove: moved, the file stays as it was.
    let kept = env.run(&["import", "pypirc"]).expect(0);
    assert!(kept.stderr.contains("2 of 2 in the vault"), "{kept:#?}");
    assert!(kept.stderr.contains("No terminal to ask on"), "{kept:#?}");
    assert_eq!(std::fs::read_to_string(&pypirc).expect("read"), PYPIRC);
    assert_eq!(
        get(&env, "http://127.0.0.1:8080/", "alice").as_deref(),
        Some("alice-s3cret")
    );
    assert_eq!(
        get(&env, "https://upload.pypi.org/legacy/", "__token__").as_deref(),
        Some("pypi-AgEIcHlwaS5vcmc-s3cret")
    );

    // --keep: not asked, the file stays.
    let kept = env.run(&["import", "pypirc", "--keep"]).expect(0);
    assert!(!kept.stderr.contains("No terminal to ask on"), "{kept:#?}");
    assert!(
        kept.stderr.contains("still holds the plaintext"),
        "{kept:#?}"
    );
    assert_eq!(std::fs::read_to_string(&pypirc).expect("read"), PYPIRC);

    // Again with --remove: the same secrets are already there (one touch
    // each to compare); the passwords leave the file, the rest stays, and
    // the file as it was is in a 0600 backup the user is told about.
    std::fs::set_permissions(&pypirc, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let removed = env.run(&["import", "pypirc", "--remove"]).expect(0);
    assert_eq!(
        removed
            .stderr
            .matches("already in the vault with the same secret")
            .count(),
        2,
        "{removed:#?}"
    );
    let backup = env.path(".pypirc.tokenring-backup");
    assert!(
        removed.stderr.contains(&backup.display().to_string()),
        "{removed:#?}"
    );
    assert!(!removed.stderr.contains("s3cret"), "{removed:#?}");
    assert_eq!(
        std::fs::read_to_string(&pypirc).expect("read"),
        PYPIRC_AFTER
    );
    assert_eq!(std::fs::read_to_string(&backup).expect("backup"), PYPIRC);
    assert_eq!(mode(&backup), 0o600);
    assert_eq!(mode(&pypirc), 0o644, "the file keeps its mode");

    // Nothing left to move.
    let again = env.run(&["import", "pypirc", "--remove"]).expect(0);
    assert!(again.stderr.contains("Nothing to move"), "{again:#?}");
    assert!(
        again.stderr.contains("no password in the file"),
        "{again:#?}"
    );
}

#[test]
fn a_file_the_program_would_refuse_moves_nothing() {
    let env = Env::with_vault();
    for (from, name, text, words) in [
        (
            "pypirc",
            ".pypirc",
            &b"[pypi]\npassword = pypi-s3cret\npassword = pypi-s3cret-again\n"[..],
            "line 3: a second `password` in [pypi]",
        ),
        (
            "cargo",
            "credentials.toml",
            b"[registry]\ntoken = cio-s3cret\n",
            "line 2, column 9",
        ),
        (
            "git",
            ".git-credentials",
            b"https://alice:\xffs3cret@git.example.com\n",
            "not UTF-8",
        ),
    ] {
        let file = env.path(name);
        std::fs::write(&file, text).expect("write");
        let run = env.run(&["import", from, &file.display().to_string(), "--remove"]);
        let run = run.expect(11);
        assert!(run.stderr.contains(words), "{from}: {run:#?}");
        assert!(run.stderr.contains("nothing was moved"), "{from}: {run:#?}");
        assert!(!run.stderr.contains("s3cret"), "{from}: {run:#?}");
        assert!(run.touch_prompts().is_empty(), "{from}: {run:#?}");
        assert_eq!(std::fs::read(&file).expect("read"), text);
        assert!(!env.path(&format!("{name}.tokenring-backup")).exists());
    }
    env.run(&["import", "git", &env.path("missing").display().to_string()])
        .expect(11);
    let list = env.run(&["list"]).expect(0);
    assert!(list.stdout.is_empty(), "{list:#?}");
}

#[test]
fn a_denied_touch_keeps_the_file_and_what_moved() {
    let env = Env::with_vault();
    let file = env.path(".git-credentials");
    let text = "https://alice:one@git.example.com\nhttps://bob:two@git.example.com\n";
    std::fs::write(&file, text).expect("write");
    // Unlock and the first entry approved, the second denied.
    let mut command = env.command();
    command
        .args(["import", "git", "--remove"])
        .env("TOKENRING_SIM_PRESENCE", "approve,approve,deny");
    let run = Env::run_with_input(command, b"").expect(6);
    assert!(
        run.stderr.contains("1 of 2 moved before this failure"),
        "{run:#?}"
    );
    assert_eq!(std::fs::read_to_string(&file).expect("read"), text);
    assert!(!env.path(".git-credentials.tokenring-backup").exists());
    assert_eq!(
        get(&env, "git:https://git.example.com", "alice").as_deref(),
        Some("one")
    );
    assert_eq!(get(&env, "git:https://git.example.com", "bob"), None);

    // Run again: the first counts as moved, the second moves, the lines go.
    env.run(&["import", "git", "--remove"]).expect(0);
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "");
    assert_eq!(
        get(&env, "git:https://git.example.com", "bob").as_deref(),
        Some("two")
    );
}

#[test]
fn another_secret_under_the_same_name_stays_unless_replaced() {
    let env = Env::with_vault();
    env.set("git:https://git.example.com", "alice", "in-the-vault");
    let file = env.path(".git-credentials");
    let text = "https://alice:in-the-file@git.example.com\nhttps://carol:c@git.example.com:8443/team/repo.git\n";
    std::fs::write(&file, text).expect("write");
    let run = env.run(&["import", "git", "--remove"]).expect(0);
    assert!(
        run.stderr
            .contains("the vault holds another secret under that name"),
        "{run:#?}"
    );
    // Only carol's line leaves the file; alice's stays, with her vault entry.
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "https://alice:in-the-file@git.example.com\n"
    );
    assert_eq!(
        get(&env, "git:https://git.example.com", "alice").as_deref(),
        Some("in-the-vault")
    );
    assert_eq!(
        get(
            &env,
            "git:https://git.example.com:8443/team/repo.git",
            "carol"
        )
        .as_deref(),
        Some("c")
    );
    // --replace: the file's secret wins, and its line goes.
    env.run(&["import", "git", "--remove", "--replace"])
        .expect(0);
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "");
    assert_eq!(
        get(&env, "git:https://git.example.com", "alice").as_deref(),
        Some("in-the-file")
    );
}

#[test]
fn cargo_tokens_by_index_url_through_the_agent() {
    let env = Env::with_vault();
    let cargo_home = env.path("cargo-home");
    std::fs::create_dir_all(&cargo_home).expect("cargo home");
    std::fs::write(
        cargo_home.join("config.toml"),
        "[registries.local]\nindex = \"sparse+http://127.0.0.1:4321/index/\"\n",
    )
    .expect("config");
    let credentials = cargo_home.join("credentials.toml");
    std::fs::write(
        &credentials,
        "[registry]\ntoken = \"cio-s3cret\"\n\n[registries.local]\ntoken = \"local-s3cret\"\n\n\
         [registries.elsewhere]\ntoken = \"elsewhere-s3cret\"\n",
    )
    .expect("credentials");
    let mut agent = Agent::start(&env, None);
    let mut command = env.command();
    command
        .args(["import", "cargo", "--remove"])
        .env("CARGO_HOME", &cargo_home);
    let run = Env::run_with_input(command, b"").expect(0);
    // Through the agent: the registry cargo knows no index for stays.
    assert!(
        run.stderr.contains("no index URL for registry `elsewhere`"),
        "{run:#?}"
    );
    assert!(
        run.stderr
            .contains("global-credential-providers = [\"cargo-credential-tokenring\"]"),
        "{run:#?}"
    );
    assert_eq!(
        std::fs::read_to_string(&credentials).expect("read"),
        "[registry]\n\n[registries.local]\n\n[registries.elsewhere]\ntoken = \"elsewhere-s3cret\"\n"
    );
    assert_eq!(
        get(
            &env,
            "cargo-registry:sparse+https://index.crates.io/",
            "token"
        )
        .as_deref(),
        Some("cio-s3cret")
    );
    assert_eq!(
        get(
            &env,
            "cargo-registry:sparse+http://127.0.0.1:4321/index/",
            "token"
        )
        .as_deref(),
        Some("local-s3cret")
    );
    assert_eq!(agent.stop(), Some(0));
}
