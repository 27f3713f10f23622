//! `haetae worker`: claims units of runs from a shared PostgreSQL store and
//! scans them through its own scope guard.
//!
//! Before every claim the worker compares the SHA-256 of its own scope file
//! with the engagement's stored in the database; a worker holding another
//! scope refuses to run anything (it would scan under an authorization the
//! run was not planned under). The guard is built from the scope the
//! database holds, whose hash was just checked to be the worker's own.
//! While a unit runs its lease is renewed every third of the lease; a
//! renewal that finds the unit taken (the lease ran out, say after a long
//! pause) stops the unit, and its result is not recorded.
//!
//! Politeness is a shared budget: the worker claims units only while it
//! holds one of the engagement's worker slots (renewed with the unit's
//! lease), and its guard gets `1/workers` of the scope's `max_rps` and
//! `per_host_rps`: all workers together stay within the scope's limits.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, anyhow};
use haetae_findings::{AuditSegment, Store, Unit};
use haetae_scanner::scope::Scope;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::SetupFn;
use crate::scan::{Refused, ScanOptions};

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// This worker's name in the queue and the audit segments.
    pub id: String,
    /// How long a claim holds before another worker may take the unit.
    pub lease: Duration,
    /// How long to wait before looking for work again when none is queued.
    pub idle_poll: Duration,
}

/// What a worker did, when it stops.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkerSummary {
    /// Units run to the end (done).
    pub done: u64,
    /// Units that failed here.
    pub failed: u64,
    /// Units lost to another worker (lease ran out).
    pub lost: u64,
}

/// Claim and run units until `shutdown`. Refused (an error wrapping
/// [`Refused`]) when the worker's scope is not the engagement's.
pub async fn run_worker(
    store: Arc<Store>,
    setup: Arc<SetupFn>,
    opts: WorkerOptions,
    shutdown: CancellationToken,
) -> Result<WorkerSummary> {
    let r = work(&store, &setup, &opts, &shutdown).await;
    if let Err(e) = store.leave_slot(&opts.id) {
        warn!(worker = %opts.id, error = %e, "cannot give the worker slot up; it frees itself when its lease ends");
    }
    r
}

async fn work(
    store: &Arc<Store>,
    setup: &Arc<SetupFn>,
    opts: &WorkerOptions,
    shutdown: &CancellationToken,
) -> Result<WorkerSummary> {
    let mut summary = WorkerSummary::default();
    let mut told_waiting = false;
    loop {
        if shutdown.is_cancelled() {
            return Ok(summary);
        }
        let mine = (setup)()?;
        let own_hash = haetae_findings::scope_hash(&mine.scope_text);
        let claimed = match next_unit(store, opts, &own_hash, &mut told_waiting) {
            Ok(c) => c,
            // The database went away (a restart, the network): the worker
            // waits and tries again; a refusal ends it.
            Err(e) if e.is::<Refused>() => return Err(e),
            Err(e) => {
                warn!(worker = %opts.id, error = %crate::daemon::one_line(&e), "cannot reach the queue; trying again");
                None
            }
        };
        let Some((unit, engagement, slot)) = claimed else {
            tokio::select! {
                () = tokio::time::sleep(opts.idle_poll) => continue,
                () = shutdown.cancelled() => return Ok(summary),
            }
        };
        if unit.scope_sha256 != own_hash {
            // Planned under an earlier scope: not ours to run; given back.
            let _ = store.release_unit(unit.id, &opts.id, None);
            return Err(anyhow!(Refused(format!(
                "worker {}: unit {} (scan {}, {}) was planned under scope {}, this worker holds {own_hash}: refusing it",
                opts.id, unit.id, unit.scan, unit.host, unit.scope_sha256
            ))));
        }
        // The guard is built from the database's scope, hash-checked above,
        // with this worker's share of its budget.
        let mut setup_now = mine;
        let mut scope = Scope::parse(Path::new("(engagement scope in the database)"), &engagement.scope)?;
        scope.limits = share(scope.limits, engagement.workers);
        info!(worker = %opts.id, slot, unit = unit.id, max_rps = scope.limits.max_rps, per_host_rps = scope.limits.per_host_rps, "this worker's share of the budget");
        setup_now.scope = scope;
        match run_unit(store, setup_now, &unit, opts, shutdown).await {
            Ran::Done => summary.done += 1,
            Ran::Failed => summary.failed += 1,
            Ran::Lost => summary.lost += 1,
        }
    }
}

