//! `software.eol` and `software.known-exploited`: the readings each probe
//! took on an endpoint are kept until the port scan is over, then judged
//! against the data in force. A distribution marker seen in any banner of
//! an address (an SSH banner saying `Debian`) makes every reading of that
//! address a distribution build (nginx's own banner never says so). An
//! endpoint is covered only when a version of a known product was read
//! there; otherwise nothing is reported, covered or failed (the probe's own
//! unit says what went wrong).

use std::collections::HashMap;
use std::net::IpAddr;

use super::Ctx;
use crate::software::{self, Endpoint, Reading};

/// The readings of one endpoint, waiting for the end of the port scan.
#[derive(Debug)]
pub(super) struct Pending {
    host: String,
    addr: IpAddr,
    port: u16,
    readings: Vec<Reading>,
    audit: Vec<u64>,
    /// Whether the software checks run here (else the readings are kept
    /// only for the endpoint's banner).
    judge: bool,
}

impl Ctx {
    /// Keep what was read on `host` at `addr`:`port`.
    pub(super) async fn software(&self, host: &str, addr: IpAddr, port: u16, readings: &[Reading], audit: &[u64]) {
        if readings.is_empty() {
            return;
        }
        let judge = !software::CHECKS.iter().all(|c| self.skipped(c, host, Some(port)));
        let mut soft = self.soft.lock().unwrap_or_else(|p| p.into_inner());
        let (host, readings, audit) = (host.to_owned(), readings.to_vec(), audit.to_vec());
        soft.push(Pending { host, addr, port, readings, audit, judge });
    }

    /// Judge and report everything read during the port scan.
    pub(super) async fn flush_software(&self) {
        let pending = std::mem::take(&mut *self.soft.lock().unwrap_or_else(|p| p.into_inner()));
        let today = self.guard.now().date_string();
        let engagement = self.guard.scope().engagement.id.clone();
        for (host, port, banner) in super::banners::of(pending.iter().map(|p| (&p.host, p.port, &p.readings))) {
            self.send(super::ScanEvent::Banner { host, port, banner }).await;
        }
        // The first distribution marker any judged banner of each address
        // showed, found in one pass (not once per endpoint).
        let mut markers: HashMap<IpAddr, String> = HashMap::new();
        for o in pending.iter().filter(|o| o.judge) {
            if markers.contains_key(&o.addr) {
                continue;
            }
            let first = o
                .readings
                .iter()
                .find_map(|r| r.distro.as_ref().map(|m| format!("{m}, from the {} of {}", r.origin, r.raw)));
            if let Some(m) = first {
                markers.insert(o.addr, m);
            }
        }
        for p in pending.iter().filter(|p| p.judge) {
            let seen = markers.get(&p.addr).cloned();
            let readings: Vec<Reading> = p
                .readings
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    if r.distro.is_none() {
                        r.distro.clone_from(&seen);
                    }
                    r
                })
                .collect();
            let at = Endpoint { host: &p.host, addr: p.addr, port: p.port, engagement: &engagement, today: &today };
            let report = software::observations(&self.software, &readings, &at, &p.audit);
            self.found(report.observations).await;
            if report.covered {
                for c in software::CHECKS {
                    self.covered(c, &p.host, Some(p.port)).await;
                }
            }
        }
    }
}
