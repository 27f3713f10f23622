//! `haetae lab serve` (hidden): run a lab on loopback until SIGTERM or
//! Ctrl-C, for scripts that scan it from other processes
//! (`scripts/soak-kill.sh`).

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use haetae_lab::hostile::{HostileLab, HostileOptions};
use haetae_lab::{Faults, Lab, LabOptions};
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::{Global, LabServeArgs};

/// `SEED:PERCENT` as [`Faults`].
fn parse_faults(text: &str) -> Result<Faults> {
    let bad = || {
        crate::exit::UsageError(format!(
            "--faults {text}: expected SEED:PERCENT, e.g. 7:10 (a whole number, then a percent from 0 to 100)"
        ))
    };
    let (seed, percent) = text.split_once(':').ok_or_else(bad)?;
    let seed = seed.trim().parse::<u64>().map_err(|_| bad())?;
    let percent = percent.trim().trim_end_matches('%').parse::<u8>().ok().filter(|p| *p <= 100).ok_or_else(bad)?;
    Ok(Faults { seed, percent })
}

fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}

pub(crate) fn serve(g: &Global, args: LabServeArgs) -> Result<()> {
    let dir = match &g.chdir {
        Some(base) if args.dir.is_relative() => base.join(&args.dir),
        _ => args.dir.clone(),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let faults = args.faults.as_deref().map(parse_faults).transpose()?;
    if args.hostile && faults.is_some() {
        bail!(crate::exit::UsageError("--faults applies to the weak lab, not to --hostile".into()));
    }
    let rt = super::scan::runtime()?;
    rt.block_on(async {
        let mut sigint = signal(SignalKind::interrupt()).context("cannot install the Ctrl-C handler")?;
        let mut sigterm = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
        let stop = async {
            tokio::select! {
                _ = sigint.recv() => {}
                _ = sigterm.recv() => {}
            }
        };
        let mut out = std::io::stdout().lock();
        write(&dir, haetae_lab::CA_FILE, haetae_lab::CA_PEM)?;
        if args.hostile {
            let lab = HostileLab::start(HostileOptions::default())
                .await
                .context("cannot start the hostile lab on loopback")?;
            write(&dir, "scope.toml", &lab.scope_toml())?;
            write(&dir, "haetae.toml", &lab.haetae_toml())?;
            writeln!(out, "ready: hostile lab, DNS at {}, workspace files in {}", lab.dns_addr(), dir.display())?;
            out.flush()?;
            stop.await;
            lab.shutdown().await;
        } else {
            let lab = Lab::start_with(LabOptions { faults, ..LabOptions::default() })
                .await
                .context("cannot start the lab on loopback")?;
            write(&dir, "scope.toml", &lab.scope_toml())?;
            write(&dir, "haetae.toml", &lab.haetae_toml())?;
            write(&dir, "rules.toml", super::init::STARTERS[2].1)?;
            writeln!(out, "ready: lab, DNS at {}, workspace files in {}", lab.dns_addr(), dir.display())?;
            out.flush()?;
            stop.await;
            lab.shutdown().await;
        }
        anyhow::Ok(())
    })
}
