//! Whole scans against faulty name servers: silent DNS never stops a scan,
//! and zone transfers are bounded in time, records and names, and cancellable.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use haetae_findings::CheckId;
use haetae_findings::Timestamp;
use haetae_findings::audit::AuditLog;
use haetae_scanner::engine::{self, Profile, ScanEvent, ScanRequest, Stop};
use haetae_scanner::guard::{GuardConfig, ScopeGuard};
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::dns::scope;
use crate::fakedns::{Ask, FakeDns, Reply, a, soa, zone};
use crate::support::lab_tls;

const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;

fn request(targets: &[&str]) -> ScanRequest {
    ScanRequest {
        targets: targets.iter().map(|t| t.to_string()).collect(),
        profile: Profile::Standard,
        skip: Default::default(),
        tls: lab_tls(),
        templates: None,
        software: None,
        earlier_addresses: Default::default(),
        checks: Default::default(),
    }
}

/// What a scan reported.
struct Run {
    outcome: engine::Outcome,
    found: Vec<haetae_findings::Observation>,
    covered: Vec<haetae_findings::Coverage>,
}

async fn run(id: &str, port: u16, timeout_ms: u64, ns: SocketAddr, targets: &[&str]) -> (Run, u64, Duration) {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let audit = Arc::new(AuditLog::open(&dir.path().join("audit.jsonl")).unwrap());
    let config = GuardConfig {
        scope: Arc::new(scope(id, port, timeout_ms)),
        nameservers: vec![ns],
        audit,
        clock: Arc::new(Timestamp::now),
    };
    let guard = Arc::new(ScopeGuard::new(config).unwrap());
    let (tx, mut rx) = mpsc::channel(64);
    let task = tokio::spawn(engine::run(guard.clone(), request(targets), tx, CancellationToken::new()));
    let (mut found, mut covered, mut open) = (Vec::new(), Vec::new(), 0);
    let collect = async {
        while let Some(ev) = rx.recv().await {
            match ev {
                ScanEvent::Found(o) => found.push(*o),
                ScanEvent::Covered(c) => covered.push(c),
                ScanEvent::OpenPort { .. } => open += 1,
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), collect).await.expect("scan did not finish");
    let outcome = task.await.unwrap();
    guard.sync_audit().unwrap();
    (Run { outcome, found, covered }, open, started.elapsed())
}

/// A port nothing listens on (refused at once).
async fn closed_port() -> u16 {
    TcpListener::bind((LOCAL, 0)).await.unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_server_that_never_answers_does_not_stop_the_scan_of_addresses() {
    // Reads and never answers.
    let silent = UdpSocket::bind((LOCAL, 0)).await.unwrap();
    let listener = TcpListener::bind((LOCAL, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (run, open, took) =
        run("KR-SILENT", port, 200, silent.local_addr().unwrap(), &["www.agency.test", "127.0.0.1"]).await;
    assert_eq!(run.outcome.stop, None, "silent DNS does not stop the scan");
    // Every unit came to an end: the names as failed units, covering nothing.
    assert!(run.outcome.complete, "{:?}", run.outcome);
    assert!(run.outcome.progress.failed >= 1, "{:?}", run.outcome);
    assert_eq!(open, 1, "the address target's port was scanned and found open");
    assert!(run.outcome.progress.ports_done >= 1);
    assert!(!run.covered.iter().any(|c| c.check == CheckId::DnsSpfMissing), "no DNS unit is covered");
    println!("silent name server: scan took {took:?}");
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_server_that_drops_nxdomain_queries_does_not_end_the_scan() {
    let hosts: &'static [(&'static str, Ipv4Addr)] = &[("www.agency.test", LOCAL), ("ns1.agency.test", LOCAL)];
    let fake = FakeDns::start(Arc::new(move |ask: &Ask| {
        let m = zone(ask, hosts);
        if m.metadata.response_code == hickory_proto::op::ResponseCode::NXDomain {
            Reply::Drop
        } else {
            Reply::Send(vec![m])
        }
    }))
    .await;
    let listener = TcpListener::bind((LOCAL, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (run, open, took) = run("KR-NXDROP", port, 300, fake.addr, &["www.agency.test", "127.0.0.1"]).await;
    assert_eq!(run.outcome.stop, None, "{:?}", run.outcome);
    assert!(open >= 1, "the port scan ran");
    assert!(
        run.found.iter().any(|o| o.check == CheckId::DnsSpfMissing && o.asset.host == "agency.test"),
        "names the server answers are checked"
    );
    assert!(run.covered.iter().any(|c| c.check == CheckId::DnsSpfMissing));
    let dropped = fake
        .asked()
        .iter()
        .filter(|(n, _, _)| n.ends_with(".agency.test") && !hosts.iter().any(|(h, _)| h == n))
        .count();
    assert!(dropped > 0, "discovery asked for names that do not exist");
    println!("NXDOMAIN-dropping server: scan took {took:?}, {dropped} queries dropped");
    drop(listener);
}

/// A zone whose AXFR is a stream: the opening SOA, then `per` A records per
/// message (h0, h1, ... in `agency.test`), one message every `every`, never
/// the closing SOA. Every other name is NXDOMAIN.
fn endless_axfr(every: Duration, per: u64) -> Arc<dyn Fn(&Ask) -> Reply + Send + Sync> {
    Arc::new(move |ask: &Ask| {
        if ask.qtype() != RecordType::AXFR {
            return Reply::Send(vec![zone(ask, &[("ns1.agency.test", LOCAL)])]);
        }
        let reply: Message = ask.reply();
        Reply::Stream {
            every,
            next: Box::new(move |i| {
                let mut m = reply.clone();
                m.answers = if i == 0 { vec![soa("agency.test")] } else { Vec::new() };
                for j in 0..per {
                    m.answers.push(a(&format!("h{}.agency.test", i * per + j), LOCAL));
                }
                Some(m)
            }),
        }
    })
}

fn axfr_evidence(run: &Run) -> String {
    let o = run.found.iter().find(|o| o.check == CheckId::DnsAxfrOpen).expect("dns.axfr-open is reported");
    o.evidence.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_zone_transfer_is_cut_at_its_total_deadline() {
    // A message every 100 ms (each within timeout_ms = 300), forever: the
    // transfer is cut at 4 x 300 ms.
    let fake = FakeDns::start(endless_axfr(Duration::from_millis(100), 1)).await;
    let (run, _, took) = run("KR-AXFR-SLOW", closed_port().await, 300, fake.addr, &["agency.test"]).await;
    let evidence = axfr_evidence(&run);
    assert!(evidence.contains("transfer cut at its 1.2 s deadline (4 x timeout_ms)"), "{evidence}");
    let sent = fake.streamed.load(std::sync::atomic::Ordering::SeqCst);
    assert!(sent <= 20, "{sent} messages were read in a 1.2 s transfer of one message per 100 ms");
    assert!(run.covered.iter().any(|c| c.check == CheckId::DnsAxfrOpen));
    println!("slow AXFR: scan took {took:?}, {sent} messages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_zone_transfer_stops_at_the_record_cap_and_feeds_at_most_1000_names() {
    let fake = FakeDns::start(endless_axfr(Duration::ZERO, 100)).await;
    let (run, _, took) = run("KR-AXFR-ENDLESS", closed_port().await, 2000, fake.addr, &["agency.test"]).await;
    let evidence = axfr_evidence(&run);
    assert!(evidence.contains("transfer cut after 10,000 records"), "{evidence}");
    assert!(evidence.contains("the first 1,000 of 10,000 in-scope names were taken into the scan"), "{evidence}");
    let resolved: std::collections::HashSet<String> = fake
        .asked()
        .into_iter()
        .filter(|(n, t, _)| n.starts_with('h') && *t == RecordType::A)
        .map(|(n, _, _)| n)
        .collect();
    assert!(resolved.len() <= 1000, "{} transferred names were resolved", resolved.len());
    assert!(resolved.len() >= 900, "the first names were taken: {}", resolved.len());
    println!("endless AXFR: scan took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_scan_stops_a_zone_transfer_at_once() {
    let fake = FakeDns::start(endless_axfr(Duration::from_millis(200), 1)).await;
    let dir = tempfile::tempdir().unwrap();
    let audit = Arc::new(AuditLog::open(&dir.path().join("audit.jsonl")).unwrap());
    let config = GuardConfig {
        scope: Arc::new(scope("KR-AXFR-CANCEL", closed_port().await, 2000)),
        nameservers: vec![fake.addr],
        audit,
        clock: Arc::new(Timestamp::now),
    };
    let guard = Arc::new(ScopeGuard::new(config).unwrap());
    let (tx, mut rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(engine::run(guard, request(&["agency.test"]), tx, cancel.clone()));
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    // The transfer is under way (its deadline is 8 s away).
    fake.stream_started.notified().await;
    let at = Instant::now();
    cancel.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(5), task).await.expect("the scan stopped").unwrap();
    let took = at.elapsed();
    assert!(took < Duration::from_secs(1), "stopped {took:?} after the cancel");
    assert_eq!(outcome.stop, Some(Stop::Cancelled));
    assert!(!outcome.complete);
    println!("cancelled AXFR: stopped {took:?} after the cancel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_transfer_that_never_starts_is_no_answer() {
    // The server takes the AXFR request and says nothing: no finding, and the
    // check is not covered (a timeout is not a refusal).
    let fake = FakeDns::start(Arc::new(|ask: &Ask| {
        if ask.qtype() == RecordType::AXFR {
            return Reply::Drop;
        }
        Reply::Send(vec![zone(ask, &[("ns1.agency.test", LOCAL)])])
    }))
    .await;
    let (mute, _, _) = run("KR-AXFR-MUTE", closed_port().await, 300, fake.addr, &["agency.test"]).await;
    assert!(fake.asked().iter().any(|(_, t, tcp)| *t == RecordType::AXFR && *tcp), "the transfer was asked for");
    assert!(!mute.found.iter().any(|o| o.check == CheckId::DnsAxfrOpen));
    assert!(!mute.covered.iter().any(|c| c.check == CheckId::DnsAxfrOpen), "a silent server is no answer");
    assert!(mute.covered.iter().any(|c| c.check == CheckId::DnsSpfMissing), "the other zone checks ran");

    // Refused: a definite answer, covered.
    let refusing =
        FakeDns::start(Arc::new(|ask: &Ask| Reply::Send(vec![zone(ask, &[("ns1.agency.test", LOCAL)])]))).await;
    let (refused, _, _) = run("KR-AXFR-REFUSED", closed_port().await, 300, refusing.addr, &["agency.test"]).await;
    assert!(!refused.found.iter().any(|o| o.check == CheckId::DnsAxfrOpen));
    assert!(refused.covered.iter().any(|c| c.check == CheckId::DnsAxfrOpen));
}
