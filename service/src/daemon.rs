//! The daemon's loop: one task per `[[schedule]]`, each waiting for its due
//! time (see [`crate::schedule`]), checking the authorization window and
//! running a scan through [`run_scan`]. Runs are one at a time (they share
//! the store and its audit chain); a schedule whose run is still going when
//! its next time comes skips that time.

use std::hash::BuildHasher as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use haetae_findings::{Store, Timestamp};
use haetae_scanner::engine::{Profile, Stop};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::scan::{ScanOptions, ScanSetup, Sink, Update, run_scan};
use crate::schedule::{self, When, Window};

/// One `[[schedule]]` of haetae.toml.
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    /// Unique among the schedules; kept on each run it starts.
    pub name: String,
    /// When it is due.
    pub when: When,
    /// Empty: the scope's seeds.
    pub targets: Vec<String>,
    /// How far its scans go.
    pub profile: Profile,
    /// Only these checks (globs); empty: every check.
    pub checks: Vec<String>,
}

/// Loads what a scan needs from the workspace, once per run (so an edited
/// scope or template counts from the next run on).
pub type SetupFn = dyn Fn() -> Result<ScanSetup> + Send + Sync;

/// The longest single sleep: the wall clock is read again after it, so a
/// suspended machine or a clock set forward does not delay a run for long.
const NAP: Duration = Duration::from_secs(30);

/// Run every schedule until `shutdown` is cancelled. A running scan is then
/// stopped (in-flight probes get their grace period), what it found is
/// committed, and this returns `Ok`.
pub async fn run_daemon(
    store: Arc<Store>,
    schedules: Vec<ScheduleSpec>,
    setup: Arc<SetupFn>,
    shutdown: CancellationToken,
) -> Result<()> {
    if schedules.is_empty() {
        bail!("no [[schedule]] in haetae.toml: the daemon has nothing to run (SPEC.md, haetae.toml)");
    }
    // A run of a schedule cut off (SIGKILL, power) is resumed first.
    let interrupted = store.unfinished_scan()?.and_then(|r| r.schedule.map(|s| (s, r.id)));
    let one_at_a_time = Arc::new(Mutex::new(()));
    let mut tasks = tokio::task::JoinSet::new();
    for spec in schedules {
        let resume = interrupted.as_ref().filter(|(s, _)| *s == spec.name).map(|(_, id)| *id);
        let last = last_run(&store, &spec.name)?;
        tasks.spawn(schedule_loop(
            spec,
            last,
            resume,
            store.clone(),
            setup.clone(),
            one_at_a_time.clone(),
            shutdown.clone(),
        ));
    }
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            error!(error = %e, "a schedule's task ended abnormally");
        }
    }
    info!("daemon stopped");
    Ok(())
}

/// When the last run of `name` started (unix seconds).
fn last_run(store: &Store, name: &str) -> Result<Option<i64>> {
    Ok(store.scans()?.iter().filter(|r| r.schedule.as_deref() == Some(name)).map(|r| r.started.unix()).max())
}

fn now() -> i64 {
    Timestamp::now().unix()
}

fn at(t: i64) -> String {
    Timestamp::from_unix(t).to_string()
}

fn random() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now())
}

/// Sleep until the wall clock reads `t`; `false` when shut down first.
async fn sleep_until(t: i64, shutdown: &CancellationToken) -> bool {
    loop {
        let left = t.saturating_sub(now());
        if left <= 0 {
            return !shutdown.is_cancelled();
        }
        let nap = Duration::from_secs(u64::try_from(left).unwrap_or(0)).min(NAP);
        tokio::select! {
            () = tokio::time::sleep(nap) => {}
            () = shutdown.cancelled() => return false,
        }
    }
}

