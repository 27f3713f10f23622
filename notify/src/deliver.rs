//! One HTTP(S) POST to a configured endpoint, with a deadline covering
//! connect, TLS and response. A 2xx is delivered; anything else fails. A
//! redirect is a failure and is not followed: it would send the message to
//! an endpoint nobody configured. `https://` verifies the server against the
//! web PKI roots (rustls, ring).
//!
//! This is not scan traffic: it never goes through the scope guard, and only
//! to the URL the caller passes from `[notify]`.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

/// A parsed `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// TLS or not.
    pub https: bool,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (80 / 443 by default).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// `scheme://host:port` with the path hidden (it may hold a token, as
    /// Slack's incoming webhooks do): what listings and the audit log show.
    pub fn label(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let path = if self.path == "/" { "/" } else { "/…" };
        format!("{scheme}://{host}:{}{path}", self.port)
    }
}

/// Splits `http[s]://host[:port][/path]`.
///
/// # Errors
/// Another scheme, no host, a bad port, user info or a fragment.
pub fn split_url(url: &str) -> Result<Url, String> {
    let (https, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(format!("expected an http:// or https:// URL, found \"{url}\""));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if authority.contains('@') || url.contains('#') || url.chars().any(char::is_whitespace) {
        return Err(format!("expected a URL without user info, fragment or spaces, found \"{url}\""));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(|| format!("unclosed [ in \"{url}\""))?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => {
            if https {
                443
            } else {
                80
            }
        }
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("bad port in \"{url}\""))?,
    };
    if host.is_empty() {
        return Err(format!("no host in \"{url}\""));
    }
    let path = if path.starts_with('?') { format!("/{path}") } else { path.to_owned() };
    Ok(Url { https, host: host.to_owned(), port, path })
}

/// The TLS client for https endpoints: web PKI roots, ring.
///
/// # Errors
/// Never in practice (the protocol versions are the provider's own).
pub fn web_pki_tls() -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    tls_with_roots(roots)
}

/// A TLS client trusting `roots` only (an agency CA, a test CA).
///
/// # Errors
/// Never in practice (the protocol versions are the provider's own).
pub fn tls_with_roots(roots: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// POSTs `body` as JSON with the extra `headers` (https with the web PKI roots).
///
/// # Errors
/// As [`post_with`].
pub async fn post(url: &str, headers: &[(&str, String)], body: Vec<u8>, deadline: Duration) -> Result<u16, String> {
    post_with(&web_pki_tls()?, url, headers, body, deadline).await
}

/// POSTs `body` as JSON with the extra `headers`; `Ok(status)` on 2xx,
/// `Err(why)` otherwise. `tls` is used for `https://`.
///
/// # Errors
/// A bad URL, a connection, TLS or protocol error, the deadline passing, a
/// redirect (not followed), or any other non-2xx status.
pub async fn post_with(
    tls: &Arc<rustls::ClientConfig>,
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    deadline: Duration,
) -> Result<u16, String> {
    let u = split_url(url)?;
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect((u.host.as_str(), u.port))
            .await
            .map_err(|e| format!("connect: {}", io_words(&e)))?;
        if u.https {
            let name = rustls::pki_types::ServerName::try_from(u.host.clone())
                .map_err(|_| format!("TLS: \"{}\" is not a valid server name", u.host))?;
            let stream = tokio_rustls::TlsConnector::from(tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            exchange(stream, &u, headers, body).await
        } else {
            exchange(tcp, &u, headers, body).await
        }
    };
    tokio::time::timeout(deadline, attempt).await.map_err(|_| format!("no answer within {deadline:?}"))?
}

async fn exchange<S>(stream: S, u: &Url, headers: &[(&str, String)], body: Vec<u8>) -> Result<u16, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    let conn = tokio::spawn(conn);
    let host = if u.host.contains(':') { format!("[{}]", u.host) } else { u.host.clone() };
    let mut req = hyper::Request::post(u.path.as_str())
        .header("host", format!("{host}:{}", u.port))
        .header("content-type", "application/json")
        .header("user-agent", concat!("haetae/", env!("CARGO_PKG_VERSION")));
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let req = req.body(Full::new(Bytes::from(body))).map_err(|e| format!("request: {e}"))?;
    let resp = sender.send_request(req).await.map_err(|e| format!("send: {e}"));
    // The reply's body is not needed: the connection is closed with it.
    conn.abort();
    let status = resp?.status();
    let code = status.as_u16();
    if status.is_success() {
        Ok(code)
    } else if status.is_redirection() {
        Err(format!("HTTP {code}: a redirect, not followed (only the configured URL is used)"))
    } else {
        Err(format!("HTTP {code}"))
    }
}

/// An I/O error in words, without Rust's `(os error N)`.
pub(crate) fn io_words(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s.get(..i).unwrap_or(&s).to_owned(),
        None => s,
    }
}

/// Adapts a tokio stream to hyper's I/O traits.
struct TokioIo<S>(S);

