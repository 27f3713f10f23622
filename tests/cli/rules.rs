//! `haetae rules check | apply | explain` and `findings --overdue` / `--suppressed`.

use crate::support::{code, haetae, seeded, stderr, stdout};

const RULES: &str = r#"
[[rule]]
name = "ssh on citizen hosts matters"
when = 'finding.check == "svc.ssh-exposed"'
add = 60
tag = "citizen-data"
sla_days = 1

[[rule]]
name = "dns hygiene is noise"
when = 'finding.check.startsWith("dns.")'
suppress = true
"#;

#[test]
fn check_apply_and_explain() {
    let s = seeded();
    let rules = s.path().join("rules.toml");
    // No rules.toml: the default applies.
    let o = haetae(&s.path(), &["rules", "check"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("the default score, bands and SLAs apply"), "{}", stdout(&o));

    std::fs::write(&rules, RULES).unwrap();
    let o = haetae(&s.path(), &["rules", "check"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("rules OK: 2 rule(s)"), "{}", stdout(&o));

    // Before apply, explain shows what the new rules would do.
    let o = haetae(&s.path(), &["rules", "explain", &s.ssh[..8]]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("ssh on citizen hosts matters") && out.contains("+60, tag citizen-data, sla 1 days"), "{out}");
    assert!(out.contains("1 of 2 rule(s) fired"), "{out}");
    assert!(out.contains("run `haetae rules apply`"), "{out}");

    let o = haetae(&s.path(), &["rules", "apply"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("finding(s) changed"), "{}", stdout(&o));
    let o = haetae(&s.path(), &["findings", "--json", "--state", "all"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let ssh = v.as_array().unwrap().iter().find(|f| f["id"] == s.ssh.as_str()).unwrap();
    assert_eq!(ssh["priority"], "P2", "5 + 60 = 65: {ssh}");
    assert!(ssh["tags"].as_array().unwrap().iter().any(|t| t == "citizen-data"));
    assert!(ssh["rules"].as_array().unwrap().iter().any(|r| r["name"] == "ssh on citizen hosts matters"), "{ssh}");
    // The fixed SPF finding is suppressed: not listed unless asked for.
    let o = haetae(&s.path(), &["findings", "--state", "all"]);
    assert!(!stdout(&o).contains(&s.spf), "{}", stdout(&o));
    let o = haetae(&s.path(), &["findings", "--state", "all", "--suppressed"]);
    assert!(stdout(&o).contains(&s.spf), "{}", stdout(&o));
    let o = haetae(&s.path(), &["rules", "explain", &s.ssh[..8]]);
    assert!(!stdout(&o).contains("rules apply"), "stored result is current: {}", stdout(&o));
}

#[test]
fn a_broken_rules_file_is_refused_with_line_and_column_and_loses_nothing() {
    let s = seeded();
    std::fs::write(
        s.path().join("rules.toml"),
        "[[rule]]\nname = \"typo\"\nwhen = 'finding.sevrity == \"high\"'\nadd = 1\n",
    )
    .unwrap();
    for args in [&["rules", "check"][..], &["rules", "apply"], &["findings"]] {
        let o = haetae(&s.path(), args);
        assert_eq!(code(&o), 1, "{args:?}");
        let err = stderr(&o);
        assert!(err.contains("rules.toml:3:9") && err.contains("rule `typo`") && err.contains("sevrity"), "{err}");
    }
    std::fs::remove_file(s.path().join("rules.toml")).unwrap();
    let o = haetae(&s.path(), &["findings", "--state", "all"]);
    assert!(stdout(&o).contains("3 finding(s)"), "nothing was lost: {}", stdout(&o));
}

#[test]
fn overdue_lists_open_findings_past_their_sla() {
    use haetae_findings::{Asset, CheckId, Observation, State, Timestamp, Transition};
    let s = seeded();
    // Two more findings, first seen three days ago; one of them is fixed.
    let (old, old_fixed) = {
        let store = crate::support::open(&s.path());
        let mk = |host: &str| {
            let mut o = Observation::new(
                CheckId::HttpCspMissing,
                Asset { host: host.into(), ip: None, port: Some(443) },
                "/",
                "KR-2026-0142",
            );
            o.seen_at = Timestamp::now().plus_days(-3);
            store.upsert(&o).unwrap().0
        };
        let (a, b) = (mk("old.agency.test"), mk("older.agency.test"));
        store.triage(&[&b], &Transition::new(State::Fixed, "kim")).unwrap();
        (a, b)
    };
    std::fs::write(s.path().join("rules.toml"), "[[rule]]\nname = \"all\"\nwhen = 'true'\nsla_days = 1\n").unwrap();
    let o = haetae(&s.path(), &["rules", "apply"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = haetae(&s.path(), &["findings", "--overdue", "--json", "--state", "all"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let ids: Vec<&str> = v.as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [old.as_str()], "only the open one past its day: not the fresh ones, not the fixed {old_fixed}");
    let o = haetae(&s.path(), &["findings", "--overdue"]);
    assert!(stdout(&o).contains("1 finding(s)") && stdout(&o).contains("new, overdue"), "{}", stdout(&o));
    let o = haetae(&s.path(), &["findings", "show", &old[..8]]);
    assert!(stdout(&o).contains("(OVERDUE)"), "{}", stdout(&o));
}
