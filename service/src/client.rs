//! The local API's client: what `haetae findings`, `triage`, `export`, the
//! TUI and the rest use when a daemon (or a running `haetae scan`) holds the
//! store. [`ApiClient::find`] says whether one does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use http_body_util::{BodyExt as _, Full};
pub use hyper::Method;
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

use crate::api::{SOCKET_FILE, TOKEN_FILE};
use crate::events::Event;
use crate::scan::{BadRequest, Refused};

/// How long one request may take (an export of a large store included).
const DEADLINE: Duration = Duration::from_secs(120);
/// How long connecting may take.
const CONNECT: Duration = Duration::from_secs(5);
/// The longest SSE line accepted (one event's JSON).
const MAX_EVENT: usize = 4 << 20;

/// A connection recipe for the API of the process holding a store.
#[derive(Debug, Clone)]
pub struct ApiClient {
    socket: PathBuf,
    token: String,
}

/// An answer that is not a success: the server's words, by status.
fn answer_error(status: StatusCode, body: &[u8]) -> anyhow::Error {
    let text = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(500).collect());
    match status {
        StatusCode::BAD_REQUEST => anyhow!(BadRequest(text)),
        StatusCode::FORBIDDEN => anyhow!(Refused(text)),
        _ => anyhow!("{text}"),
    }
}

impl ApiClient {
    /// The API serving the store in `store_dir`, if a live process serves
    /// one: `None` when there is no socket or nobody answers on it (a process
    /// that died leaves its socket; the store is then opened directly).
    pub async fn find(store_dir: &Path) -> Result<Option<ApiClient>> {
        let socket = store_dir.join(SOCKET_FILE);
        if !socket.exists() {
            return Ok(None);
        }
        match tokio::time::timeout(CONNECT, UnixStream::connect(&socket)).await {
            Ok(Ok(_)) => {}
            _ => return Ok(None),
        }
        let token_file = store_dir.join(TOKEN_FILE);
        let token = std::fs::read_to_string(&token_file).with_context(|| {
            format!(
                "a haetae daemon or scan holds {} but its API token {} cannot be read (it is readable by the user running it only)",
                store_dir.display(),
                token_file.display()
            )
        })?;
        Ok(Some(ApiClient { socket, token: token.trim().to_owned() }))
    }

    /// A client for a known socket and token (tests).
    pub fn with_token(socket: PathBuf, token: String) -> ApiClient {
        ApiClient { socket, token }
    }

    async fn send(&self, req: Request<Full<Bytes>>) -> Result<hyper::Response<hyper::body::Incoming>> {
        let stream = tokio::time::timeout(CONNECT, UnixStream::connect(&self.socket))
            .await
            .map_err(|_| anyhow!("the haetae API at {} did not accept a connection within 5 s", self.socket.display()))?
            .with_context(|| format!("cannot connect to the haetae API at {}", self.socket.display()))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .with_context(|| format!("the haetae API at {} did not speak HTTP", self.socket.display()))?;
        tokio::spawn(conn);
        sender.send_request(req).await.with_context(|| format!("the haetae API at {} failed", self.socket.display()))
    }

    fn request(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Request<Full<Bytes>>> {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "localhost")
            .header(hyper::header::AUTHORIZATION, format!("Bearer {}", self.token));
        if body.is_some() {
            b = b.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        Ok(b.body(Full::new(Bytes::from(body.unwrap_or_default())))?)
    }

    /// One request, the whole answer (status checked), within the deadline.
    pub async fn call(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<(hyper::HeaderMap, Vec<u8>)> {
        let req = self.request(method, path, body)?;
        let exchange = async {
            let resp = self.send(req).await?;
            let (parts, body) = resp.into_parts();
            let bytes = body.collect().await.context("the haetae API's answer was cut off")?.to_bytes();
            if !parts.status.is_success() {
                return Err(answer_error(parts.status, &bytes));
            }
            Ok((parts.headers, bytes.to_vec()))
        };
        tokio::time::timeout(DEADLINE, exchange).await.map_err(|_| {
            anyhow!("the haetae API at {} did not answer within {} s", self.socket.display(), DEADLINE.as_secs())
        })?
    }

    /// GET `path` as JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let (_, body) = self.call(Method::GET, path, None).await?;
        serde_json::from_slice(&body)
            .with_context(|| format!("the haetae API's answer to {path} is not what this haetae expects"))
    }

    /// POST `body` as JSON to `path`, the answer as JSON.
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        let (_, answer) = self.call(Method::POST, path, Some(serde_json::to_vec(body)?)).await?;
        serde_json::from_slice(&answer)
            .with_context(|| format!("the haetae API's answer to {path} is not what this haetae expects"))
    }

    /// The live event stream, from now on.
    pub async fn events(&self) -> Result<EventStream> {
        let req = self.request(Method::GET, "/v1/events", None)?;
        let resp = tokio::time::timeout(CONNECT, self.send(req))
            .await
            .map_err(|_| anyhow!("the haetae API at {} did not open the event stream", self.socket.display()))??;
        if !resp.status().is_success() {
            let status = resp.status();
            let bytes = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            return Err(answer_error(status, &bytes));
        }
        Ok(EventStream { body: resp.into_body(), buf: Vec::new(), name: String::new(), data: String::new() })
    }
}

/// `path?query` with `query` URL-encoded (the query types leave out what is
/// not set: the server's defaults are the same).
pub fn with_query<Q: Serialize>(path: &str, query: &Q) -> Result<String> {
    let q = serde_urlencoded::to_string(query).context("cannot encode the query")?;
    Ok(if q.is_empty() { path.to_owned() } else { format!("{path}?{q}") })
}

/// Server-Sent Events as [`Event`]s.
pub struct EventStream {
    body: hyper::body::Incoming,
    buf: Vec<u8>,
    name: String,
    data: String,
}

/// What the stream gave.
#[derive(Debug)]
pub enum Streamed {
    /// An event.
    Event(Box<Event>),
    /// Events were missed (the listener fell behind): reload.
    Lagged,
}

impl EventStream {
    /// The next event; `None` when the server ended the stream. Comments
    /// (keep-alives) and events this haetae does not know are skipped.
    pub async fn next(&mut self) -> Result<Option<Streamed>> {
        loop {
            while let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    let name = std::mem::take(&mut self.name);
                    let data = std::mem::take(&mut self.data);
                    if name == "lagged" {
                        return Ok(Some(Streamed::Lagged));
                    }
                    if let Ok(e) = serde_json::from_str::<Event>(&data) {
                        return Ok(Some(Streamed::Event(Box::new(e))));
                    }
                } else if let Some(v) = line.strip_prefix("event:") {
                    v.trim().clone_into(&mut self.name);
                } else if let Some(v) = line.strip_prefix("data:") {
                    if !self.data.is_empty() {
                        self.data.push('\n');
                    }
                    self.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            if self.buf.len() > MAX_EVENT || self.data.len() > MAX_EVENT {
                bail!("the haetae API sent an event over {} MiB", MAX_EVENT >> 20);
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(anyhow!("the event stream broke: {e}")),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}
