//! Change tracking of assets between scans: the certificate each TLS
//! endpoint presents and the in-scope addresses each host resolves to (a
//! change of either is a change event; the addresses a host left are the
//! legacy origins the next scan checks). Open ports are recorded too, for the
//! assets view, without change events yet. [`Store::assets`] lists what is
//! recorded.

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
    /// An open TCP port (the value is the address it answered on). Recorded
    /// only: a port that opens or closes is not a change event yet.
    Port,
}

/// What the store last saw of one asset: a host's addresses, an endpoint's
/// certificate, an open port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetRecord {
    /// What it is.
    pub kind: ChangeKind,
    /// Host name (normalized).
    pub host: String,
    /// Port, for certificates and open ports.
    pub port: Option<u16>,
    /// The value: addresses, certificate SHA-256, or the address a port answered on.
    pub value: String,
    /// When this value was first seen.
    pub first_seen: Timestamp,
    /// When it was last seen.
    pub last_seen: Timestamp,
    /// For certificates: when the certificate expires.
    pub expires: Option<Timestamp>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires: Option<Timestamp>,
}

fn kind_name(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Certificate => "certificate",
        ChangeKind::Addresses => "addresses",
        ChangeKind::Port => "port",
    }
}

fn asset_key(kind: ChangeKind, host: &str, port: Option<u16>) -> Vec<u8> {
    let port = port.map_or_else(|| "-".to_owned(), |p| p.to_string());
    format!("{}\0{}\0{port}", kind_name(kind), crate::fingerprint::normalize_host(host)).into_bytes()
}

/// The (kind, host, port) an asset key names; `None` for a foreign key.
fn parse_asset_key(key: &[u8]) -> Option<(ChangeKind, String, Option<u16>)> {
    let text = std::str::from_utf8(key).ok()?;
    let mut parts = text.split('\0');
    let name = parts.next()?;
    let kind = [ChangeKind::Certificate, ChangeKind::Addresses, ChangeKind::Port]
        .into_iter()
        .find(|k| kind_name(*k) == name)?;
    let host = parts.next()?.to_owned();
    let port = match parts.next()? {
        "-" => None,
        p => Some(p.parse().ok()?),
    };
    Some((kind, host, port))
}

/// What is wrong with an asset record, if anything (for `Store::check`).
pub(super) fn asset_problem(key: &[u8], value: &[u8]) -> Option<String> {
    if parse_asset_key(key).is_none() {
        return Some("its key is not kind NUL host NUL port".to_owned());
    }
    decode::<Seen>(value).err()
}

impl Store {
    /// Record the certificate an endpoint presented (its SHA-256 and expiry);
    /// returns the change event when it differs from the one seen last time
    /// (durable when it returns).
    pub fn observe_certificate(
        &self,
        scan: Option<u64>,
        host: &str,
        port: u16,
        sha256: &str,
        expires: Option<Timestamp>,
    ) -> Result<Option<ChangeEvent>, StoreError> {
        self.observe_value(scan, ChangeKind::Certificate, host, Some(port), sha256, expires)
    }

    /// Record that `port` of `host` answered on `addr` (no change event).
    pub fn observe_open_port(&self, host: &str, addr: IpAddr, port: u16) -> Result<(), StoreError> {
        self.observe_value(None, ChangeKind::Port, host, Some(port), &addr.to_string(), None).map(|_| ())
    }

    /// Everything recorded about assets, in key order (kind, host, port);
    /// unreadable records are skipped.
    pub fn assets(&self) -> Result<Vec<AssetRecord>, StoreError> {
        self.guard(|| {
            let mut out = Vec::new();
            for item in self.assets.iter() {
                let (k, v) = item.map_err(|e| self.engine(e))?;
                let (Some((kind, host, port)), Ok(seen)) = (parse_asset_key(&k), decode::<Seen>(&v)) else {
                    continue;
                };
                out.push(AssetRecord {
                    kind,
                    host,
                    port,
                    value: seen.value,
                    first_seen: seen.first_seen,
                    last_seen: seen.last_seen,
                    expires: seen.expires,
                });
            }
            Ok(out)
        })
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
        self.observe_value(scan, ChangeKind::Addresses, host, None, &value, None)
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
        expires: Option<Timestamp>,
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
                s.expires = expires.or(s.expires);
                s
            }
            Some(s) if kind == ChangeKind::Port => {
                Seen { value: value.to_owned(), first_seen: s.first_seen, last_seen: now, expires }
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
                // Ids count 1, 2, 3 ...: one past the last (sled's `len` walks
                // every event and never ends on a damaged tree).
                let last = self.changes.last().map_err(|e| self.engine(e))?;
                let id = last.and_then(|(k, _)| <[u8; 8]>::try_from(k.as_ref()).ok()).map_or(0, u64::from_be_bytes) + 1;
                self.changes.insert(id.to_be_bytes(), encode(&e)).map_err(|e| self.engine(e))?;
                event = Some(e);
                Seen { value: value.to_owned(), first_seen: now, last_seen: now, expires }
            }
            None => Seen { value: value.to_owned(), first_seen: now, last_seen: now, expires },
        };
        self.assets.insert(key, encode(&seen)).map_err(|e| self.engine(e))?;
        self.flush()?;
        Ok(event)
    }

    /// Every change event, oldest first (unreadable ones are skipped).
    pub fn changes(&self) -> Result<Vec<ChangeEvent>, StoreError> {
        self.guard(|| {
            let mut out = Vec::new();
            for item in self.changes.iter().values() {
                if let Ok(e) = decode(&item.map_err(|e| self.engine(e))?) {
                    out.push(e);
                }
            }
            Ok(out)
        })
    }
}
