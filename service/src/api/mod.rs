//! The local API: JSON over HTTP/1.1 on a Unix socket in the store directory
//! (`api.sock`), served by whichever process holds the store (the daemon, or
//! a plain `haetae scan` while it runs). Every request carries
//! `Authorization: Bearer TOKEN`, the token being a fresh random secret
//! written beside the socket (`api.token`, mode 0600) at each start; one
//! without it gets 401 and an audit record. See [`routes`] for the endpoints.

mod metrics;
pub mod routes;

use std::io::{Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use haetae_findings::Store;
use haetae_findings::audit::{AuditEntry, AuditLog, Protocol, Verdict};
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;

use crate::hub::{Counters, Hub};

/// The socket's file name in the store directory.
pub const SOCKET_FILE: &str = "api.sock";
/// The token's file name in the store directory.
pub const TOKEN_FILE: &str = "api.token";

/// What the workspace tells the API (paths it reads at each request, so an
/// edited scope or rules file counts at once).
#[derive(Debug, Clone)]
pub struct ApiPaths {
    /// scope.toml (the export's engagement).
    pub scope: PathBuf,
    /// rules.toml (`rules check`).
    pub rules: PathBuf,
}

/// Everything a handler reaches.
pub(crate) struct ApiState {
    pub(crate) store: Arc<Store>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) audit: Arc<AuditLog>,
    pub(crate) paths: ApiPaths,
    pub(crate) engagement: String,
    /// Cancelled when the server stops (ends the event streams).
    pub(crate) stop: CancellationToken,
    token: String,
}

impl ApiState {
    /// Who returns an expired risk acceptance to open when a listing finds
    /// one: the daemon, or the scanner for a plain scan (as the CLI does).
    pub(crate) fn expiry_actor(&self) -> &'static str {
        if self.hub.role == "daemon" { haetae_findings::lifecycle::DAEMON } else { haetae_findings::lifecycle::SCANNER }
    }
}

/// A running API; dropping it does not stop it, [`ApiServer::stop`] does.
pub struct ApiServer {
    socket: PathBuf,
    token_file: PathBuf,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl ApiServer {
    /// Stop serving (open event streams end), remove the socket and token.
    pub async fn stop(self) {
        self.stop.cancel();
        // Open SSE streams end with the token; a stuck client gets 2 s.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.task).await;
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_file(&self.token_file);
    }

    /// The socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

/// Serve the API for `store` on `<store dir>/api.sock` until
/// [`ApiServer::stop`]. A socket left by a process that died is replaced; one
/// another live process serves is an error.
pub async fn serve(
    store: Arc<Store>,
    hub: Arc<Hub>,
    audit: Arc<AuditLog>,
    paths: ApiPaths,
    engagement: String,
) -> Result<ApiServer> {
    let dir = store.dir().to_owned();
    let socket = dir.join(SOCKET_FILE);
    let token_file = dir.join(TOKEN_FILE);
    if socket.exists() {
        if tokio::net::UnixStream::connect(&socket).await.is_ok() {
            bail!(
                "another haetae process serves the API at {} (a daemon or a scan holds this store)",
                socket.display()
            );
        }
        std::fs::remove_file(&socket)
            .with_context(|| format!("cannot remove the stale socket {}", socket.display()))?;
    }
    let token = new_token()?;
    write_token(&token_file, &token)?;
    let listener = UnixListener::bind(&socket).with_context(|| format!("cannot listen on {}", socket.display()))?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {}", socket.display()))?;
    let stop = CancellationToken::new();
    let state = Arc::new(ApiState { store, hub, audit, paths, engagement, stop: stop.clone(), token });
    let app = routes::router(state.clone())
        .layer(axum::middleware::from_fn_with_state(state.clone(), authorize))
        .with_state(state);
    let until = stop.clone();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(async move { until.cancelled().await });
        if let Err(e) = served.await {
            tracing::error!(error = %e, "the local API stopped");
        }
    });
    tracing::info!(socket = %socket.display(), "local API listening");
    Ok(ApiServer { socket, token_file, stop, task })
}

/// 32 random bytes from the kernel, as hex.
fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom for the API token")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Write the token readable by this user only (replacing an old one).
fn write_token(path: &Path, token: &str) -> Result<()> {
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write the API token {}", path.display()))?;
    f.write_all(token.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Equal, in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The bearer token or 401 (audited); counts requests and errors.
async fn authorize(State(state): State<Arc<ApiState>>, req: Request, next: Next) -> Response {
    let c = &state.hub.counters;
    Counters::bump(&c.requests);
    let given = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if !given.is_some_and(|t| same(t.as_bytes(), state.token.as_bytes())) {
        Counters::bump(&c.unauthorized);
        let reason = if given.is_some() { "wrong bearer token" } else { "no bearer token" };
        let entry = AuditEntry {
            engagement: state.engagement.clone(),
            target: SOCKET_FILE.to_owned(),
            address: None,
            port: None,
            protocol: Protocol::Api,
            probe: format!("api {} {}", req.method(), req.uri().path()),
            verdict: Verdict::Refused,
            reason: reason.to_owned(),
            outcome: "401".to_owned(),
        };
        if let Err(e) = state.audit.append(entry).and_then(|_| state.audit.sync()) {
            tracing::error!(error = %e, "cannot audit a refused API request");
        }
        tracing::warn!(path = %req.uri().path(), reason, "API request refused");
        return (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({ "error": format!("{reason}: send Authorization: Bearer <the token in {TOKEN_FILE}>") })))
            .into_response();
    }
    let r = next.run(req).await;
    if r.status().is_server_error() {
        Counters::bump(&c.errors);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(!same(b"", b"a"));
    }
}
