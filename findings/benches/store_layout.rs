//! Where the store's upsert time goes, and what layout would reach 50k new
//! findings/s: the real `Store::upsert_batch` next to raw-sled prototypes that
//! write the same records (taken from that store) in batches of 1,000, each
//! batch one transaction (or one `Batch`) followed by one flush, as the store's
//! invariants require.
//!
//! Run with `cargo bench -p haetae-findings --bench store_layout`.
//!
//! Measured 2026-12-04 on the 2-core machine, load 12.6 (shared), one run:
//!
//! | layout (batches of 1,000, one flush each)              | upserts/s |
//! |--------------------------------------------------------|----------:|
//! | `Store::upsert_batch` today                            |    14,672 |
//! | 3 trees, 1 transaction, JSON encoded inside            |    14,512 |
//! | 3 trees, 1 transaction, encoded outside                |    14,927 |
//! | 3 trees, 1 transaction, encoded outside, no flush      |    24,858 |
//! | 1 tree (records only), 1 transaction                   |    76,142 |
//! | 1 tree, index entries as key prefixes, 1 `Batch`       |    21,461 |
//! | 1 tree, records only, 1 `Batch`                        |    71,794 |
//! | 3 trees, 1 transaction, 160-byte records               |    22,913 |
//!
//! JSON encoding runs at 268k records/s (4% of an upsert); the store adds
//! nothing over raw sled with the same three trees. The flush is ~40% and the
//! two index entries per finding most of the rest: the cost follows the number
//! of keys written, not the number of trees. So with sled, 50k/s needs the index
//! entries off the write path: records only (5x here), with `by_status` and
//! `by_host` rebuilt in memory at open or kept as one entry per host/bucket.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use haetae_findings::{
    Asset, CheckId, Confidence, Finding, Observation, Prioritizer, Priority, Selection, Store, Timestamp,
};
use sled::Transactional;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Flat;
impl Prioritizer for Flat {
    fn prioritize(&self, f: &mut Finding, _now: Timestamp) {
        f.priority = if f.severity >= haetae_findings::Severity::High { Priority::P2 } else { Priority::P4 };
        f.score = 1.0;
    }
}

const TOTAL: usize = 100_000;
const BATCH: usize = 1_000;

fn observation(i: usize) -> Observation {
    let check = CheckId::BUILTIN[i % CheckId::BUILTIN.len()].clone();
    let host = format!("h{}.bench.agency.test", i / 40);
    let mut o =
        Observation::new(check, Asset { host, ip: None, port: Some(443) }, format!("https://x/{i}"), "KR-BENCH");
    o.confidence = Confidence::Firm;
    o.evidence = format!("synthetic evidence number {i} with a little text to be realistic");
    o
}

fn rate(d: Duration) -> f64 {
    TOTAL as f64 / d.as_secs_f64()
}

fn config(dir: &std::path::Path) -> sled::Config {
    sled::Config::new().path(dir).mode(sled::Mode::HighThroughput).flush_every_ms(None)
}

struct Rec {
    id: Vec<u8>,
    value: Vec<u8>,
    status: Vec<u8>,
    host: Vec<u8>,
}

