//! The check against in-process targets on loopback: a tiny authoritative DNS
//! responder, the lab's fake object store, and canned HTTP servers.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use haetae_findings::audit::AuditLog;
use haetae_findings::{CheckId, Confidence, Timestamp};
use haetae_lab::provider::{ObjectStore, serve_object_store};
use hickory_proto::op::{Message, Metadata, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::*;
use crate::guard::GuardConfig;
use crate::scope::Scope;

const ENGAGEMENT: &str = "KR-TAKEOVER";

#[derive(Clone, Copy)]
enum Rr {
    Cname(&'static str),
    A(Ipv4Addr),
}

/// An authoritative responder for `records` (owners may be `*.zone`); every
/// other name is NXDOMAIN. Serves until the test's runtime ends.
async fn dns(records: Vec<(&'static str, Rr)>) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 1500];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else { return };
            let Ok(q) = Message::from_vec(&buf[..n]) else { continue };
            let mut resp = Message::response(q.metadata.id, q.metadata.op_code);
            resp.metadata = Metadata::response_from_request(&q.metadata);
            resp.metadata.authoritative = true;
            resp.queries = q.queries.clone();
            let question = &q.queries[0];
            let qname = question.name().to_ascii().trim_end_matches('.').to_ascii_lowercase();
            let owner = |o: &str| match o.strip_prefix("*.") {
                Some(zone) => qname.ends_with(&format!(".{zone}")),
                None => o == qname,
            };
            let here: Vec<Rr> = records.iter().filter(|(o, _)| owner(o)).map(|(_, r)| *r).collect();
            let name = question.name().clone();
            if here.is_empty() {
                resp.metadata.response_code = ResponseCode::NXDomain;
            }
            for r in here {
                match r {
                    Rr::Cname(t) => resp.answers.push(Record::from_rdata(
                        name.clone(),
                        60,
                        RData::CNAME(CNAME(Name::from_ascii(t).unwrap())),
                    )),
                    Rr::A(ip) if question.query_type() == RecordType::A => {
                        resp.answers.push(Record::from_rdata(name.clone(), 60, RData::A(A(ip))))
                    }
                    Rr::A(_) => {} // NODATA for AAAA
                }
            }
            let _ = sock.send_to(&resp.to_vec().unwrap(), peer).await;
        }
    });
    addr
}

fn scope(domains: &[&str], ports: &[u16]) -> Scope {
    let list = |v: Vec<String>| v.join(", ");
    let text = format!(
        r#"
[engagement]
id = "{ENGAGEMENT}"
contact = "team@agency.test"
not_before = 2000-01-01T00:00:00Z
not_after = 2999-01-01T00:00:00Z
[scope]
domains = [{}]
cidrs = ["127.0.0.0/8"]
ports = [{}]
[limits]
max_rps = 1000
per_host_rps = 1000
timeout_ms = 2000
"#,
        list(domains.iter().map(|d| format!("\"{d}\"")).collect()),
        list(ports.iter().map(u16::to_string).collect()),
    );
    Scope::parse(Path::new("scope.toml"), &text).unwrap()
}

fn guard(scope: Scope, ns: SocketAddr) -> (ScopeGuard, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let audit = Arc::new(AuditLog::open(&dir.path().join("audit.jsonl")).unwrap());
    let clock = Arc::new(Timestamp::now);
    let g = ScopeGuard::new(GuardConfig { scope: Arc::new(scope), nameservers: vec![ns], audit, clock }).unwrap();
    (g, dir)
}

fn client() -> HttpClient {
    HttpClient::new(ENGAGEMENT, "team@agency.test").unwrap()
}

/// The lab's fake object store on 127.0.0.1, ready once this returns.
async fn object_store(endpoint: &str, claimed: &[&str]) -> (u16, Arc<ObjectStore>, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let store = ObjectStore::new(endpoint, claimed);
    let (token, tracker) = (CancellationToken::new(), TaskTracker::new());
    tokio::spawn(serve_object_store(listener, Arc::clone(&store), token.clone(), tracker));
    (port, store, token)
}

/// An HTTP/1.1 response with `status` and `body`.
fn reply(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A server answering every connection with `reply`; records the request heads.
async fn canned(reply: String) -> (u16, Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let (seen2, count2) = (Arc::clone(&seen), Arc::clone(&count));
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else { return };
            count2.fetch_add(1, Ordering::SeqCst);
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            seen2.lock().unwrap().push(String::from_utf8_lossy(&head).into_owned());
            let _ = s.write_all(reply.as_bytes()).await;
            let _ = s.shutdown().await;
        }
    });
    (port, seen, count)
}

