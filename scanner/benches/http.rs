//! HTTP benchmark, the haetae half: the real engine runs every built-in
//! template over `BENCH_HTTP_NAMES` (2,000) in-scope names that all resolve
//! to one web server on loopback. `scripts/bench-http.sh` starts that server
//! (nginx), measures wrk and gobuster/ffuf against it, runs this and prints
//! the side-by-side table; run alone, this only says so.
//!
//! Names `n0001.bench.test` … are answered by an in-process DNS responder;
//! name `i` (from 1) gets its own address `127.88.((i-1)/250).((i-1)%250+1)`,
//! so the engine's cap on names per address never applies. The script makes
//! nginx listen on exactly those addresses (loopback only).
//!
//! Prints `RESULT key=value ...` lines for the script: HTTP requests the
//! scanner sent (`haetae_scanner::http::requests_sent`), the scan's wall time,
//! the template phase (first to last HTTP request) and the peak RSS.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use haetae_findings::Timestamp;
use haetae_findings::audit::AuditLog;
use haetae_scanner::engine::{self, Profile, ScanEvent, ScanRequest};
use haetae_scanner::guard::{GuardConfig, ScopeGuard};
use haetae_scanner::http::requests_sent;
use haetae_scanner::scope::Scope;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ZONE: &str = "bench.test";

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The address of name number `i` (from 1).
fn addr_of(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 88, ((i - 1) / 250) as u8, ((i - 1) % 250 + 1) as u8)
}

/// Name number `i` from a query name, if it is one of ours.
fn index_of(name: &str, names: usize) -> Option<usize> {
    let label = name.strip_suffix(&format!(".{ZONE}"))?.strip_prefix('n')?;
    let i: usize = label.parse().ok()?;
    (label.len() == 4 && (1..=names).contains(&i)).then_some(i)
}

/// A DNS reply to `q`: one A record for our names, NODATA for their other
/// types and for the apex, NXDOMAIN for anything else. Handwritten: the
/// question is copied and the answer points back at it.
fn answer(q: &[u8], names: usize) -> Option<Vec<u8>> {
    if q.len() < 12 || q[2] & 0x80 != 0 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*q.get(i)?);
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let question_end = i + 4;
    q.get(..question_end)?;
    let name = labels.join(".");
    let index = index_of(&name, names);
    let known = index.is_some() || name == ZONE;
    let mut r = Vec::with_capacity(question_end + 16);
    r.extend_from_slice(&q[..2]);
    r.push(0x84 | (q[2] & 0x01)); // QR, AA, RD copied
    r.push(if known { 0x00 } else { 0x03 }); // NOERROR or NXDOMAIN
    let a = match index {
        Some(i) if qtype == 1 => Some(addr_of(i)),
        _ => None,
    };
    r.extend_from_slice(&[0, 1, 0, u8::from(a.is_some()), 0, 0, 0, 0]);
    r.extend_from_slice(&q[12..question_end]);
    if let Some(a) = a {
        r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4]);
        r.extend_from_slice(&a.octets());
    }
    Some(r)
}

async fn dns_responder(names: usize) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind the DNS responder");
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else { continue };
            if let Some(r) = answer(&buf[..n], names) {
                let _ = sock.send_to(&r, from).await;
            }
        }
    });
    addr
}

fn scope(port: u16, concurrency: usize, timeout_ms: u64) -> Scope {
    let text = format!(
        r#"
[engagement]
id = "BENCH-HTTP"
contact = "bench@bench.test"
not_before = 2000-01-01T00:00:00Z
not_after = 2999-01-01T00:00:00Z
[scope]
domains = ["{ZONE}"]
cidrs = ["127.88.0.0/16"]
ports = [{port}]
[limits]
concurrency = {concurrency}
timeout_ms = {timeout_ms}
"#
    );
    let mut s = Scope::parse(Path::new("bench-scope.toml"), &text).expect("bench scope");
    // Past what a scope file may say: the rate limiters must not be what is measured.
    s.limits.max_rps = 1_000_000;
    s.limits.per_host_rps = 1_000_000;
    s
}

