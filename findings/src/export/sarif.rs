//! sarif: SARIF 2.1.0, one run, for code-scanning dashboards and importers
//! such as DefectDojo.
//!
//! - Each check in the export is a rule (`ruleId` = the check id) with its
//!   title, help text, CWE (`external/cwe/cwe-N` tag and `properties.cwe`),
//!   OWASP and KISA classification and a `security-severity`.
//! - Each finding is a result: `level` from severity (critical and high:
//!   `error`; medium and low: `warning`; info: `note`), the URL (or a
//!   `dns:`/`tcp://` URI of the host) as `physicalLocation.artifactLocation.uri`,
//!   the fingerprint in `partialFingerprints` (`haetae/v<version>`), the change
//!   since the last scan in `baselineState` (`reopened` is SARIF's `new`), the
//!   priority as `rank` (P1 100, P2 75, P3 50, P4 25), and the team's triage as
//!   `suppressions`: false positive and accepted risk are accepted external
//!   suppressions with the note as justification, so an importer keeps the
//!   decision. A fixed finding is a `pass` result with level `none`.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{Value, json};

use super::{Doc, Fault, classify};
use crate::check::CheckId;
use crate::model::{Baseline, Finding, Priority, Severity, State};
use crate::redact::redact_cow;

const SCHEMA: &str = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// GitHub's scale: 9.0+ critical, 7.0+ high, 4.0+ medium, above 0 low.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium | Severity::Low => "warning",
        Severity::Info => "note",
    }
}

fn rank(p: Priority) -> f64 {
    match p {
        Priority::P1 => 100.0,
        Priority::P2 => 75.0,
        Priority::P3 => 50.0,
        Priority::P4 => 25.0,
    }
}

fn baseline_state(b: Baseline) -> &'static str {
    match b {
        Baseline::New | Baseline::Reopened => "new",
        Baseline::Unchanged => "unchanged",
        Baseline::Updated => "updated",
        Baseline::Absent => "absent",
    }
}

fn rule(check: &CheckId, title: &str, severity: Severity) -> Value {
    let c = classify(check);
    let mut tags = vec!["security".to_owned()];
    if let Some(n) = c.cwe {
        tags.push(format!("external/cwe/cwe-{n}"));
    }
    if let Some(o) = c.owasp {
        tags.push(format!("owasp/{}", o.code()));
    }
    if let Some(k) = c.kisa {
        tags.push(format!("kisa/{}", k.code()));
    }
    let help = if c.help.is_empty() { title } else { c.help };
    let mut props = json!({
        "tags": tags,
        "security-severity": security_severity(severity),
        "cwe": c.cwe.map(|n| format!("CWE-{n}")),
        "owasp": c.owasp.map(|o| o.to_string()),
        "kisa": c.kisa.map(|k| format!("{} {} ({})", k.code(), k.name_ko(), k.name_en())),
    });
    if let Some(obj) = props.as_object_mut() {
        obj.retain(|_, v| !v.is_null());
    }
    let mut r = json!({
        "id": check.as_str(),
        "name": check.as_str(),
        "shortDescription": { "text": title },
        "fullDescription": { "text": help },
        "help": { "text": help },
        "defaultConfiguration": { "level": level(severity) },
        "properties": props,
    });
    if let (Some(n), Some(obj)) = (c.cwe, r.as_object_mut()) {
        obj.insert("helpUri".into(), format!("https://cwe.mitre.org/data/definitions/{n}.html").into());
    }
    r
}

