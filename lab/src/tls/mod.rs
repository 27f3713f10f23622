//! The lab's TLS endpoints: one listener per DNS name, each on its own
//! loopback address and a port from `bind(ip, 0)`.
//!
//! | name | address | server | what a scan finds |
//! |------|---------|--------|-------------------|
//! | `tls.hardened.test` | 127.77.2.40 | rustls, valid lab-CA leaf, a hardened web site | nothing |
//! | `secure.agency.test` | 127.77.1.48 | rustls, valid lab-CA leaf, a web site | `http.hsts-missing`, `http.cookie-insecure` |
//! | `docker.agency.test` | 127.77.1.51 | rustls, valid lab-CA leaf, a Docker API | `svc.docker-api` |
//! | `search.agency.test` | 127.77.1.52 | rustls, valid lab-CA leaf, Elasticsearch | `svc.elasticsearch-open` |
//! | `k8s.agency.test` | 127.77.1.53 | rustls, valid lab-CA leaf, a Kubernetes API | `svc.kubernetes-api` |
//! | `bucket.agency.test` | 127.77.1.54 | rustls, valid lab-CA leaf, an object store | `http.public-bucket-listing` |
//! | `expired.agency.test` | 127.77.1.41 | rustls, leaf valid now−100d .. now−10d | `tls.cert-expired` |
//! | `expiring.agency.test` | 127.77.1.42 | rustls, leaf valid now−30d .. now+10d | `tls.cert-expiring` |
//! | `selfsigned.agency.test` | 127.77.1.43 | rustls, self-signed leaf | `tls.cert-untrusted` |
//! | `wronghost.agency.test` | 127.77.1.44 | rustls, leaf for `other.example.test` only | `tls.cert-hostname-mismatch` |
//! | `weakkey.agency.test` | 127.77.1.45 | hand-written TLS 1.2, RSA-1024 leaf | `tls.weak-key` |
//! | `weaksig.agency.test` | 127.77.1.46 | rustls, leaf signed with ecdsa-with-SHA1 | `tls.weak-signature` |
//! | `tls10.agency.test` | 127.77.1.47 | hand-written TLS 1.0, 3DES/RSA suites, 1024-bit DH, RSA-2048 lab-CA leaf | `tls.legacy-protocol`, `tls.weak-cipher`, `tls.weak-dh` |
//!
//! Each listener accepts in a loop (at most 256 connections at once), counts
//! every accepted connection, and bounds the handshake and each idle read by
//! [`WAIT`].

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock;
use crate::faults::{self, Injector};
use crate::tcp::{self, PortClaim};
use crate::web::Site;

pub(crate) mod certs;
pub(crate) mod legacy;
pub(crate) mod rustls_server;

/// How long a TLS endpoint waits for a handshake, or for the client's next
/// bytes, before closing.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// Which certificate an endpoint serves.
#[derive(Debug, Clone, Copy)]
enum Cert {
    /// A fresh leaf from the lab CA for `sans`, valid from `from_days` to
    /// `to_days` relative to now.
    Lab { sans: &'static [&'static str], from_days: i64, to_days: i64 },
    /// As `Lab`, for the committed RSA-2048 key (`certs/tls10.key`).
    LabRsa { sans: &'static [&'static str], from_days: i64, to_days: i64 },
    /// A fresh self-signed leaf, validity as above.
    SelfSigned { sans: &'static [&'static str], from_days: i64, to_days: i64 },
    /// The committed leaf signed with ecdsa-with-SHA1.
    WeakSig,
    /// The committed RSA-1024 leaf.
    WeakKey,
}

/// Which server answers.
#[derive(Debug, Clone, Copy)]
enum Server {
    Rustls,
    /// rustls, then one HTTP request answered by a lab web site.
    Web(Site),
    Legacy(legacy::Kind),
}

/// One TLS endpoint, as data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    pub(crate) name: &'static str,
    pub(crate) ip: Ipv4Addr,
    cert: Cert,
    server: Server,
}

