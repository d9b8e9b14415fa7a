//! Format-2 operations (`docs/vault-format-2.md`, §5): create, open (one
//! touch, or one touch for open and one entry), get, set, delete, list,
//! and the key operations (add, remove, rekey, convert), each a locked
//! read-modify-write saved atomically with the persistence of format 1.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rand_core::RngCore;
use tokenring_core::{
    Authenticator, CredentialId, DeriveRequest, EnrollOptions, HmacSecretOutput, Prompt, Salts,
    Secret32, TransportKind, UserEntity, UvMode,
};
use zeroize::Zeroizing;

use super::keys::{self, Key32, PrivateKey};
use super::layout::{self, Grant, Header, Records, Slot, ENVELOPE_PREFIX, SEALED_LEN};
use crate::entry::{Password, VaultCredential};
use crate::error::{FormatError, VaultError};
use crate::fernet::{self, FernetKey};
use crate::persist::{self, Fingerprint};
use crate::seen::SeenStore;
use crate::vault::{first_occurrences, passwords_for, quote_name};

/// What a new key's slot records and how it is enrolled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyOptions {
    /// The user's name for the key (default: the authenticator's name,
    /// made unique).
    pub label: Option<String>,
    /// Make the credential with credProtect level 3
    /// (userVerificationRequired) and derive everything with user
    /// verification (the PIN or built-in UV).
    pub require_uv: bool,
}

/// A key slot as the vault's header lists it. Nothing in it is secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySlot {
    /// The slot's number (1 ..= 255), stable for the vault's life.
    pub id: u8,
    /// The user's name for the key.
    pub label: String,
    /// The credential (RP ID and id).
    pub credential: VaultCredential,
    /// The authenticator's AAGUID (its model).
    pub aaguid: [u8; 16],
    /// The transport it was enrolled over.
    pub transport: Option<TransportKind>,
    /// When it was enrolled (Unix seconds).
    pub enrolled_at: u64,
    /// Unlocking and entry keys verify the user (PIN or built-in UV).
    pub daily_uv: bool,
    /// The recovery key verifies the user.
    pub recovery_uv: bool,
    /// The credential's credProtect level (0: not requested).
    pub cred_protect: u8,
    /// Entries this key wrote last (one touch on it opens one of them).
    pub owned: u32,
    /// Of those, entries converted from format 1.
    pub legacy: u32,
}

/// Something about the file the user should know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VaultWarning {
    /// The file is older than one this machine has opened or saved.
    OlderGeneration {
        /// The file's generation.
        found: u64,
        /// The highest generation seen here.
        seen: u64,
    },
}

impl std::fmt::Display for VaultWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VaultWarning::OlderGeneration { found, seen } => write!(
                f,
                "this vault file is older than one this machine has seen (generation {found}, seen {seen}): an old copy may have been put back; writes are refused until you accept it (--accept-older-vault)"
            ),
        }
    }
}

/// The envelope plaintext, wiped when dropped: as one slice (not byte by
/// byte, which costs more than the open of a large vault), spare capacity
/// included.
#[derive(Default)]
struct Plain(Vec<u8>);

impl Plain {
    fn prefix() -> Plain {
        Plain(vec![0u8; ENVELOPE_PREFIX])
    }
}

impl From<Zeroizing<Vec<u8>>> for Plain {
    fn from(mut bytes: Zeroizing<Vec<u8>>) -> Plain {
        Plain(std::mem::take(&mut *bytes))
    }
}

impl Drop for Plain {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.0.as_mut_slice().zeroize();
        self.0.spare_capacity_mut().zeroize();
    }
}

impl std::ops::Deref for Plain {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl std::ops::DerefMut for Plain {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

struct Unlocked {
    vs: Key32,
    hk: Key32,
    fk: FernetKey,
    /// The envelope plaintext: header MAC, count, records.
    plain: Plain,
    /// The records of `plain`, their names and the index by name.
    records: Records,
    fingerprint: Option<Fingerprint>,
}

struct State {
    /// Shared with the operations that work without the lock held (a
    /// touch can take seconds): cloned as a pointer, not slot by slot.
    header: Arc<Header>,
    unlocked: Option<Unlocked>,
    warnings: Vec<VaultWarning>,
    accept_older: bool,
}

/// An open format-2 vault.
pub(crate) struct V2Vault {
    path: PathBuf,
    lock_timeout: Duration,
    seen: Option<SeenStore>,
    state: RwLock<State>,
    writer: Mutex<()>,
}

fn lock_read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}
fn lock_write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn random<const N: usize>() -> Result<[u8; N], VaultError> {
    let mut b = [0u8; N];
    rand_core::OsRng
        .try_fill_bytes(&mut b)
        .map_err(|e| VaultError::Random(e.to_string()))?;
    Ok(b)
}

fn corrupt(path: &Path, reason: FormatError) -> VaultError {
    VaultError::Corrupt {
        path: path.to_path_buf(),
        reason,
    }
}

fn did_not_decrypt(path: &Path) -> VaultError {
    VaultError::DidNotDecrypt {
        path: path.to_path_buf(),
    }
}

fn uv(on: bool) -> UvMode {
    if on {
        UvMode::Verified
    } else {
        UvMode::PresenceOnly
    }
}

fn transport_byte(kind: TransportKind) -> u8 {
    match kind {
        TransportKind::Hid => 1,
        TransportKind::Nfc => 2,
        TransportKind::Sim => 3,
        _ => 0,
    }
}

fn transport_of(byte: u8) -> Option<TransportKind> {
    match byte {
        1 => Some(TransportKind::Hid),
        2 => Some(TransportKind::Nfc),
        3 => Some(TransportKind::Sim),
        _ => None,
    }
}

pub(crate) fn key_slot(s: &Slot) -> KeySlot {
    KeySlot {
        id: s.id,
        label: s.label.clone(),
        credential: VaultCredential {
            rp_id: s.rp_id.clone(),
            id: CredentialId(s.credential_id.clone()),
        },
        aaguid: s.aaguid,
        transport: transport_of(s.transport),
        enrolled_at: s.enrolled_at,
        daily_uv: s.daily_uv(),
        recovery_uv: s.recovery_uv(),
        cred_protect: s.cred_protect,
        owned: s.owned,
        legacy: s.legacy,
    }
}

fn derive(
    auth: &mut dyn Authenticator,
    slot: &Slot,
    salts: Salts,
    verified: bool,
    purpose: &str,
    prompt: &dyn Prompt,
) -> Result<HmacSecretOutput, VaultError> {
    let credential = CredentialId(slot.credential_id.clone());
    let request = DeriveRequest {
        credential: &credential,
        rp_id: &slot.rp_id,
        salts,
        uv: uv(verified),
        purpose,
    };
    Ok(auth.derive(&request, prompt)?)
}

/// Which slot `auth` holds: a probe per slot (no touch); a credProtect-3
/// credential is invisible to a probe without UV, so such a slot is
/// recognised by its AAGUID when no probe answers.
pub(crate) fn identify(auth: &mut dyn Authenticator, header: &Header) -> Result<u8, VaultError> {
    for s in &header.slots {
        if auth.probe(&CredentialId(s.credential_id.clone()), &s.rp_id)? {
            return Ok(s.id);
        }
    }
    let aaguid = auth.describe()?.aaguid;
    header
        .slots
        .iter()
        .find(|s| s.cred_protect == 3 && s.aaguid == aaguid)
        .map(|s| s.id)
        .ok_or(VaultError::WrongAuthenticator)
}

/// The vault secret from a slot's unlock output.
fn vs_from_unlock(header: &Header, slot: &Slot, output: &Secret32) -> Result<Key32, VaultError> {
    let (sk, pk) = keys::key_pair(&header.vault_id, output, keys::L_UNLOCK, slot.id);
    if pk != slot.unlock_pk {
        return Err(VaultError::SlotKeyMismatch {
            label: slot.label.clone(),
        });
    }
    keys::open(
        &sk,
        &slot.vs_unlock,
        keys::L_SEAL_VS,
        &header.vault_id,
        slot.id,
        b"",
    )
    .ok_or(VaultError::SlotKeyMismatch {
        label: slot.label.clone(),
    })
}

/// The recovery private key and the vault secret from a slot's recovery output.
fn from_recovery(
    header: &Header,
    slot: &Slot,
    output: &Secret32,
) -> Result<(PrivateKey, Key32), VaultError> {
    let (sk, pk) = keys::key_pair(&header.vault_id, output, keys::L_RECOVERY, slot.id);
    if pk != slot.recovery_pk {
        return Err(VaultError::SlotKeyMismatch {
            label: slot.label.clone(),
        });
    }
    let vs = keys::open(
        &sk,
        &slot.vs_recovery,
        keys::L_SEAL_VS_RECOVERY,
        &header.vault_id,
        slot.id,
        b"",
    )
    .ok_or(VaultError::SlotKeyMismatch {
        label: slot.label.clone(),
    })?;
    Ok((sk, vs))
}

/// Opens the envelope of `bytes` with the vault secret: header MAC,
/// envelope MAC, decryption, binding, records.
fn open_envelope(
    path: &Path,
    bytes: &Arc<Vec<u8>>,
    vs: Key32,
    fingerprint: Option<Fingerprint>,
) -> Result<(Header, Unlocked), VaultError> {
    let parsed = layout::parse_file(bytes).map_err(|r| corrupt(path, r))?;
    let hk = keys::header_key(&parsed.header.vault_id, &vs);
    if !keys::mac_eq(&keys::header_mac(&hk, parsed.signed), &parsed.mac) {
        return Err(did_not_decrypt(path));
    }
    let fk = keys::envelope_key(&parsed.header.vault_id, &vs);
    let envelope_at = bytes.len() - parsed.envelope.len();
    let plain = Plain::from(
        fk.decrypt_two_threads(bytes, envelope_at)
            .map_err(|_| did_not_decrypt(path))?,
    );
    if plain.len() < ENVELOPE_PREFIX || !keys::mac_eq(array32(&plain[..32]), &parsed.mac) {
        return Err(did_not_decrypt(path));
    }
    let count = u32::from_be_bytes([plain[32], plain[33], plain[34], plain[35]]);
    if count != parsed.header.entry_count {
        return Err(corrupt(
            path,
            FormatError::Invalid {
                field: "entry count",
            },
        ));
    }
    let records = layout::index_records(&plain, ENVELOPE_PREFIX, &parsed.header)
        .map_err(|r| corrupt(path, r))?;
    Ok((
        parsed.header,
        Unlocked {
            vs,
            hk,
            fk,
            plain,
            records,
            fingerprint,
        },
    ))
}

fn array32(b: &[u8]) -> &[u8; 32] {
    b.try_into().unwrap_or(&[0u8; 32])
}

/// Writes the whole file: header with fresh counts, its MAC, the envelope.
fn encode_file(header: &mut Header, u: &mut Unlocked) -> Result<Vec<u8>, VaultError> {
    for slot in &mut header.slots {
        slot.owned = 0;
        slot.legacy = 0;
    }
    for r in u.records.as_slice() {
        if let Some(slot) = header.slots.iter_mut().find(|s| s.id == r.owner) {
            slot.owned += 1;
            if r.kind == layout::GRANT_LEGACY {
                slot.legacy += 1;
            }
        }
    }
    header.entry_count = u32::try_from(u.records.len()).map_err(|_| VaultError::NameTooLong)?;
    let mut out = Vec::with_capacity(u.plain.len() + 4096);
    layout::write_header(header, &mut out);
    let mac = keys::header_mac(&u.hk, &out);
    out.extend_from_slice(&mac);
    u.plain[..32].copy_from_slice(&mac);
    u.plain[32..36].copy_from_slice(&header.entry_count.to_be_bytes());
    let envelope = u.fk.encrypt_with(&u.plain, random()?, fernet::unix_now());
    out.extend_from_slice(&envelope);
    Ok(out)
}

fn save(path: &Path, bytes: &[u8], create_new: bool) -> Result<Option<Fingerprint>, VaultError> {
    persist::save_as(path, create_new, true, |out| out.write_all(bytes))
}

/// A records buffer (with the envelope prefix) rebuilt by `f`, indexed.
fn rebuild(
    header: &Header,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), VaultError>,
) -> Result<(Plain, Records), VaultError> {
    let mut plain = Plain::prefix();
    f(&mut plain)?;
    let counted = lenient(header, &plain);
    let records = layout::index_records(&plain, ENVELOPE_PREFIX, &counted)
        .map_err(|_| VaultError::Internal)?;
    Ok((plain, records))
}

