//! `http.trace-enabled` and `http.security-txt-missing` through the whole
//! engine, against in-process web servers on loopback (and, for the apex, a
//! fake name server).

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use haetae_findings::CheckId;
use haetae_scanner::engine::{CheckSelection, Profile, ScanRequest};
use haetae_scanner::scope::Scope;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::fakedns::{Ask, FakeDns, Reply, a, zone};
use crate::support::{Run, now, scan};

/// What a test server answers to one request head.
type Answer = Arc<dyn Fn(&str) -> Vec<u8> + Send + Sync>;

/// Read one request head from `s`, keep it in `seen`, write `answer`'s reply, close.
async fn serve_one<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, answer: Answer, seen: Arc<Mutex<Vec<String>>>) {
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&got).into_owned();
    seen.lock().unwrap().push(head.clone());
    let _ = s.write_all(&answer(&head)).await;
    let _ = s.shutdown().await;
}

/// A web server on `ip` (port from the kernel, or `port`), over TLS with a
/// self-signed certificate when `tls`: one request per connection, answered
/// by `answer`; every request head is kept.
async fn site_on(ip: &str, port: u16, tls: bool, answer: Answer) -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind((ip, port)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let acceptor = tls.then(crate::support::self_signed_acceptor);
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let (seen, answer, acceptor) = (seen2.clone(), answer.clone(), acceptor.clone());
            tokio::spawn(async move {
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(s).await {
                            serve_one(s, answer, seen).await;
                        }
                    }
                    None => serve_one(s, answer, seen).await,
                }
            });
        }
    });
    (port, seen)
}

async fn site(ip: &str, port: u16, answer: Answer) -> (u16, Arc<Mutex<Vec<String>>>) {
    site_on(ip, port, false, answer).await
}

/// A name server for `agency.test` whose apex (and `hosts`) are at `addr`.
pub(crate) async fn apex_dns(addr: Ipv4Addr, hosts: &'static [&'static str]) -> FakeDns {
    FakeDns::start(Arc::new(move |ask: &Ask| {
        if ask.name() == "agency.test" && ask.qtype() == hickory_proto::rr::RecordType::A {
            return Reply::Send(vec![ask.answer(vec![a("agency.test", addr)])]);
        }
        let hosts: Vec<(&str, Ipv4Addr)> = hosts.iter().map(|h| (*h, addr)).collect();
        Reply::Send(vec![zone(ask, &hosts)])
    }))
    .await
}

fn reply(status: &str, ctype: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn scope(domains: &str, cidr: &str, ports: &[u16], exclude_paths: &str) -> Scope {
    let ports = ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
    let text = format!(
        r#"
[engagement]
id = "KR-WEB"
contact = "team@agency.test"
not_before = 2000-01-01T00:00:00Z
not_after = 2999-01-01T00:00:00Z
[scope]
domains = [{domains}]
cidrs = ["{cidr}"]
ports = [{ports}]
exclude_paths = [{exclude_paths}]
[limits]
max_rps = 1000
per_host_rps = 1000
timeout_ms = 2000
"#
    );
    Scope::parse(Path::new("scope.toml"), &text).unwrap()
}

fn request(targets: &[&str], checks: CheckSelection) -> ScanRequest {
    ScanRequest {
        targets: targets.iter().map(|t| (*t).to_owned()).collect(),
        profile: Profile::Standard,
        tls: crate::support::lab_tls(),
        checks,
        ..ScanRequest::default()
    }
}

fn only(checks: &[&str]) -> CheckSelection {
    let known: Vec<&str> = CheckId::BUILTIN.iter().map(CheckId::as_str).collect();
    CheckSelection::new(&checks.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>(), &[], &known).unwrap()
}

fn found<'a>(run: &'a Run, check: &CheckId) -> Vec<&'a haetae_findings::Observation> {
    run.found.iter().filter(|o| o.check == *check).collect()
}

fn covered(run: &Run, check: &CheckId, host: &str) -> bool {
    run.covered.iter().any(|c| c.check == *check && c.host == host)
}

fn failed(run: &Run, check: &str) -> bool {
    run.failed.iter().any(|u| u.checks.contains(check))
}

/// The value of our `X-Haetae-Trace` header in a request head.
fn nonce_of(head: &str) -> Option<String> {
    head.lines()
        .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("x-haetae-trace")))
        .map(|(_, v)| v.trim().to_owned())
}

