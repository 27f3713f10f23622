//! The PostgreSQL store against the sled store, same work, same run:
//! batched upserts of 100k new findings, the same 100k seen again, 1k open
//! listed among 100k, and loading all 100k (what the TUI reads at start).
//!
//! Run with `cargo bench -p haetae-findings --bench store_pg`. It starts its
//! own PostgreSQL (initdb/pg_ctl in a temporary directory, on loopback, with
//! fsync on; see `pgtest/`); without PostgreSQL installed it says so and
//! stops. `BENCH_PG_TOTAL` sets the number of findings (default 100k). Prints one
//! `BENCH` line per row with the ratio PostgreSQL / sled (a rate: higher is
//! better; a time: lower is better); no target, the ratio is what it costs
//! to share the store.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use haetae_findings::{
    Asset, CheckId, Confidence, Finding, Observation, Prioritizer, Priority, Selection, State, Store, Timestamp,
    Transition,
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Flat;
impl Prioritizer for Flat {
    fn prioritize(&self, f: &mut Finding, _now: Timestamp) {
        f.priority = if f.severity >= haetae_findings::Severity::High { Priority::P2 } else { Priority::P4 };
        f.score = 1.0;
    }
}

const BATCH: usize = 1_000;
const OPEN: usize = 1_000;

fn observation(i: usize) -> Observation {
    let check = CheckId::BUILTIN[i % CheckId::BUILTIN.len()].clone();
    let host = format!("h{}.bench.agency.test", i / 40);
    let mut o =
        Observation::new(check, Asset { host, ip: None, port: Some(443) }, format!("https://x/{i}"), "KR-BENCH");
    o.confidence = Confidence::Firm;
    o.evidence = format!("synthetic evidence number {i} with a little text to be realistic");
    o
}

/// Seconds for each measured step.
struct Times {
    new: f64,
    seen: f64,
    list_open_ms: f64,
    load_all: f64,
}

fn run(store: &Store, all: &[Observation]) -> Times {
    let t = Instant::now();
    let mut ids = Vec::with_capacity(all.len());
    for chunk in all.chunks(BATCH) {
        ids.extend(store.upsert_batch(None, chunk).expect("upsert").into_iter().map(|(id, _)| id));
    }
    let new = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for chunk in all.chunks(BATCH) {
        store.upsert_batch(None, chunk).expect("upsert");
    }
    let seen = t.elapsed().as_secs_f64();
    for chunk in ids[OPEN.min(ids.len())..].chunks(BATCH) {
        store.triage(chunk, &Transition::new(State::Fixed, "bench")).expect("triage");
    }
    let mut samples: Vec<f64> = (0..9)
        .map(|_| {
            let t = Instant::now();
            let l = store.list(&Selection::States(vec![State::Open])).expect("list");
            assert_eq!(l.findings.len(), OPEN.min(all.len()));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    let t = Instant::now();
    let loaded = store.list(&Selection::All).expect("list all").findings.len();
    assert_eq!(loaded, all.len());
    Times { new, seen, list_open_ms: samples[samples.len() / 2], load_all: t.elapsed().as_secs_f64() }
}

fn line(work: &str, pg: f64, sled: f64, unit: &str) {
    println!(
        "BENCH {{\"work\":\"{work}\",\"haetae\":{pg:.4},\"peer\":{sled:.4},\"peer_name\":\"sled\",\"unit\":\"{unit}\",\"ratio\":{:.4},\"target\":\"none\",\"kind\":\"peer\"}}",
        pg / sled
    );
}

fn main() {
    let total: usize = std::env::var("BENCH_PG_TOTAL").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let server = match haetae_pgtest::PgServer::start() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("store_pg: no PostgreSQL to measure ({e}); nothing measured");
            return;
        }
    };
    // Durable, as sled is (the test harness runs with fsync off).
    let durable = std::process::Command::new(server.tool("psql"))
        .args([server.url().as_str(), "-qc", "ALTER SYSTEM SET fsync = on", "-c", "SELECT pg_reload_conf()"])
        .output()
        .expect("psql");
    assert!(durable.status.success(), "{}", String::from_utf8_lossy(&durable.stderr));
    let url = server.fresh_database().expect("database");
    let all: Vec<Observation> = (0..total).map(observation).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let sled = run(&Store::open(dir.path(), Arc::new(Flat)).expect("sled"), &all);
    let pg = run(&Store::open_postgres(&url, Arc::new(Flat)).expect("postgres"), &all);
    let n = total as f64;
    println!("                        sled        PostgreSQL");
    println!("upsert new  /s    {:>12.0} {:>12.0}", n / sled.new, n / pg.new);
    println!("upsert seen /s    {:>12.0} {:>12.0}", n / sled.seen, n / pg.seen);
    println!("list 1k open ms   {:>12.2} {:>12.2}", sled.list_open_ms, pg.list_open_ms);
    println!("load all s        {:>12.2} {:>12.2}", sled.load_all, pg.load_all);
    line(
        &format!("store upsert {total} new, batches of {BATCH}, PostgreSQL vs sled (rate)"),
        n / pg.new,
        n / sled.new,
        "upserts/s",
    );
    line(&format!("store upsert {total} seen, PostgreSQL vs sled (rate)"), n / pg.seen, n / sled.seen, "upserts/s");
    line(
        &format!("store list {OPEN} open of {total}, PostgreSQL vs sled (median time)"),
        pg.list_open_ms,
        sled.list_open_ms,
        "ms",
    );
    line(&format!("store load all {total}, PostgreSQL vs sled (time)"), pg.load_all, sled.load_all, "s");
}
