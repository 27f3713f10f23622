//! The small keyspaces (assets, changes, outbox, notified) on PostgreSQL:
//! the outbox and `store check` scenarios on both backends, and what two
//! processes sharing one database must never see: a notification told
//! twice, two messages under one outbox id, two change events under one
//! key, closing events that only one of them can read.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::{Arc, Barrier};

use haetae_findings::{ChangeKind, CheckId, OutboxCounts, OutboxState, State, Store, Timestamp, Transition};

use super::support::{Backend, obs, on_both_backends, pg_database, scorer};

fn open(url: &str) -> Store {
    Store::open_postgres(url, scorer()).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Run `each(store, thread)` on `threads` threads at once, alternating
/// between two handles on the same database (two pools: two processes).
fn race<T: Send + 'static>(
    url: &str,
    threads: usize,
    each: impl Fn(&Store, usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let stores = [Arc::new(open(url)), Arc::new(open(url))];
    let barrier = Arc::new(Barrier::new(threads));
    let each = Arc::new(each);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, barrier, each) = (Arc::clone(&stores[t % 2]), Arc::clone(&barrier), Arc::clone(&each));
            std::thread::spawn(move || {
                barrier.wait();
                each(&store, t)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn outbox_queued_failed_delivered_and_counted(backend: &Backend) {
    let store = &backend.store();
    let a = store.outbox_enqueue("webhook", "http://127.0.0.1:9/hook", "{\"a\":1}").unwrap();
    let b = store.outbox_enqueue("slack", "http://127.0.0.1:9/s", "{}").unwrap();
    assert!(a < b, "ids grow: {a} then {b}");
    assert_eq!(store.outbox_counts().unwrap(), OutboxCounts { queued: 2, failed: 0, delivered: 0 });
    let now = Timestamp::now();
    let later = Timestamp::from_unix(now.unix() + 30);
    assert_eq!(store.outbox_due(now, false).unwrap().len(), 2);
    store.outbox_record(a, Err("HTTP 500".into()), now, later).unwrap();
    store.outbox_record(b, Ok(()), now, now).unwrap();
    // An id never queued is no error and changes nothing.
    store.outbox_record(b + 1000, Ok(()), now, now).unwrap();
    assert_eq!(store.outbox_counts().unwrap(), OutboxCounts { queued: 0, failed: 1, delivered: 1 });
    assert!(store.outbox_due(now, false).unwrap().is_empty(), "the failed one waits for its retry time");
    assert_eq!(store.outbox_next_due().unwrap(), Some(later));
    let due = store.outbox_due(later, false).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].id, due[0].attempts, due[0].last_error.as_deref()), (a, 1, Some("HTTP 500")));
    assert_eq!((due[0].payload.as_str(), due[0].state), ("{\"a\":1}", OutboxState::Queued));
    assert_eq!(store.outbox_due(now, true).unwrap().len(), 1, "ignoring the backoff");
    let all = store.outbox().unwrap();
    assert_eq!(
        all.iter().map(|i| (i.id, i.state)).collect::<Vec<_>>(),
        [(a, OutboxState::Queued), (b, OutboxState::Delivered)]
    );
    // Delivered messages past their keeping are pruned, undelivered never.
    let late = now.plus_days(haetae_findings::store::DELIVERED_KEPT_DAYS + 1);
    store.outbox_record(a, Err("refused".into()), late, late).unwrap();
    let left = store.outbox().unwrap();
    assert_eq!(left.iter().map(|i| i.id).collect::<Vec<_>>(), [a]);
    assert!(left[0].is_failed());
    assert_eq!(store.outbox_next_due().unwrap(), Some(late));
}

fn notify_once_is_true_only_the_first_time(backend: &Backend) {
    let store = &backend.store();
    assert!(!store.was_notified("sla:abc").unwrap());
    assert!(store.notify_once("sla:abc").unwrap());
    assert!(store.was_notified("sla:abc").unwrap());
    assert!(!store.notify_once("sla:abc").unwrap());
    assert!(store.notify_once("sla:abd").unwrap());
    assert!(!store.was_notified("sla:ab").unwrap(), "a prefix is another key");
}

