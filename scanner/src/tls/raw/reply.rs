//! Reading the server's first flight: records, then handshake messages.

use super::suites::suite;

/// Most bytes read from a server before giving up on its flight.
pub(super) const MAX_FLIGHT: usize = 256 * 1024;
/// Longest record accepted: 2^14 plaintext plus the 2048 bytes RFC 5246 allows
/// for compression/encryption expansion.
pub(super) const MAX_RECORD: usize = (1 << 14) + 2048;
/// Longest handshake message accepted.
pub(super) const MAX_MESSAGE: usize = 128 * 1024;

const RECORD_HEADER: usize = 5;
const MESSAGE_HEADER: usize = 4;

const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const HEARTBEAT: u8 = 24;

const HELLO_REQUEST: u8 = 0;
const SERVER_HELLO: u8 = 2;
const CERTIFICATE: u8 = 11;
const SERVER_KEY_EXCHANGE: u8 = 12;
const SERVER_HELLO_DONE: u8 = 14;

/// What the ServerHello (and the rest of the flight) said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The version the server picked (`server_version`).
    pub version: u16,
    /// The cipher suite the server picked.
    pub cipher: u16,
    /// Bit length of the DH prime `dh_p` from the ServerKeyExchange, when the
    /// suite is finite-field DHE (see [`Suite::dhe`](super::Suite::dhe)) and
    /// the ServerKeyExchange was read.
    pub dh_bits: Option<u32>,
    /// The certificate chain (DER, leaf first) from a Certificate message in
    /// the same flight, if one was read.
    pub certificates: Vec<Vec<u8>>,
}

/// What a server answered a ClientHello with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A ServerHello: the server accepts the version and one of the suites.
    Hello(ServerHello),
    /// An alert before any ServerHello (typically handshake_failure (40) or
    /// protocol_version (70)).
    Alert {
        /// 1 warning, 2 fatal.
        level: u8,
        /// The AlertDescription.
        description: u8,
    },
    /// The server closed (or reset) the connection without a byte.
    Closed,
    /// The reply is not TLS (SSLv2, plaintext, garbage, or out of bounds): a short reason.
    NotTls(String),
    /// Nothing conclusive within the time allowed.
    Timeout,
    /// No definite answer: the reply looked like TLS but was cut short or
    /// went past a size bound before any ServerHello. It says nothing about
    /// whether the port speaks TLS.
    Failed(String),
}

/// How far a server's flight has been read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flight {
    /// More bytes are needed.
    Incomplete,
    /// The answer is known; bytes after it are not looked at.
    Done(Reply),
}

/// Parse the bytes a server sent so far (all of them, from the first).
///
/// [`Flight::Done`] at an Alert, at ServerHelloDone, at a ChangeCipherSpec or
/// encrypted record after the ServerHello, and at anything that is not TLS
/// (including more than 256 KiB, a record longer than 2^14+2048 bytes or a
/// handshake message longer than 128 KiB). An Alert after a ServerHello
/// still gives [`Reply::Hello`]: the server did pick a version and a suite.
pub fn parse_flight(bytes: &[u8]) -> Flight {
    FlightParser::new().feed(bytes)
}

/// The incremental parser behind [`parse_flight`] and [`super::probe`]: bytes
/// are fed as they arrive, each byte is looked at a bounded number of times,
/// and buffers only ever hold bytes that were fed (at most one partial record
/// and the handshake messages not yet complete).
#[derive(Debug, Default)]
pub(super) struct FlightParser {
    /// Bytes fed and not yet consumed as whole records.
    pending: Vec<u8>,
    /// Bytes fed in all.
    seen: usize,
    /// Records consumed.
    records: usize,
    /// Handshake bytes not yet consumed as whole messages.
    handshake: Vec<u8>,
    /// The ServerHello, once read.
    hello: Option<ServerHello>,
    /// The answer, once known.
    done: Option<Reply>,
}

impl FlightParser {
    pub(super) fn new() -> FlightParser {
        FlightParser::default()
    }

    /// Feed the next bytes received.
    pub(super) fn feed(&mut self, data: &[u8]) -> Flight {
        if self.done.is_none() {
            self.done = self.advance(data);
        }
        match &self.done {
            Some(reply) => Flight::Done(reply.clone()),
            None => Flight::Incomplete,
        }
    }

