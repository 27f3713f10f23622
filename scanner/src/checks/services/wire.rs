//! The bytes of each service probe, and bounded parsers of what comes back.
//! Everything here is pure: no I/O, no panics on any input.

/// Longest server version kept in evidence.
const MAX_VERSION: usize = 64;

/// Printable ASCII only, at most [`MAX_VERSION`] characters; `None` if anything
/// else is in it or it is empty.
fn printable(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() || bytes.len() > MAX_VERSION || !bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
        return None;
    }
    Some(String::from_utf8_lossy(bytes).into_owned())
}

fn u32_le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn i32_le(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

// ---------------------------------------------------------------------------
// MySQL / MariaDB: the server speaks first.

/// A MySQL protocol-10 initial handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MysqlHandshake {
    /// The server version string (`8.0.36`, `5.5.5-10.11.6-MariaDB-0+deb12u1`).
    pub(crate) version: String,
}

/// Most bytes a protocol-10 handshake payload takes (MySQL's and MariaDB's are under 128).
const MYSQL_MAX_PAYLOAD: usize = 1024;

/// Parse `Protocol::HandshakeV10` (packet header: 3-byte length, sequence 0;
/// payload: 0x0a, NUL-terminated version, connection id, 8 bytes of scramble,
/// a 0x00 filler, capability flags). An ERR packet (0xff) is not a handshake.
pub(crate) fn mysql_handshake(data: &[u8]) -> Option<MysqlHandshake> {
    let header = data.get(..4)?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if header[3] != 0 || !(18..=MYSQL_MAX_PAYLOAD).contains(&len) {
        return None;
    }
    let payload = &data[4..];
    if *payload.first()? != 0x0a {
        return None;
    }
    let nul = payload.iter().skip(1).take(MAX_VERSION + 1).position(|&b| b == 0)? + 1;
    let version = printable(&payload[1..nul])?;
    // connection id (4), auth-plugin-data part 1 (8), filler 0x00, capability flags (2)
    let filler = nul + 1 + 4 + 8;
    let end = filler + 1 + 2;
    if end > len || *payload.get(filler)? != 0 || payload.len() < end {
        return None;
    }
    Some(MysqlHandshake { version })
}

// ---------------------------------------------------------------------------
// VNC: the server speaks first.

/// The RFB protocol version a VNC server announces (`RFB 003.008\n`), as `003.008`.
pub(crate) fn rfb_version(data: &[u8]) -> Option<String> {
    if data.len() != 12 || !data.starts_with(b"RFB ") || data[7] != b'.' || data[11] != b'\n' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| data[r].iter().all(u8::is_ascii_digit);
    (digits(4..7) && digits(8..11)).then(|| String::from_utf8_lossy(&data[4..11]).into_owned())
}

// ---------------------------------------------------------------------------
// Redis.

/// The inline PING (RESP servers accept inline commands).
pub(crate) const REDIS_PING: &[u8] = b"PING\r\n";
/// Read-only: the `server` section of INFO, for the version.
pub(crate) const REDIS_INFO: &[u8] = b"INFO server\r\n";

/// What a server said to PING.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RedisPing {
    /// `+PONG`: commands run without authentication.
    Pong,
    /// A RESP error that asks for authentication (`-NOAUTH`, `-ERR ... AUTH`,
    /// `-ERR operation not permitted`) or refuses (`-DENIED`, protected mode).
    Refused,
    /// Anything else: not an answer of Redis to PING.
    Other,
}

/// The first line of a reply (without CRLF), if a whole line is there.
pub(crate) fn first_line(data: &[u8]) -> Option<&[u8]> {
    let end = data.windows(2).position(|w| w == b"\r\n")?;
    Some(&data[..end])
}

/// Classify the reply to PING.
pub(crate) fn redis_ping(data: &[u8]) -> RedisPing {
    let Some(line) = first_line(data) else { return RedisPing::Other };
    if line == b"+PONG" {
        return RedisPing::Pong;
    }
    let upper = String::from_utf8_lossy(line).to_ascii_uppercase();
    let refusal = upper.starts_with("-NOAUTH")
        || upper.starts_with("-DENIED")
        || (upper.starts_with("-ERR") && (upper.contains("AUTH") || upper.contains("NOT PERMITTED")));
    if refusal { RedisPing::Refused } else { RedisPing::Other }
}

