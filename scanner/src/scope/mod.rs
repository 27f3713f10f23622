//! The authorization: scope.toml parsed into a [`Scope`], and the decisions the
//! scope guard makes from it.
//!
//! Every decision is a [`Decision`] whose `reason` names the rule that decided,
//! because the audit log and `haetae scope check` show it to the agency. The rules
//! (SPEC.md, "scope.toml"): a name is in scope if it equals or is under a
//! `domains` entry and under no `exclude_domains` entry; an address if it is in
//! `cidrs` (when given) and in no `exclude_cidrs`; a port if it is in `ports`; a
//! path unless it is at or under an `exclude_paths` entry. Anything ambiguous is
//! out: names a resolver could read as addresses, IPv4-mapped IPv6 addresses
//! (judged as the IPv4 address they reach), paths spelled with escapes, dot
//! segments or `;parameters`. A network in `cidrs` wider than an IPv4 /8 or
//! an IPv6 /32 (`0.0.0.0/0` above all) is refused unless `[scope]` says
//! `broad = true`: a slip of the prefix must not authorize the internet.
//!
//! ```
//! use std::path::Path;
//! use haetae_scanner::scope::{Scope, Target};
//!
//! let text = r#"
//! [engagement]
//! id = "KR-2026-0142"
//! not_before = 2026-11-01T00:00:00Z
//! not_after = 2026-12-31T23:59:59Z
//! [scope]
//! domains = ["agency.test"]
//! cidrs = ["127.77.0.0/20"]
//! ports = [80, 443]
//! exclude_domains = ["payments.agency.test"]
//! exclude_paths = ["/logout"]
//! "#;
//! let scope = Scope::parse(Path::new("scope.toml"), text)?;
//! assert!(scope.check_name("www.agency.test").allowed);
//! assert!(!scope.check_name("evilagency.test").allowed);
//! let (target, decision) = scope.check_target("https://www.agency.test/a/../logout?x=1");
//! assert!(matches!(target, Target::Url { port: 443, .. }));
//! assert_eq!(decision.reason, "out of scope: path /logout?x=1 is excluded by exclude_paths /logout");
//! # Ok::<(), haetae_findings::SourceError>(())
//! ```

mod norm;
mod parse;
mod ports;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use haetae_findings::fingerprint::normalize_url;
use haetae_findings::{SourceError, Timestamp};
use ipnet::IpNet;

pub use ports::TOP_100;

/// A parsed and validated scope.toml.
///
/// Lists hold normalized entries (lowercase names without trailing dot, IPv4-mapped
/// networks as IPv4, exclusion paths in their reduced form). The checks normalize
/// again, so a `Scope` built by hand is judged by the same rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `[engagement]`: who authorized what, and when.
    pub engagement: Engagement,
    /// Names in scope, with every subdomain.
    pub domains: Vec<String>,
    /// Addresses that may be contacted; empty = any address an in-scope name resolves to.
    pub cidrs: Vec<IpNet>,
    /// Ports that may be contacted.
    pub ports: Vec<u16>,
    /// Names (and their subdomains) never contacted, even under `domains`.
    pub exclude_domains: Vec<String>,
    /// Addresses never contacted, even inside `cidrs`.
    pub exclude_cidrs: Vec<IpNet>,
    /// Paths (and everything under them) never requested.
    pub exclude_paths: Vec<String>,
    /// Where discovery starts (names, addresses or URLs); each is in scope.
    pub seeds: Vec<String>,
    /// `[limits]`: politeness.
    pub limits: Limits,
    /// `[[migration]]`: known legacy origins of hosts that moved.
    pub migrations: Vec<Migration>,
}

/// `[engagement]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engagement {
    /// The engagement id, stamped on every finding, export and audit record.
    pub id: String,
    /// The agency that gave the authorization (may be empty).
    pub agency: String,
    /// How operators reach the team, sent in the User-Agent (may be empty).
    pub contact: String,
    /// The authorization window opens.
    pub not_before: Timestamp,
    /// The authorization window closes.
    pub not_after: Timestamp,
}

/// `[limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests per second for the whole scan.
    pub max_rps: u32,
    /// Requests per second to any one host.
    pub per_host_rps: u32,
    /// Connections in flight.
    pub concurrency: usize,
    /// Per connection attempt and per request.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_rps: 100, per_host_rps: 20, concurrency: 128, timeout: Duration::from_millis(5000) }
    }
}