/// A header whose counts are those of the records in `plain` (for
/// re-indexing records the vault itself wrote).
fn lenient(header: &Header, plain: &[u8]) -> Header {
    let mut h = header.clone();
    for s in &mut h.slots {
        s.owned = 0;
        s.legacy = 0;
    }
    let mut at = ENVELOPE_PREFIX;
    let mut count = 0;
    while let Some(end) = next_record_end(plain, at) {
        let (owner, kind) = owner_of(plain, at);
        if let Some(s) = h.slots.iter_mut().find(|s| s.id == owner) {
            s.owned += 1;
            if kind == layout::GRANT_LEGACY {
                s.legacy += 1;
            }
        }
        count += 1;
        at = end;
    }
    h.entry_count = count;
    h
}

fn owner_of(plain: &[u8], at: usize) -> (u8, u8) {
    let s = u16::from_be_bytes([plain[at], plain[at + 1]]) as usize;
    let u_at = at + 2 + s;
    let u = u16::from_be_bytes([plain[u_at], plain[u_at + 1]]) as usize;
    let o = u_at + 2 + u;
    (plain[o], plain[o + 1])
}

fn next_record_end(plain: &[u8], at: usize) -> Option<usize> {
    let get = |i: usize| plain.get(i).copied();
    let s = u16::from_be_bytes([get(at)?, get(at + 1)?]) as usize;
    let u_at = at + 2 + s;
    let u = u16::from_be_bytes([get(u_at)?, get(u_at + 1)?]) as usize;
    let o = u_at + 2 + u;
    let kind = get(o + 1)?;
    let t_at = o
        + 2
        + match kind {
            layout::GRANT_OWNER => 16,
            layout::GRANT_LEGACY => 32,
            _ => 0,
        };
    let t =
        u32::from_be_bytes([get(t_at)?, get(t_at + 1)?, get(t_at + 2)?, get(t_at + 3)?]) as usize;
    let c_at = t_at + 4 + t;
    let c = get(c_at)? as usize;
    let end = c_at + 1 + c * layout::GRANT_LEN;
    (end <= plain.len()).then_some(end)
}

fn check_name(service: &str, user: &str) -> Result<(), VaultError> {
    if service.len() > usize::from(u16::MAX) || user.len() > usize::from(u16::MAX) {
        return Err(VaultError::NameTooLong);
    }
    Ok(())
}

fn decrypt_password(
    key: &FernetKey,
    token: &[u8],
    service: &str,
    user: &str,
) -> Result<Password, VaultError> {
    let failed = || VaultError::EntryDidNotDecrypt {
        service: service.to_string(),
        user: user.to_string(),
    };
    let plain = key.decrypt(token).map_err(|_| failed())?;
    let text = std::str::from_utf8(&plain).map_err(|_| failed())?;
    Ok(Password::new(text))
}

/// Seals an entry key to every slot's recovery key.
fn seal_to_all(
    header: &Header,
    name: &[u8],
    ek: &[u8; 32],
) -> Result<Vec<(u8, [u8; SEALED_LEN])>, VaultError> {
    header
        .slots
        .iter()
        .map(|s| {
            keys::seal(
                &s.recovery_pk,
                keys::L_SEAL_EK,
                &header.vault_id,
                s.id,
                name,
                ek,
            )
            .map(|seal| (s.id, seal))
            .ok_or(VaultError::Internal)
        })
        .collect()
}

fn open_sealed(
    header: &Header,
    slot: &Slot,
    sk: &PrivateKey,
    sealed: &[u8; SEALED_LEN],
    name: &[u8],
) -> Option<Key32> {
    keys::open(sk, sealed, keys::L_SEAL_EK, &header.vault_id, slot.id, name)
}

/// The key material of a new slot, from its two outputs.
struct NewSlotKeys {
    unlock_pk: [u8; 32],
    recovery_pk: [u8; 32],
}

fn slot_keys(vault_id: &[u8; 16], id: u8, unlock: &Secret32, recovery: &Secret32) -> NewSlotKeys {
    NewSlotKeys {
        unlock_pk: keys::key_pair(vault_id, unlock, keys::L_UNLOCK, id).1,
        recovery_pk: keys::key_pair(vault_id, recovery, keys::L_RECOVERY, id).1,
    }
}

fn seal_vs(slot: &mut Slot, vault_id: &[u8; 16], vs: &[u8; 32]) -> Result<(), VaultError> {
    slot.vs_unlock = keys::seal(&slot.unlock_pk, keys::L_SEAL_VS, vault_id, slot.id, b"", vs)
        .ok_or(VaultError::Internal)?;
    slot.vs_recovery = keys::seal(
        &slot.recovery_pk,
        keys::L_SEAL_VS_RECOVERY,
        vault_id,
        slot.id,
        b"",
        vs,
    )
    .ok_or(VaultError::Internal)?;
    Ok(())
}

