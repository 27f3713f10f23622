//! The work queue and the audit segments of a shared store, on a real
//! PostgreSQL: every unit claimed by exactly one worker, leases that run out
//! give the unit to another, results only from the lease holder, abandoned
//! units fail, and tampered or missing audit records are found.

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use haetae_findings::audit::line_hash;
use haetae_findings::{AuditSegment, Store};

use super::support::{pg_database, scorer};

fn open(url: &str) -> Store {
    Store::open_postgres(url, scorer()).unwrap()
}

const LONG: Duration = Duration::from_secs(600);

/// A run of `n` units on hosts u0, u1 ...
fn queued(store: &Store, n: usize) -> u64 {
    let hash = store.set_engagement("[scope]\n", 4).unwrap();
    let run = store.begin_scan(vec!["programme".into()]).unwrap();
    let hosts: Vec<String> = (0..n).map(|i| format!("u{i}.agency.test")).collect();
    assert_eq!(store.enqueue_units(run.id, &hosts, &[], &[], "standard", &hash).unwrap(), n);
    run.id
}

#[test]
fn four_workers_in_two_processes_claim_every_unit_exactly_once() {
    let Some(url) = pg_database() else { return };
    let stores = [Arc::new(open(&url)), Arc::new(open(&url))];
    let run = queued(&stores[0], 60);
    let claims: Arc<Mutex<BTreeMap<u64, Vec<String>>>> = Arc::default();
    let barrier = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (store, claims, barrier) = (Arc::clone(&stores[t % 2]), Arc::clone(&claims), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let me = format!("w{t}");
                barrier.wait();
                while let Some(unit) = store.claim_unit(&me, LONG, 3).unwrap() {
                    claims.lock().unwrap().entry(unit.id).or_default().push(me.clone());
                    assert!(store.finish_unit(unit.id, &me, Ok(true), None).unwrap());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let claims = claims.lock().unwrap();
    assert_eq!(claims.len(), 60, "every unit claimed");
    assert!(claims.values().all(|w| w.len() == 1), "no unit claimed twice: {claims:?}");
    let counts = stores[0].unit_counts(run).unwrap();
    assert_eq!((counts.done, counts.queued, counts.running), (60, 0, 0));
    assert!(counts.complete());
}

#[test]
fn a_lease_that_runs_out_gives_the_unit_to_another_worker_and_only_the_holder_finishes_it() {
    let Some(url) = pg_database() else { return };
    let store = open(&url);
    let run = queued(&store, 1);
    let lease = Duration::from_secs(1);
    let first = store.claim_unit("killed", lease, 3).unwrap().unwrap();
    assert_eq!(first.attempts, 1);
    assert!(store.claim_unit("other", lease, 3).unwrap().is_none(), "held while its lease runs");
    // The first worker stops renewing (killed); the lease runs out.
    let deadline = Instant::now() + Duration::from_secs(30);
    let second = loop {
        if let Some(u) = store.claim_unit("other", LONG, 3).unwrap() {
            break u;
        }
        assert!(Instant::now() < deadline, "the unit was never given to another worker");
        std::thread::yield_now();
    };
    assert_eq!((second.id, second.attempts), (first.id, 2));
    assert!(!store.renew_unit(first.id, "killed", lease).unwrap(), "the old holder lost it");
    assert!(!store.finish_unit(first.id, "killed", Ok(true), None).unwrap(), "the old holder's result is not taken");
    assert_eq!(store.unit_counts(run).unwrap().running, 1);
    assert!(store.finish_unit(second.id, "other", Ok(false), None).unwrap());
    let c = store.unit_counts(run).unwrap();
    assert_eq!((c.done, c.incomplete), (1, 1));
    assert!(c.settled() && !c.complete(), "a unit that did not complete makes the run incomplete");
}

#[test]
fn a_unit_abandoned_too_often_fails_and_a_released_one_is_queued_again() {
    let Some(url) = pg_database() else { return };
    let store = open(&url);
    let run = queued(&store, 2);
    let u = store.claim_unit("a", LONG, 3).unwrap().unwrap();
    assert!(store.release_unit(u.id, "a", None).unwrap());
    let again = store.claim_unit("b", Duration::from_secs(1), 1).unwrap().unwrap();
    assert_eq!(
        (again.id, again.attempts),
        (u.id, 1),
        "the released unit is the oldest queued again, its release not counted"
    );
    // Claimed once with max_attempts 1: once its lease ends it fails.
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.fail_abandoned_units(run, 1).unwrap() == 0 {
        assert!(Instant::now() < deadline, "the abandoned unit never failed");
        std::thread::yield_now();
    }
    let c = store.unit_counts(run).unwrap();
    assert_eq!((c.failed, c.queued), (1, 1), "{c:?}");
    assert_eq!(store.cancel_units(run).unwrap(), 1, "the queued one is withdrawn");
    assert!(store.unit_counts(run).unwrap().settled());
}

fn line(seq: u64, prev: &str) -> String {
    format!(
        "{{\"seq\":{seq},\"time\":\"2026-12-04T00:00:00Z\",\"engagement\":\"KR\",\"target\":\"a.test\",\"address\":\"127.0.0.1\",\"port\":443,\"protocol\":\"tcp\",\"probe\":\"tcp.connect\",\"verdict\":\"allowed\",\"reason\":\"in scope\",\"outcome\":\"connected\",\"prev\":\"{prev}\"}}"
    )
}

fn segment(first: u64, prev: &str, n: u64) -> AuditSegment {
    let mut lines = Vec::new();
    let mut p = prev.to_owned();
    for seq in first..first + n {
        let l = line(seq, &p);
        p = line_hash(&l);
        lines.push(l);
    }
    AuditSegment { first_seq: first, first_prev: prev.to_owned(), lines }
}

#[test]
fn audit_segments_verify_and_a_tampered_or_missing_record_is_found() {
    let Some(url) = pg_database() else { return };
    let store = open(&url);
    queued(&store, 3);
    let zero = "0".repeat(64);
    let a = segment(1, &zero, 5);
    let b = segment(6, &a.last_hash(), 4);
    for (seg, worker) in [(a, "w1"), (b, "w1")] {
        let u = store.claim_unit(worker, LONG, 3).unwrap().unwrap();
        assert!(store.finish_unit(u.id, worker, Ok(true), Some(seg)).unwrap());
    }
    let r = store.verify_audit_segments().unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!((r.workers, r.segments, r.records), (1, 2, 9));

    // A unit finished without its records.
    let u = store.claim_unit("w2", LONG, 3).unwrap().unwrap();
    assert!(store.finish_unit(u.id, "w2", Ok(true), None).unwrap());
    let r = store.verify_audit_segments().unwrap();
    assert!(r.problems.iter().any(|p| p.contains("its audit records are not in the database")), "{:?}", r.problems);

    // A record edited in the database.
    std::process::Command::new("psql")
        .args([
            url.as_str(),
            "-qc",
            "UPDATE audit_records SET line = replace(line, 'connected', 'refused') WHERE seq = 3",
        ])
        .status()
        .unwrap();
    let r = store.verify_audit_segments().unwrap();
    assert!(r.problems.iter().any(|p| p.contains("record 4 does not chain")), "{:?}", r.problems);
}
