//! The team's rules (`rules.toml`): CEL conditions over a finding, its asset
//! and the scan, and what to do when one holds.
//!
//! ```toml
//! [[rule]]
//! name = "citizen data portals"
//! when = 'asset.host.endsWith("portal.agency.test") || "citizen-data" in asset.tags'
//! add = 30
//! tag = "citizen-data"
//!
//! [sla]            # optional: days to fix per band when no rule sets sla_days
//! P1 = 7
//! ```
//!
//! Semantics, in file order after the default score:
//! - `add` adds to the score; the band follows the final score;
//! - `priority` sets the band, whatever the score's band (so a rule may also
//!   keep noise at P4); when several rules set one, the most urgent wins;
//! - `tag` adds a tag, which later rules see (`"x" in asset.tags`);
//! - `sla_days` sets the time to fix; when several rules set one, the shortest
//!   wins; without one, the band's default from `[sla]` applies;
//! - `suppress` hides the finding from default listings; it keeps its
//!   priority and stays stored, listed under suppressed, never deleted.
//!
//! Conditions see `finding.*` (id, check, title, severity, confidence, state,
//! score (the default score, before rules), cwe, evidence, age_days,
//! seen_count, baseline, tags), `asset.*` (host, ip, port, url, tags, cloud)
//! and `scan.*` (engagement, now as Unix seconds). Absent values are empty
//! strings and 0, so every field always exists. A rule that fails on one
//! finding is recorded on that finding and skipped; scoring goes on.

use std::path::{Path, PathBuf};

use std::collections::HashMap;
use std::sync::Arc;

use cel::objects::{Key, Map, Value};
use cel::{Context, Program};
use haetae_findings::{Finding, Prioritizer, Priority, RuleHit, SourceError, Timestamp};
use serde::Deserialize;
use toml::Spanned;

use crate::{DEFAULT_RULE, DefaultScorer};

/// Default days to fix per band, when neither a rule nor `[sla]` says.
pub const DEFAULT_SLA_DAYS: [u32; 4] = [7, 30, 90, 180];

/// Score added for findings tagged `internet-facing` (exposure).
pub const EXPOSURE_BONUS: f64 = 10.0;

/// One compiled rule.
#[derive(Debug)]
pub struct Rule {
    /// Its name, as written.
    pub name: String,
    /// The condition, as written.
    pub when: String,
    program: Program,
    /// The fields the condition reads, when it reads nothing else (then its
    /// answer is a function of them, and is remembered per value).
    deps: Option<Vec<(Var, String)>>,
    add: Option<f64>,
    priority: Option<Priority>,
    tag: Option<String>,
    sla_days: Option<u32>,
    suppress: bool,
}

