//! Cargo's registry tokens in the vault: the credential provider behind
//! the `cargo-credential-tokenring` command (cargo's
//! [credential-provider protocol], version 1, through the
//! `cargo-credential` crate).
//!
//! Set-up, in `~/.cargo/config.toml`:
//!
//! ```toml
//! [registry]
//! global-credential-providers = ["cargo-credential-tokenring"]
//! # or, for one registry:
//! [registries.my-registry]
//! index = "sparse+https://my-registry.example/index/"
//! credential-provider = ["cargo-credential-tokenring"]
//! ```
//!
//! then `cargo login` stores the token in the vault (one tap to unlock, one
//! for the entry; one for the entry when the agent runs), `cargo publish`
//! reads it (the same taps) and `cargo logout` deletes it.
//!
//! # Where the token is kept
//!
//! One entry per registry, keyed by the registry's index URL exactly as
//! cargo passes it: service [`service_for`]`(index_url)` =
//! `cargo-registry:<index-url>` (the name cargo's own keychain, libsecret
//! and wincred providers use), user [`TOKEN_USER`] (`token`). The index URL
//! and not the registry's name is the key because cargo does not always
//! know the name (`--index URL`), and because a name is local to one
//! configuration while the URL says where the token is valid. So
//! `tokenring get cargo-registry:sparse+https://my-registry.example/index/ token`
//! shows it, and `tokenring set …` can store one without cargo.
//!
//! # Options
//!
//! Arguments after the program in `credential-provider` (cargo passes them
//! in the request, see [`ProviderOptions::parse`]): `--vault PATH`,
//! `--authenticator SELECTOR`, `--no-agent`. Without them the
//! environment decides as for the `tokenring` command (`TOKENRING_VAULT`,
//! `TOKENRING_AUTHENTICATOR`, `TOKENRING_PIN_FILE`), and the agent is used
//! when it runs for the vault ([`crate::Tokenring::open`]).
//!
//! # Caching
//!
//! Every token is answered with cache control `session` and
//! `operation_independent: true`: cargo keeps it for the rest of *this*
//! cargo command, for every operation, and forgets it when the command
//! ends. So each cargo command that needs the token costs one touch for
//! the entry (plus one to unlock the vault without the agent), and nothing
//! outlives the command. Why not `never`: a registry with `auth-required`
//! needs the token for every index request, and `cargo publish` asks for
//! it twice even on crates.io (a `read` check before packaging, then the
//! `publish` itself), so `never` would ask for several touches per command
//! while protecting nothing: the token is in cargo's memory after the first
//! answer anyway. The token is one static string, valid for every
//! operation, which is what `operation_independent` says.
//!
//! # Prompts and failures
//!
//! Touch prompts and PIN requests go to stderr and the terminal: cargo
//! passes the provider's stderr through and reserves its stdout for the
//! protocol's JSON (the `cargo-credential` crate points stdout at the
//! terminal while an action runs, so nothing can break the protocol).
//!
//! - `get` with no entry, no vault, or a touch that was denied, timed out
//!   or cancelled answers `NotFound` after saying why on stderr: cargo
//!   then tries its next provider or fails with its ordinary
//!   "no token found for `my-registry`".
//! - `logout` with no entry answers `NotFound` (cargo: "not currently
//!   logged in").
//! - Every other failure (including a denied touch for `login`/`logout`:
//!   nothing was stored or deleted) is an `Other` error whose message says
//!   what to do; cargo shows it under "credential provider … failed action …".
//!
//! [credential-provider protocol]: https://doc.rust-lang.org/cargo/reference/credential-provider-protocol.html

use std::path::PathBuf;

use ::cargo_credential::{
    Action, CacheControl, Credential, CredentialResponse, Error as ProtocolError, LoginOptions,
    Operation, RegistryInfo, Secret,
};
use tokenring_core::Prompt;
use tokenring_vault::VaultError;

use crate::app::env::StoreOptions;
use crate::app::exit::{self, ExitStatus};
use crate::app::terminal::TerminalPrompt;
use crate::{Error, Selector};

/// The start of the service name of every cargo token entry.
pub const SERVICE_PREFIX: &str = "cargo-registry:";

/// The user name of every cargo token entry.
pub const TOKEN_USER: &str = "token";