/// A new key's enrollment: makeCredential (with `hmac-secret-mc` where the
/// authenticator has it: the unlock and recovery outputs come back with
/// it, one touch), else a getAssertion with both salts (a second touch).
/// Returns a slot without vault-secret seals.
#[allow(clippy::too_many_arguments)]
pub(crate) fn enroll(
    auth: &mut dyn Authenticator,
    rp_id: &str,
    user: &UserEntity,
    vault_id: &[u8; 16],
    id: u8,
    label: String,
    options: &KeyOptions,
    first_key: bool,
    prompt: &dyn Prompt,
) -> Result<Slot, VaultError> {
    let info = auth.describe()?;
    if !info.hmac_secret {
        return Err(VaultError::HmacSecretUnsupported);
    }
    let cred_protect_supported = info.has_extension("credProtect");
    if options.require_uv {
        if !cred_protect_supported {
            return Err(VaultError::CredProtectUnsupported);
        }
        if !info.can_verify_user() {
            return Err(VaultError::UvUnavailable);
        }
    }
    // The recovery key verifies the user wherever the key can; the first
    // key's daily derivations stay presence-only (one touch per secret)
    // unless asked; a key added later derives everything in one mode so
    // that one touch enrolls it.
    let recovery_uv = options.require_uv || info.always_uv || info.can_verify_user();
    let daily_uv = if first_key {
        options.require_uv || info.always_uv
    } else {
        recovery_uv
    };
    let unlock_salt: [u8; 32] = random()?;
    let recovery_salt: [u8; 32] = random()?;
    let enrollment = auth.enroll_with(
        rp_id,
        user,
        &EnrollOptions {
            cred_protect: if options.require_uv {
                Some(3)
            } else if cred_protect_supported {
                Some(1)
            } else {
                None
            },
            enforce_cred_protect: options.require_uv,
            hmac_secret_mc: Some(Salts::Two(unlock_salt, recovery_salt)),
            require_uv: options.require_uv,
        },
        prompt,
    )?;
    let cred_protect = enrollment.cred_protect.unwrap_or(0);
    let mut slot = Slot {
        id,
        policy: (if daily_uv { layout::POLICY_DAILY_UV } else { 0 })
            | (if recovery_uv {
                layout::POLICY_RECOVERY_UV
            } else {
                0
            }),
        cred_protect,
        transport: transport_byte(info.transport),
        aaguid: enrollment.aaguid,
        enrolled_at: fernet::unix_now(),
        owned: 0,
        legacy: 0,
        rp_id: rp_id.to_string(),
        credential_id: enrollment.credential.0.clone(),
        label,
        unlock_salt,
        recovery_salt,
        entry_seed: random()?,
        unlock_pk: [0; 32],
        recovery_pk: [0; 32],
        vs_unlock: [0; SEALED_LEN],
        vs_recovery: [0; SEALED_LEN],
    };
    // The outputs makeCredential gave (with its UV state's CredRandom),
    // where that is the mode the slot records.
    let mut unlock_out = None;
    let mut recovery_out = None;
    if let Some(out) = enrollment.hmac_output {
        let mode = enrollment.user_verified;
        if let Some(second) = out.second {
            if mode == recovery_uv {
                recovery_out = Some(second);
            }
        }
        if mode == daily_uv {
            unlock_out = Some(out.first);
        }
    }
    let purpose = format!("derive the keys of the new key {}", quote_name(&slot.label));
    match (unlock_out.is_some(), recovery_out.is_some()) {
        (true, true) => {}
        (false, false) if daily_uv == recovery_uv => {
            let out = derive(
                auth,
                &slot,
                Salts::Two(unlock_salt, recovery_salt),
                daily_uv,
                &purpose,
                prompt,
            )?;
            recovery_out = out.second;
            unlock_out = Some(out.first);
        }
        _ => {
            if unlock_out.is_none() {
                unlock_out = Some(
                    derive(
                        auth,
                        &slot,
                        Salts::One(unlock_salt),
                        daily_uv,
                        &purpose,
                        prompt,
                    )?
                    .first,
                );
            }
            if recovery_out.is_none() {
                recovery_out = Some(
                    derive(
                        auth,
                        &slot,
                        Salts::One(recovery_salt),
                        recovery_uv,
                        &purpose,
                        prompt,
                    )?
                    .first,
                );
            }
        }
    }
    let (Some(unlock), Some(recovery)) = (unlock_out, recovery_out) else {
        return Err(VaultError::Internal);
    };
    let k = slot_keys(vault_id, id, &unlock, &recovery);
    slot.unlock_pk = k.unlock_pk;
    slot.recovery_pk = k.recovery_pk;
    Ok(slot)
}

/// A unique label for a new key.
pub(crate) fn choose_label(
    wanted: Option<&str>,
    name: &str,
    taken: &[&str],
) -> Result<String, VaultError> {
    if let Some(label) = wanted {
        if !layout::valid_label(label) || taken.contains(&label) {
            return Err(VaultError::BadLabel(label.to_string()));
        }
        return Ok(label.to_string());
    }
    let mut base: String = name.chars().filter(|c| !c.is_control()).take(40).collect();
    if base.trim().is_empty() {
        base = "key".to_string();
    }
    let mut label = base.clone();
    let mut n = 2;
    while taken.contains(&label.as_str()) || !layout::valid_label(&label) {
        label = format!("{base} {n}");
        n += 1;
        if n > 99 {
            return Err(VaultError::BadLabel(base));
        }
    }
    Ok(label)
}

impl V2Vault {
    fn new(path: &Path, seen: Option<SeenStore>, header: Header, unlocked: Unlocked) -> V2Vault {
        V2Vault {
            path: path.to_path_buf(),
            lock_timeout: persist::DEFAULT_LOCK_TIMEOUT,
            seen,
            state: RwLock::new(State {
                header: Arc::new(header),
                unlocked: Some(unlocked),
                warnings: Vec::new(),
                accept_older: false,
            }),
            writer: Mutex::new(()),
        }
    }

