//! How a template reads responses: paths, limits, groups, negation and what
//! reaches the evidence.

use std::path::Path;

use super::response;
use crate::templates::compile::parse_file;
use crate::templates::{BODY_LIMIT, EVIDENCE_LIMIT, Template};

/// One x.* template over `paths` with the given match and extract sections.
fn team(paths: &str, rest: &str) -> Template {
    let text = format!(
        "[[template]]\nid = \"x.t\"\ntitle = \"T\"\nseverity = \"low\"\nremediation = \"Fix.\"\n[template.request]\npaths = {paths}\n{rest}"
    );
    let mut templates = parse_file(Path::new("t.toml"), &text, "t.toml").unwrap_or_else(|e| panic!("{e:#?}"));
    templates.remove(0)
}

#[test]
fn any_path_may_match_and_the_evidence_names_it() {
    let t = team("[\"/a\", \"/b\"]", "[template.match]\n[[template.match.matcher]]\nbody = 'hit'");
    assert_eq!(t.requests().iter().map(|k| k.path.as_str()).collect::<Vec<_>>(), ["/a", "/b"]);
    let a = response("/a", 200, &[], "miss");
    let b = response("/b", 404, &[], "a hit");
    assert_eq!(t.evaluate(&[&a, &b]).as_deref(), Some("https://portal.agency.test/b: 404; body matches `hit`"));
    assert_eq!(t.evaluate(&[&a]), None);
    assert_eq!(t.evaluate(&[]), None);
}

#[test]
fn matchers_read_only_the_first_mebibyte_of_the_body() {
    let t = team("[\"/\"]", "[template.match]\n[[template.match.matcher]]\nbody = 'needle'");
    let mut body = vec![b' '; BODY_LIMIT - 6];
    body.extend_from_slice(b"needle");
    assert!(t.evaluate(&[&response("/", 200, &[], &body)]).is_some(), "ends exactly at the limit");
    body.insert(0, b' ');
    assert!(t.evaluate(&[&response("/", 200, &[], &body)]).is_none(), "one byte past the limit");
}

#[test]
fn evidence_is_capped() {
    let t = team(
        "[\"/\"]",
        "[template.match]\n[[template.match.matcher]]\nstatus = [200]\n[[template.extract]]\nbody = '(x+)'",
    );
    let evidence = t.evaluate(&[&response("/", 200, &[], "x".repeat(1000))]).unwrap();
    let detail = evidence.strip_prefix("https://portal.agency.test/: 200; ").unwrap();
    assert_eq!(detail.chars().count(), EVIDENCE_LIMIT);
    assert!(detail.ends_with('…'));
}

#[test]
fn groups_negation_notes_and_case_insensitive_names() {
    let t = team(
        "[\"/\"]",
        r#"[template.match]
condition = "any"
[[template.match.matcher]]
all = [{ header = "content-type", regex = "json" }, { body = "error", negate = true }]
note = "clean JSON"
[[template.match.matcher]]
any = [{ status = [500] }, { header = "X-Debug" }]
negate = true
"#,
    );
    let json = response("/", 200, &[("CONTENT-TYPE", "application/json"), ("X-Debug", "1")], "{}");
    assert_eq!(t.evaluate(&[&json]).as_deref(), Some("https://portal.agency.test/: 200; clean JSON"));
    let json_error = response("/", 200, &[("Content-Type", "application/json"), ("X-Debug", "1")], "{\"error\":1}");
    assert_eq!(t.evaluate(&[&json_error]), None);
    let plain = response("/", 200, &[], "");
    assert_eq!(t.evaluate(&[&plain]).as_deref(), Some("https://portal.agency.test/: 200; matched"));
}

#[test]
fn cookie_and_authorization_values_never_reach_the_evidence() {
    let t = team(
        "[\"/\"]",
        "[template.match]\n[[template.match.matcher]]\nheader = \"Set-Cookie\"\n[[template.extract]]\nheader = \"Set-Cookie\"\n[[template.extract]]\nheader = \"Authorization\"\nregex = '(.*)'",
    );
    let r = response(
        "/",
        200,
        &[("Set-Cookie", "sid=0123456789abcdef; Path=/"), ("Authorization", "Bearer abcdefghijklmnop")],
        "",
    );
    assert_eq!(
        t.evaluate(&[&r]).as_deref(),
        Some("https://portal.agency.test/: 200; Set-Cookie: sid=[redacted]; Path=/; Authorization: Bearer [redacted]")
    );
}

#[test]
fn secret_extractors_mask_what_redaction_does_not_know() {
    let t = team(
        "[\"/\"]",
        "[template.match]\n[[template.match.matcher]]\nbody = 'k='\n[[template.extract]]\nbody = 'k=(\\w+)'\nsecret = true",
    );
    let short = response("/", 200, &[], "k=abcdef");
    assert_eq!(t.evaluate(&[&short]).as_deref(), Some("https://portal.agency.test/: 200; [redacted]"));
    let long = response("/", 200, &[], "k=abcdefghijklmnopqrstuvwxyz");
    assert_eq!(t.evaluate(&[&long]).as_deref(), Some("https://portal.agency.test/: 200; abcd…[redacted]"));
}

#[test]
fn request_headers_are_part_of_the_key() {
    let t = team(
        "[\"/\"]\nheaders = { Accept = \"application/json\", \"X-Requested-With\" = \"haetae\" }",
        "[template.match]\n[[template.match.matcher]]\nstatus = [200]",
    );
    let key = &t.requests()[0];
    assert_eq!(
        key.headers,
        [("Accept".to_owned(), "application/json".to_owned()), ("X-Requested-With".to_owned(), "haetae".to_owned())]
    );
    assert_eq!(key.to_string(), "GET / [Accept: application/json] [X-Requested-With: haetae]");
}

#[test]
fn the_example_in_the_module_docs_is_valid() {
    let docs = include_str!("../mod.rs");
    let example: Vec<&str> = docs
        .lines()
        .skip_while(|l| *l != "//! ```toml")
        .skip(1)
        .take_while(|l| *l != "//! ```")
        .map(|l| l.strip_prefix("//! ").unwrap_or(""))
        .collect();
    assert!(example.len() > 20, "{example:?}");
    let templates = parse_file(Path::new("mod.rs"), &example.join("\n"), "docs").unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(templates[0].ports(), Some(&[443, 8443][..]));
}
