//! The simulator served over a Unix socket, so that other processes (the
//! `tokenring` command, its agent, a benchmark's subjects) reach one
//! simulator whose state lives in the serving process: in memory, or in a
//! state file written as the simulator changes it.
//!
//! [`SimSocketServer`] serves a shared [`Simulator`], one thread per
//! connection, and counts the time the simulator itself spends on each
//! request ([`SimServerStats`]: its P-256, AES, HMAC and CBOR work, and any
//! touch wait), so that a measurement over the socket can tell the
//! authenticator's share from the client's. [`SimSocketTransport`] is the
//! client side, a [`Transport`]; [`crate::SimSource`] opens it for a
//! `sim:PATH` selector whose path is a socket.
//!
//! # Frames
//!
//! Every frame either way is a type byte, a big-endian u32 length and that
//! many bytes:
//!
//! | type | direction | payload |
//! |---|---|---|
//! | `0x10` request | client → server | the CTAP command byte, then its CBOR parameters |
//! | `0x11` cancel | client → server | none: cancels the request in progress (as CTAPHID_CANCEL) |
//! | `0x20` response | server → client | the CTAP status byte, then the CBOR response; empty when fault injection dropped it |
//! | `0x21` keepalive | server → client | one byte: 1 processing, 2 user presence needed (CTAPHID_KEEPALIVE's codes) |
//!
//! One request at a time per connection. A frame of another type, a
//! request longer than [`MAX_REQUEST_LEN`], or a cancel with a payload
//! closes the connection; the server serves on.

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokenring_core::{
    KeepaliveStatus, Prompt, Reply, Transport, TransportError, TransportErrorKind, TransportInfo,
    TransportKind,
};

use crate::{DeviceContext, SimError, Simulator};

const REQUEST: u8 = 0x10;
const CANCEL: u8 = 0x11;
const RESPONSE: u8 = 0x20;
const KEEPALIVE: u8 = 0x21;
const HEADER_LEN: usize = 5;

/// The longest request payload a server accepts (far above any CTAP
/// message; the simulator refuses what exceeds its maxMsgSize).
pub const MAX_REQUEST_LEN: usize = 1 << 20;

/// The longest response a client accepts.
const MAX_RESPONSE_LEN: usize = 1 << 20;

/// How often a waiting client looks at its prompt's cancel flag.
const POLL: Duration = Duration::from_millis(25);

/// What the simulator behind a [`SimSocketServer`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimServerStats {
    /// Requests processed.
    pub requests: u64,
    /// Time spent inside the simulator on them (from when it was free for
    /// the request to its response: its cryptography and encoding, and any
    /// wait for a simulated touch), not counting the socket.
    pub busy: Duration,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    busy_nanos: AtomicU64,
}

