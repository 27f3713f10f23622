//! `haetae export --format F [--out FILE] [--lang en|ko] [filters]`: the
//! agency export, chosen by the same filters as `haetae findings`.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context as _, Result, anyhow};
use haetae_findings::export::{Format, Lang};
use haetae_findings::{Finding, Timestamp};
use haetae_service::client::with_query;
use haetae_service::query::{FindingFilter, FindingQuery};
use haetae_service::report;

use crate::cli::ExportArgs;
use crate::config::Workspace;
use crate::exit::UsageError;

/// Writes the export's bytes.
type WriteBody = dyn FnOnce(&mut dyn Write) -> Result<()>;

pub(crate) fn run(ws: &Workspace, args: ExportArgs) -> Result<()> {
    let format: Format = args.format.parse().map_err(|e| anyhow!(UsageError(format!("--format: {e}"))))?;
    let lang: Lang = args.lang.parse().map_err(|e| anyhow!(UsageError(format!("--lang: {e}"))))?;
    let q = super::findings::query(&args.filter);
    let filter = FindingFilter::parse(&q)?;
    let body: Box<WriteBody> = if let Some(api) = crate::remote::find(ws)? {
        // The daemon writes the report; it arrives whole before anything is written here.
        #[derive(serde::Serialize)]
        struct Q<'a> {
            format: &'a str,
            lang: &'a str,
            #[serde(flatten)]
            filter: &'a FindingQuery,
        }
        let path = with_query("/v1/export", &Q { format: &args.format, lang: &args.lang, filter: &q })?;
        let (headers, bytes) = crate::remote::block(api.call(haetae_service::client::Method::GET, &path, None))?;
        if let Some(w) = headers.get("x-haetae-warning").and_then(|v| v.to_str().ok()) {
            writeln!(std::io::stderr().lock(), "warning: {w}")?;
        }
        Box::new(move |out: &mut dyn Write| Ok(out.write_all(&bytes)?))
    } else {
        let store = super::open_existing_store(ws)?;
        store.expire_acceptances(Timestamp::now())?;
        let (found, skipped) = filter.select(&store)?;
        drop(store);
        for bad in &skipped {
            writeln!(std::io::stderr().lock(), "warning: {bad}")?;
        }
        let scope = ws.scope.clone();
        Box::new(move |out: &mut dyn Write| {
            if let Some(w) = report::write(&scope, &found, filter.parts(), format, lang, out)? {
                writeln!(std::io::stderr().lock(), "warning: {w}")?;
            }
            Ok(())
        })
    };
    match &args.out {
        None => {
            let mut out = BufWriter::new(std::io::stdout().lock());
            body(&mut out)?;
            out.flush()?;
        }
        Some(path) => write_file(&ws.dir.join(path), body)?,
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
    write_file(&ws.dir.join(path), |out| {
        report::write(&ws.scope, findings, filters, format, lang, out)?;
        Ok(())
    })
}
