//! Personalities: the simulator answering getInfo with the recorded answer
//! of a real product, and behaving where that product behaves otherwise
//! than this simulator does by default.
//!
//! The recordings sit in `personalities/*.hex` beside this crate, each with
//! its source (repository, file, commit) in its header. getInfo serves the
//! recording with the edits [`Personality::get_info`] lists: the state
//! (clientPin, alwaysUv, forcePINChange, minPINLength) as it is now, and
//! nothing advertised that the simulator does not implement.

use std::time::Duration;

use ciborium::Value;

use tokenring_core::Status;

/// A real product the simulator can pretend to be (getInfo and behaviour).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[non_exhaustive]
pub enum Personality {
    /// This simulator as written from CTAP 2.1 (`FIDO_2_0`, `FIDO_2_1`).
    #[default]
    #[serde(rename = "tokenring-sim")]
    TokenringSim,
    /// A CTAP 2.0 key: "Security Key by Yubico" (firmware 5.1), getInfo as
    /// recorded in python-fido2's tests. PIN/UV auth protocol one only,
    /// getPinToken with 16-byte tokens that last until power-off, no
    /// authenticatorSelection, the CTAP 2.0 error codes of that era.
    #[serde(rename = "security-key-ctap20")]
    SecurityKeyCtap20,
    /// A FIDO_2_1_PRE key: "YubiKey 5 Series with NFC" (firmware 5.2/5.4),
    /// getInfo as recorded in webauthn-rs's tests. Like the CTAP 2.0 key
    /// for PINs (getPinToken only, protocol one, 16-byte tokens), CTAP 2.1
    /// error codes.
    #[serde(rename = "yubikey5-fido21-pre")]
    Yubikey5Fido21Pre,
    /// A FIDO_2_1 key: Token2 FIDO2 (firmware 0x100), getInfo as recorded
    /// in webauthn-rs's tests: protocols two and one, maxMsgSize 1536,
    /// credential ids of at most 96 bytes, makeCredUvNotRqd,
    /// authenticatorConfig.
    #[serde(rename = "token2-fido21")]
    Token2Fido21,
    /// A FIDO_2_1 key with built-in UV and alwaysUv on: YubiKey Bio
    /// (firmware 5.5.6), getInfo as recorded in authenticator-rs's tests.
    #[serde(rename = "yubikey-bio")]
    YubikeyBio,
}

/// How the simulator behaves where the specification leaves a choice, or
/// where products of an older specification answer otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Profile {
    /// CTAP 2.1 (`FIDO_2_1` in versions): authenticatorSelection.
    pub ctap21: bool,
    /// pinUvAuthTokens with permissions (getInfo `pinUvAuthToken`): the
    /// clientPIN subcommands 0x06 and 0x09, tokens bound to an RP ID that
    /// lose their permissions after one use with user presence and expire.
    /// Without it, getPinToken's token (CTAP 2.0 pinToken) serves any
    /// makeCredential and getAssertion until power-off.
    pub permissions: bool,
    /// authenticatorConfig (getInfo `authnrCfg`): toggleAlwaysUv,
    /// setMinPINLength, the acfg permission.
    pub authnr_cfg: bool,
    /// The length of the pinUvAuthToken: 32, or 16 (CTAP 2.0 firmware).
    pub token_len: usize,
    /// How long after power-up authenticatorReset is allowed (§6.6 leaves
    /// it to the authenticator; YubiKeys: 5 s).
    pub reset_window: Duration,
    /// The longest credential id it makes (getInfo maxCredentialIdLength):
    /// under 126 bytes, the short credential id format.
    pub max_credential_id_length: usize,
    /// The answer to setPIN when a PIN is set.
    pub set_pin_when_set: Status,
    /// The answer to makeCredential/getAssertion with a zero-length
    /// pinUvAuthParam when a PIN is set (after the touch).
    pub zero_length_auth_with_pin: Status,
    /// The answer to hmac-secret salts that are not 32 or 64 bytes.
    pub bad_salt_length: Status,
    /// The answer to a clientPIN subcommand it does not know.
    pub unknown_subcommand: Status,
    /// The answer to `uv: true` without built-in UV.
    pub uv_without_built_in_uv: Status,
    /// Whether hmac-secret's pinUvAuthProtocol (key 4, CTAP 2.1) is read;
    /// CTAP 2.0 knows keys 1-3 only and ignores others.
    pub hmac_secret_protocol_key: bool,
}

