//! Change tracking of assets between scans. The store keeps what it last saw
//! of each asset (a host's in-scope addresses, an endpoint's certificate, an
//! open port, a service's banner) and writes a [`ChangeEvent`] when a scan
//! sees it differ: a certificate or an address set replaced, a banner that
//! changed, a host seen for the first time, a port that opened. Events that
//! need a whole run to be sure of (a port closed, a host gone) are derived
//! when a complete run finishes (see `closing.rs`); a failed unit or an
//! incomplete run never makes one. [`Store::assets`] lists what is recorded,
//! [`Store::changes_since`] the events from a time on.
//!
//! Event keys are time-ordered: a big-endian u64 of the event's second
//! shifted left by [`SEQ_BITS`], raised past the previous key when needed, so
//! keys only grow and `--since` is a range scan. Stores written before kept a
//! plain sequence 1, 2, 3 ... (keys below `1 << SEQ_BITS`): those sort first
//! and are filtered by their time.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::keys::{decode, encode};
use super::spaces::{Space, Spaces};
use crate::error::StoreError;
use crate::time::Timestamp;

/// Low bits of an event key that order events of the same second.
pub(super) const SEQ_BITS: u32 = 24;

/// Earlier scans searched for a definite "closed" answer before a port seen
/// open with no record is called opened.
const LOOKBACK_SCANS: u64 = 64;

/// What kind of thing changed (for [`AssetRecord`]s: what is recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// The leaf certificate of a TLS endpoint changed.
    Certificate,
    /// The in-scope addresses a host resolves to changed (comma-separated, sorted).
    Addresses,
    /// An open TCP port (asset records only: the value is the address it
    /// answered on). Its events are [`ChangeKind::PortOpened`] and [`ChangeKind::PortClosed`].
    Port,
    /// A port an earlier complete run found closed answered.
    PortOpened,
    /// A port recorded open answered "closed" in a complete run.
    PortClosed,
    /// The product/version a service announces (banner, `Server` header ...) changed.
    Banner,
    /// A host resolved that the store had no record of, after an earlier
    /// complete run of the same targets.
    HostNew,
    /// A recorded host got a definite "no address" answer (NXDOMAIN, no
    /// A/AAAA) in a complete run, or every port it had open answered closed.
    HostGone,
}

impl ChangeKind {
    /// Every kind.
    pub const ALL: &'static [ChangeKind] = &[
        ChangeKind::Certificate,
        ChangeKind::Addresses,
        ChangeKind::Port,
        ChangeKind::PortOpened,
        ChangeKind::PortClosed,
        ChangeKind::Banner,
        ChangeKind::HostNew,
        ChangeKind::HostGone,
    ];

    /// The name records and JSON use (`port-opened`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Certificate => "certificate",
            ChangeKind::Addresses => "addresses",
            ChangeKind::Port => "port",
            ChangeKind::PortOpened => "port-opened",
            ChangeKind::PortClosed => "port-closed",
            ChangeKind::Banner => "banner",
            ChangeKind::HostNew => "host-new",
            ChangeKind::HostGone => "host-gone",
        }
    }
}

impl std::fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the store last saw of one asset: a host's addresses, an endpoint's
/// certificate, an open port, a service banner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetRecord {
    /// What it is.
    pub kind: ChangeKind,
    /// Host name (normalized).
    pub host: String,
    /// Port, for certificates, open ports and banners.
    pub port: Option<u16>,
    /// The value: addresses, certificate SHA-256, the address a port answered on, a banner.
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
    /// The address concerned, when one is known (an opened or closed port).
    #[serde(default)]
    pub addr: Option<IpAddr>,
    /// Value before (e.g. the old certificate's SHA-256), short text.
    pub before: String,
    /// Value after.
    pub after: String,
    /// Scan that saw it.
    pub scan: Option<u64>,
}

