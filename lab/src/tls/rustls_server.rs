//! The lab's rustls servers: TLS 1.2 and 1.3, rustls' default (strong)
//! cipher suites, the ring provider passed explicitly (never the process
//! default).

use std::io;
use std::sync::Arc;

use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use super::WAIT;
use super::certs::Leaf;

/// At most this many bytes of application data are read (and discarded).
const READ_CAP: usize = 64 * 1024;

/// An acceptor serving `leaf` with TLS 1.2 and 1.3.
pub(crate) fn acceptor(leaf: Leaf) -> io::Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(leaf.chain, leaf.key)
        .map_err(io::Error::other)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves one connection: the handshake (at most [`WAIT`]), then reads and
/// discards until EOF, an error, [`READ_CAP`] bytes or [`WAIT`] without
/// data, and closes with close_notify.
pub(crate) async fn serve(stream: TcpStream, acceptor: TlsAcceptor) {
    let mut tls = match timeout(WAIT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        _ => return,
    };
    let mut buf = [0u8; 4096];
    let mut total = 0usize;
    while total < READ_CAP {
        match timeout(WAIT, tls.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => total = total.saturating_add(n),
            _ => break,
        }
    }
    let _ = timeout(WAIT, tls.shutdown()).await;
}

/// Serves one connection: the handshake (at most [`WAIT`]), then one HTTP
/// request answered by `site`.
pub(crate) async fn serve_web(stream: TcpStream, acceptor: TlsAcceptor, site: crate::web::Site) {
    serve_web_faulty(stream, acceptor, site, false).await;
}

/// As [`serve_web`], with the body cut in half when `truncate` (`faults.rs`).
pub(crate) async fn serve_web_faulty(stream: TcpStream, acceptor: TlsAcceptor, site: crate::web::Site, truncate: bool) {
    if let Ok(Ok(tls)) = timeout(WAIT, acceptor.accept(stream)).await {
        crate::web::serve_faulty(tls, site, truncate).await;
    }
}
