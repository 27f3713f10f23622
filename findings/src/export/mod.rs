//! Exports for the agency: the findings of one engagement as JSON, JSON Lines,
//! CSV, SARIF 2.1.0, a Markdown report or a self-contained HTML report.
//!
//! [`write()`] takes a [`Report`] (the engagement, when it was made, by which
//! version, the filters that chose the findings, the findings, the language)
//! and a [`Format`], and writes to any [`std::io::Write`]. It does no I/O of
//! its own otherwise: the binary and the TUI open files and pick findings.
//!
//! Every text that leaves through an export passes [`crate::redact()`] on the
//! way out (evidence, titles, URLs, locations, notes, tags, rules, the
//! engagement and the filters), whatever the scanner already did: a note typed
//! in triage or a team's template may hold a secret the scanner never saw.
//!
//! Each check is classified ([`classify()`]) by CWE, OWASP Top 10 (2021) and,
//! where one applies, the web item of the KISA guide; see [`Kisa`].
//!
//! ```
//! use haetae_findings::export::{self, Format, Lang, Report, ReportEngagement};
//! use haetae_findings::{Finding, Timestamp};
//!
//! let findings = vec![Finding::example()];
//! let report = Report {
//!     engagement: ReportEngagement { id: "KR-2026-0142".into(), agency: "Ministry of Example".into(), not_before: None, not_after: None },
//!     generated_at: Timestamp::from_unix(1_800_000_000),
//!     tool_version: "0.1.0".into(),
//!     filters: vec!["state: open, confirmed".into()],
//!     findings: &findings,
//!     lang: Lang::En,
//! };
//! let mut out = Vec::new();
//! export::write(&report, Format::Csv, &mut out)?;
//! assert!(out.starts_with("\u{feff}id,".as_bytes()));
//! # Ok::<(), export::ExportError>(())
//! ```

mod classify;
mod csv;
mod html;
mod json;
mod labels;
mod markdown;
mod sarif;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::str::FromStr;

pub use classify::{Classification, Kisa, Owasp, classify};
pub(crate) use csv::push_field as push_csv_field;

use crate::model::{Finding, ParseEnumError, Priority, Severity, State};
use crate::redact::redact_cow;
use crate::time::Timestamp;

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// One JSON document.
    Json,
    /// One finding per line.
    Jsonl,
    /// UTF-8 with a BOM, one row per finding.
    Csv,
    /// SARIF 2.1.0.
    Sarif,
    /// A Markdown report.
    Md,
    /// A self-contained HTML report.
    Html,
}

impl Format {
    /// Every format, in the order the command line lists them.
    pub const ALL: &'static [Format] =
        &[Format::Json, Format::Jsonl, Format::Csv, Format::Sarif, Format::Md, Format::Html];

    /// The name on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Sarif => "sarif",
            Format::Md => "md",
            Format::Html => "html",
        }
    }

    /// The usual file extension (without the dot).
    pub fn extension(&self) -> &'static str {
        self.as_str()
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = ParseEnumError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("markdown") {
            return Ok(Format::Md);
        }
        Format::ALL.iter().copied().find(|f| s.eq_ignore_ascii_case(f.as_str())).ok_or_else(|| ParseEnumError {
            what: "export format",
            got: s.to_owned(),
            expected: &["json", "jsonl", "csv", "sarif", "md", "html"],
        })
    }
}

/// The language of a report's headings, labels and severity names (the
/// findings' own texts stay as written). Only md and html are translated:
/// the machine-readable formats keep their field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Korean.
    Ko,
}

impl FromStr for Lang {
    type Err = ParseEnumError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" => Ok(Lang::En),
            "ko" => Ok(Lang::Ko),
            _ => Err(ParseEnumError { what: "language", got: s.to_owned(), expected: &["en", "ko"] }),
        }
    }
}

/// The engagement an export is for (scope.toml's `[engagement]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportEngagement {
    /// Engagement id.
    pub id: String,
    /// The agency that gave the authorization (may be empty).
    pub agency: String,
    /// The authorization window opens.
    pub not_before: Option<Timestamp>,
    /// The authorization window closes.
    pub not_after: Option<Timestamp>,
}

/// Everything an export says.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    /// The engagement.
    pub engagement: ReportEngagement,
    /// When the export was made.
    pub generated_at: Timestamp,
    /// The haetae version that made it.
    pub tool_version: String,
    /// The filters that chose the findings, human readable (`state: open, confirmed`).
    pub filters: Vec<String>,
    /// The findings, in the order to report them.
    pub findings: &'a [Finding],
    /// Language of md and html reports.
    pub lang: Lang,
}

/// Writing an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The output could not be written.
    #[error("cannot write the {format} export: {source}")]
    Write {
        /// The format being written.
        format: Format,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A value could not be encoded.
    #[error("cannot encode the {format} export: {message}")]
    Encode {
        /// The format being written.
        format: Format,
        /// What the encoder said.
        message: String,
    },
}

