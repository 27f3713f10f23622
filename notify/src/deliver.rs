//! One HTTP POST to a configured endpoint (plain `http://` only so far), with a
//! deadline covering connect and response. A 2xx is delivered; anything else fails.
//! This is not scan traffic: it never goes through the scope guard, and only to the
//! URL the caller passes from `[notify]`.

use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;

/// Splits `http://host[:port]/path` into (host, port, path).
fn split_http(url: &str) -> Result<(String, u16, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("bad port in {url}"))?),
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(format!("no host in {url}"));
    }
    Ok((host.to_owned(), port, path.to_owned()))
}

/// POSTs `body` as JSON with the extra `headers`; `Ok(status)` on 2xx, `Err(why)` otherwise.
///
/// # Errors
/// A bad URL, a connection or protocol error, the deadline passing, or a non-2xx status.
pub async fn post(url: &str, headers: &[(&str, String)], body: Vec<u8>, deadline: Duration) -> Result<u16, String> {
    let (host, port, path) = split_http(url)?;
    let attempt = async {
        let stream =
            tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| format!("connect: {e}"))?;
        let io = TokioIo(stream);
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(io).await.map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(conn);
        let mut req = hyper::Request::post(path)
            .header("host", format!("{host}:{port}"))
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let req = req.body(Full::new(Bytes::from(body))).map_err(|e| format!("request: {e}"))?;
        let resp = sender.send_request(req).await.map_err(|e| format!("send: {e}"))?;
        let status = resp.status().as_u16();
        let _ = resp.into_body().collect().await;
        if (200..300).contains(&status) { Ok(status) } else { Err(format!("HTTP {status}")) }
    };
    tokio::time::timeout(deadline, attempt).await.map_err(|_| format!("no answer within {deadline:?}"))?
}

/// Adapts a tokio stream to hyper's I/O traits.
struct TokioIo(tokio::net::TcpStream);

impl hyper::rt::Read for TokioIo {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let mut tmp = [0u8; 8192];
        let room = buf.remaining().min(tmp.len());
        let mut read = tokio::io::ReadBuf::new(tmp.get_mut(..room).unwrap_or_default());
        match tokio::io::AsyncRead::poll_read(std::pin::Pin::new(&mut self.0), cx, &mut read) {
            std::task::Poll::Ready(Ok(())) => {
                buf.put_slice(read.filled());
                std::task::Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl hyper::rt::Write for TokioIo {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(std::pin::Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(std::pin::Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(std::pin::Pin::new(&mut self.0), cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A loopback server answering one request with `status`; returns the raw request.
    async fn serve_once(status: u16) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).await.unwrap();
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
                        break;
                    }
                }
            }
            let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            s.write_all(resp.as_bytes()).await.unwrap();
            got
        });
        (url, h)
    }

    #[tokio::test]
    async fn signed_webhook_received_and_signature_verifies() {
        let (url, h) = serve_once(204).await;
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
        let (url, _h) = serve_once(500).await;
        let r = post(&url, &[], b"{}".to_vec(), Duration::from_secs(10)).await;
        assert_eq!(r, Err("HTTP 500".to_owned()));
    }
}
