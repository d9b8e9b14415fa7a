//! Finding the right authenticator without a tap (issue 4, "Discovery and
//! choice").
//!
//! - An explicit [`Selector`] (`--authenticator` or `TOKENRING_AUTHENTICATOR`)
//!   names one device: `hid:PATH`, `nfc:READER` or `sim:STATEFILE`.
//! - Otherwise every USB HID and NFC (PC/SC) authenticator is looked at; a
//!   device that cannot be opened is remembered with its reason (e.g. the
//!   udev hint for a hidraw node the user may not open, or "no
//!   authenticator on reader …") so the final message says what was tried.
//! - For an existing vault ([`open_for_credential`]) every eligible
//!   authenticator (hmac-secret) is probed with a getAssertion with
//!   `up=false` (DESIGN.md, "Wrong token": NO_CREDENTIALS without a tap) and
//!   the one that holds the vault's credential is used.
//! - For a new vault ([`choose_for_enrollment`]) the only eligible
//!   authenticator is used; with several, authenticatorSelection (CTAP 2.1
//!   §6.9) is sent to all of them at once and the first one touched wins, the
//!   others are cancelled through their prompts' cancel flags.
//!
//! The software authenticator is only ever used when named (`sim:…`), and
//! then says once on stderr that it protects nothing. Its user presence is
//! scripted by `TOKENRING_SIM_PRESENCE` ([`SIM_PRESENCE_ENV`]).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::mpsc;
use std::time::Duration;

use tokenring_core::{
    Authenticator, AuthenticatorInfo, CancelFlag, Ctap2Client, Prompt, Transport, TransportKind,
};
use tokenring_vault::VaultCredential;

use crate::Error;

/// The environment variable that selects an authenticator (same syntax as
/// `--authenticator`).
pub const AUTHENTICATOR_ENV: &str = "TOKENRING_AUTHENTICATOR";

/// The environment variable that scripts the simulator's user presence:
/// `approve` (default), `deny`, `timeout`, `delay:MILLIS`, or a
/// comma-separated script of those (one answer per touch; once the script
/// is used up, nobody touches any more). `timeout` runs on the simulator's
/// virtual clock (instant); a script with `delay:` runs on the real clock,
/// so the wait really lasts and can be cancelled with Ctrl-C.
pub const SIM_PRESENCE_ENV: &str = "TOKENRING_SIM_PRESENCE";

/// An authenticator behind any transport, movable to another thread.
pub type DynAuthenticator = Box<dyn Authenticator + Send>;

/// One authenticator, named explicitly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// A USB HID device path (`hid:/dev/hidraw3`).
    Hid(String),
    /// A PC/SC reader name (`nfc:ACS ACR122U 00 00`); a unique part of the
    /// name is enough.
    Nfc(String),
    /// A simulator state file (`sim:/tmp/token.json`): protects nothing.
    Sim(PathBuf),
}

impl FromStr for Selector {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = || {
            Error::BadSelector(format!(
                "{text:?} is not an authenticator selector: use hid:PATH, nfc:READER or sim:STATEFILE \
                 (see `tokenring devices`)"
            ))
        };
        let (kind, rest) = text.split_once(':').ok_or_else(bad)?;
        if rest.is_empty() {
            return Err(bad());
        }
        match kind {
            "hid" => Ok(Selector::Hid(rest.to_string())),
            "nfc" => Ok(Selector::Nfc(rest.to_string())),
            "sim" => Ok(Selector::Sim(PathBuf::from(rest))),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Hid(path) => write!(f, "hid:{path}"),
            Selector::Nfc(reader) => write!(f, "nfc:{reader}"),
            Selector::Sim(path) => write!(f, "sim:{}", path.display()),
        }
    }
}

/// Which authenticators to consider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceOptions {
    /// One authenticator named by `--authenticator` / `TOKENRING_AUTHENTICATOR`;
    /// `None`: discover USB HID and NFC authenticators.
    pub selector: Option<Selector>,
}

