//! The scanner's HTTP client through the guard, against in-process servers.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use haetae_scanner::http::{FetchError, HttpClient, Method, Request};
use haetae_scanner::scope::Scope;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{guard, now};

const ADDR: &str = "127.77.9.20";

fn scope(port: u16) -> Scope {
    crate::support::net_scope("KR-HTTP", "127.77.9.0/24", port)
}

/// Serve each connection the next canned reply; record the requests.
async fn server(replies: Vec<Vec<u8>>) -> (u16, Arc<std::sync::Mutex<Vec<String>>>, Arc<AtomicUsize>) {
    let l = TcpListener::bind((ADDR, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let (seen2, count2) = (seen.clone(), count.clone());
    tokio::spawn(async move {
        for reply in replies {
            let Ok((mut s, _)) = l.accept().await else { return };
            count2.fetch_add(1, Ordering::SeqCst);
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            seen2.lock().unwrap().push(String::from_utf8_lossy(&got).into_owned());
            let _ = s.write_all(&reply).await;
            let _ = s.shutdown().await;
        }
    });
    (port, seen, count)
}

fn get(port: u16, path: &str) -> Request<'_> {
    Request {
        https: false,
        host: ADDR,
        addr: ADDR.parse::<IpAddr>().unwrap(),
        port,
        method: Method::Get,
        path,
        headers: &[],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_length_chunked_and_capped_bodies_naming_the_team() {
    let big = {
        let mut r = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n".to_vec();
        r.extend(std::iter::repeat_n(b'a', 3 << 20));
        r
    };
    let (port, seen, _) = server(vec![
        b"HTTP/1.1 200 OK\r\nServer: nginx/1.18.0\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".to_vec(),
        big,
    ])
    .await;
    let (g, _dir) = guard(scope(port), vec!["127.0.0.1:53".parse().unwrap()], now());
    let client = HttpClient::new("KR-HTTP", "team@agency.test").unwrap();
    let r = client.fetch(&g, &get(port, "/")).await.unwrap();
    assert_eq!((r.status, r.body.as_slice(), r.header("server")), (200, &b"hello"[..], Some("nginx/1.18.0")));
    assert!(r.audit > 0);
    let r = client.fetch(&g, &get(port, "/x")).await.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (404, &b"hello world"[..]));
    let r = client.fetch(&g, &get(port, "/big")).await.unwrap();
    assert_eq!(r.body.len(), 1 << 20);
    assert!(r.truncated);
    let requests = seen.lock().unwrap().clone();
    assert!(requests[0].starts_with(&format!("GET / HTTP/1.1\r\nHost: {ADDR}:{port}\r\n")), "{}", requests[0]);
    assert!(requests[0].contains("User-Agent: haetae/"), "{}", requests[0]);
    assert!(requests[0].contains("engagement KR-HTTP; contact team@agency.test"), "{}", requests[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_paths_and_out_of_scope_addresses_get_no_packet() {
    let (port, _, count) = server(vec![b"HTTP/1.1 200 OK\r\n\r\n".to_vec()]).await;
    let (g, _dir) = guard(scope(port), vec!["127.0.0.1:53".parse().unwrap()], now());
    let client = HttpClient::new("KR-HTTP", "").unwrap();
    let e = client.fetch(&g, &get(port, "/a/../logout?x=1")).await.unwrap_err();
    assert!(matches!(e, FetchError::ExcludedPath(_)), "{e:?}");
    let mut out = get(port, "/");
    out.addr = "127.99.0.9".parse().unwrap();
    out.host = "127.99.0.9";
    let e = client.fetch(&g, &out).await.unwrap_err();
    assert!(matches!(e, FetchError::Guard(_)), "{e:?}");
    assert_eq!(count.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_or_declined_and_garbage_is_an_error() {
    let (port, _, count) = server(vec![
        b"HTTP/1.1 429 Too Many\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
        b"HTTP/1.1 503 Busy\r\nRetry-After: 120\r\nContent-Length: 0\r\n\r\n".to_vec(),
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec(),
    ])
    .await;
    let (g, _dir) = guard(scope(port), vec!["127.0.0.1:53".parse().unwrap()], now());
    let client = HttpClient::new("KR-HTTP", "").unwrap();
    let r = client.fetch(&g, &get(port, "/")).await.unwrap();
    assert_eq!((r.status, count.load(Ordering::SeqCst)), (200, 2));
    let e = client.fetch(&g, &get(port, "/")).await.unwrap_err();
    assert_eq!(e, FetchError::RetryLater(120));
    let e = client.fetch(&g, &get(port, "/")).await.unwrap_err();
    // A whole reply that is not HTTP is itself a definite answer.
    assert!(matches!(e, FetchError::NotHttp(_)), "{e:?}");
    assert!(e.is_definite());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_works_whatever_the_certificate() {
    let acceptor = crate::support::self_signed_acceptor();
    let l = TcpListener::bind((ADDR, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let mut tls = acceptor.accept(s).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = tls.read(&mut buf).await;
        tls.write_all(b"HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=63072000\r\nContent-Length: 2\r\n\r\nok")
            .await
            .unwrap();
        let _ = tls.shutdown().await;
    });
    let (g, _dir) = guard(scope(port), vec!["127.0.0.1:53".parse().unwrap()], now());
    let client = HttpClient::new("KR-HTTP", "").unwrap();
    let mut req = get(port, "/");
    req.https = true;
    let r = client.fetch(&g, &req).await.unwrap();
    assert_eq!((r.status, r.header("strict-transport-security")), (200, Some("max-age=63072000")));
}

/// `timeout_ms` bounds one whole exchange, connect to last byte: a head
/// dripped one byte every 50 ms, or a body that never ends, is cut at the
/// deadline (not at three times it, not never), and is no definite answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_ms_bounds_a_whole_exchange() {
    let l = TcpListener::bind((ADDR, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let endless = String::from_utf8_lossy(&buf[..n]).starts_with("GET /endless");
                if endless {
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n").await;
                }
                let mut ticker = tokio::time::interval(std::time::Duration::from_millis(50));
                for b in b"HTTP/1.1 200 OK\r\nServer: drip\r\n".iter().cycle() {
                    ticker.tick().await;
                    let byte = if endless { b'x' } else { *b };
                    if s.write_all(&[byte]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let mut sc = scope(port);
    sc.limits.timeout = std::time::Duration::from_millis(400);
    let (g, _dir) = guard(sc, vec!["127.0.0.1:53".parse().unwrap()], now());
    let client = HttpClient::new("KR-HTTP", "").unwrap();
    for path in ["/drip", "/endless"] {
        let started = std::time::Instant::now();
        let e = client.fetch(&g, &get(port, path)).await.unwrap_err();
        let took = started.elapsed();
        assert_eq!(e, FetchError::Timeout(400), "{path}");
        assert!(!e.is_definite());
        assert!(took < std::time::Duration::from_millis(1000), "{path}: {took:?}");
    }
}

/// A body cut short of its Content-Length, or a chunked body that stops
/// before its last chunk, is an error: no template reads half a page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_bodies_are_errors_not_answers() {
    let (port, _, _) = server(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789".to_vec(),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nx".to_vec(),
    ])
    .await;
    let (g, _dir) = guard(scope(port), vec!["127.0.0.1:53".parse().unwrap()], now());
    let client = HttpClient::new("KR-HTTP", "").unwrap();
    for _ in 0..3 {
        let e = client.fetch(&g, &get(port, "/")).await.unwrap_err();
        assert!(matches!(e, FetchError::Protocol(_)), "{e:?}");
        assert!(!e.is_definite());
    }
}
