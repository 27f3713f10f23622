//! The only code in haetae that opens sockets. Private to the guard: callers
//! get here only through [`super::ScopeGuard`], after the scope checks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

/// Why a network exchange failed; becomes the audit outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NetError {
    Timeout,
    Refused,
    Io(String),
    Malformed(String),
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetError::Timeout => f.write_str("timeout"),
            NetError::Refused => f.write_str("connection refused"),
            NetError::Io(e) => write!(f, "{e}"),
            NetError::Malformed(e) => write!(f, "malformed reply: {e}"),
        }
    }
}

fn io(e: std::io::Error) -> NetError {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => NetError::Refused,
        std::io::ErrorKind::TimedOut => NetError::Timeout,
        _ => NetError::Io(e.to_string()),
    }
}

/// Connect with a deadline. A refusal the kernel already knows when the
/// non-blocking `connect` returns (typical on loopback and local networks) is
/// answered without registering the socket with the reactor: a 65535-port
/// sweep is mostly such refusals, and this keeps it within nmap's time.
pub(crate) async fn tcp_connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, NetError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(io)?;
    sock.set_nonblocking(true).map_err(io)?;
    let _ = sock.set_tcp_nodelay(true);
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
            if let Some(err) = sock.take_error().map_err(io)? {
                return Err(io(err));
            }
        }
        Err(e) => return Err(io(e)),
    }
    let stream = TcpStream::from_std(std::net::TcpStream::from(sock)).map_err(io)?;
    let ready = async {
        stream.writable().await.map_err(io)?;
        match stream.take_error().map_err(io)? {
            Some(err) => Err(io(err)),
            None => Ok(()),
        }
    };
    match tokio::time::timeout(timeout, ready).await {
        Err(_) => Err(NetError::Timeout),
        Ok(Err(e)) => Err(e),
        Ok(Ok(())) => Ok(stream),
    }
}

/// Write one length-prefixed DNS message on a TCP stream.
pub(crate) async fn tcp_send_dns(stream: &mut TcpStream, msg: &[u8]) -> Result<(), NetError> {
    let len = u16::try_from(msg.len()).map_err(|_| NetError::Malformed("query too long".into()))?;
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(msg);
    stream.write_all(&framed).await.map_err(io)
}

/// Read one length-prefixed DNS message (at most 65535 bytes by construction).
async fn read_dns(stream: &mut TcpStream) -> Result<Vec<u8>, NetError> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(io)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.map_err(io)?;
    Ok(buf)
}

/// Read one length-prefixed DNS message within `timeout`.
pub(crate) async fn tcp_recv_dns(stream: &mut TcpStream, timeout: Duration) -> Result<Vec<u8>, NetError> {
    tokio::time::timeout(timeout, read_dns(stream)).await.unwrap_or(Err(NetError::Timeout))
}

/// Sockets kept per name server: queries share them, told apart by message id.
const POOL_SOCKETS: usize = 16;

/// Replies held for one waiting query before more are dropped (a flood of
/// replies with the right id but the wrong question must not grow memory).
const REPLIES_QUEUED: usize = 4;

/// A reply that is not an answer to the question asked: ignored, and the
/// query keeps waiting for its answer until the deadline.
pub(crate) type Accept<'a> = &'a (dyn Fn(&[u8]) -> bool + Sync);

type Waiters = std::sync::Mutex<std::collections::HashMap<u16, tokio::sync::mpsc::Sender<Vec<u8>>>>;

/// One connected UDP socket to a name server and the queries waiting on it.
struct PooledSocket {
    sock: Arc<UdpSocket>,
    waiting: Arc<Waiters>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for PooledSocket {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A query's place among the waiters, given back however the query ends
/// (answer, deadline, or its future dropped when the scan is cancelled).
struct Registered<'a> {
    waiting: &'a Waiters,
    id: u16,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
    }
}

/// UDP sockets shared by every query to the configured name servers: a query
/// costs a send and a receive instead of a socket of its own (the 10k-name
/// benchmark ran at about half of dnsperf's rate with one socket per query).
/// Replies are matched to queries by id and must come from the server.
#[derive(Default)]
pub(crate) struct UdpPool {
    sockets: tokio::sync::Mutex<std::collections::HashMap<SocketAddr, Arc<Vec<PooledSocket>>>>,
    next: std::sync::atomic::AtomicUsize,
}

use std::sync::Arc;

