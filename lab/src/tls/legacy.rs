//! Hand-written TLS responders for what rustls cannot serve: a certificate
//! with an RSA-1024 key (ring will not sign with it) and TLS 1.0 with legacy
//! cipher suites. Each reads one ClientHello, answers the server's first
//! flight (or an alert), then reads until EOF or [`WAIT`] and closes. No
//! handshake ever completes: a client gets far enough to record what the
//! server offered (version, cipher suite, certificates, DH group).

use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::WAIT;

/// At most this many handshake bytes are read for one ClientHello.
pub(crate) const MAX_HELLO: usize = 16 * 1024;
/// At most this many records may carry one ClientHello.
const MAX_RECORDS: usize = 64;
/// At most this many bytes are read (and discarded) after the reply.
const DRAIN_CAP: usize = 64 * 1024;
/// The largest record payload (2^14).
const MAX_FRAGMENT: usize = 16 * 1024;

/// Record content types.
pub(crate) const CONTENT_ALERT: u8 = 21;
pub(crate) const CONTENT_HANDSHAKE: u8 = 22;

/// Handshake message types.
const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;
const HS_CERTIFICATE: u8 = 11;
const HS_SERVER_KEY_EXCHANGE: u8 = 12;
const HS_SERVER_HELLO_DONE: u8 = 14;

/// Protocol versions on the wire.
pub(crate) const SSL3: u16 = 0x0300;
pub(crate) const TLS10: u16 = 0x0301;
pub(crate) const TLS12: u16 = 0x0303;

/// Alert descriptions (all sent as fatal, level 2).
pub(crate) const ALERT_HANDSHAKE_FAILURE: u8 = 40;
pub(crate) const ALERT_PROTOCOL_VERSION: u8 = 70;

/// TLS_EMPTY_RENEGOTIATION_INFO_SCSV.
const SCSV_RENEGOTIATION: u16 = 0x00FF;
/// The renegotiation_info extension.
const EXT_RENEGOTIATION_INFO: u16 = 0xFF01;

/// Cipher suites the responders choose.
pub(crate) const TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: u16 = 0xC02F;
pub(crate) const TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: u16 = 0xC030;
pub(crate) const TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA: u16 = 0x0016;
pub(crate) const TLS_RSA_WITH_3DES_EDE_CBC_SHA: u16 = 0x000A;
pub(crate) const TLS_DHE_RSA_WITH_AES_128_CBC_SHA: u16 = 0x0033;
pub(crate) const TLS_RSA_WITH_AES_128_CBC_SHA: u16 = 0x002F;

/// The TLS 1.0 server's suites, most preferred first.
const TLS10_SUITES: [u16; 4] = [
    TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA,
    TLS_RSA_WITH_3DES_EDE_CBC_SHA,
    TLS_DHE_RSA_WITH_AES_128_CBC_SHA,
    TLS_RSA_WITH_AES_128_CBC_SHA,
];

/// The 1024-bit MODP group of RFC 2409 (Oakley group 2), big-endian:
/// 2^1024 - 2^960 - 1 + 2^64 * ([2^894 pi] + 129093).
pub(crate) const OAKLEY_GROUP_2_PRIME: [u8; 128] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC9, 0x0F, 0xDA, 0xA2, 0x21, 0x68, 0xC2, 0x34, //
    0xC4, 0xC6, 0x62, 0x8B, 0x80, 0xDC, 0x1C, 0xD1, 0x29, 0x02, 0x4E, 0x08, 0x8A, 0x67, 0xCC, 0x74, //
    0x02, 0x0B, 0xBE, 0xA6, 0x3B, 0x13, 0x9B, 0x22, 0x51, 0x4A, 0x08, 0x79, 0x8E, 0x34, 0x04, 0xDD, //
    0xEF, 0x95, 0x19, 0xB3, 0xCD, 0x3A, 0x43, 0x1B, 0x30, 0x2B, 0x0A, 0x6D, 0xF2, 0x5F, 0x14, 0x37, //
    0x4F, 0xE1, 0x35, 0x6D, 0x6D, 0x51, 0xC2, 0x45, 0xE4, 0x85, 0xB5, 0x76, 0x62, 0x5E, 0x7E, 0xC6, //
    0xF4, 0x4C, 0x42, 0xE9, 0xA6, 0x37, 0xED, 0x6B, 0x0B, 0xFF, 0x5C, 0xB6, 0xF4, 0x06, 0xB7, 0xED, //
    0xEE, 0x38, 0x6B, 0xFB, 0x5A, 0x89, 0x9F, 0xA5, 0xAE, 0x9F, 0x24, 0x11, 0x7C, 0x4B, 0x1F, 0xE6, //
    0x49, 0x28, 0x66, 0x51, 0xEC, 0xE6, 0x53, 0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, //
];

