//! `haetae changes`: the change events per asset, filtered by time and host.

use std::net::IpAddr;

use haetae_findings::{ChangeEvent, ChangeKind, Timestamp};
use haetae_lab::{Faults, Lab, LabOptions};

use crate::support::{code, haetae, open, stderr, stdout};

/// A workspace whose store holds an old event (2020) and three of today.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let s = store.begin_scan(vec!["agency.test".into()]).unwrap().id;
    store.observe_addresses(Some(s), "www.agency.test", &[ip("127.77.1.10")]).unwrap();
    store.observe_open_port(Some(s), "www.agency.test", ip("127.77.1.10"), 22).unwrap();
    store.cover_closed_ports(s, &[("www.agency.test".into(), 8080)]).unwrap();
    store.finish_scan(s, true).unwrap();
    let s = store.begin_scan(vec!["agency.test".into()]).unwrap().id;
    store.observe_certificate(Some(s), "www.agency.test", 443, "aa", None).unwrap();
    store.observe_certificate(Some(s), "www.agency.test", 443, "bb", None).unwrap().unwrap();
    store.observe_open_port(Some(s), "www.agency.test", ip("127.77.1.10"), 8080).unwrap().unwrap();
    store.observe_addresses(Some(s), "mail.agency.test", &[ip("127.77.1.25")]).unwrap().unwrap();
    store.cover_closed_ports(s, &[("www.agency.test".into(), 22)]).unwrap();
    store.finish_scan(s, true).unwrap();
    // An event of an older store (sequence key), from 2020.
    let old = ChangeEvent {
        at: "2020-01-02T03:04:05Z".parse().unwrap(),
        kind: ChangeKind::Banner,
        host: "old.agency.test".into(),
        port: Some(22),
        addr: None,
        before: "OpenSSH_7.4".into(),
        after: "OpenSSH_8.0".into(),
        scan: None,
    };
    let mut bytes = vec![1u8];
    bytes.extend(serde_json::to_vec(&old).unwrap());
    store.put_raw_for_tests("changes", &1u64.to_be_bytes(), &bytes).unwrap();
    drop(store);
    dir
}

fn json(dir: &std::path::Path, args: &[&str]) -> Vec<serde_json::Value> {
    let o = haetae(dir, &[&["changes", "--json"], args].concat());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    serde_json::from_str::<serde_json::Value>(&stdout(&o)).unwrap().as_array().unwrap().clone()
}

