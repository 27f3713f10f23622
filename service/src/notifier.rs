//! Notifications: after each run, what `[notify] on` asks for (new findings
//! by priority, regressions, SLA breaches, change events, failed runs)
//! becomes one digest per run (or one message per event) queued in the
//! store's outbox for every configured channel ([`enqueue_after_run`]); a
//! delivery task ([`run_deliveries`]) sends what is due, retries failures
//! with backoff (30 s doubling, capped at an hour) and, at start, retries
//! what an earlier process left. Nothing undelivered is ever dropped.
//!
//! Notification traffic is not a scan: it never passes the scope guard and
//! goes only to the endpoints of `[notify]`. Every attempt, delivered or
//! not, is a record of the audit log (`probe` `notify.<channel>`); without
//! a writable audit log nothing is sent.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use haetae_findings::audit::AuditLog;
use haetae_findings::{
    AuditEntry, Baseline, OutboxItem, Priority, Protocol, Selection, State, Store, Timestamp, Verdict,
};
use haetae_notify::channel::outgoing;
use haetae_notify::{Attempt, Digest, Notice, NotifyConfig, Sender, Trigger};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::scan::{AUDIT_FILE, ScanOutcome};

/// Items listed at most in one digest (the counts cover everything).
pub const DIGEST_TOP: usize = 20;

/// The longest wait of the delivery loop before it looks at the outbox again.
const NAP: Duration = Duration::from_secs(30);

/// Wakes the delivery loop when something was queued.
fn wake() -> &'static Notify {
    static WAKE: std::sync::OnceLock<Notify> = std::sync::OnceLock::new();
    WAKE.get_or_init(Notify::new)
}

/// Bumped after every recorded attempt: the API's event stream and tests
/// subscribe to learn that the outbox changed.
fn attempts_made() -> &'static tokio::sync::watch::Sender<u64> {
    static MADE: std::sync::OnceLock<tokio::sync::watch::Sender<u64>> = std::sync::OnceLock::new();
    MADE.get_or_init(|| tokio::sync::watch::channel(0).0)
}

/// A receiver that changes after each delivery attempt is recorded (in this process).
pub fn outbox_changes() -> tokio::sync::watch::Receiver<u64> {
    attempts_made().subscribe()
}

fn priority_number(p: Priority) -> u8 {
    match p {
        Priority::P1 => 1,
        Priority::P2 => 2,
        Priority::P3 => 3,
        Priority::P4 => 4,
    }
}

fn sla_key(id: &str) -> String {
    format!("sla:{id}")
}

/// What a run gives to tell, by `[notify] on`; also the SLA breaches not
/// notified before (their keys, to mark once queued).
fn notices(
    store: &Store,
    cfg: &NotifyConfig,
    run: Result<&ScanOutcome, &anyhow::Error>,
    now: Timestamp,
) -> Result<(String, Vec<Notice>, Vec<String>)> {
    let mut out = Vec::new();
    let label = match run {
        Ok(o) => {
            for f in o.seen.iter().filter(|f| !f.suppressed) {
                let asset = f.endpoint();
                match f.baseline {
                    Baseline::New if cfg.wants(&Trigger::New(priority_number(f.priority))) => {
                        out.push(Notice::NewFinding {
                            priority: priority_number(f.priority),
                            check: f.check.to_string(),
                            asset,
                        });
                    }
                    Baseline::Reopened if cfg.wants(&Trigger::Regression) => {
                        out.push(Notice::Regression { check: f.check.to_string(), asset });
                    }
                    _ => {}
                }
            }
            for c in o.changes.iter().filter(|c| cfg.wants_change(c.kind.as_str())) {
                out.push(Notice::Change { change: c.summary(), asset: c.host.clone() });
            }
            if cfg.wants(&Trigger::ScanFailed) && !o.outcome.complete {
                let why = match &o.outcome.stop {
                    None => "it did not cover everything".to_owned(),
                    Some(haetae_scanner::engine::Stop::Cancelled) => "it was stopped".to_owned(),
                    Some(haetae_scanner::engine::Stop::Window(w)) => format!("the authorization window: {w}"),
                    Some(haetae_scanner::engine::Stop::Audit(w)) => format!("the audit log could not be written: {w}"),
                };
                out.push(Notice::ScanFailed {
                    reason: format!("scan {} ended incomplete ({why}); it closed nothing", o.run.id),
                });
            }
            o.run.id.to_string()
        }
        Err(e) => {
            if cfg.wants(&Trigger::ScanFailed) {
                out.push(Notice::ScanFailed { reason: format!("{e:#}") });
            }
            "(failed)".to_owned()
        }
    };
    let mut marks = Vec::new();
    if cfg.wants(&Trigger::SlaBreach) {
        let listing = store.list(&Selection::States(vec![State::Open, State::Confirmed]))?;
        for f in listing.findings.iter().filter(|f| !f.suppressed && f.is_overdue(now)) {
            let key = sla_key(&f.id);
            if !store.was_notified(&key)? {
                out.push(Notice::SlaBreach {
                    check: f.check.to_string(),
                    asset: f.endpoint(),
                    days_open: u32::try_from(now.days_since(f.first_seen).max(0)).unwrap_or(u32::MAX),
                });
                marks.push(key);
            }
        }
    }
    Ok((label, out, marks))
}