/// Longest INFO reply read.
pub(crate) const REDIS_INFO_CAP: usize = 64 * 1024;

/// Whether `data` holds a whole RESP bulk string (or an error line, or
/// something that will never become one).
pub(crate) fn redis_bulk_complete(data: &[u8]) -> bool {
    let Some(line) = first_line(data) else { return data.len() >= 32 && !data.starts_with(b"$") };
    let Some(len) = line.strip_prefix(b"$").and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok()) else {
        return true;
    };
    data.len() >= line.len().saturating_add(4).saturating_add(len)
}

/// `redis_version` from an INFO bulk reply.
pub(crate) fn redis_version(data: &[u8]) -> Option<String> {
    let line = first_line(data)?;
    if !line.starts_with(b"$") {
        return None;
    }
    let body = &data[line.len() + 2..];
    body.split(|&b| b == b'\n').find_map(|l| {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        printable(l.strip_prefix(b"redis_version:")?)
    })
}

// ---------------------------------------------------------------------------
// PostgreSQL.

/// SSLRequest: length 8, code 80877103 (1234 << 16 | 5679).
pub(crate) const PG_SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// A PostgreSQL answer to SSLRequest: exactly one byte, `S` (TLS offered) or `N`.
pub(crate) fn pg_ssl_answer(data: &[u8]) -> Option<bool> {
    match data {
        [b'S'] => Some(true),
        [b'N'] => Some(false),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// MongoDB: OP_MSG and a small BSON reader.

const OP_MSG: i32 = 2013;
/// Longest MongoDB reply read (a `hello` reply is well under 2 KiB).
pub(crate) const MONGO_CAP: usize = 16 * 1024;

/// An OP_MSG with one body section: `{<command>: 1, $db: "admin"}`.
pub(crate) fn mongo_command(request_id: i32, command: &str) -> Vec<u8> {
    let mut doc = Vec::new();
    doc.push(0x10); // int32
    doc.extend_from_slice(command.as_bytes());
    doc.push(0);
    doc.extend_from_slice(&1i32.to_le_bytes());
    doc.push(0x02); // string
    doc.extend_from_slice(b"$db\0");
    doc.extend_from_slice(&6i32.to_le_bytes());
    doc.extend_from_slice(b"admin\0");
    doc.push(0);
    let doc_len = (doc.len() + 4) as i32;
    let msg_len = (16 + 4 + 1 + doc.len() + 4) as i32;
    let mut msg = Vec::with_capacity(msg_len as usize);
    msg.extend_from_slice(&msg_len.to_le_bytes());
    msg.extend_from_slice(&request_id.to_le_bytes());
    msg.extend_from_slice(&0i32.to_le_bytes()); // responseTo
    msg.extend_from_slice(&OP_MSG.to_le_bytes());
    msg.extend_from_slice(&0u32.to_le_bytes()); // flagBits
    msg.push(0); // section kind 0: body
    msg.extend_from_slice(&doc_len.to_le_bytes());
    msg.extend_from_slice(&doc);
    msg
}

/// Whether `data` holds a whole message as its header announces (or a header
/// that no message of ours could have).
pub(crate) fn mongo_complete(data: &[u8]) -> bool {
    match i32_le(data, 0) {
        Some(n) if (16..=MONGO_CAP as i32).contains(&n) => data.len() >= n as usize,
        Some(_) => true,
        None => false,
    }
}

/// A top-level BSON value we care about.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bson {
    Int(i64),
    Double(f64),
    Str(String),
    Other,
}

/// The top-level fields of one BSON document, or `None` if it is malformed.
pub(crate) fn bson_fields(doc: &[u8]) -> Option<Vec<(String, Bson)>> {
    let len = usize::try_from(i32_le(doc, 0)?).ok()?;
    if len < 5 || len > doc.len() || doc[len - 1] != 0 {
        return None;
    }
    let doc = &doc[..len];
    let mut at = 4;
    let mut fields = Vec::new();
    loop {
        let kind = *doc.get(at)?;
        at += 1;
        if kind == 0 {
            return (at == len).then_some(fields);
        }
        let name_end = at + doc.get(at..)?.iter().position(|&b| b == 0)?;
        let name = String::from_utf8_lossy(&doc[at..name_end]).into_owned();
        at = name_end + 1;
        let string_len = |at: usize| -> Option<usize> {
            let n = usize::try_from(i32_le(doc, at)?).ok()?;
            (n >= 1).then_some(4 + n)
        };
        let cstring_len = |at: usize| -> Option<usize> { Some(doc.get(at..)?.iter().position(|&b| b == 0)? + 1) };
        let (value, size) = match kind {
            0x01 => (Bson::Double(f64::from_le_bytes(doc.get(at..at + 8)?.try_into().ok()?)), 8),
            0x02 => {
                let size = string_len(at)?;
                let bytes = doc.get(at + 4..at + size - 1)?;
                (Bson::Str(String::from_utf8_lossy(bytes).into_owned()), size)
            }
            0x0d | 0x0e => (Bson::Other, string_len(at)?),
            0x03 | 0x04 | 0x0f => (Bson::Other, usize::try_from(i32_le(doc, at)?).ok().filter(|&n| n >= 5)?),
            0x05 => (Bson::Other, 5 + usize::try_from(i32_le(doc, at)?).ok()?),
            0x06 | 0x0a | 0x7f | 0xff => (Bson::Other, 0),
            0x07 => (Bson::Other, 12),
            0x08 => (Bson::Other, 1),
            0x09 | 0x11 => (Bson::Other, 8),
            0x0b => {
                let a = cstring_len(at)?;
                (Bson::Other, a + cstring_len(at + a)?)
            }
            0x0c => {
                let s = string_len(at)?;
                (Bson::Other, s + 12)
            }
            0x10 => (Bson::Int(i64::from(i32_le(doc, at)?)), 4),
            0x12 => (Bson::Int(i64::from_le_bytes(doc.get(at..at + 8)?.try_into().ok()?)), 8),
            0x13 => (Bson::Other, 16),
            _ => return None,
        };
        at = at.checked_add(size)?;
        if at >= len {
            return None;
        }
        if fields.len() < 256 {
            fields.push((name, value));
        }
    }
}

/// What a MongoDB server said to `hello` (or `isMaster`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MongoHello {
    pub(crate) max_wire_version: Option<i64>,
    pub(crate) version: Option<String>,
}

