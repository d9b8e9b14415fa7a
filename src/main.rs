//! The `tokenring` command: secrets that only leave their vault with a tap
//! on a FIDO2 authenticator. See `tokenring --help`.

mod cli;

fn main() -> std::process::ExitCode {
    let cli = cli::parse();
    std::process::ExitCode::from(cli::run(cli))
}
