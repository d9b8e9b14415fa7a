//! The `tokenring` command (the very source of src/main.rs's `cli` module)
//! with the tracking allocator: with `TOKENRING_MEMCHECK_PATTERNS` set, it
//! looks into every block it frees for those patterns and, before it exits,
//! prints on stderr how many blocks held one (a line
//! `memcheck: N freed blocks scanned, M held a pattern`, then the findings).

#[path = "../../../src/cli/mod.rs"]
mod cli;

#[global_allocator]
static ALLOCATOR: tokenring_memcheck::Tracking = tokenring_memcheck::Tracking;

fn main() -> std::process::ExitCode {
    let armed = match tokenring_memcheck::arm_from_env() {
        Ok(armed) => armed,
        Err(e) => {
            eprintln!("tokenring-memcheck: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let code = cli::run(cli::parse());
    if armed {
        let findings = tokenring_memcheck::disarm();
        eprintln!("{findings}");
    }
    std::process::ExitCode::from(code)
}
