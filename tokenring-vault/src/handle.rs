//! [`Vault`]: one handle for both formats. Format 1 (the original's JSON)
//! and format 2 (key slots) answer the same calls; the key operations
//! (add, remove, rekey) need format 2, and [`Vault::convert`] moves a
//! vault between them.

use std::path::Path;
use std::time::Duration;

use tokenring_core::{Authenticator, Prompt, UvMode};

use crate::entry::{Password, VaultCredential};
use crate::error::VaultError;
use crate::persist;
use crate::seen::SeenStore;
use crate::v2::layout;
use crate::v2::vault::{self as v2, KeyOptions, KeySlot, V2Vault, VaultWarning};
use crate::vault::{CreateOptions, V1Vault};

/// Which layout a vault file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// The Python original's JSON: one authenticator (the default, and what
    /// the original reads).
    V1,
    /// Key slots for several authenticators, one touch per secret without
    /// the agent, a recorded UV/credProtect policy, rollback detection.
    V2,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::V1 => "1",
            Format::V2 => "2",
        })
    }
}

/// How a vault is opened or changed: the rollback record of this machine
/// (format 2), and whether an older file is accepted for writing.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Where this machine records the generations it saw (`None`: no
    /// rollback checks).
    pub seen: Option<SeenStore>,
    /// Write to a file older than one this machine saw (the user accepted it).
    pub accept_older: bool,
}

enum Inner {
    V1(V1Vault),
    V2(V2Vault),
}

/// An open vault of either format.
///
/// Every method takes `&self`; a `Vault` is `Send + Sync`, so one vault can
/// serve several threads (the agent): reads share it, writes are
/// serialised by an in-process mutex and, across processes, by the vault's
/// lock file. The authenticator is passed to the operations that need a
/// derivation.
///
/// While open, the vault key (format 2: the vault secret) is kept in
/// memory (zeroized by [`Vault::lock`] and on drop); entry keys never are.
pub struct Vault {
    inner: Inner,
}

impl std::fmt::Debug for Vault {
    /// The path, format and whether it is locked; never a key or an entry.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path())
            .field("format", &self.format())
            .field("locked", &self.is_locked())
            .finish_non_exhaustive()
    }
}

fn label_or_number(slots: &[KeySlot], which: &str) -> Result<u8, VaultError> {
    slots
        .iter()
        .find(|s| s.label == which)
        .or_else(|| {
            which
                .parse::<u8>()
                .ok()
                .and_then(|n| slots.iter().find(|s| s.id == n))
        })
        .map(|s| s.id)
        .ok_or_else(|| VaultError::NoSuchKey(which.to_string()))
}

impl Vault {
    /// The format of the file at `path`, from its first bytes (no touch):
    /// format 2 when it starts with format 2's magic bytes, otherwise
    /// format 1, whose reader then accepts or rejects it exactly as before.
    pub fn format_of(path: &Path) -> Result<Format, VaultError> {
        let start = persist::read_start(path, 16)?;
        if layout::is_format2(&start) {
            Ok(Format::V2)
        } else {
            Ok(Format::V1)
        }
    }

    /// Creates a new, empty vault at `path` in `options.format`: enrolls a
    /// credential (one touch, and the PIN if the token has one) and derives
    /// the vault key (one touch; format 2 with `hmac-secret-mc`: none when
    /// the first key's modes allow). Refuses to create over anything.
    pub fn create(
        path: &Path,
        auth: &mut dyn Authenticator,
        options: &CreateOptions,
        prompt: &dyn Prompt,
    ) -> Result<Vault, VaultError> {
        Self::create_with(path, auth, options, &OpenOptions::default(), prompt)
    }

    /// [`Vault::create`] with the rollback record.
    pub fn create_with(
        path: &Path,
        auth: &mut dyn Authenticator,
        options: &CreateOptions,
        open: &OpenOptions,
        prompt: &dyn Prompt,
    ) -> Result<Vault, VaultError> {
        match options.format {
            Format::V1 => Ok(Vault {
                inner: Inner::V1(V1Vault::create(path, auth, options, prompt)?),
            }),
            Format::V2 => {
                let path = &persist::resolve(path)?;
                if persist::exists(path) {
                    return Err(VaultError::AlreadyExists {
                        path: path.to_path_buf(),
                    });
                }
                let _lock = persist::lock(path, persist::DEFAULT_LOCK_TIMEOUT)?;
                if persist::exists(path) {
                    return Err(VaultError::AlreadyExists {
                        path: path.to_path_buf(),
                    });
                }
                Ok(Vault {
                    inner: Inner::V2(V2Vault::create(
                        path,
                        auth,
                        &options.rp_id,
                        &options.user,
                        &options.key,
                        open.seen.clone(),
                        prompt,
                    )?),
                })
            }
        }
    }

