//! Compiled matchers and extractors, and how they read a [`Response`].
//!
//! A matcher that passes leaves short notes ("missing header X-Frame-Options",
//! "Server: nginx/1.18.0"); they become the evidence when no extractor
//! produced text. Notes of a branch that failed are discarded.

use regex::Regex;
use regex::bytes::Regex as BytesRegex;

use super::redact::{mask, redact};
use super::{EVIDENCE_LIMIT, Response};

/// The most characters of one header value in a note.
const VALUE_LIMIT: usize = 80;

/// At most this many failing values are named by a negated `every_value` matcher.
const FAILING_VALUES_SHOWN: usize = 3;

/// What a matcher tests.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    /// The status is one of these.
    Status(Vec<u16>),
    /// The header is present.
    Present(String),
    /// The header is absent.
    Absent(String),
    /// Some value matches (with `every_value`: every value does, which an
    /// absent header does too; negated, some value does not).
    HeaderRegex { name: String, regex: Regex, every_value: bool },
    /// The body prefix matches.
    Body(BytesRegex),
    /// All (or any) of the members pass.
    Group { all: bool, members: Vec<Matcher> },
}

/// A test, possibly negated, with the note it leaves when it passes
/// (`None`: a description of what matched).
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    pub(crate) test: Test,
    pub(crate) negate: bool,
    pub(crate) note: Option<String>,
}

/// Where an extractor reads.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A header's value (cookie and authorization values already hidden),
    /// or the first capture group of `regex` in it.
    Header { name: String, regex: Option<Regex> },
    /// The first capture group (or the whole match) in the body prefix.
    Body(BytesRegex),
}

/// An extractor: what it reads, and whether the text is a secret to mask.
#[derive(Debug, Clone)]
pub(crate) struct Extractor {
    pub(crate) source: Source,
    pub(crate) secret: bool,
}

