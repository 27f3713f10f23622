//! `haetae notify status [--json]` and `haetae notify test`, and what
//! `haetae scan` does with notifications after its run (queue the run's
//! digest, try to deliver it once within a deadline, leave failures queued).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use haetae_findings::{OutboxItem, OutboxState, Store};
use haetae_notify::Sender;
use haetae_service::notifier;
use serde::Serialize;

use crate::config::Workspace;
use crate::output::{Table, truncate};

/// How long `haetae scan` spends delivering its notifications before it exits.
const SCAN_DELIVERY_DEADLINE: Duration = Duration::from_secs(20);

/// The sender for the workspace's channels; `None` when `[notify]` has none.
pub(crate) fn sender(ws: &Workspace) -> Result<Option<Arc<Sender>>> {
    if !ws.notify.has_channels() {
        return Ok(None);
    }
    Ok(Some(Arc::new(Sender::new(ws.notify.clone()).map_err(|e| anyhow!(e))?)))
}

/// After `haetae scan`'s run: queue its notifications and try them once.
/// Problems are said on stderr; they never change the scan's exit code.
#[allow(clippy::print_stderr, reason = "the scan's notification results are told on stderr")]
pub(crate) async fn after_scan(
    ws: &Workspace,
    store: &Store,
    run: Result<&haetae_service::ScanOutcome, &anyhow::Error>,
) {
    let sender = match sender(ws) {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(e) => {
            eprintln!("notifications: {e:#}");
            return;
        }
    };
    if let Err(e) = notifier::enqueue_after_run(store, &sender.config, run) {
        eprintln!("notifications: cannot queue this run's notifications: {e:#}");
        return;
    }
    match notifier::deliver_now(store, &sender, SCAN_DELIVERY_DEADLINE).await {
        Ok(done) => {
            for (item, a) in done {
                match &a.result {
                    Ok(said) => eprintln!("notifications: {} to {} delivered ({said})", a.channel, a.endpoint),
                    Err(why) => eprintln!(
                        "notifications: {} to {} not delivered ({why}); message {} stays queued for the daemon or the next scan (`haetae notify status`)",
                        a.channel, a.endpoint, item.id
                    ),
                }
            }
        }
        Err(e) => eprintln!("notifications: not sent now ({e:#}); they stay queued"),
    }
    if let Ok(left) = store.outbox_due(haetae_findings::Timestamp::now(), true)
        && !left.is_empty()
    {
        eprintln!("notifications: {} message(s) queued, not delivered yet (`haetae notify status`)", left.len());
    }
}

#[derive(Serialize)]
struct StatusJson<'a> {
    counts: haetae_findings::OutboxCounts,
    messages: Vec<MessageJson<'a>>,
}

#[derive(Serialize)]
struct MessageJson<'a> {
    id: u64,
    channel: &'a str,
    endpoint: &'a str,
    state: &'static str,
    attempts: u32,
    created: String,
    next_attempt: Option<String>,
    delivered: Option<String>,
    last_error: Option<&'a str>,
}

fn state_name(i: &OutboxItem) -> &'static str {
    match i.state {
        OutboxState::Delivered => "delivered",
        OutboxState::Queued if i.attempts > 0 => "failed",
        OutboxState::Queued => "queued",
    }
}

