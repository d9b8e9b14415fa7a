//! Persistence that never loses a vault: an exclusive lock file beside the
//! vault held across every read-modify-write, atomic saves (a fresh temp
//! file in the same directory, fsync, rename, fsync of the directory), mode
//! 0600, no creation over an existing file, and a cheap test of whether the
//! file changed since it was last read or written.
//!
//! What is found on disk is not trusted blindly: a vault path that is a
//! symbolic link is followed only when the link is the user's own and no
//! one else could replace it (then the target is read, locked and replaced,
//! and the link kept); temp and lock files are never opened through a link;
//! a file larger than any vault is refused before anything is allocated;
//! and a vault (or the directory of a new one) that belongs to another user
//! is never written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{LinkProblem, VaultError};

/// How many symbolic links in a row are followed to the vault file.
const MAX_LINKS: usize = 16;

/// `O_NOFOLLOW`: opening a path whose last part is a symbolic link fails.
fn no_follow() -> i32 {
    i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0)
}

/// The effective user id of this process (the owner of what it creates).
fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The file a vault path names: the path itself, or, when it is a symbolic
/// link (the dotfiles case: a link in the home directory to a file in a
/// repository), the file the link leads to, which is then read, locked and
/// replaced, so the link stays. A link is followed only when it belongs to
/// this process's user (or root) and lies in a directory no other user can
/// change ([`LinkProblem`] says which rule a refused link broke). A path
/// where nothing is yet is returned as it is.
pub fn resolve(path: &Path) -> Result<PathBuf, VaultError> {
    let mut current = path.to_path_buf();
    for _ in 0..=MAX_LINKS {
        let meta = match fs::symlink_metadata(&current) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(VaultError::io("look at", &current, e)),
        };
        if !meta.file_type().is_symlink() {
            return Ok(current);
        }
        check_link(&current, &meta)?;
        let target =
            fs::read_link(&current).map_err(|e| VaultError::io("read the link", &current, e))?;
        current = match current.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(target),
            _ => target,
        };
    }
    Err(VaultError::UntrustedLink {
        link: path.to_path_buf(),
        reason: LinkProblem::TooMany,
    })
}

/// Whether a link may be followed: its owner is us or root, and its
/// directory belongs to us or root and is writable by no one else (or has
/// the sticky bit, so that only a link's owner may replace it).
fn check_link(link: &Path, meta: &fs::Metadata) -> Result<(), VaultError> {
    let me = effective_uid();
    let untrusted = |reason| VaultError::UntrustedLink {
        link: link.to_path_buf(),
        reason,
    };
    if meta.uid() != me && meta.uid() != 0 {
        return Err(untrusted(LinkProblem::OwnedByOther {
            owner: meta.uid(),
            user: me,
        }));
    }
    let dir = parent_dir(link);
    let dir_meta = fs::metadata(dir).map_err(|e| VaultError::io("look at", dir, e))?;
    let others_write = dir_meta.mode() & 0o022 != 0;
    let sticky = dir_meta.mode() & 0o1000 != 0;
    let owner_trusted = dir_meta.uid() == me || dir_meta.uid() == 0;
    if !owner_trusted || (others_write && !sticky) {
        return Err(untrusted(LinkProblem::WritableDirectory {
            dir: dir.to_path_buf(),
        }));
    }
    Ok(())
}

/// Refuses to write a vault that belongs to another user, or to make one
/// in a directory that belongs to another user (root's, like `/tmp`,
/// excepted): the file (and its lock file) would end up belonging to this
/// process's user, whom the owner may not be (`sudo` with `HOME` kept).
fn check_owner(vault: &Path) -> Result<(), VaultError> {
    let me = effective_uid();
    match fs::metadata(vault) {
        Ok(meta) if meta.uid() == me => Ok(()),
        Ok(meta) => Err(VaultError::NotOwner {
            path: vault.to_path_buf(),
            owner: meta.uid(),
            user: me,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let dir = parent_dir(vault);
            match fs::metadata(dir) {
                Ok(meta) if meta.uid() == me || meta.uid() == 0 => Ok(()),
                Ok(meta) => Err(VaultError::NotOwner {
                    path: dir.to_path_buf(),
                    owner: meta.uid(),
                    user: me,
                }),
                Err(e) => Err(VaultError::io("look at", dir, e)),
            }
        }
        Err(e) => Err(VaultError::io("look at", vault, e)),
    }
}

/// How long a writer waits for another process's lock by default.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes at the end of the file kept in a [`Fingerprint`]: the closing `"}`
/// and 126 hex digits of `data`, which spell at least the last 45 bytes of
/// the Fernet token and so its whole 32-byte HMAC tag.
const TAIL_LEN: usize = 128;

/// The path of the lock file of a vault: `<vault>.lock` beside it. (The
/// vault itself cannot carry the lock: every save replaces it by rename.)
pub fn lock_path(vault: &Path) -> PathBuf {
    let mut name = vault
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".lock");
    vault.with_file_name(name)
}

