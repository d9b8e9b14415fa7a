//! Finding authenticators: the joint between the transports and everything
//! that needs "the authenticator".
//!
//! Each transport crate provides a [`Source`]: it lists the devices it can
//! see without opening or touching anything, and opens one of them as an
//! [`Authenticator`]. A [`Discovery`] is a list of sources (the facade
//! composes one per enabled transport) and answers the four questions every
//! user of the library has:
//!
//! | question | call | taps |
//! |---|---|---|
//! | what is connected? | [`Discovery::list`] | none; nothing is opened |
//! | open this one | [`Discovery::open`] | none |
//! | which one holds this credential? | [`Discovery::find_holder`] | none: a getAssertion with `up=false` |
//! | let the user choose one | [`Discovery::choose`] | one, on the chosen device; the others are cancelled |
//!
//! A [`Selector`] names one device: `hid:PATH`, `nfc:READER` (any unique
//! part of the reader's name) or `sim:STATEFILE` (the software
//! authenticator, which protects nothing). [`Discovery::only`] restricts a
//! discovery to the device a selector names.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::{
    Authenticator, AuthenticatorInfo, CancelFlag, CredentialId, Error, Prompt, TransportError,
    TransportKind,
};

/// An opened authenticator behind any transport, movable to another thread.
pub type DynAuthenticator = Box<dyn Authenticator + Send>;

/// What the user is told whenever a simulated authenticator is opened (see
/// [`simulator_warning`]).
pub const SIMULATOR_WARNING: &str =
    "it protects nothing; its secrets sit in a plain file or in the memory of the process serving it";

/// The warning given through [`Prompt::warning`] whenever the simulated
/// authenticator with the state file `path` is opened.
pub fn simulator_warning(path: &str) -> String {
    format!("using the software authenticator {path} (tokenring-sim): {SIMULATOR_WARNING}")
}

/// One device, named: `hid:PATH`, `nfc:READER` or `sim:STATEFILE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Selector {
    /// A USB HID device path (`hid:/dev/hidraw3`).
    Hid(String),
    /// A PC/SC reader name (`nfc:ACS ACR122U 00 00`); a unique part of the
    /// name is enough.
    Nfc(String),
    /// A simulator state file (`sim:/tmp/token.json`), or the socket of a
    /// simulator served by another process (`sim:/tmp/sim.sock`): protects
    /// nothing.
    Sim(PathBuf),
}

impl Selector {
    /// The transport of the device this selector names.
    pub fn transport(&self) -> TransportKind {
        match self {
            Selector::Hid(_) => TransportKind::Hid,
            Selector::Nfc(_) => TransportKind::Nfc,
            Selector::Sim(_) => TransportKind::Sim,
        }
    }

    /// The selector of the device `path` on `transport`.
    pub fn new(transport: TransportKind, path: &str) -> Selector {
        match transport {
            TransportKind::Hid => Selector::Hid(path.to_string()),
            TransportKind::Nfc => Selector::Nfc(path.to_string()),
            TransportKind::Sim => Selector::Sim(PathBuf::from(path)),
        }
    }
}

impl FromStr for Selector {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = || {
            Error::BadSelector(format!(
                "{text:?} is not an authenticator selector: use hid:PATH, nfc:READER or \
                 sim:STATEFILE"
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

/// A device a [`Source`] sees, before anything is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The selector that names it.
    pub selector: Selector,
    /// A name for the user: product, or reader name.
    pub name: String,
    /// Why it cannot be opened, when listing already tells (a hidraw node
    /// this user may not open: the message names the udev fix).
    pub problem: Option<TransportError>,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = self.selector.to_string();
        if self.name.is_empty() || target.ends_with(&self.name) {
            f.write_str(&target)
        } else {
            write!(f, "{target} ({})", self.name)
        }
    }
}

/// A transport's view of the authenticators it reaches: the joint every
/// transport crate implements (USB HID, NFC, the simulator) and
/// [`Discovery`] composes.
pub trait Source: Send + Sync {
    /// The transport this source reaches authenticators through.
    fn transport(&self) -> TransportKind;

    /// Every device connected through this transport, without opening or
    /// touching any. An error means the transport itself could not be
    /// looked at (no PC/SC service, …).
    fn list(&self) -> Result<Vec<Device>, Error>;

