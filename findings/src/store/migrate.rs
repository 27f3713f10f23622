//! Schema migrations. A store written by an older haetae is brought to
//! [`SCHEMA_VERSION`] when it is opened, and never without a backup: the
//! whole store is first saved to `backups/pre-migration-v<OLD>-<TIME>.jsonl`
//! in its directory and that file verified; if that fails, the store is not
//! opened (and not changed).

use std::path::PathBuf;

use super::backup::{BACKUP_DIR, backup_stamp};
use super::{SCHEMA_KEY, SCHEMA_VERSION, SledStore};
use crate::error::StoreError;
use crate::time::Timestamp;

/// The step that brings a store of version `i` to `i + 1`, at index `i`.
/// Version 1 is the first schema haetae wrote, so there is nothing to change
/// yet; a version 0 store (no released haetae wrote one) only gets its key.
const STEPS: [Step; SCHEMA_VERSION as usize] = [nothing_to_change];

/// One migration step.
type Step = fn(&SledStore) -> Result<(), StoreError>;

fn nothing_to_change(_store: &SledStore) -> Result<(), StoreError> {
    Ok(())
}

/// Where the backup before migrating from `from` goes.
pub(super) fn backup_path(store: &SledStore, from: u32) -> PathBuf {
    store.dir.join(BACKUP_DIR).join(format!("pre-migration-v{from}-{}.jsonl", backup_stamp(Timestamp::now())))
}

/// Back the store up, verify the backup, then run each step from `from` on
/// and write the new version.
pub(super) fn migrate(store: &SledStore, meta: &sled::Tree, from: u32) -> Result<(), StoreError> {
    let path = backup_path(store, from);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_owned(),
            action: "create the directory",
            source,
        })?;
    }
    store.backup(&path)?;
    SledStore::verify_backup(&path)?;
    for step in STEPS.iter().skip(usize::try_from(from).unwrap_or(usize::MAX)) {
        step(store)?;
    }
    meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes()).map_err(|e| store.engine(e))?;
    store.flush()
}