/// Every TLS endpoint of the lab. The zones (`zones.rs`) give each name its
/// address.
pub(crate) const ENDPOINTS: &[Spec] = &[
    Spec {
        name: "tls.hardened.test",
        ip: Ipv4Addr::new(127, 77, 2, 40),
        cert: Cert::Lab { sans: &["tls.hardened.test", "secure.hardened.test"], from_days: -1, to_days: 90 },
        server: Server::Web(Site::SecureHardened),
    },
    Spec {
        name: "secure.agency.test",
        ip: Ipv4Addr::new(127, 77, 1, 48),
        cert: Cert::Lab { sans: &["secure.agency.test"], from_days: -1, to_days: 90 },
        server: Server::Web(Site::SecureWeak),
    },
    Spec {
        name: "docker.agency.test",
        ip: Ipv4Addr::new(127, 77, 1, 51),
        cert: Cert::Lab { sans: &["docker.agency.test"], from_days: -1, to_days: 90 },
        server: Server::Web(Site::Docker),
    },
    Spec {
        name: "search.agency.test",
        ip: Ipv4Addr::new(127, 77, 1, 52),
        cert: Cert::Lab { sans: &["search.agency.test"], from_days: -1, to_days: 90 },
        server: Server::Web(Site::Search),
    },
    Spec {
        name: "k8s.agency.test",
        ip: Ipv4Addr::new(127, 77, 1, 53),
        cert: Cert::Lab { sans: &["k8s.agency.test"], from_days: -1, to_days: 90 },
        server: Server::Web(Site::Kube),
    },
    Spec {
        name: "bucket.agency.test",
        ip: Ipv4Addr::new(127, 77, 1, 54),
        cert: Cert::Lab { sans: &["bucket.agency.test"], from_days: -1, to_days: 90 },
        server: Server::Web(Site::Bucket),
    },
    Spec {
        name: "expired.agency.test",
        ip: Ipv4Addr::new(127, 77, 1, 41),
        cert: Cert::Lab { sans: &["expired.agency.test"], from_days: -100, to_days: -10 },
        server: Server::Rustls,
    },
    Spec {
        name: "expiring.agency.test",
        ip: Ipv4Addr::new(127, 77, 1, 42),
        cert: Cert::Lab { sans: &["expiring.agency.test"], from_days: -30, to_days: 10 },
        server: Server::Rustls,
    },
    Spec {
        name: "selfsigned.agency.test",
        ip: Ipv4Addr::new(127, 77, 1, 43),
        cert: Cert::SelfSigned { sans: &["selfsigned.agency.test"], from_days: -1, to_days: 90 },
        server: Server::Rustls,
    },
    Spec {
        name: "wronghost.agency.test",
        ip: Ipv4Addr::new(127, 77, 1, 44),
        cert: Cert::Lab { sans: &["other.example.test"], from_days: -1, to_days: 90 },
        server: Server::Rustls,
    },
    Spec {
        name: "weakkey.agency.test",
        ip: Ipv4Addr::new(127, 77, 1, 45),
        cert: Cert::WeakKey,
        server: Server::Legacy(legacy::Kind::WeakKey),
    },
    Spec {
        name: "weaksig.agency.test",
        ip: Ipv4Addr::new(127, 77, 1, 46),
        cert: Cert::WeakSig,
        server: Server::Rustls,
    },
    Spec {
        name: "tls10.agency.test",
        ip: Ipv4Addr::new(127, 77, 1, 47),
        cert: Cert::LabRsa { sans: &["tls10.agency.test"], from_days: -1, to_days: 90 },
        server: Server::Legacy(legacy::Kind::Tls10),
    },
    // The apex web sites (`http.security-txt-missing` on agency.test only).
    Spec {
        name: "hardened.test",
        ip: Ipv4Addr::new(127, 77, 2, 10),
        cert: Cert::Lab { sans: &["hardened.test"], from_days: -1, to_days: 90 },
        server: Server::Web(Site::HardenedApex),
    },
    Spec {
        name: "agency.test",
        ip: Ipv4Addr::new(127, 77, 1, 10),
        cert: Cert::Lab { sans: &["agency.test"], from_days: -1, to_days: 90 },
        server: Server::Web(Site::AgencyApex),
    },
];