/// The environment variable naming the vault (as for the `tokenring`
/// command).
pub const VAULT_ENV: &str = crate::app::env::VAULT_ENV;

/// The name this provider gives itself in messages.
const NAME: &str = "cargo-credential-tokenring";

/// The vault entry's service for a registry: `cargo-registry:<index-url>`,
/// with the index URL as cargo passes it (`sparse+https://…/` for sparse
/// registries).
pub fn service_for(index_url: &str) -> String {
    format!("{SERVICE_PREFIX}{index_url}")
}

/// The provider's options, from the arguments configured after the
/// program in `credential-provider` (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderOptions {
    /// `--vault PATH`; `None`: `TOKENRING_VAULT`, then the default location.
    pub vault: Option<PathBuf>,
    /// `--authenticator SELECTOR`; `None`: `TOKENRING_AUTHENTICATOR`, then
    /// discovery.
    pub authenticator: Option<Selector>,
    /// `--no-agent`: open the vault in this process even when an agent runs.
    pub no_agent: bool,
}

impl ProviderOptions {
    /// Parses `--vault PATH` / `--vault=PATH`, `--authenticator SELECTOR` /
    /// `--authenticator=SELECTOR` and `--no-agent`; anything else is an
    /// error naming what is understood.
    pub fn parse(args: &[&str]) -> Result<ProviderOptions, Error> {
        let mut options = ProviderOptions::default();
        let mut rest = args.iter();
        while let Some(&arg) = rest.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
                _ => (arg, None),
            };
            let mut value = || -> Result<&str, Error> {
                inline.or_else(|| rest.next().copied()).ok_or_else(|| {
                    Error::Other(format!(
                        "{NAME}: {flag} needs a value in credential-provider"
                    ))
                })
            };
            match flag {
                "--vault" => options.vault = Some(PathBuf::from(value()?)),
                "--authenticator" => options.authenticator = Some(value()?.parse()?),
                "--no-agent" if inline.is_none() => options.no_agent = true,
                _ => {
                    return Err(Error::Other(format!(
                        "{NAME}: unknown argument {arg:?} in credential-provider \
                         (understood: --vault PATH, --authenticator SELECTOR, --no-agent)"
                    )))
                }
            }
        }
        Ok(options)
    }

    /// Where the vault is and how to reach it: these options, then the
    /// environment (an empty variable counts as unset), then the defaults.
    pub fn store_options(&self) -> Result<StoreOptions, Error> {
        StoreOptions::resolve(
            self.vault.clone(),
            self.authenticator.clone(),
            self.no_agent,
        )
    }
}

/// The credential provider: implements [`Credential`] over the vault
/// (see the module documentation).
pub struct TokenRingCredential {
    prompt: Box<dyn Prompt + Send + Sync>,
}

impl TokenRingCredential {
    /// A provider that prompts on stderr and the terminal, with Ctrl-C
    /// cancelling a touch wait (without a Ctrl-C handler when one cannot be
    /// installed).
    pub fn new() -> Self {
        let prompt = TerminalPrompt::with_ctrl_c().unwrap_or_else(|_| TerminalPrompt::new());
        Self::with_prompt(Box::new(prompt))
    }

    /// A provider that prompts through `prompt`.
    pub fn with_prompt(prompt: Box<dyn Prompt + Send + Sync>) -> Self {
        TokenRingCredential { prompt }
    }

    fn get(
        &self,
        options: &StoreOptions,
        registry: &RegistryInfo<'_>,
        operation: &Operation<'_>,
    ) -> Result<CredentialResponse, ProtocolError> {
        let shown = registry_label(registry);
        eprintln!(
            "{NAME}: cargo asks for the token for {shown}{}",
            operation_text(operation)
        );
        let store = options.connect().map_err(other)?;
        let service = service_for(registry.index_url);
        match store.get(&service, TOKEN_USER, &*self.prompt) {
            Ok(Some(password)) => Ok(CredentialResponse::Get {
                token: Secret::from(password.expose_secret().to_string()),
                cache: CacheControl::Session,
                operation_independent: true,
            }),
            Ok(None) => {
                eprintln!(
                    "{NAME}: the vault {} has no token for {shown} \
                     (entry {service:?} / {TOKEN_USER:?}); store it with `cargo login{}`",
                    options.vault.display(),
                    login_args(registry)
                );
                Err(ProtocolError::NotFound)
            }
            Err(error) => match no_token_reason(&error) {
                Some(reason) => {
                    eprintln!("{NAME}: no token for {shown}: {reason}");
                    Err(ProtocolError::NotFound)
                }
                None => Err(other(error)),
            },
        }
    }

