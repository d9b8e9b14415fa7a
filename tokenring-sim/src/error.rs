//! Errors of the simulator's own API (state files, configuration).

use std::path::PathBuf;

/// What can go wrong loading, saving or configuring a simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// Reading or writing the state file failed.
    #[error("simulator state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The state file is not valid simulator state (left untouched).
    #[error("simulator state file {path} is not valid: {message}")]
    InvalidState {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A configuration value is not allowed.
    #[error("invalid simulator configuration: {0}")]
    InvalidConfig(String),
}
