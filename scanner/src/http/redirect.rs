//! Following redirects ourselves: every hop is a new request through the
//! scope guard, so a `Location` can never carry a probe out of scope.
//!
//! A hop to another name resolves that name through the guard (once per
//! scan, like every name) and goes only to its checked addresses; a hop to
//! an address literal, another port or an excluded path is decided by the
//! guard and the scope exactly as a first request would be. Following stops,
//! without error, at the first hop that may not be taken, at a loop, or after
//! [`MAX_REDIRECTS`]; the caller gets the last response and the reason. A hop
//! the scope refuses (name, address, port, excluded path, window) is written
//! to the audit log as refused (probe `http.redirect`, nothing sent), and that
//! record is in [`Followed::audit`].

use std::net::IpAddr;

use haetae_findings::audit::Protocol;

use super::client::{FetchError, HttpClient, HttpResponse, Method, Request};
use crate::guard::{Attempt, GuardError, ScopeGuard};

/// The probe name of a refused redirect hop's audit record.
pub const REDIRECT_PROBE: &str = "http.redirect";

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;

/// The end of a redirect chain.
#[derive(Debug, Clone)]
pub struct Followed {
    /// The last response received.
    pub response: HttpResponse,
    /// Every URL requested, in order; the last is the response's.
    pub chain: Vec<String>,
    /// Audit records of every connection of the chain, and of a hop the scope refused.
    pub audit: Vec<u64>,
    /// Why a redirect was not followed, when the last response is one.
    pub stopped: Option<String>,
}

impl Followed {
    /// URL of the last response.
    pub fn url(&self) -> &str {
        self.chain.last().map_or("", String::as_str)
    }
}

/// Where a `Location` points, resolved against the URL it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) https: bool,
    /// Lower-case name or address literal (IPv6 without brackets).
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Path and query, starting with `/`, without fragment.
    pub(crate) path: String,
}

impl Target {
    pub(crate) fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            format!("{scheme}://{host}{}", self.path)
        } else {
            format!("{scheme}://{host}:{}{}", self.port, self.path)
        }
    }
}

/// Resolve `location` against `base`. `Err` says why it cannot be followed.
pub(crate) fn resolve_location(base: &Target, location: &str) -> Result<Target, String> {
    let location = location.trim();
    let location = location.split('#').next().unwrap_or_default();
    if location.is_empty() {
        return Err("empty Location".into());
    }
    if location.chars().any(|c| c.is_control() || c == ' ') {
        return Err("Location holds spaces or control characters".into());
    }
    // Browsers read a backslash as a slash in these positions; so do we.
    let normalized = location.replace('\\', "/");
    let (https, rest) = if let Some(r) = strip_prefix_ci(&normalized, "https://") {
        (true, Some(r))
    } else if let Some(r) = strip_prefix_ci(&normalized, "http://") {
        (false, Some(r))
    } else if let Some(r) = normalized.strip_prefix("//") {
        (base.https, Some(r))
    } else {
        (base.https, None)
    };
    let Some(rest) = rest else {
        if normalized.contains(':') && !normalized.starts_with('/') && scheme_like(&normalized) {
            return Err(format!("Location `{location}` is not http or https"));
        }
        let path = if normalized.starts_with('/') {
            normalized
        } else {
            // Relative to the directory of the current path (query dropped).
            let current = base.path.split('?').next().unwrap_or("/");
            let dir = current.rsplit_once('/').map_or("", |(d, _)| d);
            format!("{dir}/{normalized}")
        };
        return Ok(Target { https: base.https, host: base.host.clone(), port: base.port, path });
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    if authority.contains('@') {
        return Err("Location carries credentials (user@host)".into());
    }
    let default = if https { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("Location has a broken IPv6 literal")?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse::<u16>().map_err(|_| format!("Location has a bad port `{p}`"))?,
            None if after.is_empty() => default,
            None => return Err("Location has a broken IPv6 literal".into()),
        };
        (h.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, "")) => (h.to_owned(), default),
            Some((h, p)) => (h.to_owned(), p.parse::<u16>().map_err(|_| format!("Location has a bad port `{p}`"))?),
            None => (authority.to_owned(), default),
        }
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || host.contains(['/', '\\', '%']) {
        return Err(format!("Location `{location}` has no usable host"));
    }
    Ok(Target { https, host, port, path })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// `javascript:`, `mailto:`, `ftp:` ...: letters, digits, `+-.` then a colon.
