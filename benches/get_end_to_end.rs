//! `tokenring get SERVICE USER`, whole process, from start to the secret on
//! stdout: in-process (`--no-agent`: find the holder without a tap, unlock,
//! the entry: two derivations) and through a running agent (one
//! derivation), beside the original's whole-process
//! `python glyph_oracle.py get VAULT CRED_RANDOM SERVICE USER` on the same
//! vault file and the start of a process that does nothing (`/bin/true`),
//! all in the same run, interleaved round by round.
//!
//! The authenticator is a simulator kept in memory and served on a Unix
//! socket by this benchmark's process (`sim:SOCKET`), so no state file is
//! written and what the `tokenring` process does is TokenRing's: process
//! start, reading and parsing the vault, Fernet, the CTAP client and its
//! framing, the socket, the agent round trip. The server counts the time
//! spent inside the simulator (its P-256, AES and HMAC work) for every run;
//! that is the authenticator's share, reported apart and taken out of
//! TokenRing's own cost, so a reader can add a real token's latency
//! instead. One row keeps the previous setup for comparison: the simulator
//! from a state file on disk inside the `tokenring` process, written (with
//! fsync) after every assertion.
//!
//! The vault is written by the original's own code (the oracle), and the
//! simulator is provisioned with the oracle's credential (id and
//! CredRandom), so both read the very same file.
//!
//! Run: `cargo bench -p tokenring --bench get_end_to_end` (optionally
//! followed by `-- RUNS`, default 50). The Python comes from
//! `TOKENRING_BENCH_PYTHON`, else `/tmp/glyph-venv/bin/python`, else
//! `sh ../shared/compat/setup.sh` builds it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokenring_sim::{ProvisionedCredential, SimConfig, SimSocketServer, Simulator};

const CRED_RANDOM: [u8; 32] = [0x5a; 32];
const SERVICE: &str = "upload.pypi.org";
const USER: &str = "__token__";
const PASSWORD: &str = "pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMAAC";

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// One kind of run: its wall-clock times and, for `tokenring`, the time
/// the simulator spent on each.
struct Series {
    label: &'static str,
    wall: Vec<Duration>,
    authenticator: Vec<Duration>,
}

impl Series {
    fn new(label: &'static str) -> Series {
        Series {
            label,
            wall: Vec::new(),
            authenticator: Vec::new(),
        }
    }

    /// Wall time less the simulator's, run by run.
    fn own(&self) -> Vec<Duration> {
        self.wall
            .iter()
            .zip(&self.authenticator)
            .map(|(w, a)| w.saturating_sub(*a))
            .collect()
    }
}

