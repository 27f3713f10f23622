//! The scanner's HTTP client: HTTP/1.1, every connection through the scope
//! guard (so resolution, scope, rate limits and the audit apply), read-only
//! methods, capped bodies, redirects followed by the caller through the
//! scope, and the team's contact in the User-Agent.
//!
//! [`HttpClient::fetch`] spends one connection on one request
//! (`Connection: close`). [`HttpClient::fetch_in`] sends the sequential
//! requests of one [`Session`] over one persistent connection (RFC 9112
//! section 9.3), opening a new one, through the guard and audited, whenever
//! the server closes it, ends a body without framing, or the endpoint
//! changes. On the 2-core reference machine this took the template phase of
//! `scripts/bench-http.sh` (2,000 names, every port probed at once) from
//! about 20k to 45k requests/s, level with gobuster and ffuf on the same
//! nginx: a loopback connection (connect, accept, audit record, close on both
//! sides) costs more than the request it carries.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use super::parse::{Chunked, Framing, Head, MAX_HEAD, ParseError, dechunk_framed, framing, keeps_alive, parse_head};
use crate::guard::{GuardError, ScopeGuard};
use crate::tls::handshake::provider;

/// Default body cap: 1 MiB.
pub const BODY_CAP: usize = 1 << 20;
/// Longest `Retry-After` honoured before giving up on a host for this request.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Most time spent waiting on `Retry-After` for one host in all (per
/// client, i.e. per scan); past it a 429/503 is a failed request at once.
/// With the per-port breaker, a server that always says `Retry-After: 5`
/// costs a scan about ten seconds, not minutes.
pub const RETRY_BUDGET: Duration = Duration::from_secs(10);

/// HTTP requests written by every client of this process.
static REQUESTS_SENT: AtomicU64 = AtomicU64::new(0);

/// How many HTTP requests this process has sent (every [`HttpClient`],
/// retries included), for benchmarks and progress displays.
pub fn requests_sent() -> u64 {
    REQUESTS_SENT.load(Ordering::Relaxed)
}

/// GET or HEAD: the scanner never changes server state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// HEAD.
    Head,
}

/// One request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `http` or `https`.
    pub https: bool,
    /// Host name (Host header and SNI).
    pub host: &'a str,
    /// Checked address of the host.
    pub addr: IpAddr,
    /// Port.
    pub port: u16,
    /// Method.
    pub method: Method,
    /// Path and query, starting with `/`.
    pub path: &'a str,
    /// Extra headers.
    pub headers: &'a [(String, String)],
}

/// A response, body capped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers as received.
    pub headers: Vec<(String, String)>,
    /// Body, at most the cap.
    pub body: Vec<u8>,
    /// Whether the body was cut at the cap.
    pub truncated: bool,
    /// Audit record of the connection.
    pub audit: u64,
}

impl HttpResponse {
    /// First value of a header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Why there is no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The guard refused (scope, window) or the connection failed.
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// The path is excluded by the scope.
    #[error("refused: {0}")]
    ExcludedPath(String),
    /// TLS failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// A complete reply that is not HTTP: the port is not a web server.
    #[error("not HTTP: {0}")]
    NotHttp(String),
    /// Broken or cut short (reset, truncated body, oversize head ...): no definite answer.
    #[error("{0}")]
    Protocol(String),
    /// No whole answer within the deadline (`timeout_ms`, connect to last byte).
    #[error("no whole answer within {0} ms")]
    Timeout(u64),
    /// The server asked us to come back later than we wait.
    #[error("server asked to retry after {0} s; not waiting that long")]
    RetryLater(u64),
    /// The server asked us to come back later, and the host's waiting budget is spent.
    #[error("server asked to retry after {0} s; the {1} s Retry-After budget for this host is spent")]
    RetryBudget(u64, u64),
}

impl FetchError {
    /// Whether the failure is itself a definite answer about the endpoint:
    /// the connection was refused (nothing listens), the reply was complete
    /// and not HTTP, or the scope excludes the path. Everything else (a
    /// timeout, a reset, a TLS failure, a cut or oversize reply, a
    /// `Retry-After` not waited for) says nothing and covers nothing.
    pub fn is_definite(&self) -> bool {
        match self {
            FetchError::Guard(GuardError::Failed(why)) => why == "closed",
            FetchError::NotHttp(_) | FetchError::ExcludedPath(_) => true,
            FetchError::Guard(_)
            | FetchError::Tls(_)
            | FetchError::Protocol(_)
            | FetchError::Timeout(_)
            | FetchError::RetryLater(_)
            | FetchError::RetryBudget(..) => false,
        }
    }
}

