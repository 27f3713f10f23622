//! `haetae init [DIR]`: write commented starters of the three files a user writes.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};

use crate::cli::Global;

/// (file name, contents) of every starter.
pub(crate) const STARTERS: [(&str, &str); 3] = [
    ("haetae.toml", include_str!("starters/haetae.toml")),
    ("scope.toml", include_str!("starters/scope.toml")),
    ("rules.toml", include_str!("starters/rules.toml")),
];

pub(crate) fn run(g: &Global, dir: Option<PathBuf>, force: bool) -> Result<()> {
    let base = g.chdir.clone().unwrap_or_else(|| PathBuf::from("."));
    let dir = match dir {
        Some(d) if d.is_absolute() => d,
        Some(d) => base.join(d),
        None => base,
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let existing: Vec<String> = STARTERS
        .iter()
        .map(|(name, _)| dir.join(name))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !existing.is_empty() && !force {
        bail!("{} already exist(s); nothing was written (use --force to overwrite)", existing.join(", "));
    }
    let mut out = std::io::stdout().lock();
    for (name, text) in STARTERS {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        writeln!(out, "wrote {}", path.display())?;
    }
    writeln!(
        out,
        "next: edit scope.toml from the authorization letter (engagement id, window, domains, cidrs, ports)"
    )?;
    Ok(())
}