/// Queue what a run gives to tell, for every configured channel: one digest
/// per run, or one message per event with `digest = false`. Returns the
/// number of messages queued. Call it after every run, failed ones too.
///
/// # Errors
/// The store cannot be read or written.
pub fn enqueue_after_run(
    store: &Store,
    cfg: &NotifyConfig,
    run: Result<&ScanOutcome, &anyhow::Error>,
) -> Result<usize> {
    if !cfg.has_channels() {
        return Ok(0);
    }
    let (label, notices, marks) = notices(store, cfg, run, Timestamp::now())?;
    if notices.is_empty() {
        return Ok(0);
    }
    let digests: Vec<Digest> = if cfg.digest {
        vec![Digest::build(&label, &notices, DIGEST_TOP)]
    } else {
        notices.iter().map(|n| Digest::build(&label, std::slice::from_ref(n), 1)).collect()
    };
    let mut queued = 0;
    for d in &digests {
        for o in outgoing(cfg, d) {
            store.outbox_enqueue(o.channel, &o.endpoint, &o.payload)?;
            queued += 1;
        }
    }
    // Marked once queued: a breach is told once, and a failed queueing is
    // not mistaken for a told one.
    for key in marks {
        store.notify_once(&key)?;
    }
    wake().notify_one();
    Ok(queued)
}

/// The daemon after each run: queue its notifications when the hub has
/// channels; a failure to queue is logged (the run itself is kept).
pub fn after_daemon_run(hub: &crate::hub::Hub, store: &Store, run: Result<&ScanOutcome, &anyhow::Error>) {
    if let Some(sender) = hub.notify.get()
        && let Err(e) = enqueue_after_run(store, &sender.config, run)
    {
        error!(error = %format!("{e:#}"), "cannot queue the run's notifications");
    }
}

/// The audit record of one attempt.
fn audit_entry(what: &str, a: &Attempt) -> AuditEntry {
    let outcome = match &a.result {
        Ok(said) => format!("delivered: {said}"),
        Err(why) => format!("failed: {why}; stays queued"),
    };
    AuditEntry {
        engagement: "(notification)".to_owned(),
        target: a.host.clone(),
        address: a.host.parse().ok(),
        port: a.port,
        protocol: if a.smtp { Protocol::Smtp } else { Protocol::Http },
        probe: format!("notify.{} {what}", a.channel),
        verdict: Verdict::Allowed,
        reason: format!("{} configured in [notify]: notification traffic, not a scan (no scope check)", a.endpoint),
        outcome,
    }
}

