//! `haetae data check`: the software data in force (the built-in files, each
//! replaced by the workspace's `data/` file of the same name), validated.

use std::io::Write as _;

use anyhow::{Result, bail};
use haetae_scanner::software::SoftwareData;
use haetae_scanner::software::data::{EOL_FILE, KEV_FILE, Origin};

use crate::config::Workspace;

/// The workspace's own data directory.
pub(crate) const DATA_DIR: &str = "data";

/// The data in force for `ws`; every error is printed with file:line:column.
pub(crate) fn load(ws: &Workspace) -> Result<SoftwareData> {
    let dir = ws.dir.join(DATA_DIR);
    match SoftwareData::load(Some(&dir)) {
        Ok(data) => Ok(data),
        Err(errors) => {
            let mut err = std::io::stderr().lock();
            for e in &errors {
                writeln!(err, "{e}")?;
            }
            bail!("{} error(s) in the software data of {}", errors.len(), dir.display())
        }
    }
}

pub(crate) fn check(ws: &Workspace) -> Result<()> {
    let data = load(ws)?;
    let mut out = std::io::stdout().lock();
    let origin = |o: &Option<Origin>| match o {
        Some(Origin::Workspace(p)) => format!("workspace {}", p.display()),
        _ => "built-in".to_owned(),
    };
    let lines: usize = data.eol.products.iter().map(|p| p.lines.len()).sum();
    writeln!(
        out,
        "{EOL_FILE}: {}, dated {}: {} products, {lines} release lines",
        origin(&data.eol_origin),
        data.eol.date,
        data.eol.products.len()
    )?;
    writeln!(
        out,
        "{KEV_FILE}: {}, dated {}: {} CVEs with version ranges",
        origin(&data.kev_origin),
        data.kev.date,
        data.kev.cves.len()
    )?;
    writeln!(out, "data OK")?;
    Ok(())
}
