//! The hostile lab, scanned once (a test binary of its own, so the peak
//! memory read from /proc is this scan's): every wait is bounded by
//! `timeout_ms`, memory stays flat, each hostile endpoint is a failed unit
//! (not a finding, not silence), and the hardened twins scanned alongside
//! are still completely covered. Nothing outside the scope is contacted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haetae_findings::audit::AuditLog;
use haetae_findings::{CheckId, Coverage, FailedUnit, Observation, Timestamp};
use haetae_lab::hostile::{HostileLab, HostileOptions, Kind};
use haetae_scanner::engine::{self, Outcome, Profile, ScanEvent, ScanRequest};
use haetae_scanner::guard::{GuardConfig, ScopeGuard};
use haetae_scanner::scope::Scope;
use haetae_scanner::tls::handshake::TlsOptions;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const TIMEOUT_MS: u64 = 1000;
/// The scan's bound, from `timeout_ms`: the zone transfers' total deadline
/// (4x), discovery and resolution behind breakers, each port's probes
/// (greeting, TLS, HTTP, services, at most three failures in a row), the
/// Retry-After budget (10 s), all with the scope's concurrency, and room for
/// a loaded 2-core machine running debug code.
const BOUND: Duration = Duration::from_secs(90);
/// Peak resident memory of this process (the lab included).
const MEMORY_BOUND_KIB: u64 = 400 * 1024;

struct Run {
    outcome: Outcome,
    found: Vec<Observation>,
    covered: Vec<Coverage>,
    failed: Vec<FailedUnit>,
    closed: Vec<(String, u16)>,
}