    /// Opens the device `selector` names (a selector of this source's
    /// transport) as an authenticator. No tap.
    fn open(&self, selector: &Selector) -> Result<DynAuthenticator, Error>;
}

/// An authenticator that [`Discovery`] opened, with what it says about itself.
pub struct Opened {
    /// The device it was opened as.
    pub device: Device,
    /// What it said about itself (getInfo, already cached: no round trip).
    pub info: AuthenticatorInfo,
    /// The authenticator.
    pub authenticator: DynAuthenticator,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("device", &self.device)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Opened {
    /// "hid:/dev/hidraw3 (Yubico YubiKey)", for messages.
    pub fn label(&self) -> String {
        let device = Device {
            name: self.info.name.clone(),
            ..self.device.clone()
        };
        device.to_string()
    }
}

/// A device that was seen but could not be used, or a transport that could
/// not be looked at, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The device, when the problem is about one.
    pub device: Option<Device>,
    /// What went wrong and what to do ("permission denied … udev rules …",
    /// "no authenticator on the reader: hold your authenticator to it").
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.device {
            Some(device) => write!(f, "{device}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// What [`Discovery::list`] saw.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Every device seen, usable or not (see [`Device::problem`]).
    pub devices: Vec<Device>,
    /// Transports that could not be looked at ("nfc: the PC/SC service
    /// (pcscd) is not running").
    pub problems: Vec<Problem>,
}

/// What [`Discovery::open_all`] opened, and what it could not.
#[derive(Debug, Default)]
pub struct Found {
    /// The authenticators that opened.
    pub opened: Vec<Opened>,
    /// Devices that did not open, transports that could not be looked at.
    pub problems: Vec<Problem>,
}

/// A list of [`Source`]s, and the ways to find an authenticator among what
/// they see (see the module documentation). Cloning is cheap: the sources
/// are shared.
#[derive(Default, Clone)]
pub struct Discovery {
    sources: Vec<Arc<dyn Source>>,
    only: Option<Selector>,
}

impl fmt::Debug for Discovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let transports: Vec<TransportKind> = self.sources.iter().map(|s| s.transport()).collect();
        f.debug_struct("Discovery")
            .field("sources", &transports)
            .field("only", &self.only)
            .finish()
    }
}

impl Discovery {
    /// A discovery with no sources.
    pub fn new() -> Discovery {
        Discovery::default()
    }

    /// Adds a source (looked at after the ones already there).
    pub fn with_source(mut self, source: impl Source + 'static) -> Discovery {
        self.add_source(Arc::new(source));
        self
    }

    /// Adds a source (looked at after the ones already there).
    pub fn add_source(&mut self, source: Arc<dyn Source>) {
        self.sources.push(source);
    }

    /// Adds a source in place of every source of the same transport (at
    /// the place of the first of them, or at the end).
    pub fn replace_source(&mut self, source: Arc<dyn Source>) {
        let transport = source.transport();
        match self.sources.iter().position(|s| s.transport() == transport) {
            Some(first) => {
                self.sources[first] = source;
                let mut index = 0;
                self.sources.retain(|s| {
                    index += 1;
                    index - 1 == first || s.transport() != transport
                });
            }
            None => self.sources.push(source),
        }
    }

    /// Considers only the device `selector` names: [`list`](Self::list)
    /// shows it alone, [`find_holder`](Self::find_holder) probes it alone
    /// and [`choose`](Self::choose) takes it without a tap.
    pub fn only(mut self, selector: Selector) -> Discovery {
        self.only = Some(selector);
        self
    }

    /// The selector given to [`only`](Self::only), if any.
    pub fn selector(&self) -> Option<&Selector> {
        self.only.as_ref()
    }

    /// The transports of the sources, in order.
    pub fn transports(&self) -> Vec<TransportKind> {
        self.sources.iter().map(|s| s.transport()).collect()
    }

    fn source_for(&self, selector: &Selector) -> Result<&dyn Source, Error> {
        let transport = selector.transport();
        self.sources
            .iter()
            .find(|s| s.transport() == transport)
            .map(|s| &**s)
            .ok_or_else(|| {
                Error::BadSelector(format!(
                    "{selector}: this program was built without {transport} support"
                ))
            })
    }

