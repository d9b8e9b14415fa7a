//! The hmac-secret interface that the vault needs from any authenticator:
//! enroll a non-discoverable ES256 credential with `hmac-secret: true`, then
//! derive `HMAC-SHA-256(CredRandom, salt)` for one or two 32-byte salts
//! through getAssertion (CTAP 2.1 §12.5). The UV mode of a derivation
//! changes the output (a CTAP 2.1 token keeps a CredRandom for assertions
//! with UV and one for assertions without), so the caller always chooses
//! it. The trait is object safe: the vault and the CLI hold a
//! `&mut dyn Authenticator` (or a `Box`), whatever the transport underneath.

use crate::{Error, Pin, Prompt, Secret32};

/// The RP ID the original `tokenring` uses for every vault.
pub const DEFAULT_RP_ID: &str = "hardware.keychain.glyph.im";
/// The user id (and name) the original enrolls with.
pub const DEFAULT_USER_ID: &str = "hardware_keyring_user";

/// How an authenticator is reached. Spelled the same everywhere: the
/// variant, its display (`hid`, `nfc`, `sim`) and the selector prefix
/// (`hid:…`, `nfc:…`, `sim:…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// USB HID (CTAPHID).
    Hid,
    /// NFC or a contact reader through PC/SC.
    Nfc,
    /// The software authenticator (`tokenring-sim`): protects nothing.
    Sim,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::Hid => "hid",
            TransportKind::Nfc => "nfc",
            TransportKind::Sim => "sim",
        })
    }
}

/// What an authenticator says about itself (from authenticatorGetInfo and
/// the transport), as far as the vault and the user care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatorInfo {
    /// A human-readable name (product string, reader name, …).
    pub name: String,
    /// How it is reached.
    pub transport: TransportKind,
    /// A path, reader name or state file that identifies this device again.
    pub path: String,
    /// The AAGUID from getInfo.
    pub aaguid: [u8; 16],
    /// Versions from getInfo (e.g. `FIDO_2_0`, `FIDO_2_1`).
    pub versions: Vec<String>,
    /// The token supports the `hmac-secret` extension.
    pub hmac_secret: bool,
    /// `Some(true)`: a PIN is set; `Some(false)`: PIN supported but not set;
    /// `None`: no PIN support.
    pub client_pin: Option<bool>,
    /// `Some(true)`: built-in UV configured; `Some(false)`: capable but not
    /// configured; `None`: no built-in UV.
    pub built_in_uv: Option<bool>,
    /// The token requires UV for every operation (`alwaysUv`).
    pub always_uv: bool,
    /// The token lets makeCredential proceed without UV (`makeCredUvNotRqd`).
    pub make_cred_uv_not_required: bool,
    /// PIN/UV auth protocols, in the token's order of preference.
    pub pin_uv_auth_protocols: Vec<u8>,
    /// Extensions from getInfo (`hmac-secret`, `credProtect`,
    /// `hmac-secret-mc`, …).
    pub extensions: Vec<String>,
}

impl AuthenticatorInfo {
    /// The UV mode the original (python-fido2 1.x, no `userVerification`
    /// set) uses for hmac-secret getAssertion on this token: presence only,
    /// unless the token reports `alwaysUv`.
    pub fn default_derive_uv(&self) -> UvMode {
        if self.always_uv {
            UvMode::Verified
        } else {
            UvMode::PresenceOnly
        }
    }

    /// The token can verify the user now: a PIN is set or built-in UV is
    /// configured.
    pub fn can_verify_user(&self) -> bool {
        self.client_pin == Some(true) || self.built_in_uv == Some(true)
    }

    /// getInfo lists the extension `name`.
    pub fn has_extension(&self, name: &str) -> bool {
        self.extensions.iter().any(|e| e == name)
    }
}