    /// Opens the vault at `path` (either format): one touch. Format 1 tries
    /// without UV, then with UV (see the crate docs); format 2 uses the
    /// slot's recorded policy.
    pub fn open(
        path: &Path,
        auth: &mut dyn Authenticator,
        prompt: &dyn Prompt,
    ) -> Result<Vault, VaultError> {
        Self::open_with(path, auth, prompt, &OpenOptions::default())
    }

    /// [`Vault::open`] with the rollback record.
    pub fn open_with(
        path: &Path,
        auth: &mut dyn Authenticator,
        prompt: &dyn Prompt,
        options: &OpenOptions,
    ) -> Result<Vault, VaultError> {
        let inner = match Self::format_of(path)? {
            Format::V1 => Inner::V1(V1Vault::open(path, auth, prompt)?),
            Format::V2 => {
                let path = &persist::resolve(path)?;
                let (mut vault, _) = V2Vault::open(path, auth, options.seen.clone(), None, prompt)?;
                if options.accept_older {
                    vault.accept_older_file();
                }
                vault.set_lock_timeout(persist::DEFAULT_LOCK_TIMEOUT);
                Inner::V2(vault)
            }
        };
        Ok(Vault { inner })
    }

    /// Opens the vault and reads one password: one touch in format 2 when
    /// the key's usual grant is the entry's (the daily key for what it
    /// wrote, a backup for what is sealed to it), else two; two in format 1.
    pub fn open_and_get(
        path: &Path,
        auth: &mut dyn Authenticator,
        service: &str,
        user: &str,
        prompt: &dyn Prompt,
        options: &OpenOptions,
    ) -> Result<(Vault, Option<Password>), VaultError> {
        match Self::format_of(path)? {
            Format::V1 => {
                let vault = Self::open_with(path, auth, prompt, options)?;
                let password = vault.get(service, user, auth, prompt)?;
                Ok((vault, password))
            }
            Format::V2 => {
                let path = &persist::resolve(path)?;
                let (vault, password) = V2Vault::open(
                    path,
                    auth,
                    options.seen.clone(),
                    Some((service, user)),
                    prompt,
                )?;
                if options.accept_older {
                    vault.accept_older_file();
                }
                Ok((
                    Vault {
                        inner: Inner::V2(vault),
                    },
                    password.flatten(),
                ))
            }
        }
    }

    /// Opens the vault and reads several passwords (see
    /// [`Vault::get_many`]). Format 2: the open's touch also derives the
    /// first name's key when the key's usual grant is the entry's, and the
    /// others follow two per touch, so N entries the key owns cost
    /// 1 + ⌈(N − 1)/2⌉ touches. Format 1: the entries' salts lie inside the
    /// encrypted entry list, so the open's touch releases none of them:
    /// 1 + ⌈N/2⌉.
    pub fn open_and_get_many(
        path: &Path,
        auth: &mut dyn Authenticator,
        names: &[(&str, &str)],
        prompt: &dyn Prompt,
        options: &OpenOptions,
    ) -> Result<(Vault, Vec<Option<Password>>), VaultError> {
        let Some(&(service, user)) = names.first() else {
            return Ok((Self::open_with(path, auth, prompt, options)?, Vec::new()));
        };
        if Self::format_of(path)? != Format::V2 {
            let vault = Self::open_with(path, auth, prompt, options)?;
            let passwords = vault.get_many(names, auth, prompt)?;
            return Ok((vault, passwords));
        }
        let (vault, password) = Self::open_and_get(path, auth, service, user, prompt, options)?;
        let rest: Vec<(&str, &str)> = names
            .iter()
            .copied()
            .filter(|n| password.is_none() || *n != (service, user))
            .collect();
        let mut got = vault.get_many(&rest, auth, prompt)?.into_iter();
        let passwords = names
            .iter()
            .map(|n| match &password {
                Some(p) if *n == (service, user) => Some(Password::new(p.expose_secret())),
                _ => got.next().flatten(),
            })
            .collect();
        Ok((vault, passwords))
    }

    /// The credential a vault file was made with (format 2: its first
    /// slot's), without any derivation.
    pub fn credential_of(path: &Path) -> Result<VaultCredential, VaultError> {
        Self::credentials_of(path)?
            .into_iter()
            .next()
            .ok_or(VaultError::Internal)
    }

