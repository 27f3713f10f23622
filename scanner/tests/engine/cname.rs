//! Names whose CNAME chain leaves `domains` (SPEC.md, scope rules, "CNAMEs"):
//! probed as themselves when every address of the chain is in scope, never
//! under a chain name; no packet at all when any address is out of scope.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use haetae_findings::CheckId;
use haetae_findings::audit::{Verdict, read_all};
use haetae_scanner::engine::{Profile, ScanRequest};
use haetae_scanner::http::{HttpClient, Method, Request, fetch_following};
use haetae_scanner::scope::Scope;
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::fakedns::{Ask, FakeDns, Reply, a, name, zone};
use crate::support::{guard, lab_tls, now, scan};

/// In `cidrs` (127.78.1.0/24): the docs site, and the in-scope half of a mixed answer.
const DOCS_IP: Ipv4Addr = Ipv4Addr::new(127, 78, 1, 1);
const MIXED_IN_IP: Ipv4Addr = Ipv4Addr::new(127, 78, 1, 2);
/// Outside `cidrs`.
const OUT_IP: Ipv4Addr = Ipv4Addr::new(127, 78, 9, 9);

fn cname(owner: &str, target: &str) -> Record {
    Record::from_rdata(name(owner), 60, RData::CNAME(CNAME(name(target))))
}

/// `agency.test` with three names CNAMEd into `cloud.test` (outside domains):
/// docs (all addresses in scope), mixed (one in, one out), out (all out).
fn handler(ask: &Ask) -> Reply {
    let n = ask.name();
    let t = ask.qtype();
    let chain = |owner: &str, target: &str, ips: &[Ipv4Addr]| {
        let mut rrs = vec![cname(owner, target)];
        if t == RecordType::A {
            rrs.extend(ips.iter().map(|ip| a(target, *ip)));
        }
        Reply::Send(vec![ask.answer(rrs)])
    };
    match n.as_str() {
        "docs.agency.test" => chain("docs.agency.test", "agency-docs.cloud.test", &[DOCS_IP]),
        "mixed.agency.test" => chain("mixed.agency.test", "mixed.cloud.test", &[MIXED_IN_IP, OUT_IP]),
        "out.agency.test" => chain("out.agency.test", "out.cloud.test", &[OUT_IP]),
        "agency-docs.cloud.test" => chain_end(ask, DOCS_IP),
        "mixed.cloud.test" | "out.cloud.test" => chain_end(ask, OUT_IP),
        _ => Reply::Send(vec![zone(ask, &[("ns1.agency.test", DOCS_IP)])]),
    }
}

fn chain_end(ask: &Ask, ip: Ipv4Addr) -> Reply {
    let m = if ask.qtype() == RecordType::A { ask.answer(vec![a(&ask.name(), ip)]) } else { ask.reply() };
    Reply::Send(vec![m])
}

fn scope(cidrs: &str, port: u16) -> Scope {
    let text = format!(
        r#"
[engagement]
id = "KR-CNAME"
not_before = 2000-01-01T00:00:00Z
not_after = 2999-01-01T00:00:00Z
[scope]
domains = ["agency.test"]
cidrs = [{cidrs}]
ports = [{port}]
[limits]
max_rps = 1000
per_host_rps = 1000
timeout_ms = 2000
"#
    );
    Scope::parse(Path::new("scope.toml"), &text).unwrap()
}

