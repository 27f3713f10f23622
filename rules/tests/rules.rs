//! rules.toml: each action, the ordering semantics, every error path, and
//! determinism.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use haetae_findings::{CheckId, Finding, Prioritizer, Priority, Severity, Timestamp};
use haetae_rules::RuleSet;
use proptest::prelude::*;

fn rules(text: &str) -> RuleSet {
    RuleSet::parse(Path::new("rules.toml"), text).unwrap_or_else(|e| panic!("{e:#?}"))
}

fn errors(text: &str) -> Vec<String> {
    match RuleSet::parse(Path::new("rules.toml"), text) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

/// A medium, firm finding (default score 32, band P3) on `host`.
fn finding(host: &str) -> Finding {
    let mut f = Finding::example();
    f.host = host.into();
    f.severity = Severity::Medium;
    f.tags.clear();
    f
}

fn scored(r: &RuleSet, mut f: Finding) -> Finding {
    r.prioritize(&mut f, Timestamp::now());
    f
}

#[test]
fn no_rules_is_the_default_score_and_band_sla() {
    let f = scored(&RuleSet::empty(), finding("www.agency.test"));
    assert_eq!((f.score, f.priority, f.suppressed), (32.0, Priority::P3, false));
    assert_eq!(f.due, Some(f.first_seen.plus_days(90)));
    assert_eq!(f.rules.first().map(|h| h.name.as_str()), Some("default"));
    assert!(f.rules.last().unwrap().effect.contains("score 32 -> P3 (band of score 32)"), "{:?}", f.rules);
}

#[test]
fn each_action_does_what_it_says() {
    let r = rules(
        r#"
[[rule]]
name = "portals"
when = 'asset.host.endsWith("portal.agency.test")'
add = 30
tag = "citizen-data"

[[rule]]
name = "citizen data is P1"
when = '"citizen-data" in asset.tags'
priority = "P1"
sla_days = 3

[[rule]]
name = "noise"
when = 'finding.check == "dns.caa-missing"'
suppress = true
"#,
    );
    let f = scored(&r, finding("portal.agency.test"));
    assert_eq!(f.score, 62.0, "32 + 30");
    assert_eq!(f.priority, Priority::P1, "the second rule saw the first rule's tag");
    assert!(f.tags.contains(&"citizen-data".to_owned()));
    assert_eq!(f.due, Some(f.first_seen.plus_days(3)));
    assert!(!f.suppressed);
    let names: Vec<&str> = f.rules.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["default", "portals", "citizen data is P1", "result"]);
    assert_eq!(f.rules[1].effect, "+30, tag citizen-data");
    assert_eq!(f.rules[2].effect, "priority P1, sla 3 days");

    let other = scored(&r, finding("www.agency.test"));
    assert_eq!((other.score, other.priority), (32.0, Priority::P3));
    assert!(!other.tags.contains(&"citizen-data".to_owned()));

    let mut caa = finding("agency.test");
    caa.check = CheckId::DnsCaaMissing;
    let caa = scored(&r, caa);
    assert!(caa.suppressed);
}

#[test]
fn the_most_urgent_priority_and_the_shortest_sla_win_and_suppression_keeps_the_band() {
    let r = rules(
        r#"
[[rule]]
name = "a"
when = 'true'
priority = "P3"
sla_days = 30
[[rule]]
name = "b"
when = 'true'
priority = "P1"
sla_days = 60
[[rule]]
name = "c"
when = 'true'
priority = "P2"
suppress = true
"#,
    );
    let f = scored(&r, finding("x.agency.test"));
    assert_eq!(f.priority, Priority::P1);
    assert_eq!(f.due, Some(f.first_seen.plus_days(30)));
    assert!(f.suppressed, "suppressed, and still P1: listed under suppressed, not deleted");
    // A rule can also keep noise low: its band wins over the score's.
    let low = rules("[[rule]]\nname = \"hygiene\"\nwhen = 'true'\npriority = \"P4\"\n");
    let mut crit = finding("x.agency.test");
    crit.severity = Severity::Critical;
    let crit = scored(&low, crit);
    assert_eq!((crit.score, crit.priority), (80.0, Priority::P4));
    assert!(crit.rules.last().unwrap().effect.contains("set by a rule to P4; the score's band is P1"));
}