/// A [`Simulator`] served on a Unix socket until [`SimSocketServer::shutdown`]
/// or drop (which also remove the socket).
pub struct SimSocketServer {
    path: PathBuf,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    accepting: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimSocketServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimSocketServer")
            .field("path", &self.path)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl SimSocketServer {
    /// Listens on a new socket at `path` (nothing may exist there; the
    /// socket is made 0600) and serves `sim` on it from a thread.
    pub fn bind(sim: Arc<Mutex<Simulator>>, path: &Path) -> Result<SimSocketServer, SimError> {
        let io = |source| SimError::Io {
            path: path.to_path_buf(),
            source,
        };
        let listener = UnixListener::bind(path).map_err(io)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let accepting = {
            let counters = Arc::clone(&counters);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("sim-socket".into())
                .spawn(move || accept_loop(&listener, &sim, &counters, &stop))
                .map_err(io)?
        };
        Ok(SimSocketServer {
            path: path.to_path_buf(),
            counters,
            stop,
            accepting: Some(accepting),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the simulator has done so far.
    pub fn stats(&self) -> SimServerStats {
        SimServerStats {
            requests: self.counters.requests.load(Ordering::SeqCst),
            busy: Duration::from_nanos(self.counters.busy_nanos.load(Ordering::SeqCst)),
        }
    }

    /// Stops accepting connections and removes the socket. Connections
    /// already open are served until their clients close them.
    pub fn shutdown(mut self) {
        self.stop_accepting();
    }

    fn stop_accepting(&mut self) {
        if let Some(thread) = self.accepting.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the blocking accept. When the socket can no longer be
            // reached (its directory is gone), the thread is left waiting
            // in accept rather than the caller: it ends with the process.
            if UnixStream::connect(&self.path).is_ok() {
                let _ = thread.join();
            }
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Drop for SimSocketServer {
    fn drop(&mut self) {
        self.stop_accepting();
    }
}

fn accept_loop(
    listener: &UnixListener,
    sim: &Arc<Mutex<Simulator>>,
    counters: &Arc<Counters>,
    stop: &AtomicBool,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else {
            continue;
        };
        let sim = Arc::clone(sim);
        let counters = Arc::clone(counters);
        // A connection that cannot get a thread is dropped (its client
        // sees the socket close).
        let _ = std::thread::Builder::new()
            .name("sim-connection".into())
            .spawn(move || serve_connection(stream, &sim, &counters));
    }
}

/// Frames read from a stream, whole or in part.
struct FrameBuffer {
    bytes: Vec<u8>,
}

impl FrameBuffer {
    fn new() -> Self {
        FrameBuffer { bytes: Vec::new() }
    }

    /// The first whole frame, removed from the buffer.
    fn take(&mut self, limit: usize) -> Result<Option<(u8, Vec<u8>)>, io::Error> {
        let Some(header) = self.bytes.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let kind = header[0];
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if len > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a frame of {len} bytes is longer than {limit}"),
            ));
        }
        if self.bytes.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let payload = self
            .bytes
            .get(HEADER_LEN..HEADER_LEN + len)
            .unwrap_or_default()
            .to_vec();
        self.bytes.drain(..HEADER_LEN + len);
        Ok(Some((kind, payload)))
    }

    /// Reads what the stream has (blocking as the stream does); `Ok(false)`
    /// at its end.
    fn fill(&mut self, stream: &mut UnixStream) -> io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.bytes
                        .extend_from_slice(chunk.get(..n).unwrap_or_default());
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

fn write_frame(stream: &mut UnixStream, kind: u8, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too long"))?;
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    frame.push(kind);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(payload);
    stream.write_all(&frame)
}

fn lock(sim: &Mutex<Simulator>) -> std::sync::MutexGuard<'_, Simulator> {
    sim.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The server's side of a request in progress: keepalives go out as
/// frames, a cancel frame from the client cancels.
struct SocketContext<'a> {
    stream: &'a mut UnixStream,
    buffer: &'a mut FrameBuffer,
    cancelled: bool,
    broken: bool,
}

impl DeviceContext for SocketContext<'_> {
    fn keepalive(&mut self, status: KeepaliveStatus) {
        let code = match status {
            KeepaliveStatus::Processing => 1,
            KeepaliveStatus::UserPresenceNeeded => 2,
        };
        if write_frame(self.stream, KEEPALIVE, &[code]).is_err() {
            self.broken = true;
        }
    }

    fn cancelled(&mut self) -> bool {
        if self.cancelled || self.broken {
            return true;
        }
        // Whatever the client sent meanwhile, without waiting.
        if self.stream.set_nonblocking(true).is_ok() {
            match self.buffer.fill(self.stream) {
                Ok(true) => {}
                Ok(false) => self.broken = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => self.broken = true,
            }
            if self.stream.set_nonblocking(false).is_err() {
                self.broken = true;
            }
        }
        match self.buffer.take(0) {
            Ok(Some((CANCEL, _))) => self.cancelled = true,
            Ok(Some(_)) | Err(_) => self.broken = true,
            Ok(None) => {}
        }
        // A client gone is a request nobody waits for.
        self.cancelled || self.broken
    }
}

fn serve_connection(mut stream: UnixStream, sim: &Mutex<Simulator>, counters: &Counters) {
    let mut buffer = FrameBuffer::new();
    loop {
        let (kind, payload) = loop {
            match buffer.take(MAX_REQUEST_LEN) {
                Ok(Some(frame)) => break frame,
                Ok(None) => {}
                Err(_) => return,
            }
            match buffer.fill(&mut stream) {
                Ok(true) => {}
                Ok(false) | Err(_) => return,
            }
        };
        match kind {
            REQUEST => {}
            // A cancel between requests has nothing to cancel.
            CANCEL if payload.is_empty() => continue,
            _ => return,
        }
        let Some((&command, parameters)) = payload.split_first() else {
            return;
        };
        let mut ctx = SocketContext {
            stream: &mut stream,
            buffer: &mut buffer,
            cancelled: false,
            broken: false,
        };
        let response = {
            let mut sim = lock(sim);
            let start = Instant::now();
            let response = sim.process(command, parameters, &mut ctx);
            let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
            counters.busy_nanos.fetch_add(nanos, Ordering::SeqCst);
            counters.requests.fetch_add(1, Ordering::SeqCst);
            response
        };
        if ctx.broken || write_frame(&mut stream, RESPONSE, &response).is_err() {
            return;
        }
    }
}

/// A [`Transport`] to a simulator served by a [`SimSocketServer`] (or
/// `tokenring-sim serve`): keepalives go to the prompt, and when the
/// prompt reports cancellation a cancel frame is sent, as CTAPHID_CANCEL.
pub struct SimSocketTransport {
    stream: UnixStream,
    buffer: FrameBuffer,
    path: PathBuf,
}

impl std::fmt::Debug for SimSocketTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimSocketTransport")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn io_error(path: &Path, what: &str, e: &io::Error) -> TransportError {
    let kind = match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            TransportErrorKind::Disconnected
        }
        io::ErrorKind::PermissionDenied => TransportErrorKind::PermissionDenied,
        _ => TransportErrorKind::Io,
    };
    TransportError::new(
        kind,
        format!(
            "the simulated authenticator served at {}: {what}: {e}",
            path.display()
        ),
    )
}