impl DeviceOptions {
    /// The options from `TOKENRING_AUTHENTICATOR` (unset or empty: discover).
    pub fn from_env() -> Result<Self, Error> {
        match std::env::var(AUTHENTICATOR_ENV) {
            Ok(text) if !text.is_empty() => Ok(DeviceOptions {
                selector: Some(text.parse()?),
            }),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(DeviceOptions::default()),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::BadSelector(format!(
                "{AUTHENTICATOR_ENV} is not valid UTF-8"
            ))),
        }
    }
}

/// An opened authenticator and a label for messages ("usb /dev/hidraw3
/// (Yubico YubiKey)").
pub struct Candidate {
    /// For messages and `tried` lists.
    pub label: String,
    /// What it says about itself (getInfo, already cached by the client).
    pub info: AuthenticatorInfo,
    /// PIN retries left, when asked for (`tokenring devices`) and a PIN is set.
    pub pin_retries: Option<u8>,
    /// The authenticator.
    pub authenticator: DynAuthenticator,
}

impl fmt::Debug for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Candidate")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl Candidate {
    /// Wraps an opened authenticator (asks it to describe itself: getInfo is
    /// cached by the client, so no round trip).
    pub fn new(mut authenticator: DynAuthenticator) -> Result<Candidate, Error> {
        let info = authenticator.describe()?;
        Ok(Candidate {
            label: label_of(&info),
            info,
            pin_retries: None,
            authenticator,
        })
    }

    /// Wraps a client; with `detail`, also asks for the PIN retries left
    /// (getPINRetries, CTAP 2.1 §6.5.5.2: no tap) when a PIN is set.
    #[cfg_attr(
        not(any(feature = "hid", feature = "nfc", feature = "sim")),
        allow(dead_code)
    )]
    fn from_client<T>(mut client: Ctap2Client<T>, detail: bool) -> Result<Candidate, Error>
    where
        T: Transport + Send + 'static,
    {
        let pin_retries = if detail && client.describe()?.client_pin == Some(true) {
            client.pin_retries().ok()
        } else {
            None
        };
        let mut candidate = Candidate::new(Box::new(client))?;
        candidate.pin_retries = pin_retries;
        Ok(candidate)
    }
}

fn label_of(info: &AuthenticatorInfo) -> String {
    format!("{} {} ({})", info.transport, info.path, info.name)
}

/// A device that was seen but could not be used, or a transport that could
/// not be looked at, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The device, when the problem is about one: transport, path or reader,
    /// name.
    pub device: Option<(TransportKind, String, String)>,
    /// What went wrong and what to do ("permission denied … udev rules …",
    /// "no authenticator on reader …: hold your authenticator to the reader").
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.device {
            Some((kind, path, name)) if name.is_empty() || name == path => {
                write!(f, "{kind} {path}: {}", self.message)
            }
            Some((kind, path, name)) => write!(f, "{kind} {path} ({name}): {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// What discovery found: the authenticators that opened, and the devices
/// that did not (with what to do about it).
#[derive(Debug, Default)]
pub struct Discovery {
    /// Opened authenticators.
    pub candidates: Vec<Candidate>,
    /// Devices that could not be opened, transports that could not be
    /// looked at.
    pub problems: Vec<Problem>,
}

#[cfg_attr(not(any(feature = "hid", feature = "nfc")), allow(dead_code))]
impl Discovery {
    fn note(&mut self, message: String) {
        self.problems.push(Problem {
            device: None,
            message,
        });
    }

    fn device_problem(&mut self, kind: TransportKind, path: &str, name: &str, error: &Error) {
        self.problems.push(Problem {
            device: Some((kind, path.to_string(), name.to_string())),
            message: error.to_string(),
        });
    }

    fn tried(problems: Vec<Problem>) -> Vec<String> {
        problems.iter().map(Problem::to_string).collect()
    }
}

/// One row of `tokenring devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceReport {
    /// Product or reader name.
    pub name: String,
    /// `usb`, `nfc` or `simulator`.
    pub transport: String,
    /// Device path, reader name or state file.
    pub path: String,
    /// The selector that names this device (`hid:/dev/hidraw3`).
    pub selector: String,
    /// Whether it supports hmac-secret (`None`: it could not be asked).
    pub hmac_secret: Option<bool>,
    /// "set (8 retries left)", "not set", "not supported" (`None`: unknown).
    pub pin: Option<String>,
    /// Why it could not be opened, with what to do.
    pub error: Option<String>,
}

#[cfg(feature = "sim")]
static SIM_WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Prints the simulator warning on stderr, once per process.
#[cfg(feature = "sim")]
fn warn_simulator(path: &std::path::Path) {
    if !SIM_WARNED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        eprintln!(
            "warning: using the software authenticator {} (tokenring-sim): it protects nothing; \
             its secrets sit in a plain file",
            path.display()
        );
    }
}

