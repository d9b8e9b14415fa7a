//! The vault: create, open, get, set, delete, list, lock.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use rand_core::RngCore;
use tokenring_core::{
    Authenticator, DeriveRequest, Prompt, Salts, UserEntity, UvMode, DEFAULT_RP_ID,
};
use zeroize::Zeroizing;

use crate::entry::{Entries, KeyHandle, Password, StoredEntry, VaultCredential};
use crate::error::VaultError;
use crate::fernet::{self, FernetKey};
use crate::format;
use crate::hex_codec;
use crate::persist::{self, Fingerprint};

/// How a new vault is made.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// The RP ID of the credential. Keep the default
    /// ([`DEFAULT_RP_ID`], the original's) for vaults the original must read.
    pub rp_id: String,
    /// The user the credential is made for.
    pub user: UserEntity,
    /// The file format (default [`crate::Format::V1`], which the Python original reads).
    pub format: crate::Format,
    /// The first key's label and policy (format 2 only).
    pub key: crate::KeyOptions,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            rp_id: DEFAULT_RP_ID.to_string(),
            user: UserEntity::default(),
            format: crate::Format::V1,
            key: crate::KeyOptions::default(),
        }
    }
}

/// The unlocked part of a vault.
struct Unlocked {
    key: FernetKey,
    entries: Entries,
    /// The file version `entries` was read from or written to.
    fingerprint: Option<Fingerprint>,
}

struct State {
    header: KeyHandle,
    uv: UvMode,
    unlocked: Option<Unlocked>,
}

/// An open v1 vault.
///
/// Every method takes `&self`; a `Vault` is `Send + Sync`, so one vault can
/// serve several threads (the agent): reads share it, writes are serialised
/// by an in-process mutex and, across processes, by the vault's lock file.
/// The authenticator is passed to the operations that need a derivation,
/// so the caller decides how to share it (e.g. a `Mutex<Box<dyn Authenticator>>`).
///
/// While open, the vault key is kept in memory (zeroized by [`Vault::lock`]
/// and on drop); entry keys never are: each [`Vault::get`] and
/// [`Vault::set`] derives its entry's key (one touch) and forgets it.
///
/// Every operation first makes sure it sees the current file: a cheap check
/// (inode, size, times and the Fernet tag at the end of the file) and, if the
/// file changed, a full re-read. Mutations take the lock file, re-read under
/// it, apply the change and save atomically, so concurrent writers (other
/// threads, other processes) never lose each other's updates.
pub(crate) struct V1Vault {
    path: PathBuf,
    lock_timeout: Duration,
    state: RwLock<State>,
    writer: Mutex<()>,
}

fn read_state(lock: &RwLock<State>) -> RwLockReadGuard<'_, State> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write_state(lock: &RwLock<State>) -> RwLockWriteGuard<'_, State> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn random_32() -> Result<[u8; 32], VaultError> {
    let mut bytes = [0u8; 32];
    rand_core::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| VaultError::Random(e.to_string()))?;
    Ok(bytes)
}

fn random_iv() -> Result<[u8; 16], VaultError> {
    let mut iv = [0u8; 16];
    rand_core::OsRng
        .try_fill_bytes(&mut iv)
        .map_err(|e| VaultError::Random(e.to_string()))?;
    Ok(iv)
}

/// Quotes a name for a prompt, like Python's `repr` (the original shows
/// `'alice'`), with control and bidi characters escaped so a name cannot
/// rewrite the user's terminal.
pub fn quote_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('\'');
    for c in name.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control()
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                out.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// What a touch releases, for its prompt: "the password for 'alice' in
/// 'bank'", "the passwords for 'a' in 'x' and 'b' in 'y'" (and "…, … and …"
/// for more), every name quoted as by [`quote_name`].
pub(crate) fn passwords_for(names: &[(&str, &str)]) -> String {
    let named: Vec<String> = names
        .iter()
        .map(|(service, user)| format!("{} in {}", quote_name(user), quote_name(service)))
        .collect();
    match named.as_slice() {
        [] => "no password".to_string(),
        [one] => format!("the password for {one}"),
        [rest @ .., last] => format!("the passwords for {} and {last}", rest.join(", ")),
    }
}

