//! Against a real nginx (skipped, loudly, where it is not installed): names
//! CNAMEd out of `domains` are probed as themselves (nginx routes by the Host,
//! so only the in-scope name reaches the matching `server`), and the
//! unclaimed-bucket fingerprint is found on an unknown suffix, not on a live
//! bucket nor on nginx's own 404 page.

use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use haetae_findings::{CheckId, Confidence};
use haetae_scanner::engine::{Profile, ScanRequest};
use haetae_scanner::scope::Scope;
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{RData, Record, RecordType};

use crate::fakedns::{Ask, FakeDns, Reply, a, name, zone};
use crate::support::{lab_tls, now, scan};

const ADDR: Ipv4Addr = Ipv4Addr::new(127, 78, 2, 1);

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nginx_binary() -> Option<&'static str> {
    ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|b| Command::new(b).arg("-v").stderr(Stdio::null()).status().is_ok_and(|s| s.success()))
}

/// nginx on ADDR:port with three sites chosen by Host; ready once it accepts.
fn start(bin: &str, dir: &Path) -> (Nginx, u16) {
    let port = TcpListener::bind((ADDR, 0)).unwrap().local_addr().unwrap().port();
    let d = dir.display();
    let conf = format!(
        r#"
worker_processes 1;
pid {d}/nginx.pid;
error_log stderr;
events {{}}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{ listen {ADDR}:{port} default_server; server_name _; return 404; }}
    server {{
        listen {ADDR}:{port}; server_name gone.agency.test;
        location / {{ default_type application/xml; return 404 '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><BucketName>gone.agency.test</BucketName></Error>'; }}
    }}
    server {{
        listen {ADDR}:{port}; server_name live.agency.test;
        location / {{ default_type application/xml; return 200 '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>live</Name></ListBucketResult>'; }}
    }}
}}
"#
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(bin)
        .args(["-e", "stderr", "-p"])
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off; master_process off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Nginx(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect((ADDR, port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start listening");
        std::thread::yield_now();
    }
    (server, port)
}

fn handler(ask: &Ask) -> Reply {
    let n = ask.name();
    let label = n.strip_suffix(".agency.test").unwrap_or("");
    if ["gone", "live", "plain"].contains(&label) {
        let target = format!("{label}.unknown-cloud.test");
        let mut rrs = vec![Record::from_rdata(name(&n), 60, RData::CNAME(CNAME(name(&target))))];
        if ask.qtype() == RecordType::A {
            rrs.push(a(&target, ADDR));
        }
        return Reply::Send(vec![ask.answer(rrs)]);
    }
    if n.ends_with(".unknown-cloud.test") {
        return Reply::Send(vec![ask.reply()]);
    }
    Reply::Send(vec![zone(ask, &[("ns1.agency.test", ADDR)])])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_nginx_behind_cnames_out_of_domains() {
    let Some(bin) = nginx_binary() else {
        eprintln!("SKIPPED a_real_nginx_behind_cnames_out_of_domains: nginx is not installed (apt-get install nginx)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_nginx, port) = start(bin, dir.path());
    let fake = FakeDns::start(Arc::new(handler)).await;
    let text = format!(
        r#"
[engagement]
id = "KR-NGINX-CNAME"
not_before = 2000-01-01T00:00:00Z
not_after = 2999-01-01T00:00:00Z
[scope]
domains = ["agency.test"]
cidrs = ["127.78.2.0/24"]
ports = [{port}]
[limits]
timeout_ms = 2000
"#
    );
    let scope = Scope::parse(Path::new("scope.toml"), &text).unwrap();
    let req = ScanRequest {
        targets: vec!["gone.agency.test".into(), "live.agency.test".into(), "plain.agency.test".into()],
        profile: Profile::Standard,
        skip: Default::default(),
        tls: lab_tls(),
        templates: None,
        earlier_addresses: Default::default(),
        checks: Default::default(),
        software: None,
    };
    let run = scan(scope, vec![fake.addr], now(), req).await;
    let takeovers: Vec<_> = run.found.iter().filter(|o| o.check == CheckId::DnsTakeover).collect();
    let [o] = takeovers.as_slice() else { panic!("{takeovers:#?}") };
    assert_eq!((o.asset.host.as_str(), o.confidence), ("gone.agency.test", Confidence::Firm));
    assert!(
        o.evidence.contains(&format!("GET http://gone.agency.test:{port}/ at {ADDR} answered 404")),
        "{}",
        o.evidence
    );
    for host in ["gone.agency.test", "live.agency.test", "plain.agency.test"] {
        let r = run.guard.resolved(host).unwrap();
        assert_eq!(r.allowed, vec![IpAddr::V4(ADDR)], "{}", r.summary());
        assert!(
            run.covered.iter().any(|c| c.check == CheckId::DnsTakeover && c.host == host),
            "{host}: the takeover check had a definite answer"
        );
    }
    println!(
        "nginx {port}: {} findings: {:?}",
        run.found.len(),
        run.found.iter().map(|o| (o.check.as_str(), o.asset.host.as_str())).collect::<Vec<_>>()
    );
}