/// A port nothing in scope listens on (the HTTPS attempt must not happen).
const UNSCOPED: u16 = 9;

const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;

#[tokio::test]
async fn nosuchbucket_from_an_in_scope_korean_object_store_is_a_certain_finding() {
    let (port, store, token) = object_store("kr.object.gov-ncloudstorage.com", &["agency-assets"]).await;
    let ns = dns(vec![
        ("files.agency.test", Rr::Cname("agency-files.kr.object.gov-ncloudstorage.com")),
        ("*.kr.object.gov-ncloudstorage.com", Rr::A(LOCAL)),
    ])
    .await;
    let (g, _dir) = guard(scope(&["agency.test", "kr.object.gov-ncloudstorage.com"], &[port]), ns);
    let res = g.resolve("files.agency.test").await;
    assert_eq!(res.allowed, vec![std::net::IpAddr::V4(LOCAL)], "{}", res.summary());
    let report = check_on(&g, &client(), &res, ENGAGEMENT, Ports { http: port, https: UNSCOPED }).await;
    assert_eq!(report.cloud, Some("naver-cloud"));
    assert!(report.definite);
    let [o] = report.observations.as_slice() else { panic!("{:?}", report.observations) };
    assert_eq!(
        (o.check.clone(), o.confidence, o.asset.host.as_str()),
        (CheckId::DnsTakeover, Confidence::Certain, "files.agency.test")
    );
    assert_eq!(o.location, "CNAME");
    for part in [
        "files.agency.test -> agency-files.kr.object.gov-ncloudstorage.com",
        &format!("GET http://agency-files.kr.object.gov-ncloudstorage.com:{port}/"),
        "answered 404 with `<Code>NoSuchBucket</Code>` (bucket `agency-files`)",
        "Naver Cloud Object Storage (naver-cloud, Korean cloud)",
    ] {
        assert!(o.evidence.contains(part), "{part} not in {}", o.evidence);
    }
    assert!(o.audit.starts_with(&res.audit) && o.audit.len() > res.audit.len(), "{:?}", o.audit);
    assert!(o.tags.contains(&"cloud:naver-cloud".to_owned()));
    assert!(o.remediation.contains("files.agency.test") && !o.references.is_empty());
    assert_eq!(store.requests(), 1, "one plain-HTTP request; the HTTPS port is out of scope");
    token.cancel();
}

#[tokio::test]
async fn a_claimed_bucket_and_the_bare_endpoint_are_silent() {
    let (port, store, token) = object_store("kr.object.gov-ncloudstorage.com", &["agency-assets"]).await;
    let ns = dns(vec![
        ("assets.agency.test", Rr::Cname("agency-assets.kr.object.gov-ncloudstorage.com")),
        ("api.agency.test", Rr::Cname("kr.object.gov-ncloudstorage.com")),
        ("kr.object.gov-ncloudstorage.com", Rr::A(LOCAL)),
        ("*.kr.object.gov-ncloudstorage.com", Rr::A(LOCAL)),
    ])
    .await;
    let (g, _dir) = guard(scope(&["agency.test", "kr.object.gov-ncloudstorage.com"], &[port]), ns);
    for name in ["assets.agency.test", "api.agency.test"] {
        let res = g.resolve(name).await;
        let report = check_on(&g, &client(), &res, ENGAGEMENT, Ports { http: port, https: UNSCOPED }).await;
        assert!(report.observations.is_empty(), "{name}: {:?}", report.observations);
        assert_eq!((report.cloud, report.definite), (Some("naver-cloud"), false));
        assert!(!report.inconclusive, "the store answered: the name is covered");
    }
    assert_eq!(store.requests(), 2, "both were asked, over plain HTTP only");
    token.cancel();
}

fn s3_gone() -> String {
    reply(
        "404 Not Found",
        "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><BucketName>www.agency.test</BucketName></Error>",
    )
}

