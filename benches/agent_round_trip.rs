//! Agent `get` round trip: a client asks the agent for one secret over the
//! Unix socket, the agent derives the entry key on the authenticator (an
//! in-memory simulator approving at once) and answers. Median and p99 over
//! 10,000 requests, on one reused connection and with a new connection per
//! request; `status` (no authenticator) for the protocol's own cost.
//!
//! The time spent inside the simulator (its P-256, AES and HMAC work) is
//! measured around each of its exchanges and reported apart: TokenRing's
//! own cost is the rest.
//!
//! Run: `cargo bench -p tokenring --bench agent_round_trip` (optionally
//! followed by `-- REQUESTS`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokenring::agent::protocol::{AgentMessage, ClientMessage};
use tokenring::agent::{AgentClient, AgentConnection};
use tokenring::app::agent::{Agent, AgentConfig};
use tokenring::DynAuthenticator;
use tokenring::SecretStore;
use tokenring_core::{
    Ctap2Client, NoPrompt, Prompt, Reply, Transport, TransportError, TransportInfo,
};
use tokenring_sim::{PresencePolicy, SimConfig, SimTransport, Simulator};
use tokenring_vault::{CreateOptions, Vault};

/// A transport that adds the time its exchanges take (the simulator's
/// work: the in-process simulator has no I/O) to a shared counter.
struct Timed<T> {
    inner: T,
    busy: Arc<AtomicU64>,
}

impl<T: Transport> Transport for Timed<T> {
    fn exchange(
        &mut self,
        command: u8,
        payload: &[u8],
        prompt: &dyn Prompt,
    ) -> Result<Reply, TransportError> {
        let start = Instant::now();
        let reply = self.inner.exchange(command, payload, prompt);
        let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.busy.fetch_add(nanos, Ordering::SeqCst);
        reply
    }

    fn info(&self) -> TransportInfo {
        self.inner.info()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let requests: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    let vault_path = dir.path().join("keyring.tokenvault");
    let socket = dir.path().join("agent").join("vault.sock");
    let sim = Arc::new(Mutex::new(Simulator::new(
        SimConfig::with_seed(5).presence(PresencePolicy::approve()),
    )));
    let mut auth = Ctap2Client::new(SimTransport::new(Arc::clone(&sim)))?;
    Vault::create(&vault_path, &mut auth, &CreateOptions::default(), &NoPrompt)?;
    drop(auth);

    let busy = Arc::new(AtomicU64::new(0));
    let timed = |sim: &Arc<Mutex<Simulator>>| Timed {
        inner: SimTransport::new(Arc::clone(sim)),
        busy: Arc::clone(&busy),
    };
    let source = {
        let sim = Arc::clone(&sim);
        let busy = Arc::clone(&busy);
        move |_: &[tokenring_vault::VaultCredential], _: &dyn tokenring_core::Prompt| {
            Ok(Box::new(Ctap2Client::new(Timed {
                inner: SimTransport::new(Arc::clone(&sim)),
                busy: Arc::clone(&busy),
            })?) as DynAuthenticator)
        }
    };
    let agent = Agent::bind(AgentConfig::new(
        vault_path,
        socket.clone(),
        Box::new(source),
    ))?;
    let shutdown = agent.shutdown_handle();
    let serving = std::thread::spawn(move || agent.serve());

    let client = AgentClient::connect_socket(&socket)?.ok_or("the agent does not answer")?;
    client.set(
        "pypi",
        "__token__",
        "pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAw",
        &NoPrompt,
    )?;
    for _ in 0..200 {
        client.get("pypi", "__token__", &NoPrompt)?;
    }

    println!("agent round trip, {requests} requests each (in-memory simulator approving at once)");
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>14} {:>14}",
        "", "median", "p99", "mean", "authenticator", "TokenRing own"
    );

    let times = measure(requests, &busy, || {
        let password = client.get("pypi", "__token__", &NoPrompt)?;
        if password.is_none() {
            return Err("the entry vanished".into());
        }
        Ok(())
    })?;
    report("get, reused connection (1 tap each)", &times);

    let times = measure(requests, &busy, || {
        let mut connection = AgentConnection::open(&socket)?.ok_or("no agent")?;
        let request = ClientMessage::Get {
            service: "pypi".into(),
            user: "__token__".into(),
        };
        match connection.request(&request, &NoPrompt)? {
            AgentMessage::Password { password: Some(_) } => Ok(()),
            _ => Err("unexpected reply".into()),
        }
    })?;
    report("connect + get (as a CLI process does)", &times);

    // The same derivation without the agent: what the socket and the
    // agent's threads add is the difference.
    let direct_vault = {
        let mut auth = Ctap2Client::new(timed(&sim))?;
        let vault = Vault::open(&dir.path().join("keyring.tokenvault"), &mut auth, &NoPrompt)?;
        (vault, auth)
    };
    let (direct, mut direct_auth) = direct_vault;
    let times = measure(requests, &busy, || {
        direct
            .get("pypi", "__token__", &mut direct_auth, &NoPrompt)?
            .ok_or("the entry vanished")?;
        Ok(())
    })?;
    report("vault.get in this process (no agent)", &times);

    let times = measure(requests, &busy, || {
        client.status()?;
        Ok(())
    })?;
    report("status, reused connection (no authenticator)", &times);

    let touches = sim.lock().map(|s| s.presence_requests()).unwrap_or(0);
    println!("(simulator presence checks in total: {touches})");
    shutdown.shutdown();
    serving.join().map_err(|_| "the agent thread panicked")??;
    Ok(())
}

type BenchResult = Result<(), Box<dyn std::error::Error>>;

fn measure(
    n: usize,
    busy: &AtomicU64,
    mut op: impl FnMut() -> BenchResult,
) -> Result<Times, Box<dyn std::error::Error>> {
    let mut times = Times::default();
    for _ in 0..n {
        let before = busy.load(Ordering::SeqCst);
        let start = Instant::now();
        op()?;
        let wall = start.elapsed();
        let inside = Duration::from_nanos(busy.load(Ordering::SeqCst).saturating_sub(before));
        times.wall.push(wall);
        times.authenticator.push(inside);
        times.own.push(wall.saturating_sub(inside));
    }
    times.wall.sort();
    times.authenticator.sort();
    times.own.sort();
    Ok(times)
}

/// Per request: wall time, the simulator's share, the rest (each sorted).
#[derive(Default)]
struct Times {
    wall: Vec<Duration>,
    authenticator: Vec<Duration>,
    own: Vec<Duration>,
}

fn at(sorted: &[Duration], q: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

fn report(label: &str, times: &Times) {
    let sorted = &times.wall;
    let mean = sorted.iter().sum::<Duration>() / u32::try_from(sorted.len().max(1)).unwrap_or(1);
    println!(
        "{label:<44} {:>8.1}µs {:>8.1}µs {:>8.1}µs {:>12.1}µs {:>12.1}µs",
        micros(at(sorted, 0.5)),
        micros(at(sorted, 0.99)),
        micros(mean),
        micros(at(&times.authenticator, 0.5)),
        micros(at(&times.own, 0.5))
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
