use std::sync::Arc;

use haetae_findings::Store;
use haetae_rules::DefaultScorer;

use crate::support::{code, haetae, seeded, stderr, stdout};

#[test]
fn lists_active_findings_most_urgent_first() {
    let s = seeded();
    let o = haetae(&s.path(), &["findings"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let env_at = out.find(&s.env).unwrap();
    let ssh_at = out.find(&s.ssh).unwrap();
    assert!(env_at < ssh_at, "P1 before P4:\n{out}");
    assert!(!out.contains(&s.spf), "fixed findings are not listed by default");
    assert!(out.contains("2 finding(s) [P1: 1, P2: 0, P3: 0, P4: 1]"), "{out}");
    assert!(!out.contains('\x1b'), "NO_COLOR honored");
    assert!(out.contains("포털.agency.test:22"));
}

#[test]
fn filters_by_state_priority_check_and_host() {
    let s = seeded();
    let ids = |args: &[&str]| -> Vec<String> {
        let o = haetae(&s.path(), &[&["findings", "--json"], args].concat());
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        v.as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(&["--state", "fixed"]), [s.spf.as_str()]);
    assert_eq!(ids(&["--state", "all"]).len(), 3);
    assert_eq!(ids(&["--state", "open,fixed", "--check", "dns.*"]), [s.spf.as_str()]);
    assert_eq!(ids(&["--min-priority", "P1"]), [s.env.as_str()]);
    assert_eq!(ids(&["--host", "*.AGENCY.test"]).len(), 2);
    assert_eq!(ids(&["--host", "www.agency.test"]), [s.env.as_str()]);
    assert!(ids(&["--check", "tls.*"]).is_empty());

    let o = haetae(&s.path(), &["findings", "--state", "closed"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("expected one of open, confirmed"), "{}", stderr(&o));
    let o = haetae(&s.path(), &["findings", "--min-priority", "P9"]);
    assert_eq!(code(&o), 2);
}

#[test]
fn json_has_every_spec_field() {
    let s = seeded();
    let o = haetae(&s.path(), &["findings", "--json", "--state", "all"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    for f in v.as_array().unwrap() {
        for key in [
            "id",
            "check",
            "title",
            "severity",
            "confidence",
            "priority",
            "score",
            "state",
            "host",
            "ip",
            "port",
            "url",
            "evidence",
            "cwe",
            "references",
            "remediation",
            "first_seen",
            "last_seen",
            "seen_count",
            "engagement",
            "tags",
            "rules",
            "history",
        ] {
            assert!(f.get(key).is_some(), "missing {key} in {f}");
        }
    }
}

#[test]
fn show_prints_evidence_history_and_rules() {
    let s = seeded();
    let o = haetae(&s.path(), &["findings", "show", &s.env[..6]]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    for want in [
        s.env.as_str(),
        "P1",
        "http.exposed-env",
        "evidence for https://www.agency.test/.env",
        "fix it",
        "history:",
        "first seen",
        "rules:",
        "default",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    let o = haetae(&s.path(), &["findings", "show", "deadbeefdeadbeef"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("deadbeefdeadbeef"), "{}", stderr(&o));
}

#[test]
fn corrupt_record_is_reported_and_the_rest_listed() {
    let s = seeded();
    crate::support::open(&s.path()).put_raw_for_tests("findings", s.ssh.as_bytes(), b"\x01{not json").unwrap();
    let o = haetae(&s.path(), &["findings"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains(&s.ssh) && stderr(&o).contains("corrupt"), "{}", stderr(&o));
    assert!(stdout(&o).contains(&s.env));
}

#[test]
fn locked_store_is_a_clear_error() {
    let s = seeded();
    let _held = Store::open(&s.path().join(".haetae"), Arc::new(DefaultScorer)).unwrap();
    let o = haetae(&s.path(), &["findings"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("in use by another haetae process"), "{}", stderr(&o));
    assert!(stderr(&o).contains(".haetae"));
}