impl Profile {
    /// This simulator as written from CTAP 2.1.
    pub(crate) const CTAP_2_1: Profile = Profile {
        ctap21: true,
        permissions: true,
        authnr_cfg: true,
        token_len: 32,
        reset_window: Duration::from_secs(10),
        max_credential_id_length: 128,
        set_pin_when_set: Status::PinAuthInvalid,
        zero_length_auth_with_pin: Status::PinInvalid,
        bad_salt_length: Status::InvalidParameter,
        unknown_subcommand: Status::InvalidSubcommand,
        uv_without_built_in_uv: Status::InvalidOption,
        hmac_secret_protocol_key: true,
    };
}

/// The recordings, with their source headers.
const SECURITY_KEY_CTAP20: &str =
    include_str!("../personalities/security_key_by_yubico_ctap20_get_info.hex");
const YUBIKEY5_FIDO21_PRE: &str =
    include_str!("../personalities/yubikey5_nfc_fido_2_1_pre_get_info.hex");
const TOKEN2_FIDO21: &str = include_str!("../personalities/token2_fido_2_1_get_info.hex");
const YUBIKEY_BIO: &str = include_str!("../personalities/yubikey_bio_fido_2_1_get_info.hex");

/// The extensions the simulator implements (a recording's others are
/// left out of getInfo).
pub(crate) const IMPLEMENTED_EXTENSIONS: &[&str] = &["credProtect", "hmac-secret"];

/// The getInfo options the simulator implements as the recordings mean
/// them; the others (credential management, large blobs, bio enrollment,
/// their previews, enterprise attestation) are left out.
const IMPLEMENTED_OPTIONS: &[&str] = &[
    "rk",
    "up",
    "uv",
    "plat",
    "uvToken",
    "alwaysUv",
    "authnrCfg",
    "clientPin",
    "pinUvAuthToken",
    "setMinPINLength",
    "makeCredUvNotRqd",
    "noMcGaPermissionsWithClientPin",
];

/// The getInfo keys kept from a recording as they are: the others are
/// left out because they describe what the simulator does not implement
/// (0x0B maxSerializedLargeBlobArray, 0x0F maxCredBlobLength, 0x10
/// maxRPIDsForSetMinPINLength, 0x14 remainingDiscoverableCredentials) or
/// are served from the state (0x0C, 0x0D) or edited (0x01, 0x02, 0x04,
/// 0x0A).
const KEPT_KEYS: &[i64] = &[0x03, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0E, 0x11, 0x12, 0x13];

/// What the state says when getInfo is built.
pub(crate) struct LiveState {
    pub pin_set: bool,
    pub always_uv: bool,
    pub make_cred_uv_not_rqd: bool,
    pub built_in_uv: bool,
    pub no_mc_ga_permissions_with_client_pin: bool,
    pub force_pin_change: bool,
    pub min_pin_length: u8,
}

impl Personality {
    /// Every personality.
    pub const ALL: [Personality; 5] = [
        Personality::TokenringSim,
        Personality::SecurityKeyCtap20,
        Personality::Yubikey5Fido21Pre,
        Personality::Token2Fido21,
        Personality::YubikeyBio,
    ];

