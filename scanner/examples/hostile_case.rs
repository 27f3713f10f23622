//! Scan one case of the hostile lab (with the hardened twins) and print its
//! wall time and this process's peak memory: `scripts/hostile-cases.sh` runs
//! it once per case, each in a process of its own.
//!
//! `cargo run --release -p haetae-scanner --example hostile_case -- http-slow-head`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haetae_findings::Timestamp;
use haetae_findings::audit::AuditLog;
use haetae_lab::hostile::{HostileLab, HostileOptions, Kind};
use haetae_scanner::engine::{self, Profile, ScanEvent, ScanRequest};
use haetae_scanner::guard::{GuardConfig, ScopeGuard};
use haetae_scanner::scope::Scope;
use haetae_scanner::tls::handshake::TlsOptions;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let case = std::env::args().nth(1).unwrap_or_else(|| "list".to_owned());
    let lab = HostileLab::start(HostileOptions::default()).await.expect("hostile lab");
    if case == "list" {
        let mut names: Vec<&str> = lab.endpoints().iter().map(|e| e.name.as_str()).collect();
        names.retain(|n| !n.starts_with("silent-port-") || *n == "silent-port-0");
        println!("{}", names.join("\n"));
        return;
    }
    let kind: Kind = lab.endpoints().iter().find(|e| e.name == case).map(|e| e.kind).expect("no such case");
    let scope = Scope::parse(Path::new("scope.toml"), &lab.scope_toml_for(&[kind])).unwrap();
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
    let started = Instant::now();
    let task = tokio::spawn(engine::run(guard, req, tx, CancellationToken::new()));
    let (mut failed, mut found) = (0usize, 0usize);
    while let Some(ev) = rx.recv().await {
        match ev {
            ScanEvent::Failed(_) => failed += 1,
            ScanEvent::Found(_) => found += 1,
            _ => {}
        }
    }
    let outcome = task.await.unwrap();
    let took = started.elapsed();
    let timeout = Duration::from_millis(HostileOptions::default().timeout_ms);
    println!(
        "{case:<24} {:>6.1} s  ({:>4.1} x timeout_ms)  peak {:>4} MiB  {failed:>4} failed unit(s)  {found:>2} finding(s)  complete={}",
        took.as_secs_f64(),
        took.as_secs_f64() / timeout.as_secs_f64(),
        peak_rss_kib() / 1024,
        outcome.complete
    );
}