/// Accepts any certificate: certificate problems are the TLS checks' business,
/// and nothing secret is sent on these connections.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A byte stream a request can go over: plain TCP or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open connection of a [`Session`] and the endpoint it reaches.
struct Live {
    stream: Box<dyn Io>,
    /// Read buffer, kept between requests.
    buf: Vec<u8>,
    https: bool,
    host: String,
    addr: IpAddr,
    port: u16,
    /// Audit record of the connection.
    audit: u64,
}

impl Live {
    fn serves(&self, req: &Request<'_>) -> bool {
        self.https == req.https && self.addr == req.addr && self.port == req.port && self.host == req.host
    }
}

/// Sequential requests to one endpoint that share a persistent connection
/// ([`HttpClient::fetch_in`]). Dropping the session closes the connection.
#[derive(Default)]
pub struct Session {
    live: Option<Live>,
    /// Send `Connection: close` and never keep the connection.
    close: bool,
    connections: u64,
}

impl Session {
    /// A session that keeps its connection open between requests.
    pub fn new() -> Session {
        Session::default()
    }

    /// Connections this session has opened.
    pub fn connections(&self) -> u64 {
        self.connections
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("open", &self.live.as_ref().map(|l| (l.host.as_str(), l.addr, l.port, l.https)))
            .field("connections", &self.connections)
            .finish()
    }
}

/// How one exchange on a connection went.
enum Exchange {
    /// A response, and whether the connection may carry another request.
    Done(HttpResponse, bool),
    /// A reused connection failed before the response head: the request may
    /// be sent again on a new one (RFC 9112 section 9.3.1).
    Stale,
    /// Failed.
    Failed(FetchError),
}

/// Interim (1xx) responses skipped before the final one, at most.
const MAX_INTERIM: usize = 8;
/// Most bytes asked of the stream per read.
const READ_SIZE: usize = 16 * 1024;
/// Room for a connection's first read: most response heads fit.
const FIRST_READ: usize = 4 * 1024;
/// A connection's read buffer past this size is not kept for the next request.
const KEPT_BUFFER: usize = 64 * 1024;

/// The HTTP client of one scan.
pub struct HttpClient {
    user_agent: String,
    tls: TlsConnector,
    body_cap: usize,
    /// `Retry-After` time already waited, per host.
    waited: std::sync::Mutex<std::collections::HashMap<String, Duration>>,
}

