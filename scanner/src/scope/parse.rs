//! scope.toml as written ([`RawFile`]), validated into a [`Scope`].
//!
//! Strict: unknown keys are errors, and every error carries the line and column
//! of the value (or key) at fault.

use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use haetae_findings::{SourceError, Timestamp};
use ipnet::IpNet;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use toml::Spanned;
use toml::value::Datetime;

use super::ports::{TOP_100, TOP_100_NAME};
use super::{Engagement, Limits, Migration, Scope, Target, norm};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    engagement: RawEngagement,
    scope: RawScope,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    migration: Vec<RawMigration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEngagement {
    id: Spanned<String>,
    agency: Option<Spanned<String>>,
    contact: Option<Spanned<String>>,
    not_before: Spanned<toml::Value>,
    not_after: Spanned<toml::Value>,
}

type Strings = Vec<Spanned<String>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScope {
    domains: Spanned<Strings>,
    #[serde(default)]
    cidrs: Strings,
    ports: Spanned<RawPorts>,
    #[serde(default)]
    exclude_domains: Strings,
    #[serde(default)]
    exclude_cidrs: Strings,
    #[serde(default)]
    exclude_paths: Strings,
    seeds: Option<Spanned<Strings>>,
    /// Required for a network in `cidrs` wider than [`BROAD_V4`] / [`BROAD_V6`].
    #[serde(default)]
    broad: bool,
}

/// The widest IPv4 network `cidrs` takes without `broad = true`: a /8.
pub(super) const BROAD_V4: u8 = 8;
/// The widest IPv6 network `cidrs` takes without `broad = true`: a /32.
pub(super) const BROAD_V6: u8 = 32;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_rps: Option<Spanned<i64>>,
    per_host_rps: Option<Spanned<i64>>,
    concurrency: Option<Spanned<i64>>,
    timeout_ms: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMigration {
    host: Spanned<String>,
    legacy_addresses: Spanned<Strings>,
}

/// `ports = [22, 80]` or `ports = "top-100"`.
#[derive(Debug)]
enum RawPorts {
    List(Vec<Spanned<i64>>),
    Named(String),
}

impl<'de> Deserialize<'de> for RawPorts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PortsVisitor;

        impl<'de> Visitor<'de> for PortsVisitor {
            type Value = RawPorts;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a list of port numbers or \"{TOP_100_NAME}\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPorts, E> {
                Ok(RawPorts::Named(v.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawPorts, A::Error> {
                let mut ports = Vec::new();
                while let Some(p) = seq.next_element::<Spanned<i64>>()? {
                    ports.push(p);
                }
                Ok(RawPorts::List(ports))
            }
        }

        d.deserialize_any(PortsVisitor)
    }
}

/// Positions errors in one file.
struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, msg: impl Into<String>) -> SourceError {
        SourceError::at_offset(self.path, self.text, span.start, msg)
    }
}