fn an_unreadable_outbox_record_is_an_error_not_a_lost_message(backend: &Backend) {
    let store = &backend.store();
    let id = store.outbox_enqueue("webhook", "e", "p").unwrap();
    assert!(store.check().unwrap().is_healthy(), "{}", store.check().unwrap());
    // A message filed under another message's key is named as well.
    let good = store.get_raw_for_tests("outbox", &id.to_be_bytes()).unwrap().unwrap();
    store.put_raw_for_tests("outbox", &(id + 1000).to_be_bytes(), &good).unwrap();
    let report = store.check().unwrap();
    assert!(report.problems.iter().any(|p| p.ends_with(&format!("it holds message {id}"))), "{report}");
    store.remove_raw_for_tests("outbox", &(id + 1000).to_be_bytes()).unwrap();
    store.put_raw_for_tests("outbox", &id.to_be_bytes(), b"\x01{not json").unwrap();
    assert!(store.outbox().is_err(), "an unreadable message is reported, not skipped");
    assert!(store.outbox_record(id, Ok(()), Timestamp::now(), Timestamp::now()).is_err());
    // `store check` names it.
    let report = store.check().unwrap();
    assert!(report.problems.iter().any(|p| p.starts_with("outbox message") && p.contains("unreadable")), "{report}");
}

fn assets_and_earlier_addresses(backend: &Backend) {
    let store = &backend.store();
    let s = store.begin_scan(vec!["a.test".into()]).unwrap().id;
    store.observe_addresses(Some(s), "WWW.a.test.", &[ip("10.0.0.2"), ip("10.0.0.1"), ip("10.0.0.1")]).unwrap();
    store.observe_certificate(Some(s), "www.a.test", 443, "aa", Some(Timestamp::from_unix(2_000_000_000))).unwrap();
    store.observe_open_port(Some(s), "www.a.test", ip("10.0.0.1"), 443).unwrap();
    store.finish_scan(s, true).unwrap();
    let assets = store.assets().unwrap();
    let seen: Vec<_> = assets.iter().map(|a| (a.kind, a.host.as_str(), a.port, a.value.as_str())).collect();
    assert_eq!(
        seen,
        [
            (ChangeKind::Addresses, "www.a.test", None, "10.0.0.1,10.0.0.2"),
            (ChangeKind::Certificate, "www.a.test", Some(443), "aa"),
            (ChangeKind::Port, "www.a.test", Some(443), "10.0.0.1"),
        ]
    );
    assert_eq!(assets[1].expires, Some(Timestamp::from_unix(2_000_000_000)));
    assert!(store.earlier_addresses().unwrap().is_empty(), "no move yet");
    let s = store.begin_scan(vec!["a.test".into()]).unwrap().id;
    let moved = store.observe_addresses(Some(s), "www.a.test", &[ip("10.0.0.3")]).unwrap().unwrap();
    assert_eq!(
        (moved.kind, moved.before.as_str(), moved.after.as_str()),
        (ChangeKind::Addresses, "10.0.0.1,10.0.0.2", "10.0.0.3")
    );
    let earlier = store.earlier_addresses().unwrap();
    assert_eq!(earlier.get("www.a.test"), Some(&vec![ip("10.0.0.1"), ip("10.0.0.2")]));
    assert_eq!(store.changes_of_scan(s).unwrap(), vec![moved]);
}

