//! `haetae export --format F [--out FILE] [--lang en|ko] [filters]`: the
//! agency export, chosen by the same filters as `haetae findings`.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context as _, Result, anyhow};
use haetae_findings::export::{self, Format, Lang, Report, ReportEngagement};
use haetae_findings::{Finding, Timestamp};
use haetae_scanner::scope::Scope;

use super::findings::Filter;
use crate::cli::ExportArgs;
use crate::config::Workspace;
use crate::exit::UsageError;

pub(crate) fn run(ws: &Workspace, args: ExportArgs) -> Result<()> {
    let format: Format = args.format.parse().map_err(|e| anyhow!(UsageError(format!("--format: {e}"))))?;
    let lang: Lang = args.lang.parse().map_err(|e| anyhow!(UsageError(format!("--lang: {e}"))))?;
    let filter = Filter::parse(&args.filter)?;
    let store = super::open_existing_store(ws)?;
    let now = Timestamp::now();
    store.expire_acceptances(now)?;
    let found = filter.select(&store)?;
    drop(store);
    let report = Report {
        engagement: engagement(ws, &found, true)?,
        generated_at: now,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        filters: filter.parts(&args.filter),
        findings: &found,
        lang,
    };
    match &args.out {
        None => {
            let mut out = BufWriter::new(std::io::stdout().lock());
            export::write(&report, format, &mut out)?;
            out.flush()?;
        }
        Some(path) => write_file(&ws.dir.join(path), |out| Ok(export::write(&report, format, out)?))?,
    }
    Ok(())
}

/// Write `path` whole or not at all: into a temporary file beside it, renamed
/// over it once complete.
pub(crate) fn write_file(path: &Path, body: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a file in {} for {}", dir.display(), path.display()))?;
    let mut out = BufWriter::new(tmp);
    body(&mut out).with_context(|| format!("cannot write {}", path.display()))?;
    let tmp = out.into_inner().map_err(|e| anyhow!("cannot write {}: {}", path.display(), e.error()))?;
    tmp.as_file().sync_all().with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path).map_err(|e| anyhow!("cannot write {}: {}", path.display(), e.error))?;
    Ok(())
}

/// Export `findings` to `path` (the TUI's `e`): the same report as
/// `haetae export`, with `filters` saying how they were chosen.
pub(crate) fn to_file(
    ws: &Workspace,
    findings: &[Finding],
    format: Format,
    lang: Lang,
    filters: Vec<String>,
    path: &Path,
) -> Result<()> {
    let report = Report {
        engagement: engagement(ws, findings, false)?,
        generated_at: Timestamp::now(),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        filters,
        findings,
        lang,
    };
    write_file(&ws.dir.join(path), |out| Ok(export::write(&report, format, out)?))
}

/// The engagement from scope.toml's `[engagement]`; without a scope file,
/// the engagement ids the findings carry (and no agency or window), with a
/// warning on stderr when `warn`.
fn engagement(ws: &Workspace, found: &[Finding], warn: bool) -> Result<ReportEngagement> {
    if ws.scope.exists() {
        let scope = Scope::load(&ws.scope)?;
        let e = scope.engagement;
        return Ok(ReportEngagement {
            id: e.id,
            agency: e.agency,
            not_before: Some(e.not_before),
            not_after: Some(e.not_after),
        });
    }
    let mut ids: Vec<&str> = found.iter().map(|f| f.engagement.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    if warn {
        let mut stderr = std::io::stderr().lock();
        writeln!(stderr, "warning: no scope file at {}: the export names no agency or window", ws.scope.display())?;
    }
    Ok(ReportEngagement { id: ids.join(", "), ..ReportEngagement::default() })
}
