//! The agent's server side: the socket, the connections, the vault.
//!
//! - The socket lives in a private directory (created 0700, refused when it
//!   is not ours or others may enter it), has mode 0600, and the peer's
//!   uid is checked on every connection (SO_PEERCRED) against the agent's
//!   own effective uid.
//! - A lock file beside the socket (`flock`) makes a second agent for the
//!   same vault refuse to start; a socket left by a crashed agent (whose
//!   lock died with it) is replaced.
//! - Each connection (see `connection.rs`) has a reader thread (frames,
//!   `cancel`, PIN answers, timeouts) and a worker thread (one request at a
//!   time, its prompts relayed to the client as event frames). A malformed
//!   frame gets an error reply and the connection is closed; nothing a client sends can
//!   crash or block the agent: partial frames must complete within
//!   [`Limits::frame_timeout`], idle connections are closed after
//!   [`Limits::idle_connection_timeout`], PIN answers must come within
//!   [`Limits::pin_timeout`] (within [`Limits::pin_timeout_contended`] once
//!   another request waits for the authenticator), and writes to a client
//!   time out.
//! - The authenticator (see `device.rs`) is shared behind a gate that
//!   waiters can leave when their client cancels; the vault's own locks
//!   serialise writes (also against other processes).
//! - The authenticator is served first come, first served; every request
//!   waiting for it is told which request holds it and for which process
//!   (pid, executable), and every touch prompt names the process that asked.
//! - The vault is unlocked lazily by the first request that needs it and
//!   locked again (key zeroized) after [`AgentConfig::idle_lock`] without a
//!   request (`status` does not count), after [`AgentConfig::max_unlocked`]
//!   since the unlock whatever the requests, on `lock`, and at shutdown.
//!   Both timers run on a clock that counts suspend (see [`Clock`]).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub use super::clock::{BootClock, Clock};

use tokenring_core::Prompt;
use tokenring_vault::{Password, Vault, VaultError};

use super::audit::{utc_timestamp, AuditLog, AuditRecord, Outcome};
use super::connection::spawn_connection;
use super::desktop::TouchNotifier;
use super::device::{AuthenticatorSource, DeviceGate, DeviceGuard, Holder};
use super::lock;
use super::released::RecentReleases;
use super::requester::Requester;
use crate::agent::protocol::{
    encode_names, AgentMessage, ClientMessage, ErrorKind, StatusReport, WireError, WireSecret,
    PROTOCOL_VERSION,
};
use crate::Error;
use tokenring_core::DynAuthenticator;
use zeroize::Zeroizing;

/// Bounds that keep a silent or hostile client from holding anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A frame must arrive completely within this time of its first byte (5 s).
    pub frame_timeout: Duration,
    /// A connection with no request running is closed after this long
    /// without a frame (60 s).
    pub idle_connection_timeout: Duration,
    /// A `pin_request` must be answered within this time (1 min), or the
    /// request ends.
    pub pin_timeout: Duration,
    /// …and within this time (15 s) of another request starting to wait
    /// for the authenticator: how long a client that leaves its PIN request
    /// unanswered holds up the others.
    pub pin_timeout_contended: Duration,
    /// Writing one frame to a client may take at most this long (5 s).
    pub write_timeout: Duration,
    /// At most this many clients at once; more are refused with `busy` (256).
    pub max_clients: usize,
    /// How often waits look at cancellation, shutdown and the idle lock
    /// (50 ms; at least 1 ms).
    pub tick: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            frame_timeout: Duration::from_secs(5),
            idle_connection_timeout: Duration::from_secs(60),
            pin_timeout: Duration::from_secs(60),
            pin_timeout_contended: Duration::from_secs(15),
            write_timeout: Duration::from_secs(5),
            max_clients: 256,
            tick: Duration::from_millis(50),
        }
    }
}

/// Everything an [`Agent`] needs.
pub struct AgentConfig {
    vault: PathBuf,
    socket: PathBuf,
    idle_lock: Duration,
    max_unlocked: Duration,
    source: Box<dyn AuthenticatorSource>,
    limits: Limits,
    clock: Arc<dyn Clock>,
    inherited: Option<UnixListener>,
    audit_log: Option<PathBuf>,
    vault_options: tokenring_vault::OpenOptions,
    notifier: Option<Box<dyn TouchNotifier>>,
}

