//! Parsing git's credential descriptions (git-credential(1), "INPUT/OUTPUT
//! FORMAT"): `key=value` lines up to a blank line.

use std::fmt;
use std::io::{BufRead, Read};

use zeroize::Zeroizing;

use super::{MAX_INPUT, SERVICE_PREFIX, STATE_ANSWERED};
use crate::Error;

/// What git asks the helper to do (its first argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Answer a credential.
    Get,
    /// Keep a credential the server accepted.
    Store,
    /// Forget a credential the server refused.
    Erase,
}

impl Operation {
    /// The operation named `name`; `None` for any other word (which a helper
    /// must ignore).
    pub fn from_name(name: &str) -> Option<Operation> {
        match name {
            "get" => Some(Operation::Get),
            "store" => Some(Operation::Store),
            "erase" => Some(Operation::Erase),
            _ => None,
        }
    }
}

/// A credential description as git sends it (git-credential(1), "INPUT/OUTPUT
/// FORMAT"): `key=value` lines up to a blank line or the end of input.
#[derive(Default)]
pub struct CredentialDescription {
    /// `protocol` (https, http, …).
    pub protocol: Option<String>,
    /// `host`, with `:port` when the URL has one.
    pub host: Option<String>,
    /// `path`, sent by git only with `credential.useHttpPath`.
    pub path: Option<String>,
    /// `username`.
    pub username: Option<String>,
    /// `password` (not valid UTF-8: [`PasswordField::Unusable`]).
    password: PasswordField,
    /// `capability[]` values git announced.
    pub capabilities: Vec<String>,
    /// `state[]` values git handed back.
    pub state: Vec<String>,
}

/// The `password` attribute.
#[derive(Default)]
enum PasswordField {
    #[default]
    Absent,
    Present(Zeroizing<String>),
    /// Present but not UTF-8: the vault keeps text only.
    Unusable,
}

impl fmt::Debug for CredentialDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialDescription")
            .field("protocol", &self.protocol)
            .field("host", &self.host)
            .field("path", &self.path)
            .field("username", &self.username)
            .field(
                "password",
                &match self.password {
                    PasswordField::Absent => "absent",
                    PasswordField::Present(_) => "<redacted>",
                    PasswordField::Unusable => "<not UTF-8>",
                },
            )
            .field("capabilities", &self.capabilities)
            .field("state", &self.state)
            .finish()
    }
}

impl CredentialDescription {
    /// Reads a description from `input`, up to a blank line or the end of
    /// input (at most [`MAX_INPUT`] bytes): a caller that keeps its end of
    /// the pipe open after the blank line is not waited for.
    pub fn read(input: &mut dyn BufRead) -> Result<CredentialDescription, Error> {
        let mut bytes = Zeroizing::new(Vec::new());
        let mut limited = input.take(MAX_INPUT);
        loop {
            let start = bytes.len();
            let n = limited
                .read_until(b'\n', &mut bytes)
                .map_err(|e| Error::Other(format!("cannot read git's request from stdin: {e}")))?;
            let line = bytes.get(start..).unwrap_or_default();
            if n == 0 || line == b"\n" || line == b"\r\n" {
                break;
            }
        }
        Ok(CredentialDescription::parse(&bytes))
    }

    /// Parses a description. Lines without `=`, with an empty key or a NUL
    /// byte are ignored, as are unknown keys; a `\r` before the newline is
    /// dropped; a blank line ends the description.
    pub fn parse(bytes: &[u8]) -> CredentialDescription {
        let mut description = CredentialDescription::default();
        for raw_line in bytes.split(|&b| b == b'\n') {
            let line = raw_line.strip_suffix(b"\r").unwrap_or(raw_line);
            if line.is_empty() {
                break;
            }
            if line.contains(&0) {
                continue;
            }
            let Some(eq) = line.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (key, rest) = line.split_at(eq);
            description.apply(key, rest.get(1..).unwrap_or_default());
        }
        description
    }