pub(super) fn parse(path: &Path, text: &str) -> Result<Scope, SourceError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| SourceError::from_toml(path, text, &e))?;
    let cx = Ctx { path, text };
    let engagement = engagement(&cx, raw.engagement)?;
    let s = raw.scope;

    if s.domains.get_ref().is_empty() {
        return Err(cx.err(s.domains.span(), "[scope] domains: must list at least one domain"));
    }
    let mut domains = Vec::new();
    for d in s.domains.get_ref() {
        let name = name(&cx, d, "[scope] domains")?;
        if !name.contains('.') {
            return Err(cx.err(
                d.span(),
                format!(
                    "[scope] domains: `{name}` is a top-level domain; list the agency's own domains (e.g. agency.test)"
                ),
            ));
        }
        push_unique(&mut domains, name);
    }
    let mut exclude_domains = Vec::new();
    for d in &s.exclude_domains {
        push_unique(&mut exclude_domains, name(&cx, d, "[scope] exclude_domains")?);
    }
    let mut cidrs = Vec::new();
    for c in &s.cidrs {
        let net = norm::parse_net(c.get_ref()).map_err(|m| cx.err(c.span(), format!("[scope] cidrs: {m}")))?;
        if net != net.trunc() {
            let msg = format!(
                "[scope] cidrs: `{}` has bits set after the prefix: write the network {} or the single address {}/{}",
                c.get_ref(),
                net.trunc(),
                net.addr(),
                net.max_prefix_len()
            );
            return Err(cx.err(c.span(), msg));
        }
        let net = norm::canonical_net(net);
        let (family, widest) = match net {
            IpNet::V4(_) => ("IPv4", BROAD_V4),
            IpNet::V6(_) => ("IPv6", BROAD_V6),
        };
        if net.prefix_len() < widest && !s.broad {
            let what = if net.prefix_len() == 0 {
                format!("every {family} address")
            } else {
                format!("{} addresses", net_size(&net))
            };
            let msg = format!(
                "[scope] cidrs: `{}` covers {what}, more than an {family} /{widest}; add `broad = true` to [scope] only if the authorization really covers all of them",
                c.get_ref().trim()
            );
            return Err(cx.err(c.span(), msg));
        }
        push_unique(&mut cidrs, net);
    }
    let mut exclude_cidrs = Vec::new();
    for c in &s.exclude_cidrs {
        let net = norm::parse_net(c.get_ref()).map_err(|m| cx.err(c.span(), format!("[scope] exclude_cidrs: {m}")))?;
        // A sloppy exclusion only excludes more: keep the whole network.
        push_unique(&mut exclude_cidrs, norm::canonical_net(net.trunc()));
    }
    let ports = ports(&cx, &s.ports)?;
    let mut exclude_paths = Vec::new();
    for p in &s.exclude_paths {
        push_unique(&mut exclude_paths, exclude_path(&cx, p)?);
    }
    let limits = limits(&cx, &raw.limits)?;

    let mut scope = Scope {
        engagement,
        domains,
        cidrs,
        ports,
        exclude_domains,
        exclude_cidrs,
        exclude_paths,
        seeds: Vec::new(),
        limits,
        migrations: Vec::new(),
    };

    let seeds: &[Spanned<String>] = match &s.seeds {
        Some(list) if list.get_ref().is_empty() => {
            return Err(cx.err(
                list.span(),
                "[scope] seeds: must list at least one seed (leave seeds out to start from the domains)",
            ));
        }
        Some(list) => list.get_ref(),
        None => s.domains.get_ref(),
    };
    let mut checked = Vec::new();
    for seed in seeds {
        let (target, decision) = scope.check_target(seed.get_ref());
        if !decision.allowed {
            return Err(cx.err(seed.span(), format!("[scope] seeds: `{}` is {}", seed.get_ref().trim(), decision)));
        }
        let text = match target {
            Target::Name(n) => n,
            Target::Addr(ip) => ip.to_string(),
            Target::Url { .. } => seed.get_ref().trim().to_owned(),
        };
        push_unique(&mut checked, text);
    }
    scope.seeds = checked;

    let mut migrations = Vec::new();
    for m in &raw.migration {
        migrations.push(migration(&cx, &scope, m)?);
    }
    scope.migrations = migrations;
    Ok(scope)
}

