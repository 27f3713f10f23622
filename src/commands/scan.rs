//! `haetae scan` (and the scan half of `haetae demo`): parse the arguments,
//! run one scan through `haetae_service::run_scan` with a progress bar, print
//! the summary and decide the exit code.

use std::io::{IsTerminal as _, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use haetae_findings::{FailedUnit, Priority, Store};
use haetae_scanner::engine::{Profile, Stop};
use haetae_scanner::scope::Scope;
use haetae_scanner::tls::handshake::TlsOptions;
pub(crate) use haetae_service::ScanOptions;
use haetae_service::{Hub, ScanSetup, Sink, Update};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::cli::ScanArgs;
use crate::config::Workspace;
use crate::exit::{FailOnMet, ScopeRefused, UsageError};

/// File name of the audit log inside the store directory.
pub(crate) const AUDIT_FILE: &str = haetae_service::AUDIT_FILE;

/// What a scan did, for the summary.
pub(crate) type Report = haetae_service::ScanOutcome;

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
        resume: args.resume,
        checks: args.checks,
        skip_checks: args.skip_checks,
        ..ScanOptions::default()
    };
    if let Some(api) = crate::remote::find(ws)? {
        return super::remote_scan::run(ws, &api, &opts, fail_on);
    }
    let rt = runtime()?;
    let report = rt.block_on(scan(ws, &opts, std::io::stderr().is_terminal()))?;
    let mut out = std::io::stdout().lock();
    print_summary(&mut out, &report)?;
    finish(&report, fail_on)
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

/// What the workspace gives a scan: scope, name servers, TLS trust,
/// templates and software data, each read now (a changed file counts).
pub(crate) fn setup(ws: &Workspace) -> Result<ScanSetup> {
    let scope_text = std::fs::read_to_string(&ws.scope)
        .with_context(|| format!("cannot read the scope file {}", ws.scope.display()))?;
    let scope = Scope::parse(&ws.scope, &scope_text)?;
    Ok(ScanSetup {
        scope_text,
        workers: ws.workers,
        store_dir: ws.store.clone(),
        nameservers: nameservers(ws)?,
        tls: TlsOptions::new(&ws.extra_roots, ws.expiring_days).context("[tls] extra_roots / --ca-cert")?,
        templates: Arc::new(super::templates::load(ws)?),
        software: Arc::new(super::data::load(ws)?),
        scope,
    })
}

/// Ctrl-C and SIGTERM cancel `cancel`. Installed before the scan is
/// announced, so a Ctrl-C at any moment after that stops it cleanly; abort
/// the handle when the scan is over.
pub(crate) fn cancel_on_signals(cancel: &CancellationToken) -> Result<tokio::task::JoinHandle<()>> {
    let mut sigint = signal(SignalKind::interrupt()).context("cannot install the Ctrl-C handler")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let cancel = cancel.clone();
    Ok(tokio::spawn(async move {
        tokio::select! {
            _ = sigint.recv() => {}
            _ = sigterm.recv() => {}
        }
        cancel.cancel();
    }))
}

/// Run one scan of the workspace and commit it, with the start line and a
/// progress bar on stderr.
///
/// While it runs it holds the store and serves the local API on it, so
/// `haetae findings`, `triage`, `export` and `tui` work in another terminal.
pub(crate) async fn scan(ws: &Workspace, opts: &ScanOptions, progress: bool) -> Result<Report> {
    let store = Arc::new(super::open_store(ws, super::prioritizer(ws)?)?);
    let setup = setup(ws)?;
    let cancel = CancellationToken::new();
    let signals = cancel_on_signals(&cancel)?;
    let sink = Terminal { bar: progress_bar(progress) };
    let hub = Hub::new("scan");
    let api = serve_api(ws, &store, &hub, &setup.scope.engagement.id).await?;
    let report = hub.run_scan(&store, setup, opts, cancel, &sink, None).await;
    api.stop().await;
    signals.abort();
    if let Some(bar) = &sink.bar {
        bar.finish_and_clear();
    }
    super::notify::after_scan(ws, &store, report.as_ref()).await;
    report
}

/// Serve the local API on `store` (the daemon and a plain scan alike).
pub(crate) async fn serve_api(
    ws: &Workspace,
    store: &Arc<Store>,
    hub: &Arc<Hub>,
    engagement: &str,
) -> Result<haetae_service::api::ApiServer> {
    let audit = haetae_findings::audit::AuditLog::shared(&ws.store.join(AUDIT_FILE))?;
    let paths = haetae_service::api::ApiPaths { scope: ws.scope.clone(), rules: ws.rules.clone() };
    haetae_service::api::serve(store.clone(), hub.clone(), audit, paths, engagement.to_owned()).await
}

/// Updates of a scan run from the command line: stderr and a progress bar.
pub(crate) struct Terminal {
    pub(crate) bar: Option<ProgressBar>,
}

impl Sink for Terminal {
    fn update(&self, u: Update) {
        match u {
            Update::Started { id, targets, resumed } => {
                let verb = if resumed { "resumed" } else { "started" };
                let line =
                    format!("haetae: scan {id} {verb} ({targets} target(s)); Ctrl-C stops it and keeps what it found");
                match &self.bar {
                    Some(bar) => bar.suspend(|| eprintln_plain(&line)),
                    None => eprintln_plain(&line),
                }
            }
            Update::Progress { progress: p, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_length(p.hosts + p.ports_total);
                    bar.set_position(p.hosts_done + p.ports_done);
                    bar.set_message(format!(
                        "hosts {}/{}  ports {}/{} ({} open)  requests {}  findings {}",
                        p.hosts_done, p.hosts, p.ports_done, p.ports_total, p.open_ports, p.requests, p.findings
                    ));
                }
            }
            Update::Abandoned { grace } => eprintln_plain(&format!(
                "haetae: probes still running {} s after the stop were abandoned",
                grace.as_secs()
            )),
            Update::Changed(_) | Update::Assets | Update::Change(_) => {}
        }
    }
}

fn eprintln_plain(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

pub(crate) fn progress_bar(enabled: bool) -> Option<ProgressBar> {
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
    haetae_service::query::sort(&mut seen);
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
