//! Lookalikes of exposed services, for the service probes: a Redis that runs
//! commands without authentication and one that asks for it, a MySQL
//! handshake, a PostgreSQL SSLRequest answer, a MongoDB `hello`, an RDP
//! Connection Confirm and a VNC banner.
//!
//! Each speaks just enough of its protocol for a fingerprint (and for the
//! usual clients' first exchange), bounds what it reads ([`READ_CAP`] per
//! message, [`SERVICE_WAIT`] per read) and never stores anything.
//! [`spawn`] serves one [`Kind`] on a bound listener through the shared
//! accept loop of [`crate::tcp`].

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a service waits for the client before closing.
const SERVICE_WAIT: Duration = Duration::from_secs(5);
/// Most bytes read for one client message.
const READ_CAP: usize = 4096;
/// Most commands or messages served on one connection.
const MAX_EXCHANGES: usize = 16;

/// The version the weak Redis reports in `INFO`.
pub(crate) const REDIS_VERSION: &str = "6.0.16";
/// The version the MySQL lookalike announces.
pub(crate) const MYSQL_VERSION: &str = "5.7.44-log";
/// The wire version the MongoDB lookalike reports (MongoDB 5.0).
pub(crate) const MONGO_MAX_WIRE_VERSION: i32 = 13;
/// The RFB version the VNC lookalike announces.
pub(crate) const VNC_BANNER: &[u8] = b"RFB 003.008\n";

/// Which service a listener imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Redis without `requirepass`: `PING` → `+PONG`, `INFO` → a server section.
    RedisWeak,
    /// Redis with `requirepass`: every command → `-NOAUTH Authentication required.`
    RedisHardened,
    /// A MySQL 5.7 protocol-10 handshake, sent on accept.
    Mysql,
    /// PostgreSQL: `N` to an SSLRequest, then waits for the startup message.
    Postgres,
    /// MongoDB: an OP_MSG reply with `maxWireVersion` to any OP_MSG command.
    Mongo,
    /// RDP: an X.224 Connection Confirm selecting TLS (or standard RDP security).
    Rdp,
    /// VNC: `RFB 003.008\n` on accept, then VNC authentication offered.
    Vnc,
}

/// Serves one connection. I/O errors and timeouts just end it.
pub(crate) async fn serve(mut stream: TcpStream, kind: Kind) {
    let _ = tokio::time::timeout(SERVICE_WAIT * 2, async {
        match kind {
            Kind::RedisWeak | Kind::RedisHardened => redis(&mut stream, kind == Kind::RedisWeak).await,
            Kind::Mysql => banner_then_drain(&mut stream, &mysql_handshake()).await,
            Kind::Postgres => postgres(&mut stream).await,
            Kind::Mongo => mongo(&mut stream).await,
            Kind::Rdp => rdp(&mut stream).await,
            Kind::Vnc => vnc(&mut stream).await,
        }
    })
    .await;
    let _ = stream.shutdown().await;
}

async fn read_some(stream: &mut TcpStream, buf: &mut [u8]) -> Option<usize> {
    match tokio::time::timeout(SERVICE_WAIT, stream.read(buf)).await {
        Ok(Ok(n)) if n > 0 => Some(n),
        _ => None,
    }
}

async fn read_exact(stream: &mut TcpStream, buf: &mut [u8]) -> Option<()> {
    match tokio::time::timeout(SERVICE_WAIT, stream.read_exact(buf)).await {
        Ok(Ok(_)) => Some(()),
        _ => None,
    }
}

async fn write(stream: &mut TcpStream, bytes: &[u8]) -> Option<()> {
    match tokio::time::timeout(SERVICE_WAIT, stream.write_all(bytes)).await {
        Ok(Ok(())) => Some(()),
        _ => None,
    }
}

/// Writes `banner`, then reads (and ignores) up to [`READ_CAP`] until EOF or the wait.
async fn banner_then_drain(stream: &mut TcpStream, banner: &[u8]) -> Option<()> {
    write(stream, banner).await?;
    let mut buf = [0u8; READ_CAP];
    let mut total = 0;
    while total < READ_CAP {
        total += read_some(stream, &mut buf).await?;
    }
    Some(())
}

// ---------------------------------------------------------------------------
// Redis

/// The command name of an inline command (`PING\r\n`) or a RESP array
/// (`*1\r\n$4\r\nPING\r\n`), upper-cased.
fn redis_command(msg: &[u8]) -> String {
    let text = String::from_utf8_lossy(msg);
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("");
    let name = if first.starts_with('*') {
        lines.nth(1).unwrap_or("") // skip "$<len>"
    } else {
        first.split_whitespace().next().unwrap_or("")
    };
    name.chars().filter(|c| c.is_ascii_alphanumeric()).take(32).collect::<String>().to_ascii_uppercase()
}