/// Opens the authenticator a selector names, as a CTAP2 client over its
/// transport. No tap.
pub fn open_selected(selector: &Selector) -> Result<DynAuthenticator, Error> {
    Ok(open_candidate(selector, false)?.authenticator)
}

fn open_candidate(selector: &Selector, detail: bool) -> Result<Candidate, Error> {
    let mut candidate = match selector {
        Selector::Sim(path) => open_sim(path, detail),
        Selector::Hid(path) => open_hid(path, detail),
        Selector::Nfc(reader) => open_nfc(reader, detail),
    }?;
    candidate.label = format!("{selector} ({})", candidate.info.name);
    Ok(candidate)
}

#[cfg(feature = "sim")]
fn open_sim(path: &std::path::Path, detail: bool) -> Result<Candidate, Error> {
    use tokenring_sim::{ClockMode, SimTransport, Simulator};
    warn_simulator(path);
    let policy_text = std::env::var(SIM_PRESENCE_ENV).unwrap_or_default();
    let (policy, real_clock) = parse_presence(&policy_text)?;
    let mut sim = Simulator::open(path).map_err(|e| {
        Error::Other(format!(
            "cannot open the simulated authenticator {}: {e}",
            path.display()
        ))
    })?;
    sim.set_presence_policy(policy);
    if real_clock {
        sim.set_clock(ClockMode::Real);
    }
    let client = Ctap2Client::new(SimTransport::from_simulator(sim))?;
    Candidate::from_client(client, detail)
}

#[cfg(not(feature = "sim"))]
fn open_sim(path: &std::path::Path, _detail: bool) -> Result<Candidate, Error> {
    Err(Error::BadSelector(format!(
        "sim:{}: this tokenring was built without the simulator (feature `sim`)",
        path.display()
    )))
}

/// Parses `TOKENRING_SIM_PRESENCE` (see [`SIM_PRESENCE_ENV`]); the flag says
/// whether the simulator must run on the real clock (a `delay:` answer).
#[cfg(feature = "sim")]
pub fn parse_presence(text: &str) -> Result<(tokenring_sim::PresencePolicy, bool), Error> {
    let text = text.trim();
    if text.is_empty() {
        return Ok((tokenring_sim::PresencePolicy::approve(), false));
    }
    let policy: tokenring_sim::PresencePolicy = text
        .parse()
        .map_err(|e| Error::BadSelector(format!("{SIM_PRESENCE_ENV}={text:?}: {e}")))?;
    let real_clock = policy.waits();
    Ok((policy, real_clock))
}

#[cfg(feature = "hid")]
fn open_hid(path: &str, detail: bool) -> Result<Candidate, Error> {
    let transport = tokenring_hid::open_path(path).map_err(tokenring_core::Error::from)?;
    Candidate::from_client(Ctap2Client::new(transport)?, detail)
}

#[cfg(not(feature = "hid"))]
fn open_hid(path: &str, _detail: bool) -> Result<Candidate, Error> {
    Err(Error::BadSelector(format!(
        "hid:{path}: this tokenring was built without USB HID support (feature `hid`)"
    )))
}