fn temp_path(vault: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(vault.file_name().unwrap_or_default());
    name.push(".tokenring-tmp");
    vault.with_file_name(name)
}

fn parent_dir(vault: &Path) -> &Path {
    match vault.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The cross-process lock of a vault: the exclusive lock on `<vault>.lock`
/// beside it, which every change to the vault holds while it re-reads,
/// changes and saves the file. Released on drop.
///
/// [`Vault`](crate::Vault) takes it by itself; hold one to keep every
/// TokenRing process from changing the vault for a while (to copy the file
/// for a backup, say). Readers are not held up: a save replaces the file
/// whole, so a reader always sees one complete version.
pub struct VaultLock {
    file: File,
}

impl VaultLock {
    /// Takes the lock of the vault at `vault`, waiting up to `timeout` for
    /// another process to release it; then
    /// [`VaultError::LockedByAnotherProcess`] names the holder's pid.
    ///
    /// When `vault` is a symbolic link, the lock is its target's (see
    /// [`Vault::open`](crate::Vault::open)). Refused with
    /// [`VaultError::NotOwner`] when the vault belongs to another user.
    pub fn acquire(vault: &Path, timeout: Duration) -> Result<VaultLock, VaultError> {
        lock(vault, timeout)
    }
}

impl Drop for VaultLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// Takes the vault's exclusive lock, waiting up to `timeout` for another
/// process to release it. The lock file is never opened through a link,
/// and not made at all for a vault of another user.
pub fn lock(vault: &Path, timeout: Duration) -> Result<VaultLock, VaultError> {
    let vault = resolve(vault)?;
    check_owner(&vault)?;
    let path = lock_path(&vault);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(no_follow())
        .open(&path)
        .map_err(|e| match e.raw_os_error() {
            Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => {
                VaultError::UntrustedLink {
                    link: path.clone(),
                    reason: LinkProblem::LockFile,
                }
            }
            // A lock file another user made (an older `sudo tokenring`):
            // say whose it is rather than only "permission denied".
            _ if e.kind() == io::ErrorKind::PermissionDenied => match fs::symlink_metadata(&path) {
                Ok(meta) if meta.uid() != effective_uid() => VaultError::NotOwner {
                    path: path.clone(),
                    owner: meta.uid(),
                    user: effective_uid(),
                },
                _ => VaultError::io("open the lock file", &path, e),
            },
            _ => VaultError::io("open the lock file", &path, e),
        })?;
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) => {
                let waited = start.elapsed();
                if waited >= timeout {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    return Err(VaultError::LockedByAnotherProcess {
                        path: vault.clone(),
                        holder: text.trim().parse().ok(),
                        waited,
                    });
                }
                std::thread::sleep(pause.min(timeout.saturating_sub(waited)));
                pause = (pause * 2).min(Duration::from_millis(4));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(VaultError::io("lock", &path, e));
            }
        }
    }
    // Say who holds it, for anyone who waits in vain (best effort). Only
    // written when it changes: a write to the lock file can wait for the
    // file system's journal, and the same process locks again and again.
    let holder = format!("{:>10}\n", std::process::id());
    let mut current = [0u8; 11];
    if file.read_exact_at(&mut current, 0).is_err() || current != holder.as_bytes() {
        let _ = file.write_all_at(holder.as_bytes(), 0);
    }
    Ok(VaultLock { file })
}

/// What identifies one version of the vault file cheaply: its inode,
/// length and times, and its last bytes (which hold the Fernet HMAC tag,
/// so equal tails mean equal authenticated content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    tail: [u8; TAIL_LEN],
    /// The tail is any bytes ending in a raw Fernet tag (format 2), not
    /// format 1's hex text.
    raw: bool,
}

impl Fingerprint {
    fn new(meta: &fs::Metadata, tail: &[u8], raw: bool) -> Option<Self> {
        // Format 1: trust the tail only when it is the end of `data`:
        // `...hex"}`. Format 2 ends with the envelope's raw tag.
        let tail: [u8; TAIL_LEN] = tail.try_into().ok()?;
        let (digits, end) = tail.split_at(TAIL_LEN - 2);
        if !raw && (end != b"\"}" || !digits.iter().all(u8::is_ascii_hexdigit)) {
            return None;
        }
        Some(Fingerprint {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            tail,
            raw,
        })
    }