/// A web server on `ip`:`port` that records every byte it is sent (request
/// heads, TLS ClientHellos with their SNI) and counts connections.
fn site(l: TcpListener) -> (Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>) {
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let (seen2, count2) = (seen.clone(), count.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else { return };
            count2.fetch_add(1, Ordering::SeqCst);
            let seen = seen2.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                    if got.first() == Some(&0x16) {
                        break; // a TLS ClientHello: keep it, answer nothing
                    }
                }
                let text = String::from_utf8_lossy(&got).into_owned();
                seen.lock().unwrap().push(text.clone());
                let reply = if text.starts_with("GET /go ") {
                    format!(
                        "HTTP/1.1 302 Found\r\nLocation: http://agency-docs.cloud.test:{port}/\r\nContent-Length: 0\r\n\r\n"
                    )
                } else {
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 17\r\n\r\n<html>docs</html>"
                        .to_owned()
                };
                let _ = s.write_all(reply.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (seen, count)
}

/// Bind the same port on the three addresses (retrying a taken port).
async fn listeners() -> (u16, [TcpListener; 3]) {
    for _ in 0..20 {
        let first = TcpListener::bind((DOCS_IP, 0)).await.unwrap();
        let port = first.local_addr().unwrap().port();
        let (Ok(b), Ok(c)) = (TcpListener::bind((MIXED_IN_IP, port)).await, TcpListener::bind((OUT_IP, port)).await)
        else {
            continue;
        };
        return (port, [first, b, c]);
    }
    panic!("no free port on the three addresses");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_cnamed_out_of_domains_is_probed_as_itself_and_never_as_a_chain_name() {
    let fake = FakeDns::start(Arc::new(handler)).await;
    let (port, [docs_l, mixed_l, out_l]) = listeners().await;
    let (docs_seen, docs_count) = site(docs_l);
    let (_, mixed_count) = site(mixed_l);
    let (_, out_count) = site(out_l);
    let req = ScanRequest {
        targets: vec!["docs.agency.test".into(), "mixed.agency.test".into(), "out.agency.test".into()],
        profile: Profile::Standard,
        skip: Default::default(),
        tls: lab_tls(),
        templates: None,
        earlier_addresses: Default::default(),
        checks: Default::default(),
        software: None,
    };
    let run = scan(scope(r#""127.78.1.0/24""#, port), vec![fake.addr], now(), req).await;

    // docs.agency.test: probed at its checked address, as itself.
    let docs_res = run.guard.resolved("docs.agency.test").unwrap();
    assert_eq!(docs_res.allowed, vec![IpAddr::V4(DOCS_IP)], "{}", docs_res.summary());
    assert_eq!(docs_res.outside_domains.as_deref(), Some("agency-docs.cloud.test"));
    assert!(docs_count.load(Ordering::SeqCst) > 0, "the in-scope name was probed");
    let seen = docs_seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|h| h.contains(&format!("host: docs.agency.test:{port}\r\n"))
            || h.contains(&format!("Host: docs.agency.test:{port}\r\n"))),
        "{seen:?}"
    );
    assert!(seen.iter().all(|h| !h.contains("cloud.test")), "a chain name was sent as Host or SNI: {seen:?}");
    assert!(run.covered.iter().any(|c| c.host == "docs.agency.test" && c.port == Some(port)), "web checks ran");
    assert!(!run.found.iter().any(|o| o.asset.host == "docs.agency.test" && o.check == CheckId::DnsPointsOutOfScope));
    // The chain name itself may not be contacted.
    assert!(run.guard.permit("agency-docs.cloud.test", IpAddr::V4(DOCS_IP), port).is_err());

    // mixed and out: zero packets to any of their addresses, and reported.
    assert_eq!(mixed_count.load(Ordering::SeqCst), 0, "no packet to the in-scope half of a mixed answer");
    assert_eq!(out_count.load(Ordering::SeqCst), 0, "no packet out of scope");
    for host in ["mixed.agency.test", "out.agency.test"] {
        let r = run.guard.resolved(host).unwrap();
        assert!(r.allowed.is_empty() && r.out_of_scope_target.is_some(), "{host}: {}", r.summary());
        let o = run
            .found
            .iter()
            .find(|o| o.asset.host == host && o.check == CheckId::DnsPointsOutOfScope)
            .unwrap_or_else(|| panic!("{host} not reported"));
        assert!(o.evidence.contains("127.78.9.9 is outside cidrs 127.78.1.0/24"), "{}", o.evidence);
        assert!(o.evidence.contains("not probed"), "{}", o.evidence);
    }

    // Chain names are never targets: only their addresses were asked (A/AAAA),
    // no enumeration under them, no zone checks, no transfer.
    let asked = fake.asked();
    for (n, t, _) in asked.iter().filter(|(n, _, _)| n.ends_with("cloud.test")) {
        assert!(matches!(t, RecordType::A | RecordType::AAAA), "{n} {t:?} was asked");
        assert!(
            ["agency-docs.cloud.test", "mixed.cloud.test", "out.cloud.test"].contains(&n.as_str()),
            "{n} was asked"
        );
    }
    // Every connection attempt is audited, and none names a chain name.
    let records = read_all(&run.audit_path).unwrap();
    // (Resolving a name asks the configured name servers about its chain: those
    // queries are not contacts of the chain's names.)
    let allowed: Vec<_> = records
        .iter()
        .filter(|r| {
            r.entry.verdict == Verdict::Allowed && r.entry.port.is_some() && !r.entry.probe.starts_with("dns.query")
        })
        .collect();
    assert!(
        allowed.iter().any(|r| r.entry.target == "docs.agency.test" && r.entry.address == Some(IpAddr::V4(DOCS_IP)))
    );
    let bad: Vec<_> = allowed.iter().filter(|r| r.entry.target.contains("cloud.test")).map(|r| &r.entry).collect();
    assert!(bad.is_empty(), "a chain name was a target: {bad:#?}");
    assert!(
        allowed
            .iter()
            .all(|r| r.entry.address != Some(IpAddr::V4(OUT_IP)) && r.entry.address != Some(IpAddr::V4(MIXED_IN_IP)))
    );
    assert!(records.iter().any(|r| r.entry.target == "mixed.agency.test" && r.entry.verdict == Verdict::Refused));

    // A redirect to the chain name is not followed: it is not in scope by itself.
    let before = docs_count.load(Ordering::SeqCst);
    let client = HttpClient::new("KR-CNAME", "").unwrap();
    let req = Request {
        https: false,
        host: "docs.agency.test",
        addr: IpAddr::V4(DOCS_IP),
        port,
        method: Method::Get,
        path: "/go",
        headers: &[],
    };
    let f = fetch_following(&client, &run.guard, &req).await.unwrap();
    assert_eq!(f.response.status, 302);
    let stopped = f.stopped.unwrap_or_default();
    assert!(stopped.contains("agency-docs.cloud.test is not under any domains entry"), "{stopped}");
    assert_eq!(docs_count.load(Ordering::SeqCst), before + 1, "only the first request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_empty_cidrs_a_scoped_name_reaches_any_address_but_an_address_target_needs_cidrs() {
    let public: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
    let fake = FakeDns::start(Arc::new(move |ask: &Ask| {
        let n = ask.name();
        let rrs = match n.as_str() {
            "docs.agency.test" if ask.qtype() == RecordType::A => {
                vec![cname("docs.agency.test", "agency-docs.cloud.test"), a("agency-docs.cloud.test", public)]
            }
            "gone.agency.test" if ask.qtype() == RecordType::A => {
                vec![cname("gone.agency.test", "x.cloud.test"), cname("x.cloud.test", "payments.agency.test")]
            }
            "payments.agency.test" => vec![a("payments.agency.test", public)],
            "local.agency.test" if ask.qtype() == RecordType::A => {
                vec![cname("local.agency.test", "l.cloud.test"), a("l.cloud.test", Ipv4Addr::LOCALHOST)]
            }
            _ => vec![],
        };
        Reply::Send(vec![ask.answer(rrs)])
    }))
    .await;
    let text = r#"
[engagement]
id = "KR-DOMAIN-ONLY"
not_before = 2000-01-01T00:00:00Z
not_after = 2999-01-01T00:00:00Z
[scope]
domains = ["agency.test"]
exclude_domains = ["payments.agency.test"]
ports = [80]
"#;
    let s = Scope::parse(Path::new("scope.toml"), text).unwrap();
    assert!(s.cidrs.is_empty());
    let (g, _dir) = guard(s, vec![fake.addr], now());
    let ip = IpAddr::V4(public);
    // A scoped name: any address its chain resolves to (never contacted here: only permitted).
    let docs = g.resolve("docs.agency.test").await;
    assert_eq!(docs.allowed, vec![ip], "{}", docs.summary());
    g.permit("docs.agency.test", ip, 80).unwrap();
    assert!(g.permit("agency-docs.cloud.test", ip, 80).is_err(), "never under the chain name");
    // The same address given as a target: needs cidrs.
    assert!(g.permit("203.0.113.7", ip, 80).unwrap_err().to_string().contains("cidrs is empty"));
    let seeded = text.replace("ports = [80]", "ports = [80]\nseeds = [\"203.0.113.7\"]");
    let e = Scope::parse(Path::new("scope.toml"), &seeded).unwrap_err().to_string();
    assert!(e.contains("cidrs is empty"), "{e}");
    // An excluded name stays excluded when a chain reaches it.
    let gone = g.resolve("gone.agency.test").await;
    assert!(gone.allowed.is_empty(), "{}", gone.summary());
    assert!(
        gone.out_of_scope_target
            .as_ref()
            .is_some_and(|(n, why)| n == "payments.agency.test" && why.contains("exclude_domains"))
    );
    // Loopback still needs cidrs, even through a chain.
    let local = g.resolve("local.agency.test").await;
    assert!(local.allowed.is_empty() && local.out_of_scope_target.is_some(), "{}", local.summary());
}

#[test]
fn chain_names_are_judged_as_hops() {
    use haetae_scanner::scope::ChainName;
    let s = scope(r#""127.78.1.0/24""#, 80);
    let s = Scope { exclude_domains: vec!["old.agency.test".into(), "bad.cloud.test".into()], ..s };
    assert_eq!(s.check_chain_name("www.agency.test"), ChainName::InScope);
    assert!(
        matches!(s.check_chain_name("agency-docs.cloud.test"), ChainName::Outside(w) if w.contains("not under any domains"))
    );
    assert!(
        matches!(s.check_chain_name("x.old.agency.test"), ChainName::Refused(w) if w.contains("exclude_domains old.agency.test"))
    );
    assert!(
        matches!(s.check_chain_name("a.bad.cloud.test"), ChainName::Refused(_)),
        "exclusions apply outside domains too"
    );
    assert!(matches!(s.check_chain_name("127.0.0.1"), ChainName::Refused(_)));
    assert!(matches!(s.check_chain_name("bad..name"), ChainName::Refused(_)));
}
