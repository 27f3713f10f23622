//! `haetae worker`: claim units of runs from the workspace's shared
//! PostgreSQL store and scan them, until SIGINT or SIGTERM. Its audit log
//! stays in this machine's `.haetae/` (see `haetae audit verify`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use haetae_service::SetupFn;
use haetae_service::worker::{WorkerOptions, run_worker};
use tokio_util::sync::CancellationToken;

use crate::cli::WorkerArgs;
use crate::config::Workspace;
use crate::exit::UsageError;

/// How long an idle worker waits before looking at the queue again.
const IDLE_POLL: Duration = Duration::from_millis(500);

pub(crate) fn run(ws: &Workspace, args: WorkerArgs) -> Result<()> {
    if ws.database.is_none() {
        bail!(
            "a worker shares a PostgreSQL store with its daemon: set store = \"postgres://user@host:5432/db\" in haetae.toml (this workspace's store is the directory {})",
            ws.store.display()
        );
    }
    let lease = humantime::parse_duration(&args.lease)
        .map_err(|e| anyhow!(UsageError(format!("--lease {}: {e} (expected a duration such as 60s)", args.lease))))?;
    if lease < Duration::from_secs(3) {
        return Err(anyhow!(UsageError(format!("--lease {}: at least 3s", args.lease))));
    }
    super::daemon::init_logging(&args.log_format)?;
    let id = args.id.unwrap_or_else(default_id);
    if id.is_empty()
        || !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || id.starts_with('.')
    {
        return Err(anyhow!(UsageError(format!("--id {id:?}: letters, digits, '-', '_' and '.' only"))));
    }
    // Each worker keeps its own audit chain: its own local directory.
    let local = ws.store.join("workers").join(&id);
    let store = Arc::new(super::open_store_in(ws, &local, super::prioritizer(ws)?)?);
    let mut for_setup = ws.clone();
    for_setup.store = local;
    let setup: Arc<SetupFn> = Arc::new(move || super::scan::setup(&for_setup));
    let rt = super::scan::runtime()?;
    rt.block_on(async {
        let shutdown = CancellationToken::new();
        let signals = super::scan::cancel_on_signals(&shutdown)?;
        tracing::info!(worker = %id, store = %store.location().display(), pid = std::process::id(), "worker started; SIGINT or SIGTERM stops it");
        let opts = WorkerOptions { id: id.clone(), lease, idle_poll: IDLE_POLL };
        let r = run_worker(store, setup, opts, shutdown).await;
        signals.abort();
        let summary = r?;
        tracing::info!(worker = %id, done = summary.done, failed = summary.failed, lost = summary.lost, "worker stopped");
        Ok::<_, anyhow::Error>(())
    })
    .context("worker")
}

/// `host-pid`: unique among the workers of one database.
fn default_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    let host = if host.is_empty() { "worker".to_owned() } else { host };
    format!("{host}-{}", std::process::id())
}
