//! The `findings` filters, shared by `haetae findings`, `haetae export`, the
//! TUI's exports and the local API: [`FindingQuery`] is what a user typed
//! (flags or a query string), [`FindingFilter`] the same compiled.

use anyhow::{Result, anyhow};
use globset::{GlobBuilder, GlobMatcher};
use haetae_findings::{ChangeEvent, Finding, Priority, Selection, State, Store, Timestamp};
use serde::{Deserialize, Serialize};

use crate::scan::BadRequest;

/// The filters as given: `state` is comma-separated (or `all`), dates are
/// `YYYY-MM-DD` or RFC 3339. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FindingQuery {
    /// open, confirmed, false-positive, accepted-risk, fixed, or all;
    /// default: open, confirmed, accepted-risk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// P1..P4: this priority or more urgent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_priority: Option<String>,
    /// A glob over check ids (`dns.*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// A glob over host names (`*.agency.test`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Seen on or after this date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Only past their SLA.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub overdue: bool,
    /// Only the suppressed ones (hidden otherwise).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub suppressed: bool,
}

/// Compiled filters.
#[derive(Debug)]
pub struct FindingFilter {
    states: Vec<State>,
    min_priority: Option<Priority>,
    check: Option<GlobMatcher>,
    host: Option<GlobMatcher>,
    host_literal: Option<String>,
    since: Option<Timestamp>,
    overdue: bool,
    suppressed: bool,
    query: FindingQuery,
}

fn bad(msg: String) -> anyhow::Error {
    anyhow!(BadRequest(msg))
}

/// A case-insensitive glob; a bad pattern is a [`BadRequest`] naming `flag`.
pub fn glob(flag: &str, pattern: &str) -> Result<GlobMatcher> {
    GlobBuilder::new(pattern)
        .case_insensitive(true)
        .literal_separator(false)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| bad(format!("{flag} {pattern:?}: {e}")))
}

/// `--since`: a bare date means the start of that day (UTC), unlike
/// `--until`, where it means the end.
pub fn parse_since(text: &str) -> Result<Timestamp> {
    let t: Timestamp = text.parse().map_err(|e| bad(format!("--since: {e}")))?;
    let bare_date = text.trim().len() == 10;
    Ok(if bare_date { Timestamp::from_unix(t.unix() - 86_399) } else { t })
}

impl FindingFilter {
    /// Compile; a bad value is a [`BadRequest`] naming the flag.
    pub fn parse(q: &FindingQuery) -> Result<FindingFilter> {
        let mut states = Vec::new();
        for s in q.state.as_deref().unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if s.eq_ignore_ascii_case("all") {
                states = State::ALL.to_vec();
                break;
            }
            let st: State = s.parse().map_err(|e| bad(format!("--state: {e}, or all")))?;
            if !states.contains(&st) {
                states.push(st);
            }
        }
        if states.is_empty() {
            states = State::LISTED_BY_DEFAULT.to_vec();
        }
        let min_priority = match &q.min_priority {
            None => None,
            Some(p) => Some(p.parse::<Priority>().map_err(|e| bad(format!("--min-priority: {e}")))?),
        };
        let since = q.since.as_deref().map(parse_since).transpose()?;
        let is_glob = |p: &str| p.contains(['*', '?', '[', '{']);
        Ok(FindingFilter {
            states,
            min_priority,
            check: q.check.as_deref().map(|p| glob("--check", p)).transpose()?,
            host: q.host.as_deref().map(|p| glob("--host", p)).transpose()?,
            host_literal: q.host.clone().filter(|p| !is_glob(p)),
            since,
            overdue: q.overdue,
            suppressed: q.suppressed,
            query: q.clone(),
        })
    }

    /// The filters in force, one per entry (as exports state them).
    pub fn parts(&self) -> Vec<String> {
        let mut parts =
            vec![format!("state: {}", self.states.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))];
        if let Some(p) = self.min_priority {
            parts.push(format!("priority: {p} or higher"));
        }
        if let Some(c) = &self.query.check {
            parts.push(format!("check: {c}"));
        }
        if let Some(h) = &self.query.host {
            parts.push(format!("host: {h}"));
        }
        if let Some(t) = self.since {
            parts.push(format!("seen since: {t}"));
        }
        if self.overdue {
            parts.push("overdue".to_owned());
        }
        parts.push(if self.suppressed { "suppressed only" } else { "suppressed hidden" }.to_owned());
        parts
    }

    /// The filters in force, on one line.
    pub fn describe(&self) -> String {
        self.parts().join("; ")
    }

    /// Does `f` pass?
    pub fn matches(&self, f: &Finding) -> bool {
        self.states.contains(&f.state)
            && self.min_priority.is_none_or(|p| f.priority <= p)
            && self.check.as_ref().is_none_or(|g| g.is_match(f.check.as_str()))
            && self.host.as_ref().is_none_or(|g| g.is_match(&f.host))
            && self.since.is_none_or(|t| f.last_seen >= t)
            && (!self.overdue || f.is_overdue(Timestamp::now()))
            && f.suppressed == self.suppressed
    }

    /// The matching findings, most urgent first, and the records that could
    /// not be read (each a sentence).
    pub fn select(&self, store: &Store) -> Result<(Vec<Finding>, Vec<String>)> {
        let selection = match &self.host_literal {
            Some(h) => Selection::Host(h.clone()),
            None => Selection::States(self.states.clone()),
        };
        let listing = store.list(&selection)?;
        let skipped = listing.skipped.iter().map(|b| format!("{}: {b}", store.dir().display())).collect();
        let mut found: Vec<Finding> = listing.findings.into_iter().filter(|f| self.matches(f)).collect();
        sort(&mut found);
        Ok((found, skipped))
    }
}