async fn scan(lab: &HostileLab) -> Run {
    let scope = Scope::parse(Path::new("scope.toml"), &lab.scope_toml()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let audit = Arc::new(AuditLog::open(&dir.path().join("audit.jsonl")).unwrap());
    let guard = Arc::new(
        ScopeGuard::new(GuardConfig {
            scope: Arc::new(scope.clone()),
            nameservers: vec![lab.dns_addr()],
            audit,
            clock: Arc::new(Timestamp::now),
        })
        .unwrap(),
    );
    let req = ScanRequest {
        targets: scope.seeds.clone(),
        profile: Profile::Standard,
        tls: TlsOptions::from_pem(haetae_lab::CA_PEM, 30).unwrap(),
        ..ScanRequest::default()
    };
    let (tx, mut rx) = mpsc::channel(1024);
    let task = tokio::spawn(engine::run(guard, req, tx, CancellationToken::new()));
    let mut run = Run {
        outcome: Outcome { complete: false, stop: None, progress: Default::default() },
        found: Vec::new(),
        covered: Vec::new(),
        failed: Vec::new(),
        closed: Vec::new(),
    };
    let collect = async {
        while let Some(ev) = rx.recv().await {
            match ev {
                ScanEvent::Found(o) => run.found.push(*o),
                ScanEvent::Covered(c) => run.covered.push(c),
                ScanEvent::Failed(u) => run.failed.push(u),
                ScanEvent::PortClosed { host, port } => run.closed.push((host, port)),
                _ => {}
            }
        }
    };
    tokio::time::timeout(BOUND * 2, collect).await.expect("the hostile scan did not end");
    run.outcome = task.await.unwrap();
    run
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hostile_lab_is_bounded_and_every_hostile_endpoint_is_a_failed_unit() {
    let opts = HostileOptions {
        silent_ports: 200,
        axfr_interval: Duration::from_millis(300),
        drip_interval: Duration::from_millis(100),
        timeout_ms: TIMEOUT_MS,
    };
    let lab = HostileLab::start(opts).await.unwrap();
    let started = Instant::now();
    let run = scan(&lab).await;
    let took = started.elapsed();
    let peak = peak_rss_kib();
    println!(
        "hostile lab: {} endpoints, scan {:.1} s, peak RSS {} MiB, {} failed units, {} findings, {} covered",
        lab.endpoints().len(),
        took.as_secs_f64(),
        peak / 1024,
        run.failed.len(),
        run.found.len(),
        run.covered.len()
    );
    let mut reasons: Vec<String> =
        run.failed.iter().map(|u| format!("{} {}: {}", u.checks, u.host, u.reason)).collect();
    reasons.sort();
    reasons.dedup_by(|a, b| a.split(':').next() == b.split(':').next());
    println!("failed units (one per host and group):\n  {}", reasons.join("\n  "));
    assert!(took < BOUND, "the scan took {took:?}, over its bound {BOUND:?}");
    assert!(peak < MEMORY_BOUND_KIB, "peak RSS {} MiB", peak / 1024);
    assert_eq!(lab.out_of_scope_contacts(), 0, "the tripwire outside the scope was contacted");
    assert!(run.outcome.complete && run.outcome.stop.is_none(), "{:?}", run.outcome);

    let failed_on =
        |host: &str, port: Option<u16>| run.failed.iter().any(|u| u.host == host && (port.is_none() || u.port == port));
    let found_on =
        |host: &str| run.found.iter().filter(|o| o.asset.host == host).map(|o| o.check.as_str()).collect::<Vec<_>>();
    let mut report = Vec::new();
    for e in lab.endpoints() {
        // What each case must come to.
        let expect_failed = !matches!(
            e.kind,
            // Whole answers that are no trouble to a reader that does not
            // follow redirects (templates read the answer of the URL they
            // name), and garbage (a whole reply that is not TLS is an answer).
            Kind::RedirectLoop | Kind::RedirectOutOfScope | Kind::TlsGarbage
            // An open transfer is a finding, cut at its bound; a server that
            // drops NXDOMAIN queries answers the names that exist.
            | Kind::DnsSlowAxfr | Kind::DnsEndlessAxfr | Kind::DnsDropsNxdomain
        );
        let dns = e.name.starts_with("dns-");
        let port = (!dns).then_some(e.port);
        let failed = failed_on(&e.host, port);
        report.push(format!("{:<24} failed={failed} findings={:?}", e.name, found_on(&e.host)));
        if expect_failed {
            assert!(failed, "{} ({}:{}) is not a failed unit: {:#?}", e.name, e.host, e.port, report);
        }
    }
    println!("{}", report.join("\n"));
    // Open transfers are findings that say where they were cut.
    for zone in ["slow-axfr.test", "endless-axfr.test"] {
        let axfr = run.found.iter().find(|o| o.check == CheckId::DnsAxfrOpen && o.asset.host == zone);
        let axfr = axfr.unwrap_or_else(|| panic!("no dns.axfr-open on {zone}"));
        println!("{zone}: {}", axfr.evidence);
    }
    // The twins are completely covered, and clean.
    for twin in lab.twins() {
        assert!(run.found.iter().all(|o| o.asset.host != twin.host), "finding on a twin: {:?}", found_on(&twin.host));
        let twin_failed: Vec<&FailedUnit> = run.failed.iter().filter(|u| u.host == twin.host).collect();
        assert!(twin_failed.is_empty(), "a twin is a failed unit: {twin_failed:?}");
        let checks: BTreeSet<&str> = run
            .covered
            .iter()
            .filter(|c| c.host == twin.host && c.port == Some(twin.port))
            .map(|c| c.check.as_str())
            .collect();
        assert!(
            checks.contains("http.exposed-git") && checks.contains("http.secret-in-response"),
            "{}: {checks:?}",
            twin.host
        );
        if twin.kind == Kind::TwinHttps {
            for c in [
                "http.hsts-missing",
                "tls.cert-expired",
                "tls.cert-untrusted",
                "tls.legacy-protocol",
                "tls.weak-cipher",
            ] {
                assert!(checks.contains(c), "{c} not covered on {}: {checks:?}", twin.host);
            }
        } else {
            assert!(checks.contains("http.no-https-redirect"), "{checks:?}");
        }
    }
    lab.shutdown().await;
}