    /// Every device the sources see (or the one [`only`](Self::only)
    /// names), without opening or touching anything.
    pub fn list(&self) -> Listing {
        let mut listing = Listing::default();
        if let Some(selector) = &self.only {
            listing.devices.push(Device {
                selector: selector.clone(),
                name: String::new(),
                problem: None,
            });
            return listing;
        }
        for source in &self.sources {
            match source.list() {
                Ok(devices) => listing.devices.extend(devices),
                Err(e) => listing.problems.push(Problem {
                    device: None,
                    message: format!("{}: {e}", source.transport()),
                }),
            }
        }
        listing
    }

    /// Opens the device `selector` names. No tap.
    pub fn open(&self, selector: &Selector, prompt: &dyn Prompt) -> Result<Opened, Error> {
        let device = Device {
            selector: selector.clone(),
            name: String::new(),
            problem: None,
        };
        self.open_device(device, prompt)
    }

    fn open_device(&self, device: Device, prompt: &dyn Prompt) -> Result<Opened, Error> {
        if let Some(problem) = &device.problem {
            return Err(Error::Transport(problem.clone()));
        }
        let source = self.source_for(&device.selector)?;
        let mut authenticator = source.open(&device.selector)?;
        let info = authenticator.describe()?;
        if info.transport == TransportKind::Sim {
            prompt.warning(&simulator_warning(&info.path));
        }
        Ok(Opened {
            device,
            info,
            authenticator,
        })
    }

    /// Opens every device [`list`](Self::list) shows; those that do not
    /// open are reported with why. No tap.
    pub fn open_all(&self, prompt: &dyn Prompt) -> Found {
        let Listing { devices, problems } = self.list();
        let mut found = Found {
            opened: Vec::new(),
            problems,
        };
        for device in devices {
            match self.open_device(device.clone(), prompt) {
                Ok(opened) => found.opened.push(opened),
                Err(e) => found.problems.push(Problem {
                    device: Some(device),
                    message: e.to_string(),
                }),
            }
        }
        found
    }

    /// The authenticator that holds `credential` (made for `rp_id`), found
    /// by asking each one with a getAssertion with `up=false`: nobody
    /// touches anything, and only the right one will blink afterwards.
    ///
    /// Nothing connected: [`Error::NoAuthenticator`]; nothing holds it:
    /// [`Error::WrongAuthenticator`]. Both list what was tried.
    pub fn find_holder(
        &self,
        credential: &CredentialId,
        rp_id: &str,
        prompt: &dyn Prompt,
    ) -> Result<Opened, Error> {
        let found = match &self.only {
            // The one device asked for: its own error when it does not open.
            Some(selector) => Found {
                opened: vec![self.open(selector, prompt)?],
                problems: Vec::new(),
            },
            None => self.open_all(prompt),
        };
        if found.opened.is_empty() {
            return Err(Error::NoAuthenticator {
                tried: found.problems.iter().map(Problem::to_string).collect(),
            });
        }
        let several = found.opened.len() > 1;
        let mut tried = Vec::new();
        for mut opened in found.opened {
            if !opened.info.hmac_secret {
                tried.push(format!("{}: no hmac-secret support", opened.label()));
                continue;
            }
            match opened.authenticator.probe(credential, rp_id) {
                Ok(true) => {
                    if several {
                        prompt.info(&format!("using {}", opened.label()));
                    }
                    return Ok(opened);
                }
                Ok(false) => tried.push(opened.label()),
                Err(e) => tried.push(format!("{}: {e}", opened.label())),
            }
        }
        tried.extend(found.problems.iter().map(Problem::to_string));
        Err(Error::WrongAuthenticator { tried })
    }

