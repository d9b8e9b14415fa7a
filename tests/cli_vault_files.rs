//! The vault file as `tokenring` and its agent find it on disk: a sparse
//! file far larger than any vault, a vault that is a symbolic link (the
//! dotfiles case, and one planted by someone else), and a vault of another
//! user reached with `sudo` and `HOME` kept.

#![cfg(all(feature = "sim", feature = "cli"))]

mod cli_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use cli_support::{Agent, Env};

const TIB: u64 = 1 << 40;

/// Replaces the file at `path` by a sparse file of 1 TiB.
fn make_sparse_terabyte(path: &Path) -> std::fs::Metadata {
    let file = std::fs::File::create(path).expect("create");
    file.set_len(TIB).expect("a sparse 1 TiB file");
    drop(file);
    std::fs::metadata(path).expect("stat")
}

#[track_caller]
fn assert_untouched(path: &Path, before: &std::fs::Metadata) {
    let after = std::fs::metadata(path).expect("stat");
    assert_eq!(after.len(), TIB);
    assert_eq!(after.ino(), before.ino());
    assert_eq!(after.blocks(), before.blocks(), "nothing was written");
    assert_eq!(
        (after.mtime(), after.mtime_nsec()),
        (before.mtime(), before.mtime_nsec())
    );
}

#[track_caller]
fn assert_too_large(run: cli_support::Run) {
    let run = run.expect(7);
    assert!(
        run.stderr.contains("larger than any vault") && run.stderr.contains("left untouched"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.touch_prompts().len(),
        0,
        "no touch for a file that is not a vault"
    );
}

#[test]
fn a_sparse_terabyte_vault_is_reported_corrupt_by_the_cli() {
    let env = Env::with_vault();
    let before = make_sparse_terabyte(&env.vault);
    for run in [
        env.run(&["get", "s", "u"]),
        env.run(&["list"]),
        env.run(&["delete", "s", "u"]),
        env.run_input(&["set", "s", "u"], "v\n"),
    ] {
        assert_too_large(run);
        assert_untouched(&env.vault, &before);
    }
}

#[test]
fn a_sparse_terabyte_vault_is_reported_corrupt_by_the_agent() {
    let env = Env::with_vault();
    let good = std::fs::read(&env.vault).expect("vault");
    let before = make_sparse_terabyte(&env.vault);
    // An agent asked to serve it refuses to start, saying why.
    assert_too_large(run_agent_briefly(&env));
    assert_untouched(&env.vault, &before);

    // An agent that serves the vault when it becomes one.
    std::fs::write(&env.vault, &good).expect("restore");
    let _agent = Agent::start(&env, None);
    env.set("s", "u", "v");
    let before = make_sparse_terabyte(&env.vault);
    for run in [env.run(&["get", "s", "u"]), env.run(&["list"])] {
        assert_too_large(run);
        assert_untouched(&env.vault, &before);
    }
}

/// The dotfiles case: `~/…/keyring.tokenvault` is a link to the file in a
/// repository. Every save writes the repository's file and keeps the link,
/// and a process that names the link and one that names the file agree on
/// which agent serves it and which lock guards it.
#[test]
fn a_symlinked_vault_keeps_its_link_and_the_lock_and_agent_agree() {
    let mut env = Env::with_vault();
    let repo = env.path("dotfiles");
    std::fs::create_dir(&repo).expect("repo");
    let target = repo.join("keyring.tokenvault");
    std::fs::rename(&env.vault, &target).expect("move the vault into the repo");
    std::fs::remove_file(env.path("test.tokenvault.lock")).expect("the old lock file");
    let link = env.vault.clone();
    std::os::unix::fs::symlink(&target, &link).expect("link");
    let through_target = |args: &[&str], input: &str| {
        let mut command = env.command();
        command.env("TOKENRING_VAULT", &target).args(args);
        Env::run_with_input(command, input.as_bytes())
    };

    env.set("bank.example", "alice", "hunter2");
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("lstat")
            .is_symlink(),
        "the link was replaced by a file"
    );
    assert_eq!(std::fs::read_link(&link).expect("readlink"), target);
    assert_eq!(
        through_target(&["get", "bank.example", "alice"], "")
            .expect(0)
            .stdout,
        "hunter2\n"
    );
    let lock_beside_link = env.path("test.tokenvault.lock");
    assert!(!lock_beside_link.exists(), "a lock file beside the link");

    // The lock held on the repository's file keeps out a writer that names
    // the link (it waits, then says who holds it).
    {
        let _held = tokenring_vault::VaultLock::acquire(&target, Duration::from_secs(1))
            .expect("lock the target");
        let run = env
            .run_input(&["--no-agent", "set", "x", "y"], "z\n")
            .expect(8);
        assert!(
            run.stderr
                .contains(&format!("(pid {})", std::process::id())),
            "{}",
            run.stderr
        );
    }

    // An agent started for the link serves whoever names the file.
    let _agent = Agent::start(&env, None);
    let status = through_target(&["status"], "").expect(0);
    assert!(
        status.stdout.contains("agent:         running (pid"),
        "{}",
        status.stdout
    );
    let set = through_target(&["set", "pypi.org", "__token__"], "pypi-AgEI\n").expect(0);
    assert_eq!(set.touch_prompts().len(), 2, "unlock + entry, in the agent");
    let get = env.run(&["get", "pypi.org", "__token__"]).expect(0);
    assert_eq!(get.stdout, "pypi-AgEI\n");
    assert_eq!(get.touch_prompts().len(), 1, "the agent was used: {get:?}");
    assert!(std::fs::symlink_metadata(&link)
        .expect("lstat")
        .is_symlink());

    env.vault = target;
    assert_eq!(
        env.run(&["--no-agent", "list"]).expect(0).stdout,
        "bank.example\talice\npypi.org\t__token__\n"
    );
}