/// Write `report` as `format` to `out`. Nothing is flushed or closed: the
/// caller owns `out` (wrap files and stdout in a `BufWriter`).
pub fn write(report: &Report<'_>, format: Format, out: &mut dyn io::Write) -> Result<(), ExportError> {
    let doc = Doc::new(report);
    let result = match format {
        Format::Json => json::document(&doc, out),
        Format::Jsonl => json::lines(&doc, out),
        Format::Csv => csv::write(&doc, out),
        Format::Sarif => sarif::write(&doc, out),
        Format::Md => markdown::write(&doc, out),
        Format::Html => html::write(&doc, out),
    };
    result.map_err(|e| match e {
        Fault::Io(source) => ExportError::Write { format, source },
        Fault::Json(e) if e.is_io() => ExportError::Write { format, source: e.into() },
        Fault::Json(e) => ExportError::Encode { format, message: e.to_string() },
    })
}

/// What the format writers fail with; [`write()`] names the format.
#[derive(Debug)]
pub(crate) enum Fault {
    Io(io::Error),
    Json(serde_json::Error),
}

impl From<io::Error> for Fault {
    fn from(e: io::Error) -> Self {
        Fault::Io(e)
    }
}

impl From<serde_json::Error> for Fault {
    fn from(e: serde_json::Error) -> Self {
        Fault::Json(e)
    }
}

/// A report made ready to write: its own texts redacted, its labels chosen.
pub(crate) struct Doc<'a> {
    pub(crate) engagement: ReportEngagement,
    pub(crate) generated_at: Timestamp,
    pub(crate) tool_version: String,
    pub(crate) filters: Vec<String>,
    pub(crate) labels: &'static labels::Labels,
    raw: &'a [Finding],
}

impl<'a> Doc<'a> {
    fn new(report: &Report<'a>) -> Self {
        let e = &report.engagement;
        Doc {
            engagement: ReportEngagement {
                id: redact_cow(&e.id).into_owned(),
                agency: redact_cow(&e.agency).into_owned(),
                not_before: e.not_before,
                not_after: e.not_after,
            },
            generated_at: report.generated_at,
            tool_version: redact_cow(&report.tool_version).into_owned(),
            filters: report.filters.iter().map(|f| redact_cow(f).into_owned()).collect(),
            labels: labels::Labels::of(report.lang),
            raw: report.findings,
        }
    }

    /// The findings, each redacted on the way out.
    pub(crate) fn findings(&self) -> impl ExactSizeIterator<Item = Finding> + '_ {
        self.raw.iter().map(scrub)
    }

    /// How many findings.
    pub(crate) fn len(&self) -> usize {
        self.raw.len()
    }

    /// Counts by priority, severity, state, host and KISA item.
    pub(crate) fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for f in self.raw {
            s.by_priority[priority_index(f.priority)] += 1;
            s.by_severity[severity_index(f.severity)] += 1;
            s.by_state[state_index(f.state)] += 1;
            let host = s.by_host.entry(redact_cow(&f.host).into_owned()).or_default();
            host[priority_index(f.priority)] += 1;
            if let Some(k) = classify(&f.check).kisa {
                *s.by_kisa.entry(k).or_default() += 1;
            }
        }
        s
    }

    /// The window as text (`2026-11-01 – 2026-12-31`), or `None` when unknown.
    pub(crate) fn window(&self) -> Option<String> {
        let e = &self.engagement;
        match (e.not_before, e.not_after) {
            (None, None) => None,
            (a, b) => Some(format!(
                "{} – {}",
                a.map(Timestamp::date_string).unwrap_or_default(),
                b.map(Timestamp::date_string).unwrap_or_default()
            )),
        }
    }
}

/// Counts over the findings of a report.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    /// Indexed like [`Priority::ALL`].
    pub(crate) by_priority: [usize; 4],
    /// Indexed like [`Severity::ALL`].
    pub(crate) by_severity: [usize; 5],
    /// Indexed like [`State::ALL`].
    pub(crate) by_state: [usize; 5],
    /// Host (redacted) → counts by priority.
    pub(crate) by_host: BTreeMap<String, [usize; 4]>,
    /// KISA item → count.
    pub(crate) by_kisa: BTreeMap<Kisa, usize>,
}

impl Summary {
    /// Hosts with the most findings first (ties by name), at most `limit`.
    pub(crate) fn top_hosts(&self, limit: usize) -> Vec<(&str, [usize; 4])> {
        let mut hosts: Vec<(&str, [usize; 4])> = self.by_host.iter().map(|(h, c)| (h.as_str(), *c)).collect();
        hosts.sort_by(|a, b| b.1.iter().sum::<usize>().cmp(&a.1.iter().sum::<usize>()).then(a.0.cmp(b.0)));
        hosts.truncate(limit);
        hosts
    }
}

fn priority_index(p: Priority) -> usize {
    Priority::ALL.iter().position(|x| *x == p).unwrap_or(0)
}

