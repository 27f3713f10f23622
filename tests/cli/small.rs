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

/// Run the binary with an empty environment (no `$USER`, no `$HAETAE_ACTOR`), plus `env`.
fn haetae_bare(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_haetae"))
        .current_dir(dir)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// Who the password database says runs this test, asked of `id`, not of haetae's code.
fn login_name() -> String {
    let id = |flag: &str| {
        std::process::Command::new("id")
            .arg(flag)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_owned())
    };
    id("-un").unwrap_or_else(|| format!("uid:{}", id("-u").unwrap()))
}

#[test]
fn the_actor_falls_back_to_the_login_name_without_user_or_haetae_actor() {
    let s = crate::support::seeded();
    let o = haetae_bare(&s.path(), &["triage", &s.env, "--state", "confirmed"], &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let f = crate::support::open(&s.path()).get(&s.env).unwrap().unwrap();
    let who = f.history.last().unwrap().actor.clone();
    assert_eq!(who, login_name());
    assert!(!who.is_empty());

    // Anything set still wins over it, in order; empty values are skipped.
    let o = haetae_bare(&s.path(), &["triage", &s.env, "--state", "open"], &[("HAETAE_ACTOR", ""), ("USER", "lee")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = haetae_bare(
        &s.path(),
        &["triage", &s.ssh, "--state", "confirmed"],
        &[("HAETAE_ACTOR", "park"), ("USER", "lee")],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let store = crate::support::open(&s.path());
    assert_eq!(store.get(&s.env).unwrap().unwrap().history.last().unwrap().actor, "lee");
    assert_eq!(store.get(&s.ssh).unwrap().unwrap().history.last().unwrap().actor, "park");
}

#[test]
fn findings_on_a_workspace_never_scanned_is_an_empty_list_and_says_so() {
    let d = tempfile::tempdir().unwrap();
    let check = |what: &str| {
        let o = haetae(d.path(), &["findings"]);
        assert_eq!(code(&o), 0, "{what}: {}", stderr(&o));
        assert!(stdout(&o).starts_with("0 finding(s) [P1: 0, P2: 0, P3: 0, P4: 0]"), "{what}: {}", stdout(&o));
        assert!(stderr(&o).contains("nothing has been scanned in this workspace yet"), "{what}: {}", stderr(&o));
        assert!(stderr(&o).contains(".haetae"), "{what}: {}", stderr(&o));
        let o = haetae(d.path(), &["findings", "--json", "--state", "all"]);
        assert_eq!(code(&o), 0, "{what}: {}", stderr(&o));
        assert_eq!(stdout(&o), "[]\n", "{what}");
        assert!(stderr(&o).contains("nothing has been scanned"), "{what}: {}", stderr(&o));
    };
    // No store: nothing is created either.
    check("no store");
    assert!(!d.path().join(".haetae").exists());
    // A store that holds nothing.
    drop(crate::support::open(d.path()));
    check("empty store");

    // A store with findings says nothing of the kind, even when the filters match none.
    let s = crate::support::seeded();
    for args in [&["findings"][..], &["findings", "--check", "nothing.*", "--json"]] {
        let o = haetae(&s.path(), args);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(!stderr(&o).contains("nothing has been scanned"), "{args:?}: {}", stderr(&o));
    }
}
