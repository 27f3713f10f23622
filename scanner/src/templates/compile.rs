//! Raw template → validated [`Template`]: every problem of a file becomes a
//! [`SourceError`] at the offending value, and all of them are reported.

use std::ops::Range;
use std::path::Path;

use haetae_findings::source::line_col;
use haetae_findings::{CheckId, Confidence, Severity, SourceError};

/// Service checks whose service speaks HTTP: they are content checks too.
const HTTP_API_CHECKS: [CheckId; 3] = [CheckId::SvcDockerApi, CheckId::SvcElasticsearchOpen, CheckId::SvcKubernetesApi];
use regex::Regex;
use regex::bytes::Regex as BytesRegex;
use toml::Spanned;

use super::eval::{Extractor, Matcher, Source, Test};
use super::format::{RawExtractor, RawFile, RawMatch, RawMatcher, RawRequest, RawTemplate};
use super::{Method, RequestKey, Scheme, Template};

/// Request headers a template may not set: they belong to the engine.
const RESERVED_HEADERS: &[&str] = &["host", "content-length", "transfer-encoding", "connection"];

/// Parse and validate one file. `source` is what [`Template::source`] says.
pub(crate) fn parse_file(path: &Path, text: &str, source: &str) -> Result<Vec<Template>, Vec<SourceError>> {
    let raw: RawFile = toml::from_str(text).map_err(|e| vec![SourceError::from_toml(path, text, &e)])?;
    if raw.template.is_empty() {
        return Err(vec![SourceError::whole_file(path, "no [[template]] in this file")]);
    }
    let mut cx = Ctx { path, text, errors: Vec::new() };
    let templates: Vec<Template> = raw.template.into_iter().filter_map(|t| cx.template(t, source)).collect();
    if cx.errors.is_empty() { Ok(templates) } else { Err(cx.errors) }
}

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
    errors: Vec<SourceError>,
}

/// The request part of a template.
struct Request {
    keys: Vec<RequestKey>,
    scheme: Scheme,
    ports: Option<Vec<u16>>,
}