impl AgentConfig {
    /// An agent for `vault` on `socket`, opening its authenticator with
    /// `source`; idle lock [`super::DEFAULT_IDLE_LOCK`], maximum unlocked
    /// lifetime [`super::DEFAULT_MAX_UNLOCKED`], default [`Limits`], the
    /// [`BootClock`].
    pub fn new(vault: PathBuf, socket: PathBuf, source: Box<dyn AuthenticatorSource>) -> Self {
        AgentConfig {
            vault,
            socket,
            idle_lock: super::DEFAULT_IDLE_LOCK,
            max_unlocked: super::DEFAULT_MAX_UNLOCKED,
            source,
            limits: Limits::default(),
            clock: Arc::new(BootClock),
            inherited: None,
            audit_log: None,
            vault_options: tokenring_vault::OpenOptions::default(),
            notifier: None,
        }
    }

    /// How the vault is opened (format 2: this machine's rollback record).
    pub fn vault_options(mut self, options: tokenring_vault::OpenOptions) -> Self {
        self.vault_options = options;
        self
    }

    /// Tells `notifier` whenever a request waits for a touch, and when the
    /// wait ends (the desktop notifications of `tokenring agent`).
    pub fn touch_notifier(mut self, notifier: Box<dyn TouchNotifier>) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// Records every request in the audit log at `path` (see
    /// [`super::audit`]); without it, nothing is recorded.
    pub fn audit_log(mut self, path: PathBuf) -> Self {
        self.audit_log = Some(path);
        self
    }

    /// Serves on `listener`, a socket already listening (the one systemd
    /// passes under socket activation), instead of binding `socket`. The
    /// socket file belongs to whoever made it: the agent checks it but never
    /// removes it.
    pub fn inherited_listener(mut self, listener: UnixListener) -> Self {
        self.inherited = Some(listener);
        self
    }

    /// Locks the vault after this long without a request.
    pub fn idle_lock(mut self, idle_lock: Duration) -> Self {
        self.idle_lock = idle_lock;
        self
    }

    /// Locks the vault this long after it was unlocked, however busy it
    /// is: no request extends it.
    pub fn max_unlocked(mut self, max_unlocked: Duration) -> Self {
        self.max_unlocked = max_unlocked;
        self
    }