    /// The answer when no more bytes will come: the connection closed (or
    /// failed), or the time ran out (`timed_out`).
    pub(super) fn end(&mut self, timed_out: bool) -> Reply {
        if let Some(reply) = &self.done {
            return reply.clone();
        }
        let reply = if let Some(hello) = self.hello.take() {
            Reply::Hello(hello)
        } else if timed_out {
            Reply::Timeout
        } else if self.seen == 0 {
            Reply::Closed
        } else {
            Reply::Failed(format!("truncated reply: {} bytes, then the connection closed", self.seen))
        };
        self.done = Some(reply.clone());
        reply
    }

    /// Bytes held in buffers (for tests of the bounds).
    #[cfg(test)]
    pub(super) fn buffered_capacity(&self) -> usize {
        self.pending.capacity() + self.handshake.capacity()
    }

    fn advance(&mut self, data: &[u8]) -> Option<Reply> {
        // Look at no more than MAX_FLIGHT bytes in all; the answer may still lie within them.
        let budget = MAX_FLIGHT - self.seen.min(MAX_FLIGHT);
        let over = data.len() > budget;
        let data = data.get(..budget.min(data.len())).unwrap_or_default();
        self.seen += data.len();
        self.pending.extend_from_slice(data);
        let pending = std::mem::take(&mut self.pending);
        let mut pos = 0;
        let outcome = loop {
            let rest = pending.get(pos..).unwrap_or_default();
            if let Some(reason) = self.check_header(rest) {
                break Some(not_tls(reason));
            }
            let Some(len) = rest.get(3..RECORD_HEADER).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))) else {
                break None;
            };
            if len > MAX_RECORD {
                break Some(self.cut(format!("a record of {len} bytes, over the {MAX_RECORD}-byte limit")));
            }
            let Some(fragment) = rest.get(RECORD_HEADER..RECORD_HEADER + len) else {
                break None;
            };
            pos += RECORD_HEADER + len;
            self.records += 1;
            if let Some(reply) = self.record(rest[0], fragment) {
                break Some(reply);
            }
        };
        self.pending = pending;
        self.pending.drain(..pos.min(self.pending.len()));
        match outcome {
            None if over => Some(self.cut(format!("no ServerHelloDone within {} KiB", MAX_FLIGHT / 1024))),
            outcome => outcome,
        }
    }

    /// The flight went past a bound: after a ServerHello the server speaks
    /// TLS (what was read stands, the rest, e.g. an oversize certificate
    /// chain, is missing); before one, there is no definite answer.
    fn cut(&self, reason: String) -> Reply {
        match &self.hello {
            Some(hello) => Reply::Hello(hello.clone()),
            None => Reply::Failed(reason),
        }
    }

    /// Why the record starting at `rest` cannot be TLS, as soon as its first
    /// bytes tell.
    fn check_header(&self, rest: &[u8]) -> Option<String> {
        let &first = rest.first()?;
        if first & 0x80 != 0 && self.records == 0 {
            // SSLv2 two-byte header: length with the high bit set, then the message type.
            return match rest.get(2) {
                None => None,
                Some(4) => Some("SSLv2 ServerHello".to_string()),
                Some(0) => Some("SSLv2 error message".to_string()),
                Some(_) => Some(describe(rest)),
            };
        }
        if !(CHANGE_CIPHER_SPEC..=HEARTBEAT).contains(&first) {
            return Some(describe(rest));
        }
        match rest.get(1) {
            Some(&major) if major != 3 => Some(describe(rest)),
            _ => None,
        }
    }

    /// Take one whole record.
    fn record(&mut self, kind: u8, fragment: &[u8]) -> Option<Reply> {
        match kind {
            ALERT => Some(match (&self.hello, fragment) {
                (Some(hello), _) => Reply::Hello(hello.clone()),
                (None, [level, description, ..]) => Reply::Alert { level: *level, description: *description },
                (None, _) => not_tls(format!("alert record of {} bytes", fragment.len())),
            }),
            HANDSHAKE => self.handshake_bytes(fragment),
            // The flight went on past what can be read in the clear: ChangeCipherSpec
            // (resumption, TLS 1.3 compatibility), encrypted data, heartbeats.
            _ => Some(match &self.hello {
                Some(hello) => Reply::Hello(hello.clone()),
                None => not_tls(format!("record type {kind} before any ServerHello")),
            }),
        }
    }

    /// Append a handshake fragment and take every message now whole.
    fn handshake_bytes(&mut self, fragment: &[u8]) -> Option<Reply> {
        self.handshake.extend_from_slice(fragment);
        let stream = std::mem::take(&mut self.handshake);
        let mut pos = 0;
        let outcome = loop {
            let rest = stream.get(pos..).unwrap_or_default();
            let Some(header) = rest.get(..MESSAGE_HEADER) else {
                break None;
            };
            let len = usize::from(header[1]) << 16 | usize::from(header[2]) << 8 | usize::from(header[3]);
            if len > MAX_MESSAGE {
                break Some(
                    self.cut(format!("a handshake message of {len} bytes, over the {} KiB limit", MAX_MESSAGE / 1024)),
                );
            }
            let Some(body) = rest.get(MESSAGE_HEADER..MESSAGE_HEADER + len) else {
                break None;
            };
            pos += MESSAGE_HEADER + len;
            if let Some(reply) = self.message(header[0], body) {
                break Some(reply);
            }
        };
        self.handshake = stream;
        self.handshake.drain(..pos.min(self.handshake.len()));
        outcome
    }

    /// Take one whole handshake message.
    fn message(&mut self, kind: u8, body: &[u8]) -> Option<Reply> {
        if kind == HELLO_REQUEST {
            return None;
        }
        let Some(hello) = &mut self.hello else {
            if kind != SERVER_HELLO {
                return Some(not_tls(format!("handshake message type {kind} before any ServerHello")));
            }
            return match server_hello(body) {
                Some(hello) => {
                    self.hello = Some(hello);
                    None
                }
                None => Some(not_tls(format!("malformed ServerHello ({} bytes)", body.len()))),
            };
        };
        match kind {
            CERTIFICATE => hello.certificates = certificates(body),
            SERVER_KEY_EXCHANGE if suite(hello.cipher).is_some_and(|s| s.dhe) => hello.dh_bits = dh_prime_bits(body),
            SERVER_HELLO_DONE => return Some(Reply::Hello(hello.clone())),
            // A second ServerHello, CertificateStatus, CertificateRequest, ...: not needed.
            _ => {}
        }
        None
    }
}

