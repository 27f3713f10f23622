//! The hostile web servers: each reads one request head and then misbehaves
//! in one way. Every byte is generated as it is sent (a fixed 16 KiB buffer
//! at most per connection), so what a client is made to read costs the lab
//! no memory.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{Kind, hold};

/// One block of an endless body.
const BLOCK: usize = 16 * 1024;
/// The size of the header section of [`Kind::HugeHeaders`].
pub const HUGE_HEADERS: usize = 10 * 1024 * 1024;
/// The length [`Kind::LyingLength`] announces.
pub const LYING_LENGTH: usize = 1_000_000;
/// The whole body [`Kind::LyingLength`] sends before it hangs.
pub const LYING_BODY: &[u8] = b"0123456789";
/// The body length of [`Kind::TrickleChunks`] (one byte per chunk).
pub const TRICKLE_BYTES: usize = 100;
/// The head [`Kind::SlowHead`] drips, one byte per interval.
pub const SLOW_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nok";
/// The page `/` answers on [`Kind::RootOnly`].
pub(crate) const ROOT_PAGE: &str =
    "<html><head><title>Root only</title></head><body>Only this page answers</body></html>";
/// Bound on one write: a client that stops reading cannot hold a task forever.
const WRITE_WAIT: Duration = Duration::from_secs(30);

/// What one hostile web server needs to know.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Web {
    pub(crate) kind: Kind,
    /// How long between two bytes of [`Kind::SlowHead`] and two chunks of
    /// [`Kind::TrickleChunks`].
    pub(crate) drip: Duration,
    /// Where [`Kind::RedirectOutOfScope`] sends the client.
    pub(crate) tripwire: SocketAddr,
}

async fn write(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    matches!(tokio::time::timeout(WRITE_WAIT, stream.write_all(bytes)).await, Ok(Ok(())))
}

/// A block of filler: printable, never a CR or LF.
fn filler() -> Vec<u8> {
    (0..BLOCK).map(|i| b'a' + (i % 26) as u8).collect()
}

fn simple(status: &str, extra: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nServer: nginx\r\nContent-Type: text/html\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Serves one connection as `web.kind` says, then closes it; a server that
/// hangs (chunk size past u64, lying length, root-only on another path)
/// holds it open instead. I/O errors end it.
pub(crate) async fn serve(mut stream: TcpStream, web: Web) {
    if answer(&mut stream, web).await {
        hold(&mut stream).await;
    } else {
        let _ = tokio::time::timeout(WRITE_WAIT, stream.shutdown()).await;
    }
}

/// Answers one request; `true` when the server now hangs.
async fn answer(stream: &mut TcpStream, web: Web) -> bool {
    let Some(head) = crate::web::read_head(stream).await else { return false };
    let text = String::from_utf8_lossy(&head);
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let bare = path.split('?').next().unwrap_or("/");
    match web.kind {
        Kind::SlowHead => {
            let mut tick = tokio::time::interval(web.drip);
            for b in SLOW_HEAD {
                tick.tick().await;
                if !write(stream, std::slice::from_ref(b)).await {
                    return false;
                }
            }
        }
        Kind::EndlessBody => {
            if !write(
                stream,
                b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n",
            )
            .await
            {
                return false;
            }
            let block = filler();
            while write(stream, &block).await {}
            return false;
        }
        Kind::EndlessChunked => {
            if !write(
                stream,
                b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n",
            )
            .await
            {
                return false;
            }
            let mut chunk = format!("{BLOCK:x}\r\n").into_bytes();
            chunk.extend_from_slice(&filler());
            chunk.extend_from_slice(b"\r\n");
            while write(stream, &chunk).await {}
            return false;
        }
        Kind::ChunkSizeOverflow => {
            let head = "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n";
            return write(stream, head.as_bytes()).await && write(stream, &filler()).await;
        }
        Kind::HugeHeaders => {
            if !write(stream, b"HTTP/1.1 200 OK\r\nServer: nginx\r\n").await {
                return false;
            }
            // lines of 1,024 bytes: "X-Filler-NNNNNNN: aaaa...\r\n"
            let value = "a".repeat(1024 - 20);
            let mut sent = 0usize;
            let mut i = 0u32;
            while sent < HUGE_HEADERS {
                let line = format!("X-Filler-{i:07}: {value}\r\n");
                if !write(stream, line.as_bytes()).await {
                    return false;
                }
                sent += line.len();
                i += 1;
            }
            if !write(stream, b"Content-Length: 2\r\nConnection: close\r\n\r\nok").await {
                return false;
            }
        }
        Kind::LyingLength => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: {LYING_LENGTH}\r\n\r\n"
            );
            return write(stream, head.as_bytes()).await && write(stream, LYING_BODY).await;
        }
        Kind::TrickleChunks => {
            if !write(
                stream,
                b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n",
            )
            .await
            {
                return false;
            }
            let mut tick = tokio::time::interval(web.drip);
            for _ in 0..TRICKLE_BYTES {
                tick.tick().await;
                if !write(stream, b"1\r\nx\r\n").await {
                    return false;
                }
            }
            let _ = write(stream, b"0\r\n\r\n").await;
        }
        Kind::RedirectLoop => {
            let to = if bare == "/a" { "/b" } else { "/a" };
            let _ = write(stream, simple("302 Found", &format!("Location: {to}\r\n"), "").as_bytes()).await;
        }
        Kind::RedirectOutOfScope => {
            let to = format!("Location: http://{}/\r\n", web.tripwire);
            let _ = write(stream, simple("302 Found", &to, "").as_bytes()).await;
        }
        Kind::RetryAfter => {
            let _ = write(stream, simple("503 Service Unavailable", "Retry-After: 5\r\n", "").as_bytes()).await;
        }
        Kind::RootOnly => {
            if bare == "/" {
                let _ = write(stream, simple("200 OK", "", ROOT_PAGE).as_bytes()).await;
                return false;
            }
            // every other path: silence until the client gives up
            return true;
        }
        _ => {}
    }
    false
}
