//! `haetae scan` (and the scan half of `haetae demo`): run the engine through
//! the scope guard and commit what it reports to the store as it arrives.

use std::collections::HashSet;
use std::io::{IsTerminal as _, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use haetae_findings::audit::AuditLog;
use haetae_findings::{Coverage, FailedUnit, Finding, Observation, Priority, Selection, State, Store, Timestamp};
use haetae_scanner::engine::{self, CheckSelection, Outcome, Profile, ScanEvent, ScanRequest, Stop};
use haetae_scanner::guard::{GuardConfig, ScopeGuard};
use haetae_scanner::scope::Scope;
use haetae_scanner::tls::handshake::TlsOptions;
use haetae_tui::{Live, Progress as LiveProgress};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cli::ScanArgs;
use crate::config::Workspace;
use crate::exit::{FailOnMet, ScopeRefused, UsageError};

/// File name of the audit log inside the store directory.
pub(crate) const AUDIT_FILE: &str = "audit.jsonl";

/// Commit observations at least this often.
const COMMIT_EVERY: Duration = Duration::from_millis(250);
/// ... or when this many are waiting.
const COMMIT_BATCH: usize = 256;

/// What to scan and how.
pub(crate) struct ScanOptions {
    pub(crate) targets: Vec<String>,
    pub(crate) profile: Profile,
    pub(crate) fail_on: Option<Priority>,
    pub(crate) resume: bool,
    pub(crate) progress: bool,
    /// `--checks`: only these (globs); empty: every check.
    pub(crate) checks: Vec<String>,
    /// `--skip-checks`: not these (globs).
    pub(crate) skip_checks: Vec<String>,
}

/// What a scan did, for the summary.
pub(crate) struct Report {
    pub(crate) run: haetae_findings::ScanRun,
    pub(crate) outcome: Outcome,
    pub(crate) seen: Vec<Finding>,
    pub(crate) open_ports: Vec<(String, std::net::IpAddr, u16)>,
    pub(crate) changes: Vec<haetae_findings::ChangeEvent>,
    /// Units that got no definite answer (the first [`FAILED_KEPT`]).
    pub(crate) failed: Vec<FailedUnit>,
}

/// Failed units kept in memory for the summary (all are counted and audited).
const FAILED_KEPT: usize = 1000;
/// Failed units listed in the summary.
const FAILED_SHOWN: usize = 20;

pub(crate) fn run(ws: &Workspace, args: ScanArgs) -> Result<()> {
    let profile = match args.profile.as_deref() {
        None => Profile::Standard,
        Some(p) => p.parse().map_err(|e: String| anyhow!(UsageError(format!("--profile: {e}"))))?,
    };
    let fail_on = match &args.fail_on {
        None => None,
        Some(p) => Some(p.parse::<Priority>().map_err(|e| anyhow!(UsageError(format!("--fail-on: {e}"))))?),
    };
    let opts = ScanOptions {
        targets: args.targets,
        profile,
        fail_on,
        resume: args.resume,
        progress: std::io::stderr().is_terminal(),
        checks: args.checks,
        skip_checks: args.skip_checks,
    };
    let rt = runtime()?;
    let report = rt.block_on(scan(ws, &opts))?;
    let mut out = std::io::stdout().lock();
    print_summary(&mut out, &report)?;
    finish(&report, opts.fail_on)
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

/// Turn how the scan ended into the exit code (after everything is committed).
pub(crate) fn finish(report: &Report, fail_on: Option<Priority>) -> Result<()> {
    match &report.outcome.stop {
        Some(Stop::Window(why)) => {
            return Err(anyhow!(ScopeRefused(format!("scan stopped: {why}; findings so far are committed"))));
        }
        Some(Stop::Cancelled) => bail!(
            "scan {} interrupted; what it found is committed. Run `haetae scan --resume` to continue",
            report.run.id
        ),
        Some(Stop::Audit(why)) => bail!("scan {} stopped: the audit log could not be written ({why})", report.run.id),
        None => {}
    }
    if let Some(p) = fail_on {
        let hits = report.seen.iter().filter(|f| f.state.is_active() && f.priority <= p && !f.suppressed).count();
        if hits > 0 {
            return Err(anyhow!(FailOnMet(format!("{hits} open finding(s) at {p} or above"))));
        }
    }
    Ok(())
}

/// The name servers to use: configured, else the system's resolv.conf.
pub(crate) fn nameservers(ws: &Workspace) -> Result<Vec<SocketAddr>> {
    if !ws.nameservers.is_empty() {
        return Ok(ws.nameservers.clone());
    }
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let found: Vec<SocketAddr> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    if found.is_empty() {
        bail!("no name server: set [resolver] nameservers in haetae.toml or pass --resolver IP:PORT");
    }
    Ok(found)
}

/// Load the scope, refuse outside the window or for out-of-scope targets (exit 3).
pub(crate) fn authorize(ws: &Workspace, targets: &[String]) -> Result<(Scope, Vec<String>)> {
    let scope = Scope::load(&ws.scope)?;
    let window = scope.window(Timestamp::now());
    if !window.allowed {
        return Err(anyhow!(ScopeRefused(format!("scan refused: {}", window.reason))));
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
        return Err(anyhow!(ScopeRefused(format!(
            "scan refused, target(s) out of scope:\n  {}",
            refused.join("\n  ")
        ))));
    }
    Ok((scope, targets))
}

/// How a scan talks to whoever started it, besides its report.
#[derive(Default)]
pub(crate) struct Hooks {
    /// Live updates for the TUI; when set, nothing is written to stderr.
    pub(crate) live: Option<std::sync::mpsc::Sender<Live>>,
    /// Cancelled by the caller (the TUI's quit); Ctrl-C and SIGTERM cancel it too.
    pub(crate) cancel: CancellationToken,
}

impl Hooks {
    fn send(&self, ev: Live) {
        if let Some(tx) = &self.live {
            // A TUI that has quit no longer listens; the scan goes on.
            let _ = tx.send(ev);
        }
    }
}

/// Run one scan of the workspace and commit it.
pub(crate) async fn scan(ws: &Workspace, opts: &ScanOptions) -> Result<Report> {
    let store = Store::open(&ws.store, super::prioritizer(ws)?)?;
    scan_with(ws, opts, &store, &Hooks::default()).await
}

/// Run one scan into an open store.
pub(crate) async fn scan_with(ws: &Workspace, opts: &ScanOptions, store: &Store, hooks: &Hooks) -> Result<Report> {
    let (scope, targets) = authorize(ws, &opts.targets)?;
    let nameservers = nameservers(ws)?;
    let tls = TlsOptions::new(&ws.extra_roots, ws.expiring_days).context("[tls] extra_roots / --ca-cert")?;
    let audit = Arc::new(AuditLog::open(&ws.store.join(AUDIT_FILE))?);

    let templates = Arc::new(super::templates::load(ws)?);
    let software = Arc::new(super::data::load(ws)?);
    // The checks to run: every built-in id and template id is known.
    let known: Vec<&str> = haetae_findings::CheckId::BUILTIN
        .iter()
        .map(|c| c.as_str())
        .chain(templates.templates().iter().map(|t| t.id.as_str()))
        .collect();
    let select = |checks: &[String], skip: &[String]| {
        CheckSelection::new(checks, skip, &known)
            .map_err(|e| anyhow!(UsageError(format!("--checks/--skip-checks: {e}"))))
    };
    let (run, skip, checks) = if opts.resume {
        let Some(run) = store.unfinished_scan()? else {
            bail!("nothing to resume: the last scan in {} completed", ws.store.display());
        };
        let skip: HashSet<engine::Unit> =
            store.covered(run.id)?.into_iter().map(|c| (c.check, c.host, c.port)).collect();
        // A resumed scan runs the checks it was started with.
        let checks = select(&run.checks, &run.skip_checks)?;
        (run, skip, checks)
    } else {
        let checks = select(&opts.checks, &opts.skip_checks)?;
        let run = store.begin_scan_selected(targets.clone(), &opts.checks, &opts.skip_checks)?;
        (run, skip_none(), checks)
    };
    let targets = if opts.resume && !run.targets.is_empty() { run.targets.clone() } else { targets };

    let guard = Arc::new(ScopeGuard::new(GuardConfig {
        scope: Arc::new(scope),
        nameservers,
        audit: audit.clone(),
        clock: Arc::new(Timestamp::now),
    })?);
    let cancel = hooks.cancel.clone();
    // Handlers are installed before the scan is announced, so a Ctrl-C at any
    // moment after that stops it cleanly.
    let mut sigint = signal(SignalKind::interrupt()).context("cannot install the Ctrl-C handler")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let ctrl_c = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = sigint.recv() => {}
                _ = sigterm.recv() => {}
            }
            cancel.cancel();
        })
    };
    hooks.send(Live::Started { id: run.id, targets: targets.len() });
    if hooks.live.is_none() {
        let mut err = std::io::stderr().lock();
        let verb = if opts.resume { "resumed" } else { "started" };
        let _ = writeln!(
            err,
            "haetae: scan {} {verb} ({} target(s)); Ctrl-C stops it and keeps what it found",
            run.id,
            targets.len()
        );
    }
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

    let bar = progress_bar(opts.progress && hooks.live.is_none());
    let started = Instant::now();
    let mut assets_changed = false;
    let mut pending = Pending::default();
    let mut failed: Vec<FailedUnit> = Vec::new();
    let mut open_ports = Vec::new();
    let mut changes = Vec::new();
    let mut last_commit = Instant::now();
    let mut failure: Option<anyhow::Error> = None;
    // Once stopped (Ctrl-C, SIGTERM, the TUI), in-flight probes get a grace
    // period to end; then the engine is dropped and what arrived is committed.
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
                if let Err(e) = r.map(|change| changes.extend(change)) {
                    failure = Some(e.into());
                    cancel.cancel();
                    break;
                }
            }
            ScanEvent::Progress(p) => {
                last_progress = p;
                hooks.send(Live::Progress(LiveProgress {
                    hosts_done: p.hosts_done,
                    hosts: p.hosts,
                    ports_done: p.ports_done,
                    ports_total: p.ports_total,
                    open_ports: p.open_ports,
                    requests: p.requests,
                    findings: p.findings,
                    elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                }));
                if let Some(bar) = &bar {
                    bar.set_length(p.hosts + p.ports_total);
                    bar.set_position(p.hosts_done + p.ports_done);
                    bar.set_message(format!(
                        "hosts {}/{}  ports {}/{} ({} open)  requests {}  findings {}",
                        p.hosts_done, p.hosts, p.ports_done, p.ports_total, p.open_ports, p.requests, p.findings
                    ));
                }
            }
        }
        if pending.obs.len() >= COMMIT_BATCH || last_commit.elapsed() >= COMMIT_EVERY {
            match commit(store, &audit, run.id, &mut pending) {
                Ok(ids) if !ids.is_empty() => hooks.send(Live::Changed(ids)),
                Ok(_) => {}
                Err(e) => {
                    failure = Some(e);
                    cancel.cancel();
                    break;
                }
            }
            if std::mem::take(&mut assets_changed) {
                hooks.send(Live::Assets);
            }
            last_commit = Instant::now();
        }
    }
    // Stop listening before waiting: an engine blocked on a full channel then
    // sees it closed and winds down.
    drop(rx);
    let joined = engine.await;
    ctrl_c.abort();
    // Whatever happened, commit what was found: observations first, then the
    // coverage that vouches for them.
    let ids = commit(store, &audit, run.id, &mut pending)?;
    hooks.send(Live::Changed(ids));
    let outcome = match joined {
        Ok(outcome) => outcome,
        Err(_) if abandoned => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "haetae: probes still running {} s after the stop were abandoned",
                grace_period.as_secs()
            );
            Outcome { complete: false, stop: Some(Stop::Cancelled), progress: last_progress }
        }
        Err(e) => {
            // A panic outside any probe unit (those become failed units):
            // what was found is committed; the run closes nothing.
            store.finish_scan(run.id, false)?;
            audit.sync()?;
            let why = if e.is_panic() { haetae_scanner::engine::panic_message(e.into_panic()) } else { e.to_string() };
            bail!(
                "the scan engine stopped on an internal error ({why}); what scan {} found is committed and it closed nothing. Run `haetae scan --resume` to continue",
                run.id
            );
        }
    };
    if let Some(e) = failure {
        return Err(e);
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
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
    changes = store.changes_of_scan(run.id)?;
    Ok(Report { run, outcome, seen, open_ports, changes, failed })
}

