//! `haetae rules check | apply | explain`.

use std::io::Write;

use anyhow::Result;
use haetae_findings::{Prioritizer, Timestamp};

use crate::config::Workspace;

/// Validate rules.toml: every rule compiles and type-checks.
pub(crate) fn check(ws: &Workspace) -> Result<()> {
    let rules = super::prioritizer(ws)?;
    let mut out = std::io::stdout().lock();
    if !ws.rules.exists() {
        writeln!(out, "no {}: the default score, bands and SLAs apply", ws.rules.display())?;
        return Ok(());
    }
    writeln!(out, "rules OK: {} rule(s) in {}", rules.rules().len(), ws.rules.display())?;
    for r in rules.rules() {
        writeln!(out, "  {}: {}", r.name, r.when)?;
    }
    Ok(())
}

/// Re-score every stored finding with the current rules.
pub(crate) fn apply(ws: &Workspace) -> Result<()> {
    let changed = if let Some(api) = crate::remote::find(ws)? {
        let answer: serde_json::Value = crate::remote::block(api.post("/v1/rules/apply", &serde_json::json!({})))?;
        answer.get("changed").and_then(serde_json::Value::as_u64).unwrap_or(0)
    } else {
        let store = super::open_existing_store(ws)?;
        u64::try_from(haetae_service::rescore::apply(&store, &ws.rules)?).unwrap_or(u64::MAX)
    };
    writeln!(std::io::stdout().lock(), "re-scored with {}: {changed} finding(s) changed", ws.rules.display())?;
    Ok(())
}

/// How the current rules score one finding, line by line.
pub(crate) fn explain(ws: &Workspace, id: &str) -> Result<()> {
    let rules = super::prioritizer(ws)?;
    let stored = super::findings::get(ws, id)?;
    let mut f = stored.clone();
    rules.prioritize(&mut f, Timestamp::now());
    let mut out = std::io::stdout().lock();
    writeln!(out, "{} {} {} on {}", f.id, f.check, f.title, f.endpoint())?;
    for hit in &f.rules {
        writeln!(out, "  {:<40} {}", hit.name, hit.effect)?;
    }
    let fired = f.rules.iter().filter(|h| h.name != haetae_rules::DEFAULT_RULE && h.name != "result").count();
    writeln!(out, "{fired} of {} rule(s) fired", rules.rules().len())?;
    if (stored.priority, stored.score, stored.suppressed) != (f.priority, f.score, f.suppressed) {
        writeln!(
            out,
            "stored: {} score {}{}; run `haetae rules apply` to store the new result",
            stored.priority,
            stored.score,
            if stored.suppressed { " (suppressed)" } else { "" }
        )?;
    }
    Ok(())
}
