//! Content checks as data: TOML templates of a request (GET or HEAD, one or
//! more paths) and matchers over the response (status, headers, body), with
//! extractors that put what matched into the evidence, redacted.
//!
//! - [`TemplateSet`]: the templates in force. [`TemplateSet::builtin`] holds
//!   the ones compiled into the binary (`scanner/templates/*.toml`);
//!   [`TemplateSet::load`] adds every `*.toml` of the workspace's `templates/`
//!   directory. A user template with the same id as a built-in one
//!   **replaces** it ([`TemplateSet::overridden`] lists those ids), so a team
//!   can tune a built-in check without a rebuild.
//! - [`Template`]: one validated check. Regexes are compiled once, at load.
//!   [`Template::requests`] says what to fetch; [`Template::evaluate`] reads
//!   the responses and returns the evidence when the check fires.
//! - [`RequestKey`]: method, path and headers of one request. Templates that
//!   share a key share one response: the engine fetches each key of
//!   [`TemplateSet::requests`] once (one `GET /` serves every header check).
//! - [`redact()`]: hides secrets (keys, tokens, passwords) in evidence.
//!
//! Nothing here opens a socket: templates are evaluated against [`Response`]s
//! the engine fetched through the scope guard.
//!
//! # The format
//! A file holds one or more `[[template]]` tables:
//! ```toml
//! [[template]]
//! id = "x.team-debug-page"         # a SPEC http.* id or the team's own x.* id
//! title = "Debug page exposed"     # optional for http.* ids (catalogue title)
//! severity = "medium"              # optional for http.* ids; required for x.* ids
//! confidence = "firm"              # tentative | firm (default) | certain
//! cwe = 215
//! references = ["https://cwe.mitre.org/data/definitions/215.html"]
//! remediation = "Turn debug mode off in production."
//! [template.request]
//! method = "GET"                   # GET (default) or HEAD
//! paths = ["/debug", "/_debug"]    # one request each; the template fires if ANY path matches
//! headers = { Accept = "text/html" }
//! schemes = ["https"]              # optional precondition (default: http and https)
//! ports = [443, 8443]              # optional precondition (default: any port)
//! [template.match]
//! condition = "all"                # all (default) or any of the matchers
//! [[template.match.matcher]]
//! status = [200]
//! [[template.match.matcher]]
//! body = '<title>Debug console</title>'
//! [[template.match.matcher]]
//! header = "Content-Type"
//! regex = "(?i)json"
//! negate = true
//! [[template.extract]]
//! body = 'Version: ([0-9.]+)'
//! ```
//! A matcher is exactly one of:
//! - `status = [200, 401]`: the status is one of these;
//! - `header = "Name"`: present; with `absent = true`: absent; with
//!   `regex = "..."`: some value matches (with `every_value = true`: every
//!   value matches, as an absent header does; so `every_value` plus `negate`
//!   means "some value does not match"). Names compare case-insensitively;
//! - `body = "regex"`: the first 1 MiB of the body matches. Patterns run on
//!   bytes: text matches as UTF-8, and raw bytes need Unicode off, as in
//!   `(?-u:\x1f\x8b)` for the gzip magic;
//! - `all = [{...}, ...]` / `any = [{...}, ...]`: a group of matchers.
//!
//! Any matcher may have `negate = true`: it then passes when its test fails,
//! and `note = "zip archive"`: the words the evidence uses when it passes.
//! Extractors are `header = "Name"` (the value, or with `regex` its first
//! capture group) or `body = "regex"` (the first capture group, or the whole
//! match); `secret = true` masks what they extract (always so for
//! `http.secret-in-response`). Evidence is `"<url>: <status>; "` followed by
//! the extracted text, or when nothing was extracted, a short description of
//! what matched; it is always passed through [`redact()`] and capped at 200
//! characters. Cookie and authorization header values never reach evidence.

mod builtin;
mod compile;
mod eval;
mod format;
mod redact;
mod set;

#[cfg(test)]
mod tests;

