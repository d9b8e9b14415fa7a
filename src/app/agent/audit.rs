//! The agent's audit log: one line per request it served (and per lock it
//! made on its own), saying when, for which process (pid, executable),
//! which request and entry, and how it ended — released, stored, denied,
//! timed out, cancelled, … — never a secret, a PIN or a key.
//!
//! - Where: `$XDG_STATE_HOME/tokenring/audit.log` (by default
//!   `~/.local/state/tokenring/audit.log`; `~/Library/Logs/tokenring/` on
//!   macOS), one file for every vault (each line names its vault).
//! - Permissions: the directory is created 0700, the file 0600; a symlink
//!   in the file's place is refused (`O_NOFOLLOW`).
//! - Size: when the file reaches [`MAX_LOG_BYTES`] (1 MiB), it becomes
//!   `audit.log.1` (replacing the older one) and a new file starts, so the
//!   log never takes more than about 2 MiB.
//! - Format: JSON lines ([`AuditRecord`]); `tokenring log` shows them.
//! - Several agents (one per vault) append to the same file: each line is
//!   written with one `write` under an exclusive `flock`, which also keeps
//!   two agents from rotating at once.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// The size at which the log is rotated (1 MiB).
pub const MAX_LOG_BYTES: u64 = 1 << 20;

/// How a request ended, as the audit log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// `get`: the secret was handed to the requester.
    Released,
    /// `get`, `delete`: there was no such entry (no secret released).
    NotFound,
    /// `set`: the secret was stored.
    Stored,
    /// `set` of the value just released for that entry (a git `store`
    /// after a `get`): nothing to store, no tap spent.
    Unchanged,
    /// `delete`: the entry was removed.
    Deleted,
    /// `list`: the names were handed to the requester.
    Listed,
    /// The vault was unlocked (the unlock tap) for the request.
    Unlocked,
    /// The vault key was forgotten (`lock`, idle lock, maximum lifetime).
    Locked,
    /// The touch was refused on the authenticator.
    Denied,
    /// Nobody touched in time, or the PIN was not answered in time.
    TimedOut,
    /// The requester cancelled (Ctrl-C, closed connection) or the agent stopped.
    Cancelled,
    /// Any other failure (see the detail).
    Failed,
}

impl Outcome {
    /// The outcome's name in the log ("released", "timed_out", …).
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Released => "released",
            Outcome::NotFound => "not_found",
            Outcome::Stored => "stored",
            Outcome::Unchanged => "unchanged",
            Outcome::Deleted => "deleted",
            Outcome::Listed => "listed",
            Outcome::Unlocked => "unlocked",
            Outcome::Locked => "locked",
            Outcome::Denied => "denied",
            Outcome::TimedOut => "timed_out",
            Outcome::Cancelled => "cancelled",
            Outcome::Failed => "failed",
        }
    }
}

/// One line of the audit log. Never holds a secret: names, the process and
/// the outcome only (error messages never hold secrets either).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When, in UTC (RFC 3339, `2025-06-01T12:34:56Z`).
    pub time: String,
    /// The vault (its canonical path).
    pub vault: String,
    /// The process that asked (the agent's own for its automatic locks).
    pub pid: u32,
    /// That process's executable, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    /// `get`, `set`, `delete`, `list`, `lock`, `unlock`, `idle_lock`,
    /// `max_unlocked`, ….
    pub request: String,
    /// The entry's service, for requests about one entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The entry's user, for requests about one entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Why, for failures (an error message, never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The default place of the audit log (see the module documentation);
/// `None` without `HOME`.
pub fn default_path() -> Option<PathBuf> {
    let home = || {
        std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if cfg!(target_os = "macos") {
        return home().map(|h| h.join("Library/Logs/tokenring/audit.log"));
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".local/state")))?;
    Some(state.join("tokenring").join("audit.log"))
}

/// The rotated older file beside `path` (`audit.log.1`).
pub fn rotated_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".1");
    path.with_file_name(name)
}

/// The audit log an agent appends to.
pub struct AuditLog {
    path: PathBuf,
    max_bytes: u64,
    /// A failure was reported on stderr (once until the log works again).
    reported: AtomicBool,
}

impl AuditLog {
    /// The log at `path` (created on the first record), rotated at
    /// [`MAX_LOG_BYTES`].
    pub fn new(path: PathBuf) -> AuditLog {
        AuditLog::with_max_bytes(path, MAX_LOG_BYTES)
    }

