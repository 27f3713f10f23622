//! The lab, driven from outside through its public API, on loopback only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use haetae_lab::{ENGAGEMENT_ID, Lab, PLANTED};
use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::timeout;

/// A bound on how long an answer may take; never a wait for something to happen.
const BOUND: Duration = Duration::from_secs(5);

fn query(name: &str, qtype: RecordType) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    m
}

async fn udp_client() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

async fn udp_raw(sock: &UdpSocket, server: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    sock.send_to(bytes, server).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    let (n, from) = timeout(BOUND, sock.recv_from(&mut buf)).await.unwrap().unwrap();
    assert_eq!(from, server);
    buf.truncate(n);
    buf
}

async fn udp(server: SocketAddr, q: &Message) -> Message {
    let sock = udp_client().await;
    let resp = Message::from_vec(&udp_raw(&sock, server, &q.to_vec().unwrap()).await).unwrap();
    check_header(q, &resp);
    resp
}

async fn tcp_send(stream: &mut TcpStream, bytes: &[u8]) {
    let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await.unwrap();
}

async fn tcp_recv(stream: &mut TcpStream) -> Message {
    let mut len = [0u8; 2];
    timeout(BOUND, stream.read_exact(&mut len)).await.unwrap().unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    timeout(BOUND, stream.read_exact(&mut buf)).await.unwrap().unwrap();
    Message::from_vec(&buf).unwrap()
}

async fn tcp(server: SocketAddr, q: &Message) -> Message {
    let mut stream = TcpStream::connect(server).await.unwrap();
    tcp_send(&mut stream, &q.to_vec().unwrap()).await;
    let resp = tcp_recv(&mut stream).await;
    check_header(q, &resp);
    resp
}

fn check_header(q: &Message, resp: &Message) {
    assert_eq!(resp.metadata.id, q.metadata.id);
    assert_eq!(resp.queries, q.queries, "question echoed");
    assert_eq!(resp.metadata.recursion_desired, q.metadata.recursion_desired, "RD copied");
    assert!(!resp.metadata.recursion_available);
}

fn soa_serial(r: &Record) -> Option<u32> {
    match &r.data {
        RData::SOA(soa) => Some(soa.serial),
        _ => None,
    }
}

fn a(r: &Record) -> Option<Ipv4Addr> {
    match &r.data {
        RData::A(a) => Some(a.0),
        _ => None,
    }
}

