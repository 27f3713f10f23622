//! What change tracking gets from the engine: a banner per endpoint, an
//! empty `Resolved` only for a definite "no address", and, fed into a store
//! as `haetae scan` does, no port closed and no host gone while the lab
//! only faults.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use haetae_findings::{ChangeEvent, ChangeKind, Finding, Prioritizer, Store, Timestamp};
use haetae_lab::{Faults, Lab, LabOptions};
use haetae_scanner::engine::{self, ScanEvent};
use haetae_scanner::scope::Scope;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support::{guard, lab_scope, now, seeds_request};

struct Flat;
impl Prioritizer for Flat {
    fn prioritize(&self, _f: &mut Finding, _now: Timestamp) {}
}

/// Every event of one scan of `targets` (the seeds and these).
async fn events(lab: &Lab, scope: Scope, extra: &[&str]) -> (Vec<ScanEvent>, bool) {
    let mut req = seeds_request(&scope);
    req.targets.extend(extra.iter().map(|t| (*t).to_owned()));
    let (guard, _dir) = guard(scope, vec![lab.dns_addr()], now());
    let (tx, mut rx) = mpsc::channel(64);
    let task = tokio::spawn(engine::run(guard, req, tx, CancellationToken::new()));
    let mut all = Vec::new();
    let collect = async {
        while let Some(ev) = rx.recv().await {
            all.push(ev);
        }
    };
    tokio::time::timeout(Duration::from_secs(90), collect).await.expect("scan did not finish");
    let outcome = task.await.unwrap();
    (all, outcome.complete)
}

/// Commit one scan into `store` as `haetae scan` does; its change events.
fn commit(store: &Store, events: Vec<ScanEvent>, complete: bool) -> Vec<ChangeEvent> {
    let id = store.begin_scan(vec!["agency.test".into()]).unwrap().id;
    for ev in events {
        match ev {
            ScanEvent::Found(o) => drop(store.upsert_batch(Some(id), &[*o]).unwrap()),
            ScanEvent::Covered(c) => store.cover(id, &[c]).unwrap(),
            ScanEvent::PortClosed { host, port } => store.cover_closed_ports(id, &[(host, port)]).unwrap(),
            ScanEvent::Failed(u) => store.record_failed(id, &[u]).unwrap(),
            ScanEvent::OpenPort { host, addr, port } => drop(store.observe_open_port(Some(id), &host, addr, port)),
            ScanEvent::Resolved { host, addrs } => drop(store.observe_addresses(Some(id), &host, &addrs).unwrap()),
            ScanEvent::Certificate { host, port, sha256, not_after } => {
                drop(store.observe_certificate(Some(id), &host, port, &sha256, not_after).unwrap());
            }
            ScanEvent::Banner { host, port, banner } => drop(store.observe_banner(Some(id), &host, port, &banner)),
            _ => {}
        }
    }
    store.finish_scan(id, complete).unwrap();
    store.changes_of_scan(id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banners_and_a_definite_no_address_reach_change_tracking() {
    let lab = Lab::start().await.unwrap();
    let scope = lab_scope(&lab, |s| s);
    let (all, complete) = events(&lab, scope, &["nothere.agency.test"]).await;
    assert!(complete);
    let banners: Vec<(&str, u16, &str)> = all
        .iter()
        .filter_map(|e| match e {
            ScanEvent::Banner { host, port, banner } => Some((host.as_str(), *port, banner.as_str())),
            _ => None,
        })
        .collect();
    assert!(banners.iter().any(|(_, _, b)| b.contains("OpenSSH_7.4")), "{banners:#?}");
    assert!(banners.iter().all(|(_, _, b)| !b.is_empty() && b.chars().count() <= 200), "{banners:#?}");
    let mut endpoints: Vec<(&str, u16)> = banners.iter().map(|(h, p, _)| (*h, *p)).collect();
    endpoints.dedup();
    assert_eq!(endpoints.len(), banners.len(), "one banner per endpoint: {banners:#?}");

    let resolved: Vec<(&str, &[IpAddr])> = all
        .iter()
        .filter_map(|e| match e {
            ScanEvent::Resolved { host, addrs } => Some((host.as_str(), addrs.as_slice())),
            _ => None,
        })
        .collect();
    let empty: Vec<&str> = resolved.iter().filter(|(_, a)| a.is_empty()).map(|(h, _)| *h).collect();
    // A target that does not exist, and a CNAME to a name that does not.
    assert!(empty.contains(&"nothere.agency.test") && empty.contains(&"old.agency.test"), "{empty:?}");
    assert!(!empty.contains(&"www.agency.test") && !empty.contains(&"agency.test"), "{empty:?}");
    lab.shutdown().await;
}

/// The property: scans of a lab that faults a fifth of its exchanges (DNS
/// too), committed as `haetae scan` does, never close a port or lose a host:
/// every port still listens and every name still exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_faults_close_no_port_and_lose_no_host() {
    let opts = LabOptions { faults: Some(Faults { seed: 7, percent: 20 }), timeout_ms: 500 };
    let lab = Lab::start_with(opts).await.unwrap();
    let scope = lab_scope(&lab, |s| s);
    let store = Store::temporary(Arc::new(Flat)).unwrap();
    let (mut failed, mut completed) = (0, 0);
    for round in 0..3 {
        let (all, complete) = events(&lab, scope.clone(), &[]).await;
        completed += usize::from(complete);
        failed += all.iter().filter(|e| matches!(e, ScanEvent::Failed(_))).count();
        let changes = commit(&store, all, complete);
        let wrong: Vec<&ChangeEvent> =
            changes.iter().filter(|e| matches!(e.kind, ChangeKind::PortClosed | ChangeKind::HostGone)).collect();
        assert!(wrong.is_empty(), "scan {round}: {wrong:#?}");
    }
    assert!(lab.faults_injected() > 0 && failed > 0, "the faults were met");
    // Only a complete run may close anything: the property is about those.
    assert!(completed > 0, "no run completed, so nothing was put to the test");
    assert!(store.assets().unwrap().iter().any(|a| a.kind == ChangeKind::Port), "ports were recorded");
    lab.shutdown().await;
}
