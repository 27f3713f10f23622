//! `haetae daemon`: run every `[[schedule]]` of haetae.toml until SIGINT or
//! SIGTERM, through `haetae_service::run_daemon`. Logs go to stderr through
//! `tracing` (plain text, or JSON lines with `--log-format json`).

use std::sync::Arc;

use anyhow::{Context as _, Result};
use haetae_scanner::engine::Profile;
use haetae_service::{ScheduleSpec, SetupFn};
use tokio_util::sync::CancellationToken;

use crate::cli::DaemonArgs;
use crate::config::{self, Workspace};

pub(crate) fn run(ws: &Workspace, args: DaemonArgs) -> Result<()> {
    if ws.schedules.is_empty() {
        anyhow::bail!(
            "no [[schedule]] in {}: the daemon has nothing to run (add one with `every = \"6h\"` or `cron = \"0 3 * * *\"`)",
            ws.config_file.as_ref().unwrap_or(&ws.dir.join(config::DEFAULT_CONFIG)).display()
        );
    }
    init_logging(&args.log_format)?;
    let schedules: Vec<ScheduleSpec> = ws
        .schedules
        .iter()
        .map(|s| ScheduleSpec {
            name: s.name.clone(),
            when: s.when.clone(),
            targets: s.targets.clone(),
            profile: match s.profile {
                config::Profile::Passive => Profile::Passive,
                config::Profile::Standard => Profile::Standard,
                config::Profile::Deep => Profile::Deep,
            },
            checks: s.checks.clone(),
        })
        .collect();
    // The daemon holds the store for as long as it runs (sled: one process).
    let store = Arc::new(super::open_store(ws, super::prioritizer(ws)?)?);
    // The audit chain must verify before anything runs (issue 16, item 9).
    haetae_service::recover(&store)?;
    let for_setup = ws.clone();
    let setup: Arc<SetupFn> = Arc::new(move || super::scan::setup(&for_setup));
    let rt = super::scan::runtime()?;
    rt.block_on(async {
        let shutdown = CancellationToken::new();
        let signals = super::scan::cancel_on_signals(&shutdown)?;
        tracing::info!(
            store = %ws.store.display(),
            schedules = schedules.len(),
            pid = std::process::id(),
            "daemon started; SIGINT or SIGTERM stops it and keeps what a running scan found"
        );
        let hub = haetae_service::Hub::new("daemon");
        if let Some(sender) = super::notify::sender(ws)? {
            let _ = hub.notify.set(sender);
        }
        let engagement = haetae_scanner::scope::Scope::load(&ws.scope).map(|s| s.engagement.id).unwrap_or_default();
        let api = super::scan::serve_api(ws, &store, &hub, &engagement).await?;
        let upkeep =
            haetae_service::Upkeep { rules: ws.rules.clone(), backups: true, events: Some(hub.events.clone()) };
        let upkept = tokio::spawn(haetae_service::run_upkeep(store.clone(), upkeep, shutdown.clone()));
        let r = haetae_service::run_daemon(store, schedules, setup, hub, shutdown.clone()).await;
        shutdown.cancel();
        let _ = upkept.await;
        api.stop().await;
        signals.abort();
        r
    })
}

/// Log lines to stderr, `info` and above, without colour (a service
/// manager's journal reads them).
pub(crate) fn init_logging(format: &str) -> Result<()> {
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(false).with_target(false);
    let r = if format == "json" { builder.json().try_init() } else { builder.try_init() };
    r.map_err(|e| anyhow::anyhow!("{e}")).context("cannot set up logging")
}