/// For every name, the index of its first occurrence in `names` (a name
/// asked twice is read once).
pub(crate) fn first_occurrences(names: &[(&str, &str)]) -> Vec<usize> {
    (0..names.len())
        .map(|i| names[..i].iter().position(|n| *n == names[i]).unwrap_or(i))
        .collect()
}

fn derive_key(
    auth: &mut dyn Authenticator,
    handle: &KeyHandle,
    uv: UvMode,
    purpose: &str,
    prompt: &dyn Prompt,
) -> Result<FernetKey, VaultError> {
    let request = DeriveRequest {
        credential: &handle.credential.id,
        rp_id: &handle.credential.rp_id,
        salts: Salts::One(handle.salt),
        uv,
        purpose,
    };
    let output = auth.derive(&request, prompt)?;
    Ok(FernetKey::from_secret(&output.first))
}

/// An entry's password under its derived key.
fn decrypt_entry(
    key: &FernetKey,
    entry: &StoredEntry,
    service: &str,
    user: &str,
) -> Result<Password, VaultError> {
    let failed = || VaultError::EntryDidNotDecrypt {
        service: service.to_string(),
        user: user.to_string(),
    };
    let token = hex_codec::hex_base64_decode(entry.token.as_bytes()).ok_or_else(failed)?;
    let plaintext = key.decrypt(&token).map_err(|_| failed())?;
    let text = std::str::from_utf8(&plaintext).map_err(|_| failed())?;
    Ok(Password::new(text))
}

/// Reads and parses the vault file, with the fingerprint of what was read.
fn read_vault(path: &Path) -> Result<(format::VaultFile, Option<Fingerprint>), VaultError> {
    let (file, fingerprint) = persist::read_parsed(path)?;
    let file = file.map_err(|reason| VaultError::Corrupt {
        path: path.to_path_buf(),
        reason,
    })?;
    Ok((file, fingerprint))
}

/// Decrypts and parses a vault token with a known key (`verified`: its MAC
/// was just checked with this key).
fn decrypt_entries(
    path: &Path,
    key: &FernetKey,
    header: &KeyHandle,
    token: Vec<u8>,
    verified: bool,
) -> Result<Entries, VaultError> {
    let mut token = Zeroizing::new(token);
    let range = if verified {
        key.decrypt_verified_in_place(&mut token)
    } else {
        key.decrypt_in_place(&mut token)
    }
    .map_err(|_| VaultError::DidNotDecrypt {
        path: path.to_path_buf(),
    })?;
    let plaintext = token.get(range).unwrap_or_default();
    let entries = format::parse_entries(plaintext, &header.credential).map_err(|reason| {
        VaultError::Corrupt {
            path: path.to_path_buf(),
            reason,
        }
    })?;
    Ok(entries)
}

/// The (service, user) names of an open vault, borrowed from it (see
/// [`Vault::names`]); holds the vault's read lock while it lives.
pub struct Names<'a> {
    state: RwLockReadGuard<'a, State>,
}

impl Names<'_> {
    /// (service, user) of every entry, in the file's order.
    pub fn iter(&self) -> NameIter<'_> {
        NameIter {
            inner: self.state.unlocked.as_ref().map(|u| u.entries.names()),
        }
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.state.unlocked.as_ref().map_or(0, |u| u.entries.len())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a> IntoIterator for &'a Names<'_> {
    type Item = (&'a str, &'a str);
    type IntoIter = NameIter<'a>;

    fn into_iter(self) -> NameIter<'a> {
        self.iter()
    }
}

/// The iterator of [`Names::iter`]: borrowed (service, user) pairs in the
/// file's order.
pub struct NameIter<'a> {
    inner: Option<crate::entry::NameKeys<'a>>,
}

