//! The lab's TLS endpoints, driven from outside through the public API, on
//! loopback only: rustls clients for the rustls servers, raw ClientHellos
//! for the hand-written responders.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use haetae_lab::{CA_PEM, Lab};
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, ProtocolVersion, RootCertStore, SupportedProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

/// A bound on how long an answer may take; never a wait for something to happen.
const BOUND: Duration = Duration::from_secs(5);

const WEAKKEY_PEM: &str = include_str!("../certs/weakkey.pem");

fn ca_der() -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(CA_PEM.as_bytes()).unwrap()
}

fn endpoint(lab: &Lab, name: &str) -> SocketAddr {
    lab.tls_endpoints().into_iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no endpoint {name}")).1
}

/// A client trusting only the lab CA, speaking only `versions`.
fn connector(versions: &[&'static SupportedProtocolVersion]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(ca_der()).unwrap();
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// A handshake with normal verification. On success: the version, the
/// server's chain; the client then writes, closes, and reads to the end.
async fn handshake(
    addr: SocketAddr,
    sni: &str,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<(ProtocolVersion, Vec<CertificateDer<'static>>), rustls::Error> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    match timeout(BOUND, connector(versions).connect(name, tcp)).await.expect("handshake bounded") {
        Ok(mut tls) => {
            let (_, conn) = tls.get_ref();
            let version = conn.protocol_version().unwrap();
            let chain = conn.peer_certificates().unwrap().iter().map(|c| c.clone().into_owned()).collect();
            tls.write_all(b"hello").await.unwrap();
            tls.shutdown().await.unwrap();
            let mut rest = Vec::new();
            timeout(BOUND, tls.read_to_end(&mut rest)).await.unwrap().unwrap();
            assert!(rest.is_empty());
            Ok((version, chain))
        }
        Err(e) => {
            let inner = e.into_inner().expect("a TLS error");
            Err(*inner.downcast::<rustls::Error>().expect("a rustls error"))
        }
    }
}

fn cert_error(r: Result<(ProtocolVersion, Vec<CertificateDer<'static>>), rustls::Error>) -> CertificateError {
    match r {
        Err(rustls::Error::InvalidCertificate(e)) => e,
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

#[tokio::test]
async fn endpoints_are_named_addressed_and_in_scope() {
    let lab = Lab::start().await.unwrap();
    let eps = lab.tls_endpoints();
    let expected = [
        ("tls.hardened.test", [127, 77, 2, 40]),
        ("secure.agency.test", [127, 77, 1, 48]),
        ("docker.agency.test", [127, 77, 1, 51]),
        ("search.agency.test", [127, 77, 1, 52]),
        ("k8s.agency.test", [127, 77, 1, 53]),
        ("bucket.agency.test", [127, 77, 1, 54]),
        ("expired.agency.test", [127, 77, 1, 41]),
        ("expiring.agency.test", [127, 77, 1, 42]),
        ("selfsigned.agency.test", [127, 77, 1, 43]),
        ("wronghost.agency.test", [127, 77, 1, 44]),
        ("weakkey.agency.test", [127, 77, 1, 45]),
        ("weaksig.agency.test", [127, 77, 1, 46]),
        ("tls10.agency.test", [127, 77, 1, 47]),
        ("hardened.test", [127, 77, 2, 10]),
        ("agency.test", [127, 77, 1, 10]),
    ];
    assert_eq!(eps.len(), expected.len());
    let ports = lab.ports();
    let scope = lab.scope_toml();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for ((name, addr), (want_name, want_ip)) in eps.iter().zip(expected) {
        assert_eq!(*name, want_name);
        assert_eq!(addr.ip(), Ipv4Addr::from(want_ip));
        assert!(ports.contains(&addr.port()), "{name}: port {} in scope", addr.port());
        assert!(scope.contains(&addr.port().to_string()));
        // the name resolves to the address
        let mut q = Message::query();
        q.add_query(Query::query(Name::from_ascii(format!("{name}.")).unwrap(), RecordType::A));
        sock.send_to(&q.to_vec().unwrap(), lab.dns_addr()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let (n, _) = timeout(BOUND, sock.recv_from(&mut buf)).await.unwrap().unwrap();
        let m = Message::from_vec(&buf[..n]).unwrap();
        let ips: Vec<Ipv4Addr> = m
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect();
        assert_eq!(ips, vec![Ipv4Addr::from(want_ip)], "{name}");
    }
    // every endpoint has its own port
    let mut own: Vec<u16> = eps.iter().map(|(_, a)| a.port()).collect();
    own.sort_unstable();
    own.dedup();
    assert_eq!(own.len(), eps.len());
    assert_eq!(lab.ca_pem(), CA_PEM);
    assert!(CA_PEM.starts_with("-----BEGIN CERTIFICATE-----"));
    lab.shutdown().await;
}

#[tokio::test]
async fn the_hardened_endpoint_handshakes_with_tls12_and_tls13() {
    let lab = Lab::start().await.unwrap();
    let addr = endpoint(&lab, "tls.hardened.test");
    assert_eq!(lab.tls_connections("tls.hardened.test"), 0);
    let (v, chain) = handshake(addr, "tls.hardened.test", &[&rustls::version::TLS13]).await.unwrap();
    assert_eq!(v, ProtocolVersion::TLSv1_3);
    assert_eq!(chain.len(), 2, "leaf and CA");
    assert_eq!(chain[1], ca_der());
    let (v, _) = handshake(addr, "tls.hardened.test", &[&rustls::version::TLS12]).await.unwrap();
    assert_eq!(v, ProtocolVersion::TLSv1_2);
    let (v, _) = handshake(addr, "tls.hardened.test", BOTH).await.unwrap();
    assert_eq!(v, ProtocolVersion::TLSv1_3);
    assert_eq!(lab.tls_connections("tls.hardened.test"), 3);
    assert_eq!(lab.tls_connections("TLS.Hardened.Test"), 3);
    assert_eq!(lab.tls_connections("expired.agency.test"), 0);
    assert_eq!(lab.tls_connections("www.agency.test"), 0);
    lab.shutdown().await;
}

#[tokio::test]
async fn certificate_problems_are_what_rustls_reports() {
    let lab = Lab::start().await.unwrap();

    let e = cert_error(handshake(endpoint(&lab, "expired.agency.test"), "expired.agency.test", BOTH).await);
    assert!(matches!(e, CertificateError::ExpiredContext { .. }), "{e:?}");
    assert!(format!("{e}").contains("expired"), "{e}");

    // expiring soon is still valid
    let (v, chain) = handshake(endpoint(&lab, "expiring.agency.test"), "expiring.agency.test", BOTH).await.unwrap();
    assert_eq!(v, ProtocolVersion::TLSv1_3);
    assert_eq!(chain.len(), 2);

    let e = cert_error(handshake(endpoint(&lab, "wronghost.agency.test"), "wronghost.agency.test", BOTH).await);
    assert!(matches!(e, CertificateError::NotValidForNameContext { .. }), "{e:?}");
    // ... and valid for the name it does carry
    handshake(endpoint(&lab, "wronghost.agency.test"), "other.example.test", BOTH).await.unwrap();

    let e = cert_error(handshake(endpoint(&lab, "selfsigned.agency.test"), "selfsigned.agency.test", BOTH).await);
    assert_eq!(e, CertificateError::UnknownIssuer);

    let e = cert_error(handshake(endpoint(&lab, "weaksig.agency.test"), "weaksig.agency.test", BOTH).await);
    assert!(matches!(e, CertificateError::UnsupportedSignatureAlgorithmContext { .. }), "{e:?}");

    for (name, n) in [
        ("expired.agency.test", 1),
        ("expiring.agency.test", 1),
        ("wronghost.agency.test", 2),
        ("selfsigned.agency.test", 1),
        ("weaksig.agency.test", 1),
    ] {
        assert_eq!(lab.tls_connections(name), n, "{name}");
    }
    lab.shutdown().await;
}

// ---- raw TLS for the hand-written responders ----

fn u16_len(n: usize) -> [u8; 2] {
    u16::try_from(n).unwrap().to_be_bytes()
}

fn extension(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&u16_len(data.len()));
    out.extend_from_slice(data);
}

/// A ClientHello record: `record_version`, `client_version`, `suites`, and
/// (unless SSLv3) SNI, renegotiation_info, supported groups, point formats
/// and signature algorithms.
fn client_hello(record_version: u16, client_version: u16, suites: &[u16], sni: &str) -> Vec<u8> {
    let mut body = client_version.to_be_bytes().to_vec();
    body.extend([0x11; 32]); // random
    body.push(0); // session_id
    body.extend_from_slice(&u16_len(suites.len() * 2));
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend([1, 0]); // null compression
    if client_version > 0x0300 {
        let mut ext = Vec::new();
        let mut name = vec![0u8];
        name.extend_from_slice(&u16_len(sni.len()));
        name.extend_from_slice(sni.as_bytes());
        let mut list = u16_len(name.len()).to_vec();
        list.extend(name);
        extension(&mut ext, 0x0000, &list);
        extension(&mut ext, 0xFF01, &[0]);
        extension(&mut ext, 0x000A, &[0, 4, 0, 0x17, 0, 0x18]);
        extension(&mut ext, 0x000B, &[1, 0]);
        extension(&mut ext, 0x000D, &[0, 4, 4, 1, 4, 3]);
        extension(&mut ext, 0x0017, &[]); // extended_master_secret
        body.extend_from_slice(&u16_len(ext.len()));
        body.extend(ext);
    }
    let mut hs = vec![1u8];
    hs.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
    hs.extend(body);
    let mut rec = vec![22u8];
    rec.extend_from_slice(&record_version.to_be_bytes());
    rec.extend_from_slice(&u16_len(hs.len()));
    rec.extend(hs);
    rec
}

/// Sends `bytes`, closes the write side, and reads the whole reply (the
/// server closes after our EOF).
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    s.shutdown().await.unwrap();
    let mut reply = Vec::new();
    timeout(BOUND, s.read_to_end(&mut reply)).await.expect("the server closes").unwrap();
    reply
}

/// The records of a reply, and the handshake messages and alerts in them.
#[derive(Debug, Default)]
struct Reply {
    record_versions: Vec<u16>,
    handshakes: Vec<(u8, Vec<u8>)>,
    alerts: Vec<(u8, u8)>,
}

fn parse_reply(mut bytes: &[u8]) -> Reply {
    let mut reply = Reply::default();
    let mut hs = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 5, "truncated record header");
        let len = usize::from(u16::from_be_bytes([bytes[3], bytes[4]]));
        let payload = &bytes[5..5 + len];
        reply.record_versions.push(u16::from_be_bytes([bytes[1], bytes[2]]));
        match bytes[0] {
            22 => hs.extend_from_slice(payload),
            21 => reply.alerts.push((payload[0], payload[1])),
            t => panic!("unexpected record type {t}"),
        }
        bytes = &bytes[5 + len..];
    }
    let mut rest = hs.as_slice();
    while !rest.is_empty() {
        let len = usize::from(rest[1]) << 16 | usize::from(rest[2]) << 8 | usize::from(rest[3]);
        reply.handshakes.push((rest[0], rest[4..4 + len].to_vec()));
        rest = &rest[4 + len..];
    }
    reply
}

impl Reply {
    fn types(&self) -> Vec<u8> {
        self.handshakes.iter().map(|(t, _)| *t).collect()
    }
    fn body(&self, kind: u8) -> &[u8] {
        &self.handshakes.iter().find(|(t, _)| *t == kind).unwrap_or_else(|| panic!("no message {kind}")).1
    }
    /// (server_version, cipher_suite) of the ServerHello.
    fn server_hello(&self) -> (u16, u16) {
        let b = self.body(2);
        let sid = usize::from(b[34]);
        (u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[35 + sid], b[36 + sid]]))
    }
    /// The certificates of the Certificate message, DER.
    fn certificates(&self) -> Vec<Vec<u8>> {
        let b = self.body(11);
        let total = usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]);
        assert_eq!(total + 3, b.len());
        let mut rest = &b[3..];
        let mut out = Vec::new();
        while !rest.is_empty() {
            let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
            out.push(rest[3..3 + len].to_vec());
            rest = &rest[3 + len..];
        }
        out
    }
}

