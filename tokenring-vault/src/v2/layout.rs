//! The format-2 file, byte for byte (see `docs/vault-format-2.md`, §4):
//! a fixed preamble, the header body with its key slots and the header
//! MAC, then the envelope (a raw Fernet token) to the end of the file.
//! The envelope's plaintext is the header MAC, the entry count and the
//! entry records.
//!
//! Every integer is unsigned big-endian; every length is checked before
//! it is used; nothing is optional, nothing unknown is tolerated, and a
//! violation is a [`FormatError`], never a panic.

use crate::error::FormatError;
use crate::fernet;

/// The first 8 bytes of every format-2 file (PNG-style: a non-ASCII byte,
/// then CR LF and ^Z so that text-mode damage shows).
pub const MAGIC: [u8; 8] = [0x89, b'T', b'R', b'V', b'\r', b'\n', 0x1a, b'\n'];
/// The format byte.
pub const FORMAT: u8 = 0x02;
/// Suite 1: hmac-secret, HKDF-SHA-256, Fernet, HPKE base mode with
/// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and ChaCha20Poly1305.
pub const SUITE: u8 = 0x01;
/// Bytes before the header body: magic, format, suite, flags, header_len.
pub const PREAMBLE_LEN: usize = 16;
/// Slot kind 1: a FIDO2 credential with hmac-secret.
pub const KIND_FIDO2: u8 = 0x01;
/// Policy bit 0: the slot's unlock and entry derivations verify the user.
pub const POLICY_DAILY_UV: u8 = 0x01;
/// Policy bit 1: the slot's recovery derivation verifies the user.
pub const POLICY_RECOVERY_UV: u8 = 0x02;
/// At most this many slots.
pub const MAX_SLOTS: usize = 16;
/// The longest label (bytes).
pub const MAX_LABEL: usize = 64;
/// The longest credential id (CTAP allows 1023).
pub const MAX_CREDENTIAL_ID: usize = 1023;
/// The longest inner token: a 16 MiB password, padded, with Fernet's framing.
pub const MAX_TOKEN: usize = 16 << 20;
/// An HPKE seal of a 32-byte key: encapsulated key (32) ‖ ciphertext and tag (48).
pub const SEALED_LEN: usize = 80;
/// A sealed grant in an entry record: slot id ‖ seal.
pub const GRANT_LEN: usize = 1 + SEALED_LEN;
/// The envelope plaintext's prefix: header MAC and entry count.
pub const ENVELOPE_PREFIX: usize = 32 + 4;

/// Owner grant kinds in an entry record.
pub const GRANT_NONE: u8 = 0;
/// The owner's hmac-secret output for the name-derived salt, through HKDF with a nonce.
pub const GRANT_OWNER: u8 = 1;
/// A format-1 entry: the owner's output for a stored salt, used raw.
pub const GRANT_LEGACY: u8 = 2;

/// One key slot: a credential on one authenticator, its recorded policy,
/// its public keys and the vault secret sealed to them. Nothing in it is secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// 1 ..= 255, unique, never reused in one vault.
    pub id: u8,
    /// Policy bits ([`POLICY_DAILY_UV`], [`POLICY_RECOVERY_UV`]).
    pub policy: u8,
    /// 0 (not requested), 1, 2 or 3 (CTAP 2.1 §12.1).
    pub cred_protect: u8,
    /// 0 unknown, 1 USB, 2 NFC, 3 simulator.
    pub transport: u8,
    /// From the credential's attested data at enrollment.
    pub aaguid: [u8; 16],
    /// Unix seconds.
    pub enrolled_at: u64,
    /// Entries whose owner grant (kind 1 or 2) is this slot.
    pub owned: u32,
    /// Of those, format-1 (legacy) grants.
    pub legacy: u32,
    /// The credential's RP ID.
    pub rp_id: String,
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The user's name for this key.
    pub label: String,
    /// Salt of the unlock key pair.
    pub unlock_salt: [u8; 32],
    /// Salt of the recovery key pair.
    pub recovery_salt: [u8; 32],
    /// Seed of the name-derived entry salts.
    pub entry_seed: [u8; 32],
    /// X25519 public key the vault secret is sealed to for unlocking.
    pub unlock_pk: [u8; 32],
    /// X25519 public key entry keys (and the vault secret) are sealed to.
    pub recovery_pk: [u8; 32],
    /// The vault secret sealed to `unlock_pk`.
    pub vs_unlock: [u8; SEALED_LEN],
    /// The vault secret sealed to `recovery_pk`.
    pub vs_recovery: [u8; SEALED_LEN],
}

