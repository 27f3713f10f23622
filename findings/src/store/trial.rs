//! A trial open on a copy, so that opening a damaged store never writes to it.
//!
//! sled writes while it opens: its recovery zeroes the torn tail of the log
//! (and whole segments after a break in it) and rewrites its snapshot, all
//! before haetae can look at a single record. On a store as its last close
//! left it that is harmless; on a damaged one it would overwrite what a
//! careful recovery might still read. So when the data file's length is not
//! the one sealed at the last close (a crash, a cut, a copy from elsewhere,
//! or a store from a build without the seal), the engine's files are copied
//! beside the store directory and opened there first. If the copy turns out
//! damaged, the store is reported as damaged and left exactly as it was.
//!
//! Only while no other process holds the store: its lock is tested first (a
//! live store is not copied; the real open then reports it as locked).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Keep, SledStore, damaged, seal};
use crate::error::StoreError;

/// Open a copy of the store in `dir` when its files are not as its last close
/// left them; [`StoreError::Damaged`] when the copy is damaged. Anything that
/// keeps the trial from running (the store is locked, no room for the copy)
/// lets the real open go ahead as before.
pub(super) fn rehearse(dir: &Path) -> Result<(), StoreError> {
    if seal::closed_cleanly(dir) {
        return Ok(());
    }
    let Ok(db) = File::open(dir.join("db")) else { return Ok(()) };
    // sled holds this lock (fs2, flock) on `db` while a store is open.
    if fs2::FileExt::try_lock_exclusive(&db).is_err() {
        return Ok(());
    }
    let copy = trial_dir(dir);
    let copied = copy.as_deref().map(|c| copy_engine_files(dir, c));
    let _ = fs2::FileExt::unlock(&db);
    drop(db);
    let (Some(copy), Some(Ok(()))) = (copy, copied) else { return Ok(()) };
    let config = sled::Config::new().path(&copy).mode(sled::Mode::HighThroughput).flush_every_ms(None);
    let trial = SledStore::with_config(&copy, config, Arc::new(Keep), false).map(drop);
    let _ = fs::remove_dir_all(&copy);
    match trial {
        Err(StoreError::Damaged { detail, .. }) => Err(damaged(dir, detail)),
        _ => Ok(()),
    }
}

/// A new, empty directory beside `dir` for the copy.
fn trial_dir(dir: &Path) -> Option<PathBuf> {
    let abs = dir.canonicalize().ok()?;
    let mut name = std::ffi::OsString::from(".");
    name.push(abs.file_name()?);
    name.push(format!(".trial-{}", std::process::id()));
    let copy = abs.parent()?.join(name);
    if copy.exists() {
        // Left by a trial of this process id that was killed: it is ours.
        fs::remove_dir_all(&copy).ok()?;
    }
    fs::create_dir(&copy).ok()?;
    Some(copy)
}

/// Copy sled's files (`conf`, `db`, `snap.*`, `blobs/`) and the seal.
fn copy_engine_files(dir: &Path, copy: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let text = name.to_string_lossy();
        let kind = entry.file_type()?;
        if kind.is_file() && (["conf", "db", seal::SEAL_FILE].contains(&text.as_ref()) || text.starts_with("snap.")) {
            fs::copy(entry.path(), copy.join(&name))?;
        } else if kind.is_dir() && text == "blobs" {
            fs::create_dir(copy.join(&name))?;
            for blob in fs::read_dir(entry.path())? {
                let blob = blob?;
                if blob.file_type()?.is_file() {
                    fs::copy(blob.path(), copy.join(&name).join(blob.file_name()))?;
                }
            }
        }
    }
    Ok(())
}