    /// The log at `path`, rotated at `max_bytes`.
    pub fn with_max_bytes(path: PathBuf, max_bytes: u64) -> AuditLog {
        AuditLog {
            path,
            max_bytes,
            reported: AtomicBool::new(false),
        }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record`. A failure is said once on stderr (the agent goes on
    /// serving: a full disk must not lock the user out of their secrets).
    pub fn append(&self, record: &AuditRecord) {
        match self.try_append(record) {
            Ok(()) => self.reported.store(false, Ordering::SeqCst),
            Err(e) => {
                if !self.reported.swap(true, Ordering::SeqCst) {
                    eprintln!(
                        "tokenring agent: warning: cannot write the audit log {}: {e}",
                        self.path.display()
                    );
                }
            }
        }
    }

    fn try_append(&self, record: &AuditRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        // Another agent may rotate between our open and our lock: then the
        // file we locked is not at the path any more; open again.
        for _ in 0..4 {
            let mut file = open_for_append(&self.path)?;
            rustix::fs::flock(file.as_fd(), rustix::fs::FlockOperation::LockExclusive)?;
            let meta = file.metadata()?;
            match std::fs::symlink_metadata(&self.path) {
                Ok(now) if now.ino() == meta.ino() && now.dev() == meta.dev() => {}
                _ => continue,
            }
            if meta.len() >= self.max_bytes {
                std::fs::rename(&self.path, rotated_path(&self.path))?;
                continue;
            }
            return file.write_all(&line);
        }
        Err(std::io::Error::other("the log kept moving while we wrote"))
    }
}

fn open_for_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc_o_nofollow())
        .open(path)
}

/// `O_NOFOLLOW`, through rustix (no libc dependency).
fn libc_o_nofollow() -> i32 {
    i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0)
}

/// What [`read`] found.
#[derive(Debug, Default)]
pub struct LogContents {
    /// The records, oldest first.
    pub records: Vec<AuditRecord>,
    /// Lines that are not records (damaged, or written by a newer version).
    pub unreadable: usize,
}

/// The records of the log at `path` (its rotated older file first); an
/// empty log when there is none yet.
pub fn read(path: &Path) -> std::io::Result<LogContents> {
    let mut contents = LogContents::default();
    for file in [rotated_path(path), path.to_path_buf()] {
        let text = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<AuditRecord>(line) {
                Ok(record) => contents.records.push(record),
                Err(_) => contents.unreadable += 1,
            }
        }
    }
    Ok(contents)
}

/// `time` as RFC 3339 in UTC, to the second (`2025-06-01T12:34:56Z`).
pub fn utc_timestamp(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01, by eras
/// of 400 years (146,097 days), each starting on 1 March so that the leap
/// day falls at the end of its year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // [0, 11]
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_rfc3339() {
        let at = |secs| utc_timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        // `date -u -d @951782400`: the leap day of 2000.
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(at(951_868_800), "2000-03-01T00:00:00Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(at(1_748_781_296), "2025-06-01T12:34:56Z");
    }

    fn record(n: usize) -> AuditRecord {
        AuditRecord {
            time: utc_timestamp(SystemTime::now()),
            vault: "/v".into(),
            pid: 1,
            exe: Some("/bin/x".into()),
            request: "get".into(),
            service: Some(format!("service-{n}")),
            user: Some("u".into()),
            outcome: Outcome::Released,
            detail: None,
        }
    }

    #[test]
    fn the_log_is_private_rotated_and_bounded() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/tokenring/audit.log");
        let log = AuditLog::with_max_bytes(path.clone(), 2000);
        for n in 0..100 {
            log.append(&record(n));
        }
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let size = |p: &Path| std::fs::metadata(p).unwrap().len();
        let line = serde_json::to_vec(&record(99)).unwrap().len() as u64 + 1;
        assert!(size(&path) < 2000 + line, "{}", size(&path));
        assert!(size(&rotated_path(&path)) < 2000 + line);
        // The newest records are kept, oldest first, without a gap.
        let contents = read(&path).unwrap();
        assert_eq!(contents.unreadable, 0);
        let last = contents.records.last().unwrap();
        assert_eq!(last.service.as_deref(), Some("service-99"));
        let numbers: Vec<usize> = contents
            .records
            .iter()
            .map(|r| r.service.as_ref().unwrap()[8..].parse().unwrap())
            .collect();
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
        assert!(
            numbers.len() < 100 && numbers.len() > 10,
            "{}",
            numbers.len()
        );
    }

    #[test]
    fn a_symlink_in_place_of_the_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, b"").unwrap();
        let path = dir.path().join("audit.log");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let log = AuditLog::new(path.clone());
        assert!(log.try_append(&record(0)).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"");
    }

    #[test]
    fn damaged_lines_are_counted_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut text = serde_json::to_vec(&record(1)).unwrap();
        text.extend_from_slice(b"\n{\"broken\n\xff\xfe\n");
        std::fs::write(&path, text).unwrap();
        let contents = read(&path).unwrap();
        assert_eq!(contents.records.len(), 1);
        assert_eq!(contents.unreadable, 2);
        assert!(read(&dir.path().join("none")).unwrap().records.is_empty());
    }
}