impl<'a> Iterator for NameIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        self.inner
            .as_mut()
            .and_then(Iterator::next)
            .map(|(s, u)| (s.as_str(), u.as_str()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner
            .as_ref()
            .map_or((0, Some(0)), Iterator::size_hint)
    }
}

impl ExactSizeIterator for NameIter<'_> {}

impl std::iter::FusedIterator for NameIter<'_> {}

impl std::fmt::Debug for Names<'_> {
    /// How many names; the names themselves are not secret, but a log
    /// has no use for thousands of them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Names")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for V1Vault {
    /// The path and whether it is locked; never a key or an entry.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path)
            .field("locked", &self.is_locked())
            .finish_non_exhaustive()
    }
}

impl V1Vault {
    /// Creates a new, empty vault at `path`: enrolls a credential on the
    /// authenticator (one touch, and the PIN if the token has one) and
    /// derives the vault key (one touch). Without UV, as the original does,
    /// unless the token requires it (`alwaysUv`). Refuses to create over
    /// anything that exists at `path` (a symbolic link included), and in a
    /// directory of another user ([`VaultError::NotOwner`]). Killed at any
    /// moment, it leaves no vault or a whole one.
    pub fn create(
        path: &Path,
        auth: &mut dyn Authenticator,
        options: &CreateOptions,
        prompt: &dyn Prompt,
    ) -> Result<V1Vault, VaultError> {
        if persist::exists(path) {
            return Err(VaultError::AlreadyExists {
                path: path.to_path_buf(),
            });
        }
        let info = auth.describe()?;
        if !info.hmac_secret {
            return Err(VaultError::HmacSecretUnsupported);
        }
        let _lock = persist::lock(path, persist::DEFAULT_LOCK_TIMEOUT)?;
        if persist::exists(path) {
            return Err(VaultError::AlreadyExists {
                path: path.to_path_buf(),
            });
        }
        let id = auth.enroll(&options.rp_id, &options.user, prompt)?;
        let header = KeyHandle {
            salt: random_32()?,
            credential: Arc::new(VaultCredential {
                rp_id: options.rp_id.clone(),
                id,
            }),
        };
        let uv = info.default_derive_uv();
        let key = derive_key(auth, &header, uv, "unlock the new vault", prompt)?;
        let mut unlocked = Unlocked {
            key,
            entries: Entries::new(),
            fingerprint: None,
        };
        unlocked.fingerprint = save(path, &header, &mut unlocked, true)?;
        Ok(V1Vault {
            path: path.to_path_buf(),
            lock_timeout: persist::DEFAULT_LOCK_TIMEOUT,
            state: RwLock::new(State {
                header,
                uv,
                unlocked: Some(unlocked),
            }),
            writer: Mutex::new(()),
        })
    }

    /// Opens the vault at `path`: reads it and derives the vault key (one
    /// touch).
    ///
    /// UV: the original derives without user verification, so that is
    /// tried first (unless the token is `alwaysUv`). Newer python-fido2
    /// releases derive with UV on tokens with a PIN, and a token gives a
    /// different secret with UV; so if the key does not open the vault and
    /// the token can verify the user, the key is derived again with UV (the
    /// PIN is asked for). The mode that worked is used for every entry.
    ///
    /// When `path` is a symbolic link, the vault is the file it leads to:
    /// saves replace that file and keep the link, and the lock is that
    /// file's. A link is followed only when it is this user's (or root's)
    /// and in a directory no other user can change
    /// ([`VaultError::UntrustedLink`] otherwise).
    pub fn open(
        path: &Path,
        auth: &mut dyn Authenticator,
        prompt: &dyn Prompt,
    ) -> Result<V1Vault, VaultError> {
        let path = persist::resolve(path)?;
        let (header, uv, unlocked) = unlock_file(&path, auth, prompt)?;
        Ok(V1Vault {
            path,
            lock_timeout: persist::DEFAULT_LOCK_TIMEOUT,
            state: RwLock::new(State {
                header,
                uv,
                unlocked: Some(unlocked),
            }),
            writer: Mutex::new(()),
        })
    }

