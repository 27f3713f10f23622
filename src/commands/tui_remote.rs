//! `haetae tui` attached to a daemon (or a running `haetae scan`): the TUI's
//! [`Source`] over the local API, and the event stream as its live feed, so
//! scans the daemon runs show as they go, exactly as `tui --scan` does.

use std::sync::mpsc;

use haetae_findings::{AssetRecord, Finding, ScanRun, StoreError, Transition};
use haetae_service::client::{ApiClient, Streamed};
use haetae_service::events::Event;
use haetae_tui::{Live, Row, Source};

/// The daemon's store, through its API.
pub(crate) struct Remote {
    pub(crate) api: ApiClient,
    pub(crate) dir: std::path::PathBuf,
}

impl Remote {
    fn call<T>(&self, f: impl std::future::Future<Output = anyhow::Result<T>>) -> Result<T, StoreError> {
        crate::remote::block(f).map_err(|e| StoreError::Engine {
            dir: self.dir.clone(),
            message: format!("through the daemon's API: {}", crate::exit::one_line(&e)),
        })
    }
}

impl Source for Remote {
    fn rows(&self) -> Result<Vec<Row>, StoreError> {
        // Every finding: the suppressed ones too (the TUI toggles them).
        let mut all: Vec<Finding> = self.call(self.api.get("/v1/findings?state=all"))?;
        let hidden: Vec<Finding> = self.call(self.api.get("/v1/findings?state=all&suppressed=true"))?;
        all.extend(hidden);
        Ok(all.iter().map(Row::of).collect())
    }

    fn finding(&self, id: &str) -> Result<Option<Finding>, StoreError> {
        let id: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
        match self.call(self.api.get::<Finding>(&format!("/v1/findings/{id}"))) {
            Ok(f) => Ok(Some(f)),
            Err(StoreError::Engine { message, .. }) if message.contains("no finding with id") => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn triage(&self, ids: &[String], t: &Transition) -> Result<Vec<Finding>, StoreError> {
        let body = serde_json::json!({
            "ids": ids,
            "state": t.to.as_str(),
            "actor": t.actor,
            "note": t.note,
            "until": t.until.map(|u| u.to_string()),
            "assign": t.assign,
        });
        self.call(self.api.post("/v1/triage", &body))
    }

    fn assets(&self) -> Result<Vec<AssetRecord>, StoreError> {
        self.call(self.api.get("/v1/assets"))
    }

    fn scans(&self) -> Result<Vec<ScanRun>, StoreError> {
        self.call(self.api.get("/v1/scans"))
    }
}

/// Follow the event stream on a thread of its own, as the TUI's live
/// events; the thread ends when the stream does or the TUI stops listening.
pub(crate) fn live(api: ApiClient) -> mpsc::Receiver<Live> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = crate::remote::block(async move {
            let mut events = api.events().await?;
            while let Some(s) = events.next().await? {
                let ev = match s {
                    // Missed events: reload everything.
                    Streamed::Lagged => Live::Reload,
                    Streamed::Event(e) => match *e {
                        Event::ScanStarted { id, targets, .. } => Live::Started { id, targets },
                        ref e @ Event::ScanProgress { .. } => match e.as_progress() {
                            Some((_, p, elapsed)) => super::tui::live_progress(&p, elapsed),
                            None => continue,
                        },
                        Event::FindingsChanged { ids } if ids.is_empty() => Live::Reload,
                        Event::FindingsChanged { ids } => Live::Changed(ids),
                        Event::AssetsChanged | Event::Change { .. } => Live::Assets,
                        Event::ScanFinished { id, summary, .. } => Live::Finished { id, summary },
                        Event::ScanFailed { .. } | Event::Window { .. } => continue,
                    },
                };
                if tx.send(ev).is_err() {
                    break;
                }
            }
            Ok(())
        });
    });
    rx
}