async fn redis(stream: &mut TcpStream, weak: bool) -> Option<()> {
    let mut buf = [0u8; READ_CAP];
    for _ in 0..MAX_EXCHANGES {
        let n = read_some(stream, &mut buf).await?;
        let command = redis_command(&buf[..n]);
        let reply = match (weak, command.as_str()) {
            (_, "QUIT") => {
                write(stream, b"+OK\r\n").await?;
                return Some(());
            }
            (true, "PING") => "+PONG\r\n".to_owned(),
            (true, "INFO") => {
                let body = format!(
                    "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_mode:standalone\r\nos:Linux 5.15.0-lab x86_64\r\ntcp_port:6379\r\n"
                );
                format!("${}\r\n{body}\r\n", body.len())
            }
            (true, "AUTH") => "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n".to_owned(),
            (true, _) => format!("-ERR unknown command '{}'\r\n", command.to_ascii_lowercase()),
            (false, "AUTH") => "-WRONGPASS invalid username-password pair or user is disabled.\r\n".to_owned(),
            (false, _) => "-NOAUTH Authentication required.\r\n".to_owned(),
        };
        write(stream, reply.as_bytes()).await?;
    }
    Some(())
}

// ---------------------------------------------------------------------------
// MySQL

/// `Protocol::HandshakeV10` of a MySQL 5.7 with `mysql_native_password`.
pub(crate) fn mysql_handshake() -> Vec<u8> {
    let mut p = vec![0x0a];
    p.extend_from_slice(MYSQL_VERSION.as_bytes());
    p.push(0);
    p.extend_from_slice(&7u32.to_le_bytes()); // connection id
    p.extend_from_slice(b"lab-salt"); // auth-plugin-data part 1 (8)
    p.push(0); // filler
    p.extend_from_slice(&0xf7ffu16.to_le_bytes()); // capability flags (lower)
    p.push(0x21); // utf8_general_ci
    p.extend_from_slice(&0x0002u16.to_le_bytes()); // SERVER_STATUS_AUTOCOMMIT
    p.extend_from_slice(&0x81ffu16.to_le_bytes()); // capability flags (upper)
    p.push(21); // auth-plugin-data length
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(b"lab-salt-two\0"); // part 2 (13)
    p.extend_from_slice(b"mysql_native_password\0");
    let len = (p.len() as u32).to_le_bytes();
    let mut packet = vec![len[0], len[1], len[2], 0];
    packet.extend_from_slice(&p);
    packet
}

// ---------------------------------------------------------------------------
// PostgreSQL

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;

async fn postgres(stream: &mut TcpStream) -> Option<()> {
    let mut head = [0u8; 8];
    read_exact(stream, &mut head).await?;
    let code = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    if head[..4] != 8u32.to_be_bytes() || !(code == SSL_REQUEST || code == GSSENC_REQUEST) {
        return None;
    }
    // No TLS, no GSS encryption: the client goes on in plain text.
    write(stream, b"N").await?;
    let mut buf = [0u8; READ_CAP];
    read_some(stream, &mut buf).await?;
    // Whatever the startup message asked, this server asks for a password.
    write(stream, &[b'R', 0, 0, 0, 8, 0, 0, 0, 3]).await?; // AuthenticationCleartextPassword
    read_some(stream, &mut buf).await.map(|_| ())
}

// ---------------------------------------------------------------------------
// MongoDB

const OP_MSG: i32 = 2013;

fn bson_element(out: &mut Vec<u8>, kind: u8, name: &str, value: &[u8]) {
    out.push(kind);
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    out.extend_from_slice(value);
}

/// The body of a standalone mongod's `hello` reply.
fn mongo_hello_doc() -> Vec<u8> {
    let mut e = Vec::new();
    bson_element(&mut e, 0x08, "isWritablePrimary", &[1]);
    bson_element(&mut e, 0x10, "maxBsonObjectSize", &16_777_216i32.to_le_bytes());
    bson_element(&mut e, 0x10, "maxMessageSizeBytes", &48_000_000i32.to_le_bytes());
    bson_element(&mut e, 0x10, "maxWriteBatchSize", &100_000i32.to_le_bytes());
    bson_element(&mut e, 0x09, "localTime", &1_700_000_000_000i64.to_le_bytes());
    bson_element(&mut e, 0x10, "logicalSessionTimeoutMinutes", &30i32.to_le_bytes());
    bson_element(&mut e, 0x10, "minWireVersion", &0i32.to_le_bytes());
    bson_element(&mut e, 0x10, "maxWireVersion", &MONGO_MAX_WIRE_VERSION.to_le_bytes());
    bson_element(&mut e, 0x08, "readOnly", &[0]);
    bson_element(&mut e, 0x01, "ok", &1.0f64.to_le_bytes());
    let mut doc = ((e.len() + 5) as i32).to_le_bytes().to_vec();
    doc.extend_from_slice(&e);
    doc.push(0);
    doc
}