    /// The clock of the idle lock and the maximum unlocked lifetime (the
    /// [`BootClock`] unless a test plays with time).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Other bounds.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

/// Stops a running [`Agent`] (from another thread or a signal handler).
#[derive(Clone)]
pub struct ShutdownHandle(Arc<AtomicBool>);

impl ShutdownHandle {
    /// Asks the agent to stop: it stops accepting, cancels running
    /// requests, removes its socket and zeroizes the vault key.
    pub fn shutdown(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// The flag itself (for `signal_hook::flag::register`).
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }
}

/// Locks a running [`Agent`]'s vault from another thread (the screen-lock
/// and sleep watcher); does not keep the agent alive.
#[derive(Clone)]
pub struct LockHandle(std::sync::Weak<Shared>);

impl LockHandle {
    /// Forgets the vault key now, when the vault is unlocked: recorded in
    /// the audit log as `reason` (`sleep`, `screen_lock`) and said on stderr
    /// with `why`. Whether it was unlocked.
    pub fn lock(&self, reason: &str, why: &str) -> bool {
        let Some(shared) = self.0.upgrade() else {
            return false;
        };
        if shared.unlocked_vault().is_none() {
            return false;
        }
        shared.lock_vault();
        shared.record(&shared.own, reason, None, Outcome::Locked, None);
        eprintln!("tokenring agent: locked the vault: {why}");
        true
    }
}

/// A bound agent: [`Agent::bind`], then [`Agent::serve`] until shut down.
pub struct Agent {
    listener: UnixListener,
    socket: BoundSocket,
    shared: Arc<Shared>,
    _lock: File,
}

/// The socket file, removed on drop if it is still the one we bound (never
/// when it was inherited).
struct BoundSocket {
    path: PathBuf,
    ino: u64,
    owned: bool,
}

impl Drop for BoundSocket {
    fn drop(&mut self) {
        if self.owned && std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.ino) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Agent {
    /// Checks the vault and the socket directory, takes the agent lock
    /// (refusing when another agent serves this socket), replaces a stale
    /// socket and binds a new one with mode 0600.
    pub fn bind(config: AgentConfig) -> Result<Agent, Error> {
        // Without the peer's uid, every connection would be refused: say so
        // once, at the start, instead.
        if !crate::agent::PEER_CREDENTIALS_SUPPORTED {
            return Err(Error::Agent(
                "the agent cannot check which user connects to it on this system (peer \
                 credentials are read on Linux and Android only); use TokenRing without the agent"
                    .into(),
            ));
        }
        // Fail early and clearly when there is no vault (no tap needed).
        Vault::credential_of(&config.vault)?;
        let dir = config
            .socket
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .ok_or_else(|| Error::Agent(format!("{} has no directory", config.socket.display())))?;
        ensure_private_dir(dir)?;
        let lock_path = config.socket.with_extension("lock");
        let mut lock_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| Error::Agent(format!("cannot open {}: {e}", lock_path.display())))?;
        if let Err(e) = rustix::fs::flock(
            lock_file.as_fd(),
            rustix::fs::FlockOperation::NonBlockingLockExclusive,
        ) {
            if e == rustix::io::Errno::WOULDBLOCK {
                let pid = std::fs::read_to_string(&lock_path)
                    .ok()
                    .and_then(|t| t.trim().parse::<u32>().ok());
                return Err(Error::Agent(format!(
                    "an agent is already running for {}{} (socket {}); stop it first (`tokenring lock` only locks it)",
                    config.vault.display(),
                    pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                    config.socket.display()
                )));
            }
            return Err(Error::Agent(format!(
                "cannot lock {}: {e}",
                lock_path.display()
            )));
        }
        lock_file
            .set_len(0)
            .and_then(|()| writeln!(lock_file, "{}", std::process::id()))
            .map_err(|e| Error::Agent(format!("cannot write {}: {e}", lock_path.display())))?;

        let (listener, owned) = match config.inherited {
            Some(listener) => (inherited(listener, &config.socket)?, false),
            None => (bind_fresh(&config.socket)?, true),
        };
        let ino = std::fs::symlink_metadata(&config.socket)
            .map_err(|e| Error::Agent(format!("cannot stat {}: {e}", config.socket.display())))?
            .ino();
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::Agent(format!("cannot configure the socket: {e}")))?;
        let vault_name = config
            .vault
            .canonicalize()
            .unwrap_or_else(|_| config.vault.clone())
            .display()
            .to_string();
        let shared = Arc::new(Shared {
            vault_name,
            audit: config.audit_log.map(AuditLog::new),
            own: Arc::new(Requester::of_pid(std::process::id())),
            released: RecentReleases::new(),
            vault_path: config.vault,
            vault_options: config.vault_options,
            vault: Mutex::new(None),
            device: DeviceGate::new(config.source),
            activity: Mutex::new(Activity {
                in_flight: 0,
                last: config.clock.now(),
            }),
            unlocked_at: Mutex::new(None),
            idle_lock: config.idle_lock,
            max_unlocked: config.max_unlocked,
            clock: config.clock,
            limits: Limits {
                tick: config.limits.tick.max(Duration::from_millis(1)),
                ..config.limits
            },
            shutdown: Arc::new(AtomicBool::new(false)),
            clients: AtomicUsize::new(0),
            uid: rustix::process::geteuid(),
            notifier: config.notifier,
        });
        Ok(Agent {
            listener,
            socket: BoundSocket {
                path: config.socket,
                ino,
                owned,
            },
            shared,
            _lock: lock_file,
        })
    }

    /// The socket's path.
    pub fn socket_path(&self) -> &Path {
        &self.socket.path
    }

    /// A handle that stops [`Agent::serve`].
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(Arc::clone(&self.shared.shutdown))
    }

    /// A handle that locks the vault from outside the requests (screen
    /// lock, sleep).
    pub fn lock_handle(&self) -> LockHandle {
        LockHandle(Arc::downgrade(&self.shared))
    }

    /// Serves clients until shut down; then removes the socket, cancels
    /// running requests, waits briefly for them and zeroizes the vault key.
    pub fn serve(self) -> Result<(), Error> {
        let shared = &self.shared;
        let tick = shared.limits.tick;
        let timeout = rustix::event::Timespec {
            tv_sec: i64::try_from(tick.as_secs()).unwrap_or(1),
            tv_nsec: i64::from(tick.subsec_nanos()),
        };
        while !shared.shutdown.load(Ordering::SeqCst) {
            let mut fds = [rustix::event::PollFd::new(
                &self.listener,
                rustix::event::PollFlags::IN,
            )];
            match rustix::event::poll(&mut fds, Some(&timeout)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(Error::Agent(format!("poll failed: {e}"))),
            }
            loop {
                match self.listener.accept() {
                    Ok((stream, _)) => spawn_connection(shared, stream),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        eprintln!("tokenring agent: accept failed: {e}");
                        thread::sleep(tick);
                        break;
                    }
                }
            }
            shared.idle_check();
        }
        drop(self.listener);
        drop(self.socket);
        // Running requests see the shutdown through their prompts.
        let deadline = Instant::now() + Duration::from_secs(2);
        while shared.clients.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        shared.lock_vault();
        Ok(())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.lock_vault();
    }
}