#[cfg(feature = "nfc")]
fn open_nfc(reader: &str, detail: bool) -> Result<Candidate, Error> {
    use tokenring_nfc::{NfcError, NfcOptions, PcscContext};
    let context = PcscContext::establish().map_err(tokenring_core::Error::from)?;
    let readers = context.readers().map_err(tokenring_core::Error::from)?;
    let name = match_reader(&readers, reader).ok_or_else(|| {
        let known = if readers.is_empty() {
            "no reader is connected".to_string()
        } else {
            format!("readers: {}", readers.join(", "))
        };
        Error::BadSelector(format!("nfc:{reader}: no such reader ({known})"))
    })?;
    let transport = context
        .open(&name, NfcOptions::default())
        .map_err(|e: NfcError| tokenring_core::Error::from(e))?;
    Candidate::from_client(Ctap2Client::new(transport)?, detail)
}

#[cfg(not(feature = "nfc"))]
fn open_nfc(reader: &str, _detail: bool) -> Result<Candidate, Error> {
    Err(Error::BadSelector(format!(
        "nfc:{reader}: this tokenring was built without NFC support (feature `nfc`)"
    )))
}

/// The reader named exactly, or the only one whose name contains `wanted`
/// (case-insensitive).
#[cfg_attr(not(feature = "nfc"), allow(dead_code))]
fn match_reader(readers: &[String], wanted: &str) -> Option<String> {
    if let Some(exact) = readers.iter().find(|r| *r == wanted) {
        return Some(exact.clone());
    }
    let lower = wanted.to_lowercase();
    let mut matching = readers.iter().filter(|r| r.to_lowercase().contains(&lower));
    match (matching.next(), matching.next()) {
        (Some(only), None) => Some(only.clone()),
        _ => None,
    }
}

/// Opens every USB HID and NFC authenticator, keeping a line for each one
/// that cannot be opened. No tap.
pub fn discover() -> Discovery {
    discover_with(false)
}

fn discover_with(detail: bool) -> Discovery {
    let mut found = Discovery::default();
    discover_hid(&mut found, detail);
    discover_nfc(&mut found, detail);
    found
}

#[cfg(feature = "hid")]
fn discover_hid(found: &mut Discovery, detail: bool) {
    let devices = match tokenring_hid::enumerate() {
        Ok(devices) => devices,
        Err(e) => {
            found.note(format!("usb: {e}"));
            return;
        }
    };
    for device in devices {
        let path = device.info.path.clone();
        let opened = device
            .access
            .map_err(|e| tokenring_core::Error::from(tokenring_core::TransportError::from(e)))
            .and_then(|()| {
                tokenring_hid::open_transport(&device.info).map_err(tokenring_core::Error::from)
            })
            .and_then(Ctap2Client::new);
        match opened
            .map_err(Error::from)
            .and_then(|c| Candidate::from_client(c, detail))
        {
            Ok(candidate) => found.candidates.push(candidate),
            Err(e) => {
                found.device_problem(TransportKind::Hid, &path, &device.info.display_name(), &e)
            }
        }
    }
}

#[cfg(not(feature = "hid"))]
fn discover_hid(_found: &mut Discovery, _detail: bool) {}

#[cfg(feature = "nfc")]
fn discover_nfc(found: &mut Discovery, detail: bool) {
    use tokenring_nfc::{NfcError, NfcOptions, PcscContext};
    let context = match PcscContext::establish() {
        Ok(context) => context,
        // No PC/SC service: nothing to look at, and nothing the user must
        // fix unless they use NFC; say so only in the tried list.
        Err(NfcError::NoService) => {
            found.note("nfc: the PC/SC service (pcscd) is not running".to_string());
            return;
        }
        Err(e) => {
            found.note(format!("nfc: {e}"));
            return;
        }
    };
    let readers = match context.readers() {
        Ok(readers) => readers,
        Err(e) => {
            found.note(format!("nfc: {e}"));
            return;
        }
    };
    for reader in readers {
        let opened = context
            .open(&reader, NfcOptions::default())
            .map_err(tokenring_core::Error::from)
            .and_then(Ctap2Client::new);
        match opened
            .map_err(Error::from)
            .and_then(|c| Candidate::from_client(c, detail))
        {
            Ok(candidate) => found.candidates.push(candidate),
            Err(e) => found.device_problem(TransportKind::Nfc, &reader, &reader, &e),
        }
    }
}

#[cfg(not(feature = "nfc"))]
fn discover_nfc(_found: &mut Discovery, _detail: bool) {}