    pub(crate) fn set_lock_timeout(&mut self, timeout: Duration) {
        self.lock_timeout = timeout;
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Creates a format-2 vault with one key (two touches; one with
    /// `hmac-secret-mc` where the first key's daily mode matches).
    pub(crate) fn create(
        path: &Path,
        auth: &mut dyn Authenticator,
        rp_id: &str,
        user: &UserEntity,
        options: &KeyOptions,
        seen: Option<SeenStore>,
        prompt: &dyn Prompt,
    ) -> Result<V2Vault, VaultError> {
        let vault_id: [u8; 16] = random()?;
        let info = auth.describe()?;
        let label = choose_label(options.label.as_deref(), &info.name, &[])?;
        let mut slot = enroll(
            auth, rp_id, user, &vault_id, 1, label, options, true, prompt,
        )?;
        let vs = Zeroizing::new(random::<32>()?);
        seal_vs(&mut slot, &vault_id, &vs)?;
        let mut header = Header {
            vault_id,
            generation: 1,
            entry_count: 0,
            next_slot_id: 2,
            slots: vec![slot],
        };
        let mut unlocked = Unlocked {
            hk: keys::header_key(&vault_id, &vs),
            fk: keys::envelope_key(&vault_id, &vs),
            vs,
            plain: Plain::prefix(),
            records: Records::default(),
            fingerprint: None,
        };
        let bytes = encode_file(&mut header, &mut unlocked)?;
        unlocked.fingerprint = save(path, &bytes, true)?;
        if let Some(seen) = &seen {
            seen.record(&vault_id, 1, path)?;
        }
        Ok(V2Vault::new(path, seen, header, unlocked))
    }

    /// Opens the vault with one touch; with `entry`, the same touch also
    /// yields that entry's key when the slot's usual grant guesses right
    /// (then the password is returned too).
    pub(crate) fn open(
        path: &Path,
        auth: &mut dyn Authenticator,
        seen: Option<SeenStore>,
        entry: Option<(&str, &str)>,
        prompt: &dyn Prompt,
    ) -> Result<(V2Vault, Option<Option<Password>>), VaultError> {
        let (bytes, fingerprint) = persist::read_bytes(path)?;
        let bytes = Arc::new(bytes);
        let header = layout::parse_file(&bytes)
            .map_err(|r| corrupt(path, r))?
            .header;
        let id = identify(auth, &header)?;
        let slot = header.slot(id).ok_or(VaultError::Internal)?.clone();
        let name = entry.map(|(s, u)| layout::name_bytes(s, u));
        // The second salt, chosen before the envelope (where the grants
        // are) can be read: the slot's own entry salt when it owns at least
        // half of the entries (the daily key), else its recovery salt.
        let owns_most = u64::from(slot.owned) * 2 >= u64::from(header.entry_count);
        let mut recovery_sk = None;
        let mut entry_output = None;
        let vs = match (&name, entry) {
            (Some(name), Some((service, user))) if owns_most => {
                let purpose = format!(
                    "unlock the vault and decrypt the password for {} in {}",
                    quote_name(user),
                    quote_name(service)
                );
                let salt = keys::entry_salt(&slot.entry_seed, name);
                let out = derive(
                    auth,
                    &slot,
                    Salts::Two(slot.unlock_salt, salt),
                    slot.daily_uv(),
                    &purpose,
                    prompt,
                )?;
                entry_output = out.second;
                vs_from_unlock(&header, &slot, &out.first)?
            }
            (Some(_), Some((service, user))) => {
                let purpose = format!(
                    "unlock the vault and decrypt the password for {} in {} with {}",
                    quote_name(user),
                    quote_name(service),
                    quote_name(&slot.label)
                );
                let out = derive(
                    auth,
                    &slot,
                    Salts::One(slot.recovery_salt),
                    slot.recovery_uv(),
                    &purpose,
                    prompt,
                )?;
                let (sk, vs) = from_recovery(&header, &slot, &out.first)?;
                recovery_sk = Some(sk);
                vs
            }
            _ => {
                let out = derive(
                    auth,
                    &slot,
                    Salts::One(slot.unlock_salt),
                    slot.daily_uv(),
                    "unlock the vault",
                    prompt,
                )?;
                vs_from_unlock(&header, &slot, &out.first)?
            }
        };
        let (header, unlocked) = open_envelope(path, &bytes, vs, fingerprint)?;
        let vault = V2Vault::new(path, seen, header, unlocked);
        vault.check_rollback()?;
        let password = match entry {
            None => None,
            Some((service, user)) => {
                let state = lock_read(&vault.state);
                let u = state.unlocked.as_ref().ok_or(VaultError::Locked)?;
                let found = find(u, service, user);
                let early = found.and_then(|r| {
                    let name = layout::name_bytes(service, user);
                    if r.owner == slot.id && r.kind == layout::GRANT_OWNER {
                        entry_output
                            .as_ref()
                            .map(|o| keys::owner_entry_key(&r.nonce(&u.plain), o))
                    } else {
                        let sk = recovery_sk.as_ref()?;
                        let sealed = r.sealed_for(&u.plain, slot.id)?;
                        open_sealed(&state.header, &slot, sk, &sealed, &name)
                            .map(|ek| keys::fernet(&ek))
                    }
                    .map(|key| (key, *r))
                });
                match (found, early) {
                    (None, _) => Some(None),
                    (Some(_), Some((key, r))) => Some(Some(decrypt_password(
                        &key,
                        r.token(&u.plain),
                        service,
                        user,
                    )?)),
                    (Some(_), None) => {
                        drop(state);
                        Some(vault.get(service, user, auth, prompt)?)
                    }
                }
            }
        };
        Ok((vault, password))
    }

    /// Records a file opened or saved here, and warns about an older one.
    fn check_rollback(&self) -> Result<(), VaultError> {
        let Some(seen) = &self.seen else {
            return Ok(());
        };
        let mut state = lock_write(&self.state);
        let found = state.header.generation;
        match seen.seen(&state.header.vault_id) {
            Some(s) if s > found => {
                let w = VaultWarning::OlderGeneration { found, seen: s };
                if !state.warnings.contains(&w) {
                    state.warnings.push(w);
                }
            }
            _ => {
                state
                    .warnings
                    .retain(|w| !matches!(w, VaultWarning::OlderGeneration { .. }));
                seen.record(&state.header.vault_id, found, &self.path)?;
            }
        }
        Ok(())
    }

    pub(crate) fn warnings(&self) -> Vec<VaultWarning> {
        lock_read(&self.state).warnings.clone()
    }

    pub(crate) fn accept_older_file(&self) {
        lock_write(&self.state).accept_older = true;
    }

    pub(crate) fn header(&self) -> Header {
        Header::clone(&lock_read(&self.state).header)
    }

    pub(crate) fn slots(&self) -> Vec<KeySlot> {
        lock_read(&self.state)
            .header
            .slots
            .iter()
            .map(key_slot)
            .collect()
    }

    pub(crate) fn credential(&self) -> VaultCredential {
        let state = lock_read(&self.state);
        state
            .header
            .slots
            .first()
            .map(|s| key_slot(s).credential)
            .unwrap_or(VaultCredential {
                rp_id: String::new(),
                id: CredentialId(Vec::new()),
            })
    }

    pub(crate) fn lock(&self) {
        lock_write(&self.state).unlocked = None;
    }

    pub(crate) fn is_locked(&self) -> bool {
        lock_read(&self.state).unlocked.is_none()
    }

    /// Unlocks again (one touch), from the file as it is now.
    pub(crate) fn unlock(
        &self,
        auth: &mut dyn Authenticator,
        prompt: &dyn Prompt,
    ) -> Result<(), VaultError> {
        let (other, _) = V2Vault::open(&self.path, auth, self.seen.clone(), None, prompt)?;
        let fresh = other
            .state
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut state = lock_write(&self.state);
        state.header = fresh.header;
        state.unlocked = fresh.unlocked;
        state.warnings = fresh.warnings;
        Ok(())
    }

    /// Re-reads the file if it changed; it must still open with our vault
    /// secret (a rekeyed or replaced file is [`VaultError::Replaced`]).
    fn refresh(&self, state: &mut State) -> Result<(), VaultError> {
        let u = state.unlocked.as_mut().ok_or(VaultError::Locked)?;
        if let Some(f) = &u.fingerprint {
            if persist::unchanged(&self.path, f)? {
                return Ok(());
            }
        }
        let start = persist::read_start(&self.path, 16)?;
        if !layout::is_format2(&start) {
            return Err(VaultError::Replaced {
                path: self.path.clone(),
            });
        }
        let (bytes, fingerprint) = persist::read_bytes(&self.path)?;
        let bytes = Arc::new(bytes);
        let vs = Zeroizing::new(*u.vs);
        match open_envelope(&self.path, &bytes, vs, fingerprint) {
            Ok((header, unlocked)) => {
                if header.vault_id != state.header.vault_id {
                    return Err(VaultError::Replaced {
                        path: self.path.clone(),
                    });
                }
                state.header = Arc::new(header);
                state.unlocked = Some(unlocked);
                Ok(())
            }
            Err(VaultError::DidNotDecrypt { .. }) => Err(VaultError::Replaced {
                path: self.path.clone(),
            }),
            Err(e) => Err(e),
        }
    }

    fn fresh_read(&self) -> Result<std::sync::RwLockReadGuard<'_, State>, VaultError> {
        {
            let state = lock_read(&self.state);
            let u = state.unlocked.as_ref().ok_or(VaultError::Locked)?;
            if let Some(f) = &u.fingerprint {
                if persist::unchanged(&self.path, f)? {
                    return Ok(state);
                }
            }
        }
        self.refresh(&mut lock_write(&self.state))?;
        Ok(lock_read(&self.state))
    }

    pub(crate) fn list(&self) -> Result<Vec<(String, String)>, VaultError> {
        let state = self.fresh_read()?;
        let u = state.unlocked.as_ref().ok_or(VaultError::Locked)?;
        Ok(u.records
            .name_iter()
            .map(|(service, user)| (service.to_string(), user.to_string()))
            .collect())
    }

    /// The names, borrowed (holds the read lock while it lives).
    pub(crate) fn names(&self) -> Result<V2Names<'_>, VaultError> {
        let state = self.fresh_read()?;
        if state.unlocked.is_none() {
            return Err(VaultError::Locked);
        }
        Ok(V2Names { state })
    }

    pub(crate) fn len(&self) -> Result<usize, VaultError> {
        let state = self.fresh_read()?;
        Ok(state
            .unlocked
            .as_ref()
            .ok_or(VaultError::Locked)?
            .records
            .len())
    }

    pub(crate) fn contains(&self, service: &str, user: &str) -> Result<bool, VaultError> {
        let state = self.fresh_read()?;
        let u = state.unlocked.as_ref().ok_or(VaultError::Locked)?;
        Ok(u.records.find(service, user).is_some())
    }