fn store_check_reads_every_asset_and_event(backend: &Backend) {
    let store = &backend.store();
    store.observe_certificate(Some(1), "www.a.test", 443, "aa", None).unwrap();
    store.observe_certificate(Some(1), "www.a.test", 443, "bb", None).unwrap();
    let report = store.check().unwrap();
    assert!(report.is_healthy(), "{report}");
    assert_eq!((report.assets, report.changes), (1, 1));
    store.put_raw_for_tests("assets", &[b"certificate\0www.a.test\0".as_slice(), b"443"].concat(), b"\x01{").unwrap();
    store.put_raw_for_tests("changes", b"short", b"\x01{}").unwrap();
    let report = store.check().unwrap();
    assert!(report.problems.iter().any(|p| p.contains("asset record") && p.contains("unreadable")), "{report}");
    assert!(report.problems.iter().any(|p| p.contains("not 8 bytes")), "{report}");
    assert_eq!((report.assets, report.changes), (1, 2));
    // The unreadable asset is skipped by the listing, not fatal.
    assert!(store.assets().unwrap().is_empty());
}

on_both_backends!(
    outbox_queued_failed_delivered_and_counted,
    notify_once_is_true_only_the_first_time,
    an_unreadable_outbox_record_is_an_error_not_a_lost_message,
    assets_and_earlier_addresses,
    store_check_reads_every_asset_and_event,
);

#[test]
fn two_processes_racing_notify_once_tell_each_key_exactly_once() {
    let Some(url) = pg_database() else { return };
    const KEYS: usize = 40;
    let firsts = race(&url, 4, |store, _| {
        (0..KEYS).filter(|k| store.notify_once(&format!("sla:{k}")).unwrap()).collect::<Vec<_>>()
    });
    let mut all: Vec<usize> = firsts.into_iter().flatten().collect();
    all.sort_unstable();
    assert_eq!(all, (0..KEYS).collect::<Vec<_>>(), "each key true exactly once among four racing threads");
    let store = open(&url);
    assert!((0..KEYS).all(|k| store.was_notified(&format!("sla:{k}")).unwrap()));
}

#[test]
fn two_processes_enqueueing_at_once_get_distinct_ids_and_lose_no_message() {
    let Some(url) = pg_database() else { return };
    const EACH: usize = 25;
    let ids = race(&url, 4, |store, t| {
        (0..EACH)
            .map(|n| (store.outbox_enqueue("webhook", "e", &format!("{t}/{n}")).unwrap(), t, n))
            .collect::<Vec<_>>()
    });
    let ids: Vec<(u64, usize, usize)> = ids.into_iter().flatten().collect();
    let distinct: BTreeSet<u64> = ids.iter().map(|(id, ..)| *id).collect();
    assert_eq!(distinct.len(), 4 * EACH, "one id per message");
    let store = open(&url);
    let kept = store.outbox().unwrap();
    assert_eq!(kept.len(), 4 * EACH, "every message kept");
    for (id, t, n) in ids {
        let item = kept.iter().find(|i| i.id == id).unwrap();
        assert_eq!(item.payload, format!("{t}/{n}"), "message {id} is the one enqueued under it");
    }
    // Each thread's own ids grow (a sequence, never reused).
    assert!(kept.windows(2).all(|w| w[0].id < w[1].id));
}

#[test]
fn two_processes_writing_change_events_at_once_keep_every_event() {
    let Some(url) = pg_database() else { return };
    const ROUNDS: usize = 15;
    // Each thread swaps the certificate of its own endpoint: every
    // observation after the first is one event, all in the same seconds.
    let made = race(&url, 4, |store, t| {
        let host = format!("h{t}.a.test");
        (0..=ROUNDS)
            .filter(|n| store.observe_certificate(None, &host, 443, &format!("{t}-{n}"), None).unwrap().is_some())
            .count()
    });
    assert_eq!(made, vec![ROUNDS; 4]);
    let store = open(&url);
    let events = store.changes().unwrap();
    assert_eq!(events.len(), 4 * ROUNDS, "no event written over another's key");
    for t in 0..4 {
        let host = format!("h{t}.a.test");
        let mine: Vec<_> = events.iter().filter(|e| e.host == host).map(|e| e.after.clone()).collect();
        let expected: Vec<_> = (1..=ROUNDS).map(|n| format!("{t}-{n}")).collect();
        assert_eq!(mine, expected, "one thread's events in the order it wrote them");
    }
    assert!(store.check().unwrap().is_healthy(), "{}", store.check().unwrap());
}

