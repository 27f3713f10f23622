//! One scan, from request to store: authorize, run the engine through the
//! scope guard, commit what it reports as it arrives (observations first, then
//! the coverage that vouches for them), record failed units, finish the run.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use haetae_findings::audit::AuditLog;
use haetae_findings::{
    ChangeEvent, Coverage, FailedUnit, Finding, Observation, ScanRun, Selection, State, Store, Timestamp,
};
use haetae_scanner::engine::{self, CheckSelection, Outcome, Profile, ScanEvent, ScanRequest, Stop};
use haetae_scanner::guard::{GuardConfig, ScopeGuard};
use haetae_scanner::scope::Scope;
use haetae_scanner::software::SoftwareData;
use haetae_scanner::templates::TemplateSet;
use haetae_scanner::tls::handshake::TlsOptions;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// File name of the audit log inside the store directory.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// Commit observations at least this often.
const COMMIT_EVERY: Duration = Duration::from_millis(250);
/// ... or when this many are waiting.
const COMMIT_BATCH: usize = 256;
/// Failed units kept in memory for the summary (all are counted and audited).
const FAILED_KEPT: usize = 1000;

/// Refused by the scope or the authorization window (the binary exits 3).
#[derive(Debug)]
pub struct Refused(pub String);

/// A request that makes no sense, such as a `checks` glob matching nothing
/// (the binary exits 2).
#[derive(Debug)]
pub struct BadRequest(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Refused {}
impl std::fmt::Display for BadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BadRequest {}

/// What the workspace gives every scan, loaded by the caller.
pub struct ScanSetup {
    /// The store directory (the audit log lives in it).
    pub store_dir: PathBuf,
    /// The authorization.
    pub scope: Scope,
    /// The scope file's text as read (its SHA-256 identifies the engagement
    /// to workers sharing a PostgreSQL store).
    pub scope_text: String,
    /// How many workers share the scope's rate budget (a shared store).
    pub workers: u32,
    /// Name servers the guard resolves with.
    pub nameservers: Vec<SocketAddr>,
    /// Trust roots and the expiry threshold.
    pub tls: TlsOptions,
    /// The templates in force.
    pub templates: Arc<TemplateSet>,
    /// The software data (end of life, known exploited).
    pub software: Arc<SoftwareData>,
}

/// What to scan and how.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Targets; empty: the scope's seeds.
    pub targets: Vec<String>,
    /// How far the scan goes.
    pub profile: Profile,
    /// Continue the last unfinished run instead of starting one.
    pub resume: bool,
    /// Only these checks (globs); empty: every check.
    pub checks: Vec<String>,
    /// Not these checks (globs).
    pub skip_checks: Vec<String>,
    /// The `[[schedule]]` starting this run, kept on it.
    pub schedule: Option<String>,
    /// With a shared (PostgreSQL) store: split the run into units for
    /// `haetae worker`s instead of scanning here (the daemon sets it).
    pub distribute: bool,
    /// Scan as one unit of this existing run (a worker): the run is neither
    /// begun nor finished here, only written to.
    pub unit_of: Option<u64>,
}

/// What a scan did, for the summary.
pub struct ScanOutcome {
    /// The run as finished (counts, failed units, schedule).
    pub run: ScanRun,
    /// How the engine ended: complete or not, why it stopped, its counters.
    pub outcome: Outcome,
    /// The findings this run saw.
    pub seen: Vec<Finding>,
    /// Open ports found: (host, address, port).
    pub open_ports: Vec<(String, std::net::IpAddr, u16)>,
    /// Assets that changed in this run (ports, addresses, certificates,
    /// banners, hosts gone).
    pub changes: Vec<ChangeEvent>,
    /// Units that got no definite answer (the first `FAILED_KEPT`).
    pub failed: Vec<FailedUnit>,
}

/// What a running scan tells whoever started it.
#[derive(Debug, Clone)]
pub enum Update {
    /// The run is announced (after authorization, before the first probe).
    Started { id: u64, targets: usize, resumed: bool },
    /// Counters, with the time since the start.
    Progress { progress: engine::Progress, elapsed: Duration },
    /// These findings were written (new or changed).
    Changed(Vec<String>),
    /// Assets (addresses, certificates, ports) were recorded.
    Assets,
    /// Probes still running this long after the stop were abandoned.
    Abandoned { grace: Duration },
    /// An asset changed (recorded in the store as a change event).
    Change(ChangeEvent),
}

/// Where [`Update`]s go: a progress bar, the TUI, the daemon's log.
pub trait Sink: Send + Sync {
    /// Called from the scan's task; must not block for long.
    fn update(&self, u: Update);
}

/// A sink that drops everything.
impl Sink for () {
    fn update(&self, _: Update) {}
}

