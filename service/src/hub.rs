//! [`Hub`]: what the process holding the store (the daemon, or a plain
//! `haetae scan`) shares with its local API: the event stream, the schedules'
//! state, the scan running now, counters for `/metrics`, and (in the daemon
//! only) the way to ask for a scan now.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use haetae_scanner::engine::Profile;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::events::Events;

/// A request to scan now, sent through the API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanNow {
    /// Run this `[[schedule]]` now (its targets, profile and checks).
    pub schedule: Option<String>,
    /// Otherwise: these targets (empty: the scope's seeds)...
    pub targets: Vec<String>,
    /// ... with this profile (passive, standard, deep; default standard)...
    pub profile: Option<String>,
    /// ... only these checks (globs)...
    pub checks: Vec<String>,
    /// ... and not these.
    pub skip_checks: Vec<String>,
    /// Set by the API: the number the request's events carry.
    pub request: u64,
}

impl ScanNow {
    /// The profile asked for.
    pub fn profile(&self) -> Result<Profile, String> {
        match self.profile.as_deref().map(str::trim) {
            None | Some("" | "standard") => Ok(Profile::Standard),
            Some("passive") => Ok(Profile::Passive),
            Some("deep") => Ok(Profile::Deep),
            Some(p) => Err(format!("profile: expected passive, standard or deep, found {p:?}")),
        }
    }
}

/// One schedule as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleStatus {
    /// Its name.
    pub name: String,
    /// `every 15m` or `cron 0 3 * * * Asia/Seoul`.
    pub when: String,
    /// When it runs next (UTC), if ever.
    pub next: Option<String>,
    /// When its last run started (UTC).
    pub last_run: Option<String>,
    /// A run of it is going on.
    pub running: bool,
}

/// Counters kept for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Scans that ran to the end.
    pub scans_complete: AtomicU64,
    /// Scans that ended incomplete or stopped.
    pub scans_incomplete: AtomicU64,
    /// Scans that could not run or failed.
    pub scans_failed: AtomicU64,
    /// API requests answered.
    pub requests: AtomicU64,
    /// API requests answered with a 5xx.
    pub errors: AtomicU64,
    /// API requests refused for want of the token.
    pub unauthorized: AtomicU64,
    /// Request numbers for [`ScanNow`].
    pub next_request: AtomicU64,
}

impl Counters {
    /// Add one.
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Shared between the store's holder and its API; clone the `Arc`.
#[derive(Debug, Default)]
pub struct Hub {
    /// The live event stream.
    pub events: Events,
    /// The schedules (the daemon's; empty for a plain scan).
    pub schedules: Mutex<Vec<ScheduleStatus>>,
    /// The scan running now, if any.
    pub running: AtomicU64,
    /// For `/metrics`.
    pub counters: Counters,
    /// Where scan-now requests go (the daemon's); `None`: this process takes none.
    pub scan_now: Mutex<Option<mpsc::Sender<ScanNow>>>,
    /// What serves: `daemon` or `scan`.
    pub role: &'static str,
    /// The daemon's notification channels (`[notify]`), when any: each
    /// run's notifications are queued and delivered (see [`crate::notifier`]).
    pub notify: std::sync::OnceLock<Arc<haetae_notify::Sender>>,
}

impl Hub {
    /// A hub for `role` (`daemon` or `scan`).
    pub fn new(role: &'static str) -> Arc<Hub> {
        Arc::new(Hub { role, ..Hub::default() })
    }

    /// The scan running now.
    pub fn running(&self) -> Option<u64> {
        Some(self.running.load(Ordering::Relaxed)).filter(|&id| id != 0)
    }

    /// Record the scan running now (`0`: none).
    pub fn set_running(&self, id: u64) {
        self.running.store(id, Ordering::Relaxed);
    }

    /// Update one schedule's state.
    pub fn schedule(&self, name: &str, f: impl FnOnce(&mut ScheduleStatus)) {
        let mut all = self.schedules.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = all.iter_mut().find(|s| s.name == name) {
            f(s);
        }
    }
}

impl Hub {
    /// [`run_scan`](crate::run_scan), told to everyone: the run's updates go
    /// on the event stream (and to `also`), the running scan is known to the
    /// API, and how it ended is counted and streamed.
    pub async fn run_scan(
        &self,
        store: &haetae_findings::Store,
        setup: crate::ScanSetup,
        opts: &crate::ScanOptions,
        cancel: tokio_util::sync::CancellationToken,
        also: &dyn crate::Sink,
        request: Option<u64>,
    ) -> anyhow::Result<crate::ScanOutcome> {
        use crate::events::{Event, Forward, summary_line};
        let fwd = Forward { hub: Some(self), request, ..Forward::new(&self.events, opts.schedule.clone(), also) };
        let r = crate::run_scan(store, setup, opts, cancel, &fwd).await;
        self.set_running(0);
        let c = &self.counters;
        match &r {
            Ok(o) => {
                Counters::bump(if o.outcome.complete { &c.scans_complete } else { &c.scans_incomplete });
                self.events.send(Event::ScanFinished {
                    id: o.run.id,
                    schedule: opts.schedule.clone(),
                    complete: o.outcome.complete,
                    summary: summary_line(o.run.id, o.outcome.complete, o.outcome.stop.is_some(), &o.run.counts),
                    counts: o.run.counts,
                    request,
                });
            }
            Err(e) => {
                Counters::bump(&c.scans_failed);
                let text: Vec<String> = e.chain().map(ToString::to_string).collect();
                self.events.send(Event::ScanFailed {
                    schedule: opts.schedule.clone(),
                    error: text.join(": "),
                    request,
                });
            }
        }
        r
    }
}