#[test]
fn sla_defaults_per_band_come_from_the_sla_table() {
    let r = rules("[sla]\nP3 = 45\n");
    let f = scored(&r, finding("x.agency.test"));
    assert_eq!(f.due, Some(f.first_seen.plus_days(45)));
    let mut old = finding("x.agency.test");
    old.first_seen = Timestamp::now().plus_days(-100);
    let old = scored(&r, old);
    assert!(old.is_overdue(Timestamp::now()));
    let mut fixed = old.clone();
    fixed.state = haetae_findings::State::Fixed;
    assert!(!fixed.is_overdue(Timestamp::now()), "only open and confirmed findings are overdue");
}

#[test]
fn rescoring_replaces_the_tags_rules_gave() {
    let tagging = rules("[[rule]]\nname = \"t\"\nwhen = 'true'\ntag = \"hot\"\n");
    let mut f = finding("x.agency.test");
    f.tags.push("internet-facing".into());
    let f = scored(&tagging, f);
    assert_eq!(f.tags, ["internet-facing", "hot"]);
    assert_eq!(f.score, 42.0, "exposure: internet-facing adds 10");
    let again = scored(&tagging, f.clone());
    assert_eq!(again.tags, ["internet-facing", "hot"], "not twice");
    let gone = scored(&RuleSet::empty(), again);
    assert_eq!(gone.tags, ["internet-facing"], "the rule is gone, so is its tag");
}

#[test]
fn a_rule_that_fails_on_one_finding_is_recorded_and_skipped() {
    // Fine on the sample (cwe 538), a division by zero on cwe 200.
    let r = rules(
        r#"
[[rule]]
name = "fragile"
when = '100 / (finding.cwe - 200) > 0'
add = 5
[[rule]]
name = "after"
when = 'true'
add = 1
"#,
    );
    let mut f = finding("x.agency.test");
    f.cwe = Some(200);
    let f = scored(&r, f);
    assert_eq!(f.score, 33.0, "the failing rule is skipped, the next one still runs");
    let hit = f.rules.iter().find(|h| h.name == "fragile").unwrap();
    assert!(hit.effect.starts_with("error, skipped:"), "{}", hit.effect);
}

#[test]
fn every_error_names_the_rule_line_and_column() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "syntax",
            "[[rule]]\nname = \"broken\"\nwhen = 'finding.severity == '\nadd = 1\n",
            &["rules.toml:3:", "rule `broken`", "not a CEL expression"],
        ),
        (
            "unknown field",
            "[[rule]]\nname = \"typo\"\nwhen = 'finding.sevrity == \"high\"'\nadd = 1\n",
            &["rules.toml:3:9", "rule `typo`", "sevrity", "expected a true/false condition over finding.{id, check"],
        ),
        (
            "not a bool",
            "[[rule]]\nname = \"number\"\nwhen = 'finding.score + 1.0'\nadd = 1\n",
            &["rules.toml:3:9", "rule `number`", "the condition gave a number, not true or false"],
        ),
        (
            "wrong type",
            "[[rule]]\nname = \"mixed\"\nwhen = 'finding.score > \"high\"'\nadd = 1\n",
            &["rules.toml:3:9", "rule `mixed`"],
        ),
        (
            "bad priority",
            "[[rule]]\nname = \"p\"\nwhen = 'true'\npriority = \"P0\"\n",
            &["rules.toml:4:12", "P1, P2, P3 or P4"],
        ),
        ("bad sla", "[[rule]]\nname = \"s\"\nwhen = 'true'\nsla_days = 0\n", &["rules.toml:4:12", "sla_days"]),
        ("no action", "[[rule]]\nname = \"idle\"\nwhen = 'true'\n", &["rules.toml:2:8", "no action"]),
        (
            "unknown key",
            "[[rule]]\nname = \"k\"\nwhen = 'true'\nscore = 3\n",
            &["rules.toml:4:1", "unknown field `score`"],
        ),
        (
            "duplicate name",
            "[[rule]]\nname = \"d\"\nwhen = 'true'\nadd = 1\n[[rule]]\nname = \"d\"\nwhen = 'true'\nadd = 2\n",
            &["rules.toml:6:8", "another rule has this name"],
        ),
        ("bad sla table", "[sla]\nP2 = -1\n", &["rules.toml:2:6", "[sla] P2"]),
        ("not toml", "[[rule]\nname = 1\n", &["rules.toml:1:"]),
    ];
    for (what, text, wants) in cases {
        let errs = errors(text).join("\n");
        for w in *wants {
            assert!(errs.contains(w), "{what}: `{w}` not in:\n{errs}");
        }
    }
}

