//! `haetae findings [filters] [--json]` and `haetae findings show ID`.

use std::io::Write;

use anyhow::{Result, bail};
use haetae_findings::{Baseline, Finding, Priority, Timestamp};
use haetae_service::query::{FindingFilter, FindingQuery};

use crate::cli::{FilterArgs, FindingsArgs, FindingsCommand};
use crate::config::Workspace;
use crate::output::{Table, color_enabled, priority_color, truncate};

/// The flags as the service's query (the same the API takes).
pub(crate) fn query(a: &FilterArgs) -> FindingQuery {
    let state: Vec<&str> = a.state.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect();
    FindingQuery {
        state: (!state.is_empty()).then(|| state.join(",")),
        min_priority: a.min_priority.clone(),
        check: a.check.clone(),
        host: a.host.clone(),
        since: a.since.clone(),
        overdue: a.overdue,
        suppressed: a.suppressed,
    }
}

/// The findings the filters choose, most urgent first: from the daemon's API
/// when one holds the store, else from the store (which must exist; `None`
/// when nothing was ever scanned here). Unreadable records are warned about.
pub(crate) fn select(ws: &Workspace, filter: &FindingFilter, q: &FindingQuery) -> Result<Option<Vec<Finding>>> {
    if let Some(api) = crate::remote::find(ws)? {
        let path = haetae_service::client::with_query("/v1/findings", q)?;
        let (headers, body) = crate::remote::block(api.call(haetae_service::client::Method::GET, &path, None))?;
        if let Some(skipped) = headers.get("x-haetae-skipped").and_then(|v| v.to_str().ok()) {
            writeln!(std::io::stderr().lock(), "warning: unreadable records: {skipped}")?;
        }
        let list: Vec<Finding> = serde_json::from_slice(&body)
            .map_err(|e| anyhow::anyhow!("the daemon's finding list is not what this haetae expects: {e}"))?;
        return Ok(Some(list));
    }
    if ws.database.is_none() && !ws.store.exists() {
        super::prioritizer(ws)?;
        return Ok(None);
    }
    let store = super::open_existing_store(ws)?;
    store.expire_acceptances(Timestamp::now())?;
    let (found, skipped) = filter.select(&store)?;
    let mut stderr = std::io::stderr().lock();
    for bad in &skipped {
        writeln!(stderr, "warning: {bad}")?;
    }
    let never_scanned = store.is_empty() && store.scans()?.is_empty();
    Ok((!never_scanned || !found.is_empty()).then_some(found))
}

pub(crate) fn run(ws: &Workspace, args: FindingsArgs) -> Result<()> {
    if let Some(FindingsCommand::Show { id }) = args.show {
        return show(ws, &id, args.json);
    }
    let q = query(&args.filter);
    let filter = FindingFilter::parse(&q)?;
    // A workspace never scanned lists nothing, and says why, without creating a store.
    let selected = select(ws, &filter, &q)?;
    let never_scanned = selected.is_none();
    let found = selected.unwrap_or_default();
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = found.iter().map(Finding::to_json).collect();
        serde_json::to_writer_pretty(&mut out, &list)?;
        writeln!(out)?;
    } else {
        write_list(&mut out, &found, &filter)?;
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
fn write_list(out: &mut impl Write, found: &[Finding], filter: &FindingFilter) -> Result<()> {
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
    writeln!(out, "{} finding(s) [{}] ({})", found.len(), counts.join(", "), filter.describe())?;
    Ok(())
}

/// One finding by id or unique prefix, from the API or the store.
pub(crate) fn get(ws: &Workspace, id: &str) -> Result<Finding> {
    if let Some(api) = crate::remote::find(ws)? {
        let path = format!("/v1/findings/{}", url_segment(id));
        return crate::remote::block(api.get(&path));
    }
    let store = super::open_existing_store(ws)?;
    let id = store.resolve_id(id)?;
    match store.get(&id)? {
        Some(f) => Ok(f),
        None => bail!("no finding with id `{id}` in {}", store.dir().display()),
    }
}

/// `id` safe in a URL path (ids are hex; anything else is escaped).
fn url_segment(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn show(ws: &Workspace, id: &str, json: bool) -> Result<()> {
    let f = get(ws, id)?;
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
