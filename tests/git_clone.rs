//! `git-credential-tokenring` with the real `git`: clones over HTTP with
//! basic authentication from a local server (`git http-backend` behind a
//! tiny HTTP/1.1 server on 127.0.0.1), with and without the agent, on the
//! simulator.
//!
//! git runs with an isolated configuration (HOME, GIT_CONFIG_GLOBAL,
//! GIT_CONFIG_NOSYSTEM=1), `credential.helper` = the helper's absolute path,
//! GIT_TERMINAL_PROMPT=0 and no controlling terminal, so git can never ask
//! anyone; every run is bounded by a deadline.

#![cfg(all(feature = "sim", feature = "cli"))]

mod cli_support;
#[path = "support/git_http.rs"]
mod git_http;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{Agent, Env, Run};
use git_http::{create_bare_repo, GitHttpServer, SeenCredentials};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-Passw0rd";
const README: &str = "hello from the test server\n";

/// No git run may take longer than this (they take well under a second).
const DEADLINE: Duration = Duration::from_secs(60);

/// A vault on a simulator, a git server with one repository, and git
/// configured to use the helper.
struct Setup {
    env: Env,
    server: GitHttpServer,
    gitconfig: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let env = Env::with_vault();
        let root = env.path("repos");
        std::fs::create_dir_all(&root).expect("repos");
        create_bare_repo(&root, "repo.git", README);
        let server = GitHttpServer::start(&root, USER, PASSWORD);
        let gitconfig = env.path("gitconfig");
        std::fs::write(
            &gitconfig,
            format!(
                "[credential]\n\thelper = {}\n",
                env!("CARGO_BIN_EXE_git-credential-tokenring")
            ),
        )
        .expect("gitconfig");
        Setup {
            env,
            server,
            gitconfig,
        }
    }

    /// The service name the helper uses for the server.
    fn service(&self) -> String {
        format!("git:http://{}", self.server.host())
    }

    /// `git ARGS` in the isolated environment (see the module docs).
    fn git(&self, args: &[&str]) -> Command {
        let mut command = self.env.wrapped(&["git"]);
        for (key, _) in std::env::vars_os() {
            let key_text = key.to_string_lossy();
            if key_text.starts_with("GIT_") || key_text.ends_with("ASKPASS") {
                command.env_remove(&key);
            }
        }
        command
            .args(args)
            .current_dir(self.env.dir.path())
            .env("GIT_CONFIG_GLOBAL", &self.gitconfig)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0");
        command
    }

    /// Clones `url` into a new directory `dest`.
    fn clone(&self, url: &str, dest: &str, presence: Option<&str>) -> Run {
        let mut command = self.git(&["clone", "-q", url, dest]);
        if let Some(p) = presence {
            command.env("TOKENRING_SIM_PRESENCE", p);
        }
        bounded(command, b"")
    }

    /// `git credential ACTION` with `description` on stdin.
    fn credential(&self, action: &str, description: &str) -> Run {
        bounded(self.git(&["credential", action]), description.as_bytes())
    }

    /// What `tokenring get` says for the server's service and `user`
    /// (`None`: no such entry).
    fn stored(&self, user: &str) -> Option<String> {
        let run = self.env.run(&["get", &self.service(), user]);
        match run.code {
            Some(0) => Some(run.stdout.trim_end_matches('\n').to_string()),
            Some(1) => None,
            _ => panic!("tokenring get failed: {run:#?}"),
        }
    }

    fn cloned_readme(&self, dest: &str) -> String {
        std::fs::read_to_string(self.env.path(dest).join("README")).expect("cloned README")
    }

    fn only_right_credentials_seen(&self) {
        let seen = self.server.seen_credentials();
        assert!(!seen.is_empty(), "git sent no credentials");
        assert!(
            seen.iter().all(|c| *c
                == SeenCredentials {
                    user: USER.into(),
                    password: PASSWORD.into()
                }),
            "unexpected credentials: {seen:?}"
        );
    }
}

