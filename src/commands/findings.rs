//! `haetae findings [filters] [--json]` and `haetae findings show ID`.

use std::io::Write;

use anyhow::{Result, anyhow, bail};
use globset::{GlobBuilder, GlobMatcher};
use haetae_findings::{Baseline, Finding, Priority, Selection, State, Store, Timestamp};

use crate::cli::{FilterArgs, FindingsArgs, FindingsCommand};
use crate::config::Workspace;
use crate::exit::UsageError;
use crate::output::{Table, color_enabled, priority_color, truncate};

/// Validated filters.
pub(crate) struct Filter {
    states: Vec<State>,
    min_priority: Option<Priority>,
    check: Option<GlobMatcher>,
    host: Option<GlobMatcher>,
    host_literal: Option<String>,
    since: Option<Timestamp>,
    overdue: bool,
    suppressed: bool,
}

fn usage(msg: String) -> anyhow::Error {
    anyhow!(UsageError(msg))
}

pub(super) fn glob(flag: &str, pattern: &str) -> Result<GlobMatcher> {
    GlobBuilder::new(pattern)
        .case_insensitive(true)
        .literal_separator(false)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| usage(format!("{flag} {pattern:?}: {e}")))
}

impl Filter {
    pub(crate) fn parse(a: &FilterArgs) -> Result<Filter> {
        let mut states = Vec::new();
        for s in a.state.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            if s.eq_ignore_ascii_case("all") {
                states = State::ALL.to_vec();
                break;
            }
            let st: State = s.parse().map_err(|e| usage(format!("--state: {e}, or all")))?;
            if !states.contains(&st) {
                states.push(st);
            }
        }
        if states.is_empty() {
            states = State::LISTED_BY_DEFAULT.to_vec();
        }
        let min_priority = match &a.min_priority {
            None => None,
            Some(p) => Some(p.parse::<Priority>().map_err(|e| usage(format!("--min-priority: {e}")))?),
        };
        let since = match &a.since {
            None => None,
            Some(d) => Some(parse_since(d)?),
        };
        let is_glob = |p: &str| p.contains(['*', '?', '[', '{']);
        Ok(Filter {
            states,
            min_priority,
            check: a.check.as_deref().map(|p| glob("--check", p)).transpose()?,
            host: a.host.as_deref().map(|p| glob("--host", p)).transpose()?,
            host_literal: a.host.clone().filter(|p| !is_glob(p)),
            since,
            overdue: a.overdue,
            suppressed: a.suppressed,
        })
    }

    /// Describe the filters in force.
    pub(crate) fn describe(&self, a: &FilterArgs) -> String {
        self.parts(a).join("; ")
    }

    /// The filters in force, one per entry (as exports state them).
    pub(crate) fn parts(&self, a: &FilterArgs) -> Vec<String> {
        let mut parts =
            vec![format!("state: {}", self.states.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))];
        if let Some(p) = self.min_priority {
            parts.push(format!("priority: {p} or higher"));
        }
        if let Some(c) = &a.check {
            parts.push(format!("check: {c}"));
        }
        if let Some(h) = &a.host {
            parts.push(format!("host: {h}"));
        }
        if let Some(t) = self.since {
            parts.push(format!("seen since: {t}"));
        }
        if self.overdue {
            parts.push("overdue".to_owned());
        }
        parts.push(if self.suppressed { "suppressed only" } else { "suppressed hidden" }.to_owned());
        parts
    }

    fn matches(&self, f: &Finding) -> bool {
        self.states.contains(&f.state)
            && self.min_priority.is_none_or(|p| f.priority <= p)
            && self.check.as_ref().is_none_or(|g| g.is_match(f.check.as_str()))
            && self.host.as_ref().is_none_or(|g| g.is_match(&f.host))
            && self.since.is_none_or(|t| f.last_seen >= t)
            && (!self.overdue || f.is_overdue(haetae_findings::Timestamp::now()))
            && f.suppressed == self.suppressed
    }

    /// Read the matching findings, most urgent first; warn about unreadable records.
    pub(crate) fn select(&self, store: &Store) -> Result<Vec<Finding>> {
        let selection = match &self.host_literal {
            Some(h) => Selection::Host(h.clone()),
            None => Selection::States(self.states.clone()),
        };
        let listing = store.list(&selection)?;
        let mut stderr = std::io::stderr().lock();
        for bad in &listing.skipped {
            writeln!(stderr, "warning: {}: {bad}", store.dir().display())?;
        }
        let mut found: Vec<Finding> = listing.findings.into_iter().filter(|f| self.matches(f)).collect();
        sort(&mut found);
        Ok(found)
    }
}

/// `--since`: a bare date means the start of that day (UTC), unlike
/// `--until`, where it means the end.
pub(super) fn parse_since(text: &str) -> Result<Timestamp> {
    let t: Timestamp = text.parse().map_err(|e| usage(format!("--since: {e}")))?;
    let bare_date = text.trim().len() == 10;
    Ok(if bare_date { Timestamp::from_unix(t.unix() - 86_399) } else { t })
}

/// Priority, then score (high first), then most recently seen, then id.
pub(crate) fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then(b.score.total_cmp(&a.score))
            .then(b.last_seen.cmp(&a.last_seen))
            .then(a.id.cmp(&b.id))
    });
}