    fn of_open_file(file: &File) -> io::Result<Option<Self>> {
        Self::of_open_file_as(file, false)
    }

    fn of_open_file_as(file: &File, raw: bool) -> io::Result<Option<Self>> {
        let meta = file.metadata()?;
        let len = meta.len();
        if len < TAIL_LEN as u64 {
            return Ok(None);
        }
        let mut tail = [0u8; TAIL_LEN];
        file.read_exact_at(&mut tail, len - TAIL_LEN as u64)?;
        Ok(Self::new(&meta, &tail, raw))
    }
}

/// Writes a file and, every [`WRITEBACK_EVERY`] bytes, starts flushing what
/// was written so far on another thread, so the disk works while the rest
/// is computed and the final fsync has little left to do.
struct EarlyWriteback {
    file: File,
    since: usize,
    flushing: Option<std::thread::JoinHandle<io::Result<()>>>,
}

const WRITEBACK_EVERY: usize = 2 << 20;

impl EarlyWriteback {
    fn new(file: File) -> Self {
        EarlyWriteback {
            file,
            since: 0,
            flushing: None,
        }
    }

    fn finish(mut self) -> io::Result<File> {
        if let Some(flush) = self.flushing.take() {
            flush.join().unwrap_or(Ok(()))?;
        }
        Ok(self.file)
    }
}

impl io::Write for EarlyWriteback {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.since += n;
        if self.since >= WRITEBACK_EVERY && self.flushing.as_ref().is_none_or(|f| f.is_finished()) {
            if let Some(flush) = self.flushing.take() {
                flush.join().unwrap_or(Ok(()))?;
            }
            let clone = self.file.try_clone()?;
            // If no thread can be started, the final fsync does it all.
            self.flushing = std::thread::Builder::new()
                .name("vault-writeback".into())
                .spawn(move || clone.sync_data())
                .ok();
            self.since = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn open_vault(path: &Path) -> Result<File, VaultError> {
    File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => VaultError::NotFound {
            path: path.to_path_buf(),
        },
        _ => VaultError::io("open", path, e),
    })
}

/// Whether the file at `path` is still the version `fingerprint` describes.
pub fn unchanged(path: &Path, fingerprint: &Fingerprint) -> Result<bool, VaultError> {
    let file = open_vault(path)?;
    let now = Fingerprint::of_open_file_as(&file, fingerprint.raw)
        .map_err(|e| VaultError::io("read", path, e))?;
    Ok(now.as_ref() == Some(fingerprint))
}

/// The first bytes of the vault file (at most `n`), to tell its format.
pub fn read_start(path: &Path, n: usize) -> Result<Vec<u8>, VaultError> {
    let file = open_vault(path)?;
    let mut buf = Vec::with_capacity(n);
    file.take(n as u64)
        .read_to_end(&mut buf)
        .map_err(|e| VaultError::io("read", path, e))?;
    Ok(buf)
}

/// Reads the whole vault file (at most [`crate::format::MAX_FILE_LEN`]
/// bytes, checked from its metadata before anything is allocated), with
/// the fingerprint of what was read (format 2: a raw tail).
pub fn read_bytes(path: &Path) -> Result<(Vec<u8>, Option<Fingerprint>), VaultError> {
    let file = open_vault(path)?;
    let meta = file
        .metadata()
        .map_err(|e| VaultError::io("read", path, e))?;
    if meta.len() > crate::format::MAX_FILE_LEN {
        return Err(VaultError::Corrupt {
            path: path.to_path_buf(),
            reason: crate::FormatError::TooLarge(meta.len()),
        });
    }
    let len = usize::try_from(meta.len()).unwrap_or(usize::MAX);
    // Read into the spare capacity (not zero-filled first: a large vault
    // is megabytes), from the start of the file just opened.
    let mut bytes = Vec::with_capacity(len);
    (&file)
        .take(meta.len())
        .read_to_end(&mut bytes)
        .map_err(|e| VaultError::io("read", path, e))?;
    if bytes.len() != len {
        return Err(VaultError::io(
            "read (it changed while being read)",
            path,
            io::ErrorKind::UnexpectedEof.into(),
        ));
    }
    let fingerprint =
        Fingerprint::of_open_file_as(&file, true).map_err(|e| VaultError::io("read", path, e))?;
    let fingerprint =
        fingerprint.filter(|f| f.len == meta.len() && f.mtime == (meta.mtime(), meta.mtime_nsec()));
    Ok((bytes, fingerprint))
}