fn not_tls(reason: String) -> Reply {
    Reply::NotTls(reason)
}

/// A short description of bytes that are not a TLS record.
fn describe(bytes: &[u8]) -> String {
    let head = bytes.get(..bytes.len().min(16)).unwrap_or_default();
    let text = head.iter().all(|&b| b.is_ascii_graphic() || b == b' ' || b == b'\r' || b == b'\n' || b == b'\t');
    if text {
        format!("plaintext reply {:?}", String::from_utf8_lossy(head).trim_end())
    } else {
        let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("not a TLS record: {}", hex.join(" "))
    }
}

/// version(2) random(32) session_id<0..32> cipher_suite(2) compression_method(1) [extensions]
fn server_hello(body: &[u8]) -> Option<ServerHello> {
    let version = u16::from_be_bytes([*body.first()?, *body.get(1)?]);
    let sid_len = usize::from(*body.get(34)?);
    if sid_len > 32 {
        return None;
    }
    let at = 35 + sid_len;
    let cipher = u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]);
    body.get(at + 2)?; // compression_method
    Some(ServerHello { version, cipher, dh_bits: None, certificates: Vec::new() })
}

/// certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>; the well-formed prefix.
fn certificates(body: &[u8]) -> Vec<Vec<u8>> {
    let mut certs = Vec::new();
    let Some(list_len) = body.get(..3).map(u24) else {
        return certs;
    };
    let mut list = body.get(3..).unwrap_or_default();
    list = list.get(..list_len.min(list.len())).unwrap_or_default();
    while let Some(len) = list.get(..3).map(u24) {
        let Some(cert) = list.get(3..3 + len) else {
            break;
        };
        certs.push(cert.to_vec());
        list = list.get(3 + len..).unwrap_or_default();
    }
    certs
}

/// Bit length of `dh_p`, the first opaque<1..2^16-1> of a DHE ServerKeyExchange,
/// leading zero bytes ignored.
fn dh_prime_bits(body: &[u8]) -> Option<u32> {
    let len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let p = body.get(2..2 + len)?;
    let start = p.iter().position(|&b| b != 0)?;
    let significant = u32::try_from(p.len() - start).ok()?;
    let top = *p.get(start)?;
    Some((significant - 1) * 8 + (8 - top.leading_zeros()))
}

fn u24(b: &[u8]) -> usize {
    b.iter().take(3).fold(0, |acc, &x| acc << 8 | usize::from(x))
}
