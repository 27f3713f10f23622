//! One HTTP/1.1 connection of a [`super::Session`]: hyper's
//! connection-level client (`hyper::client::conn::http1`) over a stream the
//! scope guard opened (plain TCP, or TLS on top of it).
//!
//! hyper parses the response heads, skips interim (1xx) responses, decodes
//! Content-Length, chunked and close-delimited bodies, and decides whether
//! the connection may carry another request (RFC 9112 section 9.3). The
//! connection is driven inline, inside the future that waits for the
//! response or the next body frame: no task is spawned, nothing runs
//! between requests, and dropping a [`Live`] closes the socket.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::net::IpAddr;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use http_body_util::{BodyExt, Empty};
use hyper::body::{Body, Bytes};
use hyper::client::conn::http1;
use tokio::io::{AsyncRead, AsyncWrite};

use super::client::{FetchError, HttpResponse, Request};

/// Longest response head (status line and header section) read.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// Most header fields in one response head: hyper's default, parsed on the
/// stack (a larger cap allocates on every response).
const MAX_HEADERS: usize = 100;
/// Most bytes taken from the stream per read.
const READ_CHUNK: usize = 8 * 1024;

/// A byte stream a request can go over: plain TCP or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A tokio stream as hyper's `rt::Read`/`rt::Write`. Reads go through a
/// small uninitialised buffer on the stack (tokio's `ReadBuf::uninit`, so
/// nothing is zeroed) and are copied into hyper's (filling hyper's buffer
/// directly needs `unsafe`, forbidden here).
pub(crate) struct Stream(pub(crate) Box<dyn Io>);

impl hyper::rt::Read for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let mut tmp = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let room = buf.remaining().min(READ_CHUNK);
        let mut read = tokio::io::ReadBuf::uninit(tmp.get_mut(..room).unwrap_or_default());
        match Pin::new(&mut *self.0).poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) => {
                buf.put_slice(read.filled());
                Poll::Ready(Ok(()))
            }
            // A TLS peer that closes the TCP connection without close_notify:
            // the end of the stream, as for plain TCP (a body that needed more
            // bytes is still reported cut short by hyper).
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl hyper::rt::Write for Stream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write_vectored(cx, bufs)
    }
}

type Conn = http1::Connection<Stream, Empty<Bytes>>;

/// An open connection of a [`super::Session`] and the endpoint it reaches.
pub(crate) struct Live {
    sender: http1::SendRequest<Empty<Bytes>>,
    conn: Conn,
    /// The connection future finished (closed or failed): it is not polled
    /// again and carries no more requests.
    ended: bool,
    pub(crate) https: bool,
    pub(crate) host: String,
    pub(crate) addr: IpAddr,
    pub(crate) port: u16,
    /// Audit record of the connection.
    pub(crate) audit: u64,
}

/// How one exchange on a connection went.
pub(crate) enum Exchange {
    /// A response, and whether the connection may carry another request.
    Done(HttpResponse, bool),
    /// A reused connection failed before the response head: the request may
    /// be sent again on a new one (RFC 9112 section 9.3.1).
    Stale,
    /// Failed.
    Failed(FetchError),
}

impl Live {
    /// Start HTTP/1.1 on `stream` (no bytes are exchanged yet).
    pub(crate) async fn open(stream: Box<dyn Io>, req: &Request<'_>, audit: u64) -> Result<Live, FetchError> {
        let (sender, conn) = http1::Builder::new()
            .title_case_headers(true)
            .max_buf_size(MAX_HEAD)
            .max_header_size(MAX_HEAD)
            // Be as lenient as a browser with sloppy servers: a bad header line
            // is skipped, not taken for "not HTTP".
            .ignore_invalid_headers_in_responses(true)
            .allow_spaces_after_header_name_in_responses(true)
            .allow_obsolete_multiline_headers_in_responses(true)
            .handshake(Stream(stream))
            .await
            .map_err(|e| FetchError::Protocol(describe(&e)))?;
        Ok(Live {
            sender,
            conn,
            ended: false,
            https: req.https,
            host: req.host.to_owned(),
            addr: req.addr,
            port: req.port,
            audit,
        })
    }

    pub(crate) fn serves(&self, req: &Request<'_>) -> bool {
        self.https == req.https && self.addr == req.addr && self.port == req.port && self.host == req.host
    }

