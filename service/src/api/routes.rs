//! The endpoints (all JSON unless said; all need the bearer token):
//!
//! | method and path | what |
//! |---|---|
//! | `GET /v1/health` | who serves (daemon or scan), pid, version, store, the scan running |
//! | `GET /v1/findings?state=&min_priority=&check=&host=&since=&overdue=&suppressed=` | the `haetae findings` listing, most urgent first |
//! | `GET /v1/findings/{id}` | one finding (a unique prefix of 4+ characters will do) |
//! | `POST /v1/triage` | `{"ids": [...], "state": "...", "actor": "...", "note", "until", "assign"}`: the findings as stored |
//! | `GET /v1/export?format=&lang=&...filters` | the agency export, the body in that format |
//! | `GET /v1/rules/check` | the rules file: rules, or errors with file:line:col |
//! | `POST /v1/rules/apply` | re-score every finding; how many changed |
//! | `GET /v1/rules/explain/{id}` | the rules file as it is now on one finding: each rule that fired, the result, what is stored |
//! | `GET /v1/scans` | scan runs, oldest first |
//! | `POST /v1/scans` | scan now (daemon only): `{"schedule"}` or `{"targets","profile","checks","skip_checks"}` |
//! | `GET /v1/schedules` | the schedules, next and last runs |
//! | `GET /v1/changes?since=&host=` | change events, oldest first |
//! | `GET /v1/assets` | what is known per host |
//! | `GET /v1/events` | the live stream (Server-Sent Events), see [`crate::events::Event`] |
//! | `GET /v1/store/check` | the store's integrity report |
//! | `POST /v1/store/backup` | `{"path": "/abs/file"}`: a backup written there by the server |
//! | `GET /v1/notifications` | the notification outbox (`haetae notify status`) |
//! | `POST /v1/notifications/test` | one test message to every channel of the daemon's `[notify]` (`haetae notify test`) |
//! | `GET /metrics` | Prometheus text format |

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::Stream;
use haetae_findings::export::{Format, Lang};
use haetae_findings::{Finding, State as FindingState, StoreError, Timestamp, Transition};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::ApiState;
use crate::hub::ScanNow;
use crate::query::{ChangeQuery, FindingFilter, FindingQuery};
use crate::scan::{BadRequest, Refused};

type St = State<Arc<ApiState>>;

pub(super) fn router(state: Arc<ApiState>) -> axum::Router<Arc<ApiState>> {
    let _ = state;
    axum::Router::new()
        .route("/v1/health", get(health))
        .route("/v1/findings", get(findings))
        .route("/v1/findings/{id}", get(finding))
        .route("/v1/triage", post(triage))
        .route("/v1/export", get(export))
        .route("/v1/rules/check", get(rules_check))
        .route("/v1/rules/apply", post(rules_apply))
        .route("/v1/rules/explain/{id}", get(rules_explain))
        .route("/v1/scans", get(scans).post(scan_now))
        .route("/v1/schedules", get(schedules))
        .route("/v1/changes", get(changes))
        .route("/v1/assets", get(assets))
        .route("/v1/notifications", get(notifications))
        .route("/v1/notifications/test", post(notifications_test))
        .route("/v1/events", get(events))
        .route("/v1/store/check", get(store_check))
        .route("/v1/store/backup", post(store_backup))
        .route("/metrics", get(super::metrics::metrics))
}

/// An error as the API answers it: a status and `{"error": "..."}`.
pub(super) struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        let status = if e.downcast_ref::<BadRequest>().is_some() {
            StatusCode::BAD_REQUEST
        } else if e.downcast_ref::<Refused>().is_some() {
            StatusCode::FORBIDDEN
        } else {
            match e.downcast_ref::<StoreError>() {
                Some(StoreError::NotFound { .. } | StoreError::NoScan { .. }) => StatusCode::NOT_FOUND,
                Some(StoreError::Ambiguous { .. } | StoreError::Transition(_)) => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            }
        };
        let text: Vec<String> = e.chain().map(ToString::to_string).collect();
        let mut text = text.join(": ");
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %text, "API request failed");
        }
        if text.is_empty() {
            text = status.to_string();
        }
        ApiError(status, text)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::from(anyhow::Error::from(e))
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

/// Run blocking store work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("the request's task failed: {e}")))?
}

async fn health(State(s): St) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "role": s.hub.role,
        "pid": std::process::id(),
        "version": env!("CARGO_PKG_VERSION"),
        "store": s.store.location().display().to_string(),
        "scan_running": s.hub.running(),
    }))
}

/// The `findings` listing; unreadable records are named in a header-like
/// `skipped` field of the errors, never silently lost.
async fn findings(State(s): St, Query(q): Query<FindingQuery>) -> Result<Response, ApiError> {
    let filter = FindingFilter::parse(&q)?;
    blocking(move || {
        let now = Timestamp::now();
        let expired = s.store.expire_acceptances_as(now, s.expiry_actor())?;
        if !expired.is_empty() {
            s.hub.events.send(crate::events::Event::FindingsChanged { ids: expired });
        }
        let (found, skipped) = filter.select(&s.store)?;
        let list: Vec<serde_json::Value> = found.iter().map(Finding::to_json).collect();
        let mut r = Json(list).into_response();
        if !skipped.is_empty() {
            let text = skipped.join("; ").replace(['\r', '\n'], " ");
            if let Ok(v) = header::HeaderValue::from_str(&text) {
                r.headers_mut().insert("x-haetae-skipped", v);
            }
        }
        Ok(r)
    })
    .await
}

