//! What is on disk beside and under the vault cannot make a save lose it:
//! a temp file left by a killed writer (even one linked to the vault), a
//! symbolic link planted where the temp or lock file goes, a vault that is
//! a symbolic link (the dotfiles case, and a link someone else planted), a
//! file far larger than any vault, and a vault that belongs to another user
//! (`sudo` with `HOME` kept).

mod common;

use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::hmac_authenticator::HmacAuthenticator;
use tokenring_core::NoPrompt;
use tokenring_vault::{CreateOptions, FormatError, LinkProblem, Vault, VaultError, VaultLock};

struct Fixture {
    dir: tempfile::TempDir,
    path: PathBuf,
    auth: HmacAuthenticator,
}

/// A vault with one entry at `<tempdir>/vault.json`.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("vault.json");
    let auth = make_vault(&path);
    Fixture { dir, path, auth }
}

fn make_vault(path: &Path) -> HmacAuthenticator {
    let mut auth = HmacAuthenticator::new();
    let vault =
        Vault::create(path, &mut auth, &CreateOptions::default(), &NoPrompt).expect("create");
    vault
        .set("svc", "user", "first", &mut auth, &NoPrompt)
        .expect("set");
    auth
}

/// Where a save writes before it renames (documented in the README).
fn temp_of(path: &Path) -> PathBuf {
    let name = path.file_name().expect("file name").to_string_lossy();
    path.with_file_name(format!(".{name}.tokenring-tmp"))
}

fn lock_of(path: &Path) -> PathBuf {
    let name = path.file_name().expect("file name").to_string_lossy();
    path.with_file_name(format!("{name}.lock"))
}

fn read_at_start(file: &File) -> Vec<u8> {
    use std::io::{Read, Seek};
    let mut file = file;
    file.rewind().expect("rewind");
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).expect("read");
    bytes
}

fn password(vault: &Vault, auth: &mut HmacAuthenticator, service: &str) -> Option<String> {
    vault
        .get(service, "user", auth, &NoPrompt)
        .expect("get")
        .map(|p| p.expose_secret().to_string())
}

fn is_root() -> bool {
    // The owner of a file this process just made is its effective user.
    let probe = tempfile::NamedTempFile::new().expect("probe file");
    probe.as_file().metadata().expect("stat").uid() == 0
}

/// Tests that need another uid (chown) say so and pass when not root.
fn needs_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    eprintln!("skipped {test}: making files of another uid needs root (chown)");
    false
}

/// A kill between `create`'s link and its removal of the temp file left
/// both names on the vault's inode. The next save must write a new file,
/// not rewrite the live vault in place (a crash or a full disk then would
/// lose it).
#[test]
fn a_stale_temp_linked_to_the_vault_is_not_written_through() {
    let Fixture {
        dir: _dir,
        path,
        mut auth,
    } = fixture();
    let temp = temp_of(&path);
    fs::hard_link(&path, &temp).expect("the state a kill leaves");
    let live = File::open(&path).expect("open the live vault");
    let before = read_at_start(&live);

    let vault = Vault::open(&path, &mut auth, &NoPrompt).expect("open");
    vault
        .set("svc2", "user", "second", &mut auth, &NoPrompt)
        .expect("set");

    assert_eq!(
        read_at_start(&live),
        before,
        "the save wrote into the inode of the live vault"
    );
    assert_ne!(
        fs::metadata(&path).expect("stat").ino(),
        live.metadata().expect("stat").ino(),
        "the vault was replaced by a new file"
    );
    assert!(!temp.exists(), "the stale temp name is gone");
    let vault = Vault::open(&path, &mut auth, &NoPrompt).expect("reopen");
    assert_eq!(password(&vault, &mut auth, "svc").as_deref(), Some("first"));
    assert_eq!(
        password(&vault, &mut auth, "svc2").as_deref(),
        Some("second")
    );
}

