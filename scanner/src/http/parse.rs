//! HTTP/1.1 response parsing for the scanner's own client: status line,
//! headers, and a body that is never read past a cap (Content-Length, chunked
//! or until close). Pure functions over bytes, so hostile replies are tested
//! without a network.

/// Longest header section read.
pub const MAX_HEAD: usize = 64 * 1024;

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Status code.
    pub status: u16,
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
}

/// Parse the head at the start of `buf`.
pub fn parse_head(buf: &[u8]) -> Result<Head, ParseError> {
    let end = match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => i + 4,
        None if buf.len() > MAX_HEAD => return Err(ParseError::Bad("header section over 64 KiB".into())),
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
    Ok(Head { status, headers, len: end })
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

/// Decode as much of a chunked body as `buf` holds, up to `cap` bytes of data.
/// Returns the data and whether the last chunk was seen (or the cap reached).
pub fn dechunk(buf: &[u8], cap: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let Some(eol) = buf[i..].windows(2).position(|w| w == b"\r\n") else { return (out, false) };
        let size_text = String::from_utf8_lossy(&buf[i..i + eol]);
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else { return (out, true) };
        if size == 0 {
            return (out, true);
        }
        let start = i + eol + 2;
        let available = buf.len().saturating_sub(start);
        let take = size.min(available).min(cap.saturating_sub(out.len()));
        out.extend_from_slice(&buf[start..start + take]);
        if out.len() >= cap {
            return (out, true);
        }
        if available < size.saturating_add(2) {
            return (out, false);
        }
        i = start + size + 2;
    }
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
    }

    #[test]
    fn chunked_bodies_decode_and_are_capped() {
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
        assert_eq!(dechunk(body, 1024), (b"hello world".to_vec(), true));
        assert_eq!(dechunk(&body[..6], 1024), (b"hel".to_vec(), false));
        assert_eq!(dechunk(body, 4), (b"hell".to_vec(), true));
        assert_eq!(dechunk(b"zz\r\n", 10), (Vec::new(), true), "garbage ends the body");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = parse_head(&bytes);
            let _ = dechunk(&bytes, 64);
        }
    }
}