async fn finding(State(s): St, Path(id): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    blocking(move || {
        let id = s.store.resolve_id(&id)?;
        match s.store.get(&id)? {
            Some(f) => Ok(Json(f.to_json())),
            None => Err(ApiError(StatusCode::NOT_FOUND, format!("no finding with id `{id}`"))),
        }
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriageBody {
    ids: Vec<String>,
    state: String,
    actor: String,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    assign: Option<String>,
}

async fn triage(
    State(s): St,
    body: Result<Json<TriageBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let Json(b) = body.map_err(|e| bad(e.body_text()))?;
    let to: FindingState = b.state.parse().map_err(|e| bad(format!("--state: {e}")))?;
    let until = match &b.until {
        None => None,
        Some(u) => Some(u.parse::<Timestamp>().map_err(|e| bad(format!("--until: {e}")))?),
    };
    let actor = b.actor.trim().to_owned();
    if actor.is_empty() {
        return Err(bad("actor: who is triaging? (empty)"));
    }
    if b.ids.is_empty() {
        return Err(bad("ids: no finding named"));
    }
    let t = Transition { to, actor, note: b.note, until, assign: b.assign };
    blocking(move || {
        let mut ids = Vec::with_capacity(b.ids.len());
        for id in &b.ids {
            ids.push(s.store.resolve_id(id)?);
        }
        ids.dedup();
        let changed = s.store.triage(&ids, &t)?;
        s.hub
            .events
            .send(crate::events::Event::FindingsChanged { ids: changed.iter().map(|f| f.id.clone()).collect() });
        Ok(Json(changed.iter().map(Finding::to_json).collect()))
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ExportQuery {
    format: Option<String>,
    lang: Option<String>,
    #[serde(flatten)]
    filter: FindingQuery,
}

async fn export(State(s): St, Query(q): Query<ExportQuery>) -> Result<Response, ApiError> {
    let format: Format = q.format.as_deref().unwrap_or("").parse().map_err(|e| bad(format!("--format: {e}")))?;
    let lang: Lang = q.lang.as_deref().unwrap_or("en").parse().map_err(|e| bad(format!("--lang: {e}")))?;
    let filter = FindingFilter::parse(&q.filter)?;
    blocking(move || {
        s.store.expire_acceptances_as(Timestamp::now(), s.expiry_actor())?;
        let (found, _) = filter.select(&s.store)?;
        let mut body = Vec::new();
        let warning = crate::report::write(&s.paths.scope, &found, filter.parts(), format, lang, &mut body)?;
        let mime = match format {
            Format::Json | Format::Sarif => "application/json",
            Format::Jsonl => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Md => "text/markdown; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
        };
        let mut r = ([(header::CONTENT_TYPE, mime)], body).into_response();
        if let Some(v) = warning.and_then(|w| header::HeaderValue::from_str(&w).ok()) {
            r.headers_mut().insert("x-haetae-warning", v);
        }
        Ok(r)
    })
    .await
}

async fn rules_check(State(s): St) -> Result<Json<serde_json::Value>, ApiError> {
    let path = s.paths.rules.clone();
    blocking(move || {
        if !path.exists() {
            return Ok(Json(serde_json::json!({ "file": path.display().to_string(), "exists": false, "rules": [] })));
        }
        match haetae_rules::RuleSet::load(&path) {
            Ok(r) => {
                let rules: Vec<serde_json::Value> =
                    r.rules().iter().map(|r| serde_json::json!({ "name": r.name, "when": r.when })).collect();
                Ok(Json(serde_json::json!({ "file": path.display().to_string(), "exists": true, "rules": rules })))
            }
            Err(errors) => {
                let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
                Err(bad(format!("{} error(s) in {}:\n{}", list.len(), path.display(), list.join("\n"))))
            }
        }
    })
    .await
}

async fn rules_apply(State(s): St) -> Result<Json<serde_json::Value>, ApiError> {
    let path = s.paths.rules.clone();
    blocking(move || {
        let changed = crate::rescore::apply(&s.store, &path)?;
        s.hub.events.send(crate::events::Event::FindingsChanged { ids: Vec::new() });
        Ok(Json(serde_json::json!({ "file": path.display().to_string(), "changed": changed })))
    })
    .await
}

async fn rules_explain(State(s): St, Path(id): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    let path = s.paths.rules.clone();
    blocking(move || {
        let rules = haetae_rules::RuleSet::load(&path).map_err(|errors| {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            bad(format!("{} error(s) in {}:\n{}", list.len(), path.display(), list.join("\n")))
        })?;
        let id = s.store.resolve_id(&id)?;
        let Some(stored) = s.store.get(&id)? else {
            return Err(ApiError(StatusCode::NOT_FOUND, format!("no finding with id `{id}`")));
        };
        let mut now = stored.clone();
        haetae_findings::Prioritizer::prioritize(&rules, &mut now, Timestamp::now());
        Ok(Json(serde_json::json!({
            "id": id,
            "rules_in_file": rules.rules().len(),
            "hits": now.rules,
            "now": { "priority": now.priority, "score": now.score, "suppressed": now.suppressed },
            "stored": { "priority": stored.priority, "score": stored.score, "suppressed": stored.suppressed },
        })))
    })
    .await
}

async fn scans(State(s): St) -> Result<Json<Vec<haetae_findings::ScanRun>>, ApiError> {
    blocking(move || Ok(Json(s.store.scans()?))).await
}

async fn scan_now(
    State(s): St,
    body: Result<Json<ScanNow>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(mut req) = body.map_err(|e| bad(e.body_text()))?;
    req.profile().map_err(bad)?;
    let tx = s.hub.scan_now.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let Some(tx) = tx else {
        let running = s.hub.running().map(|id| format!(" (scan {id})")).unwrap_or_default();
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "this store is held by a running `haetae scan`{running}, which takes no other scan; wait for it, or run `haetae daemon`"
            ),
        ));
    };
    if let Some(name) = &req.schedule {
        let known = s.hub.schedules.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|x| &x.name == name);
        if !known {
            return Err(ApiError(StatusCode::NOT_FOUND, format!("no [[schedule]] named {name:?}")));
        }
    }
    req.request = s.hub.counters.next_request.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let request = req.request;
    tx.send(req).await.map_err(|_| ApiError(StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping".into()))?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "request": request, "queued_behind": s.hub.running() })))
        .into_response())
}

async fn schedules(State(s): St) -> Json<Vec<crate::hub::ScheduleStatus>> {
    Json(s.hub.schedules.lock().unwrap_or_else(|p| p.into_inner()).clone())
}

async fn changes(
    State(s): St,
    Query(q): Query<ChangeQuery>,
) -> Result<Json<Vec<haetae_findings::ChangeEvent>>, ApiError> {
    q.validate()?;
    blocking(move || Ok(Json(q.select(&s.store)?))).await
}

async fn assets(State(s): St) -> Result<Json<Vec<haetae_findings::AssetRecord>>, ApiError> {
    blocking(move || Ok(Json(s.store.assets()?))).await
}

/// The notification outbox (`haetae notify status`), oldest first.
async fn notifications(State(s): St) -> Result<Json<Vec<haetae_findings::OutboxItem>>, ApiError> {
    blocking(move || Ok(Json(s.store.outbox()?))).await
}

/// One test message to every configured channel, now; each attempt audited.
async fn notifications_test(State(s): St) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let Some(sender) = s.hub.notify.get().cloned() else {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "the process holding the store has no [notify] channel (it reads haetae.toml when it starts)".into(),
        ));
    };
    let attempts = crate::notifier::send_test(s.store.dir(), &sender).await?;
    Ok(Json(
        attempts
            .iter()
            .map(|a| match &a.result {
                Ok(said) => {
                    serde_json::json!({ "channel": a.channel, "endpoint": a.endpoint, "delivered": true, "said": said })
                }
                Err(why) => {
                    serde_json::json!({ "channel": a.channel, "endpoint": a.endpoint, "delivered": false, "said": why })
                }
            })
            .collect(),
    ))
}