impl HttpClient {
    /// A client whose User-Agent names haetae, the engagement and the contact.
    pub fn new(engagement: &str, contact: &str) -> Result<HttpClient, FetchError> {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| FetchError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert(provider())))
            .with_no_client_auth();
        let contact = if contact.is_empty() { String::new() } else { format!("; contact {contact}") };
        Ok(HttpClient {
            user_agent: format!(
                "haetae/{} (authorized security inspection; engagement {engagement}{contact})",
                env!("CARGO_PKG_VERSION")
            ),
            tls: TlsConnector::from(Arc::new(config)),
            body_cap: BODY_CAP,
            waited: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// The User-Agent sent.
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// Send one request on a connection of its own (`Connection: close`) and
    /// read the response (body capped). A 429/503 with a short `Retry-After`
    /// is retried once after that wait.
    pub async fn fetch(&self, guard: &ScopeGuard, req: &Request<'_>) -> Result<HttpResponse, FetchError> {
        let mut once = Session { close: true, ..Session::default() };
        self.fetch_in(guard, &mut once, req).await
    }

    /// Like [`Self::fetch`], over the session's persistent connection when it
    /// reaches the same endpoint and the server kept it open; otherwise over a
    /// new connection (through the guard, audited) that the session keeps.
    /// [`HttpResponse::audit`] names the connection the response came on.
    pub async fn fetch_in(
        &self,
        guard: &ScopeGuard,
        session: &mut Session,
        req: &Request<'_>,
    ) -> Result<HttpResponse, FetchError> {
        let path_ok = guard.scope().check_path(req.path);
        if !path_ok.allowed {
            return Err(FetchError::ExcludedPath(path_ok.reason));
        }
        let first = self.fetch_once(guard, session, req).await?;
        if matches!(first.status, 429 | 503)
            && let Some(wait) = first.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok())
        {
            let pause = Duration::from_secs(wait);
            if pause > MAX_RETRY_AFTER {
                return Err(FetchError::RetryLater(wait));
            }
            {
                let mut waited = self.waited.lock().unwrap_or_else(|p| p.into_inner());
                let spent = waited.entry(req.host.to_owned()).or_default();
                if *spent + pause > RETRY_BUDGET {
                    return Err(FetchError::RetryBudget(wait, RETRY_BUDGET.as_secs()));
                }
                *spent += pause;
            }
            // Idle connections are closed by servers; do not hold one over the wait.
            session.live = None;
            tokio::time::sleep(Duration::from_secs(wait)).await;
            return self.fetch_once(guard, session, req).await;
        }
        Ok(first)
    }

    async fn fetch_once(
        &self,
        guard: &ScopeGuard,
        session: &mut Session,
        req: &Request<'_>,
    ) -> Result<HttpResponse, FetchError> {
        // `timeout_ms` bounds one whole exchange, connect to last byte.
        let limit = guard.timeout();
        let timeout = || FetchError::Timeout(u64::try_from(limit.as_millis()).unwrap_or(u64::MAX));
        let reuse = session.live.take().filter(|l| l.serves(req));
        // The connection was checked against the scope when it was opened, and
        // scope and resolution do not change during a scan; the authorization
        // window does. When it has closed, the connection is dropped and the
        // new attempt below is refused by the guard and audited as such.
        if let Some(mut live) = reuse.filter(|_| guard.window().is_ok()) {
            guard.pace(req.host, req.addr).await;
            let exchange = tokio::time::timeout(limit, self.exchange(&mut live, req, true, !session.close));
            match exchange.await.map_err(|_| timeout())? {
                Exchange::Done(mut resp, keep) => {
                    resp.audit = live.audit;
                    if keep {
                        session.live = Some(live);
                    }
                    return Ok(resp);
                }
                Exchange::Stale => {}
                Exchange::Failed(e) => return Err(e),
            }
        }
        let probe = match req.method {
            Method::Get => "http.get",
            Method::Head => "http.head",
        };
        let conn = guard.connect(req.host, req.addr, req.port, probe).await?;
        // The guard took this request's token when it opened the connection.
        session.connections += 1;
        let deadline = conn.started + limit;
        let work = async {
            let stream: Box<dyn Io> = if req.https {
                let name = ServerName::try_from(req.host.trim_end_matches('.').to_owned())
                    .map_err(|e| FetchError::Tls(e.to_string()))?;
                let tls = self.tls.connect(name, conn.stream).await.map_err(|e| FetchError::Tls(e.to_string()))?;
                Box::new(tls)
            } else {
                Box::new(conn.stream)
            };
            let mut live = Live {
                stream,
                buf: Vec::with_capacity(FIRST_READ),
                https: req.https,
                host: req.host.to_owned(),
                addr: req.addr,
                port: req.port,
                audit: conn.audit,
            };
            match self.exchange(&mut live, req, false, !session.close).await {
                Exchange::Done(mut resp, keep) => {
                    resp.audit = live.audit;
                    Ok((resp, keep.then_some(live)))
                }
                Exchange::Stale => Err(FetchError::Protocol("connection closed before the response head".into())),
                Exchange::Failed(e) => Err(e),
            }
        };
        let (resp, live) = tokio::time::timeout_at(deadline, work).await.map_err(|_| timeout())??;
        session.live = live;
        Ok(resp)
    }

    fn request_bytes(&self, req: &Request<'_>, keep_alive: bool) -> Vec<u8> {
        let method = match req.method {
            Method::Get => "GET",
            Method::Head => "HEAD",
        };
        let default_port = if req.https { 443 } else { 80 };
        let host = if req.host.contains(':') { format!("[{}]", req.host) } else { req.host.to_owned() };
        let host = if req.port == default_port { host } else { format!("{host}:{}", req.port) };
        // HTTP/1.1 connections persist unless either side says otherwise.
        let connection = if keep_alive { "" } else { "Connection: close\r\n" };
        let mut s = format!(
            "{method} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {}\r\nAccept: */*\r\nAccept-Encoding: identity\r\n{connection}",
            req.path, self.user_agent
        );
        for (k, v) in req.headers {
            // Header injection from a template is impossible: no CR/LF survives.
            let clean = |x: &str| x.replace(['\r', '\n'], "");
            s.push_str(&format!("{}: {}\r\n", clean(k), clean(v)));
        }
        s.push_str("\r\n");
        s.into_bytes()
    }

    /// Write the request and read one response. `reused`: the connection
    /// carried a response before, so a failure before the whole response head
    /// is [`Exchange::Stale`] (the server closed it meanwhile, or it holds
    /// stray bytes of the last response; GET and HEAD may be sent again).
    /// `keep_alive`: ask to keep the connection.
    async fn exchange(&self, live: &mut Live, req: &Request<'_>, reused: bool, keep_alive: bool) -> Exchange {
        let Live { stream, buf, .. } = live;
        let broken = |e: String| if reused { Exchange::Stale } else { Exchange::Failed(FetchError::Protocol(e)) };
        if let Err(e) = stream.write_all(&self.request_bytes(req, keep_alive)).await {
            return broken(e.to_string());
        }
        REQUESTS_SENT.fetch_add(1, Ordering::Relaxed);
        buf.clear();
        let mut interim = 0;
        let head: Head = loop {
            match parse_head(buf) {
                // An interim response (100 Continue, 103 Early Hints): the final one follows.
                Ok(h) if (100..200).contains(&h.status) && h.status != 101 && interim < MAX_INTERIM => {
                    interim += 1;
                    buf.drain(..h.len);
                    continue;
                }
                Ok(h) => break h,
                Err(ParseError::Bad(why)) if reused => return broken(why),
                // A fresh connection's first bytes that are not HTTP: a definite answer.
                Err(ParseError::Bad(why)) => return Exchange::Failed(FetchError::NotHttp(why)),
                Err(ParseError::TooLong(why)) => return Exchange::Failed(FetchError::Protocol(why)),
                Err(ParseError::Incomplete) => {}
            }
            match read_more(stream, buf, MAX_HEAD + READ_SIZE).await {
                Ok(0) if buf.is_empty() => return broken("connection closed before the response head".into()),
                Ok(0) => return broken("connection closed in the response head".into()),
                Ok(_) => {}
                Err(e) => return broken(e.to_string()),
            }
        };
        let rest = buf.get(head.len..).unwrap_or_default();
        let cap = self.body_cap;
        // Whether the body ended where its framing says, with nothing after it.
        let mut clean_end = false;
        let (body, truncated) = match framing(&head, req.method == Method::Head) {
            Framing::None => {
                clean_end = rest.is_empty();
                (Vec::new(), false)
            }
            Framing::Length(n) => {
                let want = usize::try_from(n).unwrap_or(usize::MAX).min(cap);
                let mut body = Vec::with_capacity(want);
                body.extend_from_slice(&rest[..rest.len().min(want)]);
                while body.len() < want {
                    if read_more(stream, &mut body, want).await.unwrap_or(0) == 0 {
                        break;
                    }
                }
                let truncated = n > cap as u64;
                if body.len() < want {
                    return Exchange::Failed(FetchError::Protocol(format!(
                        "body cut short: {} of {n} bytes, then the connection closed",
                        body.len()
                    )));
                }
                clean_end = !truncated && rest.len() as u64 <= n && body.len() as u64 == n;
                body.truncate(want);
                (body, truncated)
            }
            Framing::Close => {
                let mut body = rest.to_vec();
                while body.len() < cap {
                    if read_more(stream, &mut body, cap).await.unwrap_or(0) == 0 {
                        break;
                    }
                }
                let truncated = body.len() >= cap;
                body.truncate(cap);
                (body, truncated)
            }
            Framing::Chunked => {
                let mut raw = rest.to_vec();
                loop {
                    let (data, state) = dechunk_framed(&raw, cap);
                    match state {
                        Chunked::Done(used) => {
                            clean_end = used == raw.len();
                            break (data, false);
                        }
                        Chunked::Capped => break (data, true),
                        Chunked::Bad => {
                            return Exchange::Failed(FetchError::Protocol("malformed chunked body".into()));
                        }
                        Chunked::Partial | Chunked::Last => {}
                    }
                    // Chunk framing costs a few bytes per chunk; bound the raw bytes too.
                    if raw.len() > cap.saturating_mul(2) {
                        let truncated = data.len() >= cap;
                        break (data, truncated);
                    }
                    if read_more(stream, &mut raw, cap.saturating_mul(2) + READ_SIZE).await.unwrap_or(0) == 0 {
                        return Exchange::Failed(FetchError::Protocol(format!(
                            "chunked body cut short after {} bytes",
                            data.len()
                        )));
                    }
                }
            }
        };
        if buf.capacity() > KEPT_BUFFER {
            *buf = Vec::with_capacity(FIRST_READ);
        }
        let keep = keep_alive && clean_end && keeps_alive(&head);
        Exchange::Done(HttpResponse { status: head.status, headers: head.headers, body, truncated, audit: 0 }, keep)
    }
}

/// Read what the stream has into `buf`'s spare room, growing it (from
/// [`FIRST_READ`], at most [`READ_SIZE`] at a time) only when it is full and
/// holds less than `limit`. `Ok(0)` is the end of the stream.
async fn read_more(stream: &mut Box<dyn Io>, buf: &mut Vec<u8>, limit: usize) -> std::io::Result<usize> {
    if buf.capacity() == buf.len() {
        let room = limit.saturating_sub(buf.len()).min(buf.len().max(FIRST_READ)).clamp(1, READ_SIZE);
        buf.reserve(room);
    }
    stream.read_buf(buf).await
}