fn scheme_like(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(':') else { return false };
    !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Send `req` and follow its redirects (at most [`MAX_REDIRECTS`]) through the guard.
///
/// An error of the first request is returned as is; once a response is in
/// hand, a later hop that fails or may not be taken ends the chain with that
/// response and the reason in [`Followed::stopped`].
pub async fn fetch_following(
    client: &HttpClient,
    guard: &ScopeGuard,
    req: &Request<'_>,
) -> Result<Followed, FetchError> {
    follow(client, guard, req, false).await
}

/// Like [`fetch_following`], but only through hops that keep the host name
/// (and so the address): used where the answer of one particular address
/// matters, such as a legacy origin.
pub async fn fetch_following_same_host(
    client: &HttpClient,
    guard: &ScopeGuard,
    req: &Request<'_>,
) -> Result<Followed, FetchError> {
    follow(client, guard, req, true).await
}

async fn follow(
    client: &HttpClient,
    guard: &ScopeGuard,
    req: &Request<'_>,
    same_host_only: bool,
) -> Result<Followed, FetchError> {
    let first = client.fetch(guard, req).await?;
    let mut current =
        Target { https: req.https, host: req.host.to_ascii_lowercase(), port: req.port, path: req.path.to_owned() };
    let mut addr = req.addr;
    let mut out = Followed { audit: vec![first.audit], response: first, chain: vec![current.url()], stopped: None };
    let mut method = req.method;
    loop {
        if !matches!(out.response.status, 301 | 302 | 303 | 307 | 308) {
            return Ok(out);
        }
        let Some(location) = out.response.header("location").map(str::to_owned) else {
            return Ok(out);
        };
        if out.chain.len() > MAX_REDIRECTS {
            out.stopped = Some(format!("more than {MAX_REDIRECTS} redirects"));
            return Ok(out);
        }
        let next = match resolve_location(&current, &location) {
            Ok(t) => t,
            Err(why) => {
                out.stopped = Some(why);
                return Ok(out);
            }
        };
        let url = next.url();
        if out.chain.contains(&url) {
            out.stopped = Some(format!("redirect loop at {url}"));
            return Ok(out);
        }
        let next_addr = if next.host == current.host {
            addr
        } else if same_host_only {
            out.stopped = Some(format!("not following to {url}: another host"));
            return Ok(out);
        } else {
            match address_for(guard, &next.host).await {
                Ok(a) => a,
                Err(why) => {
                    refuse_hop(guard, &mut out, &next, next.host.parse().ok(), &url, &why)?;
                    return Ok(out);
                }
            }
        };
        // Decided here, before the client is asked, so that every refusal of a
        // hop is audited as one and its record belongs to this chain.
        let path = guard.scope().check_path(&next.path);
        let permit = if path.allowed {
            guard.permit(&next.host, next_addr, next.port).map_err(|e| match e {
                GuardError::OutOfScope(r) | GuardError::Window(r) | GuardError::Failed(r) | GuardError::Audit(r) => r,
            })
        } else {
            Err(path.reason)
        };
        if let Err(why) = permit {
            refuse_hop(guard, &mut out, &next, Some(next_addr), &url, &why)?;
            return Ok(out);
        }
        if out.response.status == 303 {
            method = Method::Get;
        }
        // The request's own headers (an Origin, say) stay with its own host.
        let headers: &[(String, String)] = if next.host == req.host.to_ascii_lowercase() { req.headers } else { &[] };
        let hop = Request {
            https: next.https,
            host: &next.host,
            addr: next_addr,
            port: next.port,
            method,
            path: &next.path,
            headers,
        };
        match client.fetch(guard, &hop).await {
            Ok(r) => {
                out.audit.push(r.audit);
                out.response = r;
                out.chain.push(url);
                current = next;
                addr = next_addr;
            }
            Err(e) => {
                out.stopped = Some(format!("not following to {url}: {e}"));
                return Ok(out);
            }
        }
    }
}

/// Audit the refused hop to `next` (nothing is sent) and end the chain with the reason.
fn refuse_hop(
    guard: &ScopeGuard,
    out: &mut Followed,
    next: &Target,
    address: Option<IpAddr>,
    url: &str,
    why: &str,
) -> Result<(), FetchError> {
    let attempt =
        Attempt { target: &next.host, address, port: Some(next.port), protocol: Protocol::Http, probe: REDIRECT_PROBE };
    out.audit.push(guard.record_refusal(attempt, why)?);
    out.stopped = Some(format!("not following to {url}: {why}"));
    Ok(())
}

/// The checked address to use for `host`: a literal the scope allows, or the
/// first in-scope address of its one resolution.
async fn address_for(guard: &ScopeGuard, host: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        // An address in a Location was reached through no name: judged as a
        // target address (with `cidrs` empty, nothing vouches for it).
        return match guard.scope().check_name(&ip.to_string()) {
            d if d.allowed => Ok(ip),
            d => Err(d.reason),
        };
    }
    let name = guard.scope().check_name(host);
    if !name.allowed {
        return Err(name.reason);
    }
    let r = guard.resolve(host).await;
    r.allowed.first().copied().ok_or_else(|| match &r.out_of_scope_target {
        Some((n, why)) => format!("{host} points to {n}, out of scope: {why}"),
        None => format!("{host} has no in-scope address ({})", r.summary()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Target {
        Target { https: false, host: "portal.agency.test".into(), port: 8080, path: "/a/b?x=1".into() }
    }

    #[test]
    fn locations_resolve_like_a_browser() {
        let cases: &[(&str, &str)] = &[
            ("https://portal.agency.test/", "https://portal.agency.test/"),
            ("HTTPS://Portal.Agency.Test:8443/x", "https://portal.agency.test:8443/x"),
            ("//www.agency.test/y?z", "http://www.agency.test/y?z"),
            ("/login", "http://portal.agency.test:8080/login"),
            ("c?d=1", "http://portal.agency.test:8080/a/c?d=1"),
            ("/\\evil.test/", "http://evil.test/"),
            ("http://[::1]:8080/v6", "http://[::1]:8080/v6"),
            ("http://127.77.1.50", "http://127.77.1.50/"),
            ("http://portal.agency.test?q=1", "http://portal.agency.test/?q=1"),
            ("/p#frag", "http://portal.agency.test:8080/p"),
        ];
        for (loc, want) in cases {
            let got = resolve_location(&base(), loc).map(|t| t.url());
            assert_eq!(got.as_deref(), Ok(*want), "{loc}");
        }
    }

    #[test]
    fn unusable_locations_are_refused_with_a_reason() {
        for (loc, why) in [
            ("javascript:alert(1)", "not http or https"),
            ("ftp://files.agency.test/", "not http or https"),
            ("https://user:pw@portal.agency.test/", "credentials"),
            ("https://portal.agency.test:99999/", "bad port"),
            ("", "empty"),
            ("https:///nohost", "no usable host"),
            ("/a b", "spaces"),
        ] {
            let got = resolve_location(&base(), loc);
            assert!(got.as_ref().is_err_and(|e| e.contains(why)), "{loc}: {got:?}");
        }
    }
}