/// How long probes in flight may go on after a stop: one exchange's deadline
/// and a margin, at least two seconds.
fn grace(timeout: Duration) -> Duration {
    timeout.saturating_add(Duration::from_secs(1)).max(Duration::from_secs(2))
}

fn skip_none() -> HashSet<engine::Unit> {
    HashSet::new()
}

/// Commit what is pending; returns the ids of the findings written.
/// What the engine reported and is not committed yet.
#[derive(Default)]
struct Pending {
    obs: Vec<Observation>,
    cov: Vec<Coverage>,
    closed: Vec<(String, u16)>,
    failed: Vec<FailedUnit>,
}

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

fn progress_bar(enabled: bool) -> Option<ProgressBar> {
    if !enabled {
        return None;
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

/// What a scan changed: `N new, N still open, N fixed, N reopened`.
pub(crate) fn counts_line(c: &haetae_findings::ScanCounts) -> String {
    let still_open = c.seen.saturating_sub(c.reopened);
    format!("{} new, {still_open} still open, {} fixed, {} reopened", c.new, c.fixed, c.reopened)
}

/// new / still open / fixed / reopened, then the findings of this scan by priority.
pub(crate) fn print_summary(out: &mut impl Write, r: &Report) -> std::io::Result<()> {
    let state = if r.outcome.complete { "complete" } else { "incomplete (nothing was closed)" };
    writeln!(out, "scan {} {state}: {}", r.run.id, counts_line(&r.run.counts))?;
    let p = &r.outcome.progress;
    writeln!(
        out,
        "  {} host(s), {} port(s) tried, {} open, {} request(s)",
        p.hosts, p.ports_done, p.open_ports, p.requests
    )?;
    write_failed(out, r.run.failed_total.max(r.failed.len() as u64), &r.failed)?;
    for line in open_port_lines(&r.open_ports) {
        writeln!(out, "  {line}")?;
    }
    for c in &r.changes {
        writeln!(out, "  changed: {}", c.summary())?;
    }
    let mut seen = r.seen.clone();
    super::findings::sort(&mut seen);
    let counts: Vec<String> =
        Priority::ALL.iter().map(|pr| format!("{pr}: {}", seen.iter().filter(|f| f.priority == *pr).count())).collect();
    writeln!(out, "  findings seen: {} [{}]", seen.len(), counts.join(", "))?;
    for f in &seen {
        writeln!(out, "  {}  {}  {:<28} {:<28} {}", f.id, f.priority, f.check.as_str(), f.endpoint(), f.title)?;
    }
    Ok(())
}

/// `N unit(s) failed (...)`, then the first [`FAILED_SHOWN`] of them.
pub(crate) fn write_failed(out: &mut impl Write, total: u64, failed: &[FailedUnit]) -> std::io::Result<()> {
    if total == 0 {
        return Ok(());
    }
    writeln!(out, "  {total} unit(s) failed: no definite answer, so they covered nothing and closed nothing:")?;
    for u in failed.iter().take(FAILED_SHOWN) {
        writeln!(out, "    {u}")?;
    }
    let shown = failed.len().min(FAILED_SHOWN) as u64;
    if total > shown {
        writeln!(out, "    +{} more (every one is in the audit log, outcome \"failed: ...\")", total - shown)?;
    }
    Ok(())
}

/// Most open ports listed on one host's line of the summary.
const PORTS_PER_HOST: usize = 20;
/// Most host lines in the summary's open ports.
const HOST_LINES: usize = 50;

/// The open ports of the summary: a heading, then one line per host and
/// address with its ports in order, each capped at [`PORTS_PER_HOST`] ports
/// and the list at [`HOST_LINES`] hosts, the rest counted as "+N more".
/// `haetae findings` and the TUI's Assets view have them all.
fn open_port_lines(open: &[(String, std::net::IpAddr, u16)]) -> Vec<String> {
    let mut by_host: std::collections::BTreeMap<(&str, std::net::IpAddr), std::collections::BTreeSet<u16>> =
        std::collections::BTreeMap::new();
    for (host, addr, port) in open {
        by_host.entry((host.as_str(), *addr)).or_default().insert(*port);
    }
    if by_host.is_empty() {
        return Vec::new();
    }
    let ports: usize = by_host.values().map(std::collections::BTreeSet::len).sum();
    let mut lines = vec![format!("open ports: {ports} on {} host(s)", by_host.len())];
    for ((host, addr), ports) in by_host.iter().take(HOST_LINES) {
        let mut shown: Vec<String> = ports.iter().take(PORTS_PER_HOST).map(u16::to_string).collect();
        if ports.len() > PORTS_PER_HOST {
            shown.push(format!("+{} more", ports.len() - PORTS_PER_HOST));
        }
        let name = if host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip == *addr) {
            host.to_string()
        } else {
            format!("{host} ({addr})")
        };
        lines.push(format!("  {name}: {}", shown.join(", ")));
    }
    if by_host.len() > HOST_LINES {
        lines.push(format!("  +{} more hosts", by_host.len() - HOST_LINES));
    }
    lines
}

#[cfg(test)]
mod summary_tests {
    use std::net::IpAddr;

    use super::{HOST_LINES, PORTS_PER_HOST, open_port_lines};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn open_ports_are_one_line_per_host_in_port_order() {
        assert!(open_port_lines(&[]).is_empty());
        let open = vec![
            ("www.agency.test".to_owned(), ip("127.77.1.20"), 8080),
            ("www.agency.test".to_owned(), ip("127.77.1.20"), 443),
            ("www.agency.test".to_owned(), ip("127.77.1.20"), 80),
            ("www.agency.test".to_owned(), ip("127.77.1.20"), 443),
            ("127.77.1.9".to_owned(), ip("127.77.1.9"), 22),
        ];
        assert_eq!(
            open_port_lines(&open),
            ["open ports: 4 on 2 host(s)", "  127.77.1.9: 22", "  www.agency.test (127.77.1.20): 80, 443, 8080",]
        );
    }

    #[test]
    fn ports_and_hosts_are_capped_with_a_count_of_the_rest() {
        // 60 hosts with 1,000 ports each: the 40 KB line of issue 13.
        let open: Vec<(String, IpAddr, u16)> = (0..60u16)
            .flat_map(|h| (1..=1000u16).map(move |p| (format!("h{h:02}.agency.test"), ip("127.77.2.1"), p)))
            .collect();
        let lines = open_port_lines(&open);
        assert_eq!(lines.len(), 1 + HOST_LINES + 1);
        assert_eq!(lines[0], "open ports: 60000 on 60 host(s)");
        let first = &lines[1];
        assert!(first.starts_with("  h00.agency.test (127.77.2.1): 1, 2, 3,"), "{first}");
        assert!(first.ends_with(&format!("{PORTS_PER_HOST}, +{} more", 1000 - PORTS_PER_HOST)), "{first}");
        assert_eq!(lines.last().map(String::as_str), Some("  +10 more hosts"));
        assert!(lines.iter().all(|l| l.len() < 200), "{lines:?}");
        // Exactly at the caps: nothing is counted as more.
        let open: Vec<(String, IpAddr, u16)> = (0..HOST_LINES)
            .flat_map(|h| (1..=PORTS_PER_HOST as u16).map(move |p| (format!("h{h}.agency.test"), ip("127.77.2.1"), p)))
            .collect();
        let lines = open_port_lines(&open);
        assert_eq!(lines.len(), 1 + HOST_LINES);
        assert!(lines.iter().all(|l| !l.contains("more")), "{lines:?}");
    }
}