impl UdpPool {
    async fn sockets_for(&self, server: SocketAddr) -> Result<Arc<Vec<PooledSocket>>, NetError> {
        let mut map = self.sockets.lock().await;
        if let Some(s) = map.get(&server) {
            return Ok(s.clone());
        }
        let bind: SocketAddr = match server.ip() {
            IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let mut list = Vec::with_capacity(POOL_SOCKETS);
        for _ in 0..POOL_SOCKETS {
            let sock = UdpSocket::bind(bind).await.map_err(io)?;
            let _ = socket2::SockRef::from(&sock).set_recv_buffer_size(1 << 20);
            let sock = Arc::new(sock);
            // connect(): the kernel drops datagrams from any other source.
            sock.connect(server).await.map_err(io)?;
            let waiting: Arc<Waiters> = Arc::default();
            let reader = tokio::spawn(read_loop(sock.clone(), waiting.clone()));
            list.push(PooledSocket { sock, waiting, reader });
        }
        let list = Arc::new(list);
        map.insert(server, list.clone());
        Ok(list)
    }

    /// Send `query` (whose first two bytes are its id; the id is changed if
    /// another query on the socket waits with it) and wait until `deadline`
    /// for a reply with its id that `accept` takes. Replies `accept` refuses
    /// (another question, garbage) are ignored.
    pub(crate) async fn exchange(
        &self,
        server: SocketAddr,
        query: &mut [u8],
        deadline: Instant,
        accept: Accept<'_>,
    ) -> Result<Vec<u8>, NetError> {
        let sockets =
            tokio::time::timeout_at(deadline, self.sockets_for(server)).await.unwrap_or(Err(NetError::Timeout))?;
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % sockets.len().max(1);
        let Some(ps) = sockets.get(i) else { return Err(NetError::Io("no socket".into())) };
        let Some(head) = query.get_mut(..2) else { return Err(NetError::Malformed("query too short".into())) };
        let (tx, mut rx) = tokio::sync::mpsc::channel(REPLIES_QUEUED);
        let id = {
            let mut waiting = ps.waiting.lock().unwrap_or_else(|p| p.into_inner());
            if waiting.len() >= 60_000 {
                return Err(NetError::Io("too many queries in flight".into()));
            }
            let mut id = u16::from_be_bytes([head[0], head[1]]);
            while waiting.contains_key(&id) {
                id = id.wrapping_add(1);
            }
            waiting.insert(id, tx);
            id
        };
        let _registered = Registered { waiting: &ps.waiting, id };
        head.copy_from_slice(&id.to_be_bytes());
        // Datagrams get lost: resend the same query (same id, still awaited) after
        // a short wait that doubles, as stub resolvers do, until the deadline.
        let total = deadline.saturating_duration_since(Instant::now());
        let mut wait = (total / 8).clamp(Duration::from_millis(50), Duration::from_millis(500));
        let mut resend = Instant::now();
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(NetError::Timeout);
            }
            if now >= resend {
                ps.sock.send(query).await.map_err(io)?;
                resend = now + wait;
                wait *= 2;
            }
            tokio::select! {
                reply = rx.recv() => match reply {
                    Some(bytes) if accept(&bytes) => return Ok(bytes),
                    Some(_) => {}
                    None => return Err(NetError::Io("name server socket closed".into())),
                },
                () = tokio::time::sleep_until(resend.min(deadline)) => {}
            }
        }
    }
}

async fn read_loop(sock: Arc<UdpSocket>, waiting: Arc<Waiters>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let n = match sock.recv(&mut buf).await {
            Ok(n) => n,
            // ICMP errors (port unreachable) surface here; keep serving the others.
            Err(_) => continue,
        };
        let Some(reply) = buf.get(..n) else { continue };
        if n < 12 {
            continue;
        }
        let id = u16::from_be_bytes([reply[0], reply[1]]);
        // A reply with an id nobody waits for is dropped.
        let waiter = waiting.lock().unwrap_or_else(|p| p.into_inner()).get(&id).cloned();
        if let Some(tx) = waiter {
            let _ = tx.try_send(reply.to_vec());
        }
    }
}

/// One DNS exchange over TCP with `server`, all of it (connect, query, reply)
/// before `deadline`. Messages `accept` refuses (another id or question) are
/// skipped; the exchange keeps reading until the deadline.
pub(crate) async fn tcp_exchange(
    server: SocketAddr,
    query: &[u8],
    deadline: Instant,
    accept: Accept<'_>,
) -> Result<Vec<u8>, NetError> {
    let exchange = async {
        let mut s = tcp_connect(server, deadline.saturating_duration_since(Instant::now())).await?;
        tcp_send_dns(&mut s, query).await?;
        loop {
            let reply = read_dns(&mut s).await?;
            if accept(&reply) {
                return Ok(reply);
            }
        }
    };
    tokio::time::timeout_at(deadline, exchange).await.unwrap_or(Err(NetError::Timeout))
}