/// The live stream: each [`crate::events::Event`] as an SSE event named
/// after it, its JSON as the data; a listener that fell behind gets a
/// `lagged` event (reload what it shows). Ends when the server stops.
async fn events(State(s): St) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = s.hub.events.subscribe();
    let stop = s.stop.clone();
    let stream = futures_util::stream::unfold((rx, stop), |(mut rx, stop)| async move {
        let got = tokio::select! {
            got = rx.recv() => got,
            () = stop.cancelled() => return None,
        };
        let ev = match got {
            Ok(e) => SseEvent::default().event(e.name()).data(serde_json::to_string(&e).unwrap_or_default()),
            Err(RecvError::Lagged(n)) => SseEvent::default().event("lagged").data(format!("{{\"missed\":{n}}}")),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(ev), (rx, stop)))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15)))
}

async fn store_check(State(s): St) -> Result<Json<serde_json::Value>, ApiError> {
    blocking(move || {
        let r = s.store.check()?;
        Ok(Json(
            serde_json::json!({ "healthy": r.is_healthy(), "problems": r.problems.len(), "report": r.to_string() }),
        ))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupBody {
    path: std::path::PathBuf,
}

async fn store_backup(
    State(s): St,
    body: Result<Json<BackupBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body.map_err(|e| bad(e.body_text()))?;
    if !b.path.is_absolute() {
        return Err(bad(format!("path: expected an absolute path, found {}", b.path.display())));
    }
    blocking(move || {
        let r = s.store.backup(&b.path)?;
        Ok(Json(serde_json::json!({
            "path": r.path.display().to_string(),
            "records": r.records,
            "findings": r.findings,
            "files": r.files,
            "bytes": r.bytes,
        })))
    })
    .await
}