/// Binds a new socket at `socket` (mode 0600), replacing a stale one: the
/// caller holds the agent lock, so anything at the path is stale.
fn bind_fresh(socket: &Path) -> Result<UnixListener, Error> {
    if let Ok(meta) = std::fs::symlink_metadata(socket) {
        if meta.is_dir() {
            return Err(Error::Agent(format!(
                "{} is a directory; remove it",
                socket.display()
            )));
        }
        std::fs::remove_file(socket).map_err(|e| {
            Error::Agent(format!(
                "cannot remove the stale socket {}: {e}",
                socket.display()
            ))
        })?;
        eprintln!(
            "tokenring agent: replaced the stale socket {} (a previous agent did not stop cleanly)",
            socket.display()
        );
    }
    let listener = UnixListener::bind(socket)
        .map_err(|e| Error::Agent(format!("cannot listen on {}: {e}", socket.display())))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::Agent(format!("cannot chmod {}: {e}", socket.display())))?;
    Ok(listener)
}

/// Checks an inherited listening socket: it must be the socket file at
/// `socket` (the one clients of this vault connect to), which must be a
/// socket only its owner (us) may use.
fn inherited(listener: UnixListener, socket: &Path) -> Result<UnixListener, Error> {
    let address = listener
        .local_addr()
        .map_err(|e| Error::Agent(format!("the inherited socket has no address: {e}")))?;
    if address.as_pathname() != Some(socket) {
        return Err(Error::Agent(format!(
            "the inherited socket listens on {:?}, but this vault's clients connect to {}; \
             fix ListenStream= in the socket unit",
            address.as_pathname(),
            socket.display()
        )));
    }
    let meta = std::fs::symlink_metadata(socket)
        .map_err(|e| Error::Agent(format!("cannot stat {}: {e}", socket.display())))?;
    use std::os::unix::fs::FileTypeExt;
    if !meta.file_type().is_socket() || meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(Error::Agent(format!(
            "{} is not a socket of ours",
            socket.display()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::Agent(format!("cannot chmod {}: {e}", socket.display())))?;
    }
    Ok(listener)
}

/// Creates the socket directory (0700) if needed and checks that it is a
/// real directory, owned by us, that nobody else may enter.
fn ensure_private_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    if std::fs::symlink_metadata(dir).is_err() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                Error::Agent(format!(
                    "cannot create the agent directory {}: {e}",
                    dir.display()
                ))
            })?;
    }
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| Error::Agent(format!("cannot inspect {}: {e}", dir.display())))?;
    if !meta.is_dir() {
        return Err(Error::Agent(format!(
            "the agent directory {} is not a directory (a symlink?); remove it",
            dir.display()
        )));
    }
    let uid = rustix::process::geteuid().as_raw();
    if meta.uid() != uid {
        return Err(Error::Agent(format!(
            "the agent directory {} belongs to uid {}, not to you (uid {uid}); refusing to use it",
            dir.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(Error::Agent(format!(
            "the agent directory {} is accessible to other users (mode {:o}); run `chmod 700 {}`",
            dir.display(),
            meta.mode() & 0o777,
            dir.display()
        )));
    }
    Ok(())
}

/// What the whole agent shares.
pub(super) struct Shared {
    vault_path: PathBuf,
    /// The vault's canonical path, as the audit log names it.
    vault_name: String,
    audit: Option<AuditLog>,
    /// This agent, for the locks it makes on its own.
    own: Arc<Requester>,
    /// What was just released for git (to skip git's `store` of it).
    released: RecentReleases,
    vault_options: tokenring_vault::OpenOptions,
    /// The vault, once opened (locked or not).
    vault: Mutex<Option<Arc<Vault>>>,
    device: DeviceGate,
    activity: Mutex<Activity>,
    /// When the vault was last unlocked (on `clock`), while it is.
    unlocked_at: Mutex<Option<Duration>>,
    idle_lock: Duration,
    max_unlocked: Duration,
    clock: Arc<dyn Clock>,
    pub(super) limits: Limits,
    pub(super) shutdown: Arc<AtomicBool>,
    /// Connected clients.
    pub(super) clients: AtomicUsize,
    /// Our effective uid: the only one served.
    pub(super) uid: rustix::process::Uid,
    /// Told when a request waits for a touch.
    pub(super) notifier: Option<Box<dyn TouchNotifier>>,
}

/// Requests running now and when the last one ended (for the idle lock),
/// on the agent's clock.
struct Activity {
    in_flight: usize,
    last: Duration,
}

/// Counts a request as running; when dropped, it has ended now.
struct ActivityGuard<'a>(&'a Shared);

impl Drop for ActivityGuard<'_> {
    fn drop(&mut self) {
        let mut activity = lock(&self.0.activity);
        activity.in_flight = activity.in_flight.saturating_sub(1);
        activity.last = self.0.clock.now();
    }
}

