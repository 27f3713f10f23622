//! Store benchmark: batched upserts of 100k synthetic findings, and the latency
//! of listing the 1k open ones among 100k stored.
//!
//! Run with `cargo bench -p haetae-findings --bench store`. Targets on a 2-core
//! machine: at least 50k upserts/s batched; the listing under 20 ms.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use haetae_findings::{Observation, Selection, State, Store, Transition};

/// The same allocator as the `haetae` binary: sled allocates heavily, and
/// mimalloc measured 10-40% faster upserts here than glibc malloc.
mod common;

use common::{Flat, observation};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOTAL: usize = 100_000;
const BATCH: usize = 1_000;
const OPEN: usize = 1_000;

/// One machine-readable line per measured row, collected by `scripts/bench.sh`:
/// no peer here, so the "peer" is the absolute target and the ratio is against it.
fn bench_line(work: &str, haetae: f64, goal: f64, unit: &str, target: &str) {
    println!(
        "BENCH {{\"work\":\"{work}\",\"haetae\":{haetae:.4},\"peer\":{goal:.4},\"peer_name\":\"target\",\"unit\":\"{unit}\",\"ratio\":{:.4},\"target\":\"{target}\",\"kind\":\"absolute\"}}",
        haetae / goal
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is parsed.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), Arc::new(Flat)).expect("open store");
    let all: Vec<Observation> = (0..TOTAL).map(observation).collect();

    let t = Instant::now();
    let mut ids = Vec::with_capacity(TOTAL);
    for chunk in all.chunks(BATCH) {
        ids.extend(store.upsert_batch(None, chunk).expect("upsert").into_iter().map(|(id, _)| id));
    }
    let insert = t.elapsed();
    println!(
        "upsert (new)      {TOTAL} findings in batches of {BATCH}: {:>8.0} upserts/s ({:.2} s)",
        TOTAL as f64 / insert.as_secs_f64(),
        insert.as_secs_f64()
    );
    bench_line(
        &format!("store upsert {TOTAL} new, batches of {BATCH} (rate)"),
        TOTAL as f64 / insert.as_secs_f64(),
        50_000.0,
        "upserts/s",
        ">= 1.0",
    );

    let t = Instant::now();
    for chunk in all.chunks(BATCH) {
        store.upsert_batch(None, chunk).expect("upsert");
    }
    let again = t.elapsed();
    println!(
        "upsert (seen)     {TOTAL} findings in batches of {BATCH}: {:>8.0} upserts/s ({:.2} s)",
        TOTAL as f64 / again.as_secs_f64(),
        again.as_secs_f64()
    );

    // Leave OPEN findings open; close the rest.
    let t = Instant::now();
    for chunk in ids[OPEN..].chunks(BATCH) {
        store.triage(chunk, &Transition::new(State::Fixed, "bench")).expect("triage");
    }
    println!("triage            {} findings to fixed: {:.2} s", TOTAL - OPEN, t.elapsed().as_secs_f64());

    let mut samples: Vec<Duration> = (0..25)
        .map(|_| {
            let t = Instant::now();
            let l = store.list(&Selection::States(vec![State::Open])).expect("list");
            assert_eq!(l.findings.len(), OPEN);
            t.elapsed()
        })
        .collect();
    samples.sort();
    println!(
        "list open         {OPEN} of {TOTAL}: median {:.2} ms, max {:.2} ms",
        samples[samples.len() / 2].as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3
    );
    bench_line(
        &format!("store list {OPEN} open of {TOTAL} (median time)"),
        samples[samples.len() / 2].as_secs_f64() * 1e3,
        20.0,
        "ms",
        "<= 1.0",
    );
    let t = Instant::now();
    let all = store.list(&Selection::All).expect("list all");
    println!("list all          {} findings: {:.0} ms", all.findings.len(), t.elapsed().as_secs_f64() * 1e3);
    let bytes: usize = all.findings.iter().map(|f| serde_json::to_vec(f).map_or(0, |v| v.len())).sum();
    println!("record size       {} bytes on average", bytes / all.findings.len().max(1));
}
