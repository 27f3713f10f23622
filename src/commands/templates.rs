//! `haetae templates list` and `haetae templates check`: the content checks in
//! force (built-in plus the workspace's `templates/`), and their validation.

use std::io::Write as _;

use anyhow::{Result, bail};
use haetae_scanner::templates::TemplateSet;

use crate::config::Workspace;
use crate::output::{Table, truncate};

/// The workspace's own template directory.
pub(crate) const TEMPLATE_DIR: &str = "templates";

pub(crate) fn load(ws: &Workspace) -> Result<TemplateSet> {
    let dir = ws.dir.join(TEMPLATE_DIR);
    match TemplateSet::load(Some(&dir)) {
        Ok(set) => Ok(set),
        Err(errors) => {
            let mut err = std::io::stderr().lock();
            for e in &errors {
                writeln!(err, "{e}")?;
            }
            bail!("{} error(s) in the templates of {}", errors.len(), dir.display())
        }
    }
}

pub(crate) fn list(ws: &Workspace, json: bool) -> Result<()> {
    let set = load(ws)?;
    let mut out = std::io::stdout().lock();
    if json {
        let v: Vec<_> = set
            .templates()
            .iter()
            .map(|t| {
                serde_json::json!({
                    "id": t.id.as_str(),
                    "title": t.title,
                    "severity": t.severity.as_str(),
                    "confidence": t.confidence.as_str(),
                    "cwe": t.cwe,
                    "source": t.source,
                    "requests": t.requests().iter().map(|r| r.to_string()).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(());
    }
    let mut table = Table::new(&["ID", "SEVERITY", "SOURCE", "REQUESTS", "TITLE"]);
    for t in set.templates() {
        let reqs: Vec<String> = t.requests().iter().map(|r| r.to_string()).collect();
        table.row(
            vec![
                t.id.to_string(),
                t.severity.to_string(),
                truncate(&t.source, 30),
                truncate(&reqs.join(", "), 50),
                truncate(&t.title, 60),
            ],
            None,
        );
    }
    table.write(&mut out)?;
    writeln!(
        out,
        "{} template(s), {} distinct request(s){}",
        set.templates().len(),
        set.requests().len(),
        if set.overridden().is_empty() {
            String::new()
        } else {
            format!(
                "; overridden by the workspace: {}",
                set.overridden().iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
            )
        }
    )?;
    Ok(())
}

pub(crate) fn check(ws: &Workspace) -> Result<()> {
    let set = load(ws)?;
    let mut out = std::io::stdout().lock();
    let user = set.templates().iter().filter(|t| t.source != "built-in").count();
    writeln!(
        out,
        "templates OK: {} built-in, {user} from {}",
        set.templates().len() - user,
        ws.dir.join(TEMPLATE_DIR).display()
    )?;
    Ok(())
}
