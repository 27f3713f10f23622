//! `Filter`: what the findings table shows.

use haetae_findings::{Priority, Severity, State, Timestamp};

use crate::row::Row;

/// Which triage states the table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateFilter {
    /// Open, confirmed and accepted risk: what still needs attention
    /// (the same default as `haetae findings`).
    #[default]
    Active,
    /// One state.
    Only(State),
    /// Every state.
    All,
}

impl StateFilter {
    /// The next one in the `s` cycle.
    pub fn next(self) -> Self {
        match self {
            StateFilter::Active => StateFilter::Only(State::Open),
            StateFilter::Only(s) => match State::ALL.iter().position(|x| *x == s).and_then(|i| State::ALL.get(i + 1)) {
                Some(n) => StateFilter::Only(*n),
                None => StateFilter::All,
            },
            StateFilter::All => StateFilter::Active,
        }
    }

    fn admits(self, s: State) -> bool {
        match self {
            StateFilter::Active => State::LISTED_BY_DEFAULT.contains(&s),
            StateFilter::Only(x) => x == s,
            StateFilter::All => true,
        }
    }
}

/// The active filters of the findings table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    /// Free text (`/`), matched case-insensitively against check, host, title
    /// and evidence; every space-separated word must occur.
    pub text: String,
    /// States.
    pub states: StateFilter,
    /// Only this priority.
    pub priority: Option<Priority>,
    /// Only this severity.
    pub severity: Option<Severity>,
    /// Only this host.
    pub host: Option<String>,
    /// Show the findings rules suppressed (and only those).
    pub suppressed: bool,
    /// Only overdue findings.
    pub overdue: bool,
}

/// Cycle an optional value through `all` then back to `None`.
pub(crate) fn cycle<T: Copy + PartialEq>(current: Option<T>, all: &[T]) -> Option<T> {
    match current {
        None => all.first().copied(),
        Some(c) => all.iter().position(|x| *x == c).and_then(|i| all.get(i + 1)).copied(),
    }
}

impl Filter {
    /// Whether the table shows `r`. `words` is the lower-cased text, split.
    pub(crate) fn matches(&self, r: &Row, words: &[String], now: Timestamp) -> bool {
        self.states.admits(r.state)
            && r.suppressed == self.suppressed
            && self.priority.is_none_or(|p| r.priority == p)
            && self.severity.is_none_or(|s| r.severity == s)
            && self.host.as_ref().is_none_or(|h| r.host == *h)
            && (!self.overdue || r.is_overdue(now))
            && words.iter().all(|w| r.hay.contains(w.as_str()))
    }

    /// The text's words, lower-cased.
    pub(crate) fn words(&self) -> Vec<String> {
        self.text.split_whitespace().map(str::to_lowercase).collect()
    }

    /// The filters in words, for the status line and exports.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.push(match self.states {
            StateFilter::Active => {
                let names: Vec<&str> = State::LISTED_BY_DEFAULT.iter().map(|s| s.as_str()).collect();
                format!("state: {}", names.join(", "))
            }
            StateFilter::Only(s) => format!("state: {s}"),
            StateFilter::All => "state: all".to_owned(),
        });
        if let Some(p) = self.priority {
            out.push(format!("priority: {p}"));
        }
        if let Some(s) = self.severity {
            out.push(format!("severity: {s}"));
        }
        if let Some(h) = &self.host {
            out.push(format!("host: {h}"));
        }
        if self.suppressed {
            out.push("suppressed only".to_owned());
        }
        if self.overdue {
            out.push("overdue".to_owned());
        }
        if !self.text.trim().is_empty() {
            out.push(format!("text: \"{}\"", self.text.trim()));
        }
        out
    }
}