/// The authenticators to consider: the selected one, or all discovered.
fn candidates(opts: &DeviceOptions) -> Result<Discovery, Error> {
    match &opts.selector {
        Some(selector) => {
            let candidate = open_candidate(selector, false)?;
            Ok(Discovery {
                candidates: vec![candidate],
                problems: Vec::new(),
            })
        }
        None => Ok(discover()),
    }
}

/// For an existing vault: the authenticator that holds its credential,
/// found by probing each eligible one with `up=false` (no tap).
///
/// None at all → [`Error::NoAuthenticator`]; none holds it →
/// [`Error::WrongAuthenticator`] listing what was tried.
pub fn open_for_credential(
    opts: &DeviceOptions,
    credential: &VaultCredential,
    prompt: &dyn Prompt,
) -> Result<DynAuthenticator, Error> {
    let found = candidates(opts)?;
    find_holder(found, credential, prompt)
}

/// Probes `found`'s candidates for `credential` (no tap) and returns the
/// first that holds it. See [`open_for_credential`].
pub fn find_holder(
    found: Discovery,
    credential: &VaultCredential,
    prompt: &dyn Prompt,
) -> Result<DynAuthenticator, Error> {
    let Discovery {
        candidates,
        problems,
    } = found;
    if candidates.is_empty() {
        return Err(Error::NoAuthenticator {
            tried: Discovery::tried(problems),
        });
    }
    let several = candidates.len() > 1;
    let mut tried = Vec::new();
    for mut candidate in candidates {
        if !candidate.info.hmac_secret {
            tried.push(format!("{}: no hmac-secret support", candidate.label));
            continue;
        }
        match candidate
            .authenticator
            .probe(&credential.id, &credential.rp_id)
        {
            Ok(true) => {
                if several {
                    prompt.info(&format!("using {}", candidate.label));
                }
                return Ok(candidate.authenticator);
            }
            Ok(false) => tried.push(candidate.label),
            Err(e) => tried.push(format!("{}: {e}", candidate.label)),
        }
    }
    tried.extend(problems.iter().map(Problem::to_string));
    Err(Error::WrongAuthenticator { tried })
}

/// For a new vault: the selected authenticator, the only eligible one, or —
/// with several — the one the user touches (authenticatorSelection sent to
/// all at once, the others cancelled).
pub fn choose_for_enrollment(
    opts: &DeviceOptions,
    prompt: &dyn Prompt,
) -> Result<DynAuthenticator, Error> {
    let found = candidates(opts)?;
    if opts.selector.is_some() {
        let candidate = found
            .candidates
            .into_iter()
            .next()
            .ok_or_else(|| Error::NoAuthenticator { tried: Vec::new() })?;
        if !candidate.info.hmac_secret {
            return Err(tokenring_core::Error::HmacSecretUnsupported.into());
        }
        return Ok(candidate.authenticator);
    }
    choose_among(found, prompt)
}

/// The eligible candidate of `found`, or the one touched first when there
/// are several. See [`choose_for_enrollment`].
pub fn choose_among(found: Discovery, prompt: &dyn Prompt) -> Result<DynAuthenticator, Error> {
    let Discovery {
        candidates,
        problems,
    } = found;
    let (eligible, ineligible): (Vec<Candidate>, Vec<Candidate>) =
        candidates.into_iter().partition(|c| c.info.hmac_secret);
    let mut tried: Vec<String> = ineligible
        .iter()
        .map(|c| format!("{}: no hmac-secret support", c.label))
        .collect();
    tried.extend(problems.iter().map(Problem::to_string));
    let mut eligible = eligible;
    match eligible.len() {
        0 => Err(Error::NoAuthenticator { tried }),
        1 => match eligible.pop() {
            Some(only) => Ok(only.authenticator),
            None => Err(Error::NoAuthenticator { tried }),
        },
        _ => race_for_selection(eligible, prompt),
    }
}

/// A prompt for one contender in the tap race: cancelled when another
/// authenticator was chosen or the user pressed Ctrl-C.
struct Contender {
    cancel: CancelFlag,
}

