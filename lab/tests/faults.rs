//! Fault injection on the weak lab (`Lab::start_with`): none at 0 %, on
//! every exchange at 100 %, the same faults for the same seed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use haetae_lab::{Faults, Lab, LabOptions};
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

/// Long enough for a normal answer on a loaded machine, shorter than the
/// fault delay (2 x 2,000 ms): a delayed exchange shows nothing within it.
const QUIET: Duration = Duration::from_millis(1500);
const PORTAL: Ipv4Addr = Ipv4Addr::new(127, 77, 1, 50);

async fn faulty(seed: u64, percent: u8) -> Lab {
    Lab::start_with(LabOptions { faults: Some(Faults { seed, percent }), timeout_ms: 2000 }).await.unwrap()
}

fn query(id: u16, name: &str) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = id;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    m.to_vec().unwrap()
}

/// The raw UDP answer, or `None` within [`QUIET`].
async fn udp(server: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(bytes, server).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    let (n, _) = timeout(QUIET, sock.recv_from(&mut buf)).await.ok()?.unwrap();
    buf.truncate(n);
    Some(buf)
}

/// The port of the portal (the web port that answers on 127.77.1.50).
async fn portal_port(lab: &Lab) -> u16 {
    for port in lab.ports() {
        if TcpStream::connect((PORTAL, port)).await.is_ok() {
            return port;
        }
    }
    panic!("no portal port");
}

#[derive(Debug, PartialEq, Eq)]
enum Web {
    Whole(Vec<u8>),
    Truncated,
    Reset,
    Silent,
}

async fn fetch(addr: SocketAddr) -> Web {
    let Ok(mut s) = TcpStream::connect(addr).await else { return Web::Reset };
    if s.write_all(b"GET / HTTP/1.1\r\nHost: portal.agency.test\r\n\r\n").await.is_err() {
        return Web::Reset;
    }
    let mut out = Vec::new();
    match timeout(QUIET, s.read_to_end(&mut out)).await {
        Err(_) if out.is_empty() => Web::Silent,
        Err(_) => panic!("a partial answer that stalls: {:?}", String::from_utf8_lossy(&out)),
        Ok(Err(_)) => Web::Reset,
        Ok(Ok(_)) if out.is_empty() => Web::Reset,
        Ok(Ok(_)) => {
            let text = String::from_utf8_lossy(&out).into_owned();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let len: usize = head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).unwrap().parse().unwrap();
            if body.len() < len { Web::Truncated } else { Web::Whole(out) }
        }
    }
}

#[tokio::test]
async fn zero_percent_is_todays_lab_byte_for_byte() {
    let today = Lab::start().await.unwrap();
    let lab = faulty(42, 0).await;
    for (i, name) in ["www.agency.test.", "agency.test.", "nope.agency.test.", "tls.hardened.test."].iter().enumerate()
    {
        let q = query(u16::try_from(i).unwrap() + 100, name);
        let a = udp(today.dns_addr(), &q).await.unwrap();
        let b = udp(lab.dns_addr(), &q).await.unwrap();
        assert_eq!(a, b, "{name}");
    }
    let a = fetch(SocketAddr::from((PORTAL, portal_port(&today).await))).await;
    let b = fetch(SocketAddr::from((PORTAL, portal_port(&lab).await))).await;
    assert!(matches!(a, Web::Whole(_)));
    assert_eq!(a, b);
    for _ in 0..10 {
        assert!(matches!(fetch(SocketAddr::from((PORTAL, portal_port(&lab).await))).await, Web::Whole(_)));
    }
    assert!(lab.exchanges() >= 15, "{}", lab.exchanges());
    assert_eq!(lab.faults_injected(), 0);
    assert_eq!(today.faults_injected(), 0);
    assert!(today.scope_toml().contains("timeout_ms = 2000"));
    let short = Lab::start_with(LabOptions { timeout_ms: 700, ..LabOptions::default() }).await.unwrap();
    assert!(short.scope_toml().contains("timeout_ms = 700"));
    assert_eq!(LabOptions::default().fault_delay(), Duration::from_secs(4));
}

#[tokio::test]
async fn hundred_percent_faults_every_exchange() {
    let lab = faulty(7, 100).await;
    let port = portal_port(&lab).await; // a connection, faulted too
    let mut seen = Vec::new();
    for _ in 0..15 {
        let w = fetch(SocketAddr::from((PORTAL, port))).await;
        assert!(!matches!(w, Web::Whole(_)), "an exchange without a fault");
        seen.push(w);
    }
    for kind in [Web::Truncated, Web::Reset, Web::Silent] {
        assert!(seen.contains(&kind), "{kind:?} never seen in {seen:?}");
    }
    for i in 0..8u16 {
        match udp(lab.dns_addr(), &query(i, "www.agency.test.")).await {
            None => {}
            Some(b) => assert_eq!(Message::from_vec(&b).unwrap().metadata.response_code, ResponseCode::ServFail),
        }
    }
    assert_eq!(lab.faults_injected(), lab.exchanges());
    assert!(lab.exchanges() >= 15 + 8);
    // the tripwires count and never fault
    assert_eq!(lab.out_of_scope_connections(), 0);
}

/// What one DNS exchange gave: an answer code, or nothing.
async fn dns_outcomes(lab: &Lab) -> Vec<Option<ResponseCode>> {
    let mut out = Vec::new();
    for i in 0..10u16 {
        let b = udp(lab.dns_addr(), &query(i, "mail.agency.test.")).await;
        out.push(b.map(|b| Message::from_vec(&b).unwrap().metadata.response_code));
    }
    out
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults() {
    let (a, b, c) = tokio::join!(faulty(3, 50), faulty(3, 50), faulty(4, 50));
    let (x, y, z) = tokio::join!(dns_outcomes(&a), dns_outcomes(&b), dns_outcomes(&c));
    assert_eq!(x, y);
    assert!(x.contains(&Some(ResponseCode::NoError)), "{x:?}");
    assert!(x.iter().any(|o| *o != Some(ResponseCode::NoError)), "{x:?}");
    assert_ne!(x, z, "another seed");
}