    /// One authenticator with hmac-secret for a new credential: the one
    /// [`only`](Self::only) names, the only one connected, or — with
    /// several — the one the user touches (authenticatorSelection is sent
    /// to all at once; the others are cancelled as soon as one is touched).
    pub fn choose(&self, prompt: &dyn Prompt) -> Result<Opened, Error> {
        if let Some(selector) = &self.only {
            let opened = self.open(selector, prompt)?;
            if !opened.info.hmac_secret {
                return Err(Error::HmacSecretUnsupported);
            }
            return Ok(opened);
        }
        let found = self.open_all(prompt);
        let (eligible, ineligible): (Vec<Opened>, Vec<Opened>) =
            found.opened.into_iter().partition(|o| o.info.hmac_secret);
        let mut tried: Vec<String> = ineligible
            .iter()
            .map(|o| format!("{}: no hmac-secret support", o.label()))
            .collect();
        tried.extend(found.problems.iter().map(Problem::to_string));
        let mut eligible = eligible;
        match eligible.len() {
            0 => Err(Error::NoAuthenticator { tried }),
            1 => eligible.pop().ok_or(Error::NoAuthenticator { tried }),
            _ => race_for_selection(eligible, prompt),
        }
    }
}

/// A prompt for one contender in the tap race: cancelled when another
/// authenticator was chosen or the user cancelled.
struct Contender {
    cancel: CancelFlag,
}

impl Prompt for Contender {
    fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// Sends authenticatorSelection to every contender at once (one thread
/// each); the first one touched wins and the others are cancelled.
fn race_for_selection(contenders: Vec<Opened>, prompt: &dyn Prompt) -> Result<Opened, Error> {
    let names: Vec<String> = contenders.iter().map(Opened::label).collect();
    prompt.touch_needed(&format!(
        "choose it (touch the one to use: {})",
        names.join(", ")
    ));
    let flags: Vec<CancelFlag> = contenders.iter().map(|_| CancelFlag::new()).collect();
    let (tx, rx) = mpsc::channel::<(usize, Result<(), Error>)>();
    let mut contenders = contenders;
    let mut winner: Option<usize> = None;
    let mut errors: Vec<String> = Vec::new();
    let mut cancelled = false;
    std::thread::scope(|scope| {
        for (index, (contender, flag)) in contenders.iter_mut().zip(&flags).enumerate() {
            let tx = tx.clone();
            let waiting = Contender {
                cancel: flag.clone(),
            };
            let authenticator = &mut contender.authenticator;
            scope.spawn(move || {
                let result = authenticator.select(&waiting);
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
        return Err(Error::Cancelled);
    }
    match winner {
        Some(index) if index < contenders.len() => Ok(contenders.swap_remove(index)),
        _ if errors.is_empty() => Err(Error::Cancelled),
        _ => Err(Error::NoAuthenticator { tried: errors }),
    }
}

/// The reader named exactly, or the only one whose name contains `wanted`
/// (case-insensitive): how `nfc:READER` selectors pick a reader.
pub fn match_reader<'a>(readers: &'a [String], wanted: &str) -> Option<&'a str> {
    if let Some(exact) = readers.iter().find(|r| *r == wanted) {
        return Some(exact);
    }
    let lower = wanted.to_lowercase();
    let mut matching = readers.iter().filter(|r| r.to_lowercase().contains(&lower));
    match (matching.next(), matching.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn selectors_parse_and_print() {
        for text in [
            "hid:/dev/hidraw3",
            "nfc:ACS ACR122U 00 00",
            "sim:/tmp/s.json",
        ] {
            let selector: Selector = text.parse().unwrap();
            assert_eq!(selector.to_string(), text);
            assert_eq!(
                Selector::new(selector.transport(), text.split_once(':').unwrap().1),
                selector
            );
        }
        assert_eq!(
            "nfc:a:b".parse::<Selector>().ok(),
            Some(Selector::Nfc("a:b".into()))
        );
        for bad in ["", "hid", "hid:", "usb:/dev/x", "/dev/hidraw0"] {
            let e = bad.parse::<Selector>().unwrap_err();
            assert!(matches!(e, Error::BadSelector(_)));
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
            match_reader(&readers, "acr122"),
            Some("ACS ACR122U PICC Interface 00 00")
        );
        assert_eq!(
            match_reader(&readers, "Virtual PCD 00 01"),
            Some("Virtual PCD 00 01")
        );
        assert_eq!(match_reader(&readers, "Virtual"), None);
        assert_eq!(match_reader(&readers, "nothing"), None);
    }

    #[test]
    fn problems_and_devices_name_themselves() {
        let device = Device {
            selector: Selector::Hid("/dev/hidraw3".into()),
            name: "Yubico YubiKey".into(),
            problem: None,
        };
        let p = Problem {
            device: Some(device),
            message: "permission denied".into(),
        };
        assert_eq!(
            p.to_string(),
            "hid:/dev/hidraw3 (Yubico YubiKey): permission denied"
        );
        let reader = Device {
            selector: Selector::Nfc("Reader 0".into()),
            name: "Reader 0".into(),
            problem: None,
        };
        assert_eq!(reader.to_string(), "nfc:Reader 0");
    }
}