impl Slot {
    /// Unlock and entry derivations verify the user.
    pub fn daily_uv(&self) -> bool {
        self.policy & POLICY_DAILY_UV != 0
    }

    /// The recovery derivation verifies the user.
    pub fn recovery_uv(&self) -> bool {
        self.policy & POLICY_RECOVERY_UV != 0
    }

    fn encoded_len(&self) -> usize {
        41 + self.rp_id.len()
            + self.credential_id.len()
            + self.label.len()
            + 5 * 32
            + 2 * SEALED_LEN
    }
}

/// The header: everything before the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Fixed for the vault's life.
    pub vault_id: [u8; 16],
    /// +1 on every save.
    pub generation: u64,
    /// Entries in the envelope.
    pub entry_count: u32,
    /// Greater than every slot id.
    pub next_slot_id: u8,
    /// In increasing id order.
    pub slots: Vec<Slot>,
}

impl Header {
    /// The slot with this id.
    pub fn slot(&self, id: u8) -> Option<&Slot> {
        self.slots.iter().find(|s| s.id == id)
    }
}

/// A parsed file: the header, where its MAC is, and the envelope.
pub struct ParsedFile<'a> {
    /// The header (not yet authenticated).
    pub header: Header,
    /// The bytes the header MAC covers (`file[..mac_offset]`).
    pub signed: &'a [u8],
    /// The header MAC as stored.
    pub mac: [u8; 32],
    /// The envelope token.
    pub envelope: &'a [u8],
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let end = self.at.checked_add(n).ok_or(FormatError::Truncated)?;
        let out = self.bytes.get(self.at..end).ok_or(FormatError::Truncated)?;
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, FormatError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, FormatError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, FormatError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn text(&mut self, len: usize, field: &'static str) -> Result<&'a str, FormatError> {
        std::str::from_utf8(self.take(len)?).map_err(|_| FormatError::BadUtf8 { field })
    }
}

fn invalid(field: &'static str) -> FormatError {
    FormatError::Invalid { field }
}

