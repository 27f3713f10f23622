//! `Row`: the part of a finding the table shows and filters on.
//!
//! The table of 100k findings is built from rows, not whole findings: a row
//! decodes only its own fields (the store skips the rest while parsing), and
//! the selected finding is fetched whole for the detail pane.

use haetae_findings::{Baseline, CheckId, Finding, Priority, Severity, State, Timestamp};
use serde::Deserialize;

/// One line of the findings table. It deserializes from a finding's JSON
/// (the fields it lacks are skipped); the filter text is built after
/// decoding (`Row::of` builds it at once).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Row {
    /// Finding id.
    pub id: String,
    /// Check id.
    pub check: CheckId,
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Priority band.
    pub priority: Priority,
    /// Score.
    pub score: f64,
    /// Triage state.
    pub state: State,
    /// Host.
    pub host: String,
    /// Port.
    #[serde(default)]
    pub port: Option<u16>,
    /// Evidence (redacted at the source).
    #[serde(default)]
    pub evidence: String,
    /// First seen.
    pub first_seen: Timestamp,
    /// Last seen.
    pub last_seen: Timestamp,
    /// SLA due date.
    #[serde(default)]
    pub due: Option<Timestamp>,
    /// Change against the previous scan that covered it.
    pub baseline: Baseline,
    /// The scan that last saw it.
    #[serde(default)]
    pub last_scan: Option<u64>,
    /// Hidden by a rule.
    #[serde(default)]
    pub suppressed: bool,
    /// Who it is assigned to.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Lower-case check, host, title and evidence, for the `/` filter.
    #[serde(skip)]
    pub(crate) hay: String,
}

impl Row {
    /// The row of a finding.
    pub fn of(f: &Finding) -> Row {
        let mut r = Row {
            id: f.id.clone(),
            check: f.check.clone(),
            title: f.title.clone(),
            severity: f.severity,
            priority: f.priority,
            score: f.score,
            state: f.state,
            host: f.host.clone(),
            port: f.port,
            evidence: f.evidence.clone(),
            first_seen: f.first_seen,
            last_seen: f.last_seen,
            due: f.due,
            baseline: f.baseline,
            last_scan: f.last_scan,
            suppressed: f.suppressed,
            assignee: f.assignee.clone(),
            hay: String::new(),
        };
        r.index();
        r
    }

    /// Build the text the `/` filter searches (after deserializing).
    pub(crate) fn index(&mut self) {
        let mut hay = String::with_capacity(
            self.check.as_str().len() + self.host.len() + self.title.len() + self.evidence.len() + 4,
        );
        for part in [self.check.as_str(), &self.host, &self.title, &self.evidence] {
            if part.is_ascii() {
                hay.extend(part.bytes().map(|b| char::from(b.to_ascii_lowercase())));
            } else {
                hay.push_str(&part.to_lowercase());
            }
            hay.push('\n');
        }
        self.hay = hay;
    }

    /// `host:port`.
    pub fn endpoint(&self) -> String {
        haetae_findings::model::endpoint(&self.host, self.port)
    }

    /// Open or confirmed, with a due date in the past.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.state.is_active() && self.due.is_some_and(|d| d < now)
    }

    /// New or reopened in `scan` (the latest scan).
    pub fn is_news(&self, scan: Option<u64>) -> bool {
        scan.is_some() && self.last_scan == scan && matches!(self.baseline, Baseline::New | Baseline::Reopened)
    }
}

/// Table order: priority (P1 first), then score (highest first), then id so
/// the order is total and stable across reloads.
pub(crate) fn table_order(a: &Row, b: &Row) -> std::cmp::Ordering {
    a.priority.cmp(&b.priority).then(b.score.total_cmp(&a.score)).then_with(|| a.id.cmp(&b.id))
}
