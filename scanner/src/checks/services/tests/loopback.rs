//! `probe_silent` through a real [`ScopeGuard`] against in-process servers on
//! 127.0.0.1 that answer like each service (weak and hardened), and against
//! servers that must yield nothing.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::super::wire::{PG_SSL_REQUEST, RDP_CONNECTION_REQUEST};
use super::*;

const LOCALHOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

pub(super) use crate::test_support::{guard_for, loopback_guard, scope_text};

/// How a canned server answers one chunk a client sent.
#[derive(Clone)]
enum Answer {
    Send(Vec<u8>),
    Close,
    Nothing,
}

/// A server on 127.0.0.1:0 that writes `banner` on accept, then answers each
/// chunk it reads with `respond`, for every connection, until dropped.
async fn canned(banner: &'static [u8], respond: fn(&[u8]) -> Answer) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                if !banner.is_empty() && sock.write_all(banner).await.is_err() {
                    return;
                }
                let mut buf = vec![0u8; 4096];
                loop {
                    let n = match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    match respond(&buf[..n]) {
                        Answer::Send(reply) => {
                            if sock.write_all(&reply).await.is_err() {
                                return;
                            }
                        }
                        Answer::Close => return,
                        Answer::Nothing => {}
                    }
                }
            });
        }
    });
    addr
}

async fn probe(addr: SocketAddr, timeout_ms: u64) -> SilentReport {
    let (guard, _dir) = loopback_guard(addr.port(), timeout_ms);
    let started = Instant::now();
    let report = probe_silent(&guard, "127.0.0.1", addr.ip(), addr.port()).await;
    assert!(started.elapsed() < MAX_WAIT * 3, "bounded: {:?}", started.elapsed());
    report
}

fn only(report: &SilentReport) -> &Identified {
    assert!(report.definite, "{report:?}");
    assert_eq!(report.found.len(), 1, "{report:?}");
    &report.found[0]
}

fn nothing(report: &SilentReport) {
    assert!(report.definite, "{report:?}");
    assert!(report.found.is_empty(), "{report:?}");
    assert!(report.errors.is_empty(), "{report:?}");
}

fn redis_weak(req: &[u8]) -> Answer {
    match req {
        b"PING\r\n" => Answer::Send(b"+PONG\r\n".to_vec()),
        b"INFO server\r\n" => {
            let body = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nos:Linux\r\n";
            Answer::Send(format!("${}\r\n{body}\r\n", body.len()).into_bytes())
        }
        _ => Answer::Send(b"-ERR unknown command\r\n".to_vec()),
    }
}

fn redis_hardened(_: &[u8]) -> Answer {
    Answer::Send(b"-NOAUTH Authentication required.\r\n".to_vec())
}

