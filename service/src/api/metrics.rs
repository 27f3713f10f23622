//! `/metrics` in the Prometheus text exposition format (version 0.0.4).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use haetae_findings::{Priority, State as FindingState};

use super::ApiState;
use super::routes::ApiError;

pub(super) async fn metrics(State(s): State<Arc<ApiState>>) -> Result<Response, ApiError> {
    let text = tokio::task::spawn_blocking(move || render(&s))
        .await
        .map_err(|e| ApiError::from(anyhow::anyhow!("the metrics task failed: {e}")))??;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}

fn render(s: &ApiState) -> Result<String, ApiError> {
    let mut out = String::with_capacity(4096);
    let c = &s.hub.counters;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    help(&mut out, "haetae_scans_total", "counter", "Scans this process ran, by how they ended.");
    for (result, n) in [
        ("complete", load(&c.scans_complete)),
        ("incomplete", load(&c.scans_incomplete)),
        ("failed", load(&c.scans_failed)),
    ] {
        let _ = writeln!(out, "haetae_scans_total{{result=\"{result}\"}} {n}");
    }
    help(&mut out, "haetae_scan_running", "gauge", "1 while a scan runs.");
    let _ = writeln!(out, "haetae_scan_running {}", u8::from(s.hub.running().is_some()));

    // Findings by state and priority: only those two fields are decoded.
    let (findings, unreadable) = s.store.list_all_as::<StatePriority>()?;
    let mut counts = vec![[0u64; 4]; FindingState::ALL.len()];
    for f in &findings {
        let st = FindingState::ALL.iter().position(|x| *x == f.state);
        let pr = Priority::ALL.iter().position(|x| *x == f.priority);
        if let (Some(st), Some(pr)) = (st, pr)
            && let Some(n) = counts.get_mut(st).and_then(|row| row.get_mut(pr))
        {
            *n += 1;
        }
    }
    help(&mut out, "haetae_findings", "gauge", "Stored findings by state and priority.");
    for (st, row) in FindingState::ALL.iter().zip(&counts) {
        for (pr, n) in Priority::ALL.iter().zip(row) {
            let _ = writeln!(out, "haetae_findings{{state=\"{st}\",priority=\"{pr}\"}} {n}");
        }
    }
    help(&mut out, "haetae_findings_unreadable", "gauge", "Stored findings that could not be read.");
    let _ = writeln!(out, "haetae_findings_unreadable {}", unreadable.len());

    help(&mut out, "haetae_api_requests_total", "counter", "Local API requests received.");
    let _ = writeln!(out, "haetae_api_requests_total {}", load(&c.requests));
    help(&mut out, "haetae_api_errors_total", "counter", "Local API requests answered with a server error.");
    let _ = writeln!(out, "haetae_api_errors_total {}", load(&c.errors));
    help(&mut out, "haetae_api_unauthorized_total", "counter", "Local API requests refused for want of the token.");
    let _ = writeln!(out, "haetae_api_unauthorized_total {}", load(&c.unauthorized));
    let n = s.store.outbox_counts()?;
    help(&mut out, "haetae_notifications", "gauge", "Notifications in the store's outbox, by state.");
    for (state, k) in [("queued", n.queued), ("failed", n.failed), ("delivered", n.delivered)] {
        let _ = writeln!(out, "haetae_notifications{{state=\"{state}\"}} {k}");
    }
    help(&mut out, "haetae_event_listeners", "gauge", "Open event streams.");
    let _ = writeln!(out, "haetae_event_listeners {}", s.hub.events.listeners());
    Ok(out)
}

/// The part of a stored finding the gauges need.
#[derive(serde::Deserialize)]
struct StatePriority {
    state: FindingState,
    priority: Priority,
}

fn help(out: &mut String, name: &str, kind: &str, text: &str) {
    let _ = writeln!(out, "# HELP {name} {text}\n# TYPE {name} {kind}");
}