/// The number of addresses in `net`, in words a reader can weigh (2^N).
fn net_size(net: &IpNet) -> String {
    let bits = u32::from(net.max_prefix_len() - net.prefix_len());
    match 1u64.checked_shl(bits).filter(|_| bits < 64) {
        Some(n) => n.to_string(),
        None => format!("2^{bits}"),
    }
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

fn engagement(cx: &Ctx<'_>, e: RawEngagement) -> Result<Engagement, SourceError> {
    let id = e.id.get_ref().trim();
    if id.is_empty() {
        return Err(
            cx.err(e.id.span(), "[engagement] id: must not be empty (the engagement id from the authorization)")
        );
    }
    let id = plain_text(cx, &e.id, "[engagement] id")?.trim().to_owned();
    let agency = match &e.agency {
        Some(a) => plain_text(cx, a, "[engagement] agency")?.to_owned(),
        None => String::new(),
    };
    let contact = match &e.contact {
        Some(c) => plain_text(cx, c, "[engagement] contact")?.to_owned(),
        None => String::new(),
    };
    let not_before = time(cx, &e.not_before, "not_before")?;
    let not_after = time(cx, &e.not_after, "not_after")?;
    if not_before >= not_after {
        return Err(cx.err(
            e.not_after.span(),
            format!("[engagement] not_after: {not_after} must be later than not_before {not_before}"),
        ));
    }
    Ok(Engagement { id, agency, contact, not_before, not_after })
}

/// Text that ends up in headers and reports: no control characters (a newline in
/// `contact` would split the User-Agent header).
fn plain_text<'a>(cx: &Ctx<'_>, v: &'a Spanned<String>, what: &str) -> Result<&'a str, SourceError> {
    if v.get_ref().chars().any(char::is_control) {
        return Err(cx.err(v.span(), format!("{what}: must not contain control characters (newlines, tabs, ...)")));
    }
    Ok(v.get_ref())
}

const TIME_EXAMPLE: &str = "2026-11-01T00:00:00Z or 2026-11-01T09:00:00+09:00";

fn time(cx: &Ctx<'_>, v: &Spanned<toml::Value>, key: &str) -> Result<Timestamp, SourceError> {
    let at = |msg: String| cx.err(v.span(), format!("[engagement] {key}: {msg}"));
    let dt: Datetime = match v.get_ref() {
        toml::Value::Datetime(d) => *d,
        toml::Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| at(format!("`{s}` is not a date-time: write RFC 3339 with an offset, e.g. {TIME_EXAMPLE}")))?,
        other => return Err(at(format!("expected a date-time such as {TIME_EXAMPLE}, found a {}", other.type_str()))),
    };
    match (dt.date, dt.time, dt.offset) {
        (Some(_), Some(_), Some(_)) => dt
            .to_string()
            .parse::<Timestamp>()
            .map_err(|_| at(format!("`{dt}` is not a valid date-time; write e.g. {TIME_EXAMPLE}"))),
        (Some(_), Some(_), None) => Err(at(format!(
            "`{dt}` is a local date-time without a timezone offset; add `Z` for UTC or an offset such as `+09:00`"
        ))),
        (Some(_), None, _) => {
            Err(at(format!("`{dt}` is a date without a time and timezone offset; write e.g. {dt}T00:00:00+09:00")))
        }
        _ => Err(at(format!("`{dt}` is a time of day without a date; write e.g. {TIME_EXAMPLE}"))),
    }
}

fn name(cx: &Ctx<'_>, v: &Spanned<String>, what: &str) -> Result<String, SourceError> {
    let raw = v.get_ref();
    if norm::ip_literal(raw).is_some() {
        return Err(cx.err(v.span(), format!("{what}: `{raw}` is an address; list addresses in cidrs")));
    }
    norm::normalize_name(raw)
        .map_err(|why| cx.err(v.span(), format!("{what}: `{raw}` is not a valid host name: {why}")))
}

fn ports(cx: &Ctx<'_>, v: &Spanned<RawPorts>) -> Result<Vec<u16>, SourceError> {
    match v.get_ref() {
        RawPorts::Named(s) if s == TOP_100_NAME => Ok(TOP_100.to_vec()),
        RawPorts::Named(s) => Err(cx.err(
            v.span(),
            format!(
                "[scope] ports: unknown port set `{s}`; expected a list of port numbers 1-65535 or \"{TOP_100_NAME}\""
            ),
        )),
        RawPorts::List(list) if list.is_empty() => {
            Err(cx.err(v.span(), "[scope] ports: must list at least one port (or be \"top-100\")"))
        }
        RawPorts::List(list) => {
            let mut out = Vec::new();
            for p in list {
                let port = u16::try_from(*p.get_ref()).ok().filter(|&n| n != 0).ok_or_else(|| {
                    cx.err(p.span(), format!("[scope] ports: {} is not a port number (1-65535)", p.get_ref()))
                })?;
                push_unique(&mut out, port);
            }
            Ok(out)
        }
    }
}