impl<S: AsyncRead + Unpin> hyper::rt::Read for TokioIo<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let mut tmp = [0u8; 8192];
        let room = buf.remaining().min(tmp.len());
        let mut read = tokio::io::ReadBuf::new(tmp.get_mut(..room).unwrap_or_default());
        match AsyncRead::poll_read(std::pin::Pin::new(&mut self.0), cx, &mut read) {
            std::task::Poll::Ready(Ok(())) => {
                buf.put_slice(read.filled());
                std::task::Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> hyper::rt::Write for TokioIo<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        AsyncWrite::poll_write(std::pin::Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        AsyncWrite::poll_flush(std::pin::Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        AsyncWrite::poll_shutdown(std::pin::Pin::new(&mut self.0), cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// Reads one HTTP request (head and content-length body) from `s`.
    pub(crate) async fn read_request<S: AsyncRead + Unpin>(s: &mut S) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed before the request ended");
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).to_string();
            if let Some(i) = text.find("\r\n\r\n") {
                let len: usize = text
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                if got.len() >= i + 4 + len {
                    return got;
                }
            }
        }
    }

    /// A loopback server answering one request with `status` (and `extra`
    /// headers); returns the raw request.
    async fn serve_once(status: u16, extra: &'static str) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let got = read_request(&mut s).await;
            let resp = format!("HTTP/1.1 {status} X\r\n{extra}content-length: 0\r\nconnection: close\r\n\r\n");
            s.write_all(resp.as_bytes()).await.unwrap();
            got
        });
        (url, h)
    }

    #[tokio::test]
    async fn signed_webhook_received_and_signature_verifies() {
        let (url, h) = serve_once(204, "").await;
        let body = crate::Digest::build("r1", &[], 5).webhook_body();
        let sig = crate::signature_header(b"s3cret", &body);
        let st = post(&url, &[("x-haetae-signature", sig)], body, Duration::from_secs(10)).await;
        assert_eq!(st, Ok(204));
        let raw = String::from_utf8(h.await.unwrap()).unwrap();
        let (head, got_body) = raw.split_once("\r\n\r\n").unwrap();
        let header = head.lines().find_map(|l| l.strip_prefix("x-haetae-signature: ")).unwrap();
        assert_eq!(header, crate::signature_header(b"s3cret", got_body.as_bytes()));
    }

    #[tokio::test]
    async fn server_error_is_a_failure() {
        let (url, _h) = serve_once(500, "").await;
        let r = post(&url, &[], b"{}".to_vec(), Duration::from_secs(10)).await;
        assert_eq!(r, Err("HTTP 500".to_owned()));
    }

    #[tokio::test]
    async fn a_redirect_is_a_failure_and_is_not_followed() {
        // The redirect points at a second listener: it must get nothing.
        let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = format!("http://{}/elsewhere", other.local_addr().unwrap());
        let extra: &'static str = Box::leak(format!("location: {target}\r\n").into_boxed_str());
        let (url, h) = serve_once(307, extra).await;
        let r = post(&url, &[], b"{}".to_vec(), Duration::from_secs(10)).await;
        assert!(r.as_ref().is_err_and(|e| e.contains("HTTP 307") && e.contains("not followed")), "{r:?}");
        h.await.unwrap();
        // Nothing connected to the redirect's target.
        let accepted = tokio::time::timeout(Duration::from_millis(1), other.accept()).await;
        assert!(accepted.is_err(), "the redirect was followed");
    }

    #[tokio::test]
    async fn https_post_verifies_the_server_and_an_untrusted_one_fails() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let h = tokio::spawn(async move {
            // First connection: the untrusting client gives up in the handshake.
            let (s, _) = l.accept().await.unwrap();
            assert!(acceptor.accept(s).await.is_err());
            let (s, _) = l.accept().await.unwrap();
            let mut tls = acceptor.accept(s).await.unwrap();
            let got = read_request(&mut tls).await;
            tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.unwrap();
            tls.flush().await.unwrap();
            got
        });
        let url = format!("https://localhost:{port}/hook");
        let r = post(&url, &[], b"{\"x\":1}".to_vec(), Duration::from_secs(10)).await;
        assert!(r.as_ref().is_err_and(|e| e.starts_with("TLS:")), "{r:?}");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        let tls = tls_with_roots(roots).unwrap();
        let r = post_with(&tls, &url, &[], b"{\"x\":1}".to_vec(), Duration::from_secs(10)).await;
        assert_eq!(r, Ok(200));
        let raw = String::from_utf8(h.await.unwrap()).unwrap();
        assert!(raw.starts_with("POST /hook HTTP/1.1") && raw.ends_with("{\"x\":1}"), "{raw}");
    }

    #[test]
    fn urls_split_with_default_ports_and_labels_hide_the_path() {
        let u = split_url("https://hooks.slack.test/services/T/B/X").unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port, u.path.as_str()),
            (true, "hooks.slack.test", 443, "/services/T/B/X")
        );
        assert_eq!(u.label(), "https://hooks.slack.test:443/…");
        let u = split_url("http://[::1]:9000?a=b").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("::1", 9000, "/?a=b"));
        assert!(split_url("http://u:p@h/").is_err());
        assert!(split_url("http://h:0/").is_err());
        assert!(split_url("smtp://h").is_err());
    }
}