/// Scan one address whose web server answers TRACE with `trace` (and GET
/// with a small page), with `exclude_paths` and `checks`.
async fn trace_scan(ip: &str, trace: Answer, exclude_paths: &str, checks: CheckSelection) -> (Run, Vec<String>) {
    let answer: Answer = Arc::new(move |head: &str| {
        if head.starts_with("TRACE ") { trace(head) } else { reply("200 OK", "text/html", "<html>Home</html>") }
    });
    let (port, seen) = site(ip, 0, answer).await;
    let cidr = format!("{ip}/32");
    let scope = scope("\"agency.test\"", &cidr, &[port], exclude_paths);
    let run = scan(scope, vec!["127.0.0.1:9".parse().unwrap()], now(), request(&[ip], checks)).await;
    let heads = seen.lock().unwrap().clone();
    (run, heads)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_that_echoes_is_found_once_with_its_nonce() {
    let echo: Answer = Arc::new(|head: &str| reply("200 OK", "message/http", head));
    let ip = "127.77.10.20";
    let (run, heads) = trace_scan(ip, echo, "\"/logout\"", CheckSelection::all()).await;
    let traces: Vec<&String> = heads.iter().filter(|h| h.starts_with("TRACE / HTTP/1.1\r\n")).collect();
    assert_eq!(traces.len(), 1, "one TRACE per endpoint: {heads:#?}");
    let nonce = nonce_of(traces[0]).expect("the nonce header is sent");
    assert_eq!(nonce.len(), 32);
    let hits = found(&run, &CheckId::HttpTraceEnabled);
    assert_eq!(hits.len(), 1, "{:#?}", run.found);
    assert!(hits[0].evidence.contains(&nonce) && hits[0].evidence.contains("TRACE / HTTP/1.1"), "{}", hits[0].evidence);
    assert_eq!(hits[0].asset.host, ip);
    assert!(!hits[0].audit.is_empty());
    assert!(covered(&run, &CheckId::HttpTraceEnabled, ip));
    assert!(!failed(&run, "http.trace-enabled"), "{:?}", run.failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_trace_or_one_that_does_not_echo_is_covered_and_silent() {
    let refusals: [(&str, Answer); 4] = [
        ("127.77.10.21", Arc::new(|_: &str| reply("405 Not Allowed", "text/html", "<html>405</html>"))),
        ("127.77.10.22", Arc::new(|_: &str| reply("501 Not Implemented", "text/html", ""))),
        ("127.77.10.23", Arc::new(|_: &str| reply("200 OK", "text/html", "<html>Home</html>"))),
        // A canned echo of some other request: no nonce of ours.
        (
            "127.77.10.24",
            Arc::new(|_: &str| reply("200 OK", "message/http", "TRACE / HTTP/1.1\r\nX-Haetae-Trace: 0123\r\n\r\n")),
        ),
    ];
    for (ip, answer) in refusals {
        let (run, heads) = trace_scan(ip, answer, "\"/logout\"", CheckSelection::all()).await;
        assert!(heads.iter().any(|h| h.starts_with("TRACE ")), "{ip}: TRACE sent");
        assert!(found(&run, &CheckId::HttpTraceEnabled).is_empty(), "{ip}: {:#?}", run.found);
        assert!(covered(&run, &CheckId::HttpTraceEnabled, ip), "{ip}: a definite answer covers");
        assert!(!failed(&run, "http.trace-enabled"), "{ip}: {:?}", run.failed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_or_broken_trace_answer_is_a_failed_unit_not_coverage() {
    let broken: [(&str, Answer); 3] = [
        ("127.77.10.31", Arc::new(|_: &str| reply("503 Service Unavailable", "text/html", "busy"))),
        ("127.77.10.32", Arc::new(|_: &str| reply("429 Too Many Requests", "text/html", "slow down"))),
        // Closed without a byte.
        ("127.77.10.33", Arc::new(|_: &str| Vec::new())),
    ];
    for (ip, answer) in broken {
        let (run, _) = trace_scan(ip, answer, "\"/logout\"", CheckSelection::all()).await;
        assert!(found(&run, &CheckId::HttpTraceEnabled).is_empty(), "{ip}");
        assert!(!covered(&run, &CheckId::HttpTraceEnabled, ip), "{ip}: no answer covers nothing");
        assert!(failed(&run, "http.trace-enabled"), "{ip}: {:?}", run.failed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_honours_exclude_paths_and_the_check_selection() {
    let echo = || -> Answer { Arc::new(|head: &str| reply("200 OK", "message/http", head)) };
    // `/` excluded: no TRACE is sent, nothing is covered or failed.
    let (run, heads) = trace_scan("127.77.10.41", echo(), "\"/\"", CheckSelection::all()).await;
    assert!(!heads.iter().any(|h| h.starts_with("TRACE ")), "{heads:#?}");
    assert!(found(&run, &CheckId::HttpTraceEnabled).is_empty());
    assert!(!covered(&run, &CheckId::HttpTraceEnabled, "127.77.10.41"));
    assert!(!failed(&run, "http.trace-enabled"));
    // Selected alone: it runs, and nothing else reports or covers.
    let (run, heads) = trace_scan("127.77.10.42", echo(), "", only(&["http.trace-enabled"])).await;
    assert!(heads.iter().any(|h| h.starts_with("TRACE ")));
    assert_eq!(found(&run, &CheckId::HttpTraceEnabled).len(), 1);
    assert!(run.found.iter().all(|o| o.check == CheckId::HttpTraceEnabled), "{:#?}", run.found);
    assert!(run.covered.iter().all(|c| c.check == CheckId::HttpTraceEnabled), "{:#?}", run.covered);
    // Skipped: never sent.
    let known: Vec<&str> = CheckId::BUILTIN.iter().map(CheckId::as_str).collect();
    let skip = CheckSelection::new(&[], &["http.trace-*".to_owned()], &known).unwrap();
    let (run, heads) = trace_scan("127.77.10.43", echo(), "", skip).await;
    assert!(!heads.iter().any(|h| h.starts_with("TRACE ")), "{heads:#?}");
    assert!(found(&run, &CheckId::HttpTraceEnabled).is_empty());
    assert!(!covered(&run, &CheckId::HttpTraceEnabled, "127.77.10.43"));
    assert!(covered(&run, &CheckId::HttpCspMissing, "127.77.10.43"), "the rest still runs");
}

const VALID: &str = "Contact: mailto:security@agency.test\nExpires: 2999-01-01T00:00:00Z\n";

/// Scan `agency.test` (and `www.agency.test`, on the same address) whose
/// web server answers `/.well-known/security.txt` with `txt`.
async fn apex_scan(ip: &'static str, txt: Answer) -> (Run, Vec<String>) {
    apex_scan_with(ip, txt, CheckSelection::all()).await
}

async fn apex_scan_with(ip: &'static str, txt: Answer, checks: CheckSelection) -> (Run, Vec<String>) {
    let answer: Answer = Arc::new(move |head: &str| {
        if head.starts_with("GET /.well-known/security.txt ") {
            txt(head)
        } else {
            reply("200 OK", "text/html", "<html>Home</html>")
        }
    });
    let (port, seen) = site(ip, 0, answer).await;
    let dns = apex_dns(ip.parse().unwrap(), &["www.agency.test", "ns1.agency.test"]).await;
    let scope = scope("\"agency.test\"", &format!("{ip}/32"), &[port], "\"/logout\"");
    let targets = ["agency.test", "www.agency.test"];
    let run = scan(scope, vec![dns.addr], now(), request(&targets, checks)).await;
    let heads = seen.lock().unwrap().clone();
    (run, heads)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_security_txt_on_the_apex_is_covered_and_silent() {
    let (run, heads) =
        apex_scan("127.77.10.51", Arc::new(|_: &str| reply("200 OK", "text/plain; charset=utf-8", VALID))).await;
    let asked: Vec<&String> = heads.iter().filter(|h| h.starts_with("GET /.well-known/security.txt ")).collect();
    assert_eq!(asked.len(), 1, "asked once, of the apex only: {asked:#?}");
    assert!(asked[0].to_ascii_lowercase().contains("host: agency.test"), "{}", asked[0]);
    assert!(found(&run, &CheckId::HttpSecurityTxtMissing).is_empty(), "{:#?}", run.found);
    assert!(
        run.covered
            .iter()
            .any(|c| c.check == CheckId::HttpSecurityTxtMissing && c.host == "agency.test" && c.port.is_none())
    );
    assert!(!covered(&run, &CheckId::HttpSecurityTxtMissing, "www.agency.test"), "a subdomain is no apex");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_soft_404_or_expired_security_txt_is_found_on_the_apex_only() {
    let cases: [(&'static str, Answer, &str); 4] = [
        ("127.77.10.61", Arc::new(|_: &str| reply("404 Not Found", "text/html", "<h1>404</h1>")), "HTTP 404"),
        (
            "127.77.10.62",
            Arc::new(|_: &str| reply("200 OK", "text/html", "<!DOCTYPE html><html>Home</html>")),
            "soft 404",
        ),
        (
            "127.77.10.63",
            Arc::new(|_: &str| {
                reply("200 OK", "text/plain", "Contact: mailto:s@agency.test\nExpires: 2001-01-01T00:00:00Z\n")
            }),
            "expired on 2001-01-01",
        ),
        (
            "127.77.10.64",
            Arc::new(|_: &str| reply("200 OK", "text/plain", "Expires: 2999-01-01T00:00:00Z\n")),
            "no Contact",
        ),
    ];
    for (ip, answer, why) in cases {
        let (run, _) = apex_scan(ip, answer).await;
        let hits = found(&run, &CheckId::HttpSecurityTxtMissing);
        assert_eq!(hits.len(), 1, "{ip}: {:#?}", run.found);
        assert_eq!(hits[0].asset.host, "agency.test");
        assert_eq!(hits[0].severity, haetae_findings::Severity::Info);
        assert!(hits[0].evidence.contains(why), "{ip}: {}", hits[0].evidence);
        assert!(covered(&run, &CheckId::HttpSecurityTxtMissing, "agency.test"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_apex_is_a_failed_unit_for_security_txt() {
    let (run, _) =
        apex_scan("127.77.10.71", Arc::new(|_: &str| reply("503 Service Unavailable", "text/html", "busy"))).await;
    assert!(found(&run, &CheckId::HttpSecurityTxtMissing).is_empty());
    assert!(!covered(&run, &CheckId::HttpSecurityTxtMissing, "agency.test"));
    assert!(failed(&run, "http.security-txt-missing"), "{:?}", run.failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apex_is_read_over_https_when_it_serves_https() {
    // HTTPS serves a valid file, plain HTTP a 404: HTTPS is the site.
    let ip = "127.77.10.81";
    let (plain, plain_seen) =
        site(ip, 0, Arc::new(|_: &str| reply("404 Not Found", "text/html", "<h1>404</h1>"))).await;
    let secure: Answer = Arc::new(|head: &str| {
        if head.starts_with("GET /.well-known/security.txt ") {
            reply("200 OK", "text/plain", VALID)
        } else {
            reply("200 OK", "text/html", "<html>Home</html>")
        }
    });
    let (tls_port, tls_seen) = site_on(ip, 0, true, secure).await;
    let dns = apex_dns(ip.parse().unwrap(), &[]).await;
    let scope = scope("\"agency.test\"", &format!("{ip}/32"), &[plain, tls_port], "");
    let run = scan(scope, vec![dns.addr], now(), request(&["agency.test"], CheckSelection::all())).await;
    assert!(found(&run, &CheckId::HttpSecurityTxtMissing).is_empty(), "{:#?}", run.found);
    assert!(covered(&run, &CheckId::HttpSecurityTxtMissing, "agency.test"));
    assert!(tls_seen.lock().unwrap().iter().any(|h| h.starts_with("GET /.well-known/security.txt ")));
    assert!(!plain_seen.lock().unwrap().iter().any(|h| h.starts_with("GET /.well-known/security.txt ")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_txt_runs_alone_when_selected_and_not_at_all_when_skipped() {
    let missing = || -> Answer { Arc::new(|_: &str| reply("404 Not Found", "text/html", "<h1>404</h1>")) };
    let (run, heads) = apex_scan_with("127.77.10.91", missing(), only(&["http.security-txt-missing"])).await;
    assert_eq!(found(&run, &CheckId::HttpSecurityTxtMissing).len(), 1, "{:#?}", run.found);
    assert!(run.found.iter().all(|o| o.check == CheckId::HttpSecurityTxtMissing), "{:#?}", run.found);
    assert!(run.covered.iter().all(|c| c.check == CheckId::HttpSecurityTxtMissing), "{:#?}", run.covered);
    assert!(!heads.iter().any(|h| h.starts_with("TRACE ")), "trace not selected: {heads:#?}");
    let known: Vec<&str> = CheckId::BUILTIN.iter().map(CheckId::as_str).collect();
    let skip = CheckSelection::new(&[], &["http.security-txt-missing".to_owned()], &known).unwrap();
    let (run, heads) = apex_scan_with("127.77.10.92", missing(), skip).await;
    assert!(!heads.iter().any(|h| h.contains("/.well-known/security.txt")), "{heads:#?}");
    assert!(found(&run, &CheckId::HttpSecurityTxtMissing).is_empty());
    assert!(!covered(&run, &CheckId::HttpSecurityTxtMissing, "agency.test"));
    assert!(covered(&run, &CheckId::HttpTraceEnabled, "agency.test"), "the rest still runs");
}