pub(crate) fn run(ws: &Workspace, args: FindingsArgs) -> Result<()> {
    if let Some(FindingsCommand::Show { id }) = args.show {
        return show(ws, &id, args.json);
    }
    let filter = Filter::parse(&args.filter)?;
    // A workspace never scanned lists nothing, and says why, without creating a store.
    let (found, never_scanned) = if ws.store.exists() {
        let store = super::open_existing_store(ws)?;
        store.expire_acceptances(Timestamp::now())?;
        (filter.select(&store)?, store.is_empty() && store.scans()?.is_empty())
    } else {
        super::prioritizer(ws)?;
        (Vec::new(), true)
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = found.iter().map(Finding::to_json).collect();
        serde_json::to_writer_pretty(&mut out, &list)?;
        writeln!(out)?;
    } else {
        write_list(&mut out, &found, &filter, &args)?;
    }
    if never_scanned {
        // On stderr, like every note: stdout stays the listing (or the JSON) alone.
        writeln!(
            std::io::stderr().lock(),
            "nothing has been scanned in this workspace yet (store {}): run `haetae scan`",
            ws.store.display()
        )?;
    }
    Ok(())
}

/// The findings table and its count line.
fn write_list(out: &mut impl Write, found: &[Finding], filter: &Filter, args: &FindingsArgs) -> Result<()> {
    let color = color_enabled();
    let mut table =
        Table::new(&["ID", "PRI", "SCORE", "SEVERITY", "STATE", "CHANGE", "CHECK", "ASSET", "LAST SEEN", "TITLE"]);
    for f in found {
        let change = match f.baseline {
            Baseline::New => "new",
            Baseline::Reopened => "reopened",
            Baseline::Updated => "updated",
            Baseline::Absent => "absent",
            Baseline::Unchanged => "",
        };
        // Past its SLA: said where the eye goes first.
        let change = if f.is_overdue(Timestamp::now()) {
            if change.is_empty() { "overdue".to_owned() } else { format!("{change}, overdue") }
        } else {
            change.to_owned()
        };
        table.row(
            vec![
                f.id.clone(),
                f.priority.to_string(),
                format!("{:.1}", f.score),
                f.severity.to_string(),
                f.state.to_string(),
                change,
                f.check.to_string(),
                truncate(&f.endpoint(), 40),
                f.last_seen.date_string(),
                truncate(&f.title, 60),
            ],
            color.then(|| priority_color(f.priority)),
        );
    }
    if !found.is_empty() {
        table.write(out)?;
    }
    let counts: Vec<String> =
        Priority::ALL.iter().map(|p| format!("{p}: {}", found.iter().filter(|f| f.priority == *p).count())).collect();
    writeln!(out, "{} finding(s) [{}] ({})", found.len(), counts.join(", "), filter.describe(&args.filter))?;
    Ok(())
}

fn show(ws: &Workspace, id: &str, json: bool) -> Result<()> {
    let store = super::open_existing_store(ws)?;
    let id = store.resolve_id(id)?;
    let Some(f) = store.get(&id)? else {
        bail!("no finding with id `{id}` in {}", store.dir().display());
    };
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &f.to_json())?;
        writeln!(out)?;
        return Ok(());
    }
    write_detail(&mut out, &f)?;
    Ok(())
}

fn write_detail(out: &mut impl Write, f: &Finding) -> std::io::Result<()> {
    let color = color_enabled();
    let (c, r) = if color { (priority_color(f.priority), crate::output::RESET) } else { ("", "") };
    writeln!(out, "{c}{}  {}  {}  {}{r}", f.id, f.priority, f.severity, f.state)?;
    writeln!(out, "{}", f.title)?;
    let field = |out: &mut dyn Write, k: &str, v: &str| -> std::io::Result<()> {
        if v.is_empty() { Ok(()) } else { writeln!(out, "  {k:<14} {v}") }
    };
    field(out, "check", f.check.as_str())?;
    let asset = match f.ip {
        Some(ip) => format!("{} ({ip})", f.endpoint()),
        None => f.endpoint(),
    };
    field(out, "asset", &asset)?;
    field(out, "url", f.url.as_deref().unwrap_or(""))?;
    if f.url.is_none() {
        field(out, "location", &f.location)?;
    }
    field(out, "confidence", f.confidence.as_str())?;
    field(out, "score", &format!("{:.1}{}", f.score, if f.suppressed { " (suppressed)" } else { "" }))?;
    field(out, "change", f.baseline.as_str())?;
    field(out, "evidence", &f.evidence)?;
    field(out, "remediation", &f.remediation)?;
    field(out, "cwe", &f.cwe.map(|c| format!("CWE-{c}")).unwrap_or_default())?;
    field(out, "references", &f.references.join("\n                 "))?;
    field(out, "first seen", &f.first_seen.to_string())?;
    field(out, "last seen", &format!("{} (seen {} time(s))", f.last_seen, f.seen_count))?;
    field(out, "engagement", &f.engagement)?;
    field(out, "tags", &f.tags.join(", "))?;
    field(out, "assignee", f.assignee.as_deref().unwrap_or(""))?;
    field(out, "accepted until", &f.accepted_until.map(|t| t.to_string()).unwrap_or_default())?;
    let due = f.due.map(|d| {
        let late = if f.is_overdue(Timestamp::now()) { " (OVERDUE)" } else { "" };
        format!("{}{late}", d.date_string())
    });
    field(out, "due", &due.unwrap_or_default())?;
    let audit: Vec<String> = f.audit.iter().map(u64::to_string).collect();
    field(out, "audit records", &audit.join(", "))?;
    if !f.rules.is_empty() {
        writeln!(out, "rules:")?;
        for hit in &f.rules {
            writeln!(out, "  {:<14} {}", hit.name, hit.effect)?;
        }
    }
    writeln!(out, "history:")?;
    for h in &f.history {
        let from = h.from.map_or("(new)", |s| s.as_str());
        write!(out, "  {}  {:<10} {from} -> {}", h.at, h.actor, h.to)?;
        match &h.note {
            Some(n) => writeln!(out, "  {n}")?,
            None => writeln!(out)?,
        }
    }
    Ok(())
}
