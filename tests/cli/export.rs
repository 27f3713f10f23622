//! `haetae export` and `haetae audit export` / `audit verify FILE`, on a
//! workspace whose store and audit log are written directly (no lab).

use std::path::Path;

use haetae_findings::audit::{AuditEntry, AuditLog, Protocol, Verdict};

use crate::support::{code, haetae, seeded, stderr, stdout};

const SCOPE: &str = r#"[engagement]
id = "KR-2026-0142"
agency = "Ministry of Example"
not_before = 2026-11-01T00:00:00Z
not_after = 2026-12-31T23:59:59Z

[scope]
domains = ["agency.test"]
ports = [443]
"#;

fn with_scope(dir: &Path) {
    std::fs::write(dir.join("scope.toml"), SCOPE).unwrap();
}

#[test]
fn json_states_engagement_and_filters_and_selects_like_findings() {
    let s = seeded();
    with_scope(&s.path());
    let o = haetae(&s.path(), &["export", "--format", "json", "--state", "all", "--check", "http.*"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["engagement"]["id"], "KR-2026-0142");
    assert_eq!(v["engagement"]["agency"], "Ministry of Example");
    assert_eq!(v["engagement"]["window"]["not_before"], "2026-11-01T00:00:00Z");
    assert_eq!(v["tool"]["version"], env!("CARGO_PKG_VERSION"));
    let filters: Vec<&str> = v["filters"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(filters.contains(&"check: http.*"), "{filters:?}");
    let ids: Vec<&str> = v["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [s.env.as_str()]);

    // The default states, like `haetae findings`: the fixed SPF finding is left out.
    let o = haetae(&s.path(), &["export", "--format", "jsonl"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 2);
    assert!(!stdout(&o).contains(&s.spf));
    let o = haetae(&s.path(), &["export", "--format", "jsonl", "--since", "2999-01-01"]);
    assert_eq!(stdout(&o), "", "nothing seen since a future date");
}

#[test]
fn every_format_writes_to_out_and_bad_flags_are_usage_errors() {
    let s = seeded();
    with_scope(&s.path());
    for format in ["json", "jsonl", "csv", "sarif", "md", "html"] {
        let file = format!("report.{format}");
        let o = haetae(&s.path(), &["export", "--format", format, "--out", &file, "--lang", "ko", "--state", "all"]);
        assert_eq!(code(&o), 0, "{format}: {}", stderr(&o));
        assert_eq!(stdout(&o), "", "{format}: nothing on stdout with --out");
        let text = std::fs::read_to_string(s.path().join(&file)).unwrap();
        assert!(text.contains(&s.env), "{format}");
        assert!(text.contains("포털.agency.test") || format == "sarif", "{format}");
    }
    let md = std::fs::read_to_string(s.path().join("report.md")).unwrap();
    assert!(md.contains("보안 점검 보고서") && md.contains("Ministry of Example"));
    let csv = std::fs::read(s.path().join("report.csv")).unwrap();
    assert!(csv.starts_with("\u{feff}id,priority".as_bytes()));

    let o = haetae(&s.path(), &["export", "--format", "pdf"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("expected one of json, jsonl, csv, sarif, md, html"), "{}", stderr(&o));
    let o = haetae(&s.path(), &["export", "--format", "md", "--lang", "jp"]);
    assert_eq!(code(&o), 2);
    let o = haetae(&s.path(), &["export", "--format", "md", "--out", "no/such/dir/r.md"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("r.md"), "the error names the file: {}", stderr(&o));
}

#[test]
fn without_a_scope_file_the_findings_name_the_engagement() {
    let s = seeded();
    let o = haetae(&s.path(), &["export", "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("no scope file"), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["engagement"]["id"], "KR-2026-0142");
}

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
            verdict: if i == 2 { Verdict::Refused } else { Verdict::Allowed },
            reason: "127.77.0.1 is inside cidrs 127.77.0.0/20, \"quoted\"".into(),
            outcome: "connected".into(),
        })
        .unwrap();
    }
    log.sync().unwrap();
}

#[test]
fn audit_export_keeps_the_chain_and_verify_names_an_edited_line() {
    let s = seeded();
    write_audit_log(&s.path(), 5);
    let o = haetae(&s.path(), &["audit", "export", "--format", "jsonl", "--out", "audit-copy.jsonl"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let copy = s.path().join("audit-copy.jsonl");
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(s.path().join(".haetae/audit.jsonl")).unwrap());
    assert!(s.path().join("audit-copy.jsonl.head").exists());
    let o = haetae(&s.path(), &["audit", "verify", "audit-copy.jsonl"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("5 record(s), hash chain intact"), "{}", stdout(&o));

    // Edit the third exported line: verify fails and names it.
    let text = std::fs::read_to_string(&copy).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let edited = lines[2].replace("h2.agency.test", "h9.agency.test");
    let tampered = [&lines[..2], &[edited.as_str()], &lines[3..]].concat().join("\n") + "\n";
    std::fs::write(&copy, tampered).unwrap();
    let o = haetae(&s.path(), &["audit", "verify", "audit-copy.jsonl"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("line 3"), "{}", stderr(&o));

    // To stdout: no seal, but the chain still checks.
    let o = haetae(&s.path(), &["audit", "export"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    std::fs::write(s.path().join("piped.jsonl"), stdout(&o)).unwrap();
    let o = haetae(&s.path(), &["audit", "verify", "piped.jsonl"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("hash chain intact; no"), "{}", stdout(&o));
}

#[test]
fn audit_export_csv_has_a_row_per_record_with_hashes() {
    let s = seeded();
    write_audit_log(&s.path(), 3);
    let o = haetae(&s.path(), &["audit", "export", "--format", "csv"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let body = out.strip_prefix('\u{feff}').unwrap();
    let rows: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 4);
    assert!(rows[0].ends_with(",prev,hash"));
    assert!(rows[1].starts_with("1,") && rows[1].contains(&"0".repeat(64)), "{}", rows[1]);
    assert!(rows[3].contains(",refused,"), "{}", rows[3]);
    assert!(rows[1].contains("\"127.77.0.1 is inside cidrs 127.77.0.0/20, \"\"quoted\"\"\""), "{}", rows[1]);
    let o = haetae(&s.path(), &["audit", "export", "--format", "xml"]);
    assert_eq!(code(&o), 2);
}
