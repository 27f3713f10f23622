//! `haetae demo`: start the built-in weak lab on loopback, write a workspace
//! for it, scan it through the normal scan path, print the summary.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use haetae_lab::Lab;
use haetae_scanner::engine::Profile;

use super::scan::{ScanOptions, finish, print_summary, runtime, scan};
use crate::cli::Global;
use crate::config::Workspace;

pub(crate) fn run(g: &Global, keep: Option<PathBuf>, tui: bool) -> Result<()> {
    let (dir, _temp) = match keep {
        Some(d) => {
            let d = match &g.chdir {
                Some(base) if d.is_relative() => base.join(d),
                _ => d,
            };
            std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
            (d, None)
        }
        None => {
            let t = tempfile_dir()?;
            (t.path().to_owned(), Some(t))
        }
    };
    if dir.join(".haetae").exists() {
        bail!("{} already holds a store; give --keep an empty directory", dir.display());
    }
    let rt = runtime()?;
    let (lab, report) = rt.block_on(async {
        let lab = Lab::start().await.context("cannot start the lab on loopback")?;
        std::fs::write(dir.join("scope.toml"), lab.scope_toml())?;
        std::fs::write(dir.join("haetae.toml"), lab.haetae_toml())?;
        std::fs::write(dir.join(haetae_lab::CA_FILE), lab.ca_pem())?;
        std::fs::write(dir.join("rules.toml"), super::init::STARTERS[2].1)?;
        let ws = Workspace::load(&Global { chdir: Some(dir.clone()), ..Global::default() })?;
        let opts = ScanOptions { profile: Profile::Standard, ..ScanOptions::default() };
        let report = scan(&ws, &opts, std::io::IsTerminal::is_terminal(&std::io::stderr())).await?;
        anyhow::Ok((lab, report))
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "haetae demo: lab on loopback, DNS at {}", lab.dns_addr())?;
    print_summary(&mut out, &report)?;
    writeln!(
        out,
        "scope held: {} connection(s) to out-of-scope addresses, {} to excluded hosts",
        lab.out_of_scope_connections(),
        lab.excluded_connections()
    )?;
    match &_temp {
        Some(_) => writeln!(out, "(pass --keep DIR to keep the workspace and try `haetae -C DIR findings`)")?,
        None => writeln!(out, "workspace kept in {}: try `haetae -C {} findings`", dir.display(), dir.display())?,
    }
    if tui {
        // The lab stays up while the UI is open, so what it shows can be
        // checked against it.
        let actor = super::triage::actor(None).unwrap_or_else(|_| "demo".to_owned());
        let ws = Workspace::load(&Global { chdir: Some(dir.clone()), ..Global::default() })?;
        let store = super::open_existing_store(&ws)?;
        super::tui::open(&ws, &store, &actor, false)?;
    }
    rt.block_on(lab.shutdown());
    finish(&report, None)
}

fn tempfile_dir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix("haetae-demo-").tempdir().context("cannot create a temporary directory")
}
