//! The finding and the typed values it is built from.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::check::CheckId;
use crate::time::Timestamp;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident, $what:literal { $( $variant:ident => $s:literal ),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $( #[serde(rename = $s)] #[doc = $s] $variant, )+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The stable string form.
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $s, )+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseEnumError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $( if s.eq_ignore_ascii_case($s) {
                    return Ok($name::$variant);
                } )+
                Err(ParseEnumError {
                    what: $what,
                    got: s.to_owned(),
                    expected: &[ $( $s ),+ ],
                })
            }
        }
    };
}

/// A value that is not one of an enum's string forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{got}`: expected one of {}", expected.join(", "))]
pub struct ParseEnumError {
    /// Which kind of value was being parsed.
    pub what: &'static str,
    /// What was given.
    pub got: String,
    /// The accepted forms.
    pub expected: &'static [&'static str],
}

string_enum!(
    /// How bad the weakness is, independent of this agency's context.
    Severity, "severity" {
    Info => "info", Low => "low", Medium => "medium", High => "high", Critical => "critical",
});

string_enum!(
    /// How sure the probe is that the weakness is real.
    Confidence, "confidence" {
    Tentative => "tentative", Firm => "firm", Certain => "certain",
});

string_enum!(
    /// The team's priority band; P1 is the most urgent. `Ord` sorts P1 first.
    Priority, "priority" {
    P1 => "P1", P2 => "P2", P3 => "P3", P4 => "P4",
});

string_enum!(
    /// Triage state of a finding.
    State, "state" {
    Open => "open",
    Confirmed => "confirmed",
    FalsePositive => "false-positive",
    AcceptedRisk => "accepted-risk",
    Fixed => "fixed",
});

string_enum!(
    /// How a finding changed against the previous scan that covered it.
    Baseline, "baseline state" {
    New => "new",
    Unchanged => "unchanged",
    Updated => "updated",
    Absent => "absent",
    Reopened => "reopened",
});

/// `host:port` (`[v6]:port` for an IPv6 address), or the host alone.
pub fn endpoint(host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) if host.contains(':') => format!("[{host}]:{p}"),
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

impl State {
    /// What listings show unless asked otherwise (`haetae findings`, the TUI):
    /// open, confirmed and accepted risk.
    pub const LISTED_BY_DEFAULT: [State; 3] = [State::Open, State::Confirmed, State::AcceptedRisk];

    /// States in which the weakness is still considered present and actionable.
    pub fn is_active(self) -> bool {
        matches!(self, State::Open | State::Confirmed)
    }
}

/// Where a weakness was seen: the host and, when relevant, the address and port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// The scanned name (or the address as text when there is no name).
    pub host: String,
    /// The address that answered, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// The port, when the check is about a service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// One entry of a finding's history: who changed what, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When the change happened.
    pub at: Timestamp,
    /// Who made it: a team member, or `scanner`.
    pub actor: String,
    /// State before the change (`None` when the finding was created).
    pub from: Option<State>,
    /// State after the change.
    pub to: State,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What a probe reports: everything about a weakness that the scanner knows.
/// The store turns it into a [`Finding`] (new) or merges it into an existing one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Which check saw it.
    pub check: CheckId,
    /// Where.
    pub asset: Asset,
    /// The location inside the asset: a URL, a DNS record name, a certificate,
    /// or empty when the asset itself is the location.
    pub location: String,
    /// One line describing the weakness.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Confidence.
    pub confidence: Confidence,
    /// Short evidence text; secrets must already be redacted.
    pub evidence: String,
    /// CWE number.
    pub cwe: Option<u32>,
    /// Links that explain the weakness.
    pub references: Vec<String>,
    /// What to do about it.
    pub remediation: String,
    /// Engagement id from scope.toml.
    pub engagement: String,
    /// Tags the probe adds (e.g. `internet-facing`).
    pub tags: Vec<String>,
    /// When it was seen.
    pub seen_at: Timestamp,
    /// Ids of the audit records (queries, connections) that produced it.
    pub audit: Vec<u64>,
}

impl Observation {
    /// An observation with the catalogue's title and severity for `check`.
    pub fn new(check: CheckId, asset: Asset, location: impl Into<String>, engagement: impl Into<String>) -> Self {
        let meta = check.meta();
        Observation {
            title: meta.map(|m| m.title.to_owned()).unwrap_or_else(|| check.to_string()),
            severity: meta.map(|m| m.default_severity).unwrap_or(Severity::Info),
            cwe: meta.and_then(|m| m.cwe),
            check,
            asset,
            location: location.into(),
            confidence: Confidence::Firm,
            evidence: String::new(),
            references: Vec::new(),
            remediation: String::new(),
            engagement: engagement.into(),
            tags: Vec::new(),
            seen_at: Timestamp::now(),
            audit: Vec::new(),
        }
    }
}

