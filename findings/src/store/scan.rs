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

pub(crate) fn scan_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

pub(crate) fn coverage_key(scan: u64, c: &Coverage) -> Vec<u8> {
    let host = crate::fingerprint::normalize_host(&c.host);
    let mut k = scan_key(scan).to_vec();
    k.extend_from_slice(&super::keys::asset_prefix(c.check.as_str(), &host, c.port));
    k
}