#[tokio::test]
async fn s3_is_asked_with_the_scanned_name_as_host() {
    let (port, seen, count) = canned(s3_gone()).await;
    let ns = dns(vec![
        ("www.agency.test", Rr::Cname("www.agency.test.s3-website.ap-northeast-2.amazonaws.com")),
        ("*.s3-website.ap-northeast-2.amazonaws.com", Rr::A(LOCAL)),
    ])
    .await;
    let (g, _dir) = guard(scope(&["agency.test", "s3-website.ap-northeast-2.amazonaws.com"], &[port]), ns);
    let res = g.resolve("www.agency.test").await;
    let report = check_on(&g, &client(), &res, ENGAGEMENT, Ports { http: port, https: UNSCOPED }).await;
    assert_eq!((report.cloud, report.definite, report.observations.len()), (Some("aws"), true, 1));
    let o = &report.observations[0];
    assert!(
        o.evidence.contains(&format!("GET http://www.agency.test:{port}/ at 127.0.0.1 answered 404")),
        "{}",
        o.evidence
    );
    assert!(o.evidence.contains("AWS S3 (aws)"), "{}", o.evidence);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    let head = seen.lock().unwrap()[0].clone();
    assert!(head.starts_with(&format!("GET / HTTP/1.1\r\nHost: www.agency.test:{port}\r\n")), "{head}");
}

#[tokio::test]
async fn normal_pages_and_quoted_errors_are_silent() {
    let pages = [
        // A claimed site.
        reply("200 OK", "<html><h1>Welcome</h1></html>"),
        // A page that talks about the error, but is served.
        reply("200 OK", "FAQ: what does <Code>NoSuchBucket</Code> mean?"),
        // A missing object in an existing bucket.
        reply("404 Not Found", "<Error><Code>NoSuchKey</Code></Error>"),
        // A private bucket.
        reply("403 Forbidden", "<Error><Code>AccessDenied</Code></Error>"),
    ];
    for page in pages {
        let (port, _, count) = canned(page.clone()).await;
        let ns = dns(vec![
            ("www.agency.test", Rr::Cname("www.agency.test.s3.ap-northeast-2.amazonaws.com")),
            ("*.s3.ap-northeast-2.amazonaws.com", Rr::A(LOCAL)),
        ])
        .await;
        let (g, _dir) = guard(scope(&["agency.test", "s3.ap-northeast-2.amazonaws.com"], &[port]), ns);
        let res = g.resolve("www.agency.test").await;
        let report = check_on(&g, &client(), &res, ENGAGEMENT, Ports { http: port, https: UNSCOPED }).await;
        assert!(report.observations.is_empty(), "{page}: {:?}", report.observations);
        assert_eq!((report.cloud, report.definite), (Some("aws"), false));
        assert_eq!(count.load(Ordering::SeqCst), 1, "{page}");
    }
}

#[tokio::test]
async fn nxdomain_at_an_out_of_scope_azure_target_is_a_dns_only_finding() {
    let ns = dns(vec![
        ("app.agency.test", Rr::Cname("agency-legacy-app.azurewebsites.net")),
        ("live.agency.test", Rr::Cname("agency-live.azurewebsites.net")),
        ("agency-live.azurewebsites.net", Rr::A(Ipv4Addr::new(127, 0, 0, 2))),
    ])
    .await;
    let (g, _dir) = guard(scope(&["agency.test"], &[80]), ns);
    let res = g.resolve("app.agency.test").await;
    assert!(matches!(&res.end, ChainEnd::Dangling { rcode, .. } if rcode == "NXDOMAIN"), "{}", res.summary());
    assert_eq!(res.outside_domains.as_deref(), Some("agency-legacy-app.azurewebsites.net"));
    assert!(res.allowed.is_empty() && res.out_of_scope_target.is_none(), "{}", res.summary());
    let report = check(&g, &client(), &res, ENGAGEMENT).await;
    assert_eq!((report.cloud, report.definite), (Some("azure"), false));
    let [o] = report.observations.as_slice() else { panic!("{:?}", report.observations) };
    assert_eq!((o.check.clone(), o.confidence), (CheckId::DnsTakeover, Confidence::Firm));
    for part in [
        "app.agency.test -> agency-legacy-app.azurewebsites.net",
        "agency-legacy-app.azurewebsites.net answers NXDOMAIN at Microsoft Azure (azure)",
        "DNS evidence only",
        "out of scope, so it was not contacted",
    ] {
        assert!(o.evidence.contains(part), "{part} not in {}", o.evidence);
    }
    assert_eq!(o.audit, res.audit);
    assert!(o.references.iter().any(|r| r.contains("issues/35")));

    // The same service with the resource still there: nothing.
    let live = g.resolve("live.agency.test").await;
    let report = check(&g, &client(), &live, ENGAGEMENT).await;
    assert!(report.observations.is_empty(), "{:?}", report.observations);
    assert_eq!(report.cloud, Some("azure"));
}