/// An OP_MSG reply to `request_id` carrying `doc`.
fn op_msg(request_id: i32, doc: &[u8]) -> Vec<u8> {
    let len = (16 + 4 + 1 + doc.len()) as i32;
    let mut m = Vec::with_capacity(len as usize);
    m.extend_from_slice(&len.to_le_bytes());
    m.extend_from_slice(&1i32.to_le_bytes()); // our request id
    m.extend_from_slice(&request_id.to_le_bytes()); // responseTo
    m.extend_from_slice(&OP_MSG.to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes()); // flagBits
    m.push(0); // body section
    m.extend_from_slice(doc);
    m
}

async fn mongo(stream: &mut TcpStream) -> Option<()> {
    for _ in 0..MAX_EXCHANGES {
        let mut head = [0u8; 16];
        read_exact(stream, &mut head).await?;
        let len = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let request_id = i32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let op = i32::from_le_bytes([head[12], head[13], head[14], head[15]]);
        let body = usize::try_from(len).ok().and_then(|l| l.checked_sub(16)).filter(|&b| b <= READ_CAP)?;
        if op != OP_MSG {
            return None;
        }
        let mut rest = vec![0u8; body];
        read_exact(stream, &mut rest).await?;
        // Every command gets the hello reply: enough for a handshake.
        write(stream, &op_msg(request_id, &mongo_hello_doc())).await?;
    }
    Some(())
}

// ---------------------------------------------------------------------------
// RDP

async fn rdp(stream: &mut TcpStream) -> Option<()> {
    let mut head = [0u8; 4];
    read_exact(stream, &mut head).await?;
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    if head[0] != 3 || !(11..=READ_CAP).contains(&len) {
        return None;
    }
    let mut tpdu = vec![0u8; len - 4];
    read_exact(stream, &mut tpdu).await?;
    if tpdu[1] & 0xf0 != 0xe0 {
        return None; // not a Connection Request
    }
    // RDP_NEG_REQ at the end of the request: offer TLS when the client asks for it.
    let requested = match tpdu.len().checked_sub(8).map(|at| &tpdu[at..]) {
        Some([1, _, 8, 0, a, b, c, d]) => Some(u32::from_le_bytes([*a, *b, *c, *d])),
        _ => None,
    };
    let mut confirm = vec![0x03, 0x00, 0x00, 0x0b, 0x06, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00];
    if let Some(requested) = requested {
        let selected: u32 = if requested & 1 == 1 { 1 } else { 0 };
        confirm[3] = 0x13;
        confirm[4] = 0x0e;
        confirm.extend_from_slice(&[0x02, 0x00, 0x08, 0x00]);
        confirm.extend_from_slice(&selected.to_le_bytes());
    }
    write(stream, &confirm).await?;
    let mut buf = [0u8; READ_CAP];
    read_some(stream, &mut buf).await.map(|_| ())
}

// ---------------------------------------------------------------------------
// VNC

