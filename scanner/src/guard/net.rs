//! The only code in haetae that opens sockets. Private to the guard: callers
//! get here only through [`super::ScopeGuard`], after the scope checks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

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

pub(crate) async fn tcp_connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, NetError> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => Err(NetError::Timeout),
        Ok(Err(e)) => Err(io(e)),
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
    }
}

/// One UDP query/response exchange; replies from other addresses or with another
/// id are ignored until the deadline.
pub(crate) async fn udp_exchange(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    timeout: Duration,
) -> Result<Vec<u8>, NetError> {
    let bind: SocketAddr = match server.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let exchange = async {
        let sock = UdpSocket::bind(bind).await.map_err(io)?;
        sock.connect(server).await.map_err(io)?;
        sock.send(query).await.map_err(io)?;
        let mut buf = vec![0u8; 65535];
        loop {
            let n = sock.recv(&mut buf).await.map_err(io)?;
            if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                buf.truncate(n);
                return Ok(buf);
            }
        }
    };
    tokio::time::timeout(timeout, exchange).await.unwrap_or(Err(NetError::Timeout))
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
pub(crate) async fn tcp_recv_dns(stream: &mut TcpStream, timeout: Duration) -> Result<Vec<u8>, NetError> {
    let read = async {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.map_err(io)?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).await.map_err(io)?;
        Ok(buf)
    };
    tokio::time::timeout(timeout, read).await.unwrap_or(Err(NetError::Timeout))
}
