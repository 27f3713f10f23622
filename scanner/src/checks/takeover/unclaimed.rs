//! Takeover by fingerprint: the unclaimed-resource answers of services the
//! provider table does not know by suffix (`scanner/takeover/fingerprints.toml`,
//! compiled in), matched on the answer to an in-scope name whose CNAME chain
//! leaves `domains` and whose every address is in scope.
//!
//! The request carries the in-scope name as Host (and SNI): the names inside
//! the chain are never targets. A match is `dns.takeover` at confidence firm.

use std::ops::Range;
use std::sync::LazyLock;

use haetae_findings::{Confidence, Observation};
use regex::bytes::Regex as BytesRegex;
use serde::Deserialize;
use toml::Spanned;

use super::{MAX_ADDRESSES, Ports, chain_text, excerpt, finding_with};
use crate::guard::{Resolution, ScopeGuard};
use crate::http::{HttpClient, Method, Request};

/// Where the built-in table comes from (for error messages).
const FILE: &str = "scanner/takeover/fingerprints.toml";
/// The built-in table's text.
const BUILTIN: &str = include_str!("../../../takeover/fingerprints.toml");
/// Body regexes are bounded: an entry cannot make matching expensive.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Bodies every web server may send for a missing page: a fingerprint that
/// matches one of them is not specific to a service.
const GENERIC: &[&str] = &[
    "Not Found",
    "404 Not Found",
    "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>",
    "<h1>404</h1><p>The requested URL was not found on this server.</p>",
    "File not found",
    "Page not found",
    "NoSuchKey",
];

/// One unclaimed-resource answer.
#[derive(Debug, Clone)]
pub struct Unclaimed {
    /// What the service and its answer are called in evidence.
    pub name: String,
    /// The statuses the service answers with (4xx/5xx, never 429/503).
    pub status: Vec<u16>,
    /// The service-specific body marker.
    pub body: BytesRegex,
    /// Where the fact comes from.
    pub source: String,
}

impl Unclaimed {
    /// The matched text when `status` and `body` fit.
    pub fn matches(&self, status: u16, body: &[u8]) -> Option<String> {
        if !self.status.contains(&status) {
            return None;
        }
        self.body.find(body).map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    fingerprint: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: Spanned<String>,
    status: Spanned<Vec<u16>>,
    body: Spanned<String>,
    source: Spanned<String>,
}

/// `line:column` (from 1) of a byte offset in `text`.
fn position(text: &str, at: usize) -> String {
    let before = text.get(..at.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{line}:{col}")
}

/// Parse and validate a table in the format of `fingerprints.toml`; errors
/// name `file:line:column` and what was expected.
pub(super) fn parse(file: &str, text: &str) -> Result<Vec<Unclaimed>, String> {
    let at = |span: Range<usize>, msg: String| format!("{file}:{}: {msg}", position(text, span.start));
    let raw: RawTable = toml::from_str(text).map_err(|e| match e.span() {
        Some(span) => at(span, e.message().to_owned()),
        None => format!("{file}: {}", e.message()),
    })?;
    let mut out = Vec::new();
    for e in raw.fingerprint {
        if e.name.get_ref().trim().is_empty() {
            return Err(at(e.name.span(), "name: expected what the service's answer is called".into()));
        }
        if e.source.get_ref().trim().is_empty() {
            return Err(at(e.source.span(), "source: expected where the fingerprint comes from".into()));
        }
        let statuses = e.status.get_ref();
        if statuses.is_empty() {
            return Err(at(e.status.span(), "status: expected the status codes the service answers with".into()));
        }
        if let Some(s) = statuses.iter().find(|s| !(400..=599).contains(*s) || matches!(**s, 429 | 503)) {
            return Err(at(
                e.status.span(),
                format!(
                    "status: {s} is not an error a service gives for a resource nobody holds (400-599, not 429/503)"
                ),
            ));
        }
        if e.body.get_ref().trim().is_empty() {
            return Err(at(e.body.span(), "body: expected a service-specific regex".into()));
        }
        let body = regex::bytes::RegexBuilder::new(e.body.get_ref())
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|err| at(e.body.span(), format!("body: not a regex: {err}")))?;
        if let Some(g) = GENERIC.iter().find(|g| body.is_match(g.as_bytes())) {
            return Err(at(
                e.body.span(),
                format!("body: matches the generic page `{g}`; expected a service-specific marker"),
            ));
        }
        out.push(Unclaimed {
            name: e.name.into_inner(),
            status: statuses.clone(),
            body,
            source: e.source.into_inner(),
        });
    }
    Ok(out)
}

/// The built-in table, parsed and validated once.
pub fn unclaimed() -> &'static [Unclaimed] {
    static TABLE: LazyLock<Vec<Unclaimed>> = LazyLock::new(|| {
        #[expect(clippy::expect_used, reason = "compiled-in data; the unit tests prove it parses")]
        parse(FILE, BUILTIN).expect("the built-in fingerprint table is valid")
    });
    &TABLE
}

/// The first fingerprint that `status` and `body` fit, with the matched text.
pub fn match_answer(status: u16, body: &[u8]) -> Option<(&'static Unclaimed, String)> {
    unclaimed().iter().find_map(|u| u.matches(status, body).map(|m| (u, m)))
}

