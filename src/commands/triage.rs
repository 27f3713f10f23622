//! `haetae triage ID... --state S [--note] [--until] [--assign] [--actor]`.

use std::io::Write as _;

use anyhow::{Result, anyhow};
use haetae_findings::{State, Timestamp, Transition};

use crate::cli::TriageArgs;
use crate::config::Workspace;
use crate::exit::UsageError;

/// Who is triaging: `--actor`, else `$HAETAE_ACTOR`, else `$USER`.
pub(crate) fn actor(flag: Option<String>) -> Result<String> {
    flag.or_else(|| std::env::var("HAETAE_ACTOR").ok())
        .or_else(|| std::env::var("USER").ok())
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| anyhow!(UsageError("who is triaging? pass --actor NAME or set HAETAE_ACTOR".into())))
}

pub(crate) fn run(ws: &Workspace, args: TriageArgs) -> Result<()> {
    let to: State = args.state.parse().map_err(|e| anyhow!(UsageError(format!("--state: {e}"))))?;
    let until = match &args.until {
        None => None,
        Some(u) => Some(u.parse::<Timestamp>().map_err(|e| anyhow!(UsageError(format!("--until: {e}"))))?),
    };
    let transition = Transition { to, actor: actor(args.actor)?, note: args.note, until, assign: args.assign };

    let store = super::open_existing_store(ws)?;
    let mut ids = Vec::with_capacity(args.ids.len());
    for id in &args.ids {
        ids.push(store.resolve_id(id)?);
    }
    ids.dedup();
    let changed = store.triage(&ids, &transition)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = changed.iter().map(|f| f.to_json()).collect();
        serde_json::to_writer_pretty(&mut out, &list)?;
        writeln!(out)?;
        return Ok(());
    }
    for f in &changed {
        let from = f.history.last().and_then(|h| h.from).map_or("?", |s| s.as_str());
        writeln!(out, "{}  {from} -> {}  {}  {}", f.id, f.state, f.check, f.endpoint())?;
    }
    Ok(())
}
