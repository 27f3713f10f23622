//! `software.eol` and `software.known-exploited` on one endpoint: the
//! readings a probe took there, judged against the data in force. Covered
//! only when a version of a known product was read; otherwise nothing is
//! reported, covered or failed (the probe's own unit says what went wrong).

use std::net::IpAddr;

use super::Ctx;
use crate::software::{self, Endpoint, Reading};

impl Ctx {
    /// Judge what was read on `host` at `addr`:`port` and report it.
    pub(super) async fn software(&self, host: &str, addr: IpAddr, port: u16, readings: &[Reading], audit: &[u64]) {
        if readings.is_empty() || software::CHECKS.iter().all(|c| self.skipped(c, host, Some(port))) {
            return;
        }
        let today = self.guard.now().date_string();
        let engagement = self.guard.scope().engagement.id.clone();
        let at = Endpoint { host, addr, port, engagement: &engagement, today: &today };
        let report = software::observations(&self.software, readings, &at, audit);
        self.found(report.observations).await;
        if report.covered {
            for c in software::CHECKS {
                self.covered(c, host, Some(port)).await;
            }
        }
    }
}
