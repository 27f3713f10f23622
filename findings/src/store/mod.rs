//! [`Store`]: the findings database, a facade (`facade.rs`) over two
//! backends: sled 0.34 (`SledStore`, this file and its siblings) and
//! PostgreSQL (`pg/`). No sled or postgres type appears in the public
//! interface. The logic both share is written once: the merge
//! (`write::create`/`merge`), change tracking (`changes.rs`), closing events
//! (`closing.rs`) and the outbox (`outbox.rs`), the last three over
//! `spaces.rs`.
//!
//! sled keyspaces (one tree each; PostgreSQL's tables are in `pg/schema.rs`):
//! - `findings`: id → finding record
//! - `by_status`: state byte ‖ priority byte ‖ id → () (lists by state and by priority)
//! - `by_host`: host ‖ NUL ‖ id → () (lists by host; closes what a scan covered)
//! - `scans`: scan id (big endian) → scan run record
//! - `coverage`: scan id ‖ check ‖ NUL ‖ host ‖ NUL ‖ port ‖ NUL → ()
//! - `assets`: kind ‖ NUL ‖ host ‖ NUL ‖ port → last value seen (addresses, certificate SHA-256, open port, banner)
//! - `changes`: time key (big endian: second << 24, raised past the last key) → change event
//! - `outbox`: message id (big endian) → notification waiting or delivered (see `outbox.rs`)
//! - `notified`: key → when (what was notified once, e.g. an SLA breach)
//! - `meta`: `schema_version` → u32
//!
//! A finding and all its index entries change in one transaction, and every
//! write method returns only after the change is flushed to disk.
//!
//! Two index trees, not one per listing: each index write costs about as much
//! as the primary write, and with four indexes sled capped batched upserts
//! near 30k/s on the 2-core reference machine (`cargo bench --bench store`).

mod backup;
mod changes;
mod check;
mod closing;
mod facade;
mod keys;
mod migrate;
mod outbox;
mod pg;
mod scan;
mod seal;
mod shield;
mod spaces;
mod trial;
mod write;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::de::DeserializeOwned;

use crate::error::StoreError;
use crate::model::{Finding, Priority, State};
use crate::prioritize::Prioritizer;

pub use backup::{BACKUP_DIR, BACKUP_VERSION, BackupSummary, RestoreSummary, backup_stamp};
pub use changes::{AssetRecord, ChangeEvent, ChangeKind};
pub use check::CheckReport;
pub use facade::Store;
pub use outbox::{DELIVERED_KEPT, DELIVERED_KEPT_DAYS, OutboxCounts, OutboxItem, OutboxState};
pub use pg::{AuditSegment, Engagement, SegmentsReport, Unit, UnitCounts, scope_hash};
pub use scan::{Coverage, EVERY_PORT_CHECK, FailedUnit, MAX_FAILED_KEPT, ScanCounts, ScanRun};
pub use write::UpsertOutcome;

use keys::{IndexKeys, decode, host_prefix, priority_byte, show_key, state_byte};

/// Schema version this build writes and the newest it reads.
pub const SCHEMA_VERSION: u32 = 1;

const SCHEMA_KEY: &[u8] = b"schema_version";

/// How long [`Store::open`] waits for a lock that is being released.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);

/// A record that could not be read; listings skip it and report it here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRecord {
    /// Keyspace.
    pub tree: &'static str,
    /// Printable key.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for CorruptRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record {} in {} is corrupt and was skipped: {}", self.key, self.tree, self.reason)
    }
}

/// Findings read from the store, plus the records that could not be read.
#[derive(Debug, Default)]
pub struct Listing {
    /// Findings, in key order.
    pub findings: Vec<Finding>,
    /// Unreadable records that were skipped.
    pub skipped: Vec<CorruptRecord>,
}

/// Which index a listing starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every finding.
    All,
    /// Findings in any of these states.
    States(Vec<State>),
    /// Findings at this priority or more urgent.
    MinPriority(Priority),
    /// Findings on exactly this host (normalized).
    Host(String),
}

/// Scores nothing: for stores opened only to be checked or restored.
struct Keep;

impl Prioritizer for Keep {
    fn prioritize(&self, _finding: &mut Finding, _now: crate::time::Timestamp) {}
}