/// Whether `bytes` start like a format-2 file (the magic).
pub fn is_format2(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// The header's length from the preamble (checked), for a bounded read.
pub fn header_end(preamble: &[u8]) -> Result<usize, FormatError> {
    if preamble.len() < PREAMBLE_LEN {
        return Err(FormatError::Truncated);
    }
    check_preamble(preamble)?;
    let len = u32::from_be_bytes([preamble[12], preamble[13], preamble[14], preamble[15]]);
    PREAMBLE_LEN
        .checked_add(len as usize)
        .ok_or(FormatError::Truncated)
}

fn check_preamble(bytes: &[u8]) -> Result<(), FormatError> {
    if !bytes.starts_with(&MAGIC) {
        return Err(FormatError::UnknownFormat);
    }
    if bytes[8] != FORMAT {
        return Err(FormatError::UnsupportedVersion(bytes[8]));
    }
    if bytes[9] != SUITE {
        return Err(FormatError::UnsupportedSuite(bytes[9]));
    }
    if bytes[10] != 0 || bytes[11] != 0 {
        return Err(FormatError::UnsupportedFeature);
    }
    Ok(())
}

fn label_ok(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= MAX_LABEL
        && !label.chars().any(|c| {
            c.is_control()
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
}

/// Whether `label` may name a key (1 to 64 bytes, no control or bidi
/// characters).
pub fn valid_label(label: &str) -> bool {
    label_ok(label)
}

fn parse_slot(r: &mut Reader<'_>) -> Result<Slot, FormatError> {
    let id = r.u8()?;
    if id == 0 {
        return Err(invalid("slot id"));
    }
    let kind = r.u8()?;
    if kind != KIND_FIDO2 {
        return Err(FormatError::UnknownSlotKind(kind));
    }
    let policy = r.u8()?;
    if policy & !(POLICY_DAILY_UV | POLICY_RECOVERY_UV) != 0
        || (policy & POLICY_DAILY_UV != 0 && policy & POLICY_RECOVERY_UV == 0)
    {
        return Err(invalid("slot policy"));
    }
    let cred_protect = r.u8()?;
    if cred_protect > 3 || (cred_protect == 3 && policy & POLICY_DAILY_UV == 0) {
        return Err(invalid("slot credProtect"));
    }
    let transport = r.u8()?;
    if transport > 3 {
        return Err(invalid("slot transport"));
    }
    let aaguid = r.array::<16>()?;
    let enrolled_at = r.u64()?;
    let owned = r.u32()?;
    let legacy = r.u32()?;
    if legacy > owned {
        return Err(invalid("slot legacy count"));
    }
    let rp_id_len = r.u8()? as usize;
    if rp_id_len == 0 {
        return Err(invalid("RP ID"));
    }
    let rp_id = r.text(rp_id_len, "RP ID")?.to_string();
    let cred_len = r.u16()? as usize;
    if cred_len == 0 || cred_len > MAX_CREDENTIAL_ID {
        return Err(invalid("credential id"));
    }
    let credential_id = r.take(cred_len)?.to_vec();
    let label_len = r.u8()? as usize;
    let label = r.text(label_len, "label")?.to_string();
    if !label_ok(&label) {
        return Err(invalid("label"));
    }
    Ok(Slot {
        id,
        policy,
        cred_protect,
        transport,
        aaguid,
        enrolled_at,
        owned,
        legacy,
        rp_id,
        credential_id,
        label,
        unlock_salt: r.array()?,
        recovery_salt: r.array()?,
        entry_seed: r.array()?,
        unlock_pk: r.array()?,
        recovery_pk: r.array()?,
        vs_unlock: r.array()?,
        vs_recovery: r.array()?,
    })
}

/// Parses a whole format-2 file (strict): the header and where the
/// envelope is. Nothing is authenticated yet.
pub fn parse_file(bytes: &[u8]) -> Result<ParsedFile<'_>, FormatError> {
    let end = header_end(bytes)?;
    if bytes.len() < end {
        return Err(FormatError::Truncated);
    }
    let mut r = Reader {
        bytes,
        at: PREAMBLE_LEN,
    };
    let vault_id = r.array::<16>()?;
    let generation = r.u64()?;
    if generation == 0 {
        return Err(invalid("generation"));
    }
    let entry_count = r.u32()?;
    let slot_count = r.u8()? as usize;
    if slot_count == 0 || slot_count > MAX_SLOTS {
        return Err(invalid("slot count"));
    }
    let next_slot_id = r.u8()?;
    let mut slots: Vec<Slot> = Vec::with_capacity(slot_count);
    for _ in 0..slot_count {
        if r.at >= end {
            return Err(FormatError::Truncated);
        }
        let slot = parse_slot(&mut r)?;
        if let Some(last) = slots.last() {
            if slot.id <= last.id {
                return Err(FormatError::DuplicateSlot);
            }
        }
        if slots.iter().any(|s| s.label == slot.label) {
            return Err(FormatError::DuplicateSlot);
        }
        if slot.id >= next_slot_id {
            return Err(invalid("next slot id"));
        }
        slots.push(slot);
    }
    let owned: u64 = slots.iter().map(|s| u64::from(s.owned)).sum();
    if owned > u64::from(entry_count) {
        return Err(invalid("slot owned counts"));
    }
    let mac_offset = r.at;
    if mac_offset + 32 != end {
        return Err(FormatError::BadLength {
            field: "header",
            expected: mac_offset + 32 - PREAMBLE_LEN,
            actual: end - PREAMBLE_LEN,
        });
    }
    let mac = r.array::<32>()?;
    let envelope = &bytes[end..];
    check_token_shape(envelope, usize::MAX).map_err(|_| invalid("envelope"))?;
    Ok(ParsedFile {
        header: Header {
            vault_id,
            generation,
            entry_count,
            next_slot_id,
            slots,
        },
        signed: &bytes[..mac_offset],
        mac,
        envelope,
    })
}

/// A Fernet token's shape: version, length ≥ 73, whole blocks.
fn check_token_shape(token: &[u8], max: usize) -> Result<(), ()> {
    let len = token.len();
    let min = fernet::HEADER_LEN + 16 + fernet::TAG_LEN;
    if len < min || len > max || !(len - fernet::HEADER_LEN - fernet::TAG_LEN).is_multiple_of(16) {
        return Err(());
    }
    if token[0] != fernet::VERSION {
        return Err(());
    }
    Ok(())
}

/// Writes the preamble and header up to (not including) the header MAC;
/// the caller appends the MAC of these bytes.
pub fn write_header(header: &Header, out: &mut Vec<u8>) {
    let body_len: usize =
        16 + 8 + 4 + 1 + 1 + header.slots.iter().map(Slot::encoded_len).sum::<usize>() + 32;
    out.extend_from_slice(&MAGIC);
    out.push(FORMAT);
    out.push(SUITE);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(body_len as u32).to_be_bytes());
    out.extend_from_slice(&header.vault_id);
    out.extend_from_slice(&header.generation.to_be_bytes());
    out.extend_from_slice(&header.entry_count.to_be_bytes());
    out.push(header.slots.len() as u8);
    out.push(header.next_slot_id);
    for s in &header.slots {
        out.push(s.id);
        out.push(KIND_FIDO2);
        out.push(s.policy);
        out.push(s.cred_protect);
        out.push(s.transport);
        out.extend_from_slice(&s.aaguid);
        out.extend_from_slice(&s.enrolled_at.to_be_bytes());
        out.extend_from_slice(&s.owned.to_be_bytes());
        out.extend_from_slice(&s.legacy.to_be_bytes());
        out.push(s.rp_id.len() as u8);
        out.extend_from_slice(s.rp_id.as_bytes());
        out.extend_from_slice(&(s.credential_id.len() as u16).to_be_bytes());
        out.extend_from_slice(&s.credential_id);
        out.push(s.label.len() as u8);
        out.extend_from_slice(s.label.as_bytes());
        for part in [
            &s.unlock_salt,
            &s.recovery_salt,
            &s.entry_seed,
            &s.unlock_pk,
            &s.recovery_pk,
        ] {
            out.extend_from_slice(part);
        }
        out.extend_from_slice(&s.vs_unlock);
        out.extend_from_slice(&s.vs_recovery);
    }
}

/// Where one entry record's fields lie in the records buffer: where its
/// names start and the lengths it holds (every other offset follows from
/// them: 16 bytes a record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Offset of the service name (after its length field).
    names: u32,
    service_len: u16,
    user_len: u16,
    token_len: u32,
    /// Owner slot id (0: none).
    pub owner: u8,
    /// [`GRANT_NONE`], [`GRANT_OWNER`] or [`GRANT_LEGACY`].
    pub kind: u8,
    sealed_count: u8,
}