#[test]
fn a_missing_file_is_no_rules_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = RuleSet::load(&dir.path().join("rules.toml")).unwrap();
    assert!(r.rules().is_empty());
    std::fs::write(dir.path().join("rules.toml"), "[[rule]]\nname = \"x\"\n").unwrap();
    let e = RuleSet::load(&dir.path().join("rules.toml")).unwrap_err();
    assert!(e[0].to_string().contains("missing field `when`"), "{}", e[0]);
}

#[test]
fn the_starter_rules_load() {
    let text = include_str!("../../src/commands/starters/rules.toml");
    let r = rules(text);
    assert!(r.rules().len() >= 3);
    let mut caa = finding("agency.test");
    caa.check = CheckId::DnsCaaMissing;
    caa.severity = Severity::Low;
    assert_eq!(scored(&r, caa).priority, Priority::P4);
    let mut crit = finding("www.agency.test");
    crit.severity = Severity::Critical;
    crit.confidence = haetae_findings::Confidence::Tentative;
    let crit = scored(&r, crit);
    assert_eq!(crit.priority, Priority::P1);
    assert_eq!(crit.due, Some(crit.first_seen.plus_days(2)));
}

fn arb_finding() -> impl Strategy<Value = Finding> {
    (0usize..5, 0usize..3, 0usize..4, any::<bool>(), 0i64..400).prop_map(|(sev, conf, host, tagged, age)| {
        let mut f = Finding::example();
        f.severity = Severity::ALL[sev];
        f.confidence = haetae_findings::Confidence::ALL[conf];
        f.host = ["portal.agency.test", "www.agency.test", "agency.test", "db.agency.test"][host].into();
        f.id = format!("{host}{sev}{conf}{age}");
        f.tags = if tagged { vec!["internet-facing".into()] } else { Vec::new() };
        f.first_seen = Timestamp::from_unix(1_790_000_000 - age * 86_400);
        f
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Scoring depends on the finding and the rules only: the same findings,
    /// in any order, score the same, and scoring twice changes nothing.
    #[test]
    fn scoring_is_deterministic_and_order_independent(
        findings in proptest::collection::vec(arb_finding(), 1..20),
        seed in any::<u64>(),
    ) {
        // Distinct ids, so a sort by id is one order.
        let findings: Vec<Finding> =
            findings.into_iter().enumerate().map(|(i, mut f)| { f.id = format!("{i:03}-{}", f.id); f }).collect();
        let r = rules(include_str!("../../src/commands/starters/rules.toml"));
        let now = Timestamp::from_unix(1_790_000_000);
        let score = |list: &[Finding]| {
            let mut out: Vec<Finding> = list.iter().cloned().map(|mut f| { r.prioritize(&mut f, now); f }).collect();
            out.sort_by(|a, b| a.id.cmp(&b.id));
            out
        };
        let forward = score(&findings);
        let mut shuffled = findings.clone();
        let n = shuffled.len();
        for i in 0..n {
            let j = ((seed >> (i % 32)) as usize + i * 7) % n;
            shuffled.swap(i, j);
        }
        prop_assert_eq!(&forward, &score(&shuffled));
        let twice: Vec<Finding> = forward.iter().cloned().map(|mut f| { r.prioritize(&mut f, now); f }).collect();
        prop_assert_eq!(forward, twice);
    }
}