    /// The name the `tokenring-sim` command and the state file use.
    pub fn name(self) -> &'static str {
        match self {
            Personality::TokenringSim => "tokenring-sim",
            Personality::SecurityKeyCtap20 => "security-key-ctap20",
            Personality::Yubikey5Fido21Pre => "yubikey5-fido21-pre",
            Personality::Token2Fido21 => "token2-fido21",
            Personality::YubikeyBio => "yubikey-bio",
        }
    }

    /// The recording: its `#` header (source, commit, what it is) and its
    /// hex; `None` for the simulator's own getInfo.
    pub fn recording(self) -> Option<&'static str> {
        match self {
            Personality::TokenringSim => None,
            Personality::SecurityKeyCtap20 => Some(SECURITY_KEY_CTAP20),
            Personality::Yubikey5Fido21Pre => Some(YUBIKEY5_FIDO21_PRE),
            Personality::Token2Fido21 => Some(TOKEN2_FIDO21),
            Personality::YubikeyBio => Some(YUBIKEY_BIO),
        }
    }

    /// The recorded getInfo answer (CBOR, without the status byte).
    pub fn recorded_get_info(self) -> Option<Vec<u8>> {
        let text = self.recording()?;
        let hex: String = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .flat_map(|line| line.trim().chars())
            .collect();
        hex::decode(hex).ok()
    }

    /// The recording decoded: its entries in order.
    fn recorded_entries(self) -> Option<Vec<(Value, Value)>> {
        let bytes = self.recorded_get_info()?;
        match ciborium::de::from_reader::<Value, _>(bytes.as_slice()).ok()? {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    fn recorded(self, key: i64) -> Option<Value> {
        self.recorded_entries()?
            .into_iter()
            .find(|(k, _)| int_key(k) == Some(key))
            .map(|(_, v)| v)
    }

    fn recorded_option(self, name: &str) -> Option<bool> {
        let options = self.recorded(0x04)?;
        options
            .as_map()?
            .iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .and_then(|(_, v)| v.as_bool())
    }

    fn recorded_versions(self) -> Vec<String> {
        self.recorded(0x01)
            .and_then(|v| {
                v.as_array().map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_text().map(str::to_string))
                        .collect()
                })
            })
            .unwrap_or_default()
    }

    /// The AAGUID it announces (`None`: the simulator's own).
    pub fn aaguid(self) -> Option<[u8; 16]> {
        let bytes = self.recorded(0x03)?;
        <[u8; 16]>::try_from(bytes.as_bytes()?.as_slice()).ok()
    }

    /// The PIN/UV auth protocols it announces (`None`: the configured ones).
    pub fn pin_uv_auth_protocols(self) -> Option<Vec<u8>> {
        let list = self.recorded(0x06)?;
        list.as_array()?
            .iter()
            .map(|p| int_key(p).and_then(|n| u8::try_from(n).ok()))
            .collect()
    }

    /// maxMsgSize it announces (`None`: the configured one).
    pub fn max_msg_size(self) -> Option<usize> {
        int_key(&self.recorded(0x05)?).and_then(|n| usize::try_from(n).ok())
    }

    /// Whether it has built-in UV (getInfo `uv: true`).
    pub fn built_in_uv(self) -> Option<bool> {
        self.recording()?;
        Some(self.recorded_option("uv") == Some(true))
    }

    /// alwaysUv as it comes from the factory.
    pub fn always_uv(self) -> Option<bool> {
        self.recording()?;
        Some(self.recorded_option("alwaysUv") == Some(true))
    }

    /// makeCredUvNotRqd as recorded.
    pub fn make_cred_uv_not_rqd(self) -> Option<bool> {
        self.recording()?;
        Some(self.recorded_option("makeCredUvNotRqd") == Some(true))
    }

    /// Whether the product has the alwaysUv feature, forcePINChange and a
    /// settable minimum PIN length (that is, authenticatorConfig).
    pub(crate) fn has_authenticator_config(self) -> bool {
        match self.recording() {
            None => true,
            Some(_) => self.recorded_option("authnrCfg") == Some(true),
        }
    }

    /// What getInfo's saltAuth failure answers by default for this product
    /// (CTAP 2.0 firmware: CTAP2_ERR_EXTENSION_FIRST).
    pub(crate) fn bad_salt_auth_status(self) -> Status {
        match self {
            Personality::SecurityKeyCtap20 => Status::ExtensionFirst,
            _ => Status::PinAuthInvalid,
        }
    }

    /// The behaviour where products differ.
    pub(crate) fn profile(self) -> Profile {
        let base = Profile::CTAP_2_1;
        let versions = self.recorded_versions();
        match self {
            Personality::TokenringSim => base,
            Personality::SecurityKeyCtap20 => Profile {
                ctap21: false,
                permissions: false,
                authnr_cfg: false,
                token_len: 16,
                // libfido2's fido_dev_set_pin(3): Yubico authenticators
                // refuse a reset later than 5 s after power-up.
                reset_window: Duration::from_secs(5),
                // No maxCredentialIdLength recorded; the simulator's ids.
                max_credential_id_length: 128,
                // Solo 1 firmware, the public CTAP 2.0 firmware: NOT_ALLOWED
                // for setPIN with a PIN set, PIN_AUTH_INVALID for the
                // zero-length pinAuth probe with a PIN set (also what the
                // solokeys fido2-tests expect), INVALID_LENGTH for bad
                // salts, CTAP1_ERR_OTHER for an unknown subcommand (CTAP 2.0
                // has no INVALID_SUBCOMMAND), UNSUPPORTED_OPTION for uv
                // without built-in UV (CTAP 2.0 §5.1).
                set_pin_when_set: Status::NotAllowed,
                zero_length_auth_with_pin: Status::PinAuthInvalid,
                bad_salt_length: Status::InvalidLength,
                unknown_subcommand: Status::Other,
                uv_without_built_in_uv: Status::UnsupportedOption,
                hmac_secret_protocol_key: false,
            },
            Personality::Yubikey5Fido21Pre => Profile {
                ctap21: versions.iter().any(|v| v == "FIDO_2_1"),
                permissions: self.recorded_option("pinUvAuthToken") == Some(true),
                authnr_cfg: self.has_authenticator_config(),
                token_len: 16,
                reset_window: Duration::from_secs(5),
                max_credential_id_length: self.recorded_max_credential_id_length(),
                ..base
            },
            Personality::Token2Fido21 => Profile {
                max_credential_id_length: self.recorded_max_credential_id_length(),
                ..base
            },
            Personality::YubikeyBio => Profile {
                reset_window: Duration::from_secs(5),
                max_credential_id_length: self.recorded_max_credential_id_length(),
                ..base
            },
        }
    }

    fn recorded_max_credential_id_length(self) -> usize {
        self.recorded(0x08)
            .and_then(|v| int_key(&v))
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(128)
    }

    /// getInfo for this personality: `None` for the simulator's own;
    /// otherwise the recording, edited:
    ///
    /// - versions (0x01): without `U2F_V2` (the simulator speaks no
    ///   CTAP1/U2F);
    /// - extensions (0x02): only those implemented (`credProtect`,
    ///   `hmac-secret`);
    /// - options (0x04): only those implemented; `rk` false (no
    ///   discoverable credentials); `clientPin`, `alwaysUv`, `uv` and
    ///   `makeCredUvNotRqd` (false while alwaysUv is on) as the state
    ///   says now; `noMcGaPermissionsWithClientPin` when configured;
    /// - algorithms (0x0A): ES256 only;
    /// - forcePINChange (0x0C) and minPINLength (0x0D), when recorded, as
    ///   the state says now;
    /// - 0x0B, 0x0F, 0x10, 0x14 (large blobs, credBlob, minPinLength RP
    ///   IDs, discoverable credentials) left out;
    /// - everything else byte for byte (AAGUID, maxMsgSize, protocols,
    ///   list and id limits, transports, firmware version, UV attempts and
    ///   modality, certifications).
    pub(crate) fn get_info(self, live: &LiveState) -> Option<Value> {
        let entries = self.recorded_entries()?;
        let mut out = Vec::new();
        for (key, value) in entries {
            let Some(k) = int_key(&key) else { continue };
            let edited = match k {
                0x01 => Some(filter_texts(&value, |v| v != "U2F_V2")),
                0x02 => Some(filter_texts(&value, |v| {
                    IMPLEMENTED_EXTENSIONS.contains(&v)
                })),
                0x04 => Some(edit_options(&value, live)),
                0x0A => Some(Value::Array(
                    value
                        .as_array()
                        .map(|algs| {
                            algs.iter()
                                .filter(|a| {
                                    a.as_map().is_some_and(|m| {
                                        m.iter().any(|(k, v)| {
                                            k.as_text() == Some("alg") && int_key(v) == Some(-7)
                                        })
                                    })
                                })
                                .cloned()
                                .collect()
                        })
                        .unwrap_or_default(),
                )),
                0x0C => Some(Value::Bool(live.force_pin_change)),
                0x0D => Some(Value::Integer(live.min_pin_length.into())),
                _ if KEPT_KEYS.contains(&k) => Some(value),
                _ => None,
            };
            if let Some(v) = edited {
                out.push((key, v));
            }
        }
        Some(Value::Map(out))
    }
}