impl Record {
    fn service_range(&self) -> std::ops::Range<usize> {
        let at = self.names as usize;
        at..at + usize::from(self.service_len)
    }
    fn user_range(&self) -> std::ops::Range<usize> {
        let at = self.service_range().end + 2;
        at..at + usize::from(self.user_len)
    }
    /// Where the owner grant's nonce or salt is (after owner and kind).
    fn extra_at(&self) -> usize {
        self.user_range().end + 2
    }
    fn token_range(&self) -> std::ops::Range<usize> {
        let extra = match self.kind {
            GRANT_OWNER => 16,
            GRANT_LEGACY => 32,
            _ => 0,
        };
        let at = self.extra_at() + extra + 4;
        at..at + self.token_len as usize
    }
    fn sealed_at(&self) -> usize {
        self.token_range().end + 1
    }
    /// Where the record starts.
    pub fn start(&self) -> usize {
        self.names as usize - 2
    }
    /// One past the record.
    pub fn end(&self) -> usize {
        self.sealed_at() + self.sealed_count() * GRANT_LEN
    }
    /// How many sealed grants.
    pub fn sealed_count(&self) -> usize {
        usize::from(self.sealed_count)
    }
    /// The service name.
    pub fn service<'a>(&self, buf: &'a [u8]) -> &'a str {
        std::str::from_utf8(&buf[self.service_range()]).unwrap_or_default()
    }
    /// The user name.
    pub fn user<'a>(&self, buf: &'a [u8]) -> &'a str {
        std::str::from_utf8(&buf[self.user_range()]).unwrap_or_default()
    }
    /// The owner grant's nonce (kind 1).
    pub fn nonce(&self, buf: &[u8]) -> [u8; 16] {
        let mut n = [0u8; 16];
        if self.kind == GRANT_OWNER {
            let at = self.extra_at();
            n.copy_from_slice(&buf[at..at + 16]);
        }
        n
    }
    /// The legacy grant's salt (kind 2).
    pub fn legacy_salt(&self, buf: &[u8]) -> [u8; 32] {
        let mut s = [0u8; 32];
        if self.kind == GRANT_LEGACY {
            let at = self.extra_at();
            s.copy_from_slice(&buf[at..at + 32]);
        }
        s
    }
    /// The inner Fernet token (raw bytes).
    pub fn token<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.token_range()]
    }
    /// The sealed grant for `slot`, if any.
    pub fn sealed_for(&self, buf: &[u8], slot: u8) -> Option<[u8; SEALED_LEN]> {
        let start = self.sealed_at();
        (0..self.sealed_count()).find_map(|i| {
            let at = start + i * GRANT_LEN;
            (buf[at] == slot).then(|| {
                let mut s = [0u8; SEALED_LEN];
                s.copy_from_slice(&buf[at + 1..at + GRANT_LEN]);
                s
            })
        })
    }
    /// The sealed grants' slot ids.
    pub fn sealed_slots<'a>(&self, buf: &'a [u8]) -> impl Iterator<Item = u8> + 'a {
        let start = self.sealed_at();
        (0..self.sealed_count()).map(move |i| buf[start + i * GRANT_LEN])
    }
    /// The record's bytes.
    pub fn bytes<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start()..self.end()]
    }
}

