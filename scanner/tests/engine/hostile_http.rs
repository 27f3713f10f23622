//! Hostile HTTP servers on loopback against the client: none can grow its
//! memory past the caps or hold a request past the deadline (`timeout_ms`,
//! connect to last byte), and none is taken for a definite answer.

use std::future::Future;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use haetae_scanner::http::{BODY_CAP, FetchError, HttpClient, HttpResponse, Method, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{guard, now};

const ADDR: &str = "127.77.9.40";
/// The scope's `timeout_ms` in these tests.
const TIMEOUT: Duration = Duration::from_millis(400);
/// What a loaded 2-core machine may add to the deadline before the error is seen.
const SLACK: Duration = Duration::from_millis(1600);

/// Accept connections; after each request head, hand the stream to `behave`.
async fn hostile<F, Fut>(behave: F) -> u16
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind((ADDR, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            tokio::spawn(behave(s));
        }
    });
    port
}

/// Fetch `/` from the server on `port`; the result and how long it took.
async fn fetch(port: u16) -> (Result<HttpResponse, FetchError>, Duration) {
    let mut scope = crate::support::net_scope("KR-HOSTILE", "127.77.9.0/24", port);
    scope.limits.timeout = TIMEOUT;
    let (g, _dir) = guard(scope, vec!["127.0.0.1:53".parse().unwrap()], now());
    let client = HttpClient::new("KR-HOSTILE", "").unwrap();
    let req = Request {
        https: false,
        host: ADDR,
        addr: ADDR.parse::<IpAddr>().unwrap(),
        port,
        method: Method::Get,
        path: "/",
        headers: &[],
    };
    let started = Instant::now();
    let r = client.fetch(&g, &req).await;
    (r, started.elapsed())
}

