//! Export tests: each format's shape, SARIF against the official schema,
//! escaping, snapshots of every format (time and version fixed by the
//! report), and no secret surviving any format.

mod redaction;
mod snapshots;

use std::net::IpAddr;

use super::{Format, Lang, Report, ReportEngagement, write};
use crate::check::CheckId;
use crate::model::{Baseline, Finding, HistoryEntry, Priority, RuleHit, Severity, State};
use crate::time::Timestamp;

pub(super) fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Five findings touching every field and state.
pub(super) fn fixture() -> Vec<Finding> {
    let mut env = Finding::example();
    env.id = "a1b2c3d4e5f60718".into();
    env.priority = Priority::P1;
    env.score = 92.5;
    env.first_seen = at("2026-11-02T03:04:05Z");
    env.last_seen = at("2026-11-19T10:00:00Z");
    env.seen_count = 4;
    env.engagement = "KR-2026-0142".into();
    env.evidence = "https://portal.agency.test/.env: 200; APP_ENV=production\nAPP_NAME=\"Portal, citizens\"".into();
    env.rules = vec![
        RuleHit { name: "default".into(), effect: "+56 (critical x firm)".into() },
        RuleHit { name: "citizen data portals".into(), effect: "+30".into() },
        RuleHit {
            name: "anything exploitable from the internet is P1".into(),
            effect: "priority P1, SLA 2 days".into(),
        },
    ];
    env.history = vec![
        HistoryEntry { at: env.first_seen, actor: "scanner".into(), from: None, to: State::Open, note: None },
        HistoryEntry {
            at: at("2026-11-03T01:00:00Z"),
            actor: "kim".into(),
            from: Some(State::Open),
            to: State::Confirmed,
            note: Some("reproduced from outside".into()),
        },
    ];
    env.state = State::Confirmed;
    env.due = Some(at("2026-11-04T03:04:05Z"));
    env.assignee = Some("park".into());

    let mut ssh = Finding::example();
    ssh.id = "0000aaaa1111bbbb".into();
    ssh.check = CheckId::SvcSshExposed;
    ssh.title = "SSH service exposed".into();
    ssh.severity = Severity::Info;
    ssh.priority = Priority::P4;
    ssh.score = 4.0;
    ssh.host = "포털.agency.test".into();
    ssh.ip = Some(IpAddr::from([127, 77, 1, 22]));
    ssh.port = Some(22);
    ssh.url = None;
    ssh.location = String::new();
    ssh.evidence = "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.1".into();
    ssh.cwe = Some(668);
    ssh.references = vec![];
    ssh.remediation = "Allow SSH from the bastion only.".into();
    ssh.baseline = Baseline::Unchanged;

    let mut spf = Finding::example();
    spf.id = "5555cccc6666dddd".into();
    spf.check = CheckId::DnsSpfMissing;
    spf.title = "No SPF record".into();
    spf.severity = Severity::Low;
    spf.priority = Priority::P4;
    spf.score = 8.0;
    spf.state = State::Fixed;
    spf.host = "agency.test".into();
    spf.ip = None;
    spf.port = None;
    spf.url = None;
    spf.location = "TXT".into();
    spf.evidence = "no TXT record starting with v=spf1".into();
    spf.baseline = Baseline::Absent;

    let mut admin = Finding::example();
    admin.id = "7777eeee8888ffff".into();
    admin.check = CheckId::HttpExposedAdmin;
    admin.title = "Administration interface exposed".into();
    admin.severity = Severity::Medium;
    admin.priority = Priority::P3;
    admin.score = 30.0;
    admin.state = State::FalsePositive;
    admin.url = Some("https://www.agency.test/admin/".into());
    admin.location = "https://www.agency.test/admin/".into();
    admin.history = vec![HistoryEntry {
        at: at("2026-11-05T00:00:00Z"),
        actor: "lee".into(),
        from: Some(State::Open),
        to: State::FalsePositive,
        note: Some("login page of the public CMS, behind SSO".into()),
    }];
    admin.baseline = Baseline::Reopened;

    let mut custom = Finding::example();
    custom.id = "9999000011112222".into();
    custom.check = CheckId::Custom("x.team-banner".into());
    custom.title = "Banner <script>alert(1)</script> & \"quotes\"".into();
    custom.severity = Severity::High;
    custom.priority = Priority::P2;
    custom.score = 60.0;
    custom.state = State::AcceptedRisk;
    custom.accepted_until = Some(at("2026-12-31T23:59:59Z"));
    custom.evidence = "=HYPERLINK(\"http://evil.test\") | `code` **bold** [link](javascript:x)".into();
    custom.url = Some("https://www.agency.test/a b/ü".into());
    custom.cwe = None;
    custom.history = vec![HistoryEntry {
        at: at("2026-11-06T00:00:00Z"),
        actor: "kim".into(),
        from: Some(State::Open),
        to: State::AcceptedRisk,
        note: Some("WAF rule in place".into()),
    }];
    for f in [&mut ssh, &mut spf, &mut admin, &mut custom] {
        f.first_seen = at("2026-11-02T03:04:05Z");
        f.last_seen = at("2026-11-19T10:00:00Z");
        f.engagement = "KR-2026-0142".into();
        f.cwe = f.check.meta().and_then(|m| m.cwe);
        f.references = f.cwe.map(|n| format!("https://cwe.mitre.org/data/definitions/{n}.html")).into_iter().collect();
        f.remediation = format!("Fix {}.", f.check);
    }
    vec![env, custom, admin, ssh, spf]
}

