//! The agency export of a selection of findings: the same report whether
//! `haetae export` opens the store itself or asks the daemon's API.

use std::path::Path;

use anyhow::Result;
use haetae_findings::export::{self, Format, Lang, Report, ReportEngagement};
use haetae_findings::{Finding, Timestamp};
use haetae_scanner::scope::Scope;

/// The engagement from scope.toml's `[engagement]`; without a scope file,
/// the engagement ids the findings carry (and no agency or window), with a
/// warning to show the user.
pub fn engagement(scope: &Path, found: &[Finding]) -> Result<(ReportEngagement, Option<String>)> {
    if scope.exists() {
        let e = Scope::load(scope)?.engagement;
        return Ok((
            ReportEngagement {
                id: e.id,
                agency: e.agency,
                not_before: Some(e.not_before),
                not_after: Some(e.not_after),
            },
            None,
        ));
    }
    let mut ids: Vec<&str> = found.iter().map(|f| f.engagement.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let warning = format!("no scope file at {}: the export names no agency or window", scope.display());
    Ok((ReportEngagement { id: ids.join(", "), ..ReportEngagement::default() }, Some(warning)))
}

/// Write the report of `found` (chosen by `filters`, in words) as `format`.
pub fn write(
    scope: &Path,
    found: &[Finding],
    filters: Vec<String>,
    format: Format,
    lang: Lang,
    out: &mut dyn std::io::Write,
) -> Result<Option<String>> {
    let (engagement, warning) = engagement(scope, found)?;
    let report = Report {
        engagement,
        generated_at: Timestamp::now(),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        filters,
        findings: found,
        lang,
    };
    export::write(&report, format, out)?;
    Ok(warning)
}
