//! `haetae scope check TARGET...`: in or out, and why; exit 3 if any is out.

use std::io::Write as _;

use anyhow::{Result, anyhow};
use haetae_findings::Timestamp;
use haetae_scanner::scope::{Scope, Target};

use crate::config::Workspace;
use crate::exit::ScopeRefused;

pub(crate) fn check(ws: &Workspace, targets: &[String], json: bool) -> Result<()> {
    let scope = Scope::load(&ws.scope)?;
    let mut out = std::io::stdout().lock();
    let mut outs = 0;
    let mut rows = Vec::new();
    for t in targets {
        let (kind, d) = scope.check_target(t);
        if !d.allowed {
            outs += 1;
        }
        let kind = match kind {
            Target::Name(_) => "name",
            Target::Addr(_) => "address",
            Target::Url { .. } => "url",
        };
        rows.push((t.clone(), kind, d));
    }
    let window = scope.window(Timestamp::now());
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(t, kind, d)| serde_json::json!({"target": t, "kind": kind, "in_scope": d.allowed, "reason": d.reason}))
            .collect();
        let doc = serde_json::json!({
            "engagement": scope.engagement.id,
            "window": {"open": window.allowed, "reason": window.reason},
            "targets": v,
        });
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        for (t, kind, d) in &rows {
            writeln!(out, "{}  {t} ({kind}): {}", if d.allowed { "IN " } else { "OUT" }, d.reason)?;
        }
        writeln!(out, "window: {}", window.reason)?;
    }
    if outs > 0 {
        return Err(anyhow!(ScopeRefused(format!("{outs} of {} target(s) out of scope", rows.len()))));
    }
    Ok(())
}