fn main() -> Result<()> {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(50);
    let root = repo_root()?;
    let oracle = root.join("shared/compat/glyph_oracle.py");
    let python = python(&root)?;

    let dir = tempfile::tempdir()?;
    let vault = dir.path().join("keyring.tokenvault");
    let credential_id = [0xc0u8; 64];
    let credential = ProvisionedCredential {
        credential_id: credential_id.to_vec(),
        rp_id: tokenring_core::DEFAULT_RP_ID.to_string(),
        cred_random: CRED_RANDOM,
        cred_random_uv: None,
        cred_protect: None,
    };

    // The original writes the vault.
    let written = Command::new(&python)
        .arg(&oracle)
        .args(["write"])
        .arg(&vault)
        .arg(hex::encode(CRED_RANDOM))
        .arg(hex::encode(credential_id))
        .args([SERVICE, USER, PASSWORD])
        .status()?;
    if !written.success() {
        return Err("the oracle could not write the vault".into());
    }
    let oracle_get = || {
        let mut command = Command::new(&python);
        command
            .arg(&oracle)
            .arg("get")
            .arg(&vault)
            .arg(hex::encode(CRED_RANDOM))
            .args([SERVICE, USER]);
        command
    };

    // The authenticator: in memory, served on a socket by this process.
    let mut sim = Simulator::new(SimConfig::with_seed(9));
    sim.provision(credential.clone())?;
    let server = SimSocketServer::bind(Arc::new(Mutex::new(sim)), &dir.path().join("sim.sock"))?;
    // The previous setup: a state file on disk, opened by each process.
    let state = dir.path().join("token.json");
    let mut on_disk = Simulator::create(SimConfig::with_seed(9), &state)?;
    on_disk.provision(credential)?;
    drop(on_disk);

    let runtime = dir.path().join("run");
    std::fs::create_dir(&runtime)?;
    let tokenring = |authenticator: &Path, args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tokenring"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("TOKENRING_VAULT", &vault)
            .env(
                "TOKENRING_AUTHENTICATOR",
                format!("sim:{}", authenticator.display()),
            )
            .args(args);
        command
    };
    let socket = server.path().to_path_buf();

    let mut agent = tokenring(&socket, &["agent", "--idle-lock", "1h"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let measured = (|| {
        wait_for_agent(&mut agent, &|args| tokenring(&socket, args))?;
        let mut floor = Series::new("process start: /bin/true");
        let mut original = Series::new("original: python glyph_oracle.py get");
        let mut in_process = Series::new("tokenring get --no-agent (2 derivations)");
        let mut through_agent = Series::new("tokenring get, through the agent (1 derivation)");
        let mut previous = Series::new("tokenring get --no-agent, sim state file on disk");
        // One warm-up round, then `runs` measured ones, interleaved so that
        // a change of load touches every series alike.
        for round in 0..=runs {
            let keep = round > 0;
            time_run(&mut floor, keep, None, Command::new("true"), false)?;
            time_run(&mut original, keep, None, oracle_get(), true)?;
            time_run(
                &mut in_process,
                keep,
                Some(&server),
                tokenring(&socket, &["--no-agent", "get", SERVICE, USER]),
                true,
            )?;
            time_run(
                &mut through_agent,
                keep,
                Some(&server),
                tokenring(&socket, &["get", SERVICE, USER]),
                true,
            )?;
            time_run(
                &mut previous,
                keep,
                None,
                tokenring(&state, &["--no-agent", "get", SERVICE, USER]),
                true,
            )?;
        }
        Ok::<_, Box<dyn std::error::Error>>([floor, original, in_process, through_agent, previous])
    })();
    stop(&mut agent);
    let [floor, original, in_process, through_agent, previous] = measured?;

    let base = median(&original.wall);
    let start = median(&floor.wall);
    println!(
        "whole-process `get` of one secret: median of {runs} runs each, interleaved; load average {}",
        load_average()
    );
    println!();
    println!("| | wall | authenticator (simulator) | TokenRing's own | own beyond process start | vs. the original |");
    println!("|---|---:|---:|---:|---:|---:|");
    for series in [&floor, &original] {
        println!(
            "| {} | {} | | | | {} |",
            series.label,
            ms(median(&series.wall)),
            if std::ptr::eq(series, &original) {
                "1×".to_string()
            } else {
                String::new()
            }
        );
    }
    for series in [&in_process, &through_agent] {
        let own = median(&series.own());
        println!(
            "| {} | {} | {} | {} | {} | {:.0}× |",
            series.label,
            ms(median(&series.wall)),
            ms(median(&series.authenticator)),
            ms(own),
            ms((own - start).max(0.0)),
            base / median(&series.wall)
        );
    }
    println!(
        "| {} | {} | (inside) | | | {:.0}× |",
        previous.label,
        ms(median(&previous.wall)),
        base / median(&previous.wall)
    );
    println!();
    println!(
        "targets for TokenRing's own cost (authenticator taken out): in-process ≤ 1 ms, through the agent ≤ 0.5 ms; \
         `own beyond process start` also takes out what starting any process costs on this machine"
    );
    Ok(())
}

/// Runs `command` once, checking (when `secret`) that it prints the
/// password; keeps its wall time (and the simulator's time, from
/// `server`) when `keep`.
fn time_run(
    series: &mut Series,
    keep: bool,
    server: Option<&SimSocketServer>,
    mut command: Command,
    secret: bool,
) -> Result<()> {
    command.stdin(Stdio::null()).stderr(Stdio::null());
    let before = server.map(|s| s.stats().busy).unwrap_or_default();
    let start = Instant::now();
    let output = command.output()?;
    let elapsed = start.elapsed();
    let after = server.map(|s| s.stats().busy).unwrap_or_default();
    if !output.status.success() || (secret && output.stdout != format!("{PASSWORD}\n").as_bytes()) {
        return Err(format!("{command:?} failed: {}", output.status).into());
    }
    if keep {
        series.wall.push(elapsed);
        series.authenticator.push(after.saturating_sub(before));
    }
    Ok(())
}

fn wait_for_agent(agent: &mut Child, tokenring: &dyn Fn(&[&str]) -> Command) -> Result<()> {
    let start = Instant::now();
    loop {
        let output = tokenring(&["status"]).output()?;
        if String::from_utf8_lossy(&output.stdout).contains("running (pid") {
            return Ok(());
        }
        if agent.try_wait()?.is_some() || start.elapsed() > Duration::from_secs(20) {
            return Err("the agent did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop(agent: &mut Child) {
    if let Some(pid) = i32::try_from(agent.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let _ = agent.wait();
}

/// The median, in seconds.
fn median(times: &[Duration]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted
        .get(sorted.len() / 2)
        .copied()
        .unwrap_or_default()
        .as_secs_f64()
}

fn ms(seconds: f64) -> String {
    format!("{:.2} ms", seconds * 1e3)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// The directory that holds `shared/` (the repository's parent).
fn repo_root() -> Result<PathBuf> {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        if dir.join("shared/compat/glyph_oracle.py").exists() {
            return Ok(dir);
        }
        if !dir.pop() {
            return Err("../shared/compat/glyph_oracle.py not found beside the repository".into());
        }
    }
}

fn python(root: &Path) -> Result<PathBuf> {
    if let Some(python) = std::env::var_os("TOKENRING_BENCH_PYTHON") {
        return Ok(python.into());
    }
    let venv = PathBuf::from("/tmp/glyph-venv/bin/python");
    if venv.exists() {
        return Ok(venv);
    }
    let output = Command::new("sh")
        .arg(root.join("shared/compat/setup.sh"))
        .output()?;
    let text = String::from_utf8(output.stdout)?;
    let path = text.lines().last().unwrap_or_default().trim();
    if !output.status.success() || path.is_empty() {
        return Err("sh ../shared/compat/setup.sh failed".into());
    }
    Ok(PathBuf::from(path))
}