/// The owner grant of a new record.
pub enum Grant<'a> {
    /// No owner.
    None,
    /// Owner slot and nonce.
    Owner(u8, &'a [u8; 16]),
    /// Owner slot and format-1 salt.
    Legacy(u8, &'a [u8; 32]),
}

/// Appends one entry record.
pub fn write_record(
    out: &mut Vec<u8>,
    service: &str,
    user: &str,
    grant: Grant<'_>,
    token: &[u8],
    sealed: &[(u8, [u8; SEALED_LEN])],
) {
    out.extend_from_slice(&(service.len() as u16).to_be_bytes());
    out.extend_from_slice(service.as_bytes());
    out.extend_from_slice(&(user.len() as u16).to_be_bytes());
    out.extend_from_slice(user.as_bytes());
    match grant {
        Grant::None => out.extend_from_slice(&[0, GRANT_NONE]),
        Grant::Owner(slot, nonce) => {
            out.extend_from_slice(&[slot, GRANT_OWNER]);
            out.extend_from_slice(nonce);
        }
        Grant::Legacy(slot, salt) => {
            out.extend_from_slice(&[slot, GRANT_LEGACY]);
            out.extend_from_slice(salt);
        }
    }
    out.extend_from_slice(&(token.len() as u32).to_be_bytes());
    out.extend_from_slice(token);
    out.push(sealed.len() as u8);
    for (slot, seal) in sealed {
        out.push(*slot);
        out.extend_from_slice(seal);
    }
}

/// Parses the entry records of an envelope plaintext (after its 36-byte
/// prefix) against the header: lengths, UTF-8, unique names, owners and
/// sealed grants that name exactly the header's slots (a legacy entry may
/// lack its owner's), per-slot counts equal to the header's. `buf` is the
/// whole plaintext; records start at `start`.
pub fn parse_records(
    buf: &[u8],
    start: usize,
    header: &Header,
) -> Result<Vec<Record>, FormatError> {
    index_records(buf, start, header).map(Records::into_vec)
}

/// [`parse_records`], keeping what it learnt: the names (validated once,
/// copied into one string) and the sorted table of their hashes that found
/// the duplicates, which then finds an entry by name.
pub fn index_records(buf: &[u8], start: usize, header: &Header) -> Result<Records, FormatError> {
    // Offsets are kept as u32 (a file is at most 4 GiB).
    if u32::try_from(buf.len()).is_err() {
        return Err(invalid("envelope size"));
    }
    let count = header.entry_count as usize;
    let mut name_bytes = 0usize;
    // A record is at least 2 + 2 + 2 + 4 + 73 + 1 bytes: bound the allocation.
    let mut records = Vec::with_capacity(count.min(buf.len() / 84 + 1));
    let mut r = Reader {
        bytes: buf,
        at: start,
    };
    let slot_ids: Vec<u8> = header.slots.iter().map(|s| s.id).collect();
    let mut owned = vec![0u32; slot_ids.len()];
    let mut legacy = vec![0u32; slot_ids.len()];
    for _ in 0..count {
        let service_len = r.u16()? as usize;
        let s0 = r.at;
        r.take(service_len)?;
        let user_len = r.u16()? as usize;
        r.take(user_len)?;
        name_bytes += 4 + service_len + user_len;
        let owner = r.u8()?;
        let kind = r.u8()?;
        match kind {
            GRANT_NONE if owner == 0 => {}
            GRANT_OWNER | GRANT_LEGACY if owner != 0 => {
                let i = slot_ids
                    .iter()
                    .position(|id| *id == owner)
                    .ok_or(FormatError::BadGrant)?;
                owned[i] += 1;
                if kind == GRANT_LEGACY {
                    legacy[i] += 1;
                }
                r.take(if kind == GRANT_OWNER { 16 } else { 32 })?;
            }
            _ => return Err(FormatError::BadGrant),
        }
        let token_len = r.u32()? as usize;
        let token = r.take(token_len)?;
        check_token_shape(token, MAX_TOKEN).map_err(|_| invalid("entry token"))?;
        let sealed_count = r.u8()? as usize;
        let grants = r.take(
            sealed_count
                .checked_mul(GRANT_LEN)
                .ok_or(FormatError::Truncated)?,
        )?;
        // Exactly the header's slots, in order; a legacy entry may lack its owner's.
        let mut expected = slot_ids.iter().copied().peekable();
        for g in grants.chunks(GRANT_LEN) {
            let mut next = expected.next();
            if kind == GRANT_LEGACY && next == Some(owner) && g[0] != owner {
                next = expected.next();
            }
            if next != Some(g[0]) {
                return Err(FormatError::BadGrant);
            }
        }
        match (expected.next(), expected.next()) {
            (None, _) => {}
            (Some(last), None) if kind == GRANT_LEGACY && last == owner => {}
            _ => return Err(FormatError::BadGrant),
        }
        records.push(Record {
            names: s0 as u32,
            service_len: service_len as u16,
            user_len: user_len as u16,
            token_len: token_len as u32,
            owner,
            kind,
            sealed_count: sealed_count as u8,
        });
    }
    if r.at != buf.len() {
        return Err(FormatError::TrailingBytes);
    }
    for (i, slot) in header.slots.iter().enumerate() {
        if slot.owned != owned[i] || slot.legacy != legacy[i] {
            return Err(invalid("slot owned counts"));
        }
    }
    let (names, spans) = collect_names(buf, &records, name_bytes)?;
    let hasher = std::collections::hash_map::RandomState::new();
    let (by_hash, mask) = hash_table(&hasher, &names, &spans)?;
    Ok(Records {
        records,
        names,
        spans,
        by_hash,
        mask,
        hasher,
    })
}

/// Text wiped (as a whole) when dropped. Built at its final length, so
/// that no reallocation leaves a copy behind.
struct WipedText(String);

impl Drop for WipedText {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.0.as_mut_str().zeroize();
    }
}

