//! [`Store`]: the one interface the rest of haetae sees, over two backends.
//!
//! - sled (`SledStore`, the rest of this module's files): the embedded
//!   default, a directory;
//! - PostgreSQL (`pg/`): `store = "postgres://..."`, shared by a daemon, its
//!   workers and every CLI of a programme.
//!
//! Both implement every operation with the same meaning; the conformance
//! suite (`findings/tests/store/`) runs the same test code against both.
//! Only the file-level machinery is sled's alone: backup files, restore,
//! the seal and the damaged-files checks (PostgreSQL has its own: WAL,
//! `pg_dump`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::changes::Tracking;
use super::outbox::Outbox;
use super::pg::{AuditSegment, Engagement, PgStore, PgTarget, SegmentsReport, Unit, UnitCounts};
use super::{
    AssetRecord, BackupSummary, ChangeEvent, CheckReport, CorruptRecord, Coverage, FailedUnit, Listing, OutboxCounts,
    OutboxItem, RestoreSummary, ScanRun, Selection, SledStore, UpsertOutcome,
};
use crate::error::StoreError;
use crate::lifecycle::Transition;
use crate::model::{Finding, Observation};
use crate::prioritize::Prioritizer;
use crate::time::Timestamp;

/// Create `local` and lock it for this process (a second process gets
/// [`StoreError::Locked`]).
fn lock_local(local: &Path) -> Result<std::fs::File, StoreError> {
    use fs2::FileExt as _;
    let io = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Io { path, action, source }
    };
    std::fs::create_dir_all(local).map_err(io("create the directory", local))?;
    let path = local.join("lock");
    let file =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io("open", &path))?;
    match file.try_lock_exclusive() {
        Ok(()) => Ok(file),
        Err(_) => Err(StoreError::Locked { dir: local.to_owned() }),
    }
}

/// The findings store. Cheap to share behind an `Arc`.
pub struct Store {
    backend: Backend,
    /// With PostgreSQL: this machine's directory for the files that stay
    /// local (audit log, API socket and token).
    local: Option<std::path::PathBuf>,
    /// The lock on `local`, held while the store is open: one process at
    /// a time writes a local audit log.
    _local_lock: Option<std::fs::File>,
}

enum Backend {
    Sled(SledStore),
    Postgres(PgStore),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("at", &self.location()).field("backend", &self.backend_name()).finish()
    }
}

/// Call the same method on whichever backend holds the store.
macro_rules! both {
    ($self:ident, $s:ident => $e:expr) => {
        match &$self.backend {
            Backend::Sled($s) => $e,
            Backend::Postgres($s) => $e,
        }
    };
}

impl Store {
    /// Open (or create) the embedded store in `dir`. `prioritizer` scores
    /// every finding the store writes.
    ///
    /// Fails with [`StoreError::Locked`] when another process holds it, with
    /// [`StoreError::NewerSchema`] when a newer haetae wrote it, and with
    /// [`StoreError::Damaged`] when its files are damaged (nothing is then
    /// written to it).
    pub fn open(dir: &Path, prioritizer: Arc<dyn Prioritizer>) -> Result<Store, StoreError> {
        Ok(Store { backend: Backend::Sled(SledStore::open(dir, prioritizer)?), local: None, _local_lock: None })
    }

    /// A store that lives in a temporary directory and vanishes on drop (tests, benchmarks).
    pub fn temporary(prioritizer: Arc<dyn Prioritizer>) -> Result<Store, StoreError> {
        Ok(Store { backend: Backend::Sled(SledStore::temporary(prioritizer)?), local: None, _local_lock: None })
    }