/// Percent-encode what may not stand in a URI reference (spaces, non-ASCII,
/// the brackets of `[redacted]`), keeping an IPv6 literal's brackets.
fn uri(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let host_start = text.find("://").map(|i| i + 3);
    for (i, ch) in text.char_indices() {
        let keep_bracket = match ch {
            '[' => host_start == Some(i),
            ']' => host_start.is_some_and(|h| text[h..].starts_with('[') && text[h..].find(']') == Some(i - h)),
            _ => false,
        };
        if ch.is_ascii_alphanumeric() || "-._~:/?#@!$&'()*+,;=%".contains(ch) || keep_bracket {
            out.push(ch);
        } else {
            let mut buf = [0u8; 4];
            for b in ch.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// Where the finding is: its URL, else a URI of its host and port.
fn location_uri(f: &Finding) -> String {
    if let Some(url) = &f.url {
        return uri(url);
    }
    let host = if f.host.contains(':') { format!("[{}]", f.host) } else { f.host.clone() };
    let text = match (f.check.as_str().starts_with("dns."), f.port) {
        (true, _) | (false, None) => format!("dns:{host}"),
        (false, Some(p)) => format!("tcp://{host}:{p}"),
    };
    uri(&text)
}

fn suppressions(f: &Finding) -> Value {
    let note = f.history.iter().rev().find(|h| h.to == f.state).and_then(|h| h.note.clone());
    let justification = match (f.state, f.accepted_until) {
        (State::FalsePositive, _) => Some(format!("false positive: {}", note.unwrap_or_default())),
        (State::AcceptedRisk, Some(until)) => {
            Some(format!("accepted risk until {until}: {}", note.unwrap_or_default()))
        }
        (State::AcceptedRisk, None) => Some(format!("accepted risk: {}", note.unwrap_or_default())),
        _ => None,
    };
    match justification {
        Some(j) => json!([{
            "kind": "external",
            "status": "accepted",
            "justification": j.trim_end_matches([' ', ':']),
            "properties": { "state": f.state },
        }]),
        None => json!([]),
    }
}

fn result(f: &Finding, rule_index: usize) -> Value {
    let c = classify(&f.check);
    let mut text = f.title.clone();
    if !f.evidence.is_empty() {
        text.push_str(" — ");
        text.push_str(&f.evidence);
    }
    let (kind, level) = match f.state {
        State::Fixed => ("pass", "none"),
        _ => ("fail", level(f.severity)),
    };
    let mut props = json!({
        "security-severity": security_severity(f.severity),
        "severity": f.severity,
        "confidence": f.confidence,
        "priority": f.priority,
        "score": f.score,
        "state": f.state,
        "baseline": f.baseline,
        "host": f.host,
        "ip": f.ip,
        "port": f.port,
        "engagement": f.engagement,
        "first_seen": f.first_seen,
        "last_seen": f.last_seen,
        "seen_count": f.seen_count,
        "due": f.due,
        "assignee": f.assignee,
        "cwe": f.cwe.or(c.cwe).map(|n| format!("CWE-{n}")),
        "owasp": c.owasp.map(|o| o.code()),
        "kisa": c.kisa.map(|k| k.code()),
        "remediation": f.remediation,
        "references": f.references,
        "tags": f.tags,
        "rules": f.rules.iter().map(|r| format!("{}: {}", r.name, r.effect)).collect::<Vec<_>>(),
    });
    if let Some(obj) = props.as_object_mut() {
        obj.retain(|_, v| !v.is_null());
    }
    let fingerprint_key = format!("haetae/v{}", f.fingerprint_version);
    json!({
        "ruleId": f.check.as_str(),
        "ruleIndex": rule_index,
        "kind": kind,
        "level": level,
        "message": { "text": text },
        "locations": [{
            "physicalLocation": { "artifactLocation": { "uri": location_uri(f) } },
            "logicalLocations": [{ "name": f.endpoint(), "kind": "host" }],
        }],
        "partialFingerprints": { fingerprint_key: f.id },
        "baselineState": baseline_state(f.baseline),
        "rank": rank(f.priority),
        "suppressions": suppressions(f),
        "properties": props,
    })
}

pub(crate) fn write(doc: &Doc<'_>, out: &mut dyn Write) -> Result<(), Fault> {
    // Rules: each check once, in catalogue order, titled from the catalogue
    // (a custom check from its first finding) with its default severity.
    let mut checks: BTreeMap<CheckId, (String, Severity)> = BTreeMap::new();
    for f in doc.raw {
        checks.entry(f.check.clone()).or_insert_with(|| match f.check.meta() {
            Some(m) => (m.title.to_owned(), m.default_severity),
            None => (redact_cow(&f.title).into_owned(), f.severity),
        });
    }
    let index: BTreeMap<&CheckId, usize> = checks.keys().enumerate().map(|(i, c)| (c, i)).collect();
    let rules: Vec<Value> = checks.iter().map(|(c, (title, sev))| rule(c, title, *sev)).collect();
    let e = &doc.engagement;
    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "haetae",
                "version": doc.tool_version,
                "informationUri": "https://example.invalid/haetae",
                "rules": rules,
            }},
            "automationDetails": { "id": format!("{}/", e.id) },
            "invocations": [{ "executionSuccessful": true, "endTimeUtc": doc.generated_at }],
            "results": [],
            "properties": {
                "engagement": {
                    "id": e.id,
                    "agency": e.agency,
                    "not_before": e.not_before,
                    "not_after": e.not_after,
                },
                "generated_at": doc.generated_at,
                "filters": doc.filters,
            },
        }],
    });
    // The log is pretty, its results one per line: streamed, so 100k results
    // are never all in memory as JSON values. `"results": []` appears once:
    // inside strings every quote is escaped.
    let text = serde_json::to_string_pretty(&log)?;
    let (head, tail) = text.split_once("\"results\": []").unwrap_or((&text, ""));
    out.write_all(head.as_bytes())?;
    out.write_all(b"\"results\": [")?;
    for (i, f) in doc.findings().enumerate() {
        out.write_all(if i == 0 { b"\n        " } else { b",\n        " })?;
        serde_json::to_writer(&mut *out, &result(&f, index.get(&f.check).copied().unwrap_or_default()))?;
    }
    if doc.len() > 0 {
        out.write_all(b"\n      ")?;
    }
    out.write_all(b"]")?;
    out.write_all(tail.as_bytes())?;
    out.write_all(b"\n")?;
    Ok(())
}