/// One `[[migration]]`: a host that moved, and the addresses it used to live at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The host (normalized), in scope.
    pub host: String,
    /// Where it was served from before the move.
    pub legacy_addresses: Vec<IpAddr>,
}

/// In or out of scope, and why (the rule that decided, for the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// May it be contacted?
    pub allowed: bool,
    /// `in scope: ...` or `out of scope: ...`.
    pub reason: String,
}

impl Decision {
    pub(crate) fn allow(why: impl fmt::Display) -> Self {
        Decision { allowed: true, reason: format!("in scope: {why}") }
    }

    pub(crate) fn deny(why: impl fmt::Display) -> Self {
        Decision { allowed: false, reason: format!("out of scope: {why}") }
    }

    /// The reason without its `in scope: ` / `out of scope: ` prefix.
    pub(crate) fn why(&self) -> &str {
        let r = &self.reason;
        r.strip_prefix("in scope: ").or_else(|| r.strip_prefix("out of scope: ")).unwrap_or(r)
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// How a name met inside a CNAME chain is judged ([`Scope::check_chain_name`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainName {
    /// Under `domains` and under no exclusion: in scope, a target of its own.
    InScope,
    /// Outside `domains`: a hop only. The in-scope name that leads here may be
    /// probed as itself when every address of the chain is in scope; this name
    /// is never a target (not enumerated, not transferred, never a Host or SNI).
    Outside(String),
    /// Excluded by `exclude_domains`, or not a valid host name: nothing
    /// reached through it is contacted.
    Refused(String),
}

/// What `haetae scope check` was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A host name (normalized when valid, as given otherwise).
    Name(String),
    /// An address.
    Addr(IpAddr),
    /// A URL: its host (normalized), port (explicit or the scheme's default), and
    /// path with the query, if any.
    Url {
        /// Host name or address text.
        host: String,
        /// Port.
        port: u16,
        /// Path (at least `/`), with `?query` when there is one.
        path: String,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Name(n) => f.write_str(n),
            Target::Addr(ip) => write!(f, "{ip}"),
            Target::Url { host, port, path } if host.contains(':') => write!(f, "[{host}]:{port}{path}"),
            Target::Url { host, port, path } => write!(f, "{host}:{port}{path}"),
        }
    }
}

/// Classify a target: an absolute URL (`scheme://host[:port]/path`), an address
/// (`127.77.1.21`, `::1`, `[::1]`), or a valid host name. `None` for anything
/// else, including URLs that different parsers could read differently (a `\`
/// or whitespace before the path).
pub fn parse_target(s: &str) -> Option<Target> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.contains("://") {
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return None;
        }
        let (_, rest) = s.split_once("://")?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('\\') {
            return None;
        }
        let u = normalize_url(s)?;
        let path = match &u.query {
            Some(q) => format!("{}?{q}", u.path),
            None => u.path.clone(),
        };
        return Some(Target::Url { host: u.host, port: u.port, path });
    }
    if let Some(ip) = norm::ip_literal(s) {
        return Some(Target::Addr(ip));
    }
    norm::normalize_name(s).ok().map(Target::Name)
}

