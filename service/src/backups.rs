//! The daemon's daily backups: a [`Store::backup`] snapshot into the store
//! directory's `backups/` as `store-<UTC time>.jsonl` (names sort by time),
//! written when the newest is a day old (so at start after a day's pause,
//! then every day), the last [`KEEP`] kept. Each file is written to a
//! temporary name and renamed when complete ([`Store::backup`]), then read
//! back and verified; only then are older ones removed. A failed backup is
//! logged and tried again an hour later; it never stops the daemon.
//! Backups written before a schema migration (`pre-migration-*`) are not
//! rotated.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use haetae_findings::store::{BACKUP_DIR, BackupSummary, backup_stamp};
use haetae_findings::{Store, Timestamp};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// Daily backups kept.
pub const KEEP: usize = 7;

/// A backup is due when the newest is this old.
pub const DAY: i64 = 24 * 3600;

const PREFIX: &str = "store-";
const SUFFIX: &str = ".jsonl";

/// The daily backups of one store.
#[derive(Debug, Clone)]
pub struct Backups {
    dir: PathBuf,
    keep: usize,
}

/// What [`Backups::write`] did.
#[derive(Debug, Clone)]
pub struct Written {
    /// The new backup, verified.
    pub summary: BackupSummary,
    /// How long writing and verifying took.
    pub took: Duration,
    /// Older backups removed.
    pub removed: Vec<PathBuf>,
}

impl Backups {
    /// The backups of the store in `store_dir`, in its `backups/`.
    pub fn in_store(store_dir: &Path) -> Backups {
        Backups { dir: store_dir.join(BACKUP_DIR), keep: KEEP }
    }

    /// The directory they are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The daily backups there, oldest first, with the time in their names.
    pub fn list(&self) -> Result<Vec<(PathBuf, i64)>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", self.dir.display())),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", self.dir.display()))?;
            let name = entry.file_name();
            if let Some(t) = name.to_str().and_then(time_in_name) {
                out.push((entry.path(), t));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Whether a backup is due at `now` (unix seconds): none yet, or the
    /// newest is a day old (or dated in the future: the clock went back).
    pub fn due(&self, now: i64) -> Result<bool> {
        Ok(match self.list()?.last() {
            None => true,
            Some((_, t)) => now.saturating_sub(*t) >= DAY || *t > now.saturating_add(DAY),
        })
    }

    /// Write a backup of `store` now, verify it, then remove all but the
    /// newest [`KEEP`]. Blocking: writes wait while it runs.
    pub fn write(&self, store: &Store) -> Result<Written> {
        self.write_at(store, Timestamp::now())
    }

    /// [`Backups::write`], named for time `at`.
    pub fn write_at(&self, store: &Store, at: Timestamp) -> Result<Written> {
        let started = Instant::now();
        std::fs::create_dir_all(&self.dir).with_context(|| format!("cannot create {}", self.dir.display()))?;
        self.remove_leftovers();
        let path = self.dir.join(format!("{PREFIX}{}{SUFFIX}", backup_stamp(at)));
        store.backup(&path).with_context(|| format!("cannot write the backup {}", path.display()))?;
        let summary = match Store::verify_backup(&path) {
            Ok(s) => s,
            Err(e) => {
                // An unreadable backup is no backup: remove it, keep the old ones.
                let _ = std::fs::remove_file(&path);
                return Err(
                    anyhow::Error::new(e).context(format!("the new backup {} does not read back", path.display()))
                );
            }
        };
        let took = started.elapsed();
        let mut removed = Vec::new();
        let all = self.list()?;
        let extra = all.len().saturating_sub(self.keep);
        for (old, _) in all.into_iter().take(extra) {
            if old == path {
                continue;
            }
            match std::fs::remove_file(&old) {
                Ok(()) => removed.push(old),
                Err(e) => warn!(file = %old.display(), error = %e, "cannot remove an old backup"),
            }
        }
        Ok(Written { summary, took, removed })
    }

    /// Temporary files of a backup cut off by a crash.
    fn remove_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_str().is_some_and(|n| n.starts_with(PREFIX) && n.contains(".tmp-")) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The time in a daily backup's name (`store-20261204T150700Z.jsonl`).
fn time_in_name(name: &str) -> Option<i64> {
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let t = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").ok()?;
    Some(t.and_utc().timestamp())
}

/// Write a backup when one is due, now and every [`BACKUP_CHECK_EVERY`]
/// after; log each (time, size) and each failure.
///
/// [`BACKUP_CHECK_EVERY`]: crate::upkeep::BACKUP_CHECK_EVERY
pub async fn backup_loop(store: Arc<Store>, backups: Backups, shutdown: CancellationToken) {
    run_loop(store, backups, crate::upkeep::BACKUP_CHECK_EVERY, crate::upkeep::BACKUP_RETRY, shutdown).await;
}

/// [`backup_loop`] with its own periods: look every `every`; after a
/// failure, wait `retry` before the next try.
pub async fn run_loop(
    store: Arc<Store>,
    backups: Backups,
    every: Duration,
    retry: Duration,
    shutdown: CancellationToken,
) {
    let mut not_before: Option<tokio::time::Instant> = None;
    let mut ticks = crate::upkeep::Ticks::new(every, &shutdown);
    loop {
        if !ticks.next().await {
            return;
        }
        if not_before.is_some_and(|t| tokio::time::Instant::now() < t) {
            continue;
        }
        let (s, b) = (store.clone(), backups.clone());
        let r = tokio::task::spawn_blocking(move || -> Result<Option<Written>> {
            if !b.due(Timestamp::now().unix())? {
                return Ok(None);
            }
            b.write(&s).map(Some)
        })
        .await;
        match r {
            Ok(Ok(None)) => {}
            Ok(Ok(Some(w))) => {
                not_before = None;
                info!(
                    file = %w.summary.path.display(),
                    bytes = w.summary.bytes,
                    findings = w.summary.findings,
                    millis = u64::try_from(w.took.as_millis()).unwrap_or(u64::MAX),
                    removed = w.removed.len(),
                    "backup written and verified: {} bytes in {} ms",
                    w.summary.bytes,
                    w.took.as_millis()
                );
            }
            Ok(Err(e)) => {
                not_before = Some(tokio::time::Instant::now() + retry);
                error!(dir = %backups.dir().display(), error = %crate::daemon::one_line(&e), "backup failed; the daemon goes on and tries again in an hour");
            }
            Err(e) => {
                not_before = Some(tokio::time::Instant::now() + retry);
                error!(error = %e, "the backup task ended abnormally; the daemon goes on");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_time_and_sort_by_it() {
        let t = Timestamp::from_unix(1_764_860_820);
        let name = format!("{PREFIX}{}{SUFFIX}", backup_stamp(t));
        assert_eq!(name, "store-20251204T150700Z.jsonl");
        assert_eq!(time_in_name(&name), Some(1_764_860_820));
        assert_eq!(time_in_name("store-20251204T150700Z.jsonl.tmp-12"), None);
        assert_eq!(time_in_name("pre-migration-v0-20251204T150700Z.jsonl"), None);
        assert_eq!(time_in_name("store-2025.jsonl"), None);
    }
}
