//! Persistent connections (`HttpClient::fetch_in` with a `Session`) against
//! an in-process HTTP/1.1 server that keeps connections open unless told not to.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use haetae_findings::Timestamp;
use haetae_findings::audit::{self, Verdict};
use haetae_scanner::engine::{Profile, ScanRequest};
use haetae_scanner::guard::GuardError;
use haetae_scanner::http::{FetchError, HttpClient, Method, Request, Session};
use haetae_scanner::scope::Scope;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{guard, now};

const ADDR: &str = "127.77.9.30";

/// What the server does after writing a reply.
#[derive(Clone, Copy, PartialEq, Eq)]
enum After {
    Keep,
    Close,
}

/// One request as the server saw it: connection number (from 0), and text.
type Seen = Arc<Mutex<Vec<(usize, String)>>>;

/// Serve every connection until the client closes it, answering request `n`
/// (counted over all connections, from 0) with `reply(n, method, path)`.
async fn server<F>(reply: F) -> (u16, Seen)
where
    F: Fn(usize, &str, &str) -> (Vec<u8>, After) + Send + Sync + 'static,
{
    let l = TcpListener::bind((ADDR, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let reply = Arc::new(reply);
    let seen2 = seen.clone();
    tokio::spawn(async move {
        let mut conn = 0;
        while let Ok((mut s, _)) = l.accept().await {
            let (seen, reply) = (seen2.clone(), reply.clone());
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = vec![0u8; 4096];
                loop {
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    let text = String::from_utf8_lossy(&got[..end]).into_owned();
                    got.drain(..end);
                    let n = {
                        let mut seen = seen.lock().unwrap();
                        seen.push((conn, text.clone()));
                        seen.len() - 1
                    };
                    let mut words = text.split(' ');
                    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                    let (bytes, after) = reply(n, method, path);
                    if s.write_all(&bytes).await.is_err() || after == After::Close {
                        let _ = s.shutdown().await;
                        return;
                    }
                }
            });
            conn += 1;
        }
    });
    (port, seen)
}

fn scope(port: u16) -> Scope {
    crate::support::net_scope("KR-KEEP", "127.77.9.0/24", port)
}

fn req(port: u16, method: Method, path: &str) -> Request<'_> {
    Request { https: false, host: ADDR, addr: ADDR.parse::<IpAddr>().unwrap(), port, method, path, headers: &[] }
}