/// A symbolic link where the temp file goes is removed, never followed.
#[test]
fn a_link_planted_as_the_temp_file_is_not_followed() {
    let Fixture {
        dir,
        path,
        mut auth,
    } = fixture();
    let victim = dir.path().join("victim.txt");
    fs::write(&victim, "precious").expect("victim");
    std::os::unix::fs::symlink(&victim, temp_of(&path)).expect("plant");

    let vault = Vault::open(&path, &mut auth, &NoPrompt).expect("open");
    vault
        .set("svc2", "user", "second", &mut auth, &NoPrompt)
        .expect("set");

    assert_eq!(fs::read(&victim).expect("victim"), b"precious");
    assert!(fs::symlink_metadata(&path).expect("stat").is_file());
    let vault = Vault::open(&path, &mut auth, &NoPrompt).expect("reopen");
    assert_eq!(
        password(&vault, &mut auth, "svc2").as_deref(),
        Some("second")
    );
}

/// A symbolic link where the lock file goes is refused with a clear
/// error; the file it points to is not written (the lock records a pid).
#[test]
fn a_link_planted_as_the_lock_file_is_refused() {
    let Fixture {
        dir,
        path,
        mut auth,
    } = fixture();
    let victim = dir.path().join("victim.txt");
    fs::write(&victim, "precious").expect("victim");
    let lock = lock_of(&path);
    let _ = fs::remove_file(&lock);
    std::os::unix::fs::symlink(&victim, &lock).expect("plant");
    let before = fs::read(&path).expect("read");

    let vault = Vault::open(&path, &mut auth, &NoPrompt).expect("open");
    let err = vault
        .set("svc2", "user", "second", &mut auth, &NoPrompt)
        .expect_err("a linked lock file is refused");
    assert!(
        matches!(
            &err,
            VaultError::UntrustedLink { link, reason: LinkProblem::LockFile } if *link == lock
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(fs::read(&victim).expect("victim"), b"precious");
    assert_eq!(fs::read(&path).expect("read"), before);
}

/// A sparse file of 1 TiB: a corrupt vault (too large), found without
/// allocating or reading it, and left as it was.
#[test]
fn a_sparse_terabyte_file_is_corrupt_and_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("vault.json");
    let file = File::create(&path).expect("create");
    file.set_len(1 << 40).expect("a sparse 1 TiB file");
    drop(file);
    let before = fs::metadata(&path).expect("stat");
    let mut auth = HmacAuthenticator::new();

    let too_large = |result: Result<(), VaultError>| match result {
        Err(VaultError::Corrupt {
            reason: FormatError::TooLarge(len),
            ..
        }) => assert_eq!(len, 1 << 40),
        other => panic!("not a corrupt-vault error: {other:?}"),
    };
    too_large(Vault::open(&path, &mut auth, &NoPrompt).map(drop));
    too_large(Vault::credential_of(&path).map(drop));
    let err = Vault::credential_of(&path).expect_err("too large");
    assert!(
        err.to_string().contains("larger than any vault")
            && err.to_string().contains("left untouched"),
        "{err}"
    );

    let after = fs::metadata(&path).expect("stat");
    assert_eq!(after.len(), 1 << 40);
    assert_eq!(after.blocks(), before.blocks(), "nothing was written");
    assert_eq!(after.mtime(), before.mtime());
    assert_eq!(after.mtime_nsec(), before.mtime_nsec());
}

/// A file under the size limit that is not a vault is refused without
/// reading it into memory: a sparse 256 MiB file of zeros, opened in a
/// child process whose peak memory is measured.
#[test]
fn a_large_file_that_is_not_a_vault_is_refused_without_reading_it_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("vault.json");
    let file = File::create(&path).expect("create");
    file.set_len(256 << 20).expect("a sparse file");
    drop(file);
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "open_in_a_child_and_report_peak_memory",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TOKENRING_VAULT_PEAK_MEMORY", &path)
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("peak-kib ").map(|(_, report)| report))
        .unwrap_or_else(|| panic!("no report: {stdout}"));
    let (peak, reason) = line.split_once(' ').expect("peak and reason");
    let peak: u64 = peak.parse().expect("KiB");
    assert!(reason.starts_with("corrupt"), "{line}");
    assert!(
        peak < 64 * 1024,
        "opening a 256 MiB non-vault took {peak} KiB of memory"
    );
}

