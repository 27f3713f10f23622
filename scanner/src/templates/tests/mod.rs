//! Tests of the template engine: every built-in template against canned
//! responses, parse errors with their positions, loading a user directory,
//! and redaction.

mod cases_behaviour;
mod cases_exposures;
mod cases_headers;
mod cases_secrets;
mod evaluation;
mod load;
mod parse_errors;
mod redaction;

use std::sync::LazyLock;

use super::{Response, Template, TemplateSet};

/// A response for `https://portal.agency.test<path>`.
pub(super) fn response(path: &str, status: u16, headers: &[(&str, &str)], body: impl AsRef<[u8]>) -> Response {
    Response {
        status,
        headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
        body: body.as_ref().to_vec(),
        url: format!("https://portal.agency.test{path}"),
    }
}

/// The headers of an HTML page from nginx with every protection in place.
pub(super) const GOOD_HTML: &[(&str, &str)] = &[
    ("Server", "nginx"),
    ("Content-Type", "text/html; charset=utf-8"),
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'self'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "SAMEORIGIN"),
];

/// `GOOD_HTML` with `name` replaced by `value` (or removed when `value` is `None`).
pub(super) fn good_html_with(name: &str, value: Option<&'static str>) -> Vec<(&'static str, &'static str)> {
    let mut headers: Vec<(&str, &str)> =
        GOOD_HTML.iter().copied().filter(|(n, _)| !n.eq_ignore_ascii_case(name)).collect();
    if let Some(value) = value {
        let name = GOOD_HTML.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map_or("X-Test", |(n, _)| n);
        headers.push((name, value));
    }
    headers
}

pub(super) const HOME: &str = "<!DOCTYPE html><html><head><title>Ministry of Example</title></head><body><h1>Welcome</h1><form action=\"/search\"><input type=\"text\" name=\"q\"></form></body></html>";

/// What a case expects.
pub(super) enum Expect {
    /// No finding.
    Silent,
    /// A finding whose evidence contains every `has` and none of `hasnt`.
    Fires { has: &'static [&'static str], hasnt: &'static [&'static str] },
}

/// One canned response for one built-in template.
pub(super) struct Case {
    pub(super) name: &'static str,
    pub(super) id: &'static str,
    pub(super) scheme: &'static str,
    pub(super) response: Response,
    pub(super) expect: Expect,
}

pub(super) fn fires(has: &'static [&'static str]) -> Expect {
    Expect::Fires { has, hasnt: &[] }
}

/// The built-in set, loaded once for all tests.
pub(super) fn builtin() -> &'static TemplateSet {
    static SET: LazyLock<TemplateSet> = LazyLock::new(|| {
        TemplateSet::builtin().unwrap_or_else(|errors| panic!("built-in templates do not load: {errors:#?}"))
    });
    &SET
}

pub(super) fn template<'a>(set: &'a TemplateSet, id: &str) -> &'a Template {
    set.templates().iter().find(|t| t.id.as_str() == id).unwrap_or_else(|| panic!("no built-in template {id}"))
}

/// Run each case: one assertion per case, named.
pub(super) fn run(cases: &[Case]) {
    let set = builtin();
    for case in cases {
        let t = template(set, case.id);
        let port = if case.scheme == "https" { 443 } else { 80 };
        let got = if t.applies_to(case.scheme, port) { t.evaluate(&[&case.response]) } else { None };
        let ok = match &case.expect {
            Expect::Silent => got.is_none(),
            Expect::Fires { has, hasnt } => {
                got.as_ref().is_some_and(|e| has.iter().all(|h| e.contains(h)) && hasnt.iter().all(|h| !e.contains(h)))
            }
        };
        assert!(ok, "case `{}` ({}): got {got:?}", case.name, case.id);
    }
}

#[test]
fn builtin_templates_always_load() {
    let set = builtin();
    assert_eq!(set.templates().len(), 22, "{:?}", set.templates().iter().map(|t| t.id.as_str()).collect::<Vec<_>>());
    assert!(set.templates().iter().all(|t| t.source == "built-in" && !t.remediation.is_empty()));
}

#[test]
fn every_builtin_template_has_a_true_positive_and_a_true_negative() {
    let cases: Vec<Case> =
        [cases_headers::cases(), cases_exposures::cases(), cases_secrets::cases(), cases_behaviour::cases()]
            .into_iter()
            .flatten()
            .collect();
    for t in builtin().templates() {
        let id = t.id.as_str();
        let positive = cases.iter().any(|c| c.id == id && matches!(c.expect, Expect::Fires { .. }));
        let negative = cases.iter().any(|c| c.id == id && matches!(c.expect, Expect::Silent));
        assert!(positive && negative, "{id}: positive case {positive}, negative case {negative}");
    }
}

#[test]
fn header_templates_share_one_get_of_the_front_page() {
    use super::{Method, RequestKey};
    let set = builtin();
    let root = RequestKey { method: Method::Get, path: "/".to_owned(), headers: Vec::new() };
    let header_checks = ["http.hsts-missing", "http.csp-missing", "http.xcto-missing", "http.clickjacking"];
    let header_checks = header_checks.iter().chain(&["http.version-disclosure", "http.cookie-insecure"]);
    for id in header_checks {
        assert_eq!(template(set, id).requests(), std::slice::from_ref(&root), "{id}");
    }
    let requests = set.requests();
    assert_eq!(requests.iter().filter(|k| **k == root).count(), 1);
    let mut sorted = requests.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, requests, "requests() is sorted and deduplicated");
    let all: usize = set.templates().iter().map(|t| t.requests().len()).sum();
    assert!(requests.len() < all, "{} distinct of {all}", requests.len());
    assert_eq!(set.requests_for("http", 80), requests, "the https-only templates ask only for GET /");
}

#[test]
fn preconditions_limit_schemes_and_ports() {
    let set = builtin();
    let hsts = template(set, "http.hsts-missing");
    assert!(hsts.applies_to("https", 8443));
    assert!(!hsts.applies_to("http", 80));
    let git = template(set, "http.exposed-git");
    assert!(git.applies_to("http", 8080) && git.applies_to("HTTPS", 443));
    assert!(!git.applies_to("ftp", 21));
}
