//! What the TLS checks vouch for when the server misbehaves: silence after a
//! ClientHello is no answer, plaintext is a definite "not TLS", and a chain
//! past the size bound leaves the certificate checks uncovered.

use std::net::{IpAddr, Ipv4Addr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::test_support::loopback_guard;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A server that reads what the client sends and answers every connection
/// with `reply` (then keeps the connection open, silent).
async fn canned(reply: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                if matches!(s.read(&mut buf).await, Ok(n) if n > 0) {
                    let _ = s.write_all(&reply).await;
                }
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    port
}

async fn check(reply: Vec<u8>) -> TlsReport {
    let port = canned(reply).await;
    let (guard, _dir) = loopback_guard(port, 300);
    let opts = TlsOptions::from_pem("", 30).unwrap();
    check_endpoint(&guard, "127.0.0.1", LOCALHOST, port, &opts).await
}

fn record(kind: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).unwrap().to_be_bytes();
    [&[kind, 3, 3, len[0], len[1]][..], payload].concat()
}

fn server_hello() -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.extend_from_slice(&[0, 0x00, 0x2F, 0]);
    let len = body.len();
    [&[2, 0, 0, u8::try_from(len).unwrap()][..], &body].concat()
}

#[tokio::test]
async fn silence_after_a_client_hello_is_no_answer() {
    let rep = check(Vec::new()).await;
    assert_eq!(rep.speaks, None, "{rep:?}");
    assert!(rep.unknown.as_deref().is_some_and(|w| w.contains("no answer within 300 ms")), "{rep:?}");
    assert!(rep.covered.is_empty() && rep.observations.is_empty(), "{rep:?}");
}

#[tokio::test]
async fn a_plaintext_reply_is_definitely_not_tls() {
    let rep = check(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec()).await;
    assert_eq!(rep.speaks, Some(false), "{rep:?}");
}

#[tokio::test]
async fn a_record_that_promises_16_kib_and_stalls_is_no_answer() {
    let rep = check(vec![22, 3, 3, 0x40, 0x00, 2, 0, 0]).await;
    assert_eq!(rep.speaks, None, "{rep:?}");
}

#[tokio::test]
async fn an_oversize_certificate_chain_leaves_the_certificate_checks_uncovered() {
    // A ServerHello, then a Certificate message that claims 200 KB.
    let flight = [record(22, &server_hello()), record(22, &[11, 0x03, 0x0D, 0x40])].concat();
    let rep = check(flight).await;
    assert_eq!(rep.speaks, Some(true), "{rep:?}");
    assert!(rep.failed.iter().any(|(g, _)| *g == "tls.cert-*"), "{rep:?}");
    assert!(!rep.covered.contains(&CheckId::TlsCertExpired), "{rep:?}");
    // What was answered is still covered: no legacy protocol was accepted.
    assert!(rep.covered.contains(&CheckId::TlsLegacyProtocol), "{rep:?}");
}