/// Peak resident set size of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(port) = std::env::var("BENCH_HTTP_PORT").ok().and_then(|p| p.parse::<u16>().ok()) else {
        println!("http bench: needs the nginx that scripts/bench-http.sh starts; run that script");
        return;
    };
    let names: usize = env_or("BENCH_HTTP_NAMES", 2000).clamp(1, 9999);
    let concurrency: usize = env_or("BENCH_HTTP_CONCURRENCY", 256);
    let timeout_ms: u64 = env_or("BENCH_HTTP_TIMEOUT_MS", 1000);
    let ns = dns_responder(names).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = Arc::new(AuditLog::open(&dir.path().join("audit.jsonl")).expect("audit log"));
    let guard = Arc::new(
        ScopeGuard::new(GuardConfig {
            scope: Arc::new(scope(port, concurrency, timeout_ms)),
            nameservers: vec![ns],
            audit,
            clock: Arc::new(Timestamp::now),
        })
        .expect("guard"),
    );
    let targets: Vec<String> = (1..=names).map(|i| format!("n{i:04}.{ZONE}")).collect();
    let req = ScanRequest { targets, profile: Profile::Standard, ..Default::default() };

    // Watch the request counter: the template phase runs from the first HTTP
    // request to the last.
    let sent_before = requests_sent();
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let watch = {
        let done = done.clone();
        tokio::spawn(async move {
            let (mut first, mut last, mut seen) = (None, start, sent_before);
            // Requests sent in each tenth of a second, for BENCH_HTTP_TRACE.
            let mut timeline: Vec<u64> = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(2));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            while !done.load(Ordering::Relaxed) {
                tick.tick().await;
                let now = requests_sent();
                let slot = (start.elapsed().as_millis() / 100) as usize;
                timeline.resize(timeline.len().max(slot + 1), now);
                timeline[slot] = now;
                if now != seen {
                    first.get_or_insert_with(Instant::now);
                    last = Instant::now();
                    seen = now;
                }
            }
            (first, last, timeline)
        })
    };
    let (tx, mut rx) = mpsc::channel(4096);
    let run = tokio::spawn(engine::run(guard.clone(), req, tx, CancellationToken::new()));
    let (mut open, mut covered) = (0u64, 0u64);
    let mut found: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            ScanEvent::OpenPort { .. } => open += 1,
            ScanEvent::Covered(_) => covered += 1,
            ScanEvent::Found(o) => *found.entry(o.check.to_string()).or_default() += 1,
            _ => {}
        }
    }
    let outcome = run.await.expect("engine");
    let total = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let (first, last, timeline) = watch.await.expect("watcher");
    if std::env::var_os("BENCH_HTTP_TRACE").is_some() {
        let mut prev = sent_before;
        let per_tenth: Vec<u64> = timeline.iter().map(|&n| n - std::mem::replace(&mut prev, n)).collect();
        println!("HTTP requests per 100 ms: {per_tenth:?}");
    }
    let sent = requests_sent() - sent_before;
    let phase = first.map_or(Duration::ZERO, |f| last.saturating_duration_since(f));
    let stats = &guard.stats;
    println!(
        "haetae: {names} names, {open} open ports, {sent} HTTP requests, {} connections, {} DNS queries, \
         {covered} units covered, complete={}",
        stats.connects.load(Ordering::Relaxed),
        stats.queries.load(Ordering::Relaxed),
        outcome.complete
    );
    println!("haetae findings: {found:?}");
    println!(
        "RESULT scan requests={sent} seconds={:.3} rps={:.0} peak_rss_kib={}",
        total.as_secs_f64(),
        sent as f64 / total.as_secs_f64(),
        peak_rss_kib()
    );
    println!(
        "RESULT templates requests={sent} seconds={:.3} rps={:.0}",
        phase.as_secs_f64(),
        sent as f64 / phase.as_secs_f64().max(1e-9)
    );
}
