//! The scanner's HTTP client: HTTP/1.1, every connection through the scope
//! guard (so resolution, scope, rate limits and the audit apply), read-only
//! methods (GET, HEAD, and TRACE for `http.trace-enabled`), capped bodies, redirects followed by the caller through the
//! scope, and the team's contact in the User-Agent.
//!
//! [`HttpClient::fetch`] spends one connection on one request
//! (`Connection: close`). [`HttpClient::fetch_in`] sends the sequential
//! requests of one [`Session`] over one persistent connection (RFC 9112
//! section 9.3), opening a new one, through the guard and audited, whenever
//! the server closes it, ends a body without framing, or the endpoint
//! changes. On the 2-core reference machine this took the template phase
//! of `scripts/bench-http.sh` (2,000 names, every port probed at once) from
//! about 20k to 45k requests/s, level with gobuster and ffuf on the same
//! nginx: a loopback connection (connect, accept, audit record, close on both
//! sides) costs more than the request it carries.
//!
//! The HTTP/1.1 protocol itself (heads, interim responses, body framing,
//! persistence) is hyper's connection-level client, driven over the guard's
//! stream (`conn.rs`); this module decides what a failure means
//! ([`FetchError`]), keeps the connection, retries and waits.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::header::{self, HeaderName, HeaderValue};
use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::TlsConnector;

use super::conn::{Exchange, Io, Live};
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

/// GET, HEAD or TRACE: safe methods only (RFC 9110 section 9.2.1), the
/// scanner never changes server state. TRACE is sent once per web endpoint
/// by `http.trace-enabled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// HEAD.
    Head,
    /// TRACE (echoes the request back when the server allows it).
    Trace,
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

