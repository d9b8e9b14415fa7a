//! tokenring-vault