/// Where one record's names lie in [`Records`]' name text: the service
/// at `at`, the user two bytes after it (each name follows two NULs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    at: u32,
    service_len: u16,
    user_len: u16,
}

impl Span {
    #[inline]
    fn service<'a>(&self, text: &'a str) -> &'a str {
        let at = self.at as usize;
        text.get(at..at + usize::from(self.service_len))
            .unwrap_or_default()
    }

    #[inline]
    fn user<'a>(&self, text: &'a str) -> &'a str {
        let at = self.at as usize + usize::from(self.service_len) + 2;
        text.get(at..at + usize::from(self.user_len))
            .unwrap_or_default()
    }
}

/// Every name, in record order, copied once into one string and validated
/// as UTF-8 there in one pass. Each record's names are copied with their
/// length fields (one copy: they lie together), which are then zeroed: a
/// NUL is a character of its own, so the whole is valid UTF-8 exactly when
/// every name is (no character can be split across two names).
fn collect_names(
    buf: &[u8],
    records: &[Record],
    total: usize,
) -> Result<(WipedText, Vec<Span>), FormatError> {
    u32::try_from(total).map_err(|_| invalid("entry names"))?;
    let mut bytes = Vec::with_capacity(total);
    let mut spans = Vec::with_capacity(records.len());
    for r in records {
        let start = bytes.len();
        let service_len = usize::from(r.service_len);
        // u16 length ‖ service ‖ u16 length ‖ user
        bytes.extend_from_slice(&buf[r.start()..r.user_range().end]);
        for at in [
            start,
            start + 1,
            start + 2 + service_len,
            start + 3 + service_len,
        ] {
            bytes[at] = 0;
        }
        spans.push(Span {
            at: (start + 2) as u32,
            service_len: service_len as u16,
            user_len: r.user_len,
        });
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok((WipedText(text), spans)),
        Err(e) => {
            let mut bytes = e.into_bytes();
            zeroize::Zeroize::zeroize(bytes.as_mut_slice());
            Err(bad_name(buf, records))
        }
    }
}

