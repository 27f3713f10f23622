//! The scanner's HTTP client: HTTP/1.1, one request per connection, every
//! connection through the scope guard (so resolution, scope, rate limits and
//! the audit apply), read-only methods, capped bodies, redirects followed by
//! the caller through the scope, and the team's contact in the User-Agent.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use super::parse::{Framing, Head, ParseError, dechunk, framing, parse_head};
use crate::guard::{GuardError, ScopeGuard};
use crate::tls::handshake::provider;

/// Default body cap: 1 MiB.
pub const BODY_CAP: usize = 1 << 20;
/// Longest `Retry-After` honoured before giving up on a host for this request.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

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
    /// Not HTTP, or broken.
    #[error("{0}")]
    Protocol(String),
    /// No answer in time.
    #[error("timeout")]
    Timeout,
    /// The server asked us to come back later than we wait.
    #[error("server asked to retry after {0} s; not waiting that long")]
    RetryLater(u64),
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

/// The HTTP client of one scan.
pub struct HttpClient {
    user_agent: String,
    tls: TlsConnector,
    body_cap: usize,
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
        })
    }

    /// The User-Agent sent.
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// Send one request through the guard and read the response (body capped).
    /// A 429/503 with a short `Retry-After` is retried once after that wait.
    pub async fn fetch(&self, guard: &ScopeGuard, req: &Request<'_>) -> Result<HttpResponse, FetchError> {
        let path_ok = guard.scope().check_path(req.path);
        if !path_ok.allowed {
            return Err(FetchError::ExcludedPath(path_ok.reason));
        }
        let first = self.fetch_once(guard, req).await?;
        if matches!(first.status, 429 | 503)
            && let Some(wait) = first.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok())
        {
            if Duration::from_secs(wait) > MAX_RETRY_AFTER {
                return Err(FetchError::RetryLater(wait));
            }
            tokio::time::sleep(Duration::from_secs(wait)).await;
            return self.fetch_once(guard, req).await;
        }
        Ok(first)
    }

    async fn fetch_once(&self, guard: &ScopeGuard, req: &Request<'_>) -> Result<HttpResponse, FetchError> {
        let probe = match req.method {
            Method::Get => "http.get",
            Method::Head => "http.head",
        };
        let conn = guard.connect(req.host, req.addr, req.port, probe).await?;
        let audit = conn.audit;
        let timeout = guard.timeout();
        let work = async {
            if req.https {
                let name = ServerName::try_from(req.host.trim_end_matches('.').to_owned())
                    .map_err(|e| FetchError::Tls(e.to_string()))?;
                let stream = self.tls.connect(name, conn.stream).await.map_err(|e| FetchError::Tls(e.to_string()))?;
                self.exchange(stream, req).await
            } else {
                self.exchange(conn.stream, req).await
            }
        };
        let mut resp =
            tokio::time::timeout(timeout.saturating_mul(3), work).await.map_err(|_| FetchError::Timeout)??;
        resp.audit = audit;
        Ok(resp)
    }

    fn request_bytes(&self, req: &Request<'_>) -> Vec<u8> {
        let method = match req.method {
            Method::Get => "GET",
            Method::Head => "HEAD",
        };
        let default_port = if req.https { 443 } else { 80 };
        let host = if req.host.contains(':') { format!("[{}]", req.host) } else { req.host.to_owned() };
        let host = if req.port == default_port { host } else { format!("{host}:{}", req.port) };
        let mut s = format!(
            "{method} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {}\r\nAccept: */*\r\nAccept-Encoding: identity\r\nConnection: close\r\n",
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

    async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut stream: S,
        req: &Request<'_>,
    ) -> Result<HttpResponse, FetchError> {
        stream.write_all(&self.request_bytes(req)).await.map_err(|e| FetchError::Protocol(e.to_string()))?;
        let mut buf = Vec::with_capacity(8192);
        let mut chunk = vec![0u8; 16 * 1024];
        let head: Head = loop {
            match parse_head(&buf) {
                Ok(h) => break h,
                Err(ParseError::Bad(why)) => return Err(FetchError::Protocol(why)),
                Err(ParseError::Incomplete) => {}
            }
            let n = stream.read(&mut chunk).await.map_err(|e| FetchError::Protocol(e.to_string()))?;
            if n == 0 {
                return Err(FetchError::Protocol("connection closed before the response head".into()));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let mut body: Vec<u8> = buf.split_off(head.len);
        let frame = framing(&head, req.method == Method::Head);
        let cap = self.body_cap;
        let (body, truncated) = match frame {
            Framing::None => (Vec::new(), false),
            Framing::Length(n) => {
                let want = usize::try_from(n).unwrap_or(usize::MAX).min(cap);
                while body.len() < want {
                    let k = read_some(&mut stream, &mut chunk).await;
                    if k == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[..k]);
                }
                let truncated = (n as usize) > cap;
                body.truncate(want);
                (body, truncated)
            }
            Framing::Close => {
                while body.len() < cap {
                    let k = read_some(&mut stream, &mut chunk).await;
                    if k == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[..k]);
                }
                let truncated = body.len() >= cap;
                body.truncate(cap);
                (body, truncated)
            }
            Framing::Chunked => loop {
                let (data, done) = dechunk(&body, cap);
                // Chunk framing costs a few bytes per chunk; bound the raw bytes too.
                if done || body.len() > cap.saturating_mul(2) {
                    let truncated = data.len() >= cap;
                    break (data, truncated);
                }
                let k = read_some(&mut stream, &mut chunk).await;
                if k == 0 {
                    break (data, false);
                }
                body.extend_from_slice(&chunk[..k]);
            },
        };
        Ok(HttpResponse { status: head.status, headers: head.headers, body, truncated, audit: 0 })
    }
}

async fn read_some<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut [u8]) -> usize {
    stream.read(buf).await.unwrap_or(0)
}