fn redis_protected(_: &[u8]) -> Answer {
    Answer::Send(b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user.\r\n".to_vec())
}

#[tokio::test]
async fn weak_redis_is_reported_with_its_version() {
    let report = probe(canned(b"", redis_weak).await, 2000).await;
    let id = only(&report);
    assert_eq!(id.check, CheckId::SvcRedisNoauth);
    assert_eq!(id.evidence, "Redis answered PING with +PONG without authentication (redis_version 7.0.15)");
    assert_eq!(id.audit.len(), 1);
}

/// What a real Redis with `requirepass` does: a line gets `-NOAUTH`; bytes
/// without a line end (the PostgreSQL, MongoDB and RDP probes) get silence,
/// Redis waiting for the rest of its inline command.
fn redis_real_auth(req: &[u8]) -> Answer {
    if req.ends_with(b"\r\n") {
        Answer::Send(b"-NOAUTH Authentication required.\r\n".to_vec())
    } else {
        Answer::Nothing
    }
}

#[tokio::test]
async fn a_real_redis_asking_for_auth_decides_the_redis_check_though_other_probes_get_silence() {
    let report = probe(canned(b"", redis_real_auth).await, 500).await;
    assert!(report.found.is_empty(), "{report:?}");
    assert!(!report.definite, "the other probes got no answer: {report:?}");
    assert!(report.redis_definite, "Redis said -NOAUTH: svc.redis-noauth is decided: {report:?}");
    // A server silent to everything decides nothing, not even Redis.
    fn silent(_: &[u8]) -> Answer {
        Answer::Nothing
    }
    let report = probe(canned(b"", silent).await, 500).await;
    assert!(!report.definite && !report.redis_definite, "{report:?}");
}

#[tokio::test]
async fn redis_asking_for_auth_or_in_protected_mode_is_not_reported() {
    nothing(&probe(canned(b"", redis_hardened).await, 2000).await);
    nothing(&probe(canned(b"", redis_protected).await, 2000).await);
}

fn pg_s(req: &[u8]) -> Answer {
    if req == PG_SSL_REQUEST { Answer::Send(b"S".to_vec()) } else { Answer::Close }
}

fn pg_n(req: &[u8]) -> Answer {
    if req == PG_SSL_REQUEST { Answer::Send(b"N".to_vec()) } else { Answer::Close }
}

#[tokio::test]
async fn postgres_ssl_answers_are_reported() {
    let id = only(&probe(canned(b"", pg_s).await, 2000).await).clone();
    assert_eq!(id.check, CheckId::SvcDatabaseExposed);
    assert_eq!(id.service, Service::Postgres);
    assert_eq!(id.confidence, Confidence::Firm);
    assert_eq!(id.evidence, "PostgreSQL answered an SSLRequest with 'S' (TLS offered)");
    let id = only(&probe(canned(b"", pg_n).await, 2000).await).clone();
    assert_eq!(id.evidence, "PostgreSQL answered an SSLRequest with 'N' (no TLS)");
}

#[tokio::test]
async fn a_server_answering_n_to_everything_only_matches_postgres() {
    // The other probes' requests get an "N" too, and must not match.
    let report = probe(canned(b"", |_| Answer::Send(b"N".to_vec())).await, 300).await;
    assert!(report.definite);
    assert_eq!(report.found.iter().map(|f| f.service).collect::<Vec<_>>(), vec![Service::Postgres]);
}

/// A server that answers the first chunk with `first`, then `then` in a second
/// write (or closes when `then` is empty).
async fn two_writes(first: &'static [u8], then: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                if !matches!(sock.read(&mut buf).await, Ok(n) if n > 0) || sock.write_all(first).await.is_err() {
                    return;
                }
                tokio::task::yield_now().await;
                if then.is_empty() {
                    let _ = sock.shutdown().await;
                    return;
                }
                let _ = sock.write_all(then).await;
                let _ = sock.read(&mut buf).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn one_byte_followed_by_more_or_by_a_close_is_not_postgres() {
    nothing(&probe(two_writes(b"N", b"O SUCH SERVICE\r\n").await, 300).await);
    nothing(&probe(two_writes(b"S", b"").await, 300).await);
    nothing(&probe(canned(b"", |_| Answer::Send(b"NO\r\n".to_vec())).await, 300).await);
}

fn mongo(req: &[u8]) -> Answer {
    if req.len() > 16 && req[12..16] == 2013i32.to_le_bytes() {
        let id = i32::from_le_bytes(req[4..8].try_into().unwrap());
        Answer::Send(op_msg_reply(id, &mongo_hello_doc()))
    } else {
        Answer::Close
    }
}

/// MongoDB 4.0: `hello` is an unknown command; `isMaster` works.
fn mongo_40(req: &[u8]) -> Answer {
    if req.len() > 16 && req[12..16] == 2013i32.to_le_bytes() {
        let id = i32::from_le_bytes(req[4..8].try_into().unwrap());
        let doc = if req.windows(8).any(|w| w == b"isMaster") {
            bson(&[el_i32("maxWireVersion", 7), el_f64("ok", 1.0)].concat())
        } else {
            bson(&[el_f64("ok", 0.0), el_str("errmsg", "no such command: 'hello'"), el_i32("code", 59)].concat())
        };
        Answer::Send(op_msg_reply(id, &doc))
    } else {
        Answer::Close
    }
}

#[tokio::test]
async fn mongodb_hello_is_reported_with_its_wire_version() {
    let id = only(&probe(canned(b"", mongo).await, 2000).await).clone();
    assert_eq!(id.check, CheckId::SvcDatabaseExposed);
    assert_eq!(id.evidence, "MongoDB answered hello: maxWireVersion 21, MongoDB 7.0");
    let id = only(&probe(canned(b"", mongo_40).await, 2000).await).clone();
    assert_eq!(id.evidence, "MongoDB answered isMaster: maxWireVersion 7, MongoDB 4.0");
}

#[tokio::test]
async fn rdp_connection_confirm_is_reported() {
    fn rdp(req: &[u8]) -> Answer {
        if req == RDP_CONNECTION_REQUEST { Answer::Send(XRDP_CONFIRM.to_vec()) } else { Answer::Close }
    }
    let id = only(&probe(canned(b"", rdp).await, 2000).await).clone();
    assert_eq!(id.check, CheckId::SvcRemoteDesktopExposed);
    assert_eq!(id.service, Service::Rdp);
    assert_eq!(id.evidence, "RDP answered an X.224 Connection Request with a Connection Confirm (selected TLS)");
}

#[tokio::test]
async fn a_silent_server_is_no_answer_within_the_wait() {
    // Silence is not an answer: a Redis that turned slow must not look like
    // no Redis (that would close its finding).
    let addr = canned(b"", |_| Answer::Nothing).await;
    let started = Instant::now();
    let report = probe(addr, 300).await;
    assert!(!report.definite && report.found.is_empty(), "{report:?}");
    let took = started.elapsed();
    assert!(took >= std::time::Duration::from_millis(300) && took < std::time::Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn http_ssh_and_echo_servers_yield_nothing() {
    fn http(_: &[u8]) -> Answer {
        Answer::Send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec())
    }
    nothing(&probe(canned(b"", http).await, 300).await);
    nothing(&probe(canned(b"SSH-2.0-OpenSSH_9.6\r\n", |_| Answer::Nothing).await, 300).await);
    nothing(&probe(canned(b"", |req| Answer::Send(req.to_vec())).await, 300).await);
}

#[tokio::test]
async fn a_server_that_floods_gets_a_bounded_read() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let chunk = vec![b'A'; 64 * 1024];
                while sock.write_all(&chunk).await.is_ok() {}
            });
        }
    });
    nothing(&probe(addr, 2000).await);
}

