//! `tokenring-sim`: create, provision and serve a simulated authenticator.
//!
//! The simulator protects nothing: its secrets sit in a plain file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use tokenring_sim::{
    AttestationMode, NoContext, Personality, PresencePolicy, ProvisionedCredential, SimConfig,
    Simulator, VpcdOptions,
};

/// A software CTAP 2.1 authenticator for tests and demos (protects nothing).
#[derive(Parser)]
#[command(name = "tokenring-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new state file.
    Init {
        /// The state file to create (must not exist).
        statefile: PathBuf,
        /// Set this PIN at creation.
        #[arg(long, env = "TOKENRING_SIM_PIN")]
        pin: Option<String>,
        /// Seed for keys, ids and nonces.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// PIN/UV auth protocols in order of preference: "2,1" or "1".
        #[arg(long, default_value = "2,1")]
        protocols: String,
        /// Require UV for every operation (getInfo alwaysUv).
        #[arg(long)]
        always_uv: bool,
        /// Allow makeCredential without UV when a PIN is set (makeCredUvNotRqd).
        #[arg(long)]
        make_cred_uv_not_rqd: bool,
        /// Simulate an enrolled built-in UV method (getInfo uv: true).
        #[arg(long)]
        built_in_uv: bool,
        /// Attestation: "none" or "packed" (self attestation).
        #[arg(long, default_value = "none")]
        attestation: String,
        /// Pretend to be a real product: its recorded getInfo and its
        /// behaviour (tokenring-sim, security-key-ctap20,
        /// yubikey5-fido21-pre, token2-fido21, yubikey-bio). The recording
        /// fixes the protocols, built-in UV, alwaysUv and makeCredUvNotRqd.
        #[arg(
            long,
            default_value = "tokenring-sim",
            conflicts_with_all = ["protocols", "always_uv", "make_cred_uv_not_rqd", "built_in_uv"]
        )]
        personality: Personality,
    },
    /// Add a credential made elsewhere (e.g. a vault fixture) to a state file.
    Provision {
        /// The state file.
        statefile: PathBuf,
        /// Credential id (hex).
        #[arg(long)]
        credential_id: String,
        /// RP ID.
        #[arg(long, default_value = tokenring_core::DEFAULT_RP_ID)]
        rp_id: String,
        /// CredRandom for assertions without UV (32 bytes hex).
        #[arg(long)]
        cred_random: String,
        /// CredRandom for assertions with UV (32 bytes hex; derived if absent).
        #[arg(long)]
        cred_random_uv: Option<String>,
    },
    /// Serve CTAP2 over stdin/stdout: requests `[cmd u8][len u32 BE][payload]`,
    /// responses `[len u32 BE][status || cbor]` (an empty response means the
    /// response was dropped by fault injection).
    ServeStdio {
        /// The state file.
        statefile: PathBuf,
        /// Presence policy: approve, deny, timeout, delay:MILLIS, or a
        /// comma-separated script of those.
        #[arg(long, default_value = "approve")]
        presence: String,
    },
    /// Serve the simulator on a Unix socket until SIGTERM or SIGINT, for
    /// other processes to use as `--authenticator sim:SOCKET` (see the
    /// crate's `SimSocketServer` for the frames).
    Serve {
        /// The state file.
        statefile: PathBuf,
        /// The socket to create (nothing may exist there).
        #[arg(long)]
        socket: PathBuf,
        /// Keep every change in memory: the state file is read once and
        /// never written (fast, and the file stays as it was).
        #[arg(long)]
        in_memory: bool,
        /// Presence policy: approve, deny, timeout, delay:MILLIS, or a
        /// comma-separated script of those (delays take real time).
        #[arg(long, default_value = "approve")]
        presence: String,
    },
    /// Be a contactless FIDO card for a running pcscd through its vpcd
    /// driver (Debian package vsmartcard-vpcd) until SIGTERM or SIGINT;
    /// reconnects when pcscd restarts.
    Vpcd {
        /// The state file.
        statefile: PathBuf,
        /// Presence policy: approve, deny, timeout, delay:MILLIS, or a
        /// comma-separated script of those (delays take real time).
        #[arg(long, default_value = "approve")]
        presence: String,
        /// vpcd's address; port 35963 is reader "Virtual PCD 00 00",
        /// 35964 "Virtual PCD 00 01".
        #[arg(long, default_value = "127.0.0.1:35963")]
        address: std::net::SocketAddr,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Init {
            statefile,
            pin,
            seed,
            protocols,
            always_uv,
            make_cred_uv_not_rqd,
            built_in_uv,
            attestation,
            personality,
        } => {
            let mut config = SimConfig::with_seed(seed)
                .protocols(&parse_protocols(&protocols)?)
                .always_uv(always_uv)
                .make_cred_uv_not_rqd(make_cred_uv_not_rqd)
                .built_in_uv(built_in_uv)
                .attestation(match attestation.as_str() {
                    "none" => AttestationMode::None,
                    "packed" => AttestationMode::Packed,
                    other => bail!("unknown attestation {other:?} (none or packed)"),
                })
                .personality(personality);
            if let Some(pin) = pin {
                config = config.pin(&pin);
            }
            Simulator::create(config, &statefile)?;
            eprintln!(
                "tokenring-sim: created {} as {personality} (a simulated authenticator: it protects nothing)",
                statefile.display()
            );
        }
        Command::Provision {
            statefile,
            credential_id,
            rp_id,
            cred_random,
            cred_random_uv,
        } => {
            let mut sim = Simulator::open(&statefile)?;
            let credential_id = hex::decode(credential_id.trim()).context("--credential-id")?;
            let cred_random = hex32(&cred_random).context("--cred-random")?;
            let cred_random_uv = match cred_random_uv {
                Some(h) => Some(hex32(&h).context("--cred-random-uv")?),
                None => None,
            };
            sim.provision(ProvisionedCredential {
                credential_id,
                rp_id,
                cred_random,
                cred_random_uv,
                cred_protect: None,
            })?;
        }
        Command::ServeStdio {
            statefile,
            presence,
        } => serve_stdio(&statefile, &presence)?,
        Command::Vpcd {
            statefile,
            presence,
            address,
        } => serve_vpcd(&statefile, &presence, address)?,
        Command::Serve {
            statefile,
            socket,
            in_memory,
            presence,
        } => serve_socket(&statefile, &socket, in_memory, &presence)?,
    }
    Ok(())
}

