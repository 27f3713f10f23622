//! The change events only a complete run can decide, written when it
//! finishes: a port closed, a host gone. Each needs a definite answer of
//! that run: a port is closed only when the run journaled it as refusing
//! the connection (the [`EVERY_PORT_CHECK`] coverage entry) and did not see
//! it open; a host is gone only when its name had definitely no address
//! (NXDOMAIN, no A/AAAA) or every port it had open answered closed and
//! nothing on it failed. A failed unit on a host keeps its ports and the
//! host as they were; so does a run whose failed units were too many to
//! keep them all.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::changes::{ChangeEvent, ChangeKind, Seen, Tracking, parse_asset_key};
use super::keys::{asset_prefix, decode};
use super::scan::EVERY_PORT_CHECK;
use super::spaces::{Space, Spaces};
use crate::error::StoreError;
use crate::fingerprint::normalize_host;
use crate::time::Timestamp;

/// The closing events of a complete run, on either backend.
pub(crate) trait Closing: Spaces + Tracking {
    /// Derive and write the closing events of complete run `scan`; returns them.
    fn close_assets(&self, scan: u64) -> Result<Vec<ChangeEvent>, StoreError> {
        self.locked(|| self.close_assets_unlocked(scan))
    }

    fn close_assets_unlocked(&self, scan: u64) -> Result<Vec<ChangeEvent>, StoreError> {
        let run = self.run(scan)?;
        let now = Timestamp::now();
        // With failed units dropped from the record, where they were is unknown.
        let all_failures_known = run.failed_total <= run.failed.len() as u64;
        let failed_hosts: BTreeSet<String> = run.failed.iter().map(|u| normalize_host(&u.host)).collect();
        let event = |kind, host: &str, port, addr, before: String, after: &str| ChangeEvent {
            at: now,
            kind,
            host: host.to_owned(),
            port,
            addr,
            before,
            after: after.to_owned(),
            scan: Some(scan),
        };
        let mut events = Vec::new();
        let mut remove = Vec::new();

        // Ports: seen open this run, or recorded open earlier.
        let mut open_now: BTreeSet<String> = BTreeSet::new();
        let mut still_open: BTreeSet<String> = BTreeSet::new();
        let mut closed: BTreeMap<String, Vec<u16>> = BTreeMap::new();
        let prefix = format!("{}\0", ChangeKind::Port.as_str());
        for (k, v) in self.kv_prefix(Space::Assets, prefix.as_bytes())? {
            let (Some((_, host, Some(port))), Ok(seen)) = (parse_asset_key(&k), decode::<Seen>(&v)) else {
                continue;
            };
            if seen.scan == Some(scan) {
                open_now.insert(seen.value.clone());
                still_open.insert(host);
                continue;
            }
            let refused = self.pair_covered(scan, &asset_prefix(EVERY_PORT_CHECK, &host, Some(port)))?;
            if !refused || !all_failures_known || failed_hosts.contains(&host) {
                still_open.insert(host);
                continue;
            }
            let addr = seen.value.parse::<IpAddr>().ok();
            events.push(event(ChangeKind::PortClosed, &host, Some(port), addr, "open".into(), "closed"));
            remove.push(k.clone());
            closed.entry(host).or_default().push(port);
        }

        // Hosts whose name had definitely no address in this run.
        let mut gone: BTreeSet<String> = BTreeSet::new();
        let mut addresses: BTreeMap<String, String> = BTreeMap::new();
        let prefix = format!("{}\0", ChangeKind::Addresses.as_str());
        for (k, v) in self.kv_prefix(Space::Assets, prefix.as_bytes())? {
            let (Some((_, host, None)), Ok(seen)) = (parse_asset_key(&k), decode::<Seen>(&v)) else {
                continue;
            };
            if seen.absent == Some(scan) {
                let after = "no address: NXDOMAIN or no A/AAAA record";
                events.push(event(ChangeKind::HostGone, &host, None, None, seen.value.clone(), after));
                remove.push(k.clone());
                gone.insert(host);
            } else {
                addresses.insert(host, seen.value);
            }
        }

        // Hosts whose every open port answered closed, with nothing of theirs failed.
        for (host, ports) in closed {
            if gone.contains(&host) || still_open.contains(&host) || failed_hosts.contains(&host) {
                continue;
            }
            let addrs: Vec<String> = match addresses.get(&host) {
                Some(list) => list.split(',').map(str::to_owned).collect(),
                None => vec![host.clone()],
            };
            if addrs.iter().any(|a| open_now.contains(a)) {
                // Another name of one of its addresses answered.
                continue;
            }
            let list: Vec<String> = ports.iter().map(u16::to_string).collect();
            let before = format!("open: {}", list.join(", "));
            events.push(event(ChangeKind::HostGone, &host, None, None, before, "every port probed answered closed"));
        }

        for e in &events {
            self.append_event(e)?;
        }
        for k in remove {
            self.kv_remove(Space::Assets, &k)?;
        }
        self.durable()?;
        Ok(events)
    }
}

impl<T: Spaces + Tracking> Closing for T {}