    /// Open the PostgreSQL store at `url` (`postgres://user@host:port/db`;
    /// `?sslmode=require` for TLS through rustls), creating or migrating its
    /// tables; the password comes from the URL or `PGPASSWORD`. Many
    /// processes may hold the same database at once.
    ///
    /// Fails with [`StoreError::NewerSchema`] when a newer haetae migrated it.
    pub fn open_postgres(url: &str, prioritizer: Arc<dyn Prioritizer>) -> Result<Store, StoreError> {
        let env = std::env::var("PGPASSWORD").ok();
        let target = PgTarget::parse(url, env.as_deref())?;
        Ok(Store { backend: Backend::Postgres(PgStore::open(target, prioritizer)?), local: None, _local_lock: None })
    }

    /// [`Store::open_postgres`] for a workspace: the password given (read
    /// from a file by the caller) wins over `PGPASSWORD`, and `local` is the
    /// directory [`Store::dir`] names for this machine's own files (the
    /// audit log, the API socket), created when absent.
    pub fn open_postgres_with(
        url: &str,
        password: Option<&str>,
        local: &Path,
        prioritizer: Arc<dyn Prioritizer>,
    ) -> Result<Store, StoreError> {
        let env = std::env::var("PGPASSWORD").ok();
        let target = PgTarget::parse(url, password.or(env.as_deref()))?;
        let lock = lock_local(local)?;
        Ok(Store {
            backend: Backend::Postgres(PgStore::open(target, prioritizer)?),
            local: Some(local.to_owned()),
            _local_lock: Some(lock),
        })
    }

    /// Where the findings are: the sled directory, or the database's URL
    /// without its password.
    pub fn location(&self) -> &Path {
        both!(self, s => s.dir())
    }

    /// `sled` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sled(_) => "sled",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Whether this store is a shared PostgreSQL database.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Score every finding written from now on with `prioritizer` (the rules
    /// file changed). Stored findings keep their scores until [`Store::reprioritize`].
    pub fn set_prioritizer(&self, prioritizer: Arc<dyn Prioritizer>) {
        both!(self, s => s.set_prioritizer(prioritizer))
    }

    /// The directory of this store's local files (audit log, API socket,
    /// backups): the sled store's own directory; for PostgreSQL the local
    /// directory it was opened with (else its URL, which holds no file).
    pub fn dir(&self) -> &Path {
        match &self.local {
            Some(local) => local,
            None => self.location(),
        }
    }

    /// Number of finding records.
    pub fn len(&self) -> usize {
        both!(self, s => s.len())
    }

    /// Whether the store holds no finding.
    pub fn is_empty(&self) -> bool {
        both!(self, s => s.is_empty())
    }

    /// The finding with exactly this id.
    pub fn get(&self, id: &str) -> Result<Option<Finding>, StoreError> {
        both!(self, s => s.get(id))
    }

    /// Resolve a full id or a unique prefix of one (at least 4 characters).
    pub fn resolve_id(&self, prefix: &str) -> Result<String, StoreError> {
        both!(self, s => s.resolve_id(prefix))
    }

    /// List findings through an index. Unreadable records are skipped and reported.
    pub fn list(&self, selection: &Selection) -> Result<Listing, StoreError> {
        both!(self, s => s.list(selection))
    }

    /// Every finding, decoded as `T` (any type that deserializes from a
    /// finding's JSON, such as a lighter row). Key order; unreadable
    /// records are skipped and reported.
    pub fn list_all_as<T: DeserializeOwned + Send>(&self) -> Result<(Vec<T>, Vec<CorruptRecord>), StoreError> {
        both!(self, s => s.list_all_as())
    }

    /// Write raw bytes under a key of a keyspace, bypassing every check (tests only).
    #[doc(hidden)]
    pub fn put_raw_for_tests(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        both!(self, s => s.put_raw_for_tests(tree, key, value))
    }

    /// Remove a key of a keyspace, bypassing every check (tests only).
    #[doc(hidden)]
    pub fn remove_raw_for_tests(&self, tree: &str, key: &[u8]) -> Result<(), StoreError> {
        both!(self, s => s.remove_raw_for_tests(tree, key))
    }