fn txt(r: &Record) -> Option<String> {
    match &r.data {
        RData::TXT(t) => Some(t.txt_data.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect()),
        _ => None,
    }
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

/// Finds the port on `ip` whose service greets with `banner`.
async fn port_with_banner(lab: &Lab, ip: Ipv4Addr, banner: &[u8]) -> u16 {
    for port in lab.ports() {
        let Ok(mut s) = TcpStream::connect((ip, port)).await else { continue };
        let mut buf = vec![0u8; banner.len()];
        if let Ok(Ok(_)) = timeout(BOUND, s.read_exact(&mut buf)).await
            && buf == banner
        {
            return port;
        }
    }
    panic!("no port on {ip} greets with {:?}", String::from_utf8_lossy(banner));
}

#[tokio::test]
async fn udp_answers_the_weak_zone() {
    let lab = Lab::start().await.unwrap();
    let ns = lab.dns_addr();
    assert_eq!(ns.ip(), Ipv4Addr::new(127, 77, 0, 53));
    assert_ne!(ns.port(), 0);

    let m = udp(ns, &query("www.agency.test.", RecordType::A)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(a(&m.answers[0]), Some(Ipv4Addr::new(127, 77, 1, 20)));
    assert_eq!(m.answers[0].ttl, 300);

    // RD clear is copied too
    let mut q = query("agency.test.", RecordType::A);
    q.metadata.recursion_desired = false;
    let m = udp(ns, &q).await;
    assert_eq!(a(&m.answers[0]), Some(Ipv4Addr::new(127, 77, 1, 10)));

    let m = udp(ns, &query("legacy.agency.test.", RecordType::A)).await;
    assert_eq!(a(&m.answers[0]), Some(Ipv4Addr::new(127, 99, 0, 1)));
    let m = udp(ns, &query("payments.agency.test.", RecordType::A)).await;
    assert_eq!(a(&m.answers[0]), Some(Ipv4Addr::new(127, 77, 1, 30)));
    let m = udp(ns, &query("mail.agency.test.", RecordType::A)).await;
    assert_eq!(a(&m.answers[0]), Some(Ipv4Addr::new(127, 77, 1, 25)));
    let m = udp(ns, &query("ns1.agency.test.", RecordType::A)).await;
    assert_eq!(a(&m.answers[0]), Some(Ipv4Addr::new(127, 77, 0, 53)));

    let m = udp(ns, &query("agency.test.", RecordType::MX)).await;
    match &m.answers[0].data {
        RData::MX(mx) => {
            assert_eq!(mx.preference, 10);
            assert_eq!(mx.exchange, name("mail.agency.test."));
        }
        other => panic!("{other:?}"),
    }
    let m = udp(ns, &query("agency.test.", RecordType::NS)).await;
    assert!(matches!(&m.answers[0].data, RData::NS(ns) if ns.0 == name("ns1.agency.test.")));
    let m = udp(ns, &query("agency.test.", RecordType::SOA)).await;
    assert_eq!(soa_serial(&m.answers[0]), Some(2026112901));
    match &m.answers[0].data {
        RData::SOA(soa) => {
            assert_eq!(soa.mname, name("ns1.agency.test."));
            assert_eq!(soa.rname, name("hostmaster.agency.test."));
        }
        other => panic!("{other:?}"),
    }

    // SPF and DMARC
    let m = udp(ns, &query("agency.test.", RecordType::TXT)).await;
    assert_eq!(txt(&m.answers[0]).unwrap(), "v=spf1 ip4:127.77.1.25 +all");
    let m = udp(ns, &query("_dmarc.agency.test.", RecordType::TXT)).await;
    assert_eq!(txt(&m.answers[0]).unwrap(), "v=DMARC1; p=none; rua=mailto:dmarc@agency.test");

    // no CAA: NODATA with the SOA
    let m = udp(ns, &query("agency.test.", RecordType::CAA)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert!(m.answers.is_empty());
    assert_eq!(soa_serial(&m.authorities[0]), Some(2026112901));
    // no AAAA on www: NODATA
    let m = udp(ns, &query("www.agency.test.", RecordType::AAAA)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);

    // CNAMEs are answered for any type, the CNAME alone
    for qtype in [RecordType::A, RecordType::AAAA, RecordType::TXT, RecordType::CNAME] {
        let m = udp(ns, &query("old.agency.test.", qtype)).await;
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert_eq!(m.answers.len(), 1, "{qtype}");
        assert!(matches!(&m.answers[0].data, RData::CNAME(c) if c.0 == name("gone.agency-cdn.test.")));
    }
    let m = udp(ns, &query("cdn.agency.test.", RecordType::A)).await;
    assert!(matches!(&m.answers[0].data, RData::CNAME(c) if c.0 == name("edge.othercorp.test.")));

    // the dangling target does not exist; the out-of-scope edge does
    let m = udp(ns, &query("gone.agency-cdn.test.", RecordType::A)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.metadata.authoritative);
    assert_eq!(m.authorities[0].name, name("agency-cdn.test."));
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    let m = udp(ns, &query("edge.othercorp.test.", RecordType::A)).await;
    assert_eq!(a(&m.answers[0]), Some(Ipv4Addr::new(127, 99, 0, 2)));

    // unknown names inside a zone: NXDOMAIN with the SOA
    let m = udp(ns, &query("nope.agency.test.", RecordType::A)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities[0].name, name("agency.test."));
    assert_eq!(soa_serial(&m.authorities[0]), Some(2026112901));

    // names in no served zone: REFUSED
    for n in ["example.com.", "test.", "agency.invalid."] {
        let m = udp(ns, &query(n, RecordType::A)).await;
        assert_eq!(m.metadata.response_code, ResponseCode::Refused, "{n}");
        assert!(m.answers.is_empty() && m.authorities.is_empty());
    }

    assert_eq!(lab.dns_queries(), 24, "one per query above");
    lab.shutdown().await;
}

#[tokio::test]
async fn udp_answers_the_hardened_zone() {
    let lab = Lab::start().await.unwrap();
    let ns = lab.dns_addr();
    let m = udp(ns, &query("hardened.test.", RecordType::CAA)).await;
    match &m.answers[0].data {
        RData::CAA(caa) => {
            assert_eq!(caa.tag, "issue");
            assert!(!caa.issuer_critical);
            let (issuer, kv) = caa.value_as_issue().unwrap();
            assert_eq!(issuer.unwrap().to_ascii(), "letsencrypt.org");
            assert!(kv.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let m = udp(ns, &query("hardened.test.", RecordType::TXT)).await;
    assert_eq!(txt(&m.answers[0]).unwrap(), "v=spf1 mx -all");
    let m = udp(ns, &query("_dmarc.hardened.test.", RecordType::TXT)).await;
    assert_eq!(txt(&m.answers[0]).unwrap(), "v=DMARC1; p=reject; rua=mailto:dmarc@hardened.test");
    let m = udp(ns, &query("www.hardened.test.", RecordType::A)).await;
    assert_eq!(a(&m.answers[0]), Some(Ipv4Addr::new(127, 77, 2, 20)));
    let m = udp(ns, &query("hardened.test.", RecordType::A)).await;
    assert_eq!(a(&m.answers[0]), Some(Ipv4Addr::new(127, 77, 2, 10)));
    let m = udp(ns, &query("mail.hardened.test.", RecordType::A)).await;
    assert_eq!(a(&m.answers[0]), Some(Ipv4Addr::new(127, 77, 2, 25)));
    let m = udp(ns, &query("ns1.hardened.test.", RecordType::A)).await;
    assert_eq!(a(&m.answers[0]), Some(Ipv4Addr::new(127, 77, 0, 53)));

    // ANY returns every record at the name
    let m = udp(ns, &query("hardened.test.", RecordType::ANY)).await;
    let types: Vec<RecordType> = m.answers.iter().map(Record::record_type).collect();
    for t in [RecordType::SOA, RecordType::NS, RecordType::A, RecordType::MX, RecordType::TXT, RecordType::CAA] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn edns_answers_carry_opt_and_plain_ones_do_not() {
    let lab = Lab::start().await.unwrap();
    let mut q = query("www.agency.test.", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    q.set_edns(edns);
    let m = udp(lab.dns_addr(), &q).await;
    assert_eq!(m.edns.as_ref().unwrap().max_payload(), 1232);
    assert_eq!(m.answers.len(), 1);
    let m = udp(lab.dns_addr(), &query("www.agency.test.", RecordType::A)).await;
    assert!(m.edns.is_none());
    lab.shutdown().await;
}

#[tokio::test]
async fn tcp_answers_several_queries_per_connection() {
    let lab = Lab::start().await.unwrap();
    let mut stream = TcpStream::connect(lab.dns_addr()).await.unwrap();
    let q1 = query("www.agency.test.", RecordType::A);
    let q2 = query("nope.hardened.test.", RecordType::A);
    let q3 = query("example.com.", RecordType::A);
    // pipelined: all three written before any answer is read
    for q in [&q1, &q2, &q3] {
        tcp_send(&mut stream, &q.to_vec().unwrap()).await;
    }
    let m = tcp_recv(&mut stream).await;
    check_header(&q1, &m);
    assert_eq!(a(&m.answers[0]), Some(Ipv4Addr::new(127, 77, 1, 20)));
    let m = tcp_recv(&mut stream).await;
    check_header(&q2, &m);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    let m = tcp_recv(&mut stream).await;
    check_header(&q3, &m);
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    // the server closes when we do
    stream.shutdown().await.unwrap();
    let mut rest = Vec::new();
    timeout(BOUND, stream.read_to_end(&mut rest)).await.unwrap().unwrap();
    assert!(rest.is_empty());
    lab.shutdown().await;
}

#[tokio::test]
async fn axfr_is_open_on_agency_and_refused_on_hardened() {
    let lab = Lab::start().await.unwrap();
    let m = tcp(lab.dns_addr(), &query("agency.test.", RecordType::AXFR)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    let first = m.answers.first().unwrap();
    let last = m.answers.last().unwrap();
    assert_eq!(soa_serial(first), Some(2026112901));
    assert_eq!(soa_serial(last), Some(2026112901));
    let names: Vec<String> = m.answers.iter().map(|r| r.name.to_ascii()).collect();
    for n in
        ["www.agency.test.", "old.agency.test.", "legacy.agency.test.", "cdn.agency.test.", "payments.agency.test."]
    {
        assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
    }
    assert_eq!(m.answers.iter().filter(|r| r.record_type() == RecordType::SOA).count(), 2);

    for zone in ["hardened.test.", "agency-cdn.test.", "othercorp.test."] {
        let m = tcp(lab.dns_addr(), &query(zone, RecordType::AXFR)).await;
        assert_eq!(m.metadata.response_code, ResponseCode::Refused, "{zone}");
        assert!(m.answers.is_empty());
    }
    // over UDP the transfer is truncated: the client must use TCP
    let m = udp(lab.dns_addr(), &query("agency.test.", RecordType::AXFR)).await;
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty());
    lab.shutdown().await;
}

#[tokio::test]
async fn services_greet_and_count() {
    let lab = Lab::start().await.unwrap();
    let ports = lab.ports();
    assert_eq!(ports.len(), 7 + lab.tls_endpoints().len());
    assert_eq!(ports.len(), 22); // 7 + 15 TLS endpoints (two are the apex sites)
    assert!(ports.windows(2).all(|w| w[0] < w[1]), "sorted: {ports:?}");
    assert!(!ports.contains(&lab.dns_addr().port()));

    let ssh = port_with_banner(&lab, Ipv4Addr::new(127, 77, 1, 20), b"SSH-2.0-OpenSSH_7.4\r\n").await;
    let smtp = port_with_banner(&lab, Ipv4Addr::new(127, 77, 1, 25), b"220 mail.agency.test ESMTP Postfix\r\n").await;
    assert_ne!(ssh, smtp);

    // the SMTP service closes after one line
    let mut s = TcpStream::connect((Ipv4Addr::new(127, 77, 1, 25), smtp)).await.unwrap();
    let mut banner = vec![0u8; 36];
    timeout(BOUND, s.read_exact(&mut banner)).await.unwrap().unwrap();
    s.write_all(b"EHLO haetae.invalid\r\n").await.unwrap();
    let mut rest = Vec::new();
    timeout(BOUND, s.read_to_end(&mut rest)).await.unwrap().unwrap();

    // the SSH service closes when the client does
    let mut s = TcpStream::connect((Ipv4Addr::new(127, 77, 1, 20), ssh)).await.unwrap();
    s.write_all(b"SSH-2.0-haetae\r\n").await.unwrap();
    s.shutdown().await.unwrap();
    let mut all = Vec::new();
    timeout(BOUND, s.read_to_end(&mut all)).await.unwrap().unwrap();
    assert_eq!(all, b"SSH-2.0-OpenSSH_7.4\r\n");

    // the hardened web host accepts and says nothing, closing when we do
    let hardened = Ipv4Addr::new(127, 77, 2, 20);
    let mut quiet = None;
    for &p in &ports {
        if let Ok(s) = TcpStream::connect((hardened, p)).await {
            quiet = Some(s);
            assert!(p != ssh && p != smtp);
        }
    }
    let mut s = quiet.expect("a listener on the hardened web host");
    s.shutdown().await.unwrap();
    let mut all = Vec::new();
    timeout(BOUND, s.read_to_end(&mut all)).await.unwrap().unwrap();
    assert!(all.is_empty());

    // nothing yet on the tripwires
    assert_eq!(lab.out_of_scope_connections(), 0);
    assert_eq!(lab.excluded_connections(), 0);

    // the tripwires share the SSH port number, send the banner, and count
    for (ip, oos, excl) in [
        (Ipv4Addr::new(127, 99, 0, 1), 1, 0),
        (Ipv4Addr::new(127, 99, 0, 2), 2, 0),
        (Ipv4Addr::new(127, 77, 1, 30), 2, 1),
    ] {
        let mut s = TcpStream::connect((ip, ssh)).await.unwrap();
        let mut buf = [0u8; 21];
        timeout(BOUND, s.read_exact(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf, b"SSH-2.0-OpenSSH_7.4\r\n");
        // the count is taken before the banner is sent
        assert_eq!(lab.out_of_scope_connections(), oos, "{ip}");
        assert_eq!(lab.excluded_connections(), excl, "{ip}");
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn the_silent_server_never_answers() {
    let lab = Lab::start().await.unwrap();
    let silent = lab.silent_dns_addr();
    assert_eq!(silent.ip(), Ipv4Addr::new(127, 77, 0, 54));
    let q = query("www.agency.test.", RecordType::A).to_vec().unwrap();

    let sock = udp_client().await;
    sock.send_to(&q, silent).await.unwrap();
    let mut buf = [0u8; 512];
    assert!(timeout(Duration::from_millis(300), sock.recv_from(&mut buf)).await.is_err(), "UDP answered");

    let mut stream = TcpStream::connect(silent).await.unwrap();
    let mut framed = u16::try_from(q.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    stream.write_all(&framed).await.unwrap();
    assert!(timeout(Duration::from_millis(300), stream.read(&mut buf)).await.is_err(), "TCP answered");

    // the real server still answers, and counted nothing for the silent one
    assert_eq!(lab.dns_queries(), 0);
    let m = udp(lab.dns_addr(), &query("www.agency.test.", RecordType::A)).await;
    assert_eq!(m.answers.len(), 1);
    assert_eq!(lab.dns_queries(), 1);
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

#[tokio::test]
async fn garbage_does_not_kill_the_server() {
    let lab = Lab::start().await.unwrap();
    let ns = lab.dns_addr();
    let mut noise = Noise(0x2545_F491_4F6C_DD1D);
    let sock = udp_client().await;

    // A header whose counts promise more than the datagram holds: FORMERR with the ID.
    let mut bad = vec![0xAB, 0xCD, 0x01, 0x00, 0x00, 0x05, 0, 0, 0, 0, 0, 0];
    bad.extend_from_slice(&noise.bytes(7));
    let resp = Message::from_vec(&udp_raw(&sock, ns, &bad).await).unwrap();
    assert_eq!(resp.metadata.id, 0xABCD);
    assert_eq!(resp.metadata.response_code, ResponseCode::FormErr);
    assert!(resp.metadata.recursion_desired);

    // random datagrams (answered or dropped, never fatal)
    for _ in 0..500 {
        let len = (noise.next() % 700) as usize;
        sock.send_to(&noise.bytes(len), ns).await.unwrap();
    }
    // random TCP streams, including absurd length prefixes
    for _ in 0..20 {
        let mut s = TcpStream::connect(ns).await.unwrap();
        let len = (noise.next() % 3000) as usize;
        let _ = s.write_all(&noise.bytes(len)).await;
        drop(s);
    }
    let mut s = TcpStream::connect(ns).await.unwrap();
    tcp_send(&mut s, &[0xFF]).await; // too short for an ID: dropped, connection kept
    tcp_send(&mut s, &[0x00, 0x2A, 0x00]).await; // an ID: FORMERR
    let m = tcp_recv(&mut s).await;
    assert_eq!((m.metadata.id, m.metadata.response_code), (0x2A, ResponseCode::FormErr));

    // still serving, both ways
    let fresh = udp_client().await;
    let q = query("www.agency.test.", RecordType::A);
    // earlier noise may still be answered on `sock`; a fresh socket sees only this reply
    let m = Message::from_vec(&udp_raw(&fresh, ns, &q.to_vec().unwrap()).await).unwrap();
    check_header(&q, &m);
    assert_eq!(a(&m.answers[0]), Some(Ipv4Addr::new(127, 77, 1, 20)));
    let m = tcp(ns, &q).await;
    assert_eq!(a(&m.answers[0]), Some(Ipv4Addr::new(127, 77, 1, 20)));
    lab.shutdown().await;
}

#[tokio::test]
async fn dropping_the_lab_frees_its_ports() {
    let lab = Lab::start().await.unwrap();
    let dns = lab.dns_addr();
    let silent = lab.silent_dns_addr();
    let ssh = port_with_banner(&lab, Ipv4Addr::new(127, 77, 1, 20), b"SSH-2.0-OpenSSH_7.4\r\n").await;
    // a connection open (and accepted: it has been answered) at drop time
    // must not keep anything alive
    let mut held = TcpStream::connect(dns).await.unwrap();
    let q = query("www.agency.test.", RecordType::A);
    tcp_send(&mut held, &q.to_vec().unwrap()).await;
    check_header(&q, &tcp_recv(&mut held).await);
    let ports = lab.ports();
    let stopped = lab.stopped();
    drop(lab);
    timeout(BOUND, stopped).await.expect("every lab task stops");

    let mut rest = Vec::new();
    timeout(BOUND, held.read_to_end(&mut rest)).await.unwrap().unwrap();
    UdpSocket::bind(dns).await.expect("DNS UDP port free");
    TcpListener::bind(dns).await.expect("DNS TCP port free");
    UdpSocket::bind(silent).await.expect("silent UDP port free");
    TcpListener::bind(silent).await.expect("silent TCP port free");
    for ip in [[127, 77, 1, 20], [127, 99, 0, 1], [127, 99, 0, 2], [127, 77, 1, 30]] {
        TcpListener::bind((Ipv4Addr::from(ip), ssh)).await.expect("SSH-group port free");
    }
    for ip in [[127, 77, 1, 25], [127, 77, 2, 20]] {
        let ip = Ipv4Addr::from(ip);
        let mut freed = 0;
        for &p in &ports {
            if TcpListener::bind((ip, p)).await.is_ok() {
                freed += 1;
            }
        }
        assert_eq!(freed, ports.len(), "{ip}");
    }
}

#[tokio::test]
async fn shutdown_stops_everything() {
    let lab = Lab::start().await.unwrap();
    let dns = lab.dns_addr();
    lab.shutdown().await;
    assert!(TcpStream::connect(dns).await.is_err(), "nothing listens after shutdown");
    TcpListener::bind(dns).await.unwrap();
}

#[tokio::test]
async fn two_labs_side_by_side_share_no_port() {
    let a = Lab::start().await.unwrap();
    let b = Lab::start().await.unwrap();
    let mut all: Vec<u16> = a.ports();
    all.extend(b.ports());
    all.extend([a.dns_addr().port(), b.dns_addr().port(), a.silent_dns_addr().port(), b.silent_dns_addr().port()]);
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "ports shared between labs: {all:?}");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn configuration_files() {
    let lab = Lab::start().await.unwrap();
    let scope = lab.scope_toml();
    assert!(scope.contains(&format!("id = \"{ENGAGEMENT_ID}\"")));
    assert!(scope.contains("agency = \"haetae lab\""));
    assert!(scope.contains("contact = \"lab@haetae.invalid\""));
    let ports = lab.ports().iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
    assert!(scope.contains(&format!("ports = [{ports}]\n")), "{scope}");
    assert!(scope.contains(
        "domains = [\"agency.test\", \"hardened.test\", \"oldmail.test\", \"kr.object.gov-ncloudstorage.com\"]"
    ));
    assert!(scope.contains("cidrs = [\"127.77.0.0/20\"]"));
    assert!(scope.contains("exclude_domains = [\"payments.agency.test\"]"));
    assert!(scope.contains("exclude_cidrs = []"));
    assert!(scope.contains("exclude_paths = [\"/logout\"]"));
    assert!(scope.contains("seeds = [\"agency.test\", \"hardened.test\", \"oldmail.test\"]"));
    for line in ["max_rps = 2000", "per_host_rps = 500", "concurrency = 256", "timeout_ms = 2000"] {
        assert!(scope.contains(line), "{line}");
    }
    // bare RFC 3339 datetimes, a day back and thirty ahead
    let date = |key: &str| {
        let line = scope.lines().find(|l| l.starts_with(key)).unwrap();
        let value = line.split(" = ").nth(1).unwrap().to_owned();
        assert_eq!(value.len(), 20, "{value}");
        assert!(value.ends_with('Z') && value.as_bytes()[10] == b'T', "{value}");
        value
    };
    let (nb, na) = (date("not_before"), date("not_after"));
    assert!(nb < na);
    assert!(nb.as_str() > "2024-01-01T00:00:00Z");

    let cfg = lab.haetae_toml();
    assert!(cfg.contains("scope = \"scope.toml\""));
    // No `rules` line: a rules file haetae.toml names must exist, and the lab writes none.
    assert!(!cfg.contains("rules ="), "{cfg}");
    assert!(cfg.contains("store = \".haetae\""));
    assert!(cfg.contains(&format!("[resolver]\nnameservers = [\"127.77.0.53:{}\"]", lab.dns_addr().port())));
    assert!(cfg.contains("[tls]\nextra_roots = [\"lab-ca.pem\"]\n"), "{cfg}");
    assert_eq!(haetae_lab::CA_FILE, "lab-ca.pem");
    assert_eq!(lab.ca_pem(), haetae_lab::CA_PEM);

    assert_eq!(PLANTED.iter().filter(|p| p.check == "dns.points-out-of-scope").count(), 2);
    lab.shutdown().await;
}