/// What serves one endpoint's connections.
enum Handler {
    Rustls(TlsAcceptor),
    Web(TlsAcceptor, Site),
    Legacy(Arc<legacy::Responder>),
}

/// Builds the certificate and server of `spec`, at `now` (Unix seconds).
fn prepare(spec: &Spec, ca: &certs::LabCa, now: i64) -> io::Result<Handler> {
    let leaf = match spec.cert {
        Cert::Lab { sans, from_days, to_days } => {
            ca.issue(None, sans, certs::days_from(now, from_days), certs::days_from(now, to_days))?
        }
        Cert::LabRsa { sans, from_days, to_days } => {
            ca.issue(Some(certs::tls10_key()?), sans, certs::days_from(now, from_days), certs::days_from(now, to_days))?
        }
        Cert::SelfSigned { sans, from_days, to_days } => {
            certs::self_signed(sans, certs::days_from(now, from_days), certs::days_from(now, to_days))?
        }
        Cert::WeakSig => certs::weaksig()?,
        Cert::WeakKey => match spec.server {
            Server::Legacy(kind) => {
                return Ok(Handler::Legacy(Arc::new(legacy::Responder { kind, chain: certs::weakkey_chain()? })));
            }
            // ring cannot sign with an RSA-1024 key
            Server::Rustls | Server::Web(_) => return Err(io::Error::other("rustls cannot serve the RSA-1024 leaf")),
        },
    };
    Ok(match spec.server {
        Server::Rustls => Handler::Rustls(rustls_server::acceptor(leaf)?),
        Server::Web(site) => Handler::Web(rustls_server::acceptor(leaf)?, site),
        Server::Legacy(kind) => Handler::Legacy(Arc::new(legacy::Responder { kind, chain: leaf.chain })),
    })
}

/// Accepted connections, one counter per entry of [`ENDPOINTS`].
#[derive(Debug)]
pub(crate) struct Counters(Vec<AtomicU64>);

impl Default for Counters {
    fn default() -> Self {
        Counters(ENDPOINTS.iter().map(|_| AtomicU64::new(0)).collect())
    }
}