impl Scope {
    /// Read and parse a scope file.
    pub fn load(path: &Path) -> Result<Scope, SourceError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SourceError::whole_file(path, format!("cannot read the scope file: {e}")))?;
        Scope::parse(path, &text)
    }

    /// Parse and validate scope.toml text; `path` is for error messages.
    pub fn parse(path: &Path, text: &str) -> Result<Scope, SourceError> {
        parse::parse(path, text)
    }

    /// Is a host name in scope? An address written as a name is judged as a target address.
    pub fn check_name(&self, name: &str) -> Decision {
        if let Some(ip) = norm::ip_literal(name) {
            return self.check_target_addr(ip);
        }
        let name = match norm::normalize_name(name) {
            Ok(n) => n,
            Err(why) => return Decision::deny(format_args!("`{}` is not a valid host name: {why}", name.trim())),
        };
        if let Some(ex) = self.exclude_domains.iter().find(|e| norm::under(&name, &normalize_entry(e))) {
            return Decision::deny(format_args!("{name} is excluded by exclude_domains {}", normalize_entry(ex)));
        }
        let best =
            self.domains.iter().map(|d| normalize_entry(d)).filter(|d| norm::under(&name, d)).max_by_key(String::len);
        match best {
            Some(d) => Decision::allow(format_args!("under domain {d}")),
            None => Decision::deny(format_args!("{name} is not under any domains entry ({})", list(&self.domains))),
        }
    }

    /// Judge a name met inside the CNAME chain of an in-scope name (SPEC.md,
    /// scope rules, "CNAMEs"). An excluded name stays excluded when a chain
    /// reaches it; a name outside `domains` is only a hop.
    pub fn check_chain_name(&self, name: &str) -> ChainName {
        if norm::ip_literal(name).is_some() {
            return ChainName::Refused(format!("`{}` is an address written as a CNAME target", name.trim()));
        }
        let n = match norm::normalize_name(name) {
            Ok(n) => n,
            Err(why) => return ChainName::Refused(format!("`{}` is not a valid host name: {why}", name.trim())),
        };
        if let Some(ex) = self.exclude_domains.iter().find(|e| norm::under(&n, &normalize_entry(e))) {
            return ChainName::Refused(format!("{n} is excluded by exclude_domains {}", normalize_entry(ex)));
        }
        if self.domains.iter().any(|d| norm::under(&n, &normalize_entry(d))) {
            return ChainName::InScope;
        }
        ChainName::Outside(format!("{n} is not under any domains entry ({})", list(&self.domains)))
    }

    /// May this address be contacted? This is the check for addresses an in-scope
    /// name resolved to: with `cidrs` empty, any such address is allowed (unless
    /// excluded, or loopback / link-local, which must be listed in `cidrs`).
    /// Unspecified, multicast and broadcast addresses are never contacted.
    pub fn check_addr(&self, ip: IpAddr) -> Decision {
        let c = norm::canonical_ip(ip);
        let shown = if c == ip { ip.to_string() } else { format!("{ip} (IPv4 {c})") };
        if let Some(net) = self.exclude_cidrs.iter().find(|n| norm::excludes(n, ip)) {
            return Decision::deny(format_args!("{shown} is excluded by exclude_cidrs {net}"));
        }
        if let Some(kind) = never_contacted(c) {
            return Decision::deny(format_args!("{shown} is {kind} address, never contacted"));
        }
        if self.cidrs.is_empty() {
            if let Some(kind) = listed_only(c) {
                return Decision::deny(format_args!(
                    "{shown} is {kind} address, contacted only when cidrs lists it (cidrs is empty)"
                ));
            }
            return Decision::allow(format_args!(
                "cidrs is empty, so any address an in-scope name resolves to may be contacted ({shown})"
            ));
        }
        match self.cidrs.iter().filter(|n| norm::net_contains(n, ip)).max_by_key(|n| n.prefix_len()) {
            Some(net) => Decision::allow(format_args!("{shown} is in cidrs {net}")),
            None => Decision::deny(format_args!("{shown} is outside cidrs {}", list(&self.cidrs))),
        }
    }

    /// [`check_addr`](Self::check_addr)`(ip).allowed`, without building the
    /// reason: the guard asks this on every connection attempt.
    pub fn addr_allowed(&self, ip: IpAddr) -> bool {
        let c = norm::canonical_ip(ip);
        if self.exclude_cidrs.iter().any(|n| norm::excludes(n, ip)) || never_contacted(c).is_some() {
            return false;
        }
        if self.cidrs.is_empty() {
            return listed_only(c).is_none();
        }
        self.cidrs.iter().any(|n| norm::net_contains(n, ip))
    }

    /// [`check_port`](Self::check_port)`(port).allowed`, without the reason.
    pub fn port_allowed(&self, port: u16) -> bool {
        port != 0 && self.ports.contains(&port)
    }

    /// [`window`](Self::window)`(now).allowed`, without the reason.
    pub fn window_open(&self, now: Timestamp) -> bool {
        now >= self.engagement.not_before && now <= self.engagement.not_after
    }

    /// Is this port in scope?
    pub fn check_port(&self, port: u16) -> Decision {
        if port != 0 && self.ports.contains(&port) {
            Decision::allow(format_args!("port {port} is in scope ports"))
        } else {
            Decision::deny(format_args!("port {port} is not in scope ports"))
        }
    }

    /// May this path (with or without a query) be requested? Out if, reduced the
    /// way a lenient server reads it, it equals or is under an `exclude_paths` entry.
    pub fn check_path(&self, path: &str) -> Decision {
        let Some(p) = norm::normalize_path(path) else {
            return Decision::deny(format_args!("path {path} cannot be normalized"));
        };
        for entry in &self.exclude_paths {
            // An entry that cannot be reduced excludes everything: when in doubt, out.
            let excl = norm::normalize_exclusion(entry).unwrap_or_else(|| "/".to_owned());
            if norm::path_under(&p, &excl) {
                return Decision::deny(format_args!("path {path} is excluded by exclude_paths {entry}"));
            }
        }
        Decision::allow(format_args!("path {path} is under no exclude_paths entry"))
    }

    /// Classify a target given on the command line (name, address or URL) and
    /// decide it: names by [`check_name`](Self::check_name); addresses like
    /// addresses in a name (with `cidrs` empty, a bare address is out: it was not
    /// reached through an in-scope name); URLs by host, then port, then path.
    pub fn check_target(&self, target: &str) -> (Target, Decision) {
        match parse_target(target) {
            Some(t) => {
                let d = self.decide(&t);
                (t, d)
            }
            None => {
                let raw = target.trim();
                let d = if raw.contains("://") {
                    Decision::deny(format_args!(
                        "`{raw}` is not a URL haetae can read unambiguously (scheme://host[:port]/path; \
                         a port is needed unless the scheme is http or https)"
                    ))
                } else {
                    self.check_name(raw)
                };
                (Target::Name(raw.to_owned()), d)
            }
        }
    }

    /// Is `now` inside the authorization window `[not_before, not_after]`?
    pub fn window(&self, now: Timestamp) -> Decision {
        let e = &self.engagement;
        if now < e.not_before {
            Decision::deny(format_args!("before the authorization window opens at {}", e.not_before))
        } else if now > e.not_after {
            Decision::deny(format_args!("after the authorization window closed at {}", e.not_after))
        } else {
            Decision::allow(format_args!("inside the authorization window {} to {}", e.not_before, e.not_after))
        }
    }

    fn decide(&self, t: &Target) -> Decision {
        match t {
            Target::Name(n) => self.check_name(n),
            Target::Addr(ip) => self.check_target_addr(*ip),
            Target::Url { host, port, path } => {
                let host_d = self.check_name(host);
                if !host_d.allowed {
                    return host_d;
                }
                let port_d = self.check_port(*port);
                if !port_d.allowed {
                    return port_d;
                }
                let path_d = self.check_path(path);
                if !path_d.allowed {
                    return path_d;
                }
                Decision::allow(format_args!("{}; {}; {}", host_d.why(), port_d.why(), path_d.why()))
            }
        }
    }

    /// An address given directly (a target, or a URL's host), not reached through
    /// an in-scope name: with `cidrs` empty nothing vouches for it.
    fn check_target_addr(&self, ip: IpAddr) -> Decision {
        let d = self.check_addr(ip);
        if d.allowed && self.cidrs.is_empty() {
            return Decision::deny(format_args!(
                "{ip} is an address and cidrs is empty: only addresses that in-scope names resolve to may be contacted"
            ));
        }
        d
    }
}

