//! Small faults of issue 13: a deleted audit log, a missing rules file, a
//! workspace never scanned, an actor without `$USER`.

use std::path::Path;

use haetae_findings::audit::{AuditEntry, AuditLog, Protocol, Verdict};

use crate::support::{code, haetae, stderr, stdout};

fn write_audit_log(dir: &Path, n: u16) {
    let log = AuditLog::open(&dir.join(".haetae/audit.jsonl")).unwrap();
    for i in 0..n {
        log.append(AuditEntry {
            engagement: "KR-2026-0142".into(),
            target: format!("h{i}.agency.test"),
            address: Some([127, 77, 0, 1].into()),
            port: Some(443),
            protocol: Protocol::Tcp,
            probe: "tcp.connect".into(),
            verdict: Verdict::Allowed,
            reason: "in scope".into(),
            outcome: "connected".into(),
        })
        .unwrap();
    }
    log.sync().unwrap();
}

#[test]
fn audit_verify_says_a_deleted_log_is_missing_when_its_head_seals_records() {
    let d = tempfile::tempdir().unwrap();
    // Never scanned: nothing to verify, said so.
    let o = haetae(d.path(), &["audit", "verify"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("nothing has been scanned"), "{}", stderr(&o));

    write_audit_log(d.path(), 4);
    let o = haetae(d.path(), &["audit", "verify"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("4 record(s), hash chain intact"), "{}", stdout(&o));

    std::fs::remove_file(d.path().join(".haetae/audit.jsonl")).unwrap();
    let o = haetae(d.path(), &["audit", "verify"]);
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert!(err.contains("log file is missing") && err.contains("seals 4 record(s)"), "{err}");
    assert!(!err.contains("nothing has been scanned"), "{err}");
    let o = haetae(d.path(), &["audit", "export"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("seals 4 record(s)"), "{}", stderr(&o));
}

#[test]
fn a_rules_file_named_in_haetae_toml_must_exist() {
    let d = tempfile::tempdir().unwrap();
    // Not mentioned and absent: the default score, no error.
    std::fs::write(d.path().join("haetae.toml"), "store = \".haetae\"\n").unwrap();
    let o = haetae(d.path(), &["rules", "check"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("the default score"), "{}", stdout(&o));

    // Named, even as the default name, and absent: refused with where it was named.
    for (line, name) in
        [("rules = \"team-rules.toml\"\n", "team-rules.toml"), ("rules = \"rules.toml\"\n", "rules.toml")]
    {
        std::fs::write(d.path().join("haetae.toml"), format!("store = \".haetae\"\n{line}")).unwrap();
        for args in [&["rules", "check"][..], &["scan"], &["findings"]] {
            let o = haetae(d.path(), args);
            let err = stderr(&o);
            assert_eq!(code(&o), 1, "{args:?}: {err}");
            assert!(err.contains("haetae.toml:2:9: rules:") && err.contains(name), "{args:?}: {err}");
            assert!(err.contains("does not exist"), "{args:?}: {err}");
        }
        // Present: fine again.
        std::fs::write(d.path().join(name), "").unwrap();
        let o = haetae(d.path(), &["rules", "check"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        std::fs::remove_file(d.path().join(name)).unwrap();
    }
}