/// Check the engagement's scope against ours, hold a slot, claim a unit.
fn next_unit(
    store: &Store,
    opts: &WorkerOptions,
    own_hash: &str,
    told_waiting: &mut bool,
) -> Result<Option<(Unit, haetae_findings::Engagement, u32)>> {
    let Some(e) = store.engagement()? else { return Ok(None) };
    if e.scope_sha256 != own_hash {
        return Err(anyhow!(Refused(format!(
            "worker {}: this workspace's scope file has SHA-256 {own_hash}, but the engagement in the database was planned under {}: refusing to run its units (use the engagement's scope file)",
            opts.id, e.scope_sha256
        ))));
    }
    let Some(slot) = store.hold_slot(&opts.id, opts.lease)? else {
        if !*told_waiting {
            info!(worker = %opts.id, workers = e.workers, "every worker slot is taken ({} workers share the budget); waiting for one", e.workers);
            *told_waiting = true;
        }
        return Ok(None);
    };
    *told_waiting = false;
    Ok(store.claim_unit(&opts.id, opts.lease, crate::queue::MAX_ATTEMPTS)?.map(|u| (u, e, slot)))
}

enum Ran {
    Done,
    Failed,
    Lost,
}

async fn run_unit(
    store: &Arc<Store>,
    setup: crate::ScanSetup,
    unit: &Unit,
    opts: &WorkerOptions,
    shutdown: &CancellationToken,
) -> Ran {
    info!(worker = %opts.id, unit = unit.id, scan = unit.scan, host = %unit.host, attempt = unit.attempts, "unit claimed");
    let cancel = shutdown.child_token();
    let lost = CancellationToken::new();
    let renewer = {
        let (store, cancel, lost) = (Arc::clone(store), cancel.clone(), lost.clone());
        let (id, worker, lease) = (unit.id, opts.id.clone(), opts.lease);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(lease / 3) => {}
                    () = cancel.cancelled() => return,
                }
                // The slot is held as long as the unit; a worker whose slot
                // went to another (its lease ran out) stops: its share of the
                // budget is that worker's now.
                match store.hold_slot(&worker, lease) {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        warn!(worker = %worker, unit = id, "worker slot lost to another worker; stopping the unit");
                        lost.cancel();
                        cancel.cancel();
                        return;
                    }
                    Err(e) => warn!(worker = %worker, error = %e, "cannot renew the worker slot"),
                }
                match store.renew_unit(id, &worker, lease) {
                    Ok(true) => {}
                    Ok(false) => {
                        warn!(worker = %worker, unit = id, "lease lost: another worker has the unit; stopping it");
                        lost.cancel();
                        cancel.cancel();
                        return;
                    }
                    // The database is unreachable: go on; the next renewal
                    // (or the finish) tells whether the unit is still ours.
                    Err(e) => warn!(worker = %worker, unit = id, error = %e, "cannot renew the lease"),
                }
            }
        })
    };
    let audit_path = store.dir().join(crate::AUDIT_FILE);
    let before = segment_start(&audit_path);
    let scan_opts = ScanOptions {
        targets: vec![unit.host.clone()],
        profile: unit.profile.parse().unwrap_or_default(),
        checks: unit.checks.clone(),
        skip_checks: unit.skip_checks.clone(),
        unit_of: Some(unit.scan),
        ..ScanOptions::default()
    };
    let r = crate::run_scan(store, setup, &scan_opts, cancel.clone(), &()).await;
    cancel.cancel();
    let _ = renewer.await;
    // The records of this unit's traffic, copied for the database.
    let segment = match before.and_then(|(first, prev)| segment_of(&audit_path, first, prev)) {
        Ok(s) => Some(s),
        Err(e) => {
            error!(worker = %opts.id, unit = unit.id, error = %e, "cannot read this unit's audit records; they stay in the local log only");
            None
        }
    };
    let stopped = matches!(&r, Ok(o) if o.outcome.stop.is_some());
    if lost.is_cancelled() || stopped {
        // Lost to another worker, or stopped (a shutdown) before an
        // answer: the unit goes back to the queue; what it did is audited.
        if let Err(e) = store.release_unit(unit.id, &opts.id, segment) {
            error!(worker = %opts.id, unit = unit.id, error = %e, "cannot give the unit back; its lease will run out");
        }
        info!(worker = %opts.id, unit = unit.id, "unit given back to the queue");
        return Ran::Lost;
    }
    let result = match &r {
        Ok(o) => Ok(o.outcome.complete),
        Err(e) => Err(e.chain().map(ToString::to_string).collect::<Vec<_>>().join(": ")),
    };
    let failed = result.is_err();
    match store.finish_unit(unit.id, &opts.id, result, segment) {
        Ok(true) if failed => Ran::Failed,
        Ok(true) => {
            info!(worker = %opts.id, unit = unit.id, host = %unit.host, "unit done");
            Ran::Done
        }
        Ok(false) => Ran::Lost,
        Err(e) => {
            error!(worker = %opts.id, unit = unit.id, error = %e, "cannot record the unit's end; its lease will run out and another worker redoes it");
            Ran::Lost
        }
    }
}

