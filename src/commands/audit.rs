//! `haetae audit verify [FILE]` (the hash chain of the workspace's audit log,
//! or of an exported copy) and `haetae audit export --format jsonl|csv [--out FILE]`.

use std::io::{BufWriter, ErrorKind, Write as _};
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use haetae_findings::audit::{self, AuditError, AuditFormat, ChainProblem};

use crate::config::Workspace;
use crate::exit::UsageError;

pub(crate) fn verify(ws: &Workspace, file: Option<PathBuf>) -> Result<()> {
    if file.is_none() && ws.database.is_some() {
        return verify_shared(ws);
    }
    verify_file(ws, file)
}

/// A shared store: this machine's log (when it has one), then every
/// worker's segments in the database.
fn verify_shared(ws: &Workspace) -> Result<()> {
    let local = ws.store.join(super::scan::AUDIT_FILE);
    if local.exists() {
        verify_file(ws, None)?;
    }
    let store = super::open_store(ws, std::sync::Arc::new(haetae_rules::DefaultScorer))?;
    let r = store.verify_audit_segments()?;
    let mut out = std::io::stdout().lock();
    if r.problems.is_empty() {
        writeln!(
            out,
            "{}: {} worker(s), {} segment(s), {} record(s): every segment's hash chain intact, every finished unit's records present",
            store.location().display(),
            r.workers,
            r.segments,
            r.records
        )?;
        return Ok(());
    }
    bail!(
        "{}: {} problem(s) in the workers' audit segments:\n  {}",
        store.location().display(),
        r.problems.len(),
        r.problems.join("\n  ")
    )
}

fn verify_file(ws: &Workspace, file: Option<PathBuf>) -> Result<()> {
    let exported = file.is_some();
    let path = file.map_or_else(|| ws.store.join(super::scan::AUDIT_FILE), |f| ws.dir.join(f));
    let report = match audit::verify(&path) {
        // No log and no head file sealing any record: nothing to verify.
        Err(AuditError::Io { source, .. }) if source.kind() == ErrorKind::NotFound && !path.exists() => {
            if exported {
                bail!("no audit log at {}", path.display());
            }
            bail!("no audit log at {}: nothing has been scanned in this workspace yet", path.display());
        }
        other => other?,
    };
    let mut out = std::io::stdout().lock();
    match report.problem {
        None => {
            writeln!(out, "{}: {} record(s), hash chain intact", path.display(), report.records)?;
            Ok(())
        }
        // A copy exported to stdout has no seal beside it: its chain is still
        // checked line by line, but a cut end cannot show.
        Some(ChainProblem::NoHead { records }) if exported => {
            writeln!(
                out,
                "{}: {records} record(s), hash chain intact; no {}.head seal beside it, so records removed from its end would not show (export with --out to get one)",
                path.display(),
                path.display()
            )?;
            Ok(())
        }
        Some(problem) => bail!("{}: {problem}", path.display()),
    }
}

pub(crate) fn export(ws: &Workspace, format: &str, out: Option<PathBuf>) -> Result<()> {
    let format = match format.trim().to_ascii_lowercase().as_str() {
        "jsonl" => AuditFormat::Jsonl,
        "csv" => AuditFormat::Csv,
        other => {
            return Err(anyhow!(UsageError(format!(
                "--format: invalid audit export format `{other}`: expected jsonl or csv"
            ))));
        }
    };
    let log = ws.store.join(super::scan::AUDIT_FILE);
    if !log.exists() {
        // A head file left behind says the log held records that are gone.
        if let Ok(audit::VerifyReport { problem: Some(problem), .. }) = audit::verify(&log) {
            bail!("{}: {problem}", log.display());
        }
        bail!("no audit log at {}: nothing has been scanned in this workspace yet", log.display());
    }
    // Say so when the log itself does not verify; export it all the same, as evidence.
    if let Some(problem) = audit::verify(&log)?.problem.filter(|p| !p.recoverable()) {
        writeln!(std::io::stderr().lock(), "warning: {}: {problem}", log.display())?;
    }
    match out {
        None => {
            let mut stdout = BufWriter::new(std::io::stdout().lock());
            audit::export(&log, format, &mut stdout)?;
            stdout.flush()?;
        }
        Some(file) => {
            let path = ws.dir.join(file);
            let mut exported = None;
            super::export::write_file(&path, |w| {
                exported = Some(audit::export(&log, format, w)?);
                Ok(())
            })?;
            if let (AuditFormat::Jsonl, Some(done)) = (format, exported) {
                audit::seal_export(&path, &done)?;
            }
        }
    }
    Ok(())
}
