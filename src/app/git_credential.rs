//! `git-credential-tokenring`: git's credential-helper protocol
//! (git-credential(1), gitcredentials(7)) over a TokenRing vault.
//!
//! # Set-up
//!
//! ```text
//! git config --global credential.helper ""              # forget other helpers (they would get `store` too)
//! git config --global --add credential.helper tokenring  # runs git-credential-tokenring from PATH
//! tokenring set git:https://git.example.com alice        # or let git store it after first use
//! ```
//!
//! An absolute path works as the helper too. The vault and authenticator
//! come from `TOKENRING_VAULT` and `TOKENRING_AUTHENTICATOR` as for the
//! `tokenring` command; the agent is used when it runs for the vault
//! (`TOKENRING_NO_AGENT=1`: never).
//!
//! # Service names
//!
//! A credential is kept in the vault as (service, user):
//!
//! - service = `git:PROTOCOL://HOST` — HOST as git gives it, with the port
//!   when there is one (`git:http://127.0.0.1:8080`), followed by `/PATH`
//!   when git sends a path (only with `credential.useHttpPath`, e.g.
//!   `git:https://git.example.com/team/repo.git`);
//! - user = the user name git gives (from the URL, `credential.username`,
//!   or asked). When git gives none on `get`, the one user stored for that
//!   service is used; with none or several, nothing is answered.
//!
//! See [`CredentialDescription::service`].
//!
//! # Operations
//!
//! - `get`: one touch for the secret (plus one to unlock the vault when no
//!   agent runs). Answers `username=` and `password=` on stdout. With no
//!   entry, a denied or timed-out touch, no authenticator, …, it answers
//!   nothing and says why on stderr: git then goes on as without a helper
//!   (asks on the terminal, or fails with `GIT_TERMINAL_PROMPT=0`).
//! - `store`: git calls it after the server accepted a credential. A
//!   credential this helper just answered (git ≥ 2.46 hands back the
//!   `state[]` this helper sent with it) is not stored again, so a fetch
//!   costs one touch, not two. Any other one is stored (touches as for
//!   `get`). git never calls `store` for a credential the server refused.
//! - `erase`: git calls it after the server refused a credential. The entry
//!   is removed when it holds that very password (compared with one touch
//!   for the secret; not compared when this helper answered it just
//!   before), or when git gives no password; without a user name, every
//!   user of the service is concerned, as with git's own
//!   `credential-store`. Removing needs the unlocked vault (the unlock
//!   touch when no agent runs).
//!
//! Unknown attributes (`wwwauth[]`, `password_expiry_utc`, …) and malformed
//! lines are ignored; unknown operations are ignored, as gitcredentials(7)
//! asks.
//!
//! # Prompts and exit status
//!
//! Touch prompts go to stderr (git passes it through); the terminal is only
//! read for the authenticator's PIN (see [`crate::app::terminal`]). git ignores
//! a helper's exit status (it uses whatever was printed), so the status is
//! for people and scripts: 0 when git should go on as usual (answered, no
//! entry, touch denied or timed out, no or wrong authenticator, PIN, no
//! vault, cancelled), otherwise the `tokenring` command's exit code of the
//! failure (see [`crate::app::exit`]), e.g. 7 for a corrupt vault.

use std::fmt;
use std::io::{BufRead, Read, Write};

use tokenring_core::Prompt;
use zeroize::Zeroizing;

use crate::app::exit::{self, ExitStatus};
use crate::{Error, SecretStore};

/// The prefix of every service name this helper uses.
pub const SERVICE_PREFIX: &str = "git:";

/// The `state[]` value this helper sends with a credential it answered, so
/// that it recognises it when git hands it back on `store` / `erase`.
pub const STATE_ANSWERED: &str = "tokenring:answered";

/// The most this helper reads from git (the protocol's descriptions are a
/// few hundred bytes).
pub const MAX_INPUT: u64 = 1 << 20;

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
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|h| (*h as char).to_digit(16));
            let lo = bytes.get(i + 2).and_then(|l| (*l as char).to_digit(16));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// Where the helper's messages go (stderr in the binary), each prefixed