/// Reads and parses the vault file (see [`crate::format::read_file`]),
/// with the fingerprint of what was read.
pub fn read_parsed(
    path: &Path,
) -> Result<
    (
        Result<crate::format::VaultFile, crate::FormatError>,
        Option<Fingerprint>,
    ),
    VaultError,
> {
    let file = open_vault(path)?;
    let meta = file
        .metadata()
        .map_err(|e| VaultError::io("read", path, e))?;
    if meta.len() > crate::format::MAX_FILE_LEN {
        // Before any allocation: a sparse file can claim any size.
        return Ok((Err(crate::FormatError::TooLarge(meta.len())), None));
    }
    let parsed = crate::format::read_file(&file, meta.len()).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            VaultError::io("read (it changed while being read)", path, e)
        }
        _ => VaultError::io("read", path, e),
    })?;
    let fingerprint =
        Fingerprint::of_open_file(&file).map_err(|e| VaultError::io("read", path, e))?;
    // Trust the fingerprint only if the file did not change while read.
    let fingerprint =
        fingerprint.filter(|f| f.len == meta.len() && f.mtime == (meta.mtime(), meta.mtime_nsec()));
    Ok((parsed, fingerprint))
}

/// Whether anything (a file, a link, a dangling link) is at `path`.
pub fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Writes a new version of the vault atomically: `write` fills a temp file
/// beside it (mode 0600), which is fsynced and renamed over the vault (or,
/// with `create_new`, linked to the vault path, which fails if anything is
/// there); then the directory is fsynced. `write` should write in large
/// pieces: the file is not buffered. Returns the new fingerprint.
///
/// The temp file is always a new file (`O_EXCL`, `O_NOFOLLOW`): whatever a
/// killed writer left at its name (a partial file, or the vault itself
/// under a second name when `create` was killed between its link and its
/// removal of the temp) is removed first, never written through. The
/// caller holds the vault's lock, so no other save uses the name meanwhile.
pub fn save(
    path: &Path,
    create_new: bool,
    write: impl FnOnce(&mut dyn io::Write) -> io::Result<()>,
) -> Result<Option<Fingerprint>, VaultError> {
    save_as(path, create_new, false, write)
}

/// [`save`] of a file that ends in a raw Fernet tag (format 2; `raw`) or
/// in format 1's text.
pub fn save_as(
    path: &Path,
    create_new: bool,
    raw: bool,
    write: impl FnOnce(&mut dyn io::Write) -> io::Result<()>,
) -> Result<Option<Fingerprint>, VaultError> {
    let temp = temp_path(path);
    let result = save_via(path, &temp, create_new, raw, write);
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn save_via(
    path: &Path,
    temp: &Path,
    create_new: bool,
    raw: bool,
    write: impl FnOnce(&mut dyn io::Write) -> io::Result<()>,
) -> Result<Option<Fingerprint>, VaultError> {
    match fs::remove_file(temp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(VaultError::io("remove the stale temp file", temp, e)),
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(no_follow())
        .open(temp)
        .map_err(|e| VaultError::io("create", temp, e))?;
    // The umask may have taken bits away.
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| VaultError::io("set the mode of", temp, e))?;
    let mut out = EarlyWriteback::new(file);
    write(&mut out).map_err(|e| VaultError::io("write", temp, e))?;
    let file = out.finish().map_err(|e| VaultError::io("write", temp, e))?;
    file.sync_all()
        .map_err(|e| VaultError::io("write", temp, e))?;
    if create_new {
        fs::hard_link(temp, path).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => VaultError::AlreadyExists {
                path: path.to_path_buf(),
            },
            _ => VaultError::io("create", path, e),
        })?;
        fs::remove_file(temp).map_err(|e| VaultError::io("remove", temp, e))?;
    } else {
        // Keep the old version open across the rename: the file system then
        // frees its blocks when it is closed, off the caller's path, instead
        // of inside the rename (freeing a large file can take milliseconds).
        let old = File::open(path).ok();
        fs::rename(temp, path).map_err(|e| VaultError::io("replace", path, e))?;
        if let Some(old) = old {
            // If no thread can be started, the closure (and the file) is
            // dropped right here instead.
            let _ = std::thread::Builder::new()
                .name("vault-free-old".into())
                .spawn(move || drop(old));
        }
    }
    let dir = parent_dir(path);
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| VaultError::io("sync the directory", dir, e))?;
    // The renamed inode's ctime changed: take the fingerprint now.
    Fingerprint::of_open_file_as(&file, raw).map_err(|e| VaultError::io("read", path, e))
}
