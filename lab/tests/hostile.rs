//! The hostile lab, driven from outside: each endpoint misbehaves as
//! designed. Loopback only; every wait is a timeout on a read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haetae_lab::hostile::{self, HostileLab, HostileOptions, Kind};
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

/// A bound on how long something the lab sends may take to arrive.
const BOUND: Duration = Duration::from_secs(10);
/// How long a read waits to show that nothing more comes.
const QUIET: Duration = Duration::from_millis(300);
const DRIP: Duration = Duration::from_millis(40);
const AXFR: Duration = Duration::from_millis(150);

async fn lab() -> HostileLab {
    HostileLab::start(HostileOptions { silent_ports: 3, axfr_interval: AXFR, drip_interval: DRIP, timeout_ms: 500 })
        .await
        .unwrap()
}

fn addr(lab: &HostileLab, kind: Kind) -> SocketAddr {
    let e = lab.endpoint(kind).unwrap();
    SocketAddr::new(e.addr, e.port)
}

async fn get(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
    s
}

/// Reads until `\r\n\r\n`; the head and whatever of the body came with it.
async fn head(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = timeout(BOUND, s.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "closed before the end of the head: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = got.split_off(at + 4);
            return (String::from_utf8(got).unwrap(), rest);
        }
    }
}

/// Bytes read within `QUIET` (0 if the peer stays silent; `None` if it closed).
async fn quiet_read(s: &mut TcpStream) -> Option<usize> {
    let mut buf = [0u8; 1024];
    match timeout(QUIET, s.read(&mut buf)).await {
        Err(_) => Some(0),
        Ok(Ok(0)) | Ok(Err(_)) => None,
        Ok(Ok(n)) => Some(n),
    }
}

/// Reads at least `want` bytes within [`BOUND`]; returns the count read.
async fn read_at_least(s: &mut TcpStream, mut have: usize, want: usize) -> usize {
    let mut buf = vec![0u8; 64 * 1024];
    timeout(BOUND, async {
        while have < want {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed after {have} bytes");
            have += n;
        }
    })
    .await
    .expect("enough bytes within the bound");
    have
}