fn severity_index(s: Severity) -> usize {
    Severity::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

fn state_index(s: State) -> usize {
    State::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

/// Redact one text in place (no copy when nothing matched).
fn scrub_text(s: &mut String) {
    if let Cow::Owned(clean) = redact_cow(s) {
        *s = clean;
    }
}

/// A copy of `f` with every free text redacted.
pub(crate) fn scrub(f: &Finding) -> Finding {
    let mut g = f.clone();
    for s in [&mut g.title, &mut g.host, &mut g.location, &mut g.evidence, &mut g.remediation, &mut g.engagement] {
        scrub_text(s);
    }
    for s in g.url.iter_mut().chain(g.assignee.iter_mut()) {
        scrub_text(s);
    }
    for s in g.references.iter_mut().chain(g.tags.iter_mut()).chain(g.rule_tags.iter_mut()) {
        scrub_text(s);
    }
    for hit in &mut g.rules {
        scrub_text(&mut hit.name);
        scrub_text(&mut hit.effect);
    }
    for h in &mut g.history {
        scrub_text(&mut h.actor);
        if let Some(n) = &mut h.note {
            scrub_text(n);
        }
    }
    g
}

/// The facts of one finding as (label, text) rows, for md and html; `now`
/// decides "overdue".
pub(crate) fn detail_rows(f: &Finding, l: &labels::Labels, now: Timestamp) -> Vec<(&'static str, String)> {
    let c = classify(&f.check);
    let mut rows = vec![
        (l.severity, l.severity(f.severity).to_owned()),
        (l.confidence, f.confidence.to_string()),
        (l.state, l.state(f.state).to_owned()),
        (l.check, f.check.to_string()),
        (l.host, f.ip.map_or_else(|| f.endpoint(), |ip| format!("{} ({ip})", f.endpoint()))),
    ];
    match (&f.url, f.location.is_empty()) {
        (Some(url), _) => rows.push((l.location, url.clone())),
        (None, false) => rows.push((l.location, f.location.clone())),
        (None, true) => {}
    }
    rows.push((l.score, format!("{:.1}", f.score)));
    let mut class: Vec<String> = Vec::new();
    if let Some(n) = f.cwe.or(c.cwe) {
        class.push(format!("CWE-{n}"));
    }
    if let Some(o) = c.owasp {
        class.push(o.to_string());
    }
    if let Some(k) = c.kisa {
        class.push(format!("KISA {}", l.kisa(k)));
    }
    if !class.is_empty() {
        rows.push((l.classification, class.join(" · ")));
    }
    if let Some(due) = f.due {
        let late = if f.is_overdue(now) { format!(" ({})", l.overdue) } else { String::new() };
        rows.push((l.sla_due, format!("{}{late}", due.date_string())));
    }
    if let Some(until) = f.accepted_until {
        rows.push((l.accepted_until, until.date_string()));
    }
    if let Some(a) = &f.assignee {
        rows.push((l.assignee, a.clone()));
    }
    rows.push((l.first_seen, f.first_seen.to_string()));
    rows.push((l.last_seen, format!("{} ({} {})", f.last_seen, f.seen_count, l.seen_times)));
    rows.push((l.change, l.baseline(f.baseline).to_owned()));
    if !f.tags.is_empty() {
        rows.push((l.tags, f.tags.join(", ")));
    }
    rows.push((l.engagement, f.engagement.clone()));
    rows
}

/// References, rules and history of a finding as (label, items): texts
/// through `text`, a rule through `rule(name, effect)`. Empty lists are left out.
pub(crate) fn finding_lists(
    f: &Finding,
    l: &labels::Labels,
    text: fn(&str) -> String,
    rule: fn(&str, &str) -> String,
) -> Vec<(&'static str, Vec<String>)> {
    let lists = [
        (l.references, f.references.iter().map(|r| text(r)).collect::<Vec<_>>()),
        (l.rules, f.rules.iter().map(|r| rule(&r.name, &r.effect)).collect()),
        (l.history, f.history.iter().map(|h| text(&history_line(h, l))).collect()),
    ];
    lists.into_iter().filter(|(_, items)| !items.is_empty()).collect()
}

/// One history entry as a line: `time actor: from -> to — note`.
pub(crate) fn history_line(h: &crate::model::HistoryEntry, l: &labels::Labels) -> String {
    let from = h.from.map_or_else(|| "—".to_owned(), |s| l.state(s).to_owned());
    let mut line = format!("{} {}: {from} → {}", h.at, h.actor, l.state(h.to));
    if let Some(n) = &h.note {
        line.push_str(" — ");
        line.push_str(n);
    }
    line
}

/// The finding as exported in json and jsonl: every SPEC field (see
/// [`Finding::to_json`]) plus its OWASP and KISA classification.
pub(crate) fn finding_json(f: &Finding) -> serde_json::Value {
    let mut v = f.to_json();
    let c = classify(&f.check);
    if let Some(obj) = v.as_object_mut() {
        if obj.get("cwe").is_none_or(serde_json::Value::is_null) {
            obj.insert("cwe".into(), c.cwe.into());
        }
        obj.insert("owasp".into(), c.owasp.map(|o| o.code()).into());
        obj.insert("kisa".into(), c.kisa.map(|k| k.code()).into());
    }
    v
}

#[cfg(test)]
mod tests;
