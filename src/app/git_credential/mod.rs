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
//!   costs one touch, not two. With an older git, the agent recognises it
//!   instead: it remembers for two minutes what it released for a `git:`
//!   entry and answers the first `store` of that very value without a
//!   touch (without an agent, that `store` is a real one). Any other one is
//!   stored (touches as for `get`). git never calls `store` for a
//!   credential the server refused.
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

mod description;
mod serve;

pub use description::{CredentialDescription, Operation};
pub use serve::{serve, status_of, Messages};

/// The prefix of every service name this helper uses.
pub const SERVICE_PREFIX: &str = "git:";

/// The `state[]` value this helper sends with a credential it answered, so
/// that it recognises it when git hands it back on `store` / `erase`.
pub const STATE_ANSWERED: &str = "tokenring:answered";

/// The most this helper reads from git (the protocol's descriptions are a
/// few hundred bytes).
pub const MAX_INPUT: u64 = 1 << 20;

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};

    use tokenring_core::{NoPrompt, Prompt};
    use tokenring_vault::Password;

    use std::io::Read;

    use super::description::percent_decode;
    use super::serve::shell_word;
    use super::*;
    use crate::app::exit;
    use crate::{Error, SecretStore};

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

        fn for_each_name(
            &self,
            _: &dyn Prompt,
            each: &mut dyn FnMut(&str, &str),
        ) -> Result<(), Error> {
            for (service, user, _) in self.entries.borrow().iter() {
                each(service, user);
            }
            Ok(())
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