/// A rule that fired on a finding, and what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleHit {
    /// The rule's name (`default` for the built-in scorer).
    pub name: String,
    /// What it did, in words (`+30`, `priority P1`, `suppressed`).
    pub effect: String,
}

/// One weakness on one asset at one location, with its whole life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable fingerprint of (check, asset, location); see [`crate::fingerprint::fingerprint`].
    pub id: String,
    /// Version of the fingerprint algorithm that produced `id`.
    pub fingerprint_version: u8,
    /// Check id.
    pub check: CheckId,
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Confidence.
    pub confidence: Confidence,
    /// Priority band, assigned by the rules engine.
    pub priority: Priority,
    /// Score the band was derived from.
    pub score: f64,
    /// Triage state.
    pub state: State,
    /// Host name (normalized).
    pub host: String,
    /// Address that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// Port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// URL, when the location is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Normalized location used in the fingerprint.
    pub location: String,
    /// Short, redacted evidence.
    pub evidence: String,
    /// CWE number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwe: Option<u32>,
    /// References.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// Remediation.
    pub remediation: String,
    /// First time seen.
    pub first_seen: Timestamp,
    /// Last time seen.
    pub last_seen: Timestamp,
    /// How many times seen.
    pub seen_count: u64,
    /// Engagement id.
    pub engagement: String,
    /// Tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Rules that fired, with their effect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleHit>,
    /// State changes.
    pub history: Vec<HistoryEntry>,
    /// Change against the previous scan that covered this finding.
    pub baseline: Baseline,
    /// Who the finding is assigned to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// For accepted risk: when the acceptance ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_until: Option<Timestamp>,
    /// Id of the last scan run that saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan: Option<u64>,
    /// Audit record ids of the requests behind the latest observation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<u64>,
    /// Whether the scorer suppressed it (it stays stored and listed under suppressed).
    #[serde(default)]
    pub suppressed: bool,
    /// When it should be dealt with: `first_seen` plus the SLA the rules give it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Timestamp>,
    /// The tags in `tags` that rules added (replaced on every re-scoring).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_tags: Vec<String>,
}

impl Finding {
    /// The asset this finding is on.
    pub fn asset(&self) -> Asset {
        Asset { host: self.host.clone(), ip: self.ip, port: self.port }
    }

    /// `host` or `host:port`, for listings.
    pub fn endpoint(&self) -> String {
        endpoint(&self.host, self.port)
    }

    /// A finding with every field set (an exposed `.env` on a portal), for
    /// type-checking rule conditions and for tests.
    pub fn example() -> Finding {
        let now = Timestamp::now();
        Finding {
            id: "0123456789abcdef".into(),
            fingerprint_version: crate::fingerprint::FINGERPRINT_VERSION,
            check: CheckId::HttpExposedEnv,
            title: "Environment file (.env) exposed".into(),
            severity: Severity::High,
            confidence: Confidence::Firm,
            priority: Priority::P2,
            score: 56.0,
            state: State::Open,
            host: "portal.agency.test".into(),
            ip: Some(IpAddr::from([127, 77, 1, 50])),
            port: Some(443),
            url: Some("https://portal.agency.test/.env".into()),
            location: "https://portal.agency.test/.env".into(),
            evidence: "https://portal.agency.test/.env: 200; APP_ENV=production".into(),
            cwe: Some(538),
            references: vec!["https://cwe.mitre.org/data/definitions/538.html".into()],
            remediation: "Remove the file from the web root.".into(),
            first_seen: now,
            last_seen: now,
            seen_count: 1,
            engagement: "KR-EXAMPLE".into(),
            tags: vec!["internet-facing".into()],
            rules: Vec::new(),
            history: Vec::new(),
            baseline: Baseline::New,
            assignee: None,
            accepted_until: None,
            last_scan: None,
            audit: Vec::new(),
            suppressed: false,
            due: None,
            rule_tags: Vec::new(),
        }
    }

    /// Past its due date and still waiting for a fix (open or confirmed).
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        matches!(self.state, State::Open | State::Confirmed) && self.due.is_some_and(|d| d < now)
    }

    /// Whether a tag is present.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// Add a tag once.
    pub fn add_tag(&mut self, tag: &str) {
        if !self.has_tag(tag) {
            self.tags.push(tag.to_owned());
        }
    }
}

impl Finding {
    /// The finding as a JSON object with every field present (absent options
    /// as `null`, empty lists as `[]`), the shape of `--json` output and exports.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(obj) = v.as_object_mut() {
            for key in ["ip", "port", "url", "cwe", "assignee", "accepted_until", "last_scan"] {
                obj.entry(key).or_insert(serde_json::Value::Null);
            }
            for key in ["references", "tags", "rules", "audit"] {
                obj.entry(key).or_insert_with(|| serde_json::Value::Array(Vec::new()));
            }
        }
        v
    }
}