/// (p, g, Ys) of a TLS 1.0 DHE ServerKeyExchange, checking that a bare
/// 2-byte-length signature (no hash/signature algorithm pair) ends it.
fn dh_params(ske: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut rest = ske;
    let mut next = || {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let v = rest[2..2 + len].to_vec();
        rest = &rest[2 + len..];
        v
    };
    let (p, g, ys, sig) = (next(), next(), next(), next());
    assert!(!sig.is_empty());
    assert!(rest.is_empty(), "nothing after the signature");
    (p, g, ys)
}

fn bits(n: &[u8]) -> usize {
    let first = n.iter().position(|&b| b != 0).unwrap();
    (n.len() - first) * 8 - n[first].leading_zeros() as usize
}

const SUITES: [u16; 3] = [0xC02F, 0x000A, 0x0016];

/// The DER of the rsaEncryption OID (1.2.840.113549.1.1.1).
const RSA_ENCRYPTION: &[u8] = &[0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn tls10_accepts_tls10_3des_and_a_1024_bit_dh_group() {
    let lab = Lab::start().await.unwrap();
    let addr = endpoint(&lab, "tls10.agency.test");

    // TLS 1.0 and TLS 1.2 clients both get TLS 1.0 and DHE-3DES
    for (record, client) in [(0x0301, 0x0301), (0x0301, 0x0303)] {
        let r = parse_reply(&exchange(addr, &client_hello(record, client, &SUITES, "tls10.agency.test")).await);
        assert!(r.alerts.is_empty(), "{r:?}");
        assert!(r.record_versions.iter().all(|&v| v == 0x0301));
        assert_eq!(r.types(), vec![2, 11, 12, 14], "ServerHello, Certificate, ServerKeyExchange, ServerHelloDone");
        assert_eq!(r.server_hello(), (0x0301, 0x0016));
        let certs = r.certificates();
        assert_eq!(certs.len(), 2);
        assert!(!certs[0].is_empty());
        assert_ne!(certs[0], ca_der().as_ref());
        assert!(contains(&certs[0], RSA_ENCRYPTION), "an RSA leaf, as the DHE_RSA/RSA suites need");
        assert!(contains(&certs[0], b"tls10.agency.test"));
        assert_eq!(certs[1], ca_der().as_ref());
        let (p, g, ys) = dh_params(r.body(12));
        assert_eq!(bits(&p), 1024);
        assert_eq!(p[..8], [0xFF; 8]);
        assert_eq!(g, vec![2]);
        assert_eq!(ys.len(), 128);
    }

    // static-RSA 3DES when DHE is not offered: no ServerKeyExchange
    let r = parse_reply(&exchange(addr, &client_hello(0x0301, 0x0303, &[0xC02F, 0x000A], "tls10.agency.test")).await);
    assert_eq!(r.server_hello(), (0x0301, 0x000A));
    assert_eq!(r.types(), vec![2, 11, 14]);

    // nothing it speaks: handshake_failure
    let r = parse_reply(&exchange(addr, &client_hello(0x0301, 0x0303, &[0xC02F], "tls10.agency.test")).await);
    assert!(r.handshakes.is_empty());
    assert_eq!(r.alerts, vec![(2, 40)]);

    // SSLv3: protocol_version
    let r = parse_reply(&exchange(addr, &client_hello(0x0300, 0x0300, &[0x000A, 0x0016], "")).await);
    assert!(r.handshakes.is_empty());
    assert_eq!(r.alerts, vec![(2, 70)]);
    assert_eq!(r.record_versions, vec![0x0300]);

    // a modern client (TLS 1.2/1.3 only, strong suites) cannot connect
    let e = handshake(addr, "tls10.agency.test", BOTH).await.unwrap_err();
    assert!(matches!(e, rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure)), "{e:?}");

    assert_eq!(lab.tls_connections("tls10.agency.test"), 6);
    lab.shutdown().await;
}

