use haetae_findings::{
    Baseline, CheckId, Coverage, Priority, SCANNER, Selection, State, Store, StoreError, Timestamp, Transition,
    UpsertOutcome,
};

use crate::support::{Backend, obs, on_both_backends, scorer};

fn same_weakness_is_one_finding(backend: &Backend) {
    let store = backend.store();
    let (a, o1) =
        store.upsert(&obs(CheckId::HttpExposedGit, "WWW.a.test.", Some(443), "https://www.a.test/.git/HEAD")).unwrap();
    let (b, o2) = store
        .upsert(&obs(CheckId::HttpExposedGit, "www.a.test", None, "https://www.a.test:443/x/../.git/HEAD"))
        .unwrap();
    assert_eq!((o1, o2), (UpsertOutcome::New, UpsertOutcome::Updated));
    assert_eq!(a, b);
    assert_eq!(store.len(), 1);
    let f = store.get(&a).unwrap().unwrap();
    assert_eq!(f.seen_count, 2);
    assert_eq!(f.host, "www.a.test");
    assert_eq!(f.port, Some(443));
    assert_eq!(f.url.as_deref(), Some("https://www.a.test/.git/HEAD"));
    assert_eq!(f.fingerprint_version, 1);
    assert_eq!(f.priority, Priority::P2);
    assert!(store.check_integrity().unwrap().is_empty());
}

fn indexes_list_by_state_priority_and_host(backend: &Backend) {
    let store = backend.store();
    let (ssh, _) = store.upsert(&obs(CheckId::SvcSshExposed, "a.test", Some(22), "")).unwrap();
    let (redis, _) = store.upsert(&obs(CheckId::SvcRedisNoauth, "b.test", Some(6379), "")).unwrap();
    store.upsert(&obs(CheckId::DnsSpfMissing, "a.test", None, "TXT")).unwrap();
    store.triage(&[&ssh], &Transition::new(State::Confirmed, "kim")).unwrap();

    let open = store.list(&Selection::States(vec![State::Open])).unwrap();
    assert_eq!(open.findings.len(), 2);
    let confirmed = store.list(&Selection::States(vec![State::Confirmed])).unwrap();
    assert_eq!(confirmed.findings.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), [ssh.as_str()]);
    let p1 = store.list(&Selection::MinPriority(Priority::P1)).unwrap();
    assert_eq!(p1.findings.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), [redis.as_str()]);
    assert_eq!(store.list(&Selection::MinPriority(Priority::P4)).unwrap().findings.len(), 3);
    assert_eq!(store.list(&Selection::Host("A.TEST.".into())).unwrap().findings.len(), 2);
    assert_eq!(store.list(&Selection::All).unwrap().findings.len(), 3);
    assert!(store.check_integrity().unwrap().is_empty());
}

fn triage_is_all_or_nothing_and_names_unknown_ids(backend: &Backend) {
    let store = backend.store();
    let (a, _) = store.upsert(&obs(CheckId::SvcSshExposed, "a.test", Some(22), "")).unwrap();
    let err = store.triage(&[a.clone(), "ffffffffffffffff".into()], &Transition::new(State::Confirmed, "kim"));
    match err {
        Err(StoreError::NotFound { id, .. }) => assert_eq!(id, "ffffffffffffffff"),
        other => panic!("{other:?}"),
    }
    assert_eq!(store.get(&a).unwrap().unwrap().state, State::Open, "nothing changed");
    assert_eq!(store.resolve_id(&a[..6]).unwrap(), a);
    assert!(matches!(store.resolve_id("zzzzzz"), Err(StoreError::NotFound { .. })));
}