    /// One touch: the owner's entry output, a legacy entry's stored salt,
    /// or this key's recovery output (used for this entry only).
    pub(crate) fn get(
        &self,
        service: &str,
        user: &str,
        auth: &mut dyn Authenticator,
        prompt: &dyn Prompt,
    ) -> Result<Option<Password>, VaultError> {
        let (record, token, header, nonce, legacy_salt, sealed_all) = {
            let state = self.fresh_read()?;
            let u = state.unlocked.as_ref().ok_or(VaultError::Locked)?;
            let Some(r) = find(u, service, user) else {
                return Ok(None);
            };
            let sealed: Vec<(u8, [u8; SEALED_LEN])> = state
                .header
                .slots
                .iter()
                .filter_map(|s| r.sealed_for(&u.plain, s.id).map(|x| (s.id, x)))
                .collect();
            (
                *r,
                r.token(&u.plain).to_vec(),
                Arc::clone(&state.header),
                r.nonce(&u.plain),
                r.legacy_salt(&u.plain),
                sealed,
            )
        };
        let id = identify(auth, &header)?;
        let slot = header.slot(id).ok_or(VaultError::Internal)?;
        let name = layout::name_bytes(service, user);
        let purpose = format!(
            "decrypt the password for {} in {}",
            quote_name(user),
            quote_name(service)
        );
        let key = if record.owner == id && record.kind == layout::GRANT_OWNER {
            let salt = keys::entry_salt(&slot.entry_seed, &name);
            let out = derive(
                auth,
                slot,
                Salts::One(salt),
                slot.daily_uv(),
                &purpose,
                prompt,
            )?;
            keys::owner_entry_key(&nonce, &out.first)
        } else if record.owner == id && record.kind == layout::GRANT_LEGACY {
            let out = derive(
                auth,
                slot,
                Salts::One(legacy_salt),
                slot.daily_uv(),
                &purpose,
                prompt,
            )?;
            FernetKey::from_secret(&out.first)
        } else {
            let sealed = sealed_all
                .iter()
                .find(|(s, _)| *s == id)
                .map(|(_, x)| *x)
                .ok_or(VaultError::EntryDidNotDecrypt {
                    service: service.to_string(),
                    user: user.to_string(),
                })?;
            let purpose = format!("{purpose} with {}", quote_name(&slot.label));
            let out = derive(
                auth,
                slot,
                Salts::One(slot.recovery_salt),
                slot.recovery_uv(),
                &purpose,
                prompt,
            )?;
            let (sk, _vs) = from_recovery(&header, slot, &out.first)?;
            let ek = open_sealed(&header, slot, &sk, &sealed, &name).ok_or(
                VaultError::EntryDidNotDecrypt {
                    service: service.to_string(),
                    user: user.to_string(),
                },
            )?;
            keys::fernet(&ek)
        };
        decrypt_password(&key, &token, service, user).map(Some)
    }

    /// Several passwords with as few touches as the grants allow: one
    /// output per entry this key owns (or holds as a format-1 entry), one
    /// recovery output for all the entries sealed to it, paired two per
    /// getAssertion when their UV modes agree. Each touch's prompt names
    /// every entry it releases. `None` for absent entries (no touch for
    /// them); an entry with no grant for this key fails before any touch.
    pub(crate) fn get_many(
        &self,
        names: &[(&str, &str)],
        auth: &mut dyn Authenticator,
        prompt: &dyn Prompt,
    ) -> Result<Vec<Option<Password>>, VaultError> {
        struct Found {
            record: layout::Record,
            token: Vec<u8>,
            nonce: [u8; 16],
            legacy_salt: [u8; 32],
            sealed: Vec<(u8, [u8; SEALED_LEN])>,
        }
        let first = first_occurrences(names);
        let (header, found) = {
            let state = self.fresh_read()?;
            let u = state.unlocked.as_ref().ok_or(VaultError::Locked)?;
            let found: Vec<Option<Found>> = names
                .iter()
                .enumerate()
                .map(|(i, (service, user))| {
                    let r = find(u, service, user).filter(|_| first[i] == i)?;
                    Some(Found {
                        record: *r,
                        token: r.token(&u.plain).to_vec(),
                        nonce: r.nonce(&u.plain),
                        legacy_salt: r.legacy_salt(&u.plain),
                        sealed: state
                            .header
                            .slots
                            .iter()
                            .filter_map(|s| r.sealed_for(&u.plain, s.id).map(|x| (s.id, x)))
                            .collect(),
                    })
                })
                .collect();
            (Arc::clone(&state.header), found)
        };
        let wanted: Vec<usize> = (0..names.len()).filter(|&i| found[i].is_some()).collect();
        if wanted.is_empty() {
            return Ok(names.iter().map(|_| None).collect());
        }
        let id = identify(auth, &header)?;
        let slot = header.slot(id).ok_or(VaultError::Internal)?;

        /// One hmac-secret output the entries need: its salt, its UV mode,
        /// and the entries it releases (several for the recovery salt).
        struct Output {
            salt: [u8; 32],
            verified: bool,
            recovery: bool,
            entries: Vec<usize>,
        }
        let mut outputs: Vec<Output> = Vec::new();
        let mut recovery: Option<usize> = None;
        for &i in &wanted {
            let f = found[i].as_ref().ok_or(VaultError::Internal)?;
            let (service, user) = names[i];
            if f.record.owner == id && f.record.kind == layout::GRANT_OWNER {
                let salt = keys::entry_salt(&slot.entry_seed, &layout::name_bytes(service, user));
                outputs.push(Output {
                    salt,
                    verified: slot.daily_uv(),
                    recovery: false,
                    entries: vec![i],
                });
            } else if f.record.owner == id && f.record.kind == layout::GRANT_LEGACY {
                outputs.push(Output {
                    salt: f.legacy_salt,
                    verified: slot.daily_uv(),
                    recovery: false,
                    entries: vec![i],
                });
            } else if f.sealed.iter().any(|(s, _)| *s == id) {
                match recovery {
                    Some(at) => outputs[at].entries.push(i),
                    None => {
                        recovery = Some(outputs.len());
                        outputs.push(Output {
                            salt: slot.recovery_salt,
                            verified: slot.recovery_uv(),
                            recovery: true,
                            entries: vec![i],
                        });
                    }
                }
            } else {
                return Err(VaultError::EntryDidNotDecrypt {
                    service: service.to_string(),
                    user: user.to_string(),
                });
            }
        }

        let mut keys_of: Vec<Option<FernetKey>> = (0..names.len()).map(|_| None).collect();
        let mut pending: Vec<Output> = outputs;
        while !pending.is_empty() {
            let a = pending.remove(0);
            let partner = pending.iter().position(|b| b.verified == a.verified);
            let b = partner.map(|p| pending.remove(p));
            let released: Vec<(&str, &str)> = a
                .entries
                .iter()
                .chain(b.iter().flat_map(|b| b.entries.iter()))
                .map(|&i| names[i])
                .collect();
            let mut purpose = format!("decrypt {}", passwords_for(&released));
            if a.recovery || b.as_ref().is_some_and(|b| b.recovery) {
                purpose.push_str(&format!(" with {}", quote_name(&slot.label)));
            }
            let salts = match &b {
                Some(b) => Salts::Two(a.salt, b.salt),
                None => Salts::One(a.salt),
            };
            let out = derive(auth, slot, salts, a.verified, &purpose, prompt)?;
            let mut assign = |o: &Output, secret: &Secret32| -> Result<(), VaultError> {
                if o.recovery {
                    let (sk, _vs) = from_recovery(&header, slot, secret)?;
                    for &i in &o.entries {
                        let f = found[i].as_ref().ok_or(VaultError::Internal)?;
                        let (service, user) = names[i];
                        let sealed = f
                            .sealed
                            .iter()
                            .find(|(s, _)| *s == id)
                            .map(|(_, x)| *x)
                            .ok_or(VaultError::Internal)?;
                        let name = layout::name_bytes(service, user);
                        let ek = open_sealed(&header, slot, &sk, &sealed, &name).ok_or(
                            VaultError::EntryDidNotDecrypt {
                                service: service.to_string(),
                                user: user.to_string(),
                            },
                        )?;
                        keys_of[i] = Some(keys::fernet(&ek));
                    }
                } else {
                    for &i in &o.entries {
                        let f = found[i].as_ref().ok_or(VaultError::Internal)?;
                        keys_of[i] = Some(if f.record.kind == layout::GRANT_OWNER {
                            keys::owner_entry_key(&f.nonce, secret)
                        } else {
                            FernetKey::from_secret(secret)
                        });
                    }
                }
                Ok(())
            };
            assign(&a, &out.first)?;
            if let Some(b) = &b {
                assign(b, out.second.as_ref().ok_or(VaultError::Internal)?)?;
            }
        }

        let mut result: Vec<Option<Password>> = Vec::with_capacity(names.len());
        for (i, (service, user)) in names.iter().enumerate() {
            let password = if first[i] != i {
                result[first[i]]
                    .as_ref()
                    .map(|p: &Password| Password::new(p.expose_secret()))
            } else {
                match (&found[i], &keys_of[i]) {
                    (Some(f), Some(key)) => Some(decrypt_password(key, &f.token, service, user)?),
                    _ => None,
                }
            };
            result.push(password);
        }
        Ok(result)
    }

