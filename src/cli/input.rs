//! What `get`, `set` and `delete` read: the entry's names (from the command
//! line, or from standard input to keep them out of `ps`) and, for `set`,
//! the secret (standard input or a file), read whole and bounded, never
//! silently cut.

use std::io::Read;
use std::path::Path;

use clap::Args;
use tokenring::Error;
use zeroize::Zeroizing;

/// The largest secret `set` reads (1 MiB): PEM keys and JSON service
/// accounts are a few KiB. Larger input is refused, never cut.
pub const MAX_SECRET_LEN: usize = 1 << 20;

/// The entry a command is about.
#[derive(Args, Debug)]
pub struct NameArgs {
    /// The service (e.g. a host name: pypi.org). Put `--` before the names
    /// when a name may start with `-`.
    #[arg(
        required_unless_present = "names_from_stdin",
        conflicts_with = "names_from_stdin"
    )]
    pub service: Option<String>,
    /// The user name within the service.
    #[arg(
        required_unless_present = "names_from_stdin",
        conflicts_with = "names_from_stdin"
    )]
    pub user: Option<String>,
    /// Read SERVICE and USER from standard input instead of the command
    /// line (where other users can read them, in `ps` and /proc), each one
    /// ended by a NUL byte; for `set`, the secret follows them, the rest of
    /// the input exactly as it is. For programs that call `tokenring`.
    #[arg(long)]
    pub names_from_stdin: bool,
}

/// The names, and for `--names-from-stdin` what followed them on stdin.
pub struct Names {
    /// The service.
    pub service: String,
    /// The user.
    pub user: String,
    /// What standard input held after the names (`--names-from-stdin`
    /// only); zeroized on drop, as it may be the secret.
    pub rest: Option<Zeroizing<Vec<u8>>>,
}

impl NameArgs {
    /// The names from the command line, or read from standard input.
    pub fn names(&self) -> Result<Names, Error> {
        match (&self.service, &self.user, self.names_from_stdin) {
            (Some(service), Some(user), false) => Ok(Names {
                service: service.clone(),
                user: user.clone(),
                rest: None,
            }),
            _ => {
                let input = read_bounded(&mut std::io::stdin().lock(), "standard input")?;
                split_names(input)
            }
        }
    }
}

impl NameArgs {
    /// The names, for a command that reads nothing more (`get`, `delete`):
    /// input after the names on standard input is an error.
    pub fn names_only(&self) -> Result<Names, Error> {
        let names = self.names()?;
        if names.rest.as_ref().is_some_and(|rest| !rest.is_empty()) {
            return Err(Error::Other(
                "--names-from-stdin: standard input goes on after the user's NUL byte;                  nothing was done"
                    .into(),
            ));
        }
        Ok(names)
    }
}

/// `SERVICE\0USER\0REST` into its parts.
fn split_names(input: Zeroizing<Vec<u8>>) -> Result<Names, Error> {
    let malformed = || {
        Error::Other(
            "--names-from-stdin: standard input must start with the service and the user, \
             each ended by a NUL byte; nothing was done"
                .into(),
        )
    };
    let mut parts = input.splitn(3, |&b| b == 0);
    let service = parts.next().ok_or_else(malformed)?;
    let user = parts.next().ok_or_else(malformed)?;
    let rest = parts.next().ok_or_else(malformed)?;
    let text = |bytes: &[u8]| {
        std::str::from_utf8(bytes).map(str::to_string).map_err(|_| {
            Error::Other("--names-from-stdin: a name is not UTF-8; nothing was done".into())
        })
    };
    Ok(Names {
        service: text(service)?,
        user: text(user)?,
        rest: Some(Zeroizing::new(rest.to_vec())),
    })
}