#[tokio::test]
async fn endpoints_have_stable_unique_names_and_the_scope_lists_them() {
    let lab = lab().await;
    let names: HashSet<&str> = lab.endpoints().iter().chain(lab.twins()).map(|e| e.name.as_str()).collect();
    assert_eq!(names.len(), lab.endpoints().len() + lab.twins().len());
    assert!(names.contains("http-slow-head") && names.contains("silent-port-2") && names.contains("twin-https"));
    assert_eq!(lab.endpoints().iter().filter(|e| e.kind == Kind::SilentPort).count(), 3);
    let scope = lab.scope_toml();
    assert!(scope.contains("cidrs = [\"127.78.0.0/20\"]"));
    assert!(scope.contains("timeout_ms = 500"));
    for e in lab.endpoints().iter().chain(lab.twins()) {
        assert!(e.addr.to_string().starts_with("127.78."), "{e:?}");
        assert!(scope.contains(&format!("\"{}\"", e.host)), "{} is a seed", e.host);
        if e.addr != lab.dns_addr().ip() {
            assert!(lab.ports().contains(&e.port));
        }
    }
    assert!(!lab.tripwire_addr().ip().to_string().starts_with("127.78."));
    assert!(!lab.ports().contains(&lab.tripwire_addr().port()));
    assert!(lab.haetae_toml().contains(&lab.dns_addr().to_string()));

    // one case at a time, with the twins
    let one = lab.scope_toml_for(&[Kind::LyingLength]);
    let seeds = one.lines().find(|l| l.starts_with("seeds = ")).unwrap();
    assert_eq!(seeds, "seeds = [\"lying-length.hostile.test\", \"twin.hostile.test\", \"www.hostile.test\"]");
    let ports = one.lines().find(|l| l.starts_with("ports = ")).unwrap();
    let mut want = [lab.http_port(), lab.twins()[0].port, lab.twins()[1].port];
    want.sort_unstable();
    assert_eq!(ports, format!("ports = [{}]", want.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")));
    assert!(!one.contains("slow-head"));
    let axfr = lab.scope_toml_for(&[Kind::DnsSlowAxfr]);
    assert!(axfr.contains("seeds = [\"slow-axfr.test\", \"twin.hostile.test\""), "{axfr}");
    assert!(
        axfr.contains("domains = [\"hostile.test\", \"silent-nx.test\", \"slow-axfr.test\", \"endless-axfr.test\"]")
    );
}

#[tokio::test]
async fn the_default_lab_has_a_thousand_silent_ports() {
    let opts = HostileOptions::default();
    assert_eq!(
        (opts.silent_ports, opts.axfr_interval, opts.drip_interval),
        (1000, Duration::from_millis(1500), Duration::from_millis(500))
    );
    let lab = HostileLab::start(opts).await.unwrap();
    let silent: Vec<_> = lab.endpoints().iter().filter(|e| e.kind == Kind::SilentPort).collect();
    assert_eq!(silent.len(), 1000);
    assert_eq!(silent.iter().map(|e| e.port).collect::<HashSet<_>>().len(), 1000);
    let last = silent[999];
    let mut s = TcpStream::connect((last.addr, last.port)).await.unwrap();
    assert_eq!(quiet_read(&mut s).await, Some(0));
    lab.shutdown().await;
}

#[tokio::test]
async fn slow_head_drips_one_byte_at_a_time() {
    let lab = lab().await;
    let mut s = get(addr(&lab, Kind::SlowHead), "/").await;
    let mut first = [0u8; 1];
    timeout(BOUND, s.read_exact(&mut first)).await.unwrap().unwrap();
    assert_eq!(first[0], b'H');
    let mut rest = vec![0u8; hostile::SLOW_HEAD.len() - 1];
    // the whole head takes len x DRIP (3 s); it has not come within QUIET
    assert!(timeout(QUIET, s.read_exact(&mut rest)).await.is_err());
}

#[tokio::test]
async fn endless_bodies_yield_more_than_a_megabyte() {
    let lab = lab().await;
    let mut s = get(addr(&lab, Kind::EndlessBody), "/").await;
    let (h, body) = head(&mut s).await;
    assert!(h.starts_with("HTTP/1.1 200"));
    assert!(!h.to_ascii_lowercase().contains("content-length") && !h.to_ascii_lowercase().contains("chunked"));
    read_at_least(&mut s, body.len(), 2 << 20).await;

    let mut s = get(addr(&lab, Kind::EndlessChunked), "/").await;
    let (h, body) = head(&mut s).await;
    assert!(h.contains("Transfer-Encoding: chunked"));
    assert!(body.is_empty() || body.starts_with(b"4000\r\n"));
    read_at_least(&mut s, body.len(), 2 << 20).await;
}

#[tokio::test]
async fn chunk_size_past_u64() {
    let lab = lab().await;
    let mut s = get(addr(&lab, Kind::ChunkSizeOverflow), "/").await;
    let (h, mut body) = head(&mut s).await;
    assert!(h.contains("Transfer-Encoding: chunked"));
    let mut buf = [0u8; 64];
    while body.len() < 20 {
        let n = timeout(BOUND, s.read(&mut buf)).await.unwrap().unwrap();
        body.extend_from_slice(&buf[..n]);
    }
    assert!(body.starts_with(b"ffffffffffffffffff\r\n"));
    assert!(u64::from_str_radix("ffffffffffffffffff", 16).is_err());
}

#[tokio::test]
async fn ten_megabytes_of_headers() {
    let lab = lab().await;
    let mut s = get(addr(&lab, Kind::HugeHeaders), "/").await;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    let mut tail: Vec<u8> = Vec::new();
    let end = timeout(BOUND, async {
        loop {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0);
            tail.extend_from_slice(&buf[..n]);
            if let Some(at) = tail.windows(4).position(|w| w == b"\r\n\r\n") {
                return total + at;
            }
            total += tail.len().saturating_sub(3);
            tail.drain(..tail.len().saturating_sub(3));
        }
    })
    .await
    .unwrap();
    assert!(end > hostile::HUGE_HEADERS, "{end}");
}

#[tokio::test]
async fn lying_length_sends_ten_bytes_and_hangs() {
    let lab = lab().await;
    let mut s = get(addr(&lab, Kind::LyingLength), "/").await;
    let (h, mut body) = head(&mut s).await;
    assert!(h.contains(&format!("Content-Length: {}", hostile::LYING_LENGTH)));
    while body.len() < hostile::LYING_BODY.len() {
        let mut buf = [0u8; 64];
        let n = timeout(BOUND, s.read(&mut buf)).await.unwrap().unwrap();
        body.extend_from_slice(&buf[..n]);
    }
    assert_eq!(body, hostile::LYING_BODY);
    assert_eq!(quiet_read(&mut s).await, Some(0), "hangs, open and silent");
}

#[tokio::test]
async fn one_byte_chunks_trickle_a_valid_body() {
    let lab = lab().await;
    let start = Instant::now();
    let mut s = get(addr(&lab, Kind::TrickleChunks), "/").await;
    let (h, mut rest) = head(&mut s).await;
    assert!(h.contains("Transfer-Encoding: chunked"));
    timeout(BOUND, async {
        while !rest.ends_with(b"0\r\n\r\n") {
            let mut buf = [0u8; 256];
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0);
            rest.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap();
    let body = String::from_utf8(rest).unwrap();
    assert_eq!(body.matches("1\r\nx\r\n").count(), hostile::TRICKLE_BYTES);
    // one chunk per DRIP: the whole body cannot come sooner
    assert!(start.elapsed() >= DRIP * (hostile::TRICKLE_BYTES as u32 - 1));
}

#[tokio::test]
async fn redirects_loop_and_leave_the_scope() {
    let lab = lab().await;
    let location = |h: &str| h.lines().find_map(|l| l.strip_prefix("Location: ")).unwrap().to_owned();
    let (h, _) = head(&mut get(addr(&lab, Kind::RedirectLoop), "/a").await).await;
    assert!(h.starts_with("HTTP/1.1 302"));
    assert_eq!(location(&h), "/b");
    let (h, _) = head(&mut get(addr(&lab, Kind::RedirectLoop), "/b").await).await;
    assert_eq!(location(&h), "/a");

    let (h, _) = head(&mut get(addr(&lab, Kind::RedirectOutOfScope), "/").await).await;
    assert_eq!(location(&h), format!("http://{}/", lab.tripwire_addr()));
    assert_eq!(lab.out_of_scope_contacts(), 0);
    // following it is what the tripwire counts
    let _s = TcpStream::connect(lab.tripwire_addr()).await.unwrap();
    timeout(BOUND, async {
        while lab.out_of_scope_contacts() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn retry_after_on_every_request_and_root_only() {
    let lab = lab().await;
    for path in ["/", "/x"] {
        let mut s = get(addr(&lab, Kind::RetryAfter), path).await;
        let (h, _) = head(&mut s).await;
        assert!(h.starts_with("HTTP/1.1 503"), "{h}");
        assert!(h.contains("Retry-After: 5\r\n"));
        // a complete answer, then the server closes
        let mut rest = Vec::new();
        timeout(BOUND, s.read_to_end(&mut rest)).await.unwrap().unwrap();
    }
    let (h, body) = head(&mut get(addr(&lab, Kind::RootOnly), "/").await).await;
    assert!(h.starts_with("HTTP/1.1 200"));
    assert!(h.contains("Content-Length: ") && !h.contains("Content-Length: 0\r\n"), "{h}{body:?}");
    let mut s = get(addr(&lab, Kind::RootOnly), "/.git/HEAD").await;
    assert_eq!(quiet_read(&mut s).await, Some(0), "silent on every other path");
}

/// A real ClientHello (rustls, TLS 1.2 and 1.3) for `sni`.
fn client_hello(sni: &str) -> Vec<u8> {
    let config = client_config();
    let mut conn = rustls::ClientConnection::new(config, ServerName::try_from(sni.to_owned()).unwrap()).unwrap();
    let mut out = Vec::new();
    conn.write_tls(&mut out).unwrap();
    out
}

fn client_config() -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(haetae_lab::CA_PEM.as_bytes()).unwrap()).unwrap();
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

async fn hello(lab: &HostileLab, kind: Kind) -> TcpStream {
    let e = lab.endpoint(kind).unwrap();
    let mut s = TcpStream::connect((e.addr, e.port)).await.unwrap();
    s.write_all(&client_hello(&e.host)).await.unwrap();
    s
}

#[tokio::test]
async fn tls_garbage_and_silence() {
    let lab = lab().await;
    let mut s = hello(&lab, Kind::TlsGarbage).await;
    let mut got = Vec::new();
    timeout(BOUND, s.read_to_end(&mut got)).await.unwrap().unwrap();
    assert_eq!(got.len(), hostile::GARBAGE);
    assert!(!matches!(got[0], 20..=24), "not a TLS content type");

    let mut s = hello(&lab, Kind::TlsSilent).await;
    assert_eq!(quiet_read(&mut s).await, Some(0));
    // no ClientHello, no garbage either: the server waits for one
    let e = lab.endpoint(Kind::TlsGarbage).unwrap();
    let mut s = TcpStream::connect((e.addr, e.port)).await.unwrap();
    assert_eq!(quiet_read(&mut s).await, Some(0));
}

#[tokio::test]
async fn tls_record_promises_16k_and_stalls() {
    let lab = lab().await;
    let mut s = hello(&lab, Kind::TlsStalledRecord).await;
    let mut header = [0u8; 5];
    timeout(BOUND, s.read_exact(&mut header)).await.unwrap().unwrap();
    assert_eq!(header, [0x16, 0x03, 0x03, 0x40, 0x00]);
    let mut six = [0u8; 6];
    timeout(BOUND, s.read_exact(&mut six)).await.unwrap().unwrap();
    assert_eq!(six[0], 0x02, "a ServerHello begins");
    assert_eq!(quiet_read(&mut s).await, Some(0), "and the rest never comes");
}

#[tokio::test]
async fn tls_certificate_message_of_ten_megabytes() {
    let lab = lab().await;
    let mut s = hello(&lab, Kind::TlsHugeChain).await;
    let mut handshake = Vec::new();
    let mut records = 0usize;
    let mut total = 0usize;
    timeout(BOUND, async {
        // ServerHello record, then Certificate records of 16 KiB
        while total < hostile::HUGE_CHAIN + 4 + 70 {
            let mut header = [0u8; 5];
            s.read_exact(&mut header).await.unwrap();
            assert_eq!(&header[..3], &[0x16, 0x03, 0x03]);
            let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
            assert!(len <= 16 * 1024);
            let mut frag = vec![0u8; len];
            s.read_exact(&mut frag).await.unwrap();
            if handshake.len() < 200 {
                handshake.extend_from_slice(&frag[..len.min(200)]);
            }
            total += len;
            records += 1;
        }
    })
    .await
    .unwrap();
    assert_eq!(handshake[0], 0x02, "ServerHello first");
    let sh_len = 4 + usize::from(handshake[3]);
    let cert = &handshake[sh_len..];
    assert_eq!(cert[0], 0x0B, "then a Certificate message");
    let msg_len = usize::from(cert[1]) << 16 | usize::from(cert[2]) << 8 | usize::from(cert[3]);
    assert!(msg_len >= hostile::HUGE_CHAIN - 4, "{msg_len}");
    // certificate_list (3 bytes), then the first certificate's length and its DER SEQUENCE
    let first_len = usize::from(cert[7]) << 16 | usize::from(cert[8]) << 8 | usize::from(cert[9]);
    assert!((200..2000).contains(&first_len), "{first_len}");
    assert_eq!(cert[10], 0x30, "a DER certificate");
    assert!(records > 600);
    assert_eq!(quiet_read(&mut s).await, Some(0), "then silence");
}

#[tokio::test]
async fn the_banner_never_ends_and_is_rate_bounded() {
    let lab = lab().await;
    let start = Instant::now();
    let mut s = TcpStream::connect(addr(&lab, Kind::EndlessBanner)).await.unwrap();
    let mut buf = vec![0u8; 2 * hostile::BANNER_RATE];
    timeout(BOUND, s.read_exact(&mut buf)).await.unwrap().unwrap();
    assert!(buf.starts_with(b"SSH-2.0-"));
    assert!(!buf.contains(&b'\n') && !buf.contains(&b'\r'));
    // two seconds' worth cannot come in much less than a second
    assert!(start.elapsed() >= Duration::from_secs(1), "{:?}", start.elapsed());
}

#[tokio::test]
async fn silent_ports_accept_and_never_speak() {
    let lab = lab().await;
    for e in lab.endpoints().iter().filter(|e| e.kind == Kind::SilentPort) {
        let mut s = TcpStream::connect((e.addr, e.port)).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\n\r\nhello\r\n").await.unwrap();
        assert_eq!(quiet_read(&mut s).await, Some(0), "{}", e.name);
    }
}

#[tokio::test]
async fn twins_behave() {
    let lab = lab().await;
    let twin = &lab.twins()[0];
    assert_eq!(twin.kind, Kind::TwinHttps);
    let tcp = TcpStream::connect((twin.addr, twin.port)).await.unwrap();
    let name = ServerName::try_from(twin.host.clone()).unwrap();
    let mut tls = timeout(BOUND, TlsConnector::from(client_config()).connect(name, tcp)).await.unwrap().unwrap();
    tls.write_all(b"GET / HTTP/1.1\r\nHost: twin.hostile.test\r\n\r\n").await.unwrap();
    let mut out = String::new();
    timeout(BOUND, tls.read_to_string(&mut out)).await.unwrap().unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("Strict-Transport-Security"));

    let plain = &lab.twins()[1];
    let mut s = get(SocketAddr::new(plain.addr, plain.port), "/x").await;
    let (h, _) = head(&mut s).await;
    assert!(h.starts_with("HTTP/1.1 301"));
    assert!(h.contains("Location: https://twin.hostile.test/x\r\n"));
}

#[tokio::test]
async fn shutdown_closes_every_listener() {
    let lab = lab().await;
    let targets: Vec<SocketAddr> =
        lab.endpoints().iter().chain(lab.twins()).map(|e| SocketAddr::new(e.addr, e.port)).collect();
    // a connection held open by a hostile server does not hold up shutdown
    let _held = hello(&lab, Kind::TlsSilent).await;
    let stopped = lab.stopped();
    timeout(BOUND, lab.shutdown()).await.unwrap();
    timeout(BOUND, stopped).await.unwrap();
    for t in targets {
        assert!(TcpStream::connect(t).await.is_err(), "{t} still accepts");
    }
}

// ---- DNS ----

fn query(name: &str, qtype: RecordType) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    m
}

/// The raw UDP answer, or `None` when none comes within `wait`.
async fn udp_within(server: SocketAddr, q: &Message, wait: Duration) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&q.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    let (n, _) = timeout(wait, sock.recv_from(&mut buf)).await.ok()?.unwrap();
    buf.truncate(n);
    Some(buf)
}

/// The raw UDP answer, within [`BOUND`].
async fn udp_raw(server: SocketAddr, q: &Message) -> Option<Vec<u8>> {
    udp_within(server, q, BOUND).await
}

async fn udp(server: SocketAddr, q: &Message) -> Message {
    Message::from_vec(&udp_raw(server, q).await.expect("an answer")).unwrap()
}

async fn tcp_query(server: SocketAddr, q: &Message) -> TcpStream {
    let mut s = TcpStream::connect(server).await.unwrap();
    let bytes = q.to_vec().unwrap();
    let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    s.write_all(&framed).await.unwrap();
    s
}

async fn tcp_recv(s: &mut TcpStream) -> Message {
    let mut len = [0u8; 2];
    timeout(BOUND, s.read_exact(&mut len)).await.unwrap().unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    timeout(BOUND, s.read_exact(&mut buf)).await.unwrap().unwrap();
    Message::from_vec(&buf).unwrap()
}

#[tokio::test]
async fn dns_wrong_id_and_truncation_forever() {
    let lab = lab().await;
    let ns = lab.dns_addr();
    let q = query("wrong-id.hostile.test.", RecordType::A);
    let m = udp(ns, &q).await;
    assert_ne!(m.metadata.id, q.metadata.id);
    assert_eq!(m.answers.len(), 1);
    let m = tcp_recv(&mut tcp_query(ns, &q).await).await;
    assert_ne!(m.metadata.id, q.metadata.id);
    // a normal name keeps its ID (true negative)
    let q = query("slow-head.hostile.test.", RecordType::A);
    assert_eq!(udp(ns, &q).await.metadata.id, q.metadata.id);

    let q = query("truncated.hostile.test.", RecordType::A);
    for _ in 0..3 {
        let m = udp(ns, &q).await;
        assert!(m.metadata.truncation);
        assert!(m.answers.is_empty());
    }
    let mut s = tcp_query(ns, &q).await;
    let mut len = [0u8; 2];
    timeout(BOUND, s.read_exact(&mut len)).await.unwrap().unwrap();
    let promised = usize::from(u16::from_be_bytes(len));
    let mut got = vec![0u8; promised];
    let mut have = 0;
    while let Ok(Ok(n)) = timeout(QUIET, s.read(&mut got[have..])).await {
        assert!(n > 0, "held open");
        have += n;
    }
    assert!(have < promised && have > 0, "{have} of {promised}");
}

#[tokio::test]
async fn dns_cname_loop_and_long_chain() {
    let lab = lab().await;
    let ns = lab.dns_addr();
    let target = |m: &Message| match &m.answers[0].data {
        RData::CNAME(c) => c.0.to_ascii(),
        other => panic!("not a CNAME: {other:?}"),
    };
    let m = udp(ns, &query("cname-loop-a.hostile.test.", RecordType::A)).await;
    assert_eq!(target(&m), "cname-loop-b.hostile.test.");
    let m = udp(ns, &query("cname-loop-b.hostile.test.", RecordType::A)).await;
    assert_eq!(target(&m), "cname-loop-a.hostile.test.");

    let mut name = "chain-0.hostile.test.".to_owned();
    let mut hops = 0;
    loop {
        let m = udp(ns, &query(&name, RecordType::A)).await;
        match &m.answers[0].data {
            RData::CNAME(c) => name = c.0.to_ascii(),
            RData::A(_) => break,
            other => panic!("{other:?}"),
        }
        hops += 1;
    }
    assert_eq!(hops, hostile::CHAIN_HOPS);
}

#[tokio::test]
async fn dns_pointer_loop_in_the_wire_bytes() {
    let lab = lab().await;
    let q = query("pointer-loop.hostile.test.", RecordType::A);
    let raw = udp_raw(lab.dns_addr(), &q).await.unwrap();
    assert_eq!(u16::from_be_bytes([raw[6], raw[7]]), 1, "one answer");
    let question_end = q.to_vec().unwrap().len(); // header and question, as echoed
    let pointer = u16::from_be_bytes([raw[question_end], raw[question_end + 1]]);
    assert_eq!(pointer & 0xC000, 0xC000);
    assert_eq!(usize::from(pointer & 0x3FFF), question_end, "points at itself");
    assert!(Message::from_vec(&raw).is_err() || Message::from_vec(&raw).unwrap().answers.is_empty());
}

#[tokio::test]
async fn dns_drops_only_queries_for_names_that_do_not_exist() {
    let lab = lab().await;
    let ns = lab.dns_addr();
    let m = udp(ns, &query("www.silent-nx.test.", RecordType::A)).await;
    assert_eq!(m.answers.len(), 1);
    assert!(udp_within(ns, &query("nope.silent-nx.test.", RecordType::A), QUIET).await.is_none());
    // elsewhere a missing name is NXDOMAIN (true negative)
    let m = udp(ns, &query("nope.hostile.test.", RecordType::A)).await;
    assert_eq!(m.metadata.response_code, hickory_proto::op::ResponseCode::NXDomain);
}

#[tokio::test]
async fn dns_slow_transfer_keeps_its_interval() {
    let lab = lab().await;
    let start = Instant::now();
    let mut s = tcp_query(lab.dns_addr(), &query("slow-axfr.test.", RecordType::AXFR)).await;
    let first = tcp_recv(&mut s).await;
    assert!(matches!(first.answers[0].data, RData::SOA(_)));
    for k in 1..=3u32 {
        let m = tcp_recv(&mut s).await;
        assert_eq!(m.answers.len(), 1);
        assert!(start.elapsed() >= AXFR * k, "message {k} after {:?}", start.elapsed());
    }
    // over UDP the client is sent to TCP; other zones refuse
    let m = udp(lab.dns_addr(), &query("slow-axfr.test.", RecordType::AXFR)).await;
    assert!(m.metadata.truncation);
    let m = tcp_recv(&mut tcp_query(lab.dns_addr(), &query("hostile.test.", RecordType::AXFR)).await).await;
    assert_eq!(m.metadata.response_code, hickory_proto::op::ResponseCode::Refused);
}

#[tokio::test]
async fn dns_endless_transfer_never_closes() {
    let lab = lab().await;
    let mut s = tcp_query(lab.dns_addr(), &query("endless-axfr.test.", RecordType::AXFR)).await;
    let mut soas = 0;
    let mut records = 0;
    for _ in 0..300 {
        let m = tcp_recv(&mut s).await;
        soas += m.answers.iter().filter(|r| matches!(r.data, RData::SOA(_))).count();
        records += m.answers.len();
    }
    assert_eq!(soas, 1, "the closing SOA never comes");
    assert!(records > 30_000 - 1);
    drop(s);
    // the names it lists exist
    let m = udp(lab.dns_addr(), &query("n12345.endless-axfr.test.", RecordType::A)).await;
    assert_eq!(m.answers.len(), 1);
}