/// The rules of one `rules.toml`, compiled and checked.
#[derive(Debug)]
pub struct RuleSet {
    /// Tells this set's remembered answers from another's.
    id: u64,
    rules: Vec<Rule>,
    sla: [u32; 4],
    path: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
    sla: Option<Spanned<RawSla>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    when: Spanned<String>,
    add: Option<Spanned<i64>>,
    priority: Option<Spanned<String>>,
    tag: Option<Spanned<String>>,
    sla_days: Option<Spanned<i64>>,
    suppress: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
struct RawSla {
    P1: Option<Spanned<i64>>,
    P2: Option<Spanned<i64>>,
    P3: Option<Spanned<i64>>,
    P4: Option<Spanned<i64>>,
}

thread_local! {
    /// The built-in functions, registered once per thread; each finding gets
    /// an inner scope with its variables.
    static ROOT: Context<'static, 'static> = Context::default();
}

/// The field names conditions see, made once: every finding's maps share them.
const FINDING_FIELDS: [&str; 13] = [
    "id",
    "check",
    "title",
    "severity",
    "confidence",
    "state",
    "score",
    "cwe",
    "evidence",
    "age_days",
    "seen_count",
    "baseline",
    "tags",
];
const ASSET_FIELDS: [&str; 6] = ["host", "ip", "port", "url", "tags", "cloud"];
const SCAN_FIELDS: [&str; 2] = ["engagement", "now"];

static KEYS: std::sync::LazyLock<Vec<Key>> = std::sync::LazyLock::new(|| {
    FINDING_FIELDS
        .iter()
        .chain(&ASSET_FIELDS)
        .chain(&SCAN_FIELDS)
        .map(|k| Key::String(Arc::new((*k).to_owned())))
        .collect()
});

fn text(s: &str) -> Value {
    Value::String(Arc::new(s.to_owned()))
}

fn map(keys: &[Key], values: Vec<Value>) -> Value {
    let m: HashMap<Key, Value> = keys.iter().cloned().zip(values).collect();
    Value::Map(Map { map: Arc::new(m) })
}

/// The variables `finding`, `asset` and `scan` of one finding. Every field is
/// always present: absent values are "" and 0.
fn vars(f: &Finding, base: f64, now: Timestamp) -> Result<(Value, Value, Value), String> {
    let keys = &*KEYS;
    let (fk, rest) = keys.split_at(FINDING_FIELDS.len());
    let (ak, sk) = rest.split_at(ASSET_FIELDS.len());
    let tags = Value::List(Arc::new(f.tags.iter().map(|t| text(t)).collect()));
    let cloud = f.tags.iter().find_map(|t| t.strip_prefix("cloud:")).unwrap_or("");
    let finding = map(
        fk,
        vec![
            text(&f.id),
            text(f.check.as_str()),
            text(&f.title),
            text(f.severity.as_str()),
            text(f.confidence.as_str()),
            text(f.state.as_str()),
            Value::Float(base),
            Value::Int(f.cwe.map_or(0, i64::from)),
            text(&f.evidence),
            Value::Int(now.days_since(f.first_seen)),
            Value::Int(i64::try_from(f.seen_count).unwrap_or(i64::MAX)),
            text(f.baseline.as_str()),
            tags.clone(),
        ],
    );
    let asset = map(
        ak,
        vec![
            text(&f.host),
            text(&f.ip.map(|a| a.to_string()).unwrap_or_default()),
            Value::Int(f.port.map_or(0, i64::from)),
            text(f.url.as_deref().unwrap_or("")),
            tags,
            text(cloud),
        ],
    );
    let scan = map(sk, vec![text(&f.engagement), Value::Int(now.unix())]);
    Ok((finding, asset, scan))
}

/// The variables conditions see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    Finding,
    Asset,
    Scan,
}

fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The `var.field` reads of `e`, or `None` when it reads anything else (a
/// bare variable, a comprehension): then its answer is never remembered.
fn deps_of(e: &cel::parser::Expression) -> Option<Vec<(Var, String)>> {
    use cel::common::ast::{EntryExpr, Expr};
    fn walk(e: &cel::parser::Expression, out: &mut Vec<(Var, String)>) -> bool {
        match &e.expr {
            Expr::Literal(_) => true,
            Expr::Select(s) => match &s.operand.expr {
                Expr::Ident(v) => {
                    let var = match v.as_str() {
                        "finding" => Var::Finding,
                        "asset" => Var::Asset,
                        "scan" => Var::Scan,
                        _ => return false,
                    };
                    if !out.iter().any(|(w, f)| *w == var && *f == s.field) {
                        out.push((var, s.field.clone()));
                    }
                    true
                }
                _ => walk(&s.operand, out),
            },
            Expr::Call(c) => c.target.as_deref().is_none_or(|t| walk(t, out)) && c.args.iter().all(|a| walk(a, out)),
            Expr::List(l) => l.elements.iter().all(|x| walk(x, out)),
            Expr::Map(m) => m.entries.iter().all(|x| match &x.expr {
                EntryExpr::MapEntry(me) => walk(&me.key, out) && walk(&me.value, out),
                EntryExpr::StructField(_) => false,
            }),
            Expr::Ident(_) | Expr::Comprehension(_) | Expr::Struct(_) | Expr::Unspecified => false,
        }
    }
    let mut out = Vec::new();
    let plain = walk(e, &mut out);
    (plain && !out.iter().any(|(_, f)| UNIQUE_FIELDS.contains(&f.as_str()))).then_some(out)
}

/// The memo key of `rule` for `f`: the values of the fields it reads.
fn memo_key(deps: &[(Var, String)], f: &Finding, base: f64, now: Timestamp, key: &mut String) -> bool {
    use std::fmt::Write;
    key.clear();
    for (var, field) in deps {
        let ok = match (var, field.as_str()) {
            (Var::Finding, "id") => write!(key, "{}", f.id),
            (Var::Finding, "check") => write!(key, "{}", f.check),
            (Var::Finding, "title") => write!(key, "{}", f.title),
            (Var::Finding, "severity") => write!(key, "{}", f.severity),
            (Var::Finding, "confidence") => write!(key, "{}", f.confidence),
            (Var::Finding, "state") => write!(key, "{}", f.state),
            (Var::Finding, "score") => write!(key, "{base}"),
            (Var::Finding, "cwe") => write!(key, "{}", f.cwe.unwrap_or(0)),
            (Var::Finding, "evidence") => write!(key, "{}", f.evidence),
            (Var::Finding, "age_days") => write!(key, "{}", now.days_since(f.first_seen)),
            (Var::Finding, "seen_count") => write!(key, "{}", f.seen_count),
            (Var::Finding, "baseline") => write!(key, "{}", f.baseline),
            (Var::Finding | Var::Asset, "tags") => write!(key, "{}", f.tags.join("\u{1e}")),
            (Var::Asset, "host") => write!(key, "{}", f.host),
            (Var::Asset, "ip") => write!(key, "{}", f.ip.map(|a| a.to_string()).unwrap_or_default()),
            (Var::Asset, "port") => write!(key, "{}", f.port.unwrap_or(0)),
            (Var::Asset, "url") => write!(key, "{}", f.url.as_deref().unwrap_or("")),
            (Var::Asset, "cloud") => {
                write!(key, "{}", f.tags.iter().find_map(|t| t.strip_prefix("cloud:")).unwrap_or(""))
            }
            (Var::Scan, "engagement") => write!(key, "{}", f.engagement),
            (Var::Scan, "now") => write!(key, "{}", now.unix()),
            _ => return false,
        };
        if ok.is_err() {
            return false;
        }
        key.push('\u{1f}');
    }
    true
}

/// Remembered answers of one rule set, per thread: the set's id, and per
/// rule the answers by field values. Another set (rules.toml reloaded)
/// starts it over.
type Memo = (u64, Vec<HashMap<String, Result<bool, String>>>);

/// Most answers remembered per rule and thread before that rule's memo starts over.
const MEMO_CAP: usize = 4096;

/// Fields that differ on nearly every finding: a condition reading one is
/// evaluated every time rather than remembered.
const UNIQUE_FIELDS: [&str; 4] = ["id", "title", "evidence", "url"];

thread_local! {
    static MEMO: std::cell::RefCell<Memo> = const { std::cell::RefCell::new((0, Vec::new())) };
}

/// The remembered answer of rule `index` of set `set` for `key`.
fn recall(set: u64, index: usize, key: &str) -> Option<Result<bool, String>> {
    MEMO.with(|m| {
        let m = m.borrow();
        if m.0 != set {
            return None;
        }
        m.1.get(index).and_then(|answers| answers.get(key)).cloned()
    })
}

fn remember(set: u64, rules: usize, index: usize, key: &str, answer: &Result<bool, String>) {
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.0 != set {
            *m = (set, vec![HashMap::new(); rules]);
        }
        if let Some(answers) = m.1.get_mut(index) {
            if answers.len() >= MEMO_CAP {
                answers.clear();
            }
            answers.insert(key.to_owned(), answer.clone());
        }
    })
}

/// Evaluate `rule` in a context holding the variables; `Ok(bool)` or why not.
fn holds_in(rule: &Rule, cx: &Context<'_, '_>) -> Result<bool, String> {
    match rule.program.execute(cx) {
        Ok(Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("the condition gave {}, not true or false", type_name(&other))),
        Err(e) => Err(e.to_string()),
    }
}

/// Put the variables of one finding in `cx`.
fn bind(cx: &mut Context<'_, '_>, v: (Value, Value, Value)) {
    cx.add_variable_from_value("finding", v.0);
    cx.add_variable_from_value("asset", v.1);
    cx.add_variable_from_value("scan", v.2);
}

