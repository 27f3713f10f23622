//! `haetae store check | backup FILE | restore FILE`: the integrity of the
//! findings store, a consistent backup of it, and a restore into an empty one.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, bail};
use haetae_findings::{Store, StoreError};
use haetae_rules::DefaultScorer;

use crate::config::Workspace;

/// Open the workspace's existing store. Checking and backing up write no
/// finding, so the default scorer stands in for the rules (a broken
/// rules.toml must not stand between a user and a backup).
fn open(ws: &Workspace) -> Result<Store> {
    if ws.database.is_none() && !ws.store.exists() {
        bail!(
            "no store at {}: nothing has been scanned in this workspace yet (point --store / -C at an existing workspace)",
            ws.store.display()
        );
    }
    super::open_store(ws, Arc::new(DefaultScorer))
}

/// Print the integrity report; an error (exit 1) when anything is wrong.
pub(crate) fn check(ws: &Workspace) -> Result<()> {
    if let Some(api) = crate::remote::find(ws)? {
        let r: serde_json::Value = crate::remote::block(api.get("/v1/store/check"))?;
        writeln!(std::io::stdout().lock(), "{}", r["report"].as_str().unwrap_or_default())?;
        if r["healthy"] != serde_json::Value::Bool(true) {
            bail!(
                "the store {} has {} problem(s) (checked by the daemon holding it)",
                ws.store.display(),
                r["problems"]
            );
        }
        return Ok(());
    }
    let store = match open(ws) {
        Err(e) => match e.downcast_ref::<StoreError>() {
            Some(StoreError::Damaged { dir, detail }) => bail!(
                "the store {} cannot be checked because it cannot be opened: {detail}. Move the directory aside and restore a backup into an empty directory with `haetae store restore FILE`",
                dir.display()
            ),
            _ => return Err(e),
        },
        Ok(store) => store,
    };
    let report = store.check()?;
    writeln!(std::io::stdout().lock(), "{report}")?;
    if !report.is_healthy() {
        bail!(
            "the store {} has {} problem(s); back it up with `haetae store backup FILE` before changing anything, or restore a good backup into an empty directory with `haetae store restore FILE`",
            ws.store.display(),
            report.problems.len()
        );
    }
    Ok(())
}

/// Write a backup of the whole store to `file` (relative to the workspace).
pub(crate) fn backup(ws: &Workspace, file: &Path) -> Result<()> {
    let path = ws.dir.join(file);
    if let Some(api) = crate::remote::find(ws)? {
        // The daemon holding the store writes it (a consistent snapshot).
        let path = std::path::absolute(&path)?;
        let r: serde_json::Value =
            crate::remote::block(api.post("/v1/store/backup", &serde_json::json!({ "path": path })))?;
        writeln!(
            std::io::stdout().lock(),
            "backed up {} record(s) ({} finding(s)) from {} to {} ({} bytes), through the daemon holding it",
            r["records"],
            r["findings"],
            ws.store.display(),
            path.display(),
            r["bytes"]
        )?;
        return Ok(());
    }
    let summary = open(ws)?.backup(&path)?;
    let files = if summary.files.is_empty() { "no audit log".to_owned() } else { summary.files.join(" and ") };
    writeln!(
        std::io::stdout().lock(),
        "backed up {} record(s) ({} finding(s)) and {files} from {} to {} ({} bytes)",
        summary.records,
        summary.findings,
        ws.store.display(),
        path.display(),
        summary.bytes
    )?;
    Ok(())
}

/// Restore `file` into the workspace's store directory (empty or absent).
pub(crate) fn restore(ws: &Workspace, file: &Path) -> Result<()> {
    let path = ws.dir.join(file);
    if ws.database.is_some() {
        bail!(
            "the store is a PostgreSQL database: restore it with PostgreSQL's own tools (pg_restore, or its WAL archive); `haetae store restore` restores a sled store"
        );
    }
    if crate::remote::find(ws)?.is_some() {
        bail!(
            "a daemon (or a scan) holds the store {}: a restore goes into an empty directory with nothing running; stop it first",
            ws.store.display()
        );
    }
    let summary = Store::restore(&path, &ws.store)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "restored {} record(s) ({} finding(s)) from {} (made {}) into {}",
        summary.records,
        summary.findings,
        path.display(),
        summary.created,
        ws.store.display()
    )?;
    writeln!(out, "{}", summary.check)?;
    Ok(())
}