fn exclude_path(cx: &Ctx<'_>, v: &Spanned<String>) -> Result<String, SourceError> {
    let raw = v.get_ref().trim();
    let at = |msg: &str| cx.err(v.span(), format!("[scope] exclude_paths: `{raw}` {msg}"));
    if !raw.starts_with('/') {
        return Err(at("must be a path starting with `/`"));
    }
    if raw.contains(['?', '#']) {
        return Err(at("has a query or fragment; entries are paths, and exclude the path with every query"));
    }
    if raw.contains('*') {
        return Err(at("has `*`; entries are prefixes (`/admin` excludes /admin and everything under it)"));
    }
    norm::normalize_exclusion(raw).ok_or_else(|| at("cannot be normalized"))
}

fn limits(cx: &Ctx<'_>, l: &RawLimits) -> Result<Limits, SourceError> {
    let d = Limits::default();
    let bounded = |v: &Option<Spanned<i64>>, key: &str, max: i64, default: i64| -> Result<i64, SourceError> {
        match v {
            None => Ok(default),
            Some(s) if (1..=max).contains(s.get_ref()) => Ok(*s.get_ref()),
            Some(s) => Err(cx.err(s.span(), format!("[limits] {key}: {} is out of range (1 to {max})", s.get_ref()))),
        }
    };
    let max_rps = bounded(&l.max_rps, "max_rps", 100_000, i64::from(d.max_rps))?;
    let per_host_default = i64::from(d.per_host_rps).min(max_rps);
    let per_host_rps = bounded(&l.per_host_rps, "per_host_rps", 100_000, per_host_default)?;
    if let Some(s) = &l.per_host_rps
        && per_host_rps > max_rps
    {
        return Err(cx.err(
            s.span(),
            format!("[limits] per_host_rps: {per_host_rps} is more than max_rps {max_rps} for the whole scan"),
        ));
    }
    let concurrency = bounded(&l.concurrency, "concurrency", 10_000, i64::try_from(d.concurrency).unwrap_or(128))?;
    let timeout_ms =
        bounded(&l.timeout_ms, "timeout_ms", 600_000, i64::try_from(d.timeout.as_millis()).unwrap_or(5000))?;
    // The bounds above make every conversion exact.
    Ok(Limits {
        max_rps: u32::try_from(max_rps).unwrap_or(d.max_rps),
        per_host_rps: u32::try_from(per_host_rps).unwrap_or(d.per_host_rps),
        concurrency: usize::try_from(concurrency).unwrap_or(d.concurrency),
        timeout: u64::try_from(timeout_ms).map_or(d.timeout, Duration::from_millis),
    })
}

fn migration(cx: &Ctx<'_>, scope: &Scope, m: &RawMigration) -> Result<Migration, SourceError> {
    let host = name(cx, &m.host, "[[migration]] host")?;
    let d = scope.check_name(&host);
    if !d.allowed {
        return Err(cx.err(m.host.span(), format!("[[migration]] host: `{host}` is {d}")));
    }
    if m.legacy_addresses.get_ref().is_empty() {
        return Err(cx.err(m.legacy_addresses.span(), "[[migration]] legacy_addresses: must list at least one address"));
    }
    let mut legacy = Vec::new();
    for a in m.legacy_addresses.get_ref() {
        let ip: IpAddr = norm::ip_literal(a.get_ref()).ok_or_else(|| {
            cx.err(a.span(), format!("[[migration]] legacy_addresses: `{}` is not an address", a.get_ref()))
        })?;
        let d = scope.check_addr(ip);
        if !d.allowed {
            return Err(cx.err(a.span(), format!("[[migration]] legacy_addresses: {ip} is {d}")));
        }
        push_unique(&mut legacy, ip);
    }
    Ok(Migration { host, legacy_addresses: legacy })
}