/// What an enrollment asks for beyond a plain hmac-secret credential.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnrollOptions {
    /// The credProtect level to request (CTAP 2.1 §12.1: 1
    /// userVerificationOptional, 2 userVerificationOptionalWithCredentialIDList,
    /// 3 userVerificationRequired); `None` sends no credProtect extension.
    pub cred_protect: Option<u8>,
    /// Fail with [`Error::UnsupportedExtension`] unless the authenticator
    /// reports at least the requested credProtect level (WebAuthn's
    /// `enforceCredentialProtectionPolicy`).
    pub enforce_cred_protect: bool,
    /// Salts for CTAP 2.2's `hmac-secret-mc`: the hmac-secret outputs are
    /// returned by makeCredential itself (no getAssertion, no second touch).
    /// Sent only when getInfo lists `hmac-secret-mc`; otherwise
    /// [`Enrollment::hmac_output`] is `None`.
    pub hmac_secret_mc: Option<Salts>,
    /// Verify the user at makeCredential even when the token would let it
    /// proceed without (`makeCredUvNotRqd`).
    pub require_uv: bool,
}

/// What a new credential is, as makeCredential reported it.
pub struct Enrollment {
    /// The credential id.
    pub credential: CredentialId,
    /// The AAGUID from the attested credential data.
    pub aaguid: [u8; 16],
    /// The credProtect level the authenticator reports for the credential
    /// (`None`: not reported).
    pub cred_protect: Option<u8>,
    /// The UV flag of the response: the user was verified.
    pub user_verified: bool,
    /// The `hmac-secret-mc` outputs (with the CredRandom of
    /// [`Enrollment::user_verified`]'s mode), when asked and supported.
    pub hmac_output: Option<HmacSecretOutput>,
}

/// The user a credential is made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntity {
    /// User handle (up to 64 bytes).
    pub id: Vec<u8>,
    /// User name.
    pub name: String,
    /// Display name.
    pub display_name: Option<String>,
}

impl Default for UserEntity {
    /// The original's user: id and name `hardware_keyring_user`.
    fn default() -> Self {
        UserEntity {
            id: DEFAULT_USER_ID.as_bytes().to_vec(),
            name: DEFAULT_USER_ID.to_string(),
            display_name: None,
        }
    }
}

/// A credential id as returned by makeCredential (opaque to everyone but
/// the authenticator that made it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CredentialId(pub Vec<u8>);

impl CredentialId {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Whether a derivation (or enrollment) verifies the user.
///
/// The hmac-secret output differs with and without UV (a CTAP 2.1 token
/// keeps two CredRandoms per credential), so this is always chosen by the
/// caller, never guessed by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UvMode {
    /// User presence only (a tap). What the original does by default.
    PresenceOnly,
    /// User verification: built-in UV when the token has it configured,
    /// otherwise the PIN (asked through the [`Prompt`]).
    Verified,
}

/// One or two 32-byte hmac-secret salts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Salts {
    /// One salt → one output.
    One([u8; 32]),
    /// Two salts → two outputs from one assertion.
    Two([u8; 32], [u8; 32]),
}

/// What to derive.
#[derive(Debug, Clone, Copy)]
pub struct DeriveRequest<'a> {
    /// The credential (from [`Authenticator::enroll`]).
    pub credential: &'a CredentialId,
    /// The RP ID the credential was made for.
    pub rp_id: &'a str,
    /// The salt(s).
    pub salts: Salts,
    /// With or without user verification.
    pub uv: UvMode,
    /// What the tap is for, shown to the user
    /// ("unlock the vault", "decrypt the password for 'alice' in 'bank.example'").
    pub purpose: &'a str,
}

/// The hmac-secret output(s): `HMAC-SHA-256(CredRandom, salt)` per salt.
pub struct HmacSecretOutput {
    /// Output for the first salt.
    pub first: Secret32,
    /// Output for the second salt, when two were given.
    pub second: Option<Secret32>,
}

/// What the vault needs from an authenticator: enroll a credential, derive
/// hmac-secret outputs from it, tell whether it holds a credential, and wait
/// for a tap to be chosen.
pub trait Authenticator {
    /// Name, transport, AAGUID and the options that matter (hmac-secret,
    /// clientPin, alwaysUv). Cached after the first call.
    fn describe(&mut self) -> Result<AuthenticatorInfo, Error>;

    /// makeCredential: ES256, rk=false, `hmac-secret: true`. Uses the PIN
    /// when the token has one set (unless it reports `makeCredUvNotRqd`).
    fn enroll(
        &mut self,
        rp_id: &str,
        user: &UserEntity,
        prompt: &dyn Prompt,
    ) -> Result<CredentialId, Error>;