impl Shared {
    fn begin(&self) -> ActivityGuard<'_> {
        lock(&self.activity).in_flight += 1;
        ActivityGuard(self)
    }

    /// Whether a request waits for the authenticator.
    pub(super) fn authenticator_wanted(&self) -> bool {
        self.device.has_waiters()
    }

    fn current_vault(&self) -> Option<Arc<Vault>> {
        lock(&self.vault).clone()
    }

    fn unlocked_vault(&self) -> Option<Arc<Vault>> {
        self.current_vault().filter(|v| !v.is_locked())
    }

    /// Forgets the vault key (zeroized by the vault) and closes the
    /// authenticator when nobody uses it.
    pub(super) fn lock_vault(&self) {
        if let Some(vault) = self.current_vault() {
            vault.lock();
        }
        *lock(&self.unlocked_at) = None;
        self.released.forget_all();
        if let Some(mut device) = self.device.try_acquire() {
            device.authenticator = None;
        }
    }

    /// Locks the vault after `idle_lock` without a request, and
    /// `max_unlocked` after it was unlocked whatever runs (a request that
    /// needs the vault then unlocks it again, with a tap).
    fn idle_check(&self) {
        let now = self.clock.now();
        let activity = lock(&self.activity);
        let Some(vault) = self.unlocked_vault() else {
            return;
        };
        let unlocked_at = *lock(&self.unlocked_at);
        let expired = unlocked_at.is_some_and(|at| now.saturating_sub(at) >= self.max_unlocked);
        let idle = activity.in_flight == 0 && now.saturating_sub(activity.last) >= self.idle_lock;
        if !(expired || idle) {
            return;
        }
        // Holding `activity`: no request can start meanwhile.
        vault.lock();
        drop(activity);
        self.lock_vault();
        let why = if expired { "max_unlocked" } else { "idle_lock" };
        self.record(&self.own, why, None, Outcome::Locked, None);
        if expired {
            eprintln!(
                "tokenring agent: locked the vault {} after it was unlocked (--max-unlocked)",
                super::format_duration(self.max_unlocked)
            );
        } else {
            eprintln!(
                "tokenring agent: locked the vault after {} idle",
                super::format_duration(self.idle_lock)
            );
        }
    }

    /// The unlocked vault, unlocking it (one tap) with the authenticator
    /// held by `device` when it is locked or not yet open.
    fn unlock_with(
        &self,
        device: &mut DeviceGuard<'_>,
        prompt: &dyn Prompt,
        ask: &Ask<'_>,
    ) -> Result<Arc<Vault>, Error> {
        if let Some(vault) = self.unlocked_vault() {
            return Ok(vault);
        }
        let current = self.current_vault();
        // From the file as it is now (it may have been replaced while the
        // vault was locked): the authenticator must hold this credential.
        let credentials = Vault::credentials_of(&self.vault_path)?;
        let result = (|| {
            let authenticator = device.authenticator(&credentials, prompt)?;
            let vault = match current {
                Some(vault) => {
                    vault.unlock(&mut **authenticator, prompt)?;
                    Ok(vault)
                }
                None => {
                    let vault = Arc::new(Vault::open_with(
                        &self.vault_path,
                        &mut **authenticator,
                        prompt,
                        &self.vault_options,
                    )?);
                    *lock(&self.vault) = Some(Arc::clone(&vault));
                    Ok::<_, Error>(vault)
                }
            }?;
            *lock(&self.unlocked_at) = Some(self.clock.now());
            self.record(ask.requester, "unlock", None, Outcome::Unlocked, None);
            Ok(vault)
        })();
        if let Err(e) = &result {
            device.after_error(e);
            self.after_vault_error(e);
        }
        result
    }

    /// A vault replaced under us is opened afresh next time.
    fn after_vault_error(&self, error: &Error) {
        if matches!(error, Error::Vault(VaultError::Replaced { .. })) {
            *lock(&self.vault) = None;
        }
    }

    /// The unlocked vault for an operation without a derivation: no tap
    /// when unlocked, the unlock tap otherwise.
    fn vault_for_names(&self, prompt: &dyn Prompt, ask: &Ask<'_>) -> Result<Arc<Vault>, Error> {
        if let Some(vault) = self.unlocked_vault() {
            return Ok(vault);
        }
        let mut device = self
            .device
            .acquire(prompt, self.limits.tick, ask.holder())?;
        self.unlock_with(&mut device, prompt, ask)
    }

    /// Runs `op` with the unlocked vault and the authenticator (unlocking
    /// first when needed). If the vault was locked by `lock` in between,
    /// unlocks once more.
    fn with_device<T>(
        &self,
        prompt: &dyn Prompt,
        ask: &Ask<'_>,
        op: impl Fn(&Vault, &mut DynAuthenticator) -> Result<T, VaultError>,
    ) -> Result<T, Error> {
        let mut device = self
            .device
            .acquire(prompt, self.limits.tick, ask.holder())?;
        for attempt in 0..2 {
            let vault = self.unlock_with(&mut device, prompt, ask)?;
            let credentials = vault.credentials();
            let result = device
                .authenticator(&credentials, prompt)
                .and_then(|auth| op(&vault, auth).map_err(Error::from));
            match result {
                Err(Error::Vault(VaultError::Locked)) if attempt == 0 => continue,
                Err(e) => {
                    device.after_error(&e);
                    self.after_vault_error(&e);
                    return Err(e);
                }
                Ok(value) => return Ok(value),
            }
        }
        Err(Error::Vault(VaultError::Locked))
    }

    /// Runs a name-only operation, unlocking once more if `lock` came in between.
    fn with_names<T>(
        &self,
        prompt: &dyn Prompt,
        ask: &Ask<'_>,
        op: impl Fn(&Vault) -> Result<T, VaultError>,
    ) -> Result<T, Error> {
        for attempt in 0..2 {
            let vault = self.vault_for_names(prompt, ask)?;
            match op(&vault) {
                Err(VaultError::Locked) if attempt == 0 => continue,
                Err(e) => {
                    let e = Error::from(e);
                    self.after_vault_error(&e);
                    return Err(e);
                }
                Ok(value) => return Ok(value),
            }
        }
        Err(Error::Vault(VaultError::Locked))
    }

    fn status(&self) -> StatusReport {
        let now = self.clock.now();
        let vault = self.unlocked_vault();
        let idle_lock_in_secs = vault.as_ref().map(|_| {
            let activity = lock(&self.activity);
            if activity.in_flight > 0 {
                self.idle_lock.as_secs_f64()
            } else {
                self.idle_lock
                    .saturating_sub(now.saturating_sub(activity.last))
                    .as_secs_f64()
            }
        });
        let max_unlocked_in_secs = vault.as_ref().and_then(|_| {
            lock(&self.unlocked_at).map(|at| {
                self.max_unlocked
                    .saturating_sub(now.saturating_sub(at))
                    .as_secs_f64()
            })
        });
        StatusReport {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            protocol: PROTOCOL_VERSION,
            vault: self.vault_path.display().to_string(),
            locked: vault.is_none(),
            idle_lock_secs: self.idle_lock.as_secs_f64(),
            idle_lock_in_secs,
            max_unlocked_secs: Some(self.max_unlocked.as_secs_f64()),
            max_unlocked_in_secs,
            entries: vault.and_then(|v| v.len().ok()),
            clients: self.clients.load(Ordering::SeqCst),
        }
    }

    /// Whether a `set` would store what the vault already holds: the value
    /// this agent just released for that git entry (see
    /// [`RecentReleases`]), the vault still unlocked and the entry still
    /// there. (A change of the entry by a process that opened the vault
    /// itself since then is kept: it is newer than git's `store`.)
    fn unchanged(&self, service: &str, user: &str, password: &str) -> bool {
        let now = self.clock.now();
        self.released.take_if_same(service, user, password, now)
            && self
                .unlocked_vault()
                .is_some_and(|vault| vault.contains(service, user).unwrap_or(false))
    }

    /// Appends a record to the audit log, if there is one.
    fn record(
        &self,
        requester: &Requester,
        request: &str,
        entry: Option<(&str, &str)>,
        outcome: Outcome,
        detail: Option<String>,
    ) {
        let Some(audit) = &self.audit else {
            return;
        };
        audit.append(&AuditRecord {
            time: utc_timestamp(std::time::SystemTime::now()),
            vault: self.vault_name.clone(),
            pid: requester.pid(),
            exe: requester.exe().map(|e| e.display().to_string()),
            request: request.to_string(),
            service: entry.map(|(s, _)| s.to_string()),
            user: entry.map(|(_, u)| u.to_string()),
            outcome,
            detail,
        });
    }

    /// Runs one request from `caller` and returns its final reply; every
    /// request but `status` ends with a record in the audit log.
    pub(super) fn execute(
        &self,
        request: ClientMessage,
        prompt: &dyn Prompt,
        caller: &Caller<'_>,
    ) -> Reply {
        let ask = Ask {
            what: describe(&request),
            requester: caller.requester,
        };
        let kind = request.kind();
        caller.pin_unanswered.store(false, Ordering::SeqCst);
        let (entry, result) = match request {
            ClientMessage::Status => return AgentMessage::Status(self.status()).into(),
            ClientMessage::Lock => {
                self.lock_vault();
                self.record(caller.requester, kind, None, Outcome::Locked, None);
                return AgentMessage::Done.into();
            }
            ClientMessage::Cancel | ClientMessage::Pin { .. } => {
                return AgentMessage::Error(WireError::new(
                    ErrorKind::BadRequest,
                    "cancel and pin messages only belong to a running request",
                ))
                .into()
            }
            ClientMessage::Get { service, user } => {
                let _active = self.begin();
                let result = self
                    .with_device(prompt, &ask, |vault, auth| {
                        vault.get(&service, &user, &mut **auth, prompt)
                    })
                    .map(|password| {
                        let outcome = match &password {
                            Some(password) => {
                                let now = self.clock.now();
                                self.released.remember(
                                    &service,
                                    &user,
                                    password.expose_secret(),
                                    now,
                                );
                                Outcome::Released
                            }
                            None => Outcome::NotFound,
                        };
                        let reply = AgentMessage::Password {
                            password: password.map(into_wire),
                        };
                        (reply.into(), outcome)
                    });
                (Some((service, user)), result)
            }
            ClientMessage::GetMany { names } => {
                let _active = self.begin();
                let refs: Vec<(&str, &str)> = names
                    .iter()
                    .map(|n| (n.service.as_str(), n.user.as_str()))
                    .collect();
                let result = self.with_device(prompt, &ask, |vault, auth| {
                    // Every name before any secret: a missing one stops all.
                    let mut missing = Vec::new();
                    for (i, (service, user)) in refs.iter().enumerate() {
                        if !vault.contains(service, user)? {
                            missing.push(i);
                        }
                    }
                    if !missing.is_empty() {
                        return Ok((Vec::new(), missing));
                    }
                    let got = vault.get_many(&refs, &mut **auth, prompt)?;
                    let gone: Vec<usize> = (0..got.len()).filter(|&i| got[i].is_none()).collect();
                    if !gone.is_empty() {
                        return Ok((Vec::new(), gone));
                    }
                    Ok((got.into_iter().flatten().collect::<Vec<_>>(), Vec::new()))
                });
                // One audit record per entry: every entry a touch released
                // (or was asked for) is named.
                return match result {
                    Ok((passwords, missing)) => {
                        let now = self.clock.now();
                        for (i, (service, user)) in refs.iter().enumerate() {
                            if missing.is_empty() {
                                self.released.remember(
                                    service,
                                    user,
                                    passwords[i].expose_secret(),
                                    now,
                                );
                                let entry = Some((*service, *user));
                                self.record(caller.requester, kind, entry, Outcome::Released, None);
                            } else if missing.contains(&i) {
                                let entry = Some((*service, *user));
                                self.record(caller.requester, kind, entry, Outcome::NotFound, None);
                            }
                        }
                        AgentMessage::Passwords {
                            passwords: passwords.into_iter().map(into_wire).collect(),
                            missing,
                        }
                        .into()
                    }
                    Err(e) => {
                        let pin_unanswered = caller.pin_unanswered.load(Ordering::SeqCst);
                        let (outcome, detail) = outcome_of(&e, pin_unanswered);
                        for (service, user) in &refs {
                            self.record(
                                caller.requester,
                                kind,
                                Some((service, user)),
                                outcome,
                                detail.clone(),
                            );
                        }
                        AgentMessage::Error(WireError::from_error(&e)).into()
                    }
                };
            }
            ClientMessage::Set {
                service,
                user,
                password,
            } => {
                let _active = self.begin();
                if self.unchanged(&service, &user, password.expose_secret()) {
                    self.record(
                        caller.requester,
                        kind,
                        Some((&service, &user)),
                        Outcome::Unchanged,
                        None,
                    );
                    return AgentMessage::Done.into();
                }
                let result = self
                    .with_device(prompt, &ask, |vault, auth| {
                        vault.set(
                            &service,
                            &user,
                            password.expose_secret(),
                            &mut **auth,
                            prompt,
                        )
                    })
                    .map(|()| (AgentMessage::Done.into(), Outcome::Stored));
                (Some((service, user)), result)
            }
            ClientMessage::Delete { service, user } => {
                let _active = self.begin();
                self.released.forget(&service, &user);
                let result = self
                    .with_names(prompt, &ask, |vault| vault.delete(&service, &user))
                    .map(|existed| {
                        let outcome = if existed {
                            Outcome::Deleted
                        } else {
                            Outcome::NotFound
                        };
                        (AgentMessage::Deleted { existed }.into(), outcome)
                    });
                (Some((service, user)), result)
            }
            ClientMessage::List => {
                let _active = self.begin();
                // Encoded straight from the vault's names, under its read
                // lock: no copy of the entry list.
                let result = self
                    .with_names(prompt, &ask, |vault| {
                        vault.names().map(|names| encode_names(names.iter()))
                    })
                    .and_then(|frames| frames)
                    .map(|frames| (Reply::Frames(frames), Outcome::Listed));
                (None, result)
            }
        };
        let entry = entry.as_ref().map(|(s, u)| (s.as_str(), u.as_str()));
        match result {
            Ok((reply, outcome)) => {
                self.record(caller.requester, kind, entry, outcome, None);
                reply
            }
            Err(e) => {
                let pin_unanswered = caller.pin_unanswered.load(Ordering::SeqCst);
                let (outcome, detail) = outcome_of(&e, pin_unanswered);
                self.record(caller.requester, kind, entry, outcome, detail);
                AgentMessage::Error(WireError::from_error(&e)).into()
            }
        }
    }
}