    /// Raw bytes under a key of a keyspace (tests only).
    #[doc(hidden)]
    pub fn get_raw_for_tests(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        both!(self, s => s.get_raw_for_tests(tree, key))
    }

    /// Make everything written durable (each write already is when it returns).
    pub fn flush(&self) -> Result<(), StoreError> {
        both!(self, s => s.flush())
    }

    /// Record one observation outside any scan run; durable when it returns.
    pub fn upsert(&self, obs: &Observation) -> Result<(String, UpsertOutcome), StoreError> {
        let mut out = self.upsert_batch(None, std::slice::from_ref(obs))?;
        out.pop().ok_or_else(|| StoreError::Engine {
            dir: self.location().to_owned(),
            message: "empty upsert result".into(),
        })
    }

    /// Merge a batch of observations, atomically and durably: when this
    /// returns `Ok`, every observation is stored; on error none is.
    ///
    /// A new weakness becomes an open finding; one seen again updates
    /// `last_seen`, `seen_count` and evidence; a fixed one is reopened and
    /// tagged `regression`; a false positive whose evidence changed is reopened.
    pub fn upsert_batch(
        &self,
        scan: Option<u64>,
        batch: &[Observation],
    ) -> Result<Vec<(String, UpsertOutcome)>, StoreError> {
        both!(self, s => s.upsert_batch(scan, batch))
    }

    /// Apply one triage transition to each of `ids`, all or nothing.
    pub fn triage<S: AsRef<str>>(&self, ids: &[S], t: &Transition) -> Result<Vec<Finding>, StoreError> {
        both!(self, s => s.triage(ids, t))
    }

    /// Re-run the prioritizer on every stored finding; returns how many changed.
    pub fn reprioritize(&self) -> Result<usize, StoreError> {
        both!(self, s => s.reprioritize())
    }

    /// Start a scan run of every check.
    pub fn begin_scan(&self, targets: Vec<String>) -> Result<ScanRun, StoreError> {
        self.begin_scan_scheduled(targets, &[], &[], None)
    }

    /// Start a scan run of the checks `checks` selects (globs; empty: every
    /// check) less those `skip_checks` names; kept on the run for `--resume`.
    pub fn begin_scan_selected(
        &self,
        targets: Vec<String>,
        checks: &[String],
        skip_checks: &[String],
    ) -> Result<ScanRun, StoreError> {
        self.begin_scan_scheduled(targets, checks, skip_checks, None)
    }

    /// [`Store::begin_scan_selected`] for a run started by the `[[schedule]]` named `schedule`.
    pub fn begin_scan_scheduled(
        &self,
        targets: Vec<String>,
        checks: &[String],
        skip_checks: &[String],
        schedule: Option<&str>,
    ) -> Result<ScanRun, StoreError> {
        both!(self, s => s.begin_scan_scheduled(targets, checks, skip_checks, schedule))
    }

    /// A scan run by id.
    pub fn scan(&self, id: u64) -> Result<ScanRun, StoreError> {
        both!(self, s => s.scan(id))
    }

    /// Every scan run, oldest first; unreadable ones are skipped.
    pub fn scans(&self) -> Result<Vec<ScanRun>, StoreError> {
        both!(self, s => s.scans())
    }

    /// Journal (check, asset) pairs that ran to completion without error in `scan`.
    pub fn cover(&self, scan: u64, pairs: &[Coverage]) -> Result<(), StoreError> {
        both!(self, s => s.cover(scan, pairs))
    }

    /// Journal ports that refused the connection in `scan` (each covers every
    /// check its own probes run on that host and port).
    pub fn cover_closed_ports(&self, scan: u64, ports: &[(String, u16)]) -> Result<(), StoreError> {
        both!(self, s => s.cover_closed_ports(scan, ports))
    }