/// The sled backend of [`Store`]. Writes are serialized.
pub(crate) struct SledStore {
    dir: PathBuf,
    db: sled::Db,
    findings: sled::Tree,
    by_status: sled::Tree,
    by_host: sled::Tree,
    scans: sled::Tree,
    coverage: sled::Tree,
    assets: sled::Tree,
    changes: sled::Tree,
    /// Swapped whole when the rules change ([`Store::set_prioritizer`]);
    /// each write clones the `Arc` once, outside its transaction.
    prioritizer: RwLock<Arc<dyn Prioritizer>>,
    write_lock: Mutex<()>,
    /// Whether closing writes the seal (stores on disk; not temporary ones).
    sealed: bool,
}

impl Drop for SledStore {
    fn drop(&mut self) {
        if self.sealed {
            // Best effort, and shielded: a store that turned out damaged
            // while open must not turn its drop into a panic.
            let _ = shield::shielded(|| {
                if self.db.flush().is_ok() {
                    seal::write(&self.dir, &self.findings, &self.scans, &self.changes);
                }
            });
        }
    }
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl SledStore {
    /// Open (or create) the store in `dir`. `prioritizer` scores every finding
    /// the store writes.
    ///
    /// Fails with [`StoreError::Locked`] when another process holds it, with
    /// [`StoreError::NewerSchema`] when a newer haetae wrote it, and with
    /// [`StoreError::Damaged`] when its files are damaged: the engine found
    /// corrupted data or failed while recovering them, a data file is missing,
    /// or the recovered store has no schema version, or it lost what the seal
    /// of its last close vouches for. Nothing is written to a store found
    /// damaged: when its data file is not as the last close left it, a copy
    /// is opened first (see `trial.rs`).
    pub(crate) fn open(dir: &Path, prioritizer: Arc<dyn Prioritizer>) -> Result<SledStore, StoreError> {
        // Every write flushes explicitly, so sled's periodic flusher thread is
        // not needed; without it a dropped store releases its lock sooner.
        let config = sled::Config::new().path(dir).mode(sled::Mode::HighThroughput).flush_every_ms(None);
        // sled releases its directory lock from a background thread shortly
        // after the last handle is dropped (spacejam/sled#1234), so a store
        // closed a moment ago by this process can still look locked. Wait a
        // bounded time before calling it held by another process.
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match Self::with_config(dir, config.clone(), prioritizer.clone(), false) {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    /// A store that lives in a temporary directory and vanishes on drop (tests, benchmarks).
    pub(crate) fn temporary(prioritizer: Arc<dyn Prioritizer>) -> Result<SledStore, StoreError> {
        let config = sled::Config::new().temporary(true);
        Self::with_config(Path::new("(temporary)"), config, prioritizer, true)
    }

    fn with_config(
        dir: &Path,
        config: sled::Config,
        prioritizer: Arc<dyn Prioritizer>,
        temporary: bool,
    ) -> Result<SledStore, StoreError> {
        let new = if temporary { true } else { is_new(dir)? };
        if !new {
            trial::rehearse(dir)?;
        }
        let opened = shield::shielded(|| Self::open_trees(dir, config, prioritizer, new, temporary));
        opened.unwrap_or_else(|panic| {
            Err(damaged(dir, format!("the storage engine stopped while recovering its data file db ({panic})")))
        })
    }

    /// Open sled and every tree and check the seal; `new` when the directory
    /// held no store before.
    fn open_trees(
        dir: &Path,
        config: sled::Config,
        prioritizer: Arc<dyn Prioritizer>,
        new: bool,
        temporary: bool,
    ) -> Result<SledStore, StoreError> {
        let db = config.open().map_err(|e| open_error(dir, e))?;
        let err = |e: sled::Error| engine(dir, e);
        let meta = db.open_tree("meta").map_err(err)?;
        let mut migrate_from = None;
        match meta.get(SCHEMA_KEY).map_err(err)? {
            Some(v) => {
                let found =
                    <[u8; 4]>::try_from(v.as_ref()).map(u32::from_be_bytes).map_err(|_| StoreError::Corrupt {
                        dir: dir.to_owned(),
                        tree: "meta",
                        key: "schema_version".into(),
                        reason: format!("expected 4 bytes, found {}", v.len()),
                    })?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::NewerSchema { dir: dir.to_owned(), found, supported: SCHEMA_VERSION });
                }
                if found < SCHEMA_VERSION {
                    migrate_from = Some(found);
                }
            }
            // A store that existed must have its schema version: without it,
            // sled recovered an empty or partial store from damaged files.
            None if !new => {
                return Err(damaged(
                    dir,
                    "it has no schema version, so its files were cut short or overwritten".to_owned(),
                ));
            }
            None => {
                meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes()).map_err(err)?;
                db.flush().map_err(err)?;
            }
        }
        let store = SledStore {
            dir: dir.to_owned(),
            findings: db.open_tree("findings").map_err(err)?,
            by_status: db.open_tree("by_status").map_err(err)?,
            by_host: db.open_tree("by_host").map_err(err)?,
            scans: db.open_tree("scans").map_err(err)?,
            coverage: db.open_tree("coverage").map_err(err)?,
            assets: db.open_tree("assets").map_err(err)?,
            changes: db.open_tree("changes").map_err(err)?,
            db,
            prioritizer: RwLock::new(prioritizer),
            write_lock: Mutex::new(()),
            sealed: false,
        };
        if !new && let Some(lost) = seal::verify(dir, &store.findings, &store.scans, &store.changes).map_err(err)? {
            return Err(damaged(dir, lost));
        }
        if let Some(from) = migrate_from {
            migrate::migrate(&store, &meta, from)?;
        }
        let mut store = store;
        store.sealed = !temporary;
        Ok(store)
    }