fn complete_scan_closes_what_it_covered_but_did_not_see(backend: &Backend) {
    let store = backend.store();
    let s1 = store.begin_scan(vec!["a.test".into()]).unwrap().id;
    let (spf, _) =
        store.upsert_batch(Some(s1), &[obs(CheckId::DnsSpfMissing, "a.test", None, "TXT")]).unwrap()[0].clone();
    let (ssh, _) =
        store.upsert_batch(Some(s1), &[obs(CheckId::SvcSshExposed, "a.test", Some(22), "")]).unwrap()[0].clone();
    let (fp, _) =
        store.upsert_batch(Some(s1), &[obs(CheckId::DnsCaaMissing, "a.test", None, "CAA")]).unwrap()[0].clone();
    store.triage(&[&fp], &Transition::new(State::FalsePositive, "kim").note("CAA is set upstream")).unwrap();
    let run1 = store.finish_scan(s1, true).unwrap();
    assert_eq!((run1.counts.new, run1.counts.fixed), (3, 0));

    // Scan 2: SPF and CAA checks ran on a.test and found nothing; the SSH check timed out (not covered).
    let s2 = store.begin_scan(vec!["a.test".into()]).unwrap().id;
    store
        .cover(
            s2,
            &[
                Coverage { check: CheckId::DnsSpfMissing, host: "A.test.".into(), port: None },
                Coverage { check: CheckId::DnsCaaMissing, host: "a.test".into(), port: None },
            ],
        )
        .unwrap();
    let run2 = store.finish_scan(s2, true).unwrap();
    assert_eq!(run2.counts.fixed, 1);
    assert!(run2.complete && run2.ended.is_some());
    let f = store.get(&spf).unwrap().unwrap();
    assert_eq!((f.state, f.baseline), (State::Fixed, Baseline::Absent));
    let h = f.history.last().unwrap();
    assert_eq!((h.actor.as_str(), h.from, h.to), (SCANNER, Some(State::Open), State::Fixed));
    assert_eq!(store.get(&ssh).unwrap().unwrap().state, State::Open, "uncovered check closes nothing");
    let fp_f = store.get(&fp).unwrap().unwrap();
    assert_eq!((fp_f.state, fp_f.baseline), (State::FalsePositive, Baseline::Absent));

    // An incomplete scan closes nothing even where it covered.
    let (ssh2, _) = (ssh.clone(), ());
    let s3 = store.begin_scan(vec![]).unwrap().id;
    store.cover(s3, &[Coverage { check: CheckId::SvcSshExposed, host: "a.test".into(), port: Some(22) }]).unwrap();
    assert!(
        store
            .is_covered(s3, &Coverage { check: CheckId::SvcSshExposed, host: "a.test".into(), port: Some(22) })
            .unwrap()
    );
    let run3 = store.finish_scan(s3, false).unwrap();
    assert_eq!(run3.counts.fixed, 0);
    assert_eq!(store.get(&ssh2).unwrap().unwrap().state, State::Open);
    assert!(store.check_integrity().unwrap().is_empty());
}

fn fixed_finding_seen_again_is_reopened_as_regression(backend: &Backend) {
    let store = backend.store();
    let o = obs(CheckId::SvcRedisNoauth, "r.test", Some(6379), "");
    let (id, _) = store.upsert(&o).unwrap();
    store.triage(&[&id], &Transition::new(State::Fixed, "kim")).unwrap();
    let s = store.begin_scan(vec![]).unwrap().id;
    let out = store.upsert_batch(Some(s), std::slice::from_ref(&o)).unwrap();
    assert_eq!(out[0].1, UpsertOutcome::Reopened);
    let f = store.get(&id).unwrap().unwrap();
    assert_eq!((f.state, f.baseline), (State::Open, Baseline::Reopened));
    assert!(f.has_tag("regression"));
    assert_eq!(f.history.last().unwrap().actor, SCANNER);
    let run = store.finish_scan(s, true).unwrap();
    assert_eq!(run.counts.reopened, 1);
    assert!(store.check_integrity().unwrap().is_empty());
}