/// The error for the first name that is not UTF-8 on its own.
fn bad_name(buf: &[u8], records: &[Record]) -> FormatError {
    for r in records {
        if std::str::from_utf8(&buf[r.service_range()]).is_err() {
            return FormatError::BadUtf8 { field: "service" };
        }
        if std::str::from_utf8(&buf[r.user_range()]).is_err() {
            return FormatError::BadUtf8 { field: "user" };
        }
    }
    FormatError::BadUtf8 { field: "service" }
}

/// SipHash (keyed per vault opened) of `service ‖ user ‖ len(service)`.
fn hash_name(hasher: &std::collections::hash_map::RandomState, service: &str, user: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = hasher.build_hasher();
    h.write(service.as_bytes());
    h.write(user.as_bytes());
    h.write_usize(service.len());
    h.finish()
}

/// The low bits of an index key that hold the record's position (enough
/// for `count` positions); the high bits are the name's hash.
fn position_mask(count: usize) -> u64 {
    let bits = usize::BITS - count.leading_zeros();
    (1u64 << bits) - 1
}

/// Hashes every name and sorts the keys `hash's high bits | position`
/// (one `u64` per record); names whose hashed bits are equal are compared:
/// two equal names are a [`FormatError::DuplicateEntry`].
fn hash_table(
    hasher: &std::collections::hash_map::RandomState,
    text: &WipedText,
    spans: &[Span],
) -> Result<(Vec<u64>, u64), FormatError> {
    let mask = position_mask(spans.len());
    let name = |key: u64| {
        let s = &spans[(key & mask) as usize];
        (s.service(&text.0), s.user(&text.0))
    };
    let mut keys: Vec<u64> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (hash_name(hasher, s.service(&text.0), s.user(&text.0)) & !mask) | i as u64)
        .collect();
    keys.sort_unstable();
    // Every pair within a run of equal hashes (almost always a run of one).
    let mut i = 0;
    while i < keys.len() {
        let mut j = i + 1;
        while j < keys.len() && keys[j] & !mask == keys[i] & !mask {
            j += 1;
        }
        for a in i..j {
            for b in a + 1..j {
                if name(keys[a]) == name(keys[b]) {
                    return Err(FormatError::DuplicateEntry);
                }
            }
        }
        i = j;
    }
    Ok((keys, mask))
}

