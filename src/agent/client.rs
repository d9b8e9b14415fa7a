//! The client side: [`AgentConnection`] (one connection, one request at a
//! time, events shown through the caller's [`Prompt`]) and [`AgentClient`]
//! (a [`SecretStore`] over the agent for a vault).

use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tokenring_core::{PinRequest, Prompt};
use tokenring_vault::Password;

use super::protocol::{
    self, AgentMessage, ClientMessage, ErrorKind, FrameError, FrameReader, FrameType, Name,
    NamesBody, StatusReport, WireSecret,
};
use crate::{Error, SecretStore, Secrets};

/// Where borrowed (service, user) names go as they arrive.
type NameSink<'a> = dyn FnMut(&str, &str) + 'a;

/// How often a waiting client looks at its prompt's cancel flag.
const POLL: Duration = Duration::from_millis(25);

/// One connection to an agent, checked to be served by our own uid.
pub struct AgentConnection {
    stream: UnixStream,
    pid: u32,
}

impl AgentConnection {
    /// Connects to the agent at `socket`. `Ok(None)` when no agent listens
    /// there (no socket, or a stale one); an error when one listens but
    /// cannot be used (another uid serves it, permission denied, …).
    pub fn open(socket: &Path) -> Result<Option<AgentConnection>, Error> {
        let stream = match UnixStream::connect(socket) {
            Ok(stream) => stream,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) =>
            {
                return Ok(None)
            }
            Err(e) => {
                return Err(Error::Agent(format!(
                    "cannot connect to the agent at {}: {e}",
                    socket.display()
                )))
            }
        };
        let cred = super::peer_credentials(&stream).map_err(|e| {
            Error::Agent(format!("cannot check who serves {}: {e}", socket.display()))
        })?;
        let me = rustix::process::geteuid();
        if cred.uid != me {
            return Err(Error::Agent(format!(
                "the socket {} is served by uid {}, not by you (uid {}); refusing to use it",
                socket.display(),
                cred.uid.as_raw(),
                me.as_raw()
            )));
        }
        let pid = cred.pid;
        stream
            .set_read_timeout(Some(POLL))
            .and_then(|()| stream.set_write_timeout(Some(Duration::from_secs(10))))
            .map_err(|e| Error::Agent(format!("cannot configure the agent socket: {e}")))?;
        Ok(Some(AgentConnection { stream, pid }))
    }

    /// Whether the agent still holds this connection open with nothing
    /// unread on it (it closes idle connections after a while).
    pub fn is_alive(&self) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            rustix::net::recv(
                &self.stream,
                &mut byte,
                rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT
            ),
            Err(rustix::io::Errno::AGAIN)
        )
    }

    /// The agent's process id (from the kernel, SO_PEERCRED).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `request` and returns the final reply, showing events through
    /// `prompt`, answering PIN requests from it, and sending `cancel` when
    /// it reports cancellation. An `error` reply becomes the typed error.
    pub fn request(
        &mut self,
        request: &ClientMessage,
        prompt: &dyn Prompt,
    ) -> Result<AgentMessage, Error> {
        self.exchange(request, prompt, None, false)
    }

    /// [`AgentConnection::request`], but an `error` reply is returned as
    /// it came (to tell a request an older agent does not know).
    pub fn request_keeping_errors(
        &mut self,
        request: &ClientMessage,
        prompt: &dyn Prompt,
    ) -> Result<AgentMessage, Error> {
        self.exchange(request, prompt, None, true)
    }

    /// Sends `list` and calls `each` with every (service, user) as the
    /// frames arrive, borrowed from them (no copy of a name without JSON
    /// escapes).
    pub fn list_names(
        &mut self,
        prompt: &dyn Prompt,
        each: &mut dyn FnMut(&str, &str),
    ) -> Result<(), Error> {
        match self.exchange(&ClientMessage::List, prompt, Some(each), false)? {
            AgentMessage::Names { .. } => Ok(()),
            other => Err(unexpected("list", &other)),
        }
    }

    /// Sends `request` and reads until its final reply. With `names`, the
    /// names of `names_part` and `names` frames go to it, borrowed, and the
    /// final reply is an empty `names`; without, `names_part` frames are
    /// gathered into the final `names`.
    fn exchange(
        &mut self,
        request: &ClientMessage,
        prompt: &dyn Prompt,
        mut names: Option<&mut NameSink<'_>>,
        keep_errors: bool,
    ) -> Result<AgentMessage, Error> {
        let bad = |e: FrameError| Error::Agent(format!("bad answer from the agent: {e}"));
        let mut parts: Vec<Name> = Vec::new();
        protocol::write_message(&mut self.stream, request)?;
        let mut reader = FrameReader::new(Duration::from_secs(30));
        let mut cancel_sent = false;
        loop {
            if !cancel_sent && prompt.is_cancelled() {
                protocol::write_message(&mut self.stream, &ClientMessage::Cancel)?;
                cancel_sent = true;
            }
            let body = match reader.poll(&mut self.stream) {
                Ok(Some(body)) => body,
                Ok(None) => continue,
                Err(FrameError::Closed | FrameError::Truncated) => {
                    return Err(Error::Agent(
                        "the agent closed the connection before answering (did it stop?)".into(),
                    ))
                }
                Err(e) => return Err(bad(e)),
            };
            if let Some(each) = names.as_mut() {
                let kind: FrameType<'_> = protocol::decode(&body).map_err(bad)?;
                let last = kind.kind == "names";
                if last || kind.kind == "names_part" {
                    let part: NamesBody<'_> = protocol::decode(&body).map_err(bad)?;
                    for name in &part.names {
                        each(&name.service, &name.user);
                    }
                    if last {
                        return Ok(AgentMessage::Names { names: Vec::new() });
                    }
                    continue;
                }
            }
            let message: AgentMessage = protocol::decode(&body).map_err(bad)?;
            match message {
                AgentMessage::NamesPart { names } => parts.extend(names),
                AgentMessage::Names { names } if !parts.is_empty() => {
                    parts.extend(names);
                    return Ok(AgentMessage::Names { names: parts });
                }
                AgentMessage::Touch { purpose } => prompt.touch_needed(&purpose),
                AgentMessage::TouchDone => prompt.touch_done(),
                AgentMessage::Keepalive { status } => prompt.keepalive(status.into()),
                AgentMessage::Info { message } => prompt.info(&message),
                AgentMessage::PinRequest {
                    purpose,
                    kind,
                    retries,
                    previous_wrong,
                } => {
                    let pin = prompt.pin(&PinRequest {
                        purpose: &purpose,
                        kind: kind.into(),
                        retries,
                        previous_wrong,
                    });
                    let answer = ClientMessage::Pin {
                        pin: pin.map(|p| WireSecret::new(p.expose_secret())),
                    };
                    protocol::write_message(&mut self.stream, &answer)?;
                }
                AgentMessage::Error(error) if !keep_errors => return Err(error.into_error()),
                reply => return Ok(reply),
            }
        }
    }
}

