//! What the daemon keeps up besides its schedules: the checks at start
//! ([`recover`]), accepted risks whose date passed returned to open (actor
//! `daemon`), the rules file watched ([`crate::rules_watch`]) and the daily
//! backups ([`crate::backups`]), each its own task ([`run_upkeep`]).

use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use haetae_findings::audit::{self, AuditError};
use haetae_findings::lifecycle::DAEMON;
use haetae_findings::{Store, Timestamp};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::backups::Backups;
use crate::rules_watch::RulesWatch;
use crate::scan::AUDIT_FILE;

/// How often accepted risks are checked for a passed date (one walk of the
/// accepted-risk index; nothing is written when none is due).
pub const EXPIRY_EVERY: Duration = Duration::from_secs(60);

/// How often the rules file's metadata is read.
pub const RULES_EVERY: Duration = Duration::from_secs(2);

/// How often the backup directory is looked at (a backup is written only
/// when the newest is a day old).
pub const BACKUP_CHECK_EVERY: Duration = Duration::from_secs(60);

/// After a failed backup, the next try waits this long.
pub const BACKUP_RETRY: Duration = Duration::from_secs(3600);

/// What [`run_upkeep`] looks after.
#[derive(Debug, Clone)]
pub struct Upkeep {
    /// The workspace's rules file (watched; a missing one is the default score).
    pub rules: PathBuf,
    /// Write daily backups into the store directory's `backups/`.
    pub backups: bool,
    /// Where expiries and re-scores are told (the daemon's event stream).
    pub events: Option<crate::events::Events>,
}

/// The checks at the daemon's start, after the store opened (which handles
/// damaged files itself): the audit chain must verify, as `haetae audit
/// verify` does, or the daemon refuses to start naming the first broken
/// line. What a crash leaves (a torn last line, records not yet sealed) is
/// repaired by the next run and only logged. A run cut off stays
/// incomplete: it closed nothing, and the daemon resumes it when it is a
/// schedule's.
pub fn recover(store: &Store) -> Result<()> {
    let log = store.dir().join(AUDIT_FILE);
    match audit::verify(&log) {
        Err(AuditError::Io { source, .. }) if source.kind() == ErrorKind::NotFound && !log.exists() => {}
        Err(e) => bail!("{}: cannot verify the audit log: {e}", log.display()),
        Ok(report) => match report.problem {
            None => info!(records = report.records, "audit log verified: hash chain intact"),
            Some(p) if p.recoverable() => {
                warn!(records = report.records, problem = %p, "the audit log ends as a crash left it; the next run repairs its end");
            }
            Some(p) => bail!(
                "{}: {p}; the daemon does not start on a broken audit chain (`haetae audit verify` names the same line; keep the log as evidence and restore the store from a backup)",
                log.display()
            ),
        },
    }
    if let Some(run) = store.unfinished_scan()? {
        let whose = run.schedule.as_deref().map_or_else(|| "a manual scan".to_owned(), |s| format!("schedule {s}"));
        info!(scan = run.id, "scan {} ({whose}) was cut off: it stays incomplete and closed nothing", run.id);
    }
    Ok(())
}

/// Return the accepted risks whose date passed by `now` to open, with a
/// history entry by the daemon; log their ids. Returns them.
pub fn expire_due(store: &Store, now: Timestamp) -> Result<Vec<String>> {
    let ids = store.expire_acceptances_as(now, DAEMON)?;
    if !ids.is_empty() {
        info!(count = ids.len(), ids = %ids.join(","), "risk acceptance expired: {} finding(s) open again", ids.len());
    }
    Ok(ids)
}

/// Run the upkeep tasks until `shutdown` is cancelled.
pub async fn run_upkeep(store: Arc<Store>, upkeep: Upkeep, shutdown: CancellationToken) {
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(expiry_loop(store.clone(), EXPIRY_EVERY, upkeep.events.clone(), shutdown.clone()));
    let mut watch = RulesWatch::new(store.clone(), upkeep.rules);
    if let Some(events) = upkeep.events.clone() {
        watch = watch.with_events(events);
    }
    tasks.spawn(crate::rules_watch::watch(watch, RULES_EVERY, shutdown.clone()));
    // A PostgreSQL store is backed up by PostgreSQL (pg_dump, WAL archiving).
    if upkeep.backups && !store.is_shared() {
        let backups = Backups::in_store(store.dir());
        tasks.spawn(crate::backups::backup_loop(store, backups, shutdown.clone()));
    }
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            error!(error = %e, "an upkeep task ended abnormally");
        }
    }
}

/// At start and then every `every`: [`expire_due`] on a blocking thread.
pub async fn expiry_loop(
    store: Arc<Store>,
    every: Duration,
    events: Option<crate::events::Events>,
    shutdown: CancellationToken,
) {
    let mut ticks = crate::upkeep::Ticks::new(every, &shutdown);
    loop {
        if !ticks.next().await {
            return;
        }
        let s = store.clone();
        match tokio::task::spawn_blocking(move || expire_due(&s, Timestamp::now())).await {
            Ok(Ok(ids)) => {
                if let Some(events) = events.as_ref().filter(|_| !ids.is_empty()) {
                    events.send(crate::events::Event::FindingsChanged { ids });
                }
            }
            Ok(Err(e)) => {
                error!(error = %crate::daemon::one_line(&e), "cannot return expired risk acceptances to open")
            }
            Err(e) => error!(error = %e, "the expiry check ended abnormally"),
        }
    }
}

/// A tick at once and then every period (a late tick delays the next, none
/// are bunched up), until the shutdown: the loop of every upkeep task.
pub(crate) struct Ticks {
    tick: tokio::time::Interval,
    shutdown: CancellationToken,
}

impl Ticks {
    pub(crate) fn new(every: Duration, shutdown: &CancellationToken) -> Ticks {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ticks { tick, shutdown: shutdown.clone() }
    }

    /// Wait for the next tick; `false` once shut down.
    pub(crate) async fn next(&mut self) -> bool {
        tokio::select! {
            _ = self.tick.tick() => !self.shutdown.is_cancelled(),
            () = self.shutdown.cancelled() => false,
        }
    }
}
