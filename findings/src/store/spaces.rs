//! The small keyspaces (assets, changes, outbox, notified) as both backends
//! hold them: the same keys and values, in a sled tree each or in the
//! PostgreSQL table `kv (space, key, value)`. The logic above them (change
//! tracking in `changes.rs`, the closing events in `closing.rs`, the outbox
//! in `outbox.rs`) is written once, against [`Spaces`].
//!
//! Two operations are atomic on both backends, because two processes share
//! a PostgreSQL store: [`Spaces::kv_insert_new`] (a key taken once: the
//! next change-event key, a notification told once) and
//! [`Spaces::kv_next_id`] (outbox ids). The read-modify-write of one asset
//! record is serialized within a process ([`Spaces::locked`]); across
//! processes the last writer of the same asset wins (a host is scanned by
//! one worker at a time).

use std::path::Path;

use super::keys::decode;
use super::scan::{ScanRun, scan_key};
use super::{SledStore, pg::PgStore};
use crate::error::StoreError;

/// A keyspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Space {
    Assets,
    Changes,
    Outbox,
    Notified,
}

impl Space {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Space::Assets => "assets",
            Space::Changes => "changes",
            Space::Outbox => "outbox",
            Space::Notified => "notified",
        }
    }
}

/// Key/value records in key order.
pub(crate) type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// What the shared logic needs of a backend.
pub(crate) trait Spaces {
    /// The store's directory or URL, for errors.
    fn label(&self) -> &Path;
    /// Run `f` holding this process's write lock (engine panics become errors).
    fn locked<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError>;
    /// Run a read (engine panics become errors).
    fn reading<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError>;
    fn kv_get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    fn kv_put(&self, space: Space, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    fn kv_remove(&self, space: Space, key: &[u8]) -> Result<(), StoreError>;
    /// Records with `from <= key < to` (no upper bound when `to` is `None`), in key order.
    fn kv_range(&self, space: Space, from: &[u8], to: Option<&[u8]>) -> Result<Records, StoreError>;
    /// The greatest key.
    fn kv_last_key(&self, space: Space) -> Result<Option<Vec<u8>>, StoreError>;
    /// Insert when the key is absent; `true` when this call inserted it.
    fn kv_insert_new(&self, space: Space, key: &[u8], value: &[u8]) -> Result<bool, StoreError>;
    /// A new outbox id, greater than every earlier one.
    fn kv_next_id(&self) -> Result<u64, StoreError>;
    /// Whether run `scan` journaled this (check, host, port) pair as covered.
    fn pair_covered(&self, scan: u64, pair: &[u8]) -> Result<bool, StoreError>;
    /// A scan run.
    fn run(&self, scan: u64) -> Result<ScanRun, StoreError>;
    /// The readable runs before `scan`, newest first.
    fn runs_before(&self, scan: u64) -> Result<Vec<ScanRun>, StoreError>;
    /// Make what was written durable.
    fn durable(&self) -> Result<(), StoreError>;

    /// Records whose key starts with `prefix`.
    fn kv_prefix(&self, space: Space, prefix: &[u8]) -> Result<Records, StoreError> {
        self.kv_range(space, prefix, prefix_end(prefix).as_deref())
    }
}

/// The least key greater than every key starting with `prefix` (`None`: no bound).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl SledStore {
    fn tree(&self, space: Space) -> Result<sled::Tree, StoreError> {
        match space {
            Space::Assets => Ok(self.assets.clone()),
            Space::Changes => Ok(self.changes.clone()),
            Space::Outbox | Space::Notified => self.db.open_tree(space.name()).map_err(|e| self.engine(e)),
        }
    }
}

impl Spaces for SledStore {
    fn label(&self) -> &Path {
        &self.dir
    }

    fn locked<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.guard(f)
    }

    fn reading<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.guard(f)
    }

    fn kv_get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree(space)?.get(key).map_err(|e| self.engine(e))?.map(|v| v.to_vec()))
    }

    fn kv_put(&self, space: Space, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.tree(space)?.insert(key, value).map_err(|e| self.engine(e))?;
        Ok(())
    }

    fn kv_remove(&self, space: Space, key: &[u8]) -> Result<(), StoreError> {
        self.tree(space)?.remove(key).map_err(|e| self.engine(e))?;
        Ok(())
    }

    fn kv_range(&self, space: Space, from: &[u8], to: Option<&[u8]>) -> Result<Records, StoreError> {
        let tree = self.tree(space)?;
        let iter = match to {
            Some(to) => tree.range(from..to),
            None => tree.range(from..),
        };
        iter.map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(|e| self.engine(e))).collect()
    }

    fn kv_last_key(&self, space: Space) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree(space)?.last().map_err(|e| self.engine(e))?.map(|(k, _)| k.to_vec()))
    }

    fn kv_insert_new(&self, space: Space, key: &[u8], value: &[u8]) -> Result<bool, StoreError> {
        let swapped =
            self.tree(space)?.compare_and_swap(key, None::<&[u8]>, Some(value)).map_err(|e| self.engine(e))?;
        Ok(swapped.is_ok())
    }

    fn kv_next_id(&self) -> Result<u64, StoreError> {
        self.db.generate_id().map_err(|e| self.engine(e))
    }

    fn pair_covered(&self, scan: u64, pair: &[u8]) -> Result<bool, StoreError> {
        let mut k = scan_key(scan).to_vec();
        k.extend_from_slice(pair);
        self.coverage.contains_key(&k).map_err(|e| self.engine(e))
    }

    fn run(&self, scan: u64) -> Result<ScanRun, StoreError> {
        self.scan(scan)
    }

    fn runs_before(&self, scan: u64) -> Result<Vec<ScanRun>, StoreError> {
        let mut out = Vec::new();
        for item in self.scans.range(..scan_key(scan)).values().rev() {
            let v = item.map_err(|e| self.engine(e))?;
            if let Ok(run) = decode::<ScanRun>(&v) {
                out.push(run);
            }
        }
        Ok(out)
    }

    fn durable(&self) -> Result<(), StoreError> {
        self.flush()
    }
}