/// Where this unit's records start in the worker's log: the next `seq` and
/// the hash of the last record before it.
fn segment_start(path: &Path) -> Result<(u64, String)> {
    let log = haetae_findings::AuditLog::shared(path)?;
    log.sync()?;
    match log.last_seq() {
        None | Some(0) => Ok((1, "0".repeat(64))),
        Some(last) => {
            let line = haetae_findings::audit::read_lines(path, last, last)?;
            let prev = line.first().map(|l| haetae_findings::audit::line_hash(l)).unwrap_or_default();
            Ok((last + 1, prev))
        }
    }
}

/// The records from `first` to the end of the worker's log.
fn segment_of(path: &Path, first: u64, first_prev: String) -> Result<AuditSegment> {
    let log = haetae_findings::AuditLog::shared(path)?;
    log.sync()?;
    let last = log.last_seq().unwrap_or(0);
    let lines = if last >= first { haetae_findings::audit::read_lines(path, first, last)? } else { Vec::new() };
    Ok(AuditSegment { first_seq: first, first_prev, lines })
}

/// One worker's share of the scope's limits when `workers` share them: the
/// rates divided (at least 1 a second), so that all together stay within them.
pub fn share(limits: haetae_scanner::scope::Limits, workers: u32) -> haetae_scanner::scope::Limits {
    let n = workers.max(1);
    haetae_scanner::scope::Limits {
        max_rps: (limits.max_rps / n).max(1),
        per_host_rps: (limits.per_host_rps / n).max(1),
        ..limits
    }
}

#[cfg(test)]
mod tests {
    use super::share;
    use haetae_scanner::scope::Limits;

    #[test]
    fn the_shares_of_the_workers_add_up_to_at_most_the_scope() {
        let l = Limits { max_rps: 100, per_host_rps: 20, ..Limits::default() };
        // The daemon refuses more workers than per_host_rps.
        for n in 1..=20u32 {
            let s = share(l, n);
            assert!(s.per_host_rps * n <= 20 && s.per_host_rps >= 1, "{n}: {s:?}");
            assert!(s.max_rps * n <= 100 && s.max_rps >= 1, "{n}: {s:?}");
            assert_eq!((s.concurrency, s.timeout), (l.concurrency, l.timeout));
        }
        assert_eq!(share(l, 1), l);
        assert_eq!(share(l, 3).per_host_rps, 6);
    }
}
