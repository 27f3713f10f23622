//! HTTP/1.1 response parsing for the scanner's own client: status line,
//! headers, a body that is never read past a cap (Content-Length, chunked
//! or until close), and whether the connection may carry another request
//! (RFC 9112 section 9.3). Pure functions over bytes, so hostile replies are
//! tested without a network.

/// Longest header section read.
pub const MAX_HEAD: usize = 64 * 1024;

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// Minor version of the status line (`HTTP/1.0` is 0, `HTTP/1.1` is 1).
    pub minor: u8,
    /// Headers in order, names as received.
    pub headers: Vec<(String, String)>,
    /// Bytes the head took, including the blank line.
    pub len: usize,
}

impl Head {
    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A reply that is not HTTP/1.x.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// More bytes are needed.
    #[error("incomplete")]
    Incomplete,
    /// Not an HTTP response.
    #[error("not an HTTP/1.x response: {0}")]
    Bad(String),
    /// An HTTP head past the size bound: no definite answer.
    #[error("{0}")]
    TooLong(String),
}

/// Parse the head at the start of `buf`.
pub fn parse_head(buf: &[u8]) -> Result<Head, ParseError> {
    let end = match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => i + 4,
        None if buf.len() > MAX_HEAD && buf.starts_with(b"HTTP/") => {
            return Err(ParseError::TooLong("response header section over 64 KiB".into()));
        }
        None if buf.len() > MAX_HEAD => return Err(ParseError::Bad("no HTTP head within 64 KiB".into())),
        None => {
            if buf.len() >= 5 && !buf.starts_with(b"HTTP/") {
                return Err(ParseError::Bad("does not start with HTTP/".into()));
            }
            return Err(ParseError::Incomplete);
        }
    };
    let text = String::from_utf8_lossy(&buf[..end - 4]);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(ParseError::Bad(format!("status line {:?}", truncate(status_line, 60))));
    }
    let minor = version["HTTP/1.".len()..].parse().unwrap_or(0);
    let status: u16 = parts
        .next()
        .and_then(|c| c.parse().ok())
        .filter(|c| (100..=999).contains(c))
        .ok_or_else(|| ParseError::Bad(format!("status line {:?}", truncate(status_line, 60))))?;
    let mut headers = Vec::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    Ok(Head { status, minor, headers, len: end })
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// How the body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the connection closes.
    Close,
}

/// RFC 9112 section 6.3, for a response to `method`.
pub fn framing(head: &Head, head_request: bool) -> Framing {
    if head_request || head.status < 200 || head.status == 204 || head.status == 304 {
        return Framing::None;
    }
    if head.header("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked")) {
        return Framing::Chunked;
    }
    match head.header("content-length").map(|v| v.trim().parse::<u64>()) {
        Some(Ok(n)) => Framing::Length(n),
        _ => Framing::Close,
    }
}

/// Whether the connection may carry another request after this response
/// (RFC 9112 section 9.3): HTTP/1.1 unless the server said `Connection: close`,
/// HTTP/1.0 only when it said `Connection: keep-alive`. The body must still
/// have been read to its end.
pub fn keeps_alive(head: &Head) -> bool {
    let says = |token: &str| {
        head.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if head.minor >= 1 { !says("close") } else { says("keep-alive") }
}

/// Where a chunked body stands in the bytes received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunked {
    /// More bytes are needed.
    Partial,
    /// The last chunk was seen; its trailer section is not complete yet.
    Last,
    /// The whole body, trailers included, took this many bytes.
    Done(usize),
    /// The data reached the cap; the rest was not decoded.
    Capped,
    /// A chunk size line is not hexadecimal: the body ends here, broken.
    Bad,
}

