//! `haetae scan` while a daemon holds the store: the daemon runs the scan
//! (`POST /v1/scans`) and this follows it on the event stream, with the same
//! start line, progress bar, summary and exit codes as a scan run here.

use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use haetae_findings::{Finding, Priority, ScanRun};
use haetae_scanner::engine::Profile;
use haetae_service::client::{ApiClient, Streamed};
use haetae_service::events::Event;
use haetae_service::hub::ScanNow;
use haetae_service::{Sink, Update};

use super::scan::{ScanOptions, Terminal, progress_bar};
use crate::config::Workspace;
use crate::exit::{FailOnMet, ScopeRefused, UsageError};

/// The stream sends a keep-alive every 15 s: this long without a byte means
/// the daemon is gone or stuck.
const SILENCE: Duration = Duration::from_secs(60);

pub(crate) fn run(ws: &Workspace, api: &ApiClient, opts: &ScanOptions, fail_on: Option<Priority>) -> Result<()> {
    if opts.resume {
        return Err(anyhow!(UsageError(
            "--resume: a daemon holds this store, and it resumes a cut-off run itself when it starts".into()
        )));
    }
    let profile = match opts.profile {
        Profile::Passive => "passive",
        Profile::Standard => "standard",
        Profile::Deep => "deep",
    };
    let ask = ScanNow {
        schedule: None,
        targets: opts.targets.clone(),
        profile: Some(profile.to_owned()),
        checks: opts.checks.clone(),
        skip_checks: opts.skip_checks.clone(),
        request: 0,
    };
    let term = Terminal { bar: progress_bar(std::io::stderr().is_terminal()) };
    let r = crate::remote::block(follow(api, &ask, &term));
    if let Some(bar) = &term.bar {
        bar.finish_and_clear();
    }
    let (run, summary) = r?;
    let seen: Vec<Finding> = {
        let all: Vec<Finding> = crate::remote::block(api.get("/v1/findings?state=all"))?;
        all.into_iter().filter(|f| f.last_scan == Some(run.id)).collect()
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{summary}")?;
    writeln!(out, "  (run by the daemon holding {}; `haetae findings` lists what it found)", ws.store.display())?;
    if !run.complete {
        bail!("scan {} did not complete; what it found is committed and it closed nothing", run.id);
    }
    if let Some(p) = fail_on {
        let hits = seen.iter().filter(|f| f.state.is_active() && f.priority <= p && !f.suppressed).count();
        if hits > 0 {
            return Err(anyhow!(FailOnMet(format!("{hits} open finding(s) at {p} or above"))));
        }
    }
    Ok(())
}

/// Ask for the scan and follow it to its end: the run and its summary line.
async fn follow(api: &ApiClient, ask: &ScanNow, term: &Terminal) -> Result<(ScanRun, String)> {
    // Listen first, so the start cannot be missed.
    let mut events = api.events().await?;
    let answer: serde_json::Value = api.post("/v1/scans", ask).await?;
    let request = answer.get("request").and_then(serde_json::Value::as_u64);
    let mut stderr = std::io::stderr().lock();
    let behind = answer.get("queued_behind").and_then(serde_json::Value::as_u64);
    writeln!(
        stderr,
        "haetae: a daemon holds this store; it runs the scan{} (Ctrl-C stops following it, not the scan)",
        behind.map(|id| format!(" after scan {id}")).unwrap_or_default()
    )?;
    drop(stderr);
    let mut id = None;
    loop {
        let next = tokio::select! {
            n = tokio::time::timeout(SILENCE, events.next()) => n,
            _ = tokio::signal::ctrl_c() => bail!("stopped following; the daemon's scan goes on (`haetae findings` shows what it finds)"),
        };
        let ev = match next {
            Err(_) => bail!("the daemon sent nothing for {} s; is it stuck? (its log says)", SILENCE.as_secs()),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(None)) => bail!("the daemon stopped before the scan ended; it resumes the scan when it starts again"),
            Ok(Ok(Some(Streamed::Lagged))) => continue,
            Ok(Ok(Some(Streamed::Event(e)))) => *e,
        };
        match ev {
            Event::ScanStarted { id: started, targets, resumed, request: r, .. } if r == request => {
                id = Some(started);
                term.update(Update::Started { id: started, targets, resumed });
            }
            ref e @ Event::ScanProgress { id: p, .. } if Some(p) == id => {
                if let Some((_, progress, elapsed)) = e.as_progress() {
                    term.update(Update::Progress { progress, elapsed });
                }
            }
            Event::ScanFinished { id: done, summary, request: r, .. } if r == request => {
                let runs: Vec<ScanRun> = api.get("/v1/scans").await?;
                let run = runs
                    .into_iter()
                    .find(|x| x.id == done)
                    .ok_or_else(|| anyhow!("scan {done} is not in the store"))?;
                return Ok((run, summary));
            }
            Event::ScanFailed { error, request: r, .. } if r == request => {
                if error.starts_with("scan refused") || error.starts_with("outside the authorization window") {
                    return Err(anyhow!(ScopeRefused(error)));
                }
                bail!("the daemon's scan failed: {error}");
            }
            _ => {}
        }
    }
}
