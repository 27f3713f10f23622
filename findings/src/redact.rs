//! [`redact`]: secrets out of text, keeping enough to recognise the kind.
//!
//! The scanner runs it on evidence as it builds an observation; every export
//! runs it again on every text it writes (defense in depth: a note typed in
//! triage, a team's template or an older record may still hold a secret).
//!
//! Over-redaction is harmless and under-redaction is a leak, so the patterns
//! are loose (no word boundaries) and a pattern that failed to compile makes
//! the whole text `[redacted]`.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex, RegexSet};

/// What replaces a match.
enum Replace {
    /// A replacement string (`${1}` refers to capture groups).
    With(&'static str),
    /// Keep the name and the `=`/`:` (group 1), replace the value (group 2),
    /// keeping its quotes.
    Value,
}

/// The rules, in order. Specific kinds first, so their short prefix stays.
const RULES: &[(&str, Replace)] = &[
    // PEM private keys, also when cut off before the END line.
    (
        r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----(?s:.*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z)",
        Replace::With("-----BEGIN ${1}PRIVATE KEY${2}-----[redacted]"),
    ),
    // AWS access key ids.
    (r"(AKIA|ASIA)[0-9A-Z]{16}", Replace::With("${1}…[redacted]")),
    // AWS secret access keys, after their name.
    (r#"(?i)(aws_?secret_?(?:access_?)?key["']?\s*[:=]\s*["']?)[A-Za-z0-9/+=]{16,}"#, Replace::With("${1}[redacted]")),
    // JSON Web Tokens.
    (r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*", Replace::With("eyJ…[redacted]")),
    // GitHub tokens (classic and fine-grained).
    (r"(gh[pousr])_[A-Za-z0-9]{36,}", Replace::With("${1}_…[redacted]")),
    (r"github_pat_[A-Za-z0-9_]{22,}", Replace::With("github_pat_…[redacted]")),
    // Slack tokens and incoming webhooks.
    (r"(xox[a-z])-[A-Za-z0-9-]{10,}", Replace::With("${1}-…[redacted]")),
    (r"(hooks\.slack\.com/services/)[A-Za-z0-9/_-]+", Replace::With("${1}[redacted]")),
    // Google API keys.
    (r"AIza[0-9A-Za-z_-]{35}", Replace::With("AIza…[redacted]")),
    // Credentials in URLs.
    (r"(://[^/\s:@]+:)[^@\s/]+@", Replace::With("${1}[redacted]@")),
    // Authorization values.
    (r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{8,}", Replace::With("${1}${2}[redacted]")),
    // name = value assignments (`DB_PASSWORD=...`, `"apiKey": "..."`, `token: ...`).
    (
        r#"(?i)([A-Za-z0-9_.-]*(?:pass|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)[A-Za-z0-9_.-]*["']?\s*[:=]\s*)("[^"\n]+"|'[^'\n]+'|[^\s"',;&<>]+)"#,
        Replace::Value,
    ),
];

/// The rules compiled once, and all of them as one set: most texts hold no
/// secret, and one pass of the set over them is several times cheaper than
/// a pass of each rule (an export redacts every text of 100k findings).
struct Compiled {
    any: RegexSet,
    rules: Vec<(Regex, &'static Replace)>,
}

static COMPILED: LazyLock<Option<Compiled>> = LazyLock::new(|| {
    let any = RegexSet::new(RULES.iter().map(|(pattern, _)| *pattern)).ok()?;
    let rules = RULES
        .iter()
        .map(|(pattern, replace)| Regex::new(pattern).ok().map(|re| (re, replace)))
        .collect::<Option<Vec<_>>>()?;
    Some(Compiled { any, rules })
});

/// `text` with every secret it recognises replaced by a short, non-secret
/// prefix and `[redacted]`: AWS access keys (`AKIA…[redacted]`) and secret
/// keys, private key blocks, JWTs, GitHub, Slack and Google API tokens,
/// credentials in URLs and `Authorization` values, and the value of any
/// `password|passwd|secret|token|api_key|apikey|... = value` assignment
/// (the name is kept).
pub fn redact(text: &str) -> String {
    redact_cow(text).into_owned()
}

/// [`redact`] without a copy when there is nothing to hide.
pub fn redact_cow(text: &str) -> Cow<'_, str> {
    let Some(compiled) = COMPILED.as_ref() else {
        return Cow::Owned("[redacted]".to_owned());
    };
    if !compiled.any.is_match(text) {
        return Cow::Borrowed(text);
    }
    let mut out = Cow::Borrowed(text);
    for (re, replace) in &compiled.rules {
        let next = match replace {
            Replace::With(with) => re.replace_all(&out, *with),
            Replace::Value => re.replace_all(&out, |c: &Captures<'_>| {
                let value = c.get(2).map_or("", |m| m.as_str());
                let quoted = match value.chars().next() {
                    Some(q @ ('"' | '\'')) => format!("{q}[redacted]{q}"),
                    _ => "[redacted]".to_owned(),
                };
                format!("{}{quoted}", c.get(1).map_or("", |m| m.as_str()))
            }),
        };
        if let Cow::Owned(changed) = next {
            out = Cow::Owned(changed);
        }
    }
    out
}

#[cfg(test)]
mod tests;

#[cfg(any(test, feature = "proptest"))]
pub mod secrets;
