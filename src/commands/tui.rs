//! `haetae tui [--scan]`: the triage UI on the workspace's store; with
//! `--scan`, a scan runs in this process and the UI follows it live.

use std::io::Write as _;
use std::sync::mpsc;

use anyhow::Result;
use haetae_findings::{Store, Timestamp};
use haetae_scanner::engine::Profile;
use haetae_scanner::scope::Scope;
use haetae_tui::{App, ExportJob, Live};

use haetae_service::{Sink, Update};
use tokio_util::sync::CancellationToken;

use super::scan::{Report, ScanOptions, counts_line};
use crate::cli::TuiArgs;
use crate::config::Workspace;

pub(crate) fn run(ws: &Workspace, args: TuiArgs) -> Result<()> {
    let actor = super::triage::actor(args.actor)?;
    if let Some(api) = crate::remote::find(ws)? {
        if args.scan {
            anyhow::bail!(
                "a daemon (or a scan) holds {}: `haetae tui` without --scan shows its scans live; `haetae scan` asks the daemon for one",
                ws.store.display()
            );
        }
        return attached(ws, api, &actor);
    }
    let store =
        if args.scan { super::open_store(ws, super::prioritizer(ws)?)? } else { super::open_existing_store(ws)? };
    open(ws, &store, &actor, args.scan)
}

/// The UI on `store` (already open); with `scan`, a scan of the seeds runs
/// alongside it. Quitting stops the scan, which commits what it found.
pub(crate) fn open(ws: &Workspace, store: &Store, actor: &str, scan: bool) -> Result<()> {
    let engagement = Scope::load(&ws.scope).map(|s| s.engagement.id).unwrap_or_default();
    let mut app = App::new(Vec::new(), Timestamp::now(), actor, &engagement);
    app.color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    app.export_dir = ws.dir.display().to_string();
    haetae_tui::load(&mut app, store)?;
    let exporter = |job: &ExportJob<'_>| {
        super::export::to_file(ws, job.findings, job.format, job.lang, job.filters.to_vec(), job.path)
            .map(|()| format!("exported {} finding(s) to {}", job.findings.len(), job.path.display()))
            .map_err(|e| crate::exit::one_line(&e))
    };
    if !scan {
        return Ok(haetae_tui::run_in_terminal(&mut app, store, None, &exporter)?);
    }
    let (tx, rx) = mpsc::channel();
    let sink = ToTui(tx.clone());
    let cancel = CancellationToken::new();
    let opts = ScanOptions { profile: Profile::Standard, ..ScanOptions::default() };
    let rt = super::scan::runtime()?;
    let (ui, scanned) = std::thread::scope(|s| {
        let scanner = s.spawn(|| {
            let r = rt.block_on(async {
                let setup = super::scan::setup(ws)?;
                let signals = super::scan::cancel_on_signals(&cancel)?;
                let r = haetae_service::run_scan(store, setup, &opts, cancel.clone(), &sink).await;
                signals.abort();
                r
            });
            let (id, summary) = match &r {
                Ok(report) => (report.run.id, summary(report)),
                Err(e) => (0, format!("scan failed: {}", crate::exit::one_line(e))),
            };
            let _ = tx.send(Live::Finished { id, summary });
            r
        });
        let ui = haetae_tui::run_in_terminal(&mut app, store, Some(rx), &exporter);
        // Leaving the UI stops the scan; it commits what it found.
        cancel.cancel();
        (ui, scanner.join())
    });
    ui?;
    match scanned {
        Ok(Ok(report)) => {
            writeln!(std::io::stdout().lock(), "{}", summary(&report))?;
            Ok(())
        }
        Ok(Err(e)) => Err(e),
        Err(_) => anyhow::bail!("the scan thread panicked; what it committed is in the store"),
    }
}

/// The UI on the store a daemon holds, through its API, its scans live.
fn attached(ws: &Workspace, api: haetae_service::client::ApiClient, actor: &str) -> Result<()> {
    let engagement = Scope::load(&ws.scope).map(|s| s.engagement.id).unwrap_or_default();
    let mut app = App::new(Vec::new(), Timestamp::now(), actor, &engagement);
    app.color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    app.export_dir = ws.dir.display().to_string();
    let source = super::tui_remote::Remote { api: api.clone(), dir: ws.store.clone() };
    haetae_tui::load(&mut app, &source)?;
    let exporter = |job: &ExportJob<'_>| {
        super::export::to_file(ws, job.findings, job.format, job.lang, job.filters.to_vec(), job.path)
            .map(|()| format!("exported {} finding(s) to {}", job.findings.len(), job.path.display()))
            .map_err(|e| crate::exit::one_line(&e))
    };
    let live = super::tui_remote::live(api);
    Ok(haetae_tui::run_in_terminal(&mut app, &source, Some(live), &exporter)?)
}

/// One line on how a scan ended.
fn summary(r: &Report) -> String {
    let how = match (&r.outcome.stop, r.outcome.complete) {
        (Some(_), _) => "stopped (run `haetae scan --resume` to finish it)",
        (None, true) => "complete",
        (None, false) => "incomplete",
    };
    format!("scan {} {how}: {}", r.run.id, counts_line(&r.run.counts))
}

/// A scan's counters as the TUI shows them.
pub(crate) fn live_progress(p: &haetae_scanner::engine::Progress, elapsed: std::time::Duration) -> Live {
    Live::Progress(haetae_tui::Progress {
        hosts_done: p.hosts_done,
        hosts: p.hosts,
        ports_done: p.ports_done,
        ports_total: p.ports_total,
        open_ports: p.open_ports,
        requests: p.requests,
        findings: p.findings,
        elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
    })
}

/// A scan's updates as the TUI's live events; nothing goes to the terminal
/// the UI draws on.
struct ToTui(mpsc::Sender<Live>);

impl Sink for ToTui {
    fn update(&self, u: Update) {
        let ev = match u {
            Update::Started { id, targets, .. } => Live::Started { id, targets },
            Update::Progress { progress: p, elapsed } => live_progress(&p, elapsed),
            Update::Changed(ids) => Live::Changed(ids),
            Update::Assets => Live::Assets,
            Update::Abandoned { .. } | Update::Change(_) => return,
        };
        // A TUI that has quit no longer listens; the scan goes on.
        let _ = self.0.send(ev);
    }
}