    /// Reads the credential a vault file was made with, without any
    /// derivation (to find the right authenticator before asking for a touch).
    pub fn credential_of(path: &Path) -> Result<VaultCredential, VaultError> {
        let (file, _) = read_vault(&persist::resolve(path)?)?;
        Ok((*file.key.credential).clone())
    }

    /// How long a write waits for another process's lock (default 10 s).
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The vault file's path (a symbolic link's target when the vault was
    /// opened through a link).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The vault key's credential (RP ID and credential id).
    pub fn credential(&self) -> VaultCredential {
        (*read_state(&self.state).header.credential).clone()
    }

    /// Everything a conversion to format 2 needs: the credential, the UV
    /// mode that opened it, and each entry's name, salt and raw token.
    #[allow(clippy::type_complexity)]
    pub(crate) fn export(
        &self,
    ) -> Result<
        (
            VaultCredential,
            UvMode,
            Vec<(String, String, [u8; 32], Vec<u8>)>,
        ),
        VaultError,
    > {
        let state = self.fresh_read()?;
        let unlocked = state.unlocked.as_ref().ok_or(VaultError::Locked)?;
        let mut out = Vec::with_capacity(unlocked.entries.len());
        for (service, user, entry) in unlocked.entries.iter() {
            if *entry.key.credential != *state.header.credential {
                return Err(VaultError::MixedCredentials);
            }
            let token = hex_codec::hex_base64_decode(entry.token.as_bytes()).ok_or(
                VaultError::EntryDidNotDecrypt {
                    service: service.to_string(),
                    user: user.to_string(),
                },
            )?;
            out.push((service.to_string(), user.to_string(), entry.key.salt, token));
        }
        Ok(((*state.header.credential).clone(), state.uv, out))
    }

    /// The UV mode every derivation of this vault uses.
    pub fn uv_mode(&self) -> UvMode {
        read_state(&self.state).uv
    }

    /// Forgets the vault key (zeroized) and the entry list. Everything but
    /// [`Vault::unlock`] then fails with [`VaultError::Locked`].
    pub fn lock(&self) {
        write_state(&self.state).unlocked = None;
    }

    /// Whether [`Vault::lock`] was called (and no unlock since).
    pub fn is_locked(&self) -> bool {
        read_state(&self.state).unlocked.is_none()
    }

    /// Reads the file again and derives the vault key (one touch), as
    /// [`Vault::open`] does.
    pub fn unlock(
        &self,
        auth: &mut dyn Authenticator,
        prompt: &dyn Prompt,
    ) -> Result<(), VaultError> {
        let (header, uv, unlocked) = unlock_file(&self.path, auth, prompt)?;
        let mut state = write_state(&self.state);
        *state = State {
            header,
            uv,
            unlocked: Some(unlocked),
        };
        Ok(())
    }

    /// Re-reads the file if it changed since it was last seen. Needs no lock
    /// file: saves replace the file atomically.
    fn refresh(&self, state: &mut State) -> Result<(), VaultError> {
        let unlocked = state.unlocked.as_mut().ok_or(VaultError::Locked)?;
        if let Some(fingerprint) = &unlocked.fingerprint {
            if persist::unchanged(&self.path, fingerprint)? {
                return Ok(());
            }
        }
        let (file, fingerprint) = read_vault(&self.path)?;
        if file.key != state.header {
            return Err(VaultError::Replaced {
                path: self.path.clone(),
            });
        }
        unlocked.entries =
            decrypt_entries(&self.path, &unlocked.key, &state.header, file.token, false)?;
        unlocked.fingerprint = fingerprint;
        Ok(())
    }