/// Runs `command` with `input`, killing it (and failing the test) when it
/// is not done by [`DEADLINE`].
fn bounded(mut command: Command, input: &[u8]) -> Run {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child: Child = command.spawn().expect("spawn");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).expect("write stdin");
    }
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "git hung for {DEADLINE:?}; stderr: {}",
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code(),
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

fn touch_prompts(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| l.starts_with("Touch your authenticator"))
        .collect()
}

fn assert_clean_auth_failure(run: &Run, setup: &Setup) {
    assert_eq!(run.code, Some(128), "git should fail: {run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "could not read Username for 'http://{}': terminal prompts disabled",
            setup.server.host()
        )),
        "git's ordinary no-credential failure expected: {}",
        run.stderr
    );
    assert!(
        !setup.env.path("copy").join("README").exists(),
        "nothing was cloned"
    );
}

// ---------------------------------------------------------------- no agent

#[test]
fn clone_with_the_password_in_tokenring() {
    let setup = Setup::new();
    setup.env.set(&setup.service(), USER, PASSWORD);

    // No user in the URL: the one user stored for the service is used.
    let run = setup.clone(&setup.server.url("repo.git"), "copy", None);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(setup.cloned_readme("copy"), README);
    setup.only_right_credentials_seen();
    // In-process: one unlock touch for the whole helper run, one for the
    // entry; `store` afterwards recognises its own answer (no touch).
    assert_eq!(
        touch_prompts(&run),
        [
            "Touch your authenticator to unlock the vault".to_string(),
            format!(
                "Touch your authenticator to decrypt the password for '{USER}' in '{}'",
                setup.service()
            ),
        ]
    );

    // The user in the URL.
    let url = format!("http://{USER}@{}/repo.git", setup.server.host());
    let run = setup.clone(&url, "copy2", None);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(setup.cloned_readme("copy2"), README);
    assert_eq!(touch_prompts(&run).len(), 2, "{run:#?}");
    // With a user name in the URL, the first request carries it with an
    // empty password (before git asks the helper), later ones the helper's.
    let seen = setup.server.seen_credentials();
    assert!(
        seen.iter()
            .all(|c| c.user == USER && (c.password == PASSWORD || c.password.is_empty())),
        "{seen:?}"
    );
}

#[test]
fn clone_without_an_entry_fails_as_git_does_without_a_helper() {
    let setup = Setup::new();
    setup
        .env
        .set("git:http://elsewhere.example", USER, PASSWORD);
    let start = Instant::now();
    let run = setup.clone(&setup.server.url("repo.git"), "copy", None);
    assert_clean_auth_failure(&run, &setup);
    assert!(
        run.stderr.contains(&format!(
            "tokenring: no password stored for '{}'",
            setup.service()
        )),
        "{}",
        run.stderr
    );
    assert!(setup.server.seen_credentials().is_empty());
    assert!(start.elapsed() < Duration::from_secs(20));

    // A user in the URL without an entry for it.
    let url = format!("http://bob@{}/repo.git", setup.server.host());
    let run = setup.clone(&url, "copy", None);
    assert_eq!(run.code, Some(128), "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "tokenring: no password for 'bob' in '{}'",
            setup.service()
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("could not read Password for"),
        "{}",
        run.stderr
    );
}

#[test]
fn denied_touch_fails_the_clone_cleanly() {
    let setup = Setup::new();
    setup.env.set(&setup.service(), USER, PASSWORD);
    for presence in ["deny", "timeout", "approve,deny"] {
        let run = setup.clone(&setup.server.url("repo.git"), "copy", Some(presence));
        assert_clean_auth_failure(&run, &setup);
        assert!(
            run.stderr
                .contains("tokenring: no password for git from TokenRing: "),
            "{presence}: {}",
            run.stderr
        );
        assert!(setup.server.seen_credentials().is_empty(), "{presence}");
    }
    // The entry is still there.
    assert_eq!(setup.stored(USER).as_deref(), Some(PASSWORD));
}