/// with `tokenring: `.
pub struct Messages<'a> {
    out: &'a mut dyn Write,
}

impl<'a> Messages<'a> {
    /// Messages written to `out`.
    pub fn new(out: &'a mut dyn Write) -> Self {
        Messages { out }
    }

    fn say(&mut self, text: &str) {
        let _ = writeln!(self.out, "tokenring: {text}");
        let _ = self.out.flush();
    }
}

/// Carries out `operation` for `description` on `store`, writing the answer
/// of `get` to `answer` and messages to `messages`. Returns the exit status
/// (see the module documentation); failures have been reported already.
pub fn serve(
    operation: Operation,
    description: &CredentialDescription,
    store: &dyn SecretStore,
    prompt: &dyn Prompt,
    answer: &mut dyn Write,
    messages: &mut Messages<'_>,
) -> u8 {
    let Some(service) = description.service() else {
        // Nothing this helper can name (no protocol or host): not ours.
        return exit::OK;
    };
    let result = match operation {
        Operation::Get => get(description, &service, store, prompt, answer, messages),
        Operation::Store => store_credential(description, &service, store, prompt, messages),
        Operation::Erase => erase(description, &service, store, prompt, messages),
    };
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            let what = match operation {
                Operation::Get => "no password for git from TokenRing",
                Operation::Store => "the password was not stored in TokenRing",
                Operation::Erase => "the rejected password was not erased from TokenRing",
            };
            messages.say(&format!("{what}: {e}"));
            status_of(&e)
        }
    }
}

/// 0 for the failures on git's ordinary "no credential" path, the CLI's
/// exit code otherwise.
pub fn status_of(error: &Error) -> u8 {
    match error.exit_code() {
        exit::NO_AUTHENTICATOR
        | exit::WRONG_AUTHENTICATOR
        | exit::PIN
        | exit::TOUCH
        | exit::VAULT_MISSING_OR_EXISTS
        | exit::CANCELLED => exit::OK,
        code => code,
    }
}

fn quoted(text: &str) -> String {
    tokenring_vault::quote_name(text)
}

fn get(
    description: &CredentialDescription,
    service: &str,
    store: &dyn SecretStore,
    prompt: &dyn Prompt,
    answer: &mut dyn Write,
    messages: &mut Messages<'_>,
) -> Result<(), Error> {
    let user = match &description.username {
        Some(user) => user.clone(),
        None => {
            let users = users_of(store, service, prompt)?;
            match users.as_slice() {
                [one] => one.clone(),
                [] => {
                    messages.say(&format!(
                        "no password stored for {} (store one with: tokenring set {} USER)",
                        quoted(service),
                        shell_word(service)
                    ));
                    return Ok(());
                }
                several => {
                    let names: Vec<String> = several.iter().map(|u| quoted(u)).collect();
                    messages.say(&format!(
                        "several users have a password for {}: {}; put the user in the URL \
                         (https://USER@host/…) or set credential.username",
                        quoted(service),
                        names.join(", ")
                    ));
                    return Ok(());
                }
            }
        }
    };
    let Some(password) = store.get(service, &user, prompt)? else {
        messages.say(&format!(
            "no password for {} in {} (store one with: tokenring set {} {})",
            quoted(&user),
            quoted(service),
            shell_word(service),
            shell_word(&user)
        ));
        return Ok(());
    };
    let secret = password.expose_secret();
    if !transmittable(&user) || !transmittable(secret) {
        return Err(Error::Other(format!(
            "the entry for {} in {} holds a newline or NUL, which git's credential protocol \
             cannot carry",
            quoted(&user),
            quoted(service)
        )));
    }
    let mut text = Zeroizing::new(String::with_capacity(secret.len() + user.len() + 64));
    if description.supports_state() {
        text.push_str("capability[]=state\nstate[]=");
        text.push_str(STATE_ANSWERED);
        text.push('\n');
    }
    text.push_str("username=");
    text.push_str(&user);
    text.push_str("\npassword=");
    text.push_str(secret);
    text.push('\n');
    answer
        .write_all(text.as_bytes())
        .and_then(|()| answer.flush())
        .map_err(|e| Error::Other(format!("cannot answer git on stdout: {e}")))
}