impl SimSocketTransport {
    /// Connects to the simulator served at `path`.
    pub fn connect(path: &Path) -> Result<SimSocketTransport, TransportError> {
        let stream = UnixStream::connect(path).map_err(|e| io_error(path, "cannot connect", &e))?;
        stream
            .set_read_timeout(Some(POLL))
            .map_err(|e| io_error(path, "cannot configure the socket", &e))?;
        Ok(SimSocketTransport {
            stream,
            buffer: FrameBuffer::new(),
            path: path.to_path_buf(),
        })
    }

    fn gone(&self) -> TransportError {
        TransportError::new(
            TransportErrorKind::Disconnected,
            format!(
                "the simulated authenticator served at {} closed the connection",
                self.path.display()
            ),
        )
    }
}

impl Transport for SimSocketTransport {
    fn exchange(
        &mut self,
        command: u8,
        payload: &[u8],
        prompt: &dyn Prompt,
    ) -> Result<Reply, TransportError> {
        let mut request = Vec::with_capacity(1 + payload.len());
        request.push(command);
        request.extend_from_slice(payload);
        if request.len() > MAX_REQUEST_LEN {
            return Err(TransportError::new(
                TransportErrorKind::MessageTooLarge,
                format!(
                    "a request of {} bytes is longer than the simulator's socket takes",
                    request.len()
                ),
            ));
        }
        write_frame(&mut self.stream, REQUEST, &request)
            .map_err(|e| io_error(&self.path, "cannot send", &e))?;
        let mut cancel_sent = false;
        loop {
            match self.buffer.take(MAX_RESPONSE_LEN) {
                Ok(Some((RESPONSE, response))) => {
                    return match response.split_first() {
                        Some((status, body)) => Ok(Reply {
                            status: *status,
                            body: body.to_vec(),
                        }),
                        None => Err(TransportError::new(
                            TransportErrorKind::Timeout,
                            "the simulated authenticator did not answer (dropped response)",
                        )),
                    };
                }
                Ok(Some((KEEPALIVE, status))) => {
                    match status.as_slice() {
                        [1] => prompt.keepalive(KeepaliveStatus::Processing),
                        [2] => prompt.keepalive(KeepaliveStatus::UserPresenceNeeded),
                        _ => {}
                    }
                    continue;
                }
                Ok(Some((kind, _))) => {
                    return Err(TransportError::new(
                        TransportErrorKind::Protocol,
                        format!("the simulator's socket sent a frame of unknown type {kind:#04x}"),
                    ))
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(TransportError::new(
                        TransportErrorKind::Protocol,
                        e.to_string(),
                    ))
                }
            }
            if !cancel_sent && prompt.is_cancelled() {
                write_frame(&mut self.stream, CANCEL, &[])
                    .map_err(|e| io_error(&self.path, "cannot send the cancel", &e))?;
                cancel_sent = true;
            }
            match self.buffer.fill(&mut self.stream) {
                Ok(true) => {}
                Ok(false) => return Err(self.gone()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(io_error(&self.path, "cannot read", &e)),
            }
        }
    }

    fn info(&self) -> TransportInfo {
        TransportInfo {
            kind: TransportKind::Sim,
            name: "TokenRing simulated authenticator (served)".to_string(),
            path: self.path.display().to_string(),
        }
    }
}