#[tokio::test]
async fn weakkey_serves_the_rsa_1024_certificate() {
    let lab = Lab::start().await.unwrap();
    let addr = endpoint(&lab, "weakkey.agency.test");
    let weakkey = CertificateDer::from_pem_slice(WEAKKEY_PEM.as_bytes()).unwrap();

    // Only the weak key is wrong here: weak suites are refused.
    for suites in [&[0x1301, 0x009C, 0x000A][..], &[0x000A][..]] {
        let r = parse_reply(&exchange(addr, &client_hello(0x0303, 0x0303, suites, "weakkey.agency.test")).await);
        assert_eq!(r.alerts, vec![(2, 40)], "{r:?}");
    }
    for (record, suites, chosen) in [(0x0301, &SUITES[..], 0xC02F), (0x0303, &[0x1301, 0xC030][..], 0xC030)] {
        let r = parse_reply(&exchange(addr, &client_hello(record, 0x0303, suites, "weakkey.agency.test")).await);
        assert!(r.alerts.is_empty(), "{r:?}");
        assert!(r.record_versions.iter().all(|&v| v == 0x0303));
        assert_eq!(r.types(), vec![2, 11, 14]);
        assert_eq!(r.server_hello(), (0x0303, chosen));
        let certs = r.certificates();
        assert_eq!(certs.len(), 2);
        assert!(!certs[0].is_empty());
        assert_eq!(certs[0], weakkey.as_ref(), "weakkey.pem first");
        assert_eq!(certs[1], ca_der().as_ref(), "then the CA");
    }
    // TLS 1.2 only: a TLS 1.0 client gets protocol_version
    let r = parse_reply(&exchange(addr, &client_hello(0x0301, 0x0301, &SUITES, "weakkey.agency.test")).await);
    assert_eq!(r.alerts, vec![(2, 70)]);
    // only TLS 1.3 suites: handshake_failure
    let r = parse_reply(&exchange(addr, &client_hello(0x0301, 0x0303, &[0x1301, 0x1302], "weakkey.agency.test")).await);
    assert_eq!(r.alerts, vec![(2, 40)]);
    assert_eq!(lab.tls_connections("weakkey.agency.test"), 6);
    lab.shutdown().await;
}