/// `haetae notify status`: undelivered messages first (oldest first), then
/// the delivered ones still kept (newest first).
pub(crate) fn status(ws: &Workspace, json: bool) -> Result<()> {
    let all: Option<Vec<OutboxItem>> = if let Some(api) = crate::remote::find(ws)? {
        Some(crate::remote::block(api.get("/v1/notifications"))?)
    } else if ws.store.exists() {
        Some(super::open_existing_store(ws)?.outbox()?)
    } else {
        None
    };
    let items: Vec<OutboxItem> = if let Some(mut all) = all {
        let delivered: Vec<OutboxItem> =
            all.iter().filter(|i| i.state == OutboxState::Delivered).rev().cloned().collect();
        all.retain(|i| i.state != OutboxState::Delivered);
        all.extend(delivered);
        all
    } else {
        Vec::new()
    };
    let mut counts = haetae_findings::OutboxCounts::default();
    for i in &items {
        match state_name(i) {
            "delivered" => counts.delivered += 1,
            "failed" => counts.failed += 1,
            _ => counts.queued += 1,
        }
    }
    let mut out = std::io::stdout().lock();
    if json {
        let messages = items
            .iter()
            .map(|i| MessageJson {
                id: i.id,
                channel: &i.channel,
                endpoint: &i.endpoint,
                state: state_name(i),
                attempts: i.attempts,
                created: i.created.to_string(),
                next_attempt: (i.state == OutboxState::Queued).then(|| i.next_attempt.to_string()),
                delivered: i.delivered.map(|d| d.to_string()),
                last_error: i.last_error.as_deref(),
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &StatusJson { counts, messages })?;
        writeln!(out)?;
        return Ok(());
    }
    let mut table =
        Table::new(&["ID", "CHANNEL", "STATE", "ATTEMPTS", "NEXT ATTEMPT / DELIVERED", "ENDPOINT", "LAST ERROR"]);
    for i in &items {
        let when = match i.state {
            OutboxState::Queued => i.next_attempt.to_string(),
            OutboxState::Delivered => i.delivered.map(|d| d.to_string()).unwrap_or_default(),
        };
        table.row(
            vec![
                i.id.to_string(),
                i.channel.clone(),
                state_name(i).to_owned(),
                i.attempts.to_string(),
                when,
                truncate(&i.endpoint, 50),
                truncate(i.last_error.as_deref().unwrap_or(""), 60),
            ],
            None,
        );
    }
    if !items.is_empty() {
        table.write(&mut out)?;
    }
    writeln!(
        out,
        "{} queued, {} failed (retried with backoff), {} delivered recently",
        counts.queued, counts.failed, counts.delivered
    )?;
    if !ws.notify.has_channels() {
        writeln!(out, "no channel is configured in [notify] (webhook, slack, [notify.email])")?;
    }
    Ok(())
}

/// `haetae notify test`: one test message to every channel, now.
pub(crate) fn test(ws: &Workspace) -> Result<()> {
    let Some(sender) = sender(ws)? else {
        bail!("no channel is configured in [notify]: add webhook, slack or [notify.email] to haetae.toml");
    };
    if let Some(api) = crate::remote::find(ws)? {
        // The daemon holds the store and its audit log: it sends them.
        let attempts: Vec<serde_json::Value> =
            crate::remote::block(api.post("/v1/notifications/test", &serde_json::json!({})))?;
        let mut out = std::io::stdout().lock();
        let mut failed = 0;
        for a in &attempts {
            let (channel, endpoint, said) = (
                a["channel"].as_str().unwrap_or("?"),
                a["endpoint"].as_str().unwrap_or("?"),
                a["said"].as_str().unwrap_or(""),
            );
            if a["delivered"] == serde_json::Value::Bool(true) {
                writeln!(out, "{channel:<8} {endpoint}  delivered ({said})")?;
            } else {
                failed += 1;
                writeln!(out, "{channel:<8} {endpoint}  FAILED: {said}")?;
            }
        }
        if failed > 0 {
            bail!("{failed} of {} channel(s) failed the test (sent by the daemon)", attempts.len());
        }
        return Ok(());
    }
    // The store is opened (and held) so that no other haetae process writes
    // the audit log while the attempts are recorded in it.
    let store = super::open_store(ws, super::prioritizer(ws)?)?;
    let rt = super::scan::runtime()?;
    let attempts = rt.block_on(notifier::send_test(store.dir(), &sender))?;
    drop(store);
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    for a in &attempts {
        match &a.result {
            Ok(said) => writeln!(out, "{:<8} {}  delivered ({said})", a.channel, a.endpoint)?,
            Err(why) => {
                failed += 1;
                writeln!(out, "{:<8} {}  FAILED: {why}", a.channel, a.endpoint)?;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} channel(s) failed the test", attempts.len());
    }
    Ok(())
}