    /// Record units of `scan` that got no definite answer; they cover nothing.
    pub fn record_failed(&self, scan: u64, units: &[FailedUnit]) -> Result<(), StoreError> {
        both!(self, s => s.record_failed(scan, units))
    }

    /// Every (check, asset) pair `scan` journaled as covered (for resuming).
    pub fn covered(&self, scan: u64) -> Result<Vec<Coverage>, StoreError> {
        both!(self, s => s.covered(scan))
    }

    /// The most recent scan run, if it did not complete: the one `--resume` continues.
    pub fn unfinished_scan(&self) -> Result<Option<ScanRun>, StoreError> {
        both!(self, s => s.unfinished_scan())
    }

    /// Whether `scan` already covered this pair (for resuming).
    pub fn is_covered(&self, scan: u64, c: &Coverage) -> Result<bool, StoreError> {
        both!(self, s => s.is_covered(scan, c))
    }

    /// End a scan run. When `complete`, every open, confirmed or accepted-risk
    /// finding on a covered (check, asset) that this scan did not see becomes
    /// `fixed`; an incomplete scan closes nothing.
    pub fn finish_scan(&self, scan: u64, complete: bool) -> Result<ScanRun, StoreError> {
        both!(self, s => s.finish_scan(scan, complete))
    }

    /// Return every accepted-risk finding whose `until` has passed to `open`
    /// (history actor `scanner`). Returns the ids reopened.
    pub fn expire_acceptances(&self, now: Timestamp) -> Result<Vec<String>, StoreError> {
        both!(self, s => s.expire_acceptances(now))
    }

    /// [`Store::expire_acceptances`] with the history entry written by `actor`.
    pub fn expire_acceptances_as(&self, now: Timestamp, actor: &str) -> Result<Vec<String>, StoreError> {
        both!(self, s => s.expire_acceptances_as(now, actor))
    }

    /// Record the certificate an endpoint presented; the change event when it
    /// differs from the one seen last time.
    pub fn observe_certificate(
        &self,
        scan: Option<u64>,
        host: &str,
        port: u16,
        sha256: &str,
        expires: Option<Timestamp>,
    ) -> Result<Option<ChangeEvent>, StoreError> {
        both!(self, s => s.observe_certificate(scan, host, port, sha256, expires))
    }

    /// Record the product/version text a service announced; the change event
    /// when it differs from the one stored.
    pub fn observe_banner(
        &self,
        scan: Option<u64>,
        host: &str,
        port: u16,
        banner: &str,
    ) -> Result<Option<ChangeEvent>, StoreError> {
        both!(self, s => s.observe_banner(scan, host, port, banner))
    }

    /// Record that `port` of `host` answered on `addr` in `scan`; a
    /// port-opened event when a recent complete scan found it closed.
    pub fn observe_open_port(
        &self,
        scan: Option<u64>,
        host: &str,
        addr: IpAddr,
        port: u16,
    ) -> Result<Option<ChangeEvent>, StoreError> {
        both!(self, s => s.observe_open_port(scan, host, addr, port))
    }

    /// Every asset record (what was seen last, per kind, host and port).
    pub fn assets(&self) -> Result<Vec<AssetRecord>, StoreError> {
        both!(self, s => s.assets())
    }

    /// Record the addresses `host` resolved to (empty: definitely none).
    pub fn observe_addresses(
        &self,
        scan: Option<u64>,
        host: &str,
        addrs: &[IpAddr],
    ) -> Result<Option<ChangeEvent>, StoreError> {
        both!(self, s => s.observe_addresses(scan, host, addrs))
    }

    /// The addresses each host had when last seen.
    pub fn earlier_addresses(&self) -> Result<BTreeMap<String, Vec<IpAddr>>, StoreError> {
        both!(self, s => s.earlier_addresses())
    }

    /// Every change event, oldest first.
    pub fn changes(&self) -> Result<Vec<ChangeEvent>, StoreError> {
        both!(self, s => s.changes())
    }

