//! Change events per asset: every kind, and no event without a definite
//! answer of a complete run.

use std::net::IpAddr;

use haetae_findings::{ChangeEvent, ChangeKind, FailedUnit, Store, Timestamp};

use crate::support::{Backend, on_both_backends};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const TARGETS: &[&str] = &["a.test"];

fn begin(store: &Store) -> u64 {
    store.begin_scan(TARGETS.iter().map(|t| (*t).to_owned()).collect()).unwrap().id
}

fn kinds(events: &[ChangeEvent]) -> Vec<(ChangeKind, &str, Option<u16>)> {
    events.iter().map(|e| (e.kind, e.host.as_str(), e.port)).collect()
}

/// Scan 1 (complete): www has 22 and 443 open, 8080 refused.
fn baseline(store: &Store) -> u64 {
    let s = begin(store);
    store.observe_addresses(Some(s), "www.a.test", &[ip("10.0.0.1")]).unwrap();
    store.observe_open_port(Some(s), "www.a.test", ip("10.0.0.1"), 22).unwrap();
    store.observe_open_port(Some(s), "www.a.test", ip("10.0.0.1"), 443).unwrap();
    store.cover_closed_ports(s, &[("www.a.test".into(), 8080)]).unwrap();
    store.finish_scan(s, true).unwrap();
    s
}

fn the_first_scan_is_a_baseline_without_events(backend: &Backend) {
    let store = backend.store();
    baseline(&store);
    assert_eq!(store.changes().unwrap(), vec![]);
}

fn a_port_refused_by_a_complete_run_is_closed_and_one_that_answers_again_opened(backend: &Backend) {
    let store = backend.store();
    baseline(&store);
    // Scan 2: 22 open again, 443 refused.
    let s = begin(&store);
    assert_eq!(store.observe_open_port(Some(s), "www.a.test", ip("10.0.0.1"), 22).unwrap(), None, "unchanged");
    store.cover_closed_ports(s, &[("www.a.test".into(), 443), ("www.a.test".into(), 8080)]).unwrap();
    store.finish_scan(s, true).unwrap();
    let events = store.changes_of_scan(s).unwrap();
    assert_eq!(kinds(&events), [(ChangeKind::PortClosed, "www.a.test", Some(443))]);
    assert_eq!((events[0].addr, events[0].scan), (Some(ip("10.0.0.1")), Some(s)));
    assert!(!store.assets().unwrap().iter().any(|a| a.kind == ChangeKind::Port && a.port == Some(443)));
    // Scan 3: 443 answers again, and 8080 (refused in scans 1 and 2) opens.
    let s = begin(&store);
    let e = store.observe_open_port(Some(s), "WWW.a.test.", ip("10.0.0.1"), 443).unwrap().unwrap();
    assert_eq!(
        (e.kind, e.port, e.before.as_str(), e.after.as_str()),
        (ChangeKind::PortOpened, Some(443), "closed", "open")
    );
    assert!(store.observe_open_port(Some(s), "www.a.test", ip("10.0.0.1"), 8080).unwrap().is_some());
    // A port never probed before is no "opened" event.
    assert_eq!(store.observe_open_port(Some(s), "www.a.test", ip("10.0.0.1"), 3306).unwrap(), None);
    store.finish_scan(s, true).unwrap();
    assert_eq!(store.changes_of_scan(s).unwrap().len(), 2, "{:?}", store.changes_of_scan(s).unwrap());
}

fn an_incomplete_run_or_a_failed_unit_closes_no_port_and_loses_no_host(backend: &Backend) {
    let store = backend.store();
    baseline(&store);
    // Incomplete: 443 refused, 22 silent.
    let s = begin(&store);
    store.cover_closed_ports(s, &[("www.a.test".into(), 443), ("www.a.test".into(), 22)]).unwrap();
    store.finish_scan(s, false).unwrap();
    assert_eq!(store.changes().unwrap(), vec![], "an incomplete run decides nothing");
    // Complete, but a unit on the host failed: its ports and the host stay.
    let s = begin(&store);
    store.cover_closed_ports(s, &[("www.a.test".into(), 443), ("www.a.test".into(), 22)]).unwrap();
    let unit =
        FailedUnit { checks: "port".into(), host: "www.a.test".into(), port: Some(22), reason: "timeout".into() };
    store.record_failed(s, &[unit]).unwrap();
    store.finish_scan(s, true).unwrap();
    assert_eq!(store.changes().unwrap(), vec![]);
    // Complete, 443 never answered at all (a timeout is no coverage): nothing closes.
    let s = begin(&store);
    store.cover_closed_ports(s, &[("www.a.test".into(), 22)]).unwrap();
    store.finish_scan(s, true).unwrap();
    let events = store.changes_of_scan(s).unwrap();
    assert_eq!(kinds(&events), [(ChangeKind::PortClosed, "www.a.test", Some(22))], "443 is kept, so the host stays");
}