/// Everything `input` holds, at most [`MAX_SECRET_LEN`] bytes (more is an
/// error). The buffer grows by copying into a new one and wiping the old,
/// so no copy of a secret is left in freed memory.
pub fn read_bounded(input: &mut impl Read, what: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut buffer = Zeroizing::new(Vec::with_capacity(4096));
    let mut chunk = Zeroizing::new([0u8; 8192]);
    loop {
        let n = match input.read(&mut chunk[..]) {
            Ok(0) => return Ok(buffer),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Other(format!("cannot read {what}: {e}"))),
        };
        if buffer.len() + n > MAX_SECRET_LEN {
            return Err(Error::Other(format!(
                "{what} holds more than {} KiB, more than a secret may be; nothing was stored",
                MAX_SECRET_LEN / 1024
            )));
        }
        if buffer.len() + n > buffer.capacity() {
            let mut larger = Zeroizing::new(Vec::with_capacity(
                (buffer.capacity() * 2).max(buffer.len() + n),
            ));
            larger.extend_from_slice(&buffer);
            buffer = larger;
        }
        buffer.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// The secret in the file at `path`, read whole (at most [`MAX_SECRET_LEN`]).
pub fn read_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    let what = format!("the file {}", path.display());
    let mut file = std::fs::File::open(path)
        .map_err(|e| Error::Other(format!("cannot open {what}: {e}; nothing was stored")))?;
    if let Ok(meta) = file.metadata() {
        if meta.is_file() && meta.len() > MAX_SECRET_LEN as u64 {
            return Err(Error::Other(format!(
                "{what} is {} bytes, more than a secret may be ({} KiB); nothing was stored",
                meta.len(),
                MAX_SECRET_LEN / 1024
            )));
        }
    }
    read_bounded(&mut file, &what)
}

/// Removes one line ending (`\n` or `\r\n`) at the end, as a line read
/// from a pipe or a file ends.
pub fn strip_one_line_ending(bytes: &mut Vec<u8>) {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
}

/// The bytes as UTF-8 text (the vault holds text), or an error naming
/// where they came from.
pub fn into_text(bytes: Zeroizing<Vec<u8>>, what: &str) -> Result<Zeroizing<String>, Error> {
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Error::Other(format!(
            "the secret in {what} is not UTF-8 text; nothing was stored"
        ))
    })?;
    Ok(Zeroizing::new(text.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_everything_up_to_the_limit_and_refuses_more() {
        let big = vec![b'x'; MAX_SECRET_LEN];
        assert_eq!(
            read_bounded(&mut &big[..], "x").unwrap().len(),
            MAX_SECRET_LEN
        );
        let too_big = vec![b'x'; MAX_SECRET_LEN + 1];
        let err = read_bounded(&mut &too_big[..], "standard input").unwrap_err();
        assert!(err.to_string().contains("more than 1024 KiB"), "{err}");
        assert!(read_bounded(&mut &b""[..], "x").unwrap().is_empty());
    }

    #[test]
    fn one_line_ending_is_stripped() {
        for (input, output) in [
            (&b"s3cret\n"[..], &b"s3cret"[..]),
            (b"s3cret\r\n", b"s3cret"),
            (b"s3cret", b"s3cret"),
            (b"first\nsecond\n", b"first\nsecond"),
            (b"two\n\n", b"two\n"),
            (b"with \r inside\n", b"with \r inside"),
            (b"\n", b""),
        ] {
            let mut bytes = input.to_vec();
            strip_one_line_ending(&mut bytes);
            assert_eq!(bytes, output);
        }
    }

    #[test]
    fn names_and_the_rest_split_at_the_first_two_nuls() {
        let names = split_names(Zeroizing::new(b"svc\0--help\0a\0b\n".to_vec())).unwrap();
        assert_eq!(
            (names.service.as_str(), names.user.as_str()),
            ("svc", "--help")
        );
        assert_eq!(
            names.rest.as_deref().map(|r| r.as_slice()),
            Some(&b"a\0b\n"[..])
        );
        let names = split_names(Zeroizing::new(b"\0\0".to_vec())).unwrap();
        assert_eq!((names.service.as_str(), names.user.as_str()), ("", ""));
        for bad in [&b""[..], b"svc", b"svc\0user", b"\xff\0u\0"] {
            assert!(split_names(Zeroizing::new(bad.to_vec())).is_err());
        }
    }
}