/// The child of the test above (it refuses to run without its variable).
#[test]
#[ignore = "child process of a_large_file_that_is_not_a_vault_is_refused_without_reading_it_whole"]
fn open_in_a_child_and_report_peak_memory() {
    let path = std::env::var_os("TOKENRING_VAULT_PEAK_MEMORY").expect("only run by its parent");
    let result = Vault::credential_of(Path::new(&path));
    let reason = match result {
        Err(VaultError::Corrupt { reason, .. }) => format!("corrupt: {reason}"),
        other => format!("unexpected: {other:?}"),
    };
    let status = fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM");
    println!("peak-kib {peak} {reason}");
}

/// The dotfiles case: the vault path is a link to a file in a repository.
/// A save writes the link's target and keeps the link; the lock is the
/// target's, so a process that names the target and one that names the
/// link exclude each other.
#[test]
fn a_symlinked_vault_is_written_through_and_keeps_its_link() {
    let Fixture {
        dir,
        path: target,
        mut auth,
    } = fixture();
    let home = dir.path().join("home");
    fs::create_dir(&home).expect("home");
    let link = home.join("keyring.tokenvault");
    std::os::unix::fs::symlink(&target, &link).expect("link");

    let vault = Vault::open(&link, &mut auth, &NoPrompt).expect("open through the link");
    vault
        .set("svc2", "user", "second", &mut auth, &NoPrompt)
        .expect("set");
    assert!(
        fs::symlink_metadata(&link).expect("lstat").is_symlink(),
        "the link was replaced by a file"
    );
    assert_eq!(fs::read_link(&link).expect("readlink"), target);
    assert!(!lock_of(&link).exists(), "no lock file beside the link");
    assert!(!temp_of(&link).exists());
    let by_target = Vault::open(&target, &mut auth, &NoPrompt).expect("open the target");
    assert_eq!(
        password(&by_target, &mut auth, "svc2").as_deref(),
        Some("second")
    );

    // Whoever holds the target's lock keeps a writer through the link out.
    let held = VaultLock::acquire(&target, Duration::from_secs(1)).expect("lock");
    let vault = vault.with_lock_timeout(Duration::from_millis(100));
    let err = vault
        .set("svc3", "user", "third", &mut auth, &NoPrompt)
        .expect_err("the lock is held");
    assert!(
        matches!(err, VaultError::LockedByAnotherProcess { .. }),
        "{err:?}"
    );
    drop(held);
    vault
        .set("svc3", "user", "third", &mut auth, &NoPrompt)
        .expect("set once the lock is free");

    // A relative link, and a chain of two links, work the same way.
    let relative = dir.path().join("relative.tokenvault");
    std::os::unix::fs::symlink("vault.json", &relative).expect("relative link");
    let chain = home.join("chain.tokenvault");
    std::os::unix::fs::symlink(&relative, &chain).expect("second link");
    let vault = Vault::open(&chain, &mut auth, &NoPrompt).expect("open through two links");
    assert!(vault.delete("svc3", "user").expect("delete"));
    assert!(fs::symlink_metadata(&chain).expect("lstat").is_symlink());
    assert!(fs::symlink_metadata(&relative).expect("lstat").is_symlink());
    assert_eq!(vault.path(), target, "the vault is the file the links name");
}