/// `tokenring agent`, stopped after 20 s if it starts serving at all.
fn run_agent_briefly(env: &Env) -> cli_support::Run {
    let mut command = env.wrapped(&["timeout", "20", env!("CARGO_BIN_EXE_tokenring"), "agent"]);
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    Env::run_with_input(command, b"")
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A link to the vault planted by someone else in a directory others can
/// write (here a sticky, world-writable one like /tmp): refused, saying
/// whose link it is; nothing is read through it or written.
#[test]
fn a_vault_link_planted_by_another_user_is_refused() {
    if !is_root() {
        eprintln!("skipped: a link of another uid needs root (lchown)");
        return;
    }
    let mut env = Env::with_vault();
    env.set("s", "u", "secret");
    let real = env.vault.clone();
    let before = std::fs::read(&real).expect("vault");
    let shared = env.path("shared");
    std::fs::create_dir(&shared).expect("shared");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).expect("1777");
    let link = shared.join("keyring.tokenvault");
    std::os::unix::fs::symlink(&real, &link).expect("plant");
    std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).expect("the planter's");
    env.vault = link;
    for run in [
        env.run(&["get", "s", "u"]),
        env.run_input(&["set", "s", "u"], "overwritten\n"),
        run_agent_briefly(&env),
    ] {
        let run = run.expect(11);
        assert!(
            run.stderr.contains("refusing to follow the symbolic link")
                && run.stderr.contains("belongs to uid 65534")
                && run.stderr.contains("planted"),
            "{}",
            run.stderr
        );
        assert_eq!(run.touch_prompts().len(), 0);
        assert!(!run.stdout.contains("secret"));
    }
    assert_eq!(std::fs::read(&real).expect("vault"), before);
}

/// Gives everything in the environment's directory to uid 65534, as if
/// that user had made it.
fn give_to_nobody(dir: &Path) {
    std::os::unix::fs::chown(dir, Some(65534), Some(65534)).expect("chown");
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            give_to_nobody(&path);
        } else {
            std::os::unix::fs::lchown(&path, Some(65534), Some(65534)).expect("chown");
        }
    }
}

/// `sudo tokenring set …` with HOME kept: the vault, its lock and the
/// directory belong to the user (uid 65534 here), the command runs as root.
/// The write is refused with the reason, and the user's files keep their
/// owner, so the user can go on using the vault; reading is allowed.
/// `sudo tokenring init` into the user's home is refused the same way.
#[test]
fn sudo_with_home_kept_leaves_the_users_vault_theirs() {
    if !is_root() {
        eprintln!("skipped: running as root and as another uid needs root");
        return;
    }
    let env = Env::with_vault();
    env.set("s", "u", "secret");
    give_to_nobody(env.dir.path());
    let before = std::fs::read(&env.vault).expect("vault");
    let lock = env.path("test.tokenvault.lock");

    let run = env.run_input(&["set", "s2", "u2"], "new\n").expect(11);
    assert!(
        run.stderr.contains("belongs to uid 65534")
            && run.stderr.contains("runs as uid 0")
            && run.stderr.contains("nothing was written"),
        "{}",
        run.stderr
    );
    env.run(&["delete", "s", "u"]).expect(11);
    assert_eq!(std::fs::read(&env.vault).expect("vault"), before);
    for path in [&env.vault, &lock] {
        let meta = std::fs::metadata(path).expect("stat");
        assert_eq!(
            (meta.uid(), meta.gid()),
            (65534, 65534),
            "{}",
            path.display()
        );
    }
    assert_eq!(
        std::fs::metadata(&env.vault).expect("stat").mode() & 0o777,
        0o600
    );
    // Reading writes nothing, so it is allowed.
    assert_eq!(env.run(&["get", "s", "u"]).expect(0).stdout, "secret\n");

    // A new vault in the user's home, in directories that do not exist yet.
    let mut init = env.command();
    init.env(
        "TOKENRING_VAULT",
        env.path("home-dirs/python_keyring/keyring.tokenvault"),
    )
    .arg("init");
    let run = Env::run_with_input(init, b"").expect(11);
    assert!(
        run.stderr.contains("belongs to uid 65534"),
        "{}",
        run.stderr
    );
    assert!(
        !env.path("home-dirs").exists(),
        "no root-owned directory was made"
    );

    // The user still reads and writes their vault. (The simulator stands
    // in for the user's authenticator; root's runs saved its state file as
    // root's, which a real authenticator does not have.)
    std::os::unix::fs::chown(&env.sim, Some(65534), Some(65534)).expect("chown");
    let as_user = |args: &[&str], input: &str| {
        let mut command = env.wrapped(&[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_tokenring"),
        ]);
        command
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        Env::run_with_input(command, input.as_bytes())
    };
    as_user(&["set", "s2", "u2"], "theirs\n").expect(0);

    // A lock file root left behind (an older TokenRing under sudo): the
    // user's write says whose file is in the way, and writes nothing.
    std::os::unix::fs::chown(&lock, Some(0), Some(0)).expect("chown the lock file");
    let before = std::fs::read(&env.vault).expect("vault");
    let run = as_user(&["set", "s3", "u3"], "blocked\n").expect(11);
    assert!(
        run.stderr.contains("test.tokenvault.lock belongs to uid 0")
            && run.stderr.contains("give the file to uid 65534"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&env.vault).expect("vault"), before);
    std::os::unix::fs::chown(&lock, Some(65534), Some(65534)).expect("chown the lock file");
    assert_eq!(as_user(&["get", "s", "u"], "").expect(0).stdout, "secret\n");
    assert_eq!(
        as_user(&["get", "s2", "u2"], "").expect(0).stdout,
        "theirs\n"
    );
}