/// The HTTP client of one scan.
pub struct HttpClient {
    user_agent: String,
    /// The User-Agent as a header value, built once.
    user_agent_value: HeaderValue,
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
        let user_agent = format!(
            "haetae/{} (authorized security inspection; engagement {engagement}{contact})",
            env!("CARGO_PKG_VERSION")
        );
        let user_agent_value = header_value(&user_agent).ok_or_else(|| {
            FetchError::Protocol(format!(
                "the User-Agent `{user_agent}` (from the engagement id and contact) is not a valid header value"
            ))
        })?;
        Ok(HttpClient {
            user_agent,
            user_agent_value,
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
        // Built before any packet: a request that cannot be written is refused here.
        let mut request = Some(self.request(req, session.close)?);
        let cap = self.body_cap;
        let count = || {
            REQUESTS_SENT.fetch_add(1, Ordering::Relaxed);
        };
        let reuse = session.live.take().filter(|l| l.serves(req));
        // The connection was checked against the scope when it was opened, and
        // scope and resolution do not change during a scan; the authorization
        // window does. When it has closed, the connection is dropped and the
        // new attempt below is refused by the guard and audited as such.
        if let Some(mut live) = reuse.filter(|_| guard.window().is_ok()) {
            guard.pace(req.host, req.addr).await;
            let first = request.take().ok_or_else(|| FetchError::Protocol("request already sent".into()))?;
            let exchange = tokio::time::timeout(limit, live.exchange(first, cap, true, count));
            match exchange.await.map_err(|_| timeout())? {
                Exchange::Done(mut resp, keep) => {
                    resp.audit = live.audit;
                    if keep && !session.close {
                        session.live = Some(live);
                    }
                    return Ok(resp);
                }
                Exchange::Stale => {}
                Exchange::Failed(e) => return Err(e),
            }
        }
        let request = match request {
            Some(r) => r,
            None => self.request(req, session.close)?,
        };
        let probe = match req.method {
            Method::Get => "http.get",
            Method::Head => "http.head",
            Method::Trace => "http.trace",
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
            let mut live = Live::open(stream, req, conn.audit).await?;
            match live.exchange(request, cap, false, count).await {
                Exchange::Done(mut resp, keep) => {
                    resp.audit = live.audit;
                    Ok((resp, (keep && !session.close).then_some(live)))
                }
                Exchange::Stale => Err(FetchError::Protocol("connection closed before the response head".into())),
                Exchange::Failed(e) => Err(e),
            }
        };
        let (resp, live) = tokio::time::timeout_at(deadline, work).await.map_err(|_| timeout())??;
        session.live = live;
        Ok(resp)
    }

    /// The request hyper writes: GET, HEAD or TRACE, origin-form target, `Host`,
    /// the User-Agent, `Accept-Encoding: identity`, `Connection: close` when
    /// the connection is not kept, then the template's headers (CR and LF
    /// removed, so no header can be injected).
    fn request(&self, req: &Request<'_>, close: bool) -> Result<hyper::Request<Empty<Bytes>>, FetchError> {
        let method = match req.method {
            Method::Get => hyper::Method::GET,
            Method::Head => hyper::Method::HEAD,
            Method::Trace => hyper::Method::TRACE,
        };
        let default_port = if req.https { 443 } else { 80 };
        let host = if req.host.contains(':') { format!("[{}]", req.host) } else { req.host.to_owned() };
        let host = if req.port == default_port { host } else { format!("{host}:{}", req.port) };
        let uri = request_target(req.path).ok_or_else(|| {
            FetchError::Protocol(format!("the path `{}` cannot be sent as an HTTP request target", req.path))
        })?;
        let mut out = hyper::Request::new(Empty::new());
        *out.method_mut() = method;
        *out.uri_mut() = uri;
        let headers = out.headers_mut();
        let host = header_value(&host)
            .ok_or_else(|| FetchError::Protocol(format!("the host `{host}` is not a valid Host header value")))?;
        headers.insert(header::HOST, host);
        headers.insert(header::USER_AGENT, self.user_agent_value.clone());
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        if close {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        for (k, v) in req.headers {
            // Header injection from a template is impossible: no CR/LF survives.
            let clean = |x: &str| x.replace(['\r', '\n'], "");
            let name = HeaderName::from_bytes(clean(k).trim().as_bytes())
                .map_err(|_| FetchError::Protocol(format!("`{k}` is not a valid HTTP header name")))?;
            let value = header_value(&clean(v)).ok_or_else(|| {
                FetchError::Protocol(format!("the value of header `{k}` is not a valid header value"))
            })?;
            headers.append(name, value);
        }
        Ok(out)
    }
}

/// A header value from text: control characters other than tab are dropped.
fn header_value(text: &str) -> Option<HeaderValue> {
    let bytes: Vec<u8> = text.bytes().filter(|b| *b == b'\t' || (*b >= 0x20 && *b != 0x7f)).collect();
    HeaderValue::from_bytes(&bytes).ok()
}

/// The path and query as an origin-form request target; bytes a URI may not
/// hold (spaces, non-ASCII, ...) are percent-encoded first.
fn request_target(path: &str) -> Option<hyper::Uri> {
    if let Ok(uri) = hyper::Uri::try_from(path)
        && uri.scheme().is_none()
        && uri.authority().is_none()
    {
        return Some(uri);
    }
    let mut encoded = String::with_capacity(path.len() * 3);
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    hyper::Uri::try_from(encoded)
        .ok()
        .filter(|u| u.scheme().is_none() && u.authority().is_none() && u.path().starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(path: &'a str, headers: &'a [(String, String)]) -> Request<'a> {
        Request {
            https: false,
            host: "www.agency.test",
            addr: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            method: Method::Head,
            path,
            headers,
        }
    }

    #[test]
    fn requests_carry_the_fixed_headers_then_the_templates_cleaned() {
        let client = HttpClient::new("KR-1", "team@agency.test").unwrap();
        let extra = [("Origin".to_owned(), "https://x.invalid\r\nX-Evil: 1".to_owned())];
        let r = client.request(&request("/a?b=1", &extra), true).unwrap();
        assert_eq!((r.method(), r.uri().to_string().as_str()), (&hyper::Method::HEAD, "/a?b=1"));
        let names: Vec<&str> = r.headers().keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["host", "user-agent", "accept", "accept-encoding", "connection", "origin"]);
        assert_eq!(r.headers()["host"], "www.agency.test:8080");
        assert_eq!(r.headers()["accept-encoding"], "identity");
        assert_eq!(r.headers()["origin"], "https://x.invalidX-Evil: 1", "no CR/LF survives");
        assert!(r.headers()["user-agent"].to_str().unwrap().contains("engagement KR-1; contact team@agency.test"));
        let kept = client.request(&request("/", &[]), false).unwrap();
        assert!(!kept.headers().contains_key("connection"));
    }

    #[test]
    fn paths_a_uri_cannot_hold_are_percent_encoded() {
        assert_eq!(request_target("/a/b.txt?x=1&y=%2F").unwrap().to_string(), "/a/b.txt?x=1&y=%2F");
        assert_eq!(request_target("/한 글?q=\"x\"").unwrap().to_string(), "/%ED%95%9C%20%EA%B8%80?q=%22x%22");
        assert!(request_target("http://elsewhere.test/").is_none(), "never an absolute URL");
        assert_eq!(header_value("a\u{0}b\tc\u{7f}").unwrap(), "ab\tc");
    }
}