    /// Send `request` and read the response, its body capped at `cap`.
    /// `reused`: the connection carried a response before, so a failure
    /// before the response head is [`Exchange::Stale`] (the server closed it
    /// meanwhile, or it holds stray bytes of the last response; GET and HEAD
    /// may be sent again). `count` is called when the request is handed to
    /// the connection.
    pub(crate) async fn exchange(
        &mut self,
        request: hyper::Request<Empty<Bytes>>,
        cap: usize,
        reused: bool,
        count: impl FnOnce(),
    ) -> Exchange {
        let Live { sender, conn, ended, .. } = self;
        if reused && drive(conn, ended, std::future::poll_fn(|cx| sender.poll_ready(cx))).await.is_err() {
            // Closed by the server, or stray bytes arrived: nothing was sent.
            return Exchange::Stale;
        }
        count();
        let response = match drive(conn, ended, sender.send_request(request)).await {
            Ok(r) => r,
            Err(_) if reused => return Exchange::Stale,
            Err(e) => return Exchange::Failed(head_error(&e)),
        };
        let (parts, mut body) = response.into_parts();
        let hint = body.size_hint();
        let mut data = Vec::with_capacity(usize::try_from(hint.exact().unwrap_or(0)).unwrap_or(cap).min(cap));
        let mut truncated = false;
        loop {
            match drive(conn, ended, body.frame()).await {
                None => break,
                Some(Ok(frame)) => {
                    let Ok(chunk) = frame.into_data() else { continue }; // trailers
                    let room = cap.saturating_sub(data.len());
                    let take = chunk.get(..room.min(chunk.len())).unwrap_or_default();
                    let want = data.len() + take.len();
                    if want > data.capacity() {
                        // Grow by doubling, but never past the cap.
                        data.reserve_exact(want.max(data.capacity() * 2).min(cap) - data.len());
                    }
                    data.extend_from_slice(take);
                    if data.len() >= cap {
                        // Exactly at the cap with nothing left (a Content-Length
                        // body of the cap's size) is whole; anything else is cut.
                        truncated = chunk.len() > room || !body.is_end_stream();
                        break;
                    }
                }
                Some(Err(e)) => {
                    return Exchange::Failed(FetchError::Protocol(format!(
                        "response body cut short after {} bytes: {}",
                        data.len(),
                        describe(&e)
                    )));
                }
            }
        }
        let headers = parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).trim().to_owned()))
            .collect();
        // A body cut at the cap leaves the rest on the wire: the connection
        // cannot carry another request; nor can one the server asked to close.
        // One more turn of the connection lets hyper see stray bytes after the
        // body or a close; whatever comes later the next request's readiness
        // check sees.
        let keep = !truncated && keeps_alive(&parts) && {
            drive(conn, ended, std::future::ready(())).await;
            !*ended
        };
        Exchange::Done(HttpResponse { status: parts.status.as_u16(), headers, body: data, truncated, audit: 0 }, keep)
    }
}

/// Whether the server lets the connection carry another request (RFC 9112
/// section 9.3): HTTP/1.1 unless it said `Connection: close`, HTTP/1.0 only
/// when it said `Connection: keep-alive`.
fn keeps_alive(parts: &hyper::http::response::Parts) -> bool {
    let says = |token: &str| {
        parts
            .headers
            .get_all(hyper::header::CONNECTION)
            .iter()
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    };
    if parts.version == hyper::Version::HTTP_10 { says("keep-alive") } else { !says("close") }
}

/// Poll `fut` while driving the connection (reading and writing its bytes);
/// the connection's own end is remembered in `ended` and it is not polled again.
async fn drive<F: Future>(conn: &mut Conn, ended: &mut bool, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    std::future::poll_fn(|cx| {
        if !*ended && Pin::new(&mut *conn).poll(cx).is_ready() {
            // Closed cleanly or failed: an in-flight request or body gets the error.
            *ended = true;
        }
        fut.as_mut().poll(cx)
    })
    .await
}

/// What a failure before the response head on a new connection says: a
/// reply that does not parse as HTTP/1.x is a definite "not a web server";
/// an oversize head, a close, a reset or an I/O error says nothing.
fn head_error(e: &hyper::Error) -> FetchError {
    let why = describe(e);
    if e.is_parse() && !why.contains("too large") {
        FetchError::NotHttp(format!("the reply is not HTTP/1.x ({why})"))
    } else if e.is_parse() {
        FetchError::Protocol(format!("response head over {} KiB or {MAX_HEADERS} header fields", MAX_HEAD / 1024))
    } else if e.is_incomplete_message() {
        FetchError::Protocol("connection closed before the whole response head".into())
    } else {
        FetchError::Protocol(why)
    }
}

/// hyper's error and its causes as one sentence.
fn describe(e: &hyper::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
