//! The code the programs share (`tokenring`, `git-credential-tokenring`,
//! `cargo-credential-tokenring`): not part of the library API, and built
//! only with the `cli` feature.
//!
//! - [`env`]: the environment variables, turned into a [`crate::Tokenring`]
//!   and a vault path (the library itself never reads the environment).
//! - [`terminal`]: the [`crate::Prompt`] on the terminal (touch prompts on
//!   stderr, hidden PIN entry, Ctrl-C as a cancel).
//! - [`exit`]: the exit codes, one per kind of failure a user can act on.
//! - [`agent`]: the agent process.
//! - [`git_credential`], [`cargo_credential`]: the integrations' protocols.
//! - [`import`]: the plaintext files of twine, cargo and git, read as they
//!   read them, for `tokenring import`.

pub mod agent;
pub mod cargo_credential;
pub mod env;
pub mod exit;
pub mod git_credential;
pub mod import;
pub mod terminal;
