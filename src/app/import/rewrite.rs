//! Replacing a plaintext file without its moved secrets: a backup of the
//! file as it was first (a new file, mode 0600, synced), then the new text
//! in a temporary file beside it, synced and renamed over it, and the
//! directory synced; the file is never half written.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::Error;

/// The backup's name: `FILE.tokenring-backup`, or with `.2`, `.3`, … when
/// that exists.
fn backup_path(path: &Path, attempt: u32) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tokenring-backup");
    if attempt > 1 {
        name.push(format!(".{attempt}"));
    }
    path.with_file_name(name)
}

/// Writes `bytes` to a file that must not exist yet, with `mode`, synced.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    // The mode is also set explicitly: the umask could have narrowed it
    // (never widened: a backup is 0600 whatever the umask).
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Replaces `path` (which held `original` when it was read) by `new`,
/// after a backup of `original`; the backup's path. When the file no
/// longer holds `original`, nothing is written.
pub(super) fn replace_with_backup(
    path: &Path,
    original: &[u8],
    new: &[u8],
) -> Result<PathBuf, Error> {
    let fail = |what: &str, e: std::io::Error| {
        Error::Other(format!(
            "{what} {}: {e}; the file was not changed",
            path.display()
        ))
    };
    let unchanged = || -> Result<bool, Error> {
        let mut now = Zeroizing::new(Vec::new());
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut now))
            .map_err(|e| fail("cannot read", e))?;
        Ok(now.as_slice() == original)
    };
    if !unchanged()? {
        return Err(Error::Other(format!(
            "{} changed since it was read; it was not changed (run the import again)",
            path.display()
        )));
    }
    let metadata = std::fs::metadata(path).map_err(|e| fail("cannot inspect", e))?;
    let mode = metadata.permissions().mode() & 0o7777;

    let mut attempt = 1;
    let backup = loop {
        let candidate = backup_path(path, attempt);
        match write_new(&candidate, original, 0o600) {
            Ok(()) => break candidate,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => {
                attempt += 1;
            }
            Err(e) => {
                std::fs::remove_file(&candidate).ok();
                return Err(fail(
                    &format!("cannot write the backup {} of", candidate.display()),
                    e,
                ));
            }
        }
    };

    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(path.file_name().unwrap_or_default());
    temp_name.push(format!(".tokenring-{}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    std::fs::remove_file(&temp).ok();
    let written = write_new(&temp, new, mode).and_then(|()| {
        // The owner stays the file's (when this process may set it).
        use std::os::unix::fs::MetadataExt;
        match std::os::unix::fs::chown(&temp, Some(metadata.uid()), Some(metadata.gid())) {
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Ok(()),
            other => other,
        }
    });
    let renamed = written.and_then(|()| {
        if !unchanged().unwrap_or(false) {
            return Err(std::io::Error::other(
                "it changed while it was being rewritten",
            ));
        }
        std::fs::rename(&temp, path)
    });
    if let Err(e) = renamed {
        std::fs::remove_file(&temp).ok();
        return Err(Error::Other(format!(
            "cannot rewrite {}: {e}; it was not changed (a backup of it is in {})",
            path.display(),
            backup.display()
        )));
    }
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir).and_then(|d| d.sync_all()).ok();
    }
    Ok(backup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_first_then_the_new_text_with_the_old_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join(".pypirc");
        std::fs::write(&file, "old\n").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let backup = replace_with_backup(&file, b"old\n", b"new\n").expect("replaced");
        assert_eq!(backup, dir.path().join(".pypirc.tokenring-backup"));
        assert_eq!(std::fs::read(&backup).expect("backup"), b"old\n");
        assert_eq!(std::fs::read(&file).expect("file"), b"new\n");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&backup), 0o600);
        assert_eq!(mode(&file), 0o640);
        // A second backup does not overwrite the first.
        let second = replace_with_backup(&file, b"new\n", b"newer\n").expect("replaced");
        assert_eq!(second, dir.path().join(".pypirc.tokenring-backup.2"));
        assert_eq!(std::fs::read(&backup).expect("backup"), b"old\n");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers.len(), 3, "no temporary file stays: {leftovers:?}");
    }

    #[test]
    fn a_file_changed_since_it_was_read_is_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("credentials.toml");
        std::fs::write(&file, "changed\n").expect("write");
        let error = replace_with_backup(&file, b"as read\n", b"new\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("changed since it was read"), "{error}");
        assert_eq!(std::fs::read(&file).expect("file"), b"changed\n");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
    }
}
