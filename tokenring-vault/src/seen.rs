//! The rollback record of this machine: for each format-2 vault (by its
//! `vault_id`), the highest generation opened or saved here. A file older
//! than that is warned about and refused for writes until accepted.
//!
//! It is never inside the vault and is trusted for nothing but warnings:
//! anything running as the user can edit it, and a machine that never saw
//! the newer file cannot know it existed. Written atomically (temp file,
//! fsync, rename) under its own lock file, read-max-write so concurrent
//! processes never lower a value; at most [`MAX_VAULTS`] vaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::VaultError;
use crate::persist;

/// Vaults remembered (the least recently seen are dropped).
pub const MAX_VAULTS: usize = 64;

#[derive(Serialize, Deserialize, Default)]
struct SeenFile {
    version: u32,
    vaults: Vec<SeenVault>,
}

#[derive(Serialize, Deserialize, Clone)]
struct SeenVault {
    vault_id: String,
    generation: u64,
    path: String,
    seen_at: u64,
}

/// Where this machine keeps its rollback record. The library never
/// chooses the path (programs use `$XDG_STATE_HOME/tokenring/seen-vaults.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenStore {
    path: PathBuf,
}

impl SeenStore {
    /// The record at `path` (created on first use, mode 0600).
    pub fn at(path: impl Into<PathBuf>) -> SeenStore {
        SeenStore { path: path.into() }
    }

    /// The record's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> SeenFile {
        // A missing or unreadable record only means no warnings.
        std::fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice::<SeenFile>(&b).ok())
            .filter(|f| f.version == 1)
            .unwrap_or_default()
    }

    /// The highest generation seen here for `vault_id`.
    pub(crate) fn seen(&self, vault_id: &[u8; 16]) -> Option<u64> {
        let id = crate::hex_codec::hex_encode(vault_id);
        self.read()
            .vaults
            .iter()
            .find(|v| v.vault_id == id)
            .map(|v| v.generation)
    }

    /// Records `generation` for `vault_id` (never lowering it).
    pub(crate) fn record(
        &self,
        vault_id: &[u8; 16],
        generation: u64,
        vault: &Path,
    ) -> Result<(), VaultError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| VaultError::io("create", dir, e))?;
            }
        }
        let _lock = persist::lock(&self.path, Duration::from_secs(10))?;
        let mut file = self.read();
        file.version = 1;
        let id = crate::hex_codec::hex_encode(vault_id);
        let now = crate::fernet::unix_now();
        match file.vaults.iter_mut().find(|v| v.vault_id == id) {
            Some(v) => {
                if v.generation >= generation && v.path == vault.display().to_string() {
                    return Ok(());
                }
                v.generation = v.generation.max(generation);
                v.path = vault.display().to_string();
                v.seen_at = now;
            }
            None => file.vaults.push(SeenVault {
                vault_id: id,
                generation,
                path: vault.display().to_string(),
                seen_at: now,
            }),
        }
        if file.vaults.len() > MAX_VAULTS {
            file.vaults.sort_by_key(|v| std::cmp::Reverse(v.seen_at));
            file.vaults.truncate(MAX_VAULTS);
        }
        let bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
        persist::save(&self.path, false, |out| out.write_all(&bytes))?;
        Ok(())
    }
}