fn false_positive_stays_silent_until_evidence_changes(backend: &Backend) {
    let store = backend.store();
    let mut o = obs(CheckId::HttpVersionDisclosure, "w.test", Some(80), "http://w.test/");
    o.evidence = "Server: nginx/1.18.0".into();
    let (id, _) = store.upsert(&o).unwrap();
    store.triage(&[&id], &Transition::new(State::FalsePositive, "kim").note("patched build")).unwrap();
    store.upsert(&o).unwrap();
    assert_eq!(store.get(&id).unwrap().unwrap().state, State::FalsePositive);
    o.evidence = "Server: nginx/1.14.0".into();
    let (_, outcome) = store.upsert(&o).unwrap();
    assert_eq!(outcome, UpsertOutcome::Updated);
    let f = store.get(&id).unwrap().unwrap();
    assert_eq!(f.state, State::Open);
    assert!(f.history.last().unwrap().note.as_deref().unwrap().contains("evidence changed"));
}

fn accepted_risk_returns_to_open_when_it_expires(backend: &Backend) {
    let store = backend.store();
    let (id, _) = store.upsert(&obs(CheckId::SvcSshExposed, "a.test", Some(22), "")).unwrap();
    let until = Timestamp::now().plus_days(2);
    store.triage(&[&id], &Transition::new(State::AcceptedRisk, "kim").until(until)).unwrap();
    assert!(store.expire_acceptances(Timestamp::now()).unwrap().is_empty());
    assert_eq!(store.expire_acceptances(until.plus_days(1)).unwrap(), vec![id.clone()]);
    let f = store.get(&id).unwrap().unwrap();
    assert_eq!((f.state, f.accepted_until), (State::Open, None));
    assert_eq!(f.history.last().unwrap().note.as_deref(), Some("risk acceptance expired"));
    assert_eq!(f.history.last().unwrap().actor, haetae_findings::SCANNER);
}

fn an_expiry_by_the_daemon_is_its_history_entry(backend: &Backend) {
    let store = backend.store();
    let (id, _) = store.upsert(&obs(CheckId::SvcSshExposed, "a.test", Some(22), "")).unwrap();
    let until = Timestamp::now().plus_days(2);
    store.triage(&[&id], &Transition::new(State::AcceptedRisk, "kim").until(until)).unwrap();
    let daemon = haetae_findings::lifecycle::DAEMON;
    assert!(store.expire_acceptances_as(until.plus_days(-1), daemon).unwrap().is_empty());
    assert_eq!(store.get(&id).unwrap().unwrap().state, State::AcceptedRisk);
    assert_eq!(store.expire_acceptances_as(until, daemon).unwrap(), vec![id.clone()]);
    let f = store.get(&id).unwrap().unwrap();
    assert_eq!((f.state, f.accepted_until), (State::Open, None));
    let last = f.history.last().unwrap();
    assert_eq!((last.actor.as_str(), last.from, last.to), ("daemon", Some(State::AcceptedRisk), State::Open));
    // Nothing due any more: nothing written.
    assert!(store.expire_acceptances_as(until.plus_days(9), daemon).unwrap().is_empty());
    assert_eq!(store.get(&id).unwrap().unwrap().history.len(), f.history.len());
}

fn a_new_prioritizer_scores_what_is_written_from_then_on_and_reprioritize_the_rest(backend: &Backend) {
    struct Fixed(Priority);
    impl haetae_findings::Prioritizer for Fixed {
        fn prioritize(&self, f: &mut haetae_findings::Finding, _now: Timestamp) {
            f.priority = self.0;
        }
    }
    let store = backend.store_with(std::sync::Arc::new(Fixed(Priority::P4)));
    let (a, _) = store.upsert(&obs(CheckId::SvcSshExposed, "a.test", Some(22), "")).unwrap();
    store.set_prioritizer(std::sync::Arc::new(Fixed(Priority::P1)));
    let (b, _) = store.upsert(&obs(CheckId::SvcSshExposed, "b.test", Some(22), "")).unwrap();
    assert_eq!(store.get(&a).unwrap().unwrap().priority, Priority::P4);
    assert_eq!(store.get(&b).unwrap().unwrap().priority, Priority::P1);
    assert_eq!(store.reprioritize().unwrap(), 1);
    assert_eq!(store.get(&a).unwrap().unwrap().priority, Priority::P1);
    let listed = store.list(&Selection::MinPriority(Priority::P1)).unwrap().findings;
    assert_eq!(listed.len(), 2, "the index follows the new band");
}

