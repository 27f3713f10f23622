//! html: one self-contained page (inline CSS and SVG charts; no scripts, no
//! external assets, and a Content-Security-Policy that forbids both), every
//! text from findings HTML-escaped.
//!
//! Written with `write!` rather than a template engine: the page is one fixed
//! shape, and escaping at each interpolation is visible where it happens.

use std::fmt::Write as _;
use std::io::Write;

use super::{Doc, Fault, Summary, classify, detail_rows, finding_lists};
use crate::model::{Finding, Priority, Severity};

/// Escape text for HTML element content and quoted attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,'Noto Sans KR','Malgun Gothic',sans-serif;margin:2rem auto;max-width:62rem;padding:0 1rem;color:#1d2433;line-height:1.45}\
h1{border-bottom:3px solid #1d4e89;padding-bottom:.3rem}h2{color:#1d4e89;margin-top:2rem}\
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #c9d1dc;padding:.25rem .6rem;text-align:left;vertical-align:top}\
th{background:#eef2f7}td.n{text-align:right}pre{background:#f5f7fa;border:1px solid #c9d1dc;padding:.6rem;white-space:pre-wrap;word-break:break-all}\
section.finding{border-top:1px solid #c9d1dc;margin-top:1.5rem}.badge{color:#fff;border-radius:.3rem;padding:0 .4rem;font-weight:600}\
.P1{background:#b3261e}.P2{background:#d9730d}.P3{background:#1d6fa5}.P4{background:#6b7280}.charts{display:flex;flex-wrap:wrap;gap:2rem}";

fn color(p: Priority) -> &'static str {
    match p {
        Priority::P1 => "#b3261e",
        Priority::P2 => "#d9730d",
        Priority::P3 => "#1d6fa5",
        Priority::P4 => "#6b7280",
    }
}

/// Vertical bars: one per priority.
fn priority_chart(s: &Summary, title: &str) -> String {
    let max = s.by_priority.iter().copied().max().unwrap_or(0).max(1);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"320\" height=\"220\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    for (i, (p, n)) in Priority::ALL.iter().zip(s.by_priority).enumerate() {
        let h = n * 160 / max;
        let x = 20 + i * 75;
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{}\" width=\"50\" height=\"{h}\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"13\">{n}</text>\
             <text x=\"{}\" y=\"210\" text-anchor=\"middle\" font-size=\"13\">{p}</text>",
            185 - h,
            color(*p),
            x + 25,
            180 - h,
            x + 25,
        );
    }
    svg.push_str("<line x1=\"10\" y1=\"185\" x2=\"310\" y2=\"185\" stroke=\"#1d2433\"/></svg>");
    svg
}

/// Horizontal stacked bars: the hosts with the most findings, by priority.
fn host_chart(hosts: &[(&str, [usize; 4])], title: &str) -> String {
    let max = hosts.iter().map(|(_, c)| c.iter().sum::<usize>()).max().unwrap_or(0).max(1);
    let height = 20 + hosts.len() * 26;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"560\" height=\"{height}\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    for (row, (host, counts)) in hosts.iter().enumerate() {
        let y = 10 + row * 26;
        let name: String = host.chars().take(28).collect();
        let _ = write!(svg, "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>", y + 14, esc(&name));
        let mut x = 220;
        for (p, n) in Priority::ALL.iter().zip(counts) {
            let w = n * 300 / max;
            if w > 0 {
                let _ = write!(svg, "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"18\" fill=\"{}\"/>", color(*p));
            }
            x += w;
        }
        let total: usize = counts.iter().sum();
        let _ = write!(svg, "<text x=\"{}\" y=\"{}\" font-size=\"12\">{total}</text>", x + 6, y + 14);
    }
    svg.push_str("</svg>");
    svg
}

