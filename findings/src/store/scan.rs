//! Scan runs and what they covered.

use serde::{Deserialize, Serialize};

use crate::check::CheckId;
use crate::time::Timestamp;

/// What one scan did to the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanCounts {
    /// Findings seen for the first time.
    pub new: u64,
    /// Existing findings seen again (whether or not their evidence changed).
    pub seen: u64,
    /// Of `seen`, those whose evidence changed.
    pub updated: u64,
    /// Findings closed because the scan covered them and did not see them.
    pub fixed: u64,
    /// Fixed findings seen again (regressions).
    pub reopened: u64,
}

/// One scan: when, what, whether it ran to completion, and its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanRun {
    /// Increasing id.
    pub id: u64,
    /// Start time.
    pub started: Timestamp,
    /// End time; `None` while running or when interrupted.
    pub ended: Option<Timestamp>,
    /// Targets as given.
    pub targets: Vec<String>,
    /// Whether every planned (check, asset) unit ran; only complete scans close findings.
    pub complete: bool,
    /// Counts.
    pub counts: ScanCounts,
    /// Units that got no definite answer (timeout, reset, oversize reply,
    /// 429/503 ...): they cover nothing and close nothing. At most
    /// [`MAX_FAILED_KEPT`] are kept; `failed_total` counts them all.
    #[serde(default)]
    pub failed: Vec<FailedUnit>,
    /// How many units failed in all.
    #[serde(default)]
    pub failed_total: u64,
    /// The checks the scan ran (globs; empty: every check).
    #[serde(default)]
    pub checks: Vec<String>,
    /// The checks it skipped (globs).
    #[serde(default)]
    pub skip_checks: Vec<String>,
    /// The `[[schedule]]` that started it (the daemon); `None` for a scan
    /// started by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

/// Failed units kept on a scan record (the rest are only counted).
pub const MAX_FAILED_KEPT: usize = 500;

/// A unit of work (a check group on an asset) that ran but got no definite
/// answer, so it covers nothing: recorded on the scan, counted in the summary.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FailedUnit {
    /// What did not complete: a check id, or a group such as `tls.*`, `http.*`, `svc.*`.
    pub checks: String,
    /// Host (name or address).
    pub host: String,
    /// Port, when the unit is on one.
    pub port: Option<u16>,
    /// Why, as a short sentence fragment (`timeout after 5 s`, `503 Service Unavailable` ...).
    pub reason: String,
}

impl std::fmt::Display for FailedUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(p) => write!(f, "{} on {}:{p}: {}", self.checks, self.host, self.reason),
            None => write!(f, "{} on {}: {}", self.checks, self.host, self.reason),
        }
    }
}

/// A (check, asset) pair that ran to completion without error in a scan.
/// Only covered pairs can close findings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Coverage {
    /// Check that ran.
    pub check: CheckId,
    /// Host it ran on (normalized on write).
    pub host: String,
    /// Port, for service checks.
    pub port: Option<u16>,
}

/// The check part of a coverage entry that stands for every check a port's
/// own probes run (services, TLS, content checks): written once for a port
/// that refused the connection, instead of one entry per check.
pub const EVERY_PORT_CHECK: &str = "*";

/// Whether a finding of `check` is decided by its port's own probes (and so
/// covered by an [`EVERY_PORT_CHECK`] entry): anything but the DNS checks and
/// the legacy-origin comparison, which look elsewhere.
pub(crate) fn port_owned(check: &str) -> bool {
    !check.starts_with("dns.") && !check.starts_with("migration.")
}

pub(crate) fn scan_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

pub(crate) fn coverage_key(scan: u64, c: &Coverage) -> Vec<u8> {
    let host = crate::fingerprint::normalize_host(&c.host);
    let mut k = scan_key(scan).to_vec();
    k.extend_from_slice(&super::keys::asset_prefix(c.check.as_str(), &host, c.port));
    k
}
