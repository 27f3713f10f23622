//! The template file as written: serde structs with spans, validated by
//! `compile`. Unknown keys are errors.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// One file: any number of `[[template]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    #[serde(default)]
    pub(crate) template: Vec<Spanned<RawTemplate>>,
}

/// One `[[template]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTemplate {
    pub(crate) id: Spanned<String>,
    pub(crate) title: Option<Spanned<String>>,
    pub(crate) severity: Option<Spanned<String>>,
    pub(crate) confidence: Option<Spanned<String>>,
    pub(crate) cwe: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) references: Vec<Spanned<String>>,
    pub(crate) remediation: Option<Spanned<String>>,
    pub(crate) request: Spanned<RawRequest>,
    /// Not `Spanned`: toml cannot give a span to a table that only exists
    /// through `[[template.match.matcher]]`, and refuses it if asked to.
    #[serde(rename = "match")]
    pub(crate) matching: RawMatch,
    #[serde(default)]
    pub(crate) extract: Vec<Spanned<RawExtractor>>,
}

/// `[template.request]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRequest {
    pub(crate) method: Option<Spanned<String>>,
    pub(crate) paths: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(crate) headers: BTreeMap<Spanned<String>, Spanned<String>>,
    pub(crate) schemes: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) ports: Option<Spanned<Vec<Spanned<i64>>>>,
}

/// `[template.match]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatch {
    pub(crate) condition: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) matcher: Vec<Spanned<RawMatcher>>,
}

/// One `[[template.match.matcher]]`, or a member of an `all`/`any` group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatcher {
    pub(crate) status: Option<Spanned<Vec<Spanned<i64>>>>,
    pub(crate) header: Option<Spanned<String>>,
    pub(crate) absent: Option<Spanned<bool>>,
    pub(crate) regex: Option<Spanned<String>>,
    pub(crate) every_value: Option<Spanned<bool>>,
    pub(crate) body: Option<Spanned<String>>,
    pub(crate) all: Option<Spanned<Vec<Spanned<RawMatcher>>>>,
    pub(crate) any: Option<Spanned<Vec<Spanned<RawMatcher>>>>,
    #[serde(default)]
    pub(crate) negate: bool,
    pub(crate) note: Option<Spanned<String>>,
}

/// One `[[template.extract]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExtractor {
    pub(crate) header: Option<Spanned<String>>,
    pub(crate) regex: Option<Spanned<String>>,
    pub(crate) body: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) secret: bool,
}