pub(super) fn report(findings: &[Finding], lang: Lang) -> Report<'_> {
    Report {
        engagement: ReportEngagement {
            id: "KR-2026-0142".into(),
            agency: "Ministry of Example".into(),
            not_before: Some(at("2026-11-01T00:00:00Z")),
            not_after: Some(at("2026-12-31T23:59:59Z")),
        },
        generated_at: at("2026-11-20T09:00:00Z"),
        tool_version: "0.0.0-test".into(),
        filters: vec![
            "state: open, confirmed, false-positive, accepted-risk, fixed".into(),
            "suppressed hidden".into(),
        ],
        findings,
        lang,
    }
}

pub(super) fn render(findings: &[Finding], format: Format, lang: Lang) -> String {
    let mut out = Vec::new();
    write(&report(findings, lang), format, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn formats_and_languages_parse() {
    for f in Format::ALL {
        assert_eq!(f.as_str().parse::<Format>().unwrap(), *f);
        assert_eq!(f.extension(), f.as_str());
    }
    assert_eq!("Markdown".parse::<Format>().unwrap(), Format::Md);
    let e = "pdf".parse::<Format>().unwrap_err().to_string();
    assert!(e.contains("export format `pdf`") && e.contains("json, jsonl, csv, sarif, md, html"), "{e}");
    assert_eq!("KO".parse::<Lang>().unwrap(), Lang::Ko);
    assert!("jp".parse::<Lang>().is_err());
}

#[test]
fn json_document_has_engagement_filters_summary_and_every_field() {
    let findings = fixture();
    let v: serde_json::Value = serde_json::from_str(&render(&findings, Format::Json, Lang::En)).unwrap();
    assert_eq!(v["engagement"]["id"], "KR-2026-0142");
    assert_eq!(v["engagement"]["window"]["not_after"], "2026-12-31T23:59:59Z");
    assert_eq!(v["generated_at"], "2026-11-20T09:00:00Z");
    assert_eq!(v["tool"]["version"], "0.0.0-test");
    assert_eq!(v["filters"][1], "suppressed hidden");
    assert_eq!(v["summary"]["total"], 5);
    assert_eq!(v["summary"]["by_priority"]["P4"], 2);
    assert_eq!(v["summary"]["by_state"]["fixed"], 1);
    assert_eq!(v["summary"]["by_kisa"]["PL"], 1);
    let list = v["findings"].as_array().unwrap();
    assert_eq!(list.len(), 5);
    let spec = Finding::example().to_json();
    let keys = spec.as_object().unwrap().keys().map(String::as_str).chain(["owasp", "kisa"]);
    for key in keys {
        assert!(list.iter().all(|f| f.get(key).is_some()), "{key}");
    }
    assert_eq!(list[0]["kisa"], "PL");
    assert_eq!(list[0]["owasp"], "A01:2021");

    let empty: serde_json::Value = serde_json::from_str(&render(&[], Format::Json, Lang::En)).unwrap();
    assert_eq!(empty["findings"].as_array().unwrap().len(), 0);
}

#[test]
fn jsonl_is_one_finding_per_line_with_the_export_context() {
    let findings = fixture();
    let text = render(&findings, Format::Jsonl, Lang::En);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5);
    for (line, f) in lines.iter().zip(&findings) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["id"], f.id.as_str());
        assert_eq!(v["export"]["filters"][1], "suppressed hidden");
    }
    assert_eq!(render(&[], Format::Jsonl, Lang::En), "");
}

/// RFC 4180 records (enough for the test: quoted fields, doubled quotes, CRLF).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    let mut row = vec![];
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && row.is_empty(), "text ends with CRLF");
    rows
}

#[test]
fn csv_has_a_bom_quotes_by_rfc_4180_and_defuses_formulas() {
    let findings = fixture();
    let text = render(&findings, Format::Csv, Lang::En);
    let body = text.strip_prefix('\u{feff}').expect("BOM");
    assert!(body.contains("\r\n"));
    let rows = parse_csv(body);
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r.len() == rows[0].len()), "every row has every column");
    let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    assert_eq!(rows[1][col("evidence")], findings[0].evidence, "commas, quotes and newlines survive");
    assert_eq!(rows[2][col("evidence")], format!("'{}", findings[1].evidence), "formula defused");
    assert_eq!(rows[4][col("host")], "포털.agency.test");
    assert_eq!(rows[1][col("kisa")], "PL");
    assert_eq!(rows[1][col("cwe")], "CWE-538");
    assert!(rows[1][col("filters")].contains("suppressed hidden"));
    assert_eq!(parse_csv(render(&[], Format::Csv, Lang::En).trim_start_matches('\u{feff}')).len(), 1);
}