async fn vnc(stream: &mut TcpStream) -> Option<()> {
    write(stream, VNC_BANNER).await?;
    let mut version = [0u8; 12];
    read_exact(stream, &mut version).await?;
    write(stream, &[1, 2]).await?; // one security type: VNC authentication
    let mut buf = [0u8; READ_CAP];
    read_some(stream, &mut buf).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use tokio::net::TcpListener;
    use tokio_util::sync::CancellationToken;
    use tokio_util::task::TaskTracker;

    use super::*;
    use crate::tcp;

    async fn start(kind: Kind) -> (SocketAddr, CancellationToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let token = CancellationToken::new();
        let tracker = TaskTracker::new();
        tracker.spawn(tcp::accept_loop(listener, || {}, move |s| serve(s, kind), token.clone(), tracker.clone()));
        (addr, token)
    }

    /// Sends `msg` (if any) and reads one reply.
    async fn ask(s: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
        if !msg.is_empty() {
            s.write_all(msg).await.unwrap();
        }
        let mut buf = vec![0u8; READ_CAP];
        let n = tokio::time::timeout(SERVICE_WAIT, s.read(&mut buf)).await.unwrap().unwrap();
        buf.truncate(n);
        buf
    }

    #[tokio::test]
    async fn weak_redis_answers_ping_and_info() {
        let (addr, _token) = start(Kind::RedisWeak).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        assert_eq!(ask(&mut s, b"PING\r\n").await, b"+PONG\r\n");
        assert_eq!(ask(&mut s, b"*1\r\n$4\r\nPING\r\n").await, b"+PONG\r\n");
        let info = String::from_utf8(ask(&mut s, b"INFO server\r\n").await).unwrap();
        assert!(info.starts_with('$') && info.contains("redis_version:6.0.16\r\n"), "{info}");
        let declared: usize = info[1..info.find("\r\n").unwrap()].parse().unwrap();
        assert_eq!(info.len(), info.find("\r\n").unwrap() + 2 + declared + 2);
        assert_eq!(ask(&mut s, b"FLUSHALL\r\n").await, b"-ERR unknown command 'flushall'\r\n");
    }

    #[tokio::test]
    async fn hardened_redis_asks_for_auth() {
        let (addr, _token) = start(Kind::RedisHardened).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        assert_eq!(ask(&mut s, b"PING\r\n").await, b"-NOAUTH Authentication required.\r\n");
        assert_eq!(ask(&mut s, b"INFO\r\n").await, b"-NOAUTH Authentication required.\r\n");
        assert!(ask(&mut s, b"AUTH guess\r\n").await.starts_with(b"-WRONGPASS"));
    }

    #[tokio::test]
    async fn mysql_sends_a_protocol_10_handshake() {
        let (addr, _token) = start(Kind::Mysql).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let g = ask(&mut s, b"").await;
        assert_eq!(usize::from(g[0]) + 4, g.len(), "one whole packet");
        assert_eq!(g[3], 0);
        assert_eq!(g[4], 0x0a);
        assert_eq!(&g[5..5 + MYSQL_VERSION.len() + 1], b"5.7.44-log\0");
        assert_eq!(g[5 + MYSQL_VERSION.len() + 1 + 12], 0, "filler");
    }

    #[tokio::test]
    async fn postgres_answers_n_to_an_ssl_request_and_ignores_others() {
        let (addr, _token) = start(Kind::Postgres).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        assert_eq!(ask(&mut s, &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]).await, b"N");
        let mut startup = vec![0, 0, 0, 0, 0, 3, 0, 0];
        startup.extend_from_slice(b"user\0lab\0\0");
        startup[3] = startup.len() as u8;
        assert_eq!(ask(&mut s, &startup).await, [b'R', 0, 0, 0, 8, 0, 0, 0, 3]);

        let mut other = TcpStream::connect(addr).await.unwrap();
        other.write_all(b"PING\r\nPING\r\n").await.unwrap();
        let mut rest = Vec::new();
        tokio::time::timeout(SERVICE_WAIT, other.read_to_end(&mut rest)).await.unwrap().unwrap();
        assert!(rest.is_empty(), "closed without a word");
    }

    #[tokio::test]
    async fn mongo_answers_hello() {
        let (addr, _token) = start(Kind::Mongo).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let hello =
            "340000000165614800000000dd07000000000000001f0000001068656c6c6f000100000002246462000600000061646d696e0000";
        let msg: Vec<u8> =
            (0..hello.len()).step_by(2).map(|i| u8::from_str_radix(&hello[i..i + 2], 16).unwrap()).collect();
        let r = ask(&mut s, &msg).await;
        assert_eq!(i32::from_le_bytes(r[..4].try_into().unwrap()) as usize, r.len());
        assert_eq!(r[8..12], msg[4..8], "responseTo is our request id");
        assert_eq!(i32::from_le_bytes(r[12..16].try_into().unwrap()), OP_MSG);
        let needle = [&b"maxWireVersion\0"[..], &MONGO_MAX_WIRE_VERSION.to_le_bytes()].concat();
        assert!(r.windows(needle.len()).any(|w| w == needle));
        assert_eq!(*r.last().unwrap(), 0, "the document is terminated");
    }

    #[tokio::test]
    async fn rdp_confirms_a_connection_request() {
        let (addr, _token) = start(Kind::Rdp).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let request = [3, 0, 0, 19, 14, 0xe0, 0, 0, 0, 0, 0, 1, 0, 8, 0, 3, 0, 0, 0];
        assert_eq!(ask(&mut s, &request).await, [3, 0, 0, 19, 14, 0xd0, 0, 0, 0x12, 0x34, 0, 2, 0, 8, 0, 1, 0, 0, 0]);
        let mut old = TcpStream::connect(addr).await.unwrap();
        let bare = [3, 0, 0, 11, 6, 0xe0, 0, 0, 0, 0, 0];
        assert_eq!(ask(&mut old, &bare).await, [3, 0, 0, 11, 6, 0xd0, 0, 0, 0x12, 0x34, 0]);
    }

    #[tokio::test]
    async fn vnc_announces_rfb_and_offers_vnc_auth() {
        let (addr, token) = start(Kind::Vnc).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        assert_eq!(ask(&mut s, b"").await, b"RFB 003.008\n");
        assert_eq!(ask(&mut s, b"RFB 003.008\n").await, [1, 2]);
        token.cancel();
    }
}