fn parse_protocols(text: &str) -> Result<Vec<u8>> {
    let list: Vec<u8> = text
        .split(',')
        .map(|p| p.trim().parse::<u8>())
        .collect::<Result<_, _>>()
        .context("--protocols takes a list like 2,1")?;
    if list.is_empty() || list.iter().any(|p| *p != 1 && *p != 2) {
        bail!("--protocols takes 2,1 or 1");
    }
    Ok(list)
}

fn hex32(text: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(text.trim())?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| anyhow::anyhow!("expected 32 bytes"))
}

/// Parses a presence policy: approve | deny | timeout | delay:MILLIS, or a
/// comma-separated script of them.
fn parse_presence(text: &str) -> Result<PresencePolicy> {
    text.parse().context("--presence")
}

fn serve_stdio(statefile: &Path, presence: &str) -> Result<()> {
    let mut sim = Simulator::open(statefile)?;
    sim.set_presence_policy(parse_presence(presence)?);
    eprintln!(
        "tokenring-sim: serving {} on stdio (protects nothing)",
        statefile.display()
    );
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut input = stdin.lock();
    let mut output = stdout.lock();
    let limit = sim.max_msg_size().max(64) as u64 * 4;
    loop {
        let mut header = [0u8; 5];
        match input.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let [command, l0, l1, l2, l3] = header;
        let len = u64::from(u32::from_be_bytes([l0, l1, l2, l3]));
        if len > limit {
            bail!("request of {len} bytes is larger than this bridge accepts");
        }
        let mut payload = Vec::new();
        (&mut input).take(len).read_to_end(&mut payload)?;
        if payload.len() as u64 != len {
            bail!("truncated request");
        }
        let response = sim.process(command, &payload, &mut NoContext);
        let out_len = u32::try_from(response.len()).context("response too large")?;
        output.write_all(&out_len.to_be_bytes())?;
        output.write_all(&response)?;
        output.flush()?;
    }
}

fn serve_vpcd(statefile: &Path, presence: &str, address: std::net::SocketAddr) -> Result<()> {
    let mut sim = Simulator::open(statefile)?;
    sim.set_presence_policy(parse_presence(presence)?);
    sim.set_clock(tokenring_sim::ClockMode::Real);
    // The bridge runs until SIGTERM or SIGINT raise this flag.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    eprintln!(
        "tokenring-sim: {} as a contactless card for pcscd via vpcd at {address} (protects nothing)",
        statefile.display()
    );
    let options = VpcdOptions {
        address,
        ..Default::default()
    };
    tokenring_sim::serve_vpcd(Arc::new(Mutex::new(sim)), &options, &stop, &mut |event| {
        eprintln!("tokenring-sim: {event}")
    });
    eprintln!("tokenring-sim: stopped");
    Ok(())
}

fn serve_socket(statefile: &Path, socket: &Path, in_memory: bool, presence: &str) -> Result<()> {
    let mut sim = Simulator::open(statefile)?;
    let policy = parse_presence(presence)?;
    if policy.waits() {
        sim.set_clock(tokenring_sim::ClockMode::Real);
    }
    sim.set_presence_policy(policy);
    if in_memory {
        sim.keep_in_memory();
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let server = tokenring_sim::SimSocketServer::bind(Arc::new(Mutex::new(sim)), socket)?;
    eprintln!(
        "tokenring-sim: serving {} on {}{} (protects nothing)",
        statefile.display(),
        socket.display(),
        if in_memory {
            ", changes kept in memory"
        } else {
            ""
        }
    );
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let stats = server.stats();
    server.shutdown();
    eprintln!(
        "tokenring-sim: stopped after {} requests ({:.1} ms inside the simulator)",
        stats.requests,
        stats.busy.as_secs_f64() * 1e3
    );
    Ok(())
}
