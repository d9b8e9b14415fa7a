//! Moving plaintext secrets into the vault (`tokenring import`): the files
//! where twine, cargo and git keep passwords and tokens in the clear, read
//! the way those programs read them, each secret named the way the
//! matching TokenRing integration looks it up.
//!
//! - [`pypirc`]: `~/.pypirc` (twine): a password per repository, under the
//!   repository URL and user name twine asks `keyring` for.
//! - [`cargo`]: `~/.cargo/credentials.toml` (cargo's `cargo:token`
//!   provider): a token per registry, under
//!   `cargo-registry:<index-url>` / `token`, as `cargo-credential-tokenring`
//!   looks it up.
//! - [`git`]: `~/.git-credentials` (git's `store` helper): a URL with user
//!   and password per line, under `git:PROTOCOL://HOST[/PATH]` and the user
//!   name, as `git-credential-tokenring` looks it up.
//!
//! Reading a file ([`PlaintextFile::read`]) changes nothing. A file that
//! does not parse the way its program would read it is an error naming the
//! line, and nothing is moved; what cannot be moved (no password, a
//! section twine never reads, …) is listed with the reason in
//! [`PlaintextFile::left`] and stays in the file. [`PlaintextFile::remove`]
//! takes only the moved secrets out of the file, after writing the file as
//! it was to a backup (mode 0600) beside it; everything else in the file is
//! kept byte for byte (cargo's TOML: as `toml_edit` writes it back).
//!
//! Error messages name files, lines and entries, never a secret.

pub mod cargo;
pub mod git;
pub mod pypirc;
mod rewrite;

use std::ops::Range;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::Error;

/// The largest plaintext file read (they hold a few lines each).
pub const MAX_FILE_SIZE: u64 = 1 << 20;

/// Which program's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `~/.pypirc`, read as twine reads it.
    Pypirc,
    /// `~/.cargo/credentials.toml`, read as cargo reads it.
    Cargo,
    /// `~/.git-credentials`, read as git's `store` helper reads it.
    Git,
}

impl Kind {
    /// The program that reads the file.
    pub fn program(self) -> &'static str {
        match self {
            Kind::Pypirc => "twine",
            Kind::Cargo => "cargo",
            Kind::Git => "git",
        }
    }
}

/// A secret that moves into the vault: where it is in the file, and the
/// entry it becomes.
pub struct Candidate {
    /// Where it is in the file, in words (`[pypi]`, `[registries.local]`,
    /// `line 3`).
    pub origin: String,
    /// The vault entry's service.
    pub service: String,
    /// The vault entry's user.
    pub user: String,
    secret: Zeroizing<String>,
    removal: Removal,
}

impl Candidate {
    /// The secret (handle with care: never print it).
    pub fn expose_secret(&self) -> &str {
        &self.secret
    }
}

/// How a moved secret is taken out of its file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Removal {
    /// These byte ranges of the file (whole lines). A range several
    /// candidates share (a password every repository inherits) goes only
    /// when all of them are removed.
    Lines(Vec<Range<usize>>),
    /// This key (a table path, then the key) of a TOML document.
    TomlKey(Vec<String>),
}

/// Something in the file that stays there, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    /// Where it is in the file, in words.
    pub origin: String,
    /// Why it is not moved.
    pub reason: String,
}

/// A plaintext file, read and understood; nothing changed yet.
pub struct PlaintextFile {
    /// The program's file kind.
    pub kind: Kind,
    /// The file as named.
    pub path: PathBuf,
    /// The file itself (symbolic links resolved): what is rewritten.
    pub real_path: PathBuf,
    contents: Zeroizing<String>,
    /// The secrets that can move, in file order.
    pub candidates: Vec<Candidate>,
    /// What stays in the file, with the reason.
    pub left: Vec<Left>,
}