/// Refuse outside the window or for out-of-scope targets; the targets to
/// scan (the seeds when none are given).
pub fn authorize(scope: &Scope, targets: &[String], now: Timestamp) -> Result<Vec<String>> {
    let window = scope.window(now);
    if !window.allowed {
        return Err(anyhow!(Refused(format!("scan refused: {}", window.reason))));
    }
    let targets = if targets.is_empty() { scope.seeds.clone() } else { targets.to_vec() };
    let refused: Vec<String> = targets
        .iter()
        .filter_map(|t| {
            let (_, d) = scope.check_target(t);
            (!d.allowed).then(|| format!("{t}: {}", d.reason))
        })
        .collect();
    if !refused.is_empty() {
        return Err(anyhow!(Refused(format!("scan refused, target(s) out of scope:\n  {}", refused.join("\n  ")))));
    }
    Ok(targets)
}

/// Run one scan into an open store and commit it. Cancelling `cancel` stops
/// it: in-flight probes get a grace period, then what arrived is committed and
/// the run is left incomplete (it closes nothing; `resume` continues it).
pub async fn run_scan(
    store: &Store,
    setup: ScanSetup,
    opts: &ScanOptions,
    cancel: CancellationToken,
    sink: &dyn Sink,
) -> Result<ScanOutcome> {
    if opts.distribute && store.is_shared() && opts.unit_of.is_none() {
        return crate::queue::run_distributed(store, setup, opts, cancel, sink).await;
    }
    let ScanSetup { store_dir, scope, nameservers, tls, templates, software, scope_text: _, workers: _ } = setup;
    let targets = authorize(&scope, &opts.targets, Timestamp::now())?;
    let audit = AuditLog::shared(&store_dir.join(AUDIT_FILE))?;
    // The checks to run: every built-in id and template id is known.
    let known: Vec<&str> = haetae_findings::CheckId::BUILTIN
        .iter()
        .map(|c| c.as_str())
        .chain(templates.templates().iter().map(|t| t.id.as_str()))
        .collect();
    let select = |checks: &[String], skip: &[String]| {
        CheckSelection::new(checks, skip, &known)
            .map_err(|e| anyhow!(BadRequest(format!("--checks/--skip-checks: {e}"))))
    };
    let (run, skip, checks) = if let Some(id) = opts.unit_of {
        (store.scan(id)?, HashSet::new(), select(&opts.checks, &opts.skip_checks)?)
    } else if opts.resume {
        let Some(run) = store.unfinished_scan()? else {
            bail!("nothing to resume: the last scan in {} completed", store_dir.display());
        };
        let skip: HashSet<engine::Unit> =
            store.covered(run.id)?.into_iter().map(|c| (c.check, c.host, c.port)).collect();
        // A resumed scan runs the checks it was started with.
        let checks = select(&run.checks, &run.skip_checks)?;
        (run, skip, checks)
    } else {
        let checks = select(&opts.checks, &opts.skip_checks)?;
        let run =
            store.begin_scan_scheduled(targets.clone(), &opts.checks, &opts.skip_checks, opts.schedule.as_deref())?;
        (run, HashSet::new(), checks)
    };
    let targets = if opts.resume && !run.targets.is_empty() { run.targets.clone() } else { targets };

    let guard = Arc::new(ScopeGuard::new(GuardConfig {
        scope: Arc::new(scope),
        nameservers,
        audit: audit.clone(),
        clock: Arc::new(Timestamp::now),
    })?);
    sink.update(Update::Started { id: run.id, targets: targets.len(), resumed: opts.resume });
    let (tx, mut rx) = mpsc::channel::<ScanEvent>(1024);
    let earlier_addresses = store.earlier_addresses()?;
    let request = ScanRequest {
        targets,
        profile: opts.profile,
        skip,
        tls,
        templates: Some(templates),
        software: Some(software),
        earlier_addresses,
        checks,
    };
    let engine = tokio::spawn(engine::run(guard.clone(), request, tx, cancel.clone()));

    let started = Instant::now();
    let mut assets_changed = false;
    let mut pending = Pending::default();
    let mut failed: Vec<FailedUnit> = Vec::new();
    let mut open_ports = Vec::new();
    let mut changes = Vec::new();
    let mut last_commit = Instant::now();
    let mut failure: Option<anyhow::Error> = None;
    // Once stopped (Ctrl-C, SIGTERM, the TUI, the daemon), in-flight probes
    // get a grace period to end; then the engine is dropped and what arrived
    // is committed.
    let grace_period = grace(guard.timeout());
    let grace = async {
        cancel.cancelled().await;
        tokio::time::sleep(grace_period).await;
    };
    tokio::pin!(grace);
    let mut abandoned = false;
    let mut last_progress = engine::Progress::default();
    loop {
        let ev = tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => ev,
                None => break,
            },
            _ = &mut grace => {
                engine.abort();
                abandoned = true;
                break;
            }
        };
        match ev {
            ScanEvent::Found(o) => pending.obs.push(*o),
            ScanEvent::Covered(c) => pending.cov.push(c),
            ScanEvent::PortClosed { host, port } => pending.closed.push((host, port)),
            ScanEvent::Failed(u) => {
                if failed.len() < FAILED_KEPT {
                    failed.push(u.clone());
                }
                pending.failed.push(u);
            }
            ScanEvent::OpenPort { .. }
            | ScanEvent::Resolved { .. }
            | ScanEvent::Certificate { .. }
            | ScanEvent::Banner { .. } => {
                assets_changed = true;
                let r = match ev {
                    ScanEvent::OpenPort { host, addr, port } => {
                        let r = store.observe_open_port(Some(run.id), &host, addr, port);
                        open_ports.push((host, addr, port));
                        r
                    }
                    ScanEvent::Resolved { host, addrs } => store.observe_addresses(Some(run.id), &host, &addrs),
                    ScanEvent::Certificate { host, port, sha256, not_after } => {
                        store.observe_certificate(Some(run.id), &host, port, &sha256, not_after)
                    }
                    ScanEvent::Banner { host, port, banner } => {
                        store.observe_banner(Some(run.id), &host, port, &banner)
                    }
                    _ => Ok(None),
                };
                if let Err(e) = r.map(|change| {
                    if let Some(c) = &change {
                        sink.update(Update::Change(c.clone()));
                    }
                    changes.extend(change);
                }) {
                    failure = Some(e.into());
                    cancel.cancel();
                    break;
                }
            }
            ScanEvent::Progress(p) => {
                last_progress = p;
                sink.update(Update::Progress { progress: p, elapsed: started.elapsed() });
            }
        }
        if pending.obs.len() >= COMMIT_BATCH || last_commit.elapsed() >= COMMIT_EVERY {
            match commit(store, &audit, run.id, &mut pending) {
                Ok(ids) if !ids.is_empty() => sink.update(Update::Changed(ids)),
                Ok(_) => {}
                Err(e) => {
                    failure = Some(e);
                    cancel.cancel();
                    break;
                }
            }
            if std::mem::take(&mut assets_changed) {
                sink.update(Update::Assets);
            }
            last_commit = Instant::now();
        }
    }
    // Stop listening before waiting: an engine blocked on a full channel then
    // sees it closed and winds down.
    drop(rx);
    let joined = engine.await;
    // Whatever happened, commit what was found: observations first, then the
    // coverage that vouches for them.
    let ids = commit(store, &audit, run.id, &mut pending)?;
    sink.update(Update::Changed(ids));
    let outcome = match joined {
        Ok(outcome) => outcome,
        Err(_) if abandoned => {
            sink.update(Update::Abandoned { grace: grace_period });
            Outcome { complete: false, stop: Some(Stop::Cancelled), progress: last_progress }
        }
        Err(e) => {
            // A panic outside any probe unit (those become failed units):
            // what was found is committed; the run closes nothing.
            if opts.unit_of.is_none() {
                store.finish_scan(run.id, false)?;
            }
            audit.sync()?;
            let why = if e.is_panic() { engine::panic_message(e.into_panic()) } else { e.to_string() };
            bail!(
                "the scan engine stopped on an internal error ({why}); what scan {} found is committed and it closed nothing. Run `haetae scan --resume` to continue",
                run.id
            );
        }
    };
    if let Some(e) = failure {
        return Err(e);
    }
    if opts.unit_of.is_some() {
        // A unit: the run is finished by whoever split it, once every unit is in.
        audit.sync()?;
        let run = store.scan(run.id)?;
        return Ok(ScanOutcome { run, outcome, seen: Vec::new(), open_ports, changes, failed });
    }
    let run = store.finish_scan(run.id, outcome.complete)?;
    audit.sync()?;
    let seen: Vec<Finding> = store
        .list(&Selection::States(State::ALL.to_vec()))?
        .findings
        .into_iter()
        .filter(|f| f.last_scan == Some(run.id))
        .collect();
    // With the ports closed and hosts gone that finishing the run decided.
    let all = store.changes_of_scan(run.id)?;
    // The ports closed and hosts gone are known only now: streamed now.
    for c in all.iter().filter(|c| !changes.contains(c)) {
        sink.update(Update::Change(c.clone()));
    }
    changes = all;
    Ok(ScanOutcome { run, outcome, seen, open_ports, changes, failed })
}

