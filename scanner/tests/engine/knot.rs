//! The mail-domain and DNSSEC checks against a real authoritative server,
//! Knot DNS (`knotd`), started on loopback in a temp dir: one zone signed on
//! load (`dnssec-signing: on`), one signed with signatures that live three
//! days, one unsigned with a mail subdomain under `sp=none`. Runs where knotd
//! is installed (`.ci/run` installs the `knot` package); skips loudly elsewhere.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use haetae_findings::CheckId;
use haetae_scanner::engine::{Profile, ScanRequest};
use haetae_scanner::scope::Scope;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

use crate::support::{lab_tls, now, scan};

const ADDR: Ipv4Addr = Ipv4Addr::new(127, 77, 9, 53);

struct Knotd(Child);

impl Drop for Knotd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn have_knotd() -> bool {
    Command::new("knotd").arg("--version").output().is_ok_and(|o| o.status.success())
}

const SIGNED: &str = r#"$TTL 300
@ SOA ns1.signed.test. hostmaster.signed.test. 1 3600 600 604800 300
@ NS ns1
ns1 A 127.77.9.53
@ TXT "v=spf1 mx -all"
@ MX 10 relay
@ CAA 0 issue "letsencrypt.org"
_dmarc TXT "v=DMARC1; p=reject"
relay A 127.77.9.25
relay MX 10 relay
relay TXT "v=spf1 a -all"
"#;

const SOON: &str = r#"$TTL 300
@ SOA ns1.soon.test. hostmaster.soon.test. 1 3600 600 604800 300
@ NS ns1.signed.test.
@ TXT "v=spf1 -all"
_dmarc TXT "v=DMARC1; p=reject"
"#;

const PLAIN: &str = r#"$TTL 300
@ SOA ns1.plain.test. hostmaster.plain.test. 1 3600 600 604800 300
@ NS ns1
ns1 A 127.77.9.53
@ TXT "v=spf1 -all"
_dmarc TXT "v=DMARC1; p=reject; sp=none"
news MX 10 mx
mx A 127.77.9.25
"#;

fn config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        r#"policy:
  - id: short
    rrsig-lifetime: 3d
    rrsig-refresh: 1d
server:
    rundir: "{d}"
    listen: {ADDR}@{port}
database:
    storage: "{d}"
template:
  - id: default
    storage: "{d}"
    file: "%s.zone"
zone:
  - domain: signed.test
    dnssec-signing: on
  - domain: soon.test
    dnssec-signing: on
    dnssec-policy: short
  - domain: plain.test
log:
  - target: stderr
    any: warning
"#
    )
}

/// Whether `server` answers `zone` SOA with the DO bit, with an RRSIG when
/// `signed`; waits at most the socket's read timeout for the reply.
fn answers(sock: &UdpSocket, server: SocketAddr, zone: &str, signed: bool, id: u16) -> bool {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(zone).unwrap(), RecordType::SOA));
    let mut edns = Edns::new();
    edns.set_dnssec_ok(true);
    m.set_edns(edns);
    if sock.send_to(&m.to_vec().unwrap(), server).is_err() {
        return false;
    }
    let mut buf = [0u8; 4096];
    // An unconnected socket: no ICMP error, the read waits for a reply or the timeout.
    let Ok((n, _)) = sock.recv_from(&mut buf) else { return false };
    let Ok(r) = Message::from_vec(&buf[..n]) else { return false };
    r.metadata.id == id
        && !r.answers.is_empty()
        && (!signed || r.answers.iter().any(|a| a.record_type() == RecordType::RRSIG))
}

/// Start knotd in `dir`; returns once every zone answers (signed ones with signatures).
fn start(dir: &Path) -> (Knotd, SocketAddr) {
    for (zone, text) in [("signed.test", SIGNED), ("soon.test", SOON), ("plain.test", PLAIN)] {
        std::fs::write(dir.join(format!("{zone}.zone")), text).unwrap();
    }
    let port = UdpSocket::bind((ADDR, 0)).unwrap().local_addr().unwrap().port();
    let conf = dir.join("knot.conf");
    std::fs::write(&conf, config(dir, port)).unwrap();
    let child = Command::new("knotd")
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut knotd = Knotd(child);
    let server = SocketAddr::from((ADDR, port));
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut id = 1u16;
    let zones = [("signed.test.", true), ("soon.test.", true), ("plain.test.", false)];
    let mut ready = [false; 3];
    while !ready.iter().all(|r| *r) {
        assert!(Instant::now() < deadline, "knotd did not serve its zones within 30 s");
        assert!(knotd.0.try_wait().unwrap().is_none(), "knotd exited; see its log above");
        for (i, (zone, signed)) in zones.iter().enumerate() {
            id = id.wrapping_add(1);
            ready[i] = ready[i] || answers(&sock, server, zone, *signed, id);
        }
    }
    (knotd, server)
}

