//! One module per command; `dispatch` wires the parsed command line to them.

mod audit;
mod demo;
mod findings;
mod init;
mod scan;
mod scope;
mod templates;
mod triage;

use std::sync::Arc;

use anyhow::{Result, bail};
use haetae_findings::Store;
use haetae_rules::DefaultScorer;

use crate::cli::{AuditCommand, Cli, Command, RulesCommand, ScopeCommand, TemplatesCommand};
use crate::config::Workspace;

/// Run the command.
pub(crate) fn dispatch(cli: Cli) -> Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Init { dir, force } => init::run(g, dir, force),
        Command::Findings(args) => findings::run(&Workspace::load(g)?, args),
        Command::Triage(args) => triage::run(&Workspace::load(g)?, args),
        Command::Scope { command: ScopeCommand::Check { targets, json } } => {
            scope::check(&Workspace::load(g)?, &targets, json)
        }
        Command::Scan(args) => scan::run(&Workspace::load(g)?, args),
        Command::Demo { tui, keep } => demo::run(g, keep, tui),
        Command::Daemon => not_yet("daemon", None),
        Command::Tui => not_yet("tui", Some(7)),
        Command::Export { .. } => not_yet("export", Some(8)),
        Command::Rules { command } => not_yet(
            match command {
                RulesCommand::Check => "rules check",
                RulesCommand::Apply => "rules apply",
                RulesCommand::Explain { .. } => "rules explain",
            },
            Some(6),
        ),
        Command::Templates { command: TemplatesCommand::List { json } } => templates::list(&Workspace::load(g)?, json),
        Command::Templates { command: TemplatesCommand::Check } => templates::check(&Workspace::load(g)?),
        Command::Audit { command: AuditCommand::Verify { file } } => audit::verify(&Workspace::load(g)?, file),
        Command::Audit { command: AuditCommand::Export } => not_yet("audit export", Some(8)),
    }
}

fn not_yet(what: &str, issue: Option<u32>) -> Result<()> {
    match issue {
        Some(n) => bail!("`haetae {what}` is not implemented yet (issue {n})"),
        None => bail!("`haetae {what}` is not implemented yet"),
    }
}

/// Open the workspace's store, which must already exist: a typo in `--store`
/// must not silently create an empty one.
pub(crate) fn open_existing_store(ws: &Workspace) -> Result<Store> {
    if !ws.store.exists() {
        bail!(
            "no store at {}: nothing has been scanned in this workspace yet (run `haetae scan`, or point --store / -C at an existing workspace)",
            ws.store.display()
        );
    }
    Ok(Store::open(&ws.store, Arc::new(DefaultScorer))?)
}