/// A link in a directory others can write (like /tmp), planted there by
/// another user, is never followed: the error says whose it is.
#[test]
fn a_link_planted_by_another_user_is_refused() {
    if !needs_root("a_link_planted_by_another_user_is_refused") {
        return;
    }
    let Fixture {
        dir,
        path: target,
        mut auth,
    } = fixture();
    let shared = dir.path().join("shared");
    fs::create_dir(&shared).expect("shared dir");
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).expect("chmod 1777");
    let link = shared.join("keyring.tokenvault");
    std::os::unix::fs::symlink(&target, &link).expect("plant");
    std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).expect("the planter's link");
    let before = fs::read(&target).expect("read");

    for result in [
        Vault::open(&link, &mut auth, &NoPrompt).map(drop),
        Vault::credential_of(&link).map(drop),
    ] {
        let err = result.expect_err("refused");
        match &err {
            VaultError::UntrustedLink {
                link: refused,
                reason: LinkProblem::OwnedByOther { owner: 65534, .. },
            } => assert_eq!(*refused, link),
            other => panic!("{other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("symbolic link") && text.contains("uid 65534"),
            "{text}"
        );
    }
    assert_eq!(fs::read(&target).expect("read"), before);
}

/// A link of our own, in a directory others can write without the sticky
/// bit (anyone there could replace it between our look and our use), is
/// refused too, and the error names the directory.
#[test]
fn a_link_in_a_directory_others_can_write_is_refused() {
    let Fixture {
        dir,
        path: target,
        mut auth,
    } = fixture();
    let shared = dir.path().join("group-writable");
    fs::create_dir(&shared).expect("dir");
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).expect("chmod 777");
    let link = shared.join("keyring.tokenvault");
    std::os::unix::fs::symlink(&target, &link).expect("link");
    let err = Vault::open(&link, &mut auth, &NoPrompt).expect_err("refused");
    match &err {
        VaultError::UntrustedLink {
            reason: LinkProblem::WritableDirectory { dir },
            ..
        } => assert_eq!(*dir, shared),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("other users can write"), "{err}");

    // With the sticky bit (as /tmp has), only the link's owner may replace
    // it: our own link there is followed.
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).expect("chmod 1777");
    let vault = Vault::open(&link, &mut auth, &NoPrompt).expect("open");
    assert_eq!(password(&vault, &mut auth, "svc").as_deref(), Some("first"));
}

/// `sudo tokenring set` with HOME kept: the vault belongs to the user, the
/// process runs as root. A write is refused (it would leave a root-owned
/// vault and lock file the user cannot open); the file, its owner and mode
/// stay as they were. Reading changes nothing and is allowed.
#[test]
fn a_vault_of_another_user_is_not_written() {
    if !needs_root("a_vault_of_another_user_is_not_written") {
        return;
    }
    let Fixture {
        dir,
        path,
        mut auth,
    } = fixture();
    let _ = fs::remove_file(lock_of(&path));
    std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).expect("chown dir");
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).expect("chown vault");
    let before = fs::read(&path).expect("read");
    let meta = fs::metadata(&path).expect("stat");

    let vault = Vault::open(&path, &mut auth, &NoPrompt).expect("reading is allowed");
    assert_eq!(password(&vault, &mut auth, "svc").as_deref(), Some("first"));
    for result in [
        vault.set("svc2", "user", "second", &mut auth, &NoPrompt),
        vault.delete("svc", "user").map(drop),
        VaultLock::acquire(&path, Duration::from_secs(1)).map(drop),
    ] {
        let err = result.expect_err("refused");
        assert!(
            matches!(
                &err,
                VaultError::NotOwner { path: p, owner: 65534, user: 0 } if *p == path
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("belongs to uid 65534") && text.contains("uid 0"),
            "{text}"
        );
    }
    let after = fs::metadata(&path).expect("stat");
    assert_eq!(fs::read(&path).expect("read"), before);
    assert_eq!((after.uid(), after.gid()), (65534, 65534));
    assert_eq!(after.mode(), meta.mode());
    assert_eq!(after.ino(), meta.ino());
    assert!(!lock_of(&path).exists(), "no lock file made for root");

    // Creating a vault in another user's directory is refused the same way.
    let mut auth = HmacAuthenticator::new();
    let new = dir.path().join("new.tokenvault");
    let err = Vault::create(&new, &mut auth, &CreateOptions::default(), &NoPrompt)
        .map(drop)
        .expect_err("refused");
    assert!(
        matches!(&err, VaultError::NotOwner { owner: 65534, .. }),
        "{err:?}"
    );
    assert!(!new.exists() && !lock_of(&new).exists());
}
