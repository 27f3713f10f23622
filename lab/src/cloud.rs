//! A cloud the scope does not name (`unknown-cloud.test`, outside `domains`,
//! on addresses inside `cidrs`): the usual shape of a system moved to a
//! provider, reached from the agency's own names by CNAME.
//!
//! | address | answers | reached from |
//! |---------|---------|--------------|
//! | 127.77.3.20 | a documents site over plain HTTP, hardened headers (`http.no-https-redirect`) | `docs.agency.test` |
//! | 127.77.3.21 | an S3-style object store: the bucket named by the Host is gone (`404 NoSuchBucket`, `dns.takeover` by fingerprint) | `assets.agency.test` |
//! | 127.77.3.22 | the same store, where the bucket named by the Host exists (private: `403 AccessDenied`) | `files.hardened.test` |
//!
//! The scanner may probe these addresses only as the in-scope names (Host and
//! SNI); the `unknown-cloud.test` names are never targets of their own. These
//! servers never fault.

use std::io;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::provider::{ObjectStore, serve_object_store};
use crate::tcp::{self, PortClaim};

/// The documents site behind `docs.agency.test`.
pub(crate) const DOCS_IP: Ipv4Addr = Ipv4Addr::new(127, 77, 3, 20);
/// The store whose bucket behind `assets.agency.test` is gone.
pub(crate) const GONE_BUCKET_IP: Ipv4Addr = Ipv4Addr::new(127, 77, 3, 21);
/// The store whose bucket behind `files.hardened.test` exists.
pub(crate) const LIVE_BUCKET_IP: Ipv4Addr = Ipv4Addr::new(127, 77, 3, 22);

/// The cloud's endpoint: its buckets are `{bucket}.unknown-cloud.test`, or
/// the custom domain given as Host.
const ENDPOINT: &str = "unknown-cloud.test";
/// How long the site waits to write its answer.
const WAIT: Duration = Duration::from_secs(5);

/// The docs page: every header a hardened site sends, but over plain HTTP
/// with no redirect to HTTPS.
const DOCS_HEADERS: &str = "Server: nginx\r\nContent-Security-Policy: default-src 'self'; frame-ancestors 'none'\r\n\
X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\nContent-Type: text/html; charset=utf-8\r\n";
const DOCS_PAGE: &str = "<html><head><title>Agency documents</title></head><body>Documents</body></html>";

/// The bound listeners.
pub(crate) struct Bound {
    docs: TcpListener,
    gone: TcpListener,
    live: TcpListener,
    /// Their ports (the one asked for, when it was free on all three addresses).
    pub(crate) ports: Vec<u16>,
}

/// Bind the three listeners on `port` (a port this lab holds already, so the
/// scope's port list does not grow), or on other free ports if it is taken there.
pub(crate) async fn bind(port: u16, claim: &mut PortClaim) -> io::Result<Bound> {
    let mut ports = vec![port];
    let docs = same_port(DOCS_IP, port, claim, &mut ports).await?;
    let gone = same_port(GONE_BUCKET_IP, port, claim, &mut ports).await?;
    let live = same_port(LIVE_BUCKET_IP, port, claim, &mut ports).await?;
    Ok(Bound { docs, gone, live, ports })
}

/// A listener on `ip`:`port` (already claimed), else on another free port.
async fn same_port(ip: Ipv4Addr, port: u16, claim: &mut PortClaim, ports: &mut Vec<u16>) -> io::Result<TcpListener> {
    if let Ok(l) = TcpListener::bind((ip, port)).await {
        return Ok(l);
    }
    let (l, p) = tcp::bind_one(ip, claim).await?;
    ports.push(p);
    Ok(l)
}

/// Serve until `token` is cancelled.
pub(crate) fn spawn(bound: Bound, token: &CancellationToken, tracker: &TaskTracker) {
    let store = ObjectStore::new(ENDPOINT, &["files.hardened.test"]);
    tracker.spawn(serve_object_store(bound.gone, Arc::clone(&store), token.clone(), tracker.clone()));
    tracker.spawn(serve_object_store(bound.live, store, token.clone(), tracker.clone()));
    tracker.spawn(tcp::accept_loop(bound.docs, || {}, serve_docs, token.clone(), tracker.clone()));
}

async fn serve_docs(mut stream: TcpStream) {
    let Some(head) = crate::web::read_head(&mut stream).await else { return };
    let text = String::from_utf8_lossy(&head);
    let path = text.split(' ').nth(1).unwrap_or("/");
    let reply = if path == "/" {
        format!(
            "HTTP/1.1 200 OK\r\n{DOCS_HEADERS}Content-Length: {}\r\nConnection: close\r\n\r\n{DOCS_PAGE}",
            DOCS_PAGE.len()
        )
    } else {
        "HTTP/1.1 404 Not Found\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nNot Found"
            .to_owned()
    };
    let _ = tokio::time::timeout(WAIT, stream.write_all(reply.as_bytes())).await;
    let _ = stream.shutdown().await;
}