    /// One touch on the key at hand; the entry is sealed to every slot's
    /// recovery key (public keys: no other key needs to be present).
    pub(crate) fn set_many(
        &self,
        items: &[(&str, &str, &str)],
        auth: &mut dyn Authenticator,
        prompt: &dyn Prompt,
    ) -> Result<(), VaultError> {
        let header = {
            let state = lock_read(&self.state);
            if state.unlocked.is_none() {
                return Err(VaultError::Locked);
            }
            Arc::clone(&state.header)
        };
        let id = identify(auth, &header)?;
        let slot = header.slot(id).ok_or(VaultError::Internal)?.clone();
        let mut prepared = Vec::with_capacity(items.len());
        for (service, user, password) in items {
            check_name(service, user)?;
            let name = layout::name_bytes(service, user);
            let salt = keys::entry_salt(&slot.entry_seed, &name);
            let purpose = format!(
                "encrypt the new password for {} in {}",
                quote_name(user),
                quote_name(service)
            );
            let out = derive(
                auth,
                &slot,
                Salts::One(salt),
                slot.daily_uv(),
                &purpose,
                prompt,
            )?;
            let nonce: [u8; 16] = random()?;
            let ek = keys::owner_entry_key_bytes(&nonce, &out.first);
            let token =
                keys::fernet(&ek).encrypt_with(password.as_bytes(), random()?, fernet::unix_now());
            prepared.push((service.to_string(), user.to_string(), nonce, ek, token));
        }
        self.modify(|header, u| {
            if header.slot(id).map(|s| s.entry_seed) != Some(slot.entry_seed) {
                // Rekeyed meanwhile: the salts above are stale.
                return Err(VaultError::Replaced {
                    path: PathBuf::new(),
                });
            }
            // Later items win over earlier ones with the same name.
            let mut new_records: Vec<(&str, &str, Vec<u8>)> = Vec::new();
            for (service, user, nonce, ek, token) in &prepared {
                let name = layout::name_bytes(service, user);
                let sealed = seal_to_all(header, &name, ek)?;
                let mut rec = Vec::new();
                layout::write_record(
                    &mut rec,
                    service,
                    user,
                    Grant::Owner(id, nonce),
                    token,
                    &sealed,
                );
                new_records.retain(|(s, u, _)| (*s, *u) != (service.as_str(), user.as_str()));
                new_records.push((service, user, rec));
            }
            replace_many(header, u, &new_records)?;
            Ok(!new_records.is_empty())
        })
    }

    pub(crate) fn delete(&self, service: &str, user: &str) -> Result<bool, VaultError> {
        let mut removed = false;
        self.modify(|header, u| {
            if find(u, service, user).is_none() {
                return Ok(false);
            }
            replace_or_append(header, u, service, user, None)?;
            removed = true;
            Ok(true)
        })?;
        Ok(removed)
    }

    /// Lock, re-read, check rollback, change, save.
    fn modify(
        &self,
        change: impl FnOnce(&mut Header, &mut Unlocked) -> Result<bool, VaultError>,
    ) -> Result<(), VaultError> {
        let _in_process = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _lock = persist::lock(&self.path, self.lock_timeout)?;
        let mut state = lock_write(&self.state);
        self.refresh(&mut state)?;
        let seen_generation = self
            .seen
            .as_ref()
            .and_then(|s| s.seen(&state.header.vault_id));
        if let Some(seen) = seen_generation {
            if seen > state.header.generation && !state.accept_older {
                return Err(VaultError::RollbackDetected {
                    path: self.path.clone(),
                    found: state.header.generation,
                    seen,
                });
            }
        }
        let State {
            header, unlocked, ..
        } = &mut *state;
        let u = unlocked.as_mut().ok_or(VaultError::Locked)?;
        let mut new_header = Header::clone(header);
        let changed = change(&mut new_header, u).map_err(|e| match e {
            VaultError::Replaced { .. } => VaultError::Replaced {
                path: self.path.clone(),
            },
            e => e,
        });
        let changed = match changed {
            Ok(c) => c,
            Err(e) => {
                u.fingerprint = None;
                return Err(e);
            }
        };
        if !changed {
            return Ok(());
        }
        new_header.generation = new_header.generation.max(seen_generation.unwrap_or(0)) + 1;
        let result =
            encode_file(&mut new_header, u).and_then(|bytes| save(&self.path, &bytes, false));
        match result {
            Ok(fingerprint) => {
                u.fingerprint = fingerprint;
                *header = Arc::new(new_header);
                state.warnings.clear();
                if let Some(seen) = &self.seen {
                    seen.record(&state.header.vault_id, state.header.generation, &self.path)?;
                }
                Ok(())
            }
            Err(e) => {
                u.fingerprint = None;
                Err(e)
            }
        }
    }

    /// Removes a key (never the last). Entries it owned keep their keys,
    /// sealed to the others. No touch: the vault is open.
    pub(crate) fn remove_key(&self, id: u8) -> Result<(), VaultError> {
        self.modify(|header, u| {
            if header.slot(id).is_none() {
                return Err(VaultError::NoSuchKey(id.to_string()));
            }
            if header.slots.len() == 1 {
                return Err(VaultError::LastKey);
            }
            let old = std::mem::take(&mut u.plain);
            let records = std::mem::take(&mut u.records);
            header.slots.retain(|s| s.id != id);
            let (plain, recs) = rebuild(header, |out| {
                for (i, r) in records.as_slice().iter().enumerate() {
                    let (service, user) = records.names(i);
                    let sealed: Vec<(u8, [u8; SEALED_LEN])> = header
                        .slots
                        .iter()
                        .filter_map(|s| r.sealed_for(&old, s.id).map(|x| (s.id, x)))
                        .collect();
                    let nonce = r.nonce(&old);
                    let salt = r.legacy_salt(&old);
                    let grant = match r.kind {
                        _ if r.owner == id => Grant::None,
                        layout::GRANT_OWNER => Grant::Owner(r.owner, &nonce),
                        layout::GRANT_LEGACY => Grant::Legacy(r.owner, &salt),
                        _ => Grant::None,
                    };
                    if matches!(grant, Grant::None) && sealed.len() != header.slots.len() {
                        // Only the removed key could open this entry.
                        return Err(VaultError::Internal);
                    }
                    layout::write_record(out, service, user, grant, r.token(&old), &sealed);
                }
                Ok(())
            })?;
            u.plain = plain;
            u.records = recs;
            Ok(true)
        })
    }
}

/// Replaces entries in place or appends them (in the given order), in one pass.
fn replace_many(
    header: &Header,
    u: &mut Unlocked,
    new_records: &[(&str, &str, Vec<u8>)],
) -> Result<(), VaultError> {
    let old = std::mem::take(&mut u.plain);
    let records = std::mem::take(&mut u.records);
    // Which new record replaces which old one (the names are unique on
    // both sides): sorted by old position, the rest appended.
    let mut replacing: Vec<(usize, usize)> = Vec::new();
    let mut appended: Vec<usize> = Vec::new();
    for (i, (service, user, _)) in new_records.iter().enumerate() {
        match records.find(service, user) {
            Some(at) => replacing.push((at, i)),
            None => appended.push(i),
        }
    }
    replacing.sort_unstable();
    let (plain, recs) = rebuild(header, |out| {
        out.reserve(old.len() + new_records.iter().map(|r| r.2.len()).sum::<usize>());
        let mut next = replacing.iter().peekable();
        for (at, r) in records.as_slice().iter().enumerate() {
            match next.next_if(|(o, _)| *o == at) {
                Some((_, i)) => out.extend_from_slice(&new_records[*i].2),
                None => out.extend_from_slice(r.bytes(&old)),
            }
        }
        for i in &appended {
            out.extend_from_slice(&new_records[*i].2);
        }
        Ok(())
    })?;
    u.plain = plain;
    u.records = recs;
    Ok(())
}

/// The names of an open format-2 vault, borrowed (validated when it was
/// opened: handed out as they are).
pub(crate) struct V2Names<'a> {
    state: std::sync::RwLockReadGuard<'a, State>,
}

impl V2Names<'_> {
    pub(crate) fn iter(&self) -> V2NameIter<'_> {
        match self.state.unlocked.as_ref() {
            Some(u) => u.records.name_iter(),
            None => layout::NameIter::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.state.unlocked.as_ref().map_or(0, |u| u.records.len())
    }
}

pub(crate) type V2NameIter<'a> = layout::NameIter<'a>;

/// The record named (`service`, `user`): by hash, then by name.
fn find<'a>(u: &'a Unlocked, service: &str, user: &str) -> Option<&'a layout::Record> {
    u.records
        .find(service, user)
        .and_then(|i| u.records.as_slice().get(i))
}

/// Replaces (in place) or appends (`rec`), or removes (`None`), the entry.
fn replace_or_append(
    header: &Header,
    u: &mut Unlocked,
    service: &str,
    user: &str,
    rec: Option<&[u8]>,
) -> Result<(), VaultError> {
    let old = std::mem::take(&mut u.plain);
    let records = std::mem::take(&mut u.records);
    let found = records.find(service, user);
    let (plain, recs) = rebuild(header, |out| {
        out.reserve(old.len() + rec.map_or(0, <[u8]>::len));
        for (at, r) in records.as_slice().iter().enumerate() {
            if Some(at) == found {
                if let Some(rec) = rec {
                    out.extend_from_slice(rec);
                }
            } else {
                out.extend_from_slice(r.bytes(&old));
            }
        }
        if found.is_none() {
            if let Some(rec) = rec {
                out.extend_from_slice(rec);
            }
        }
        Ok(())
    })?;
    u.plain = plain;
    u.records = recs;
    Ok(())
}