    /// Every credential that opens the file (one per slot; format 1: its
    /// one), without any derivation, to find an authenticator that holds one.
    pub fn credentials_of(path: &Path) -> Result<Vec<VaultCredential>, VaultError> {
        match Self::format_of(path)? {
            Format::V1 => Ok(vec![V1Vault::credential_of(path)?]),
            Format::V2 => Ok(v2::slots_of(path)?
                .into_iter()
                .map(|s| s.credential)
                .collect()),
        }
    }

    /// The key slots of a format-2 file as its header lists them, without
    /// any derivation (not authenticated: for discovery and display).
    pub fn slots_of(path: &Path) -> Result<Vec<KeySlot>, VaultError> {
        match Self::format_of(path)? {
            Format::V1 => Err(VaultError::NotFormat2),
            Format::V2 => v2::slots_of(path),
        }
    }

    /// How long a write waits for another process's lock (default 10 s).
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.inner = match self.inner {
            Inner::V1(v) => Inner::V1(v.with_lock_timeout(timeout)),
            Inner::V2(mut v) => {
                v.set_lock_timeout(timeout);
                Inner::V2(v)
            }
        };
        self
    }

    /// The vault's path.
    pub fn path(&self) -> &Path {
        match &self.inner {
            Inner::V1(v) => v.path(),
            Inner::V2(v) => v.path(),
        }
    }

    /// The file's format.
    pub fn format(&self) -> Format {
        match &self.inner {
            Inner::V1(_) => Format::V1,
            Inner::V2(_) => Format::V2,
        }
    }

    /// The vault key's credential (format 2: the first slot's).
    pub fn credential(&self) -> VaultCredential {
        match &self.inner {
            Inner::V1(v) => v.credential(),
            Inner::V2(v) => v.credential(),
        }
    }

    /// Every credential that opens the vault.
    pub fn credentials(&self) -> Vec<VaultCredential> {
        match &self.inner {
            Inner::V1(v) => vec![v.credential()],
            Inner::V2(v) => v.slots().into_iter().map(|s| s.credential).collect(),
        }
    }

    /// Format 1: the UV mode of every derivation. Format 2: the first
    /// slot's daily mode (each slot records its own, see [`Vault::slots`]).
    pub fn uv_mode(&self) -> UvMode {
        match &self.inner {
            Inner::V1(v) => v.uv_mode(),
            Inner::V2(v) => match v.slots().first() {
                Some(s) if s.daily_uv => UvMode::Verified,
                _ => UvMode::PresenceOnly,
            },
        }
    }

    /// The key slots (format 2; authenticated once open). Format 1: none.
    pub fn slots(&self) -> Vec<KeySlot> {
        match &self.inner {
            Inner::V1(_) => Vec::new(),
            Inner::V2(v) => v.slots(),
        }
    }

    /// The file's generation (format 2: +1 on every save).
    pub fn generation(&self) -> Option<u64> {
        match &self.inner {
            Inner::V1(_) => None,
            Inner::V2(v) => Some(v.header().generation),
        }
    }

    /// What the user should know about the file (an older copy, …).
    pub fn warnings(&self) -> Vec<VaultWarning> {
        match &self.inner {
            Inner::V1(_) => Vec::new(),
            Inner::V2(v) => v.warnings(),
        }
    }

    /// Accepts a file older than one this machine saw: writes go ahead.
    pub fn accept_older_file(&self) {
        if let Inner::V2(v) = &self.inner {
            v.accept_older_file();
        }
    }

    /// Forgets the vault key (zeroized) and the entry list.
    pub fn lock(&self) {
        match &self.inner {
            Inner::V1(v) => v.lock(),
            Inner::V2(v) => v.lock(),
        }
    }

    /// Whether [`Vault::lock`] was called (and no unlock since).
    pub fn is_locked(&self) -> bool {
        match &self.inner {
            Inner::V1(v) => v.is_locked(),
            Inner::V2(v) => v.is_locked(),
        }
    }

    /// Reads the file again and derives the vault key (one touch).
    pub fn unlock(
        &self,
        auth: &mut dyn Authenticator,
        prompt: &dyn Prompt,
    ) -> Result<(), VaultError> {
        match &self.inner {
            Inner::V1(v) => v.unlock(auth, prompt),
            Inner::V2(v) => v.unlock(auth, prompt),
        }
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
        Ok(Names {
            inner: match &self.inner {
                Inner::V1(v) => NamesInner::V1(v.names()?),
                Inner::V2(v) => NamesInner::V2(v.names()?),
            },
        })
    }

    /// (service, user) of every entry, in the file's order, copied out
    /// (see [`Vault::names`] to read them without copying). No derivation.
    pub fn list(&self) -> Result<Vec<(String, String)>, VaultError> {
        match &self.inner {
            Inner::V1(v) => v.list(),
            Inner::V2(v) => v.list(),
        }
    }

    /// How many entries. No derivation.
    pub fn len(&self) -> Result<usize, VaultError> {
        match &self.inner {
            Inner::V1(v) => v.len(),
            Inner::V2(v) => v.len(),
        }
    }

    /// Whether the vault has no entries. No derivation.
    pub fn is_empty(&self) -> Result<bool, VaultError> {
        Ok(self.len()? == 0)
    }

    /// Whether there is an entry for (service, user). No derivation.
    pub fn contains(&self, service: &str, user: &str) -> Result<bool, VaultError> {
        match &self.inner {
            Inner::V1(v) => v.contains(service, user),
            Inner::V2(v) => v.contains(service, user),
        }
    }

    /// The password for (service, user), or `None` (then nothing is asked
    /// of the authenticator). One touch.
    pub fn get(
        &self,
        service: &str,
        user: &str,
        auth: &mut dyn Authenticator,
        prompt: &dyn Prompt,
    ) -> Result<Option<Password>, VaultError> {
        match &self.inner {
            Inner::V1(v) => v.get(service, user, auth, prompt),
            Inner::V2(v) => v.get(service, user, auth, prompt),
        }
    }

    /// The passwords for several entries, in the order asked, `None` for
    /// those that are not there (they cost no touch). Every name is looked
    /// up before the first touch; the entry keys are derived two per touch
    /// (one getAssertion with two hmac-secret salts), so N entries cost
    /// ⌈N/2⌉ touches on an open vault; in format 2 the entries sealed to
    /// the key at hand (a backup's) all come from one output, paired with
    /// another where the UV modes agree. Every touch's prompt names each
    /// entry it releases. A failed or denied touch fails the whole call.
    pub fn get_many(
        &self,
        names: &[(&str, &str)],
        auth: &mut dyn Authenticator,
        prompt: &dyn Prompt,
    ) -> Result<Vec<Option<Password>>, VaultError> {
        match &self.inner {
            Inner::V1(v) => v.get_many(names, auth, prompt),
            Inner::V2(v) => v.get_many(names, auth, prompt),
        }
    }

    /// Stores `password` for (service, user), replacing any existing entry
    /// in its place. One touch, on the key at hand only (format 2 seals
    /// the entry key to every other key's public key).
    pub fn set(
        &self,
        service: &str,
        user: &str,
        password: &str,
        auth: &mut dyn Authenticator,
        prompt: &dyn Prompt,
    ) -> Result<(), VaultError> {
        self.set_many(&[(service, user, password)], auth, prompt)
    }

    /// Stores several passwords with one save (one touch per entry).
    pub fn set_many(
        &self,
        items: &[(&str, &str, &str)],
        auth: &mut dyn Authenticator,
        prompt: &dyn Prompt,
    ) -> Result<(), VaultError> {
        match &self.inner {
            Inner::V1(v) => v.set_many(items, auth, prompt),
            Inner::V2(v) => v.set_many(items, auth, prompt),
        }
    }

    /// Deletes the entry for (service, user); whether there was one.
    pub fn delete(&self, service: &str, user: &str) -> Result<bool, VaultError> {
        match &self.inner {
            Inner::V1(v) => v.delete(service, user),
            Inner::V2(v) => v.delete(service, user),
        }
    }

    /// Removes the key named by its label or number (never the last). No
    /// touch (the vault is open). The removed key still knows what it
    /// could read in an older copy: [`Vault::rekey`] makes it useless.
    pub fn remove_key(&self, which: &str) -> Result<KeySlot, VaultError> {
        match &self.inner {
            Inner::V1(_) => Err(VaultError::NotFormat2),
            Inner::V2(v) => {
                let slots = v.slots();
                let id = label_or_number(&slots, which)?;
                v.remove_key(id)?;
                slots
                    .into_iter()
                    .find(|s| s.id == id)
                    .ok_or(VaultError::Internal)
            }
        }
    }

    /// Adds the authenticator `new` to a format-2 vault: enrolls it first
    /// (one touch with `hmac-secret-mc`, two on a CTAP 2.1 key), then one
    /// touch (and the PIN where it verifies the user) on the enrolled key
    /// `enrolled` opens every entry key, whatever the vault's size.
    pub fn add_key(
        path: &Path,
        new: &mut dyn Authenticator,
        enrolled: &mut dyn Authenticator,
        key: &KeyOptions,
        options: &OpenOptions,
        prompt: &dyn Prompt,
    ) -> Result<KeySlot, VaultError> {
        if Self::format_of(path)? != Format::V2 {
            return Err(VaultError::NotFormat2);
        }
        let path = &persist::resolve(path)?;
        v2::add_key(
            path,
            new,
            enrolled,
            key,
            options.seen.as_ref(),
            options.accept_older,
            prompt,
        )
    }

    /// Fresh keys for every entry and a new vault secret, without the keys
    /// named in `remove` (labels or numbers); every remaining key's entry
    /// salts change. One touch (and the PIN) on any remaining key. A
    /// removed key, or an old copy of its secrets, opens nothing of the
    /// result. Returns how many entries were re-encrypted.
    pub fn rekey(
        path: &Path,
        auth: &mut dyn Authenticator,
        remove: &[&str],
        options: &OpenOptions,
        prompt: &dyn Prompt,
    ) -> Result<usize, VaultError> {
        if Self::format_of(path)? != Format::V2 {
            return Err(VaultError::NotFormat2);
        }
        let path = &persist::resolve(path)?;
        let slots = v2::slots_of(path)?;
        let ids = remove
            .iter()
            .map(|w| label_or_number(&slots, w))
            .collect::<Result<Vec<_>, _>>()?;
        v2::rekey(
            path,
            auth,
            &ids,
            options.seen.as_ref(),
            options.accept_older,
            prompt,
        )
    }

    /// Converts the vault at `path` to format `to` (no change when it is
    /// in it already). 1 → 2: the Python original can no longer open the
    /// file (the caller confirms); entries keep their format-1 salts and
    /// tokens byte for byte. 2 → 1: only with exactly one key; those
    /// entries come back as they were. Locked from the first read to the
    /// rename; the new file is checked before it replaces the old.
    pub fn convert(
        path: &Path,
        to: Format,
        auth: &mut dyn Authenticator,
        key: &KeyOptions,
        options: &OpenOptions,
        prompt: &dyn Prompt,
    ) -> Result<(), VaultError> {
        let from = Self::format_of(path)?;
        if from == to {
            return Ok(());
        }
        let path = &persist::resolve(path)?;
        let _lock = persist::lock(path, persist::DEFAULT_LOCK_TIMEOUT)?;
        match to {
            Format::V2 => {
                let v1 = V1Vault::open(path, auth, prompt)?;
                let (credential, mode, entries) = v1.export()?;
                v1.lock();
                v2::from_format1(
                    path,
                    auth,
                    &credential,
                    mode == UvMode::Verified,
                    &entries,
                    key,
                    options.seen.as_ref(),
                    prompt,
                )
            }
            Format::V1 => {
                let parts = v2::to_format1(path, auth, prompt)?;
                crate::vault::write_format1(
                    path,
                    &parts.credential,
                    parts.vault_salt,
                    &parts.vault_key,
                    &parts.entries,
                )
            }
        }
    }
}

