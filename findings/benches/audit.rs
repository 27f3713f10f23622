//! Audit log benchmark: 200k appends with a sync every 1000, then reopening
//! (which reads and checks the whole log) and verifying it.
//!
//! Run with `cargo bench -p haetae-findings --bench audit`. Target: well over
//! 100k appends/s on a 2-core machine.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use haetae_findings::audit::{self, AuditEntry, AuditLog, Protocol, Verdict};

/// The same allocator as the `haetae` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOTAL: u64 = 200_000;
const SYNC_EVERY: u64 = 1_000;
const THREADS: u64 = 2;

fn entry(i: u64) -> AuditEntry {
    AuditEntry {
        engagement: "KR-BENCH".into(),
        target: format!("h{}.bench.agency.test", i / 40),
        address: Some(IpAddr::from([127, 77, (i >> 8) as u8 & 0x0f, i as u8])),
        port: Some(443),
        protocol: Protocol::Tcp,
        probe: "tcp.connect".into(),
        verdict: Verdict::Allowed,
        reason: "127.77.0.1 is inside cidrs 127.77.0.0/20".into(),
        outcome: "connected".into(),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is parsed.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.jsonl");

    let log = AuditLog::open(&path).expect("open");
    let t = Instant::now();
    for i in 1..=TOTAL {
        log.append(entry(i)).expect("append");
        if i % SYNC_EVERY == 0 {
            log.sync().expect("sync");
        }
    }
    log.sync().expect("sync");
    let took = t.elapsed();
    drop(log);
    let size = std::fs::metadata(&path).expect("size").len();
    println!(
        "append, 1 thread   {TOTAL} records, sync every {SYNC_EVERY}: {:>8.0} records/s ({:.2} s, {:.1} MB)",
        TOTAL as f64 / took.as_secs_f64(),
        took.as_secs_f64(),
        size as f64 / 1e6
    );

    let t = Instant::now();
    let log = AuditLog::open(&path).expect("reopen");
    let took = t.elapsed();
    assert_eq!(log.last_seq(), Some(TOTAL));
    println!("open (reads, checks) {TOTAL} records: {:.3} s", took.as_secs_f64());

    // Appends racing from several threads on the same log, as the scan engine does.
    let log = Arc::new(log);
    let t = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|w| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for i in 1..=TOTAL / THREADS {
                    log.append(entry(i)).expect("append");
                    if i % (SYNC_EVERY / THREADS) == 0 && w == 0 {
                        log.sync().expect("sync");
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    log.sync().expect("sync");
    let took = t.elapsed();
    println!(
        "append, {THREADS} threads  {TOTAL} records, sync every {SYNC_EVERY}: {:>8.0} records/s ({:.2} s)",
        TOTAL as f64 / took.as_secs_f64(),
        took.as_secs_f64()
    );
    drop(log);

    let t = Instant::now();
    let report = audit::verify(&path).expect("verify");
    let took = t.elapsed();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records, 2 * TOTAL);
    println!(
        "verify {} records: {:.3} s ({:.0} records/s)",
        report.records,
        took.as_secs_f64(),
        report.records as f64 / took.as_secs_f64()
    );
}
