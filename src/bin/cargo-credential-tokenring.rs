//! `cargo-credential-tokenring`: cargo's registry tokens in the TokenRing
//! vault, released only with a touch on the authenticator. Cargo runs it
//! with `--cargo-plugin` and speaks its credential-provider protocol on
//! stdin/stdout; see the README for the set-up.

use std::process::ExitCode;

const USAGE: &str = "\
cargo-credential-tokenring: keeps cargo's registry tokens in the TokenRing vault.

Cargo runs this program itself (with --cargo-plugin). Set it up in ~/.cargo/config.toml:

  [registry]
  global-credential-providers = [\"cargo-credential-tokenring\"]

or for one registry:

  [registries.my-registry]
  index = \"sparse+https://my-registry.example/index/\"
  credential-provider = [\"cargo-credential-tokenring\"]

Arguments after the program in credential-provider:
  --vault PATH              the vault (default: TOKENRING_VAULT, then the tokenring default)
  --authenticator SELECTOR  hid:PATH, nfc:READER or sim:STATEFILE (default: TOKENRING_AUTHENTICATOR)
  --no-agent                open the vault in this process even when the agent runs

Then: cargo login --registry my-registry (stores the token), cargo publish (one touch),
cargo logout --registry my-registry (deletes it). Tokens are kept as service
cargo-registry:<index-url>, user token (see `tokenring list`).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--cargo-plugin") {
        cargo_credential::main(tokenring::app::cargo_credential::TokenRingCredential::new());
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    eprintln!("{USAGE}");
    ExitCode::from(2)
}
