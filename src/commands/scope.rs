//! `haetae scope check TARGET...`: in or out, and why; exit 3 if any is out.
//! With `--resolve`, each in-scope name is also resolved through the scope
//! guard (its queries audited) and judged by where its CNAME chain leads.

use std::io::Write as _;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use haetae_findings::Timestamp;
use haetae_findings::audit::AuditLog;
use haetae_scanner::guard::{ChainEnd, GuardConfig, Resolution, ScopeGuard};
use haetae_scanner::scope::{Decision, Scope, Target};

use crate::config::Workspace;
use crate::exit::ScopeRefused;

pub(crate) fn check(ws: &Workspace, targets: &[String], json: bool, resolve: bool) -> Result<()> {
    let scope = Scope::load(&ws.scope)?;
    let mut out = std::io::stdout().lock();
    let mut rows = Vec::new();
    let mut names = Vec::new();
    for t in targets {
        let (kind, d) = scope.check_target(t);
        let host = match &kind {
            Target::Name(n) | Target::Url { host: n, .. } if d.allowed && n.parse::<std::net::IpAddr>().is_err() => {
                Some(n.clone())
            }
            _ => None,
        };
        if let Some(h) = host {
            names.push((rows.len(), h));
        }
        let kind = match kind {
            Target::Name(_) => "name",
            Target::Addr(_) => "address",
            Target::Url { .. } => "url",
        };
        rows.push((t.clone(), kind, d));
    }
    if resolve && !names.is_empty() {
        for (i, d) in resolve_all(ws, &scope, &names)? {
            if let Some(row) = rows.get_mut(i) {
                row.2 = d;
            }
        }
    }
    let outs = rows.iter().filter(|(_, _, d)| !d.allowed).count();
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

/// Resolve each (row, name) through a scope guard and explain the outcome.
fn resolve_all(ws: &Workspace, scope: &Scope, names: &[(usize, String)]) -> Result<Vec<(usize, Decision)>> {
    let nameservers = super::scan::nameservers(ws)?;
    if crate::remote::find(ws)?.is_some() {
        // Its DNS queries are audited in the store's chain, which the daemon
        // appends to: a second writer would fork the chain.
        anyhow::bail!(
            "--resolve: a daemon (or a scan) holds the store {} and its audit log; its queries cannot be audited from a second process. Run `scope check` without --resolve, or stop the daemon",
            ws.store.display()
        );
    }
    std::fs::create_dir_all(&ws.store)?;
    let audit = AuditLog::shared(&ws.store.join(super::scan::AUDIT_FILE))?;
    let guard = ScopeGuard::new(GuardConfig {
        scope: Arc::new(scope.clone()),
        nameservers,
        audit,
        clock: Arc::new(Timestamp::now),
    })?;
    let rt = super::scan::runtime()?;
    let out = rt.block_on(async {
        let mut out = Vec::new();
        for (i, name) in names {
            let r = guard.resolve(name).await;
            out.push((*i, explain(scope, &r)));
        }
        out
    });
    guard.sync_audit()?;
    Ok(out)
}

/// The decision for a name once resolved: in scope when at least one of its
/// addresses may be contacted on its behalf, with the chain that leads there.
pub(crate) fn explain(scope: &Scope, r: &Resolution) -> Decision {
    let name_d = scope.check_name(&r.name);
    let chain = if r.chain.is_empty() { String::new() } else { format!("CNAME {} → ", r.chain.join(" → ")) };
    let listed = |addrs: &[std::net::IpAddr]| {
        addrs
            .iter()
            .map(|a| {
                let d = scope.check_addr(*a);
                format!("{a} ({})", d.reason.strip_prefix("in scope: ").unwrap_or(&d.reason))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let refused = || r.refused.iter().map(|(a, why)| format!("{a}: {why}")).collect::<Vec<_>>().join("; ");
    match &r.end {
        ChainEnd::Addresses if !r.allowed.is_empty() => {
            let mut reason = format!("in scope via {chain}{}", listed(&r.allowed));
            if let Some(n) = &r.outside_domains {
                reason.push_str(&format!(
                    "; probed as {} (Host and SNI), never under a chain name ({n} is outside domains)",
                    r.name
                ));
            }
            if !r.refused.is_empty() {
                reason.push_str(&format!("; not contacted: {}", refused()));
            }
            Decision { allowed: true, reason }
        }
        ChainEnd::Addresses => {
            let why = match &r.out_of_scope_target {
                Some((n, why)) => format!("{n}: {why}"),
                None => refused(),
            };
            Decision {
                allowed: false,
                reason: format!("out of scope: {} resolves via {chain}{}; not probed: {why}", r.name, addrs_of(r)),
            }
        }
        ChainEnd::Failed(why) => Decision {
            allowed: name_d.allowed,
            reason: format!("{}; could not be resolved now ({why})", name_d.reason),
        },
        other => Decision {
            allowed: name_d.allowed,
            reason: format!("{}; resolves to no address ({chain}{other:?})", name_d.reason),
        },
    }
}

fn addrs_of(r: &Resolution) -> String {
    r.refused.iter().map(|(a, _)| a.to_string()).collect::<Vec<_>>().join(", ")
}