/// The OASIS schema's `language` pattern has a stray `]` and fails the
/// draft-07 meta-schema; drop it from the in-memory copy only (a known
/// defect of the published schema), so the committed file stays verbatim.
const BROKEN_LANGUAGE_PATTERN: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";

fn drop_broken_pattern(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            if map.get("pattern").and_then(|p| p.as_str()) == Some(BROKEN_LANGUAGE_PATTERN) {
                map.remove("pattern");
            }
            map.values_mut().for_each(drop_broken_pattern);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_broken_pattern),
        _ => {}
    }
}

/// Validate against the OASIS SARIF 2.1.0 schema (`Schemata/sarif-schema-2.1.0.json`
/// of oasis-tcs/sarif-spec, its JSON Schema draft-07 edition), committed beside this file.
fn validate_sarif(text: &str) -> serde_json::Value {
    let mut schema: serde_json::Value = serde_json::from_str(include_str!("sarif-schema-2.1.0.json")).unwrap();
    drop_broken_pattern(&mut schema);
    let validator = jsonschema::validator_for(&schema).unwrap();
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    let errors: Vec<String> = validator.iter_errors(&v).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    v
}

#[test]
fn sarif_is_valid_and_carries_locations_fingerprints_baseline_rank_and_triage() {
    let findings = fixture();
    let v = validate_sarif(&render(&findings, Format::Sarif, Lang::En));
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 5);
    let env_rule = rules.iter().find(|r| r["id"] == "http.exposed-env").unwrap();
    assert_eq!(env_rule["shortDescription"]["text"], "Environment file (.env) exposed");
    assert!(env_rule["help"]["text"].as_str().unwrap().contains(".env"));
    assert_eq!(env_rule["properties"]["cwe"], "CWE-538");
    assert!(env_rule["properties"]["tags"].as_array().unwrap().iter().any(|t| t == "external/cwe/cwe-538"));
    let results = run["results"].as_array().unwrap();
    let by_id = |id: &str| results.iter().find(|r| r["partialFingerprints"]["haetae/v1"] == id).unwrap();
    let env = by_id("a1b2c3d4e5f60718");
    assert_eq!(env["level"], "error");
    assert_eq!(env["rank"], 100.0);
    assert_eq!(env["baselineState"], "new");
    assert_eq!(env["properties"]["security-severity"], "8.0");
    assert_eq!(env["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "https://portal.agency.test/.env");
    assert_eq!(env["suppressions"], serde_json::json!([]));
    assert_eq!(rules[env["ruleIndex"].as_u64().unwrap() as usize]["id"], "http.exposed-env");
    let admin = by_id("7777eeee8888ffff");
    assert_eq!(admin["suppressions"][0]["status"], "accepted");
    assert!(admin["suppressions"][0]["justification"].as_str().unwrap().contains("behind SSO"));
    assert_eq!(admin["baselineState"], "new", "reopened is new to SARIF");
    let accepted = by_id("9999000011112222");
    assert!(
        accepted["suppressions"][0]["justification"].as_str().unwrap().starts_with("accepted risk until 2026-12-31")
    );
    assert_eq!(
        accepted["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "https://www.agency.test/a%20b/%C3%BC"
    );
    let ssh = by_id("0000aaaa1111bbbb");
    assert_eq!(ssh["level"], "note");
    assert_eq!(ssh["baselineState"], "unchanged");
    assert_eq!(
        ssh["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "tcp://%ED%8F%AC%ED%84%B8.agency.test:22"
    );
    let spf = by_id("5555cccc6666dddd");
    assert_eq!((spf["kind"].as_str(), spf["level"].as_str()), (Some("pass"), Some("none")));
    assert_eq!(spf["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "dns:agency.test");

    let empty = validate_sarif(&render(&[], Format::Sarif, Lang::En));
    assert_eq!(empty["runs"][0]["results"], serde_json::json!([]));
}

#[test]
fn html_escapes_finding_texts_and_loads_nothing() {
    let findings = fixture();
    let html = render(&findings, Format::Html, Lang::En);
    assert!(!html.contains("<script"), "no script, not even from a title");
    assert!(html.contains("Banner &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"));
    for banned in ["src=", "href=", "@import", "url("] {
        assert!(!html.contains(banned), "{banned}");
    }
    assert!(html.contains("<svg"));
    let md = render(&findings, Format::Md, Lang::En);
    assert!(md.contains("Banner \\<script\\>alert(1)\\</script\\>"));
    assert!(md.contains("```text\n=HYPERLINK(\"http://evil.test\") | `code`"), "evidence is fenced, so literal");
}

#[test]
fn korean_reports_translate_labels_not_findings() {
    let findings = fixture();
    for format in [Format::Md, Format::Html] {
        let ko = render(&findings, format, Lang::Ko);
        for word in
            ["보안 점검 보고서", "우선순위별", "호스트별", "조치 방법", "긴급", "오탐", "위험 수용", "위치 공개"]
        {
            assert!(ko.contains(word), "{format}: {word}");
        }
        assert!(ko.contains("Remove the file from the web root."), "finding texts stay as written");
        assert!(!ko.contains("Remediation"));
    }
}
