//! Change tracking of assets between scans: the certificate each TLS
//! endpoint presents and the in-scope addresses each host resolves to (a
//! change of either is a change event; the addresses a host left are the
//! legacy origins the next scan checks). Open ports follow with the daemon.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::Store;
use super::keys::{decode, encode};
use crate::error::StoreError;
use crate::time::Timestamp;

/// What kind of thing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// The leaf certificate of a TLS endpoint.
    Certificate,
    /// The in-scope addresses a host resolves to (comma-separated, sorted).
    Addresses,
}

/// One change seen between two scans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEvent {
    /// When it was seen.
    pub at: Timestamp,
    /// What changed.
    pub kind: ChangeKind,
    /// Host name.
    pub host: String,
    /// Port, for services.
    pub port: Option<u16>,
    /// Value before (e.g. the old certificate's SHA-256).
    pub before: String,
    /// Value after.
    pub after: String,
    /// Scan that saw it.
    pub scan: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Seen {
    value: String,
    first_seen: Timestamp,
    last_seen: Timestamp,
}

fn asset_key(kind: ChangeKind, host: &str, port: Option<u16>) -> Vec<u8> {
    let kind = match kind {
        ChangeKind::Certificate => "certificate",
        ChangeKind::Addresses => "addresses",
    };
    let port = port.map_or_else(|| "-".to_owned(), |p| p.to_string());
    format!("{kind}\0{}\0{port}", crate::fingerprint::normalize_host(host)).into_bytes()
}

impl Store {
    /// Record the certificate an endpoint presented; returns the change event
    /// when it differs from the one seen last time (durable when it returns).
    pub fn observe_certificate(
        &self,
        scan: Option<u64>,
        host: &str,
        port: u16,
        sha256: &str,
    ) -> Result<Option<ChangeEvent>, StoreError> {
        self.observe_value(scan, ChangeKind::Certificate, host, Some(port), sha256)
    }

    /// Record the in-scope addresses `host` resolved to; returns the change
    /// event when they differ from last time (durable when it returns).
    pub fn observe_addresses(
        &self,
        scan: Option<u64>,
        host: &str,
        addrs: &[IpAddr],
    ) -> Result<Option<ChangeEvent>, StoreError> {
        let mut sorted: Vec<IpAddr> = addrs.to_vec();
        sorted.sort();
        sorted.dedup();
        let value = sorted.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(",");
        self.observe_value(scan, ChangeKind::Addresses, host, None, &value)
    }

    /// For each host, the addresses it resolved to before its latest change:
    /// where it used to live.
    pub fn earlier_addresses(&self) -> Result<BTreeMap<String, Vec<IpAddr>>, StoreError> {
        let mut out: BTreeMap<String, BTreeSet<IpAddr>> = BTreeMap::new();
        for e in self.changes()?.into_iter().filter(|e| e.kind == ChangeKind::Addresses) {
            let set = out.entry(e.host).or_default();
            set.extend(e.before.split(',').filter_map(|a| a.trim().parse::<IpAddr>().ok()));
        }
        Ok(out.into_iter().filter(|(_, s)| !s.is_empty()).map(|(h, s)| (h, s.into_iter().collect())).collect())
    }

    fn observe_value(
        &self,
        scan: Option<u64>,
        kind: ChangeKind,
        host: &str,
        port: Option<u16>,
        value: &str,
    ) -> Result<Option<ChangeEvent>, StoreError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let now = Timestamp::now();
        let key = asset_key(kind, host, port);
        let previous: Option<Seen> = match self.assets.get(&key).map_err(|e| self.engine(e))? {
            Some(v) => decode(&v).ok(),
            None => None,
        };
        let mut event = None;
        let seen = match previous {
            Some(mut s) if s.value == value => {
                s.last_seen = now;
                s
            }
            Some(s) => {
                let e = ChangeEvent {
                    at: now,
                    kind,
                    host: crate::fingerprint::normalize_host(host),
                    port,
                    before: s.value,
                    after: value.to_owned(),
                    scan,
                };
                let id = self.changes.len() as u64 + 1;
                self.changes.insert(id.to_be_bytes(), encode(&e)).map_err(|e| self.engine(e))?;
                event = Some(e);
                Seen { value: value.to_owned(), first_seen: now, last_seen: now }
            }
            None => Seen { value: value.to_owned(), first_seen: now, last_seen: now },
        };
        self.assets.insert(key, encode(&seen)).map_err(|e| self.engine(e))?;
        self.flush()?;
        Ok(event)
    }

    /// Every change event, oldest first (unreadable ones are skipped).
    pub fn changes(&self) -> Result<Vec<ChangeEvent>, StoreError> {
        let mut out = Vec::new();
        for item in self.changes.iter().values() {
            if let Ok(e) = decode(&item.map_err(|e| self.engine(e))?) {
                out.push(e);
            }
        }
        Ok(out)
    }
}
