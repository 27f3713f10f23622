//! csv: UTF-8 with a byte-order mark (spreadsheet programs then read Korean
//! text right), a header row of SPEC field names, one row per finding,
//! fields quoted by RFC 4180 (CRLF line ends, `"` doubled).
//!
//! Written by hand rather than with the `csv` crate: quoting is the whole of
//! it, and one more rule is ours: a text cell that starts with `=`, `+`, `-`,
//! `@`, tab or CR gets a leading `'`, so a spreadsheet never runs what a
//! hostile server put into evidence as a formula (CSV injection).

use std::io::Write;

use super::{Doc, Fault, classify};
use crate::model::Finding;

const HEADER: &[&str] = &[
    "id",
    "priority",
    "score",
    "severity",
    "confidence",
    "state",
    "check",
    "title",
    "host",
    "ip",
    "port",
    "url",
    "location",
    "evidence",
    "cwe",
    "owasp",
    "kisa",
    "remediation",
    "references",
    "first_seen",
    "last_seen",
    "seen_count",
    "due",
    "baseline",
    "engagement",
    "tags",
    "rules",
    "assignee",
    "accepted_until",
    "suppressed",
    "history",
    "exported_at",
    "filters",
];

pub(crate) fn write(doc: &Doc<'_>, out: &mut dyn Write) -> Result<(), Fault> {
    out.write_all("\u{feff}".as_bytes())?;
    let mut row = String::with_capacity(1024);
    for (i, h) in HEADER.iter().enumerate() {
        push_field(&mut row, i, h, false);
    }
    row.push_str("\r\n");
    out.write_all(row.as_bytes())?;
    let exported_at = doc.generated_at.to_string();
    let filters = doc.filters.join("; ");
    for f in doc.findings() {
        row.clear();
        finding_row(&mut row, &f, &exported_at, &filters);
        out.write_all(row.as_bytes())?;
    }
    Ok(())
}

fn finding_row(row: &mut String, f: &Finding, exported_at: &str, filters: &str) {
    let c = classify(&f.check);
    let opt = |v: Option<String>| v.unwrap_or_default();
    let rules: Vec<String> = f.rules.iter().map(|r| format!("{}: {}", r.name, r.effect)).collect();
    let history: Vec<String> = f
        .history
        .iter()
        .map(|h| {
            let from = h.from.map_or("(new)", |s| s.as_str());
            match &h.note {
                Some(n) => format!("{} {} {from} -> {}: {n}", h.at, h.actor, h.to),
                None => format!("{} {} {from} -> {}", h.at, h.actor, h.to),
            }
        })
        .collect();
    let cells: [(bool, String); 33] = [
        (false, f.id.clone()),
        (false, f.priority.to_string()),
        (false, format!("{:.1}", f.score)),
        (false, f.severity.to_string()),
        (false, f.confidence.to_string()),
        (false, f.state.to_string()),
        (true, f.check.to_string()),
        (true, f.title.clone()),
        (true, f.host.clone()),
        (false, opt(f.ip.map(|i| i.to_string()))),
        (false, opt(f.port.map(|p| p.to_string()))),
        (true, opt(f.url.clone())),
        (true, f.location.clone()),
        (true, f.evidence.clone()),
        (false, opt(f.cwe.or(c.cwe).map(|n| format!("CWE-{n}")))),
        (false, opt(c.owasp.map(|o| o.code().to_owned()))),
        (false, opt(c.kisa.map(|k| k.code().to_owned()))),
        (true, f.remediation.clone()),
        (true, f.references.join("\n")),
        (false, f.first_seen.to_string()),
        (false, f.last_seen.to_string()),
        (false, f.seen_count.to_string()),
        (false, opt(f.due.map(|d| d.to_string()))),
        (false, f.baseline.to_string()),
        (true, f.engagement.clone()),
        (true, f.tags.join("; ")),
        (true, rules.join("\n")),
        (true, opt(f.assignee.clone())),
        (false, opt(f.accepted_until.map(|d| d.to_string()))),
        (false, f.suppressed.to_string()),
        (true, history.join("\n")),
        (false, exported_at.to_owned()),
        (true, filters.to_owned()),
    ];
    for (i, (text, cell)) in cells.iter().enumerate() {
        push_field(row, i, cell, *text);
    }
    row.push_str("\r\n");
}

/// Append one field (after a comma unless it is the first), quoted when it
/// holds a comma, quote, CR or LF; a `text` field that a spreadsheet would
/// take for a formula gets a leading `'`.
pub(crate) fn push_field(row: &mut String, index: usize, field: &str, text: bool) {
    if index > 0 {
        row.push(',');
    }
    if text && field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        return push_field(row, 0, &format!("'{field}"), false);
    }
    if field.contains([',', '"', '\r', '\n']) {
        row.push('"');
        for ch in field.chars() {
            if ch == '"' {
                row.push('"');
            }
            row.push(ch);
        }
        row.push('"');
    } else {
        row.push_str(field);
    }
}
