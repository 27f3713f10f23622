//! json (one document) and jsonl (one finding per line).
//!
//! The document is pretty at the top and has one finding per line inside
//! `findings`, so it stays readable and diffable at 100k findings. Each jsonl
//! line is a finding with an `export` object (when, by which version, with
//! which filters), so a line copied elsewhere still says where it came from.

use std::io::Write;

use serde_json::{Value, json};

use super::{Doc, Fault, finding_json};
use crate::model::{Priority, Severity, State};

/// The counts of [`super::Summary`] as JSON objects keyed by the stable names.
fn summary_json(doc: &Doc<'_>) -> Value {
    let s = doc.summary();
    let keyed = |names: &mut dyn Iterator<Item = &'static str>, counts: &[usize]| -> Value {
        Value::Object(names.zip(counts).map(|(n, c)| (n.to_owned(), Value::from(*c))).collect())
    };
    let by_host: serde_json::Map<String, Value> =
        s.by_host.iter().map(|(h, c)| (h.clone(), Value::from(c.iter().sum::<usize>()))).collect();
    let by_kisa: serde_json::Map<String, Value> =
        s.by_kisa.iter().map(|(k, c)| (k.code().to_owned(), Value::from(*c))).collect();
    json!({
        "total": doc.len(),
        "by_priority": keyed(&mut Priority::ALL.iter().map(|p| p.as_str()), &s.by_priority),
        "by_severity": keyed(&mut Severity::ALL.iter().map(|p| p.as_str()), &s.by_severity),
        "by_state": keyed(&mut State::ALL.iter().map(|p| p.as_str()), &s.by_state),
        "by_host": by_host,
        "by_kisa": by_kisa,
    })
}

pub(crate) fn document(doc: &Doc<'_>, out: &mut dyn Write) -> Result<(), Fault> {
    let e = &doc.engagement;
    let head = [
        (
            "engagement",
            json!({
                "id": e.id,
                "agency": e.agency,
                "window": { "not_before": e.not_before, "not_after": e.not_after },
            }),
        ),
        ("generated_at", json!(doc.generated_at)),
        ("tool", json!({ "name": "haetae", "version": doc.tool_version })),
        ("filters", json!(doc.filters)),
        ("summary", summary_json(doc)),
    ];
    out.write_all(b"{\n")?;
    for (key, value) in head {
        write!(out, "  \"{key}\": ")?;
        let mut pretty = Vec::new();
        serde_json::to_writer_pretty(&mut pretty, &value)?;
        // Indent the nested lines by the two spaces of this level.
        for (i, line) in pretty.split(|b| *b == b'\n').enumerate() {
            if i > 0 {
                out.write_all(b"\n  ")?;
            }
            out.write_all(line)?;
        }
        out.write_all(b",\n")?;
    }
    out.write_all(b"  \"findings\": [")?;
    for (i, f) in doc.findings().enumerate() {
        out.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
        serde_json::to_writer(&mut *out, &finding_json(&f))?;
    }
    out.write_all(if doc.len() == 0 { b"]\n}\n" } else { b"\n  ]\n}\n" })?;
    Ok(())
}

pub(crate) fn lines(doc: &Doc<'_>, out: &mut dyn Write) -> Result<(), Fault> {
    let export = json!({
        "generated_at": doc.generated_at,
        "tool_version": doc.tool_version,
        "filters": doc.filters,
    });
    for f in doc.findings() {
        let mut v = finding_json(&f);
        if let Some(obj) = v.as_object_mut() {
            obj.insert("export".into(), export.clone());
        }
        serde_json::to_writer(&mut *out, &v)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
