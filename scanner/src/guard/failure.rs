//! Failed units in the audit log: a unit that got no definite answer is
//! written down with why, so the trail shows what was tried and not vouched for.

use std::net::IpAddr;

use haetae_findings::audit::{Protocol, Verdict};

use super::{Attempt, GuardError, ScopeGuard};

impl ScopeGuard {
    /// Append an audit record saying that the unit `checks` on `host`
    /// (`addr`:`port` when known) ran but got no definite answer, and why.
    /// Nothing is sent; the record's outcome is `failed: REASON`.
    pub fn record_failure(
        &self,
        checks: &str,
        host: &str,
        addr: Option<IpAddr>,
        port: Option<u16>,
        reason: &str,
    ) -> Result<u64, GuardError> {
        let probe = format!("unit {checks}");
        let protocol = if port.is_some() { Protocol::Tcp } else { Protocol::Dns };
        let attempt = Attempt { target: host, address: addr, port, protocol, probe: &probe };
        let outcome = format!("failed: {reason}");
        self.record(self.entry(attempt, Verdict::Allowed, "in scope", &outcome))
    }
}