#[test]
fn lists_every_event_oldest_first_as_a_table_and_as_json() {
    let w = workspace();
    let o = haetae(w.path(), &["changes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("TIME"), "{out}");
    for want in ["banner", "certificate", "port-opened", "host-new", "port-closed", "5 change event(s)"] {
        assert!(out.contains(want), "{want} missing:\n{out}");
    }
    assert!(out.find("old.agency.test").unwrap() < out.find("certificate").unwrap(), "oldest first:\n{out}");
    let all = json(w.path(), &[]);
    let kinds: Vec<&str> = all.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["banner", "certificate", "port-opened", "host-new", "port-closed"]);
    let opened = &all[2];
    assert_eq!(
        (opened["host"].as_str(), opened["port"].as_u64(), opened["addr"].as_str(), opened["scan"].as_u64()),
        (Some("www.agency.test"), Some(8080), Some("127.77.1.10"), Some(2))
    );
    assert_eq!((all[1]["before"].as_str(), all[1]["after"].as_str()), (Some("aa"), Some("bb")));
    // Every event has every key, null where it does not apply.
    for key in ["at", "kind", "host", "port", "addr", "before", "after", "scan"] {
        assert!(all.iter().all(|e| e.get(key).is_some()), "{key} missing: {all:#?}");
    }
    assert!(all[1]["addr"].is_null() && all[0]["scan"].is_null());
    assert!(all.iter().all(|e| e["at"].as_str().is_some_and(|t| t.parse::<Timestamp>().is_ok())));
}

#[test]
fn filters_by_since_and_host() {
    let w = workspace();
    let today = Timestamp::now().date_string();
    assert_eq!(json(w.path(), &["--since", "2020-01-02"]).len(), 5, "a date is the start of that day");
    assert_eq!(json(w.path(), &["--since", "2020-01-03"]).len(), 4);
    assert_eq!(json(w.path(), &["--since", "2020-01-02T03:04:06Z"]).len(), 4, "RFC 3339, to the second");
    assert_eq!(json(w.path(), &["--since", &today]).len(), 4);
    assert_eq!(json(w.path(), &["--since", "2999-01-01"]).len(), 0);
    let hosts = |glob: &str| -> Vec<String> {
        json(w.path(), &["--host", glob]).iter().map(|e| e["host"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(hosts("mail.*"), ["mail.agency.test"]);
    assert_eq!(hosts("WWW.agency.test").len(), 3, "case-insensitive");
    assert_eq!(hosts("*.agency.test").len(), 5);
    assert!(hosts("nothing.test").is_empty());
    let o = haetae(w.path(), &["changes", "--host", "nothing.test"]);
    assert_eq!(stdout(&o), "0 change event(s)\n");
}

#[test]
fn bad_input_is_a_usage_error() {
    let w = workspace();
    for args in [&["--since", "yesterday"][..], &["--since", "2026-13-01"], &["--host", "a[b"]] {
        let o = haetae(w.path(), &[&["changes"], args].concat());
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(args[0]), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty());
    }
    // No store yet: nothing to list, and no store is created.
    let empty = tempfile::tempdir().unwrap();
    let o = haetae(empty.path(), &["changes", "--json"]);
    assert_eq!((code(&o), stdout(&o).trim()), (0, "[]"), "{}", stderr(&o));
    assert!(!empty.path().join(".haetae").exists());
}

/// Start a lab and point the workspace in `dir` at it, probing `also` too.
fn serve(rt: &tokio::runtime::Runtime, dir: &std::path::Path, opts: LabOptions, also: &[u16]) -> Lab {
    let lab = rt.block_on(Lab::start_with(opts)).unwrap();
    let mut ports: Vec<u16> = lab.ports().into_iter().chain(also.iter().copied()).collect();
    ports.sort_unstable();
    ports.dedup();
    let list = ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
    let scope: String = lab
        .scope_toml()
        .lines()
        .map(|l| if l.starts_with("ports = [") { format!("ports = [{list}]\n") } else { format!("{l}\n") })
        .collect();
    std::fs::write(dir.join("scope.toml"), scope).unwrap();
    std::fs::write(dir.join("haetae.toml"), lab.haetae_toml()).unwrap();
    std::fs::write(dir.join(haetae_lab::CA_FILE), lab.ca_pem()).unwrap();
    lab
}

/// Run `haetae scan`; its id and change events.
fn scan(dir: &std::path::Path) -> (u64, std::process::Output, Vec<serde_json::Value>) {
    let o = haetae(dir, &["scan"]);
    let out = stdout(&o);
    let id = out.strip_prefix("scan ").and_then(|r| r.split(' ').next()).and_then(|n| n.parse::<u64>().ok());
    let id = id.unwrap_or_else(|| panic!("{out}\n{}", stderr(&o)));
    let events = json(dir, &[]).into_iter().filter(|e| e["scan"].as_u64() == Some(id)).collect();
    (id, o, events)
}

#[test]
fn the_lab_moving_its_ports_closes_the_old_ones_and_faults_close_nothing_else() {
    let _one = crate::scan::one_lab();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let d = tempfile::tempdir().unwrap();
    // Scan 1: the baseline, no event.
    let lab = serve(&rt, d.path(), LabOptions::default(), &[]);
    let (_, o, events) = scan(d.path());
    assert!(stdout(&o).contains("complete"), "{}", stdout(&o));
    assert_eq!(events, Vec::<serde_json::Value>::new(), "the first scan is the baseline");
    let first = lab.ports();
    rt.block_on(lab.shutdown());

    // Scan 2: a new lab (new ephemeral ports), still probing the old ones,
    // which now refuse: each old port recorded open is closed.
    let lab = serve(&rt, d.path(), LabOptions::default(), &first);
    let (_, o, events) = scan(d.path());
    assert!(stdout(&o).contains("complete"), "{}", stdout(&o));
    let closed: Vec<(IpAddr, u16)> = events
        .iter()
        .filter(|e| e["kind"] == "port-closed")
        .map(|e| (e["addr"].as_str().unwrap().parse().unwrap(), u16::try_from(e["port"].as_u64().unwrap()).unwrap()))
        .collect();
    assert!(!closed.is_empty(), "{events:#?}");
    for (addr, p) in &closed {
        // A port of the old lab (a number the new lab reuses may be on another address) ...
        assert!(first.contains(p), "port {p} closed, but the old lab did not have it");
        // ... that truly refuses now.
        let refused = std::net::TcpStream::connect_timeout(&(*addr, *p).into(), std::time::Duration::from_secs(2));
        assert!(refused.is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused), "{addr}:{p}");
    }
    // Every host still answers on its new ports: none is gone.
    assert!(!events.iter().any(|e| e["kind"] == "host-gone"), "{events:#?}");
    let o = haetae(d.path(), &["changes"]);
    assert!(stdout(&o).contains("port-closed"), "{}", stdout(&o));
    rt.block_on(lab.shutdown());

    // A lab that resets, delays and drops a fifth of its exchanges (DNS
    // too), scanned twice into a store of its own (so no port number an
    // earlier lab used elsewhere can truly close): every port it had open
    // the first time still listens, so whatever failed the second time,
    // nothing closes and no host is gone.
    let d = tempfile::tempdir().unwrap();
    let opts = LabOptions { faults: Some(Faults { seed: 11, percent: 20 }), ..LabOptions::default() };
    let lab = serve(&rt, d.path(), opts, &[]);
    let mut failed = false;
    for _ in 0..2 {
        let (_, o, events) = scan(d.path());
        failed |= stdout(&o).contains("unit(s) failed");
        assert!(!events.iter().any(|e| e["kind"] == "port-closed" || e["kind"] == "host-gone"), "{events:#?}");
    }
    assert!(lab.faults_injected() > 0 && failed, "the faults were met");
    drop(lab);
}