/// What asking gave.
pub(super) struct Outcome {
    pub(super) found: Option<Observation>,
    /// Every request got a definite answer (at least one did).
    pub(super) definite: bool,
}

/// `GET /` as the in-scope name (plain HTTP, then HTTPS) at its checked
/// addresses, on scope ports only; match the answers against the table.
pub(super) async fn ask(
    guard: &ScopeGuard,
    http: &HttpClient,
    res: &Resolution,
    engagement: &str,
    ports: Ports,
) -> Outcome {
    let host = res.name.as_str();
    let mut audit = res.audit.clone();
    let (mut answered, mut failed) = (false, false);
    for (https, port) in [(false, ports.http), (true, ports.https)] {
        for &addr in res.allowed.iter().filter(|a| guard.permit(host, **a, port).is_ok()).take(MAX_ADDRESSES) {
            let req = Request { https, host, addr, port, method: Method::Get, path: "/", headers: &[] };
            let resp = match http.fetch(guard, &req).await {
                Ok(r) => r,
                Err(e) => {
                    // Nothing listening is an answer; a timeout or reset is not.
                    if e.is_definite() {
                        answered = true
                    } else {
                        failed = true
                    }
                    continue;
                }
            };
            audit.push(resp.audit);
            if matches!(resp.status, 429 | 503) {
                failed = true;
                continue;
            }
            answered = true;
            if let Some((u, matched)) = match_answer(resp.status, &resp.body) {
                let scheme = if https { "https" } else { "http" };
                let evidence = format!(
                    "{}: GET {scheme}://{host}:{port}/ at {addr} answered {} with `{}`: {} says the resource is \
                     unclaimed; the CNAME target's suffix is in no provider list, so anyone who can create it there \
                     may serve content as {host} (fingerprint source: {})",
                    chain_text(res),
                    resp.status,
                    excerpt(&matched),
                    u.name,
                    u.source
                );
                let mut o = finding_with(res, "the provider of this CNAME target", evidence, &audit, engagement);
                o.confidence = Confidence::Firm;
                return Outcome { found: Some(o), definite: true };
            }
            break;
        }
    }
    Outcome { found: None, definite: answered && !failed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_parses_and_has_each_family() {
        let t = unclaimed();
        assert!(t.len() >= 4);
        let xml = b"<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>x</Message></Error>";
        assert_eq!(
            match_answer(404, xml).map(|(u, _)| u.name.as_str()),
            Some("S3-compatible object storage (NoSuchBucket)")
        );
        assert!(match_answer(404, b"<p>There isn't a GitHub Pages site here.</p>").is_some());
        assert!(match_answer(404, b"<title>No such app</title>").is_some());
        assert!(match_answer(404, b"<ul><li>Code: NoSuchBucket</li></ul>").is_some());
    }

    #[test]
    fn the_status_and_the_marker_must_both_hold() {
        let xml = b"<Error><Code>NoSuchBucket</Code></Error>";
        for status in [200, 403, 500, 503] {
            assert!(match_answer(status, xml).is_none(), "{status}");
        }
        // A live bucket: a listing, or an object.
        let listing =
            b"<ListBucketResult><Name>docs</Name><Contents><Key>index.html</Key></Contents></ListBucketResult>";
        assert!(match_answer(200, listing).is_none());
        assert!(match_answer(200, b"<html>welcome</html>").is_none());
        // Sites that merely say "not found".
        for body in GENERIC {
            assert!(match_answer(404, body.as_bytes()).is_none(), "{body}");
        }
        assert!(
            match_answer(404, b"<Error><Code>NoSuchKey</Code></Error>").is_none(),
            "a missing object in a live bucket"
        );
    }

    #[test]
    fn bad_tables_are_refused_with_file_line_column() {
        let entry = |status: &str, body: &str| {
            format!("[[fingerprint]]\nname = \"x\"\nstatus = {status}\nbody = '{body}'\nsource = \"s\"\n")
        };
        let cases = [
            (entry("[404]", "Not Found"), "f.toml:4:8: body: matches the generic page"),
            (entry("[404]", "("), "f.toml:4:8: body: not a regex"),
            (entry("[200]", "X-Marker"), "f.toml:3:10: status: 200 is not an error"),
            (entry("[503]", "X-Marker"), "f.toml:3:10: status: 503"),
            (entry("[]", "X-Marker"), "f.toml:3:10: status: expected"),
            (entry("[404]", " "), "f.toml:4:8: body: expected"),
            (
                "[[fingerprint]]\nname = \"x\"\nstatus = [404]\nbody = 'X'\nsource = \"s\"\ncolour = 1\n".to_owned(),
                "f.toml:6:1: unknown field `colour`",
            ),
            ("[[fingerprint]]\nname = \"x\"\n".to_owned(), "f.toml:1:1: missing field `status`"),
        ];
        for (text, want) in cases {
            let e = parse("f.toml", &text).unwrap_err();
            assert!(e.starts_with(want), "{e} (wanted {want})");
        }
        assert_eq!(parse("f.toml", &entry("[404, 410]", "X-Marker: gone")).unwrap().len(), 1);
    }
}