/// Write `piece` again and again until the client goes away, pausing `every` between writes.
async fn forever(mut s: TcpStream, head: &'static [u8], piece: Vec<u8>, every: Duration) {
    if s.write_all(head).await.is_err() {
        return;
    }
    loop {
        if s.write_all(&piece).await.is_err() {
            return;
        }
        if !every.is_zero() {
            tokio::time::sleep(every).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_megabytes_of_headers_stop_at_the_head_cap() {
    // Many header lines, then one line that never ends: neither is read past 64 KiB.
    let lines = hostile(|s| {
        forever(s, b"HTTP/1.1 200 OK\r\n", b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaa\r\n".to_vec(), Duration::ZERO)
    })
    .await;
    let one_line = hostile(|s| forever(s, b"HTTP/1.1 200 OK\r\nX-Long: ", vec![b'a'; 64 * 1024], Duration::ZERO)).await;
    for port in [lines, one_line] {
        let (r, took) = fetch(port).await;
        let e = r.unwrap_err();
        assert!(matches!(e, FetchError::Protocol(_)), "an oversize head is no answer, not `not HTTP`: {e:?}");
        assert!(!e.is_definite());
        assert!(took < TIMEOUT + SLACK, "{took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_drip_head_or_body_ends_at_the_deadline() {
    let head = hostile(|s| forever(s, b"HTTP/1.1 200 OK\r\nX-Drip: ", b"a".to_vec(), Duration::from_millis(20))).await;
    let body = hostile(|s| {
        forever(s, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"a".to_vec(), Duration::from_millis(20))
    })
    .await;
    let chunks = hostile(|s| {
        forever(
            s,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"1\r\na\r\n".to_vec(),
            Duration::from_millis(20),
        )
    })
    .await;
    for port in [head, body, chunks] {
        let (r, took) = fetch(port).await;
        let e = r.unwrap_err();
        assert_eq!(e, FetchError::Timeout(400));
        assert!(!e.is_definite());
        assert!(took >= TIMEOUT && took < TIMEOUT + SLACK, "{took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_bodies_are_cut_at_the_cap() {
    let piece = vec![b'a'; 16 * 1024];
    let close = hostile({
        let piece = piece.clone();
        move |s| forever(s, b"HTTP/1.1 200 OK\r\n\r\n", piece.clone(), Duration::ZERO)
    })
    .await;
    let chunked = hostile({
        let mut chunk = format!("{:x}\r\n", piece.len()).into_bytes();
        chunk.extend_from_slice(&piece);
        chunk.extend_from_slice(b"\r\n");
        move |s| forever(s, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", chunk.clone(), Duration::ZERO)
    })
    .await;
    // A Content-Length far past the cap (the body behind it never ends).
    let huge = hostile({
        let piece = piece.clone();
        move |s| forever(s, b"HTTP/1.1 200 OK\r\nContent-Length: 10000000000000\r\n\r\n", piece.clone(), Duration::ZERO)
    })
    .await;
    for port in [close, chunked, huge] {
        let (r, took) = fetch(port).await;
        let r = r.unwrap();
        assert!(r.truncated);
        assert_eq!(r.body.len(), BODY_CAP);
        assert!(r.body.capacity() <= BODY_CAP, "the body never grew past the cap: {}", r.body.capacity());
        assert!(took < TIMEOUT + SLACK, "{took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_size_past_u64_is_a_broken_body() {
    let port = hostile(|mut s| async move {
        let reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1FFFFFFFFFFFFFFFFFFFF\r\naaaa";
        let _ = s.write_all(reply).await;
        // Stay open: the client must not wait for the chunk to arrive.
        let mut buf = [0u8; 16];
        let _ = s.read(&mut buf).await;
    })
    .await;
    let (r, took) = fetch(port).await;
    let e = r.unwrap_err();
    assert!(matches!(e, FetchError::Protocol(_)), "{e:?}");
    assert!(!e.is_definite());
    assert!(took < TIMEOUT + SLACK, "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_content_length_is_a_cut_body_not_an_answer() {
    // More promised than sent, then a close: cut short at once.
    let closes = hostile(|mut s| async move {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly ten b").await;
        let _ = s.shutdown().await;
    })
    .await;
    // More promised than sent, then silence: the deadline.
    let stalls = hostile(|mut s| async move {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly ten b").await;
        let mut buf = [0u8; 16];
        let _ = s.read(&mut buf).await;
    })
    .await;
    let (r, took) = fetch(closes).await;
    let e = r.unwrap_err();
    assert!(matches!(&e, FetchError::Protocol(why) if why.contains("cut short")), "{e:?}");
    assert!(!e.is_definite());
    assert!(took < TIMEOUT + SLACK, "{took:?}");
    let (r, took) = fetch(stalls).await;
    assert_eq!(r.unwrap_err(), FetchError::Timeout(400));
    assert!(took >= TIMEOUT && took < TIMEOUT + SLACK, "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sloppy_heads_are_still_http_and_too_many_fields_are_no_answer() {
    // A header line without a colon is skipped, as browsers do: still HTTP.
    let sloppy = hostile(|mut s| async move {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nthis is no header\r\nServer: x\r\nContent-Length: 2\r\n\r\nok").await;
    })
    .await;
    let (r, _) = fetch(sloppy).await;
    let r = r.unwrap();
    assert_eq!((r.status, r.header("server"), r.body.as_slice()), (200, Some("x"), &b"ok"[..]));
    // 90 fields are fine; 1,000 small ones (well under 64 KiB) are past the field cap (100).
    let fields = |n: usize| {
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..n {
            head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        head
    };
    for (n, ok) in [(90, true), (1000, false)] {
        let head = fields(n);
        let port = hostile(move |mut s| {
            let head = head.clone();
            async move {
                let _ = s.write_all(&head).await;
            }
        })
        .await;
        let (r, _) = fetch(port).await;
        match r {
            Ok(r) => assert!(ok && r.headers.len() > n, "{n} fields"),
            Err(e) => assert!(!ok && matches!(e, FetchError::Protocol(_)), "{n} fields: {e:?}"),
        }
    }
}
