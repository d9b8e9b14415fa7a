//! Serving git's requests over a vault: `get`, `store`, `erase`.

use std::io::Write;

use tokenring_core::Prompt;
use zeroize::Zeroizing;

use super::{CredentialDescription, Operation, STATE_ANSWERED};
use crate::app::exit::{self, ExitStatus};
use crate::{Error, SecretStore};

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
pub(super) fn shell_word(text: &str) -> String {
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
