//! The independent check: python-fido2 (a widely used CTAP2 client, not
//! ours) drives the simulator through `tokenring-sim serve-stdio`; see
//! `tests/python/fido2_check.py` for the checks.
//!
//! Interpreter: `TOKENRING_PYTHON` (default `/tmp/glyph-venv/bin/python`,
//! the environment `scripts/test` sets up), with `fido2` 1.2 installed.
//! When it is missing the test fails if `CI` is set and is skipped (with a
//! message) otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

fn interpreter() -> Option<PathBuf> {
    let python = std::env::var_os("TOKENRING_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/glyph-venv/bin/python"));
    let why = match Command::new(&python)
        .args([
            "-c",
            "import fido2, sys; sys.exit(0 if fido2.__version__.startswith('1.') else 3)",
        ])
        .output()
    {
        Ok(out) if out.status.success() => return Some(python),
        Ok(out) => format!(
            "{} cannot import fido2 1.x: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => format!("cannot run {}: {e}", python.display()),
    };
    if std::env::var_os("CI").is_some() {
        panic!("python-fido2 check unavailable in CI: {why} (run sh ../shared/compat/setup.sh or set TOKENRING_PYTHON)");
    }
    eprintln!(
        "skipping the python-fido2 check: {why} (set TOKENRING_PYTHON to a python with fido2 1.2)"
    );
    None
}

#[test]
fn python_fido2_drives_the_simulator() {
    let Some(python) = interpreter() else {
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/fido2_check.py");
    let workdir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(python)
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_tokenring-sim"))
        .arg(workdir.path())
        .output()
        .expect("run fido2_check.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "python-fido2 check failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
}