    /// Change events at or after `since` (all when `None`), oldest first.
    pub fn changes_since(&self, since: Option<Timestamp>) -> Result<Vec<ChangeEvent>, StoreError> {
        both!(self, s => s.changes_since(since))
    }

    /// The change events of one scan run.
    pub fn changes_of_scan(&self, scan: u64) -> Result<Vec<ChangeEvent>, StoreError> {
        both!(self, s => s.changes_of_scan(scan))
    }

    /// Read every record and report what cannot be read.
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        both!(self, s => s.check())
    }

    /// Problems of index consistency, one line each (empty: consistent).
    pub fn check_integrity(&self) -> Result<Vec<String>, StoreError> {
        both!(self, s => s.check_integrity())
    }

    /// Write a verified backup of the whole store to `path` (sled stores;
    /// a PostgreSQL store is backed up with `pg_dump`).
    pub fn backup(&self, path: &Path) -> Result<BackupSummary, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.backup(path),
            Backend::Postgres(s) => Err(StoreError::Engine {
                dir: s.dir().to_owned(),
                message: "a PostgreSQL store is backed up by PostgreSQL (pg_dump, or its WAL archiving), not by haetae"
                    .into(),
            }),
        }
    }

    /// Read a backup file through and check every record in it.
    pub fn verify_backup(path: &Path) -> Result<BackupSummary, StoreError> {
        SledStore::verify_backup(path)
    }

    /// Restore a backup into the empty (or absent) directory `dir`.
    pub fn restore(backup: &Path, dir: &Path) -> Result<RestoreSummary, StoreError> {
        SledStore::restore(backup, dir)
    }

    /// Queue a notification for `channel`; due at once. Returns its id.
    pub fn outbox_enqueue(&self, channel: &str, endpoint: &str, payload: &str) -> Result<u64, StoreError> {
        both!(self, s => s.outbox_enqueue(channel, endpoint, payload))
    }

    /// Every queued, failed and kept delivered notification.
    pub fn outbox(&self) -> Result<Vec<OutboxItem>, StoreError> {
        both!(self, s => s.outbox())
    }

    /// The notifications due at `now` (every undelivered one when `ignore_backoff`).
    pub fn outbox_due(&self, now: Timestamp, ignore_backoff: bool) -> Result<Vec<OutboxItem>, StoreError> {
        both!(self, s => s.outbox_due(now, ignore_backoff))
    }

    /// When the next queued notification is due.
    pub fn outbox_next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        both!(self, s => s.outbox_next_due())
    }

    /// Record a delivery attempt: `Ok(())` delivered; `Err(why)` failed, tried again from `retry_at`.
    pub fn outbox_record(
        &self,
        id: u64,
        result: Result<(), String>,
        now: Timestamp,
        retry_at: Timestamp,
    ) -> Result<(), StoreError> {
        both!(self, s => s.outbox_record(id, result, now, retry_at))
    }

    /// Counts of the outbox by state.
    pub fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        both!(self, s => s.outbox_counts())
    }

    /// Whether `key` was notified once already.
    pub fn was_notified(&self, key: &str) -> Result<bool, StoreError> {
        both!(self, s => s.was_notified(key))
    }

    /// Mark `key` notified; `true` the first time only.
    pub fn notify_once(&self, key: &str) -> Result<bool, StoreError> {
        both!(self, s => s.notify_once(key))
    }

    /// The PostgreSQL store, or why an operation needs one.
    fn shared(&self, what: &str) -> Result<&PgStore, StoreError> {
        match &self.backend {
            Backend::Postgres(s) => Ok(s),
            Backend::Sled(s) => Err(StoreError::Engine {
                dir: s.dir().to_owned(),
                message: format!("{what} needs a shared PostgreSQL store (store = \"postgres://...\" in haetae.toml)"),
            }),
        }
    }

    /// Store the engagement's scope (its file's text) for the workers and
    /// how many of them share its rate budget; returns the scope's SHA-256.
    pub fn set_engagement(&self, scope: &str, workers: u32) -> Result<String, StoreError> {
        self.shared("the work queue")?.set_engagement(scope, workers)
    }

    /// The engagement the daemon stored, when one was.
    pub fn engagement(&self) -> Result<Option<Engagement>, StoreError> {
        self.shared("the work queue")?.engagement()
    }

    /// Take or keep a worker slot for `worker` (leased for `lease`): its
    /// number, or `None` while every slot is another worker's.
    pub fn hold_slot(&self, worker: &str, lease: std::time::Duration) -> Result<Option<u32>, StoreError> {
        self.shared("the work queue")?.hold_slot(worker, lease)
    }

    /// Give `worker`'s slot up.
    pub fn leave_slot(&self, worker: &str) -> Result<(), StoreError> {
        self.shared("the work queue")?.leave_slot(worker)
    }

    /// Queue one unit per host of run `scan` (planned under scope `scope_sha256`).
    pub fn enqueue_units(
        &self,
        scan: u64,
        hosts: &[String],
        checks: &[String],
        skip_checks: &[String],
        profile: &str,
        scope_sha256: &str,
    ) -> Result<usize, StoreError> {
        self.shared("the work queue")?.enqueue_units(scan, hosts, checks, skip_checks, profile, scope_sha256)
    }

    /// Claim the oldest unit that is queued or whose lease ran out, for
    /// `worker`, leased for `lease`; units claimed `max_attempts` times are
    /// not taken again.
    pub fn claim_unit(
        &self,
        worker: &str,
        lease: std::time::Duration,
        max_attempts: u32,
    ) -> Result<Option<Unit>, StoreError> {
        self.shared("the work queue")?.claim_unit(worker, lease, max_attempts)
    }

    /// Extend `worker`'s lease on unit `id`; `false` when it lost it.
    pub fn renew_unit(&self, id: u64, worker: &str, lease: std::time::Duration) -> Result<bool, StoreError> {
        self.shared("the work queue")?.renew_unit(id, worker, lease)
    }

    /// Record how unit `id` ended (`Ok(complete)` or `Err(why)`) with the
    /// audit records of its traffic, in one transaction; `false` when
    /// `worker` no longer held it (the records are kept all the same).
    pub fn finish_unit(
        &self,
        id: u64,
        worker: &str,
        result: Result<bool, String>,
        audit: Option<AuditSegment>,
    ) -> Result<bool, StoreError> {
        self.shared("the work queue")?.finish_unit(id, worker, result, audit)
    }

    /// Give unit `id` back to the queue with the audit records of what
    /// `worker` did meanwhile; `false` when it no longer held it.
    pub fn release_unit(&self, id: u64, worker: &str, audit: Option<AuditSegment>) -> Result<bool, StoreError> {
        self.shared("the work queue")?.release_unit(id, worker, audit)
    }

    /// Check the workers' audit segments in the database (see `pg/audit.rs`).
    pub fn verify_audit_segments(&self) -> Result<SegmentsReport, StoreError> {
        self.shared("audit segments")?.verify_segments()
    }

    /// Fail the units of `scan` abandoned `max_attempts` times; how many.
    pub fn fail_abandoned_units(&self, scan: u64, max_attempts: u32) -> Result<u64, StoreError> {
        self.shared("the work queue")?.fail_abandoned_units(scan, max_attempts)
    }

    /// Withdraw the units of `scan` no worker has claimed yet; how many.
    pub fn cancel_units(&self, scan: u64) -> Result<u64, StoreError> {
        self.shared("the work queue")?.cancel_units(scan)
    }

    /// Where the units of run `scan` stand.
    pub fn unit_counts(&self, scan: u64) -> Result<UnitCounts, StoreError> {
        self.shared("the work queue")?.unit_counts(scan)
    }
}
