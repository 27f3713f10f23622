//! Switches of a running lab (`Lab::switch`, `Lab::swap_certificate`), on
//! loopback only: a planted weakness goes and comes back, a server falls
//! silent, a certificate changes while other endpoints keep theirs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use haetae_lab::{CA_PEM, Lab, Switch};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

/// A bound on how long an answer may take; never a wait for something to happen.
const BOUND: Duration = Duration::from_secs(5);

/// The weak Redis (`redis.agency.test`): the lab port that 127.77.1.60 accepts on.
async fn redis_addr(lab: &Lab) -> SocketAddr {
    for port in lab.ports() {
        let addr = SocketAddr::from((Ipv4Addr::new(127, 77, 1, 60), port));
        if TcpStream::connect(addr).await.is_ok() {
            return addr;
        }
    }
    panic!("no listener on 127.77.1.60");
}

/// `PING`, and the first reply line (empty when the server closed).
async fn ping(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"PING\r\n").await.unwrap();
    let mut buf = [0u8; 256];
    let n = timeout(BOUND, s.read(&mut buf)).await.expect("an answer within the bound").unwrap();
    String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn redis_auth_removes_the_weakness_and_restores_it() {
    let lab = Lab::start().await.unwrap();
    let addr = redis_addr(&lab).await;
    assert_eq!(ping(addr).await, "+PONG");
    lab.switch(Switch::RedisAuth, true);
    assert_eq!(ping(addr).await, "-NOAUTH Authentication required.");
    lab.switch(Switch::RedisAuth, false);
    assert_eq!(ping(addr).await, "+PONG");
    lab.shutdown().await;
}

#[tokio::test]
async fn redis_silent_accepts_and_never_answers() {
    let lab = Lab::start().await.unwrap();
    let addr = redis_addr(&lab).await;
    lab.switch(Switch::RedisSilent, true);
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"PING\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    // Silence for a second (the lab's quiet listener holds 5 s): no byte.
    assert!(timeout(Duration::from_secs(1), s.read(&mut buf)).await.is_err(), "the silent Redis answered");
    lab.switch(Switch::RedisSilent, false);
    assert_eq!(ping(addr).await, "+PONG");
    lab.shutdown().await;
}

/// The leaf certificate `name` serves now, verified against the lab CA.
async fn leaf(lab: &Lab, name: &str) -> CertificateDer<'static> {
    let addr = lab.tls_endpoints().into_iter().find(|(n, _)| *n == name).unwrap().1;
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(CA_PEM.as_bytes()).unwrap()).unwrap();
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let sni = ServerName::try_from(name.to_owned()).unwrap();
    let tls = timeout(BOUND, TlsConnector::from(Arc::new(config)).connect(sni, tcp)).await.unwrap().unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].clone().into_owned()
}

#[tokio::test]
async fn a_swapped_certificate_is_new_valid_and_only_on_its_endpoint() {
    let lab = Lab::start().await.unwrap();
    let before = leaf(&lab, "secure.agency.test").await;
    let other = leaf(&lab, "docker.agency.test").await;
    assert_eq!(leaf(&lab, "secure.agency.test").await, before, "unswapped, the same certificate every time");
    lab.swap_certificate("secure.agency.test").unwrap();
    let after = leaf(&lab, "secure.agency.test").await;
    assert_ne!(after, before, "a new leaf");
    assert_eq!(leaf(&lab, "docker.agency.test").await, other, "the other endpoints keep theirs");
    // The hand-written servers and unknown names say why not.
    let e = lab.swap_certificate("tls10.agency.test").unwrap_err();
    assert!(e.to_string().contains("tls10.agency.test"), "{e}");
    let e = lab.swap_certificate("weaksig.agency.test").unwrap_err();
    assert!(e.to_string().contains("committed"), "{e}");
    assert!(lab.swap_certificate("nope.agency.test").is_err());
    lab.shutdown().await;
}