/// Decode as much of a chunked body as `buf` holds, up to `cap` bytes of data.
pub fn dechunk_framed(buf: &[u8], cap: usize) -> (Vec<u8>, Chunked) {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let Some(eol) = find_crlf(&buf[i..]) else { return (out, Chunked::Partial) };
        let size_text = String::from_utf8_lossy(&buf[i..i + eol]);
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else { return (out, Chunked::Bad) };
        let start = i + eol + 2;
        if size == 0 {
            // Trailer fields, one per line, end at an empty line.
            let mut j = start;
            loop {
                let Some(eol) = find_crlf(&buf[j..]) else { return (out, Chunked::Last) };
                j += eol + 2;
                if eol == 0 {
                    return (out, Chunked::Done(j));
                }
            }
        }
        let available = buf.len().saturating_sub(start);
        let take = size.min(available).min(cap.saturating_sub(out.len()));
        out.extend_from_slice(&buf[start..start + take]);
        if out.len() >= cap {
            return (out, Chunked::Capped);
        }
        if available < size.saturating_add(2) {
            return (out, Chunked::Partial);
        }
        if &buf[start + size..start + size + 2] != b"\r\n" {
            return (out, Chunked::Bad);
        }
        i = start + size + 2;
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// Decode as much of a chunked body as `buf` holds, up to `cap` bytes of data.
/// Returns the data and whether the body ended (last chunk, cap or garbage).
pub fn dechunk(buf: &[u8], cap: usize) -> (Vec<u8>, bool) {
    let (data, state) = dechunk_framed(buf, cap);
    (data, state != Chunked::Partial)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_and_framing() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\nServer: nginx/1.18.0\r\nContent-Length: 5\r\n\r\nhello").unwrap();
        assert_eq!((h.status, h.header("SERVER"), h.len), (200, Some("nginx/1.18.0"), 60));
        assert_eq!(framing(&h, false), Framing::Length(5));
        assert_eq!(framing(&h, true), Framing::None);
        let c = parse_head(b"HTTP/1.0 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert_eq!(framing(&c, false), Framing::Chunked);
        let e = parse_head(b"HTTP/1.1 500 X\r\n\r\n").unwrap();
        assert_eq!(framing(&e, false), Framing::Close);
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nServer: x"), Err(ParseError::Incomplete));
        assert!(matches!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n"), Err(ParseError::Bad(_))));
        assert!(matches!(parse_head(b"HTTP/1.1 abc\r\n\r\n"), Err(ParseError::Bad(_))));
        assert!(matches!(parse_head(&vec![b'H'; MAX_HEAD + 1]), Err(ParseError::Bad(_))));
        let mut long = b"HTTP/1.1 200 OK\r\n".to_vec();
        long.resize(MAX_HEAD + 1, b'a');
        assert!(matches!(parse_head(&long), Err(ParseError::TooLong(_))));
    }

    #[test]
    fn chunked_bodies_decode_and_are_capped() {
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
        assert_eq!(dechunk(body, 1024), (b"hello world".to_vec(), true));
        assert_eq!(dechunk(&body[..6], 1024), (b"hel".to_vec(), false));
        assert_eq!(dechunk(body, 4), (b"hell".to_vec(), true));
        assert_eq!(dechunk(b"zz\r\n", 10), (Vec::new(), true), "garbage ends the body");
    }

    #[test]
    fn chunked_bodies_say_where_they_end() {
        let body = b"5\r\nhello\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n";
        assert_eq!(dechunk_framed(body, 1024), (b"hello".to_vec(), Chunked::Done(15)));
        let trailers = b"5\r\nhello\r\n0\r\nDigest: x\r\nExpires: y\r\n\r\n";
        assert_eq!(dechunk_framed(trailers, 1024), (b"hello".to_vec(), Chunked::Done(trailers.len())));
        assert_eq!(dechunk_framed(&trailers[..20], 1024), (b"hello".to_vec(), Chunked::Last));
        assert_eq!(dechunk_framed(&body[..12], 1024), (b"hello".to_vec(), Chunked::Partial));
        assert_eq!(dechunk_framed(b"5\r\nhelloXX0\r\n\r\n", 1024), (b"hello".to_vec(), Chunked::Bad));
        assert_eq!(dechunk_framed(body, 3), (b"hel".to_vec(), Chunked::Capped));
    }

    #[test]
    fn persistence_follows_version_and_connection() {
        let head = |text: &str| parse_head(text.as_bytes()).unwrap();
        assert!(keeps_alive(&head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")));
        assert!(!keeps_alive(&head("HTTP/1.1 200 OK\r\nConnection: Close\r\n\r\n")));
        assert!(!keeps_alive(&head("HTTP/1.1 200 OK\r\nConnection: upgrade, close\r\n\r\n")));
        assert!(!keeps_alive(&head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")));
        assert!(keeps_alive(&head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n")));
        assert_eq!(head("HTTP/1.0 200 OK\r\n\r\n").minor, 0);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            if let Ok(h) = parse_head(&bytes) {
                let _ = keeps_alive(&h);
            }
            let _ = dechunk(&bytes, 64);
            if let (_, Chunked::Done(n)) = dechunk_framed(&bytes, usize::MAX) {
                proptest::prop_assert!(n <= bytes.len());
            }
        }
    }
}