/// Send every undelivered message due at `now` (every undelivered one with
/// `ignore_backoff`, as at a start) once; a failure is retried after
/// [`haetae_notify::backoff`]. Each attempt is audited before the next
/// starts. Stops between attempts (and abandons one in flight, which stays
/// queued as it was) when `shutdown` is cancelled.
///
/// # Errors
/// The store or the audit log cannot be read or written (nothing is sent
/// without the audit log).
pub async fn deliver_due(
    store: &Store,
    sender: &Sender,
    now: Timestamp,
    ignore_backoff: bool,
    shutdown: &CancellationToken,
) -> Result<Vec<(OutboxItem, Attempt)>> {
    let due = store.outbox_due(now, ignore_backoff)?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let audit: Arc<AuditLog> = AuditLog::shared(&store.dir().join(AUDIT_FILE))?;
    let mut done = Vec::new();
    for item in due {
        let attempt = tokio::select! {
            a = sender.send(&item.channel, &item.payload) => a,
            () = shutdown.cancelled() => break,
        };
        audit.append(audit_entry(&format!("message {}", item.id), &attempt))?;
        audit.sync()?;
        let retry_at = Timestamp::from_unix(now.unix().saturating_add(
            i64::try_from(haetae_notify::backoff(item.attempts.saturating_add(1)).as_secs()).unwrap_or(3600),
        ));
        store.outbox_record(item.id, attempt.result.clone().map(|_| ()), now, retry_at)?;
        attempts_made().send_modify(|n| *n = n.wrapping_add(1));
        done.push((item, attempt));
    }
    Ok(done)
}

/// The daemon's delivery task: at start every undelivered message (left by
/// an earlier process) is tried once; then due messages are sent as they
/// come due or are queued, until `shutdown`.
pub async fn run_deliveries(store: Arc<Store>, sender: Arc<Sender>, shutdown: CancellationToken) {
    run_deliveries_with(store, sender, shutdown, Arc::new(Timestamp::now)).await;
}

/// [`run_deliveries`] with the wall clock given (tests drive time).
pub async fn run_deliveries_with(
    store: Arc<Store>,
    sender: Arc<Sender>,
    shutdown: CancellationToken,
    clock: Arc<dyn Fn() -> Timestamp + Send + Sync>,
) {
    let mut first = true;
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let mut failed = false;
        match deliver_due(&store, &sender, clock(), first, &shutdown).await {
            Ok(done) => {
                for (item, a) in done {
                    match &a.result {
                        Ok(said) => {
                            info!(channel = %a.channel, message = item.id, endpoint = %a.endpoint, "notification delivered ({said})")
                        }
                        Err(why) => {
                            warn!(channel = %a.channel, message = item.id, endpoint = %a.endpoint, attempts = item.attempts + 1, error = %why, "notification not delivered; it stays queued and is retried")
                        }
                    }
                }
            }
            Err(e) => {
                failed = true;
                error!(error = %format!("{e:#}"), "notifications cannot be delivered now; they stay queued");
            }
        }
        first = false;
        // After an error (store or audit log) wait a whole nap instead of
        // trying again at once.
        let wait = match store.outbox_next_due() {
            Ok(Some(t)) if !failed => {
                Duration::from_secs(u64::try_from(t.unix().saturating_sub(clock().unix())).unwrap_or(0)).min(NAP)
            }
            _ => NAP,
        };
        if wait.is_zero() {
            // Something is due now (queued while this pass ran).
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = wake().notified() => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// `haetae scan` without a daemon: try what is due once, within `deadline`
/// overall; what fails stays queued for the daemon or the next scan.
///
/// # Errors
/// As [`deliver_due`].
pub async fn deliver_now(store: &Store, sender: &Sender, deadline: Duration) -> Result<Vec<(OutboxItem, Attempt)>> {
    let stop = CancellationToken::new();
    let timer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(deadline).await;
            stop.cancel();
        })
    };
    let r = deliver_due(store, sender, Timestamp::now(), false, &stop).await;
    timer.abort();
    r
}

/// `haetae notify test`: one test message to every configured channel, now,
/// audited like every attempt; not queued.
///
/// # Errors
/// The audit log cannot be written.
pub async fn send_test(store_dir: &std::path::Path, sender: &Sender) -> Result<Vec<Attempt>> {
    let audit = AuditLog::shared(&store_dir.join(AUDIT_FILE))?;
    let mut out = Vec::new();
    for o in outgoing(&sender.config, &Digest::test()) {
        let a = sender.send(o.channel, &o.payload).await;
        audit.append(audit_entry("test message", &a))?;
        out.push(a);
    }
    audit.sync()?;
    Ok(out)
}