/// Every entry key of the vault, through one slot's recovery key (plus
/// one output per format-1 entry this slot owns that is not sealed to it).
pub(crate) struct Opened {
    pub header: Header,
    unlocked: Unlocked,
    pub keys: Vec<Key32>,
}

/// Takes the lock's file as it is, opens it with `auth`'s recovery key
/// (one touch, with the PIN where the slot's recovery verifies the user)
/// and reaches every entry key.
pub(crate) fn open_all(
    path: &Path,
    auth: &mut dyn Authenticator,
    purpose: &str,
    prompt: &dyn Prompt,
) -> Result<(u8, Opened), VaultError> {
    let (bytes, fingerprint) = persist::read_bytes(path)?;
    let bytes = Arc::new(bytes);
    let header = layout::parse_file(&bytes)
        .map_err(|r| corrupt(path, r))?
        .header;
    let id = identify(auth, &header)?;
    let slot = header.slot(id).ok_or(VaultError::Internal)?.clone();
    let out = derive(
        auth,
        &slot,
        Salts::One(slot.recovery_salt),
        slot.recovery_uv(),
        purpose,
        prompt,
    )?;
    let (sk, vs) = from_recovery(&header, &slot, &out.first)?;
    let (header, unlocked) = open_envelope(path, &bytes, vs, fingerprint)?;
    let mut found: Vec<Option<Key32>> = Vec::with_capacity(unlocked.records.len());
    let mut legacy = Vec::new();
    for (i, r) in unlocked.records.as_slice().iter().enumerate() {
        let (service, user) = unlocked.records.names(i);
        let name = layout::name_bytes(service, user);
        match r.sealed_for(&unlocked.plain, id) {
            Some(sealed) => found.push(Some(
                open_sealed(&header, &slot, &sk, &sealed, &name)
                    .ok_or_else(|| did_not_decrypt(path))?,
            )),
            None => {
                legacy.push((i, r.legacy_salt(&unlocked.plain)));
                found.push(None);
            }
        }
    }
    // Format-1 entries of this slot not yet sealed to it: two per touch.
    for pair in legacy.chunks(2) {
        let salts = match pair {
            [(_, a), (_, b)] => Salts::Two(*a, *b),
            [(_, a)] => Salts::One(*a),
            _ => continue,
        };
        let out = derive(
            auth,
            &slot,
            salts,
            slot.daily_uv(),
            "read the format-1 entries of this key",
            prompt,
        )?;
        found[pair[0].0] = Some(Zeroizing::new(*out.first.expose_secret()));
        if let (Some(second), Some((i, _))) = (out.second, pair.get(1)) {
            found[*i] = Some(Zeroizing::new(*second.expose_secret()));
        }
    }
    let keys = found
        .into_iter()
        .map(|k| k.ok_or(VaultError::Internal))
        .collect::<Result<Vec<_>, _>>()?;
    // Every key must open its token: checked before anything is written.
    for (i, (r, k)) in unlocked.records.as_slice().iter().zip(&keys).enumerate() {
        keys::fernet(k)
            .verify(r.token(&unlocked.plain))
            .map_err(|_| {
                let (service, user) = unlocked.records.names(i);
                VaultError::EntryDidNotDecrypt {
                    service: service.to_string(),
                    user: user.to_string(),
                }
            })?;
    }
    Ok((
        id,
        Opened {
            header,
            unlocked,
            keys,
        },
    ))
}

/// Adds a key: the new key first (makeCredential, with `hmac-secret-mc`
/// one touch, else two), then one touch (and the PIN) on an enrolled key
/// gives every entry key, and everything is sealed to the new key too.
#[allow(clippy::too_many_arguments)]
pub(crate) fn add_key(
    path: &Path,
    new: &mut dyn Authenticator,
    enrolled: &mut dyn Authenticator,
    options: &KeyOptions,
    seen: Option<&SeenStore>,
    accept_older: bool,
    prompt: &dyn Prompt,
) -> Result<KeySlot, VaultError> {
    let (bytes, _) = persist::read_bytes(path)?;
    let header = layout::parse_file(&bytes)
        .map_err(|r| corrupt(path, r))?
        .header;
    drop(bytes);
    for s in &header.slots {
        if new.probe(&CredentialId(s.credential_id.clone()), &s.rp_id)? {
            return Err(VaultError::AlreadyEnrolled(s.label.clone()));
        }
    }
    let info = new.describe()?;
    let taken: Vec<&str> = header.slots.iter().map(|s| s.label.as_str()).collect();
    let label = choose_label(options.label.as_deref(), &info.name, &taken)?;
    let rp_id = header.slots[0].rp_id.clone();
    let id = header.next_slot_id;
    if id == u8::MAX || header.slots.len() >= layout::MAX_SLOTS {
        return Err(VaultError::BadLabel(label));
    }
    let mut slot = enroll(
        new,
        &rp_id,
        &UserEntity::default(),
        &header.vault_id,
        id,
        label,
        options,
        false,
        prompt,
    )?;
    let _lock = persist::lock(path, persist::DEFAULT_LOCK_TIMEOUT)?;
    let (_, mut opened) = open_all(
        path,
        enrolled,
        "open every entry to add the new key (your recovery key)",
        prompt,
    )?;
    if opened.header.vault_id != header.vault_id || opened.header.next_slot_id != id {
        return Err(VaultError::Replaced {
            path: path.to_path_buf(),
        });
    }
    check_seen(path, &opened.header, seen, accept_older)?;
    seal_vs(&mut slot, &opened.header.vault_id, &opened.unlocked.vs)?;
    let result = key_slot(&slot);
    let mut new_header = opened.header.clone();
    new_header.slots.push(slot);
    new_header.next_slot_id = id + 1;
    let old = std::mem::take(&mut opened.unlocked.plain);
    let (plain, records) = rebuild(&new_header, |out| {
        let records = &opened.unlocked.records;
        for (i, (r, ek)) in records.as_slice().iter().zip(&opened.keys).enumerate() {
            let (service, user) = records.names(i);
            let name = layout::name_bytes(service, user);
            let sealed = seal_to_all(&new_header, &name, ek)?;
            let nonce = r.nonce(&old);
            let salt = r.legacy_salt(&old);
            let grant = match r.kind {
                layout::GRANT_OWNER => Grant::Owner(r.owner, &nonce),
                layout::GRANT_LEGACY => Grant::Legacy(r.owner, &salt),
                _ => Grant::None,
            };
            layout::write_record(out, service, user, grant, r.token(&old), &sealed);
        }
        Ok(())
    })?;
    opened.unlocked.plain = plain;
    opened.unlocked.records = records;
    write_changed(path, &mut new_header, &mut opened.unlocked, seen)?;
    Ok(result)
}

fn check_seen(
    path: &Path,
    header: &Header,
    seen: Option<&SeenStore>,
    accept_older: bool,
) -> Result<u64, VaultError> {
    let s = seen.and_then(|s| s.seen(&header.vault_id)).unwrap_or(0);
    if s > header.generation && !accept_older {
        return Err(VaultError::RollbackDetected {
            path: path.to_path_buf(),
            found: header.generation,
            seen: s,
        });
    }
    Ok(s)
}

fn write_changed(
    path: &Path,
    header: &mut Header,
    u: &mut Unlocked,
    seen: Option<&SeenStore>,
) -> Result<(), VaultError> {
    let s = seen.and_then(|s| s.seen(&header.vault_id)).unwrap_or(0);
    header.generation = header.generation.max(s) + 1;
    let bytes = Arc::new(encode_file(header, u)?);
    // Verify what is about to replace the file: it parses and opens.
    open_envelope(path, &bytes, Zeroizing::new(*u.vs), None)?;
    save(path, &bytes, false)?;
    if let Some(seen) = seen {
        seen.record(&header.vault_id, header.generation, path)?;
    }
    Ok(())
}