fn records(findings: &[Finding]) -> Vec<Rec> {
    let mut v: Vec<Rec> = findings
        .iter()
        .map(|f| {
            let mut value = vec![1u8];
            serde_json::to_writer(&mut value, f).unwrap();
            let mut status = vec![0u8, 4];
            status.extend_from_slice(f.id.as_bytes());
            let mut host = f.host.as_bytes().to_vec();
            host.push(0);
            host.extend_from_slice(f.id.as_bytes());
            Rec { id: f.id.as_bytes().to_vec(), value, status, host }
        })
        .collect();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

/// One prototype: a fresh database, every record written batch by batch.
fn proto(name: &str, recs: &[Rec], findings: &[Finding], write: impl Fn(&sled::Db, &[sled::Tree], &[Rec], &[Finding])) {
    let dir = tempfile::tempdir().unwrap();
    let db = config(dir.path()).open().unwrap();
    let trees: Vec<sled::Tree> =
        ["findings", "by_status", "by_host"].iter().map(|t| db.open_tree(t).unwrap()).collect();
    let t = Instant::now();
    for (chunk, fchunk) in recs.chunks(BATCH).zip(findings.chunks(BATCH)) {
        write(&db, &trees, chunk, fchunk);
    }
    let took = t.elapsed();
    println!("  {name:<58} {:>8.0} upserts/s ({:.2} s)", rate(took), took.as_secs_f64());
}

fn main() {
    println!("store layout: {TOTAL} new findings in batches of {BATCH}; load {}", load());
    // The real store, and its records for the prototypes.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Arc::new(Flat)).unwrap();
    let all: Vec<Observation> = (0..TOTAL).map(observation).collect();
    let t = Instant::now();
    for chunk in all.chunks(BATCH) {
        store.upsert_batch(None, chunk).unwrap();
    }
    let took = t.elapsed();
    println!("  {:<58} {:>8.0} upserts/s ({:.2} s)", "Store::upsert_batch (today)", rate(took), took.as_secs_f64());
    let mut findings = store.list(&Selection::All).unwrap().findings;
    drop(store);
    findings.sort_by(|a, b| a.id.cmp(&b.id));
    let recs = records(&findings);
    let bytes: usize = recs.iter().map(|r| r.value.len()).sum();
    println!("  record: {} bytes on average (JSON)", bytes / TOTAL);

    // The cost of the parts, outside sled.
    let t = Instant::now();
    let enc = records(&findings);
    println!("  {:<58} {:>8.0} records/s", "JSON encoding + keys alone", rate(t.elapsed()));
    drop(enc);

    proto("3 trees, 1 transaction, encoded inside, flush", &recs, &findings, |db, t, _, fs| {
        (&t[0], &t[1], &t[2])
            .transaction(|(a, b, c)| {
                for f in fs {
                    let mut value = vec![1u8];
                    serde_json::to_writer(&mut value, f).unwrap();
                    let mut status = vec![0u8, 4];
                    status.extend_from_slice(f.id.as_bytes());
                    let mut host = f.host.as_bytes().to_vec();
                    host.push(0);
                    host.extend_from_slice(f.id.as_bytes());
                    a.get(f.id.as_bytes())?;
                    a.insert(f.id.as_bytes(), value)?;
                    b.insert(status, &[])?;
                    c.insert(host, &[])?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .unwrap();
        db.flush().unwrap();
    });
    proto("3 trees, 1 transaction, encoded outside, flush", &recs, &findings, |db, t, rs, _| {
        (&t[0], &t[1], &t[2])
            .transaction(|(a, b, c)| {
                for r in rs {
                    a.get(&r.id)?;
                    a.insert(r.id.as_slice(), r.value.as_slice())?;
                    b.insert(r.status.as_slice(), &[])?;
                    c.insert(r.host.as_slice(), &[])?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .unwrap();
        db.flush().unwrap();
    });
    proto("3 trees, 1 transaction, encoded outside, no flush", &recs, &findings, |_, t, rs, _| {
        (&t[0], &t[1], &t[2])
            .transaction(|(a, b, c)| {
                for r in rs {
                    a.get(&r.id)?;
                    a.insert(r.id.as_slice(), r.value.as_slice())?;
                    b.insert(r.status.as_slice(), &[])?;
                    c.insert(r.host.as_slice(), &[])?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .unwrap();
    });
    proto("1 tree (no index trees), 1 transaction, flush", &recs, &findings, |db, t, rs, _| {
        t[0].transaction(|a| {
            for r in rs {
                a.get(&r.id)?;
                a.insert(r.id.as_slice(), r.value.as_slice())?;
            }
            Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
        })
        .unwrap();
        db.flush().unwrap();
    });
    proto("1 tree, indexes as key prefixes in it, 1 Batch, flush", &recs, &findings, |db, t, rs, _| {
        // One tree holds records and index entries under distinct prefixes;
        // a sled Batch on one tree is atomic, so the invariant holds.
        let mut b = sled::Batch::default();
        for r in rs {
            let mut k = vec![b'f'];
            k.extend_from_slice(&r.id);
            b.insert(k, r.value.as_slice());
            let mut s = vec![b's'];
            s.extend_from_slice(&r.status);
            b.insert(s, &[]);
            let mut h = vec![b'h'];
            h.extend_from_slice(&r.host);
            b.insert(h, &[]);
        }
        t[0].apply_batch(b).unwrap();
        db.flush().unwrap();
    });
    proto("1 tree, records only, 1 Batch, flush", &recs, &findings, |db, t, rs, _| {
        let mut b = sled::Batch::default();
        for r in rs {
            b.insert(r.id.as_slice(), r.value.as_slice());
        }
        t[0].apply_batch(b).unwrap();
        db.flush().unwrap();
    });
    // Smaller records: the same finding without its history and audit trail
    // text, to see how much the value size costs.
    let small: Vec<Rec> = recs
        .iter()
        .map(|r| Rec {
            id: r.id.clone(),
            value: r.value[..r.value.len().min(160)].to_vec(),
            status: r.status.clone(),
            host: r.host.clone(),
        })
        .collect();
    proto("3 trees, 1 transaction, 160-byte records, flush", &small, &findings, |db, t, rs, _| {
        (&t[0], &t[1], &t[2])
            .transaction(|(a, b, c)| {
                for r in rs {
                    a.get(&r.id)?;
                    a.insert(r.id.as_slice(), r.value.as_slice())?;
                    b.insert(r.status.as_slice(), &[])?;
                    c.insert(r.host.as_slice(), &[])?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .unwrap();
        db.flush().unwrap();
    });
    println!("  load after: {}", load());
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
