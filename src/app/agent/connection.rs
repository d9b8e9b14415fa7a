//! One client connection: the peer's uid checked (SO_PEERCRED), then a
//! reader thread (frames, `cancel`, PIN answers, timeouts) and a worker
//! thread (one request at a time, its prompts relayed to the client as
//! event frames through [`RelayPrompt`]). A malformed frame gets an error
//! reply and the connection is closed gently (so the client reads it).

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tokenring_core::{KeepaliveStatus, Pin, PinRequest, Prompt};

use super::lock;
use super::requester::Requester;
use super::server::{Caller, Reply, Shared};
use crate::agent::protocol::{
    self, AgentMessage, ClientMessage, ErrorKind, FrameReader, WireError,
};

/// The per-connection state the reader and the worker share.
struct Connection {
    writer: Mutex<UnixStream>,
    /// Set by `cancel`, a dropped connection, a protocol violation, a failed write.
    cancel: AtomicBool,
    /// A request runs (set by the reader, cleared by the worker before the reply).
    in_flight: AtomicBool,
    /// Where a PIN answer goes while the worker waits for one.
    pin_answer: Mutex<Option<Sender<Option<Pin>>>>,
    /// A PIN request of the running request went unanswered (for its audit
    /// record).
    pin_unanswered: AtomicBool,
}

impl Connection {
    /// Sends a frame; a failure cancels the running request.
    fn send(&self, message: &AgentMessage) -> bool {
        // A message that does not fit in a frame (a huge secret) becomes
        // an error reply, so the client is never left waiting.
        let frame = protocol::encode(message).or_else(|e| {
            protocol::encode(&AgentMessage::Error(WireError::new(
                ErrorKind::Internal,
                e.to_string(),
            )))
        });
        let mut writer = lock(&self.writer);
        let written = frame.map_err(|_| ()).and_then(|frame| {
            writer
                .write_all(&frame)
                .and_then(|()| writer.flush())
                .map_err(|_| ())
        });
        if written.is_err() {
            self.cancel.store(true, Ordering::SeqCst);
        }
        written.is_ok()
    }
}

impl Connection {
    /// Sends a final reply; a failure cancels the running request.
    fn send_reply(&self, reply: &Reply) -> bool {
        match reply {
            Reply::Message(message) => self.send(message),
            Reply::Frames(frames) => {
                let mut writer = lock(&self.writer);
                let written = frames
                    .iter()
                    .try_for_each(|frame| writer.write_all(frame))
                    .and_then(|()| writer.flush());
                if written.is_err() {
                    self.cancel.store(true, Ordering::SeqCst);
                }
                written.is_ok()
            }
        }
    }
}

pub(super) fn spawn_connection(shared: &Arc<Shared>, stream: UnixStream) {
    let shared = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name("agent-connection".into())
        .spawn(move || serve_connection(shared, stream));
    if let Err(e) = spawned {
        eprintln!("tokenring agent: cannot start a thread for a client: {e}");
    }
}

/// Counts a connected client for as long as it lives.
struct ClientCount<'a>(&'a AtomicUsize);

impl Drop for ClientCount<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn refuse(stream: &mut UnixStream, error: WireError) {
    let _ = protocol::write_message(stream, &AgentMessage::Error(error));
    close_gently(stream);
}