fn baseline_tracks_change_against_the_previous_scan(backend: &Backend) {
    let store = backend.store();
    let mut o = obs(CheckId::TlsCertExpiring, "t.test", Some(443), "cert");
    let s1 = store.begin_scan(vec![]).unwrap().id;
    let (id, _) = store.upsert_batch(Some(s1), std::slice::from_ref(&o)).unwrap()[0].clone();
    assert_eq!(store.get(&id).unwrap().unwrap().baseline, Baseline::New);
    // Seen twice in the same scan: still new.
    store.upsert_batch(Some(s1), std::slice::from_ref(&o)).unwrap();
    assert_eq!(store.get(&id).unwrap().unwrap().baseline, Baseline::New);
    store.finish_scan(s1, true).unwrap();
    let s2 = store.begin_scan(vec![]).unwrap().id;
    store.upsert_batch(Some(s2), std::slice::from_ref(&o)).unwrap();
    assert_eq!(store.get(&id).unwrap().unwrap().baseline, Baseline::Unchanged);
    let s3 = store.begin_scan(vec![]).unwrap().id;
    o.evidence = "expires in 9 days".into();
    store.upsert_batch(Some(s3), &[o]).unwrap();
    assert_eq!(store.get(&id).unwrap().unwrap().baseline, Baseline::Updated);
    let runs = store.scans().unwrap();
    assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), [s1, s2, s3]);
    assert_eq!(runs[0].counts.new, 1);
    assert_eq!(runs[0].counts.seen, 1);
    assert_eq!(runs[2].counts.updated, 1);
}

fn corrupt_records_are_reported_and_skipped(backend: &Backend) {
    let place = backend.place();
    let id = {
        let store = place.open(scorer()).unwrap();
        store.upsert(&obs(CheckId::SvcSshExposed, "a.test", Some(22), "")).unwrap();
        let id = store.upsert(&obs(CheckId::SvcSshExposed, "b.test", Some(22), "")).unwrap().0;
        let v = store.get_raw_for_tests("findings", id.as_bytes()).unwrap().unwrap();
        store.put_raw_for_tests("findings", id.as_bytes(), &v[..v.len() / 2]).unwrap(); // truncated record
        id
    };
    // Reopened (the lock of the store just dropped is waited for, not reported).
    let store = place.open(scorer()).unwrap();
    for sel in [Selection::All, Selection::States(vec![State::Open]), Selection::Host("b.test".into())] {
        let l = store.list(&sel).unwrap();
        assert_eq!(l.skipped.len(), 1, "{sel:?}");
        assert_eq!(l.skipped[0].key, id);
        assert!(l.skipped[0].to_string().contains(&id));
    }
    assert_eq!(store.list(&Selection::All).unwrap().findings.len(), 1);
    match store.get(&id) {
        Err(e @ StoreError::Corrupt { .. }) => assert!(e.to_string().contains(&id), "{e}"),
        other => panic!("{other:?}"),
    }
    // Seeing the weakness again replaces the unreadable record, and the indexes agree.
    store.upsert(&obs(CheckId::SvcSshExposed, "b.test", Some(22), "")).unwrap();
    assert_eq!(store.get(&id).unwrap().unwrap().host, "b.test");
    assert!(store.check_integrity().unwrap().is_empty(), "{:?}", store.check_integrity());
}

fn newer_schema_is_a_clear_error(backend: &Backend) {
    let place = backend.place();
    let location = place.open(scorer()).unwrap().location().display().to_string();
    let current = place.schema_version();
    assert!(current >= 1);
    place.set_schema_version(99);
    let err = place.open(scorer()).unwrap_err();
    match &err {
        StoreError::NewerSchema { found: 99, supported, .. } => assert_eq!(*supported, current),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains(&location), "{err} does not name {location}");
}

