//! `haetae changes [--since DATE] [--host GLOB] [--json]`: the change events
//! the store recorded per asset, oldest first.

use std::io::Write;

use anyhow::Result;
use haetae_findings::ChangeEvent;
use haetae_service::query::ChangeQuery;

use crate::cli::ChangesArgs;
use crate::config::Workspace;
use crate::output::{Table, truncate};

pub(crate) fn run(ws: &Workspace, args: &ChangesArgs) -> Result<()> {
    // Bad flags are usage errors (exit 2) before the store is touched.
    let q = ChangeQuery { since: args.since.clone(), host: args.host.clone() };
    q.validate()?;
    let events: Vec<ChangeEvent> = if let Some(api) = crate::remote::find(ws)? {
        let path = haetae_service::client::with_query("/v1/changes", &q)?;
        crate::remote::block(api.get(&path))?
    } else if ws.database.is_some() || ws.store.exists() {
        q.select(&super::open_existing_store(ws)?)?
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
