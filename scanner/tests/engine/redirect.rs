//! Redirects followed through the guard: in-scope hops are taken, anything
//! else ends the chain with a reason, and no packet leaves the scope.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use haetae_lab::Lab;
use haetae_scanner::http::{HttpClient, MAX_REDIRECTS, Method, Request, fetch_following};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{guard, lab_scope, now};

/// Answer every connection with `reply(path)`; count connections.
async fn server(ip: &str, reply: fn(&str, u16) -> String) -> (u16, Arc<AtomicUsize>) {
    server_on(TcpListener::bind((ip, 0)).await.unwrap(), reply)
}

fn server_on(l: TcpListener, reply: fn(&str, u16) -> String) -> (u16, Arc<AtomicUsize>) {
    let port = l.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let count2 = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else { return };
            count2.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                let text = String::from_utf8_lossy(&got).into_owned();
                let path = text.split(' ').nth(1).unwrap_or("/").to_owned();
                let _ = s.write_all(reply(&path, port).as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (port, count)
}

fn redirect(location: &str) -> String {
    format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n")
}

fn ok(body: &str) -> String {
    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len())
}

fn get<'a>(ip: &'a str, port: u16, path: &'a str) -> Request<'a> {
    Request {
        https: false,
        host: ip,
        addr: ip.parse::<IpAddr>().unwrap(),
        port,
        method: Method::Get,
        path,
        headers: &[],
    }
}