/// Priority, then score (high first), then most recently seen, then id.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then(b.score.total_cmp(&a.score))
            .then(b.last_seen.cmp(&a.last_seen))
            .then(a.id.cmp(&b.id))
    });
}

/// `haetae changes` filters: since a date, hosts matching a glob.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChangeQuery {
    /// On or after this date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// A glob over host names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl ChangeQuery {
    /// The matching change events, oldest first.
    pub fn select(&self, store: &Store) -> Result<Vec<ChangeEvent>> {
        let since = self.since.as_deref().map(parse_since).transpose()?;
        let host = self.host.as_deref().map(|p| glob("--host", p)).transpose()?;
        Ok(store
            .changes_since(since)?
            .into_iter()
            .filter(|e| host.as_ref().is_none_or(|g| g.is_match(&e.host)))
            .collect())
    }

    /// Check the values without a store (bad ones are [`BadRequest`]s).
    pub fn validate(&self) -> Result<()> {
        self.since.as_deref().map(parse_since).transpose()?;
        self.host.as_deref().map(|p| glob("--host", p)).transpose()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_comma_separated_and_all_means_every_state() {
        let q = FindingQuery { state: Some("open, fixed,open".into()), ..FindingQuery::default() };
        assert_eq!(FindingFilter::parse(&q).unwrap().states, vec![State::Open, State::Fixed]);
        let q = FindingQuery { state: Some("ALL".into()), ..FindingQuery::default() };
        assert_eq!(FindingFilter::parse(&q).unwrap().states, State::ALL.to_vec());
        let d = FindingFilter::parse(&FindingQuery::default()).unwrap();
        assert_eq!(d.states, State::LISTED_BY_DEFAULT.to_vec());
    }

    #[test]
    fn bad_values_are_bad_requests_naming_the_flag() {
        for (q, flag) in [
            (FindingQuery { state: Some("opne".into()), ..FindingQuery::default() }, "--state"),
            (FindingQuery { min_priority: Some("P9".into()), ..FindingQuery::default() }, "--min-priority"),
            (FindingQuery { check: Some("dns.[".into()), ..FindingQuery::default() }, "--check"),
            (FindingQuery { since: Some("yesterday".into()), ..FindingQuery::default() }, "--since"),
        ] {
            let e = FindingFilter::parse(&q).unwrap_err();
            assert!(e.downcast_ref::<BadRequest>().is_some(), "{e}");
            assert!(e.to_string().contains(flag), "{e}");
        }
        let c = ChangeQuery { host: Some("[".into()), ..ChangeQuery::default() };
        assert!(c.validate().unwrap_err().to_string().contains("--host"));
    }
}