/// Closes a connection so that the client reads our last frame: a socket
/// closed with unread input is reset, which may cost the client the
/// frames it has not read yet. So: stop writing, then read and drop what
/// the client still sends (briefly, boundedly), then close.
fn close_gently(stream: &mut UnixStream) {
    use std::io::Read;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
    let mut sink = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_millis(100);
    let mut drained = 0usize;
    while Instant::now() < deadline && drained < 256 * 1024 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn serve_connection(shared: Arc<Shared>, mut stream: UnixStream) {
    let limits = shared.limits;
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    // SO_PEERCRED: the uid and pid of the process that connected, from the
    // kernel; its executable read now, while it is surely still there.
    let requester = match crate::agent::peer_credentials(&stream) {
        Ok(cred) if cred.uid == shared.uid => Arc::new(Requester::of_pid(cred.pid)),
        Ok(cred) => {
            eprintln!(
                "tokenring agent: refused a client running as uid {} (pid {})",
                cred.uid.as_raw(),
                cred.pid
            );
            refuse(
                &mut stream,
                WireError::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "this agent serves only uid {}; you are uid {}",
                        shared.uid.as_raw(),
                        cred.uid.as_raw()
                    ),
                ),
            );
            return;
        }
        Err(e) => {
            refuse(
                &mut stream,
                WireError::new(
                    ErrorKind::PermissionDenied,
                    format!("cannot check the peer's uid: {e}"),
                ),
            );
            return;
        }
    };
    let clients = shared.clients.fetch_add(1, Ordering::SeqCst) + 1;
    let _count = ClientCount(&shared.clients);
    if clients > limits.max_clients {
        refuse(
            &mut stream,
            WireError::new(
                ErrorKind::Busy,
                format!("the agent has too many clients ({})", limits.max_clients),
            ),
        );
        return;
    }
    let _ = stream.set_read_timeout(Some(limits.tick));
    let writer = match stream.try_clone() {
        Ok(w) => w,
        Err(e) => {
            refuse(
                &mut stream,
                WireError::new(ErrorKind::Internal, format!("cannot serve: {e}")),
            );
            return;
        }
    };
    let connection = Arc::new(Connection {
        writer: Mutex::new(writer),
        cancel: AtomicBool::new(false),
        in_flight: AtomicBool::new(false),
        pin_answer: Mutex::new(None),
        pin_unanswered: AtomicBool::new(false),
    });
    let (requests, inbox) = mpsc::channel::<ClientMessage>();
    let worker = {
        let shared = Arc::clone(&shared);
        let connection = Arc::clone(&connection);
        thread::Builder::new()
            .name("agent-request".into())
            .spawn(move || work(&shared, &connection, &requester, &inbox))
    };
    let worker = match worker {
        Ok(w) => w,
        Err(e) => {
            refuse(
                &mut stream,
                WireError::new(ErrorKind::Internal, format!("cannot serve: {e}")),
            );
            return;
        }
    };
    read_frames(&shared, &connection, &mut stream, &requests);
    // Whatever ended the loop ends the running request too.
    connection.cancel.store(true, Ordering::SeqCst);
    drop(requests);
    let _ = worker.join();
    close_gently(&mut stream);
}

/// The reader: frames in, requests to the worker, cancel and PIN answers
/// to the running request. Returns when the connection must close.
fn read_frames(
    shared: &Shared,
    connection: &Connection,
    stream: &mut UnixStream,
    requests: &Sender<ClientMessage>,
) {
    let limits = shared.limits;
    let mut reader = FrameReader::new(limits.frame_timeout);
    let mut last_frame = Instant::now();
    loop {
        // During a request, the worker sees the shutdown through its prompt
        // and replies; then the loop ends here.
        if shared.shutdown.load(Ordering::SeqCst) && !connection.in_flight.load(Ordering::SeqCst) {
            return;
        }
        let body = match reader.poll(stream) {
            Ok(Some(body)) => body,
            Ok(None) => {
                let busy = connection.in_flight.load(Ordering::SeqCst) || reader.in_frame();
                if !busy && last_frame.elapsed() > limits.idle_connection_timeout {
                    return;
                }
                if shared.shutdown.load(Ordering::SeqCst)
                    && !connection.in_flight.load(Ordering::SeqCst)
                {
                    return;
                }
                continue;
            }
            Err(error) => {
                if let Some(reply) = error.reply() {
                    violation(connection, reply);
                }
                return;
            }
        };
        last_frame = Instant::now();
        let message: ClientMessage = match protocol::decode(&body) {
            Ok(message) => message,
            Err(error) => {
                let reply = error
                    .reply()
                    .map(|mut r| {
                        r.kind = ErrorKind::BadRequest;
                        r
                    })
                    .unwrap_or_else(|| WireError::new(ErrorKind::BadRequest, error.to_string()));
                violation(connection, reply);
                return;
            }
        };
        drop(body);
        match message {
            ClientMessage::Cancel => connection.cancel.store(true, Ordering::SeqCst),
            ClientMessage::Pin { pin } => {
                // A PIN nobody waits for (it came too late) is dropped, zeroized.
                if let Some(answer) = lock(&connection.pin_answer).take() {
                    let _ = answer.send(protocol::pin_from_wire(pin));
                }
            }
            request => {
                if connection.in_flight.swap(true, Ordering::SeqCst) {
                    violation(
                        connection,
                        WireError::new(
                            ErrorKind::Busy,
                            format!(
                                "a {} request came while another one runs on this connection; \
                                 send one request at a time",
                                request.kind()
                            ),
                        ),
                    );
                    return;
                }
                connection.cancel.store(false, Ordering::SeqCst);
                if requests.send(request).is_err() {
                    return;
                }
            }
        }
    }
}

/// A protocol violation: cancel the running request, say why, close.
fn violation(connection: &Connection, reply: WireError) {
    connection.cancel.store(true, Ordering::SeqCst);
    // Wait (bounded) for a running request to end so that the error is the
    // last frame the client sees.
    let deadline = Instant::now() + Duration::from_secs(2);
    while connection.in_flight.load(Ordering::SeqCst) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    connection.send(&AgentMessage::Error(reply));
}