/// xorshift64: deterministic noise without a dependency.
struct Noise(u64);
impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Garbage gets no answer and a closed connection; the endpoint still serves.
async fn garbage_then_hello(lab: &Lab, name: &str, valid: &[u8]) {
    let addr = endpoint(lab, name);
    let mut noise = Noise(0x2545_F491_4F6C_DD1D);
    let good = client_hello(0x0301, 0x0303, &SUITES, name);
    let mut inputs: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        vec![0x80, 0x2E, 0x01, 0x03, 0x01, 0x00, 0x15], // SSLv2-style hello
        vec![22, 3, 1, 0x40, 0x00, 1, 2, 3],            // a record longer than what follows
        vec![22, 3, 1, 0, 4, 1, 0x00, 0x40, 0x01],      // a hello longer than 16 KiB
        vec![22, 3, 1, 0, 5, 2, 0, 0, 1, 0],            // not a ClientHello
        vec![21, 3, 1, 0, 2, 2, 40],                    // an alert
        good[..good.len() / 2].to_vec(),                // half a hello
    ];
    for _ in 0..8 {
        let len = (noise.next() % 2000) as usize + 1;
        inputs.push(noise.bytes(len));
    }
    for input in &inputs {
        let reply = exchange(addr, input).await;
        assert!(reply.is_empty(), "{name}: no answer to {:02x?}", &input[..input.len().min(16)]);
    }
    // a connection that sends nothing is closed when we close
    let reply = exchange(addr, &[]).await;
    assert!(reply.is_empty());
    // still serving
    let r = parse_reply(&exchange(addr, valid).await);
    assert!(!r.handshakes.is_empty(), "{name} still answers");
    assert_eq!(lab.tls_connections(name), inputs.len() as u64 + 2);
}