/// The final reply to a request: a message, or frames already encoded
/// (the names of a `list`, which may need several).
pub(super) enum Reply {
    /// One message.
    Message(AgentMessage),
    /// Frames to send as they are, in order.
    Frames(Vec<Zeroizing<Vec<u8>>>),
}

impl From<AgentMessage> for Reply {
    fn from(message: AgentMessage) -> Reply {
        Reply::Message(message)
    }
}

/// Who runs a request: the process that asked, and whether a PIN request
/// of the request went unanswered (set by its prompt).
pub(super) struct Caller<'a> {
    pub(super) requester: &'a Arc<Requester>,
    pub(super) pin_unanswered: &'a AtomicBool,
}

/// How a failed request ends in the audit log.
fn outcome_of(error: &Error, pin_unanswered: bool) -> (Outcome, Option<String>) {
    if pin_unanswered {
        return (
            Outcome::TimedOut,
            Some("the PIN was not answered in time".to_string()),
        );
    }
    if error.is_cancelled() {
        return (Outcome::Cancelled, None);
    }
    match error.authenticator() {
        Some(tokenring_core::Error::OperationDenied) => (Outcome::Denied, None),
        Some(tokenring_core::Error::UserActionTimeout) => (Outcome::TimedOut, None),
        _ => (Outcome::Failed, Some(error.to_string())),
    }
}