impl ChangeEvent {
    /// One line for summaries: `certificate of www.a.test:443: 0a1b… -> 9f8e…`.
    pub fn summary(&self) -> String {
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let short = |s: &str| s.get(..16).filter(|_| self.kind == ChangeKind::Certificate).unwrap_or(s).to_owned();
        match self.kind {
            ChangeKind::Certificate => {
                format!("certificate of {}{port}: {} -> {}", self.host, short(&self.before), short(&self.after))
            }
            ChangeKind::Addresses => format!("addresses of {}: {} -> {}", self.host, self.before, self.after),
            ChangeKind::Port => format!("port {port} of {}: {} -> {}", self.host, self.before, self.after),
            ChangeKind::PortOpened => format!("port {} of {} opened", port.trim_start_matches(':'), self.host),
            ChangeKind::PortClosed => format!("port {} of {} closed", port.trim_start_matches(':'), self.host),
            ChangeKind::Banner => format!("banner of {}{port}: {} -> {}", self.host, self.before, self.after),
            ChangeKind::HostNew => format!("new host {} ({})", self.host, self.after),
            ChangeKind::HostGone => format!("host {} gone ({})", self.host, self.after),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Seen {
    pub(super) value: String,
    first_seen: Timestamp,
    last_seen: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires: Option<Timestamp>,
    /// The last scan that saw this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) scan: Option<u64>,
    /// For addresses: the scan in which the host had definitely no address
    /// (it is gone when that scan completes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) absent: Option<u64>,
}

pub(super) fn asset_key(kind: ChangeKind, host: &str, port: Option<u16>) -> Vec<u8> {
    let port = port.map_or_else(|| "-".to_owned(), |p| p.to_string());
    format!("{}\0{}\0{port}", kind.as_str(), crate::fingerprint::normalize_host(host)).into_bytes()
}

/// The (kind, host, port) an asset key names; `None` for a foreign key.
pub(super) fn parse_asset_key(key: &[u8]) -> Option<(ChangeKind, String, Option<u16>)> {
    let text = std::str::from_utf8(key).ok()?;
    let mut parts = text.split('\0');
    let name = parts.next()?;
    let kind = ChangeKind::ALL.iter().copied().find(|k| k.as_str() == name)?;
    let host = parts.next()?.to_owned();
    let port = match parts.next()? {
        "-" => None,
        p => Some(p.parse().ok()?),
    };
    if parts.next().is_some() {
        return None;
    }
    Some((kind, host, port))
}

/// What is wrong with an asset record, if anything (for `Store::check`).
pub(super) fn asset_problem(key: &[u8], value: &[u8]) -> Option<String> {
    match parse_asset_key(key) {
        None => return Some("its key is not kind NUL host NUL port".to_owned()),
        Some((kind, ..))
            if !matches!(
                kind,
                ChangeKind::Certificate | ChangeKind::Addresses | ChangeKind::Port | ChangeKind::Banner
            ) =>
        {
            return Some(format!("`{kind}` is an event kind, not an asset kind"));
        }
        Some(_) => {}
    }
    decode::<Seen>(value).err()
}

/// What is wrong with a change event record, if anything (for `Store::check`).
pub(super) fn event_problem(key: &[u8], value: &[u8]) -> Option<String> {
    let Ok(k) = <[u8; 8]>::try_from(key) else {
        return Some("its key is not 8 bytes".to_owned());
    };
    let e = match decode::<ChangeEvent>(value) {
        Ok(e) => e,
        Err(why) => return Some(format!("it is unreadable: {why}")),
    };
    let key = u64::from_be_bytes(k);
    // A time key is never earlier than its event (a sequence key of an older store has no time).
    let key_secs = i64::try_from(key >> SEQ_BITS).unwrap_or(i64::MAX);
    if key >= 1 << SEQ_BITS && key_secs < e.at.unix() {
        return Some(format!("its key's time {} is before the event's time {}", Timestamp::from_unix(key_secs), e.at));
    }
    if e.kind == ChangeKind::Port {
        return Some("`port` is an asset kind, not an event kind".to_owned());
    }
    None
}

/// The first key an event at or after `t` can have.
fn since_key(t: Timestamp) -> u64 {
    u64::try_from(t.unix()).unwrap_or(0).saturating_mul(1 << SEQ_BITS).max(1 << SEQ_BITS)
}

/// Change tracking, on either backend.
pub(crate) trait Tracking: Spaces {
    /// Record the certificate an endpoint presented (its SHA-256 and expiry);
    /// returns the change event when it differs from the one seen last time
    /// (durable when it returns).
    fn observe_certificate(
        &self,
        scan: Option<u64>,
        host: &str,
        port: u16,
        sha256: &str,
        expires: Option<Timestamp>,
    ) -> Result<Option<ChangeEvent>, StoreError> {
        self.observe_value(scan, ChangeKind::Certificate, host, Some(port), sha256, expires)
    }

    /// Record the product/version text a service on `host`:`port` announced
    /// (its banner, `Server` header ...); returns the change event when it
    /// differs from the one stored (durable when it returns). Only a banner
    /// read is compared: a port that announced nothing this time is no change.
    fn observe_banner(
        &self,
        scan: Option<u64>,
        host: &str,
        port: u16,
        banner: &str,
    ) -> Result<Option<ChangeEvent>, StoreError> {
        self.observe_value(scan, ChangeKind::Banner, host, Some(port), banner, None)
    }

    /// Record that `port` of `host` answered on `addr` in `scan`. Returns a
    /// [`ChangeKind::PortOpened`] event when the store had no record of it
    /// open and one of the last 64 (`LOOKBACK_SCANS`) complete scans found it
    /// definitely closed; a port never probed before is no event.
    fn observe_open_port(
        &self,
        scan: Option<u64>,
        host: &str,
        addr: IpAddr,
        port: u16,
    ) -> Result<Option<ChangeEvent>, StoreError> {
        self.locked(|| {
            let key = asset_key(ChangeKind::Port, host, Some(port));
            let known = self.kv_get(Space::Assets, &key)?.is_some();
            let event = match scan {
                Some(scan) if !known && self.closed_before(scan, host, port)? => Some(ChangeEvent {
                    at: Timestamp::now(),
                    kind: ChangeKind::PortOpened,
                    host: crate::fingerprint::normalize_host(host),
                    port: Some(port),
                    addr: Some(addr),
                    before: "closed".to_owned(),
                    after: "open".to_owned(),
                    scan: Some(scan),
                }),
                _ => None,
            };
            self.put_value(scan, ChangeKind::Port, host, Some(port), &addr.to_string(), None, event)
        })
    }

    /// Whether a complete scan before `scan` (among the last few) journaled
    /// `host`:`port` as refusing the connection.
    fn closed_before(&self, scan: u64, host: &str, port: u16) -> Result<bool, StoreError> {
        let host = crate::fingerprint::normalize_host(host);
        let pair = super::keys::asset_prefix(super::scan::EVERY_PORT_CHECK, &host, Some(port));
        for earlier in (scan.saturating_sub(LOOKBACK_SCANS)..scan).rev().filter(|s| *s > 0) {
            if self.pair_covered(earlier, &pair)? && self.run(earlier).is_ok_and(|r| r.complete) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Everything recorded about assets, in key order (kind, host, port);
    /// unreadable records are skipped.
    fn assets(&self) -> Result<Vec<AssetRecord>, StoreError> {
        self.reading(|| {
            let mut out = Vec::new();
            for (k, v) in self.kv_range(Space::Assets, &[], None)? {
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
    /// event when they differ from last time, or a [`ChangeKind::HostNew`]
    /// event for a host without a record once an earlier complete scan of
    /// the same targets exists (the first scan is the baseline). Durable
    /// when it returns.
    ///
    /// No address at all (`addrs` empty) means a definite answer: NXDOMAIN
    /// or no A/AAAA. It is only noted on the host's record; when `scan`
    /// completes, the host is gone (see [`Store::finish_scan`]).
    fn observe_addresses(
        &self,
        scan: Option<u64>,
        host: &str,
        addrs: &[IpAddr],
    ) -> Result<Option<ChangeEvent>, StoreError> {
        let mut sorted: Vec<IpAddr> = addrs.to_vec();
        sorted.sort();
        sorted.dedup();
        let value = sorted.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(",");
        self.locked(|| {
            let key = asset_key(ChangeKind::Addresses, host, None);
            let previous: Option<Seen> = self.kv_get(Space::Assets, &key)?.and_then(|v| decode(&v).ok());
            if sorted.is_empty() {
                if let (Some(mut seen), Some(scan)) = (previous, scan) {
                    seen.absent = Some(scan);
                    self.kv_put(Space::Assets, &key, &encode(&seen))?;
                    self.durable()?;
                }
                return Ok(None);
            }
            if previous.is_some() {
                return self.observe_unlocked(scan, ChangeKind::Addresses, host, None, &value, None);
            }
            let event = match scan {
                Some(scan) if self.has_baseline(scan)? => Some(ChangeEvent {
                    at: Timestamp::now(),
                    kind: ChangeKind::HostNew,
                    host: crate::fingerprint::normalize_host(host),
                    port: None,
                    addr: None,
                    before: String::new(),
                    after: value.clone(),
                    scan: Some(scan),
                }),
                _ => None,
            };
            self.put_value(scan, ChangeKind::Addresses, host, None, &value, None, event)
        })
    }

    /// Whether a complete scan before `scan` shared a target with it.
    fn has_baseline(&self, scan: u64) -> Result<bool, StoreError> {
        let Ok(run) = self.run(scan) else { return Ok(false) };
        let targets: BTreeSet<&str> = run.targets.iter().map(String::as_str).collect();
        Ok(self
            .runs_before(scan)?
            .iter()
            .any(|earlier| earlier.complete && earlier.targets.iter().any(|t| targets.contains(t.as_str()))))
    }

    /// For each host, the addresses it resolved to before its latest change:
    /// where it used to live.
    fn earlier_addresses(&self) -> Result<BTreeMap<String, Vec<IpAddr>>, StoreError> {
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
        self.locked(|| self.observe_unlocked(scan, kind, host, port, value, expires))
    }

    /// Compare with the stored value; an event when it differs.
    fn observe_unlocked(
        &self,
        scan: Option<u64>,
        kind: ChangeKind,
        host: &str,
        port: Option<u16>,
        value: &str,
        expires: Option<Timestamp>,
    ) -> Result<Option<ChangeEvent>, StoreError> {
        let key = asset_key(kind, host, port);
        let previous: Option<Seen> = self.kv_get(Space::Assets, &key)?.and_then(|v| decode(&v).ok());
        let event = match previous {
            Some(s) if s.value != value => Some(ChangeEvent {
                at: Timestamp::now(),
                kind,
                host: crate::fingerprint::normalize_host(host),
                port,
                addr: None,
                before: s.value,
                after: value.to_owned(),
                scan,
            }),
            _ => None,
        };
        self.put_value(scan, kind, host, port, value, expires, event)
    }

    /// Write the asset record (keeping its first-seen time while the value
    /// stays) and the event, if any; flushed when it returns.
    #[allow(clippy::too_many_arguments)]
    fn put_value(
        &self,
        scan: Option<u64>,
        kind: ChangeKind,
        host: &str,
        port: Option<u16>,
        value: &str,
        expires: Option<Timestamp>,
        event: Option<ChangeEvent>,
    ) -> Result<Option<ChangeEvent>, StoreError> {
        let now = Timestamp::now();
        let key = asset_key(kind, host, port);
        let previous: Option<Seen> = self.kv_get(Space::Assets, &key)?.and_then(|v| decode(&v).ok());
        let seen = match previous {
            Some(mut s) if s.value == value || kind == ChangeKind::Port => {
                s.value = value.to_owned();
                s.last_seen = now;
                s.expires = expires.or(s.expires);
                s.scan = scan.or(s.scan);
                s.absent = None;
                s
            }
            _ => Seen { value: value.to_owned(), first_seen: now, last_seen: now, expires, scan, absent: None },
        };
        if let Some(e) = &event {
            self.append_event(e)?;
        }
        self.kv_put(Space::Assets, &key, &encode(&seen))?;
        self.durable()?;
        Ok(event)
    }

    /// Append an event under the next time-ordered key (not flushed). The
    /// key is taken atomically: another process appending at the same time
    /// gets the next one.
    fn append_event(&self, e: &ChangeEvent) -> Result<(), StoreError> {
        let value = encode(e);
        loop {
            let last = self.kv_last_key(Space::Changes)?;
            let last = last.and_then(|k| <[u8; 8]>::try_from(k.as_slice()).ok()).map_or(0, u64::from_be_bytes);
            let id = since_key(e.at).max(last.saturating_add(1));
            if self.kv_insert_new(Space::Changes, &id.to_be_bytes(), &value)? {
                return Ok(());
            }
        }
    }

    /// Every change event, oldest first (unreadable ones are skipped).
    fn changes(&self) -> Result<Vec<ChangeEvent>, StoreError> {
        self.changes_since(None)
    }

    /// The change events at or after `since` (all when `None`), oldest
    /// first; unreadable ones are skipped. A range scan of the time keys.
    fn changes_since(&self, since: Option<Timestamp>) -> Result<Vec<ChangeEvent>, StoreError> {
        self.reading(|| {
            let mut out = Vec::new();
            let from = since.map_or(0, since_key);
            // Sequence keys of an older store first (they sort first), by their time.
            let legacy = self.kv_range(Space::Changes, &[], Some(&(1u64 << SEQ_BITS).to_be_bytes()))?;
            let timed = self.kv_range(Space::Changes, &from.max(1 << SEQ_BITS).to_be_bytes(), None)?;
            for (_, v) in legacy.into_iter().chain(timed) {
                if let Ok(e) = decode::<ChangeEvent>(&v)
                    && since.is_none_or(|s| e.at >= s)
                {
                    out.push(e);
                }
            }
            Ok(out)
        })
    }

    /// The change events `scan` saw, oldest first.
    fn changes_of_scan(&self, scan: u64) -> Result<Vec<ChangeEvent>, StoreError> {
        let since = self.run(scan)?.started;
        Ok(self.changes_since(Some(since))?.into_iter().filter(|e| e.scan == Some(scan)).collect())
    }
}

impl<T: Spaces> Tracking for T {}