    fn apply(&mut self, key: &[u8], value: &[u8]) {
        let text = || String::from_utf8_lossy(value).into_owned();
        match key {
            b"protocol" => self.protocol = Some(text()),
            b"host" => self.host = Some(text()),
            b"path" => self.path = Some(text()),
            b"username" => self.username = Some(text()),
            b"password" => self.password = password_field(value.to_vec()),
            b"url" => self.apply_url(value),
            b"capability[]" => self.capabilities.push(text()),
            b"state[]" => self.state.push(text()),
            _ => {}
        }
    }

    /// `url=`: "parsed as a URL and treated as if its constituent parts
    /// were read", replacing what was there (git's `credential_from_url`).
    fn apply_url(&mut self, value: &[u8]) {
        let text = String::from_utf8_lossy(value);
        let Some((protocol, rest)) = text.split_once("://") else {
            return;
        };
        self.protocol = Some(protocol.to_string());
        self.host = None;
        self.path = None;
        self.username = None;
        self.password = PasswordField::Absent;
        let (authority, path) = match rest.split_once('/') {
            Some((authority, path)) => (authority, Some(path)),
            None => (rest, None),
        };
        let host = match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                match userinfo.split_once(':') {
                    Some((user, password)) => {
                        self.username = Some(lossy(&percent_decode(user)));
                        self.password = password_field(percent_decode(password));
                    }
                    None => self.username = Some(lossy(&percent_decode(userinfo))),
                }
                host
            }
            None => authority,
        };
        self.host = Some(lossy(&percent_decode(host)));
        if let Some(path) = path {
            let path = lossy(&percent_decode(path));
            let trimmed = path.trim_end_matches('/');
            if !trimmed.is_empty() {
                self.path = Some(trimmed.to_string());
            }
        }
    }

    /// The password git sent; `Err` when it is there but not UTF-8.
    pub fn password(&self) -> Result<Option<&str>, Error> {
        match &self.password {
            PasswordField::Absent => Ok(None),
            PasswordField::Present(p) => Ok(Some(p.as_str())),
            PasswordField::Unusable => Err(Error::Other(
                "the password is not valid UTF-8: TokenRing keeps text only".into(),
            )),
        }
    }

    /// The vault's service name for this credential:
    /// `git:PROTOCOL://HOST[/PATH]` (see the module documentation); `None`
    /// without a protocol, or without both host and path.
    pub fn service(&self) -> Option<String> {
        let protocol = self.protocol.as_deref().filter(|p| !p.is_empty())?;
        let host = self.host.as_deref().unwrap_or_default();
        let path = self.path.as_deref().filter(|p| !p.is_empty());
        if host.is_empty() && path.is_none() {
            return None;
        }
        let mut service = format!("{SERVICE_PREFIX}{protocol}://{host}");
        if let Some(path) = path {
            service.push('/');
            service.push_str(path);
        }
        Some(service)
    }

    /// Whether git understands `state[]` (it announced `capability[]=state`).
    pub fn supports_state(&self) -> bool {
        self.capabilities.iter().any(|c| c == "state")
    }

    /// Whether git hands back the state this helper sent with its answer.
    pub fn answered_by_this_helper(&self) -> bool {
        self.state.iter().any(|s| s == STATE_ANSWERED)
    }
}

fn password_field(bytes: Vec<u8>) -> PasswordField {
    match String::from_utf8(bytes) {
        Ok(text) => PasswordField::Present(Zeroizing::new(text)),
        Err(e) => {
            let mut bytes = e.into_bytes();
            zeroize::Zeroize::zeroize(&mut bytes);
            PasswordField::Unusable
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `%XX` decoding (RFC 3986 §2.1); a `%` not followed by two hex digits
/// stays as it is.
pub(super) fn percent_decode(text: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(text).collect()
}