/// A list entry as the checks compare it (hand-built scopes may hold raw text).
fn normalize_entry(entry: &str) -> String {
    haetae_findings::fingerprint::normalize_host(entry)
}

/// Addresses no connection ever goes to, whatever cidrs say.
fn never_contacted(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => Some("an unspecified"),
        IpAddr::V4(v4) if v4.is_broadcast() => Some("the broadcast"),
        IpAddr::V4(v4) if v4.is_multicast() => Some("a multicast"),
        IpAddr::V6(v6) if v6.is_unspecified() => Some("an unspecified"),
        IpAddr::V6(v6) if v6.is_multicast() => Some("a multicast"),
        _ => None,
    }
}

/// Addresses a public name has no business resolving to (the scanning host
/// itself, cloud metadata services): contacted only when `cidrs` lists them.
fn listed_only(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => Some("a loopback"),
        IpAddr::V4(v4) if v4.is_link_local() => Some("a link-local"),
        IpAddr::V6(v6) if v6.is_loopback() => Some("a loopback"),
        IpAddr::V6(v6) if v6.is_unicast_link_local() => Some("a link-local"),
        _ => None,
    }
}

/// `a, b, c` (at most a handful, then `and N more`).
fn list<T: fmt::Display>(items: &[T]) -> String {
    const SHOWN: usize = 5;
    let mut s: Vec<String> = items.iter().take(SHOWN).map(ToString::to_string).collect();
    if items.len() > SHOWN {
        s.push(format!("and {} more", items.len() - SHOWN));
    }
    if s.is_empty() { "none".to_owned() } else { s.join(", ") }
}