fn summary(doc: &Doc<'_>, s: &Summary, out: &mut dyn Write) -> std::io::Result<()> {
    let l = doc.labels;
    writeln!(out, "<h2>{}</h2>\n<p><strong>{}: {}</strong></p>", l.summary, l.total, doc.len())?;
    let hosts = s.top_hosts(15);
    writeln!(
        out,
        "<div class=\"charts\"><figure><figcaption>{}</figcaption>{}</figure><figure><figcaption>{}</figcaption>{}</figure></div>",
        l.by_priority,
        priority_chart(s, l.by_priority),
        l.by_host,
        host_chart(&hosts, l.by_host)
    )?;
    if s.by_host.len() > hosts.len() {
        writeln!(out, "<p>(+{} {})</p>", s.by_host.len() - hosts.len(), l.more_hosts)?;
    }
    write!(out, "<table><tr><th>{}</th><th>P1</th><th>P2</th><th>P3</th><th>P4</th><th>{}</th></tr>", l.host, l.total)?;
    for (host, c) in s.top_hosts(usize::MAX) {
        let total: usize = c.iter().sum();
        write!(out, "<tr><td>{}</td>", esc(host))?;
        for n in c {
            write!(out, "<td class=\"n\">{n}</td>")?;
        }
        writeln!(out, "<td class=\"n\">{total}</td></tr>")?;
    }
    writeln!(out, "</table>")?;
    write!(out, "<h3>{}</h3>\n<table><tr><th>{}</th><th>{}</th></tr>", l.by_severity, l.severity, l.count)?;
    for (sev, n) in Severity::ALL.iter().rev().zip(s.by_severity.iter().rev()) {
        write!(out, "<tr><td>{}</td><td class=\"n\">{n}</td></tr>", l.severity(*sev))?;
    }
    writeln!(out, "</table>")?;
    writeln!(out, "<h3>{}</h3>\n<table><tr><th>{}</th><th>{}</th></tr>", l.by_kisa, l.item, l.count)?;
    let mut without = doc.len();
    for (k, n) in &s.by_kisa {
        writeln!(out, "<tr><td>{}</td><td class=\"n\">{n}</td></tr>", esc(&l.kisa(*k)))?;
        without -= n;
    }
    writeln!(out, "<tr><td>{}</td><td class=\"n\">{without}</td></tr></table>", l.kisa_none)
}

fn finding(doc: &Doc<'_>, i: usize, f: &Finding, out: &mut dyn Write) -> std::io::Result<()> {
    let l = doc.labels;
    writeln!(
        out,
        "<section class=\"finding\" id=\"f-{}\"><h3>{}. <span class=\"badge {}\">{}</span> {}</h3>",
        esc(&f.id),
        i + 1,
        f.priority,
        f.priority,
        esc(&f.title)
    )?;
    write!(out, "<table><tr><th>ID</th><td><code>{}</code></td></tr>", esc(&f.id))?;
    for (label, value) in detail_rows(f, l, doc.generated_at) {
        write!(out, "<tr><th>{label}</th><td>{}</td></tr>", esc(&value))?;
    }
    writeln!(out, "</table>")?;
    let help = classify(&f.check).help;
    if !help.is_empty() {
        writeln!(out, "<p><strong>{}</strong>: {}</p>", l.about, esc(help))?;
    }
    if !f.evidence.is_empty() {
        writeln!(out, "<h4>{}</h4><pre>{}</pre>", l.evidence, esc(&f.evidence))?;
    }
    if !f.remediation.is_empty() {
        writeln!(out, "<h4>{}</h4><p>{}</p>", l.remediation, esc(&f.remediation))?;
    }
    let rule = |name: &str, effect: &str| format!("<b>{}</b>: {}", esc(name), esc(effect));
    for (label, items) in finding_lists(f, l, esc, rule) {
        write!(out, "<h4>{label}</h4><ul>")?;
        for item in items {
            write!(out, "<li>{item}</li>")?;
        }
        writeln!(out, "</ul>")?;
    }
    writeln!(out, "</section>")
}

pub(crate) fn write(doc: &Doc<'_>, out: &mut dyn Write) -> Result<(), Fault> {
    let l = doc.labels;
    let e = &doc.engagement;
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} — {}</title><style>{STYLE}</style></head><body>",
        l.lang,
        l.title,
        esc(&e.id)
    )?;
    writeln!(out, "<h1>{} — {}</h1>\n<table>", l.title, esc(&e.id))?;
    let mut meta = vec![(l.engagement, e.id.clone())];
    if !e.agency.is_empty() {
        meta.push((l.agency, e.agency.clone()));
    }
    if let Some(w) = doc.window() {
        meta.push((l.window, w));
    }
    meta.push((l.generated, doc.generated_at.to_string()));
    meta.push((l.tool, format!("haetae {}", doc.tool_version)));
    meta.push((l.filters, doc.filters.join("; ")));
    for (label, value) in meta {
        writeln!(out, "<tr><th>{label}</th><td>{}</td></tr>", esc(&value))?;
    }
    writeln!(out, "</table>")?;
    let s = doc.summary();
    summary(doc, &s, out)?;
    writeln!(out, "<h2>{}</h2>", l.findings)?;
    if doc.len() == 0 {
        writeln!(out, "<p>{}</p>", l.no_findings)?;
    }
    for (i, f) in doc.findings().enumerate() {
        finding(doc, i, &f, out)?;
    }
    writeln!(out, "</body></html>")?;
    Ok(())
}