async fn schedule_loop(
    spec: ScheduleSpec,
    last: Option<i64>,
    mut resume: Option<u64>,
    store: Arc<Store>,
    setup: Arc<SetupFn>,
    one_at_a_time: Arc<Mutex<()>>,
    shutdown: CancellationToken,
) {
    let name = spec.name.as_str();
    let start = now();
    let first = schedule::first_due(&spec.when, last, start, random());
    let mut due = if resume.is_some() { Some(start) } else { first.at };
    match (resume, first.missed, due) {
        (Some(id), _, _) => info!(schedule = name, scan = id, "scan {id} was cut off; resuming it now"),
        (None, true, _) => {
            info!(schedule = name, when = %spec.when, "a run was due while the daemon was down; running it now")
        }
        (None, false, Some(t)) => info!(schedule = name, when = %spec.when, next = %at(t), "scheduled"),
        (None, false, None) => warn!(schedule = name, when = %spec.when, "the schedule names no future time"),
    }
    loop {
        let Some(t) = due else {
            // Nothing ever again: wait for the shutdown.
            shutdown.cancelled().await;
            return;
        };
        if !sleep_until(t, &shutdown).await {
            return;
        }
        let next = |from: i64| schedule::after_run(&spec.when, from, now(), random()).0;
        // The workspace is read at each run: an edited scope counts.
        let setup = match setup() {
            Ok(s) => s,
            Err(e) => {
                error!(schedule = name, error = %one_line(&e), "cannot start the run");
                due = next(t);
                continue;
            }
        };
        let (nb, na) = (setup.scope.engagement.not_before.unix(), setup.scope.engagement.not_after.unix());
        let closes = match schedule::window(now(), nb, na) {
            Window::Wait { opens } => {
                info!(schedule = name, opens = %at(opens), "the authorization window is not open yet; the run waits for it");
                due = Some(opens);
                continue;
            }
            Window::Closed { at: closed } => {
                warn!(schedule = name, closed = %at(closed), "the authorization window has closed; no run (renew scope.toml to go on)");
                due = next(now());
                continue;
            }
            Window::Run { closes } => closes,
        };
        let guard = tokio::select! {
            g = one_at_a_time.lock() => g,
            () = shutdown.cancelled() => return,
        };
        let started = now();
        info!(schedule = name, window_closes = %at(closes), "run starting; the authorization window closes at {}", at(closes));
        let cancel = shutdown.child_token();
        // The run stops when the window closes, even between probes.
        let closer = {
            let cancel = cancel.clone();
            let name = name.to_owned();
            let token = shutdown.clone();
            tokio::spawn(async move {
                if sleep_until(closes.saturating_add(1), &token).await {
                    info!(schedule = %name, closed = %at(closes), "the authorization window has closed; stopping the run");
                    cancel.cancel();
                }
            })
        };
        let opts = ScanOptions {
            targets: spec.targets.clone(),
            profile: spec.profile,
            resume: resume.take().is_some(),
            checks: spec.checks.clone(),
            skip_checks: Vec::new(),
            schedule: Some(spec.name.clone()),
        };
        let r = run_scan(&store, setup, &opts, cancel, &Log { schedule: name }).await;
        closer.abort();
        drop(guard);
        match r {
            Ok(o) => {
                let c = &o.run.counts;
                let how = match &o.outcome.stop {
                    None if o.outcome.complete => "complete".to_owned(),
                    None => "incomplete (closed nothing)".to_owned(),
                    Some(Stop::Cancelled) => "stopped; what it found is committed".to_owned(),
                    Some(Stop::Window(w)) => format!("stopped by the authorization window: {w}"),
                    Some(Stop::Audit(w)) => format!("stopped: the audit log could not be written ({w})"),
                };
                info!(
                    schedule = name,
                    scan = o.run.id,
                    complete = o.outcome.complete,
                    new = c.new,
                    seen = c.seen,
                    fixed = c.fixed,
                    reopened = c.reopened,
                    failed_units = o.run.failed_total,
                    changes = o.changes.len(),
                    "scan {} {how}",
                    o.run.id
                );
            }
            Err(e) => error!(schedule = name, error = %one_line(&e), "run failed"),
        }
        if shutdown.is_cancelled() {
            return;
        }
        let (after, skipped) = schedule::after_run(&spec.when, started, now(), random());
        if skipped > 0 {
            warn!(
                schedule = name,
                skipped, "the run was still going when the schedule was due again; {skipped} due time(s) skipped"
            );
        }
        if let Some(t) = after {
            info!(schedule = name, next = %at(t), "next run");
        }
        due = after;
    }
}

/// The error and its causes on one line, an I/O cause in words.
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    let mut out: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = match cause.downcast_ref::<std::io::Error>() {
            Some(io) => haetae_findings::error::io_reason(io),
            None => cause.to_string(),
        };
        if !out.iter().any(|o| o.contains(&text)) {
            out.push(text);
        }
    }
    out.join(": ")
}

/// A scheduled run's updates, as log lines.
struct Log<'a> {
    schedule: &'a str,
}

impl Sink for Log<'_> {
    fn update(&self, u: Update) {
        match u {
            Update::Started { id, targets, resumed } => {
                info!(schedule = self.schedule, scan = id, targets, resumed, "scan {id} started");
            }
            Update::Abandoned { grace } => {
                warn!(
                    schedule = self.schedule,
                    grace_s = grace.as_secs(),
                    "probes still running after the stop were abandoned"
                );
            }
            Update::Progress { .. } | Update::Changed(_) | Update::Assets => {}
        }
    }
}