/// A [`SecretStore`] served by the agent for a vault: one tap per secret
/// (plus the unlock tap after the agent locked itself). Prompts come from
/// the agent and are shown through the caller's [`Prompt`]; the caller's
/// cancellation (Ctrl-C) is sent to the agent, which cancels the CTAP
/// operation.
pub struct AgentClient {
    socket: PathBuf,
    pid: u32,
    /// A connection to reuse (one request at a time).
    spare: Mutex<Option<AgentConnection>>,
}

impl AgentClient {
    /// The agent for `vault`, when one runs (`Ok(None)` otherwise).
    pub fn connect(vault: &Path) -> Result<Option<AgentClient>, Error> {
        match super::socket_path(vault) {
            Some(socket) => Self::connect_socket(&socket),
            None => Ok(None),
        }
    }

    /// The agent listening at `socket`, when one does.
    pub fn connect_socket(socket: &Path) -> Result<Option<AgentClient>, Error> {
        Ok(
            AgentConnection::open(socket)?.map(|connection| AgentClient {
                socket: socket.to_path_buf(),
                pid: connection.pid(),
                spare: Mutex::new(Some(connection)),
            }),
        )
    }

    /// The agent's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The agent's socket.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// Sends one request (on the spare connection, or a new one) and
    /// returns the final reply.
    pub fn request(
        &self,
        request: &ClientMessage,
        prompt: &dyn Prompt,
    ) -> Result<AgentMessage, Error> {
        self.with_connection(|connection| connection.request(request, prompt))
    }

    /// Runs `exchange` on the spare connection (or a new one), keeping the
    /// connection for the next request when it succeeds.
    fn with_connection<R>(
        &self,
        exchange: impl FnOnce(&mut AgentConnection) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let spare = self
            .spare
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let mut connection = match spare.filter(AgentConnection::is_alive) {
            Some(c) => c,
            None => AgentConnection::open(&self.socket)?.ok_or_else(|| {
                Error::Agent(format!(
                    "the agent at {} is gone (it stopped); run the command again",
                    self.socket.display()
                ))
            })?,
        };
        let reply = exchange(&mut connection)?;
        *self
            .spare
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(connection);
        Ok(reply)
    }