impl Ctx<'_> {
    fn error<T>(&mut self, span: Range<usize>, message: impl Into<String>) -> Option<T> {
        self.errors.push(SourceError::at_offset(self.path, self.text, span.start, message));
        None
    }

    fn ok<T, E: std::fmt::Display>(&mut self, span: Range<usize>, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => self.error(span, e.to_string()),
        }
    }

    fn template(&mut self, raw: Spanned<RawTemplate>, source: &str) -> Option<Template> {
        let span = raw.span();
        let raw = raw.into_inner();
        let id = self.id(&raw.id);
        let custom = matches!(id, Some(CheckId::Custom(_)));
        let meta = id.as_ref().and_then(CheckId::meta);

        let title = match &raw.title {
            Some(title) => self.non_empty(title, "title"),
            None if custom => self.error(span.clone(), "`title` is required for x.* templates"),
            None => meta.map(|m| m.title.to_owned()),
        };
        let severity = match &raw.severity {
            Some(s) => self.ok(s.span(), s.get_ref().parse::<Severity>()),
            None if custom => self
                .error(span.clone(), "`severity` is required for x.* templates (info, low, medium, high or critical)"),
            None => meta.map(|m| m.default_severity),
        };
        let confidence = match &raw.confidence {
            Some(c) => self.ok(c.span(), c.get_ref().parse::<Confidence>()),
            None => Some(Confidence::Firm),
        };
        let cwe = match &raw.cwe {
            Some(cwe) => match u32::try_from(*cwe.get_ref()) {
                Ok(n) if n > 0 => Some(Some(n)),
                _ => self.error(cwe.span(), format!("cwe {} is not a CWE number", cwe.get_ref())),
            },
            None => Some(meta.and_then(|m| m.cwe)),
        };
        let references = self.references(&raw.references);
        let remediation = match &raw.remediation {
            Some(r) => self.non_empty(r, "remediation"),
            None => self.error(span.clone(), "`remediation` is required: say what the agency should do"),
        };
        let method = self.method(&raw.request);
        let body_ok = method != Some(Method::Head);
        let request = self.request(&raw.request, method.unwrap_or(Method::Get));
        let rule = self.matching(&raw.matching, span.clone(), body_ok);
        let secret = id == Some(CheckId::HttpSecretInResponse);
        let extractors: Vec<Option<Extractor>> =
            raw.extract.iter().map(|x| self.extractor(x, body_ok, secret)).collect();
        let extractors: Option<Vec<Extractor>> = extractors.into_iter().collect();

        let request = request?;
        Some(Template {
            id: id?,
            title: title?,
            severity: severity?,
            confidence: confidence?,
            cwe: cwe?,
            references: references?,
            remediation: remediation?,
            source: source.to_owned(),
            position: line_col(self.text, raw.id.span().start),
            requests: request.keys,
            scheme: request.scheme,
            ports: request.ports,
            rule: rule?,
            extractors: extractors?,
        })
    }

    fn id(&mut self, raw: &Spanned<String>) -> Option<CheckId> {
        match raw.get_ref().parse::<CheckId>() {
            Err(e) => self.error(raw.span(), e.to_string()),
            Ok(id @ CheckId::Custom(_)) => Some(id),
            Ok(id) if id.as_str().starts_with("http.") || HTTP_API_CHECKS.contains(&id) => Some(id),
            Ok(id) => self.error(
                raw.span(),
                format!(
                    "`{id}` is checked in code, not by a template: only http.*, x.* and the HTTP API checks \
                     (svc.docker-api, svc.elasticsearch-open, svc.kubernetes-api) are content checks"
                ),
            ),
        }
    }

    fn non_empty(&mut self, raw: &Spanned<String>, key: &str) -> Option<String> {
        let text = raw.get_ref().trim();
        if text.is_empty() {
            self.error(raw.span(), format!("`{key}` must not be empty"))
        } else {
            Some(text.to_owned())
        }
    }

    fn references(&mut self, raw: &[Spanned<String>]) -> Option<Vec<String>> {
        let mut ok = true;
        for r in raw {
            let url = r.get_ref();
            let web = url.starts_with("https://") || url.starts_with("http://");
            if !web || url.chars().any(char::is_whitespace) {
                ok = false;
                self.error::<()>(r.span(), format!("reference `{url}` is not an http(s) URL"));
            }
        }
        ok.then(|| raw.iter().map(|r| r.get_ref().clone()).collect())
    }

    fn method(&mut self, raw: &Spanned<RawRequest>) -> Option<Method> {
        let Some(method) = &raw.get_ref().method else {
            return Some(Method::Get);
        };
        match method.get_ref().to_ascii_uppercase().as_str() {
            "GET" => Some(Method::Get),
            "HEAD" => Some(Method::Head),
            _ => self.error(
                method.span(),
                format!(
                    "method `{}` is not allowed: templates send only GET or HEAD (read-only probes)",
                    method.get_ref()
                ),
            ),
        }
    }

    fn request(&mut self, raw: &Spanned<RawRequest>, method: Method) -> Option<Request> {
        let req = raw.get_ref();
        let paths = self.paths(&req.paths);
        let headers = self.headers(req);
        let scheme = match &req.schemes {
            None => Some(Scheme::Any),
            Some(list) => self.schemes(list),
        };
        let ports = match &req.ports {
            None => Some(None),
            Some(list) => self.ports(list).map(Some),
        };
        let (paths, headers) = (paths?, headers?);
        let keys = paths.into_iter().map(|path| RequestKey { method, path, headers: headers.clone() }).collect();
        Some(Request { keys, scheme: scheme?, ports: ports? })
    }

    fn paths(&mut self, raw: &Spanned<Vec<Spanned<String>>>) -> Option<Vec<String>> {
        if raw.get_ref().is_empty() {
            return self.error(raw.span(), "`paths` needs at least one path");
        }
        let mut paths: Vec<String> = Vec::new();
        let mut ok = true;
        for p in raw.get_ref() {
            let path = p.get_ref();
            let problem = if !path.starts_with('/') {
                Some("must start with `/`")
            } else if path.split('?').next().is_some_and(|p| p.contains("://")) {
                // A URL in the query (a redirect parameter) is fine; before it, not.
                Some("must be a path, not a URL (no `://`)")
            } else if path.chars().any(|c| c.is_whitespace() || c.is_control() || c == '#') {
                Some("must not contain spaces, control characters or `#`")
            } else if paths.contains(path) {
                Some("is listed twice")
            } else {
                None
            };
            match problem {
                Some(problem) => {
                    ok = false;
                    self.error::<()>(p.span(), format!("path `{path}` {problem}"));
                }
                None => paths.push(path.clone()),
            }
        }
        ok.then_some(paths)
    }

    fn headers(&mut self, req: &RawRequest) -> Option<Vec<(String, String)>> {
        let mut ok = true;
        let mut headers: Vec<(String, String)> = Vec::new();
        for (name, value) in &req.headers {
            let n = name.get_ref();
            if !self.header_name(name) {
                ok = false;
            } else if RESERVED_HEADERS.iter().any(|r| n.eq_ignore_ascii_case(r)) {
                ok = false;
                self.error::<()>(name.span(), format!("header `{n}` is set by the engine, not by templates"));
            } else if headers.iter().any(|(seen, _)| seen.eq_ignore_ascii_case(n)) {
                ok = false;
                self.error::<()>(name.span(), format!("header `{n}` is given twice"));
            }
            if value.get_ref().chars().any(|c| c.is_control() && c != '\t') {
                ok = false;
                self.error::<()>(value.span(), format!("the value of header `{n}` contains a control character"));
            }
            headers.push((n.clone(), value.get_ref().clone()));
        }
        headers.sort_by(|a, b| a.0.to_ascii_lowercase().cmp(&b.0.to_ascii_lowercase()).then(a.cmp(b)));
        ok.then_some(headers)
    }

    /// Whether `name` is a valid header name (an RFC 9110 token); reports it if not.
    fn header_name(&mut self, name: &Spanned<String>) -> bool {
        let n = name.get_ref();
        let token = !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
        if !token {
            self.error::<()>(name.span(), format!("`{n}` is not a valid header name"));
        }
        token
    }

    fn schemes(&mut self, raw: &Spanned<Vec<Spanned<String>>>) -> Option<Scheme> {
        let (mut http, mut https, mut ok) = (false, false, true);
        for s in raw.get_ref() {
            match s.get_ref().to_ascii_lowercase().as_str() {
                "http" => http = true,
                "https" => https = true,
                other => {
                    ok = false;
                    self.error::<()>(s.span(), format!("scheme `{other}` is not http or https"));
                }
            }
        }
        match (ok, http, https) {
            (false, _, _) => None,
            (true, true, true) => Some(Scheme::Any),
            (true, true, false) => Some(Scheme::Http),
            (true, false, true) => Some(Scheme::Https),
            (true, false, false) => self.error(raw.span(), "`schemes` needs http, https or both (or leave it out)"),
        }
    }

    fn ports(&mut self, raw: &Spanned<Vec<Spanned<i64>>>) -> Option<Vec<u16>> {
        if raw.get_ref().is_empty() {
            return self.error(raw.span(), "`ports` needs at least one port (or leave it out for any port)");
        }
        let ports: Vec<Option<u16>> = raw
            .get_ref()
            .iter()
            .map(|p| match u16::try_from(*p.get_ref()) {
                Ok(port) if port > 0 => Some(port),
                _ => self.error(p.span(), format!("port {} is not in 1..=65535", p.get_ref())),
            })
            .collect();
        ports.into_iter().collect()
    }

    fn matching(&mut self, m: &RawMatch, template: std::ops::Range<usize>, body_ok: bool) -> Option<Matcher> {
        let all = match &m.condition {
            None => Some(true),
            Some(c) => match c.get_ref().to_ascii_lowercase().as_str() {
                "all" => Some(true),
                "any" => Some(false),
                _ => self.error(c.span(), format!("condition `{}` is not \"all\" or \"any\"", c.get_ref())),
            },
        };
        if m.matcher.is_empty() {
            return self.error(template, "at least one [[template.match.matcher]] is required");
        }
        let members = self.matchers(&m.matcher, body_ok);
        Some(Matcher { test: Test::Group { all: all?, members: members? }, negate: false, note: None })
    }

    fn matchers(&mut self, raw: &[Spanned<RawMatcher>], body_ok: bool) -> Option<Vec<Matcher>> {
        let members: Vec<Option<Matcher>> = raw.iter().map(|m| self.matcher(m, body_ok)).collect();
        members.into_iter().collect()
    }

    fn matcher(&mut self, raw: &Spanned<RawMatcher>, body_ok: bool) -> Option<Matcher> {
        let m = raw.get_ref();
        let kinds: Vec<&str> = [
            ("status", m.status.is_some()),
            ("header", m.header.is_some()),
            ("body", m.body.is_some()),
            ("all", m.all.is_some()),
            ("any", m.any.is_some()),
        ]
        .into_iter()
        .filter_map(|(kind, given)| given.then_some(kind))
        .collect();
        if kinds.len() != 1 {
            let found = if kinds.is_empty() { "none".to_owned() } else { kinds.join(", ") };
            return self.error(
                raw.span(),
                format!("a matcher needs exactly one of status, header, body, all, any (found: {found})"),
            );
        }
        if m.header.is_none() {
            let modifiers = [
                ("absent", m.absent.as_ref().map(Spanned::span)),
                ("regex", m.regex.as_ref().map(Spanned::span)),
                ("every_value", m.every_value.as_ref().map(Spanned::span)),
            ];
            for (key, span) in modifiers {
                if let Some(span) = span {
                    return self.error(span, format!("`{key}` only applies to a header matcher"));
                }
            }
        }
        let test = if let Some(status) = &m.status {
            self.status(status)
        } else if let Some(name) = &m.header {
            self.header_test(m, name)
        } else if let Some(body) = &m.body {
            self.body_regex(body, body_ok).map(Test::Body)
        } else if let Some(group) = m.all.as_ref().map(|g| (true, g)).or(m.any.as_ref().map(|g| (false, g))) {
            let (all, members) = group;
            if members.get_ref().is_empty() {
                self.error(members.span(), "an all/any group needs at least one matcher")
            } else {
                self.matchers(members.get_ref(), body_ok).map(|members| Test::Group { all, members })
            }
        } else {
            None
        };
        let note = match &m.note {
            Some(note) => Some(self.non_empty(note, "note")?),
            None => None,
        };
        Some(Matcher { test: test?, negate: m.negate, note })
    }

    fn status(&mut self, raw: &Spanned<Vec<Spanned<i64>>>) -> Option<Test> {
        if raw.get_ref().is_empty() {
            return self.error(raw.span(), "`status` needs at least one status code");
        }
        let codes: Vec<Option<u16>> = raw
            .get_ref()
            .iter()
            .map(|c| match u16::try_from(*c.get_ref()) {
                Ok(code) if (100..=599).contains(&code) => Some(code),
                _ => self.error(c.span(), format!("status {} is not in 100..=599", c.get_ref())),
            })
            .collect();
        codes.into_iter().collect::<Option<Vec<u16>>>().map(Test::Status)
    }

    fn header_test(&mut self, m: &RawMatcher, name: &Spanned<String>) -> Option<Test> {
        let valid = self.header_name(name);
        let absent = m.absent.as_ref().is_some_and(|a| *a.get_ref());
        let every_value = m.every_value.as_ref().is_some_and(|e| *e.get_ref());
        let name = name.get_ref().clone();
        match (&m.regex, &m.absent, &m.every_value) {
            (Some(_), Some(a), _) => self.error(a.span(), "`absent` and `regex` exclude each other"),
            (None, _, Some(e)) => self.error(e.span(), "`every_value` needs a `regex`"),
            (Some(regex), _, _) => {
                let regex = self.regex(regex);
                valid.then_some(Test::HeaderRegex { name, regex: regex?, every_value })
            }
            (None, _, _) if !valid => None,
            (None, _, _) if absent => Some(Test::Absent(name)),
            (None, _, _) => Some(Test::Present(name)),
        }
    }

    fn extractor(&mut self, raw: &Spanned<RawExtractor>, body_ok: bool, force_secret: bool) -> Option<Extractor> {
        let x = raw.get_ref();
        let secret = x.secret || force_secret;
        let source = match (&x.header, &x.body) {
            (Some(name), None) => {
                let valid = self.header_name(name);
                let regex = match &x.regex {
                    Some(r) => Some(Some(self.regex(r)?)),
                    None => Some(None),
                };
                valid.then_some(Source::Header { name: name.get_ref().clone(), regex: regex? })
            }
            (None, Some(body)) => {
                if let Some(r) = &x.regex {
                    return self.error(r.span(), "`regex` only applies to a header extractor (`body` is the regex)");
                }
                self.body_regex(body, body_ok).map(Source::Body)
            }
            _ => self.error(raw.span(), "an extractor needs exactly one of header, body"),
        };
        Some(Extractor { source: source?, secret })
    }

    fn body_regex(&mut self, raw: &Spanned<String>, body_ok: bool) -> Option<BytesRegex> {
        if !body_ok {
            return self.error(raw.span(), "a HEAD response has no body: use method GET to read the body");
        }
        let pattern = raw.get_ref();
        if pattern.is_empty() {
            return self.error(raw.span(), "an empty regex matches everything");
        }
        match BytesRegex::new(pattern) {
            Ok(regex) => Some(regex),
            Err(e) => self.error(raw.span(), regex_message(pattern, &e)),
        }
    }

    fn regex(&mut self, raw: &Spanned<String>) -> Option<Regex> {
        let pattern = raw.get_ref();
        if pattern.is_empty() {
            return self.error(raw.span(), "an empty regex matches everything");
        }
        match Regex::new(pattern) {
            Ok(regex) => Some(regex),
            Err(e) => self.error(raw.span(), regex_message(pattern, &e)),
        }
    }
}

/// "invalid regex `(abc`: unclosed group": the pattern and the last line of the error.
fn regex_message(pattern: &str, err: &regex::Error) -> String {
    let full = err.to_string();
    let detail = full.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or(full.as_str());
    let detail = detail.strip_prefix("error: ").unwrap_or(detail);
    format!("invalid regex `{pattern}`: {detail}")
}