#[test]
fn credentials_given_to_git_are_stored_after_success() {
    let setup = Setup::new();
    // The password in the URL, as if typed at git's prompt.
    let url = format!("http://{USER}:{PASSWORD}@{}/repo.git", setup.server.host());
    let run = setup.clone(&url, "copy", None);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "tokenring: stored the password for '{USER}' in '{}'",
            setup.service()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(setup.stored(USER).as_deref(), Some(PASSWORD));
    // The next clone needs no password from anyone but TokenRing.
    let run = setup.clone(&setup.server.url("repo.git"), "copy2", None);
    assert_eq!(run.code, Some(0), "{run:#?}");
    setup.only_right_credentials_seen();

    // `git credential approve`, as a program that asked the user would.
    let run = setup.credential(
        "approve",
        &format!(
            "protocol=http\nhost={}\nusername=bob\npassword=b0b's\n\n",
            setup.server.host()
        ),
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(setup.stored("bob").as_deref(), Some("b0b's"));
}

#[test]
fn a_wrong_password_is_refused_and_erased() {
    let setup = Setup::new();
    setup.env.set(&setup.service(), USER, "not-the-password");
    let run = setup.clone(&setup.server.url("repo.git"), "copy", None);
    assert_eq!(run.code, Some(128), "{run:#?}");
    assert!(
        run.stderr.contains("Authentication failed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "tokenring: erased the password for '{USER}' in '{}'",
            setup.service()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        setup.server.seen_credentials(),
        [SeenCredentials {
            user: USER.into(),
            password: "not-the-password".into()
        }]
    );
    assert_eq!(setup.stored(USER), None);
    // Erasing its own answer needs no touch to compare the password
    // (in-process, the erase opens the vault: one unlock touch).
    assert_eq!(
        touch_prompts(&run)
            .iter()
            .filter(|p| p.contains("decrypt the password"))
            .count(),
        1,
        "{run:#?}"
    );
}

#[test]
fn git_credential_reject_erases_only_the_refused_password() {
    let setup = Setup::new();
    setup.env.set(&setup.service(), USER, PASSWORD);
    // Another password was refused: the stored one stays.
    let run = setup.credential(
        "reject",
        &format!(
            "url=http://{}/repo.git\nusername={USER}\npassword=other\n\n",
            setup.server.host()
        ),
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stderr
            .contains("it differs from the one the server refused"),
        "{}",
        run.stderr
    );
    assert_eq!(setup.stored(USER).as_deref(), Some(PASSWORD));
    // This one was refused: it goes.
    let run = setup.credential(
        "reject",
        &format!(
            "protocol=http\nhost={}\nusername={USER}\npassword={PASSWORD}\n\n",
            setup.server.host()
        ),
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(setup.stored(USER), None);
}

#[test]
fn the_short_helper_name_and_per_repository_credentials() {
    let setup = Setup::new();
    // `credential.helper = tokenring`: git runs `git credential-tokenring`,
    // found on PATH.
    std::fs::write(
        &setup.gitconfig,
        "[credential]\n\thelper = tokenring\n\tuseHttpPath = true\n",
    )
    .expect("gitconfig");
    let helper_dir = std::path::Path::new(env!("CARGO_BIN_EXE_git-credential-tokenring"))
        .parent()
        .expect("the helper's directory")
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(helper_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    // With useHttpPath, the repository's path is part of the service name.
    let service = format!("{}/repo.git", setup.service());
    setup.env.set(&service, USER, PASSWORD);
    setup
        .env
        .set(&setup.service(), USER, "the host-wide one is not used");
    let mut command = setup.git(&["clone", "-q", &setup.server.url("repo.git"), "copy"]);
    command.env("PATH", &path);
    let run = bounded(command, b"");
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(setup.cloned_readme("copy"), README);
    setup.only_right_credentials_seen();
    assert!(
        run.stderr.contains(&format!("'{service}'")),
        "{}",
        run.stderr
    );
}

#[test]
fn push_with_the_password_in_tokenring() {
    let setup = Setup::new();
    setup.env.set(&setup.service(), USER, PASSWORD);
    let run = setup.clone(&setup.server.url("repo.git"), "copy", None);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let work = setup.env.path("copy");
    std::fs::write(work.join("NEW"), "pushed\n").expect("NEW");
    for args in [
        &["add", "NEW"][..],
        &[
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.invalid",
            "commit",
            "-q",
            "-m",
            "second",
        ],
    ] {
        let mut command = setup.git(args);
        command.current_dir(&work);
        assert_eq!(bounded(command, b"").code, Some(0));
    }
    let mut command = setup.git(&["push", "-q", "origin", "main"]);
    command.current_dir(&work);
    let run = bounded(command, b"");
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        setup
            .server
            .requests()
            .iter()
            .any(|r| r == "200 POST /repo.git/git-receive-pack"),
        "{:?}",
        setup.server.requests()
    );
    setup.only_right_credentials_seen();
    let run = setup.clone(&setup.server.url("repo.git"), "copy2", None);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(
        std::fs::read_to_string(setup.env.path("copy2").join("NEW")).expect("NEW"),
        "pushed\n"
    );
}

// ------------------------------------------------------------- with agent

#[test]
fn through_the_agent() {
    let setup = Setup::new();
    setup.env.set(&setup.service(), USER, PASSWORD);
    let _agent = Agent::start(&setup.env, None);

    // The helper's own simulator presence says deny: had it opened the
    // vault itself, the clone would fail; the agent's touches are approved.
    let run = setup.clone(&setup.server.url("repo.git"), "copy", Some("deny"));
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(setup.cloned_readme("copy"), README);
    setup.only_right_credentials_seen();
    // Relayed by the agent, they name the process that asked: the helper.
    let by = format!(
        ", asked by '{}' (pid ",
        env!("CARGO_BIN_EXE_git-credential-tokenring")
    );
    assert_eq!(
        touch_prompts(&run)
            .iter()
            .map(|p| p.split_once(&by).unwrap_or_else(|| panic!("{p}")).0)
            .collect::<Vec<_>>(),
        [
            "Touch your authenticator to unlock the vault".to_string(),
            format!(
                "Touch your authenticator to decrypt the password for '{USER}' in '{}'",
                setup.service()
            ),
        ],
        "the agent's prompts are relayed to git's stderr"
    );
    // Unlocked now: one touch per clone.
    let run = setup.clone(&setup.server.url("repo.git"), "copy2", Some("deny"));
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(touch_prompts(&run).len(), 1, "{run:#?}");

    // Storing and erasing go through the agent too.
    let run = setup.credential(
        "approve",
        &format!(
            "protocol=http\nhost={}\nusername=bob\npassword=b0b\n\n",
            setup.server.host()
        ),
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(setup.stored("bob").as_deref(), Some("b0b"));
    let run = setup.credential(
        "reject",
        &format!(
            "protocol=http\nhost={}\nusername=bob\npassword=b0b\n\n",
            setup.server.host()
        ),
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(setup.stored("bob"), None);
}

#[test]
fn through_the_agent_a_denied_touch_or_no_entry_fails_cleanly() {
    let setup = Setup::new();
    setup.env.set(&setup.service(), USER, PASSWORD);
    {
        // The agent's authenticator: unlock approved, the entry denied.
        let _agent = Agent::start(&setup.env, Some("approve,deny"));
        let run = setup.clone(&setup.server.url("repo.git"), "copy", None);
        assert_clean_auth_failure(&run, &setup);
        assert!(
            run.stderr
                .contains("tokenring: no password for git from TokenRing: "),
            "{}",
            run.stderr
        );
        assert!(setup.server.seen_credentials().is_empty());
    }
    let _agent = Agent::start(&setup.env, None);
    let url = format!("http://bob@{}/repo.git", setup.server.host());
    let run = setup.clone(&url, "copy", None);
    assert_eq!(run.code, Some(128), "{run:#?}");
    assert!(
        run.stderr.contains("tokenring: no password for 'bob'"),
        "{}",
        run.stderr
    );
}

#[test]
fn through_the_agent_a_wrong_password_is_erased_and_a_given_one_stored() {
    let setup = Setup::new();
    setup.env.set(&setup.service(), USER, "old-password");
    let _agent = Agent::start(&setup.env, None);
    let run = setup.clone(&setup.server.url("repo.git"), "copy", None);
    assert_eq!(run.code, Some(128), "{run:#?}");
    assert_eq!(setup.stored(USER), None, "{run:#?}");

    let url = format!("http://{USER}:{PASSWORD}@{}/repo.git", setup.server.host());
    let run = setup.clone(&url, "copy", None);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(setup.stored(USER).as_deref(), Some(PASSWORD));
    let run = setup.clone(&setup.server.url("repo.git"), "copy2", None);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(touch_prompts(&run).len(), 1, "{run:#?}");
}

#[test]
fn a_password_git_stored_in_plaintext_moves_in_with_import_and_clones() {
    let setup = Setup::new();
    // First git's own `store` helper: after a clone with the password in
    // the URL, git writes it into ~/.git-credentials.
    let with_tokenring = std::fs::read_to_string(&setup.gitconfig).expect("gitconfig");
    std::fs::write(&setup.gitconfig, "[credential]\n\thelper = store\n").expect("gitconfig");
    let url = format!("http://{USER}:{PASSWORD}@{}/repo.git", setup.server.host());
    let run = setup.clone(&url, "first", None);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let store = setup.env.path(".git-credentials");
    let written = std::fs::read_to_string(&store).expect("git wrote ~/.git-credentials");
    assert!(written.contains(PASSWORD), "{written}");
    // git uses it from there.
    let run = setup.clone(&setup.server.url("repo.git"), "second", None);
    assert_eq!(run.code, Some(0), "{run:#?}");

    let mut import = setup.env.command();
    import
        .args(["import", "git", "--remove"])
        .env("GIT_CONFIG_GLOBAL", &setup.gitconfig)
        .env("GIT_CONFIG_NOSYSTEM", "1");
    let import = Env::run_with_input(import, b"").expect(0);
    assert!(
        import
            .stderr
            .contains(&format!("-> '{}' / '{USER}'", setup.service())),
        "{import:#?}"
    );
    // TokenRing's helper is not configured yet, and `store` (which would
    // write the password back) still is: both are said.
    assert!(
        import
            .stderr
            .contains("git config --global --add credential.helper tokenring"),
        "{import:#?}"
    );
    assert!(
        import
            .stderr
            .contains("git's `store` helper is still configured"),
        "{import:#?}"
    );
    let after = std::fs::read_to_string(&store).expect("store file");
    assert!(!after.contains(PASSWORD), "{after}");
    assert_eq!(
        std::fs::read_to_string(setup.env.path(".git-credentials.tokenring-backup"))
            .expect("backup"),
        written
    );
    assert_eq!(setup.stored(USER).as_deref(), Some(PASSWORD));

    // git with TokenRing's helper clones with the moved password.
    std::fs::write(&setup.gitconfig, with_tokenring).expect("gitconfig");
    let run = setup.clone(&setup.server.url("repo.git"), "third", None);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(setup.cloned_readme("third"), README);
    assert_eq!(touch_prompts(&run).len(), 2, "{run:#?}");
    assert!(
        std::fs::read_to_string(&store)
            .expect("store file")
            .is_empty(),
        "nothing wrote it back"
    );
}