fn scope() -> Scope {
    let text = r#"
[engagement]
id = "KR-KNOT"
contact = "team@agency.test"
not_before = 2000-01-01T00:00:00Z
not_after = 2999-01-01T00:00:00Z
[scope]
domains = ["signed.test", "soon.test", "plain.test"]
cidrs = ["127.77.9.0/24"]
ports = [9]
[limits]
max_rps = 1000
per_host_rps = 1000
timeout_ms = 2000
"#;
    Scope::parse(Path::new("scope.toml"), text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knot_signed_zones_and_mail_subdomains() {
    if !have_knotd() {
        eprintln!("SKIPPED knot_signed_zones_and_mail_subdomains: knotd is not installed (apt-get install knot)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_knotd, server) = start(dir.path());
    let req = ScanRequest {
        targets: ["signed.test", "soon.test", "plain.test", "news.plain.test"].map(String::from).to_vec(),
        profile: Profile::Passive,
        tls: lab_tls(),
        ..ScanRequest::default()
    };
    let run = scan(scope(), vec![server], now(), req).await;
    assert!(run.outcome.complete, "{:?}", run.outcome);
    assert!(run.failed.is_empty(), "{:?}", run.failed);
    let found = |check: CheckId, host: &str| {
        run.found.iter().find(|o| o.check == check && o.asset.host == host).map(|o| o.evidence.clone())
    };
    let covered = |check: CheckId, host: &str| run.covered.iter().any(|c| c.check == check && c.host == host);
    // Signed on load by knot, signatures valid for 14 days: silent, and judged.
    for c in [CheckId::DnsDnssecMissing, CheckId::DnsDnssecExpired] {
        assert!(covered(c.clone(), "signed.test"), "{c} not covered on signed.test");
        assert_eq!(found(c.clone(), "signed.test"), None);
    }
    // Signatures that live three days expire within the 7-day warning.
    let soon = found(CheckId::DnsDnssecExpired, "soon.test").expect("dns.dnssec-expired on soon.test");
    assert!(soon.contains("RRSIG SOA (algorithm 13") && soon.contains("signer soon.test) expires"), "{soon}");
    assert!(soon.contains("RRSIG DNSKEY"), "{soon}");
    assert_eq!(found(CheckId::DnsDnssecMissing, "soon.test"), None);
    // Unsigned.
    let plain = found(CheckId::DnsDnssecMissing, "plain.test").expect("dns.dnssec-missing on plain.test");
    assert!(plain.starts_with("plain.test has no DNSKEY record: the zone is not signed"), "{plain}");
    assert_eq!(found(CheckId::DnsDnssecExpired, "plain.test"), None);
    // The mail subdomain under sp=none, and the one under p=reject (no sp=).
    let weak = found(CheckId::DnsDmarcWeak, "news.plain.test").expect("dns.dmarc-weak on news.plain.test");
    assert_eq!(
        weak,
        "no record at _dmarc.news.plain.test; organizational domain plain.test: v=DMARC1; p=reject; sp=none \
         → sp=none applies; spoofed mail from news.plain.test is delivered"
    );
    assert!(found(CheckId::DnsSpfMissing, "news.plain.test").is_some());
    for c in [CheckId::DnsSpfMissing, CheckId::DnsSpfPermissive, CheckId::DnsDmarcMissing, CheckId::DnsDmarcWeak] {
        assert!(covered(c.clone(), "relay.signed.test"), "{c} not covered on relay.signed.test");
    }
    let signed_findings: Vec<_> =
        run.found.iter().filter(|o| o.asset.host.ends_with("signed.test")).map(|o| (&o.check, &o.evidence)).collect();
    assert!(signed_findings.is_empty(), "{signed_findings:?}");
    assert!(found(CheckId::DnsDmarcWeak, "plain.test").is_none(), "the apex's own p=reject holds");
}