/// Evaluate `rule` on the variables (one finding, one rule: the type check).
fn holds(rule: &Rule, v: &(Value, Value, Value)) -> Result<bool, String> {
    ROOT.with(|root| {
        let mut cx = root.new_inner_scope();
        bind(&mut cx, v.clone());
        holds_in(rule, &cx)
    })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "a bool",
        Value::Int(_) | Value::UInt(_) => "an integer",
        Value::Float(_) => "a number",
        Value::String(_) => "a string",
        Value::List(_) => "a list",
        Value::Map(_) => "a map",
        Value::Null => "null",
        _ => "a value",
    }
}

/// A finding with every field set, to type-check conditions against.
fn sample() -> Finding {
    Finding::example()
}

/// Byte offset in the file of the CEL error position (line 1-based, column
/// 0-based) in the `when` string whose span starts at `start`.
fn offset_in_file(text: &str, start: usize, expr: &str, pos: (isize, isize)) -> usize {
    let quote = if text[start..].starts_with("'''") || text[start..].starts_with("\"\"\"") { 3 } else { 1 };
    let line = usize::try_from(pos.0.max(1) - 1).unwrap_or(0);
    let col = usize::try_from(pos.1.max(0)).unwrap_or(0);
    let mut off = 0;
    for (i, l) in expr.split_inclusive('\n').enumerate() {
        if i == line {
            off += col.min(l.len());
            break;
        }
        off += l.len();
    }
    (start + quote + off.min(expr.len())).min(text.len())
}

impl RuleSet {
    /// No rules: the default score, bands and SLAs only.
    pub fn empty() -> RuleSet {
        RuleSet { id: next_id(), rules: Vec::new(), sla: DEFAULT_SLA_DAYS, path: PathBuf::new() }
    }

