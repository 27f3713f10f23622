//! The rules file, watched: when rules.toml changes, the new rules are
//! loaded; good ones replace the store's prioritizer and every finding is
//! re-scored; a broken file is reported with each error's file:line:column
//! and the rules in force stay.
//!
//! The file's metadata (modification time, length, inode) is read every
//! couple of seconds; its bytes only when that changed, and the rules are
//! compiled only when the bytes did. No notification crate: one `stat` per
//! poll is cheaper than keeping a watch descriptor right across editors that
//! replace the file by renaming.

use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use haetae_findings::{SourceError, Store};
use haetae_rules::RuleSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// What a look at the rules file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// Same file as last time.
    Unchanged,
    /// New rules in force; this many findings changed score, band or rule hits.
    Applied {
        /// Findings re-scored to a different result.
        changed: usize,
    },
    /// The file has errors (each `file:line:column: message`); the rules in force stay.
    Broken(Vec<String>),
    /// The file is gone; the rules in force stay until it is back.
    Gone,
    /// Reading the file or re-scoring failed; tried again at the next change.
    Failed(String),
}

/// The file as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

/// The watch on one rules file; [`RulesWatch::poll`] looks once.
pub struct RulesWatch {
    store: Arc<Store>,
    path: PathBuf,
    stamp: Option<Stamp>,
    text: Option<Vec<u8>>,
    /// Told when every finding was re-scored (listeners reload).
    events: Option<crate::events::Events>,
}

#[cfg(unix)]
fn inode(m: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(m)
}

#[cfg(not(unix))]
fn inode(_m: &std::fs::Metadata) -> u64 {
    0
}

impl RulesWatch {
    /// Watch `path`, whose current content is taken to be the rules the
    /// store was opened with.
    pub fn new(store: Arc<Store>, path: PathBuf) -> RulesWatch {
        let stamp = stamp(&path);
        let text = std::fs::read(&path).ok();
        RulesWatch { store, path, stamp, text, events: None }
    }

    /// Also put a re-score on the event stream (the TUI reloads).
    #[must_use]
    pub fn with_events(mut self, events: crate::events::Events) -> RulesWatch {
        self.events = Some(events);
        self
    }

    /// Look at the file once; load, apply and re-score when its bytes
    /// changed since the last look. Blocking (re-scoring walks the store).
    pub fn poll(&mut self) -> Reload {
        let now = stamp(&self.path);
        if now == self.stamp {
            return Reload::Unchanged;
        }
        self.stamp = now;
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let was_there = self.text.take().is_some();
                return if was_there { Reload::Gone } else { Reload::Unchanged };
            }
            Err(e) => {
                // Read again at the next look.
                self.stamp = None;
                return Reload::Failed(format!(
                    "{}: cannot read: {}",
                    self.path.display(),
                    haetae_findings::error::io_reason(&e)
                ));
            }
        };
        if self.text.as_deref() == Some(bytes.as_slice()) {
            return Reload::Unchanged;
        }
        self.text = Some(bytes.clone());
        let rules = match String::from_utf8(bytes) {
            Ok(text) => RuleSet::parse(&self.path, &text),
            Err(_) => Err(vec![SourceError::whole_file(&self.path, "the file is not UTF-8 text")]),
        };
        match rules {
            Err(errors) => Reload::Broken(errors.iter().map(ToString::to_string).collect()),
            Ok(rules) => {
                self.store.set_prioritizer(Arc::new(rules));
                match self.store.reprioritize() {
                    Ok(changed) => Reload::Applied { changed },
                    Err(e) => Reload::Failed(format!("the new rules are in force, but re-scoring failed: {e}")),
                }
            }
        }
    }
}

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp { modified: m.modified().ok(), len: m.len(), inode: inode(&m) })
}

/// Log what a look found.
pub fn log(path: &std::path::Path, r: &Reload) {
    let file = path.display().to_string();
    match r {
        Reload::Unchanged => {}
        Reload::Applied { changed } => {
            info!(rules = %file, changed, "rules changed: the new rules are in force; {changed} finding(s) re-scored");
        }
        Reload::Broken(errors) => error!(
            rules = %file,
            errors = errors.len(),
            "rules changed but have {} error(s); the rules in force stay: {}",
            errors.len(),
            errors.join("; ")
        ),
        Reload::Gone => warn!(rules = %file, "the rules file is gone; the rules in force stay until it is back"),
        Reload::Failed(why) => error!(rules = %file, error = %why, "cannot apply the rules file"),
    }
}

/// Look every `every` until `shutdown` is cancelled.
pub async fn watch(mut w: RulesWatch, every: Duration, shutdown: CancellationToken) {
    let mut ticks = crate::upkeep::Ticks::new(every, &shutdown);
    loop {
        if !ticks.next().await {
            return;
        }
        let path = w.path.clone();
        let (back, r) = match tokio::task::spawn_blocking(move || {
            let r = w.poll();
            (w, r)
        })
        .await
        {
            Ok(done) => done,
            Err(e) => {
                error!(error = %e, "the rules watch ended abnormally");
                return;
            }
        };
        if let (Reload::Applied { .. }, Some(events)) = (&r, &back.events) {
            events.send(crate::events::Event::FindingsChanged { ids: Vec::new() });
        }
        w = back;
        log(&path, &r);
    }
}
