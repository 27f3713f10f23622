//! Discovery benchmark, printed side by side with nmap and dnsperf when they
//! are installed (`scripts/bench-discovery.sh` installs them):
//!
//! 1. TCP connect discovery of all 65535 ports of one loopback address with ten
//!    listeners: haetae's engine vs `nmap -sT -p- -n -Pn --min-rate 20000`.
//! 2. Resolution of 10k names against a local authoritative server (the lab's):
//!    haetae's guard vs dnsperf's queries per second on the same server.
//!
//! Everything stays on loopback.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use haetae_findings::Timestamp;
use haetae_findings::audit::AuditLog;
use haetae_lab::Lab;
use haetae_scanner::dns::RecordType;
use haetae_scanner::engine::{self, Profile, ScanEvent, ScanRequest};
use haetae_scanner::guard::{GuardConfig, ScopeGuard};
use haetae_scanner::scope::Scope;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TARGET: &str = "127.77.9.9";
const NAMES: usize = 10_000;

fn scope(text: &str, ports: Vec<u16>) -> Scope {
    let mut s = Scope::parse(Path::new("bench-scope.toml"), text).expect("bench scope");
    s.ports = ports;
    s.limits.max_rps = 100_000;
    s.limits.per_host_rps = 100_000;
    s.limits.concurrency = 1_000;
    s.limits.timeout = std::time::Duration::from_millis(1_000);
    s
}

fn guard(scope: Scope, ns: SocketAddr, dir: &Path) -> Arc<ScopeGuard> {
    let audit = Arc::new(AuditLog::open(&dir.join("audit.jsonl")).expect("audit log"));
    Arc::new(
        ScopeGuard::new(GuardConfig {
            scope: Arc::new(scope),
            nameservers: vec![ns],
            audit,
            clock: Arc::new(Timestamp::now),
        })
        .expect("guard"),
    )
}

/// One machine-readable line per measured row, collected by `scripts/bench.sh`.
fn bench_line(work: &str, haetae: f64, peer: f64, peer_name: &str, unit: &str, ratio: f64, target: &str) {
    println!(
        "BENCH {{\"work\":\"{work}\",\"haetae\":{haetae:.4},\"peer\":{peer:.4},\"peer_name\":\"{peer_name}\",\"unit\":\"{unit}\",\"ratio\":{ratio:.4},\"target\":\"{target}\",\"kind\":\"ratio\"}}"
    );
}

fn have(tool: &str) -> bool {
    if std::env::var_os("BENCH_NO_TOOLS").is_some() {
        return false;
    }
    Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let lab = Lab::start().await.expect("lab");
    let dir = tempfile::tempdir().expect("temp dir");

    // 1. Port discovery.
    let mut listeners = Vec::new();
    for _ in 0..10 {
        listeners.push(TcpListener::bind((TARGET.parse::<IpAddr>().unwrap(), 0)).await.expect("bind"));
    }
    let mut open: Vec<u16> = listeners.iter().map(|l| l.local_addr().unwrap().port()).collect();
    open.sort();
    let accept = tokio::spawn(async move {
        let mut tasks = Vec::new();
        for l in listeners {
            tasks.push(tokio::spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    drop(s);
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let s = scope(&lab.scope_toml(), (1..=65535).collect());
    let g = guard(s, lab.dns_addr(), dir.path());
    let (tx, mut rx) = mpsc::channel(4096);
    let req = ScanRequest { targets: vec![TARGET.into()], profile: Profile::Standard, ..Default::default() };
    let t = Instant::now();
    let run = tokio::spawn(engine::run(g.clone(), req, tx, CancellationToken::new()));
    let mut found = Vec::new();
    while let Some(ev) = rx.recv().await {
        if let ScanEvent::OpenPort { port, .. } = ev {
            found.push(port);
        }
    }
    let outcome = run.await.expect("engine");
    let haetae_ports = t.elapsed();
    found.sort();
    println!(
        "ports  haetae: 65535 ports of {TARGET} in {:.2} s, {} open (expected {:?}), complete={}",
        haetae_ports.as_secs_f64(),
        found.len(),
        open,
        outcome.complete
    );
    // Services of this machine listening on every address show up too.
    assert!(open.iter().all(|p| found.contains(p)), "haetae found every one of the ten listeners");
    if have("nmap") {
        let t = Instant::now();
        let o = Command::new("nmap")
            .args(["-sT", "-p-", "-n", "-Pn", "--min-rate", "20000", TARGET])
            .output()
            .expect("nmap");
        let nmap = t.elapsed();
        let text = String::from_utf8_lossy(&o.stdout);
        let nmap_open = text.lines().filter(|l| l.contains("/tcp") && l.contains("open")).count();
        println!("ports  nmap:   65535 ports of {TARGET} in {:.2} s, {nmap_open} open", nmap.as_secs_f64());
        println!(
            "ports  haetae/nmap time ratio: {:.2} (target <= 1.00)",
            haetae_ports.as_secs_f64() / nmap.as_secs_f64()
        );
        bench_line(
            "ports 65535, one loopback address (time)",
            haetae_ports.as_secs_f64(),
            nmap.as_secs_f64(),
            "nmap -sT",
            "s",
            haetae_ports.as_secs_f64() / nmap.as_secs_f64(),
            "<= 1.0",
        );
    } else {
        println!("ports  nmap:   not installed (scripts/bench-discovery.sh installs it)");
    }
    accept.abort();

    // 2. Resolution of 10k names.
    let names: Vec<String> = (0..NAMES).map(|i| format!("h{i}.agency.test")).collect();
    let g = guard(scope(&lab.scope_toml(), vec![22]), lab.dns_addr(), dir.path());
    let t = Instant::now();
    // A window of 256 queries in flight, polled by one task (as the engine does).
    let mut ok = 0;
    let mut window = FuturesUnordered::new();
    for n in &names {
        if window.len() >= 256
            && let Some(r) = window.next().await
        {
            ok += usize::from(r);
        }
        let g = g.clone();
        window.push(async move { g.query(n, RecordType::A).await.response.is_ok() });
    }
    while let Some(r) = window.next().await {
        ok += usize::from(r);
    }
    let dns = t.elapsed();
    let ours = NAMES as f64 / dns.as_secs_f64();
    println!("dns    haetae: {NAMES} names in {:.2} s = {ours:.0} queries/s ({ok} answered)", dns.as_secs_f64());
    if have("dnsperf") {
        let qfile = dir.path().join("queries.txt");
        std::fs::write(&qfile, names.iter().map(|n| format!("{n} A\n")).collect::<String>()).unwrap();
        let ns = lab.dns_addr();
        let o = Command::new("dnsperf")
            .args(["-s", &ns.ip().to_string(), "-p", &ns.port().to_string(), "-d"])
            .arg(&qfile)
            .args(["-n", "3", "-c", "8", "-q", "256"])
            .output()
            .expect("dnsperf");
        let text = String::from_utf8_lossy(&o.stdout);
        let qps: Option<f64> = text
            .lines()
            .find(|l| l.trim_start().starts_with("Queries per second:"))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse().ok());
        match qps {
            Some(q) => {
                println!("dns    dnsperf: {q:.0} queries/s on the same server");
                println!("dns    haetae/dnsperf rate ratio: {:.2} (target >= 0.50)", ours / q);
                bench_line("dns 10k names (rate)", ours, q, "dnsperf", "q/s", ours / q, ">= 0.5");
            }
            None => println!("dns    dnsperf: no rate in its output:\n{text}"),
        }
    } else {
        println!("dns    dnsperf: not installed (scripts/bench-discovery.sh installs it)");
    }
    lab.shutdown().await;
}