    fn fresh_read(&self) -> Result<RwLockReadGuard<'_, State>, VaultError> {
        {
            let state = read_state(&self.state);
            let unlocked = state.unlocked.as_ref().ok_or(VaultError::Locked)?;
            if let Some(fingerprint) = &unlocked.fingerprint {
                if persist::unchanged(&self.path, fingerprint)? {
                    return Ok(state);
                }
            }
        }
        self.refresh(&mut write_state(&self.state))?;
        Ok(read_state(&self.state))
    }

    /// (service, user) of every entry, in the file's order, borrowed from
    /// the open vault: nothing is copied. No derivation.
    ///
    /// The file is checked for changes first, as by every operation. The
    /// returned [`Names`] holds the vault's read lock: writes to this
    /// `Vault` (`set`, `delete`, `lock`, a re-read) wait until it is
    /// dropped, so keep it only while reading the names, and never call a
    /// writing method of the same vault on the thread that holds it (that
    /// call would wait for itself).
    pub fn names(&self) -> Result<Names<'_>, VaultError> {
        let state = self.fresh_read()?;
        if state.unlocked.is_none() {
            return Err(VaultError::Locked);
        }
        Ok(Names { state })
    }

    /// (service, user) of every entry, in the file's order, copied out
    /// (see [`Vault::names`] to read them without copying). No derivation.
    pub fn list(&self) -> Result<Vec<(String, String)>, VaultError> {
        Ok(self
            .names()?
            .iter()
            .map(|(s, u)| (s.to_string(), u.to_string()))
            .collect())
    }

    /// How many entries. No derivation.
    pub fn len(&self) -> Result<usize, VaultError> {
        let state = self.fresh_read()?;
        Ok(state
            .unlocked
            .as_ref()
            .ok_or(VaultError::Locked)?
            .entries
            .len())
    }

    /// Whether there is an entry for (service, user). No derivation.
    pub fn contains(&self, service: &str, user: &str) -> Result<bool, VaultError> {
        let state = self.fresh_read()?;
        Ok(state
            .unlocked
            .as_ref()
            .ok_or(VaultError::Locked)?
            .entries
            .contains(service, user))
    }

    /// The password for (service, user), or `None` if there is no such
    /// entry (then nothing is asked of the authenticator). One derivation
    /// (one touch) for the entry's key.
    pub fn get(
        &self,
        service: &str,
        user: &str,
        auth: &mut dyn Authenticator,
        prompt: &dyn Prompt,
    ) -> Result<Option<Password>, VaultError> {
        let (entry, uv) = {
            let state = self.fresh_read()?;
            let unlocked = state.unlocked.as_ref().ok_or(VaultError::Locked)?;
            match unlocked.entries.get(service, user) {
                Some(entry) => (entry.clone(), state.uv),
                None => return Ok(None),
            }
        };
        let purpose = format!(
            "decrypt the password for {} in {}",
            quote_name(user),
            quote_name(service)
        );
        let key = derive_key(auth, &entry.key, uv, &purpose, prompt)?;
        decrypt_entry(&key, &entry, service, user).map(Some)
    }

    /// The passwords for several entries, `None` for those that are not
    /// there (they cost nothing): every name is looked up before the
    /// first touch, and the entry keys are derived two per touch (one
    /// getAssertion with two hmac-secret salts) for entries of the same
    /// credential, so N entries cost ⌈N/2⌉ touches. Each touch's prompt
    /// names both entries it releases. A name given twice is read once.
    /// A failed or denied touch fails the whole call: nothing is returned.
    pub fn get_many(
        &self,
        names: &[(&str, &str)],
        auth: &mut dyn Authenticator,
        prompt: &dyn Prompt,
    ) -> Result<Vec<Option<Password>>, VaultError> {
        let (found, uv) = {
            let state = self.fresh_read()?;
            let unlocked = state.unlocked.as_ref().ok_or(VaultError::Locked)?;
            let found: Vec<Option<StoredEntry>> = names
                .iter()
                .map(|(service, user)| unlocked.entries.get(service, user).cloned())
                .collect();
            (found, state.uv)
        };
        let first = first_occurrences(names);
        let mut pending: Vec<usize> = (0..names.len())
            .filter(|&i| first[i] == i && found[i].is_some())
            .collect();
        let mut keys: Vec<Option<FernetKey>> = (0..names.len()).map(|_| None).collect();
        while !pending.is_empty() {
            let i = pending.remove(0);
            let Some(entry) = &found[i] else { continue };
            // A partner with the same credential (entries of one vault
            // normally share it): both salts go in one assertion.
            let partner = pending.iter().position(|&j| {
                found[j]
                    .as_ref()
                    .is_some_and(|other| *other.key.credential == *entry.key.credential)
            });
            match partner.map(|p| pending.remove(p)) {
                Some(j) => {
                    let other = found[j].as_ref().ok_or(VaultError::Internal)?;
                    let purpose = format!("decrypt {}", passwords_for(&[names[i], names[j]]));
                    let request = DeriveRequest {
                        credential: &entry.key.credential.id,
                        rp_id: &entry.key.credential.rp_id,
                        salts: Salts::Two(entry.key.salt, other.key.salt),
                        uv,
                        purpose: &purpose,
                    };
                    let output = auth.derive(&request, prompt)?;
                    let second = output.second.as_ref().ok_or(VaultError::Internal)?;
                    keys[i] = Some(FernetKey::from_secret(&output.first));
                    keys[j] = Some(FernetKey::from_secret(second));
                }
                None => {
                    let purpose = format!("decrypt {}", passwords_for(&[names[i]]));
                    keys[i] = Some(derive_key(auth, &entry.key, uv, &purpose, prompt)?);
                }
            }
        }
        let mut out: Vec<Option<Password>> = Vec::with_capacity(names.len());
        for (i, (service, user)) in names.iter().enumerate() {
            let password = if first[i] != i {
                out[first[i]]
                    .as_ref()
                    .map(|p: &Password| Password::new(p.expose_secret()))
            } else {
                match (&found[i], &keys[i]) {
                    (Some(entry), Some(key)) => Some(decrypt_entry(key, entry, service, user)?),
                    _ => None,
                }
            };
            out.push(password);
        }
        Ok(out)
    }

    /// Stores several passwords with one save (one derivation per entry).
    /// Later items win over earlier ones with the same (service, user).
    pub fn set_many(
        &self,
        items: &[(&str, &str, &str)],
        auth: &mut dyn Authenticator,
        prompt: &dyn Prompt,
    ) -> Result<(), VaultError> {
        let (credential, uv) = {
            let state = read_state(&self.state);
            if state.unlocked.is_none() {
                return Err(VaultError::Locked);
            }
            (Arc::clone(&state.header.credential), state.uv)
        };
        // Derive and encrypt first: the lock is never held while waiting
        // for a touch.
        let mut new_entries = Vec::with_capacity(items.len());
        for (service, user, password) in items {
            let key_handle = KeyHandle {
                salt: random_32()?,
                credential: Arc::clone(&credential),
            };
            let purpose = format!(
                "encrypt the new password for {} in {}",
                quote_name(user),
                quote_name(service)
            );
            let key = derive_key(auth, &key_handle, uv, &purpose, prompt)?;
            let token = key.encrypt_with(password.as_bytes(), random_iv()?, fernet::unix_now());
            let entry = StoredEntry {
                key: key_handle,
                token: hex_codec::hex_base64_encode(&token).into_boxed_str(),
            };
            new_entries.push((service.to_string(), user.to_string(), entry));
        }
        self.modify(|entries| {
            for (service, user, entry) in new_entries {
                entries.insert(service, user, entry);
            }
            true
        })
    }

    /// Deletes the entry for (service, user); whether there was one. No
    /// derivation.
    pub fn delete(&self, service: &str, user: &str) -> Result<bool, VaultError> {
        let mut removed = false;
        self.modify(|entries| {
            removed = entries.remove(service, user);
            removed
        })?;
        Ok(removed)
    }

    /// Lock, re-read, apply `change` (which says whether it changed
    /// anything), save.
    fn modify(&self, change: impl FnOnce(&mut Entries) -> bool) -> Result<(), VaultError> {
        let _in_process = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _lock = persist::lock(&self.path, self.lock_timeout)?;
        let mut state = write_state(&self.state);
        self.refresh(&mut state)?;
        let header = state.header.clone();
        let unlocked = state.unlocked.as_mut().ok_or(VaultError::Locked)?;
        if !change(&mut unlocked.entries) {
            return Ok(());
        }
        match save(&self.path, &header, unlocked, false) {
            Ok(fingerprint) => {
                unlocked.fingerprint = fingerprint;
                Ok(())
            }
            Err(e) => {
                // The change is not on disk: forget it, read the file next time.
                unlocked.fingerprint = None;
                Err(e)
            }
        }
    }
}