#[test]
fn locked_store_names_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _held = Store::open(dir.path(), scorer()).unwrap();
    let err = Store::open(dir.path(), scorer()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
}

fn scan_ids_count_up_across_restarts(backend: &Backend) {
    let place = backend.place();
    {
        let store = place.open(scorer()).unwrap();
        assert_eq!(store.begin_scan(vec![]).unwrap().id, 1);
        assert_eq!(store.begin_scan(vec![]).unwrap().id, 2);
    }
    let store = place.open(scorer()).unwrap();
    assert_eq!(store.begin_scan(vec![]).unwrap().id, 3);
    assert_eq!(store.unfinished_scan().unwrap().map(|r| r.id), Some(3), "killed mid-way");
    store.finish_scan(3, false).unwrap();
    assert_eq!(store.unfinished_scan().unwrap().map(|r| r.id), Some(3), "interrupted");
    store.finish_scan(3, true).unwrap();
    assert_eq!(store.unfinished_scan().unwrap(), None, "scan 2 was superseded by scan 3");
}

fn a_changed_certificate_is_a_change_event(backend: &Backend) {
    let store = backend.store();
    assert_eq!(store.observe_certificate(Some(1), "www.a.test", 443, "aa", None).unwrap(), None);
    assert_eq!(store.observe_certificate(Some(2), "WWW.a.test.", 443, "aa", None).unwrap(), None, "same certificate");
    let e = store.observe_certificate(Some(3), "www.a.test", 443, "bb", None).unwrap().unwrap();
    assert_eq!((e.before.as_str(), e.after.as_str(), e.port, e.scan), ("aa", "bb", Some(443), Some(3)));
    assert_eq!(store.observe_certificate(Some(3), "www.a.test", 8443, "cc", None).unwrap(), None, "another endpoint");
    assert_eq!(store.changes().unwrap(), vec![e]);
}

fn addresses_a_host_left_are_its_earlier_addresses(backend: &Backend) {
    use std::net::IpAddr;
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let store = backend.store();
    assert!(store.observe_addresses(Some(1), "portal.a.test", &[ip("10.0.0.2"), ip("10.0.0.1")]).unwrap().is_none());
    assert!(store.earlier_addresses().unwrap().is_empty(), "nothing moved yet");
    let same = store.observe_addresses(Some(2), "Portal.a.test.", &[ip("10.0.0.1"), ip("10.0.0.2")]).unwrap();
    assert!(same.is_none(), "order and case do not matter");
    let moved = store.observe_addresses(Some(3), "portal.a.test", &[ip("172.16.0.9")]).unwrap().unwrap();
    assert_eq!((moved.before.as_str(), moved.after.as_str()), ("10.0.0.1,10.0.0.2", "172.16.0.9"));
    store.observe_addresses(Some(4), "portal.a.test", &[ip("172.16.0.10")]).unwrap().unwrap();
    let earlier = store.earlier_addresses().unwrap();
    assert_eq!(earlier.len(), 1);
    assert_eq!(earlier["portal.a.test"], vec![ip("10.0.0.1"), ip("10.0.0.2"), ip("172.16.0.9")]);
}