#[tokio::test]
async fn a_bucket_store_outside_domains_is_never_asked_under_the_bucket_name() {
    let (port, store, token) = object_store("kr.object.ncloudstorage.com", &[]).await;
    let ns = dns(vec![
        ("media.agency.test", Rr::Cname("agency-media.kr.object.ncloudstorage.com")),
        ("*.kr.object.ncloudstorage.com", Rr::A(LOCAL)),
        ("old.agency.test", Rr::Cname("agency-old.us.object.ncloudstorage.com")),
    ])
    .await;
    // The port and the address are in scope; the provider's name is not: the
    // in-scope name may be probed as itself, but this store names the bucket
    // by the target (a chain name), which is never sent as a Host.
    let (g, _dir) = guard(scope(&["agency.test"], &[port]), ns);
    let media = g.resolve("media.agency.test").await;
    assert_eq!(media.allowed, vec![std::net::IpAddr::V4(LOCAL)], "{}", media.summary());
    assert_eq!(media.outside_domains.as_deref(), Some("agency-media.kr.object.ncloudstorage.com"));
    assert!(g.permit("agency-media.kr.object.ncloudstorage.com", std::net::IpAddr::V4(LOCAL), port).is_err());
    for name in ["media.agency.test", "old.agency.test"] {
        let res = g.resolve(name).await;
        assert!(res.out_of_scope_target.is_none(), "{}", res.summary());
        let report = check_on(&g, &client(), &res, ENGAGEMENT, Ports { http: port, https: port }).await;
        assert!(report.observations.is_empty(), "{name}: {:?}", report.observations);
        assert_eq!(report.cloud, Some("naver-cloud"), "{name}: still tagged");
    }
    // old.agency.test dangles (NXDOMAIN), but a wildcard-DNS object store's NXDOMAIN proves nothing.
    assert!(matches!(g.resolve("old.agency.test").await.end, ChainEnd::Dangling { .. }));
    assert_eq!(store.requests(), 0);
    token.cancel();
}

#[tokio::test]
async fn tag_only_providers_and_plain_names_give_no_finding() {
    let (port, _, count) = canned(s3_gone()).await;
    let ns = dns(vec![
        ("cdn.agency.test", Rr::Cname("d1234.cloudfront.net")),
        ("d1234.cloudfront.net", Rr::A(LOCAL)),
        ("www.agency.test", Rr::A(LOCAL)),
    ])
    .await;
    let (g, _dir) = guard(scope(&["agency.test", "cloudfront.net"], &[port]), ns);
    let cdn = g.resolve("cdn.agency.test").await;
    let report = check_on(&g, &client(), &cdn, ENGAGEMENT, Ports { http: port, https: port }).await;
    assert_eq!((report.cloud, report.observations.len()), (Some("aws"), 0));
    assert!(report.provider.is_some_and(Provider::tag_only));
    let www = g.resolve("www.agency.test").await;
    let report = check_on(&g, &client(), &www, ENGAGEMENT, Ports { http: port, https: port }).await;
    assert!(report.cloud.is_none() && report.provider.is_none() && report.observations.is_empty());
    assert_eq!(count.load(Ordering::SeqCst), 0, "no provider was asked");
}

/// One TLS connection on 127.0.0.1 answered with `reply`.
async fn tls_once(reply: String) -> u16 {
    let key = rcgen::KeyPair::generate().unwrap();
    let names = vec!["agency-files.kr.object.ncloudstorage.com".to_owned()];
    let cert = rcgen::CertificateParams::new(names).unwrap().self_signed(&key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(crate::tls::handshake::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(s).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = tls.read(&mut buf).await;
        let _ = tls.write_all(reply.as_bytes()).await;
        let _ = tls.shutdown().await;
    });
    port
}

#[tokio::test]
async fn https_is_asked_when_plain_http_only_redirects() {
    let gone = "<Error><Code>NoSuchBucket</Code><BucketName>agency-files</BucketName></Error>";
    let (http_port, _, plain) = canned(reply("301 Moved Permanently", "")).await;
    let https_port = tls_once(reply("404 Not Found", gone)).await;
    let ns = dns(vec![
        ("files.agency.test", Rr::Cname("agency-files.kr.object.ncloudstorage.com")),
        ("*.kr.object.ncloudstorage.com", Rr::A(LOCAL)),
    ])
    .await;
    let (g, _dir) = guard(scope(&["agency.test", "kr.object.ncloudstorage.com"], &[http_port, https_port]), ns);
    let res = g.resolve("files.agency.test").await;
    let report = check_on(&g, &client(), &res, ENGAGEMENT, Ports { http: http_port, https: https_port }).await;
    assert_eq!(plain.load(Ordering::SeqCst), 1);
    let [o] = report.observations.as_slice() else { panic!("{:?}", report.observations) };
    let want = format!("GET https://agency-files.kr.object.ncloudstorage.com:{https_port}/");
    assert!(o.evidence.contains(&want), "{}", o.evidence);
    // The scanned name's queries, the target's own A and AAAA queries, then the two connections.
    assert_eq!(o.audit.len(), res.audit.len() + 4, "{:?}", o.audit);
}

