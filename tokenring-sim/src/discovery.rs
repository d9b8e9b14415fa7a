//! The simulator as a discovery [`Source`]: state files, or sockets of
//! served simulators ([`crate::SimSocketServer`], `tokenring-sim serve`),
//! named by the caller, never found on their own (the software
//! authenticator protects nothing, so it is only used when asked for by
//! name).

use std::path::PathBuf;

use tokenring_core::{
    Ctap2Client, Device, DynAuthenticator, Error, Selector, Source, TransportKind,
};

use crate::config::{ClockMode, PresencePolicy};
use crate::simulator::Simulator;
use crate::socket::SimSocketTransport;
use crate::transport::SimTransport;

/// Whether `path` is a Unix socket (a served simulator) rather than a
/// state file.
fn is_socket(path: &std::path::Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// The simulated authenticators of some state files (see the module
/// documentation). [`list`](Source::list) shows the state files given to
/// [`with_state_file`](Self::with_state_file); [`open`](Source::open)
/// opens any `sim:PATH` selector: a state file (the simulator then runs in
/// this process, writing its changes back) or the socket of a served
/// simulator (which keeps its own state and presence policy).
#[derive(Debug, Clone, Default)]
pub struct SimSource {
    state_files: Vec<PathBuf>,
    presence: Option<PresencePolicy>,
}

impl SimSource {
    /// A source that lists nothing and opens any `sim:` selector.
    pub fn new() -> SimSource {
        SimSource::default()
    }

    /// Lists (and so discovers) the simulator whose state is in `path`.
    pub fn with_state_file(mut self, path: impl Into<PathBuf>) -> SimSource {
        self.state_files.push(path.into());
        self
    }

    /// The simulated user's answers to touch requests, for every simulator
    /// this source opens from a state file (instead of the one in the
    /// file; a served simulator answers as its server says). A policy
    /// that waits (`delay:…`) runs the simulator on the real clock, so the
    /// wait really lasts and can be cancelled.
    pub fn presence(mut self, policy: PresencePolicy) -> SimSource {
        self.presence = Some(policy);
        self
    }
}

impl Source for SimSource {
    fn transport(&self) -> TransportKind {
        TransportKind::Sim
    }

    fn list(&self) -> Result<Vec<Device>, Error> {
        Ok(self
            .state_files
            .iter()
            .map(|path| Device {
                selector: Selector::Sim(path.clone()),
                name: String::new(),
                problem: None,
            })
            .collect())
    }

    fn open(&self, selector: &Selector) -> Result<DynAuthenticator, Error> {
        let Selector::Sim(path) = selector else {
            return Err(Error::BadSelector(format!(
                "{selector} is not a simulated authenticator"
            )));
        };
        if is_socket(path) {
            // A simulator served by another process: its presence policy
            // is the server's.
            return Ok(Box::new(Ctap2Client::new(SimSocketTransport::connect(
                path,
            )?)?));
        }
        let mut simulator = Simulator::open(path).map_err(|e| {
            Error::Transport(tokenring_core::TransportError::new(
                tokenring_core::TransportErrorKind::Io,
                format!(
                    "cannot open the simulated authenticator {}: {e}",
                    path.display()
                ),
            ))
        })?;
        if let Some(policy) = &self.presence {
            if policy.waits() {
                simulator.set_clock(ClockMode::Real);
            }
            simulator.set_presence_policy(policy.clone());
        }
        Ok(Box::new(Ctap2Client::new(SimTransport::from_simulator(
            simulator,
        ))?))
    }
}