    /// The prioritizer in force.
    fn prioritizer(&self) -> Arc<dyn Prioritizer> {
        self.prioritizer.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Score every finding written from now on with `prioritizer` (the rules
    /// file changed). Findings already stored keep their scores until
    /// [`Store::reprioritize`] runs.
    pub(crate) fn set_prioritizer(&self, prioritizer: Arc<dyn Prioritizer>) {
        *self.prioritizer.write().unwrap_or_else(|p| p.into_inner()) = prioritizer;
    }

    /// The directory the store lives in.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of finding records. In a damaged store, counting stops at the
    /// first part that cannot be read (sled's own `len` would retry it forever).
    pub(crate) fn len(&self) -> usize {
        shield::shielded(|| self.findings.iter().keys().take_while(Result::is_ok).count()).unwrap_or(0)
    }

    /// Whether the store holds no finding.
    pub(crate) fn is_empty(&self) -> bool {
        self.findings.is_empty()
    }

    fn engine(&self, e: sled::Error) -> StoreError {
        engine(&self.dir, e)
    }

    /// Run a read or write that calls into sled; a panic of the engine
    /// (damaged files met while paging data in) becomes [`StoreError::Damaged`].
    fn guard<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        shield::shielded(f).unwrap_or_else(|panic| {
            Err(damaged(&self.dir, format!("the storage engine stopped while reading it ({panic})")))
        })
    }

    fn corrupt(&self, tree: &'static str, key: &[u8], reason: String) -> StoreError {
        StoreError::Corrupt { dir: self.dir.clone(), tree, key: show_key(key), reason }
    }

    /// The finding with exactly this id.
    pub(crate) fn get(&self, id: &str) -> Result<Option<Finding>, StoreError> {
        self.guard(|| match self.findings.get(id.as_bytes()).map_err(|e| self.engine(e))? {
            None => Ok(None),
            Some(v) => decode(&v).map(Some).map_err(|r| self.corrupt("findings", id.as_bytes(), r)),
        })
    }

    /// Resolve a full id or a unique prefix of one (at least 4 characters).
    pub(crate) fn resolve_id(&self, prefix: &str) -> Result<String, StoreError> {
        self.guard(|| {
            let not_found = || StoreError::NotFound { dir: self.dir.clone(), id: prefix.to_owned() };
            if self.findings.contains_key(prefix.as_bytes()).map_err(|e| self.engine(e))? {
                return Ok(prefix.to_owned());
            }
            if prefix.len() < 4 {
                return Err(not_found());
            }
            let mut hits = Vec::new();
            for item in self.findings.scan_prefix(prefix.as_bytes()).keys().take(4) {
                let key = item.map_err(|e| self.engine(e))?;
                hits.push(String::from_utf8_lossy(&key).into_owned());
            }
            match hits.len() {
                0 => Err(not_found()),
                1 => Ok(hits.remove(0)),
                _ => Err(StoreError::Ambiguous { prefix: prefix.to_owned(), matches: hits.join(", ") }),
            }
        })
    }

    /// List findings through an index. Unreadable records are skipped and reported.
    pub(crate) fn list(&self, selection: &Selection) -> Result<Listing, StoreError> {
        self.guard(|| self.list_unguarded(selection))
    }

    fn list_unguarded(&self, selection: &Selection) -> Result<Listing, StoreError> {
        let mut out = Listing::default();
        match selection {
            Selection::All => {
                let (findings, skipped) = self.list_all_as::<Finding>()?;
                out.findings = findings;
                out.skipped = skipped;
            }
            Selection::States(states) => {
                for &s in states {
                    self.collect(&self.by_status, &[state_byte(s)], 2, &mut out, |f| IndexKeys::of(f).status)?;
                }
            }
            Selection::MinPriority(min) => {
                for &p in Priority::ALL.iter().filter(|p| **p <= *min) {
                    for &s in State::ALL {
                        let prefix = [state_byte(s), priority_byte(p)];
                        self.collect(&self.by_status, &prefix, 2, &mut out, |f| IndexKeys::of(f).status)?;
                    }
                }
            }
            Selection::Host(host) => {
                let host = crate::fingerprint::normalize_host(host);
                let prefix = host_prefix(&host);
                self.collect(&self.by_host, &prefix, prefix.len(), &mut out, |f| IndexKeys::of(f).host)?;
            }
        }
        Ok(out)
    }

    /// Every finding, decoded as `T`: any type that deserializes from a
    /// finding's JSON, such as a lighter row that keeps only the fields a
    /// listing needs (unknown fields are skipped while parsing, which is
    /// faster than building whole findings). Key order; unreadable records
    /// are skipped and reported.
    pub(crate) fn list_all_as<T: DeserializeOwned + Send>(&self) -> Result<(Vec<T>, Vec<CorruptRecord>), StoreError> {
        // Walking sled costs about as much as decoding, so both run on every
        // core: ids are hex fingerprints, spread evenly over 16 key ranges
        // (cut at '1'..'f'; the first and last ranges are open, so a key of
        // any shape is still read). Threads take ranges in turn; the ranges
        // are joined back in key order.
        type Part<T> = Result<(Vec<T>, Vec<CorruptRecord>), StoreError>;
        const CUTS: &[u8] = b"123456789abcdef";
        let read_range_raw = |i: usize| -> Part<T> {
            use std::ops::Bound::{Excluded, Included, Unbounded};
            let lo = match i.checked_sub(1).and_then(|j| CUTS.get(j)) {
                Some(c) => Included(vec![*c]),
                None => Unbounded,
            };
            let hi = match CUTS.get(i) {
                Some(c) => Excluded(vec![*c]),
                None => Unbounded,
            };
            let (mut ok, mut bad) = (Vec::new(), Vec::new());
            for item in self.findings.range::<Vec<u8>, _>((lo, hi)) {
                let (k, v) = item.map_err(|e| self.engine(e))?;
                match decode::<T>(&v) {
                    Ok(f) => ok.push(f),
                    Err(reason) => bad.push(CorruptRecord { tree: "findings", key: show_key(&k), reason }),
                }
            }
            Ok((ok, bad))
        };
        // Each thread shields its own calls into sled (a panic there is damage).
        let read_range = |i: usize| -> Part<T> { self.guard(|| read_range_raw(i)) };
        let ranges = CUTS.len() + 1;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, ranges);
        let parts: Vec<Part<T>> = std::thread::scope(|s| {
            let read_range = &read_range;
            let handles: Vec<_> = (0..cores)
                .map(|t| s.spawn(move || (t..ranges).step_by(cores).map(|i| (i, read_range(i))).collect::<Vec<_>>()))
                .collect();
            let mut by_range: Vec<(usize, Part<T>)> = Vec::with_capacity(ranges);
            for (t, h) in handles.into_iter().enumerate() {
                // Reading returns errors rather than panicking, but the ranges
                // of a thread that died anyway are read again here.
                match h.join() {
                    Ok(done) => by_range.extend(done),
                    Err(_) => by_range.extend((t..ranges).step_by(cores).map(|i| (i, read_range(i)))),
                }
            }
            by_range.sort_by_key(|(i, _)| *i);
            by_range.into_iter().map(|(_, p)| p).collect()
        });
        let total = parts.iter().map(|p| p.as_ref().map_or(0, |(ok, _)| ok.len())).sum();
        let (mut all, mut skipped) = (Vec::with_capacity(total), Vec::new());
        for part in parts {
            let (ok, bad) = part?;
            all.extend(ok);
            skipped.extend(bad);
        }
        Ok((all, skipped))
    }

