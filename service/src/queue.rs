//! A run split among `haetae worker`s (a shared PostgreSQL store): the
//! daemon authorizes the targets, stores the engagement's scope and its
//! hash, begins the run, queues one unit per target, and waits; the run is
//! finished (and so may close findings) only when every unit is done or
//! failed, and it is complete only when every unit ran to completion.
//! See `findings/src/store/pg/queue.rs` for the claiming pattern.

use std::time::Duration;

use anyhow::{Result, anyhow};
use haetae_findings::{Selection, State, Store, Timestamp};
use haetae_scanner::engine::{self, Outcome, Stop};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::scan::{BadRequest, ScanOptions, ScanOutcome, ScanSetup, Sink, Update, authorize};

/// A unit claimed this many times without an answer fails instead.
pub(crate) const MAX_ATTEMPTS: u32 = 3;
/// How often the daemon looks at the units of its run.
const POLL: Duration = Duration::from_millis(250);
/// Said in the log when no worker has taken a unit for this long.
const IDLE_WARNING: Duration = Duration::from_secs(60);

/// Run `opts` through the work queue; returns like [`crate::run_scan`].
pub(crate) async fn run_distributed(
    store: &Store,
    setup: ScanSetup,
    opts: &ScanOptions,
    cancel: CancellationToken,
    sink: &dyn Sink,
) -> Result<ScanOutcome> {
    let hash = haetae_findings::scope_hash(&setup.scope_text);
    let (run, resumed) = match store.unfinished_scan()? {
        // A run this daemon split before it stopped: its units are still
        // queued or done; wait for them.
        Some(run) if opts.resume && store.unit_counts(run.id)? != haetae_findings::UnitCounts::default() => (run, true),
        _ => {
            let targets = authorize(&setup.scope, &opts.targets, Timestamp::now())?;
            let limits = setup.scope.limits;
            if setup.workers > limits.per_host_rps || setup.workers > limits.max_rps {
                return Err(anyhow!(BadRequest(format!(
                    "workers = {} in haetae.toml, but the scope allows {} requests a second per host and {} in all: each worker needs at least one of each (lower workers or raise [limits])",
                    setup.workers, limits.per_host_rps, limits.max_rps
                ))));
            }
            store.set_engagement(&setup.scope_text, setup.workers)?;
            let run = store.begin_scan_scheduled(
                targets.clone(),
                &opts.checks,
                &opts.skip_checks,
                opts.schedule.as_deref(),
            )?;
            store.enqueue_units(
                run.id,
                &targets,
                &opts.checks,
                &opts.skip_checks,
                profile_name(opts.profile),
                &hash,
            )?;
            (run, false)
        }
    };
    sink.update(Update::Started { id: run.id, targets: run.targets.len(), resumed });
    info!(scan = run.id, units = run.targets.len(), "run queued for the workers");
    let started = std::time::Instant::now();
    let mut last_change = std::time::Instant::now();
    let mut last = store.unit_counts(run.id)?;
    let mut warned = false;
    let stop = loop {
        store.fail_abandoned_units(run.id, MAX_ATTEMPTS)?;
        let counts = store.unit_counts(run.id)?;
        if counts != last {
            last = counts;
            last_change = std::time::Instant::now();
            let total = counts.queued + counts.running + counts.done + counts.failed;
            let progress = engine::Progress {
                hosts: total,
                hosts_done: counts.done + counts.failed,
                ..engine::Progress::default()
            };
            sink.update(Update::Progress { progress, elapsed: started.elapsed() });
        } else if !warned && counts.running == 0 && counts.queued > 0 && last_change.elapsed() > IDLE_WARNING {
            warn!(
                scan = run.id,
                queued = counts.queued,
                "no worker has taken a unit for a minute: is a `haetae worker` running on this database?"
            );
            warned = true;
        }
        if counts.settled() {
            break None;
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = cancel.cancelled() => break Some(Stop::Cancelled),
        }
    };
    if stop.is_some() {
        let n = store.cancel_units(run.id)?;
        info!(scan = run.id, withdrawn = n, "run stopped: units not yet claimed are withdrawn");
    }
    let counts = store.unit_counts(run.id)?;
    let complete = stop.is_none() && counts.complete();
    let run = store.finish_scan(run.id, complete)?;
    let total = counts.queued + counts.running + counts.done + counts.failed;
    let progress =
        engine::Progress { hosts: total, hosts_done: counts.done + counts.failed, ..engine::Progress::default() };
    let outcome = Outcome { complete, stop, progress };
    let seen = store
        .list(&Selection::States(State::ALL.to_vec()))?
        .findings
        .into_iter()
        .filter(|f| f.last_scan == Some(run.id))
        .collect();
    let changes = store.changes_of_scan(run.id)?;
    for c in &changes {
        sink.update(Update::Change(c.clone()));
    }
    let failed = run.failed.clone();
    Ok(ScanOutcome { run, outcome, seen, open_ports: Vec::new(), changes, failed })
}

/// The name a profile has in haetae.toml and on the command line.
pub(crate) fn profile_name(p: engine::Profile) -> &'static str {
    match p {
        engine::Profile::Passive => "passive",
        engine::Profile::Standard => "standard",
        engine::Profile::Deep => "deep",
    }
}