fn int_key(value: &Value) -> Option<i64> {
    value.as_integer().and_then(|i| i64::try_from(i).ok())
}

fn filter_texts(value: &Value, keep: impl Fn(&str) -> bool) -> Value {
    Value::Array(
        value
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter(|v| v.as_text().is_some_and(&keep))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default(),
    )
}

fn edit_options(value: &Value, live: &LiveState) -> Value {
    let mut options: Vec<(Value, Value)> = value
        .as_map()
        .map(|entries| {
            entries
                .iter()
                .filter(|(k, _)| {
                    k.as_text()
                        .is_some_and(|n| IMPLEMENTED_OPTIONS.contains(&n))
                })
                .map(|(k, v)| {
                    let now = match k.as_text() {
                        Some("rk") => Value::Bool(false),
                        Some("clientPin") => Value::Bool(live.pin_set),
                        Some("alwaysUv") => Value::Bool(live.always_uv),
                        Some("uv") => Value::Bool(live.built_in_uv),
                        Some("makeCredUvNotRqd") => {
                            Value::Bool(live.make_cred_uv_not_rqd && !live.always_uv)
                        }
                        _ => v.clone(),
                    };
                    (k.clone(), now)
                })
                .collect()
        })
        .unwrap_or_default();
    let has_no_mc_ga = options
        .iter()
        .any(|(k, _)| k.as_text() == Some("noMcGaPermissionsWithClientPin"));
    if live.no_mc_ga_permissions_with_client_pin && !has_no_mc_ga {
        options.push((
            Value::Text("noMcGaPermissionsWithClientPin".into()),
            Value::Bool(true),
        ));
        // The recordings are canonical; keep the added key in CTAP2
        // canonical order (shorter first, then bytewise).
        options.sort_by(|(a, _), (b, _)| {
            let a = a.as_text().unwrap_or_default();
            let b = b.as_text().unwrap_or_default();
            a.len()
                .cmp(&b.len())
                .then_with(|| a.as_bytes().cmp(b.as_bytes()))
        });
    }
    Value::Map(options)
}

impl std::fmt::Display for Personality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`Personality::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPersonality(pub String);

impl std::fmt::Display for UnknownPersonality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = Personality::ALL.iter().map(|p| p.name()).collect();
        write!(
            f,
            "{:?} is not a personality ({})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownPersonality {}

impl std::str::FromStr for Personality {
    type Err = UnknownPersonality;

    fn from_str(text: &str) -> Result<Self, UnknownPersonality> {
        Personality::ALL
            .into_iter()
            .find(|p| p.name() == text.trim())
            .ok_or_else(|| UnknownPersonality(text.to_string()))
    }
}