#[test]
fn bucket_names_are_read_from_s3_errors_only_when_plain() {
    let doc = |b: &str| format!("<Error><Code>NoSuchBucket</Code><BucketName>{b}</BucketName></Error>");
    assert_eq!(bucket_name(doc("www.agency.test").as_bytes()).as_deref(), Some("www.agency.test"));
    assert_eq!(bucket_name(doc("<script>").as_bytes()), None);
    assert_eq!(bucket_name(doc("").as_bytes()), None);
    assert_eq!(bucket_name(b"<Error><Code>NoSuchBucket</Code></Error>"), None);
}

#[test]
fn excerpts_are_short_and_single_line() {
    assert_eq!(excerpt("a\r\nb"), "a  b");
    let long = "é".repeat(500);
    let e = excerpt(&long);
    assert!(e.ends_with("...") && e.chars().count() == EXCERPT + 3);
}

#[tokio::test]
async fn a_provider_that_never_answers_leaves_the_name_uncovered() {
    // A port that accepts and closes at once: no HTTP answer at all.
    let l = tokio::net::TcpListener::bind((LOCAL, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            drop(s);
        }
    });
    let ns = dns(vec![
        ("files.agency.test", Rr::Cname("agency-files.kr.object.gov-ncloudstorage.com")),
        ("agency-files.kr.object.gov-ncloudstorage.com", Rr::A(LOCAL)),
    ])
    .await;
    let (g, _dir) = guard(scope(&["agency.test", "kr.object.gov-ncloudstorage.com"], &[port]), ns);
    let res = g.resolve("files.agency.test").await;
    let report = check_on(&g, &client(), &res, ENGAGEMENT, Ports { http: port, https: UNSCOPED }).await;
    assert!(report.observations.is_empty());
    assert!(report.inconclusive, "nothing is known about the bucket");
}

/// A scope of `agency.test` only, over `cidrs` (empty: domain-only).
fn scope_cidrs(cidrs: &str, ports: &[u16]) -> Scope {
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    let text = format!(
        r#"
[engagement]
id = "{ENGAGEMENT}"
not_before = 2000-01-01T00:00:00Z
not_after = 2999-01-01T00:00:00Z
[scope]
domains = ["agency.test"]
cidrs = [{cidrs}]
ports = [{}]
[limits]
timeout_ms = 2000
"#,
        ports.join(", ")
    );
    Scope::parse(Path::new("scope.toml"), &text).unwrap()
}