#[tokio::test]
async fn a_closed_port_is_a_definite_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    nothing(&probe(addr, 300).await);
}

#[tokio::test]
async fn a_closed_window_is_reported_as_an_error() {
    let addr = canned(b"", redis_weak).await;
    let (guard, _dir) = guard_for(&scope_text(addr.port(), 300, "2001-01-01T00:00:00Z"));
    let report = probe_silent(&guard, "127.0.0.1", LOCALHOST, addr.port()).await;
    assert!(!report.definite);
    assert!(report.found.is_empty());
    assert_eq!(report.errors.len(), 4);
    assert!(report.errors.iter().all(GuardError::is_window), "{:?}", report.errors);
}

#[tokio::test]
async fn each_probe_has_its_own_audited_connection() {
    let addr = canned(b"", redis_weak).await;
    let (guard, dir) = loopback_guard(addr.port(), 2000);
    let report = probe_silent(&guard, "127.0.0.1", LOCALHOST, addr.port()).await;
    assert_eq!(report.found.len(), 1);
    guard.sync_audit().unwrap();
    let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    for probe in ["svc.redis", "svc.postgres", "svc.mongodb", "svc.rdp"] {
        assert_eq!(log.matches(&format!("\"probe\":\"{probe}\"")).count(), 1, "{probe}: {log}");
    }
    let redis_line = log.lines().find(|l| l.contains("\"probe\":\"svc.redis\"")).unwrap();
    assert!(redis_line.contains(&format!("\"seq\":{}", report.found[0].audit[0])), "{redis_line}");
}

#[test]
fn greetings_of_weak_and_hardened_mysql() {
    assert!(from_greeting(&mysql_greeting("8.0.36")).is_some());
    assert!(from_greeting(&mysql_err("Host '127.0.0.1' is not allowed to connect to this MySQL server")).is_none());
}