    fn login(
        &self,
        options: &StoreOptions,
        registry: &RegistryInfo<'_>,
        login: &LoginOptions<'_>,
    ) -> Result<CredentialResponse, ProtocolError> {
        let shown = registry_label(registry);
        let typed;
        let given = match &login.token {
            Some(token) => token.as_deref().expose(),
            None => {
                typed = self.read_token(registry, login)?;
                typed.as_str()
            }
        };
        // A pasted token often carries spaces or a newline around it.
        let token = given.trim();
        if token.is_empty() {
            return Err(ProtocolError::from(format!(
                "{NAME}: the token for {shown} is empty; nothing was stored"
            )));
        }
        let store = options.connect().map_err(other)?;
        let service = service_for(registry.index_url);
        store
            .set(&service, TOKEN_USER, token, &*self.prompt)
            .map_err(|e| failed("the token was not stored", &e))?;
        eprintln!(
            "{NAME}: stored the token for {shown} in {} (entry {service:?} / {TOKEN_USER:?})",
            options.vault.display()
        );
        Ok(CredentialResponse::Login)
    }

    /// Asks for the token on the terminal, without echo (cargo had no token
    /// on its command line and its stdin is a terminal).
    fn read_token(
        &self,
        registry: &RegistryInfo<'_>,
        login: &LoginOptions<'_>,
    ) -> Result<zeroize::Zeroizing<String>, ProtocolError> {
        let where_from = match login.login_url {
            Some(url) => format!(" (from {url})"),
            None => String::new(),
        };
        let question = format!(
            "Paste the token for {}{where_from}: ",
            registry_label(registry)
        );
        match TerminalPrompt::new().read_hidden(&question) {
            Some(Ok(token)) => Ok(token),
            Some(Err(e)) => Err(other(e)),
            None => Err(ProtocolError::from(format!(
                "{NAME}: no token given and no terminal to ask on: \
                 pass it as `cargo login{} TOKEN` or on stdin",
                login_args(registry)
            ))),
        }
    }

    fn logout(
        &self,
        options: &StoreOptions,
        registry: &RegistryInfo<'_>,
    ) -> Result<CredentialResponse, ProtocolError> {
        let store = options.connect().map_err(other)?;
        let service = service_for(registry.index_url);
        match store.delete(&service, TOKEN_USER, &*self.prompt) {
            Ok(true) => {
                eprintln!(
                    "{NAME}: deleted the token for {} from {}",
                    registry_label(registry),
                    options.vault.display()
                );
                Ok(CredentialResponse::Logout)
            }
            Ok(false) => Err(ProtocolError::NotFound),
            Err(Error::Vault(VaultError::NotFound { .. })) => Err(ProtocolError::NotFound),
            Err(e) => Err(failed("the token was not deleted", &e)),
        }
    }
}

impl Default for TokenRingCredential {
    fn default() -> Self {
        Self::new()
    }
}

impl Credential for TokenRingCredential {
    fn perform(
        &self,
        registry: &RegistryInfo<'_>,
        action: &Action<'_>,
        args: &[&str],
    ) -> Result<CredentialResponse, ProtocolError> {
        let options = ProviderOptions::parse(args)
            .and_then(|o| o.store_options())
            .map_err(other)?;
        match action {
            Action::Get(operation) => self.get(&options, registry, operation),
            Action::Login(login) => self.login(&options, registry, login),
            Action::Logout => self.logout(&options, registry),
            _ => Err(ProtocolError::OperationNotSupported),
        }
    }
}

/// Why a `get` failure means "no token" rather than a fault: a touch that
/// was denied, timed out or cancelled (nobody wants the token released
/// now), or no vault at all (nothing was ever stored).
fn no_token_reason(error: &Error) -> Option<String> {
    if let Error::Vault(VaultError::NotFound { path }) = error {
        return Some(format!(
            "there is no TokenRing vault at {} (create one with `tokenring init`)",
            path.display()
        ));
    }
    if error.is_cancelled() {
        return Some("cancelled at the authenticator".to_string());
    }
    if error.exit_code() == exit::TOUCH {
        return Some(format!(
            "{error} (the token is released only after a touch on the authenticator)"
        ));
    }
    None
}