use std::fmt;

use haetae_findings::{CheckId, Confidence, Severity};

pub use redact::redact;
pub use set::TemplateSet;

use eval::{Extractor, Matcher};

/// How much of a body the matchers read.
pub const BODY_LIMIT: usize = 1 << 20;

/// The most characters of extracted or descriptive text in one evidence.
pub const EVIDENCE_LIMIT: usize = 200;

/// What the engine received for one [`RequestKey`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Headers as received, in order; names compare case-insensitively.
    pub headers: Vec<(String, String)>,
    /// The body as read (matchers look at the first [`BODY_LIMIT`] bytes).
    pub body: Vec<u8>,
    /// The URL that was requested, used at the start of the evidence.
    pub url: String,
}

impl Response {
    /// Every value of header `name`, in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The part of the body the matchers read.
    pub fn body_prefix(&self) -> &[u8] {
        &self.body[..self.body.len().min(BODY_LIMIT)]
    }
}

/// The request method; templates are read-only probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// GET.
    Get,
    /// HEAD (no body: body matchers are refused at load).
    Head,
}

impl Method {
    /// `GET` or `HEAD`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One request; templates with identical keys share one response.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestKey {
    /// GET or HEAD.
    pub method: Method,
    /// Path and optional query, starting with `/`.
    pub path: String,
    /// Extra request headers, sorted by name.
    pub headers: Vec<(String, String)>,
}

impl fmt::Display for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        for (name, value) in &self.headers {
            write!(f, " [{name}: {value}]")?;
        }
        Ok(())
    }
}

/// Which schemes a template applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP only.
    Http,
    /// HTTPS only.
    Https,
    /// Both.
    Any,
}

impl Scheme {
    /// Whether `scheme` (`"http"` or `"https"`, any case) is allowed.
    pub fn allows(self, scheme: &str) -> bool {
        let https = scheme.eq_ignore_ascii_case("https");
        let http = scheme.eq_ignore_ascii_case("http");
        match self {
            Scheme::Http => http,
            Scheme::Https => https,
            Scheme::Any => http || https,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Any => "http, https",
        })
    }
}

/// One validated content check.
#[derive(Debug, Clone)]
pub struct Template {
    /// The check it reports (`http.*` or a team's `x.*`).
    pub id: CheckId,
    /// One-line title.
    pub title: String,
    /// Severity of a finding.
    pub severity: Severity,
    /// Confidence of a finding.
    pub confidence: Confidence,
    /// CWE, when one applies.
    pub cwe: Option<u32>,
    /// Reference URLs.
    pub references: Vec<String>,
    /// What the agency should do.
    pub remediation: String,
    /// `"built-in"` or the path of the file it came from.
    pub source: String,
    /// 1-based line and column of the id in its file.
    pub(crate) position: (usize, usize),
    requests: Vec<RequestKey>,
    scheme: Scheme,
    ports: Option<Vec<u16>>,
    rule: Matcher,
    extractors: Vec<Extractor>,
}

impl Template {
    /// The requests to fetch, one per path, in the file's order.
    pub fn requests(&self) -> &[RequestKey] {
        &self.requests
    }

    /// The scheme precondition.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The port precondition (`None`: any port).
    pub fn ports(&self) -> Option<&[u16]> {
        self.ports.as_deref()
    }

    /// Whether the template applies to an endpoint (`scheme` is `"http"` or `"https"`).
    pub fn applies_to(&self, scheme: &str, port: u16) -> bool {
        self.scheme.allows(scheme) && self.ports.as_ref().is_none_or(|ports| ports.contains(&port))
    }

    /// Evaluate against the responses of its requests (same order as
    /// [`requests`](Self::requests); a request that failed may be left out).
    /// `Some(evidence)` for the first response that matches.
    pub fn evaluate(&self, responses: &[&Response]) -> Option<String> {
        responses.iter().find_map(|response| eval::evaluate(&self.rule, &self.extractors, response))
    }
}