    /// makeCredential with [`EnrollOptions`] (credProtect,
    /// `hmac-secret-mc`). The default knows no extension beyond
    /// hmac-secret: it enrolls plainly and reports nothing more (a
    /// requested credProtect level is then not reported, and enforcing it
    /// fails).
    fn enroll_with(
        &mut self,
        rp_id: &str,
        user: &UserEntity,
        options: &EnrollOptions,
        prompt: &dyn Prompt,
    ) -> Result<Enrollment, Error> {
        if options.enforce_cred_protect && options.cred_protect.is_some() {
            return Err(Error::UnsupportedExtension);
        }
        let aaguid = self.describe()?.aaguid;
        let credential = self.enroll(rp_id, user, prompt)?;
        Ok(Enrollment {
            credential,
            aaguid,
            cred_protect: None,
            user_verified: false,
            hmac_output: None,
        })
    }

    /// getAssertion with the hmac-secret extension.
    fn derive(
        &mut self,
        request: &DeriveRequest<'_>,
        prompt: &dyn Prompt,
    ) -> Result<HmacSecretOutput, Error>;

    /// Whether this authenticator holds `credential` for `rp_id`
    /// (getAssertion with up=false: no tap).
    fn probe(&mut self, credential: &CredentialId, rp_id: &str) -> Result<bool, Error>;

    /// Waits for a tap on this authenticator (authenticatorSelection).
    /// Cancellable through the prompt.
    fn select(&mut self, prompt: &dyn Prompt) -> Result<(), Error>;

    /// PIN retries left before the PIN is blocked (getPINRetries: no tap),
    /// when the authenticator has a PIN set and can tell. The default
    /// knows nothing.
    fn pin_retries(&mut self) -> Result<Option<u8>, Error> {
        Ok(None)
    }

    /// Sets the first PIN of an authenticator that has none (setPIN). The
    /// default cannot: [`Error::UvUnsupported`].
    fn set_pin(&mut self, new_pin: &Pin) -> Result<(), Error> {
        let _ = new_pin;
        Err(Error::UvUnsupported)
    }

    /// Changes the PIN (changePIN); a wrong `current` PIN gives
    /// [`Error::PinInvalid`] with the retries left. The default cannot:
    /// [`Error::UvUnsupported`].
    fn change_pin(&mut self, current: &Pin, new_pin: &Pin) -> Result<(), Error> {
        let _ = (current, new_pin);
        Err(Error::UvUnsupported)
    }
}

impl<A: Authenticator + ?Sized> Authenticator for Box<A> {
    fn describe(&mut self) -> Result<AuthenticatorInfo, Error> {
        (**self).describe()
    }
    fn enroll(
        &mut self,
        rp_id: &str,
        user: &UserEntity,
        prompt: &dyn Prompt,
    ) -> Result<CredentialId, Error> {
        (**self).enroll(rp_id, user, prompt)
    }
    fn enroll_with(
        &mut self,
        rp_id: &str,
        user: &UserEntity,
        options: &EnrollOptions,
        prompt: &dyn Prompt,
    ) -> Result<Enrollment, Error> {
        (**self).enroll_with(rp_id, user, options, prompt)
    }
    fn derive(
        &mut self,
        request: &DeriveRequest<'_>,
        prompt: &dyn Prompt,
    ) -> Result<HmacSecretOutput, Error> {
        (**self).derive(request, prompt)
    }
    fn probe(&mut self, credential: &CredentialId, rp_id: &str) -> Result<bool, Error> {
        (**self).probe(credential, rp_id)
    }
    fn select(&mut self, prompt: &dyn Prompt) -> Result<(), Error> {
        (**self).select(prompt)
    }
    fn pin_retries(&mut self) -> Result<Option<u8>, Error> {
        (**self).pin_retries()
    }
    fn set_pin(&mut self, new_pin: &Pin) -> Result<(), Error> {
        (**self).set_pin(new_pin)
    }
    fn change_pin(&mut self, current: &Pin, new_pin: &Pin) -> Result<(), Error> {
        (**self).change_pin(current, new_pin)
    }
}