/// A request as waiting messages and the audit log name it, and who asked.
struct Ask<'a> {
    /// "a get of 'alice' in 'bank'".
    what: String,
    requester: &'a Arc<Requester>,
}

impl Ask<'_> {
    fn holder(&self) -> Holder {
        Holder {
            what: self.what.clone(),
            requester: Arc::clone(self.requester),
        }
    }
}

/// "a get of 'alice' in 'bank'", "a list of the entries" (names quoted and
/// escaped as in touch prompts).
fn describe(request: &ClientMessage) -> String {
    use tokenring_vault::quote_name;
    let of = |kind: &str, service: &str, user: &str| {
        format!(
            "a {kind} of {} in {}",
            quote_name(user),
            quote_name(service)
        )
    };
    match request {
        ClientMessage::Get { service, user } => of("get", service, user),
        ClientMessage::GetMany { names } => {
            let named: Vec<String> = names
                .iter()
                .map(|n| format!("{} in {}", quote_name(&n.user), quote_name(&n.service)))
                .collect();
            match named.as_slice() {
                [] => "a get of no entry".to_string(),
                [one] => format!("a get of {one}"),
                [rest @ .., last] => format!("a get of {} and {last}", rest.join(", ")),
            }
        }
        ClientMessage::Set { service, user, .. } => of("set", service, user),
        ClientMessage::Delete { service, user } => of("delete", service, user),
        ClientMessage::List => "a list of the entries".to_string(),
        other => format!("a {} request", other.kind()),
    }
}

fn into_wire(password: Password) -> WireSecret {
    WireSecret::new(password.expose_secret())
}