fn store_credential(
    description: &CredentialDescription,
    service: &str,
    store: &dyn SecretStore,
    prompt: &dyn Prompt,
    messages: &mut Messages<'_>,
) -> Result<(), Error> {
    let (Some(user), Some(password)) = (&description.username, description.password()?) else {
        // git only stores complete credentials; nothing to keep.
        return Ok(());
    };
    if description.answered_by_this_helper() {
        // This helper's own answer, accepted by the server: it is in the
        // vault already (no second touch).
        return Ok(());
    }
    store.set(service, user, password, prompt)?;
    messages.say(&format!(
        "stored the password for {} in {}",
        quoted(user),
        quoted(service)
    ));
    Ok(())
}

fn erase(
    description: &CredentialDescription,
    service: &str,
    store: &dyn SecretStore,
    prompt: &dyn Prompt,
    messages: &mut Messages<'_>,
) -> Result<(), Error> {
    let rejected = description.password()?;
    let users = match &description.username {
        Some(user) => vec![user.clone()],
        None => users_of(store, service, prompt)?,
    };
    let compare = rejected.is_some() && !description.answered_by_this_helper();
    for user in users {
        if compare {
            let Some(stored) = store.get(service, &user, prompt)? else {
                continue;
            };
            if Some(stored.expose_secret()) != rejected {
                messages.say(&format!(
                    "kept the password for {} in {}: it differs from the one the server refused",
                    quoted(&user),
                    quoted(service)
                ));
                continue;
            }
        }
        if store.delete(service, &user, prompt)? {
            messages.say(&format!(
                "erased the password for {} in {} (the server refused it)",
                quoted(&user),
                quoted(service)
            ));
        }
    }
    Ok(())
}

/// The users with an entry for `service`, in vault order.
fn users_of(
    store: &dyn SecretStore,
    service: &str,
    prompt: &dyn Prompt,
) -> Result<Vec<String>, Error> {
    Ok(store
        .list(prompt)?
        .into_iter()
        .filter(|(s, _)| s == service)
        .map(|(_, u)| u)
        .collect())
}

fn transmittable(value: &str) -> bool {
    !value.contains(['\n', '\0'])
}