/// The worker: one request at a time, with a prompt relayed to the client.
fn work(
    shared: &Shared,
    connection: &Connection,
    requester: &Arc<Requester>,
    inbox: &Receiver<ClientMessage>,
) {
    for request in inbox {
        let prompt = RelayPrompt {
            shared,
            connection,
            requester,
            notified: std::cell::Cell::new(None),
        };
        let caller = Caller {
            requester,
            pin_unanswered: &connection.pin_unanswered,
        };
        let reply = shared.execute(request, &prompt, &caller);
        connection.in_flight.store(false, Ordering::SeqCst);
        if !connection.send_reply(&reply) {
            return;
        }
    }
}

/// The agent's side of a client's [`Prompt`]: events become frames (a
/// touch prompt names the process that asked), PIN requests wait for the
/// client's answer, cancellation comes from the client (a `cancel` frame or
/// a dropped connection) or the shutdown.
struct RelayPrompt<'a> {
    shared: &'a Shared,
    connection: &'a Connection,
    requester: &'a Requester,
    /// The touch the notifier was told of, until its wait ends.
    notified: std::cell::Cell<Option<u64>>,
}

impl RelayPrompt<'_> {
    /// Tells the notifier that the touch it was told of is no longer
    /// awaited.
    fn end_notification(&self) {
        if let (Some(notifier), Some(touch)) = (&self.shared.notifier, self.notified.take()) {
            notifier.touch_done(touch);
        }
    }
}

impl Drop for RelayPrompt<'_> {
    /// A request that ends without `touch_done` (an error, a cancel) ends
    /// its notification too.
    fn drop(&mut self) {
        self.end_notification();
    }
}

impl Prompt for RelayPrompt<'_> {
    fn touch_needed(&self, purpose: &str) {
        if let Some(notifier) = &self.shared.notifier {
            let requester = self.requester.to_string();
            let touch = notifier.touch_needed(&requester, purpose);
            if let Some(previous) = self.notified.replace(Some(touch)) {
                notifier.touch_done(previous);
            }
        }
        self.connection.send(&AgentMessage::Touch {
            purpose: format!("{purpose}, asked by {}", self.requester),
        });
    }

    fn touch_done(&self) {
        self.end_notification();
        self.connection.send(&AgentMessage::TouchDone);
    }

    fn keepalive(&self, status: KeepaliveStatus) {
        self.connection.send(&AgentMessage::Keepalive {
            status: status.into(),
        });
    }

    fn info(&self, message: &str) {
        self.connection.send(&AgentMessage::Info {
            message: message.to_string(),
        });
    }

    fn pin(&self, request: &PinRequest<'_>) -> Option<Pin> {
        let (answer, answers) = mpsc::channel();
        *lock(&self.connection.pin_answer) = Some(answer);
        let asked = self.connection.send(&AgentMessage::PinRequest {
            purpose: request.purpose.to_string(),
            kind: request.kind.into(),
            retries: request.retries,
            previous_wrong: request.previous_wrong,
        });
        // Answered within `pin_timeout`; once another request waits for the
        // authenticator, within `pin_timeout_contended` of that at most, so
        // a client that leaves the PIN unanswered holds the others up only
        // that long (and, served in turn, cannot take the next turn too).
        let limits = self.shared.limits;
        let asked_at = Instant::now();
        let mut contended_at = None;
        let mut pin = None;
        let mut answered = false;
        while asked && !self.is_cancelled() {
            let now = Instant::now();
            if contended_at.is_none() && self.shared.authenticator_wanted() {
                contended_at = Some(now);
            }
            let deadline = contended_at
                .map(|at| at + limits.pin_timeout_contended)
                .into_iter()
                .chain([asked_at + limits.pin_timeout])
                .min()
                .unwrap_or(asked_at);
            if now >= deadline {
                break;
            }
            match answers.recv_timeout(limits.tick.min(deadline - now)) {
                Ok(answer) => {
                    pin = answer;
                    answered = true;
                    break;
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if asked && !answered && !self.is_cancelled() {
            self.connection.pin_unanswered.store(true, Ordering::SeqCst);
            let waited = asked_at.elapsed().as_secs();
            self.info(&format!(
                "the PIN was not answered within {waited} s{}; the request ends",
                if contended_at.is_some() {
                    " while another request waited for the authenticator"
                } else {
                    ""
                }
            ));
        }
        lock(&self.connection.pin_answer).take();
        pin
    }

    fn is_cancelled(&self) -> bool {
        self.connection.cancel.load(Ordering::SeqCst) || self.shared.shutdown.load(Ordering::SeqCst)
    }
}