impl Spaces for PgStore {
    fn label(&self) -> &Path {
        self.dir()
    }

    fn locked<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        f()
    }

    fn reading<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        f()
    }

    fn kv_get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_vec();
        self.read(move |c| {
            c.query_opt("SELECT value FROM kv WHERE space = $1 AND key = $2", &[&space.name(), &key])?
                .map(|r| r.try_get(0))
                .transpose()
        })
    }

    fn kv_put(&self, space: Space, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let (key, value) = (key.to_vec(), value.to_vec());
        self.read(move |c| {
            c.execute(
                "INSERT INTO kv (space, key, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (space, key) DO UPDATE SET value = EXCLUDED.value",
                &[&space.name(), &key, &value],
            )?;
            Ok(())
        })
    }

    fn kv_remove(&self, space: Space, key: &[u8]) -> Result<(), StoreError> {
        let key = key.to_vec();
        self.read(move |c| {
            c.execute("DELETE FROM kv WHERE space = $1 AND key = $2", &[&space.name(), &key])?;
            Ok(())
        })
    }

    fn kv_range(&self, space: Space, from: &[u8], to: Option<&[u8]>) -> Result<Records, StoreError> {
        let (from, to) = (from.to_vec(), to.map(<[u8]>::to_vec));
        self.read(move |c| {
            let rows = match &to {
                Some(to) => c.query(
                    "SELECT key, value FROM kv WHERE space = $1 AND key >= $2 AND key < $3 ORDER BY key",
                    &[&space.name(), &from, to],
                )?,
                None => c.query(
                    "SELECT key, value FROM kv WHERE space = $1 AND key >= $2 ORDER BY key",
                    &[&space.name(), &from],
                )?,
            };
            rows.into_iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
        })
    }

    fn kv_last_key(&self, space: Space) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(move |c| {
            c.query_opt("SELECT key FROM kv WHERE space = $1 ORDER BY key DESC LIMIT 1", &[&space.name()])?
                .map(|r| r.try_get(0))
                .transpose()
        })
    }

    fn kv_insert_new(&self, space: Space, key: &[u8], value: &[u8]) -> Result<bool, StoreError> {
        let (key, value) = (key.to_vec(), value.to_vec());
        self.read(move |c| {
            Ok(c.execute(
                "INSERT INTO kv (space, key, value) VALUES ($1, $2, $3) ON CONFLICT (space, key) DO NOTHING",
                &[&space.name(), &key, &value],
            )? == 1)
        })
    }

    fn kv_next_id(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            let id: i64 = c.query_one("SELECT nextval('outbox_ids')", &[])?.try_get(0)?;
            Ok(u64::try_from(id).unwrap_or(0))
        })
    }

    fn pair_covered(&self, scan: u64, pair: &[u8]) -> Result<bool, StoreError> {
        let (scan, pair) = (i64::try_from(scan).unwrap_or(i64::MAX), pair.to_vec());
        self.read(move |c| {
            c.query_one("SELECT EXISTS (SELECT 1 FROM coverage WHERE scan = $1 AND pair = $2)", &[&scan, &pair])?
                .try_get(0)
        })
    }

    fn run(&self, scan: u64) -> Result<ScanRun, StoreError> {
        self.scan(scan)
    }

    fn runs_before(&self, scan: u64) -> Result<Vec<ScanRun>, StoreError> {
        let scan = i64::try_from(scan).unwrap_or(i64::MAX);
        let rows: Vec<Vec<u8>> = self.read(move |c| {
            c.query("SELECT record FROM scans WHERE id < $1 ORDER BY id DESC", &[&scan])?
                .into_iter()
                .map(|r| r.try_get(0))
                .collect()
        })?;
        Ok(rows.iter().filter_map(|b| decode(b).ok()).collect())
    }

    fn durable(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