    /// Fetch the findings an index prefix points at (the id starts at byte
    /// `id_start` of each key). An entry counts only while its record still
    /// derives it (`derive`); stale entries, such as those a crash in the
    /// middle of `reprioritize` can leave, are ignored.
    fn collect(
        &self,
        index: &sled::Tree,
        prefix: &[u8],
        id_start: usize,
        out: &mut Listing,
        derive: impl Fn(&Finding) -> Vec<u8>,
    ) -> Result<(), StoreError> {
        for item in index.scan_prefix(prefix).keys() {
            let key = item.map_err(|e| self.engine(e))?;
            let id = key.get(id_start..).unwrap_or_default();
            let Some(v) = self.findings.get(id).map_err(|e| self.engine(e))? else {
                continue;
            };
            match decode::<Finding>(&v) {
                Ok(f) if derive(&f) == key.as_ref() => out.findings.push(f),
                Ok(_) => {}
                Err(reason) => out.skipped.push(CorruptRecord { tree: "findings", key: show_key(id), reason }),
            }
        }
        Ok(())
    }

    /// Write raw bytes under a key of a keyspace, bypassing every check: only
    /// for tests that must simulate a corrupt or foreign record.
    #[doc(hidden)]
    pub(crate) fn put_raw_for_tests(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let t = self.db.open_tree(tree).map_err(|e| self.engine(e))?;
        t.insert(key, value).map_err(|e| self.engine(e))?;
        self.flush()
    }