/// Parse an OP_MSG reply to request `request_id`: the body section's fields.
/// `None` unless the header, the sections and the document are well formed.
pub(crate) fn mongo_reply(data: &[u8], request_id: i32) -> Option<MongoHello> {
    let len = usize::try_from(i32_le(data, 0)?).ok()?;
    if !(21..=MONGO_CAP).contains(&len) || data.len() < len {
        return None;
    }
    let msg = &data[..len];
    if i32_le(msg, 8)? != request_id || i32_le(msg, 12)? != OP_MSG {
        return None;
    }
    let flags = u32_le(msg, 16)?;
    let end = if flags & 1 == 1 { len.checked_sub(4)? } else { len };
    let mut at = 20;
    let mut body = None;
    while at < end {
        let kind = msg[at];
        let size = usize::try_from(i32_le(msg, at + 1)?).ok()?;
        if size < 5 || at + 1 + size > end {
            return None;
        }
        match kind {
            0 if body.is_none() => body = Some(&msg[at + 1..at + 1 + size]),
            1 => {}
            _ => return None,
        }
        at += 1 + size;
    }
    let fields = bson_fields(body?)?;
    let mut hello = MongoHello { max_wire_version: None, version: None };
    for (name, value) in fields {
        match (name.as_str(), value) {
            ("maxWireVersion", Bson::Int(n)) if (0..=1000).contains(&n) => hello.max_wire_version = Some(n),
            ("maxWireVersion", Bson::Double(f)) if (0.0..=1000.0).contains(&f) && f.fract() == 0.0 => {
                hello.max_wire_version = Some(f as i64)
            }
            ("version", Bson::Str(s)) => hello.version = printable(s.as_bytes()),
            _ => {}
        }
    }
    Some(hello)
}

