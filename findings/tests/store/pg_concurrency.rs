//! What PostgreSQL guarantees to several processes sharing one store: one
//! finding per fingerprint, no lost triage or scan update, nothing half
//! written by a client killed mid-transaction.

use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use haetae_findings::{CheckId, Observation, Selection, State, Store, Transition};

use super::support::{obs, pg_database, scorer};

fn open(url: &str) -> Store {
    Store::open_postgres(url, scorer()).unwrap()
}

fn seen(o: &Observation, n: usize) -> Observation {
    let mut o = o.clone();
    o.evidence = format!("evidence {n}");
    o
}

#[test]
fn two_processes_upserting_the_same_fingerprint_make_one_finding() {
    let Some(url) = pg_database() else { return };
    // Two stores: two pools of connections, as two processes would have.
    let stores = [Arc::new(open(&url)), Arc::new(open(&url))];
    let o = obs(CheckId::TlsCertExpired, "www.agency.test", Some(443), "tls");
    const EACH: usize = 25;
    let barrier = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = Arc::clone(&stores[t % 2]);
            let (o, barrier) = (o.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..EACH {
                    store.upsert(&o).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let all = stores[0].list(&Selection::All).unwrap().findings;
    assert_eq!(all.len(), 1, "one fingerprint, one finding");
    assert_eq!(all[0].seen_count, 4 * EACH as u64, "every upsert counted once, none lost");
}

#[test]
fn a_triage_and_a_scan_on_the_same_finding_never_lose_either_change() {
    let Some(url) = pg_database() else { return };
    let (a, b) = (Arc::new(open(&url)), Arc::new(open(&url)));
    let o = obs(CheckId::HttpExposedGit, "portal.agency.test", Some(443), "https://portal.agency.test/");
    let (id, _) = a.upsert(&o).unwrap();
    const ROUNDS: usize = 30;
    let barrier = Arc::new(Barrier::new(2));
    let scanner = {
        let (b, o, barrier) = (Arc::clone(&b), o.clone(), Arc::clone(&barrier));
        std::thread::spawn(move || {
            barrier.wait();
            for n in 0..ROUNDS {
                b.upsert(&seen(&o, n)).unwrap();
            }
        })
    };
    barrier.wait();
    for n in 0..ROUNDS {
        let to = if n % 2 == 0 { State::Confirmed } else { State::Open };
        a.triage(&[&id], &Transition::new(to, "analyst").note(format!("triage {n}"))).unwrap();
    }
    scanner.join().unwrap();
    let f = a.get(&id).unwrap().unwrap();
    assert_eq!(f.seen_count, 1 + ROUNDS as u64, "every scan update kept");
    assert_eq!(f.evidence, format!("evidence {}", ROUNDS - 1), "the last scan's evidence kept");
    let triaged: Vec<_> = f.history.iter().filter(|h| h.actor == "analyst").collect();
    assert_eq!(triaged.len(), ROUNDS, "every triage kept in the history");
    assert_eq!(f.state, State::Open, "the last triage (open) is the state");
}

/// Run by [`a_client_killed_mid_transaction_leaves_nothing_half_written`]
/// in a child process: writes batches of [`BATCH`] new findings in scan 1
/// until killed.
#[test]
#[ignore = "child process of the kill test"]
fn pg_child_writer() {
    let Ok(url) = std::env::var("HAETAE_KILL_TEST_URL") else { return };
    let store = open(&url);
    let scan = store.begin_scan(vec!["kill.test".into()]).unwrap();
    for round in 0.. {
        let batch: Vec<Observation> = (0..BATCH)
            .map(|i| obs(CheckId::HttpExposedGit, &format!("h{round}-{i}.kill.test"), Some(443), "https://x/"))
            .collect();
        store.upsert_batch(Some(scan.id), &batch).unwrap();
    }
}

const BATCH: usize = 500;

#[test]
fn a_client_killed_mid_transaction_leaves_nothing_half_written() {
    let Some(url) = pg_database() else { return };
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", "pg_concurrency::pg_child_writer", "--ignored", "--nocapture"])
        .env("HAETAE_KILL_TEST_URL", &url)
        .spawn()
        .unwrap();
    let store = open(&url);
    // Kill it once a few batches are in, while it is writing the next.
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.len() < 3 * BATCH {
        assert!(Instant::now() < deadline, "the child wrote nothing in 60 s");
        assert!(child.try_wait().unwrap().is_none(), "the child ended by itself");
        std::thread::yield_now();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let n = store.len();
    assert_eq!(n % BATCH, 0, "{n} findings: a batch was half written");
    let listing = store.list(&Selection::All).unwrap();
    assert!(listing.skipped.is_empty(), "unreadable records: {:?}", listing.skipped);
    let run = store.scan(1).unwrap();
    assert_eq!(run.counts.new as usize, n, "the scan's counts and its findings were written together");
    assert!(store.check_integrity().unwrap().is_empty());
}