/// `registry `name`` or the index URL when cargo knows no name.
fn registry_label(registry: &RegistryInfo<'_>) -> String {
    match registry.name {
        Some(name) => format!("registry `{name}`"),
        None => format!("registry {}", registry.index_url),
    }
}

/// The `cargo login` arguments that name this registry.
fn login_args(registry: &RegistryInfo<'_>) -> String {
    match registry.name {
        Some("crates-io") => String::new(),
        Some(name) => format!(" --registry {name}"),
        None => format!(" --index {}", registry.index_url),
    }
}

/// What cargo wants the token for, in words (nothing for reading: cargo
/// asks that first in every command that needs the token).
fn operation_text(operation: &Operation<'_>) -> String {
    match operation {
        Operation::Publish { name, vers, .. } => format!(" to publish {name} {vers}"),
        Operation::Yank { name, vers } => format!(" to yank {name} {vers}"),
        Operation::Unyank { name, vers } => format!(" to unyank {name} {vers}"),
        Operation::Owners { name } => format!(" to change the owners of {name}"),
        _ => String::new(),
    }
}

/// A failure cargo shows under "credential provider … failed action …".
fn other(error: Error) -> ProtocolError {
    ProtocolError::from(format!("{NAME}: {error}"))
}

/// A failed change, saying that nothing changed.
fn failed(what: &str, error: &Error) -> ProtocolError {
    ProtocolError::from(format!("{NAME}: {what}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_is_the_index_url_behind_a_prefix() {
        assert_eq!(
            service_for("sparse+http://127.0.0.1:1234/index/"),
            "cargo-registry:sparse+http://127.0.0.1:1234/index/"
        );
    }

    #[test]
    fn options_parse_both_spellings_and_refuse_strangers() {
        let parsed = ProviderOptions::parse(&[
            "--vault",
            "/tmp/v.tokenvault",
            "--authenticator=sim:/tmp/s.json",
            "--no-agent",
        ])
        .expect("parses");
        assert_eq!(parsed.vault, Some(PathBuf::from("/tmp/v.tokenvault")));
        assert_eq!(
            parsed.authenticator,
            Some(Selector::Sim(PathBuf::from("/tmp/s.json")))
        );
        assert!(parsed.no_agent);
        assert_eq!(
            ProviderOptions::parse(&[]).expect("parses"),
            ProviderOptions::default()
        );
        for bad in [
            &["--vault"][..],
            &["--frobnicate"],
            &["--authenticator", "usb:x"],
            &["--no-agent=yes"],
        ] {
            assert!(ProviderOptions::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn denied_and_timed_out_touches_and_a_missing_vault_mean_no_token() {
        let denied = Error::Authenticator(tokenring_core::Error::OperationDenied);
        assert!(no_token_reason(&denied).is_some());
        let timeout = Error::Authenticator(tokenring_core::Error::UserActionTimeout);
        assert!(no_token_reason(&timeout).is_some());
        let missing = Error::Vault(VaultError::NotFound {
            path: PathBuf::from("/nowhere"),
        });
        assert!(no_token_reason(&missing)
            .expect("a reason")
            .contains("/nowhere"));
        let pin = Error::Authenticator(tokenring_core::Error::PinBlocked);
        assert_eq!(no_token_reason(&pin), None);
    }

    #[test]
    fn messages_name_the_registry_and_how_to_log_in() {
        let named = RegistryInfo {
            index_url: "sparse+http://x/index/",
            name: Some("local"),
            headers: vec![],
        };
        assert_eq!(registry_label(&named), "registry `local`");
        assert_eq!(login_args(&named), " --registry local");
        let unnamed = RegistryInfo {
            name: None,
            ..named.clone()
        };
        assert_eq!(login_args(&unnamed), " --index sparse+http://x/index/");
        assert_eq!(
            operation_text(&Operation::Publish {
                name: "foo",
                vers: "0.1.0",
                cksum: "00"
            }),
            " to publish foo 0.1.0"
        );
        assert_eq!(operation_text(&Operation::Read), "");
    }
}