    /// Read and compile `path`; a missing file is no rules.
    pub fn load(path: &Path) -> Result<RuleSet, Vec<SourceError>> {
        match std::fs::read_to_string(path) {
            Ok(text) => RuleSet::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RuleSet::empty()),
            Err(e) => Err(vec![SourceError::whole_file(path, format!("cannot read: {e}"))]),
        }
    }

    /// Parse, compile and type-check the rules in `text` (read from `path`).
    pub fn parse(path: &Path, text: &str) -> Result<RuleSet, Vec<SourceError>> {
        let raw: RawFile = toml::from_str(text).map_err(|e| vec![SourceError::from_toml(path, text, &e)])?;
        let mut errors = Vec::new();
        let err = |errors: &mut Vec<SourceError>, at: usize, msg: String| {
            errors.push(SourceError::at_offset(path, text, at, msg));
        };
        let mut sla = DEFAULT_SLA_DAYS;
        if let Some(s) = &raw.sla {
            let r = s.get_ref();
            for (i, v) in [&r.P1, &r.P2, &r.P3, &r.P4].into_iter().enumerate() {
                if let Some(v) = v {
                    match u32::try_from(*v.get_ref()) {
                        Ok(d) if d > 0 => sla[i] = d,
                        _ => err(
                            &mut errors,
                            v.span().start,
                            format!("[sla] P{}: expected a number of days above 0", i + 1),
                        ),
                    }
                }
            }
        }
        let probe = sample();
        let base = DefaultScorer::base(probe.severity, probe.confidence);
        let sample_vars = vars(&probe, base, Timestamp::now());
        let mut rules = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for r in &raw.rule {
            let r = r.get_ref();
            let name = r.name.get_ref().trim().to_owned();
            if name.is_empty() {
                err(&mut errors, r.name.span().start, "rule name: must not be empty".into());
                continue;
            }
            if names.contains(&name) {
                err(&mut errors, r.name.span().start, format!("rule `{name}`: another rule has this name"));
                continue;
            }
            names.push(name.clone());
            let expr = r.when.get_ref();
            let program = match Program::compile(expr) {
                Ok(p) => p,
                Err(e) => {
                    let first = e.errors.first();
                    let pos = first.map_or((1, 0), |p| p.pos);
                    let msg = first.map_or_else(|| e.to_string(), |p| p.msg.clone());
                    let at = offset_in_file(text, r.when.span().start, expr, pos);
                    err(&mut errors, at, format!("rule `{name}`: `when` is not a CEL expression: {msg}"));
                    continue;
                }
            };
            let priority = match &r.priority {
                None => None,
                Some(p) => match p.get_ref().parse::<Priority>() {
                    Ok(p) => Some(p),
                    Err(_) => {
                        err(&mut errors, p.span().start, format!("rule `{name}`: priority must be P1, P2, P3 or P4"));
                        continue;
                    }
                },
            };
            let sla_days = match &r.sla_days {
                None => None,
                Some(d) => match u32::try_from(*d.get_ref()) {
                    Ok(d) if d > 0 => Some(d),
                    _ => {
                        err(
                            &mut errors,
                            d.span().start,
                            format!("rule `{name}`: sla_days must be a number of days above 0"),
                        );
                        continue;
                    }
                },
            };
            let tag = match &r.tag {
                Some(t) if t.get_ref().trim().is_empty() || t.get_ref().chars().any(char::is_control) => {
                    err(&mut errors, t.span().start, format!("rule `{name}`: tag must be a non-empty word"));
                    continue;
                }
                Some(t) => Some(t.get_ref().trim().to_owned()),
                None => None,
            };
            let suppress = r.suppress.as_ref().is_some_and(|s| *s.get_ref());
            let add = r.add.as_ref().map(|a| *a.get_ref() as f64);
            if add.is_none() && priority.is_none() && tag.is_none() && sla_days.is_none() && !suppress {
                err(
                    &mut errors,
                    r.name.span().start,
                    format!("rule `{name}`: no action: expected add, priority, tag, sla_days or suppress"),
                );
                continue;
            }
            let deps = deps_of(program.expression());
            let rule =
                Rule { name: name.clone(), when: expr.clone(), program, deps, add, priority, tag, sla_days, suppress };
            // Type check: every field the condition names exists on the sample,
            // and the answer is a bool.
            let checked = match &sample_vars {
                Ok(v) => holds(&rule, v),
                Err(e) => Err(e.clone()),
            };
            if let Err(why) = checked {
                let at = offset_in_file(text, r.when.span().start, expr, (1, 0));
                err(
                    &mut errors,
                    at,
                    format!(
                        "rule `{name}`: {why}; expected a true/false condition over finding.{{id, check, title, severity, \
                         confidence, state, score, cwe, evidence, age_days, seen_count, baseline, tags}}, \
                         asset.{{host, ip, port, url, tags, cloud}} and scan.{{engagement, now}}"
                    ),
                );
                continue;
            }
            rules.push(rule);
        }
        if errors.is_empty() { Ok(RuleSet { id: next_id(), rules, sla, path: path.to_owned() }) } else { Err(errors) }
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Where the rules came from (empty for [`RuleSet::empty`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Days to fix for a band when no rule sets them.
    pub fn sla_days(&self, p: Priority) -> u32 {
        self.sla[p as usize]
    }
}

fn band_index(p: Priority) -> usize {
    p as usize
}

impl Prioritizer for RuleSet {
    fn prioritize(&self, f: &mut Finding, now: Timestamp) {
        // The default score, as DefaultScorer explains it.
        DefaultScorer.prioritize(f, now);
        let base = f.score;
        // Tags from an earlier scoring are the rules' to give again.
        let old: Vec<String> = std::mem::take(&mut f.rule_tags);
        f.tags.retain(|t| !old.contains(t));
        let mut score = base;
        if f.has_tag("internet-facing") {
            score += EXPOSURE_BONUS;
            f.rules.push(RuleHit { name: DEFAULT_RULE.into(), effect: format!("internet-facing: +{EXPOSURE_BONUS}") });
        }
        let mut set_priority: Option<Priority> = None;
        let mut sla: Option<u32> = None;
        let mut suppressed = false;
        ROOT.with(|root| {
            let mut cx = root.new_inner_scope();
            // The variables are bound only when some rule must really be
            // evaluated (and again after a rule added a tag).
            let mut bound: Option<Result<(), String>> = None;
            let mut key = String::new();
            for (index, rule) in self.rules.iter().enumerate() {
                // A condition that reads only fields is a function of their
                // values: many findings share them (same check, same host).
                let memo = rule.deps.as_deref().is_some_and(|d| memo_key(d, f, base, now, &mut key));
                let remembered = if memo { recall(self.id, index, &key) } else { None };
                if remembered.is_none() && bound.is_none() {
                    bound = Some(vars(f, base, now).map(|v| bind(&mut cx, v)));
                }
                let answer = match (remembered, &bound) {
                    (Some(a), _) => a,
                    (None, Some(Ok(()))) => {
                        let a = holds_in(rule, &cx);
                        if memo {
                            remember(self.id, self.rules.len(), index, &key, &a);
                        }
                        a
                    }
                    (None, Some(Err(e))) => Err(e.clone()),
                    (None, None) => Err("variables not bound".to_owned()),
                };
                match answer {
                    Ok(false) => {}
                    Err(why) => {
                        f.rules.push(RuleHit { name: rule.name.clone(), effect: format!("error, skipped: {why}") })
                    }
                    Ok(true) => {
                        let mut effects = Vec::new();
                        if let Some(a) = rule.add {
                            score += a;
                            effects.push(format!("{a:+}"));
                        }
                        if let Some(p) = rule.priority {
                            effects.push(format!("priority {p}"));
                            set_priority = Some(set_priority.map_or(p, |q| q.min(p)));
                        }
                        if let Some(t) = &rule.tag {
                            effects.push(format!("tag {t}"));
                            if !f.tags.contains(t) {
                                f.tags.push(t.clone());
                                f.rule_tags.push(t.clone());
                                // Later rules see the tag.
                                bound = None;
                            }
                        }
                        if let Some(d) = rule.sla_days {
                            effects.push(format!("sla {d} days"));
                            sla = Some(sla.map_or(d, |s| s.min(d)));
                        }
                        if rule.suppress {
                            effects.push("suppressed".to_owned());
                            suppressed = true;
                        }
                        f.rules.push(RuleHit { name: rule.name.clone(), effect: effects.join(", ") });
                    }
                }
            }
        });
        f.score = (score * 10.0).round() / 10.0;
        let band = DefaultScorer::band(f.score);
        // A rule's band wins over the score's (the most urgent rule's, when several set one).
        f.priority = set_priority.unwrap_or(band);
        f.suppressed = suppressed;
        let days = sla.unwrap_or(self.sla[band_index(f.priority)]);
        f.due = Some(f.first_seen.plus_days(i64::from(days)));
        let why = match set_priority {
            Some(p) if p != band => format!("set by a rule to {p}; the score's band is {band}"),
            _ => format!("band of score {}", f.score),
        };
        f.rules.push(RuleHit {
            name: "result".into(),
            effect: format!(
                "score {} -> {} ({why}); due {} ({days} days){}",
                f.score,
                f.priority,
                f.first_seen.plus_days(i64::from(days)).date_string(),
                if suppressed { "; suppressed" } else { "" }
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(expr: &str) -> Option<Vec<(Var, String)>> {
        deps_of(Program::compile(expr).unwrap().expression())
    }

    #[test]
    fn conditions_that_read_only_fields_are_remembered_by_their_values() {
        let f = |v, s: &str| (v, s.to_owned());
        assert_eq!(deps(r#"finding.check == "dns.caa-missing""#), Some(vec![f(Var::Finding, "check")]));
        assert_eq!(
            deps(r#"asset.host.endsWith(".test") && ("x" in asset.tags || finding.check in ["a", "b"])"#),
            Some(vec![f(Var::Asset, "host"), f(Var::Asset, "tags"), f(Var::Finding, "check")])
        );
        assert_eq!(deps("true"), Some(vec![]));
        // Anything else is evaluated every time.
        assert_eq!(deps("finding == {}"), None);
        assert_eq!(deps("asset.tags.exists(t, t == \"x\")"), None);
        assert_eq!(deps("size(other) > 0"), None);
        assert_eq!(deps(r#"finding.evidence.contains("x")"#), None, "unique per finding: not worth remembering");
        let mut key = String::new();
        let ex = Finding::example();
        assert!(memo_key(&[f(Var::Finding, "check"), f(Var::Asset, "port")], &ex, 1.0, Timestamp::now(), &mut key));
        assert_eq!(key, "http.exposed-env\u{1f}443\u{1f}");
        assert!(!memo_key(&[f(Var::Finding, "nope")], &ex, 1.0, Timestamp::now(), &mut key));
    }
}
