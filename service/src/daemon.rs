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

use crate::events::Event;
use crate::hub::{Counters, Hub, ScanNow, ScheduleStatus};
use crate::scan::{ScanOptions, ScanSetup, Sink, Update};
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
    hub: Arc<Hub>,
    shutdown: CancellationToken,
) -> Result<()> {
    if schedules.is_empty() {
        bail!("no [[schedule]] in haetae.toml: the daemon has nothing to run (SPEC.md, haetae.toml)");
    }
    // A run of a schedule cut off (SIGKILL, power) is resumed first.
    let interrupted = store.unfinished_scan()?.and_then(|r| r.schedule.map(|s| (s, r.id)));
    let ctx = Arc::new(Ctx {
        store: store.clone(),
        setup,
        hub: hub.clone(),
        one_at_a_time: Mutex::new(()),
        shutdown: shutdown.clone(),
    });
    {
        let mut shown = hub.schedules.lock().unwrap_or_else(|p| p.into_inner());
        for spec in &schedules {
            shown.push(ScheduleStatus {
                name: spec.name.clone(),
                when: spec.when.to_string(),
                next: None,
                last_run: last_run(&store, &spec.name)?.map(at),
                running: false,
            });
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    // Scans asked for through the API, one at a time like the rest.
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    *hub.scan_now.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    tasks.spawn(scan_now_loop(ctx.clone(), schedules.clone(), rx));
    if let Some(sender) = hub.notify.get() {
        tasks.spawn(crate::notifier::run_deliveries(store.clone(), sender.clone(), shutdown.clone()));
    }
    for spec in schedules {
        let resume = interrupted.as_ref().filter(|(s, _)| *s == spec.name).map(|(_, id)| *id);
        let last = last_run(&store, &spec.name)?;
        tasks.spawn(schedule_loop(spec, last, resume, ctx.clone()));
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

/// What every run of the daemon shares.
struct Ctx {
    store: Arc<Store>,
    setup: Arc<SetupFn>,
    hub: Arc<Hub>,
    /// Runs are one at a time (they share the store's audit chain).
    one_at_a_time: Mutex<()>,
    shutdown: CancellationToken,
}

/// Run the scans asked for through the API (`POST /v1/scans`).
async fn scan_now_loop(ctx: Arc<Ctx>, schedules: Vec<ScheduleSpec>, mut rx: tokio::sync::mpsc::Receiver<ScanNow>) {
    loop {
        let req = tokio::select! {
            r = rx.recv() => match r {
                Some(r) => r,
                None => return,
            },
            () = ctx.shutdown.cancelled() => return,
        };
        let spec = req.schedule.as_ref().and_then(|n| schedules.iter().find(|s| &s.name == n));
        let opts = match spec {
            Some(spec) => ScanOptions {
                targets: spec.targets.clone(),
                profile: spec.profile,
                resume: false,
                checks: spec.checks.clone(),
                skip_checks: Vec::new(),
                schedule: Some(spec.name.clone()),
                distribute: ctx.store.is_shared(),
                unit_of: None,
            },
            None => ScanOptions {
                targets: req.targets.clone(),
                profile: req.profile().unwrap_or_default(),
                resume: false,
                checks: req.checks.clone(),
                skip_checks: req.skip_checks.clone(),
                schedule: None,
                distribute: ctx.store.is_shared(),
                unit_of: None,
            },
        };
        let label = opts.schedule.clone().unwrap_or_else(|| "(asked through the API)".to_owned());
        info!(schedule = %label, request = req.request, "a scan was asked for through the API");
        let _ = run_once(&ctx, &label, opts, Some(req.request)).await;
    }
}

/// One run now: the workspace read afresh, the window checked, one run at a
/// time, stopped when the window closes; `None` when it did not run.
async fn run_once(ctx: &Ctx, name: &str, opts: ScanOptions, request: Option<u64>) -> Option<Window> {
    let shutdown = &ctx.shutdown;
    let fail = |error: String| {
        Counters::bump(&ctx.hub.counters.scans_failed);
        ctx.hub.events.send(Event::ScanFailed { schedule: opts.schedule.clone(), error, request });
    };
    let setup = match (ctx.setup)() {
        Ok(s) => s,
        Err(e) => {
            error!(schedule = name, error = %one_line(&e), "cannot start the run");
            fail(one_line(&e));
            return None;
        }
    };
    let (nb, na) = (setup.scope.engagement.not_before.unix(), setup.scope.engagement.not_after.unix());
    let closes = match schedule::window(now(), nb, na) {
        Window::Run { closes } => closes,
        w => {
            let why = format!("outside the authorization window ({} to {})", at(nb), at(na));
            if request.is_some() {
                // Whoever asked is waiting for an answer.
                fail(why);
            } else {
                let when = match w {
                    Window::Wait { opens } => at(opens),
                    Window::Closed { at: closed } | Window::Run { closes: closed } => at(closed),
                };
                ctx.hub.events.send(Event::Window {
                    schedule: name.to_owned(),
                    message: format!("no run: {why}"),
                    at: when,
                });
            }
            return Some(w);
        }
    };
    let guard = tokio::select! {
        g = ctx.one_at_a_time.lock() => g,
        () = shutdown.cancelled() => return None,
    };
    info!(schedule = name, window_closes = %at(closes), "run starting; the authorization window closes at {}", at(closes));
    ctx.hub.events.send(Event::Window {
        schedule: name.to_owned(),
        message: format!("the authorization window closes at {}", at(closes)),
        at: at(closes),
    });
    if let Some(s) = &opts.schedule {
        ctx.hub.schedule(s, |st| {
            st.running = true;
            st.last_run = Some(at(now()));
        });
    }
    let cancel = shutdown.child_token();
    // The run stops when the window closes, even between probes.
    let closer = {
        let cancel = cancel.clone();
        let name = name.to_owned();
        let token = shutdown.clone();
        let events = ctx.hub.events.clone();
        tokio::spawn(async move {
            if sleep_until(closes.saturating_add(1), &token).await {
                info!(schedule = %name, closed = %at(closes), "the authorization window has closed; stopping the run");
                events.send(Event::Window {
                    schedule: name.clone(),
                    message: "the authorization window has closed; the run stops".to_owned(),
                    at: at(closes),
                });
                cancel.cancel();
            }
        })
    };
    let r = ctx.hub.run_scan(&ctx.store, setup, &opts, cancel, &Log { schedule: name }, request).await;
    closer.abort();
    if let Some(s) = &opts.schedule {
        ctx.hub.schedule(s, |st| st.running = false);
    }
    drop(guard);
    log_outcome(name, &r);
    crate::notifier::after_daemon_run(&ctx.hub, &ctx.store, r.as_ref());
    Some(Window::Run { closes })
}

fn log_outcome(name: &str, r: &Result<crate::ScanOutcome>) {
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
        Err(e) => error!(schedule = name, error = %one_line(e), "run failed"),
    }
}

async fn schedule_loop(spec: ScheduleSpec, last: Option<i64>, mut resume: Option<u64>, ctx: Arc<Ctx>) {
    let shutdown = &ctx.shutdown;
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
    show_next(&ctx, name, due);
    loop {
        let Some(t) = due else {
            // Nothing ever again: wait for the shutdown.
            shutdown.cancelled().await;
            return;
        };
        if !sleep_until(t, shutdown).await {
            return;
        }
        let next = |from: i64| schedule::after_run(&spec.when, from, now(), random()).0;
        let started = now();
        let opts = ScanOptions {
            targets: spec.targets.clone(),
            profile: spec.profile,
            resume: resume.take().is_some(),
            checks: spec.checks.clone(),
            skip_checks: Vec::new(),
            schedule: Some(spec.name.clone()),
            // With a shared store the run is split among the workers.
            distribute: ctx.store.is_shared(),
            unit_of: None,
        };
        // The workspace is read at each run: an edited scope counts.
        match run_once(&ctx, name, opts, None).await {
            Some(Window::Run { .. }) => {}
            Some(Window::Wait { opens }) => {
                info!(schedule = name, opens = %at(opens), "the authorization window is not open yet; the run waits for it");
                due = Some(opens);
                show_next(&ctx, name, due);
                continue;
            }
            Some(Window::Closed { at: closed }) => {
                warn!(schedule = name, closed = %at(closed), "the authorization window has closed; no run (renew scope.toml to go on)");
                due = next(now());
                show_next(&ctx, name, due);
                continue;
            }
            None if shutdown.is_cancelled() => return,
            None => {
                due = next(t);
                show_next(&ctx, name, due);
                continue;
            }
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
        show_next(&ctx, name, due);
    }
}

/// The API's view of when `name` runs next.
fn show_next(ctx: &Ctx, name: &str, due: Option<i64>) {
    ctx.hub.schedule(name, |st| st.next = due.map(at));
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
            Update::Change(c) => {
                info!(schedule = self.schedule, host = %c.host, kind = %c.kind, before = %c.before, after = %c.after, "change");
            }
            Update::Progress { .. } | Update::Changed(_) | Update::Assets => {}
        }
    }
}