#[test]
fn a_complete_run_finished_by_one_process_closes_what_another_observed() {
    let Some(url) = pg_database() else { return };
    let (daemon, worker) = (open(&url), open(&url));
    let targets = vec!["a.test".to_owned()];
    // Baseline: 22 and 443 open, seen by the worker.
    let s = daemon.begin_scan(targets.clone()).unwrap().id;
    worker.observe_addresses(Some(s), "www.a.test", &[ip("10.0.0.1")]).unwrap();
    worker.observe_open_port(Some(s), "www.a.test", ip("10.0.0.1"), 22).unwrap();
    worker.observe_open_port(Some(s), "www.a.test", ip("10.0.0.1"), 443).unwrap();
    daemon.finish_scan(s, true).unwrap();
    assert_eq!(daemon.changes().unwrap(), vec![]);
    // Run 2: the worker journals 443 refused, 22 open; the daemon finishes it complete.
    let s = daemon.begin_scan(targets.clone()).unwrap().id;
    worker.observe_open_port(Some(s), "www.a.test", ip("10.0.0.1"), 22).unwrap();
    worker.cover_closed_ports(s, &[("www.a.test".into(), 443)]).unwrap();
    let run = daemon.finish_scan(s, true).unwrap();
    assert!(run.complete);
    let events = worker.changes_of_scan(s).unwrap();
    assert_eq!(events.iter().map(|e| (e.kind, e.port)).collect::<Vec<_>>(), [(ChangeKind::PortClosed, Some(443))]);
    assert_eq!(events[0].addr, Some(ip("10.0.0.1")));
    let ports: Vec<_> =
        worker.assets().unwrap().into_iter().filter(|a| a.kind == ChangeKind::Port).map(|a| a.port).collect();
    assert_eq!(ports, [Some(22)], "the closed port's record is gone for every process");
    // Run 3 answers on 443 again: opened (the lookback finds run 2 complete and refused).
    let s = daemon.begin_scan(targets).unwrap().id;
    let e = worker.observe_open_port(Some(s), "www.a.test", ip("10.0.0.1"), 443).unwrap().unwrap();
    assert_eq!((e.kind, e.scan), (ChangeKind::PortOpened, Some(s)));
    // An incomplete finish closes nothing.
    worker.cover_closed_ports(s, &[("www.a.test".into(), 22)]).unwrap();
    daemon.finish_scan(s, false).unwrap();
    assert_eq!(daemon.changes_of_scan(s).unwrap(), vec![e]);
}

#[test]
fn check_integrity_names_a_finding_row_indexed_unlike_its_record() {
    let Some(url) = pg_database() else { return };
    let store = open(&url);
    let (id, _) = store.upsert(&obs(CheckId::HttpExposedGit, "www.a.test", Some(443), "https://www.a.test/")).unwrap();
    store.triage(&[&id], &Transition::new(State::Confirmed, "analyst")).unwrap();
    assert_eq!(store.check_integrity().unwrap(), Vec::<String>::new());
    assert!(store.check().unwrap().is_healthy());
    // Another program edits the state column behind haetae's back.
    let ok = std::process::Command::new("psql")
        .args([url.as_str(), "-qc", &format!("UPDATE findings SET state = 0, host = 'x.test' WHERE id = '{id}'")])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let problems = store.check_integrity().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains(&id) && problems[0].contains("x.test"), "{problems:?}");
    assert!(!store.check().unwrap().is_healthy());
    // A record that does not decode is named too.
    store.put_raw_for_tests("findings", id.as_bytes(), b"\x01{broken").unwrap();
    let problems = store.check_integrity().unwrap();
    assert!(problems.iter().any(|p| p.contains("corrupt")), "{problems:?}");
}