/// The lab's scope with `port` added to its ports.
fn scope_with_port(lab: &Lab, port: u16) -> haetae_scanner::scope::Scope {
    lab_scope(lab, |s| s.replace("ports = [", &format!("ports = [{port}, ")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_scope_hops_are_followed_by_address_and_by_name() {
    let lab = Lab::start().await.unwrap();
    // www.agency.test resolves to 127.77.1.20 in the lab.
    let target = TcpListener::bind(("127.77.1.20", 0)).await.unwrap();
    let (target_port, _) = server_on(target, |path, _| ok(&format!("landed on {path}")));
    let first = TcpListener::bind(("127.77.9.31", target_port)).await.unwrap();
    let (port, _) = server_on(first, |path, port| match path {
        "/" => redirect("/step?x=1"),
        "/step?x=1" => redirect(&format!("http://www.agency.test:{port}/final")),
        other => ok(other),
    });
    assert_eq!(port, target_port);
    let (g, _dir) = guard(scope_with_port(&lab, port), vec![lab.dns_addr()], now());
    let client = HttpClient::new("KR-LAB-0001", "").unwrap();
    let f = fetch_following(&client, &g, &get("127.77.9.31", port, "/")).await.unwrap();
    assert_eq!(f.response.status, 200, "{f:?}");
    assert_eq!(f.response.body, b"landed on /final");
    assert_eq!(
        f.chain,
        [
            format!("http://127.77.9.31:{port}/"),
            format!("http://127.77.9.31:{port}/step?x=1"),
            format!("http://www.agency.test:{port}/final"),
        ]
    );
    assert_eq!((f.audit.len(), f.stopped), (3, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_scope_excluded_and_unresolvable_targets_end_the_chain_without_a_packet() {
    let lab = Lab::start().await.unwrap();
    // A listener outside the scope's cidrs that must never see a connection.
    let outside = TcpListener::bind(("127.99.0.77", 0)).await.unwrap();
    let (port, outside_count) = server_on(outside, |_, _| ok("outside"));
    let inside = TcpListener::bind(("127.77.9.32", port)).await.unwrap();
    let (_, inside_count) = server_on(inside, |path, port| match path {
        "/addr" => redirect(&format!("http://127.99.0.77:{port}/")),
        // The lab's legacy.agency.test is a CNAME to an out-of-scope name.
        "/cname" => redirect(&format!("http://legacy.agency.test:{port}/")),
        "/name" => redirect("https://www.othercorp.test/"),
        "/excluded" => redirect("/logout"),
        "/port" => redirect("http://127.77.9.32:1/"),
        "/scheme" => redirect("ftp://127.77.9.32/"),
        other => ok(other),
    });
    let (g, _dir) = guard(scope_with_port(&lab, port), vec![lab.dns_addr()], now());
    let client = HttpClient::new("KR-LAB-0001", "").unwrap();
    for (path, why) in [
        ("/addr", "127.99.0.77"),
        ("/cname", "out of scope"),
        ("/name", "www.othercorp.test"),
        ("/excluded", "logout"),
        ("/port", "port 1"),
        ("/scheme", "not http or https"),
    ] {
        let f = fetch_following(&client, &g, &get("127.77.9.32", port, path)).await.unwrap();
        assert_eq!(f.response.status, 302, "{path}");
        let stopped = f.stopped.clone().unwrap_or_default();
        assert!(stopped.contains(why), "{path}: {stopped}");
        assert_eq!(f.chain.len(), 1, "{path}");
    }
    assert_eq!(outside_count.load(Ordering::SeqCst), 0, "no packet to the out-of-scope address");
    assert_eq!(inside_count.load(Ordering::SeqCst), 6, "one connection per first request, none for refused hops");
    assert_eq!(lab.out_of_scope_connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_redirects_and_loops_stop() {
    let lab = Lab::start().await.unwrap();
    let (port, count) = server("127.77.9.33", |path, _| {
        if let Some(n) = path.strip_prefix("/r/") {
            let n: u32 = n.parse().unwrap_or(0);
            redirect(&format!("/r/{}", n + 1))
        } else if path == "/a" {
            redirect("/b")
        } else if path == "/b" {
            redirect("/a")
        } else {
            ok(path)
        }
    })
    .await;
    let (g, _dir) = guard(scope_with_port(&lab, port), vec![lab.dns_addr()], now());
    let client = HttpClient::new("KR-LAB-0001", "").unwrap();
    let f = fetch_following(&client, &g, &get("127.77.9.33", port, "/r/0")).await.unwrap();
    assert_eq!(f.chain.len(), MAX_REDIRECTS + 1);
    assert!(f.stopped.as_deref().is_some_and(|s| s.contains("more than 5 redirects")), "{f:?}");
    assert_eq!(count.load(Ordering::SeqCst), MAX_REDIRECTS + 1);
    let f = fetch_following(&client, &g, &get("127.77.9.33", port, "/a")).await.unwrap();
    assert!(f.stopped.as_deref().is_some_and(|s| s.contains("redirect loop")), "{f:?}");
    assert_eq!(f.chain.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_hops_are_audited_as_refused_with_the_reason() {
    use haetae_findings::audit::{Protocol, Verdict, read_all};
    use haetae_scanner::http::redirect::REDIRECT_PROBE;

    let lab = Lab::start().await.unwrap();
    let outside = TcpListener::bind(("127.99.0.78", 0)).await.unwrap();
    let (port, outside_count) = server_on(outside, |_, _| ok("outside"));
    let inside = TcpListener::bind(("127.77.9.34", port)).await.unwrap();
    let (_, _) = server_on(inside, |path, port| match path {
        "/addr" => redirect(&format!("http://127.99.0.78:{port}/")),
        "/name" => redirect("https://www.othercorp.test/"),
        "/excluded" => redirect("/logout"),
        "/port" => redirect("http://127.77.9.34:1/"),
        "/fine" => redirect("/landed"),
        other => ok(other),
    });
    let (g, dir) = guard(scope_with_port(&lab, port), vec![lab.dns_addr()], now());
    let log = dir.path().join("audit.jsonl");
    let client = HttpClient::new("KR-LAB-0001", "").unwrap();

    // An in-scope hop is followed and nothing is refused.
    let f = fetch_following(&client, &g, &get("127.77.9.34", port, "/fine")).await.unwrap();
    assert_eq!((f.response.status, f.stopped.as_deref()), (200, None));
    g.sync_audit().unwrap();
    assert!(read_all(&log).unwrap().iter().all(|r| r.entry.verdict == Verdict::Allowed));

    for (path, target, address, hop_port, why) in [
        ("/addr", "127.99.0.78", Some("127.99.0.78"), port, "127.99.0.78"),
        ("/name", "www.othercorp.test", None, 443, "www.othercorp.test"),
        ("/excluded", "127.77.9.34", Some("127.77.9.34"), port, "/logout"),
        ("/port", "127.77.9.34", Some("127.77.9.34"), 1, "port 1"),
    ] {
        let f = fetch_following(&client, &g, &get("127.77.9.34", port, path)).await.unwrap();
        assert_eq!((f.response.status, f.chain.len()), (302, 1), "{path}");
        let stopped = f.stopped.clone().unwrap_or_default();
        assert!(stopped.contains(why), "{path}: {stopped}");
        // The first request's connection, then the refusal of the hop.
        assert_eq!(f.audit.len(), 2, "{path}: {f:?}");
        g.sync_audit().unwrap();
        let records = read_all(&log).unwrap();
        let refusal = records.iter().find(|r| r.seq == f.audit[1]).unwrap();
        let e = &refusal.entry;
        assert_eq!(e.verdict, Verdict::Refused, "{path}: {e:?}");
        assert_eq!(
            (e.probe.as_str(), e.protocol, e.outcome.as_str()),
            (REDIRECT_PROBE, Protocol::Http, "not attempted")
        );
        assert_eq!(e.target, target, "{path}");
        assert_eq!(e.address, address.map(|a| a.parse().unwrap()), "{path}");
        assert_eq!(e.port, Some(hop_port), "{path}");
        assert!(e.reason.contains(why) && !e.reason.is_empty(), "{path}: {}", e.reason);
        assert_eq!(e.engagement, "KR-LAB-0001");
    }
    assert_eq!(outside_count.load(Ordering::SeqCst), 0, "no packet to the out-of-scope address");
    assert_eq!(g.stats.refused.load(Ordering::SeqCst), 4);
    assert!(haetae_findings::audit::verify(&log).unwrap().is_ok());
    assert_eq!(lab.out_of_scope_connections(), 0);
}