/// What a client offered in its ClientHello (extensions are skipped, except
/// the signal for secure renegotiation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientHello {
    /// The version of the record that carried the hello.
    pub(crate) record_version: u16,
    /// `client_version`: the highest version the client speaks (pre-TLS 1.3).
    pub(crate) version: u16,
    /// The offered cipher suites, in the client's order.
    pub(crate) suites: Vec<u16>,
    /// The client offered renegotiation_info or its SCSV.
    pub(crate) secure_renegotiation: bool,
}

/// A bounds-checked cursor over a byte slice.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|b| b.first().copied())
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| b.iter().fold(0u16, |acc, &x| acc << 8 | u16::from(x)))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// Parses a ClientHello body (after the 4-byte handshake header). Tolerant of
/// any extensions, and of a malformed extension block (ignored).
pub(crate) fn parse_client_hello(record_version: u16, body: &[u8]) -> Option<ClientHello> {
    let mut c = Cursor { rest: body };
    let version = c.u16()?;
    c.take(32)?; // random
    let session_id = c.vec8()?;
    if session_id.len() > 32 {
        return None;
    }
    let suites = c.vec16()?;
    if suites.is_empty() || suites.len() % 2 != 0 {
        return None;
    }
    let suites: Vec<u16> = suites.chunks_exact(2).map(|p| p.iter().fold(0u16, |a, &x| a << 8 | u16::from(x))).collect();
    let compression = c.vec8()?;
    if compression.is_empty() {
        return None;
    }
    let mut secure_renegotiation = suites.contains(&SCSV_RENEGOTIATION);
    if let Some(extensions) = c.vec16() {
        let mut e = Cursor { rest: extensions };
        while let (Some(kind), Some(_data)) = (e.u16(), e.vec16()) {
            secure_renegotiation |= kind == EXT_RENEGOTIATION_INFO;
        }
    }
    Some(ClientHello { record_version, version, suites, secure_renegotiation })
}

/// Reads records until one ClientHello is complete. `None` for anything else:
/// EOF, a record that is not a TLS handshake record, another handshake
/// message first, more than [`MAX_HELLO`] bytes or [`MAX_RECORDS`] records.
pub(crate) async fn read_client_hello<R: AsyncRead + Unpin>(stream: &mut R) -> Option<ClientHello> {
    let mut handshake: Vec<u8> = Vec::new();
    let mut record_version = None;
    for _ in 0..MAX_RECORDS {
        let mut header = [0u8; 5];
        stream.read_exact(&mut header).await.ok()?;
        let [content_type, major, minor, len_hi, len_lo] = header;
        let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
        if content_type != CONTENT_HANDSHAKE || major != 3 || len == 0 || len > MAX_FRAGMENT {
            return None;
        }
        if handshake.len().saturating_add(len) > MAX_HELLO {
            return None;
        }
        let record_version = *record_version.get_or_insert(u16::from_be_bytes([major, minor]));
        let start = handshake.len();
        handshake.resize(start.saturating_add(len), 0);
        stream.read_exact(handshake.get_mut(start..)?).await.ok()?;
        if let [kind, l0, l1, l2, body @ ..] = handshake.as_slice() {
            if *kind != HS_CLIENT_HELLO {
                return None;
            }
            let body_len = usize::from(*l0) << 16 | usize::from(*l1) << 8 | usize::from(*l2);
            if body_len.saturating_add(4) > MAX_HELLO {
                return None;
            }
            if body.len() >= body_len {
                return parse_client_hello(record_version, body.get(..body_len)?);
            }
        }
    }
    None
}