#[tokio::test]
async fn garbage_does_not_kill_the_tls10_responder() {
    let lab = Lab::start().await.unwrap();
    garbage_then_hello(&lab, "tls10.agency.test", &client_hello(0x0301, 0x0301, &SUITES, "tls10.agency.test")).await;
    lab.shutdown().await;
}

#[tokio::test]
async fn garbage_does_not_kill_the_weakkey_responder() {
    let lab = Lab::start().await.unwrap();
    garbage_then_hello(&lab, "weakkey.agency.test", &client_hello(0x0301, 0x0303, &SUITES, "weakkey.agency.test"))
        .await;
    lab.shutdown().await;
}

#[tokio::test]
async fn garbage_does_not_kill_a_rustls_endpoint() {
    let lab = Lab::start().await.unwrap();
    let addr = endpoint(&lab, "tls.hardened.test");
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    for i in 0..10 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let len = (noise.next() % 1500) as usize + 1;
        let mut junk = noise.bytes(len);
        if i % 2 == 0 {
            junk[0] = 22; // looks like a handshake record
        }
        let _ = s.write_all(&junk).await;
        let _ = s.shutdown().await;
        let mut reply = Vec::new();
        // rustls may answer with an alert, or the connection may be reset: either way it ends
        let _ = timeout(BOUND, s.read_to_end(&mut reply)).await.expect("the server closes");
    }
    handshake(addr, "tls.hardened.test", BOTH).await.unwrap();
    lab.shutdown().await;
}

#[tokio::test]
async fn dropping_the_lab_frees_the_tls_ports() {
    let lab = Lab::start().await.unwrap();
    let eps = lab.tls_endpoints();
    // a connection held open at drop time does not keep anything alive
    let mut held = TcpStream::connect(endpoint(&lab, "tls10.agency.test")).await.unwrap();
    let stopped = lab.stopped();
    drop(lab);
    timeout(BOUND, stopped).await.expect("every lab task stops");
    let mut rest = Vec::new();
    let _ = timeout(BOUND, held.read_to_end(&mut rest)).await.expect("closed");
    for (name, addr) in eps {
        TcpListener::bind(addr).await.unwrap_or_else(|e| panic!("{name} {addr} free: {e}"));
    }
}
