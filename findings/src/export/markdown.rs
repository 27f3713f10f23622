//! md: a Markdown report. Texts from findings are escaped (inline) or fenced
//! (evidence), so nothing a server sent can become a link, an image, raw
//! HTML or a broken table.

use std::io::Write;

use super::{Doc, Fault, Summary, classify, detail_rows, finding_lists};
use crate::model::{Finding, Priority, Severity};

/// Inline text: CommonMark-escaped, on one line.
pub(crate) fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        match ch {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' | '&' => {
                out.push('\\');
                out.push(ch);
            }
            '\r' | '\n' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A reference: an autolink when it is a web URL, else escaped text.
fn reference(r: &str) -> String {
    let web = (r.starts_with("https://") || r.starts_with("http://")) && !r.contains(['<', '>', ' ', '\n']);
    if web { format!("<{r}>") } else { inline(r) }
}

/// A fenced block whose fence is longer than any backtick run inside it.
fn fenced(out: &mut dyn Write, text: &str) -> std::io::Result<()> {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    writeln!(out, "{fence}text\n{}\n{fence}\n", text.trim_end_matches(['\r', '\n']))
}

/// A bar of `n` out of `max`, 20 cells wide at most.
fn bar(n: usize, max: usize) -> String {
    if max == 0 || n == 0 {
        return String::new();
    }
    let cells = (n * 20).div_ceil(max);
    "█".repeat(cells)
}

fn summary(doc: &Doc<'_>, s: &Summary, out: &mut dyn Write) -> std::io::Result<()> {
    let l = doc.labels;
    writeln!(out, "## {}\n\n**{}: {}**\n", l.summary, l.total, doc.len())?;
    writeln!(out, "### {}\n\n| {} | {} | |\n|---|---:|---|", l.by_priority, l.priority, l.count)?;
    let max = s.by_priority.iter().copied().max().unwrap_or(0);
    for (p, n) in Priority::ALL.iter().zip(s.by_priority) {
        writeln!(out, "| {p} | {n} | {} |", bar(n, max))?;
    }
    writeln!(out, "\n### {}\n\n| {} | {} |\n|---|---:|", l.by_severity, l.severity, l.count)?;
    for (sev, n) in Severity::ALL.iter().rev().zip(s.by_severity.iter().rev()) {
        writeln!(out, "| {} | {n} |", l.severity(*sev))?;
    }
    writeln!(
        out,
        "\n### {}\n\n| {} | P1 | P2 | P3 | P4 | {} |\n|---|---:|---:|---:|---:|---:|",
        l.by_host, l.host, l.total
    )?;
    for (host, c) in s.top_hosts(usize::MAX) {
        let total: usize = c.iter().sum();
        writeln!(out, "| {} | {} | {} | {} | {} | {total} |", inline(host), c[0], c[1], c[2], c[3])?;
    }
    writeln!(out, "\n### {}\n\n| {} | {} |\n|---|---:|", l.by_kisa, l.item, l.count)?;
    let mut without = doc.len();
    for (k, n) in &s.by_kisa {
        writeln!(out, "| {} | {n} |", inline(&l.kisa(*k)))?;
        without -= n;
    }
    writeln!(out, "| {} | {without} |\n", l.kisa_none)
}

fn finding(doc: &Doc<'_>, i: usize, f: &Finding, out: &mut dyn Write) -> std::io::Result<()> {
    let l = doc.labels;
    writeln!(out, "### {}. \\[{}\\] {}\n", i + 1, f.priority, inline(&f.title))?;
    writeln!(out, "| | |\n|---|---|")?;
    writeln!(out, "| ID | `{}` |", f.id.replace('`', ""))?;
    for (label, value) in detail_rows(f, l, doc.generated_at) {
        writeln!(out, "| {label} | {} |", inline(&value))?;
    }
    writeln!(out)?;
    let help = classify(&f.check).help;
    if !help.is_empty() {
        writeln!(out, "**{}**: {}\n", l.about, inline(help))?;
    }
    if !f.evidence.is_empty() {
        writeln!(out, "**{}**\n", l.evidence)?;
        fenced(out, &f.evidence)?;
    }
    if !f.remediation.is_empty() {
        writeln!(out, "**{}**: {}\n", l.remediation, inline(&f.remediation))?;
    }
    let rule = |name: &str, effect: &str| format!("{}: {}", inline(name), inline(effect));
    for (label, items) in finding_lists(f, l, reference, rule) {
        writeln!(out, "**{label}**\n")?;
        for item in items {
            writeln!(out, "- {item}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

pub(crate) fn write(doc: &Doc<'_>, out: &mut dyn Write) -> Result<(), Fault> {
    let l = doc.labels;
    let e = &doc.engagement;
    writeln!(out, "# {} — {}\n\n| | |\n|---|---|", l.title, inline(&e.id))?;
    writeln!(out, "| {} | {} |", l.engagement, inline(&e.id))?;
    if !e.agency.is_empty() {
        writeln!(out, "| {} | {} |", l.agency, inline(&e.agency))?;
    }
    if let Some(w) = doc.window() {
        writeln!(out, "| {} | {} |", l.window, inline(&w))?;
    }
    writeln!(out, "| {} | {} |", l.generated, doc.generated_at)?;
    writeln!(out, "| {} | haetae {} |", l.tool, inline(&doc.tool_version))?;
    writeln!(out, "| {} | {} |\n", l.filters, inline(&doc.filters.join("; ")))?;
    let s = doc.summary();
    summary(doc, &s, out)?;
    writeln!(out, "## {}\n", l.findings)?;
    if doc.len() == 0 {
        writeln!(out, "{}", l.no_findings)?;
    }
    for (i, f) in doc.findings().enumerate() {
        finding(doc, i, &f, out)?;
    }
    Ok(())
}