/// The MongoDB release that introduced a wire version (the ones we are sure of).
pub(crate) fn mongo_release(wire: i64) -> Option<&'static str> {
    Some(match wire {
        6 => "3.6",
        7 => "4.0",
        8 => "4.2",
        9 => "4.4",
        13 => "5.0",
        17 => "6.0",
        21 => "7.0",
        25 => "8.0",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// RDP: X.224 Connection Request / Confirm over TPKT (MS-RDPBCGR 2.2.1.1, 2.2.1.2).

/// TPKT v3, X.224 Connection Request (0xE0) with RDP_NEG_REQ asking for TLS
/// and CredSSP (PROTOCOL_SSL | PROTOCOL_HYBRID), no cookie.
pub(crate) const RDP_CONNECTION_REQUEST: [u8; 19] = [
    0x03, 0x00, 0x00, 0x13, // TPKT: version 3, length 19
    0x0e, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, // X.224: LI 14, CR, dst-ref, src-ref, class 0
    0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00, // RDP_NEG_REQ: type 1, flags 0, length 8, protocols 3
];

/// Longest TPKT packet read (a Connection Confirm is 11 or 19 bytes).
pub(crate) const RDP_CAP: usize = 1024;

/// Whether `data` holds the whole TPKT packet (or cannot be one).
pub(crate) fn tpkt_complete(data: &[u8]) -> bool {
    match data {
        [] => false,
        [first, ..] if *first != 3 => true,
        [_, _, hi, lo, ..] => data.len() >= usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => false,
    }
}

/// What the X.224 Connection Confirm said about security.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RdpConfirm {
    /// No negotiation data (a server older than RDP 5.2, or one that ignores it).
    Plain,
    /// RDP_NEG_RSP: the selected protocol.
    Selected(u32),
    /// RDP_NEG_FAILURE: the failure code.
    Failure(u32),
}

/// Parse a TPKT v3 packet carrying an X.224 Connection Confirm.
pub(crate) fn rdp_confirm(data: &[u8]) -> Option<RdpConfirm> {
    let len = usize::from(u16::from_be_bytes([*data.get(2)?, *data.get(3)?]));
    if data[0] != 3 || data[1] != 0 || !(11..=RDP_CAP).contains(&len) || data.len() < len {
        return None;
    }
    let tpdu = &data[4..len];
    let li = usize::from(tpdu[0]);
    if li < 6 || li + 1 > tpdu.len() || tpdu[1] & 0xf0 != 0xd0 {
        return None;
    }
    let neg = &tpdu[7..li + 1];
    match neg {
        [] => Some(RdpConfirm::Plain),
        [2, _, 8, 0, ..] => Some(RdpConfirm::Selected(u32_le(neg, 4)?)),
        [3, _, 8, 0, ..] => Some(RdpConfirm::Failure(u32_le(neg, 4)?)),
        _ => None,
    }
}

/// The name of an RDP security protocol (MS-RDPBCGR 2.2.1.1.1).
pub(crate) fn rdp_protocol(p: u32) -> &'static str {
    match p {
        0 => "standard RDP security",
        1 => "TLS",
        2 => "CredSSP (NLA)",
        4 => "RDSTLS",
        8 => "CredSSP with early user authorization",
        _ => "an unknown protocol",
    }
}

/// What an RDP_NEG_FAILURE code means (MS-RDPBCGR 2.2.1.2.2).
pub(crate) fn rdp_failure(code: u32) -> &'static str {
    match code {
        1 => "SSL_REQUIRED_BY_SERVER",
        2 => "SSL_NOT_ALLOWED_BY_SERVER",
        3 => "SSL_CERT_NOT_ON_SERVER",
        4 => "INCONSISTENT_FLAGS",
        5 => "HYBRID_REQUIRED_BY_SERVER",
        6 => "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER",
        _ => "unknown failure",
    }
}
