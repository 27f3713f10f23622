//! Every problem in a template file is reported at its line and column.

use std::path::Path;

use haetae_findings::SourceError;

use crate::templates::compile::parse_file;

fn errors(text: &str) -> Vec<SourceError> {
    match parse_file(Path::new("team.toml"), text, "team.toml") {
        Ok(templates) => panic!("expected errors, got {} templates", templates.len()),
        Err(errors) => errors,
    }
}

/// A valid template with `extra` lines appended (line 11 onwards).
fn with(extra: &str) -> String {
    format!(
        r#"[[template]]
id = "x.team-check"
title = "Team check"
severity = "medium"
remediation = "Fix it."
[template.request]
paths = ["/debug"]
[template.match]
[[template.match.matcher]]
status = [200]
{extra}"#
    )
}

#[test]
fn the_base_template_is_valid() {
    let templates = parse_file(Path::new("team.toml"), &with(""), "team.toml").unwrap();
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0].position, (2, 6), "the position of the id");
}

#[test]
fn each_error_names_line_and_column() {
    let bad_regex = with("[[template.match.matcher]]\nbody = '(abc'");
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "unknown key",
            "[[template]]\nid = \"x.a\"\ntitle = \"A\"\nseverity = \"low\"\ncolour = \"red\"\n".to_owned(),
            "5:1",
            "unknown field `colour`",
        ),
        (
            "bad method",
            with("").replace("[template.request]\n", "[template.request]\nmethod = \"POST\"\n"),
            "7:10",
            "method `POST` is not allowed",
        ),
        ("bad regex names the pattern", bad_regex, "12:8", "invalid regex `(abc`: unclosed group"),
        (
            "x.* without severity",
            with("").replace("severity = \"medium\"\n", ""),
            "1:1",
            "`severity` is required for x.* templates",
        ),
        (
            "dns.* id",
            with("").replace("x.team-check", "dns.axfr-open"),
            "2:6",
            "only http.*, x.* and the HTTP API checks",
        ),
        ("unknown http id", with("").replace("x.team-check", "http.nope"), "2:6", "unknown check id `http.nope`"),
        ("bad severity", with("").replace("\"medium\"", "\"urgent\""), "4:12", "invalid severity `urgent`"),
        (
            "bad confidence",
            with("").replace("severity = \"medium\"\n", "severity = \"medium\"\nconfidence = \"maybe\"\n"),
            "5:14",
            "invalid confidence `maybe`",
        ),
        (
            "path without a slash",
            with("").replace("[\"/debug\"]", "[\"/ok\", \"debug\"]"),
            "7:17",
            "path `debug` must start with `/`",
        ),
        ("a URL as path", with("").replace("[\"/debug\"]", "[\"/https://evil.test/\"]"), "7:10", "not a URL"),
        ("empty paths", with("").replace("[\"/debug\"]", "[]"), "7:9", "`paths` needs at least one path"),
        (
            "port out of range",
            with("").replace("paths = [\"/debug\"]", "paths = [\"/\"]\nports = [443, 70000]"),
            "8:15",
            "port 70000 is not in 1..=65535",
        ),
        (
            "bad scheme",
            with("").replace("paths = [\"/debug\"]", "paths = [\"/\"]\nschemes = [\"ftp\"]"),
            "8:12",
            "scheme `ftp` is not http or https",
        ),
        (
            "reserved header",
            with("").replace("paths = [\"/debug\"]", "paths = [\"/\"]\nheaders = { Host = \"evil.test\" }"),
            "8:13",
            "header `Host` is set by the engine",
        ),
        (
            "no matcher",
            with("").replace("[[template.match.matcher]]\nstatus = [200]\n", ""),
            // At the template: the [template.match] table has no position of its own
            // when it is only implied by [[template.match.matcher]].
            "1:1",
            "at least one [[template.match.matcher]]",
        ),
        (
            "two kinds in one matcher",
            with("body = 'x'"),
            "9:1",
            "exactly one of status, header, body, all, any (found: status, body)",
        ),
        ("status out of range", with("").replace("[200]", "[200, 999]"), "10:16", "status 999 is not in 100..=599"),
        (
            "regex without header",
            with("[[template.match.matcher]]\nbody = 'x'\nregex = 'y'"),
            "13:9",
            "`regex` only applies to a header matcher",
        ),
        (
            "absent with regex",
            with("[[template.match.matcher]]\nheader = \"X\"\nabsent = true\nregex = 'y'"),
            "13:10",
            "`absent` and `regex` exclude each other",
        ),
        (
            "body on HEAD",
            with("[[template.match.matcher]]\nbody = 'x'")
                .replace("[template.request]\n", "[template.request]\nmethod = \"HEAD\"\n"),
            "13:8",
            "a HEAD response has no body",
        ),
        (
            "bad header name",
            with("[[template.match.matcher]]\nheader = \"Bad Name\""),
            "12:10",
            "`Bad Name` is not a valid header name",
        ),
        (
            "extractor with header and body",
            with("[[template.extract]]\nheader = \"Server\"\nbody = 'x'"),
            "11:1",
            "exactly one of header, body",
        ),
        (
            "bad regex in a group",
            with("[[template.match.matcher]]\nany = [{ body = '[z-a]' }]"),
            "12:17",
            "invalid regex `[z-a]`",
        ),
        (
            "missing remediation",
            with("").replace("remediation = \"Fix it.\"\n", ""),
            "1:1",
            "`remediation` is required",
        ),
        ("empty file", "# nothing here\n".to_owned(), "0:0", "no [[template]] in this file"),
    ];
    for (name, text, at, message) in cases {
        let errors = errors(&text);
        let found = errors.iter().any(|e| format!("{}:{}", e.line, e.column) == at && e.message.contains(message));
        assert!(found, "case `{name}`: expected {at} `{message}`, got {errors:#?}");
    }
}

#[test]
fn all_errors_of_a_file_are_collected() {
    let text = with(
        "[[template.match.matcher]]\nbody = '(oops'\n[[template]]\nid = \"dns.caa-missing\"\nremediation = \"x\"\n[template.request]\nmethod = \"DELETE\"\npaths = [\"/\"]\nports = [0]\n[template.match]\n[[template.match.matcher]]\nstatus = [200]\n",
    );
    let errors = errors(&text);
    let at: Vec<String> = errors.iter().map(|e| format!("{}:{}", e.line, e.column)).collect();
    assert_eq!(at, ["12:8", "14:6", "17:10", "19:10"], "{errors:#?}");
    assert!(errors.iter().all(|e| e.path == Path::new("team.toml")));
    assert_eq!(errors[0].to_string(), "team.toml:12:8: invalid regex `(oops`: unclosed group");
}

#[test]
fn matchers_without_an_explicit_match_table_load() {
    let text = "[[template]]\nid = \"x.implied\"\ntitle = \"t\"\nseverity = \"low\"\nremediation = \"r\"\n[template.request]\npaths = [\"/\"]\n[[template.match.matcher]]\nstatus = [200]\n";
    let t = super::super::compile::parse_file(std::path::Path::new("team.toml"), text, "team").unwrap();
    assert_eq!(t.len(), 1);
}