impl Counters {
    /// Connections accepted by the endpoint named `name` (0 if none is).
    pub(crate) fn get(&self, name: &str) -> u64 {
        ENDPOINTS
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(name))
            .and_then(|i| self.0.get(i))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// The bound, not yet serving, TLS endpoints.
#[derive(Debug)]
pub(crate) struct Bound {
    listeners: Vec<TcpListener>,
    /// (name, address:port), in the order of [`ENDPOINTS`].
    pub(crate) endpoints: Vec<(&'static str, SocketAddr)>,
}

/// Binds every TLS endpoint on its address, port 0, claiming the ports.
pub(crate) async fn bind_all(claim: &mut PortClaim) -> io::Result<Bound> {
    let mut listeners = Vec::with_capacity(ENDPOINTS.len());
    let mut endpoints = Vec::with_capacity(ENDPOINTS.len());
    for spec in ENDPOINTS {
        let (listener, port) = tcp::bind_one(spec.ip, claim).await?;
        listeners.push(listener);
        endpoints.push((spec.name, SocketAddr::from((spec.ip, port))));
    }
    Ok(Bound { listeners, endpoints })
}

/// A new certificate (and acceptor) for the rustls endpoint `name`, issued
/// now as [`ENDPOINTS`] says (`switches.rs`).
pub(crate) fn reissue(name: &str) -> io::Result<TlsAcceptor> {
    let spec = ENDPOINTS
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| io::Error::other(format!("{name}: no such lab endpoint")))?;
    if matches!(spec.cert, Cert::WeakSig | Cert::WeakKey) {
        return Err(io::Error::other(format!("{name}: serves a committed certificate, not swappable")));
    }
    match prepare(spec, &certs::LabCa::load()?, clock::now_unix())? {
        Handler::Rustls(a) | Handler::Web(a, _) => Ok(a),
        Handler::Legacy(_) => Err(io::Error::other(format!("{name}: a hand-written TLS server, not swappable"))),
    }
}

/// Issues every endpoint's certificate and starts serving. Fails (serving
/// nothing) if a certificate or server configuration cannot be built. Each
/// rustls endpoint's acceptor sits in a slot of `switches` (swappable).
pub(crate) fn spawn_all(
    bound: Bound,
    counters: &Arc<Counters>,
    faults: &Arc<Injector>,
    switches: &crate::switches::Switches,
    token: &CancellationToken,
    tracker: &TaskTracker,
) -> io::Result<()> {
    let ca = certs::LabCa::load()?;
    let now = clock::now_unix();
    let handlers = ENDPOINTS.iter().map(|spec| prepare(spec, &ca, now)).collect::<io::Result<Vec<_>>>()?;
    for (i, (listener, handler)) in bound.listeners.into_iter().zip(handlers).enumerate() {
        let counters = Arc::clone(counters);
        let faults = Arc::clone(faults);
        let name = ENDPOINTS.get(i).map_or("", |s| s.name);
        let key = format!("tls {name}");
        // decides, then applies, the fault of one connection
        let gate = move |stream, web: bool| {
            let fault = faults.decide(&key, if web { faults::WEB } else { faults::TCP });
            let faults = Arc::clone(&faults);
            async move { faults.before_serve(stream, fault).await }
        };
        let count = move || {
            if let Some(c) = counters.0.get(i) {
                c.fetch_add(1, Ordering::Relaxed);
            }
        };
        match handler {
            Handler::Rustls(acceptor) => {
                let slot = switches.cert_slot(name, acceptor);
                tracker.spawn(tcp::accept_loop(
                    listener,
                    count,
                    move |stream| {
                        let (gate, acceptor) = (gate(stream, false), crate::switches::current(&slot));
                        async move {
                            if let Some((stream, _)) = gate.await {
                                rustls_server::serve(stream, acceptor).await;
                            }
                        }
                    },
                    token.clone(),
                    tracker.clone(),
                ))
            }
            Handler::Web(acceptor, site) => {
                let slot = switches.cert_slot(name, acceptor);
                tracker.spawn(tcp::accept_loop(
                    listener,
                    count,
                    move |stream| {
                        let (gate, acceptor) = (gate(stream, true), crate::switches::current(&slot));
                        async move {
                            if let Some((stream, truncate)) = gate.await {
                                rustls_server::serve_web_faulty(stream, acceptor, site, truncate).await;
                            }
                        }
                    },
                    token.clone(),
                    tracker.clone(),
                ))
            }
            Handler::Legacy(responder) => tracker.spawn(tcp::accept_loop(
                listener,
                count,
                move |stream| {
                    let (gate, responder) = (gate(stream, false), Arc::clone(&responder));
                    async move {
                        if let Some((stream, _)) = gate.await {
                            legacy::serve(stream, responder).await;
                        }
                    }
                },
                token.clone(),
                tracker.clone(),
            )),
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_has_its_own_address_and_every_certificate_builds() {
        let mut ips: Vec<Ipv4Addr> = ENDPOINTS.iter().map(|s| s.ip).collect();
        ips.sort_unstable();
        ips.dedup();
        assert_eq!(ips.len(), ENDPOINTS.len());
        let ca = certs::LabCa::load().unwrap();
        for spec in ENDPOINTS {
            prepare(spec, &ca, clock::now_unix()).unwrap();
        }
    }
}