/// The entry records of an envelope plaintext with their names (validated
/// once, kept in one string wiped when this is dropped) and an index by
/// name: the sorted hashes of the names, searched by bisection.
pub struct Records {
    records: Vec<Record>,
    names: WipedText,
    spans: Vec<Span>,
    /// Sorted; high bits: the name's hash; `mask` bits: the position.
    by_hash: Vec<u64>,
    mask: u64,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for Records {
    fn default() -> Self {
        Records {
            records: Vec::new(),
            names: WipedText(String::new()),
            spans: Vec::new(),
            by_hash: Vec::new(),
            mask: 0,
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl Records {
    /// The records, in file order.
    pub fn as_slice(&self) -> &[Record] {
        &self.records
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records alone (the names are wiped).
    pub fn into_vec(mut self) -> Vec<Record> {
        std::mem::take(&mut self.records)
    }

    /// The service and user names of record `i` (empty past the end).
    pub fn names(&self, i: usize) -> (&str, &str) {
        self.spans.get(i).map_or(("", ""), |s| {
            (s.service(&self.names.0), s.user(&self.names.0))
        })
    }

    /// Every (service, user), in file order.
    pub fn name_iter(&self) -> NameIter<'_> {
        NameIter {
            spans: self.spans.iter(),
            text: &self.names.0,
        }
    }

    /// The position of the record named (`service`, `user`).
    pub fn find(&self, service: &str, user: &str) -> Option<usize> {
        let h = hash_name(&self.hasher, service, user) & !self.mask;
        let from = self.by_hash.partition_point(|k| *k < h);
        self.by_hash[from..]
            .iter()
            .take_while(|k| *k & !self.mask == h)
            .map(|k| (k & self.mask) as usize)
            .find(|i| self.names(*i) == (service, user))
    }
}

/// The names of [`Records`], borrowed.
#[derive(Default)]
pub struct NameIter<'a> {
    spans: std::slice::Iter<'a, Span>,
    text: &'a str,
}

impl<'a> Iterator for NameIter<'a> {
    type Item = (&'a str, &'a str);

    #[inline]
    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        self.spans
            .next()
            .map(|s| (s.service(self.text), s.user(self.text)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl ExactSizeIterator for NameIter<'_> {}

/// `u16 len ‖ service ‖ u16 len ‖ user`: what entry salts and sealed
/// grants are bound to.
pub fn name_bytes(service: &str, user: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + service.len() + user.len());
    out.extend_from_slice(&(service.len() as u16).to_be_bytes());
    out.extend_from_slice(service.as_bytes());
    out.extend_from_slice(&(user.len() as u16).to_be_bytes());
    out.extend_from_slice(user.as_bytes());
    out
}
