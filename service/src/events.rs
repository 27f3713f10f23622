//! The live event stream: what a running daemon (or a plain `haetae scan`)
//! tells every listener at once, the API's Server-Sent Events and the TUI
//! among them. A listener that falls behind loses the oldest events and is
//! told how many (it reloads); a scan never waits for a slow listener.

use haetae_findings::{ChangeEvent, ScanCounts};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::scan::{Sink, Update};

/// Events kept for a slow listener before the oldest are dropped.
const BACKLOG: usize = 1024;

/// One thing that happened, as sent on the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A scan started (after authorization, before the first probe).
    ScanStarted {
        /// Scan id.
        id: u64,
        /// The `[[schedule]]` that started it, if any.
        schedule: Option<String>,
        /// How many targets it was given.
        targets: usize,
        /// It continues a run that was cut off.
        resumed: bool,
        /// The API request that asked for it (`POST /v1/scans`), if any.
        request: Option<u64>,
    },
    /// Counters of the running scan.
    ScanProgress {
        /// Scan id.
        id: u64,
        /// Hosts done.
        hosts_done: u64,
        /// Hosts known.
        hosts: u64,
        /// Ports done.
        ports_done: u64,
        /// Ports to try.
        ports_total: u64,
        /// Open ports found.
        open_ports: u64,
        /// Requests sent.
        requests: u64,
        /// Observations reported.
        findings: u64,
        /// Time since the start (ms).
        elapsed_ms: u64,
    },
    /// A scan ended.
    ScanFinished {
        /// Scan id.
        id: u64,
        /// The `[[schedule]]` that started it, if any.
        schedule: Option<String>,
        /// It ran to the end (only then does it close anything).
        complete: bool,
        /// One line: how it ended.
        summary: String,
        /// New, seen, fixed, reopened.
        counts: ScanCounts,
        /// The API request that asked for it, if any.
        request: Option<u64>,
    },
    /// A scan could not run or stopped on an error.
    ScanFailed {
        /// The `[[schedule]]`, if any.
        schedule: Option<String>,
        /// Why, in words.
        error: String,
        /// The API request that asked for it, if any.
        request: Option<u64>,
    },
    /// These findings were written (new, changed, triaged, re-scored).
    FindingsChanged {
        /// Their ids.
        ids: Vec<String>,
    },
    /// Assets (addresses, certificates, ports, banners) were recorded.
    AssetsChanged,
    /// An asset changed: a port opened, a certificate was swapped...
    Change {
        /// The stored change event.
        change: ChangeEvent,
    },
    /// The authorization window: when it closes, or that it has.
    Window {
        /// The schedule concerned.
        schedule: String,
        /// What is happening, in words.
        message: String,
        /// When (UTC).
        at: String,
    },
}

impl Event {
    /// A running scan's counters as an event.
    pub fn progress(id: u64, p: &haetae_scanner::engine::Progress, elapsed: std::time::Duration) -> Event {
        Event::ScanProgress {
            id,
            hosts_done: p.hosts_done,
            hosts: p.hosts,
            ports_done: p.ports_done,
            ports_total: p.ports_total,
            open_ports: p.open_ports,
            requests: p.requests,
            findings: p.findings,
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// The counters of a [`Event::ScanProgress`] (scan id, counters, time
    /// since the start); `None` for any other event.
    pub fn as_progress(&self) -> Option<(u64, haetae_scanner::engine::Progress, std::time::Duration)> {
        match *self {
            Event::ScanProgress {
                id,
                hosts_done,
                hosts,
                ports_done,
                ports_total,
                open_ports,
                requests,
                findings,
                elapsed_ms,
            } => Some((
                id,
                haetae_scanner::engine::Progress {
                    hosts,
                    hosts_done,
                    ports_total,
                    ports_done,
                    open_ports,
                    requests,
                    findings,
                    failed: 0,
                },
                std::time::Duration::from_millis(elapsed_ms),
            )),
            _ => None,
        }
    }

    /// The SSE event name (`event:` line).
    pub fn name(&self) -> &'static str {
        match self {
            Event::ScanStarted { .. } => "scan-started",
            Event::ScanProgress { .. } => "scan-progress",
            Event::ScanFinished { .. } => "scan-finished",
            Event::ScanFailed { .. } => "scan-failed",
            Event::FindingsChanged { .. } => "findings-changed",
            Event::AssetsChanged => "assets-changed",
            Event::Change { .. } => "change",
            Event::Window { .. } => "window",
        }
    }
}

/// The stream's sending side; clone it freely.
#[derive(Debug, Clone)]
pub struct Events {
    tx: broadcast::Sender<Event>,
}

impl Default for Events {
    fn default() -> Self {
        Events { tx: broadcast::channel(BACKLOG).0 }
    }
}

impl Events {
    /// Tell every listener; nobody listening is fine.
    pub fn send(&self, e: Event) {
        let _ = self.tx.send(e);
    }

    /// A new listener, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// How many listen.
    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// A [`Sink`] that forwards a scan's updates to the stream (and to another
/// sink: the progress bar, the TUI, the daemon's log).
pub struct Forward<'a> {
    /// The stream.
    pub events: &'a Events,
    /// The scan's id once it started (set from `Update::Started`).
    pub id: std::sync::atomic::AtomicU64,
    /// The schedule starting the run, if any.
    pub schedule: Option<String>,
    /// The API request that asked for the run, if any.
    pub request: Option<u64>,
    /// Told which scan runs.
    pub hub: Option<&'a crate::hub::Hub>,
    /// Also told everything.
    pub also: &'a dyn Sink,
}

impl<'a> Forward<'a> {
    /// Forward to `events` and `also`.
    pub fn new(events: &'a Events, schedule: Option<String>, also: &'a dyn Sink) -> Forward<'a> {
        Forward { events, id: std::sync::atomic::AtomicU64::new(0), schedule, request: None, hub: None, also }
    }
}

impl Sink for Forward<'_> {
    fn update(&self, u: Update) {
        use std::sync::atomic::Ordering;
        let e = match &u {
            Update::Started { id, targets, resumed } => {
                self.id.store(*id, Ordering::Relaxed);
                if let Some(hub) = self.hub {
                    hub.set_running(*id);
                }
                Some(Event::ScanStarted {
                    id: *id,
                    schedule: self.schedule.clone(),
                    targets: *targets,
                    resumed: *resumed,
                    request: self.request,
                })
            }
            Update::Progress { progress: p, elapsed } => {
                Some(Event::progress(self.id.load(Ordering::Relaxed), p, *elapsed))
            }
            Update::Changed(ids) if !ids.is_empty() => Some(Event::FindingsChanged { ids: ids.clone() }),
            Update::Changed(_) | Update::Abandoned { .. } => None,
            Update::Assets => Some(Event::AssetsChanged),
            Update::Change(c) => Some(Event::Change { change: c.clone() }),
        };
        if let Some(e) = e {
            self.events.send(e);
        }
        self.also.update(u);
    }
}

/// One line on how a scan ended, as `haetae scan` and the TUI print it.
pub fn summary_line(id: u64, complete: bool, stopped: bool, c: &ScanCounts) -> String {
    let how = match (stopped, complete) {
        (true, _) => "stopped (run `haetae scan --resume` to finish it)",
        (false, true) => "complete",
        (false, false) => "incomplete",
    };
    let still_open = c.seen.saturating_sub(c.reopened);
    format!("scan {id} {how}: {} new, {still_open} still open, {} fixed, {} reopened", c.new, c.fixed, c.reopened)
}