/// Appends `payload` as records of `content_type`, at most 2^14 bytes each.
fn push_records(out: &mut Vec<u8>, content_type: u8, version: u16, payload: &[u8]) {
    for fragment in payload.chunks(MAX_FRAGMENT) {
        out.push(content_type);
        out.extend_from_slice(&version.to_be_bytes());
        // a chunk is at most 2^14 bytes
        out.extend_from_slice(&u16::try_from(fragment.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(fragment);
    }
}

/// The 3-byte big-endian length of a handshake field (saturating; every
/// field the lab writes is far below 2^24).
fn u24(n: usize) -> [u8; 3] {
    let n = u32::try_from(n).unwrap_or(u32::MAX).min(0x00FF_FFFF);
    let [_, a, b, c] = n.to_be_bytes();
    [a, b, c]
}

fn u16_len(n: usize) -> [u8; 2] {
    u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes()
}

/// Appends one handshake message.
fn push_handshake(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    out.push(kind);
    out.extend_from_slice(&u24(body.len()));
    out.extend_from_slice(body);
}

/// A fatal alert record.
pub(crate) fn alert(record_version: u16, description: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(7);
    push_records(&mut out, CONTENT_ALERT, record_version, &[2, description]);
    out
}

fn server_hello(version: u16, suite: u16, secure_renegotiation: bool) -> Vec<u8> {
    let mut body = Vec::with_capacity(48);
    body.extend_from_slice(&version.to_be_bytes());
    // random: never the TLS 1.3 downgrade sentinel
    body.extend(std::iter::repeat_n(0x4C, 32));
    body.push(0); // empty session_id
    body.extend_from_slice(&suite.to_be_bytes());
    body.push(0); // null compression
    if secure_renegotiation {
        // extensions: renegotiation_info, empty renegotiated_connection
        body.extend_from_slice(&[0x00, 0x05, 0xFF, 0x01, 0x00, 0x01, 0x00]);
    }
    body
}

fn certificate(chain: &[CertificateDer<'static>]) -> Vec<u8> {
    let total: usize = chain.iter().map(|c| c.len().saturating_add(3)).sum();
    let mut body = Vec::with_capacity(total.saturating_add(3));
    body.extend_from_slice(&u24(total));
    for cert in chain {
        body.extend_from_slice(&u24(cert.len()));
        body.extend_from_slice(cert);
    }
    body
}

/// A TLS 1.0 DHE ServerKeyExchange: the 1024-bit Oakley group 2, g = 2, a
/// fixed public value, and a dummy signature (TLS 1.0 carries no
/// hash/signature algorithm pair: just a 2-byte length and the bytes).
fn dhe_server_key_exchange() -> Vec<u8> {
    let mut body = Vec::with_capacity(400);
    body.extend_from_slice(&u16_len(OAKLEY_GROUP_2_PRIME.len()));
    body.extend_from_slice(&OAKLEY_GROUP_2_PRIME);
    body.extend_from_slice(&[0x00, 0x01, 0x02]); // dh_g = 2
    body.extend_from_slice(&u16_len(128));
    body.extend(std::iter::repeat_n(0x5A, 128)); // dh_Ys < p
    body.extend_from_slice(&u16_len(256));
    body.extend(std::iter::repeat_n(0xA5, 256)); // dummy signature, RSA-2048 sized
    body
}

/// Which hand-written server a responder plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// TLS 1.2 only, serving the committed RSA-1024 certificate.
    WeakKey,
    /// TLS 1.0 only, 3DES and static-RSA suites, a 1024-bit DH group.
    Tls10,
}

/// A hand-written responder: what it plays and the chain it sends.
#[derive(Debug)]
pub(crate) struct Responder {
    pub(crate) kind: Kind,
    pub(crate) chain: Vec<CertificateDer<'static>>,
}

impl Responder {
    /// The bytes answering `hello`: the server's first flight, or an alert.
    pub(crate) fn reply(&self, hello: &ClientHello) -> Vec<u8> {
        match self.kind {
            Kind::WeakKey => self.reply_weak_key(hello),
            Kind::Tls10 => self.reply_tls10(hello),
        }
    }

    /// TLS 1.2 only: older clients get protocol_version. Only the Mozilla
    /// intermediate ECDHE-RSA AES-GCM suites are accepted (so the only thing
    /// wrong with this endpoint is its key); anything else gets handshake_failure.
    fn reply_weak_key(&self, hello: &ClientHello) -> Vec<u8> {
        if hello.version < TLS12 {
            return alert(hello.version.clamp(SSL3, TLS12), ALERT_PROTOCOL_VERSION);
        }
        let offered = |s: u16| hello.suites.contains(&s);
        let suite = [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]
            .into_iter()
            .find(|&s| offered(s));
        let Some(suite) = suite else {
            return alert(TLS12, ALERT_HANDSHAKE_FAILURE);
        };
        let mut flight = Vec::with_capacity(2048);
        push_handshake(&mut flight, HS_SERVER_HELLO, &server_hello(TLS12, suite, hello.secure_renegotiation));
        push_handshake(&mut flight, HS_CERTIFICATE, &certificate(&self.chain));
        push_handshake(&mut flight, HS_SERVER_HELLO_DONE, &[]);
        let mut out = Vec::with_capacity(flight.len().saturating_add(10));
        push_records(&mut out, CONTENT_HANDSHAKE, TLS12, &flight);
        out
    }

    /// TLS 1.0 only (any client speaking 1.0 or later gets a 1.0 answer);
    /// SSLv3 gets protocol_version, no acceptable suite handshake_failure.
    fn reply_tls10(&self, hello: &ClientHello) -> Vec<u8> {
        if hello.version < TLS10 {
            return alert(SSL3, ALERT_PROTOCOL_VERSION);
        }
        let Some(suite) = TLS10_SUITES.into_iter().find(|s| hello.suites.contains(s)) else {
            return alert(TLS10, ALERT_HANDSHAKE_FAILURE);
        };
        let mut flight = Vec::with_capacity(2048);
        push_handshake(&mut flight, HS_SERVER_HELLO, &server_hello(TLS10, suite, hello.secure_renegotiation));
        push_handshake(&mut flight, HS_CERTIFICATE, &certificate(&self.chain));
        if matches!(suite, TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA | TLS_DHE_RSA_WITH_AES_128_CBC_SHA) {
            push_handshake(&mut flight, HS_SERVER_KEY_EXCHANGE, &dhe_server_key_exchange());
        }
        push_handshake(&mut flight, HS_SERVER_HELLO_DONE, &[]);
        let mut out = Vec::with_capacity(flight.len().saturating_add(10));
        push_records(&mut out, CONTENT_HANDSHAKE, TLS10, &flight);
        out
    }
}

/// Serves one connection: reads a ClientHello (at most [`WAIT`]), answers,
/// then reads until EOF, [`DRAIN_CAP`] bytes or [`WAIT`], and closes. Input
/// that is not a ClientHello gets no answer.
pub(crate) async fn serve(mut stream: TcpStream, responder: Arc<Responder>) {
    if let Ok(Some(hello)) = timeout(WAIT, read_client_hello(&mut stream)).await {
        let reply = responder.reply(&hello);
        match timeout(WAIT, stream.write_all(&reply)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
    // Read what the client still sends before closing, so the close is a FIN
    // (after which the client reads the reply), not a reset.
    let _ = timeout(WAIT, drain(&mut stream)).await;
    let _ = stream.shutdown().await;
}

async fn drain(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    let mut total = 0usize;
    while total < DRAIN_CAP {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => total = total.saturating_add(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello record with the given versions, suites and extensions.
    fn hello_record(record_version: u16, version: u16, suites: &[u16], extensions: Option<&[u8]>) -> Vec<u8> {
        let mut body = version.to_be_bytes().to_vec();
        body.extend([7u8; 32]);
        body.push(32);
        body.extend([9u8; 32]);
        body.extend_from_slice(&u16_len(suites.len() * 2));
        for s in suites {
            body.extend_from_slice(&s.to_be_bytes());
        }
        body.extend([1, 0]);
        if let Some(ext) = extensions {
            body.extend_from_slice(&u16_len(ext.len()));
            body.extend_from_slice(ext);
        }
        let mut hs = Vec::new();
        push_handshake(&mut hs, HS_CLIENT_HELLO, &body);
        let mut out = Vec::new();
        push_records(&mut out, CONTENT_HANDSHAKE, record_version, &hs);
        out
    }

    async fn read(bytes: &[u8]) -> Option<ClientHello> {
        let mut r = bytes;
        read_client_hello(&mut r).await
    }

    #[tokio::test]
    async fn parses_versions_suites_and_tolerates_extensions() {
        let ext = [0x00, 0x00, 0x00, 0x03, 0x01, 0x02, 0x03, 0xFF, 0x01, 0x00, 0x01, 0x00];
        let h = read(&hello_record(0x0301, 0x0303, &[0x1301, 0xC02F, 0x000A], Some(&ext))).await.unwrap();
        assert_eq!(
            h,
            ClientHello {
                record_version: 0x0301,
                version: 0x0303,
                suites: vec![0x1301, 0xC02F, 0x000A],
                secure_renegotiation: true
            }
        );
        let h = read(&hello_record(0x0300, 0x0300, &[0x000A], None)).await.unwrap();
        assert_eq!((h.version, h.secure_renegotiation), (0x0300, false));
        // a truncated extension block is ignored
        let h = read(&hello_record(0x0301, 0x0301, &[0x00FF, 0x0016], Some(&[0xFF, 0x01, 0x00, 0x09]))).await.unwrap();
        assert_eq!(h.suites, vec![0x00FF, 0x0016]);
        assert!(h.secure_renegotiation, "SCSV");
    }

    #[tokio::test]
    async fn reassembles_a_hello_split_across_records() {
        let one = hello_record(0x0301, 0x0303, &[0xC02F], None);
        let payload = &one[5..];
        let mut split = Vec::new();
        for part in payload.chunks(3) {
            push_records(&mut split, CONTENT_HANDSHAKE, 0x0301, part);
        }
        assert_eq!(read(&split).await.unwrap().suites, vec![0xC02F]);
    }

    #[tokio::test]
    async fn rejects_what_is_not_a_client_hello() {
        assert!(read(b"").await.is_none());
        assert!(read(b"GET / HTTP/1.1\r\n\r\n").await.is_none());
        assert!(read(&[22, 3, 1, 0, 0]).await.is_none(), "empty record");
        assert!(read(&[22, 3, 1, 0x40, 0x01]).await.is_none(), "record over 2^14");
        assert!(read(&[22, 3, 1, 0, 4, 2, 0, 0, 0]).await.is_none(), "a ServerHello");
        assert!(read(&[22, 3, 1, 0, 4, 1, 0x01, 0, 0]).await.is_none(), "a hello over 16 KiB");
        assert!(read(&[22, 3, 1, 0, 6, 1, 0, 0, 2, 3, 1]).await.is_none(), "too short for a random");
        let mut no_suites = hello_record(0x0301, 0x0301, &[], None);
        assert!(read(&no_suites).await.is_none());
        no_suites.truncate(10);
        assert!(read(&no_suites).await.is_none(), "truncated");
    }

    #[tokio::test]
    async fn random_and_mutated_input_never_panics() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let good = hello_record(0x0301, 0x0303, &[0xC02F, 0x0016, 0x000A], Some(&[0xFF, 0x01, 0x00, 0x01, 0x00]));
        for i in 0..3000 {
            let input: Vec<u8> = if i % 2 == 0 {
                let len = (next() % 300) as usize;
                let mut v: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                if let Some(first) = v.first_mut() {
                    *first = 22;
                }
                v
            } else {
                let mut v = good.clone();
                for _ in 0..(next() % 4 + 1) {
                    let at = (next() as usize) % v.len();
                    v[at] = next() as u8;
                }
                v.truncate(((next() as usize) % (good.len() + 1)).max(1));
                v
            };
            if let Some(h) = read(&input).await {
                for kind in [Kind::WeakKey, Kind::Tls10] {
                    let r = Responder { kind, chain: vec![CertificateDer::from(vec![0x30, 0x00])] };
                    assert!(r.reply(&h).len() >= 7);
                }
            }
        }
    }

    #[test]
    fn tls10_prefers_dhe_3des_then_rsa_3des_and_alerts_otherwise() {
        let r = Responder { kind: Kind::Tls10, chain: vec![CertificateDer::from(vec![0x30, 0x00])] };
        let hello = |version, suites: &[u16]| ClientHello {
            record_version: 0x0301,
            version,
            suites: suites.to_vec(),
            secure_renegotiation: false,
        };
        let chosen = |out: Vec<u8>| u16::from_be_bytes([out[5 + 4 + 2 + 32 + 1], out[5 + 4 + 2 + 32 + 2]]);
        assert_eq!(chosen(r.reply(&hello(0x0303, &[0x002F, 0x000A, 0x0016]))), 0x0016);
        assert_eq!(chosen(r.reply(&hello(0x0301, &[0x002F, 0x0033, 0x000A]))), 0x000A);
        assert_eq!(chosen(r.reply(&hello(0x0301, &[0x002F, 0x0033]))), 0x0033);
        assert_eq!(chosen(r.reply(&hello(0x0302, &[0xC02F, 0x002F]))), 0x002F);
        assert_eq!(r.reply(&hello(0x0303, &[0xC02F])), vec![21, 3, 1, 0, 2, 2, 40]);
        assert_eq!(r.reply(&hello(0x0300, &[0x000A])), vec![21, 3, 0, 0, 2, 2, 70]);
    }

    #[test]
    fn weak_key_accepts_only_ecdhe_rsa_aes_gcm() {
        let r = Responder { kind: Kind::WeakKey, chain: vec![CertificateDer::from(vec![0x30, 0x00])] };
        let hello = |version, suites: &[u16]| ClientHello {
            record_version: 0x0301,
            version,
            suites: suites.to_vec(),
            secure_renegotiation: false,
        };
        let chosen = |out: Vec<u8>| u16::from_be_bytes([out[5 + 4 + 2 + 32 + 1], out[5 + 4 + 2 + 32 + 2]]);
        assert_eq!(chosen(r.reply(&hello(0x0303, &[0x1301, 0x009C, 0xC02F]))), 0xC02F);
        assert_eq!(
            r.reply(&hello(0x0303, &[0x1301, 0x000A, 0x009C])),
            vec![21, 3, 3, 0, 2, 2, 40],
            "weak suites refused"
        );
        assert_eq!(chosen(r.reply(&hello(0x0303, &[0x3A3A, 0x1302, 0x00FF, 0xC030]))), 0xC030);
        assert_eq!(r.reply(&hello(0x0303, &[0x1301, 0x00FF])), vec![21, 3, 3, 0, 2, 2, 40]);
        assert_eq!(r.reply(&hello(0x0301, &[0xC02F])), vec![21, 3, 1, 0, 2, 2, 70]);
    }

    #[test]
    fn the_dh_prime_is_the_1024_bit_oakley_group() {
        assert_eq!(OAKLEY_GROUP_2_PRIME.len() * 8, 1024);
        assert_eq!(OAKLEY_GROUP_2_PRIME[0], 0xFF);
        assert_eq!(
            &OAKLEY_GROUP_2_PRIME[..12],
            &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC9, 0x0F, 0xDA, 0xA2]
        );
        assert!(OAKLEY_GROUP_2_PRIME[120..].iter().all(|&b| b == 0xFF));
        let ske = dhe_server_key_exchange();
        assert_eq!(&ske[..2], &[0, 128]);
        assert_eq!(ske.len(), 2 + 128 + 3 + 2 + 128 + 2 + 256);
    }
}