/// The evidence when `rule` matches `response`.
pub(crate) fn evaluate(rule: &Matcher, extractors: &[Extractor], response: &Response) -> Option<String> {
    let mut notes = Vec::new();
    if !check(rule, response, &mut notes) {
        return None;
    }
    let extracted: Vec<String> = extractors.iter().filter_map(|x| extract(x, response)).collect();
    let mut parts: Vec<String> = Vec::new();
    for part in if extracted.is_empty() { notes } else { extracted } {
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    let detail = if parts.is_empty() { "matched".to_owned() } else { parts.join("; ") };
    let detail = truncate(&redact(&detail), EVIDENCE_LIMIT);
    Some(format!("{}: {}; {}", redact(&response.url), response.status, detail))
}

fn check(matcher: &Matcher, response: &Response, notes: &mut Vec<String>) -> bool {
    let mark = notes.len();
    let passed = test(&matcher.test, response, notes) != matcher.negate;
    if !passed || matcher.negate || matcher.note.is_some() {
        notes.truncate(mark);
    }
    if passed {
        match &matcher.note {
            Some(note) => notes.push(note.clone()),
            None if matcher.negate => negated_notes(&matcher.test, response, notes),
            None => {}
        }
    }
    passed
}

/// Run the test itself, noting what made it pass.
fn test(test: &Test, response: &Response, notes: &mut Vec<String>) -> bool {
    match test {
        Test::Status(codes) => codes.contains(&response.status),
        Test::Present(name) => match response.header_values(name).next() {
            Some(value) => {
                notes.push(header_note(name, value));
                true
            }
            None => false,
        },
        Test::Absent(name) => {
            let absent = response.header_values(name).next().is_none();
            if absent {
                notes.push(format!("missing header {name}"));
            }
            absent
        }
        Test::HeaderRegex { name, regex, every_value } => {
            let values: Vec<&str> = response.header_values(name).collect();
            // Some(value to note): every_value holds for an absent header too.
            let passed = if *every_value {
                values.iter().all(|v| regex.is_match(v)).then(|| values.first().copied())
            } else {
                values.iter().find(|v| regex.is_match(v)).map(|v| Some(*v))
            };
            if let Some(Some(value)) = passed {
                notes.push(header_note(name, value));
            }
            passed.is_some()
        }
        Test::Body(regex) => {
            let matched = regex.is_match(response.body_prefix());
            if matched {
                notes.push(format!("body matches `{}`", regex.as_str()));
            }
            matched
        }
        Test::Group { all: true, members } => members.iter().all(|m| check(m, response, notes)),
        Test::Group { all: false, members } => {
            // No short circuit: every member runs, so the evidence names each thing that matched.
            let mut any = false;
            for m in members {
                any |= check(m, response, notes);
            }
            any
        }
    }
}

/// Notes for a negated test that passed (its inner test failed).
fn negated_notes(test: &Test, response: &Response, notes: &mut Vec<String>) {
    match test {
        Test::Present(name) => notes.push(format!("missing header {name}")),
        Test::Absent(name) => {
            if let Some(value) = response.header_values(name).next() {
                notes.push(header_note(name, value));
            }
        }
        Test::HeaderRegex { name, regex, .. } => {
            let mut failing = response.header_values(name).filter(|v| !regex.is_match(v)).peekable();
            if failing.peek().is_none() {
                notes.push(format!("missing header {name}"));
            }
            for value in failing.take(FAILING_VALUES_SHOWN) {
                notes.push(format!("{} (no match for `{}`)", header_note(name, value), regex.as_str()));
            }
        }
        Test::Status(_) | Test::Body(_) | Test::Group { .. } => {}
    }
}

fn header_note(name: &str, value: &str) -> String {
    format!("{name}: {}", truncate(&redact(&shown_value(name, value)), VALUE_LIMIT))
}

fn extract(extractor: &Extractor, response: &Response) -> Option<String> {
    let (label, text) = match &extractor.source {
        Source::Header { name, regex } => {
            let text = response.header_values(name).find_map(|value| {
                let shown = shown_value(name, value);
                match regex {
                    None => Some(shown),
                    Some(regex) => {
                        let caps = regex.captures(&shown)?;
                        caps.get(1).or_else(|| caps.get(0)).map(|m| m.as_str().to_owned())
                    }
                }
            })?;
            (Some(name.as_str()), text)
        }
        Source::Body(regex) => {
            let caps = regex.captures(response.body_prefix())?;
            let m = caps.get(1).or_else(|| caps.get(0))?;
            (None, String::from_utf8_lossy(m.as_bytes()).into_owned())
        }
    };
    let text = printable(&text);
    if text.is_empty() {
        return None;
    }
    let text = if extractor.secret { mask(&text) } else { redact(&text) };
    Some(match label {
        Some(name) => format!("{name}: {text}"),
        None => text,
    })
}

/// A header value as it may appear in evidence: cookie values and
/// credentials are replaced, whatever the template asks for.
pub(crate) fn shown_value(name: &str, value: &str) -> String {
    let value = printable(value);
    if name.eq_ignore_ascii_case("set-cookie") {
        let (pair, attributes) = match value.split_once(';') {
            Some((pair, rest)) => (pair, Some(rest)),
            None => (value.as_str(), None),
        };
        let cookie = pair.split_once('=').map_or(pair, |(n, _)| n).trim();
        let attributes = attributes.map(|a| format!(";{a}")).unwrap_or_default();
        format!("{cookie}=[redacted]{attributes}")
    } else if name.eq_ignore_ascii_case("cookie") {
        let names: Vec<String> = value
            .split(';')
            .map(|pair| format!("{}=[redacted]", pair.split_once('=').map_or(pair, |(n, _)| n).trim()))
            .collect();
        names.join("; ")
    } else if name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("proxy-authorization") {
        let scheme = value.split_whitespace().next().unwrap_or_default();
        format!("{scheme} [redacted]").trim_start().to_owned()
    } else {
        value
    }
}

/// Control characters (line breaks, NULs of binary bodies) become spaces.
fn printable(text: &str) -> String {
    let spaced: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    spaced.trim().to_owned()
}

/// At most `limit` characters, with `…` when cut.
pub(crate) fn truncate(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        None => text.to_owned(),
        Some((cut, _)) => {
            let head: String = text[..cut].chars().take(limit.saturating_sub(1)).collect();
            format!("{head}…")
        }
    }
}