impl Prompt for Contender {
    fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// Sends authenticatorSelection to every candidate at once (one thread
/// each); the first one touched wins and the others are cancelled.
fn race_for_selection(
    candidates: Vec<Candidate>,
    prompt: &dyn Prompt,
) -> Result<DynAuthenticator, Error> {
    let names: Vec<String> = candidates.iter().map(|c| c.label.clone()).collect();
    prompt.touch_needed(&format!(
        "choose it for the new vault (touch the one to use: {})",
        names.join(", ")
    ));
    let flags: Vec<CancelFlag> = candidates.iter().map(|_| CancelFlag::new()).collect();
    let (tx, rx) = mpsc::channel::<(usize, Result<(), tokenring_core::Error>)>();
    let mut authenticators: Vec<DynAuthenticator> =
        candidates.into_iter().map(|c| c.authenticator).collect();
    let mut winner: Option<usize> = None;
    let mut errors: Vec<String> = Vec::new();
    let mut cancelled = false;
    std::thread::scope(|scope| {
        for (index, (authenticator, flag)) in authenticators.iter_mut().zip(&flags).enumerate() {
            let tx = tx.clone();
            let contender = Contender {
                cancel: flag.clone(),
            };
            scope.spawn(move || {
                let result = authenticator.select(&contender);
                // The receiver outlives every sender inside the scope.
                let _ = tx.send((index, result));
            });
        }
        drop(tx);
        let mut pending = flags.len();
        while pending > 0 {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok((index, result)) => {
                    pending -= 1;
                    match result {
                        Ok(()) if winner.is_none() && !cancelled => {
                            winner = Some(index);
                            for (i, flag) in flags.iter().enumerate() {
                                if i != index {
                                    flag.cancel();
                                }
                            }
                        }
                        Ok(()) => {}
                        Err(e) if e.is_cancelled() => {}
                        Err(e) => {
                            let name = names.get(index).cloned().unwrap_or_default();
                            errors.push(format!("{name}: {e}"));
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if !cancelled && winner.is_none() && prompt.is_cancelled() {
                        cancelled = true;
                        flags.iter().for_each(CancelFlag::cancel);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    });
    prompt.touch_done();
    if cancelled {
        return Err(tokenring_core::Error::Cancelled.into());
    }
    match winner {
        Some(index) if index < authenticators.len() => Ok(authenticators.swap_remove(index)),
        _ => {
            if errors.is_empty() {
                Err(tokenring_core::Error::Cancelled.into())
            } else {
                Err(Error::NoAuthenticator { tried: errors })
            }
        }
    }
}

/// What `tokenring devices` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceList {
    /// One row per authenticator seen, usable or not.
    pub devices: Vec<DeviceReport>,
    /// Notes about transports that could not be looked at ("the PC/SC
    /// service (pcscd) is not running").
    pub notes: Vec<String>,
}

/// The rows of `tokenring devices`: every USB HID and NFC authenticator
/// (and the simulator when one is named), with the devices that could not
/// be opened and why. No tap.
pub fn list_devices(opts: &DeviceOptions) -> DeviceList {
    let mut list = DeviceList::default();
    if let Some(selector @ Selector::Sim(path)) = &opts.selector {
        match open_candidate(selector, true) {
            Ok(candidate) => list.devices.push(report(candidate)),
            Err(e) => list.devices.push(DeviceReport {
                name: "TokenRing simulated authenticator".to_string(),
                transport: TransportKind::Simulator.to_string(),
                path: path.display().to_string(),
                selector: selector.to_string(),
                hmac_secret: None,
                pin: None,
                error: Some(e.to_string()),
            }),
        }
    }
    let found = discover_with(true);
    for candidate in found.candidates {
        list.devices.push(report(candidate));
    }
    for problem in found.problems {
        match problem.device {
            Some((kind, path, name)) => list.devices.push(DeviceReport {
                name,
                transport: kind.to_string(),
                selector: selector_for(kind, &path),
                path,
                hmac_secret: None,
                pin: None,
                error: Some(problem.message),
            }),
            None => list.notes.push(problem.message),
        }
    }
    list
}

fn selector_for(kind: TransportKind, path: &str) -> String {
    match kind {
        TransportKind::Hid => format!("hid:{path}"),
        TransportKind::Nfc => format!("nfc:{path}"),
        TransportKind::Simulator => format!("sim:{path}"),
        _ => path.to_string(),
    }
}

fn report(candidate: Candidate) -> DeviceReport {
    let info = &candidate.info;
    let selector = selector_for(info.transport, &info.path);
    let pin = match (info.client_pin, candidate.pin_retries) {
        (Some(true), Some(n)) => format!("set ({n} {} left)", if n == 1 { "try" } else { "tries" }),
        (Some(true), None) => "set".to_string(),
        (Some(false), _) => "not set".to_string(),
        (None, _) => "not supported".to_string(),
    };
    DeviceReport {
        name: info.name.clone(),
        transport: info.transport.to_string(),
        path: info.path.clone(),
        selector,
        hmac_secret: Some(info.hmac_secret),
        pin: Some(pin),
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse_and_print() {
        for text in [
            "hid:/dev/hidraw3",
            "nfc:ACS ACR122U 00 00",
            "sim:/tmp/s.json",
        ] {
            let selector: Selector = text.parse().expect("parses");
            assert_eq!(selector.to_string(), text);
        }
        assert_eq!(
            "nfc:a:b".parse::<Selector>().ok(),
            Some(Selector::Nfc("a:b".into()))
        );
        for bad in ["", "hid", "hid:", "usb:/dev/x", "/dev/hidraw0"] {
            let e = bad.parse::<Selector>().expect_err(bad);
            assert!(e
                .to_string()
                .contains("hid:PATH, nfc:READER or sim:STATEFILE"));
        }
    }

    #[test]
    fn readers_match_exactly_or_by_a_unique_part() {
        let readers = vec![
            "ACS ACR122U PICC Interface 00 00".to_string(),
            "Virtual PCD 00 00".to_string(),
            "Virtual PCD 00 01".to_string(),
        ];
        assert_eq!(
            match_reader(&readers, "acr122").as_deref(),
            Some("ACS ACR122U PICC Interface 00 00")
        );
        assert_eq!(
            match_reader(&readers, "Virtual PCD 00 01").as_deref(),
            Some("Virtual PCD 00 01")
        );
        assert_eq!(match_reader(&readers, "Virtual"), None);
        assert_eq!(match_reader(&readers, "nothing"), None);
    }

    #[cfg(feature = "sim")]
    #[test]
    fn presence_policies_parse() {
        use tokenring_sim::{PresenceAnswer, PresencePolicy};
        assert_eq!(
            parse_presence("").ok(),
            Some((PresencePolicy::approve(), false))
        );
        assert_eq!(
            parse_presence("deny").ok(),
            Some((PresencePolicy::deny(), false))
        );
        assert_eq!(
            parse_presence("timeout").ok(),
            Some((PresencePolicy::time_out(), false))
        );
        assert_eq!(
            parse_presence("delay:250").ok(),
            Some((
                PresencePolicy::approve_after(Duration::from_millis(250)),
                true
            ))
        );
        assert_eq!(
            parse_presence("approve, deny").ok(),
            Some((
                PresencePolicy::Scripted(vec![PresenceAnswer::Approve, PresenceAnswer::Deny]),
                false
            ))
        );
        assert!(parse_presence("maybe").is_err());
        assert!(parse_presence("delay:x").is_err());
    }

    #[test]
    fn problems_name_the_device() {
        let p = Problem {
            device: Some((
                TransportKind::Hid,
                "/dev/hidraw3".into(),
                "Yubico YubiKey".into(),
            )),
            message: "permission denied".into(),
        };
        assert_eq!(
            p.to_string(),
            "usb /dev/hidraw3 (Yubico YubiKey): permission denied"
        );
        let p = Problem {
            device: Some((TransportKind::Nfc, "Reader 0".into(), "Reader 0".into())),
            message: "no authenticator on reader".into(),
        };
        assert_eq!(p.to_string(), "nfc Reader 0: no authenticator on reader");
    }
}