fn ok(body: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

fn connections(seen: &Seen) -> usize {
    seen.lock().unwrap().iter().map(|(c, _)| c + 1).max().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_of_a_session_share_one_connection_and_its_audit_record() {
    let (port, seen) = server(|_, method, path| {
        let reply = match (method, path) {
            ("HEAD", _) => b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n".to_vec(),
            (_, "/chunked") => {
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nDigest: x\r\n\r\n".to_vec()
            }
            (_, "/empty") => b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
            (_, "/hint") => {
                b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n".iter().chain(&ok("hinted")).copied().collect()
            }
            _ => ok(path),
        };
        (reply, After::Keep)
    })
    .await;
    let (g, dir) = guard(scope(port), vec!["127.0.0.1:53".parse().unwrap()], now());
    let client = HttpClient::new("KR-KEEP", "team@agency.test").unwrap();
    let mut session = Session::new();
    let mut audits = Vec::new();
    let plan = [
        (Method::Get, "/a", 200, "/a"),
        (Method::Get, "/chunked", 200, "hello"),
        (Method::Head, "/h", 200, ""),
        (Method::Get, "/empty", 204, ""),
        (Method::Get, "/hint", 200, "hinted"),
        (Method::Get, "/b", 200, "/b"),
    ];
    for (method, path, status, body) in plan {
        let r = client.fetch_in(&g, &mut session, &req(port, method, path)).await.unwrap();
        assert_eq!((r.status, String::from_utf8_lossy(&r.body).as_ref()), (status, body), "{path}");
        audits.push(r.audit);
    }
    assert_eq!(connections(&seen), 1, "one connection carried every request");
    assert_eq!(session.connections(), 1);
    assert!(audits.iter().all(|a| *a == audits[0] && *a > 0), "{audits:?}");
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), plan.len());
    for (_, text) in &requests {
        assert!(!text.to_ascii_lowercase().contains("connection: close"), "{text}");
        assert!(text.contains("engagement KR-KEEP; contact team@agency.test"), "{text}");
    }
    g.sync_audit().unwrap();
    let records = audit::read_all(&dir.path().join("audit.jsonl")).unwrap();
    assert_eq!(records.len(), 1, "the one connection is audited once");
    assert_eq!((records[0].seq, records[0].entry.probe.as_str()), (audits[0], "http.get"));
    // A one-off fetch still asks the server to close.
    client.fetch(&g, &req(port, Method::Get, "/c")).await.unwrap();
    assert!(seen.lock().unwrap().last().unwrap().1.contains("Connection: close\r\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_the_server_ends_are_reopened_through_the_guard() {
    // Request 1: the server closes after answering, without saying so (the
    // next request finds the connection dead). Request 2 says
    // `Connection: close`. Request 3 has no framing (body until close).
    // Request 4 declares more than it sends before the stray bytes.
    let (port, seen) = server(|n, _, _| match n {
        1 => (ok("one"), After::Close),
        2 => (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\ntwo".to_vec(), After::Keep),
        3 => (b"HTTP/1.1 200 OK\r\n\r\nthree".to_vec(), After::Close),
        4 => (b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfourXXXX".to_vec(), After::Keep),
        6 => (b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nsix".to_vec(), After::Keep),
        n => (ok(&n.to_string()), After::Keep),
    })
    .await;
    let (g, dir) = guard(scope(port), vec!["127.0.0.1:53".parse().unwrap()], now());
    let client = HttpClient::new("KR-KEEP", "").unwrap();
    let mut session = Session::new();
    let mut bodies = Vec::new();
    for i in 0..8 {
        let r = client.fetch_in(&g, &mut session, &req(port, Method::Get, &format!("/{i}"))).await.unwrap();
        bodies.push(String::from_utf8_lossy(&r.body).into_owned());
    }
    assert_eq!(bodies, ["0", "one", "two", "three", "four", "5", "six", "7"]);
    // Connections: 0-1 | 2 (after a silent close: no request was lost on the
    // dead one) | 3 | 4 | 5-6 | 7 (HTTP/1.0 without keep-alive ends it).
    let conns: Vec<usize> = seen.lock().unwrap().iter().map(|(c, _)| *c).collect();
    assert_eq!(conns, [0, 0, 1, 2, 3, 4, 4, 5]);
    assert_eq!(session.connections(), 6);
    g.sync_audit().unwrap();
    let records = audit::read_all(&dir.path().join("audit.jsonl")).unwrap();
    assert_eq!(records.len(), 6, "every connection is audited");
    assert!(records.iter().all(|r| r.entry.verdict == Verdict::Allowed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stray_bytes_on_a_kept_connection_are_not_taken_for_a_response() {
    // The second request on the first connection gets garbage (as from a
    // broken server that sent a body after a HEAD reply): the client retries
    // it once on a new connection instead of failing or misreading.
    let (port, seen) = server(|n, _, path| match n {
        1 => (b"ello world\r\n\r\n".to_vec(), After::Keep),
        _ => (ok(path), After::Keep),
    })
    .await;
    let (g, _dir) = guard(scope(port), vec!["127.0.0.1:53".parse().unwrap()], now());
    let client = HttpClient::new("KR-KEEP", "").unwrap();
    let mut session = Session::new();
    for path in ["/a", "/b", "/c"] {
        let r = client.fetch_in(&g, &mut session, &req(port, Method::Get, path)).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, path.as_bytes()));
    }
    let conns: Vec<usize> = seen.lock().unwrap().iter().map(|(c, _)| *c).collect();
    assert_eq!(conns, [0, 0, 1, 1]);
    // A server that answers garbage on a new connection is an error, not a loop.
    let (port, _) = server(|_, _, _| (b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec(), After::Keep)).await;
    let (g, _dir) = guard(scope(port), vec!["127.0.0.1:53".parse().unwrap()], now());
    let e = client.fetch_in(&g, &mut Session::new(), &req(port, Method::Get, "/")).await.unwrap_err();
    assert!(matches!(e, FetchError::NotHttp(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_connection_is_not_used_after_the_window_closes() {
    let (port, seen) = server(|_, _, path| (ok(path), After::Keep)).await;
    let scope = scope(port);
    let closed = Arc::new(AtomicBool::new(false));
    let late = scope.engagement.not_after.plus_days(1);
    let clock = {
        let closed = closed.clone();
        Arc::new(move || if closed.load(Ordering::SeqCst) { late } else { Timestamp::now() })
    };
    let (g, dir) = guard(scope, vec!["127.0.0.1:53".parse().unwrap()], clock);
    let client = HttpClient::new("KR-KEEP", "").unwrap();
    let mut session = Session::new();
    client.fetch_in(&g, &mut session, &req(port, Method::Get, "/a")).await.unwrap();
    closed.store(true, Ordering::SeqCst);
    let e = client.fetch_in(&g, &mut session, &req(port, Method::Get, "/b")).await.unwrap_err();
    assert!(matches!(e, FetchError::Guard(GuardError::Window(_))), "{e:?}");
    assert_eq!(seen.lock().unwrap().len(), 1, "nothing was sent after the window closed");
    g.sync_audit().unwrap();
    let records = audit::read_all(&dir.path().join("audit.jsonl")).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].entry.verdict, Verdict::Refused, "the refusal is audited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_on_a_kept_connection_wait_for_the_per_host_rate() {
    let (port, seen) = server(|_, _, path| (ok(path), After::Keep)).await;
    let mut scope = scope(port);
    scope.limits.per_host_rps = 10; // one token each 100 ms, bursts of one
    let (g, _dir) = guard(scope, vec!["127.0.0.1:53".parse().unwrap()], now());
    let client = HttpClient::new("KR-KEEP", "").unwrap();
    let mut session = Session::new();
    let started = Instant::now();
    for i in 0..6 {
        client.fetch_in(&g, &mut session, &req(port, Method::Get, &format!("/{i}"))).await.unwrap();
    }
    let took = started.elapsed();
    assert_eq!(connections(&seen), 1);
    assert!(took >= Duration::from_millis(450), "6 requests at 10/s took only {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_sends_the_requests_of_a_name_over_one_connection() {
    let (port, seen) = server(|_, _, path| (ok(path), After::Keep)).await;
    let mut scope = scope(port);
    scope.limits.timeout = Duration::from_millis(300);
    let req = ScanRequest { targets: vec![ADDR.to_owned()], profile: Profile::Standard, ..Default::default() };
    let run = crate::support::scan(scope, vec!["127.0.0.1:53".parse().unwrap()], now(), req).await;
    assert!(run.outcome.complete, "{:?}", run.outcome);
    let requests = seen.lock().unwrap().clone();
    let templates = haetae_scanner::templates::TemplateSet::builtin().unwrap();
    // One request per distinct template request, and one TRACE (http.trace-enabled).
    let expected = templates.requests_for("http", port).len() + 1;
    assert_eq!(requests.len(), expected, "one request per distinct template request, and one TRACE");
    assert!(requests.iter().all(|(c, _)| *c == requests[0].0), "one connection for the name");
    // The server sends no security headers: the header checks fire, with the
    // connection's audit record as evidence.
    let xcto = run.found.iter().find(|o| o.check.to_string() == "http.xcto-missing").expect("xcto finding");
    assert_eq!(xcto.audit.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_sessions_keep_their_tls_connection() {
    let acceptor = crate::support::self_signed_acceptor();
    let l = TcpListener::bind((ADDR, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    let handshakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let Ok(mut tls) = acceptor.accept(s).await else { continue };
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (mut got, mut buf) = (Vec::new(), vec![0u8; 4096]);
                loop {
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    let path = String::from_utf8_lossy(&got[..end]).split(' ').nth(1).unwrap_or("").to_owned();
                    got.drain(..end);
                    if tls.write_all(&ok(&path)).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let (g, _dir) = guard(scope(port), vec!["127.0.0.1:53".parse().unwrap()], now());
    let client = HttpClient::new("KR-KEEP", "").unwrap();
    let mut session = Session::new();
    for path in ["/a", "/b", "/c"] {
        let mut r = req(port, Method::Get, path);
        r.https = true;
        let resp = client.fetch_in(&g, &mut session, &r).await.unwrap();
        assert_eq!(resp.body, path.as_bytes());
    }
    assert_eq!(handshakes.load(Ordering::SeqCst), 1, "one TLS handshake for the session");
    assert_eq!(session.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_will_close_is_not_kept() {
    // Kept: HTTP/1.1, and HTTP/1.0 with keep-alive. Not kept: `Connection:
    // close`, HTTP/1.0 without keep-alive, stray bytes after the body.
    let (port, _) = server(|_, _, path| {
        let reply = match path {
            "/close" => b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok".to_vec(),
            "/old" => b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
            "/old-kept" => b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok".to_vec(),
            "/stray" => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokXX".to_vec(),
            _ => ok("ok"),
        };
        (reply, After::Keep)
    })
    .await;
    let (g, _dir) = guard(scope(port), vec!["127.0.0.1:53".parse().unwrap()], now());
    let client = HttpClient::new("KR-KEEP", "").unwrap();
    for (path, kept) in [("/", true), ("/close", false), ("/old", false), ("/old-kept", true), ("/stray", false)] {
        let mut session = Session::new();
        let r = client.fetch_in(&g, &mut session, &req(port, Method::Get, path)).await.unwrap();
        assert_eq!(r.body, b"ok");
        let open = !format!("{session:?}").contains("open: None");
        assert_eq!(open, kept, "{path}: {session:?}");
    }
}
