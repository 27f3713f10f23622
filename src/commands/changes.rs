//! `haetae changes [--since DATE] [--host GLOB] [--json]`: the change events
//! the store recorded per asset, oldest first.

use std::io::Write;

use anyhow::Result;
use haetae_findings::{ChangeEvent, Timestamp};

use crate::cli::ChangesArgs;
use crate::config::Workspace;
use crate::output::{Table, truncate};

pub(crate) fn run(ws: &Workspace, args: &ChangesArgs) -> Result<()> {
    // Bad flags are usage errors (exit 2) before the store is touched.
    let since: Option<Timestamp> = args.since.as_deref().map(super::findings::parse_since).transpose()?;
    let host = args.host.as_deref().map(|p| super::findings::glob("--host", p)).transpose()?;
    let events: Vec<ChangeEvent> = if ws.store.exists() {
        let store = super::open_existing_store(ws)?;
        store.changes_since(since)?.into_iter().filter(|e| host.as_ref().is_none_or(|g| g.is_match(&e.host))).collect()
    } else {
        super::prioritizer(ws)?;
        Vec::new()
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &events)?;
        writeln!(out)?;
    } else {
        write_table(&mut out, &events)?;
    }
    Ok(())
}

fn write_table(out: &mut impl Write, events: &[ChangeEvent]) -> Result<()> {
    let mut table = Table::new(&["TIME", "SCAN", "KIND", "HOST", "ADDRESS", "PORT", "BEFORE", "AFTER"]);
    for e in events {
        table.row(
            vec![
                e.at.to_string(),
                e.scan.map(|s| s.to_string()).unwrap_or_default(),
                e.kind.to_string(),
                truncate(&e.host, 40),
                e.addr.map(|a| a.to_string()).unwrap_or_default(),
                e.port.map(|p| p.to_string()).unwrap_or_default(),
                truncate(&e.before, 40),
                truncate(&e.after, 40),
            ],
            None,
        );
    }
    if !events.is_empty() {
        table.write(out)?;
    }
    writeln!(out, "{} change event(s)", events.len())?;
    Ok(())
}
