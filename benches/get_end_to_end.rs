//! `tokenring get SERVICE USER`, whole process, from start to the secret on
//! stdout, with the simulator approving every touch at once: in-process
//! (two derivations: unlock + entry) and through a running agent (one
//! derivation) — beside the original's whole-process
//! `python glyph_oracle.py get VAULT CRED_RANDOM SERVICE USER` on the same
//! vault file, in the same run.
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
use std::time::{Duration, Instant};

use tokenring_sim::{ProvisionedCredential, SimConfig, Simulator};

const CRED_RANDOM: [u8; 32] = [0x5a; 32];
const SERVICE: &str = "upload.pypi.org";
const USER: &str = "__token__";
const PASSWORD: &str = "pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMAAC";

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

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

    println!("whole-process `get` of one secret, {runs} runs each, the same vault file for all");
    println!("{:<60} {:>10} {:>10} {:>10}", "", "median", "min", "max");
    let python_times = time_runs(runs, oracle_get)?;
    report("original: python glyph_oracle.py get", &python_times);
    let base = median(&python_times);

    // The simulator saves its state (signature counter) with fsync after
    // every assertion, as a token writes its flash: the test device's cost,
    // not TokenRing's. So once with its state on disk, once in memory
    // (tmpfs), when there is one.
    let mut places = vec![("state on disk", tempfile::tempdir()?)];
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        places.push(("state on tmpfs", tempfile::tempdir_in(shm)?));
    }
    for (place, state_dir) in &places {
        let state = state_dir.path().join("token.json");
        // The simulator holds the oracle's credential.
        let mut sim = Simulator::create(SimConfig::with_seed(9), &state)?;
        sim.provision(ProvisionedCredential {
            credential_id: credential_id.to_vec(),
            rp_id: tokenring_core::DEFAULT_RP_ID.to_string(),
            cred_random: CRED_RANDOM,
            cred_random_uv: None,
            cred_protect: None,
        })?;
        drop(sim);
        let runtime = state_dir.path().join("run");
        std::fs::create_dir(&runtime)?;
        let tokenring = |args: &[&str]| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_tokenring"));
            command
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", dir.path())
                .env("XDG_RUNTIME_DIR", &runtime)
                .env("TOKENRING_VAULT", &vault)
                .env(
                    "TOKENRING_AUTHENTICATOR",
                    format!("sim:{}", state.display()),
                )
                .args(args);
            command
        };

        let in_process = time_runs(runs, || tokenring(&["get", SERVICE, USER]))?;
        report(
            &format!("tokenring get, in-process (2 taps), sim {place}"),
            &in_process,
        );
        let mut agent = tokenring(&["agent", "--idle-lock", "1h"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let result = (|| {
            wait_for_agent(&mut agent, &tokenring)?;
            time_runs(runs, || tokenring(&["get", SERVICE, USER]))
        })();
        stop(&mut agent);
        let through_agent = result?;
        report(
            &format!("tokenring get, through the agent (1 tap), sim {place}"),
            &through_agent,
        );
        println!(
            "  speed-up over the original, sim {place}: in-process {:.1}x, through the agent {:.1}x (target: 20x)",
            base / median(&in_process),
            base / median(&through_agent)
        );
    }
    Ok(())
}

/// Runs the command `runs` times (after one warm-up), checking that it
/// prints the password; returns the sorted wall-clock times.
fn time_runs(runs: usize, mut make: impl FnMut() -> Command) -> Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(runs);
    for i in 0..=runs {
        let mut command = make();
        command.stdin(Stdio::null()).stderr(Stdio::null());
        let start = Instant::now();
        let output = command.output()?;
        let elapsed = start.elapsed();
        if !output.status.success() || output.stdout != format!("{PASSWORD}\n").as_bytes() {
            return Err(format!("{command:?} failed: {}", output.status).into());
        }
        if i > 0 {
            times.push(elapsed);
        }
    }
    times.sort();
    Ok(times)
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

fn median(sorted: &[Duration]) -> f64 {
    sorted
        .get(sorted.len() / 2)
        .copied()
        .unwrap_or_default()
        .as_secs_f64()
}

fn report(label: &str, sorted: &[Duration]) {
    let ms = |d: Option<&Duration>| d.copied().unwrap_or_default().as_secs_f64() * 1e3;
    println!(
        "{label:<60} {:>8.2}ms {:>8.2}ms {:>8.2}ms",
        median(sorted) * 1e3,
        ms(sorted.first()),
        ms(sorted.last())
    );
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