fn a_host_whose_every_open_port_answered_closed_is_gone(backend: &Backend) {
    let store = backend.store();
    baseline(&store);
    let s = begin(&store);
    store.observe_addresses(Some(s), "www.a.test", &[ip("10.0.0.1")]).unwrap();
    store.cover_closed_ports(s, &[("www.a.test".into(), 22), ("www.a.test".into(), 443)]).unwrap();
    store.finish_scan(s, true).unwrap();
    let events = store.changes_of_scan(s).unwrap();
    assert_eq!(
        kinds(&events),
        [
            (ChangeKind::PortClosed, "www.a.test", Some(22)),
            (ChangeKind::PortClosed, "www.a.test", Some(443)),
            (ChangeKind::HostGone, "www.a.test", None),
        ]
    );
    assert_eq!(events[2].before, "open: 22, 443");
    // The next run says it again only if something changes.
    let s = begin(&store);
    store.cover_closed_ports(s, &[("www.a.test".into(), 22), ("www.a.test".into(), 443)]).unwrap();
    store.finish_scan(s, true).unwrap();
    assert_eq!(store.changes_of_scan(s).unwrap(), vec![]);
}

fn another_name_answering_on_the_address_keeps_the_host(backend: &Backend) {
    let store = backend.store();
    baseline(&store);
    let s = begin(&store);
    // www's ports refused under its name, but the address answers for api.
    store.observe_open_port(Some(s), "api.a.test", ip("10.0.0.1"), 8443).unwrap();
    store.cover_closed_ports(s, &[("www.a.test".into(), 22), ("www.a.test".into(), 443)]).unwrap();
    store.finish_scan(s, true).unwrap();
    let events = store.changes_of_scan(s).unwrap();
    assert!(events.iter().all(|e| e.kind == ChangeKind::PortClosed), "{events:?}");
}

fn nxdomain_in_a_complete_run_is_host_gone_and_its_return_a_new_host(backend: &Backend) {
    let store = backend.store();
    baseline(&store);
    // Incomplete run with NXDOMAIN: nothing.
    let s = begin(&store);
    assert_eq!(store.observe_addresses(Some(s), "www.a.test", &[]).unwrap(), None);
    store.finish_scan(s, false).unwrap();
    assert_eq!(store.changes().unwrap(), vec![]);
    // Complete: gone.
    let s = begin(&store);
    store.observe_addresses(Some(s), "www.a.test", &[]).unwrap();
    // A name never seen that has no address is nothing.
    store.observe_addresses(Some(s), "never.a.test", &[]).unwrap();
    store.finish_scan(s, true).unwrap();
    let events = store.changes_of_scan(s).unwrap();
    assert_eq!(kinds(&events), [(ChangeKind::HostGone, "www.a.test", None)]);
    assert_eq!(events[0].before, "10.0.0.1");
    // It comes back: a new host.
    let s = begin(&store);
    let e = store.observe_addresses(Some(s), "www.a.test", &[ip("10.0.0.9")]).unwrap().unwrap();
    assert_eq!((e.kind, e.after.as_str()), (ChangeKind::HostNew, "10.0.0.9"));
}

fn a_new_host_needs_a_baseline_of_the_same_targets(backend: &Backend) {
    let store = backend.store();
    // No complete run before: no event.
    let s = begin(&store);
    assert_eq!(store.observe_addresses(Some(s), "www.a.test", &[ip("10.0.0.1")]).unwrap(), None);
    store.finish_scan(s, true).unwrap();
    // Another engagement's first scan is its own baseline.
    let other = store.begin_scan(vec!["b.test".into()]).unwrap().id;
    assert_eq!(store.observe_addresses(Some(other), "www.b.test", &[ip("10.0.1.1")]).unwrap(), None);
    store.finish_scan(other, true).unwrap();
    let s = begin(&store);
    let e = store.observe_addresses(Some(s), "mail.a.test", &[ip("10.0.0.2")]).unwrap().unwrap();
    assert_eq!((e.kind, e.host.as_str(), e.before.as_str()), (ChangeKind::HostNew, "mail.a.test", ""));
    assert_eq!(store.observe_addresses(Some(s), "www.a.test", &[ip("10.0.0.1")]).unwrap(), None, "known, unchanged");
    let moved = store.observe_addresses(Some(s), "www.a.test", &[ip("10.0.0.3")]).unwrap().unwrap();
    assert_eq!(moved.kind, ChangeKind::Addresses);
}

