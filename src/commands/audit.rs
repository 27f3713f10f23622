//! `haetae audit verify [FILE]`: check the audit log's hash chain.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Result, bail};
use haetae_findings::audit;

use crate::config::Workspace;

pub(crate) fn verify(ws: &Workspace, file: Option<PathBuf>) -> Result<()> {
    let path = file.unwrap_or_else(|| ws.store.join(super::scan::AUDIT_FILE));
    if !path.exists() {
        bail!("no audit log at {}: nothing has been scanned in this workspace yet", path.display());
    }
    let report = audit::verify(&path)?;
    let mut out = std::io::stdout().lock();
    match report.problem {
        None => {
            writeln!(out, "{}: {} record(s), hash chain intact", path.display(), report.records)?;
            Ok(())
        }
        Some(problem) => bail!("{}: {problem}", path.display()),
    }
}