#[tokio::test]
async fn nosuchbucket_on_an_unknown_suffix_is_a_firm_finding_asked_as_the_scanned_name() {
    let (port, seen, count) = canned(s3_gone()).await;
    let ns = dns(vec![
        ("assets.agency.test", Rr::Cname("bucket.unknown-cloud.test")),
        ("bucket.unknown-cloud.test", Rr::A(LOCAL)),
    ])
    .await;
    let (g, _dir) = guard(scope_cidrs(r#""127.0.0.0/8""#, &[port]), ns);
    let res = g.resolve("assets.agency.test").await;
    assert_eq!(res.allowed, vec![std::net::IpAddr::V4(LOCAL)], "{}", res.summary());
    let report = check_on(&g, &client(), &res, ENGAGEMENT, Ports { http: port, https: UNSCOPED }).await;
    assert!(report.definite && !report.inconclusive);
    assert_eq!(report.cloud, None, "no provider is known by this suffix");
    let [o] = report.observations.as_slice() else { panic!("{:?}", report.observations) };
    assert_eq!(
        (o.check.clone(), o.confidence, o.asset.host.as_str()),
        (CheckId::DnsTakeover, Confidence::Firm, "assets.agency.test")
    );
    for part in [
        "assets.agency.test -> bucket.unknown-cloud.test",
        &format!("GET http://assets.agency.test:{port}/ at 127.0.0.1 answered 404"),
        "<Code>NoSuchBucket</Code>",
        "S3-compatible object storage (NoSuchBucket)",
        "ErrorResponses.html",
    ] {
        assert!(o.evidence.contains(part), "{part} not in {}", o.evidence);
    }
    assert_eq!(count.load(Ordering::SeqCst), 1);
    let heads = seen.lock().unwrap().clone();
    assert!(
        heads.iter().all(|h| h.contains("\r\nhost: assets.agency.test") || h.contains("\r\nHost: assets.agency.test")),
        "{heads:?}"
    );
    assert!(
        heads.iter().all(|h| !h.to_ascii_lowercase().contains("unknown-cloud")),
        "a chain name was sent: {heads:?}"
    );
}

#[tokio::test]
async fn a_live_bucket_or_a_plain_not_found_on_an_unknown_suffix_is_silent_and_covered() {
    let bodies = [
        reply(
            "200 OK",
            "<ListBucketResult><Name>docs</Name><Contents><Key>index.html</Key></Contents></ListBucketResult>",
        ),
        reply("200 OK", "<html><body>Agency documents</body></html>"),
        reply("404 Not Found", "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"),
        reply("404 Not Found", "Not Found"),
        reply("403 Forbidden", "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"),
    ];
    for page in bodies {
        let (port, _, count) = canned(page.clone()).await;
        let ns = dns(vec![
            ("docs.agency.test", Rr::Cname("agency-docs.unknown-cloud.test")),
            ("agency-docs.unknown-cloud.test", Rr::A(LOCAL)),
        ])
        .await;
        let (g, _dir) = guard(scope_cidrs(r#""127.0.0.0/8""#, &[port]), ns);
        let res = g.resolve("docs.agency.test").await;
        let report = check_on(&g, &client(), &res, ENGAGEMENT, Ports { http: port, https: UNSCOPED }).await;
        assert!(report.observations.is_empty(), "{page}: {:?}", report.observations);
        assert!(!report.inconclusive, "{page}: a definite answer covers the name");
        assert_eq!(count.load(Ordering::SeqCst), 1, "{page}");
    }
}

#[tokio::test]
async fn a_failed_fetch_on_an_unknown_suffix_covers_nothing() {
    // A server that accepts and resets: no definite answer.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else { return };
            let _ = socket2::SockRef::from(&s).set_linger(Some(std::time::Duration::ZERO));
            drop(s);
        }
    });
    let ns = dns(vec![
        ("assets.agency.test", Rr::Cname("bucket.unknown-cloud.test")),
        ("bucket.unknown-cloud.test", Rr::A(LOCAL)),
    ])
    .await;
    let (g, _dir) = guard(scope_cidrs(r#""127.0.0.0/8""#, &[port]), ns);
    let res = g.resolve("assets.agency.test").await;
    let report = check_on(&g, &client(), &res, ENGAGEMENT, Ports { http: port, https: UNSCOPED }).await;
    assert!(report.observations.is_empty() && report.inconclusive && !report.definite, "{report:?}");
}

#[tokio::test]
async fn an_unknown_suffix_with_an_out_of_scope_address_gets_no_packet() {
    let (port, _, count) = canned(s3_gone()).await;
    let ns = dns(vec![
        ("assets.agency.test", Rr::Cname("bucket.unknown-cloud.test")),
        ("bucket.unknown-cloud.test", Rr::A(LOCAL)),
        ("mixed.agency.test", Rr::Cname("mixed.unknown-cloud.test")),
        ("mixed.unknown-cloud.test", Rr::A(Ipv4Addr::new(127, 0, 0, 1))),
        ("mixed.unknown-cloud.test", Rr::A(Ipv4Addr::new(127, 0, 0, 2))),
    ])
    .await;
    // 127.0.0.1 is outside cidrs; the mixed answer has 127.0.0.1 (out) and 127.0.0.2 (in).
    let (g, _dir) = guard(scope_cidrs(r#""127.0.0.2/32""#, &[port]), ns);
    for name in ["assets.agency.test", "mixed.agency.test"] {
        let res = g.resolve(name).await;
        assert!(res.allowed.is_empty() && res.out_of_scope_target.is_some(), "{}", res.summary());
        let report = check_on(&g, &client(), &res, ENGAGEMENT, Ports { http: port, https: port }).await;
        assert!(report.observations.is_empty() && !report.inconclusive, "{name}: {report:?}");
    }
    assert_eq!(count.load(Ordering::SeqCst), 0, "no packet to the provider");
}