fn a_banner_change_compares_with_the_stored_banner(backend: &Backend) {
    let store = backend.store();
    let s = begin(&store);
    assert_eq!(store.observe_banner(Some(s), "www.a.test", 22, "OpenSSH_9.2p1 Debian-2").unwrap(), None);
    assert_eq!(store.observe_banner(Some(s), "www.a.test", 22, "OpenSSH_9.2p1 Debian-2").unwrap(), None);
    let e = store.observe_banner(Some(s), "www.a.test", 22, "OpenSSH_9.6p1").unwrap().unwrap();
    assert_eq!(
        (e.kind, e.port, e.before.as_str(), e.after.as_str()),
        (ChangeKind::Banner, Some(22), "OpenSSH_9.2p1 Debian-2", "OpenSSH_9.6p1")
    );
    assert_eq!(store.observe_banner(Some(s), "www.a.test", 80, "nginx/1.22.1").unwrap(), None, "another port");
    assert_eq!(e.summary(), "banner of www.a.test:22: OpenSSH_9.2p1 Debian-2 -> OpenSSH_9.6p1");
}

fn since_is_a_range_of_time_ordered_keys(backend: &Backend) {
    let store = backend.store();
    let s = begin(&store);
    store.observe_certificate(Some(s), "www.a.test", 443, "aa", None).unwrap();
    store.observe_certificate(Some(s), "www.a.test", 443, "bb", None).unwrap();
    store.observe_certificate(Some(s), "www.a.test", 443, "cc", None).unwrap();
    let all = store.changes().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(store.changes_since(Some(all[0].at)).unwrap(), all);
    assert_eq!(store.changes_since(Some(Timestamp::from_unix(all[1].at.unix() + 1))).unwrap(), vec![]);
    // An event of an older store, under a plain sequence key, is still listed by its time.
    let old = ChangeEvent { at: Timestamp::from_unix(1_000), scan: None, ..all[0].clone() };
    let mut bytes = vec![1u8];
    bytes.extend(serde_json::to_vec(&old).unwrap());
    store.put_raw_for_tests("changes", &7u64.to_be_bytes(), &bytes).unwrap();
    assert_eq!(store.changes().unwrap().first(), Some(&old));
    assert_eq!(store.changes_since(Some(Timestamp::from_unix(2_000))).unwrap(), all);
    assert!(store.check().unwrap().is_healthy(), "{}", store.check().unwrap());
    // A time key earlier than its event is a problem `store check` names.
    store.put_raw_for_tests("changes", &(5u64 << 24).to_be_bytes(), &bytes[..1]).unwrap();
    let report = store.check().unwrap();
    assert!(report.problems.iter().any(|p| p.contains("unreadable")), "{report}");
}

fn store_check_names_an_asset_record_of_an_event_kind(backend: &Backend) {
    let store = backend.store();
    store.observe_banner(Some(1), "www.a.test", 22, "OpenSSH_9.2").unwrap();
    assert!(store.check().unwrap().is_healthy());
    let good =
        store.get_raw_for_tests("assets", &[b"banner\0www.a.test\0".as_slice(), b"22"].concat()).unwrap().unwrap();
    store.put_raw_for_tests("assets", b"host-gone\0www.a.test\0-", &good).unwrap();
    let report = store.check().unwrap();
    assert!(report.problems.iter().any(|p| p.contains("`host-gone` is an event kind")), "{report}");
}

on_both_backends!(
    the_first_scan_is_a_baseline_without_events,
    a_port_refused_by_a_complete_run_is_closed_and_one_that_answers_again_opened,
    an_incomplete_run_or_a_failed_unit_closes_no_port_and_loses_no_host,
    a_host_whose_every_open_port_answered_closed_is_gone,
    another_name_answering_on_the_address_keeps_the_host,
    nxdomain_in_a_complete_run_is_host_gone_and_its_return_a_new_host,
    a_new_host_needs_a_baseline_of_the_same_targets,
    a_banner_change_compares_with_the_stored_banner,
    since_is_a_range_of_time_ordered_keys,
    store_check_names_an_asset_record_of_an_event_kind,
);