/// `text` as one POSIX shell word (for the hints).
fn shell_word(text: &str) -> String {
    if !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./-_".contains(&b))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};

    use tokenring_core::NoPrompt;
    use tokenring_vault::Password;

    use super::*;

    /// An in-memory vault that counts the secret reads (touches).
    #[derive(Default)]
    struct MemoryStore {
        entries: RefCell<Vec<(String, String, String)>>,
        gets: Cell<usize>,
        sets: Cell<usize>,
        fail_with_denied: bool,
    }

    impl MemoryStore {
        fn with(entries: &[(&str, &str, &str)]) -> Self {
            let store = MemoryStore::default();
            for (s, u, p) in entries {
                store
                    .entries
                    .borrow_mut()
                    .push((s.to_string(), u.to_string(), p.to_string()));
            }
            store
        }

        fn password(&self, service: &str, user: &str) -> Option<String> {
            self.entries
                .borrow()
                .iter()
                .find(|(s, u, _)| s == service && u == user)
                .map(|(_, _, p)| p.clone())
        }
    }

    impl SecretStore for MemoryStore {
        fn get(
            &self,
            service: &str,
            user: &str,
            _: &dyn Prompt,
        ) -> Result<Option<Password>, Error> {
            if self.fail_with_denied {
                return Err(tokenring_core::Error::OperationDenied.into());
            }
            self.gets.set(self.gets.get() + 1);
            Ok(self.password(service, user).map(Password::new))
        }

        fn set(
            &self,
            service: &str,
            user: &str,
            password: &str,
            _: &dyn Prompt,
        ) -> Result<(), Error> {
            self.sets.set(self.sets.get() + 1);
            self.delete(service, user, &NoPrompt)?;
            self.entries
                .borrow_mut()
                .push((service.into(), user.into(), password.into()));
            Ok(())
        }

        fn delete(&self, service: &str, user: &str, _: &dyn Prompt) -> Result<bool, Error> {
            let mut entries = self.entries.borrow_mut();
            let before = entries.len();
            entries.retain(|(s, u, _)| !(s == service && u == user));
            Ok(entries.len() != before)
        }

        fn list(&self, _: &dyn Prompt) -> Result<Vec<(String, String)>, Error> {
            Ok(self
                .entries
                .borrow()
                .iter()
                .map(|(s, u, _)| (s.clone(), u.clone()))
                .collect())
        }

        fn describe(&self) -> String {
            "memory".into()
        }
    }

    /// Runs `operation` with `input`: (status, stdout, stderr).
    fn run(operation: Operation, input: &str, store: &MemoryStore) -> (u8, String, String) {
        let description = CredentialDescription::parse(input.as_bytes());
        let mut answer = Vec::new();
        let mut stderr = Vec::new();
        let status = serve(
            operation,
            &description,
            store,
            &NoPrompt,
            &mut answer,
            &mut Messages::new(&mut stderr),
        );
        (
            status,
            String::from_utf8(answer).expect("UTF-8 answer"),
            String::from_utf8(stderr).expect("UTF-8 messages"),
        )
    }

    const SERVICE: &str = "git:https://git.example.com:8443";

    #[test]
    fn parses_git_descriptions() {
        let d = CredentialDescription::parse(
            b"capability[]=authtype\r\ncapability[]=state\nprotocol=https\nhost=git.example.com:8443\n\
              wwwauth[]=Basic realm=\"x\"\nno equals sign\n=empty key\nusername=a=b\n\
              password=p=w\0x\npassword=p=w\npassword_expiry_utc=17\nunknown=1\n\nhost=after.blank\n",
        );
        assert_eq!(d.protocol.as_deref(), Some("https"));
        assert_eq!(d.host.as_deref(), Some("git.example.com:8443"));
        assert_eq!(d.username.as_deref(), Some("a=b"));
        assert_eq!(d.password().expect("UTF-8"), Some("p=w"));
        assert_eq!(d.capabilities, ["authtype", "state"]);
        assert!(d.supports_state());
        assert_eq!(d.service().as_deref(), Some(SERVICE));
        let shown = format!("{d:?}");
        assert!(
            !shown.contains("p=w") && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    #[test]
    fn reading_stops_at_the_blank_line() {
        /// Gives the description once, then fails: reading on would be a
        /// hang with a caller that keeps the pipe open.
        struct OpenPipe(Option<&'static [u8]>);
        impl Read for OpenPipe {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let data = self
                    .0
                    .take()
                    .ok_or_else(|| std::io::Error::other("read past the blank line"))?;
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                Ok(n)
            }
        }
        let mut pipe = std::io::BufReader::new(OpenPipe(Some(
            b"protocol=https\r\nhost=h\r\n\r\nhost=ignored\n",
        )));
        let d = CredentialDescription::read(&mut pipe).expect("read");
        assert_eq!(d.service().as_deref(), Some("git:https://h"));
        // Without a blank line, the end of input ends it.
        let d = CredentialDescription::read(&mut &b"protocol=https\nhost=h"[..]).expect("read");
        assert_eq!(d.service().as_deref(), Some("git:https://h"));
    }

    #[test]
    fn a_password_that_is_not_utf8_is_refused_not_mangled() {
        let d = CredentialDescription::parse(
            b"protocol=https\nhost=h\nusername=u\npassword=\xff\xfe\n",
        );
        assert!(d.password().is_err());
        let store = MemoryStore::default();
        let description = d;
        let mut stderr = Vec::new();
        let status = serve(
            Operation::Store,
            &description,
            &store,
            &NoPrompt,
            &mut Vec::new(),
            &mut Messages::new(&mut stderr),
        );
        assert_eq!(status, exit::OTHER);
        assert!(store.entries.borrow().is_empty());
        assert!(String::from_utf8_lossy(&stderr).contains("not valid UTF-8"));
    }

    #[test]
    fn urls_are_split_as_git_does() {
        let d = CredentialDescription::parse(
            b"host=replaced\nurl=https://a%40b:p%3Ass@git.example.com:8443/team/repo.git/\n",
        );
        assert_eq!(d.protocol.as_deref(), Some("https"));
        assert_eq!(d.host.as_deref(), Some("git.example.com:8443"));
        assert_eq!(d.path.as_deref(), Some("team/repo.git"));
        assert_eq!(d.username.as_deref(), Some("a@b"));
        assert_eq!(d.password().expect("UTF-8"), Some("p:ss"));
        assert_eq!(
            d.service().as_deref(),
            Some("git:https://git.example.com:8443/team/repo.git")
        );
        let d = CredentialDescription::parse(b"url=https://h\n");
        assert_eq!((d.host.as_deref(), d.path.as_deref()), (Some("h"), None));
        let d = CredentialDescription::parse(b"url=not a url\n");
        assert_eq!(d.service(), None);
        let d = CredentialDescription::parse(b"url=cert:///etc/cert.pem\n");
        assert_eq!(d.service().as_deref(), Some("git:cert:///etc/cert.pem"));
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
    }

    #[test]
    fn nothing_to_name_means_nothing_to_do() {
        let store = MemoryStore::with(&[(SERVICE, "u", "p")]);
        for input in ["", "host=h\n", "protocol=https\n", "protocol=\nhost=h\n"] {
            assert_eq!(
                run(Operation::Get, input, &store),
                (0, String::new(), String::new())
            );
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..500 {
            let mut bytes = Vec::new();
            for _ in 0..(seed % 300) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let alphabet = b"=\n\r%:@/[]aph\0\xff";
                bytes.push(*alphabet.get((seed % 15) as usize).unwrap_or(&b'x'));
            }
            let d = CredentialDescription::parse(&bytes);
            let _ = d.service();
            let _ = d.password();
        }
    }

    #[test]
    fn get_answers_the_stored_password() {
        let store =
            MemoryStore::with(&[(SERVICE, "alice", "pw"), ("git:https://other", "bob", "x")]);
        let input = "protocol=https\nhost=git.example.com:8443\nusername=alice\n";
        assert_eq!(
            run(Operation::Get, input, &store),
            (0, "username=alice\npassword=pw\n".into(), String::new())
        );
        // With git's state capability, the answer is marked as this helper's.
        let input = format!("capability[]=state\n{input}");
        let (_, answer, _) = run(Operation::Get, &input, &store);
        assert_eq!(
            answer,
            "capability[]=state\nstate[]=tokenring:answered\nusername=alice\npassword=pw\n"
        );
    }

    #[test]
    fn get_without_a_user_uses_the_only_one() {
        let store =
            MemoryStore::with(&[(SERVICE, "alice", "pw"), ("git:https://other", "bob", "x")]);
        let (status, answer, _) = run(
            Operation::Get,
            "protocol=https\nhost=git.example.com:8443\n",
            &store,
        );
        assert_eq!(
            (status, answer.as_str()),
            (0, "username=alice\npassword=pw\n")
        );

        store.set(SERVICE, "carol", "pw2", &NoPrompt).expect("set");
        let (status, answer, messages) = run(
            Operation::Get,
            "protocol=https\nhost=git.example.com:8443\n",
            &store,
        );
        assert_eq!((status, answer.as_str()), (0, ""));
        assert!(
            messages.contains("several users") && messages.contains("'carol'"),
            "{messages}"
        );

        let (status, answer, messages) =
            run(Operation::Get, "protocol=https\nhost=nowhere\n", &store);
        assert_eq!((status, answer.as_str()), (0, ""));
        assert_eq!(
            messages,
            "tokenring: no password stored for 'git:https://nowhere' (store one with: \
             tokenring set git:https://nowhere USER)\n"
        );
    }

    #[test]
    fn get_failures_answer_nothing() {
        let store = MemoryStore::with(&[(SERVICE, "alice", "line\nbreak")]);
        let (status, answer, messages) = run(
            Operation::Get,
            "protocol=https\nhost=git.example.com:8443\nusername=alice\n",
            &store,
        );
        assert_eq!((status, answer.as_str()), (exit::OTHER, ""));
        assert!(messages.contains("newline"), "{messages}");

        let (status, answer, messages) = run(
            Operation::Get,
            "protocol=https\nhost=git.example.com:8443\nusername=nobody\n",
            &store,
        );
        assert_eq!((status, answer.as_str()), (0, ""));
        assert!(messages.contains("no password for 'nobody'"), "{messages}");

        let denied = MemoryStore {
            fail_with_denied: true,
            ..MemoryStore::with(&[(SERVICE, "alice", "pw")])
        };
        let (status, answer, messages) = run(
            Operation::Get,
            "protocol=https\nhost=git.example.com:8443\nusername=alice\n",
            &denied,
        );
        assert_eq!((status, answer.as_str()), (0, ""));
        assert!(
            messages.starts_with("tokenring: no password for git from TokenRing: "),
            "{messages}"
        );
    }

    #[test]
    fn store_keeps_new_credentials_but_not_its_own_answer_again() {
        let store = MemoryStore::default();
        let input = "protocol=https\nhost=git.example.com:8443\nusername=alice\npassword=pw\n";
        let (status, _, messages) = run(Operation::Store, input, &store);
        assert_eq!(status, 0);
        assert_eq!(store.password(SERVICE, "alice").as_deref(), Some("pw"));
        assert!(
            messages.contains("stored the password for 'alice'"),
            "{messages}"
        );

        let own = format!("capability[]=state\nstate[]={STATE_ANSWERED}\n{input}");
        assert_eq!(
            run(Operation::Store, &own, &store),
            (0, String::new(), String::new())
        );
        assert_eq!(store.sets.get(), 1);

        // Incomplete credentials are not stored.
        run(
            Operation::Store,
            "protocol=https\nhost=h\nusername=alice\n",
            &store,
        );
        run(
            Operation::Store,
            "protocol=https\nhost=h\npassword=pw\n",
            &store,
        );
        assert_eq!(store.sets.get(), 1);
    }

    #[test]
    fn erase_removes_only_the_refused_password() {
        let store = MemoryStore::with(&[(SERVICE, "alice", "pw"), (SERVICE, "bob", "pw")]);
        let base = "protocol=https\nhost=git.example.com:8443\n";
        let (_, _, messages) = run(
            Operation::Erase,
            &format!("{base}username=alice\npassword=old\n"),
            &store,
        );
        assert!(
            messages.contains("kept the password for 'alice'"),
            "{messages}"
        );
        assert!(store.password(SERVICE, "alice").is_some());

        run(
            Operation::Erase,
            &format!("{base}username=alice\npassword=pw\n"),
            &store,
        );
        assert!(store.password(SERVICE, "alice").is_none());

        // This helper's own answer: no compare (no touch).
        let gets = store.gets.get();
        let own = format!(
            "capability[]=state\nstate[]={STATE_ANSWERED}\n{base}username=bob\npassword=x\n"
        );
        run(Operation::Erase, &own, &store);
        assert!(store.password(SERVICE, "bob").is_none());
        assert_eq!(store.gets.get(), gets);
    }

    #[test]
    fn erase_without_a_user_concerns_every_user_of_the_service() {
        let store = MemoryStore::with(&[
            (SERVICE, "alice", "pw"),
            (SERVICE, "bob", "pw"),
            ("git:https://other", "carol", "pw"),
        ]);
        run(
            Operation::Erase,
            "protocol=https\nhost=git.example.com:8443\n",
            &store,
        );
        assert_eq!(
            store.list(&NoPrompt).expect("list"),
            [("git:https://other".to_string(), "carol".to_string())]
        );
    }

    #[test]
    fn operations_and_statuses() {
        assert_eq!(Operation::from_name("get"), Some(Operation::Get));
        assert_eq!(Operation::from_name("store"), Some(Operation::Store));
        assert_eq!(Operation::from_name("erase"), Some(Operation::Erase));
        assert_eq!(Operation::from_name("capability"), None);
        assert_eq!(
            status_of(&tokenring_core::Error::UserActionTimeout.into()),
            0
        );
        assert_eq!(status_of(&Error::Agent("x".into())), exit::AGENT);
        assert_eq!(shell_word("git:https://h:1/p"), "git:https://h:1/p");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }
}