/// Encrypts the entry list under the vault key and saves it atomically.
fn save(
    path: &Path,
    header: &KeyHandle,
    unlocked: &mut Unlocked,
    create_new: bool,
) -> Result<Option<Fingerprint>, VaultError> {
    let iv = random_iv()?;
    let key = &unlocked.key;
    let entries = &unlocked.entries;
    persist::save(path, create_new, |mut out| {
        format::write_sealed_file(&mut out, header, key, iv, fernet::unix_now(), entries)
    })
}

/// Reads a vault and derives its key, choosing the UV mode (see [`Vault::open`]).
fn unlock_file(
    path: &Path,
    auth: &mut dyn Authenticator,
    prompt: &dyn Prompt,
) -> Result<(KeyHandle, UvMode, Unlocked), VaultError> {
    let (file, fingerprint) = read_vault(path)?;
    let info = auth.describe()?;
    if !info.hmac_secret {
        return Err(VaultError::HmacSecretUnsupported);
    }
    let first = info.default_derive_uv();
    let mut uv = first;
    let mut key = derive_key(auth, &file.key, first, "unlock the vault", prompt)?;
    let mut verified = key.verify(&file.token).is_ok();
    if !verified
        && first == UvMode::PresenceOnly
        && (info.client_pin == Some(true) || info.built_in_uv == Some(true))
    {
        uv = UvMode::Verified;
        key = derive_key(
            auth,
            &file.key,
            uv,
            "unlock the vault (with user verification)",
            prompt,
        )?;
        verified = key.verify(&file.token).is_ok();
    }
    if !verified {
        return Err(VaultError::DidNotDecrypt {
            path: path.to_path_buf(),
        });
    }
    let entries = decrypt_entries(path, &key, &file.key, file.token, true)?;
    Ok((
        file.key,
        uv,
        Unlocked {
            key,
            entries,
            fingerprint,
        },
    ))
}

/// Writes a format-1 file from its parts (a conversion back from format 2),
/// replacing the file at `path` atomically.
pub(crate) fn write_format1(
    path: &Path,
    credential: &VaultCredential,
    vault_salt: [u8; 32],
    vault_key: &tokenring_core::Secret32,
    items: &[(String, String, [u8; 32], Vec<u8>)],
) -> Result<(), VaultError> {
    let credential = Arc::new(credential.clone());
    let header = KeyHandle {
        salt: vault_salt,
        credential: Arc::clone(&credential),
    };
    let mut entries = Entries::with_capacity(items.len());
    for (service, user, salt, token) in items {
        entries.insert(
            service.clone(),
            user.clone(),
            StoredEntry {
                key: KeyHandle {
                    salt: *salt,
                    credential: Arc::clone(&credential),
                },
                token: hex_codec::hex_base64_encode(token).into_boxed_str(),
            },
        );
    }
    let mut unlocked = Unlocked {
        key: FernetKey::from_secret(vault_key),
        entries,
        fingerprint: None,
    };
    save(path, &header, &mut unlocked, false)?;
    Ok(())
}
