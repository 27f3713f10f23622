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

use haetae_findings::{Observation, Selection, State, Store, Transition};

mod common;

use common::{Flat, observation};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 1_000;
const OPEN: usize = 1_000;

/// Seconds for each measured step.
struct Times {
    new: f64,
    seen: f64,
    list_open_ms: f64,
    list_open_vacuumed_ms: f64,
    load_all: f64,
}

fn list_open_ms(store: &Store, open: usize) -> f64 {
    let mut samples: Vec<f64> = (0..9)
        .map(|_| {
            let t = Instant::now();
            let l = store.list(&Selection::States(vec![State::Open])).expect("list");
            assert_eq!(l.findings.len(), open);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// `maintain` runs after the bulk triage: PostgreSQL's VACUUM ANALYZE, what
/// autovacuum does within its naptime (a minute); nothing for sled.
fn run(store: &Store, all: &[Observation], maintain: &dyn Fn()) -> Times {
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
    let open = OPEN.min(all.len());
    let list_open = list_open_ms(store, open);
    maintain();
    let list_open_vacuumed = list_open_ms(store, open);
    let t = Instant::now();
    let loaded = store.list(&Selection::All).expect("list all").findings.len();
    assert_eq!(loaded, all.len());
    Times {
        new,
        seen,
        list_open_ms: list_open,
        list_open_vacuumed_ms: list_open_vacuumed,
        load_all: t.elapsed().as_secs_f64(),
    }
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
    let sled = run(&Store::open(dir.path(), Arc::new(Flat)).expect("sled"), &all, &|| {});
    let vacuum = || {
        let out = std::process::Command::new(server.tool("psql"))
            .args([url.as_str(), "-qc", "VACUUM ANALYZE findings"])
            .output()
            .expect("psql");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let pg = run(&Store::open_postgres(&url, Arc::new(Flat)).expect("postgres"), &all, &vacuum);
    let n = total as f64;
    println!("                        sled        PostgreSQL");
    println!("upsert new  /s    {:>12.0} {:>12.0}", n / sled.new, n / pg.new);
    println!("upsert seen /s    {:>12.0} {:>12.0}", n / sled.seen, n / pg.seen);
    println!("list 1k open ms   {:>12.2} {:>12.2}  (right after triaging 99k)", sled.list_open_ms, pg.list_open_ms);
    println!("  after vacuum    {:>12.2} {:>12.2}", sled.list_open_vacuumed_ms, pg.list_open_vacuumed_ms);
    println!("load all s        {:>12.2} {:>12.2}", sled.load_all, pg.load_all);
    line(
        &format!("store upsert {total} new, batches of {BATCH}, PostgreSQL vs sled (rate)"),
        n / pg.new,
        n / sled.new,
        "upserts/s",
    );
    line(&format!("store upsert {total} seen, PostgreSQL vs sled (rate)"), n / pg.seen, n / sled.seen, "upserts/s");
    line(
        &format!("store list {OPEN} open of {total} right after a bulk triage, PostgreSQL vs sled (median time)"),
        pg.list_open_ms,
        sled.list_open_ms,
        "ms",
    );
    line(
        &format!("store list {OPEN} open of {total}, vacuumed, PostgreSQL vs sled (median time)"),
        pg.list_open_vacuumed_ms,
        sled.list_open_vacuumed_ms,
        "ms",
    );
    line(&format!("store load all {total}, PostgreSQL vs sled (time)"), pg.load_all, sled.load_all, "s");
}