    /// Makes the agent forget the vault key now.
    pub fn lock(&self) -> Result<(), Error> {
        match self.request(&ClientMessage::Lock, &tokenring_core::NoPrompt)? {
            AgentMessage::Done => Ok(()),
            other => Err(unexpected("lock", &other)),
        }
    }

    /// The agent's state (does not unlock, does not reset the idle timer).
    pub fn status(&self) -> Result<StatusReport, Error> {
        match self.request(&ClientMessage::Status, &tokenring_core::NoPrompt)? {
            AgentMessage::Status(report) => Ok(report),
            other => Err(unexpected("status", &other)),
        }
    }
}

fn unexpected(request: &str, reply: &AgentMessage) -> Error {
    let kind = match reply {
        AgentMessage::Done => "done",
        AgentMessage::Password { .. } => "password",
        AgentMessage::Passwords { .. } => "passwords",
        AgentMessage::Deleted { .. } => "deleted",
        AgentMessage::Names { .. } | AgentMessage::NamesPart { .. } => "names",
        AgentMessage::Status(_) => "status",
        _ => "event",
    };
    Error::Agent(format!(
        "the agent answered a {request} request with `{kind}`; is it another version of TokenRing?"
    ))
}

impl SecretStore for AgentClient {
    fn get(
        &self,
        service: &str,
        user: &str,
        prompt: &dyn Prompt,
    ) -> Result<Option<Password>, Error> {
        let request = ClientMessage::Get {
            service: service.to_string(),
            user: user.to_string(),
        };
        match self.request(&request, prompt)? {
            AgentMessage::Password { password } => {
                Ok(password.map(|p| Password::new(p.expose_secret())))
            }
            other => Err(unexpected("get", &other)),
        }
    }

    /// One `get_many` request; an agent too old to know it (it refuses
    /// the request as malformed) is asked the default way: its names, then
    /// one `get` per entry.
    fn get_many(&self, names: &[(&str, &str)], prompt: &dyn Prompt) -> Result<Secrets, Error> {
        let request = ClientMessage::GetMany {
            names: names
                .iter()
                .map(|(service, user)| Name {
                    service: service.to_string(),
                    user: user.to_string(),
                })
                .collect(),
        };
        let reply =
            self.with_connection(|connection| connection.request_keeping_errors(&request, prompt))?;
        match reply {
            AgentMessage::Passwords { missing, .. } if !missing.is_empty() => {
                Ok(Secrets::Missing(missing))
            }
            AgentMessage::Passwords { passwords, .. } if passwords.len() == names.len() => {
                Ok(Secrets::All(
                    passwords
                        .iter()
                        .map(|p| Password::new(p.expose_secret()))
                        .collect(),
                ))
            }
            AgentMessage::Error(error) if error.kind == ErrorKind::BadRequest => {
                // An older agent closes the connection after refusing a
                // request it does not know, perhaps not yet: drop it, so
                // that the next request opens another instead of being
                // written into one the agent is closing.
                drop(
                    self.spare
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .take(),
                );
                crate::store::one_by_one(self, names, prompt)
            }
            AgentMessage::Error(error) => Err(error.into_error()),
            other => Err(unexpected("get_many", &other)),
        }
    }

    fn set(
        &self,
        service: &str,
        user: &str,
        password: &str,
        prompt: &dyn Prompt,
    ) -> Result<(), Error> {
        let request = ClientMessage::Set {
            service: service.to_string(),
            user: user.to_string(),
            password: WireSecret::new(password),
        };
        match self.request(&request, prompt)? {
            AgentMessage::Done => Ok(()),
            other => Err(unexpected("set", &other)),
        }
    }

    fn delete(&self, service: &str, user: &str, prompt: &dyn Prompt) -> Result<bool, Error> {
        let request = ClientMessage::Delete {
            service: service.to_string(),
            user: user.to_string(),
        };
        match self.request(&request, prompt)? {
            AgentMessage::Deleted { existed } => Ok(existed),
            other => Err(unexpected("delete", &other)),
        }
    }

    fn for_each_name(
        &self,
        prompt: &dyn Prompt,
        each: &mut dyn FnMut(&str, &str),
    ) -> Result<(), Error> {
        self.with_connection(|connection| connection.list_names(prompt, each))
    }

    fn describe(&self) -> String {
        format!("agent (pid {})", self.pid)
    }
}