    /// Remove a key of a keyspace, bypassing every check (tests only: an index
    /// entry lost).
    #[doc(hidden)]
    pub(crate) fn remove_raw_for_tests(&self, tree: &str, key: &[u8]) -> Result<(), StoreError> {
        let t = self.db.open_tree(tree).map_err(|e| self.engine(e))?;
        t.remove(key).map_err(|e| self.engine(e))?;
        self.flush()
    }

    /// Raw bytes under a key of a keyspace (tests only).
    #[doc(hidden)]
    pub(crate) fn get_raw_for_tests(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let t = self.db.open_tree(tree).map_err(|e| self.engine(e))?;
        Ok(t.get(key).map_err(|e| self.engine(e))?.map(|v| v.to_vec()))
    }

    /// Flush everything to disk.
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(|e| self.engine(e))
    }
}

fn engine(dir: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Corruption { at: Some(sled::DiskPtr::Inline(offset)), .. } => {
            damaged(dir, format!("its data file db holds corrupted data at byte {offset}"))
        }
        sled::Error::Corruption { at: Some(sled::DiskPtr::Blob(_, blob)), .. } => {
            damaged(dir, format!("its blob file blobs/{blob} holds corrupted data"))
        }
        sled::Error::Corruption { at: None, .. } => {
            damaged(dir, "its files hold corrupted data (sled read a record whose checksum is wrong)".to_owned())
        }
        e => StoreError::engine(dir, &e),
    }
}

fn damaged(dir: &Path, detail: String) -> StoreError {
    StoreError::Damaged { dir: dir.to_owned(), detail }
}

/// The files sled keeps a store in: its settings and its log.
const ENGINE_FILES: [&str; 2] = ["conf", "db"];

/// Whether `dir` holds no store yet. A store with one of its two engine files
/// missing is damaged: sled would silently start an empty store over it.
fn is_new(dir: &Path) -> Result<bool, StoreError> {
    let present = ENGINE_FILES.map(|f| dir.join(f).exists());
    match present {
        [false, false] => Ok(true),
        [true, true] => Ok(false),
        _ => {
            let missing = ENGINE_FILES.iter().zip(present).filter(|(_, p)| !p).map(|(f, _)| *f).collect::<Vec<_>>();
            Err(damaged(dir, format!("its engine file {} is missing", missing.join(", "))))
        }
    }
}

fn open_error(dir: &Path, e: sled::Error) -> StoreError {
    match &e {
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            StoreError::Locked { dir: dir.to_owned() }
        }
        sled::Error::Io(io) if crate::error::is_no_space(io) => StoreError::NoSpace { dir: dir.to_owned() },
        sled::Error::Io(io) => {
            StoreError::Engine { dir: dir.to_owned(), message: format!("cannot open: {}", crate::error::io_reason(io)) }
        }
        _ => engine(dir, e),
    }
}
