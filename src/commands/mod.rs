//! One module per command; `dispatch` wires the parsed command line to them.

mod audit;
mod changes;
mod daemon;
mod data;
mod demo;
mod export;
mod findings;
mod init;
mod lab;
pub(crate) mod notify;
mod remote_scan;
mod rules;
mod scan;
mod scope;
mod store;
mod templates;
mod triage;
mod tui;
mod tui_remote;
mod worker;

use std::sync::Arc;

use anyhow::{Result, bail};
use haetae_findings::Store;
use haetae_rules::RuleSet;

use crate::cli::{
    AuditCommand, Cli, Command, DataCommand, LabCommand, NotifyCommand, RulesCommand, ScopeCommand, StoreCommand,
    TemplatesCommand,
};
use crate::config::Workspace;

/// Run the command.
pub(crate) fn dispatch(cli: Cli) -> Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Init { dir, force } => init::run(g, dir, force),
        Command::Findings(args) => findings::run(&Workspace::load(g)?, args),
        Command::Triage(args) => triage::run(&Workspace::load(g)?, args),
        Command::Changes(args) => changes::run(&Workspace::load(g)?, &args),
        Command::Scope { command: ScopeCommand::Check { targets, json, resolve } } => {
            scope::check(&Workspace::load(g)?, &targets, json, resolve)
        }
        Command::Scan(args) => scan::run(&Workspace::load(g)?, args),
        Command::Demo { tui, keep } => demo::run(g, keep, tui),
        Command::Lab { command: LabCommand::Serve(args) } => lab::serve(g, args),
        Command::Daemon(args) => daemon::run(&Workspace::load(g)?, args),
        Command::Worker(args) => worker::run(&Workspace::load(g)?, args),
        Command::Tui(args) => tui::run(&Workspace::load(g)?, args),
        Command::Export(args) => export::run(&Workspace::load(g)?, args),
        Command::Rules { command: RulesCommand::Check } => rules::check(&Workspace::load(g)?),
        Command::Rules { command: RulesCommand::Apply } => rules::apply(&Workspace::load(g)?),
        Command::Rules { command: RulesCommand::Explain { id } } => rules::explain(&Workspace::load(g)?, &id),
        Command::Templates { command: TemplatesCommand::List { json } } => templates::list(&Workspace::load(g)?, json),
        Command::Templates { command: TemplatesCommand::Check } => templates::check(&Workspace::load(g)?),
        Command::Data { command: DataCommand::Check } => data::check(&Workspace::load(g)?),
        Command::Notify { command: NotifyCommand::Status { json } } => notify::status(&Workspace::load(g)?, json),
        Command::Notify { command: NotifyCommand::Test } => notify::test(&Workspace::load(g)?),
        Command::Store { command: StoreCommand::Check } => store::check(&Workspace::load(g)?),
        Command::Store { command: StoreCommand::Backup { file } } => store::backup(&Workspace::load(g)?, &file),
        Command::Store { command: StoreCommand::Restore { file } } => store::restore(&Workspace::load(g)?, &file),
        Command::Audit { command: AuditCommand::Verify { file } } => audit::verify(&Workspace::load(g)?, file),
        Command::Audit { command: AuditCommand::Export { format, out } } => {
            audit::export(&Workspace::load(g)?, &format, out)
        }
    }
}

/// Open the workspace's store, which must already exist: a typo in `--store`
/// must not silently create an empty one.
pub(crate) fn open_existing_store(ws: &Workspace) -> Result<Store> {
    let rules = prioritizer(ws)?;
    if ws.database.is_none() && !ws.store.exists() {
        bail!(
            "no store at {}: nothing has been scanned in this workspace yet (run `haetae scan`, or point --store / -C at an existing workspace)",
            ws.store.display()
        );
    }
    open_store(ws, rules)
}

/// Open the workspace's store: its PostgreSQL database when `store` names
/// one, else the sled store in its directory (created when absent).
pub(crate) fn open_store(ws: &Workspace, rules: std::sync::Arc<dyn haetae_findings::Prioritizer>) -> Result<Store> {
    open_store_in(ws, &ws.store, rules)
}

/// [`open_store`] with this process's local files (audit log, API socket)
/// in `local` when the store is PostgreSQL (a worker has its own).
pub(crate) fn open_store_in(
    ws: &Workspace,
    local: &std::path::Path,
    rules: std::sync::Arc<dyn haetae_findings::Prioritizer>,
) -> Result<Store> {
    match &ws.database {
        Some(db) => Ok(Store::open_postgres_with(&db.url, db.password.as_deref(), local, rules)?),
        None => Ok(Store::open(&ws.store, rules)?),
    }
}

/// The workspace's rules, as the store's prioritizer. A rules file with
/// errors is refused, naming each. A rules file haetae.toml names must exist
/// (a typo must not drop the team's priorities); the default rules.toml,
/// when haetae.toml does not mention one, may be absent (the default score).
pub(crate) fn prioritizer(ws: &Workspace) -> Result<Arc<RuleSet>> {
    if let Some(at) = &ws.rules_named_at
        && matches!(ws.rules.try_exists(), Ok(false))
    {
        bail!(
            "{at}: rules: {} does not exist; create it (`haetae init` writes a starter), correct the path, or remove the `rules` line to use the default score",
            ws.rules.display()
        );
    }
    match RuleSet::load(&ws.rules) {
        Ok(r) => Ok(Arc::new(r)),
        Err(errors) => {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            bail!("{} error(s) in {}:\n{}", errors.len(), ws.rules.display(), list.join("\n"))
        }
    }
}