/// The (service, user) names of an open vault, borrowed from it (see
/// [`Vault::names`]); holds the vault's read lock while it lives.
pub struct Names<'a> {
    inner: NamesInner<'a>,
}

enum NamesInner<'a> {
    V1(crate::vault::Names<'a>),
    V2(v2::V2Names<'a>),
}

impl Names<'_> {
    /// (service, user) of every entry, in the file's order.
    pub fn iter(&self) -> NameIter<'_> {
        NameIter {
            inner: match &self.inner {
                NamesInner::V1(n) => IterInner::V1(n.iter()),
                NamesInner::V2(n) => IterInner::V2(n.iter()),
            },
        }
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        match &self.inner {
            NamesInner::V1(n) => n.len(),
            NamesInner::V2(n) => n.len(),
        }
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

impl std::fmt::Debug for Names<'_> {
    /// How many names; the names themselves are not secret, but a log
    /// has no use for thousands of them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Names")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// The iterator of [`Names::iter`]: borrowed (service, user) pairs in the
/// file's order.
pub struct NameIter<'a> {
    inner: IterInner<'a>,
}

enum IterInner<'a> {
    V1(crate::vault::NameIter<'a>),
    V2(v2::V2NameIter<'a>),
}

impl<'a> Iterator for NameIter<'a> {
    type Item = (&'a str, &'a str);

    #[inline]
    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        match &mut self.inner {
            IterInner::V1(i) => i.next(),
            IterInner::V2(i) => i.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            IterInner::V1(i) => i.size_hint(),
            IterInner::V2(i) => i.size_hint(),
        }
    }
}

impl ExactSizeIterator for NameIter<'_> {}

impl std::iter::FusedIterator for NameIter<'_> {}