fn assets_lists_addresses_certificates_and_open_ports(backend: &Backend) {
    use haetae_findings::{ChangeKind, Timestamp};
    use std::net::IpAddr;
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let store = backend.store();
    let expires: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
    store.observe_addresses(Some(1), "www.a.test", &[ip("10.0.0.1")]).unwrap();
    store.observe_certificate(Some(1), "www.a.test", 443, "aa", Some(expires)).unwrap();
    store.observe_open_port(None, "www.a.test", ip("10.0.0.1"), 443).unwrap();
    store.observe_open_port(None, "www.a.test", ip("10.0.0.1"), 80).unwrap();
    // A port seen on another address is no change event.
    store.observe_open_port(None, "www.a.test", ip("10.0.0.2"), 80).unwrap();
    // The same certificate seen without its expiry keeps the one known.
    store.observe_certificate(Some(2), "www.a.test", 443, "aa", None).unwrap();
    let assets = store.assets().unwrap();
    type Row<'a> = (ChangeKind, &'a str, Option<u16>, &'a str, Option<Timestamp>);
    let got: Vec<Row> = assets.iter().map(|a| (a.kind, a.host.as_str(), a.port, a.value.as_str(), a.expires)).collect();
    assert_eq!(
        got,
        vec![
            (ChangeKind::Addresses, "www.a.test", None, "10.0.0.1", None),
            (ChangeKind::Certificate, "www.a.test", Some(443), "aa", Some(expires)),
            (ChangeKind::Port, "www.a.test", Some(443), "10.0.0.1", None),
            (ChangeKind::Port, "www.a.test", Some(80), "10.0.0.2", None),
        ]
    );
    assert!(store.changes().unwrap().is_empty(), "ports and repeated values are not change events");
}

/// A port that refused the connection covers every check its own probes run
/// there (one entry), and nothing else: not the host's DNS checks, not the
/// legacy-origin comparison, not another port.
fn a_closed_port_closes_what_its_probes_found_there_and_nothing_else(backend: &Backend) {
    let store = backend.store();
    let s1 = store.begin_scan(vec![]).unwrap().id;
    let mut ids = Vec::new();
    for o in [
        obs(CheckId::SvcRedisNoauth, "db.a.test", Some(6379), ""),
        obs(CheckId::TlsCertExpired, "db.a.test", Some(6379), "certificate"),
        obs(CheckId::HttpExposedGit, "db.a.test", Some(6379), "http://db.a.test:6379/"),
        obs(CheckId::MigrationLegacyOriginLive, "db.a.test", Some(6379), "via 127.0.0.9"),
        obs(CheckId::DnsCaaMissing, "db.a.test", None, "CAA"),
        obs(CheckId::SvcSshExposed, "db.a.test", Some(22), ""),
    ] {
        ids.push(store.upsert_batch(Some(s1), &[o]).unwrap()[0].0.clone());
    }
    store.finish_scan(s1, true).unwrap();
    let s2 = store.begin_scan(vec![]).unwrap().id;
    store.cover_closed_ports(s2, &[("DB.a.test.".to_owned(), 6379)]).unwrap();
    let run = store.finish_scan(s2, true).unwrap();
    let states: Vec<State> = ids.iter().map(|id| store.get(id).unwrap().unwrap().state).collect();
    assert_eq!(
        states,
        [State::Fixed, State::Fixed, State::Fixed, State::Open, State::Open, State::Open],
        "service, TLS and content findings on the closed port are fixed; the rest stay"
    );
    assert_eq!(run.counts.fixed, 3);
    assert!(store.covered(s2).unwrap().is_empty(), "the port entry is not a check for --resume");
    let report = store.check().unwrap();
    assert!(report.is_healthy(), "{report}");
}

on_both_backends!(
    same_weakness_is_one_finding,
    indexes_list_by_state_priority_and_host,
    triage_is_all_or_nothing_and_names_unknown_ids,
    complete_scan_closes_what_it_covered_but_did_not_see,
    fixed_finding_seen_again_is_reopened_as_regression,
    false_positive_stays_silent_until_evidence_changes,
    accepted_risk_returns_to_open_when_it_expires,
    an_expiry_by_the_daemon_is_its_history_entry,
    a_new_prioritizer_scores_what_is_written_from_then_on_and_reprioritize_the_rest,
    baseline_tracks_change_against_the_previous_scan,
    corrupt_records_are_reported_and_skipped,
    newer_schema_is_a_clear_error,
    scan_ids_count_up_across_restarts,
    a_changed_certificate_is_a_change_event,
    addresses_a_host_left_are_its_earlier_addresses,
    assets_lists_addresses_certificates_and_open_ports,
    a_closed_port_closes_what_its_probes_found_there_and_nothing_else,
);