/// Fresh keys for every entry and a new vault secret, without the removed
/// slots; every slot's entry seed is new. One touch (and the PIN) on any
/// remaining key. A removed (lost) key, or an old copy of its state, opens
/// nothing of the result.
#[allow(clippy::too_many_arguments)]
pub(crate) fn rekey(
    path: &Path,
    auth: &mut dyn Authenticator,
    remove: &[u8],
    seen: Option<&SeenStore>,
    accept_older: bool,
    prompt: &dyn Prompt,
) -> Result<usize, VaultError> {
    let _lock = persist::lock(path, persist::DEFAULT_LOCK_TIMEOUT)?;
    let (id, mut opened) = open_all(
        path,
        auth,
        "open every entry to rekey the vault (your recovery key)",
        prompt,
    )?;
    check_seen(path, &opened.header, seen, accept_older)?;
    for r in remove {
        if opened.header.slot(*r).is_none() {
            return Err(VaultError::NoSuchKey(r.to_string()));
        }
    }
    let _ = id;
    let mut header = opened.header.clone();
    header.slots.retain(|s| !remove.contains(&s.id));
    if header.slots.is_empty() {
        return Err(VaultError::LastKey);
    }
    let vs = Zeroizing::new(random::<32>()?);
    for slot in &mut header.slots {
        slot.entry_seed = random()?;
        seal_vs(slot, &header.vault_id, &vs)?;
    }
    let old = std::mem::take(&mut opened.unlocked.plain);
    let count = opened.unlocked.records.len();
    let (plain, records) = rebuild(&header, |out| {
        let records = &opened.unlocked.records;
        for (i, (r, ek)) in records.as_slice().iter().zip(&opened.keys).enumerate() {
            let (service, user) = records.names(i);
            let password = keys::fernet(ek).decrypt(r.token(&old)).map_err(|_| {
                VaultError::EntryDidNotDecrypt {
                    service: service.to_string(),
                    user: user.to_string(),
                }
            })?;
            let new_ek = Zeroizing::new(random::<32>()?);
            let token =
                keys::fernet(&new_ek).encrypt_with(&password, random()?, fernet::unix_now());
            let name = layout::name_bytes(service, user);
            let sealed = seal_to_all(&header, &name, &new_ek)?;
            layout::write_record(out, service, user, Grant::None, &token, &sealed);
        }
        Ok(())
    })?;
    let mut unlocked = Unlocked {
        hk: keys::header_key(&header.vault_id, &vs),
        fk: keys::envelope_key(&header.vault_id, &vs),
        vs,
        plain,
        records,
        fingerprint: None,
    };
    write_changed(path, &mut header, &mut unlocked, seen)?;
    Ok(count)
}

/// Converts a format-1 vault (already read and unlocked by the caller)
/// into format 2 with the same credential as its one slot. Entries become
/// legacy grants: their format-1 salts and token bytes are kept exactly.
#[allow(clippy::too_many_arguments)]
pub(crate) fn from_format1(
    path: &Path,
    auth: &mut dyn Authenticator,
    credential: &VaultCredential,
    daily_uv: bool,
    entries: &[(String, String, [u8; 32], Vec<u8>)],
    options: &KeyOptions,
    seen: Option<&SeenStore>,
    prompt: &dyn Prompt,
) -> Result<(), VaultError> {
    let info = auth.describe()?;
    let recovery_uv = daily_uv || info.can_verify_user();
    let vault_id: [u8; 16] = random()?;
    let label = choose_label(options.label.as_deref(), &info.name, &[])?;
    let mut slot = Slot {
        id: 1,
        policy: (if daily_uv { layout::POLICY_DAILY_UV } else { 0 })
            | (if recovery_uv {
                layout::POLICY_RECOVERY_UV
            } else {
                0
            }),
        cred_protect: 0,
        transport: transport_byte(info.transport),
        aaguid: info.aaguid,
        enrolled_at: fernet::unix_now(),
        owned: 0,
        legacy: 0,
        rp_id: credential.rp_id.clone(),
        credential_id: credential.id.0.clone(),
        label,
        unlock_salt: random()?,
        recovery_salt: random()?,
        entry_seed: random()?,
        unlock_pk: [0; 32],
        recovery_pk: [0; 32],
        vs_unlock: [0; SEALED_LEN],
        vs_recovery: [0; SEALED_LEN],
    };
    let purpose = "derive the format-2 keys of this authenticator";
    let (unlock, recovery) = if daily_uv == recovery_uv {
        let out = derive(
            auth,
            &slot,
            Salts::Two(slot.unlock_salt, slot.recovery_salt),
            daily_uv,
            purpose,
            prompt,
        )?;
        (out.first, out.second.ok_or(VaultError::Internal)?)
    } else {
        let a = derive(
            auth,
            &slot,
            Salts::One(slot.unlock_salt),
            daily_uv,
            purpose,
            prompt,
        )?;
        let b = derive(
            auth,
            &slot,
            Salts::One(slot.recovery_salt),
            recovery_uv,
            purpose,
            prompt,
        )?;
        (a.first, b.first)
    };
    let k = slot_keys(&vault_id, 1, &unlock, &recovery);
    slot.unlock_pk = k.unlock_pk;
    slot.recovery_pk = k.recovery_pk;
    let vs = Zeroizing::new(random::<32>()?);
    seal_vs(&mut slot, &vault_id, &vs)?;
    let mut header = Header {
        vault_id,
        generation: 1,
        entry_count: 0,
        next_slot_id: 2,
        slots: vec![slot],
    };
    for (service, user, _, _) in entries {
        check_name(service, user)?;
    }
    let (plain, records) = rebuild(&header, |out| {
        for (service, user, salt, token) in entries {
            layout::write_record(out, service, user, Grant::Legacy(1, salt), token, &[]);
        }
        Ok(())
    })?;
    let mut unlocked = Unlocked {
        hk: keys::header_key(&vault_id, &vs),
        fk: keys::envelope_key(&vault_id, &vs),
        vs,
        plain,
        records,
        fingerprint: None,
    };
    header.generation = 0;
    write_changed(path, &mut header, &mut unlocked, seen)
}

/// What a format-1 file needs from a format-2 vault with one slot: each
/// entry's name, its format-1 salt and token (copied for legacy entries,
/// new for the others), and the format-1 vault salt and key. Needs one
/// touch for the recovery key and one output per non-legacy entry and for
/// the vault salt (two per touch), in the slot's daily mode.
pub(crate) struct Format1Parts {
    pub credential: VaultCredential,
    pub vault_salt: [u8; 32],
    pub vault_key: Secret32,
    pub entries: Vec<(String, String, [u8; 32], Vec<u8>)>,
}

pub(crate) fn to_format1(
    path: &Path,
    auth: &mut dyn Authenticator,
    prompt: &dyn Prompt,
) -> Result<Format1Parts, VaultError> {
    let (bytes, _) = persist::read_bytes(path)?;
    let header = layout::parse_file(&bytes)
        .map_err(|r| corrupt(path, r))?
        .header;
    if header.slots.len() != 1 {
        return Err(VaultError::NeedsExactlyOneKey(header.slots.len()));
    }
    let (_, opened) = open_all(
        path,
        auth,
        "open every entry to convert the vault to format 1",
        prompt,
    )?;
    let slot = opened.header.slots[0].clone();
    let u = &opened.unlocked;
    let vault_salt: [u8; 32] = random()?;
    // Outputs needed: the vault salt, then one per entry that is not legacy.
    let mut salts: Vec<(Option<usize>, [u8; 32])> = vec![(None, vault_salt)];
    let mut entries = Vec::with_capacity(u.records.len());
    for (i, r) in u.records.as_slice().iter().enumerate() {
        let (salt, token) = if r.kind == layout::GRANT_LEGACY {
            (r.legacy_salt(&u.plain), r.token(&u.plain).to_vec())
        } else {
            let s: [u8; 32] = random()?;
            salts.push((Some(i), s));
            (s, Vec::new())
        };
        let (service, user) = u.records.names(i);
        entries.push((service.to_string(), user.to_string(), salt, token));
    }
    let mut vault_key = None;
    for pair in salts.chunks(2) {
        let s = match pair {
            [(_, a), (_, b)] => Salts::Two(*a, *b),
            [(_, a)] => Salts::One(*a),
            _ => continue,
        };
        let out = derive(
            auth,
            &slot,
            s,
            slot.daily_uv(),
            "derive the format-1 keys",
            prompt,
        )?;
        let outs = [Some(out.first), out.second];
        for ((which, _), output) in pair.iter().zip(outs) {
            let output = output.ok_or(VaultError::Internal)?;
            match which {
                None => vault_key = Some(output),
                Some(i) => {
                    let r = &u.records.as_slice()[*i];
                    let password = keys::fernet(&opened.keys[*i])
                        .decrypt(r.token(&u.plain))
                        .map_err(|_| did_not_decrypt(path))?;
                    entries[*i].3 = FernetKey::from_secret(&output).encrypt_with(
                        &password,
                        random()?,
                        fernet::unix_now(),
                    );
                }
            }
        }
    }
    Ok(Format1Parts {
        credential: key_slot(&slot).credential,
        vault_salt,
        vault_key: vault_key.ok_or(VaultError::Internal)?,
        entries,
    })
}

/// The slots of a format-2 file (unauthenticated: for discovery and
/// `key list` before any touch).
pub(crate) fn slots_of(path: &Path) -> Result<Vec<KeySlot>, VaultError> {
    let (bytes, _) = persist::read_bytes(path)?;
    let header = layout::parse_file(&bytes)
        .map_err(|r| corrupt(path, r))?
        .header;
    Ok(header.slots.iter().map(key_slot).collect())
}