/// How long probes in flight may go on after a stop: one exchange's deadline
/// and a margin, at least two seconds.
fn grace(timeout: Duration) -> Duration {
    timeout.saturating_add(Duration::from_secs(1)).max(Duration::from_secs(2))
}

/// What the engine reported and is not committed yet.
#[derive(Default)]
struct Pending {
    obs: Vec<Observation>,
    cov: Vec<Coverage>,
    closed: Vec<(String, u16)>,
    failed: Vec<FailedUnit>,
}

/// Commit what is pending; returns the ids of the findings written.
fn commit(store: &Store, audit: &AuditLog, scan: u64, p: &mut Pending) -> Result<Vec<String>> {
    let Pending { obs, cov, closed, failed } = p;
    // The audit records behind the observations reach disk first.
    audit.sync()?;
    let mut ids = Vec::new();
    if !obs.is_empty() {
        ids = store.upsert_batch(Some(scan), obs)?.into_iter().map(|(id, _)| id).collect();
        obs.clear();
    }
    if !cov.is_empty() {
        store.cover(scan, cov)?;
        cov.clear();
    }
    if !closed.is_empty() {
        store.cover_closed_ports(scan, closed)?;
        closed.clear();
    }
    if !failed.is_empty() {
        store.record_failed(scan, failed)?;
        failed.clear();
    }
    Ok(ids)
}