impl PlaintextFile {
    /// Reads and parses `path` as `kind` (for cargo, with the registries'
    /// index URLs from `indexes`). A file that the program would refuse is
    /// an error that names the line; nothing is changed.
    pub fn read(
        kind: Kind,
        path: &Path,
        indexes: &cargo::IndexUrls,
    ) -> Result<PlaintextFile, Error> {
        let real_path = std::fs::canonicalize(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Other(format!("there is no {}", path.display()))
            } else {
                Error::Other(format!("cannot open {}: {e}", path.display()))
            }
        })?;
        let contents = read_text(&real_path)?;
        let (candidates, left) = match kind {
            Kind::Pypirc => pypirc::parse(&contents),
            Kind::Cargo => cargo::parse(&contents, indexes),
            Kind::Git => git::parse(&contents),
        }
        .map_err(|e| {
            Error::Other(format!(
                "{} is not a file {} can read: {e}; nothing was moved",
                path.display(),
                kind.program()
            ))
        })?;
        Ok(PlaintextFile {
            kind,
            path: path.to_path_buf(),
            real_path,
            contents,
            candidates,
            left,
        })
    }

    /// The file's text without the secrets of the candidates whose indexes
    /// are in `removed`.
    pub fn without(&self, removed: &[usize]) -> Result<Zeroizing<String>, Error> {
        let chosen = |i: usize| removed.contains(&i);
        match self.kind {
            Kind::Pypirc | Kind::Git => {
                let mut drop: Vec<Range<usize>> = Vec::new();
                let mut keep: Vec<Range<usize>> = Vec::new();
                for (i, candidate) in self.candidates.iter().enumerate() {
                    if let Removal::Lines(ranges) = &candidate.removal {
                        let into = if chosen(i) { &mut drop } else { &mut keep };
                        into.extend(ranges.iter().cloned());
                    }
                }
                drop.retain(|r| !keep.contains(r));
                drop.sort_by_key(|r| r.start);
                drop.dedup();
                let mut text = Zeroizing::new(String::with_capacity(self.contents.len()));
                let mut at = 0;
                for range in drop {
                    if range.start >= at {
                        text.push_str(self.contents.get(at..range.start).unwrap_or_default());
                        at = range.end;
                    }
                }
                text.push_str(self.contents.get(at..).unwrap_or_default());
                Ok(text)
            }
            Kind::Cargo => {
                let keys: Vec<&[String]> = self
                    .candidates
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| chosen(*i))
                    .filter_map(|(_, c)| match &c.removal {
                        Removal::TomlKey(key) => Some(key.as_slice()),
                        Removal::Lines(_) => None,
                    })
                    .collect();
                cargo::without_keys(&self.contents, &keys)
            }
        }
    }

    /// Takes the secrets of the candidates in `removed` out of the file:
    /// first the file as it is is copied to a new backup beside it (mode
    /// 0600), then the file is replaced atomically by its text without
    /// them (same permissions). The backup's path.
    ///
    /// When the file changed since it was read, nothing is written and the
    /// error says so.
    pub fn remove(&self, removed: &[usize]) -> Result<PathBuf, Error> {
        let text = self.without(removed)?;
        rewrite::replace_with_backup(&self.real_path, self.contents.as_bytes(), text.as_bytes())
    }
}

/// The file's text (UTF-8), at most [`MAX_FILE_SIZE`] bytes.
fn read_text(path: &Path) -> Result<Zeroizing<String>, Error> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| Error::Other(format!("cannot open {}: {e}", path.display())))?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Other(format!("cannot read {}: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(Error::Other(format!(
            "{} is larger than {} KiB: not a credentials file; nothing was moved",
            path.display(),
            MAX_FILE_SIZE / 1024
        )));
    }
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(Zeroizing::new(text.to_string())),
        Err(e) => Err(Error::Other(format!(
            "{} is not UTF-8 text (at byte {}); nothing was moved",
            path.display(),
            e.valid_up_to()
        ))),
    }
}

/// The line (from 1) of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.get(..at).unwrap_or(text).matches('\n').count() + 1
}

/// The lines of `text` with their byte ranges (each with its line ending).
fn lines_with_ranges(text: &str) -> impl Iterator<Item = (usize, &str, Range<usize>)> {
    let mut at = 0;
    text.split_inclusive('\n')
        .enumerate()
        .map(move |(index, raw)| {
            let range = at..at + raw.len();
            at = range.end;
            let line = raw.strip_suffix('\n').unwrap_or(raw);
            let line = line.strip_suffix('\r').unwrap_or(line);
            (index + 1, line, range)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_endings_in_the_ranges() {
        let text = "a\r\nbc\n\nlast";
        let lines: Vec<_> = lines_with_ranges(text).collect();
        assert_eq!(
            lines,
            vec![
                (1, "a", 0..3),
                (2, "bc", 3..6),
                (3, "", 6..7),
                (4, "last", 7..11)
            ]
        );
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, 4), 2);
        assert_eq!(line_of(text, 7), 4);
    }
}
